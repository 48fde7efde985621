"""One entry point for every trace format: pcap, pcapng, flow logs, JSON-lines flows.

The format is told by the content: pcap and pcapng magics; gzip (S3's `.log.gz`) and
Parquet magics, a folder (an S3 export), or text lines are flow logs; text starting with
`{` is JSON lines. Binary content without a capture magic is a damaged capture (a pcap
error, not a flow-log line of the wrong field count). The name's suffix is consulted only
when the content says nothing (an empty file). Every reader streams and fills one
ReadStats; flow logs are also available as records (`open_records`), which replay
decides one record at a time instead of packet by packet.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from netemu.errors import InputError
from netemu.io.flowlog_reader import GZIP_MAGIC, FlowRecords, iter_packets
from netemu.io.flowlog_sources import PARQUET_MAGIC, read_flow_log_source
from netemu.io.jsonl_flows import read_jsonl_flows
from netemu.io.pcap_reader import (
    DEFAULT_BATCH,
    PCAP_MAGICS,
    PCAPNG_MAGIC,
    ReadStats,
    read_pcap,
)
from netemu.io.safe_read import require_regular

FORMATS = ("pcap", "flowlogs", "jsonl")
_CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".dmp")
_TEXT = frozenset(b"\t\n\r\f") | frozenset(range(32, 256))


def detect_format(path: str | Path) -> str:
    """'pcap' (pcap or pcapng), 'jsonl' or 'flowlogs', by content."""
    path = Path(path)
    if path.is_dir():
        return "flowlogs"
    if path.exists() and not path.is_file():      # a FIFO or device would block or never end
        raise InputError("not a regular file", file=str(path))
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise InputError(f"cannot read trace: {e.strerror}", file=str(path)) from None
    suffix = path.suffix.lower()
    if not head:
        return ("pcap" if suffix in _CAPTURE_SUFFIXES else
                "jsonl" if suffix in (".jsonl", ".ndjson") else "flowlogs")
    if head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC:
        return "pcap"
    if head[:4] == PARQUET_MAGIC:
        return "flowlogs"
    if head[:2] == GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as g:
                inner = g.read(4)
        except (OSError, EOFError):
            inner = b""
        if inner in PCAP_MAGICS or inner == PCAPNG_MAGIC:
            raise InputError("a gzip-compressed capture: decompress it first", file=str(path))
        return "flowlogs"
    if head.lstrip()[:1] == b"{":
        return "jsonl"
    if sum(c not in _TEXT for c in head[:256]) >= 4:
        return "pcap"            # binary without a capture magic: a damaged capture
    return "jsonl" if suffix in (".jsonl", ".ndjson") else "flowlogs"


def _counted(batches: Iterator[np.ndarray], stats: ReadStats) -> Iterator[np.ndarray]:
    for b in batches:
        stats.packets += len(b)
        yield b


def open_trace(path: str | Path, format: str | None = None,
               fields: Sequence[str] | None = None,
               batch_size: int = DEFAULT_BATCH) -> tuple[Iterator[np.ndarray], ReadStats]:
    """An iterator of PacketBatches for `path` and the ReadStats it fills as it runs.

    `format` forces 'pcap', 'flowlogs' or 'jsonl'; `fields` is the flow-log format of a
    file without a header line."""
    if not Path(path).is_dir():    # /dev/zero or a FIFO as a trace: refused, not read forever
        require_regular(path, "trace")
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise InputError(f"unknown trace format {fmt!r} (expected one of {', '.join(FORMATS)})",
                         file=str(path))
    stats = ReadStats()
    if fmt == "pcap":
        return read_pcap(path, batch_size, stats), stats
    if fmt == "jsonl":
        return read_jsonl_flows(path, batch_size, stats), stats
    records = read_flow_log_source(path, fields=fields, batch_size=batch_size, stats=stats)
    return _counted(iter_packets(records, batch_size), stats), stats


def open_records(path: str | Path, fields: Sequence[str] | None = None,
                 batch_size: int = DEFAULT_BATCH
                 ) -> tuple[Iterator[FlowRecords], ReadStats]:
    """Flow-log records of a file, Parquet file or S3 export folder, in batches."""
    stats = ReadStats()
    return read_flow_log_source(path, fields=fields, batch_size=batch_size,
                                stats=stats), stats

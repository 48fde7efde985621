"""One entry point for every trace format: pcap, pcapng, flow logs, JSON-lines flows.

The format is told by the file's first bytes (pcap and pcapng magics) or its extension
(`.jsonl`); anything else is read as VPC Flow Logs, whose header line (or `fields=`)
says the rest. Every reader streams PacketBatches and fills one ReadStats.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from netemu.errors import InputError
from netemu.io.flowlog_reader import iter_packets, read_flow_logs
from netemu.io.jsonl_flows import read_jsonl_flows
from netemu.io.pcap_reader import (
    DEFAULT_BATCH,
    PCAP_MAGICS,
    PCAPNG_MAGIC,
    ReadStats,
    read_pcap,
)

FORMATS = ("pcap", "flowlogs", "jsonl")


def detect_format(path: str | Path) -> str:
    """'pcap' (pcap or pcapng), 'jsonl' or 'flowlogs'."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise InputError(f"cannot read trace: {e.strerror}", file=str(path)) from None
    if magic in PCAP_MAGICS or magic == PCAPNG_MAGIC:
        return "pcap"
    suffixes = Path(path).suffixes
    if suffixes and suffixes[-1].lower() in (".jsonl", ".ndjson"):
        return "jsonl"
    return "flowlogs"


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
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise InputError(f"unknown trace format {fmt!r} (expected one of {', '.join(FORMATS)})",
                         file=str(path))
    stats = ReadStats()
    if fmt == "pcap":
        return read_pcap(path, batch_size, stats), stats
    if fmt == "jsonl":
        return read_jsonl_flows(path, batch_size, stats), stats
    records = read_flow_logs(path, fields=fields, batch_size=batch_size, stats=stats)
    return _counted(iter_packets(records, batch_size), stats), stats

"""Flow logs as S3 delivers them: one file (plain or `.log.gz`), an export folder
(`AWSLogs/ACCOUNT/vpcflowlogs/REGION/YYYY/MM/DD/*.log.gz`), or Parquet objects.

A folder is walked in sorted path order (the layout's date folders sort by time), every
regular file in it being one object; objects share one string table so an interface id
reads the same in all of them. Parquet is an optional extra (`pip install
netemu[parquet]`): its columns are the flow-log fields with `_` for `-`, each batch is
turned into text lines by Arrow's own kernels and parsed by the same parser as the text
format, so both are validated alike (a bad value is named by file and row)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from netemu.errors import InputError
from netemu.io.flowlog_parse import LEAD, PAD
from netemu.io.flowlog_reader import (
    DEFAULT_FIELDS,
    KNOWN_FIELDS,
    FlowRecords,
    _BlockParser,
    _check_fields,
    _Strings,
    read_flow_logs,
)
from netemu.io.pcap_reader import DEFAULT_BATCH, ReadStats

PARQUET_MAGIC = b"PAR1"


def folder_objects(folder: Path) -> list[Path]:
    """Every regular file under `folder` (hidden ones aside), in sorted path order."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(root) / f for f in files
                if not f.startswith(".") and (Path(root) / f).is_file()]
    files = sorted(out)
    if not files:
        raise InputError("no flow-log objects in this folder", file=str(folder))
    return files


def is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def read_flow_log_source(path: str | Path, *, fields: Sequence[str] | None = None,
                         batch_size: int = DEFAULT_BATCH,
                         stats: ReadStats | None = None) -> Iterator[FlowRecords]:
    """FlowRecords batches from a flow-log file, Parquet file or S3 export folder."""
    path = Path(path)
    stats = stats if stats is not None else ReadStats()
    strings = _Strings()
    files = folder_objects(path) if path.is_dir() else [path]
    parts = [_open_one(f, fields, batch_size, stats, strings) for f in files]
    return (batch for part in parts for batch in part())


def _open_one(path: Path, fields, batch_size: int, stats: ReadStats, strings: _Strings):
    """A thunk reading one object (checked now, read when called)."""
    if is_parquet(path):
        pq = _pyarrow()
        try:
            pf = pq.ParquetFile(path)
        except Exception as e:      # noqa: BLE001  (Arrow raises its own error classes)
            raise InputError(f"unreadable Parquet file: {e}", file=str(path)) from None
        return lambda: _read_parquet(pf, str(path), batch_size, stats, strings)
    it = read_flow_logs(path, fields=fields, batch_size=batch_size, stats=stats,
                        strings=strings)
    return lambda: it


def _pyarrow():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("reading Parquet flow logs needs pyarrow: "
                         "pip install 'netemu[parquet]'") from None
    return pq


def _read_parquet(pf, name: str, batch_size: int, stats: ReadStats,
                  strings: _Strings) -> Iterator[FlowRecords]:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [c for c in pf.schema_arrow.names]
    fields = [c.replace("_", "-") for c in columns]
    unknown = [c for c, f in zip(columns, fields, strict=True) if f not in KNOWN_FIELDS]
    if unknown:
        raise InputError(f"unknown flow-log column {unknown[0]!r} in Parquet schema",
                         file=name)
    if not fields:
        raise InputError("Parquet file has no columns", file=name)
    _check_fields(fields, name, None)
    parser = _BlockParser(name, fields or list(DEFAULT_FIELDS), stats, strings)
    try:
        for batch in pf.iter_batches(batch_size=batch_size):
            texts = [pc.fill_null(pc.cast(batch.column(i), pa.string()), "-")
                     for i in range(batch.num_columns)]
            if batch.num_rows == 0:
                continue
            lines = pc.binary_join_element_wise(*texts, " ")
            # each line and a newline: the array's data buffer is then the text block
            lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n").cast(
                pa.large_string())
            offsets = np.frombuffer(lines.buffers()[1], np.int64)[
                lines.offset:lines.offset + len(lines) + 1]
            body = np.frombuffer(lines.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]
            buf = np.zeros(LEAD + len(body) + PAD, np.uint8)
            buf[LEAD:LEAD + len(body)] = body
            yield FlowRecords(parser.parse(buf, len(body)), strings.table)
    except (OSError, ValueError, pa.ArrowException) as e:
        raise InputError(f"damaged Parquet file: {e}", file=name) from None

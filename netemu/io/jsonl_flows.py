"""Flows as JSON lines: one object per flow, expanded into packets like flow-log records.

A line holds `ts` (first packet, seconds), `src`, `dst` (dotted IPv4 or integer), `sport`,
`dport`, `proto`, `packets`, `bytes`, `duration` (seconds from first to last packet) and
optionally `flow` (id; the line number when absent) and `tcp_flags` (OR of the flags, as
in flow logs). The format is for hand-written and exchanged workloads, so each line is
parsed with `json.loads` (lines are few compared with packets); the expansion into
packets is the vectorised one of the flow-log reader.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from netemu.errors import InputError
from netemu.io.flowlog_reader import expand_sliced
from netemu.io.pcap_reader import DEFAULT_BATCH, ReadStats

REQUIRED = ("ts", "src", "dst", "sport", "dport", "proto", "packets", "bytes")
_INTS = ("sport", "dport", "proto", "packets", "bytes")
_TOP = {"sport": 65535, "dport": 65535, "proto": 255}


def _addr(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32:
        return value
    if isinstance(value, str):
        ip = ipaddress.ip_address(value)
        if ip.version == 6:
            raise _Ipv6
        return int(ip)
    raise ValueError(f"bad address {value!r}")


class _Ipv6(Exception):
    """An IPv6 flow: counted as skipped, like IPv6 flow-log records."""


def _flow(line: bytes, lineno: int) -> tuple:
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("a line must be a JSON object")
    missing = [k for k in REQUIRED if k not in obj]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    ints = []
    for k in _INTS:
        v = obj[k]
        top = _TOP.get(k, 2**63 - 1)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= top:
            raise ValueError(f"{k} must be an integer in 0-{top}, not {v!r}")
        ints.append(v)
    ts, duration = _seconds(obj["ts"], "ts"), _seconds(obj.get("duration", 0.0), "duration")
    flow = obj.get("flow", lineno)
    flags = obj.get("tcp_flags", -1)
    if not isinstance(flow, int) or not isinstance(flags, int) or isinstance(flow, bool) \
            or not -1 <= flags <= 255 or not 0 <= flow < 2**63:
        raise ValueError("flow must be an integer >= 0 and tcp_flags one in 0-255")
    return (ts, ts + max(duration, 0.0), _addr(obj["src"]), _addr(obj["dst"]), *ints,
            flow, flags)


def _seconds(v: object, key: str) -> float:
    """A time in seconds: a finite number >= 0 (JSON's NaN and 1e999 are refused, as
    a flow cannot start at them)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{key} must be a number of seconds, not {v!r}")
    f = float(v) if not isinstance(v, int) or abs(v) < 2**63 else math.inf
    if not math.isfinite(f) or f < 0:
        raise ValueError(f"{key} must be a finite number of seconds >= 0, not {v!r}")
    return f


def read_jsonl_flows(path: str | Path, batch_size: int = DEFAULT_BATCH,
                     stats: ReadStats | None = None) -> Iterator[np.ndarray]:
    """PacketBatches (at most `batch_size` packets) expanded from a JSON-lines file; the
    file's readability is checked now, lines are parsed as the iterator is consumed."""
    stats = stats if stats is not None else ReadStats()
    try:
        open(path, "rb").close()
    except OSError as e:
        raise InputError(f"cannot read flows: {e.strerror}", file=str(path)) from None
    return _read(path, batch_size, stats)


def _read(path: str | Path, batch_size: int, stats: ReadStats) -> Iterator[np.ndarray]:
    rows: list[tuple] = []
    name = str(path)
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            stats.records += 1
            try:
                rows.append(_flow(line, lineno))
            except _Ipv6:
                stats.skip("ipv6")
            except (ValueError, TypeError) as e:       # JSONDecodeError is a ValueError
                raise InputError(f"bad flow: {e}", file=name, line=lineno) from None
            if len(rows) >= batch_size:
                yield from _expand(rows, batch_size, stats)
                rows = []
    if rows:
        yield from _expand(rows, batch_size, stats)


def _expand(rows: list[tuple], batch_size: int, stats: ReadStats) -> Iterator[np.ndarray]:
    cols = list(zip(*rows, strict=True))
    names = ("start", "end", "src", "dst", "sport", "dport", "proto", "packets", "nbytes",
             "flow", "tcp_flags")
    arrays = {n: np.asarray(c, np.float64 if n in ("start", "end") else np.int64)
              for n, c in zip(names, cols, strict=True)}
    for batch in expand_sliced(arrays, batch_size):
        stats.packets += len(batch)
        yield batch


def packets_to_flows(batch: np.ndarray) -> dict[str, np.ndarray]:
    """Aggregate packets per (flow id, 5-tuple): first ts, duration, counts, TCP flags."""
    keys = (batch["proto"], batch["dport"], batch["sport"], batch["dst"], batch["src"],
            batch["flow"])
    order = np.lexsort(keys)
    n = len(batch)
    change = np.zeros(n, bool)
    if n:
        change[0] = True
        for k in keys:
            sk = k[order]
            change[1:] |= sk[1:] != sk[:-1]
    starts = np.flatnonzero(change)
    p = batch[order]
    first = p[starts]
    ts = p["ts"].astype(np.float64)
    t0 = np.minimum.reduceat(ts, starts) if n else ts
    t1 = np.maximum.reduceat(ts, starts) if n else ts
    flows = {k: first[k] for k in ("src", "dst", "sport", "dport", "proto", "flow")}
    flows["ts"] = t0
    flows["duration"] = t1 - t0
    flows["packets"] = np.diff(np.append(starts, n))
    flows["bytes"] = np.add.reduceat(p["length"].astype(np.int64), starts) if n else t0
    # as AWS reports them: SYN, FIN, RST, and SYN-ACK only when one packet carried both
    f = p["flags"].astype(np.int64)
    aws = (f & 7) | np.where((f & 18) == 18, 18, 0)
    flows["tcp_flags"] = np.bitwise_or.reduceat(aws, starts) if n else t0
    out = np.argsort(t0, kind="stable")
    return {k: v[out] for k, v in flows.items()}


def write_jsonl_flows(path: str | Path, batch: np.ndarray) -> int:
    """Write the flows of a PacketBatch as JSON lines; return flows written."""
    flows = packets_to_flows(batch)
    cols = {k: v.tolist() for k, v in flows.items()}
    with open(path, "w", encoding="utf-8") as f:
        for i in range(len(flows["ts"])):
            obj = {"ts": cols["ts"][i], "src": str(ipaddress.IPv4Address(cols["src"][i])),
                   "dst": str(ipaddress.IPv4Address(cols["dst"][i])),
                   "sport": cols["sport"][i], "dport": cols["dport"][i],
                   "proto": cols["proto"][i], "packets": cols["packets"][i],
                   "bytes": cols["bytes"][i], "duration": cols["duration"][i]}
            if cols["flow"][i] >= 0:
                obj["flow"] = cols["flow"][i]
            if cols["proto"][i] == 6:
                obj["tcp_flags"] = cols["tcp_flags"][i]
            f.write(json.dumps(obj) + "\n")
    return len(flows["ts"])

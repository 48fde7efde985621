"""Write what the emulator saw as default (version 2) VPC Flow Log records.

AWS aggregates per ENI, 5-tuple and action over a capture window (600 s by default, F3);
so does this writer, with one sort and `np.add.reduceat` over the packets rather than a
dictionary per packet. `start` is the window's first packet time (floored to the second),
`end` its last packet time (rounded up), as AWS reports whole seconds. ICMP records carry
ports 0 0, as AWS's own ICMP records do (type and code are not logged), so all ICMP
between two addresses in a window is one record.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from netemu.io.flowlog_reader import DEFAULT_FIELDS, RECORD_DTYPE
from netemu.packet import ICMP

HEADER = " ".join(DEFAULT_FIELDS)


def aggregate(packets: np.ndarray, interface: np.ndarray | int, accept: np.ndarray | bool,
              *, window: int = 600) -> np.ndarray:
    """Records (RECORD_DTYPE; interface_id = the given interface index) for `packets`,
    one per (interface, src, dst, sport, dport, proto, action, capture window)."""
    n = len(packets)
    iface = np.broadcast_to(np.asarray(interface, np.int64), (n,))
    action = np.broadcast_to(np.asarray(accept, bool), (n,)).astype(np.int64)
    ts = packets["ts"].astype(np.float64)
    win = np.floor(ts / window).astype(np.int64)
    icmp = packets["proto"] == ICMP
    sport = np.where(icmp, 0, packets["sport"])
    dport = np.where(icmp, 0, packets["dport"])
    keys = (packets["proto"], dport, sport, packets["dst"], packets["src"], action, iface, win)
    order = np.lexsort(keys)                     # last key (window) sorts first
    sk = [np.asarray(k)[order] for k in keys]
    change = np.zeros(n, bool)
    if n:
        change[0] = True
        for k in sk:
            change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    out = np.full(len(starts), -1, RECORD_DTYPE)
    if n == 0:
        return out
    p = packets[order]
    first = p[starts]
    out["version"] = 2
    out["interface_id"] = sk[6][starts]
    out["src"], out["dst"] = first["src"], first["dst"]
    out["sport"], out["dport"], out["proto"] = sk[2][starts], sk[1][starts], first["proto"]
    out["action"] = sk[5][starts]
    out["log_status"] = 0
    out["packets"] = np.diff(np.append(starts, n))
    out["bytes"] = np.add.reduceat(p["length"].astype(np.int64), starts)
    t = ts[order]
    out["start"] = np.floor(np.minimum.reduceat(t, starts)).astype(np.int64)
    out["end"] = np.ceil(np.maximum.reduceat(t, starts)).astype(np.int64)
    out["line"] = np.arange(len(starts)) + 2         # line in the written file (header 1)
    return out


def _ipv4(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, np.int64)
    parts = [((v >> s) & 255).astype(str) for s in (24, 16, 8, 0)]
    return np.char.add(np.char.add(np.char.add(np.char.add(parts[0], "."), parts[1]), "."),
                       np.char.add(np.char.add(parts[2], "."), parts[3]))


def format_records(records: np.ndarray, interfaces: Sequence[str],
                   account_id: str = "123456789012") -> Iterator[str]:
    """Version-2 lines (no newline) for RECORD_DTYPE records."""
    names = np.asarray(list(interfaces) + ["-"], dtype=object)
    iface = names[np.where(records["interface_id"] < 0, len(names) - 1,
                           records["interface_id"])]
    src, dst = _ipv4(records["src"]), _ipv4(records["dst"])
    action = np.where(records["action"] == 1, "ACCEPT", "REJECT")
    cols = zip(iface.tolist(), src.tolist(), dst.tolist(), records["sport"].tolist(),
               records["dport"].tolist(), records["proto"].tolist(),
               records["packets"].tolist(), records["bytes"].tolist(),
               records["start"].tolist(), records["end"].tolist(), action.tolist(),
               strict=True)
    for i, s, d, sp, dp, pr, pk, by, st, en, ac in cols:
        yield f"2 {account_id} {i} {s} {d} {sp} {dp} {pr} {pk} {by} {st} {en} {ac} OK"


def write_flow_logs(path: str | Path, packets: np.ndarray, interface: np.ndarray | int,
                    accept: np.ndarray | bool, *, interfaces: Sequence[str],
                    account_id: str = "123456789012", window: int = 600,
                    header: bool = True) -> int:
    """Aggregate `packets` and write version-2 flow-log records; return records written.

    `interface` holds, per packet, an index into `interfaces` (the ENI ids);
    `accept` is per packet (or one value) True for ACCEPT, False for REJECT."""
    records = aggregate(packets, interface, accept, window=window)
    with open(path, "w", encoding="utf-8") as f:
        if header:
            f.write(HEADER + "\n")
        for line in format_records(records, interfaces, account_id):
            f.write(line + "\n")
    return len(records)

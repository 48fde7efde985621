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
FORMAT_AT_ONCE = 1 << 16


# What an emulated record needs to be merged and written, 50 bytes rather than
# RECORD_DTYPE's 142: replay holds one per ENI, 5-tuple, action and window seen
SUMMED_DTYPE = np.dtype([
    ("interface_id", "i4"), ("src", "u4"), ("dst", "u4"), ("sport", "u2"), ("dport", "u2"),
    ("proto", "u1"), ("action", "i1"), ("packets", "i8"), ("bytes", "i8"), ("start", "i8"),
    ("end", "i8")])


def aggregate(packets: np.ndarray, interface: np.ndarray | int, accept: np.ndarray | bool,
              *, window: int = 600, narrow: bool = False,
              summed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Records (RECORD_DTYPE, or SUMMED_DTYPE if `narrow`; interface_id = the given
    interface index) for `packets`, one per (interface, src, dst, sport, dport, proto,
    action, capture window). `summed`: each row stands for several packets of one
    window, (packets, bytes, last packet's time) per row, its `ts` the first's."""
    n = len(packets)
    iface = np.broadcast_to(np.asarray(interface, np.int64), (n,))
    action = np.broadcast_to(np.asarray(accept, bool), (n,)).astype(np.int64)
    ts = packets["ts"].astype(np.float64)
    win = np.floor(ts / window).astype(np.int64)
    icmp = packets["proto"] == ICMP
    sport = np.where(icmp, 0, packets["sport"])
    dport = np.where(icmp, 0, packets["dport"])
    keys = (win, iface, action, packets["src"], packets["dst"], sport, dport,
            packets["proto"])
    order, change = packed_order(keys)
    starts = np.flatnonzero(change)
    out = np.zeros(len(starts), SUMMED_DTYPE) if narrow else minus_ones(len(starts))
    if n == 0:
        return out
    first = packets.take(order[starts])       # take: see netemu.packet.pick
    if not narrow:
        out["version"] = 2
        out["log_status"] = 0
        out["line"] = np.arange(len(starts)) + 2     # line in the written file (header 1)
    out["interface_id"] = iface[order[starts]]
    out["src"], out["dst"] = first["src"], first["dst"]
    out["sport"], out["dport"] = sport[order[starts]], dport[order[starts]]
    out["proto"], out["action"] = first["proto"], action[order[starts]]
    if summed is None:
        nbytes, last = packets["length"], ts
        out["packets"] = np.diff(np.append(starts, n))
    else:
        count, nbytes, last = summed
        out["packets"] = np.add.reduceat(np.asarray(count, np.int64)[order], starts)
    out["bytes"] = np.add.reduceat(np.asarray(nbytes)[order].astype(np.int64), starts)
    out["start"] = np.floor(np.minimum.reduceat(ts[order], starts)).astype(np.int64)
    out["end"] = np.ceil(np.maximum.reduceat(np.asarray(last, np.float64)[order],
                                             starts)).astype(np.int64)
    return out


def minus_ones(n: int) -> np.ndarray:
    """n records with every field -1 (absent). np.full converts -1 field by field through
    the structured dtype, ~50x slower; every field is a signed integer, so -1 is all
    bits set."""
    assert all(RECORD_DTYPE[f].kind == "i" for f in RECORD_DTYPE.names)
    return np.full(n * RECORD_DTYPE.itemsize, 255, np.uint8).view(RECORD_DTYPE)


def packed_order(keys, stable: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts rows by `keys` (integer columns, most significant first) and,
    in that order, where each distinct row begins. The columns are packed into as few
    uint64 words as their ranges in this data allow (often one: a single argsort), which
    sorts several times faster than np.lexsort over the columns or np.unique(axis=0).
    Unstable unless `stable`: equal rows may come in any order."""
    cols = [np.asarray(k) for k in keys]
    n = len(cols[0]) if cols else 0
    if n == 0:
        return np.zeros(0, np.intp), np.zeros(0, bool)
    words: list[np.ndarray] = []
    free = 0
    for c in cols:
        lo, hi = int(c.min()), int(c.max())
        bits = (hi - lo).bit_length()
        if bits > 63:                      # no packing: sort the columns themselves
            words = []
            break
        if bits == 0:
            continue                       # one value: orders nothing
        v = (c.astype(np.int64) - lo).astype(np.uint64) if lo else c.astype(np.uint64)
        if bits > free:
            words.append(v)
            free = 64 - bits
        else:
            words[-1] = (words[-1] << np.uint64(bits)) | v
            free -= bits
    else:
        if not words:
            return np.arange(n), np.r_[True, np.zeros(n - 1, bool)]
        if len(words) == 1:
            order = np.argsort(words[0], kind="stable" if stable else None)
        else:
            order = np.lexsort(words[::-1])
        change = np.zeros(n, bool)
        change[0] = True
        for w in words:
            sw = w[order]
            change[1:] |= sw[1:] != sw[:-1]
        return order, change
    order = np.lexsort(cols[::-1])
    change = np.zeros(n, bool)
    change[0] = True
    for c in cols:
        sc = c[order]
        change[1:] |= sc[1:] != sc[:-1]
    return order, change


def _ipv4(values: np.ndarray) -> np.ndarray:
    """Dotted quads, each distinct address formatted once."""
    uniq, inv = np.unique(np.asarray(values, np.int64), return_inverse=True)
    return _ipv4_each(uniq)[inv.ravel()]


def _ipv4_each(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, np.int64)
    parts = [((v >> s) & 255).astype(str) for s in (24, 16, 8, 0)]
    return np.char.add(np.char.add(np.char.add(np.char.add(parts[0], "."), parts[1]), "."),
                       np.char.add(np.char.add(parts[2], "."), parts[3]))


def format_records(records: np.ndarray, interfaces: Sequence[str],
                   account_id: str = "123456789012") -> Iterator[str]:
    """Version-2 lines (no newline) for RECORD_DTYPE (or SUMMED_DTYPE) records, formatted
    2**16 at a time: a million records as Python lists would take ~400 MB."""
    for i in range(0, len(records), FORMAT_AT_ONCE):
        yield from _format(records[i:i + FORMAT_AT_ONCE], interfaces, account_id)


def _format(records: np.ndarray, interfaces: Sequence[str], account_id: str
            ) -> Iterator[str]:
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
    template = f"2 {account_id.replace('%', '%%')}" + " %s" * 11 + " OK"
    for row in cols:
        yield template % row


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

"""PacketBatch: packets as one NumPy structured array, and the protocol and TCP flag numbers.

Layer 0: imported by the model, the readers and writers and the dataplane alike, so it
imports nothing from netemu.

Header columns come from readers; the dataplane fills the rest (where the packet is, its
fate, the element and rule that decided). ICMP keeps its type in `sport` and its code in
`dport`, so port-range rules double as type/code rules (as AWS's own rule model does)."""

from __future__ import annotations

import numpy as np

PACKET_DTYPE = np.dtype([
    ("ts", "f8"),        # seconds, the trace's own clock
    ("src", "u4"),
    ("dst", "u4"),
    ("sport", "u2"),     # ICMP: type
    ("dport", "u2"),     # ICMP: code
    ("proto", "u1"),
    ("flags", "u1"),     # TCP flags: FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32
    ("length", "u4"),    # IP total length in bytes
    ("flow", "i8"),      # flow id given by the reader or by grouping, -1 unknown
    # filled by the dataplane
    ("node", "i4"),      # element the packet is at
    ("status", "i1"),    # IN_FLIGHT, DELIVERED, DROPPED, UNPLACED
    ("reason", "i2"),    # index into reasons.CODES
    ("at", "i4"),        # element that delivered or dropped it
    ("rule", "i4"),      # rule index within that element, -1 none
    ("via", "i4"),       # element to reach after a subnet-boundary check
    ("until", "f8"),     # a row standing for a flow's piece: its last packet's time
])

IN_FLIGHT, DELIVERED, DROPPED, UNPLACED = 0, 1, 2, 3

ANY = -1          # protocol number meaning "all protocols" in rules (never in a packet)
ICMP, TCP, UDP, ICMPV6 = 1, 6, 17, 58
FIN, SYN, RST, PSH, ACK, URG = 1, 2, 4, 8, 16, 32

PROTOCOL_NAMES = {"all": ANY, "-1": ANY, "any": ANY, "icmp": ICMP, "tcp": TCP, "udp": UDP,
                  "icmpv6": ICMPV6}


def protocol_name(proto: int) -> str:
    return {ANY: "all", ICMP: "icmp", TCP: "tcp", UDP: "udp", ICMPV6: "icmpv6"}.get(
        proto, str(proto))


def empty(n: int) -> np.ndarray:
    """A batch of n zeroed packets with dataplane columns reset."""
    batch = np.zeros(n, dtype=PACKET_DTYPE)
    batch["flow"] = -1
    batch["node"] = -1
    batch["at"] = -1
    batch["rule"] = -1
    batch["via"] = -1
    batch["until"] = -np.inf    # a packet stands for itself: its own ts is its last
    return batch


def pick(batch: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """batch[idx] (an index array or a mask), as a copy. `take` moves each whole record
    with one copy; fancy indexing goes field by field through this packed structured
    dtype and is ~20x slower (numpy 2.x), which made it a hot spot of every element."""
    idx = np.asarray(idx)
    return batch.take(np.flatnonzero(idx) if idx.dtype == np.bool_ else idx)


def concat(parts) -> np.ndarray:
    """np.concatenate for structured arrays of one dtype, moving record bytes whole
    (np.concatenate goes field by field through packed structured dtypes, ~5x slower).
    Unlike np.concatenate, a dtype with gaps (a multi-field view's) is kept as it is."""
    parts = list(parts)
    dt = parts[0].dtype if parts else None
    if dt is None or dt.names is None or any(p.dtype != dt for p in parts):
        return np.concatenate(parts)
    out = np.empty(sum(len(p) for p in parts), dt)
    flat = out.view(np.uint8)
    at = 0
    for p in parts:
        size = len(p) * dt.itemsize
        flat[at:at + size] = np.ascontiguousarray(p).view(np.uint8)
        at += size
    return out


def from_columns(**columns) -> np.ndarray:
    """Build a batch from header columns (arrays or scalars broadcast to the longest)."""
    n = max((np.size(v) for v in columns.values()), default=0)
    batch = empty(n)
    for name, values in columns.items():
        batch[name] = values
    return batch

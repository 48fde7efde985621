"""Write a PacketBatch as a classic Ethernet pcap that Wireshark, tshark and scapy open.

Why vectorised: replay writes captures as large as its input. Every packet's headers are
built as one row of a (n, 70) byte matrix (record header, Ethernet, IPv4, up to 20 bytes
of L4 header) and scattered into one output buffer, so writing costs NumPy time, not a
Python loop per packet.

The frame is a faithful skeleton: synthesised locally-administered MACs 02:00:<IPv4>,
IPv4 with a correct header checksum and the batch's total length, TCP (ports, flags,
window 65535), UDP or ICMP (type/code from sport/dport) headers with correct checksums,
and a zero payload up to the IP total length. Lengths shorter than the headers are raised
to the header size (an IP total length cannot be smaller than its headers).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from netemu.packet import ICMP, TCP, UDP

ETH_LEN, IP_LEN, REC_LEN = 14, 20, 16
L4_LEN = {TCP: 20, UDP: 8, ICMP: 8}
_ROW = REC_LEN + ETH_LEN + IP_LEN + 20
_IP0 = REC_LEN + ETH_LEN               # first IP byte in a row
_L40 = _IP0 + IP_LEN                   # first L4 byte in a row
_SLICE = 65536                         # packets encoded per write


def min_length(proto: np.ndarray) -> np.ndarray:
    """Smallest IP total length that holds the IPv4 and L4 headers of each packet."""
    proto = np.asarray(proto)
    l4 = np.zeros(proto.shape, np.int64)
    for p, n in L4_LEN.items():
        l4[proto == p] = n
    return IP_LEN + l4


class PcapStream:
    """A classic pcap file written batch by batch, so a capture never sits in memory."""

    def __init__(self, path: str | Path, *, nanosecond: bool = False,
                 snaplen: int = 65535) -> None:
        self.nanosecond, self.snaplen, self.count = nanosecond, snaplen, 0
        self.file = open(path, "wb")
        magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
        self.file.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, 1))

    def write(self, batch: np.ndarray) -> None:
        for i in range(0, len(batch), _SLICE):      # bounded memory per write
            self.file.write(encode_records(batch[i:i + _SLICE], nanosecond=self.nanosecond,
                                           snaplen=self.snaplen, first=self.count + i))
        self.count += len(batch)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> PcapStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_pcap(path: str | Path, batches: np.ndarray | Iterable[np.ndarray], *,
               nanosecond: bool = False, snaplen: int = 65535) -> int:
    """Write one PacketBatch (or several, in order, consumed as they come) to `path`;
    return packets written.

    `snaplen` caps the bytes stored per frame (headers survive any snaplen >= 74), which
    keeps synthetic captures of long packets small; the IP total length stays exact."""
    parts = [batches] if isinstance(batches, np.ndarray) else batches
    with PcapStream(path, nanosecond=nanosecond, snaplen=snaplen) as out:
        for batch in parts:
            out.write(batch)
    return out.count


def _put(rows: np.ndarray, col: int, values: np.ndarray, size: int, big: bool = True) -> None:
    """Store unsigned integers of `size` bytes at column `col` of every row."""
    v = np.asarray(values).astype(np.uint64)
    for i in range(size):
        shift = 8 * (size - 1 - i) if big else 8 * i
        rows[:, col + i] = (v >> np.uint64(shift)) & np.uint64(0xFF)


def _csum(rows: np.ndarray, start: int, stop: np.ndarray | int,
          extra: np.ndarray | int = 0) -> np.ndarray:
    """Internet checksum of the 16-bit words in rows[:, start:stop] (per-row stop)."""
    words = (rows[:, start:start + 40:2].astype(np.int64) << 8) | rows[:, start + 1:start + 40:2]
    nwords = np.reshape((np.asarray(stop) - start) // 2, (-1, 1))
    keep = np.arange(words.shape[1]) < nwords
    total = (words * keep).sum(axis=1) + extra
    while True:
        folded = (total & 0xFFFF) + (total >> 16)
        if np.array_equal(folded, total):
            break
        total = folded
    return (~total) & 0xFFFF


def encode_records(batch: np.ndarray, *, nanosecond: bool = False,
                   snaplen: int = 65535, first: int = 0) -> bytes:
    """Record headers and frames (no file header) for every packet of `batch`; IP ids
    count on from `first` (the packets already in the file, so a file's bytes do not
    depend on how it was written in pieces)."""
    n = len(batch)
    if n == 0:
        return b""
    proto = batch["proto"].astype(np.int64)
    l4len = min_length(proto) - IP_LEN
    length = np.clip(np.maximum(batch["length"].astype(np.int64), IP_LEN + l4len), 0, 65535)
    frame = ETH_LEN + length
    caplen = np.minimum(frame, snaplen)
    hdr_len = np.minimum(REC_LEN + ETH_LEN + IP_LEN + l4len, REC_LEN + caplen)
    rows = np.zeros((n, _ROW), np.uint8)

    ts = batch["ts"].astype(np.float64)
    sec = np.floor(ts)
    scale = 1e9 if nanosecond else 1e6
    frac = np.rint((ts - sec) * scale).astype(np.int64)
    carry = frac >= int(scale)
    sec = sec.astype(np.int64) + carry
    frac = np.where(carry, frac - int(scale), frac)
    _put(rows, 0, sec, 4, big=False)
    _put(rows, 4, frac, 4, big=False)
    _put(rows, 8, caplen, 4, big=False)
    _put(rows, 12, frame, 4, big=False)

    src = batch["src"].astype(np.int64)
    dst = batch["dst"].astype(np.int64)
    rows[:, 16] = 0x02
    _put(rows, 18, dst, 4)
    rows[:, 22] = 0x02
    _put(rows, 24, src, 4)
    rows[:, 28], rows[:, 29] = 0x08, 0x00

    rows[:, _IP0] = 0x45
    _put(rows, _IP0 + 2, length, 2)
    _put(rows, _IP0 + 4, (first + np.arange(n)) & 0xFFFF, 2)
    rows[:, _IP0 + 8] = 64
    rows[:, _IP0 + 9] = proto
    _put(rows, _IP0 + 12, src, 4)
    _put(rows, _IP0 + 16, dst, 4)
    _put(rows, _IP0 + 10, _csum(rows, _IP0, _IP0 + IP_LEN), 2)

    sport = batch["sport"].astype(np.int64)
    dport = batch["dport"].astype(np.int64)
    tcp, udp, icmp = proto == TCP, proto == UDP, proto == ICMP
    ports = tcp | udp
    _put(rows, _L40, np.where(ports, sport, 0), 2)
    _put(rows, _L40 + 2, np.where(ports, dport, 0), 2)
    rows[icmp, _L40] = sport[icmp] & 0xFF
    rows[icmp, _L40 + 1] = dport[icmp] & 0xFF
    rows[tcp, _L40 + 12] = 0x50
    rows[tcp, _L40 + 13] = batch["flags"][tcp]
    rows[tcp, _L40 + 14] = 0xFF
    rows[tcp, _L40 + 15] = 0xFF
    seg = length - IP_LEN
    rows[udp, _L40 + 4] = seg[udp] >> 8
    rows[udp, _L40 + 5] = seg[udp] & 0xFF
    # pseudo-header sum for TCP/UDP (zero payload adds nothing to the sum)
    pseudo = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + seg
    l4sum = _csum(rows, _L40, _L40 + l4len, np.where(ports, pseudo, 0))
    l4sum = np.where(udp & (l4sum == 0), 0xFFFF, l4sum)
    col = np.where(tcp, _L40 + 16, np.where(udp, _L40 + 6, _L40 + 2))
    has_l4 = tcp | udp | icmp
    r = np.flatnonzero(has_l4)
    rows[r, col[r]] = (l4sum[r] >> 8).astype(np.uint8)
    rows[r, col[r] + 1] = (l4sum[r] & 0xFF).astype(np.uint8)

    rec = REC_LEN + caplen
    starts = np.zeros(n, np.int64)
    np.cumsum(rec[:-1], out=starts[1:])
    out = np.zeros(int(rec.sum()), np.uint8)
    for h in np.unique(hdr_len).tolist():        # a handful of header sizes
        g = np.flatnonzero(hdr_len == h)
        out[starts[g, None] + np.arange(h)] = rows[g, :h]
    return out.tobytes()

"""Where each classic-pcap record starts in a buffer, found with few Python steps.

Records are variable-length (a 16-byte header whose third word is the captured length,
then that many bytes), so record k's offset depends on every length before it. One
`unpack_from` per record in a Python loop costs ~0.5 µs a record, more than decoding it.
Captures are mostly runs of records of one length (a snaplen cuts most frames to it), so
the walk guesses that the run goes on: it reads the length field at every position the
run predicts, all at once, and keeps the prefix whose lengths agree. That prefix is
exact (each kept record has the length the guess assumed, so the next one starts where
the guess put it). Where lengths vary, a short Python walk takes over for a while, so
the worst case stays within a small factor of the plain loop."""

from __future__ import annotations

import struct

import numpy as np

AHEAD_MIN, AHEAD_MAX = 64, 1 << 16   # records guessed at once (doubling while runs hold)
SHORT_RUN = 32                       # a run shorter than this: walk on in Python
SCALAR_STEPS = 1024                  # records the Python walk takes before guessing again


def record_offsets(buf: bytes, endian: str) -> tuple[np.ndarray, int]:
    """Offsets (int64) of the records of `buf` that lie in it whole, from offset 0, and
    the offset where the walk stopped (the first record not whole in `buf`, or its end)."""
    size = len(buf)
    lim = size - 16
    unpack = struct.Struct(endian + "I").unpack_from
    u8 = np.frombuffer(buf, dtype=np.uint8)
    word = np.dtype(endian + "u4")
    four = np.arange(8, 12)
    parts: list[np.ndarray] = []
    off, ahead = 0, AHEAD_MIN
    while off <= lim:
        incl = unpack(buf, off + 8)[0]
        stride = 16 + incl
        if off + stride > size:
            break
        n = min(ahead, (size - off) // stride)        # records of this length that fit
        pos = off + stride * np.arange(n, dtype=np.int64)
        lens = u8[pos[:, None] + four].view(word)[:, 0]
        bad = np.flatnonzero(lens != incl)
        run = int(bad[0]) if bad.size else n
        parts.append(pos[:run])
        off += run * stride
        if run == n:
            ahead = min(2 * ahead, AHEAD_MAX)
            continue
        ahead = AHEAD_MIN
        if run < SHORT_RUN:
            offs, off = _walk(buf, off, size, unpack, SCALAR_STEPS)
            parts.append(np.asarray(offs, dtype=np.int64))
    if not parts:
        return np.zeros(0, np.int64), off
    return np.concatenate(parts), off


def _walk(buf: bytes, off: int, size: int, unpack, steps: int) -> tuple[list[int], int]:
    """The plain walk, for at most `steps` records."""
    offs: list[int] = []
    app = offs.append
    lim = size - 16
    while off <= lim and steps:
        end = off + 16 + unpack(buf, off + 8)[0]
        if end > size:
            break
        app(off)
        off = end
        steps -= 1
    return offs, off

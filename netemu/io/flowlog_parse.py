"""Byte-level kernels of the flow-log reader: no Python runs per line or per token.

Fast kernels work on a block held in a NumPy byte buffer with at least LEAD addressable
bytes before it and PAD after it. `words(buf)` views the buffer as overlapping
little-endian 64-bit words (word p = bytes p..p+7), so one gather fetches the 8 bytes
ending at (or starting at) every token of a column; digits are then checked and folded
eight at a time with SWAR arithmetic (nibble tests, then three multiply-shift-mask
steps). Every kernel reports which tokens it could not take, so the caller can hand the
block to the exact kernels (`parse_int_exact`, `ipv4_exact`), which name the bad value.
"""

from __future__ import annotations

import numpy as np

LEAD = 16      # addressable bytes before a block: a 16-digit number's words reach back
PAD = 256      # addressable bytes after a block: token gathers never clip

_U = np.uint64
_ZEROS = _U(0x3030303030303030)                  # "00000000"
_HI_NIBBLES = _U(0xF0F0F0F0F0F0F0F0)
_SIXES = _U(0x0606060606060606)
_M8, _M16, _M32 = _U(0x00FF00FF00FF00FF), _U(0x0000FFFF0000FFFF), _U(0xFFFFFFFF)
# _LOW[j]: the lowest j bytes of a word (the first j bytes in memory order)
_LOW = np.array([(1 << (8 * j)) - 1 for j in range(9)], np.uint64)


def words(buf: np.ndarray) -> np.ndarray:
    """Overlapping unaligned little-endian words of a contiguous byte array."""
    return np.ndarray((len(buf) - 7,), "<u8", buffer=buf, strides=(1,))


def digits8(w: np.ndarray, lead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Words of 8 bytes whose first `lead` bytes are not part of the number (they are
    read as '0'): (value as uint64, every other byte is a decimal digit)."""
    low = _LOW[lead]
    w = (w & ~low) | (_ZEROS & low)
    ok = ((w & _HI_NIBBLES) == _ZEROS) & (((w + _SIXES) & _HI_NIBBLES) == _ZEROS)
    v = w - _ZEROS
    v = (v * _U(10) + (v >> _U(8))) & _M8
    v = (v * _U(100) + (v >> _U(16))) & _M16
    v = (v * _U(10000) + (v >> _U(32))) & _M32
    return v, ok


def parse_uint(w: np.ndarray, end: np.ndarray, ln: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decimal tokens of 1..16 digits ending before buffer offsets `end` (lengths `ln`):
    (int64 values, token is all digits and at most 16 long)."""
    val, ok = digits8(w[end - 8], np.maximum(8 - ln, 0))
    long = np.flatnonzero(ln > 8)
    if len(long):
        hi, ok_hi = digits8(w[end[long] - 16], np.clip(16 - ln[long], 0, 8))
        val[long] += hi * _U(100_000_000)
        ok[long] &= ok_hi & (ln[long] <= 16)
    return val.view(np.int64), ok


def parse_ipv4(w: np.ndarray, start: np.ndarray, end: np.ndarray,
               dots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dotted quads at buffer offsets [start, end) whose dots are at `dots` (n, 3):
    (int64 values, token is a plain dotted quad of 1-3 digit octets up to 255)."""
    n = len(start)
    ends = np.empty((n, 4), np.int64)                          # octet ends
    ends[:, :3] = dots
    ends[:, 3] = end
    olen = np.empty((n, 4), np.int64)
    olen[:, 0] = ends[:, 0] - start
    olen[:, 1:] = ends[:, 1:] - ends[:, :-1] - 1
    olen = olen.reshape(-1)
    o, good = digits8(w[ends.reshape(-1) - 8], 8 - np.clip(olen, 0, 3))
    o = o.view(np.int64)
    good &= (olen >= 1) & (olen <= 3) & (o <= 255)
    ok = np.ones(n, bool) if good.all() else good.reshape(n, 4).all(axis=1)
    o = o.reshape(n, 4)
    return (o[:, 0] << 24) | (o[:, 1] << 16) | (o[:, 2] << 8) | o[:, 3], ok


def has_colon(buf: np.ndarray, start: np.ndarray, ln: np.ndarray) -> np.ndarray:
    """Tokens with a ':' in their first 16 bytes (IPv6, as the exact parser sees it)."""
    return (tokens(buf, start, np.minimum(ln, 16), 16) == 58).any(axis=1)


def enum_words(w: np.ndarray, start: np.ndarray, ln: np.ndarray) -> np.ndarray:
    """Tokens of up to 8 bytes as one integer each (longer tokens get 0)."""
    return np.where(ln <= 8, w[start] & _LOW[np.minimum(ln, 8)], _U(0))


def token_words(w: np.ndarray, start: np.ndarray, ln: np.ndarray) -> np.ndarray:
    """Tokens as an (n, width/8) matrix of zero-padded little-endian words."""
    nw = max(-(-int(ln.max()) // 8), 1) if len(ln) else 1
    out = np.empty((len(start), nw), np.uint64)
    for i in range(nw):
        out[:, i] = w[start + 8 * i] & _LOW[np.clip(ln - 8 * i, 0, 8)]
    return out


# ------------------------------------------------------------------------ exact kernels

def tokens(a: np.ndarray, s: np.ndarray, ln: np.ndarray, width: int) -> np.ndarray:
    """Tokens as an (n, width) zero-padded byte matrix; `a` ends with PAD zero bytes."""
    cols = np.arange(width)
    return a[s[:, None] + cols] * (cols < ln[:, None])


def word(a: np.ndarray, s: np.ndarray, ln: np.ndarray) -> np.ndarray:
    """Tokens of up to 8 bytes as one integer each (longer tokens get 0)."""
    return np.where(ln <= 8, tokens(a, s, ln, 8).view("<u8").reshape(-1), 0)


def parse_int_exact(a: np.ndarray, s: np.ndarray,
                    ln: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decimal tokens, right-aligned into a digit matrix and folded with powers of ten."""
    width = int(min(ln.max(), 18))
    cols = np.arange(width)
    d = a[(s + ln - width)[:, None] + cols] - np.uint8(48)      # wraps: non-digits > 9
    d *= cols >= (width - ln)[:, None]
    bad = (d > 9).any(axis=1) | (ln > 18)
    if width <= 15:       # float64 holds 15 digits exactly, and BLAS folds them fast
        pow10 = 10.0 ** np.arange(width - 1, -1, -1)
        return (d.astype(np.float64) @ pow10).astype(np.int64), bad
    return d.astype(np.int64) @ (10 ** np.arange(width - 1, -1, -1, dtype=np.int64)), bad


def ipv4_exact(m: np.ndarray, ln: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dotted quads (zero-padded byte matrix, lengths `ln`) to integers; also flags IPv6
    (a ':') and malformed tokens."""
    n = len(m)
    m = m[:, :16]
    mask = np.arange(m.shape[1]) < ln[:, None]
    isdot = (m == 46) & mask
    v6 = ((m == 58) & mask).any(axis=1)          # IPv6 has a ':' in its first 5 chars
    bad = (mask & ~isdot & ((m < 48) | (m > 57))).any(axis=1) | (ln > 15)
    bad |= isdot.sum(axis=1) != 3
    val = np.zeros(n, np.int64)
    good = np.flatnonzero(~bad)
    if len(good):
        mg = m[good].astype(np.int64) - 48
        dots = np.nonzero(isdot[good])[1].reshape(-1, 3)
        lo = np.column_stack([np.zeros(len(good), np.int64), dots + 1])
        hi = np.column_stack([dots, ln[good]])
        olen = hi - lo
        acc = np.zeros(len(good), np.int64)
        obad = ((olen < 1) | (olen > 3)).any(axis=1)
        rows = np.arange(len(good))
        for j in range(4):
            e, ol = hi[:, j], olen[:, j]
            v = mg[rows, np.maximum(e - 1, 0)]
            v = v + np.where(ol >= 2, mg[rows, np.maximum(e - 2, 0)] * 10, 0)
            v = v + np.where(ol >= 3, mg[rows, np.maximum(e - 3, 0)] * 100, 0)
            obad |= v > 255
            acc = acc * 256 + v
        val[good] = acc
        bad[good[obad]] = True
    return val, bad, v6

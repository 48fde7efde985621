"""Flow keys: the one encoding of a 5-tuple (plus a context) as two uint64 words, and the
hashes over it. FlowTable, connection tracking, NAT and batch grouping all key flows here,
so a flow found by one is the same flow for the others.

Layout: k0 = ctx << 40 | proto << 32 | src, k1 = dst << 32 | sport << 16 | dport, with ctx
(an element or translation domain) below 2**24. ICMP keeps its type and code in the port
fields (netemu.packet); connection tracking keys ICMP by addresses only (`icmp_by_address`)."""

from __future__ import annotations

import numpy as np

from netemu.packet import ICMP

KEY_WORDS = 2
CTX_LIMIT = 1 << 24

# 64-bit odd multipliers (golden ratio, and MurmurHash3/SplitMix64 finalisers): one
# multiply-xorshift round spreads every key bit over the high bits the index reads
M1 = np.uint64(0x9E3779B97F4A7C15)
M2 = np.uint64(0xC2B2AE3D27D4EB4F)
M3 = np.uint64(0x94D049BB133111EB)

U32, U16, U8 = np.uint64(0xFFFFFFFF), np.uint64(0xFFFF), np.uint64(0xFF)
_S16, _S29, _S31, _S32, _S40 = (np.uint64(n) for n in (16, 29, 31, 32, 40))


def words(src, dst, sport, dport, proto, ctx=None, *,
          icmp_by_address: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Key words (k0, k1) of equal-length columns; with `icmp_by_address`, an ICMP
    packet's type and code are left out (an echo and its reply are one flow)."""
    proto = np.asarray(proto)
    k0 = np.asarray(proto, np.uint64) << _S32
    if ctx is not None:
        k0 |= np.asarray(ctx, np.uint64) << _S40
    k0 |= np.asarray(src, np.uint64)
    k1 = np.asarray(dst, np.uint64) << _S32
    k1 |= np.asarray(sport, np.uint64) << _S16
    k1 |= np.asarray(dport, np.uint64)
    if icmp_by_address:
        icmp = proto == ICMP
        if icmp.any():
            k1[icmp] &= ~U32
    return k0, k1


def stack(k0: np.ndarray, k1: np.ndarray) -> np.ndarray:
    """(n, 2) keys from their words."""
    return np.stack([k0, k1], axis=1)


def pack_keys(ctx, src, dst, sport, dport, proto) -> np.ndarray:
    """(n, 2) uint64 flow keys; scalars broadcast."""
    cols = np.broadcast_arrays(*(np.ravel(np.asarray(x, dtype=np.uint64)) for x in
                                 (ctx, src, dst, sport, dport, proto)))
    ctx, src, dst, sport, dport, proto = cols
    if ctx.size and int(ctx.max()) >= CTX_LIMIT:
        raise ValueError(f"flow context must be below {CTX_LIMIT}")
    return stack(*words(src, dst, sport, dport, proto, ctx))


def reply_keys(ctx, src, dst, sport, dport, proto) -> np.ndarray:
    """Keys of the reply direction of the given packets (addresses and ports swapped)."""
    return pack_keys(ctx, dst, src, dport, sport, proto)


def reverse_keys(keys: np.ndarray) -> np.ndarray:
    """Packed keys with src/dst and sport/dport swapped."""
    k0, k1 = keys[:, 0], keys[:, 1]
    src, dst = k0 & U32, k1 >> _S32
    sport, dport = (k1 >> _S16) & U16, k1 & U16
    r0 = (k0 & ~U32) | dst
    r1 = (src << _S32) | (dport << _S16) | sport
    return stack(r0, r1)


def proto_of(keys: np.ndarray) -> np.ndarray:
    """The protocol number of each key."""
    return (keys[:, 0] >> _S32) & U8


def index_hash(k0: np.ndarray, k1: np.ndarray, bits: int) -> np.ndarray:
    """Cell of each key in a table of 2**bits cells (int64): the high bits of a mixed
    hash, for open addressing with linear probing."""
    h = k0 * M1 ^ k1 * M2
    h ^= h >> _S31
    h *= M3
    h ^= h >> _S29
    return (h >> np.uint64(64 - bits)).astype(np.int64)


def draw_hash(k0: np.ndarray, k1: np.ndarray, salt: int) -> np.ndarray:
    """A seeded pseudo-random uint64 per key (NAT port draws): the same key and salt give
    the same value however the trace was cut into batches."""
    h = k0 * M1
    h ^= k1
    h ^= np.uint64(salt % 2**64)
    h *= M2
    h ^= h >> _S29
    h *= M1
    return h

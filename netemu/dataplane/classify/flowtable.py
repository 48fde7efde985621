"""FlowTable: flows keyed by 5-tuple plus context, looked up a whole batch at a time.

Connection tracking and NAT ask the same thing of every packet: is this flow (or its
reply) known, and what did we decide. The table is an open-addressing hash held in NumPy
arrays: a batch probes all its keys together, one step of linear probing per loop turn,
so a lookup costs a few vectorised passes rather than a dict access per packet. Entries
live in stable slots (their values are columns indexed by slot); the hash index only maps
keys to slots and is rebuilt after idle entries expire, which keeps probing tombstone-free.

Keys are two uint64 words, encoded and hashed by netemu.dataplane.flowkey."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.flowkey import KEY_WORDS, index_hash
from netemu.dataplane.grouping import group_keys


class FlowTable:
    """Flow entries in stable slots with per-slot value columns and a last-seen time."""

    def __init__(self, values: dict[str, np.dtype | type] | None = None,
                 capacity: int = 1024) -> None:
        cap = max(16, int(capacity))
        # the two key words as two columns: probes compare 1-D arrays, ~2x faster
        self._k0 = np.zeros(cap, np.uint64)
        self._k1 = np.zeros(cap, np.uint64)
        self._alive = np.zeros(cap, bool)
        self.last = np.zeros(cap, np.float64)
        self.values = {name: np.zeros(cap, dt) for name, dt in (values or {}).items()}
        self._free = np.arange(cap - 1, -1, -1, dtype=np.int32)   # stack, pop from end
        self._nfree = cap
        self._bits = max(5, int(np.ceil(np.log2(cap * 2))))
        self._index = np.full(1 << self._bits, -1, np.int32)   # 4 bytes a cell: memory

    def __len__(self) -> int:
        return int(self._alive.sum())

    @property
    def capacity(self) -> int:
        return len(self._alive)

    def alive(self) -> np.ndarray:
        """Slots in use."""
        return np.flatnonzero(self._alive)

    def keys_of(self, slots: np.ndarray) -> np.ndarray:
        slots = np.asarray(slots, dtype=np.int64)
        return np.stack([self._k0[slots], self._k1[slots]], axis=1)

    # ---- lookup / insert ----------------------------------------------------------------

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Slot of each key (int64), -1 when absent."""
        keys = np.asarray(keys, np.uint64).reshape(-1, KEY_WORDS)
        return self.lookup_words(np.ascontiguousarray(keys[:, 0]),
                                 np.ascontiguousarray(keys[:, 1]))

    def lookup_grouped(self, k0: np.ndarray, k1: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`group_keys(k0, k1)` (each key's first row, in order, and each row's group)
        and the slot of each group's key (-1 absent), probing the index once per row:
        rows found are grouped by their slot (one slot, one key), and only the absent
        rows are grouped by hashing. The same answer as grouping, then looking up the
        groups' keys, with one hash probe of every row instead of two."""
        n = len(k0)
        slots = self.lookup_words(k0, k1)
        rep = np.empty(n, np.intp)
        found = np.flatnonzero(slots >= 0)
        if found.size:
            s = slots[found]
            earliest = _slot_scratch(self.capacity)
            np.minimum.at(earliest, s, found)          # the first row of each slot
            rep[found] = earliest[s]
            earliest[s] = _FREE                        # leave the scratch clean
        absent = np.flatnonzero(slots < 0)
        if absent.size:
            first, group = group_keys(k0[absent], k1[absent])
            rep[absent] = absent[first[group]]
        head = rep == np.arange(n)
        number = np.cumsum(head) - 1
        first = np.flatnonzero(head)
        return first, number[rep], slots[first]

    def lookup_words(self, k0: np.ndarray, k1: np.ndarray) -> np.ndarray:
        """lookup() of keys given as their two words (contiguous uint64 columns)."""
        mask = len(self._index) - 1
        h = index_hash(k0, k1, self._bits)
        slot = self._index[h]                     # the first probe, for every key
        hit = slot >= 0
        s = slot[hit]
        hit[hit] = (self._k0[s] == k0[hit]) & (self._k1[s] == k1[hit])
        out = np.where(hit, slot, -1).astype(np.int64)
        act = np.flatnonzero(~hit & (slot >= 0))  # collided: probe on
        while act.size:
            h[act] = (h[act] + 1) & mask
            slot = self._index[h[act]]
            full = slot >= 0
            act, slot = act[full], slot[full]
            same = (self._k0[slot] == k0[act]) & (self._k1[slot] == k1[act])
            out[act[same]] = slot[same]
            act = act[~same]
        return out

    def insert(self, keys: np.ndarray, ts=0.0, **values) -> np.ndarray:
        """Slots for keys, adding the absent ones (first occurrence in the batch gives their
        values and time). Keys already present keep their slot and values."""
        keys = np.asarray(keys, np.uint64).reshape(-1, KEY_WORDS)
        return self.insert_looked_up(keys, self.lookup(keys), ts, **values)

    def insert_looked_up(self, keys: np.ndarray, slots: np.ndarray, ts=0.0,
                         **values) -> np.ndarray:
        """insert() of (n, 2) keys whose lookup() the caller has already made (`slots`)."""
        slots = slots.copy()
        missing = np.flatnonzero(slots < 0)
        if not missing.size:
            return slots
        # distinct missing keys by hashing (no sort): first occurrences in batch order,
        # so entries are allocated in batch order
        miss = keys[missing]
        first, group = group_keys(miss[:, 0], miss[:, 1])
        src = missing[first]                      # batch rows that create an entry
        new = self.insert_new(
            keys[src], np.broadcast_to(np.asarray(ts, np.float64), len(keys))[src],
            **{name: np.broadcast_to(np.asarray(col), len(keys))[src]
               for name, col in values.items()})
        slots[missing] = new[group]
        return slots

    def insert_new(self, keys: np.ndarray, ts, **values) -> np.ndarray:
        """Slots for keys known to be distinct and absent (a caller that grouped and
        looked up its batch already skips insert's second lookup and grouping); values
        not given are 0."""
        keys = np.asarray(keys, np.uint64).reshape(-1, KEY_WORDS)
        n = len(keys)
        new = self._allocate(n)
        if n == 0:
            return new
        self._k0[new], self._k1[new] = keys[:, 0], keys[:, 1]
        self._alive[new] = True
        self.last[new] = ts
        for name, col in self.values.items():
            col[new] = values.get(name, 0)
        if self.used() * 2 > len(self._index):
            self._rebuild()
        else:
            self._place(new)
        return new

    def used(self) -> int:
        """Slots taken, alive or not yet compacted (memory, not flows)."""
        return self.capacity - self._nfree

    def touch(self, slots: np.ndarray, ts) -> None:
        """Record activity: last-seen becomes the latest of its value and ts."""
        slots = np.asarray(slots, np.int64)
        ts = np.broadcast_to(np.asarray(ts, np.float64), slots.shape)
        np.maximum.at(self.last, slots, ts)

    def expire(self, now: float, timeout) -> np.ndarray:
        """Remove entries idle for more than `timeout` (scalar, or an array by slot);
        returns the freed slots so owners can release what they held (e.g. NAT ports)."""
        timeout = np.broadcast_to(np.asarray(timeout, np.float64), self._alive.shape)
        dead = np.flatnonzero(self._alive & (now - self.last > timeout))
        if dead.size:
            self.remove(dead)
        return dead

    def remove(self, slots: np.ndarray) -> None:
        slots = np.unique(np.asarray(slots, np.int64))
        slots = slots[self._alive[slots]]
        self._alive[slots] = False
        self._free[self._nfree:self._nfree + slots.size] = slots[::-1]
        self._nfree += slots.size
        self._rebuild()

    # ---- internals ----------------------------------------------------------------------

    def _allocate(self, n: int) -> np.ndarray:
        while self._nfree < n:
            self._grow()
        got = self._free[self._nfree - n:self._nfree][::-1].copy()
        self._nfree -= n
        return got

    def _grow(self) -> None:
        old = self.capacity
        new = old * 2
        self._k0 = np.concatenate([self._k0, np.zeros(old, np.uint64)])
        self._k1 = np.concatenate([self._k1, np.zeros(old, np.uint64)])
        self._alive = np.concatenate([self._alive, np.zeros(old, bool)])
        self.last = np.concatenate([self.last, np.zeros(old)])
        self.values = {k: np.concatenate([v, np.zeros(old, v.dtype)])
                       for k, v in self.values.items()}
        free = np.concatenate([np.arange(new - 1, old - 1, -1, dtype=np.int32),
                               self._free[:self._nfree]])
        self._free = np.concatenate([free, np.zeros(old, np.int32)])
        self._nfree = free.size

    def _rebuild(self) -> None:
        live = np.flatnonzero(self._alive)
        self._bits = max(5, int(np.ceil(np.log2(max(live.size, 8) * 2))))   # load <= 1/2
        self._index = np.full(1 << self._bits, -1, np.int32)   # 4 bytes a cell: memory
        self._place(live)

    def _place(self, slots: np.ndarray) -> None:
        """Put absent, distinct keys into the index: every free cell goes to its first
        claimant, everyone else probes on."""
        mask = len(self._index) - 1
        h = index_hash(self._k0[slots], self._k1[slots], self._bits)
        pending = np.arange(slots.size)
        while pending.size:
            pos = h[pending]
            free = np.flatnonzero(self._index[pos] < 0)
            # claimants of one cell all write it and one write stays (no sort): which one
            # does not matter, a lookup finds its key wherever it sits on its probe path
            self._index[pos[free]] = slots[pending[free]]
            placed = free[self._index[pos[free]] == slots[pending[free]]]
            left = np.ones(pending.size, bool)
            left[placed] = False
            pending = pending[left]
            h[pending] = (h[pending] + 1) & mask


_FREE = np.iinfo(np.intp).max
_scratch = [np.full(0, _FREE, np.intp)]   # one, as large as the largest table: all _FREE


def _slot_scratch(capacity: int) -> np.ndarray:
    """A row number per slot, all _FREE; callers put back what they change."""
    if len(_scratch[0]) < capacity:
        _scratch[0] = np.full(capacity, _FREE, np.intp)
    return _scratch[0]


class NaiveFlowTable:
    """Oracle: a dict from key tuple to slot, same API as FlowTable."""

    def __init__(self, values: dict[str, np.dtype | type] | None = None) -> None:
        self.slot_of: dict[tuple[int, int], int] = {}
        self.entries: dict[int, dict] = {}
        self.names = list(values or {})
        self.next = 0

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        return np.array([self.slot_of.get(tuple(map(int, k)), -1) for k in keys], np.int64)

    def insert(self, keys: np.ndarray, ts=0.0, **values) -> np.ndarray:
        out = []
        ts = np.broadcast_to(np.asarray(ts, np.float64), len(keys))
        cols = {k: np.broadcast_to(np.asarray(v), len(keys)) for k, v in values.items()}
        for i, k in enumerate(keys):
            key = tuple(map(int, k))
            if key not in self.slot_of:
                self.slot_of[key] = self.next
                self.entries[self.next] = {"last": float(ts[i]),
                                           **{n: cols[n][i] if n in cols else 0
                                              for n in self.names}}
                self.next += 1
            out.append(self.slot_of[key])
        return np.array(out, np.int64)

    def touch(self, slots, ts) -> None:
        ts = np.broadcast_to(np.asarray(ts, np.float64), np.shape(slots))
        for s, t in zip(np.asarray(slots).tolist(), ts.tolist(), strict=True):
            self.entries[s]["last"] = max(self.entries[s]["last"], t)

    def expire(self, now: float, timeout: float) -> list[int]:
        dead = [s for s, e in self.entries.items() if now - e["last"] > timeout]
        for s in dead:
            del self.entries[s]
        self.slot_of = {k: s for k, s in self.slot_of.items() if s in self.entries}
        return dead

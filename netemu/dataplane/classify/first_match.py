"""FirstMatch: ordered first-match classification over a whole batch at once.

A bit-vector matcher costs one AND per rule word per packet (about 1M packets/s on 10k
rules); a cutting tree does far less work per packet. The tree is HiCuts-style: every node
owns a power-of-two aligned box and cuts one field into 2**k equal children, so a packet's
child is `(value >> shift) & mask` -- a shift and a mask, no comparisons. Nodes are flat
arrays and the batch walks them level by level with fancy indexing. A leaf keeps a short
list of rows in priority order, cut short at the first row covering the leaf's whole box;
the batch checks leaf lists one column at a time, dropping packets as they match.
Subtrees whose rules sit identically inside their boxes are built once and shared."""

from __future__ import annotations

from collections import deque

import numpy as np

from netemu.rules import FIELDS, RuleTable

FIELD_BITS = (32, 32, 16, 16, 8)
NONE = np.iinfo(np.int64).max


def _stack(table: RuleTable) -> tuple[np.ndarray, np.ndarray]:
    lo = np.stack([table.lo[f].astype(np.int64) for f in FIELDS], axis=1).reshape(-1, 5)
    hi = np.stack([table.hi[f].astype(np.int64) for f in FIELDS], axis=1).reshape(-1, 5)
    return lo, hi


def headers(src, dst, sport, dport, proto) -> np.ndarray:
    """Header columns as one (n, 5) uint32 array, the layout the matchers read."""
    cols = [np.asarray(c) for c in (src, dst, sport, dport, proto)]
    n = max((c.size for c in cols), default=0)
    out = np.empty((n, 5), dtype=np.uint32)
    for i, c in enumerate(cols):
        out[:, i] = c
    return out


class _Tree:
    """One cutting tree over a subset of rows, as flat arrays (see FirstMatch._walk)."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, rows: np.ndarray, *, binth: int,
                 max_cut_bits: int, spfac: float) -> None:
        self.binth = binth
        self.max_cut_bits = max_cut_bits
        self.spfac = spfac
        self._lo, self._hi = lo, hi
        self._build(rows)

    # ---- build -------------------------------------------------------------------------

    def _build(self, root_rows: np.ndarray) -> None:
        lo, hi = self._lo, self._hi
        field: list[int] = []
        shift: list[int] = []
        mask: list[int] = []
        kidbase: list[int] = []
        leafans: list[int] = []
        leafcands: list[np.ndarray] = []
        kids: list[int] = []
        seen: dict[bytes, int] = {}
        depth_of: list[int] = []
        empty = np.zeros(0, np.int64)

        def new_node(rows: np.ndarray, base: np.ndarray, bits: np.ndarray, depth: int) -> int:
            """Register a node (deduplicated by its rules' shape inside its box)."""
            top = base + (np.int64(1) << bits) - 1
            clo = np.maximum(lo[rows], base) - base
            chi = np.minimum(hi[rows], top) - base
            key = bits.tobytes() + rows.astype(np.int32).tobytes() + clo.tobytes() + \
                chi.tobytes()
            got = seen.get(key)
            if got is not None:
                return got
            nid = len(field)
            seen[key] = nid
            for arr in (field, shift, mask, kidbase, leafans):
                arr.append(0)
            leafcands.append(empty)
            depth_of.append(depth)
            queue.append((nid, rows, base, bits, depth))
            return nid

        queue: deque = deque()
        new_node(root_rows.astype(np.int64), np.zeros(5, np.int64),
                 np.array(FIELD_BITS, np.int64), 0)
        while queue:
            nid, rows, base, bits, depth = queue.popleft()
            top = base + (np.int64(1) << bits) - 1
            ans = NONE
            if rows.size:
                cover = np.all((lo[rows] <= base) & (hi[rows] >= top), axis=1)
                first = np.flatnonzero(cover)
                if first.size:
                    ans = int(rows[first[0]])
                    rows = rows[: first[0]]
            cut = None if rows.size <= self.binth else self._choose_cut(rows, base, bits)
            if cut is None:
                # a leaf: its kid slot points back at itself, so extra levels stay put
                field[nid], shift[nid], mask[nid] = 0, 0, 0
                kidbase[nid] = len(kids)
                kids.append(nid)
                leafans[nid] = ans
                leafcands[nid] = rows
                depth_of[nid] = -1
                continue
            if ans != NONE:
                rows = np.append(rows, ans)
            f, k = cut
            s = int(bits[f]) - k
            clo = (np.maximum(lo[rows, f], base[f]) - base[f]) >> s
            chi = (np.minimum(hi[rows, f], top[f]) - base[f]) >> s
            field[nid], shift[nid], mask[nid] = f, s, (1 << k) - 1
            kidbase[nid] = len(kids)
            slots = len(kids)
            kids.extend([0] * (1 << k))
            cbits = bits.copy()
            cbits[f] = s
            # children no row reaches share one empty leaf (most of them, on big cuts)
            reach = np.zeros((1 << k) + 1, np.int64)
            np.add.at(reach, clo, 1)
            np.add.at(reach, chi + 1, -1)
            reached = np.cumsum(reach[:-1]) > 0
            if not reached.all():
                hole = int(np.argmin(reached))
                cbase = base.copy()
                cbase[f] = base[f] + (hole << s)
                kids[slots: slots + (1 << k)] = [new_node(empty, cbase, cbits, depth + 1)] * \
                    (1 << k)
            for c in np.flatnonzero(reached).tolist():
                cbase = base.copy()
                cbase[f] = base[f] + (c << s)
                crow = rows[(clo <= c) & (chi >= c)]
                kids[slots + c] = new_node(crow, cbase, cbits, depth + 1)

        self.depth = max(depth_of) + 1
        self.n_nodes = len(field)
        self.field = np.array(field, np.int64)
        self.shift = np.array(shift, np.int64)
        self.mask = np.array(mask, np.int64)
        self.kidbase = np.array(kidbase, np.int64)
        self.kids = np.array(kids, np.int64)
        self.leafans = np.array(leafans, np.int64)
        self.isleaf = np.array([d < 0 for d in depth_of], bool)
        self.leafcands = leafcands
        self.n_leaf_entries = int(sum(c.size for c in leafcands)) + int(
            (self.leafans != NONE).sum())

    def _choose_cut(self, rows: np.ndarray, base: np.ndarray, bits: np.ndarray
                    ) -> tuple[int, int] | None:
        """Pick (field, k) minimising the largest child, within a replication budget."""
        m = rows.size
        top = base + (np.int64(1) << bits) - 1
        rlo = np.maximum(self._lo[rows], base) - base
        rhi = np.minimum(self._hi[rows], top) - base
        best: tuple[float, int, int, int] | None = None   # (mean child, total, f, k)
        for f in range(5):
            b = int(bits[f])
            kmax = min(b, self.max_cut_bits)
            if kmax == 0:
                continue
            ks = np.arange(1, kmax + 1, dtype=np.int64)
            s = (b - ks)[:, None]
            clo = rlo[:, f][None, :] >> s
            chi = rhi[:, f][None, :] >> s
            totals = (chi - clo + 1).sum(axis=1)
            ok = (totals + (np.int64(1) << ks) <= self.spfac * m)
            ok[0] = True
            k = int(ks[np.flatnonzero(ok)[-1]])
            n = 1 << k
            # mean rules per child: rewards cuts that separate much with little copying
            choice = (totals[k - 1] / n, int(totals[k - 1]), f, k)
            if best is None or choice[:2] < best[:2]:
                best = choice
        if best is None or best[0] >= m:
            return None   # every rule spans every child: cutting only replicates
        return best[2], best[3]


def _partition(lo: np.ndarray, hi: np.ndarray, small_bits: int) -> list[np.ndarray]:
    """Split rows by which address field is narrower, so each tree cuts where its rules
    are small and wide rules stop being copied into every child (the EffiCuts/CutSplit
    idea). A row goes with its narrower address when that one is under 2**small_bits
    wide; rows wide in both (short prefixes on both sides) get a tree of their own, as
    nested short prefixes otherwise replicate into every child of every cut."""
    width = hi - lo
    lim = np.int64(1) << small_bits
    src_narrow = (width[:, 0] < lim) & (width[:, 0] <= width[:, 1])
    dst_narrow = (width[:, 1] < lim) & ~src_narrow
    groups = [src_narrow, dst_narrow, ~src_narrow & ~dst_narrow]
    return [np.flatnonzero(g) for g in groups if g.any()]


class FirstMatch:
    """Compiled first-match classifier: `.match(...)` gives the first matching row or -1.

    All trees share one set of flat node arrays; a batch walks every (tree, packet) pair
    level by level, and pairs that reach a leaf leave the walk. A leaf holds the first row
    covering its whole box (answered without a check) and, before it, a short list of rows
    that must be checked, as packed candidates: lo and hi - lo for 8 lanes (5 fields and 3
    always-true pads), so one uint32 compare checks all fields and one uint64 view tests
    all lanes."""

    _built: dict = {}                 # table content -> FirstMatch (see cached)

    @classmethod
    def cached(cls, table: RuleTable) -> FirstMatch:
        """The classifier of a table with these rows, built once per process: the graphs
        of a topology and of its copies with a fix applied (lint, reach) share most of
        their ACLs and groups, and a built classifier is never changed."""
        key = (table.rule.tobytes(),) + tuple(
            a.tobytes() for f in sorted(table.lo) for a in (table.lo[f], table.hi[f]))
        hit = cls._built.get(key)
        if hit is None:
            if len(cls._built) >= 4096:
                cls._built.clear()
            hit = cls._built[key] = cls(table)
        return hit

    def __init__(self, table: RuleTable, *, binth: int = 4, max_cut_bits: int = 8,
                 spfac: float = 8.0, small_bits: int = 24) -> None:
        self.table = table
        lo, hi = _stack(table)
        # a small table is one tree: several would only add walks and build work
        parts = _partition(lo, hi, small_bits) if len(table) > 64 else [
            np.arange(len(table))]
        trees = [_Tree(lo, hi, rows, binth=binth, max_cut_bits=max_cut_bits,
                       spfac=spfac) for rows in parts]
        self.n_nodes = sum(t.n_nodes for t in trees)
        self.depth = max((t.depth for t in trees), default=0)
        self.n_leaf_entries = sum(t.n_leaf_entries for t in trees)
        self._compile(lo, hi, trees)

    def _compile(self, lo: np.ndarray, hi: np.ndarray, trees: list[_Tree]) -> None:
        nb = np.cumsum([0] + [t.n_nodes for t in trees])
        kb = np.cumsum([0] + [t.kids.size for t in trees])
        cat = np.concatenate
        z = np.zeros(0, np.int64)
        self._roots = nb[:-1].astype(np.int64)
        self._field = cat([t.field for t in trees] or [z])
        self._shift = cat([t.shift for t in trees] or [z])
        self._mask = cat([t.mask for t in trees] or [z])
        self._kidbase = cat([t.kidbase + kb[i] for i, t in enumerate(trees)] or [z])
        self._kids = cat([t.kids + nb[i] for i, t in enumerate(trees)] or [z])
        self._isleaf = cat([t.isleaf for t in trees] or [np.zeros(0, bool)])
        self._leafans = cat([t.leafans for t in trees] or [z])
        cands = [c for t in trees for c in t.leafcands]
        self._ncand = np.array([c.size for c in cands], np.int64)
        self._candstart = np.cumsum(self._ncand) - self._ncand
        rows = cat(cands or [z]).astype(np.int64)
        self._candrow = rows
        self.max_leaf = int(self._ncand.max(initial=0))
        self._clo = np.zeros((rows.size, 8), np.uint32)
        self._clo[:, :5] = lo[rows]
        self._cwidth = np.full((rows.size, 8), 0xFFFFFFFF, np.uint32)
        self._cwidth[:, :5] = hi[rows] - lo[rows]
        self._all_ok = np.frombuffer(np.ones(8, bool).tobytes(), np.uint64)[0]

    def match(self, src, dst, sport, dport, proto) -> np.ndarray:
        """Row index of the first matching row per packet, -1 when none matches."""
        return self.match_headers(headers(src, dst, sport, dport, proto))

    def _walk(self, flat: np.ndarray, n: int) -> np.ndarray:
        """Leaf node of every (tree, packet) pair, tree-major: pair t*n + i. Leaves point
        back at themselves, so pairs already at a leaf may walk on harmlessly; they leave
        the batch only when that pays (boolean masks are slow, so by index with take)."""
        take = np.take
        node = np.repeat(self._roots, n)
        pos = np.tile(np.arange(0, 5 * n, 5, dtype=np.int64), self._roots.size)
        out = None
        pair = None
        isleaf, field, shift, mask = self._isleaf, self._field, self._shift, self._mask
        kidbase, kids = self._kidbase, self._kids
        for _ in range(self.depth):
            live = np.flatnonzero(~take(isleaf, node))
            if live.size < node.size:
                if not live.size:
                    break
                if live.size < node.size * 7 // 8:
                    if out is None:
                        out, pair = node, np.arange(node.size)
                    else:
                        out[pair] = node
                    pair, node, pos = take(pair, live), take(node, live), take(pos, live)
            v = take(flat, pos + take(field, node))
            node = take(kids, take(kidbase, node) + ((v >> take(shift, node)) &
                                                     take(mask, node)))
        if out is None:
            return node
        out[pair] = node
        return out

    def match_headers(self, hdr: np.ndarray) -> np.ndarray:
        """hdr: (n, 5) uint32 from headers(); each tree's first row, then the earliest."""
        n = hdr.shape[0]
        ntree = self._roots.size
        if n == 0 or ntree == 0:
            return np.full(n, -1, np.int32)
        take = np.take
        leaf = self._walk(hdr.astype(np.int64).ravel(), n)
        res = take(self._leafans, leaf)
        cnt = take(self._ncand, leaf)
        act = np.flatnonzero(cnt)
        if act.size:
            # a candidate is only worth checking while its row beats the best answer the
            # packet already has (from a covering row, or a candidate already matched)
            best = res.reshape(ntree, n).min(axis=0) if ntree > 1 else res.copy()
            h8 = np.zeros((n, 8), np.uint32)
            h8[:, :5] = hdr
            p = take(self._candstart, take(leaf, act))
            cnt = take(cnt, act)
            pkt = act % n if ntree > 1 else act
            candrow, clo, cwidth, all_ok = self._candrow, self._clo, self._cwidth, self._all_ok
            j = 0
            while act.size:
                if j:
                    sel = np.flatnonzero(take(candrow, p) < take(best, pkt))
                    if sel.size < act.size:
                        act, p, cnt, pkt = take(act, sel), take(p, sel), take(cnt, sel), \
                            take(pkt, sel)
                        if not act.size:
                            break
                h = take(h8, pkt, axis=0)
                np.subtract(h, take(clo, p, axis=0), out=h)
                ok = (h <= take(cwidth, p, axis=0)).view(np.uint64).ravel() == all_ok
                hit = np.flatnonzero(ok)
                if hit.size:
                    row = take(candrow, take(p, hit))
                    res[take(act, hit)] = row
                    best[take(pkt, hit)] = row
                j += 1
                sel = np.flatnonzero(~ok & (cnt > j))
                act, p, cnt, pkt = take(act, sel), take(p, sel) + 1, take(cnt, sel), \
                    take(pkt, sel)
        if ntree > 1:
            res = res.reshape(ntree, n).min(axis=0)
        return np.where(res == NONE, -1, res).astype(np.int32)


def first_match_naive(table: RuleTable, src, dst, sport, dport, proto) -> np.ndarray:
    """Oracle: scan the rows in order for each packet, take the first that matches."""
    pkts = headers(src, dst, sport, dport, proto)
    out = np.full(len(pkts), -1, dtype=np.int32)
    for i, p in enumerate(pkts):
        for row in range(len(table)):
            if table.row_matches(row, dict(zip(FIELDS, (int(x) for x in p), strict=True))):
                out[i] = row
                break
    return out


def first_match_scan(table: RuleTable, src, dst, sport, dport, proto) -> np.ndarray:
    """Linear scan vectorised over the batch, one rule at a time (brute-force reference)."""
    pkts = headers(src, dst, sport, dport, proto)
    out = np.full(len(pkts), -1, dtype=np.int32)
    left = np.arange(len(pkts))
    lo, hi = _stack(table)
    for row in range(len(table)):
        if not left.size:
            break
        p = pkts[left]
        ok = np.all((p >= lo[row]) & (p <= hi[row]), axis=1)
        out[left[ok]] = row
        left = left[~ok]
    return out

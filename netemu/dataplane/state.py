"""Per-flow state over the trace's own clock: security-group connection tracking and
source NAT (Hyperplane, NAT gateway, Lambda's own public egress).

Work is per flow, not per packet, and vectorised over the batch: the batch's packets are
grouped by flow key with a throw-away open-addressing hash (first appearance decides the
flow's order, as time does), the flows are looked up together in a FlowTable, and every
packet of a flow shares its flow's answer. No Python loop runs per flow or per packet;
only a few rounds of probing or port drawing.

A row may stand for a piece of a flow (the packets from its `ts` to its `until`, none
silent longer than any timeout, see grouping.starts): liveness is checked at `ts` and the
entry is refreshed to `until`, which is what the piece's packets one by one would do. So
the state after a piece does not depend on how the trace was cut into batches.

Expiry is by the trace's clock and is decided on lookup (an entry idle past its timeout is
treated as gone), so when entries are physically dropped from a table never changes a
verdict; tables are compacted now and then to keep memory bounded, never past `horizon`
(the caller's promise that no later lookup is earlier: within a batch, pieces are not
decided in time order)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from netemu.dataplane.classify.flowtable import FlowTable
from netemu.dataplane.flowkey import (
    M3,
    U16,
    U32,
    draw_hash,
    proto_of,
    stack,
    words,
)
from netemu.dataplane.grouping import group_keys
from netemu.packet import SYN, TCP, UDP


@dataclass(frozen=True)
class Timeouts:
    """S5 idle timeouts in seconds, each a setting with AWS's default."""
    tcp_established: float = 432_000.0
    udp_stream: float = 180.0
    udp: float = 30.0
    other: float = 600.0
    nat_gateway: float = 350.0


# How long a NAT mapping released by idle timeout is remembered, so that a later TCP
# segment of the same flow is refused (G4) rather than given a new mapping.
NAT_FORGET = 432_000.0

_S16, _S32, _S40 = np.uint64(16), np.uint64(32), np.uint64(40)


def _pack(src, dst, sport, dport, proto) -> tuple[np.ndarray, np.ndarray]:
    """Flow key words (context 0), ICMP keyed by addresses only."""
    return words(src, dst, sport, dport, proto, icmp_by_address=True)


def _group_max(values: np.ndarray, group: np.ndarray, ngroups: int) -> np.ndarray:
    out = np.full(ngroups, -np.inf)
    np.maximum.at(out, group, values)
    return out


def _ends(b: np.ndarray, ts: np.ndarray, group: np.ndarray, ngroups: int) -> np.ndarray:
    """Per flow, the time of the last packet its rows stand for."""
    return _group_max(np.maximum(ts, b["until"]), group, ngroups)


def _columns(b: np.ndarray, *names: str) -> list[np.ndarray]:
    """Contiguous copies of batch columns (strided field views are slow to gather)."""
    return [np.ascontiguousarray(b[name]) for name in names]


class ConnTrack:
    """S3: a flow allowed one way lets its replies through, while it is tracked. An entry
    idle past its timeout (S5) is gone: its replies are refused and a new packet of the
    flow starts it afresh (no reply seen yet)."""

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        self.timeouts = timeouts or Timeouts()
        self.table = FlowTable({"replied": np.bool_}, capacity=1024)
        self.clock = -np.inf            # latest timestamp seen
        self.horizon = np.inf           # no lookup will be earlier than this
        self._compact_at = 4096

    def _timeout(self, proto: np.ndarray, replied: np.ndarray) -> np.ndarray:
        t = self.timeouts
        return np.where(proto == TCP, t.tcp_established,
                        np.where(proto == UDP, np.where(replied, t.udp_stream, t.udp),
                                 t.other))

    def _slot_timeout(self, slots: np.ndarray) -> np.ndarray:
        proto = proto_of(self.table.keys_of(slots))
        return self._timeout(proto, self.table.values["replied"][slots])

    def _lookup(self, b: np.ndarray, reverse: bool):
        """Flows of the batch: first packet, packet -> flow, slot (-1 absent), latest ts,
        and whether the found entry is still alive at the flow's first packet."""
        src, dst, sport, dport = ((b["dst"], b["src"], b["dport"], b["sport"]) if reverse
                                  else (b["src"], b["dst"], b["sport"], b["dport"]))
        k0, k1 = _pack(src, dst, sport, dport, b["proto"])
        first, group, slots = self.table.lookup_grouped(k0, k1)
        ts = np.ascontiguousarray(b["ts"])
        found = slots >= 0
        alive = np.zeros(len(first), bool)
        fs = slots[found]
        alive[found] = ts[first[found]] - self.table.last[fs] <= self._slot_timeout(fs)
        end = _ends(b, ts, group, len(first))
        if len(ts):
            self.clock = max(self.clock, float(end.max()))
        return k0, k1, ts, first, group, slots, alive, end

    def replies(self, b: np.ndarray) -> np.ndarray:
        """Which packets answer a tracked flow (their reversed key is tracked and alive)."""
        _, _, ts, first, group, slots, alive, last = self._lookup(b, reverse=True)
        if alive.any():
            s = slots[alive]
            np.maximum.at(self.table.last, s, last[alive])
            self.table.values["replied"][s] = True
        return alive[group]

    def track(self, b: np.ndarray) -> None:
        """Start or refresh the flows of allowed packets (last seen: their latest time)."""
        if len(b) == 0:
            return
        k0, k1, ts, first, group, slots, alive, last = self._lookup(b, reverse=False)
        t = self.table
        s = slots[alive]
        t.last[s] = np.maximum(t.last[s], last[alive])
        stale = (slots >= 0) & ~alive           # timed out: the flow starts again
        s = slots[stale]
        t.last[s] = last[stale]
        t.values["replied"][s] = False
        new = slots < 0
        if new.any():
            f = first[new]
            t.insert_new(stack(k0[f], k1[f]), last[new])
        if t.used() >= self._compact_at:
            self._compact(min(float(ts.min()), self.horizon))

    def _compact(self, now: float) -> None:
        """Drop entries already timed out at `now` (harmless: they read as gone anyway)."""
        t = self.table
        live = t.alive()
        dead = live[now - t.last[live] > self._slot_timeout(live)]
        if dead.size:
            t.remove(dead)
        self._compact_at = max(4096, 2 * t.used())

    def __len__(self) -> int:
        """Tracked flows still alive at the latest time seen."""
        live = self.table.alive()
        return int((self.clock - self.table.last[live] <= self._slot_timeout(live)).sum())


class SourceNat:
    """Rewrites a flow's source to one address and a port of `lo`..`hi`, and translates
    the replies back. `per_destination` caps simultaneous connections to one (address,
    port, protocol) (G3); `total` caps all connections (L3); `idle` expires quiet flows
    (G4). Ports are seeded hashes of the flow, so runs repeat.

    Time rules, per outbound batch (its packets are in time order): mappings idle past
    `idle` at the batch's first timestamp (or `horizon`, if earlier) are released before
    the batch (their ports and their share of the caps free up for it), and so are those
    found idle past `idle` at their own flow's first packet in the batch. A released
    mapping is remembered for NAT_FORGET seconds after its last use: every later TCP
    segment of the flow without SYN is refused (`timed_out`: G4, the gateway resets "any"
    attempt to continue the connection), while a SYN or another protocol gets a new
    mapping, as a new flow would (the same port if still free: ports are drawn from the
    flow's key). So a flow's fate after a timeout is the same for all of its packets,
    however the trace is cut into batches."""

    def __init__(self, ip: int, *, lo: int = 1024, hi: int = 65535,
                 per_destination: int | None = None, total: int | None = None,
                 idle: float | None = None, seed: int = 0) -> None:
        self.ip, self.lo, self.hi = ip, lo, hi
        self.per_destination, self.total, self.idle = per_destination, total, idle
        # flow -> port, live (False: released, remembered), reply-key slot, destination slot
        self.fwd = FlowTable({"port": np.int32, "live": np.bool_, "rev": np.int32,
                           "dest": np.int32})       # slots: int32 keeps a flow's cost low
        # reply key (remote -> ip:port) -> flow slot holding it, -1 when free
        self.rev = FlowTable({"flow": np.int32})
        # destination (address, port, protocol) of TCP/UDP flows -> live mappings
        self.dest = FlowTable({"count": np.int64})
        self._seed = seed                # the generator of _draw_exact, made if it runs
        self._salt = (seed * 0xD6E8FEB86659FD93 + 0x5851F42D4C957F2D) % 2**64
        self.live = 0
        self.horizon = np.inf            # no lookup will be earlier than this
        self._sweep_at = np.inf          # no live mapping can have timed out before this
        self._compact_at = 4096

    @property
    def connections(self) -> int:
        return self.live

    @functools.cached_property
    def rng(self) -> np.random.Generator:
        """Drawn from only when destinations are nearly full; made then, as importing
        numpy.random costs a cold `netemu trace` milliseconds it never uses."""
        return np.random.Generator(np.random.PCG64(self._seed))

    # ---- outbound -------------------------------------------------------------------------

    def outbound(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """New source ports per packet, which packets got a translation, and which hit a
        flow the gateway had already timed out (a TCP packet other than SYN)."""
        if len(b) == 0:
            z = np.zeros(0, bool)
            return np.zeros(0, np.uint16), z, z
        ts, proto = _columns(b, "ts", "proto")
        now = min(float(ts.min()), self.horizon)
        if self.idle is not None and now - self.idle > self._sweep_at:
            self._sweep(now)
        k0, k1 = _pack(b["src"], b["dst"], b["sport"], b["dport"], proto)
        fwd = self.fwd
        first, group, slots = fwd.lookup_grouped(k0, k1)
        g = len(first)
        gts = ts[first]
        last = _ends(b, ts, group, g)
        found = slots >= 0
        s = np.where(found, slots, 0)
        live = found & fwd.values["live"][s]
        if self.idle is not None:
            expired = live & (gts - fwd.last[s] > self.idle)
            if expired.any():                 # as the sweep at that time would have
                self._release(slots[expired])
                live &= ~expired
        remembered = found & ~live & (gts - fwd.last[s] <= NAT_FORGET)
        segment = (proto[first] == TCP) & ((b["flags"][first] & SYN) == 0)
        timed_out = remembered & segment
        ok = live.copy()
        hit = slots[ok]
        fwd.last[hit] = np.maximum(fwd.last[hit], last[ok])
        want = np.flatnonzero(~live & ~timed_out)
        if want.size:
            ok[want], slots[want] = self._open(b, first[want], k0, k1, last[want],
                                               slots[want])
        ports = np.where(ok, fwd.values["port"][np.where(ok, slots, 0)], 0).astype(np.uint16)
        if fwd.used() >= self._compact_at:
            self._compact(now)
        return _keep_icmp(b, "sport", ports[group]), ok[group], timed_out[group]

    def _open(self, b, pkt, k0, k1, last, slots) -> tuple[np.ndarray, np.ndarray]:
        """New mappings for flows (first packets `pkt`, in batch order) within the caps:
        which got one, and their slots (entries already in the table keep theirs)."""
        m = len(pkt)
        proto = b["proto"][pkt]
        dst, dport = b["dst"][pkt], b["dport"][pkt]
        ported = (proto == TCP) | (proto == UDP)
        span = self.hi - self.lo + 1
        cap = span if self.per_destination is None else min(self.per_destination, span)
        ok = np.ones(m, bool)
        if self.per_destination is not None and self.per_destination <= 0:
            ok[:] = False
        dslot = np.full(m, -1, np.int64)
        p = np.flatnonzero(ported)
        if p.size:
            d0 = (proto[p].astype(np.uint64) << _S32) | dst[p].astype(np.uint64)
            d1 = dport[p].astype(np.uint64)
            dfirst, dgroup = group_keys(d0, d1)
            dkeys = stack(d0[dfirst], d1[dfirst])
            ds = self.dest.lookup(dkeys)
            absent = ds < 0
            if absent.any():
                ds[absent] = self.dest.insert_new(dkeys[absent], 0.0)
            # rank of each attempt among the batch's attempts to its destination
            order = np.argsort(dgroup, kind="stable")
            starts = np.searchsorted(dgroup[order], np.arange(len(dfirst)))
            rank = np.empty(p.size, np.int64)
            rank[order] = np.arange(p.size) - starts[dgroup[order]]
            room = cap - self.dest.values["count"][ds]
            ok[p] &= rank < room[dgroup]
            dslot[p] = ds[dgroup]
        if self.total is not None:
            ok &= np.cumsum(ok) <= self.total - self.live
        fwd = self.fwd
        slots = slots.copy()
        add = ok & (slots < 0)
        if add.any():
            f = pkt[add]
            slots[add] = fwd.insert_new(stack(k0[f], k1[f]), last[add])
        s = slots[ok]
        fwd.last[s] = last[ok]
        fwd.values["live"][s] = True
        fwd.values["dest"][s] = dslot[ok]
        port = np.zeros(m, np.int64)
        okp = np.flatnonzero(ok & ported)
        if okp.size:
            port[okp] = self._draw(dst[okp], dport[okp], proto[okp], slots[okp])
            np.add.at(self.dest.values["count"], dslot[okp], 1)
        okx = np.flatnonzero(ok & ~ported)
        if okx.size:
            self._claim_shared(dst[okx], dport[okx], proto[okx], slots[okx])
        fwd.values["port"][s] = port[ok]
        self.live += int(ok.sum())
        if self.idle is not None and s.size:
            self._sweep_at = min(self._sweep_at, float(last[ok].min()))
        return ok, slots

    def _reply_keys(self, remote, rport, port, proto) -> np.ndarray:
        return stack(*_pack(remote, np.full(len(remote), self.ip, np.uint64), rport, port,
                             proto))

    def _draw(self, dst, dport, proto, fslots) -> np.ndarray:
        """Ports for new TCP/UDP mappings, unique per destination among live mappings,
        spread uniformly over lo..hi: each flow's n-th candidate is a seeded hash of its
        key and n (so a flow's port does not depend on how the trace was cut into
        batches); all flows try at once, and those whose candidate is taken (or is wanted
        by an earlier flow of the round) try their next one."""
        rev = self.rev
        span = np.uint64(self.hi - self.lo + 1)
        ports = np.zeros(len(dst), np.int64)
        pending = np.arange(len(dst))
        fk = self.fwd.keys_of(fslots)
        for turn in range(32):
            if not pending.size:
                break
            h = draw_hash(fk[pending, 0], fk[pending, 1], self._salt + turn * int(M3))
            cand = self.lo + ((h >> _S32) % span).astype(np.int64)
            keys = self._reply_keys(dst[pending], dport[pending], cand, proto[pending])
            rs = rev.lookup(keys)
            free = np.flatnonzero((rs < 0) | (rev.values["flow"][np.maximum(rs, 0)] < 0))
            if not free.size:
                continue
            firsts, _ = group_keys(keys[free, 0], keys[free, 1])
            win = free[firsts]
            self._bind(keys[win], rs[win], fslots[pending[win]])
            ports[pending[win]] = cand[win]
            left = np.ones(pending.size, bool)
            left[win] = False
            pending = pending[left]
        if pending.size:
            ports[pending] = self._draw_exact(dst[pending], dport[pending], proto[pending],
                                              fslots[pending])
        return ports

    def _draw_exact(self, dst, dport, proto, fslots) -> np.ndarray:
        """Destinations nearly full: pick among their free ports exactly (rare)."""
        rev = self.rev
        held = rev.alive()
        held = held[rev.values["flow"][held] >= 0]
        k = rev.keys_of(held)
        code = k[:, 0] ^ (((k[:, 1] >> _S16) & U16) << _S40)     # remote, its port, proto
        used_port = (k[:, 1] & U16).astype(np.int64)
        want = ((proto.astype(np.uint64) << _S32) | dst.astype(np.uint64)
                ) ^ (dport.astype(np.uint64) << _S40)
        ports = np.zeros(len(dst), np.int64)
        for c in np.unique(want):                      # one turn per full destination
            mine = np.flatnonzero(want == c)
            free = np.setdiff1d(np.arange(self.lo, self.hi + 1), used_port[code == c])
            pick = self.rng.choice(free, size=mine.size, replace=False)
            keys = self._reply_keys(dst[mine], dport[mine], pick, proto[mine])
            self._bind(keys, rev.lookup(keys), fslots[mine])
            ports[mine] = pick
        return ports

    def _bind(self, keys, rs, fslots) -> None:
        """Reply keys (distinct; rs their slots, -1 absent) now lead to flow slots."""
        rs = rs.copy()
        absent = rs < 0
        if absent.any():
            rs[absent] = self.rev.insert_new(keys[absent], 0.0)
        self.rev.values["flow"][rs] = fslots
        self.fwd.values["rev"][fslots] = rs

    def _claim_shared(self, dst, dport, proto, fslots) -> None:
        """Protocols without ports share one reply key per remote address: it leads to the
        newest mapping (the last one opened in batch order)."""
        keys = self._reply_keys(dst, dport, np.zeros(len(dst), np.int64), proto)
        firsts, grp = group_keys(keys[:, 0], keys[:, 1])
        rs = self.rev.lookup(keys[firsts])
        absent = rs < 0
        if absent.any():
            rs[absent] = self.rev.insert_new(keys[firsts][absent], 0.0)
        newest = np.zeros(len(firsts), np.int64)
        np.maximum.at(newest, grp, np.arange(len(dst)))
        self.rev.values["flow"][rs] = fslots[newest]
        self.fwd.values["rev"][fslots] = rs[grp]

    def _release(self, slots: np.ndarray) -> None:
        """Free live mappings' ports and their share of the caps; the entries stay,
        remembered as released."""
        fwd, rev = self.fwd, self.rev
        fwd.values["live"][slots] = False
        r = fwd.values["rev"][slots]
        mine = rev.values["flow"][r] == slots
        rev.values["flow"][r[mine]] = -1
        d = fwd.values["dest"][slots]
        np.subtract.at(self.dest.values["count"], d[d >= 0], 1)
        self.live -= len(slots)

    def _sweep(self, now: float) -> None:
        """Release every mapping idle past `idle` at `now`."""
        fwd = self.fwd
        held = fwd.alive()
        held = held[fwd.values["live"][held]]
        stale = now - fwd.last[held] > self.idle
        if stale.any():
            self._release(held[stale])
        rest = fwd.last[held[~stale]]
        self._sweep_at = float(rest.min()) if rest.size else np.inf

    def _compact(self, now: float) -> None:
        """Drop what no verdict can depend on any more: forgotten releases, free reply
        keys, destinations without mappings."""
        fwd, rev, dest = self.fwd, self.rev, self.dest
        held = fwd.alive()
        dead = held[~fwd.values["live"][held] & (now - fwd.last[held] > NAT_FORGET)]
        if dead.size:
            fwd.remove(dead)
        held = rev.alive()
        dead = held[rev.values["flow"][held] < 0]
        if dead.size:
            rev.remove(dead)
        held = dest.alive()
        dead = held[dest.values["count"][held] <= 0]
        if dead.size:
            dest.remove(dead)
        self._compact_at = max(4096, 2 * fwd.used())

    # ---- inbound --------------------------------------------------------------------------

    def inbound(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Original (address, port) per reply packet, and which packets matched a flow."""
        k0, k1 = _pack(b["src"], b["dst"], b["sport"], b["dport"], b["proto"])
        first, group, rs = self.rev.lookup_grouped(k0, k1)
        g = len(first)
        ts = np.ascontiguousarray(b["ts"])
        f = np.where(rs >= 0, self.rev.values["flow"][np.maximum(rs, 0)], -1)
        ok = f >= 0
        fs = np.maximum(f, 0)
        if self.idle is not None:
            ok &= ts[first] - self.fwd.last[fs] <= self.idle
        addr = np.zeros(g, np.uint32)
        port = np.zeros(g, np.uint16)
        if ok.any():
            last = _ends(b, ts, group, g)
            hit = fs[ok]
            np.maximum.at(self.fwd.last, hit, last[ok])
            k = self.fwd.keys_of(hit)
            addr[ok] = k[:, 0] & U32
            port[ok] = (k[:, 1] >> _S16) & U16
        return addr[group], _keep_icmp(b, "dport", port[group]), ok[group]


def _keep_icmp(b: np.ndarray, column: str, ports: np.ndarray) -> np.ndarray:
    """Only TCP and UDP ports are translated; other protocols keep their columns (ICMP
    type and code)."""
    ported = (b["proto"] == TCP) | (b["proto"] == UDP)
    return np.where(ported, ports, b[column]).astype(np.uint16)

"""Connection tracking and source NAT: the vectorised tables against dict-based oracles
that decide one flow at a time, in batch order (the earlier implementation, kept naive)."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import batches, examples

from netemu.dataplane.state import NAT_FORGET, ConnTrack, SourceNat, Timeouts
from netemu.packet import ACK, ICMP, SYN, TCP, UDP, from_columns

IP = 0x0A0000FE


def flow_keys(src, sport, dst, dport, proto) -> np.ndarray:
    """The oracle's flow key: a 128-bit record per packet; ICMP by addresses only."""
    icmp = proto == ICMP
    keys = np.empty(len(src), dtype=[("a", "u8"), ("b", "u8")])
    keys["a"] = (src.astype(np.uint64) << np.uint64(32)) | dst.astype(np.uint64)
    sp = np.where(icmp, 0, sport).astype(np.uint64)
    dp = np.where(icmp, 0, dport).astype(np.uint64)
    keys["b"] = (sp << np.uint64(24)) | (dp << np.uint64(8)) | proto.astype(np.uint64)
    return keys


# ---- oracles ---------------------------------------------------------------------------

def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique flow keys in order of first appearance, and each packet's group."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.ravel()]


def _key(k) -> tuple[int, int]:
    return int(k["a"]), int(k["b"])


def _last(b: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    last = np.full(n, -np.inf)
    np.maximum.at(last, group, b["ts"])
    return last


class NaiveConnTrack:
    """One flow at a time: an entry idle past its timeout is gone (a new packet starts it
    afresh); last seen is the latest packet of the flow in the batch."""

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        self.timeouts = timeouts or Timeouts()
        self.flows: dict[tuple[int, int], list] = {}    # key -> [last seen, replied, proto]
        self.clock = -np.inf

    def _alive(self, entry: list, ts: float) -> bool:
        t, (last, replied, proto) = self.timeouts, entry
        limit = (t.tcp_established if proto == TCP else
                 (t.udp_stream if replied else t.udp) if proto == UDP else t.other)
        return ts - last <= limit

    def replies(self, b: np.ndarray) -> np.ndarray:
        rev = flow_keys(b["dst"], b["dport"], b["src"], b["sport"], b["proto"])
        first, group = _groups(rev)
        last = _last(b, group, len(first))
        alive = np.zeros(len(first), dtype=bool)
        for g, i in enumerate(first):
            entry = self.flows.get(_key(rev[i]))
            if entry and self._alive(entry, float(b["ts"][i])):
                entry[0], entry[1] = max(entry[0], float(last[g])), True
                alive[g] = True
        self.clock = max(self.clock, float(b["ts"].max(initial=-np.inf)))
        return alive[group]

    def track(self, b: np.ndarray) -> None:
        keys = flow_keys(b["src"], b["sport"], b["dst"], b["dport"], b["proto"])
        first, group = _groups(keys)
        last = _last(b, group, len(first))
        for g, i in enumerate(first):
            key = _key(keys[i])
            entry = self.flows.get(key)
            if entry is None or not self._alive(entry, float(b["ts"][i])):
                self.flows[key] = [float(last[g]), False, int(b["proto"][i])]
            else:
                entry[0] = max(entry[0], float(last[g]))
        self.clock = max(self.clock, float(b["ts"].max(initial=-np.inf)))

    def __len__(self) -> int:
        return sum(self._alive(e, self.clock) for e in self.flows.values())


class NaiveSourceNat:
    """One flow at a time, with SourceNat's time rules (see its docstring): mappings idle
    past `idle` at the batch's first timestamp, or at their own flow's first packet, are
    released first; released mappings are remembered NAT_FORGET seconds, refusing every
    TCP segment without SYN meanwhile; anything else gets a new mapping."""

    def __init__(self, ip: int, *, lo: int = 1024, hi: int = 65535,
                 per_destination: int | None = None, total: int | None = None,
                 idle: float | None = None, seed: int = 0) -> None:
        self.ip, self.lo, self.hi = ip, lo, hi
        self.per_destination, self.total, self.idle = per_destination, total, idle
        # flow -> [port, last seen, live, (src, sport, dst, dport, proto)]
        self.forward: dict[tuple[int, int], list] = {}
        self.reverse: dict[tuple[int, int], tuple[int, int]] = {}   # reply key -> flow
        self.in_use: dict[tuple[int, int, int], set[int]] = {}     # destination -> ports
        self.rng = random.Random(seed)

    @property
    def connections(self) -> int:
        return sum(e[2] for e in self.forward.values())

    def _release(self, key: tuple[int, int]) -> None:
        e = self.forward[key]
        e[2] = False
        _, _, dst, dport, proto = e[3]
        self.in_use.get((dst, dport, proto), set()).discard(e[0])
        rk = _reply_key(dst, dport, self.ip, e[0], proto)
        if self.reverse.get(rk) == key:
            del self.reverse[rk]

    def _allocate(self, dst: int, dport: int, proto: int) -> int | None:
        used = self.in_use.setdefault((dst, dport, proto), set())
        if self.per_destination is not None and len(used) >= self.per_destination:
            return None
        if self.total is not None and self.connections >= self.total:
            return None
        if proto not in (TCP, UDP):
            return 0
        span = self.hi - self.lo + 1
        if len(used) >= span:
            return None
        port = self.lo + self.rng.randrange(span)
        while port in used:
            port = self.lo + (port - self.lo + 1) % span
        used.add(port)
        return port

    def outbound(self, b: np.ndarray):
        keys = flow_keys(b["src"], b["sport"], b["dst"], b["dport"], b["proto"])
        first, group = _groups(keys)
        ports = np.zeros(len(first), dtype=np.uint16)
        ok = np.zeros(len(first), dtype=bool)
        timed_out = np.zeros(len(first), dtype=bool)
        last = _last(b, group, len(first))
        if self.idle is not None and len(b):
            now = float(b["ts"].min())
            for key, e in self.forward.items():
                if e[2] and now - e[1] > self.idle:
                    self._release(key)
        if self.idle is not None:         # found idle too long at their own flow: released
            for i in first:
                e = self.forward.get(_key(keys[i]))
                if e is not None and e[2] and float(b["ts"][i]) - e[1] > self.idle:
                    self._release(_key(keys[i]))
        for g, i in enumerate(first):
            key = _key(keys[i])
            tup = tuple(int(b[f][i]) for f in ("src", "sport", "dst", "dport", "proto"))
            ts = float(b["ts"][i])
            segment = tup[4] == TCP and not int(b["flags"][i]) & SYN
            e = self.forward.get(key)
            if e is not None and e[2]:
                e[1] = max(e[1], float(last[g]))
                ports[g], ok[g] = e[0], True
                continue
            if e is not None and segment and ts - e[1] <= NAT_FORGET:
                timed_out[g] = True                     # refused again: still remembered
                continue
            port = self._allocate(tup[2], tup[3], tup[4])
            if port is None:
                continue
            self.forward[key] = [port, float(last[g]), True, tup]
            self.reverse[_reply_key(tup[2], tup[3], self.ip, port, tup[4])] = key
            ports[g], ok[g] = port, True
        return _keep_icmp(b, "sport", ports[group]), ok[group], timed_out[group]

    def inbound(self, b: np.ndarray):
        keys = flow_keys(b["src"], b["sport"], b["dst"], b["dport"], b["proto"])
        first, group = _groups(keys)
        last = _last(b, group, len(first))
        addr = np.zeros(len(first), dtype=np.uint32)
        port = np.zeros(len(first), dtype=np.uint16)
        ok = np.zeros(len(first), dtype=bool)
        for g, i in enumerate(first):
            fk = self.reverse.get(_key(keys[i]))
            if fk is None:
                continue
            e = self.forward[fk]
            if self.idle is not None and float(b["ts"][i]) - e[1] > self.idle:
                continue
            e[1] = max(e[1], float(last[g]))
            addr[g], port[g], ok[g] = e[3][0], e[3][1], True
        return addr[group], _keep_icmp(b, "dport", port[group]), ok[group]


def _keep_icmp(b: np.ndarray, column: str, ports: np.ndarray) -> np.ndarray:
    ported = (b["proto"] == TCP) | (b["proto"] == UDP)
    return np.where(ported, ports, b[column]).astype(np.uint16)


def _reply_key(remote: int, rport: int, ip: int, port: int, proto: int) -> tuple[int, int]:
    k = flow_keys(np.array([remote], np.uint32), np.array([rport], np.uint16),
                  np.array([ip], np.uint32), np.array([port], np.uint16),
                  np.array([proto], np.uint8))
    return _key(k[0])


# ---- batches -----------------------------------------------------------------------------

SRCS = [0x0A000001, 0x0A000002, 0x0A000003]
DSTS = [0x08080808, 0x01010101]
GAPS = [0.0, 0.5, 10.0, 29.5, 30.5, 179.5, 180.5, 349.5, 350.5, 600.5, 432_000.5]


def packets(t0: float):
    return batches(SRCS, DSTS, t0=t0, max_size=25, gaps=[0.0, 0.0, 0.25, 1.0, 31.0],
                   sport=[40000, 40001, 40002], dport=[443, 53],
                   proto=[TCP, TCP, UDP, ICMP, 47])


def _answer(b: np.ndarray, sport: np.ndarray, delay: float) -> np.ndarray:
    """The replies to translated packets `b` whose new source port is `sport`."""
    return from_columns(ts=b["ts"] + delay, src=b["dst"], dst=IP, sport=b["dport"],
                        dport=sport, proto=b["proto"], flags=ACK)


def _check_unique(nat: SourceNat) -> None:
    """Live TCP/UDP mappings: ports in lo..hi, unique per destination; counts agree."""
    f = nat.fwd
    held = f.alive()
    held = held[f.values["live"][held]]
    k = f.keys_of(held)
    proto = (k[:, 0] >> np.uint64(32)) & np.uint64(0xFF)
    ported = (proto == TCP) | (proto == UDP)
    port = f.values["port"][held][ported]
    assert ((port >= nat.lo) & (port <= nat.hi)).all()
    dest = np.stack([k[ported, 1] >> np.uint64(32), k[ported, 1] & np.uint64(0xFFFF),
                     proto[ported], port.astype(np.uint64)], axis=1)
    assert len(np.unique(dest, axis=0)) == len(dest)
    assert nat.connections == len(held)


nat_config = st.fixed_dictionaries({
    "lo": st.just(1024), "hi": st.sampled_from([1024, 1026, 65535]),
    "per_destination": st.sampled_from([None, 0, 1, 2, 5]),
    "total": st.sampled_from([None, 0, 1, 3, 8]),
    "idle": st.sampled_from([None, 30.0, 350.0])})


@settings(max_examples=examples(300), deadline=None)
@given(nat_config, st.data())
def test_source_nat_matches_oracle(config, data):
    fast, naive = SourceNat(IP, seed=3, **config), NaiveSourceNat(IP, seed=3, **config)
    t = 0.0
    for _ in range(data.draw(st.integers(1, 6))):
        t += data.draw(st.sampled_from(GAPS))
        b = data.draw(packets(t))
        t = float(b["ts"][-1])
        pf, okf, tof = fast.outbound(b.copy())
        pn, okn, ton = naive.outbound(b.copy())
        assert (okf == okn).all() and (tof == ton).all()
        assert not (okf & tof).any()
        assert ((pf == b["sport"]) | ~okf | (b["proto"] == TCP) | (b["proto"] == UDP)).all()
        assert fast.connections == naive.connections
        _check_unique(fast)
        # the same flow keeps its port within the batch
        keys = flow_keys(b["src"], b["sport"], b["dst"], b["dport"], b["proto"])
        first, group = _groups(keys)
        same = okf & ((b["proto"] == TCP) | (b["proto"] == UDP))
        assert (pf[same] == pf[first[group]][same]).all()
        sent = np.flatnonzero(okf)
        if sent.size and data.draw(st.booleans()):   # replies, each to its own ports
            delay = data.draw(st.sampled_from([0.1, 29.0, 31.0, 351.0]))
            rf, rn = _answer(b[sent], pf[sent], delay), _answer(b[sent], pn[sent], delay)
            af, qf, kf = fast.inbound(rf)
            an, qn, kn = naive.inbound(rn)
            assert (kf == kn).all()
            ported = (rf["proto"] == TCP) | (rf["proto"] == UDP)
            assert (an[kn] == af[kf]).all()        # ICMP: the newest mapping to that remote
            assert (af[kf & ported] == b["src"][sent][kf & ported]).all()
            assert (qf[kf & ported] == b["sport"][sent][kf & ported]).all()
            assert (qf[~ported] == rf["dport"][~ported]).all()
            stray = rf.copy()                          # ports NAT never hands out
            stray["dport"] = np.where(ported, 1000, stray["dport"])
            stray["sport"] = np.where(ported, 9, stray["sport"])
            assert not fast.inbound(stray)[2][ported].any()
            t = max(t, float(rf["ts"][-1]))


@settings(max_examples=examples(200), deadline=None)
@given(st.data())
def test_conntrack_matches_oracle(data):
    timeouts = Timeouts()
    fast, naive = ConnTrack(timeouts), NaiveConnTrack(timeouts)
    t, sent = 0.0, []
    for _ in range(data.draw(st.integers(1, 8))):
        t += data.draw(st.sampled_from(GAPS))
        b = data.draw(packets(t))
        t = float(b["ts"][-1])
        if sent and data.draw(st.booleans()):
            old = sent[data.draw(st.integers(0, len(sent) - 1))]
            r = from_columns(ts=t + np.arange(len(old)) * 0.1, src=old["dst"],
                             dst=old["src"], sport=old["dport"], dport=old["sport"],
                             proto=old["proto"])
            r = np.concatenate([r, b])                # answers and strangers together
            r["ts"] = t + np.arange(len(r)) * 0.1
            t = float(r["ts"][-1])
            assert (fast.replies(r) == naive.replies(r)).all()
        else:
            fast.track(b)
            naive.track(b)
            sent.append(b)
        assert len(fast) == len(naive)


def _flows(n: int, dst=DSTS[0], dport=443, proto=TCP, ts=0.0, flags=SYN, sport0=0):
    i = np.arange(n)
    return from_columns(ts=ts, src=0x0A000000 + (i + sport0) // 50000,
                        sport=1024 + (i + sport0) % 50000, dst=dst, dport=dport,
                        proto=proto, flags=flags)


def test_ports_spread_over_the_range_and_repeat_with_the_seed():
    b = _flows(20_000)
    ports, ok, _ = SourceNat(IP, seed=5).outbound(b)
    assert ok.all() and len(np.unique(ports)) == len(ports)
    assert ports.min() < 1100 and ports.max() > 65400
    counts = np.histogram(ports, bins=8, range=(1024, 65536))[0]
    assert counts.min() > 0.8 * counts.mean()
    assert (SourceNat(IP, seed=5).outbound(b)[0] == ports).all()
    assert (SourceNat(IP, seed=6).outbound(b)[0] != ports).mean() > 0.9


def test_a_destination_fills_its_whole_port_range_then_refuses():
    nat = SourceNat(IP, total=70_000)
    span = 65535 - 1024 + 1
    ports, ok, _ = nat.outbound(_flows(span - 10))
    more, ok2, _ = nat.outbound(_flows(30, ts=1.0, sport0=span))
    assert ok.all() and ok2.sum() == 10 and nat.connections == span
    assert len(np.unique(np.concatenate([ports, more[ok2]]))) == span
    other, ok3, _ = nat.outbound(_flows(5, ts=2.0, dport=80, sport0=span))
    assert ok3.all()                                  # another destination: its own ports


def test_big_batches_match_oracle_with_caps_and_expiry():
    rng = np.random.default_rng(0)
    fast = SourceNat(IP, per_destination=400, total=2000, idle=350.0, hi=1024 + 599)
    naive = NaiveSourceNat(IP, per_destination=400, total=2000, idle=350.0, hi=1024 + 599)
    for step in range(6):
        n = 3000
        b = from_columns(ts=step * 200.0 + np.sort(rng.uniform(0, 300, n)),
                         src=rng.choice(SRCS, n), sport=rng.integers(1024, 1200, n),
                         dst=rng.choice(DSTS + [0x02020202], n), dport=443,
                         proto=rng.choice([TCP, UDP, ICMP], n), flags=rng.choice([SYN, ACK], n))
        pf, okf, tof = fast.outbound(b)
        pn, okn, ton = naive.outbound(b)
        assert (okf == okn).all() and (tof == ton).all()
        assert fast.connections == naive.connections
        _check_unique(fast)


def test_compaction_keeps_verdicts_and_bounds_memory():
    nat = SourceNat(IP, idle=350.0)
    gap = NAT_FORGET + 1000.0                 # released mappings are forgotten by then
    for step in range(12):
        b = _flows(3000, ts=step * gap, sport0=step * 3000)
        assert nat.outbound(b)[1].all()
        assert nat.connections == 3000
    assert nat.fwd.capacity <= 32768
    ct = ConnTrack()
    for step in range(12):
        ct.track(_flows(3000, proto=UDP, ts=step * 1000.0, sport0=step * 3000))
        assert len(ct) == 3000
    assert ct.table.capacity <= 32768


def test_g4_segments_after_idle_timeout_are_refused_until_a_syn_reopens():
    nat = SourceNat(IP, idle=350.0)
    assert nat.outbound(_flows(2))[1].all()
    late = _flows(2, ts=np.array([349.0, 351.0]), flags=ACK)
    ports, ok, timed_out = nat.outbound(late)
    assert list(ok) == [True, False] and list(timed_out) == [False, True]
    assert nat.connections == 1
    again = _flows(2, ts=800.0, flags=np.array([SYN, ACK]))
    ok, timed_out = nat.outbound(again)[1:]
    # a SYN reopens; the other flow's segments keep being reset (G4: "any" attempt)
    assert list(ok) == [True, False] and list(timed_out) == [False, True]
    ok, timed_out = nat.outbound(_flows(2, ts=1200.0, flags=ACK))[1:]
    assert not ok.any() and timed_out.all()


def test_remembered_release_is_forgotten_after_nat_forget():
    nat = SourceNat(IP, idle=350.0)
    nat.outbound(_flows(1))
    assert nat.outbound(_flows(1, ts=1000.0, flags=ACK))[2].all()
    nat.outbound(_flows(1, ts=2000.0, flags=SYN))
    assert nat.outbound(_flows(1, ts=3000.0 + NAT_FORGET, flags=ACK))[1].all()

"""Per-flow state over the trace's own clock: security-group connection tracking and
source NAT (Hyperplane, NAT gateway, Lambda's own public egress).

Work is per flow, not per packet: a batch's packets are grouped by flow key, each flow's
state is looked up once, and every packet of the flow shares the answer."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from netemu.dataplane.packet import ICMP, SYN, TCP, UDP


@dataclass(frozen=True)
class Timeouts:
    """S5 idle timeouts in seconds, each a setting with AWS's default."""
    tcp_established: float = 432_000.0
    udp_stream: float = 180.0
    udp: float = 30.0
    other: float = 600.0
    nat_gateway: float = 350.0


def flow_keys(src, sport, dst, dport, proto) -> np.ndarray:
    """Pack 5-tuples into one sortable 128-bit record per packet. ICMP carries its type and
    code in the port columns, not a flow id, so ICMP flows are keyed by addresses only."""
    icmp = proto == ICMP
    keys = np.empty(len(src), dtype=[("a", "u8"), ("b", "u8")])
    keys["a"] = (src.astype(np.uint64) << np.uint64(32)) | dst.astype(np.uint64)
    sp = np.where(icmp, 0, sport).astype(np.uint64)
    dp = np.where(icmp, 0, dport).astype(np.uint64)
    keys["b"] = (sp << np.uint64(24)) | (dp << np.uint64(8)) | proto.astype(np.uint64)
    return keys


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique flow keys in order of first appearance, and each packet's group."""
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.ravel()]


def _key(k) -> tuple[int, int]:
    return int(k["a"]), int(k["b"])


class ConnTrack:
    """S3: a flow allowed one way lets its replies through, while it is tracked."""

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        self.timeouts = timeouts or Timeouts()
        self.flows: dict[tuple[int, int], list] = {}    # key -> [last seen, reply seen, proto]

    def _timeout(self, proto: int, replied: bool) -> float:
        t = self.timeouts
        if proto == TCP:
            return t.tcp_established
        if proto == UDP:
            return t.udp_stream if replied else t.udp
        return t.other

    def replies(self, b: np.ndarray) -> np.ndarray:
        """Which packets answer a tracked flow (their reversed key is tracked and alive)."""
        rev = flow_keys(b["dst"], b["dport"], b["src"], b["sport"], b["proto"])
        first, group = _groups(rev)
        alive = np.zeros(len(first), dtype=bool)
        for g, i in enumerate(first):
            entry = self.flows.get(_key(rev[i]))
            ts = float(b["ts"][i])
            if entry and ts - entry[0] <= self._timeout(entry[2], entry[1]):
                entry[0], entry[1] = max(entry[0], ts), True
                alive[g] = True
        return alive[group]

    def track(self, b: np.ndarray) -> None:
        keys = flow_keys(b["src"], b["sport"], b["dst"], b["dport"], b["proto"])
        first, group = _groups(keys)
        last = np.zeros(len(first))
        np.maximum.at(last, group, b["ts"])
        for g, i in enumerate(first):
            entry = self.flows.setdefault(_key(keys[i]), [0.0, False, int(b["proto"][i])])
            entry[0] = max(entry[0], float(last[g]))

    def __len__(self) -> int:
        return len(self.flows)


class SourceNat:
    """Rewrites a flow's source to one address and a port of `lo`..`hi`, and translates
    the replies back. `per_destination` caps simultaneous connections to one (address,
    port, protocol) (G3); `total` caps all connections (L3); `idle` expires quiet flows
    (G4). Ports are drawn from a seeded sequence, so runs repeat."""

    def __init__(self, ip: int, *, lo: int = 1024, hi: int = 65535,
                 per_destination: int | None = None, total: int | None = None,
                 idle: float | None = None, seed: int = 0) -> None:
        self.ip, self.lo, self.hi = ip, lo, hi
        self.per_destination, self.total, self.idle = per_destination, total, idle
        self.forward: dict[tuple[int, int], list] = {}   # flow -> [port, last seen]
        self.reverse: dict[tuple[int, int], tuple[int, int]] = {}  # reply key -> (src, sport)
        self.in_use: dict[tuple[int, int, int], set[int]] = {}    # destination -> ports
        self.rng = random.Random(seed)

    def _expired(self, last: float, ts: float) -> bool:
        return self.idle is not None and ts - last > self.idle

    def _release(self, key: tuple[int, int], src: int, sport: int, dst: int, dport: int,
                 proto: int) -> None:
        port, _ = self.forward.pop(key)
        self.in_use[(dst, dport, proto)].discard(port)
        self.reverse.pop(_reply_key(dst, dport, self.ip, port, proto), None)

    def _allocate(self, dst: int, dport: int, proto: int) -> int | None:
        dest = (dst, dport, proto)
        used = self.in_use.setdefault(dest, set())
        if self.per_destination is not None and len(used) >= self.per_destination:
            return None
        if self.total is not None and len(self.forward) >= self.total:
            return None
        if proto not in (TCP, UDP):
            return 0                 # ICMP and others keep their "ports" (type and code)
        span = self.hi - self.lo + 1
        if len(used) >= span:
            return None
        port = self.lo + self.rng.randrange(span)     # random, as real NAT picks them
        while port in used:
            port = self.lo + (port - self.lo + 1) % span
        used.add(port)
        return port

    def outbound(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """New source ports per packet, which packets got a translation, and which hit a
        flow the gateway had already timed out (a TCP packet other than SYN)."""
        keys = flow_keys(b["src"], b["sport"], b["dst"], b["dport"], b["proto"])
        first, group = _groups(keys)
        ports = np.zeros(len(first), dtype=np.uint16)
        ok = np.zeros(len(first), dtype=bool)
        timed_out = np.zeros(len(first), dtype=bool)
        last = np.zeros(len(first))
        np.maximum.at(last, group, b["ts"])
        for g, i in enumerate(first):
            key = _key(keys[i])
            src, sport, dst, dport, proto = (int(b[f][i]) for f in (
                "src", "sport", "dst", "dport", "proto"))
            ts = float(b["ts"][i])
            entry = self.forward.get(key)
            if entry and self._expired(entry[1], ts):
                self._release(key, src, sport, dst, dport, proto)
                entry = None
                if proto == TCP and not int(b["flags"][i]) & SYN:
                    timed_out[g] = True
                    continue
            if entry is None:
                port = self._allocate(dst, dport, proto)
                if port is None:
                    continue
                entry = self.forward[key] = [port, ts]
                self.reverse[_reply_key(dst, dport, self.ip, port, proto)] = (src, sport)
            entry[1] = max(entry[1], float(last[g]))
            ports[g], ok[g] = entry[0], True
        return _keep_icmp(b, "sport", ports[group]), ok[group], timed_out[group]

    def inbound(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Original (address, port) per reply packet, and which packets matched a flow."""
        keys = flow_keys(b["src"], b["sport"], b["dst"], b["dport"], b["proto"])
        first, group = _groups(keys)
        addr = np.zeros(len(first), dtype=np.uint32)
        port = np.zeros(len(first), dtype=np.uint16)
        ok = np.zeros(len(first), dtype=bool)
        for g, i in enumerate(first):
            orig = self.reverse.get(_key(keys[i]))
            if orig is None:
                continue
            src, sport, dst, dport, proto = (int(b[f][i]) for f in (
                "src", "sport", "dst", "dport", "proto"))
            fwd = _key(flow_keys(*(np.array([v]) for v in (orig[0], orig[1], src, sport,
                                                              proto)))[0])
            entry = self.forward.get(fwd)
            if entry is None or self._expired(entry[1], float(b["ts"][i])):
                continue
            entry[1] = max(entry[1], float(b["ts"][i]))
            addr[g], port[g], ok[g] = orig[0], orig[1], True
        return addr[group], _keep_icmp(b, "dport", port[group]), ok[group]

    @property
    def connections(self) -> int:
        return len(self.forward)


def _keep_icmp(b: np.ndarray, column: str, ports: np.ndarray) -> np.ndarray:
    """Only TCP and UDP ports are translated; other protocols keep their columns (ICMP
    type and code)."""
    ported = (b["proto"] == TCP) | (b["proto"] == UDP)
    return np.where(ported, ports, b[column]).astype(np.uint16)


def _reply_key(remote: int, rport: int, ip: int, port: int, proto: int) -> tuple[int, int]:
    """Key of a reply packet: from the remote end to the translated address."""
    k = flow_keys(np.array([remote], np.uint32), np.array([rport], np.uint16),
                  np.array([ip], np.uint32), np.array([port], np.uint16),
                  np.array([proto], np.uint8))
    return _key(k[0])

"""Replay recorded or expected traffic through a topology: verdicts per flow, emulated
flow logs per ENI, captures per hop, and a summary whose counts add up.

A trace holds both directions of a connection as the capture point saw them. The side
that sent first opens the connection: its packets go through the dataplane from where
their source address places them; the other side's packets are that connection's
replies, sent back from where the request arrived, with the addresses the request had
there (so they meet the NAT and connection-tracking state the request left)."""

from __future__ import annotations

import ipaddress
import itertools
import json
import sys
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netemu.addr import in_ranges, int_to_ip
from netemu.apps import flowlog_replay
from netemu.apps import verdict_lines as vl
from netemu.apps.flowlog_enis import gateway_view
from netemu.apps.record_math import group_sum
from netemu.apps.resolve import resolve_source
from netemu.dataplane.classify.flowtable import FlowTable
from netemu.dataplane.elements.base import Observation
from netemu.dataplane.flowkey import pack_keys
from netemu.dataplane.grouping import Flows, flow_groups, starts, waves
from netemu.dataplane.pipeline import Dataplane, Settings
from netemu.dataplane.reasons import CODE, CODES
from netemu.dataplane.run import ADDRESSED, address_reply, refuse_changed
from netemu.errors import InputError
from netemu.io.atomic import atomic_folder
from netemu.io.flowlog_reader import RECORD_DTYPE
from netemu.io.flowlog_writer import (
    HEADER,
    SUMMED_DTYPE,
    aggregate,
    format_records,
    minus_ones,
    packed_order,
)
from netemu.io.pcap_writer import PcapStream
from netemu.io.trace_readers import open_trace
from netemu.model.topology import Topology
from netemu.packet import DELIVERED, DROPPED, ICMP, TCP, UDP, UNPLACED, concat, pick

PENDING = -1
LINES_AT_ONCE = 1 << 16     # output lines formatted per step (their Python objects)


@dataclass
class Summary:
    records: int = 0
    packets: int = 0
    flows: int = 0
    accepted: int = 0
    rejected: int = 0
    unplaced: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    # (resource, rule, reason) -> packets dropped there, and connections that failed there
    drops: dict[tuple[str, str, str], int] = field(default_factory=dict)
    drop_flows: dict[tuple[str, str, str], int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    delivered_to: dict[str, int] = field(default_factory=dict)
    nat_port_allocation_failures: int = 0
    complete: bool = True      # set False by whoever leaves input out; see `is_complete`
    compared: dict = field(default_factory=dict)

    @property
    def is_complete(self) -> bool:
        """True when every record of the traces was replayed: false as soon as any was
        skipped (IPv6, non-IP or truncated frames, NODATA/SKIPDATA flow-log records...),
        since verdicts and counts then cover less than the input."""
        return self.complete and not any(self.skipped.values())

    def __str__(self) -> str:
        """A few lines for a person at a REPL: the counts, the three rules that rejected
        the most, where the rest went, and what was left out."""
        lines = [f"replay: {self.records:,} records, {self.packets:,} packets, "
                 f"{self.flows:,} flows",
                 f"accepted {self.accepted:,}, rejected {self.rejected:,}, "
                 f"unplaced {self.unplaced:,}"]
        top = sorted(self.drops.items(), key=lambda kv: (-kv[1], kv[0]))
        for (resource, rule, why), n in top[:3]:
            flows = self.drop_flows.get((resource, rule, why), 0)
            lines.append(f"rejected by {resource} {rule} ({why}): {n:,} packets, "
                         f"{flows:,} flows")
        if len(top) > 3:
            lines.append(f"rejected elsewhere too: {len(top) - 3} more rules")
        to = sorted(self.delivered_to.items(), key=lambda kv: (-kv[1], kv[0]))
        if to:
            lines.append("delivered to " + ", ".join(f"{d} {n:,}" for d, n in to[:3])
                         + (f" and {len(to) - 3} more" if len(to) > 3 else ""))
        skipped = {k: n for k, n in sorted(self.skipped.items()) if n}
        if not self.is_complete:
            lines.append("incomplete: " + (", ".join(f"skipped {n:,} {k}"
                                                     for k, n in skipped.items())
                                           or "some input was left out"))
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "complete": self.is_complete, "records": self.records, "packets": self.packets,
            "flows": self.flows, "accepted": self.accepted, "rejected": self.rejected,
            "unplaced": self.unplaced, "skipped": dict(sorted(self.skipped.items())),
            # ties by name: the order drops were first met in depends on batching
            "drop_reasons": dict(sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            "rejected_by": [{"resource": r, "rule": rule, "reason": why, "packets": n,
                             "flows": self.drop_flows.get((r, rule, why), 0)}
                            for (r, rule, why), n in sorted(self.drops.items(),
                                                            key=lambda kv: (-kv[1], kv[0]))],
            "delivered_to": dict(sorted(self.delivered_to.items(),
                                        key=lambda kv: (-kv[1], kv[0]))),
            "nat_port_allocation_failures": self.nat_port_allocation_failures,
            **self.compared,      # flow logs: recorded versus emulated (flowlog_replay)
        }


def parse_mapping(topo: Topology, text: str) -> tuple[ipaddress.IPv4Network, int, str]:
    """`CIDR=SOURCE`: packets from CIDR enter as if sent by SOURCE (`lambda:NAME`,
    `eni:ID`, `instance:ID` or an address)."""
    cidr, sep, target = text.partition("=")
    if not sep:
        raise InputError(f"--map {text!r}: expected CIDR=SOURCE, e.g. 10.9.0.0/16=lambda:orders")
    try:
        net = ipaddress.IPv4Network(cidr.strip(), strict=False)
    except ValueError:
        raise InputError(f"--map {text!r}: invalid CIDR {cidr!r}") from None
    src = resolve_source(topo, target.strip())
    return net, int(src.ip), target.strip()


class _Connections:
    """Every connection seen, keyed by its two endpoints in a fixed order; who opened it,
    what became of its request, and what its packets added up to."""

    # kept narrow: a replay holds one row per connection it has seen
    COLUMNS = {"opener_low": np.bool_, "id": np.int32, "status": np.int8, "at": np.int32,
               "rule": np.int32, "reason": np.int16, "src": np.uint32, "dst": np.uint32,
               "sport": np.uint16, "dport": np.uint16, "fwd_packets": np.int32,
               "fwd_bytes": np.int64, "fwd_ok": np.int32, "rev_packets": np.int32,
               "rev_bytes": np.int64, "rev_ok": np.int32, "rev_at": np.int32,
               "rev_rule": np.int32, "rev_reason": np.int16, "fwd_at": np.int32,
               "fwd_rule": np.int32, "fwd_reason": np.int16, "o_src": np.uint32,
               "o_dst": np.uint32, "o_sport": np.uint16, "o_dport": np.uint16,
               "proto": np.uint8}

    def __init__(self) -> None:
        self.table = FlowTable(self.COLUMNS)
        self.count = 0

    def slots(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each packet's connection slot (opening new ones), and whether it goes the way
        the connection was opened."""
        icmp = b["proto"] == ICMP
        sport = np.where(icmp, 0, b["sport"])
        dport = np.where(icmp, 0, b["dport"])
        low = (b["src"] < b["dst"]) | ((b["src"] == b["dst"]) & (sport <= dport))
        keys = pack_keys(0, np.where(low, b["src"], b["dst"]), np.where(low, b["dst"], b["src"]),
                         np.where(low, sport, dport), np.where(low, dport, sport), b["proto"])
        found = self.table.lookup(keys)
        known = found >= 0
        # the first packet of a new connection opened it (insert keeps first occurrences)
        slot = self.table.insert_looked_up(
            keys, found, b["ts"], opener_low=low, status=PENDING, at=-1, rule=-1, rev_at=-1,
            rev_rule=-1, fwd_at=-1, fwd_rule=-1, o_src=b["src"], o_dst=b["dst"],
            o_sport=b["sport"], o_dport=b["dport"], proto=b["proto"])
        if not known.all():
            fresh = slot[~known]
            _, first = np.unique(fresh, return_index=True)
            opened = fresh[np.sort(first)]              # in order of appearance
            self.table.values["id"][opened] = self.count + np.arange(len(opened))
            self.count += len(opened)
        forward = low == self.table.values["opener_low"][slot]
        return slot, forward


class Replayer:
    COMPACT_FLOOR = 1 << 20      # flow-log records held before merging (compact_records)

    def __init__(self, topo: Topology, *, settings: Settings | None = None,
                 mappings: Iterable[str] = (), captures: Iterable[str] = (),
                 window: int = 600, observing: bool = True) -> None:
        self.topo = topo
        self.observing = observing          # flow logs and captures need the ENIs' view
        self.dp = Dataplane(topo, settings)
        self.maps = [parse_mapping(topo, m) for m in mappings]
        self.capture_points = {c: self._point(c) for c in captures}
        self.window = window
        self.conns = _Connections()
        self.summary = Summary()
        self.records: list[np.ndarray] = []            # flow-log records, per batch
        self.delivered = np.zeros(len(self.dp.elements), dtype=np.int64)   # per element
        # flow logs need of a flow piece only its sums; captures need every packet
        self._summed_window = window if observing and not self.capture_points else None

    def _point(self, capture: str) -> tuple[list[int], int | None]:
        """What a capture sees: (observation points, address or None). An ENI, or what
        owns ENIs (a NAT gateway, a host, an endpoint; a function `lambda:NAME[@SUBNET]`:
        its Hyperplane ENIs), or an internet gateway (its public side); an internet host
        sees what crosses the internet gateways to or from its address."""
        from netemu.apps.resolve import resolve_sources

        topo, points = self.topo, self.dp.points
        kind, sep, name = capture.partition(":")
        kind, name = (kind, name) if sep else ("", capture)
        if kind == "lambda":
            envs = {s.ip for s in resolve_sources(topo, capture)}   # one per subnet
            enis = sorted({e.eni for e in topo.environments.values()
                           if e.eni and e.ip in envs})
            if not enis:
                raise InputError(f"function {name} has no Hyperplane ENI to capture at (no "
                                 "VPC configuration, or no ENI permissions: L12)",
                                 resource=capture)
            return [points.index(e) for e in enis], None
        if name not in points and name not in topo.nat_gateways and name not in topo.hosts:
            name = next((i for k in ("network interface", "NAT gateway", "instance",   # Name tag
                                     "internet gateway") if (i := topo.find(k, name))), name)
        if name in points:
            return [points.index(name)], None
        if name in topo.nat_gateways:
            return [points.index(topo.nat_gateways[name].eni)], None
        host = topo.hosts.get(name)
        if host is not None and host.eni:
            return [points.index(host.eni)], None
        if host is not None and topo.internet_gateways:
            return [points.index(g) for g in sorted(topo.internet_gateways)], int(host.ip)
        raise InputError(f"unknown capture point {capture!r} (an ENI, NAT gateway, host, "
                         "internet gateway or lambda:FUNCTION)", resource=capture)

    # ---- one batch -------------------------------------------------------------------
    def feed(self, b: np.ndarray) -> list[Observation]:
        if len(b) == 0:
            return []
        flows = flow_groups(b)          # connection bookkeeping once per flow, not per packet
        slot, forward = self.conns.slots(pick(b, flows.first))
        slot, forward = slot[flows.group], forward[flows.group]
        # each connection's pieces in the order they begin, one per wave, so that every
        # piece meets the state its connection's earlier packets left, in any batch
        begin = starts(flows, b["ts"], self.dp.quiet, b["flags"], b["proto"])
        # without ports, a NAT has one translation per remote address (the newest flow's):
        # such connections to one remote are ordered together
        portless = (b["proto"] != TCP) & (b["proto"] != UDP)
        remote = np.where(forward, b["dst"], b["src"]).astype(np.int64)
        order_key = np.where(portless, (1 << 40) | (b["proto"].astype(np.int64) << 32)
                             | remote, slot)
        wave = waves(flows, order_key, begin, forward)
        self._horizon = float(b["ts"].min())
        order = np.argsort(wave, kind="stable")
        observed: list[Observation] = []
        for part in np.split(order, np.flatnonzero(np.diff(wave[order])) + 1):
            fwd = part[forward[part]]
            if len(fwd):
                observed += self._requests(b, fwd, slot[fwd])
            rev = part[~forward[part]]
            if len(rev):
                observed += self._replies(b, rev, slot[rev])
        self._account(b, slot, forward, flows)
        return observed

    def _requests(self, b: np.ndarray, idx: np.ndarray, slot: np.ndarray) -> list:
        req = pick(b, idx)
        for net, ip, _ in self.maps:
            req["src"][in_ranges(req["src"], [net])] = ip
        rt = self.dp.run_flows(req, observing=self.observing, horizon=self._horizon,
                               summed_window=self._summed_window)
        v = self.conns.table.values
        for col in ("status", "at", "rule", "reason", "src", "dst", "sport", "dport"):
            v[col][slot] = req[col]
        for col in ("status", "at", "rule", "reason"):
            b[col][idx] = req[col]
        return [Observation(idx[o.rows], o.point, o.accept, o.header, o.summed)
                for o in rt.observations]

    def _replies(self, b: np.ndarray, idx: np.ndarray, slot: np.ndarray) -> list:
        v = self.conns.table.values
        answered = v["status"][slot] == DELIVERED
        lost = idx[~answered]
        b["status"][lost] = DROPPED
        b["reason"][lost] = CODE["REQUEST_DROPPED"]
        b["at"][lost] = -1
        idx, slot = idx[answered], slot[answered]
        if len(idx) == 0:
            return []
        rep = pick(b, idx)
        address_reply(self.dp.graph, rep, {c: v[c][slot] for c in ADDRESSED})
        rt = self.dp.run_flows(rep, observing=self.observing, horizon=self._horizon,
                               summed_window=self._summed_window)
        # an answer counts only if it reaches the opener from where it called (G1, I1)
        refuse_changed(rep, b["src"][idx], b["sport"][idx])
        for col in ("status", "at", "rule", "reason"):
            b[col][idx] = rep[col]
        return [Observation(idx[o.rows], o.point, o.accept, o.header, o.summed)
                for o in rt.observations]

    def _account(self, b: np.ndarray, slot: np.ndarray, forward: np.ndarray,
                 flows: Flows) -> None:
        v = self.conns.table.values
        ok = b["status"] == DELIVERED
        n = len(flows)
        packets = np.bincount(flows.group, minlength=n)
        nbytes = np.bincount(flows.group, weights=b["length"], minlength=n).astype(np.int64)
        delivered = np.bincount(flows.group, weights=ok, minlength=n).astype(np.int64)
        f_slot, f_forward = slot[flows.first], forward[flows.first]
        for prefix, mask in (("fwd", f_forward), ("rev", ~f_forward)):
            s = f_slot[mask]           # ICMP types make several flows of one connection
            np.add.at(v[f"{prefix}_packets"], s, packets[mask].astype(np.int32))
            np.add.at(v[f"{prefix}_bytes"], s, nbytes[mask])
            np.add.at(v[f"{prefix}_ok"], s, delivered[mask].astype(np.int32))
        # each way, where the connection first lost a packet (what its verdict blames)
        lost = (b["status"] != DELIVERED) & (b["reason"] != 0)
        for prefix, mask in (("fwd", forward), ("rev", ~forward)):
            bad = np.flatnonzero(lost & mask)
            hit, first = np.unique(slot[bad], return_index=True)
            fresh = v[f"{prefix}_reason"][hit] == 0
            hit, i = hit[fresh], bad[first[fresh]]
            for col in ("at", "rule", "reason"):
                v[f"{prefix}_{col}"][hit] = b[col][i]
        s = self.summary
        s.packets += len(b)
        s.accepted += int(ok.sum())
        s.unplaced += int((b["status"] == UNPLACED).sum())
        dropped = b["status"] == DROPPED
        s.rejected += int(dropped.sum())
        s.nat_port_allocation_failures += int((b["reason"] == CODE["NGW_PORT_ALLOCATION"]).sum())
        for at, rule, reason, n in _counts(b["at"][dropped], b["rule"][dropped],
                                           b["reason"][dropped]):
            key = self._blame(at, rule, reason)
            s.drops[key] = s.drops.get(key, 0) + n
            s.reasons[CODES[reason]] = s.reasons.get(CODES[reason], 0) + n
        self.delivered += np.bincount(b["at"][ok], minlength=len(self.delivered))

    def count_failed_connections(self) -> None:
        """Connections per drop place: where the request died, else where the reply did
        (the same choice as verdicts.jsonl makes)."""
        v = self.conns.table.values
        live = self.conns.table.alive()
        fwd_bad = v["fwd_ok"][live] < v["fwd_packets"][live]
        rev_bad = v["rev_ok"][live] < v["rev_packets"][live]
        use_rev = ~fwd_bad & rev_bad
        failed = fwd_bad | rev_bad
        places = (np.where(use_rev, v[f"rev_{c}"][live], v[f"fwd_{c}"][live])[failed]
                  for c in ("at", "rule", "reason"))
        for at, rule, reason, n in _counts(*places):
            if reason:
                key = self._blame(at, rule, reason)
                self.summary.drop_flows[key] = self.summary.drop_flows.get(key, 0) + n

    def _blame(self, at: int, rule: int, reason: int) -> tuple[str, str, str]:
        if at < 0:
            return ("-", "", CODES[reason])
        e = self.dp.elements[at]
        return (e.drop_resource(rule), e.rule_text(rule) if rule >= 0 else "", CODES[reason])

    # ---- outputs ---------------------------------------------------------------------
    def flow_log_records(self, observed: list[Observation]) -> None:
        """F1, F3-F5: one record per ENI, 5-tuple, action and capture window."""
        n_enis = len(self.dp.eni_ids)
        parts = []
        for o in observed:
            at = o.point < n_enis
            if not at.any():
                continue
            # a row per packet: one packet of its own length, first and last at its time
            packets, nbytes, last = (o.summed if o.summed is not None else
                                     (np.ones(len(at), np.int64), o.header["length"],
                                      o.header["ts"]))
            parts.append((pick(o.header, at), o.point[at], o.accept[at], packets[at],
                          nbytes[at], last[at]))
        if not parts:
            return
        hdr, point, accept, packets, nbytes, last = (concat([p[i] for p in parts])
                                                     for i in range(6))
        # a packet the ENI's group let out but its subnet's ACL turned back is one REJECT
        hdr = gateway_view(self.dp, hdr, point)
        summed = {"summed": (packets, nbytes, last)} if any(
            o.summed is not None for o in observed) else {}
        self.records.append(aggregate(hdr, point, accept, window=self.window, narrow=True,
                                      **summed))
        self.compact_records()

    def compact_records(self) -> None:
        """Streaming aggregation: once the records held since the last merge outnumber
        the merged ones (and a floor), merge them all into one array, so memory follows
        the distinct (ENI, 5-tuple, action, window) records rather than the batches
        times the flows in flight. Sums, minima and maxima merge exactly in any grouping,
        so the result does not depend on when this runs."""
        pending = sum(len(x) for x in self.records[1:])
        if pending > max(self.COMPACT_FLOOR, len(self.records[0])):
            parts, self.records = self.records, []
            self.records = [merge_records(parts, ordered=False, consume=True)]

    def verdicts(self) -> Iterable[dict]:
        t = self.conns.table
        slots = t.alive()
        v = {k: col[slots] for k, col in t.values.items()}
        order = np.argsort(v["id"], kind="stable")
        for i in order:
            yield self._verdict({k: col[i] for k, col in v.items()})

    def verdict_lines(self) -> Iterable[str]:
        """verdicts() as its JSON lines (no newline), byte for byte, built from whole
        columns: fates and blame decided vectorised, each distinct address and blame
        formatted once, so a row costs one string format rather than a dict and a dump."""
        t = self.conns.table
        slots = t.alive()
        slots = slots[np.argsort(t.values["id"][slots], kind="stable")]
        for i in range(0, len(slots), LINES_AT_ONCE):     # bounded memory: Python lists
            yield from self._verdict_lines(slots[i:i + LINES_AT_ONCE])

    def _verdict_lines(self, slots: np.ndarray) -> Iterable[str]:
        v = {k: col[slots] for k, col in self.conns.table.values.items()}

        def fate(ok, packets) -> np.ndarray:          # 0 none, 1 delivered, 2 dropped, 3 partly
            return np.where(packets == 0, 0, np.where(ok == packets, 1,
                                                      np.where(ok == 0, 2, 3)))
        request = fate(v["fwd_ok"], v["fwd_packets"])
        reply = fate(v["rev_ok"], v["rev_packets"])
        use_rev = (request == 1) & (reply > 1)
        at, rule, reason = (np.where(use_rev, v[f"rev_{c}"], v[f"fwd_{c}"]).astype(np.int64)
                            for c in ("at", "rule", "reason"))
        failed = (request != 1) | (reply > 1)
        blamed = failed & (reason != 0)
        key = np.where(blamed, ((at + 1) << 40) | ((rule + 1) << 16) | reason, -1)
        kinds, which = np.unique(key, return_inverse=True)
        tails = []
        for k in kinds.tolist():
            if k < 0:
                tails.append('"dropped_at": null, "rule": null, "reason": null}')
                continue
            res, text, why = self._blame((k >> 40) - 1, ((k >> 16) & 0xFFFFFF) - 1, k & 0xFFFF)
            tails.append(f'"dropped_at": {json.dumps(res)}, "rule": '
                         f'{json.dumps(text or None)}, "reason": {json.dumps(why)}}}')
        fates = ["null", '"delivered"', '"dropped"', '"partly dropped"']
        heads = [f'"verdict": {a}, "reply_verdict": {b}, ' for a in fates for b in fates]
        ips = np.concatenate([v["o_src"], v["o_dst"]])
        uniq, inv = np.unique(ips, return_inverse=True)
        text = np.array([json.dumps(int_to_ip(x)) for x in uniq.tolist()], dtype=object)
        inv = inv.ravel()
        src, dst = text[inv[:len(slots)]], text[inv[len(slots):]]
        packets = v["fwd_packets"].astype(np.int64) + v["rev_packets"]
        nbytes = v["fwd_bytes"].astype(np.int64) + v["rev_bytes"]
        cols = zip(v["id"].tolist(), src.tolist(), v["o_sport"].tolist(), dst.tolist(),
                   v["o_dport"].tolist(), v["proto"].tolist(), packets.tolist(),
                   nbytes.tolist(), (request * 4 + reply).tolist(), which.ravel().tolist(),
                   strict=True)
        for i, sa, sp, da, dp, pr, pk, by, h, w in cols:
            yield (f'{{"flow": {i}, "src": {sa}, "sport": {sp}, "dst": {da}, "dport": {dp}, '
                   f'"protocol": {pr}, "packets": {pk}, "bytes": {by}, {heads[h]}{tails[w]}')

    def _verdict(self, c: dict) -> dict:
        return vl.connection_verdict(c, self._blame, "fwd_")


def _counts(at: np.ndarray, rule: np.ndarray, reason: np.ndarray
            ) -> list[tuple[int, int, int, int]]:
    """(element, rule, reason, packets) for each distinct drop: one int64 key each."""
    key = ((at.astype(np.int64) + 1) << 40) | ((rule.astype(np.int64) + 1) << 16) | reason
    uniq, n = np.unique(key, return_counts=True)
    return [(int(k >> 40) - 1, int((k >> 16) & 0xFFFFFF) - 1, int(k & 0xFFFF), int(c))
            for k, c in zip(uniq, n, strict=True)]


def merge_records(records: list[np.ndarray], ordered: bool = True,
                  consume: bool = False) -> np.ndarray:
    """Records of the same ENI, 5-tuple, action and window from different batches, as one:
    the key fields packed into as few uint64 words as they need and sorted once
    (`packed_order`), rather than `np.unique(axis=0)` over eight int64 columns. Narrow
    (SUMMED_DTYPE) whenever every input fits it: RECORD_DTYPE rows are 3x wider, and
    moving them is what costs. Unless `ordered` (by ENI and start, as written), the
    merged records come in key order: enough to merge again, and one copy fewer.
    `consume`: empty the list once its records are copied (their memory goes back)."""
    if not records:
        return np.zeros(0, dtype=records[0].dtype if records else None)
    given = records
    narrow = [_narrowed(x) for x in records]
    if all(x is not None for x in narrow):
        records = narrow
    else:
        records = [x if x.dtype == RECORD_DTYPE else _widened(x) for x in records]
    r = concat(records)
    if consume:
        given.clear()
    del given, records, narrow
    if len(r) == 0:
        return r
    order, head = packed_order([r["interface_id"], r["start"] // 600, r["src"], r["dst"],
                                r["sport"], r["dport"], r["proto"], r["action"]])
    starts = np.flatnonzero(head)
    # a group's fields other than the sums are its first record's (earliest row)
    out = r.take(np.minimum.reduceat(order, starts))   # take: see packet.pick
    for col in ("packets", "bytes"):       # exact int64 sums (a record may hold 10^12)
        v = r[col][order]
        out[col] = np.add.reduceat(v, starts)
        big = np.add.reduceat(v.astype(np.float64), starts) >= 2.0**63 - 2**11
        out[col][big] = np.iinfo(np.int64).max          # saturate, as group_sum does
    out["start"] = np.minimum.reduceat(r["start"][order], starts)
    out["end"] = np.maximum.reduceat(r["end"][order], starts)
    del r, order
    if not ordered:
        return out
    # by ENI and start; ties in the order of the other fields, as np.unique left them
    final, _ = packed_order([out["interface_id"], out["start"], out["src"], out["dst"],
                             out["sport"], out["dport"], out["proto"], out["action"]])
    return out.take(final)


def _narrowed(rec: np.ndarray) -> np.ndarray | None:
    """Records as SUMMED_DTYPE, or None if a field does not fit it (or would be lost)."""
    if rec.dtype == SUMMED_DTYPE:
        return rec
    if len(rec) == 0:
        return np.zeros(0, SUMMED_DTYPE)
    out = np.zeros(len(rec), SUMMED_DTYPE)
    for name in SUMMED_DTYPE.names:
        col = rec[name]
        info = np.iinfo(SUMMED_DTYPE[name])
        if col.min() < info.min or col.max() > info.max:
            return None
        out[name] = col
    return out


def _widened(rec: np.ndarray) -> np.ndarray:
    """SUMMED_DTYPE records as RECORD_DTYPE (the fields it lacks -1, version 2)."""
    out = minus_ones(len(rec))
    for name in SUMMED_DTYPE.names:
        out[name] = rec[name]
    out["version"], out["log_status"] = 2, 0
    return out


def _merge_records_wide(r: np.ndarray) -> np.ndarray:
    """merge_records for keys that do not pack (negative or out-of-range fields)."""
    keys = np.stack([r[c].astype(np.int64) for c in (
        "interface_id", "src", "dst", "sport", "dport", "proto", "action")] +
        [r["start"] // 600], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    first = np.zeros(len(uniq), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(r))[::-1]
    out = r[first].copy()
    for col in ("packets", "bytes"):       # exact int64 sums (a record may hold 10^12)
        out[col] = group_sum(r[col], inverse, len(uniq))
    start = np.full(len(uniq), np.iinfo(np.int64).max)
    np.minimum.at(start, inverse, r["start"])
    end = np.zeros(len(uniq), dtype=np.int64)
    np.maximum.at(end, inverse, r["end"])
    out["start"], out["end"] = start, end
    return out[np.lexsort((out["start"], out["interface_id"]))]


class _Captures:
    """One classic pcap per capture point, written as the batches go."""

    def __init__(self, folder: Path, points: dict[str, tuple[list[int], int | None]]) -> None:
        self.files = {name: (where, PcapStream(folder / "capture-{}.pcap".format(
            name.replace(":", "_").replace("/", "_").replace("@", "_"))))
            for name, where in points.items()}

    def write(self, observed: list[Observation]) -> None:
        for (points, ip), out in self.files.values():
            parts = []
            for o in observed:
                keep = np.isin(o.point, points)
                if ip is not None:
                    keep &= (o.header["src"] == ip) | (o.header["dst"] == ip)
                parts.append((o.rows[keep], pick(o.header, keep)))
            parts = [p for p in parts if len(p[0])]
            if parts:
                # in trace order, each packet's hops in the order it made them: the
                # waves a batch was decided in do not show
                rows = np.concatenate([p[0] for p in parts])
                packets = concat([p[1] for p in parts])
                out.write(packets.take(np.argsort(rows, kind="stable")))

    def close(self) -> None:
        for _, out in self.files.values():
            out.close()


def replay(topo: Topology, traces: list[Path], out: Path | None = None, *,
           format: str | None = None, fields: list[str] | None = None,
           mappings: Iterable[str] = (), captures: Iterable[str] = (),
           settings: Settings | None = None, batch_size: int = 65_536,
           progress: Callable[[int], None] | None = None, force: bool = False,
           strict: bool = False) -> Summary:
    """Replay the traces in order. With `out`, write verdicts.jsonl, flowlogs/<eni>.log,
    capture-<point>.pcap and summary.json there, whole or not at all (netemu.io.atomic):
    an `out` holding an earlier run's outputs (with `strict`, anything) is refused unless
    `force`, which replaces it whole."""
    if captures and out is None:
        raise InputError("--capture needs --out DIR: the capture is written there")
    r = Replayer(topo, settings=settings, mappings=mappings, captures=captures,
                 observing=out is not None)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"--batch {batch_size!r}: a batch holds at least 1 packet")
    outputs = ExitStack()      # out: a temporary folder beside it, renamed in at the end
    tmp = outputs.enter_context(atomic_folder(out, force=force, strict=strict)) if out \
        else None
    caps = _Captures(tmp, r.capture_points) if tmp else None
    try:
        for path in traces:
            if flowlog_replay.is_flow_log(path, format):      # decided record by record
                batches, stats = (), flowlog_replay.feed_file(r, path, fields, batch_size,
                                                              progress)
            else:
                batches, stats = open_trace(path, format, fields, batch_size)
            for b in batches:
                observed = r.feed(b)
                if tmp:
                    r.flow_log_records(observed)
                    caps.write(observed)
                if progress:
                    progress(len(b))
            r.summary.records += stats.records
            for reason, n in stats.skipped.items():
                r.summary.skipped[reason] = r.summary.skipped.get(reason, 0) + n
            for reason, n in (("NODATA", stats.nodata), ("SKIPDATA", stats.skipdata)):
                if n:
                    r.summary.skipped[reason] = r.summary.skipped.get(reason, 0) + n
        r.summary.flows = r.conns.count
        r.count_failed_connections()
        flowlog_replay.finish(r)
        for at in np.flatnonzero(r.delivered):
            e = r.dp.elements[at]
            r.summary.delivered_to[f"{e.kind}:{e.resource}"] = int(r.delivered[at])
        if tmp:
            caps.close()
            _write_outputs(r, tmp)
    except BaseException:
        if caps:
            caps.close()
        outputs.__exit__(*sys.exc_info())   # removes the temporary (OSError -> InputError)
        raise
    outputs.close()            # the rename into place
    return r.summary


def _write_lines(f, lines: Iterable[str]) -> None:
    """Lines (no newline) to a text file, LINES_AT_ONCE per write: a write per line
    costs as much as formatting it."""
    lines = iter(lines)
    while chunk := list(itertools.islice(lines, LINES_AT_ONCE)):
        f.write("\n".join(chunk) + "\n")


def _write_outputs(r: Replayer, folder: Path) -> None:
    with open(folder / "verdicts.jsonl", "w") as f:
        _write_lines(f, r.verdict_lines())
        _write_lines(f, flowlog_replay.verdict_lines(r))
    logs = folder / "flowlogs"
    logs.mkdir()
    records = merge_records(r.records) if r.records else None
    if records is not None and len(records):
        for point in np.unique(records["interface_id"]):
            mine = pick(records, records["interface_id"] == point)
            name = r.dp.points[int(point)]
            with open(logs / f"{name}.log", "w") as f:
                f.write(HEADER + "\n")
                _write_lines(f, format_records(mine, r.dp.points))
    (folder / "summary.json").write_text(json.dumps(r.summary.to_json(), indent=2) + "\n")


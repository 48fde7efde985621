"""Pushing batches through a graph: place packets at their first node, run until every
packet is delivered or dropped, decide per flow, and build and check replies.

A reply starts where the request arrived (the element's `reply_from`, else its
source's node), addressed back to where the request came from. It answers the request
only if it reaches the opener from the address (and port) the opener sent to: anything
else is REPLY_SOURCE_CHANGED (a NAT on the way back translated it as a new flow). One
builder and one check serve trace, replay and flow-log replay."""

from __future__ import annotations

import dataclasses

import numpy as np

from netemu.addr import PRIVATE_NETS, in_ranges
from netemu.dataplane.elements.base import Observation, Runtime
from netemu.dataplane.elements.gateways import Unmodelled
from netemu.dataplane.graph import Graph
from netemu.dataplane.grouping import Flows, flow_groups, segments
from netemu.dataplane.reasons import CODE
from netemu.packet import (
    ACK,
    DELIVERED,
    DROPPED,
    ICMP,
    IN_FLIGHT,
    SYN,
    TCP,
    UDP,
    UNPLACED,
    empty,
    pick,
)

# what a flow's first packet decides for all of its packets
FATE_COLUMNS = ("src", "dst", "sport", "dport", "status", "reason", "at", "rule")
MAX_HOPS = 64
# a request's columns, as it arrived, that address its reply
ADDRESSED = ("src", "dst", "sport", "dport", "at")


def place(g: Graph, b: np.ndarray) -> None:
    """Give packets with no element yet the element their source address belongs to:
    an execution environment, an ENI, an AWS service behind a gateway endpoint, the
    Amazon-provided services, or the internet. Others are UNPLACED."""
    todo = np.flatnonzero(b["node"] < 0)
    src, dst = b["src"][todo], b["dst"][todo]
    node = np.full(len(todo), -1, dtype=np.int64)
    lambda_service = g.element(("lambda", ""))
    node[lambda_service.function_of(src)[0] >= 0] = lambda_service.index
    eni = g.book.eni_anywhere(src)
    free = node < 0
    node[free & (eni >= 0)] = g.doors.eni_out[eni[free & (eni >= 0)]]
    # membership by search: np.isin would import numpy.ma (through np.unique) in a trace
    svc = np.sort(g.service_addresses)               # never empty: the link-local services
    service = svc[np.searchsorted(svc, src).clip(max=len(svc) - 1)] == src
    node[(node < 0) & service] = g.index(("amazon", ""))
    for ep_id, ep in sorted(g.topo.endpoints.items()):
        if ep.kind != "gateway" or not ep.prefix_list:
            continue
        cidrs = g.topo.prefix_lists[ep.prefix_list].cidrs
        hit = (node < 0) & in_ranges(src, cidrs) & in_ranges(dst, g.book.vpc_ranges[ep.vpc])
        node[hit] = g.index(("vpce", ep_id))
    public = (node < 0) & ~in_ranges(src, PRIVATE_NETS)
    node[public] = g.index(("internet", ""))
    b["node"][todo] = node
    lost = todo[node < 0]
    b["status"][lost] = UNPLACED
    b["reason"][lost] = CODE["NOT_PLACED"]


def run(g: Graph, b: np.ndarray, *, recording: bool = False, observing: bool = False,
        weights: np.ndarray | None = None) -> Runtime:
    """Push a batch until every packet is delivered, dropped or unplaced."""
    rt = Runtime(g.elements, recording=recording, weights=weights, observing=observing)
    place(g, b)
    for _ in range(MAX_HOPS):
        live = np.flatnonzero(b["status"] == IN_FLIGHT)
        if len(live) == 0:
            return rt
        nodes = b["node"][live]
        # a stable sort of small integers is a radix sort: linear time
        order = np.argsort(nodes.astype(np.int16) if len(g.elements) < 2**15 else nodes,
                           kind="stable")
        live, nodes = live[order], nodes[order]
        cuts = np.flatnonzero(np.diff(nodes)) + 1
        for group in np.split(live, cuts):
            element = g.elements[int(b["node"][group[0]])]
            rt.in_count[element.index] += rt.packets(group)
            element.process(b, group, rt)
    live = np.flatnonzero(b["status"] == IN_FLIGHT)
    loop = Unmodelled("routing-loop")
    loop.index = -1
    rt.drop(b, live, loop, "ROUTING_LOOP")
    return rt


def quiet(g: Graph) -> float:
    """The shortest idle timeout: no state forgets a flow silent for less."""
    return min(dataclasses.astuple(g.settings.timeouts))


def hold(g: Graph, horizon: float) -> None:
    """Promise the stateful elements that no lookup will be earlier than `horizon`
    (they compact and sweep no further than that)."""
    for state in g.states:
        state.horizon = horizon


def run_flows(g: Graph, b: np.ndarray, *, observing: bool = False,
              horizon: float | None = None, summed_window: float | None = None) -> Runtime:
    """Decide per flow, account per packet: the first packet of each flow goes through
    the elements and every packet of the flow takes its fate and its translations.
    A flow idle for longer than the shortest timeout starts a new segment (so does a
    SYN after a segment without one), decided after the earlier ones, so timeouts
    inside one batch still count. Each flow's first packet carries the time of its
    segment's last (`until`): state is refreshed as by every packet of the segment.
    `horizon`: no later call holds an earlier packet (default: this batch's first).
    Observations are of every packet, unless `summed_window`: then a flow piece whose
    packets share one capture window of that many seconds is observed once, summed
    (Observation.summed), which is all a flow log needs of it."""
    flows = flow_groups(b)
    segment = segments(flows, b["ts"], quiet(g), b["flags"], b["proto"])
    if len(b):
        hold(g, float(b["ts"].min()) if horizon is None else horizon)
    total = Runtime(g.elements, observing=observing)
    waves = int(segment.max()) + 1 if len(b) else 0
    for wave in range(waves):
        if waves > 1:
            idx = np.flatnonzero(segment == wave)
            part = flow_groups(pick(b, idx))
        else:
            idx, part = None, flows
        sub = b if idx is None else pick(b, idx)
        reps = pick(sub, part.first)
        end = np.full(len(part), -np.inf)
        np.maximum.at(end, part.group, np.maximum(sub["ts"], sub["until"]))
        reps["until"] = end
        weights = np.bincount(part.group, minlength=len(part))
        rt = run(g, reps, weights=weights, observing=observing)
        for column in FATE_COLUMNS:
            if idx is None:
                b[column] = reps[column][part.group]
            else:
                b[column][idx] = reps[column][part.group]
        if observing:
            members = part.order if idx is None else idx[part.order]
            if summed_window is None:
                total.observations += [_per_packet(o, b, members, part, weights)
                                       for o in rt.observations]
            else:
                total.observations += _summed(rt.observations, b, sub, members, part,
                                              weights, summed_window)
        total.in_count += rt.in_count
        total.drop_count += rt.drop_count
        total.deliver_count += rt.deliver_count
    return total


# ---- replies -------------------------------------------------------------------------
def address_reply(g: Graph, rep: np.ndarray, arrived) -> None:
    """Address replies back along their requests: from where each request arrived
    (`arrived`: the request's columns as delivered, `at` included) to its sender, ports
    swapped (ICMP keeps the reply's own type and code), starting where the answerer
    sends from."""
    icmp = rep["proto"] == ICMP
    src, dst = np.asarray(arrived["src"]), np.asarray(arrived["dst"])
    sport, dport = np.asarray(arrived["sport"]), np.asarray(arrived["dport"])
    rep["src"], rep["dst"] = dst, src
    rep["sport"] = np.where(icmp, rep["sport"], dport)
    rep["dport"] = np.where(icmp, rep["dport"], sport)
    rep["node"] = g.reply_from[np.asarray(arrived["at"])]
    rep["status"] = IN_FLIGHT


def replies(g: Graph, b: np.ndarray, delivered: np.ndarray) -> np.ndarray:
    """The answer to each delivered packet: an echo reply to an echo request, SYN-ACK to
    a SYN, else the same type and code, ACK or no flags."""
    d = pick(b, delivered)
    r = empty(len(delivered))
    r["ts"] = d["ts"] + 0.001
    r["proto"], r["length"], r["flow"] = d["proto"], d["length"], d["flow"]
    r["sport"] = np.where(d["sport"] == 8, 0, d["sport"])     # ICMP: echo reply
    r["dport"] = d["dport"]
    tcp = d["proto"] == TCP
    r["flags"][tcp] = np.where(d["flags"][tcp] & SYN, SYN | ACK, ACK)
    address_reply(g, r, d)
    return r


def source_changed(rep: np.ndarray, home_src, home_sport) -> np.ndarray:
    """Delivered replies that reach the opener from another address (or, TCP and UDP,
    another port) than the one it sent to: no answer to it (G1, I1)."""
    ported = (rep["proto"] == TCP) | (rep["proto"] == UDP)
    return (rep["status"] == DELIVERED) & ((rep["src"] != home_src) | (
        ported & (rep["sport"] != home_sport)))


def refuse_changed(rep: np.ndarray, home_src, home_sport) -> np.ndarray:
    """Mark the replies source_changed() finds dropped, REPLY_SOURCE_CHANGED."""
    wrong = source_changed(rep, home_src, home_sport)
    rep["status"][wrong] = DROPPED
    rep["reason"][wrong] = CODE["REPLY_SOURCE_CHANGED"]
    return wrong


def _summed(observed: list[Observation], b: np.ndarray, sub: np.ndarray,
            members: np.ndarray, flows: Flows, weights: np.ndarray,
            window: float) -> list[Observation]:
    """Observations of flows' first packets as observations of whole flow pieces:
    packets, bytes, first and last time (a flow log's sums, minima and maxima, which
    add up the same in any grouping). A piece whose packets fall in two capture windows
    (floor(ts / window), as flow_log records count them) is observed packet by packet."""
    n = len(flows)
    ts = np.ascontiguousarray(sub["ts"])
    first = np.full(n, np.inf)
    np.minimum.at(first, flows.group, ts)
    last = np.full(n, -np.inf)
    np.maximum.at(last, flows.group, ts)
    nbytes = np.bincount(flows.group, weights=sub["length"], minlength=n).astype(np.int64)
    one = np.floor(first / window) == np.floor(last / window)
    out = []
    for o in observed:
        whole = one[o.rows]
        if whole.any():
            r = o.rows[whole]
            header = pick(o.header, whole)
            header["ts"] = first[r]
            rows = _first_rows(members, flows, r)
            out.append(Observation(rows, o.point[whole], o.accept[whole], header,
                                   (weights[r].astype(np.int64), nbytes[r], last[r])))
        if not whole.all():
            part = Observation(o.rows[~whole], o.point[~whole], o.accept[~whole],
                               pick(o.header, ~whole))
            out.append(_per_packet(part, b, members, flows, weights))
    return out


def _first_rows(members: np.ndarray, flows: Flows, rows: np.ndarray) -> np.ndarray:
    """The batch row of each given flow's first packet (`members`: flows.order in b)."""
    run_start = np.empty(len(flows), dtype=np.int64)
    run_start[flows.group[flows.order][flows.start]] = np.flatnonzero(flows.start)
    return members[run_start[rows]]


def _per_packet(o: Observation, b: np.ndarray, members: np.ndarray, flows: Flows,
                weights: np.ndarray) -> Observation:
    """An observation of flows' first packets made one of every packet of those flows:
    the point saw each packet with its flow's addresses and ports, and with its own time,
    flags and length. `members` lists the packets sorted by flow (flows.order)."""
    run_start = np.empty(len(flows), dtype=np.int64)       # flow -> where its run begins
    run_start[flows.group[flows.order][flows.start]] = np.flatnonzero(flows.start)
    count = weights[o.rows]
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    rows = members[np.repeat(run_start[o.rows], count) + offset]
    header = np.repeat(o.header, count)
    for column in ("ts", "flags", "length"):
        header[column] = b[column][rows]
    return Observation(rows, np.repeat(o.point, count), np.repeat(o.accept, count), header)

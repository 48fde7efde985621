"""What people ask of reachability: everything one source gets answered by, whether it
reaches one destination, and who reaches a destination.

Each source sends every request of the asked protocols and ports; the walk (walk.py)
says which arrive and which get their replies back. The client's source port stays
symbolic over its ephemeral range (N6): 1024-65535 for Lambda and the internet,
32768-61000 for an instance or interface (AWS's Linux figure). A translator's port is
symbolic too (1024-65535): a reply that passes for some ports it may pick and not for
others makes the request `partial`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from netemu.addr import PRIVATE_NETS
from netemu.apps.reach.boxes import (
    O_DPORT,
    O_DST,
    O_SPORT,
    O_SRC,
    PROTO,
    Box,
    size,
    split_dim,
    subtract,
)
from netemu.apps.reach.walk import End, Walker, answer, answered, proto_pieces
from netemu.apps.resolve import Endpoint, resolve_destination, resolve_sources
from netemu.apps.trace_core import _ID
from netemu.dataplane.graph import Graph
from netemu.dataplane.run import place
from netemu.dataplane.table import gaps
from netemu.errors import InputError
from netemu.model.resources import LAMBDA, NAT_ENI
from netemu.model.topology import Topology
from netemu.packet import ICMP, TCP, UDP, from_columns, protocol_name

LAMBDA_PORTS = (1024, 65535)      # N6: Lambda, NAT gateways, and internet clients alike
LINUX_PORTS = (32768, 61000)      # N6: AWS's figure for Linux clients
ALL = (0, 0xFFFFFFFF)
PROTOCOLS = {"tcp": [TCP], "udp": [UDP], "icmp": [ICMP], "all": [TCP, UDP, ICMP]}


@dataclass
class Reached:
    """Requests that arrive at one node along one path, and what their replies met."""
    node: str                     # the final node, for people
    kind: str
    full: list[Box]               # answered whatever port a translator picks
    partial: list[Box]            # answered for some translator ports only
    path: list[dict]
    reply_path: list[dict]
    reply_drops: list[dict] = field(default_factory=list)


@dataclass
class Answer:
    source: Endpoint
    reached: list[Reached]
    blocked: list[dict]           # request drops, and replies that never came back
    sports: tuple[int, int]

    def boxes(self, partial: bool = False) -> list[Box]:
        return [b for r in self.reached for b in (r.partial if partial else r.full)]


def parse_ports(text: str | None) -> tuple[int, int]:
    if text is None:
        return (0, 65535)
    lo, _, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise InputError(f"--ports {text!r}: expected A-B or one port") from None
    if not 0 <= a <= b <= 65535:
        raise InputError(f"--ports {text!r}: ports are 0-65535, low to high")
    return (a, b)


def parse_protocols(text: str | None) -> list[int]:
    if text is None:
        return PROTOCOLS["all"]
    if text.lower() in PROTOCOLS:
        return PROTOCOLS[text.lower()]
    raise InputError(f"--proto {text!r}: expected tcp, udp, icmp or all")


def client_ports(topo: Topology, src: Endpoint) -> tuple[int, int]:
    if src.function is not None or src.vpc is None:
        return LAMBDA_PORTS
    return LINUX_PORTS


def requests(src_ranges, dst_ranges, protos, ports, sports) -> list[Box]:
    """Every request: TCP and UDP from any client port to the asked ports, an ICMP echo
    request (type 8, code 0)."""
    out = []
    link = (O_SRC, O_DST, O_SPORT, O_DPORT)
    for s in src_ranges:
        for d in dst_ranges:
            for p in protos:
                sp, dp = (sports, ports) if p in (TCP, UDP) else ((8, 8), (0, 0))
                iv = (s, d, (p, p), sp, dp, (0, 0), (0, 0), (0, 0), (0, 0))
                out.append(Box(iv, link))
    return out


class Reach:
    """One topology's graph and walker, shared by every question asked of it."""

    def __init__(self, topo: Topology, graph: Graph | None = None) -> None:
        self.topo = topo
        self.graph = graph or Graph(topo)
        self.walker = Walker(self.graph)
        self.names = {k: i for k, i in self.graph.slots.items()}
        self._labels: dict = {}       # node -> label: paths repeat the same nodes a lot
        self._placed: dict = {}       # (src, dst) -> node run.place puts it at
        self.lean = False             # sets only, no paths for people (effects.py)

    # ---- placing -------------------------------------------------------------------------
    def node_of(self, src: int, dst: int = 0) -> tuple[str, str] | None:
        """Where the dataplane places a packet from `src` (run.place), remembered: the
        walk asks it for every set of requests and replies."""
        key = (src, dst)
        if key not in self._placed:
            self._placed[key] = self._locate(src, dst)
        return self._placed[key]

    def _locate(self, src: int, dst: int) -> tuple[str, str] | None:
        b = from_columns(src=src, dst=dst, sport=0, dport=0, proto=TCP, flags=0,
                         length=60, flow=0)
        place(self.graph, b)
        at = int(b["node"][0])
        return self.graph.elements[at].key if at >= 0 else None

    def starts(self, boxes: list[Box]) -> dict:
        """Boxes by the node run.place puts them at: an AWS service's address sending
        into the VPC of its gateway endpoint enters there (E1), else by source alone."""
        out: dict = {}
        for b in boxes:
            src = b.iv[O_SRC][0]
            rest = [b]
            for ep_id, ep in sorted(self.topo.endpoints.items()):
                if ep.kind != "gateway" or not ep.prefix_list or not any(
                        int(c.network_address) <= src <= int(c.broadcast_address)
                        for c in self.topo.prefix_lists[ep.prefix_list].cidrs):
                    continue
                for c in self.topo.vpcs[ep.vpc].cidrs:
                    span, nxt = (int(c.network_address), int(c.broadcast_address)), []
                    for x in rest:
                        hit, more = split_dim(x, O_DST, span)
                        if hit is not None:
                            out.setdefault(("vpce", ep_id), []).append(hit)
                        nxt += more
                    rest = nxt
            if rest:
                out.setdefault(self.node_of(src), []).extend(rest)
        return out

    def reply_start(self, end: End, b: Box):
        at = self.graph.reply_from[self.graph.index(end.node)]
        if at >= 0:
            return self.graph.elements[int(at)].key
        return self.node_of(b.get("src")[0])

    # ---- one source ------------------------------------------------------------------------
    def run(self, src: Endpoint, dst_ranges=(ALL,), protos=(TCP, UDP, ICMP),
            ports=(0, 65535), sports: tuple[int, int] | None = None,
            src_ranges=None) -> Answer:
        sports = sports or client_ports(self.topo, src)
        src_ranges = src_ranges or [(int(src.ip), int(src.ip))]
        if self.node_of(src_ranges[0][0]) is None:
            raise InputError(f"{src.text}: netemu cannot place a packet from {src.ip}")
        boxes = requests(src_ranges, dst_ranges, protos, ports, sports)
        ends = []
        for start, part in self.starts(boxes).items():
            ends += self.walker.walk(part, start)
        reached, blocked = [], []
        for e in ends:
            if e.action == "drop":
                blocked.append(self._drop(e, "request"))
                continue
            reached.append(self._answer(e))
            blocked += reached[-1].reply_drops
        return Answer(src, _grouped(reached), blocked, sports)

    def _answer(self, e: End) -> Reached:
        good, dropped, drops, reply_path = [], [], [], []
        groups: dict = {}
        for b in e.boxes:
            for r in answer(b):
                groups.setdefault(self.reply_start(e, r), []).extend(proto_pieces(r))
        for start, rs in groups.items():
            for end in self.walker.walk(rs, start, e.marks):
                if end.action == "deliver":
                    ok, bad = _answered(end.boxes)
                    good += ok
                    reply_path = reply_path or self._path(end.path)
                    if bad:
                        dropped += bad
                        drops.append(self._drop(End(end.node, "drop", bad, end.path,
                                                    reason="REPLY_SOURCE_CHANGED"), "reply"))
                else:
                    dropped += end.boxes
                    drops.append(self._drop(end, "reply"))
        for d in drops:
            d["request_path"] = self._path(e.path)
        full = _disjoint(subtract(good, dropped))
        partial = _disjoint(subtract(good, full))
        el = self.graph.element(e.node)
        return Reached(self.label(e.node), el.kind, full, partial, self._path(e.path),
                       reply_path, drops)

    def _drop(self, e: End, leg: str) -> dict:
        last = e.path[-1] if e.path else None
        return {"leg": leg, "at": self.label(e.node), "reason": e.reason,
                "rule": e.rule or (last.rule if last else None), "boxes": e.boxes,
                "path": self._path(e.path)}

    def label(self, key) -> str:
        """The element's name with each id's Name tag beside it."""
        if key not in self._labels:
            self._labels[key] = _ID.sub(lambda m: self.topo.display(m.group()),
                                        self.graph.element(key).name)
        return self._labels[key]

    def _path(self, path) -> list[dict]:
        if self.lean:
            return []
        return [{"node": self.label(h.node), "action": h.action, "rule": h.rule,
                 **({"reason": h.reason} if h.reason else {})} for h in path]

    # ---- sources -------------------------------------------------------------------------
    def sources(self, text: str) -> list[Endpoint]:
        if text == "internet":
            return [Endpoint("internet", ipaddress.IPv4Address("8.8.8.8"),
                             "the internet", None)]
        return resolve_sources(self.topo, text)

    def every_source(self) -> list[str]:
        """Every function, every interface of something that sends (not a Lambda or NAT
        gateway interface), and the internet."""
        out = [f"lambda:{f}" for f in self.topo.function_order]
        out += [f"eni:{e}" for e in sorted(self.topo.enis)
                if self.topo.enis[e].kind not in (LAMBDA, NAT_ENI)
                and e not in self.topo.unplaced]
        return out + ["internet"]

    def reach(self, src_text: str, dst_text: str | None = None, protos=None,
              ports=(0, 65535), sports=None) -> list[Answer]:
        """One answer per place the source sends from (each subnet of a function)."""
        protos = protos or PROTOCOLS["all"]
        out = []
        for src in self.sources(src_text):
            src_ranges = public_space() if src.text == "internet" else None
            dst = (ALL,)
            if dst_text is not None:
                d = resolve_destination(self.topo, dst_text, src)
                dst = ((int(d.ip), int(d.ip)),)
            out.append(self.run(src, dst, protos, ports, sports, src_ranges))
        return out


def _grouped(reached: list[Reached]) -> list[Reached]:
    """One entry per (final node, path): the walk splits a set where rows differ, and
    the parts that go the same way again are one answer."""
    out: dict = {}
    for r in reached:
        if not (r.full or r.partial):
            continue
        key = (r.node, tuple((h["node"], h["rule"]) for h in r.path))
        if key in out:
            out[key].full += r.full
            out[key].partial += r.partial
            out[key].reply_drops += r.reply_drops
        else:
            out[key] = r
    return list(out.values())


def _answered(boxes):
    good, bad = [], []
    for b in boxes:
        g, x = answered(b)
        good += g
        bad += x
    return good, bad


def _disjoint(boxes: list[Box]) -> list[Box]:
    return [b for b in boxes if size([b]) > 0]


def public_space() -> list[tuple[int, int]]:
    """The internet's addresses: everything outside the private ranges."""
    spans = [(int(n.network_address), int(n.broadcast_address)) for n in PRIVATE_NETS]
    return gaps(spans, 0xFFFFFFFF)


# ---- for people ---------------------------------------------------------------------------
def cidrs(spans: list[tuple[int, int]]) -> list[str]:
    out = []
    for lo, hi in spans:
        out += [str(n) for n in ipaddress.summarize_address_range(
            ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi))]
    return out


def merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(a, b) for a, b in out]


def addresses(spans) -> str:
    """A set of addresses in the fewer words: its prefixes, or all but a few."""
    spans = merge(spans)
    mine = cidrs(spans)
    if spans == [ALL]:
        return "0.0.0.0/0"
    rest = cidrs(gaps(spans, 0xFFFFFFFF))
    if len(rest) < len(mine):
        return "0.0.0.0/0 except " + ", ".join(rest)
    return ", ".join(mine)


def _ports(iv) -> str:
    return str(iv[0]) if iv[0] == iv[1] else f"{iv[0]}-{iv[1]}"


def describe(boxes: list[Box]) -> list[dict]:
    """Boxes as rows of (protocol, destination ports, client ports, destinations)."""
    groups: dict = {}
    for b in boxes:
        key = (b.iv[PROTO], b.iv[O_DPORT], b.iv[O_SPORT])
        groups.setdefault(key, []).append(b.iv[O_DST])
    rows = []
    for (p, dp, sp), spans in sorted(groups.items()):
        icmp = p == (ICMP, ICMP)
        rows.append({"protocol": protocol_name(p[0]) if p[0] == p[1] else _ports(p),
                     "ports": "echo" if icmp else _ports(dp),
                     "client_ports": None if icmp else _ports(sp),
                     "destinations": addresses(spans)})
    return _fold_ports(rows)


def _fold_ports(rows: list[dict]) -> list[dict]:
    """Rows that differ only in adjacent port ranges, as one."""
    out: list[dict] = []
    for r in rows:
        last = out[-1] if out else None
        if last and all(last[k] == r[k] for k in ("protocol", "client_ports", "destinations")) \
                and "-" not in ("x" + last["ports"])[1:2] and r["ports"] != "echo":
            lo, hi = (last["ports"].split("-") + [last["ports"]])[:2]
            nlo, nhi = (r["ports"].split("-") + [r["ports"]])[:2]
            if int(hi) + 1 == int(nlo):
                last["ports"] = f"{lo}-{nhi}"
                continue
        out.append(dict(r))
    return out


def in_set(boxes: list[Box], dst: int, proto: int, sport: int, dport: int) -> bool:
    """Is the request (dst, proto, sport, dport) in the boxes?"""
    p = {O_DST: dst, PROTO: proto, O_SPORT: sport, O_DPORT: dport}
    return any(all(b.iv[d][0] <= v <= b.iv[d][1] for d, v in p.items()) for b in boxes)



"""Issue 8: every element shows its decision as data (`table()`), and the data is the
decision: packets looked up naively in an element's table (the first row that holds)
get what the element's process() does to them, on shipped topologies, a two-VPC
peering snapshot and random topologies (tests/strategies.py).

State is fresh in every check (a new graph per element): no flow is tracked and no
translation known, so rows with a state predicate never hold."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import examples, topologies
from test_pipeline_reference import load_text

from netemu.apps.fix import with_resource
from netemu.dataplane.elements.base import Runtime
from netemu.dataplane.elements.registry import KINDS
from netemu.dataplane.graph import Graph
from netemu.dataplane.reasons import CODE
from netemu.dataplane.table import VIA, decide
from netemu.io.load import load
from netemu.model.resources import TGW, Route
from netemu.packet import DELIVERED, DROPPED, IN_FLIGHT, TCP, UDP, empty
from netemu.rules import FIELD_MAX, FIELDS

ROOT = Path(__file__).parent.parent
SHIPPED = sorted((ROOT / "topologies").glob("*.yaml")) + [
    ROOT / "tests/data/snapshots/two-accounts"]


APPLIANCE = """
vpc: v
cidr: 10.0.0.0/16
internet_gateway: igw
subnets:
  a: {cidr: 10.0.1.0/24, route_table: rt}
  b: {cidr: 10.0.2.0/24}
route_tables:
  rt: {0.0.0.0/0: igw, 192.168.0.0/16: appliance}
hosts:
  appliance: {subnet: b, ip: 10.0.2.20}
  h: {subnet: a, ip: 10.0.1.10, public_ip: 54.0.1.10}
"""


def appliance():
    """A route to an interface with source/destination check on, and one to a transit
    gateway (not emulated): the two kinds no shipped topology builds."""
    topo = load_text(APPLIANCE, "appliance.yaml")
    rt = topo.route_tables["rt"]
    tgw = Route(ipaddress.IPv4Network("172.16.0.0/12"), "tgw-1", TGW)
    return with_resource(topo, "route_tables", replace(rt, routes=rt.routes + (tgw,)))


def _candidates(rows) -> dict[str, list[int]]:
    """Per header field, the values at and just beside every row's box edges."""
    values: dict[str, set[int]] = {f: {0, FIELD_MAX[f]} for f in FIELDS}
    for row in rows:
        for f, (lo, hi) in row.match.items():
            values[f].update(v for v in (lo - 1, lo, hi, hi + 1) if 0 <= v <= FIELD_MAX[f])
    return {f: sorted(v) for f, v in values.items()}


def _expected(g: Graph, element, row, pkt: dict, via: int) -> dict:
    """What the row says happens to one packet: status, reason, node, via, rewrites."""
    if row.action == "drop":
        return {"status": DROPPED, "reason": CODE[row.reason]}
    if row.action == "deliver":
        return {"status": DELIVERED}
    out = {"status": IN_FLIGHT}
    if row.next == VIA:       # on to where it is bound; leaving the subnet: its inbound ACL
        sub = g.doors.elem_subnet[via]
        cross = element.kind == "acl-outbound" and sub >= 0 and sub != element.subnet
        out["node"] = g.doors.acl_in[sub] if cross else via
    elif row.through is not None:
        out["node"], out["via"] = g.index(row.through), g.index(row.next)
    else:
        out["node"] = g.index(row.next)
    for f, v in (row.rewrite or {}).items():
        if v == "allocated":      # a port the translator picks (TCP and UDP only)
            if pkt["proto"] in (TCP, UDP):
                out["allocated"] = f
        else:
            out[f] = int(v)
    return out


def check_tables(topo, seed: int, n: int = 24) -> set[str]:
    """Every element of the topology against its table, on packets whose fields sit at
    and beside the table's box edges (drawn from `seed`); the kinds checked."""
    rng, kinds = np.random.default_rng(seed), set()
    for i in range(len(Graph(topo).elements)):
        g = Graph(topo)                       # fresh state for every element
        element = g.elements[i]
        rows = element.table()
        assert rows and not rows[-1].match and rows[-1].state is None, element.name
        cand = _candidates(rows)
        b = empty(n)
        for f in FIELDS:
            b[f] = rng.choice(cand[f], n)
        targets = [int(x) for x in g.doors.eni_in] or [g.index(("internet", ""))]
        vias = rng.choice(targets, n).tolist()
        b["via"] = vias
        b["node"] = element.index
        before = b.copy()
        element.process(b, np.arange(n), Runtime(g.elements))
        for k in range(n):
            pkt = {f: int(before[f][k]) for f in FIELDS}
            row = decide(rows, pkt)
            want = _expected(g, element, row, pkt, vias[k])
            got = {c: int(b[c][k]) for c in want if c != "allocated"}
            assert got == {c: v for c, v in want.items() if c != "allocated"}, (
                element.name, pkt, row)
            if "allocated" in want:
                assert 1024 <= int(b[want["allocated"]][k]) <= 65535, (element.name, pkt)
        kinds.add(element.kind)
    return kinds


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
@settings(max_examples=examples(3), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seed=st.integers(0, 2**32 - 1))
def test_item8_table_agrees_with_process_on_shipped_topologies(path, seed):
    check_tables(load(path), seed)


@settings(max_examples=examples(10), deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_item8_table_agrees_with_process_on_an_appliance_route(seed):
    assert {"eni-source-dest-check", "unmodelled-target"} <= check_tables(appliance(), seed)


@settings(max_examples=examples(15), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=topologies(), seed=st.integers(0, 2**32 - 1))
def test_item8_table_agrees_with_process_on_random_topologies(doc, seed):
    check_tables(load_text(yaml.safe_dump(doc, sort_keys=False), "tables.yaml"), seed)


def test_item8_every_registered_kind_has_a_complete_table():
    """The shipped topologies, the peering snapshot and the appliance build every hop kind
    (and the sides built with it), and each one's table ends with a row that always
    holds: no packet is left without a decision."""
    seen, names = set(), {k.kind for k in KINDS}
    for topo in [load(p) for p in SHIPPED] + [appliance()]:
        for e in Graph(topo).elements:
            rows = e.table()
            assert not rows[-1].match and rows[-1].state is None, e.name
            seen.add(type(e).__name__)
    wanted = {k.__name__ for k in KINDS} | {"EniOut", "AclIn", "InternetGatewayIn"}
    assert wanted <= seen, wanted - seen
    assert "route-table" in names and "nat-instance" in names


def test_item8_acl_table_is_the_rule_order_it_matches_in():
    """N3 on a hand-written ACL: rule 90 denies 10.0.1.7 before 100 allows 10.0.1.0/24;
    the table lists 90 first, then 100, then the `*` entry every ACL ends with."""
    topo = load_text("""
vpc: v
cidr: 10.0.0.0/16
subnets:
  a: {cidr: 10.0.1.0/24, acl: strict}
network_acls:
  strict:
    inbound: ["100 allow all from 10.0.1.0/24", "90 deny tcp 22 from 10.0.1.7/32"]
    outbound: ["100 allow all to 0.0.0.0/0"]
hosts:
  h: {subnet: a, ip: 10.0.1.10}
""", "acl-order.yaml")
    rows = Graph(topo).element(("acl-in", "a")).table()
    assert [r.action for r in rows] == ["drop", "next", "drop", "drop"]
    ip7, net = 0x0A000107, (0x0A000100, 0x0A0001FF)
    assert rows[0].match == {"src": (ip7, ip7), "proto": (6, 6), "dport": (22, 22)}
    assert rows[0].rule == "strict rule 90 deny tcp 22 from 10.0.1.7/32"
    assert rows[1].match == {"src": net} and rows[1].next == VIA
    assert rows[2].match == {} and rows[2].rule == "strict rule * deny all from 0.0.0.0/0"


def test_item8_router_table_longest_prefix_first():
    """R1: a /32 to a blackhole beside 0.0.0.0/0 to the internet gateway: the /32 row
    comes first; the local route becomes one row per interface address."""
    topo = load_text("""
vpc: v
cidr: 10.0.0.0/16
internet_gateway: igw
subnets:
  a: {cidr: 10.0.1.0/24, route_table: rt}
route_tables:
  rt: {0.0.0.0/0: igw, 203.0.113.10/32: blackhole}
hosts:
  h: {subnet: a, ip: 10.0.1.10}
""", "lpm.yaml")
    rows = Graph(topo).element(("router", "a")).table()
    h = 0x0A00010A
    assert rows[0].match == {"dst": (h, h)} and rows[0].next[0] == "in"
    got = [(r.match.get("dst"), r.action, r.reason, r.next) for r in rows[1:]]
    assert got == [((0xCB00710A, 0xCB00710A), "drop", "BAD_STATE_ROUTE", None),
                   ((0x0A000000, 0x0A00FFFF), "drop", "UNKNOWN_DESTINATION", None),
                   ((0, 0xFFFFFFFF), "next", None, ("igw-out", "igw")),
                   (None, "drop", "NO_ROUTE_TO_DESTINATION", None)]
    assert rows[3].through == ("acl-out", "a")      # leaving the subnet: its outbound ACL


def test_item8_resolver_answers_every_asker_from_every_service_address(network):
    """S6: the Amazon resolver, metadata and time services answer from each of their
    addresses (one resolver per VPC: two here) to whoever owns the asking interface; the
    table has a row for every (service address, asker) pair and says what process does."""
    from conftest import PEERED
    topo = network(base=PEERED)
    g = Graph(topo)
    element = next(e for e in g.elements if e.kind == "amazon-provided")
    rows = element.table()
    assert len(element.addresses) >= 3 and len(element.answers) >= 2
    for a in element.addresses:
        for ip, key in element.answers:
            pkt = {f: 0 for f in FIELDS} | {"src": int(a), "dst": ip, "proto": UDP,
                                            "sport": 53, "dport": 40000}
            row = decide(rows, pkt)
            assert row.action == "next" and row.next == key, (a, ip)
            b = empty(1)
            for f, v in pkt.items():
                b[f] = v
            b["node"] = element.index
            element.process(b, np.arange(1), Runtime(g.elements))
            assert (b["status"][0], b["node"][0]) == (IN_FLIGHT, g.index(key))

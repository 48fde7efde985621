"""The key property of reach (issue 9): on random small topologies, for random concrete
requests, reach's set and the concrete dataplane (trace: the request, then its reply,
checked to answer it) agree in both directions, and where a request is stopped, on the
leg, reason code and rule that stop it. A request reach calls `partial` (its
reply passes for some ports a translator may pick, not others) is left out: the
dataplane picks one port, so either verdict is right."""

from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import PEERED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import EIP, INTERNET, examples, topologies

from netemu.apps.reach.answers import blocks
from netemu.apps.reach.query import Reach, client_ports, in_set
from netemu.apps.resolve import Endpoint, resolve_destination, resolve_sources
from netemu.apps.trace_core import run_trace
from netemu.io.yaml_loader import load_yaml
from netemu.packet import ICMP, TCP, UDP

_TMP = Path(tempfile.mkdtemp(prefix="netemu-reach-"))
IP = ipaddress.IPv4Address


def load_text(text: str):
    path = _TMP / "topo.yaml"
    path.write_text(text)
    return load_yaml(path)


def sources(topo, doc) -> list[Endpoint]:
    out = resolve_sources(topo, "lambda:fn")
    out += [resolve_sources(topo, f"instance:{h}")[0] for h in sorted(doc["hosts"])]
    out += [Endpoint(n, IP(ip), "internet host", None) for n, ip in sorted(INTERNET.items())]
    return out


def destinations(topo, doc) -> list[str]:
    hosts = doc["hosts"].values()
    return ([h["ip"] for h in hosts] + [h["public_ip"] for h in hosts if "public_ip" in h]
            + list(INTERNET.values()) + [EIP, "10.0.0.2", "169.254.169.254", "52.216.7.7",
                                         "8.8.8.8", "10.0.2.99"]
            + [str(e.private_ip) for e in topo.enis.values()])


@settings(max_examples=examples(60), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), doc=topologies())
def test_item9_reach_agrees_with_the_dataplane_both_ways(data, doc):
    text = yaml.safe_dump(doc, sort_keys=False)
    topo = load_text(text)
    r = Reach(topo)
    srcs, dsts = sources(topo, doc), destinations(topo, doc)
    for _ in range(6):
        src = data.draw(st.sampled_from(srcs))
        dst = data.draw(st.sampled_from(dsts))
        proto = data.draw(st.sampled_from([TCP, TCP, UDP, ICMP]))
        port = data.draw(st.sampled_from([22, 53, 443, 5432, 80, 1024, 40000, 65535]))
        lo, hi = client_ports(topo, src)
        sport = data.draw(st.sampled_from([lo, hi, 40000, (lo + hi) // 2]))
        problem = same_block(r, topo, src, dst, proto, port, sport)
        assert problem is None, problem + "\n" + text


def same_block(r: Reach, topo, src: Endpoint, dst_text: str, proto: int, port: int,
               sport: int) -> str | None:
    """None when reach and the dataplane agree on the request, and, when it is stopped,
    on the leg, reason code and rule that stop it (reach reads them from the element
    tables, trace from the elements' process: one semantics, so the same words)."""
    dst = resolve_destination(topo, dst_text, src)
    a = r.run(src, [(int(dst.ip), int(dst.ip))], [proto], (port, port), None,
              [(int(src.ip), int(src.ip))])
    s, p = (8, 0) if proto == ICMP else (sport, port)
    if in_set(a.boxes(partial=True), int(dst.ip), proto, s, p):
        return None
    t = run_trace(topo, src, dst, proto, port, sport)
    reached = in_set(a.boxes(), int(dst.ip), proto, s, p)
    if reached or (t.ok and t.reply is not None):
        return None if reached == (t.ok and t.reply is not None) else \
            f"{src.text} -> {dst_text}: reach says {reached}, the dataplane {t.ok}"
    leg = t.failed
    want = ("request" if leg is t.request else "reply", leg.reason, leg.rule)
    got = [(b["leg"], b["reason"], b["rule"]) for b in blocks(a)
           if in_set(b["boxes"], int(dst.ip), proto, s, p)]
    if got[:1] != [want]:
        return (f"{src.text} -> {dst_text} proto {proto} {sport}->{port}: reach blocks "
                f"{got[:2]}, the dataplane {want} at {leg.dropped_at}")
    return None


def _endpoint(topo, text: str) -> Endpoint:
    return resolve_sources(topo, text)[0]


@pytest.mark.parametrize("active", [True, False])
@pytest.mark.parametrize("dst, port", [("10.1.1.10", 443), ("10.1.1.10", 22),
                                       ("10.1.1.99", 443), ("10.2.0.1", 443)])
def test_item9_reach_and_trace_agree_across_a_peering(network, dst, port, active):
    """Through a peering (P1) the service admits the function's group on 443 only; an
    address of the peer VPC nobody holds and one outside both VPCs stop at the peering
    or the route table, with the same reason and rule in reach as in trace; an inactive
    peering carries nothing."""
    topo = network({"peerings": {"pcx-1": {"active": active}}}, base=PEERED)
    src = _endpoint(topo, "lambda:f")
    lo, hi = client_ports(topo, src)
    assert same_block(Reach(topo), topo, src, dst, TCP, port, lo) is None


def test_item9_reach_and_trace_agree_on_an_appliance_route():
    """A route to an interface with source/destination check on (and one to a transit
    gateway, not emulated): reach stops where trace stops, for the same reason and rule."""
    from test_item8_element_tables import appliance
    topo = appliance()
    src = _endpoint(topo, "instance:h")
    r = Reach(topo)
    for dst in ("192.168.1.1", "172.16.0.1", "10.0.2.20", "8.8.8.8"):
        for proto in (TCP, ICMP):
            assert same_block(r, topo, src, dst, proto, 443, 40000) is None

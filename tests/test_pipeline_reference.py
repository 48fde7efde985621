"""Whole traces against the naive per-hop reference (tests/reference_walk.py) on random
small topologies: verdict, reply verdict, reason and drop location must agree.

Topologies are drawn as the native YAML (one VPC, 1-3 subnets each with its own route
table whose default route goes to the internet gateway, the NAT gateway, an instance's
ENI, a blackhole or nowhere; an optional NAT gateway, instance routed to (source/dest
check on or off: a NAT instance) and S3 gateway endpoint; random network ACLs and
security groups; one function in 1-2 subnets; 1-2 hosts; internet hosts), loaded by the
loader, then traced from every kind of source netemu knows."""

from __future__ import annotations

import ipaddress
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_walk import Flow, RefResult, reference_trace
from strategies import EIP, INTERNET, PORTS, SPORTS, examples, topologies

import netemu
from netemu.io.yaml_loader import load_yaml
from netemu.packet import ICMP, TCP, UDP

IP = ipaddress.IPv4Address
_TMP = Path(tempfile.mkdtemp(prefix="netemu-ref-"))


def load_text(text: str, name: str = "topo.yaml"):
    path = _TMP / name
    path.write_text(text)
    return load_yaml(path)


@st.composite
def flows(draw, doc: dict, topo) -> Flow:
    """A source kind and a destination that make sense in this topology."""
    hosts = doc["hosts"]
    fn = doc["functions"]["fn"]
    public_hosts = [h for h, b in hosts.items() if "public_ip" in b]
    hp_ips = sorted(str(e.private_ip) for e in topo.enis.values() if e.kind == "lambda")
    kinds = ["fn-host", "fn-internet", "host-host", "host-internet", "host-fn", "dns"]
    if public_hosts:
        kinds += ["internet-host", "internet-host"]
    if "nat_gateways" in doc:
        kinds.append("internet-nat")
    kind = draw(st.sampled_from(kinds))
    proto = draw(st.sampled_from([TCP, TCP, UDP, ICMP]))
    # mostly the service ports the rules name, so that flows get past the first rules
    port = draw(st.sampled_from([443] * 8 + [5432, 53, 22] * 3 + PORTS)
                | st.integers(0, 65535))
    sport = draw(st.sampled_from(SPORTS) | st.integers(1024, 65535))
    subnet = draw(st.sampled_from(fn["subnets"]))
    host = draw(st.sampled_from(sorted(hosts)))
    other = draw(st.sampled_from(sorted(hosts)))
    inet = draw(st.sampled_from(sorted(INTERNET)))
    if kind == "fn-host":
        return Flow("lambda", "fn", IP(hosts[host]["ip"]), proto, port, sport, subnet)
    if kind == "fn-internet":
        return Flow("lambda", "fn", IP(INTERNET[inet]), proto, port, sport, subnet)
    if kind == "host-host":
        return Flow("host", host, IP(hosts[other]["ip"]), proto, port, sport)
    if kind == "host-internet":
        return Flow("host", host, IP(INTERNET[inet]), proto, port, sport)
    if kind == "host-fn":
        return Flow("host", host, IP(draw(st.sampled_from(hp_ips))), proto, port, sport)
    if kind == "dns":
        dst = IP(draw(st.sampled_from(["10.0.0.2", "169.254.169.253", "169.254.169.254"])))
        if draw(st.booleans()):
            return Flow("lambda", "fn", dst, proto, port, sport, subnet)
        return Flow("host", host, dst, proto, port, sport)
    inet = draw(st.sampled_from(["inet-a", "inet-b"]))
    if kind == "internet-nat":
        return Flow("internet", inet, IP(EIP), proto, port, sport)
    pub = draw(st.sampled_from(public_hosts))
    return Flow("internet", inet, IP(hosts[pub]["public_ip"]), proto, port, sport)


# ---- running both sides ------------------------------------------------------------------
_TRANSLATION = re.compile(r"source \S+?:(\d+) -> \S+?:(\d+)")


def _nat_ports(hops: list[dict]) -> dict[str, int | None]:
    """The ports the Hyperplane NAT, the NAT gateway and a NAT instance picked for the
    request."""
    ports: dict[str, int | None] = {"hyperplane-nat": None, "nat-gateway": None,
                                    "nat-instance": None}
    for h in hops:
        if h["direction"] == "request" and h["kind"] in ports:
            m = _TRANSLATION.search(h["translation"] or "")     # null: no translation
            if m:
                ports[h["kind"]] = int(m.group(2))
    return ports


def netemu_source(topo, flow: Flow) -> str:
    if flow.src_kind == "lambda":
        return f"lambda:{flow.src}@{flow.subnet}" if flow.subnet else f"lambda:{flow.src}"
    if flow.src_kind == "host":
        return f"host:{flow.src}"
    return str(topo.hosts[flow.src].ip)


def both(topo, flow: Flow) -> tuple[tuple, RefResult, dict]:
    result = netemu.trace(topo, netemu_source(topo, flow), str(flow.dst), proto=flow.proto,
                          port=flow.port, sport=flow.sport, fix=False)
    j = result.to_json()
    ports = _nat_ports(j["hops"])
    if flow.proto in (TCP, UDP):
        for p in ports.values():        # G1, L3, N6: a NAT picks a port in 1024-65535
            assert p is None or 1024 <= p <= 65535, ports
    ref = reference_trace(topo, flow, hyperplane_port=ports["hyperplane-nat"],
                          nat_port=ports["nat-gateway"],
                          nat_instance_port=ports["nat-instance"])
    got = (j["verdict"], j["reply_verdict"], j["reason"], j["dropped_at"])
    return got, ref, j


def _explain(doc_text: str, flow: Flow, got: tuple, ref: RefResult, j: dict) -> str:
    hops = "\n".join(f"  {h['direction']:7} {h['element']:45} {h['decision']:22} "
                     f"{h['rule'] or ''} {h['translation'] or ''} {h['reason'] or ''}"
                     for h in j["hops"])
    return (f"\nflow {flow}\nnetemu    {got}\nreference {ref.key()}\n{hops}\n"
            f"--- topology ---\n{doc_text}")


def check(doc: dict, topo, flow: Flow, doc_text: str = "") -> None:
    got, ref, j = both(topo, flow)
    assert got == ref.key(), _explain(doc_text or yaml.safe_dump(doc), flow, got, ref, j)


# ---- the property -------------------------------------------------------------------------
@settings(max_examples=examples(200), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), doc=topologies())
def test_trace_matches_reference(data, doc):
    text = yaml.safe_dump(doc, sort_keys=False)
    topo = load_text(text)
    for _ in range(4):
        flow = data.draw(flows(doc, topo))
        got, ref, j = both(topo, flow)
        if ref.reply_source_changed:
            # an answer from another address (an inbound connection's reply leaving
            # through a NAT gateway) answers nothing
            assert got[:3] == (ref.verdict, "dropped", "REPLY_SOURCE_CHANGED"), _explain(
                text, flow, got, ref, j)
            continue
        assert got == ref.key(), _explain(text, flow, got, ref, j)


# ---- pinned cases --------------------------------------------------------------------------
BASE = """
vpc: v
cidr: 10.0.0.0/16
internet_gateway: igw
subnets:
  public-a:  {cidr: 10.0.0.0/24, route_table: public}
  private-a: {cidr: 10.0.10.0/24, route_table: private, acl: app}
  private-b: {cidr: 10.0.11.0/24, route_table: private, acl: app}
  private-c: {cidr: 10.0.12.0/24, route_table: private}
route_tables:
  public:  {0.0.0.0/0: igw}
  private: {0.0.0.0/0: nat-a}
nat_gateways:
  nat-a: {subnet: public-a, elastic_ip: 54.0.0.10}
network_acls:
  app:
    inbound:  ["100 allow tcp 443 from 0.0.0.0/0", "110 allow tcp 5432 from 10.0.0.0/16"]
    outbound: ["100 allow tcp 443 to 0.0.0.0/0", "110 allow tcp 5432 to 10.0.0.0/16"]
security_groups:
  fn: {egress: ["all to 0.0.0.0/0"]}
  db: {ingress: ["tcp 5432 from sg:fn"]}
  web: {ingress: ["tcp 443 from 0.0.0.0/0"]}
functions:
  orders: {subnets: [private-a, private-b], security_groups: [fn]}
  webhook: {subnets: [public-a], security_groups: [fn]}
hosts:
  db-1: {subnet: private-a, ip: 10.0.10.25, security_groups: [db]}
  db-2: {subnet: private-b, ip: 10.0.11.25, security_groups: [db]}
  web-1: {subnet: public-a, ip: 10.0.0.30, public_ip: 54.0.1.30, security_groups: [web]}
  app-1: {subnet: private-c, ip: 10.0.12.40, public_ip: 54.0.1.40, security_groups: [web]}
internet:
  api.example.com: 203.0.113.10
"""


@pytest.fixture(scope="module")
def base():
    return load_text(BASE, "base.yaml")


def _pinned(topo, flow: Flow, expected: tuple) -> None:
    got, ref, j = both(topo, flow)
    assert ref.key() == expected, _explain(BASE, flow, got, ref, j)
    assert got == expected, _explain(BASE, flow, got, ref, j)


def test_same_subnet_skips_nacl(base):
    """N1: the app ACL admits no ephemeral ports, yet the reply within one subnet passes;
    across subnets the same reply is dropped by the ACL."""
    same = Flow("lambda", "orders", IP("10.0.10.25"), TCP, 5432, subnet="private-a")
    _pinned(base, same, ("delivered", "delivered", None, None))
    cross = Flow("lambda", "orders", IP("10.0.10.25"), TCP, 5432, subnet="private-b")
    _pinned(base, cross, ("delivered", "dropped", "SUBNET_ACL_RESTRICTION", "app"))


def test_reply_dropped_by_nacl_without_ephemeral_ports(base):
    """N2, N6: HTTPS leaves through the NAT gateway; its reply to an ephemeral port is
    denied by the private subnet's ACL."""
    flow = Flow("lambda", "orders", IP("203.0.113.10"), TCP, 443, subnet="private-a")
    _pinned(base, flow, ("delivered", "dropped", "SUBNET_ACL_RESTRICTION", "app"))


def test_function_in_public_subnet_dropped_at_igw(base):
    """L4, I1: a Hyperplane ENI never has a public IPv4."""
    for proto in (TCP, UDP, ICMP):
        flow = Flow("lambda", "webhook", IP("203.0.113.10"), proto, 443)
        _pinned(base, flow, ("dropped", None, "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS", "igw"))


def test_connection_into_function_refused(base):
    """L5: even with the security group open, nothing opens a connection into a function."""
    text = BASE.replace('fn: {egress: ["all to 0.0.0.0/0"]}',
                        'fn: {egress: ["all to 0.0.0.0/0"], ingress: ["all from 0.0.0.0/0"]}')
    topo = load_text(text, "open-fn.yaml")
    hp = topo.hyperplane_eni("public-a", ["fn"])
    flow = Flow("host", "web-1", hp.private_ip, TCP, 8080)
    _pinned(topo, flow, ("dropped", None, "LAMBDA_INBOUND_NOT_SUPPORTED", hp.id))
    # with the group closed, its security group drops it first
    hp = base.hyperplane_eni("public-a", ["fn"])
    flow = Flow("host", "web-1", hp.private_ip, TCP, 8080)
    _pinned(base, flow, ("dropped", None, "SG_HAS_NO_RULES", "fn"))


def test_internet_to_public_host(base):
    """I1 both ways, S3: the tracked reply leaves through the security group."""
    flow = Flow("internet", "api.example.com", IP("54.0.1.30"), TCP, 443)
    _pinned(base, flow, ("delivered", "delivered", None, None))


def test_internet_to_nat_gateway_refused(base):
    """G5: no inbound connections through a NAT gateway."""
    flow = Flow("internet", "api.example.com", IP("54.0.0.10"), TCP, 443)
    _pinned(base, flow, ("dropped", None, "NGW_NO_INBOUND", "nat-a"))


def test_function_resolver_exempt(base):
    """S6: the Amazon resolver answers whatever the ACL (no UDP 53 in app) says."""
    flow = Flow("lambda", "orders", IP("10.0.0.2"), UDP, 53, subnet="private-a")
    _pinned(base, flow, ("delivered", "delivered", None, None))


def test_reply_via_nat_is_no_answer(base):
    """G1, I1: app-1 has a public IP but its subnet routes 0.0.0.0/0 to a NAT gateway: the
    reply reaches the client from the NAT's Elastic IP, which answers nothing."""
    flow = Flow("internet", "api.example.com", IP("54.0.1.40"), TCP, 443)
    got, ref, j = both(base, flow)
    assert ref.reply_source_changed
    assert got == ("delivered", "dropped", "REPLY_SOURCE_CHANGED", "nat-a"), _explain(
        BASE, flow, got, ref, j)


def test_sg_with_only_memberless_references_has_rules():
    """A group whose only rule references a group no ENI carries still has rules."""
    text = """
vpc: v
cidr: 10.0.0.0/16
subnets:
  a: {cidr: 10.0.1.0/24}
security_groups:
  db: {ingress: ["tcp 5432 from sg:app"]}
  app: {}
hosts:
  db-1: {subnet: a, ip: 10.0.1.10, security_groups: [db]}
  client: {subnet: a, ip: 10.0.1.11}
"""
    topo = load_text(text, "memberless.yaml")
    flow = Flow("host", "client", IP("10.0.1.10"), TCP, 5432)
    got, ref, j = both(topo, flow)
    assert ref.key() == ("dropped", None, "ENI_SG_RULES_MISMATCH", "db")
    assert got == ref.key(), _explain(text, flow, got, ref, j)

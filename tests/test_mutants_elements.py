"""issue 8, mutation testing: scenarios for what mutmut showed no test looked at in
netemu/dataplane/elements/ (see tests/mutation.md). Each expectation is derived from
the AWS behaviour named, through public results (trace), not from program output."""

from __future__ import annotations

import json
import shutil

from conftest import PEERED, ROOT, flow

import netemu


def test_mutants_peering_not_active_carries_nothing(network):
    """A peering connection that is not active (not yet accepted, or deleted) carries no
    traffic: the route to it leads nowhere, and the drop is at the connection."""
    topo = network({"peerings": {"pcx-1": {"active": False}}}, base=PEERED)
    out = flow(topo, "lambda:f", "10.1.1.10")
    assert (out["verdict"], out["dropped_in"]) == ("dropped", "request")
    assert (out["reason"], out["dropped_at"]) == ("CANNOT_ROUTE", "pcx-1")
    # and active, the same flow goes through it to the host, both ways
    out = flow(network(base=PEERED), "lambda:f", "10.1.1.10")
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    kinds = [h["kind"] for h in out["hops"] if h["direction"] == "request"]
    assert kinds.index("vpc-peering") < kinds.index("eni-ingress")


def test_mutants_peering_enters_the_subnet_that_holds_the_destination(network):
    """Across the peering the packet goes to the interface that owns the destination in
    the peer VPC; an address of the peer VPC that no interface holds finds nobody."""
    topo = network(base=PEERED)
    out = flow(topo, "lambda:f", "10.1.1.10")
    ingress = [h for h in out["hops"] if h["kind"] == "eni-ingress"]
    assert ingress and ingress[0]["rule"].startswith("svc ingress")
    out = flow(topo, "lambda:f", "10.1.1.99")
    assert (out["verdict"], out["reply_verdict"]) == ("dropped", None)
    assert (out["reason"], out["dropped_at"]) == ("UNKNOWN_DESTINATION", "pcx-1")
    # the peering carries only the two VPCs' own addresses (no transitive routing)
    out = flow(network({"vpcs": {"app": {"route_tables": {"rt-app": {
        "192.168.0.0/16": "pcx-1"}}}}}, base=PEERED), "lambda:f", "192.168.1.1")
    assert (out["reason"], out["dropped_at"]) == ("UNKNOWN_DESTINATION", "pcx-1")


def _snapshot_with_route(tmp_path, route: dict):
    src = ROOT / "tests" / "data" / "snapshot-rds"
    dst = tmp_path / "snap"
    shutil.copytree(src, dst)
    path = next(dst.rglob("route-tables.json"))
    doc = json.loads(path.read_text())
    doc["RouteTables"][0]["Routes"].append(route)
    path.write_text(json.dumps(doc))
    return netemu.load(dst)


def test_mutants_route_to_a_transit_gateway_is_not_followed(tmp_path):
    """A transit gateway is a valid route target (R3) that netemu does not model: what
    lies behind it is unknown, so a packet routed there is CANNOT_ROUTE at the gateway,
    not delivered and not blamed on the route table."""
    topo = _snapshot_with_route(tmp_path, {"DestinationCidrBlock": "192.168.0.0/16",
                                           "TransitGatewayId": "tgw-0123456789abcdef0",
                                           "Origin": "CreateRoute", "State": "active"})
    out = flow(topo, "instance:orders-db", "192.168.1.1", port=5432)   # egress: all
    assert (out["verdict"], out["reason"]) == ("dropped", "CANNOT_ROUTE")
    assert out["dropped_at"] == "tgw-0123456789abcdef0"


def test_mutants_outbound_acl_reject_is_logged_at_the_interface_it_left(tmp_path):
    """F1, F4: a request the subnet's outbound ACL refuses is logged REJECT on the
    interface it left from (for a function, its Hyperplane ENI, with the ENI's address
    as the source), for every packet the environment sent."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import Ether  # noqa: F401  (registers Ethernet for rdpcap)
    from scapy.utils import rdpcap
    from typer.testing import CliRunner

    from netemu.cli import app

    text = (ROOT / "topologies" / "lambda-nat-internet.yaml").read_text()
    closed = text.replace('outbound: ["100 allow all to 0.0.0.0/0"]',
                          'outbound: ["100 allow all to 10.0.0.0/16"]')
    assert closed != text
    topo_path = tmp_path / "closed.yaml"
    topo_path.write_text(closed)
    runner = CliRunner()
    r = runner.invoke(app, ["workload", str(topo_path), "--function", "orders", "--to",
                            "api.example.com", "--concurrency", "1", "--connections", "1",
                            "--hold", "1", "--duration", "1", "-o", str(tmp_path / "w.pcap")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["replay", str(topo_path), str(tmp_path / "w.pcap"),
                            "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    topo = netemu.load(topo_path)
    sent = [p for p in rdpcap(str(tmp_path / "w.pcap"))
            if p[IP].dst == "203.0.113.10"]                # what the environment sent
    env_enis = {e.eni for e in topo.environments.values()}
    rejects, accepts = [], []
    for log in (tmp_path / "out" / "flowlogs").iterdir():
        for line in log.read_text().splitlines()[1:]:
            f = line.split()
            (rejects if f[12] == "REJECT" else accepts).append((f[2], f[3], f[4], int(f[8])))
    assert rejects, "no REJECT record"
    # the groups let the packets out, the ACL stopped them: one REJECT, never an ACCEPT too
    assert not [a for a in accepts if a[2] == "203.0.113.10"]
    assert {eni for eni, *_ in rejects} <= env_enis
    eni = rejects[0][0]
    assert {(src, dst) for _, src, dst, _ in rejects} == {
        (str(topo.enis[eni].private_ip), "203.0.113.10")}
    assert sum(n for *_, n in rejects) == len(sent)


def test_mutants_acl_hops_say_allow_and_name_their_rule():
    """N3: an ACL that lets a packet through does so by a numbered rule; the trace says
    `allow` at both ACL hops and names the rule that matched."""
    out = flow(netemu.load(ROOT / "topologies" / "lambda-nat-internet.yaml"),
               "lambda:orders@private-a", "api.example.com")
    acl = [h for h in out["hops"] if h["kind"] in ("acl-outbound", "acl-inbound")]
    assert acl and all(h["decision"] == "allow" for h in acl)
    assert {h["rule"] for h in acl if h["direction"] == "request"} == {
        "app rule 100 allow all to 0.0.0.0/0",
        "app-default-acl rule 100 allow all from 0.0.0.0/0",
        "app-default-acl rule 100 allow all to 0.0.0.0/0"}
    back = [h["rule"] for h in acl if h["direction"] == "reply"
            and h["element"].startswith("acl-inbound:private-a")]
    assert back == ["app rule 100 allow tcp 1024-65535 from 0.0.0.0/0"]

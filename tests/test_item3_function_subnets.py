"""Issue 7, item 3: a function is all of its subnets.

Invocations land in any subnet (AZ) of the function (L7), so `--from lambda:NAME` is
traced from every one: the flow works only if it works from all of them, a drop names the
subnet and AZ, and a fix is written for every subnet (subnet CIDRs or security groups,
never a Hyperplane ENI's /32, which Lambda replaces; the AZ's own NAT gateway first) and
verified from every subnet. Expectations are derived by hand from the topologies."""

from __future__ import annotations

import json

import yaml
from conftest import TOPOLOGIES, flow, merge
from typer.testing import CliRunner

import netemu
from netemu.cli import app

TWO_AZ = TOPOLOGIES / "lambda-two-az-missing-nat.yaml"


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_item3_second_az_without_nat_route_is_dropped_naming_subnet_and_az():
    # private-a routes 0.0.0.0/0 to nat-a; private-b's route table has no route at all
    out = flow(netemu.load(TWO_AZ), "lambda:orders", "api.example.com")
    assert out["verdict"] == "dropped"
    assert out["dropped_from"] == {"subnet": "private-b", "az": "us-east-1b"}
    assert (out["reason"], out["dropped_at"]) == ("NO_ROUTE_TO_DESTINATION", "private-b")
    by_subnet = {s["subnet"]: s for s in out["subnets"]}
    assert list(by_subnet) == ["private-a", "private-b"]
    a, b = by_subnet["private-a"], by_subnet["private-b"]
    assert (a["az"], a["verdict"], a["reply_verdict"], a["reason"]) == (
        "us-east-1a", "delivered", "delivered", None)
    assert (b["az"], b["verdict"], b["reply_verdict"], b["reason"], b["dropped_at"]) == (
        "us-east-1b", "dropped", None, "NO_ROUTE_TO_DESTINATION", "private-b")
    # each subnet is its own environment, NATed onto its own Hyperplane ENI
    assert a["source_ip"] != b["source_ip"]
    assert any(h["kind"] == "nat-gateway" for h in a["hops"])
    assert not any(h["kind"] == "nat-gateway" for h in b["hops"])


def test_item3_fix_routes_to_the_nat_gateway_of_the_subnets_own_az():
    # nat-a sorts first, but private-b is in us-east-1b, where nat-b is
    out = flow(netemu.load(TWO_AZ), "lambda:orders", "api.example.com")
    assert out["fix"] == ["add route 0.0.0.0/0 -> nat-b to route table private-b"]
    assert (out["fix_verified"], out["fix_status"]) == (True, "verified")


def test_item3_fix_falls_back_to_another_az_when_the_az_has_no_nat(tmp_path):
    data = yaml.safe_load(TWO_AZ.read_text())
    del data["nat_gateways"]["nat-b"]
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    out = flow(netemu.load(path), "lambda:orders", "api.example.com")
    assert out["fix"] == ["add route 0.0.0.0/0 -> nat-a to route table private-b"]
    assert out["fix_verified"] is True


def test_item3_the_fix_works_from_every_subnet_when_traced_again(tmp_path):
    data = yaml.safe_load(TWO_AZ.read_text())
    data["route_tables"]["private-b"] = {"0.0.0.0/0": "nat-b"}      # the fix, by hand
    path = tmp_path / "fixed.yaml"
    path.write_text(yaml.safe_dump(data))
    out = flow(netemu.load(path), "lambda:orders", "api.example.com")
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    assert [(s["subnet"], s["verdict"], s["reply_verdict"]) for s in out["subnets"]] == [
        ("private-a", "delivered", "delivered"), ("private-b", "delivered", "delivered")]
    nat_b = [h for h in out["subnets"][1]["hops"] if h["kind"] == "nat-gateway"]
    assert nat_b and nat_b[0]["resource"] == "nat-b"


def test_item3_at_subnet_traces_just_that_subnet():
    topo = netemu.load(TWO_AZ)
    a = flow(topo, "lambda:orders@private-a", "api.example.com")
    assert a["verdict"] == a["reply_verdict"] == "delivered"
    assert [s["subnet"] for s in a["subnets"]] == ["private-a"]
    b = flow(topo, "lambda:orders@private-b", "api.example.com")
    assert [s["subnet"] for s in b["subnets"]] == ["private-b"]
    assert b["reason"] == "NO_ROUTE_TO_DESTINATION"


def test_item3_cli_exit_codes_json_and_text():
    r = cli("trace", TWO_AZ, "--from", "lambda:orders", "--to", "api.example.com", "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["verdict"] == "dropped" and len(out["subnets"]) == 2
    r = cli("trace", TWO_AZ, "--from", "lambda:orders@private-a", "--to", "api.example.com")
    assert r.exit_code == 0
    r = cli("trace", TWO_AZ, "--from", "lambda:orders", "--to", "api.example.com")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert "private-a in us-east-1a: delivered both ways" in [x.strip() for x in lines]
    assert any(x.strip().startswith("private-b in us-east-1b: dropped (request) at private-b")
               for x in lines)
    assert any(x.startswith("dropped from subnet private-b in us-east-1b") for x in lines)
    r = cli("trace", TOPOLOGIES / "lambda-nat-internet.yaml", "--from", "lambda:orders",
            "--to", "api.example.com")
    assert r.exit_code == 0 and "delivered both ways from every subnet" in r.stdout


# the database subnet's ACL was written for private-a's CIDR only
ACL_FOR_A = {
    "network_acls": {"data": {"inbound": ["100 allow tcp 5432 from 10.0.10.0/24"],
                              "outbound": ["100 allow tcp 1024-65535 to 10.0.10.0/24"]}},
    "subnets": {"data-a": {"acl": "data"}},
}
DB = "db-1.abc.us-east-1.rds.amazonaws.com"


def test_item3_acl_fix_names_the_subnet_cidr_not_the_hyperplane_eni(network):
    topo = network(ACL_FOR_A)
    out = flow(topo, "lambda:orders", DB, port=5432)
    assert out["dropped_from"] == {"subnet": "private-b", "az": "us-east-1b"}
    assert (out["reason"], out["dropped_at"]) == ("SUBNET_ACL_RESTRICTION", "data")
    # below the * rule, after rule 100: number 110; the peer is private-b's CIDR
    assert out["fix"] == [
        'add inbound rule "110 allow tcp 5432 from 10.0.11.0/24" to network ACL data',
        'add outbound rule "110 allow tcp 1024-65535 to 10.0.11.0/24" to network ACL data']
    assert out["fix_verified"] is True
    fixed = network(merge(ACL_FOR_A, {"network_acls": {"data": {
        "inbound": ["100 allow tcp 5432 from 10.0.10.0/24",
                    "110 allow tcp 5432 from 10.0.11.0/24"],
        "outbound": ["100 allow tcp 1024-65535 to 10.0.10.0/24",
                     "110 allow tcp 1024-65535 to 10.0.11.0/24"]}}}))
    again = flow(fixed, "lambda:orders", DB, port=5432)
    assert [s["reply_verdict"] for s in again["subnets"]] == ["delivered", "delivered"]


PEERED = {
    "vpcs": {
        "app": {"cidr": "10.0.0.0/16",
                "subnets": {"a1": {"cidr": "10.0.1.0/24", "az": "us-east-1a",
                                   "route_table": "rt-app"},
                            "a2": {"cidr": "10.0.2.0/24", "az": "us-east-1b",
                                   "route_table": "rt-app"}},
                "route_tables": {"rt-app": {"10.1.0.0/16": "pcx-1"}},
                "security_groups": {"fn": {}}},
        "shared": {"cidr": "10.1.0.0/16",
                   "subnets": {"b": {"cidr": "10.1.1.0/24", "route_table": "rt-shared"}},
                   "route_tables": {"rt-shared": {"10.0.0.0/16": "pcx-1"}},
                   "security_groups": {"svc": {"ingress": ["tcp 443 from 10.0.1.0/24"]}}},
    },
    "peerings": {"pcx-1": {"requester": "app", "accepter": "shared"}},
    "functions": {"f": {"subnets": ["a1", "a2"], "security_groups": ["fn"]}},
    "hosts": {"svc-1": {"subnet": "b", "ip": "10.1.1.10", "security_groups": ["svc"]}},
}


def test_item3_sg_fix_across_peering_names_the_subnet_not_the_eni(network):
    topo = network(base=PEERED)
    out = flow(topo, "lambda:f", "10.1.1.10")
    assert out["dropped_from"] == {"subnet": "a2", "az": "us-east-1b"}
    assert (out["reason"], out["dropped_at"]) == ("ENI_SG_RULES_MISMATCH", "svc")
    assert out["fix"] == ['add ingress rule "tcp 443 from 10.0.2.0/24" to security group svc']
    assert out["fix_verified"] is True
    hyperplane = {str(e.private_ip) for e in topo.enis.values() if e.kind == "lambda"}
    assert not any(f"{ip}/32" in f for ip in hyperplane for f in out["fix"])

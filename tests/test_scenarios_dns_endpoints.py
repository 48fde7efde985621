"""Endpoints (E1, E2) and DNS (D1-D3), one scenario each, plus the shipped topologies."""

from __future__ import annotations

import pytest
from conftest import TOPOLOGIES, flow, merge

import netemu
from netemu.errors import InputError

SECRETS = "secretsmanager.us-east-1.amazonaws.com"
ENDPOINT = {"endpoints": {"vpce-secrets": {
    "service": "secretsmanager", "subnets": ["private-a", "private-b"],
    "security_groups": ["endpoint"], "private_dns": True}},
    "security_groups": {"endpoint": {"ingress": ["tcp 443 from sg:fn"]}}}


def test_E1_gateway_endpoint_reaches_s3_without_nat(network):
    topo = network({"route_tables": {"private": {"0.0.0.0/0": None, "s3": "vpce-s3"}},
                    "endpoints": {"vpce-s3": {"service": "s3"}}})
    out = flow(topo, "lambda:orders", "s3.us-east-1.amazonaws.com")
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    assert not any(h["kind"] == "nat-gateway" for h in out["hops"])


def test_E1_gateway_endpoint_for_dynamodb_and_policy_deny(network):
    topo = network({"route_tables": {"private": {"dynamodb": "vpce-ddb"}},
                    "endpoints": {"vpce-ddb": {"service": "dynamodb", "policy": "deny"}}})
    out = flow(topo, "lambda:orders", "dynamodb.us-east-1.amazonaws.com")
    assert (out["reason"], out["dropped_at"]) == ("VPCE_POLICY_RESTRICTION", "vpce-ddb")
    assert out["fix_verified"] is True


def test_E1_gateway_endpoints_exist_for_s3_and_dynamodb_only(network):
    with pytest.raises(InputError, match="s3 and dynamodb only"):
        network({"endpoints": {"vpce-sqs": {"service": "sqs", "type": "gateway"}}})


def test_E2_private_dns_resolves_to_the_endpoint_eni_in_the_same_az(network):
    topo = network(ENDPOINT)
    a = flow(topo, "lambda:orders@private-a", SECRETS)
    b = flow(topo, "lambda:orders@private-b", SECRETS)
    assert a["verdict"] == a["reply_verdict"] == "delivered"
    eni_a = topo.enis["eni-vpce-secrets-private-a"]
    eni_b = topo.enis["eni-vpce-secrets-private-b"]
    assert (a["destination"]["ip"], b["destination"]["ip"]) == (
        str(eni_a.private_ip), str(eni_b.private_ip))
    assert a["hops"][-len([h for h in a["hops"] if h["direction"] == "reply"]) - 1][
        "kind"] == "endpoint-service"


def test_E2_endpoint_group_must_admit_the_clients(network):
    topo = network({**ENDPOINT, "security_groups": {"endpoint": {"ingress": []}}})
    out = flow(topo, "lambda:orders", SECRETS)
    assert (out["reason"], out["dropped_at"]) == ("SG_HAS_NO_RULES", "endpoint")


def test_E2_without_private_dns_the_public_name_needs_nat(network):
    no_dns = merge(ENDPOINT, {"endpoints": {"vpce-secrets": {"private_dns": False}}})
    out = flow(network(no_dns), "lambda:orders", SECRETS)
    assert out["destination"]["what"] == "public endpoint of AWS secretsmanager"
    assert any(h["kind"] == "nat-gateway" for h in out["hops"])
    no_nat = merge(no_dns, {"route_tables": {"private": {"0.0.0.0/0": None}}})
    assert flow(network(no_nat), "lambda:orders", SECRETS)["reason"] == \
        "NO_ROUTE_TO_DESTINATION"


def test_D1_resolver_at_base_plus_two_and_dns_support_off(network):
    topo = network()
    assert str(topo.vpcs["app"].resolver_ip) == "10.0.0.2"
    out = flow(topo, "lambda:orders", "10.0.0.2", proto="udp", port=53)
    assert out["reply_verdict"] == "delivered"
    topo = network({"dns_support": False})
    with pytest.raises(InputError, match="enableDnsSupport"):
        flow(topo, "lambda:orders", "api.example.com")


def test_D2_custom_dns_servers_cannot_answer_private_names(network):
    topo = network({**ENDPOINT, "dns_servers": ["10.0.0.53"],
                    "hosts": {"web-1": {"dns": "web.app.internal"}}})
    with pytest.raises(InputError, match="custom DNS servers"):
        flow(topo, "lambda:orders", "web.app.internal")
    out = flow(topo, "lambda:orders", SECRETS)       # no private DNS: the public address
    assert out["destination"]["what"] == "public endpoint of AWS secretsmanager"


def test_D3_rds_name_resolves_to_its_private_ip(network):
    topo = network()
    out = flow(topo, "lambda:orders", "db-1.abc.us-east-1.rds.amazonaws.com", port=5432)
    assert out["destination"]["ip"] == "10.0.20.25"
    assert out["verdict"] == out["reply_verdict"] == "delivered"


@pytest.mark.parametrize("name, src, dst, port, verdict, reply, reason", [
    ("lambda-no-vpc", "lambda:thumbnails", "api.example.com", 443, "delivered",
     "delivered", None),
    ("lambda-no-vpc", "lambda:thumbnails", "10.0.10.25", 5432, "dropped", None,
     "LAMBDA_NOT_IN_VPC"),
    ("lambda-nat-internet", "lambda:orders", "api.example.com", 443, "delivered",
     "delivered", None),
    ("lambda-public-subnet", "lambda:webhook", "api.example.com", 443, "dropped", None,
     "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS"),
    ("lambda-rds-sg-reference", "lambda:orders",
     "orders-db.c9akciq32.us-east-1.rds.amazonaws.com", 5432, "delivered", "delivered", None),
    ("lambda-s3-gateway-endpoint", "lambda:ingest", "s3.us-east-1.amazonaws.com", 443,
     "delivered", "delivered", None),
    ("lambda-secrets-interface-endpoint", "lambda:rotate", SECRETS, 443, "delivered",
     "delivered", None),
    ("lambda-nacl-no-ephemeral", "lambda:billing", "api.example.com", 443, "delivered",
     "dropped", "SUBNET_ACL_RESTRICTION"),
])
def test_shipped_topologies(name, src, dst, port, verdict, reply, reason):
    out = flow(netemu.load(TOPOLOGIES / f"{name}.yaml"), src, dst, port=port)
    assert (out["verdict"], out["reply_verdict"], out["reason"]) == (verdict, reply, reason)


def test_snapshot_and_yaml_trace_alike():
    """The same network from AWS CLI JSON and from YAML gives the same hops."""
    snapshot = netemu.load(TOPOLOGIES.parent / "tests" / "data" / "snapshot-rds")
    native = netemu.load(TOPOLOGIES / "lambda-rds-sg-reference.yaml")
    name = "orders-db.c9akciq32.us-east-1.rds.amazonaws.com"
    a, b = (flow(t, "lambda:orders", name, port=5432) for t in (snapshot, native))
    assert a["verdict"] == b["verdict"] == a["reply_verdict"] == b["reply_verdict"] == \
        "delivered"
    assert [h["kind"] for h in a["hops"]] == [h["kind"] for h in b["hops"]]

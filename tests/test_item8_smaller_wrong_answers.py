"""Issue 7, item 8: smaller wrong answers found on the way (one test per bullet, the
0-packet flow-log record excepted: see the flow-log tests)."""

from __future__ import annotations

import ipaddress
import json

import pytest
from conftest import TOPOLOGIES, flow
from scapy.layers.inet import IP  # noqa: F401  (registers the dissectors)
from scapy.utils import rdpcap
from typer.testing import CliRunner

import netemu
from netemu.apps.replay import replay
from netemu.apps.workload import generate_workload
from netemu.cli import app
from netemu.errors import InputError
from netemu.io.pcap_writer import write_pcap
from netemu.model import aws_services


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# ---- --to lambda:NAME ----------------------------------------------------------------

def test_item8_to_lambda_is_inbound_not_supported(network):
    topo = network({"security_groups": {"fn": {"ingress": ["all from 0.0.0.0/0"]}}})
    eni_a = topo.environments["orders/private-a"].eni
    # web-1 sits in us-east-1a: the function's Hyperplane ENI there is what it could address
    out = flow(topo, "instance:web-1", "lambda:orders", port=8080)
    assert (out["verdict"], out["reason"]) == ("dropped", "LAMBDA_INBOUND_NOT_SUPPORTED")
    assert out["dropped_at"] == eni_a
    assert out["destination"]["ip"] == str(topo.enis[eni_a].private_ip)
    assert out["fix"] == [] and out["fix_status"] == "none" and "(L5)" in out["fix_note"]
    # even when its groups admit nothing (the usual case), the answer is L5, not the group
    out = flow(network(), "api.example.com", "lambda:orders")
    assert out["reason"] == "LAMBDA_INBOUND_NOT_SUPPORTED"
    out = flow(network({"functions": {"thumbs": {}}}), "instance:web-1", "lambda:thumbs")
    assert (out["reason"], out["dropped_at"]) == ("LAMBDA_INBOUND_NOT_SUPPORTED", "thumbs")
    r = cli("trace", TOPOLOGIES / "lambda-nat-internet.yaml", "--from", "api.example.com",
            "--to", "lambda:orders", "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["reason"] == "LAMBDA_INBOUND_NOT_SUPPORTED"


# ---- names SDKs use ------------------------------------------------------------------

S3_USE1 = [ipaddress.IPv4Network(c) for c in
           ("52.216.0.0/15", "54.231.0.0/16", "3.5.0.0/19", "16.182.0.0/16", "18.34.0.0/19")]
PUBLIC_AWS = [c for c, _ in aws_services.aws_service_ranges()]


def _in(ip: str, nets) -> bool:
    return any(ipaddress.IPv4Address(ip) in n for n in nets)


S3_NAMES = ("s3.amazonaws.com", "s3.us-east-1.amazonaws.com", "my-bucket.s3.amazonaws.com",
            "my-bucket.s3.us-east-1.amazonaws.com",
            "logs.2026.example.s3.us-east-1.amazonaws.com")


def test_item8_sdk_s3_names_resolve_to_s3_public_ranges(network):
    topo = network()
    for name in S3_NAMES:
        out = flow(topo, "lambda:orders", name)
        assert _in(out["destination"]["ip"], S3_USE1), name
        assert out["destination"]["what"] == "public endpoint of AWS s3"
        assert out["verdict"] == out["reply_verdict"] == "delivered"     # through nat-a


def test_item8_sdk_virtual_hosted_s3_goes_through_the_gateway_endpoint(network):
    topo = network({"route_tables": {"private": {"0.0.0.0/0": None, "s3": "vpce-s3"}},
                    "endpoints": {"vpce-s3": {"service": "s3"}}})
    out = flow(topo, "lambda:orders", "orders-archive.s3.us-east-1.amazonaws.com")
    assert _in(out["destination"]["ip"], S3_USE1)          # E1: still the public address
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    assert any(h["kind"] == "vpc-endpoint" or "vpce-s3" in h["element"] for h in out["hops"])


REGIONAL = (("dynamodb.us-east-1.amazonaws.com", "dynamodb"),
            ("sts.us-east-1.amazonaws.com", "sts"), ("sts.amazonaws.com", "sts"),
            ("secretsmanager.us-east-1.amazonaws.com", "secretsmanager"),
            ("sqs.us-east-1.amazonaws.com", "sqs"),
            ("api.ecr.us-east-1.amazonaws.com", "ecr.api"),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "ecr.dkr"),
            ("sts.eu-west-1.amazonaws.com", "sts"))


def test_item8_sdk_regional_names_resolve_to_public_aws_ranges(network):
    topo = network()
    for name, service in REGIONAL:
        out = flow(topo, "lambda:orders", name)
        assert _in(out["destination"]["ip"], PUBLIC_AWS), name
        assert out["destination"]["what"].startswith(f"public endpoint of AWS {service}")
        assert out["verdict"] == out["reply_verdict"] == "delivered"
    # each Region has its own addresses
    assert flow(topo, "lambda:orders", "sts.eu-west-1.amazonaws.com")["destination"]["ip"] \
        != flow(topo, "lambda:orders", "sts.us-east-1.amazonaws.com")["destination"]["ip"]


def test_item8_sdk_names_resolve_to_interface_endpoint_with_private_dns(network):
    topo = network({"endpoints": {
        "vpce-sts": {"service": "sts", "subnets": ["private-a", "private-b"]},
        "vpce-s3i": {"service": "s3", "type": "interface", "subnets": ["private-a"]},
        "vpce-ecr": {"service": "ecr.api", "subnets": ["private-a"]}}})
    sts_a = str(topo.enis["eni-vpce-sts-private-a"].private_ip)
    sts_b = str(topo.enis["eni-vpce-sts-private-b"].private_ip)
    s3i = str(topo.enis["eni-vpce-s3i-private-a"].private_ip)
    ecr = str(topo.enis["eni-vpce-ecr-private-a"].private_ip)
    ip = lambda src, name: flow(topo, src, name, fix=False)["destination"]["ip"]  # noqa: E731
    assert ip("lambda:orders@private-a", "sts.us-east-1.amazonaws.com") == sts_a
    assert ip("lambda:orders@private-b", "sts.us-east-1.amazonaws.com") == sts_b
    assert ip("lambda:orders", "my-bucket.s3.us-east-1.amazonaws.com") == s3i
    assert ip("lambda:orders", "s3.us-east-1.amazonaws.com") == s3i
    assert ip("lambda:orders", "api.ecr.us-east-1.amazonaws.com") == ecr
    # private DNS answers the regional names only: the global ones stay public (E2)
    assert _in(ip("lambda:orders", "sts.amazonaws.com"), PUBLIC_AWS)
    assert _in(ip("lambda:orders", "s3.amazonaws.com"), S3_USE1)
    # without DNS hostnames the private zone is not used (E2), with DNS support off no
    # name resolves (D1)
    topo = network({"dns_hostnames": False, "endpoints": {
        "vpce-sts": {"service": "sts", "subnets": ["private-a"]}}})
    assert _in(flow(topo, "lambda:orders", "sts.us-east-1.amazonaws.com")["destination"]["ip"],
               PUBLIC_AWS)
    with pytest.raises(InputError, match="enableDnsSupport"):
        flow(network({"dns_support": False}), "lambda:orders", "s3.amazonaws.com")


def test_item8_sdk_unknown_names_are_a_clear_error(network):
    topo = network()
    for name in ("nosuchservice.us-east-1.amazonaws.com", "s3.mars-north-1.amazonaws.com",
                 "amazonaws.com", "bucket.sts.us-east-1.amazonaws.com"):
        with pytest.raises(InputError, match="cannot resolve"):
            flow(topo, "lambda:orders", name)
        r = cli("trace", TOPOLOGIES / "lambda-nat-internet.yaml", "--from", "lambda:orders",
                "--to", name)
        assert r.exit_code == 2
        assert r.stderr.startswith("netemu: error: ") and r.stderr.count("\n") == 1


# ---- a drop with no single fix says one thing -----------------------------------------

def test_item8_no_fix_says_one_thing(network, tmp_path):
    # the group admits tcp 443 only; GRE (47) fixed there still meets the NAT gateway,
    # which forwards TCP, UDP and ICMP only (G5): no change lets it through
    topo = network({"security_groups": {"fn": {"egress": ["tcp 443 to 0.0.0.0/0"]}}})
    out = flow(topo, "lambda:orders", "api.example.com", proto=47)
    assert (out["reason"], out["dropped_at"]) == ("ENI_SG_RULES_MISMATCH", "fn")
    assert (out["fix"], out["fix_verified"], out["fix_status"]) == ([], False, "none")
    assert "nat-a" in out["fix_note"] and "PROTOCOL_RESTRICTION" in out["fix_note"]
    path = tmp_path / "t.yaml"
    path.write_text((TOPOLOGIES / "lambda-nat-internet.yaml").read_text().replace(
        'fn: {egress: ["all to 0.0.0.0/0"]}', 'fn: {egress: ["tcp 443 to 0.0.0.0/0"]}'))
    r = cli("trace", path, "--from", "lambda:orders", "--to", "api.example.com",
            "--proto", "47")
    assert r.exit_code == 1
    tail = r.stdout.split("dropped from subnet", 1)[1]
    assert "rule" not in tail.split("\n", 1)[1]              # no proposed rule after it
    assert "no single configuration change" not in r.stdout
    assert "no configuration change lets it through" in tail


def test_item8_unverifiable_fix_is_labelled_a_suggestion():
    r = cli("trace", TOPOLOGIES / "lambda-public-subnet.yaml", "--from", "lambda:webhook",
            "--to", "api.example.com")
    assert r.exit_code == 1
    assert "suggestion (not verified" in r.stdout and "fix (verified" not in r.stdout
    out = flow(netemu.load(TOPOLOGIES / "lambda-public-subnet.yaml"), "lambda:webhook",
               "api.example.com")
    assert out["fix_status"] == "suggestion" and out["fix_verified"] is False
    assert len(out["fix"]) == 1 and "(L4)" in out["fix"][0]


# ---- --capture -----------------------------------------------------------------------

NAT_TOPO = TOPOLOGIES / "lambda-nat-internet.yaml"


def test_item8_capture_without_out_is_a_usage_error(tmp_path):
    topo = netemu.load(NAT_TOPO)
    write_pcap(tmp_path / "w.pcap", generate_workload(topo, "orders", 1, 1,
                                                      ["api.example.com"], 1.0))
    r = cli("replay", NAT_TOPO, tmp_path / "w.pcap", "--capture", "nat-a", "-q")
    assert r.exit_code == 2
    assert r.stderr.startswith("netemu: error: --capture needs --out")
    assert r.stderr.count("\n") == 1 and r.stdout == ""
    with pytest.raises(InputError, match="--capture needs --out"):
        replay(topo, [tmp_path / "w.pcap"], None, captures=["nat-a"])


def test_item8_capture_of_a_function_and_an_internet_host(tmp_path):
    topo = netemu.load(NAT_TOPO)
    # environment 0 lands in private-a, environment 1 in private-b (round-robin)
    batch = generate_workload(topo, "orders", 2, 1, ["api.example.com"], 2.0, hold=1.0)
    write_pcap(tmp_path / "w.pcap", batch)
    out = tmp_path / "out"
    r = cli("replay", NAT_TOPO, tmp_path / "w.pcap", "--out", out, "-q",
            "--capture", "lambda:orders", "--capture", "api.example.com",
            "--capture", "lambda:orders@private-b")
    assert r.exit_code == 0, r.stderr
    enis = {str(topo.enis[topo.environments[f"orders/{s}"].eni].private_ip)
            for s in ("private-a", "private-b")}
    fn = rdpcap(str(out / "capture-lambda_orders.pcap"))
    # every packet crosses one Hyperplane ENI once, seen there with the ENI's address
    assert len(fn) == len(batch)
    assert {p["IP"].src for p in fn} | {p["IP"].dst for p in fn} == enis | {"203.0.113.10"}
    b_only = rdpcap(str(out / "capture-lambda_orders_private-b.pcap"))
    b_ip = str(topo.enis[topo.environments["orders/private-b"].eni].private_ip)
    assert 0 < len(b_only) < len(fn)
    assert all(b_ip in (p["IP"].src, p["IP"].dst) for p in b_only)
    host = rdpcap(str(out / "capture-api.example.com.pcap"))
    # the internet host sees the NAT gateway's Elastic IP, for every packet both ways
    assert len(host) == len(batch)
    assert {(p["IP"].src, p["IP"].dst) for p in host} == {
        ("54.0.0.10", "203.0.113.10"), ("203.0.113.10", "54.0.0.10")}
    # a function without VPC configuration has no ENI to capture at: refused, not ignored
    no_vpc = netemu.load(TOPOLOGIES / "lambda-no-vpc.yaml")
    with pytest.raises(InputError, match="no Hyperplane ENI"):
        replay(no_vpc, [tmp_path / "w.pcap"], tmp_path / "o2", captures=["lambda:thumbnails"])

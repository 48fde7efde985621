"""Issue 7, item 4: a route to an instance or ENI is a next hop, not a destination.

AWS VPC User Guide, "NAT instances": a route `0.0.0.0/0 -> eni-...` hands the packet to
that interface as a next hop. With source/destination check on (the default) the
interface drops traffic not addressed to it (Reachability Analyzer:
ENI_SOURCE_DEST_CHECK_RESTRICTION); with it off the instance forwards as a NAT instance:
its security groups and subnet ACL apply on the way in, it masquerades the traffic as
its private IP, its own subnet's route table sends it on, and the internet gateway maps
that private IP to the instance's public IP (I1). Replies come back the same way.

Expected values are worked out by hand from the shipped topology
topologies/lambda-nat-instance.yaml: the function's Hyperplane ENI takes the first
free address of private-a (10.0.10.0/24, .0-.3 reserved by AWS) = 10.0.10.4; the NAT
instance is 10.0.0.20 with public IP 54.0.0.20; api.example.com is 203.0.113.10."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import yaml
from conftest import TOPOLOGIES
from typer.testing import CliRunner

import netemu
from netemu.cli import app
from netemu.errors import InputError
from netemu.io.aws_snapshot import load_snapshot
from netemu.io.pcap_writer import write_pcap
from netemu.packet import ACK, FIN, PSH, SYN, from_columns

EXAMPLE = TOPOLOGIES / "lambda-nat-instance.yaml"
HP_IP, NAT_IP, NAT_PUBLIC, API = "10.0.10.4", "10.0.0.20", "54.0.0.20", "203.0.113.10"
NAT_ENI = "eni-nat-instance"


def example(tmp_path, change=None, name="topo.yaml"):
    """The shipped example, optionally changed (a function of the parsed YAML)."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    if change:
        change(doc)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def check_on(doc):
    del doc["hosts"]["nat-instance"]["source_dest_check"]      # AWS's default: on


def trace(path, proto="tcp", port=443, dst="api.example.com"):
    return netemu.trace(netemu.load(path), "lambda:orders", dst, proto=proto, port=port,
                        fix=False)


def steps(leg, kind):
    return [s for s in leg.steps if s.kind == kind]


def run_cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout


# ---- source/destination check on -----------------------------------------------------------
def test_item4_source_dest_check_on_drops_traffic_not_addressed_to_the_eni(tmp_path):
    r = trace(example(tmp_path, check_on))
    j = r.to_json()
    assert (j["verdict"], j["reply_verdict"]) == ("dropped", None)
    assert (j["reason"], j["dropped_at"]) == ("ENI_SOURCE_DEST_CHECK_RESTRICTION", NAT_ENI)
    # it got as far as the instance's subnet (the ACLs on the way in passed), no further
    assert [s.kind for s in r.request.steps][-3:] == [
        "acl-outbound", "acl-inbound", "eni-source-dest-check"]
    assert not steps(r.request, "internet-host")


def test_item4_cli_never_says_delivered_when_the_packet_stopped_at_the_instance(tmp_path):
    code, out = run_cli("trace", example(tmp_path, check_on), "--from", "lambda:orders",
                        "--to", "api.example.com", "--no-fix")
    assert code == 1
    assert "delivered both ways" not in out
    assert "ENI_SOURCE_DEST_CHECK_RESTRICTION" in out and NAT_ENI in out


def test_item4_fix_for_source_dest_check_is_verified(tmp_path):
    j = netemu.trace(netemu.load(example(tmp_path, check_on)), "lambda:orders",
                     "api.example.com").to_json()
    assert j["fix"] == [f"turn off source/destination check on {NAT_ENI} (it then forwards "
                        "as a NAT instance)"]
    assert j["fix_verified"] is True


def test_item4_source_dest_check_concerns_only_other_addresses(tmp_path):
    """Through the same ENI route, the instance's own address is reached (a /32 route to
    itself) while an address behind it is not."""
    def own(doc):
        check_on(doc)
        doc["route_tables"]["private"]["10.0.0.20/32"] = "nat-instance"
    path = example(tmp_path, own)
    r = trace(path, dst=NAT_IP, port=22)
    assert (r.verdict, r.reply_verdict) == ("delivered", "delivered")
    assert r.request.delivered_to == "nat-instance"
    j = trace(path, dst="198.51.100.7").to_json()
    assert (j["reason"], j["dropped_at"]) == ("ENI_SOURCE_DEST_CHECK_RESTRICTION", NAT_ENI)


# ---- source/destination check off: a NAT instance -------------------------------------------
def test_item4_nat_instance_masquerades_to_private_then_public_ip(tmp_path):
    r = trace(example(tmp_path))
    assert (r.verdict, r.reply_verdict) == ("delivered", "delivered")
    assert r.request.delivered_to == "internet"
    [nat] = steps(r.request, "nat-instance")
    assert nat.rule == f"NAT instance {NAT_ENI}: assumed to masquerade (source/dest check off)"
    m = re.fullmatch(rf"source {re.escape(HP_IP)}:(\d+) -> {re.escape(NAT_IP)}:(\d+)",
                     nat.translation)
    assert m, nat.translation
    hp_port, nat_port = int(m.group(1)), int(m.group(2))
    assert 1024 <= nat_port <= 65535                       # ports as a NAT picks them
    [igw] = steps(r.request, "igw-egress")
    assert igw.translation == f"source {NAT_IP}:{nat_port} -> {NAT_PUBLIC}:{nat_port}"
    # the internet host sees the instance's public IP
    assert r.request.packet == (NAT_PUBLIC, nat_port, API, 443, 6)
    # the instance's groups apply both ways, its subnet's table routes it on
    kinds = [s.kind for s in r.request.steps]
    assert kinds.index("eni-ingress", kinds.index("acl-inbound")) < kinds.index("nat-instance")
    assert [s.rule for s in r.request.steps if s.kind == "route-table"] == [
        "private route 0.0.0.0/0 -> eni-nat-instance", "public route 0.0.0.0/0 -> igw"]
    # replies are translated back, through the instance, to the function
    [back] = steps(r.reply, "nat-instance")
    assert back.translation == f"destination {NAT_IP}:{nat_port} -> {HP_IP}:{hp_port}"
    assert r.reply.delivered_to == "lambda-service-vpc"
    assert r.reply.packet == (API, 443, str(r.source.ip), 40000, 6)


@pytest.mark.parametrize("proto,port", [("udp", 53), ("icmp", 0)])
def test_item4_nat_instance_forwards_udp_and_icmp(tmp_path, proto, port):
    r = trace(example(tmp_path), proto=proto, port=port)
    assert (r.verdict, r.reply_verdict) == ("delivered", "delivered")
    assert r.request.packet[0] == NAT_PUBLIC and r.request.packet[2] == API


def test_item4_cli_says_it_assumed_nat(tmp_path):
    code, out = run_cli("trace", EXAMPLE, "--from", "lambda:orders", "--to", "api.example.com")
    assert code == 0
    assert "assumed to masquerade (source/dest check off)" in out
    assert "delivered both ways" in out


def test_item4_nat_instance_security_group_must_admit_the_function_subnet(tmp_path):
    """Its inbound rules decide: not admitting the function's subnet drops the packet
    at the instance; admitting it (the example) takes it on to the internet host."""
    def narrow(doc):
        doc["security_groups"]["nat"]["ingress"] = ["all from 10.0.99.0/24"]
    j = trace(example(tmp_path, narrow)).to_json()
    assert (j["verdict"], j["reason"], j["dropped_at"]) == (
        "dropped", "ENI_SG_RULES_MISMATCH", "nat")
    assert j["hops"][-1]["element"] == f"eni-ingress:{NAT_ENI}"
    r = trace(example(tmp_path, None, "open.yaml"))
    assert (r.request.delivered_to, r.request.packet[0]) == ("internet", NAT_PUBLIC)


def test_item4_nat_instance_outbound_rules_apply_on_the_way_out(tmp_path):
    def no_egress(doc):
        doc["security_groups"]["nat"]["egress"] = ["tcp 443 to 10.0.0.0/16"]
    j = trace(example(tmp_path, no_egress)).to_json()
    assert (j["verdict"], j["reason"], j["dropped_at"]) == (
        "dropped", "ENI_SG_RULES_MISMATCH", "nat")
    assert j["hops"][-1]["element"] == f"eni-egress:{NAT_ENI}"


def test_item4_nat_instance_subnet_acl_on_the_way_out(tmp_path):
    """The translated packet leaves the instance's subnet through its outbound ACL."""
    def acl(doc):
        doc["network_acls"] = {"edge": {
            "inbound": ["100 allow all from 0.0.0.0/0"],
            "outbound": ["90 deny tcp 443 to 203.0.113.0/24", "100 allow all to 0.0.0.0/0"]}}
        doc["subnets"]["public-a"]["acl"] = "edge"
    j = trace(example(tmp_path, acl)).to_json()
    assert (j["verdict"], j["reason"], j["dropped_at"]) == (
        "dropped", "SUBNET_ACL_RESTRICTION", "edge")
    assert j["rule"] == "edge rule 90 deny tcp 443 to 203.0.113.0/24"


def test_item4_nat_instance_without_public_ip_dropped_at_igw(tmp_path):
    def private(doc):
        del doc["hosts"]["nat-instance"]["public_ip"]
    j = trace(example(tmp_path, private)).to_json()
    assert (j["verdict"], j["reason"], j["dropped_at"]) == (
        "dropped", "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS", "igw")


def test_item4_nat_instance_in_a_subnet_routed_to_itself_is_a_loop(tmp_path):
    """Its own subnet sends 0.0.0.0/0 back to it (and its group admits itself): never
    delivered, however many times it goes round."""
    def loop(doc):
        doc["route_tables"]["public"]["0.0.0.0/0"] = "nat-instance"
        doc["security_groups"]["nat"]["ingress"] = ["all from 10.0.0.0/16"]
    j = trace(example(tmp_path, loop)).to_json()
    assert (j["verdict"], j["reason"], j["dropped_at"]) == ("dropped", "ROUTING_LOOP", NAT_ENI)


# ---- input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["'false'", "no_thanks", "0"])
def test_item4_yaml_source_dest_check_must_be_a_boolean(tmp_path, value):
    text = EXAMPLE.read_text().replace("source_dest_check: false",
                                       f"source_dest_check: {value}")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match="source_dest_check must be true or false"):
        netemu.load(path)
    code, out = run_cli("show", path)
    assert code == 2


def test_item4_snapshot_source_dest_check_and_instance_route(tmp_path):
    """describe-instances' SourceDestCheck (the primary interface's attribute) and a
    route by InstanceId reach the same NAT instance behaviour."""
    vpc, pub, priv = "vpc-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"
    sg, iid, eni = "sg-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa1", "eni-0aaaaaaaaaaaaaaa1"
    allow = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    local = {"DestinationCidrBlock": "10.1.0.0/16", "GatewayId": "local", "State": "active"}

    def files(check):
        return {
            "describe-vpcs.json": {"Vpcs": [{"VpcId": vpc, "CidrBlock": "10.1.0.0/16"}]},
            "describe-subnets.json": {"Subnets": [
                {"SubnetId": pub, "VpcId": vpc, "CidrBlock": "10.1.0.0/24",
                 "AvailabilityZone": "eu-west-1a"},
                {"SubnetId": priv, "VpcId": vpc, "CidrBlock": "10.1.1.0/24",
                 "AvailabilityZone": "eu-west-1a"}]},
            "describe-internet-gateways.json": {"InternetGateways": [{
                "InternetGatewayId": "igw-0aaaaaaaaaaaaaaa1",
                "Attachments": [{"State": "available", "VpcId": vpc}]}]},
            "describe-route-tables.json": {"RouteTables": [
                {"RouteTableId": "rtb-0aaaaaaaaaaaaaaa1", "VpcId": vpc,
                 "Associations": [{"Main": True}],
                 "Routes": [local, {"DestinationCidrBlock": "0.0.0.0/0",
                                    "GatewayId": "igw-0aaaaaaaaaaaaaaa1", "State": "active"}]},
                {"RouteTableId": "rtb-0bbbbbbbbbbbbbbb2", "VpcId": vpc,
                 "Associations": [{"Main": False, "SubnetId": priv}],
                 "Routes": [local, {"DestinationCidrBlock": "0.0.0.0/0", "InstanceId": iid,
                                    "InstanceOwnerId": "111122223333",
                                    "State": "active"}]}]},
            "describe-security-groups.json": {"SecurityGroups": [
                {"GroupId": sg, "GroupName": "default", "VpcId": vpc,
                 "IpPermissions": allow, "IpPermissionsEgress": allow}]},
            "describe-instances.json": {"Reservations": [{"Instances": [{
                "InstanceId": iid, "State": {"Name": "running"}, "SubnetId": pub,
                "VpcId": vpc, "PrivateIpAddress": "10.1.0.20", "SourceDestCheck": check,
                "NetworkInterfaces": [{
                    "NetworkInterfaceId": eni, "SubnetId": pub, "PrivateIpAddress": "10.1.0.20",
                    "Groups": [{"GroupId": sg}], "Association": {"PublicIp": "54.1.0.20"},
                    "Attachment": {"DeviceIndex": 0}}]}]}]},
            "list-functions.json": {"Functions": [{
                "FunctionName": "worker",
                "VpcConfig": {"SubnetIds": [priv], "SecurityGroupIds": [sg], "VpcId": vpc}}]},
        }

    def load(check, name):
        folder = tmp_path / name
        folder.mkdir()
        for rel, obj in files(check).items():
            (folder / rel).write_text(json.dumps(obj))
        return load_snapshot(folder)

    off = load(False, "off")
    assert off.enis[eni].source_dest_check is False
    r = netemu.trace(off, "lambda:worker", "198.51.100.7", fix=False)
    assert (r.verdict, r.reply_verdict) == ("delivered", "delivered")
    assert r.request.packet[0] == "54.1.0.20"
    on = load(True, "on")
    assert on.enis[eni].source_dest_check is True
    j = netemu.trace(on, "lambda:worker", "198.51.100.7", fix=False).to_json()
    assert (j["reason"], j["dropped_at"]) == ("ENI_SOURCE_DEST_CHECK_RESTRICTION", eni)


# ---- replay -------------------------------------------------------------------------------------
def _conversation(env: int, n: int) -> np.ndarray:
    """n TCP connections from one execution environment to api.example.com:443, both
    directions as the environment sees them: SYN, SYN-ACK, ACK, request, response, FIN."""
    api = int(np.uint32(int.from_bytes(bytes(map(int, API.split("."))), "big")))
    client = np.tile([True, False, True, True, False, True], n)
    flags = np.tile([SYN, SYN | ACK, ACK, PSH | ACK, PSH | ACK, FIN | ACK], n)
    sport = np.repeat(40000 + np.arange(n), 6)
    ts = np.repeat(np.arange(n) * 0.01, 6) + np.tile(np.arange(6) * 1e-4, n)
    return from_columns(ts=ts, src=np.where(client, env, api), dst=np.where(client, api, env),
                        sport=np.where(client, sport, 443), dport=np.where(client, 443, sport),
                        proto=6, flags=flags, length=np.where(client, 120, 800))


@pytest.mark.parametrize("checked", [False, True])
def test_item4_replay_through_nat_instance(tmp_path, checked):
    path = example(tmp_path, check_on if checked else None)
    topo = netemu.load(path)
    env = int(topo.environments["orders/private-a"].ip)
    write_pcap(tmp_path / "t.pcap", _conversation(env, 3))
    out = tmp_path / "out"
    code, stdout = run_cli("replay", path, tmp_path / "t.pcap", "--out", out, "--json")
    summary = json.loads(stdout)
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text().splitlines()]
    assert summary["flows"] == 3 and summary["packets"] == 3 * 6    # 6 packets a connection
    assert code == 0
    if checked:
        assert summary["accepted"] == 0
        # the 12 requests stop at the instance; the 6 answers answer nothing
        assert summary["drop_reasons"]["ENI_SOURCE_DEST_CHECK_RESTRICTION"] == 3 * 4
        assert {(v["verdict"], v["reason"], v["dropped_at"]) for v in verdicts} == {
            ("dropped", "ENI_SOURCE_DEST_CHECK_RESTRICTION", NAT_ENI)}
        return
    assert (summary["accepted"], summary["rejected"]) == (18, 0)
    assert summary["delivered_to"] == {"internet-host:internet": 12,
                                       "lambda-service:lambda-service-vpc": 6}
    assert {(v["verdict"], v["reply_verdict"]) for v in verdicts} == {
        ("delivered", "delivered")}
    # the NAT instance's ENI logs both legs: the function's side and its own (F4)
    log = (out / "flowlogs" / f"{NAT_ENI}.log").read_text().splitlines()[1:]
    pairs = {(f[3], f[4]) for f in (line.split() for line in log)}
    assert pairs == {(HP_IP, API), (API, HP_IP), (NAT_IP, API), (API, NAT_IP)}

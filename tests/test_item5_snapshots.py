"""Issue 7, item 5: snapshots as people collect them.

Fixtures (tests/data/snapshots/) are hand-written in the shape `aws ec2 describe-*` prints:
- partial/: one account, collected without describe-internet-gateways,
  describe-nat-gateways, describe-vpc-peering-connections or the managed prefix lists, and
  with subnet-0a1b2c3d4e5f600ff ("legacy") missing from describe-subnets although an
  interface (eni-0a1b2c3d4e5f600f1, Name legacy-batch, 10.20.9.10) sits in it. The app
  route table sends 0.0.0.0/0 to nat-...031, 10.30.0.0/16 to pcx-...041 and the prefix
  list pl-...051 to igw-...021; the public table sends 0.0.0.0/0 to igw-...021.
- two-accounts/: Batfish's multi-account layout (aws_configs/ACCOUNT/REGION/), VPC
  10.1.0.0/16 in 111111111111 and 10.2.0.0/16 in 222222222222, peered by
  pcx-0ab00000000000c01, which each account lists in its own
  describe-vpc-peering-connections (own tags, own peering options).

Expected behaviour is AWS's (AWS-SEMANTICS R3): a route whose target is gone is a
blackhole, and a packet matching it is dropped with BAD_STATE_ROUTE."""

from __future__ import annotations

import codecs
import ipaddress
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from netemu.apps.replay import Replayer
from netemu.apps.trace import trace
from netemu.cli import app
from netemu.dataplane.pipeline import Dataplane
from netemu.dataplane.reasons import CODES
from netemu.errors import InputError
from netemu.io.load import load
from netemu.packet import DROPPED, SYN, UNPLACED, from_columns

DATA = Path(__file__).resolve().parent / "data"
PARTIAL = DATA / "snapshots" / "partial"
TWO = DATA / "snapshots" / "two-accounts"
RDS_SNAPSHOT = DATA / "snapshot-rds"

IGW, NAT, PCX, PL = ("igw-0a1b2c3d4e5f60021", "nat-0a1b2c3d4e5f60031", "pcx-0a1b2c3d4e5f60041",
                     "pl-0a1b2c3d4e5f60051")
RT_PUB, RT_APP = "rtb-0a1b2c3d4e5f60061", "rtb-0a1b2c3d4e5f60062"
APP_A, APP_B, LEGACY = ("subnet-0a1b2c3d4e5f60011", "subnet-0a1b2c3d4e5f60012",
                        "subnet-0a1b2c3d4e5f600ff")
LEGACY_ENI, LEGACY_IP = "eni-0a1b2c3d4e5f600f1", "10.20.9.10"
WEB, WEB_IP = "i-0a1b2c3d4e5f600a1", "10.20.0.80"
PEERING = "pcx-0ab00000000000c01"
SIDE_A = TWO / "aws_configs" / "111111111111" / "us-east-1" / "VpcPeeringConnections.json"
SIDE_B = TWO / "aws_configs" / "222222222222" / "us-east-1" / "VpcPeeringConnections.json"


def cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def route(topo, table, dest):
    return next(r for r in topo.route_tables[table].routes if r.dest_text == dest)


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


# ---- a missing file is a warning, not a refused account ---------------------------------
def test_item5_missing_files_load_with_one_warning_each():
    t = load(PARTIAL)
    joined = "\n".join(t.warnings)
    # four files not collected (checked one by one below) and one subnet missing from
    # describe-subnets, holding the legacy ENI (checked after them)
    assert len(t.warnings) == 4 + 1
    for what, command in ((IGW, "describe-internet-gateways"), (NAT, "describe-nat-gateways"),
                          (PCX, "describe-vpc-peering-connections"),
                          (PL, "describe-managed-prefix-lists")):
        line = next(w for w in t.warnings if what in w)
        assert f"no {command} output was collected" in line
    assert LEGACY in joined and LEGACY_ENI in joined and LEGACY_IP in joined
    # everything that was collected is there
    assert (len(t.subnets), len(t.enis), len(t.hosts), len(t.functions)) == (3, 3, 1, 1)


def test_item5_route_to_uncollected_target_is_a_blackhole():
    t = load(PARTIAL)
    assert route(t, RT_PUB, "0.0.0.0/0").blackhole          # -> igw, not collected
    assert route(t, RT_APP, "0.0.0.0/0").blackhole          # -> nat, not collected
    assert route(t, RT_APP, "10.30.0.0/16").blackhole       # -> pcx, not collected
    assert route(t, RT_APP, PL).blackhole                   # prefix list not collected
    assert t.prefix_lists[PL].cidrs == ()                   # so it matches nothing
    assert not route(t, RT_APP, "10.20.0.0/16").blackhole   # local stays local


@pytest.mark.parametrize("src, dst, table", [
    ("lambda:orders@app-b", "8.8.8.8", RT_APP),             # 0.0.0.0/0 -> NAT gateway
    ("lambda:orders@app-a", "10.30.0.5", RT_APP),           # 10.30.0.0/16 -> peering
    (f"instance:{WEB}", "8.8.8.8", RT_PUB),                 # 0.0.0.0/0 -> internet gateway
])
def test_item5_traffic_over_a_blackholed_route_is_bad_state_route(src, dst, table):
    r = trace(load(PARTIAL), src, dst, fix=False)
    assert not r.ok
    assert (r.request.verdict, r.request.reason, r.request.dropped_at) == (
        "dropped", "BAD_STATE_ROUTE", table)


def test_item5_route_to_target_absent_from_a_collected_file_is_a_blackhole(tmp_path):
    """describe-nat-gateways was collected, but the gateway is not in it (deleted)."""
    snap = copy(PARTIAL, tmp_path)
    (snap / "describe-nat-gateways.json").write_text('{"NatGateways": []}\n')
    t = load(snap)
    assert route(t, RT_APP, "0.0.0.0/0").blackhole
    line = next(w for w in t.warnings if NAT in w)
    assert "not in the describe-nat-gateways output" in line and RT_APP in line


def test_item5_nat_gateway_in_an_uncollected_subnet_is_unplaced(tmp_path):
    """The gateway is described but its subnet is not: netemu cannot say where it sits,
    so routes to it lead to a target it does not model (never a made-up delivery)."""
    snap = copy(PARTIAL, tmp_path)
    (snap / "describe-nat-gateways.json").write_text(json.dumps({"NatGateways": [{
        "NatGatewayId": NAT, "SubnetId": LEGACY, "VpcId": "vpc-0a1b2c3d4e5f60001",
        "State": "available", "ConnectivityType": "public",
        "NatGatewayAddresses": [{"AllocationId": "eipalloc-0a1b2c3d4e5f600e1",
                                 "NetworkInterfaceId": "eni-0a1b2c3d4e5f600e2",
                                 "PrivateIp": "10.20.9.5", "PublicIp": "54.0.0.5",
                                 "IsPrimary": True, "Status": "succeeded"}]}]}))
    t = load(snap)
    assert NAT not in t.nat_gateways and t.unplaced[NAT].kind == "NAT gateway"
    r = route(t, RT_APP, "0.0.0.0/0")
    assert (r.blackhole, r.target_kind) == (False, "unmodelled")
    assert any(NAT in w and "unmodelled target" in w for w in t.warnings)
    res = trace(t, "lambda:orders@app-a", "8.8.8.8", fix=False)
    assert (res.request.verdict, res.request.reason) == ("dropped", "CANNOT_ROUTE")


def test_item5_interface_endpoint_with_an_uncollected_subnet_keeps_its_other_subnets(
        tmp_path):
    snap = copy(PARTIAL, tmp_path)
    vpce = "vpce-0a1b2c3d4e5f600d1"
    (snap / "describe-vpc-endpoints.json").write_text(json.dumps({"VpcEndpoints": [{
        "VpcEndpointId": vpce, "VpcEndpointType": "Interface",
        "VpcId": "vpc-0a1b2c3d4e5f60001", "ServiceName": "com.amazonaws.us-east-1.sqs",
        "State": "available", "SubnetIds": [APP_A, LEGACY],
        "Groups": [{"GroupId": "sg-0a1b2c3d4e5f60071", "GroupName": "default"}],
        "PrivateDnsEnabled": True, "NetworkInterfaceIds": []}]}))
    t = load(snap)
    ep = t.endpoints[vpce]
    assert ep.subnets == (APP_A,) and [t.enis[e].subnet for e in ep.enis] == [APP_A]
    assert any(vpce in w and LEGACY in w for w in t.warnings)


def test_item5_uncollected_route_tables_and_acls_are_warnings(tmp_path):
    """Without describe-route-tables every subnet uses a main table of local routes only;
    without describe-network-acls a default ACL that allows everything (N5): said as
    warnings, since a real account may well have more."""
    snap = copy(PARTIAL, tmp_path)
    (snap / "describe-route-tables.json").unlink()
    (snap / "describe-network-acls.json").unlink()
    t = load(snap)
    assert any("describe-route-tables" in w and "local routes only" in w for w in t.warnings)
    assert any("describe-network-acls" in w and "allowing everything" in w
               for w in t.warnings)
    r = trace(t, "lambda:orders@app-a", "8.8.8.8", fix=False)
    assert r.request.reason == "NO_ROUTE_TO_DESTINATION"


# ---- an interface of an uncollected subnet is unplaced ----------------------------------
def test_item5_eni_in_uncollected_subnet_is_unplaced_not_refused():
    t = load(PARTIAL)
    assert LEGACY_ENI not in t.enis and LEGACY not in t.subnets
    gone = t.unplaced[LEGACY_ENI]
    assert (gone.kind, gone.ip, gone.name) == (
        "network interface", ipaddress.IPv4Address(LEGACY_IP), "legacy-batch")
    assert LEGACY in gone.reason and "describe-subnets" in gone.reason


@pytest.mark.parametrize("src, dst", [
    (f"eni:{LEGACY_ENI}", "8.8.8.8"), ("eni:legacy-batch", "8.8.8.8"),
    (f"instance:{WEB}", LEGACY_IP)])
def test_item5_tracing_an_unplaced_eni_is_refused_with_the_reason(src, dst):
    with pytest.raises(InputError) as err:
        trace(load(PARTIAL), src, dst, port=443, fix=False)
    assert "unplaced" in str(err.value) and LEGACY in str(err.value)


def test_item5_packets_of_an_unplaced_eni_are_unplaced_or_find_nobody():
    t = load(PARTIAL)
    dp = Dataplane(t)
    b = from_columns(src=[ip(LEGACY_IP), ip(WEB_IP)], dst=[ip(WEB_IP), ip(LEGACY_IP)],
                     sport=[40000, 40001], dport=443, proto=6, flags=SYN, length=60,
                     flow=[0, 1])
    dp.run(b)
    assert b["status"][0] == UNPLACED and CODES[b["reason"][0]] == "NOT_PLACED"
    assert b["status"][1] == DROPPED and CODES[b["reason"][1]] == "UNKNOWN_DESTINATION"


def test_item5_function_with_an_uncollected_subnet(tmp_path):
    snap = copy(PARTIAL, tmp_path)
    fns = json.loads((snap / "list-functions.json").read_text())
    fn = fns["Functions"][0]
    fns["Functions"].append({**fn, "FunctionName": "batch",
                             "VpcConfig": {**fn["VpcConfig"], "SubnetIds": [LEGACY]}})
    fn["VpcConfig"]["SubnetIds"] = [APP_B, LEGACY]
    (snap / "list-functions.json").write_text(json.dumps(fns))
    t = load(snap)
    assert t.functions["orders"].subnets == (APP_B,)      # traced where it can be
    assert any("orders" in w and LEGACY in w for w in t.warnings)
    assert "batch" not in t.functions and t.unplaced["batch"].kind == "Lambda function"
    with pytest.raises(InputError) as err:
        trace(t, "lambda:batch", "8.8.8.8", fix=False)
    assert "unplaced" in str(err.value) and LEGACY in str(err.value)


# ---- where the warnings are shown --------------------------------------------------------
def test_item5_show_lists_the_warnings():
    code, out, err = cli("show", PARTIAL)
    assert code == 0 and err == ""
    section = out.split("warnings:", 1)[1]
    for what in (IGW, NAT, PCX, PL, LEGACY_ENI):
        assert what in section
    assert "unplaced" in out.split("warnings:", 1)[0]       # and counted in the table


def test_item5_other_commands_print_each_warning_once_to_stderr():
    t = load(PARTIAL)
    code, out, err = cli("trace", PARTIAL, "--from", "lambda:orders@app-b", "--to", "8.8.8.8",
                         "--no-fix")
    assert code == 1                                        # dropped, not refused
    lines = err.splitlines()
    assert lines == [f"netemu: warning: {w}" for w in t.warnings]
    assert "warning" not in out
    code, _, err = cli("trace", RDS_SNAPSHOT, "--from", "lambda:orders", "--to",
                       "host:orders-db", "--port", "5432", "--no-fix")
    assert code == 0 and "warning" not in err              # a complete snapshot: none


# ---- one peering connection described from both accounts ---------------------------------
def test_item5_peering_described_from_both_accounts_is_one_connection():
    t = load(TWO)
    assert list(t.peerings) == [PEERING]
    pcx = t.peerings[PEERING]
    assert (pcx.requester_vpc, pcx.accepter_vpc, pcx.active) == (
        "vpc-0aaa000000000a001", "vpc-0bbb000000000b001", True)
    assert t.warnings == []
    r = trace(t, "instance:client", "instance:server", port=5432, fix=False)
    assert r.ok


def test_item5_peering_described_with_different_vpcs_is_refused_naming_both_files(tmp_path):
    snap = copy(TWO, tmp_path)
    side_b = snap / SIDE_B.relative_to(TWO)
    doc = json.loads(side_b.read_text())
    doc["VpcPeeringConnections"][0]["AccepterVpcInfo"]["VpcId"] = "vpc-0ccc000000000c001"
    side_b.write_text(json.dumps(doc, indent=4))
    with pytest.raises(InputError) as err:
        load(snap)
    msg = str(err.value)
    assert err.value.resource == PEERING
    assert str(snap / SIDE_A.relative_to(TWO)) in msg and str(side_b) in msg
    assert "vpc-0ccc000000000c001" in msg and "vpc-0bbb000000000b001" in msg


def test_item5_peering_seen_active_by_one_side_only_is_not_active(tmp_path):
    snap = copy(TWO, tmp_path)
    side_b = snap / SIDE_B.relative_to(TWO)
    doc = json.loads(side_b.read_text())
    doc["VpcPeeringConnections"][0]["Status"] = {"Code": "pending-acceptance"}
    side_b.write_text(json.dumps(doc))
    t = load(snap)
    assert not t.peerings[PEERING].active
    assert any(PEERING in w and "pending-acceptance" in w for w in t.warnings)


# ---- encodings: what PowerShell and Windows editors write --------------------------------
ENCODINGS = {
    "utf-8 with BOM": lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
    "utf-16 LE with BOM (Out-File)": lambda text: codecs.BOM_UTF16_LE + text.encode(
        "utf-16-le"),
    "utf-16 BE with BOM": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    "utf-16 LE without BOM": lambda text: text.encode("utf-16-le"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_item5_json_with_bom_or_in_utf16_loads(tmp_path, encoding):
    snap = copy(TWO, tmp_path)
    for path in snap.rglob("*.json"):
        path.write_bytes(ENCODINGS[encoding](path.read_text(encoding="utf-8")))
    t = load(snap)
    assert list(t.peerings) == [PEERING] and len(t.hosts) == 2 and len(t.subnets) == 2
    assert t.subnets["subnet-0aaa00000000a0011"].name == "a-app"
    assert trace(t, "instance:client", "instance:server", port=5432, fix=False).ok


def test_item5_malformed_utf16_json_names_its_line(tmp_path):
    path = tmp_path / "describe-subnets.json"
    path.write_bytes(codecs.BOM_UTF16_LE + '{\n  "Subnets": [\n    {"SubnetId": },\n  ]\n}\n'
                     .encode("utf-16-le"))
    with pytest.raises(InputError) as err:
        load(path)
    assert err.value.line == 3 and "malformed JSON" in str(err.value)


# ---- IPv6-only subnets ---------------------------------------------------------------------
def test_item5_ipv6_only_subnet_loads_reported_as_not_modelled(tmp_path):
    snap = copy(PARTIAL, tmp_path)
    v6 = "subnet-0a1b2c3d4e5f60066"
    (snap / "describe-subnets-v6.json").write_text(json.dumps({"Subnets": [{
        "AvailabilityZone": "us-east-1a", "AvailableIpAddressCount": 0, "State": "available",
        "SubnetId": v6, "VpcId": "vpc-0a1b2c3d4e5f60001", "Ipv6Native": True,
        "AssignIpv6AddressOnCreation": True,
        "Ipv6CidrBlockAssociationSet": [{
            "AssociationId": "subnet-cidr-assoc-0a1b2c3d4e5f60066",
            "Ipv6CidrBlock": "2600:1f18:abcd:1200::/64",
            "Ipv6CidrBlockState": {"State": "associated"}}],
        "Tags": [{"Key": "Name", "Value": "v6-only"}]}]}))
    (snap / "describe-network-interfaces-v6.json").write_text(json.dumps({
        "NetworkInterfaces": [{
            "NetworkInterfaceId": "eni-0a1b2c3d4e5f60067", "SubnetId": v6,
            "VpcId": "vpc-0a1b2c3d4e5f60001", "InterfaceType": "interface",
            "Ipv6Addresses": [{"Ipv6Address": "2600:1f18:abcd:1200::10"}],
            "PrivateIpAddresses": [], "Groups": [], "Status": "in-use"}]}))
    t = load(snap)
    assert v6 not in t.subnets
    assert any(v6 in u and "IPv6-only" in u and "not modelled" in u for u in t.unmodelled)
    assert t.unplaced["eni-0a1b2c3d4e5f60067"].reason.endswith("IPv6-only, which netemu "
                                                               "does not model")
    code, out, _ = cli("show", snap)
    assert code == 0
    assert v6 in out.split("not modelled:", 1)[1]


# ---- Name tags: shown beside ids, accepted in place of them -------------------------------
def test_item5_name_tags_shown_beside_ids_in_trace_output():
    code, out, _ = cli("trace", RDS_SNAPSHOT, "--from", "lambda:orders@subnet-0b22bb33cc44dd552",
                       "--to", "host:orders-db", "--port", "5432", "--no-fix")
    assert code == 0
    assert "in subnet-0b22bb33cc44dd552 (app-b)" in out             # the source
    assert "route-table:rtb-0d44dd55ee66ff774 (app-main)" in out    # a hop


def test_item5_name_tag_accepted_wherever_an_id_is():
    t = load(RDS_SNAPSHOT)
    by_name = trace(t, "lambda:orders@app-b", "host:orders-db", port=5432, fix=False)
    by_id = trace(t, "lambda:orders@subnet-0b22bb33cc44dd552", "host:orders-db", port=5432,
                  fix=False)
    assert by_name.source.subnet == by_id.source.subnet == "subnet-0b22bb33cc44dd552"
    assert by_name.source.ip == by_id.source.ip and by_name.ok
    p = load(PARTIAL)
    assert trace(p, "eni:web-eni", "instance:web-1", port=443, fix=False).destination.ip == \
        ipaddress.IPv4Address(WEB_IP)
    assert trace(p, "instance:web-1", "eni:web-eni", port=443, fix=False).source.ip == \
        ipaddress.IPv4Address(WEB_IP)
    web_eni = Replayer(p, captures=["eni-0a1b2c3d4e5f60092"]).capture_points
    assert Replayer(p, captures=["web-eni"]).capture_points["web-eni"] == web_eni[
        "eni-0a1b2c3d4e5f60092"]                                   # --capture by Name tag


def test_item5_ambiguous_name_is_refused_naming_the_candidates(tmp_path):
    snap = copy(PARTIAL, tmp_path)
    doc = json.loads((snap / "describe-subnets.json").read_text())
    for sn in doc["Subnets"]:
        if sn["SubnetId"] in (APP_A, APP_B):
            sn["Tags"] = [{"Key": "Name", "Value": "app"}]
    (snap / "describe-subnets.json").write_text(json.dumps(doc))
    t = load(snap)
    with pytest.raises(InputError) as err:
        trace(t, "lambda:orders@app", "8.8.8.8", fix=False)
    msg = str(err.value)
    assert "ambiguous" in msg and APP_A in msg and APP_B in msg
    code, out, err_text = cli("trace", snap, "--from", "lambda:orders@app", "--to", "8.8.8.8")
    assert code == 2 and out == ""
    assert [x for x in err_text.splitlines() if not x.startswith("netemu: warning:")] == [
        f"netemu: error: {msg}"]


def test_item5_name_tags_are_kept_on_every_kind():
    t = load(PARTIAL)
    assert t.enis["eni-0a1b2c3d4e5f60092"].name == "web-eni"
    assert t.hosts[WEB].name == "web-1"
    assert t.route_tables[RT_APP].name == "app-routes"
    assert t.display(APP_B) == f"{APP_B} (app-b)"
    assert t.find("subnet", "app-b") == APP_B and t.find("subnet", "nope") is None
    assert np.array_equal(sorted(t.unplaced), [LEGACY_ENI])

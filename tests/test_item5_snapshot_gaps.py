"""Snapshots collected without describe-vpcs or describe-security-groups (or with a VPC
missing from describe-vpcs) load with a warning, as AWS shows a resource by its id
wherever it is used; nothing is refused. (A group absent from a collected
describe-security-groups is a wrong id, refused with InvalidSecurityGroupIDException:
tests/test_aws_snapshot.py.)

Fixture: tests/data/snapshots/partial (see test_item5_snapshots.py): VPC
vpc-0a1b2c3d4e5f60001 is 10.20.0.0/16 ("shop"); its route tables each carry the local
route 10.20.0.0/16; its collected subnets are 10.20.0.0/24, 10.20.1.0/24 and 10.20.2.0/24;
function orders uses sg-...072 (orders-fn), the web instance's interface sg-...073 (web)."""

from __future__ import annotations

import ipaddress
import json
import shutil
from pathlib import Path

import pytest

from netemu.apps.trace import trace
from netemu.io.load import load
from tests.conftest import run_cli

PARTIAL = Path(__file__).resolve().parent / "data" / "snapshots" / "partial"
VPC = "vpc-0a1b2c3d4e5f60001"
FN_SG, WEB_SG, DB_SG = "sg-0a1b2c3d4e5f60072", "sg-0a1b2c3d4e5f60073", "sg-0a1b2c3d4e5f60071"
WEB_IP = "10.20.0.80"

# (source, destination, port): flows whose verdict depends on the VPC CIDR (local route)
FLOWS = [("lambda:orders", WEB_IP, 443), ("lambda:orders", "8.8.8.8", 443),
         ("lambda:orders", "10.20.2.10", 5432), ("instance:i-0a1b2c3d4e5f600a1",
                                                 "10.20.1.50", 22)]


def snapshot(tmp_path: Path, *without: str) -> Path:
    dst = tmp_path / "snap"
    shutil.copytree(PARTIAL, dst)
    for name in without:
        (dst / f"{name}.json").unlink()
    return dst


def verdicts(topo) -> list[tuple]:
    out = []
    for src, dst, port in FLOWS:
        r = trace(topo, src, dst, port=port, fix=False)
        out.append([(x.ok, x.failed.reason if x.failed else None) for x in (r.subnets or [r])])
    return out


def test_item5_gaps_without_describe_vpcs_the_local_routes_give_the_cidr(tmp_path):
    t = load(snapshot(tmp_path, "describe-vpcs"))
    assert t.vpcs[VPC].cidrs == (ipaddress.IPv4Network("10.20.0.0/16"),)
    line = next(w for w in t.warnings if VPC in w)
    assert "no describe-vpcs output was collected" in line and "local routes" in line
    # the VPC's CIDR is its local route's, so every verdict is the full snapshot's
    assert verdicts(t) == verdicts(load(PARTIAL))


def test_item5_gaps_without_vpcs_or_route_tables_the_subnets_bound_the_cidr(tmp_path):
    t = load(snapshot(tmp_path, "describe-vpcs", "describe-route-tables"))
    # the smallest block holding 10.20.0.0/24, 10.20.1.0/24 and 10.20.2.0/24
    assert t.vpcs[VPC].cidrs == (ipaddress.IPv4Network("10.20.0.0/22"),)
    line = next(w for w in t.warnings if VPC in w and "CIDR" in w)
    assert "10.20.0.0/22" in line and "may differ" in line
    assert t.vpcs[VPC].region == "us-east-1"          # from the subnets' zones


def test_item5_gaps_a_vpc_missing_from_a_collected_describe_vpcs(tmp_path):
    snap = snapshot(tmp_path)
    (snap / "describe-vpcs.json").write_text(json.dumps({"Vpcs": []}))
    t = load(snap)
    assert VPC in t.vpcs
    assert any(VPC in w and "not in the describe-vpcs output" in w for w in t.warnings)


def test_item5_gaps_a_vpc_known_only_from_a_group_is_left_out(tmp_path):
    snap = snapshot(tmp_path, "describe-vpcs")
    groups = json.loads((snap / "describe-security-groups.json").read_text())
    groups["SecurityGroups"].append({"GroupId": "sg-0ffff", "GroupName": "elsewhere",
                                     "VpcId": "vpc-0other", "IpPermissions": [],
                                     "IpPermissionsEgress": []})
    (snap / "describe-security-groups.json").write_text(json.dumps(groups))
    t = load(snap)
    assert "vpc-0other" not in t.vpcs and "sg-0ffff" not in t.security_groups
    assert any("vpc-0other" in u and "sg-0ffff" in u for u in t.unmodelled)


def test_item5_gaps_without_describe_security_groups_groups_have_no_rules(tmp_path):
    t = load(snapshot(tmp_path, "describe-security-groups"))
    for gid, name in ((FN_SG, "orders-fn"), (WEB_SG, "web")):
        sg = t.security_groups[gid]
        assert (sg.vpc, sg.ingress, sg.egress, sg.name) == (VPC, (), (), name)
        line = next(w for w in t.warnings if gid in w)
        assert "no describe-security-groups output was collected" in line
        assert "no rules" in line
    # used only by the interface of the uncollected subnet: nothing here needs it
    assert DB_SG not in t.security_groups
    # a group with no egress rule lets nothing out (S1): every place of the function
    r = trace(t, "lambda:orders", WEB_IP, port=443, fix=False)
    assert [(x.ok, x.failed.reason, FN_SG in x.failed.where) for x in r.subnets] == \
        [(False, "SG_HAS_NO_RULES", True)] * 2


@pytest.mark.parametrize("without", [("describe-vpcs",), ("describe-security-groups",),
                                     ("describe-vpcs", "describe-security-groups",
                                      "describe-route-tables", "describe-network-acls")])
def test_item5_gaps_the_cli_loads_with_warnings_not_exit_2(tmp_path, without, capsys):
    snap = snapshot(tmp_path, *without)
    code, out, err = run_cli(capsys, "trace", snap, "--from", "lambda:orders", "--to", WEB_IP,
                             "--port", "443")
    assert code in (0, 1), err
    assert "warning:" in err and "is not in the snapshot" in err

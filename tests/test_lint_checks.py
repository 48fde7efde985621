"""issue 9, `netemu lint`: one scenario per check. Each starts from tests/data/lint/
clean.yaml (no finding at all), adds exactly one mistake, and expects exactly that finding,
derived by hand from the AWS behaviour it names; its fix is then applied, lint runs again
without it and trace gets through."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from netemu.apps.lint import LintSettings, lint, lint_file
from netemu.apps.lint.apply import apply_changes
from netemu.apps.lint.context import finding_key
from netemu.apps.trace import trace
from tests.conftest import ROOT, merge

CLEAN = yaml.safe_load((ROOT / "tests/data/lint/clean.yaml").read_text())


@pytest.fixture
def linted(tmp_path):
    def run(changes: dict | None = None, base: dict = CLEAN, **kw):
        path = tmp_path / "topology.yaml"
        path.write_text(yaml.safe_dump(merge(base, changes or {}), sort_keys=False))
        topo, findings = lint_file(path, **kw)
        return topo, findings
    return run


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def only(findings, code: str):
    assert codes(findings) == [code], [(f.code, f.message) for f in findings]
    return findings[0]


def fixed(topo, finding, paths=()):
    """Apply the finding's fix: lint no longer reports it and every path gets through."""
    assert finding.fix_status == "verified", finding.fix_note
    changes = [c for f in finding.fixes for c in f.changes]
    after = apply_changes(topo, changes)
    again = lint(after)
    assert finding_key(finding) not in {finding_key(f) for f in again}
    for src, dst, port in paths:
        r = trace(after, src, dst, "tcp", port, fix=False)
        assert r.ok, (src, dst, r.to_json()["reason"])
    return after, again


def test_item9_clean_topology_has_no_finding(linted):
    _, findings = linted()
    assert findings == []


# ---- L4 -------------------------------------------------------------------------------
def test_item9_lint_L4_function_in_public_subnets(linted):
    topo, findings = linted({"functions": {"orders": {"subnets": ["public-a", "public-b"]}}})
    f = only(findings, "NETEMU-L4")
    assert f.severity == "error"
    assert f.resources == ["orders", "public-a", "public-b"]
    assert "L4" in f.explanation
    # private subnets of the same AZs already route to their NAT gateways: move there
    assert [c.item for x in f.fixes for c in x.changes] == [("private-a", "private-b")]
    fixed(topo, f, [("lambda:orders", "api.example.com", 443)])


def test_item9_lint_L4_fix_makes_private_subnets_where_none_exist(linted):
    changes = {"subnets": {"private-a": None, "private-b": None, "data-a": None},
               "hosts": None, "functions": {"orders": {"subnets": ["public-a"]}}}
    topo, findings = linted(changes)
    f = next(f for f in findings if f.code == "NETEMU-L4")
    actions = [c.action for x in f.fixes for c in x.changes]
    assert actions == ["create-route-table", "create-subnet", "update-function-subnets"]
    fixed(topo, f, [("lambda:orders", "api.example.com", 443)])


# ---- L7 -------------------------------------------------------------------------------
def test_item9_lint_L7_function_subnets_in_one_az(linted):
    topo, findings = linted({"functions": {"orders": {"subnets": ["private-a"]}}})
    f = only(findings, "NETEMU-L7")
    assert f.severity == "warning" and f.resources == ["orders", "private-a"]
    # private-b (us-east-1b) has the same ACL and its own AZ's NAT gateway
    assert [c.item for x in f.fixes for c in x.changes] == [("private-a", "private-b")]
    after, again = fixed(topo, f, [("lambda:orders", "api.example.com", 443)])
    assert again == []


# ---- G5 -------------------------------------------------------------------------------
def test_item9_lint_G5_subnet_routes_to_nat_in_another_az(linted):
    topo, findings = linted({"route_tables": {"private-b": {"0.0.0.0/0": "nat-a"}}})
    f = only(findings, "NETEMU-G5")
    # route table private-b, the NAT gateway of us-east-1a, the subnet private-b
    assert f.resources == ["private-b", "nat-a", "private-b"] and f.where == "us-east-1b"
    # only us-east-1b uses the table: its route goes to nat-b, in the table itself
    (change,) = [c for x in f.fixes for c in x.changes]
    assert (change.action, change.resource, change.item.target) == ("add-route", "private-b",
                                                                     "nat-b")
    after, again = fixed(topo, f, [("lambda:orders", "api.example.com", 443)])
    rt = after.route_tables[after.subnets["private-b"].route_table]
    assert [r.target for r in rt.routes if str(r.destination) == "0.0.0.0/0"] == ["nat-b"]


def test_item9_lint_G5_shared_table_gets_one_table_per_az(linted):
    """private-a's table used by private-b too: us-east-1b's subnets get their own table
    through nat-b; us-east-1a keeps the shared one."""
    topo, findings = linted({"subnets": {"private-b": {"route_table": "private-a"}}})
    f = only(findings, "NETEMU-G5")
    assert f.resources == ["private-a", "nat-a", "private-b"]
    actions = [c.action for x in f.fixes for c in x.changes]
    assert actions == ["create-route-table", "associate-route-table"]
    after, _ = fixed(topo, f, [("lambda:orders", "api.example.com", 443)])
    assert after.subnets["private-a"].route_table == "private-a"


# ---- G2 -------------------------------------------------------------------------------
def test_item9_lint_G2_nat_gateway_in_private_subnet(linted):
    topo, findings = linted({"nat_gateways": {"nat-b": {"subnet": "private-b"}}})
    f = only(findings, "NETEMU-G2")
    assert f.severity == "error" and f.resources[:2] == ["nat-b", "private-b"]
    assert "G2" in f.explanation
    after, again = fixed(topo, f, [("lambda:orders", "api.example.com", 443)])
    assert "nat-b" not in after.nat_gateways
    assert again == []


def test_item9_lint_G2_no_finding_for_nat_in_public_subnet(linted):
    _, findings = linted()
    assert "NETEMU-G2" not in codes(findings)


# ---- N6 -------------------------------------------------------------------------------
def test_item9_lint_N6_acl_admits_only_linux_ephemeral_range(linted):
    """Replies to Hyperplane and NAT ports (1024-65535) from the internet host and the
    database: 1024-32767 is not admitted by `100 allow tcp 32768-65535`."""
    acl = {"inbound": ["100 allow tcp 32768-65535 from 0.0.0.0/0",
                       "110 allow tcp 5432 from 10.0.0.0/16"]}
    topo, findings = linted({"network_acls": {"app": acl}})
    f = only(findings, "NETEMU-N6")
    assert f.resources == ["app", "orders"] and f.where == "inbound"
    # rule 110 admits the database's reply only when it happens to go to port 5432
    assert "from 10.0.20.25 tcp ports 1024-5431, 5433-32767" in f.message
    assert "from 203.0.113.10 tcp ports 1024-32767" in f.message
    entries = sorted(c.item.text for x in f.fixes for c in x.changes)
    assert entries == ["120 allow tcp 1024-65535 from 10.0.20.25/32",
                       "130 allow tcp 1024-65535 from 0.0.0.0/0"]
    fixed(topo, f, [("lambda:orders", "api.example.com", 443),
                    ("lambda:orders", "db-1.abc.us-east-1.rds.amazonaws.com", 5432)])


def test_item9_lint_N6_reply_dropped_outright(linted):
    """No ephemeral rule at all on the way out of the database's subnet."""
    acl = {"outbound": ["100 allow tcp 443 to 0.0.0.0/0", "110 allow tcp 5432 to 10.0.20.0/24"]}
    topo, findings = linted({"network_acls": {"app": acl}})
    f = only(findings, "NETEMU-N6")
    assert f.where == "outbound"
    fixed(topo, f, [("lambda:orders", "db-1.abc.us-east-1.rds.amazonaws.com", 5432)])


# ---- E1 -------------------------------------------------------------------------------
S3 = {"internet": {"s3.us-east-1.amazonaws.com": "52.216.0.10"}}


def test_item9_lint_E1_s3_through_nat_gateway(linted):
    topo, findings = linted(S3)
    f = only(findings, "NETEMU-E1")
    assert f.resources == ["orders", "s3"] and f.severity == "warning"
    (change,) = [c for x in f.fixes for c in x.changes]
    assert change.action == "create-gateway-endpoint"
    assert change.item.route_tables == ("private-a", "private-b")
    after, _ = fixed(topo, f, [("lambda:orders", "s3.us-east-1.amazonaws.com", 443)])
    r = trace(after, "lambda:orders", "s3.us-east-1.amazonaws.com", fix=False)
    assert not any(s.kind == "nat-gateway" for t in r.subnets for s in t.request.steps)


def test_item9_lint_E1_no_finding_with_gateway_endpoint(linted):
    changes = {**S3, "endpoints": {"vpce-s3": {"service": "s3", "type": "gateway"}},
               "route_tables": {"private-a": {"s3": "vpce-s3"}, "private-b": {"s3": "vpce-s3"}}}
    _, findings = linted(changes)
    assert findings == []


# ---- E2 -------------------------------------------------------------------------------
SQS = {"endpoints": {"vpce-sqs": {"service": "sqs", "type": "interface",
                                  "subnets": ["private-a", "private-b"],
                                  "security_groups": ["ep"], "private_dns": False}},
       "security_groups": {"ep": {"ingress": ["tcp 443 from sg:fn"]}}}


def test_item9_lint_E2_interface_endpoint_without_private_dns(linted):
    topo, findings = linted(SQS)
    f = only(findings, "NETEMU-E2")
    assert f.resources == ["vpce-sqs", "orders"]
    assert f.severity == "warning"       # it still works, around the endpoint, via NAT
    after, _ = fixed(topo, f, [("lambda:orders", "sqs.us-east-1.amazonaws.com", 443)])
    r = trace(after, "lambda:orders", "sqs.us-east-1.amazonaws.com", fix=False)
    assert "interface endpoint vpce-sqs" in r.destination.label


def test_item9_lint_E2_no_finding_with_private_dns(linted):
    ep = {**SQS["endpoints"]["vpce-sqs"], "private_dns": True}
    _, findings = linted({**SQS, "endpoints": {"vpce-sqs": ep}})
    assert findings == []


# ---- D2 -------------------------------------------------------------------------------
def test_item9_lint_D2_custom_dns_cannot_answer_endpoint_name(linted):
    ep = {**SQS["endpoints"]["vpce-sqs"], "private_dns": True}
    topo, findings = linted({**SQS, "endpoints": {"vpce-sqs": ep},
                             "dns_servers": ["10.0.0.53"]})
    f = only(findings, "NETEMU-D2")
    assert f.resources == ["app"] and "sqs.us-east-1.amazonaws.com" in f.message
    after, _ = fixed(topo, f, [("lambda:orders", "sqs.us-east-1.amazonaws.com", 443)])
    assert not after.vpcs["app"].custom_dns


def test_item9_lint_D2_no_finding_when_no_private_name_is_used(linted):
    _, findings = linted({"dns_servers": ["10.0.0.53"]})
    assert findings == []


# ---- L2 -------------------------------------------------------------------------------
def test_item9_lint_L2_subnet_too_small_for_hyperplane_enis(linted):
    """A /28: 16 addresses, 5 reserved; six functions with six group sets take six
    Hyperplane ENIs, leaving 5 free where 6 more may be needed (one per ENI)."""
    sgs = {f"g{i}": {"egress": ["tcp 443 to 0.0.0.0/0"]} for i in range(6)}
    fns = {f"f{i}": {"subnets": ["private-a", "private-b"], "security_groups": [f"g{i}"]}
           for i in range(6)}
    changes = {"subnets": {"private-a": {"cidr": "10.0.10.0/28"}}, "security_groups": sgs,
               "functions": fns, "hosts": None}
    base = {**CLEAN, "functions": {}}
    topo, findings = linted(changes, base=base)
    f = only(findings, "NETEMU-L2")
    assert f.resources[0] == "private-a" and f.severity == "warning"
    assert "5 free address(es)" in f.message and "6 needed" in f.message
    after, again = fixed(topo, f, [("lambda:f0", "api.example.com", 443)])
    assert again == []


# ---- L8 -------------------------------------------------------------------------------
def test_item9_lint_L8_hyperplane_eni_quota(linted):
    """Eight functions with their own groups in two subnets: 16 Hyperplane ENIs; over a
    quota of 15, within one of 16 (the quota is a setting, 500 by default)."""
    sgs = {f"g{i}": {"egress": ["tcp 443 to 0.0.0.0/0"]} for i in range(8)}
    fns = {f"f{i}": {"subnets": ["private-a", "private-b"], "security_groups": [f"g{i}"]}
           for i in range(8)}
    changes = {"security_groups": sgs, "functions": fns, "hosts": None}
    base = {**CLEAN, "functions": {}}
    _, findings = linted(changes, base=base, settings=LintSettings(eni_quota=15))
    f = only(findings, "NETEMU-L8-QUOTA")
    assert "needs 16 Hyperplane ENIs" in f.message and f.fix_status == "unverified"
    _, findings = linted(changes, base=base, settings=LintSettings(eni_quota=16))
    assert findings == []
    _, findings = linted(changes, base=base)
    assert findings == []


def test_item9_lint_L8_function_over_subnet_limit(linted):
    subnets = {f"s{i}": {"cidr": f"10.0.{100 + i}.0/24", "az": "us-east-1a",
                         "route_table": "private-a", "acl": "app"} for i in range(15)}
    names = ["private-a", "private-b", *subnets]
    topo, findings = linted({"subnets": subnets, "functions": {"orders": {"subnets": names}}})
    f = only(findings, "NETEMU-L8-LIMITS")
    assert "17 subnets (at most 16)" in f.message and f.severity == "error"
    assert len(topo.functions["orders"].subnets) == 16      # the rest linted with 16


# ---- L12 ------------------------------------------------------------------------------
def test_item9_lint_L12_role_without_eni_permissions(linted):
    topo, findings = linted({"functions": {"orders": {"role_can_manage_enis": False}}})
    f = only(findings, "NETEMU-L12")
    assert [c.action for x in f.fixes for c in x.changes] == ["attach-vpc-access-policy"]
    fixed(topo, f, [("lambda:orders", "api.example.com", 443),
                    ("lambda:orders", "db-1.abc.us-east-1.rds.amazonaws.com", 5432)])


# ---- R3 -------------------------------------------------------------------------------
def test_item9_lint_R3_blackhole_route_dropping_a_path(linted):
    topo, findings = linted({"route_tables": {"private-b": {"0.0.0.0/0": "blackhole"}}})
    f = only(findings, "NETEMU-R3")
    assert f.severity == "error" and f.resources == ["private-b"] and f.where == "0.0.0.0/0"
    (change,) = [c for x in f.fixes for c in x.changes]
    assert (change.item.target, str(change.item.destination)) == ("nat-b", "0.0.0.0/0")
    fixed(topo, f, [("lambda:orders", "api.example.com", 443)])


def test_item9_lint_R3_unused_blackhole_in_used_table(linted):
    topo, findings = linted({"route_tables": {"private-a": {"10.1.0.0/16": "blackhole"}}})
    f = only(findings, "NETEMU-R3")
    assert f.severity == "warning" and f.where == "10.1.0.0/16"
    assert [c.action for x in f.fixes for c in x.changes] == ["delete-route"]
    fixed(topo, f)


# ---- N3 / S1: rules that can never match ------------------------------------------------
def test_item9_lint_N3_acl_rules_shadowed(linted):
    acl = {"inbound": ["100 allow tcp 1024-65535 from 0.0.0.0/0",
                       "130 allow tcp 2000-3000 from 10.0.0.0/8",
                       "140 deny tcp 5000 from 203.0.113.0/24",
                       "150 deny tcp 80 from 0.0.0.0/0"]}
    topo, findings = linted({"network_acls": {"app": acl}})
    assert codes(findings) == ["NETEMU-N3", "NETEMU-N3"]
    redundant, conflict = findings
    assert redundant.where == "inbound 130" and "already decide the same way" in \
        redundant.message
    assert conflict.where == "inbound 140" and "shadowed by rule(s) 100" in conflict.message
    fixed(topo, redundant)


def test_item9_lint_S1_security_group_rule_covered(linted):
    fn = {"egress": ["tcp 443 to 0.0.0.0/0", "tcp 5432 to sg:db", "tcp 443 to 203.0.113.0/24",
                     "tcp 5432 to sg:db", "tcp 5432 to 10.0.0.0/8"]}
    topo, findings = linted({"security_groups": {"fn": fn}})
    assert codes(findings) == ["NETEMU-S1", "NETEMU-S1"]
    # rule 3 inside rule 1; of the two equal sg:db rules one goes; a CIDR rule never
    # covers a group reference (its members change), nor the reverse
    assert [f.where for f in findings] == ["egress tcp 5432 to sg:db",
                                           "egress tcp 443 to 203.0.113.0/24"]
    fixed(topo, findings[0], [("lambda:orders", "db-1.abc.us-east-1.rds.amazonaws.com", 5432)])


def test_item9_lint_findings_carry_yaml_lines(linted):
    topo, findings = linted({"route_tables": {"private-b": {"0.0.0.0/0": "nat-a"}}})
    text = yaml.safe_dump(merge(CLEAN, {"route_tables": {"private-b": {"0.0.0.0/0": "nat-a"}}}),
                          sort_keys=False).splitlines()
    line = findings[0].line
    assert text[line - 1].strip().startswith("private-b:")
    assert ipaddress.ip_network(topo.subnets["private-b"].cidr)


def test_item9_lint_R3_blackhole_made_for_a_gateway_the_snapshot_lacks():
    """A partial snapshot: routes to gateways it does not describe are blackholes in the
    model; lint says why and offers no configuration change."""
    _, findings = lint_file(ROOT / "tests/data/snapshots/partial")
    r3 = [f for f in findings if f.code == "NETEMU-R3"]
    assert r3 and all("is not in the snapshot" in f.message and f.fix_status == "none"
                      for f in r3)

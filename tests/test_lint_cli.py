"""issue 9, `netemu lint` on the command line: exit status by --severity, bad input,
text/JSON/SARIF output; SARIF checked for what code-scanning dashboards read."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from netemu.apps.lint.registry import RULES
from netemu.cli import app
from tests.conftest import ROOT, merge

runner = CliRunner()
DATA = ROOT / "tests/data/lint"
MISTAKES = DATA / "mistakes.yaml"      # N6 (error), G5 (warning), S1 (info)


def run(*args):
    r = runner.invoke(app, ["lint", *map(str, args)])
    return r.exit_code, r.stdout, r.stderr


def test_item9_lint_exit_0_on_clean_topology():
    code, out, _ = run(DATA / "clean.yaml")
    assert code == 0 and out.strip().endswith("0 finding(s): 0 error, 0 warning, 0 info")


def test_item9_lint_exit_1_when_finding_at_or_above_severity():
    assert run(MISTAKES)[0] == 1
    assert run(MISTAKES, "--severity", "error")[0] == 1


def test_item9_lint_exit_by_severity_threshold(tmp_path):
    """Only an info finding (a redundant group rule): fails at info, passes above it."""
    clean = yaml.safe_load((DATA / "clean.yaml").read_text())
    sg = {"fn": {"egress": ["tcp 443 to 0.0.0.0/0", "tcp 5432 to sg:db",
                            "tcp 443 to 203.0.113.0/24"]}}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(merge(clean, {"security_groups": sg})))
    code, out, _ = run(path)
    assert code == 0 and "info NETEMU-S1" in out          # shown, but below warning
    assert run(path, "--severity", "info")[0] == 1
    assert run(path, "--severity", "error")[0] == 0


def test_item9_lint_bad_input_exit_2_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("vpc: app\ncidr: 10.0.0.0/33\n")
    code, out, err = run(bad)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("netemu: error: ")
    assert str(bad) in err
    code, out, err = run(tmp_path / "missing.yaml")
    assert code == 2 and out == "" and "no such file" in err


def test_item9_lint_bad_options_exit_2():
    for args in (("--format", "xml"), ("--severity", "fatal"), ("--fix-format", "cdk")):
        code, out, err = run(MISTAKES, *args)
        assert code == 2 and out == "" and err.startswith("netemu: error: "), args


def test_item9_lint_json_has_fix_in_every_format():
    code, out, _ = run(MISTAKES, "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["summary"] == {"error": 1, "warning": 1, "info": 1}
    n6 = next(f for f in doc["findings"] if f["code"] == "NETEMU-N6")
    assert n6["fix"]["status"] == "verified"
    assert any("aws ec2 create-network-acl-entry --network-acl-id app --ingress "
               "--rule-number 130 --protocol tcp --port-range From=1024,To=65535 "
               "--cidr-block 0.0.0.0/0 --rule-action allow" in c for c in n6["fix"]["aws_cli"])
    assert any('resource "aws_network_acl_rule"' in t for t in n6["fix"]["terraform"])


def test_item9_lint_text_fix_format_aws_cli():
    _, out, _ = run(MISTAKES, "--fix-format", "aws-cli")
    assert "aws ec2 revoke-security-group-egress --group-id fn --ip-permissions " \
        "'IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=203.0.113.0/24}]'" in out


def test_item9_lint_sarif_structure():
    code, out, _ = run(MISTAKES, "--format", "sarif")
    doc = json.loads(out)
    assert code == 1 and doc["version"] == "2.1.0" and "sarif-2.1.0" in doc["$schema"]
    (sarif_run,) = doc["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids)) and set(ids) == set(RULES)
    for r in rules:
        assert r["shortDescription"]["text"] and r["helpUri"].endswith(
            "docs/lint.md#" + r["id"].lower())
        assert r["defaultConfiguration"]["level"] in ("note", "warning", "error")
    results = sarif_run["results"]
    assert sorted(r["ruleId"] for r in results) == ["NETEMU-G5", "NETEMU-N6", "NETEMU-S1"]
    lines = MISTAKES.read_text().splitlines()
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("note", "warning", "error") and res["message"]["text"]
        (loc,) = res["locations"]
        phys = loc["physicalLocation"]
        assert phys["artifactLocation"]["uri"] == str(MISTAKES)
        start = phys["region"]["startLine"]
        # the line of the resource: the subnet, the ACL, the group
        first = loc["logicalLocations"][0]["name"]
        assert lines[start - 1].strip().startswith(f"{first}:"), (first, start)
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels == {"NETEMU-N6": "error", "NETEMU-G5": "warning", "NETEMU-S1": "note"}


def test_item9_trace_fix_format_terraform_and_json():
    path = ROOT / "topologies/lambda-two-az-missing-nat.yaml"
    r = runner.invoke(app, ["trace", str(path), "--from", "lambda:orders", "--to",
                            "api.example.com", "--fix-format", "terraform"])
    assert r.exit_code == 1
    assert 'resource "aws_route" "private_b_default" {' in r.stdout
    assert 'nat_gateway_id         = "nat-b"' in r.stdout
    r = runner.invoke(app, ["trace", str(path), "--from", "lambda:orders", "--to",
                            "api.example.com", "--fix-format", "aws-cli", "--json"])
    doc = json.loads(r.stdout)
    assert doc["fix_aws_cli"] == ["# add route 0.0.0.0/0 -> nat-b to route table private-b\n"
                                  "aws ec2 create-route --route-table-id private-b "
                                  "--destination-cidr-block 0.0.0.0/0 --nat-gateway-id nat-b"]
    r = runner.invoke(app, ["trace", str(path), "--from", "lambda:orders", "--to",
                            "api.example.com", "--fix-format", "pulumi"])
    assert r.exit_code == 2 and r.stdout == ""

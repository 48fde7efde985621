"""`netemu diff` (issue 9): what a change opens and closes, with the rule responsible on
each side; exit 1 when something that worked stops working."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from netemu.cli import app
from tests.conftest import ROOT

runner = CliRunner()
TOPOS = ROOT / "topologies"


def run(*args):
    r = runner.invoke(app, ["diff", *map(str, args)])
    return r.exit_code, r.stdout


def test_item9_diff_removing_the_ephemeral_rule_loses_tcp(tmp_path):
    """ACL app's inbound rule 100 (tcp 1024-65535) is what lets the NAT gateway's TCP
    replies back to the Hyperplane ENI's allocated port; without it, `*` drops them:
    TCP to the internet is lost from both subnets, and nothing is gained."""
    text = (TOPOS / "lambda-nat-internet.yaml").read_text()
    after = tmp_path / "after.yaml"
    after.write_text(text.replace('"100 allow tcp 1024-65535 from 0.0.0.0/0", ', ""))
    code, out = run(TOPOS / "lambda-nat-internet.yaml", after, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["lost"] is True
    assert sorted(c["subnet"] for c in doc["changes"]) == ["private-a", "private-b"]
    for c in doc["changes"]:
        assert [r["protocol"] for r in c["lost"]] == ["tcp"] and c["gained"] == []
        assert any(r["rules"] == ["app rule 100 allow tcp 1024-65535 from 0.0.0.0/0"]
                   for r in c["before"] if "rules" in r)
        assert any(w.get("rule", "").startswith("app rule *") for w in c["after"])


def test_item9_diff_adding_the_missing_route_only_gains(tmp_path):
    """Giving private-b the default route to nat-b (its own AZ) opens the internet from
    private-b and closes nothing: exit 0."""
    text = (TOPOS / "lambda-two-az-missing-nat.yaml").read_text()
    after = tmp_path / "after.yaml"
    after.write_text(text.replace("private-b: {}", "private-b: {0.0.0.0/0: nat-b}"))
    code, out = run(TOPOS / "lambda-two-az-missing-nat.yaml", after, "--json")
    assert code == 0
    doc = json.loads(out)
    (change,) = doc["changes"]
    assert change["subnet"] == "private-b" and change["lost"] == []
    assert {r["protocol"] for r in change["gained"]} == {"tcp", "udp", "icmp"}
    assert any(w.get("reason") == "NO_ROUTE_TO_DESTINATION" for w in change["before"])
    assert any("private-b route 0.0.0.0/0 -> nat-b" in w.get("rules", [])
               for w in change["after"])


def test_item9_diff_same_topology_changes_nothing():
    code, out = run(TOPOS / "lambda-nat-internet.yaml", TOPOS / "lambda-nat-internet.yaml")
    assert code == 0 and "no change" in out

"""`netemu reach` on the shipped topologies, answers derived by hand from the YAML and
AWS-SEMANTICS.md (issue 9)."""

from __future__ import annotations

import ipaddress
import json

import pytest
from typer.testing import CliRunner

from netemu.apps.reach.query import Reach, in_set
from netemu.cli import app
from netemu.io.load import load
from netemu.packet import ICMP, TCP, UDP
from tests.conftest import ROOT

runner = CliRunner()
TOPOS = ROOT / "topologies"
API = int(ipaddress.IPv4Address("203.0.113.10"))


def run(*args):
    r = runner.invoke(app, ["reach", *map(str, args)])
    return r.exit_code, r.stdout, r.stderr


def topo(name):
    return load(TOPOS / f"{name}.yaml")


def test_item9_nacl_without_ephemeral_range_reaches_request_only():
    """The ACL allows tcp 443 in and out; the NAT gateway's reply comes back to the
    Hyperplane ENI's port, 1024-65535 (N6), which only `*` matches: exit 1, the reply
    blocked by ACL app rule `*`, and trace's fix (the ephemeral range) verified."""
    code, out, _ = run(TOPOS / "lambda-nacl-no-ephemeral.yaml", "--from", "lambda:billing",
                       "--to", "api.example.com", "--proto", "tcp", "--ports", "443",
                       "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["reaches"] is False
    block = doc["places"][0]["blocked"][0]
    assert block["leg"] == "reply"
    assert block["reason"] == "SUBNET_ACL_RESTRICTION"
    assert block["rule"].startswith("app rule *")
    assert "acl-inbound" in block["at"]
    assert doc["fix_verified"] is True
    assert any("1024-65535" in f for f in doc["fix"])


def test_item9_nacl_without_ephemeral_text_names_the_rule():
    code, out, _ = run(TOPOS / "lambda-nacl-no-ephemeral.yaml", "--from", "lambda:billing",
                       "--to", "api.example.com", "--ports", "443")
    assert code == 1
    assert "reply dropped at acl-inbound:private-a(app): SUBNET_ACL_RESTRICTION, app rule *" \
        in out
    assert "fix (verified" in out


def test_item9_nat_internet_tcp_only_replies_pass_the_acl():
    """orders sends anything (its group allows all out) through nat-a and the internet
    gateway. Replies come back to the Hyperplane ENI's allocated port: ACL app lets in
    only tcp 1024-65535 from anywhere (and anything from the VPC), so TCP gets its
    replies, UDP and ICMP from the internet do not (rule `*`). Private destinations
    outside the VPC are nobody's on the internet (UNKNOWN_DESTINATION)."""
    r = Reach(topo("lambda-nat-internet"))
    answers = r.reach("lambda:orders")
    assert [a.source.subnet for a in answers] == ["private-a", "private-b"]
    for a in answers:
        got = a.boxes()
        assert in_set(got, API, TCP, 40000, 443)
        assert in_set(got, API, TCP, 1024, 1)
        assert not in_set(got, API, UDP, 40000, 53)
        assert not in_set(got, API, ICMP, 8, 0)
        assert not in_set(got, int(ipaddress.IPv4Address("192.168.1.1")), TCP, 40000, 443)
        # S6: the resolver answers whatever the ACLs say
        assert in_set(got, int(ipaddress.IPv4Address("10.0.0.2")), UDP, 40000, 53)
        udp = [b for b in a.blocked if b["leg"] == "reply" and b["rule"]
               and b["rule"].startswith("app rule *")]
        assert udp, "the UDP replies are blocked by app rule *"


def test_item9_two_az_missing_nat_subnets_disagree():
    """private-b's route table is empty: from there nothing leaves the VPC
    (NO_ROUTE_TO_DESTINATION at route table private-b); private-a goes through nat-a."""
    code, out, _ = run(TOPOS / "lambda-two-az-missing-nat.yaml", "--from", "lambda:orders",
                       "--to", "api.example.com", "--proto", "tcp", "--ports", "443",
                       "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["agree"] is False
    a, b = doc["places"]
    assert a["subnet"] == "private-a" and a["reaches"]
    assert b["subnet"] == "private-b" and not b["reaches"]
    assert b["blocked"][0]["reason"] == "NO_ROUTE_TO_DESTINATION"
    assert "private-b" in b["blocked"][0]["at"]
    assert doc["fix_verified"] is True
    assert any("nat-b" in f for f in doc["fix"])       # the NAT gateway of its own AZ


def test_item9_two_az_missing_nat_full_reach_says_they_differ():
    code, out, _ = run(TOPOS / "lambda-two-az-missing-nat.yaml", "--from", "lambda:orders")
    assert code == 0
    assert "2 subnets, they DISAGREE" in out


def test_item9_who_reaches_the_database():
    """Only orders' group may reach the db on 5432 (sg:db ingress from sg:fn), from both
    subnets; no internet gateway: the internet reaches nothing."""
    code, out, _ = run(TOPOS / "lambda-rds-sg-reference.yaml", "--to",
                       "orders-db.c9akciq32.us-east-1.rds.amazonaws.com", "--proto", "tcp",
                       "--ports", "5432", "--json")
    assert code == 0
    doc = json.loads(out)
    fn = [s for s in doc["sources"] if s["from"] == "lambda:orders"]
    assert sorted(s["subnet"] for s in fn) == ["app-a", "app-b"]
    assert all(s["reaches"][0]["packets"][0]["ports"] == "5432" for s in fn)
    assert not any(s["from"] == "internet" for s in doc["sources"])


def test_item9_who_reaches_other_ports_of_the_database():
    """On 22 the db's group lets nothing in from the function (or the internet)."""
    code, out, _ = run(TOPOS / "lambda-rds-sg-reference.yaml", "--to", "10.0.20.25",
                       "--proto", "tcp", "--ports", "22", "--json")
    doc = json.loads(out)
    assert not any(s["from"] in ("lambda:orders", "internet") for s in doc["sources"])


@pytest.mark.parametrize("args, word", [
    (["--from", "lambda:nope"], "unknown"),
    (["--from", "lambda:orders", "--ports", "9-1"], "--ports"),
    (["--from", "lambda:orders", "--proto", "gre"], "--proto"),
    ([], "--from"),
])
def test_item9_bad_input_is_one_line_exit_2(args, word):
    code, out, err = run(TOPOS / "lambda-nat-internet.yaml", *args)
    assert code == 2
    assert out == ""
    assert err.startswith("netemu: error:") and word in err and err.count("\n") == 1


def test_item9_the_internet_cannot_reach_a_private_address():
    """No internet gateway and a private address: the internet routes nowhere
    (UNKNOWN_DESTINATION); exit 1, one answer, no traceback (trace has no fix for it)."""
    code, out, _ = run(TOPOS / "lambda-rds-sg-reference.yaml", "--from", "internet",
                       "--to", "10.0.20.25", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["places"][0]["blocked"][0]["reason"] == "UNKNOWN_DESTINATION"
    assert doc["fix"] == [] and doc["fix_note"]

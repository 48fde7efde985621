"""Bad input, one test per kind: one line naming the file and the line or resource, and
the problem; exit status 2; no traceback."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from conftest import BASE, TOPOLOGIES, merge
from typer.testing import CliRunner

from netemu.cli import app

runner = CliRunner()


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path, text: str, name: str = "bad.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def base_yaml(changes: dict) -> str:
    return yaml.safe_dump(merge(BASE, changes), sort_keys=False)


def check(tmp_path, text, *expected, name="bad.yaml", src="lambda:orders",
          dst="api.example.com"):
    path = write(tmp_path, text, name)
    code, out, err = run("trace", path, "--from", src, "--to", dst)
    assert code == 2, err
    assert out == ""                                  # no partial output
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"netemu: error: {path}")
    for e in expected:
        assert e in lines[0], lines[0]
    return lines[0]


def test_malformed_yaml(tmp_path):
    check(tmp_path, "vpc: app\ncidr: [10.0.0.0/16\nsubnets: {}\n", "malformed YAML")


def test_malformed_json_snapshot(tmp_path):
    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "vpcs.json").write_text('{"Vpcs": [\n  {"VpcId": "vpc-1",,}\n]}')
    code, out, err = run("trace", folder, "--from", "1.2.3.4", "--to", "5.6.7.8")
    assert code == 2 and out == ""
    assert "vpcs.json:2" in err and len(err.strip().splitlines()) == 1


def test_unknown_reference(tmp_path):
    line = check(tmp_path, base_yaml({"subnets": {"private-a": {"route_table": "nope"}}}),
                 "private-a", "unknown route table 'nope'")
    assert ".yaml:" in line


def test_invalid_cidr(tmp_path):
    check(tmp_path, base_yaml({"subnets": {"private-a": {"cidr": "10.0.10.0/33"}}}),
          "private-a", "invalid subnet CIDR '10.0.10.0/33'")


def test_cidr_with_host_bits(tmp_path):
    check(tmp_path, base_yaml({"subnets": {"private-a": {"cidr": "10.0.10.1/24"}}}),
          "private-a", "has host bits set")


def test_overlapping_subnets(tmp_path):
    check(tmp_path, base_yaml({"subnets": {"private-b": {"cidr": "10.0.10.128/25"}}}),
          "private-b", "overlaps subnet private-a")


def test_subnet_outside_its_vpc(tmp_path):
    check(tmp_path, base_yaml({"subnets": {"private-b": {"cidr": "10.1.0.0/24"}}}),
          "private-b", "outside VPC app")


def test_duplicate_ids(tmp_path):
    text = base_yaml({}).replace("  private-b:", "  private-a:", 1)
    line = check(tmp_path, text, "duplicate id 'private-a'")
    assert f"{tmp_path / 'bad.yaml'}:" in line


def test_nacl_rule_number_out_of_range(tmp_path):
    check(tmp_path, base_yaml({"network_acls": {"app": {"inbound": [
        "40000 allow all from 0.0.0.0/0"]}}}), "app", "rule number 40000")


def test_reversed_port_range(tmp_path):
    check(tmp_path, base_yaml({"security_groups": {"db": {"ingress": [
        "tcp 5432-5000 from 10.0.0.0/16"]}}}), "db", "reversed")


def test_unknown_source_and_destination(tmp_path):
    topo = TOPOLOGIES / "lambda-nat-internet.yaml"
    for src, dst, words in (("lambda:nope", "api.example.com", "unknown Lambda function"),
                            ("lambda:orders", "eni:eni-nope", "unknown network interface"),
                            ("instance:i-nope", "api.example.com", "unknown instance"),
                            ("lambda:orders", "no.such.name", "cannot resolve")):
        code, out, err = run("trace", topo, "--from", src, "--to", dst)
        assert code == 2 and out == "" and words in err and "Traceback" not in err


def test_missing_file(tmp_path):
    code, _, err = run("trace", tmp_path / "nope.yaml", "--from", "a", "--to", "b")
    assert code == 2 and "no such file" in err


def test_unknown_key_names_its_line(tmp_path):
    line = check(tmp_path, base_yaml({"subnets": {"private-a": {"acl_id": "x"}}}),
                 "unknown key 'acl_id'")
    assert re.search(r"bad\.yaml:\d+: private-a: unknown key", line), line


@pytest.mark.parametrize("rule", ["tcp 99999 from 0.0.0.0/0", "tcp 80 via 0.0.0.0/0",
                                  "bogus 80 from 0.0.0.0/0"])
def test_bad_rule_text(tmp_path, rule):
    check(tmp_path, base_yaml({"security_groups": {"db": {"ingress": [rule]}}}), "db")


def test_json_output_on_success_and_drop(tmp_path):
    topo = TOPOLOGIES / "lambda-public-subnet.yaml"
    code, out, _ = run("trace", topo, "--from", "lambda:webhook", "--to", "api.example.com",
                       "--json")
    data = json.loads(out)
    assert code == 1
    assert (data["verdict"], data["reply_verdict"], data["dropped_at"], data["reason"]) == (
        "dropped", None, "igw", "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS")
    assert isinstance(data["hops"], list) and data["hops"][-1]["decision"] == "drop"
    code, out, _ = run("trace", TOPOLOGIES / "lambda-nat-internet.yaml", "--from",
                       "lambda:orders", "--to", "api.example.com", "--json")
    assert code == 0 and json.loads(out)["reply_verdict"] == "delivered"

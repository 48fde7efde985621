"""Issue 7, item 6: no input crashes netemu. Each hostile input is one line
`netemu: error: FILE[:LINE]: ...` on stderr and exit 2, within a second and a small memory
bound; a usage error is one line naming the option; a bug is one line
`netemu: internal error: ...` and exit 3; never a traceback."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time

import pytest
import yaml
from conftest import BASE, TOPOLOGIES, merge, run_cli

from netemu.io.pcap_writer import write_pcap
from netemu.packet import empty

NAT = TOPOLOGIES / "lambda-nat-internet.yaml"

# 342 bytes: nine levels of nine aliases, 9^9 = 387 million strings once expanded
BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""




def refused(capsys, *args, says: str = "", where: str = "") -> str:
    code, out, err = run_cli(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"netemu: error: {where}"), lines[0]
    assert says in lines[0], lines[0]
    return lines[0]


def show(capsys, path, says: str, line: int | None = None) -> str:
    where = f"{path}:{line}" if line else str(path)
    return refused(capsys, "show", path, says=says, where=where)


def write(tmp_path, doc, name="t.yaml"):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return p


# ---- bounded work on hostile files ------------------------------------------------------

def test_item6_yaml_alias_bomb_is_refused_in_bounded_time_and_memory(tmp_path):
    """A 342-byte billion-laughs: refused from the event stream, never expanded (today it
    grows to 11.8 GB). Run as a separate process so its peak memory can be measured."""
    path = write(tmp_path, BOMB)
    assert len(BOMB.encode()) == 342
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", "from netemu.cli import main; main()",
                           "show", str(path)], capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"netemu: error: {path}:") and "expands" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert elapsed < 10 and peak_mb < 1024      # interpreter start-up included


@pytest.mark.parametrize("text, says", [
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "malformed YAML"),
    ("a:\n" + "".join(" " * i + "- \n" for i in range(1, 200)), "nested deeper than 64"),
])
def test_item6_deep_nesting_is_refused(capsys, tmp_path, text, says):
    t0 = time.monotonic()
    show(capsys, write(tmp_path, text), says)
    assert time.monotonic() - t0 < 1


def test_item6_non_utf8_topology_names_line_and_byte(capsys, tmp_path):
    path = tmp_path / "t.yaml"
    path.write_bytes(b"vpc: app\ncidr: 10.0.0.0/16\nsubnets: {a: {cidr: \"\xff\"}}\n")
    show(capsys, path, "not UTF-8 text: byte 0xff", line=3)


def test_item6_device_and_fifo_are_refused_without_reading(capsys, tmp_path):
    t0 = time.monotonic()
    show(capsys, "/dev/zero", "is a device, not a regular file")
    fifo = tmp_path / "t.yaml"
    os.mkfifo(fifo)                 # opening it to read would block forever
    show(capsys, fifo, "is a FIFO, not a regular file")
    refused(capsys, "replay", NAT, "/dev/zero", says="not a regular file", where="/dev/zero")
    assert time.monotonic() - t0 < 2


def test_item6_pcap_given_as_topology(capsys, tmp_path):
    path = tmp_path / "capture.yaml"
    write_pcap(path, empty(3))
    show(capsys, path, "is a packet capture, not a topology")


@pytest.mark.parametrize("batch", ["0", "-5"])
def test_item6_batch_below_one_is_refused(capsys, tmp_path, batch):
    trace = tmp_path / "t.jsonl"
    trace.write_text(json.dumps({"ts": 1, "src": "169.254.0.1", "dst": "203.0.113.10",
                                 "sport": 40000, "dport": 443, "proto": 6, "packets": 2,
                                 "bytes": 100}) + "\n")
    t0 = time.monotonic()
    refused(capsys, "replay", NAT, trace, "--batch", batch, "-q", says="--batch")
    assert time.monotonic() - t0 < 2


@pytest.mark.parametrize("field, value", [("ts", "NaN"), ("ts", "Infinity"),
                                          ("ts", "-Infinity"), ("duration", "1e999"),
                                          ("ts", "\"12\"")])
def test_item6_nan_or_infinite_times_in_flows_are_refused(capsys, tmp_path, field, value):
    flow = {"ts": 1, "src": "169.254.0.1", "dst": "203.0.113.10", "sport": 40000,
            "dport": 443, "proto": 6, "packets": 2, "bytes": 100, "duration": 0.5}
    text = json.dumps(flow).replace(f'"{field}": {json.dumps(flow[field])}',
                                    f'"{field}": {value}')
    trace = tmp_path / "t.jsonl"
    trace.write_text(text + "\n")
    refused(capsys, "replay", NAT, trace, "-q", says=field, where=f"{trace}:1")


# ---- every field validated at load ------------------------------------------------------

FN = {"functions": {"orders": {"subnets": ["private-a", "private-b"],
                               "security_groups": ["fn"]}}}
CASES = {
    # a string where a list belongs: today "private-a" is read as nine subnets p, r, i, ...
    "string_for_list": ({"functions": {"orders": {"subnets": "private-a"}}},
                        "subnets must be a list, not the string 'private-a'"),
    "null_item": ({"functions": {"orders": {"security_groups": [None]}}},
                  "security_groups item 1 must be a non-empty string, not null"),
    "mapping_for_scalar": ({"subnets": {"private-a": {"az": {"zone": "a"}}}},
                           "az must be a non-empty string, not a mapping"),
    "number_for_rule": ({"security_groups": {"web": {"ingress": [443]}}},
                        "ingress item 1 must be a non-empty string, not the number 443"),
    "list_route_target": ({"route_tables": {"private": {"0.0.0.0/0": ["nat-a"]}}},
                          "0.0.0.0/0 must be a non-empty string, not a list"),
    "memory_too_small": ({"functions": {"orders": {"memory": 64}}},
                         "memory 64 is outside 128-10240"),
    "memory_too_large": ({"functions": {"orders": {"memory": 20480}}},
                         "memory 20480 is outside 128-10240"),
    "memory_not_a_number": ({"functions": {"orders": {"memory": "lots"}}},
                            "memory must be an integer, not the string 'lots'"),
    # YAML booleans: a quoted 'false' or 'no' is a string, and a string is not false
    "quoted_false": ({"dns_support": "false"}, "dns_support must be true or false"),
    "quoted_no": ({"functions": {"orders": {"role_can_manage_enis": "no"}}},
                  "role_can_manage_enis must be true or false"),
    "nat_public_string": ({"nat_gateways": {"nat-a": {"public": "yes"}}},
                          "public must be true or false"),
    # today the scalar is split into letters: servers '1', '0', '.', ...
    "dns_servers_scalar": ({"dns_servers": "10.0.0.2"},
                           "dns_servers must be a list, not the string '10.0.0.2'"),
    "name_of_two_kinds": ({"hosts": {"nat-a": {"subnet": "public-a", "ip": "10.0.0.60"}}},
                          "name 'nat-a' is used by both a NAT gateway and a host"),
    "overlapping_vpc_cidrs": ({"cidr": None, "cidrs": ["10.0.0.0/16", "10.0.128.0/17"]},
                              "VPC CIDR 10.0.128.0/17 overlaps its CIDR 10.0.0.0/16"),
    "duplicate_vpc_cidrs": ({"cidr": None, "cidrs": ["10.0.0.0/16", "10.0.0.0/16"]},
                            "overlaps its CIDR 10.0.0.0/16"),
    "vpc_too_large": ({"cidr": "10.0.0.0/8"}, "between /16 and /28"),
    "endpoint_type": ({"endpoints": {"vpce-x": {"service": "s3", "type": "gatewayload"}}},
                      "unknown type 'gatewayload' (expected gateway or interface)"),
    "endpoint_policy": ({"endpoints": {"vpce-x": {"service": "s3", "policy": "Allow"}}},
                        "unknown policy 'Allow' (expected allow or deny)"),
    "host_kind": ({"hosts": {"web-1": {"kind": "lambda"}}},
                  "unknown kind 'lambda' (expected instance or rds)"),
    # int() reads '1_000' as 1000; AWS and netemu take digits only
    "nacl_number_underscore": ({"network_acls": {"app": {"inbound": [
        "1_000 allow all from 0.0.0.0/0"]}}}, "invalid rule number '1_000'"),
    "port_trailing_dash": ({"security_groups": {"web": {"ingress": ["tcp 5- from "
                                                                    "0.0.0.0/0"]}}},
                           "invalid port or range '5-'"),
    "icmp_code_missing": ({"security_groups": {"web": {"ingress": ["icmp type 8 code"]}}},
                          "expected an ICMP code after 'code'"),
    "unicode_digit_protocol": ({"security_groups": {"web": {"ingress": [
        "\u00b2 from 0.0.0.0/0"]}}}, "unknown protocol"),
    "ipv6_rule": ({"security_groups": {"web": {"ingress": ["tcp 443 from ::/0"]}}},
                  "IPv6 rules are not modelled"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_item6_every_field_is_typed_and_ranged(capsys, tmp_path, case):
    changes, says = CASES[case]
    path = write(tmp_path, merge(BASE, changes))
    line = refused(capsys, "show", path, says=says, where=f"{path}:")
    assert re.match(rf"netemu: error: {re.escape(str(path))}:\d+: ", line), line  # the line


def two_vpcs(b_cidr: str, accepter: str = "b") -> dict:
    return {"vpcs": {
        "a": {"cidr": "10.0.0.0/16", "subnets": {"a1": {"cidr": "10.0.1.0/24"}}},
        "b": {"cidr": b_cidr, "subnets": {"b1": {"cidr": b_cidr.replace("0.0/16",
                                                                          "1.0/24")}}}},
        "peerings": {"pcx-1": {"requester": "a", "accepter": accepter}}}


def test_item6_peering_a_vpc_with_itself_is_refused(capsys, tmp_path):
    path = write(tmp_path, two_vpcs("10.1.0.0/16", accepter="a"))
    refused(capsys, "show", path, says="pcx-1: peers VPC a with itself", where=f"{path}:")


def test_item6_peering_overlapping_vpcs_is_refused(capsys, tmp_path):
    """AWS refuses a peering between VPCs with overlapping IPv4 CIDRs (not otherwise
    routable); two unpeered VPCs may overlap."""
    overlapping = two_vpcs("10.0.0.0/16")
    overlapping["vpcs"]["b"]["subnets"] = {"b1": {"cidr": "10.0.2.0/24"}}
    path = write(tmp_path, overlapping)
    refused(capsys, "show", path, says="peers VPCs with overlapping CIDRs: 10.0.0.0/16 of a"
            " and 10.0.0.0/16 of b", where=f"{path}:")
    del overlapping["peerings"]
    code, _, err = run_cli(capsys, "show", write(tmp_path, overlapping, "ok.yaml"))
    assert code == 0, err


# ---- usage errors, internal errors and interrupts --------------------------------------

def test_item6_usage_errors_are_one_line_naming_the_option(capsys):
    base = ["trace", NAT, "--from", "lambda:orders", "--to", "api.example.com"]
    assert refused(capsys, *base, "--port", "abc") == \
        "netemu: error: --port: 'abc' is not a valid integer"
    assert refused(capsys, *base, "--port=abc") == \
        "netemu: error: --port: 'abc' is not a valid integer"
    assert refused(capsys, "trace", NAT, "--to", "x") == "netemu: error: missing option --from"
    assert "--bogus" in refused(capsys, *base, "--bogus")
    assert refused(capsys, "replay") == "netemu: error: missing argument TOPOLOGY"
    assert "--duration: 'soon' is not a valid number" in refused(
        capsys, "workload", NAT, "--function", "orders", "--to", "x", "-o", "x.pcap",
        "--duration", "soon")


def test_item6_unexpected_exception_is_one_line_exit_3(capsys, monkeypatch):
    """A bug is `internal error`, exit 3 (never 1, which means dropped); Ctrl-C is 130."""
    from netemu.model.topology import Topology

    def boom(*a, **k):
        raise RuntimeError("boom")
    monkeypatch.setattr(Topology, "build", boom)
    code, out, err = run_cli(capsys, "show", NAT)
    assert (code, out, err) == (3, "", "netemu: internal error: RuntimeError: boom\n")

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(Topology, "build", interrupted)
    code, out, err = run_cli(capsys, "show", NAT)
    assert code == 130 and "Traceback" not in err and err.strip() == ""

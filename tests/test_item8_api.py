"""Issue 8: `netemu` exports the public API, imports it lazily, and its results print as a
few lines a person can read. Expected text is worked from the topologies by hand."""

import subprocess
import sys
from pathlib import Path

import pytest

import netemu
from netemu.apps.replay import Summary

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = ROOT / "topologies"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join("
                          "m for m in sys.modules if m.startswith(('netemu', 'numpy'))))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_item8_import_netemu_loads_nothing_else():
    assert _modules_after("import netemu") == {"netemu"}


def test_item8_trace_cold_start_skips_replay_scale_and_readers():
    code = ("import sys\nfrom netemu.cli import main\n"
            f"sys.argv = ['netemu', 'trace', {str(TOPOLOGIES / 'lambda-nat-internet.yaml')!r},"
            " '--from', 'lambda:orders', '--to', 'api.example.com', '--port', '443']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n")
    loaded = _modules_after(code)
    assert "netemu.apps.trace" in loaded          # it did trace
    for heavy in ("netemu.apps.replay", "netemu.apps.flowlog_replay", "netemu.apps.workload",
                  "netemu.apps.scale", "netemu.io.pcap_reader", "netemu.io.flowlog_reader"):
        assert heavy not in loaded, heavy


def test_item8_public_names_resolve():
    assert set(netemu.__all__) == {"load", "trace", "replay", "workload", "Topology",
                                   "TraceResult", "Summary", "Settings", "InputError"}
    for name in netemu.__all__:
        assert getattr(netemu, name) is not None
    with pytest.raises(AttributeError):
        netemu.Dataplane          # noqa: B018 - internal, not exported


def test_item8_trace_str_names_the_drop_and_the_fix():
    """lambda-nacl-no-ephemeral: the private subnet's ACL `app` admits TCP 443 inbound
    only; the reply from api.example.com (203.0.113.10) comes back through the NAT gateway
    to an ephemeral port, so `*` denies it in the reply (N3); the fix opens the NAT
    gateway's ephemeral range 1024-65535 (N6) inbound, numbered after rule 100."""
    topo = netemu.load(TOPOLOGIES / "lambda-nacl-no-ephemeral.yaml")
    r = netemu.trace(topo, "lambda:billing", "api.example.com", port=443)
    lines = str(r).splitlines()
    # the function's first environment has the first address of Lambda's own VPC (L1)
    assert lines[0] == ("tcp port 443 from lambda:billing (169.254.0.1) to api.example.com "
                        "(203.0.113.10)")
    assert lines[1] == ("dropped in the reply at app: SUBNET_ACL_RESTRICTION, "
                        "app rule * deny all from 0.0.0.0/0")
    assert lines[2] == "  the subnet's network ACL does not admit it"
    assert lines[3:] == ["fix (verified):",
                         '  add inbound rule "110 allow tcp 1024-65535 from 0.0.0.0/0" to '
                         "network ACL app"]


def test_item8_trace_str_delivered_from_every_subnet():
    """lambda-nat-internet: orders runs in private-a and private-b, each routed to a NAT
    gateway with open ACLs: delivered both ways from both subnets."""
    topo = netemu.load(TOPOLOGIES / "lambda-nat-internet.yaml")
    r = netemu.trace(topo, "lambda:orders", "api.example.com", port=443)
    assert str(r).splitlines()[1:] == ["delivered both ways from every subnet"]


def test_item8_summary_str_by_hand():
    s = Summary(records=10, packets=12, flows=3, accepted=7, rejected=5,
                drops={("acl-1", "rule *", "SUBNET_ACL_RESTRICTION"): 4,
                       ("sg-2", "no rule", "SECURITY_GROUP_RESTRICTION"): 1},
                drop_flows={("acl-1", "rule *", "SUBNET_ACL_RESTRICTION"): 2,
                            ("sg-2", "no rule", "SECURITY_GROUP_RESTRICTION"): 1},
                delivered_to={"internet-host:internet": 7},
                skipped={"ipv6": 2})
    assert str(s) == "\n".join([
        "replay: 10 records, 12 packets, 3 flows",
        "accepted 7, rejected 5, unplaced 0",
        "rejected by acl-1 rule * (SUBNET_ACL_RESTRICTION): 4 packets, 2 flows",
        "rejected by sg-2 no rule (SECURITY_GROUP_RESTRICTION): 1 packets, 1 flows",
        "delivered to internet-host:internet 7",
        "incomplete: skipped 2 ipv6"])


def test_item8_workload_then_replay_through_the_api(tmp_path):
    """Two connections of billing to api.example.com: every request gets out, every
    reply is refused by ACL app's `*` rule (as in the trace above)."""
    topo = netemu.load(TOPOLOGIES / "lambda-nacl-no-ephemeral.yaml")
    out = tmp_path / "w.pcap"
    batch = netemu.workload(topo, "billing", ["api.example.com"], connections=2,
                            duration=1.0, out=out)
    assert out.stat().st_size > 0 and len(batch) > 0
    s = netemu.replay(topo, [out], mappings=["169.254.0.0/22=lambda:billing"])
    lines = str(s).splitlines()
    assert lines[0].endswith(", 2 flows")
    assert lines[2].startswith("rejected by app app rule * deny all from 0.0.0.0/0 "
                               "(SUBNET_ACL_RESTRICTION): ")
    assert lines[2].endswith(" packets, 2 flows")
    assert lines[3].startswith("delivered to internet-host:internet ")
    assert len(lines) == 4                       # complete: nothing skipped

"""`netemu diff BEFORE AFTER --flowlogs FILES` (issue 9): the recorded flows whose emulated
verdict a change turns, joined per connection across the two replays.

The topologies are lambda-nacl-no-ephemeral.yaml (its ACL admits tcp 443 in and out but
not the ephemeral ports replies return to, N6) and copies of it written here. Addresses:
the billing function's Hyperplane ENI is 10.0.10.4 (the first unreserved address of
private-a, 10.0.10.0/24), the NAT gateway's ENI eni-nat-a is 10.0.0.4 (public-a). The
logs name an interface id the topology does not know, so the replay learns it from its
records (every one carries 10.0.10.4: the Lambda ENI).

The recorded flows, each derived by hand on each topology:

  A  tcp 10.0.10.4:40001 -> 203.0.113.10:443  request 10 pk/1000 B, reply 8 pk/6000 B
  B  tcp 10.0.10.4:40002 -> 203.0.113.10:443  request 3 pk/180 B, no reply logged
  C  udp 10.0.10.4:40003 -> 203.0.113.10:53   request 1 pk/60 B, recorded REJECT
  D  tcp 10.0.10.4:40004 -> 198.51.100.20:443 request 5 pk/400 B, reply 4 pk/3000 B

- BROKEN (as shipped): A, D fail (their replies hit the ACL's `*` inbound), B works (its
  request passes: ACL 100 out, group egress tcp 443, route to nat-a), C fails (group fn
  lets out tcp 443 only).
- FIXED (inbound rule 110 allow tcp 1024-65535): A, B, D work, C fails.
- NO_ROUTE (FIXED without private's 0.0.0.0/0 -> nat-a): A, B, D fail at route table
  private (NO_ROUTE_TO_DESTINATION), C fails at the group first.
- SPLIT (BROKEN with outbound 443 allowed only to 198.51.100.0/24): A, B fail at the
  outbound ACL's `*`; D's request passes and its reply fails at the inbound `*`.
- DNS (FIXED with udp 53 allowed by group and ACL outbound): all four work.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT, run_cli

BROKEN = ROOT / "topologies" / "lambda-nacl-no-ephemeral.yaml"
HEADER = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
          "packets bytes start end action log-status")
IFACE = "eni-0feed000000000001"        # not in the topology: learnt from its records
RECORDS = {   # flow -> records: (src, dst, sport, dport, proto, packets, bytes, action)
    "A": [("10.0.10.4", "203.0.113.10", 40001, 443, 6, 10, 1000, "ACCEPT"),
          ("203.0.113.10", "10.0.10.4", 443, 40001, 6, 8, 6000, "ACCEPT")],
    "B": [("10.0.10.4", "203.0.113.10", 40002, 443, 6, 3, 180, "ACCEPT")],
    "C": [("10.0.10.4", "203.0.113.10", 40003, 53, 17, 1, 60, "REJECT")],
    "D": [("10.0.10.4", "198.51.100.20", 40004, 443, 6, 5, 400, "ACCEPT"),
          ("198.51.100.20", "10.0.10.4", 443, 40004, 6, 4, 3000, "ACCEPT")],
}
ACL_IN = ("acl-inbound:private-a(app)", "app rule * deny all from 0.0.0.0/0")
ACL_OUT = ("acl-outbound:private-a(app)", "app rule * deny all to 0.0.0.0/0")


def _line(r, iface=IFACE) -> str:
    src, dst, sport, dport, proto, pk, by, action = r
    return (f"2 123456789012 {iface} {src} {dst} {sport} {dport} {proto} {pk} {by} "
            f"1700000000 1700000060 {action} OK")


def write_logs(path, flows="ABCD"):
    path.write_text("\n".join([HEADER] + [_line(r) for f in flows for r in RECORDS[f]]) + "\n")
    return path


def topology(tmp_path, name, edit):
    doc = yaml.safe_load(BROKEN.read_text())
    edit(doc)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def fixed(doc):
    doc["network_acls"]["app"]["inbound"].append("110 allow tcp 1024-65535 from 0.0.0.0/0")


def no_route(doc):
    fixed(doc)
    doc["route_tables"]["private"] = {}


def split(doc):
    doc["network_acls"]["app"]["outbound"] = ["100 allow tcp 443 to 198.51.100.0/24"]


def dns(doc):
    fixed(doc)
    doc["network_acls"]["app"]["outbound"].append("110 allow udp 53 to 0.0.0.0/0")
    doc["security_groups"]["fn"]["egress"].append("udp 53 to 0.0.0.0/0")


@pytest.fixture
def topos(tmp_path):
    return {"broken": BROKEN, "fixed": topology(tmp_path, "fixed", fixed),
            "no_route": topology(tmp_path, "no-route", no_route),
            "split": topology(tmp_path, "split", split),
            "dns": topology(tmp_path, "dns", dns)}


def diff_json(capsys, before, after, *args):
    code, out, err = run_cli(capsys, "diff", before, after, "--json", *args)
    assert code in (0, 1), err
    return code, json.loads(out)


def tuple_of(x):
    return (x["protocol"], x["src"], x["sport"], x["dst"], x["dport"])


A = ("tcp", "10.0.10.4", 40001, "203.0.113.10", 443)
B = ("tcp", "10.0.10.4", 40002, "203.0.113.10", 443)
C = ("udp", "10.0.10.4", 40003, "203.0.113.10", 53)
D = ("tcp", "10.0.10.4", 40004, "198.51.100.20", 443)


def test_issue9_fixing_the_acl_accepts_the_flows_whose_replies_were_dropped(
        capsys, tmp_path, topos):
    """BROKEN -> FIXED: A and D now accepted (4 records, 10+8+5+4 = 27 packets, 1000+6000+
    400+3000 = 10,400 bytes), blamed before on the inbound ACL's `*` for their replies;
    B (works on both) and C (fails on both) unchanged. Nothing stops: exit 0."""
    logs = write_logs(tmp_path / "flows.log")
    code, doc = diff_json(capsys, topos["broken"], topos["fixed"], "--flowlogs", logs)
    assert code == 0
    f = doc["flowlogs"]
    assert (f["records"], f["flows"], f["compared"], f["unchanged"]) == (6, 4, 4, 2)
    assert (f["only_before"], f["only_after"], f["records_outside_flows"]) == (0, 0, 0)
    assert f["now_rejected"] == {"flows": 0, "records": 0, "packets": 0, "bytes": 0,
                                 "by": [], "examples": []}
    g = f["now_accepted"]
    assert (g["flows"], g["records"], g["packets"], g["bytes"]) == (2, 4, 27, 10400)
    (place,) = g["by"]
    assert (place["leg"], place["verdict"], place["hop"], place["rule"], place["reason"]) \
        == ("reply", "dropped", *ACL_IN, "SUBNET_ACL_RESTRICTION")
    assert place["resource"] == "app" and place["flows"] == 2 and place["packets"] == 27
    # examples: most packets first (A 18, D 9), the recorded action beside
    assert [tuple_of(x) for x in g["examples"]] == [A, D]
    a = g["examples"][0]
    assert (a["recorded"], a["records"], a["packets"], a["bytes"]) == ("ACCEPT", 2, 18, 7000)
    assert a["before"]["hop"] == ACL_IN[0] and a["after"] == {
        "leg": None, "verdict": "delivered", "hop": None, "resource": None, "rule": None,
        "reason": None}


def test_issue9_breaking_the_acl_rejects_flows_that_worked_and_exits_1(
        capsys, tmp_path, topos):
    """FIXED -> BROKEN: the same two flows the other way, now rejected, blamed after on the
    inbound ACL: exit 1, and the text says so in the issue's words."""
    logs = write_logs(tmp_path / "flows.log")
    code, doc = diff_json(capsys, topos["fixed"], topos["broken"], "--flowlogs", logs)
    assert code == 1
    g = doc["flowlogs"]["now_rejected"]
    assert (g["flows"], g["records"], g["packets"], g["bytes"]) == (2, 4, 27, 10400)
    assert [tuple_of(x) for x in g["examples"]] == [A, D]
    assert all(x["after"]["hop"] == ACL_IN[0] and x["after"]["leg"] == "reply"
               and x["before"]["verdict"] == "delivered" for x in g["examples"])
    assert doc["flowlogs"]["now_accepted"]["flows"] == 0
    code, out, _ = run_cli(capsys, "diff", topos["fixed"], topos["broken"], "--flowlogs", logs)
    assert code == 1
    assert ("2 flows seen in the logs would be rejected after the change (4 records, "
            "27 packets, 10,400 bytes):") in out
    assert f"  2 flows, after: reply dropped at {ACL_IN[0]}: SUBNET_ACL_RESTRICTION, " \
        f"{ACL_IN[1]}" in out
    assert "no flow seen in the logs would now be accepted" in out


def test_issue9_removing_the_route_rejects_every_flow_that_went_out(capsys, tmp_path, topos):
    """FIXED -> NO_ROUTE: A, B and D (5 records, 18+3+9 = 30 packets, 7000+180+3400 =
    10,580 bytes) fail at route table private; C failed before already."""
    logs = write_logs(tmp_path / "flows.log")
    code, doc = diff_json(capsys, topos["fixed"], topos["no_route"], "--flowlogs", logs)
    assert code == 1
    g = doc["flowlogs"]["now_rejected"]
    assert (g["flows"], g["records"], g["packets"], g["bytes"]) == (3, 5, 30, 10580)
    (place,) = g["by"]
    assert (place["leg"], place["hop"], place["resource"], place["reason"], place["rule"]) \
        == ("request", "route-table:private", "private", "NO_ROUTE_TO_DESTINATION", None)
    assert [tuple_of(x) for x in g["examples"]] == [A, D, B]
    assert doc["flowlogs"]["unchanged"] == 1


def test_issue9_flows_failing_in_two_places_are_grouped_by_place(capsys, tmp_path, topos):
    """FIXED -> SPLIT: A and B (3 records, 18+3 = 21 packets, 7000+180 = 7,180 bytes) at
    the outbound ACL's `*`, D at the inbound one; the text names each example's place
    when there are several."""
    logs = write_logs(tmp_path / "flows.log")
    code, doc = diff_json(capsys, topos["fixed"], topos["split"], "--flowlogs", logs)
    assert code == 1
    g = doc["flowlogs"]["now_rejected"]
    assert [(p["hop"], p["leg"], p["flows"], p["records"], p["packets"], p["bytes"])
            for p in g["by"]] == [(ACL_OUT[0], "request", 2, 3, 21, 7180),
                                  (ACL_IN[0], "reply", 1, 2, 9, 3400)]
    assert {tuple_of(x): x["after"]["hop"] for x in g["examples"]} == {
        A: ACL_OUT[0], B: ACL_OUT[0], D: ACL_IN[0]}
    code, out, _ = run_cli(capsys, "diff", topos["fixed"], topos["split"], "--flowlogs", logs)
    assert (f"e.g. tcp 10.0.10.4:40004 -> 198.51.100.20:443, recorded ACCEPT, 2 records, "
            f"9 packets, at eni-lambda-829b558e3311; after: reply dropped at {ACL_IN[0]}") in out


def test_issue9_a_flow_recorded_rejected_that_would_now_be_accepted(capsys, tmp_path, topos):
    """FIXED -> DNS: C, recorded REJECT, dropped before by group fn (no rule matches:
    no rule text), now delivered."""
    logs = write_logs(tmp_path / "flows.log")
    code, doc = diff_json(capsys, topos["fixed"], topos["dns"], "--flowlogs", logs)
    assert code == 0
    g = doc["flowlogs"]["now_accepted"]
    (x,) = g["examples"]
    assert tuple_of(x) == C and x["recorded"] == "REJECT"
    assert (x["records"], x["packets"], x["bytes"]) == (1, 1, 60)
    assert (x["before"]["leg"], x["before"]["reason"], x["before"]["rule"]) == (
        "request", "ENI_SG_RULES_MISMATCH", None)
    assert x["before"]["hop"].startswith("eni-egress:") and x["after"]["verdict"] == "delivered"


def test_issue9_an_unchanged_topology_changes_no_flow(capsys, tmp_path, topos):
    logs = write_logs(tmp_path / "flows.log")
    for t in ("broken", "fixed"):
        code, doc = diff_json(capsys, topos[t], topos[t], "--flowlogs", logs)
        assert code == 0 and doc["changes"] == [] and doc["lost"] is False
        f = doc["flowlogs"]
        assert (f["compared"], f["unchanged"]) == (4, 4)
        assert f["now_rejected"]["flows"] == f["now_accepted"]["flows"] == 0
    code, out, _ = run_cli(capsys, "diff", topos["fixed"], topos["fixed"], "--flowlogs", logs)
    assert code == 0
    assert "no flow seen in the logs would be rejected after the change" in out


def test_issue9_the_join_follows_the_connection_not_the_order(capsys, tmp_path, topos):
    """A NAT gateway's private-side record (custom format with pkt-dstaddr) comes first.
    FIXED has the gateway: the record joins A (A has 3 records, its request counted at
    eni-nat-a, the first ENI to log it). Without the gateway (NO_ROUTE and nat_gateways
    removed) eni-nat-a is unknown, learnt as the Lambda ENI, and the record is a
    connection of its own to 10.0.0.4: the first one there, so the two replays number
    their connections differently. A, B, D must still be matched with themselves."""
    def gone(doc):
        no_route(doc)
        del doc["nat_gateways"]
    after = topology(tmp_path, "no-nat", gone)
    head = ("version interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
            "start end action log-status pkt-srcaddr pkt-dstaddr")
    lines = [head, "2 eni-nat-a 10.0.10.4 10.0.0.4 40001 443 6 10 1000 1700000000 "
             "1700000060 ACCEPT OK 10.0.10.4 203.0.113.10"]
    for f in "ABCD":
        for src, dst, sp, dp, pr, pk, by, act in RECORDS[f]:
            lines.append(f"2 {IFACE} {src} {dst} {sp} {dp} {pr} {pk} {by} 1700000000 "
                         f"1700000060 {act} OK {src} {dst}")
    logs = tmp_path / "nat-first.log"
    logs.write_text("\n".join(lines) + "\n")
    code, doc = diff_json(capsys, topos["fixed"], after, "--flowlogs", logs)
    assert code == 1
    f = doc["flowlogs"]
    assert (f["flows"], f["compared"], f["only_before"], f["only_after"]) == (4, 4, 0, 1)
    g = f["now_rejected"]
    assert (g["flows"], g["records"], g["packets"], g["bytes"]) == (3, 6, 30, 10580)
    assert [tuple_of(x) for x in g["examples"]] == [A, D, B]
    assert g["examples"][0]["interfaces"] == ["eni-nat-a", "eni-lambda-829b558e3311"]
    assert all(x["after"]["hop"] == "route-table:private" for x in g["examples"])
    # the other way, the connection of its own is BEFORE's only
    code, doc = diff_json(capsys, after, topos["fixed"], "--flowlogs", logs)
    assert code == 0
    f = doc["flowlogs"]
    assert (f["flows"], f["compared"], f["only_before"], f["only_after"]) == (5, 4, 1, 0)
    assert f["now_accepted"]["flows"] == 3


def test_issue9_several_files_add_up(capsys, tmp_path, topos):
    """--flowlogs repeated, one of them gzip: the records of A, B in one and C, D in the
    other make the same four flows as one file."""
    one = write_logs(tmp_path / "ab.log", "AB")
    two = tmp_path / "cd.log.gz"
    with gzip.open(two, "wt") as g:
        g.write(write_logs(tmp_path / "cd.log", "CD").read_text())
    code, doc = diff_json(capsys, topos["fixed"], topos["broken"], "--flowlogs", one,
                          "--flowlogs", two)
    assert code == 1
    f = doc["flowlogs"]
    assert f["files"] == [str(one), str(two)] and (f["records"], f["flows"]) == (6, 4)
    assert f["now_rejected"]["flows"] == 2


def test_issue9_from_restricts_the_flows_to_those_the_source_opened(capsys, tmp_path):
    """A web server web-1 (10.0.0.50 in public-a, whose ACL is the default one) is added
    to FIXED and BROKEN, and the internet opens E to it: 198.51.100.7:50000 -> :443,
    logged at web-1's ENI, working on both. A-D were opened by billing's Hyperplane ENI
    (10.0.10.4). --from lambda:billing keeps A-D (A, D rejected); --from internet keeps E
    only, which nothing changes (and the internet loses nothing symbolically: exit 0)."""
    def web(doc):
        doc["security_groups"]["web"] = {"ingress": ["tcp 443 from 0.0.0.0/0"]}
        doc["hosts"] = {"web-1": {"subnet": "public-a", "ip": "10.0.0.50",
                                  "public_ip": "54.0.0.50", "security_groups": ["web"]}}
    before = topology(tmp_path, "fixed-web", lambda d: (fixed(d), web(d)))
    after = topology(tmp_path, "broken-web", web)
    e = [("198.51.100.7", "10.0.0.50", 50000, 443, 6, 2, 120, "ACCEPT"),
         ("10.0.0.50", "198.51.100.7", 443, 50000, 6, 2, 800, "ACCEPT")]
    logs = write_logs(tmp_path / "flows.log")
    with open(logs, "a") as f:
        f.write("".join(_line(r, "eni-0feed000000000002") + "\n" for r in e))
    code, doc = diff_json(capsys, before, after, "--flowlogs", logs)
    assert code == 1 and doc["flowlogs"]["flows"] == 5
    assert doc["flowlogs"]["now_rejected"]["flows"] == 2
    code, doc = diff_json(capsys, before, after, "--flowlogs", logs,
                          "--from", "lambda:billing")
    assert code == 1 and doc["flowlogs"]["from"] == "lambda:billing"
    assert (doc["flowlogs"]["flows"], doc["flowlogs"]["unchanged"]) == (4, 2)
    assert [tuple_of(x) for x in doc["flowlogs"]["now_rejected"]["examples"]] == [A, D]
    code, doc = diff_json(capsys, before, after, "--flowlogs", logs, "--from", "internet")
    assert code == 0 and doc["changes"] == []
    assert (doc["flowlogs"]["flows"], doc["flowlogs"]["unchanged"]) == (1, 1)
    assert doc["flowlogs"]["now_rejected"]["flows"] == 0


def test_issue9_flow_log_rejections_alone_exit_1(capsys, tmp_path, topos, monkeypatch):
    """With the symbolic diff made silent, the exit status is the flow logs' own."""
    import netemu.apps.reach.command as command
    monkeypatch.setattr(command, "diff", lambda *a, **k: [])
    logs = write_logs(tmp_path / "flows.log")
    code, _, _ = run_cli(capsys, "diff", topos["fixed"], topos["broken"])
    assert code == 0
    code, _, _ = run_cli(capsys, "diff", topos["fixed"], topos["broken"], "--flowlogs", logs)
    assert code == 1
    code, _, _ = run_cli(capsys, "diff", topos["broken"], topos["fixed"], "--flowlogs", logs)
    assert code == 0


@pytest.mark.parametrize("content, problem", [
    (None, "No such file"),
    ("hello world\n", "expected 14 fields"),
    ("", "no flow-log records"),
    (HEADER + "\n" + _line(RECORDS["A"][0]).replace("40001", "x") + "\n", "srcport"),
    (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(16), "not a flow log"),
])
def test_issue9_bad_flow_logs_exit_2(capsys, tmp_path, topos, content, problem):
    path = tmp_path / "in.log"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    code, out, err = run_cli(capsys, "diff", topos["fixed"], topos["broken"], "--flowlogs",
                             path)
    assert code == 2 and out == ""
    assert problem in err and len(err.strip().splitlines()) == 1


def test_issue9_unknown_from_exits_2(capsys, tmp_path, topos):
    logs = write_logs(tmp_path / "flows.log")
    for extra in ([], ["--flowlogs", str(logs)]):
        code, out, err = run_cli(capsys, "diff", topos["fixed"], topos["broken"],
                                 "--from", "lambda:nope", *extra)
        assert code == 2 and out == "" and "unknown Lambda function 'nope'" in err


def test_issue9_join_matches_keys_in_any_order():
    """_join directly: AFTER's connections in another order, one missing, one extra."""
    from netemu.apps.flowlog_diff import _join, _Side
    keys = np.array([[1, 10], [2, 20], [3, 30]], np.uint64)

    def side(k):
        return _Side(None, np.asarray(k, np.uint64).reshape(-1, 2), {}, np.zeros(0), 0, {})
    after = side([[9, 90], [3, 30], [1, 10]])
    assert _join(side(keys), after).tolist() == [2, -1, 1]
    assert _join(side(keys), side(np.zeros((0, 2)))).tolist() == [-1, -1, -1]

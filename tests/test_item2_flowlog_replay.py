"""Issue 7, item 2 (and the 0-packet bullet of item 8): Lambda's own flow logs replay as
AWS recorded them. Every fixture is written by hand from the AWS documentation (F1-F5,
L3): a Hyperplane ENI logs its own private IP as srcaddr, a NAT gateway's ENI logs each
leg twice (private and public side, F4), and the expected counts are worked out below
from what each ENI would log, not read off the program."""

from __future__ import annotations

import gzip
import json
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import TOPOLOGIES
from strategies import examples
from typer.testing import CliRunner

import netemu
from netemu.apps.replay import replay
from netemu.cli import app

NAT_TOPO = TOPOLOGIES / "lambda-nat-internet.yaml"      # ENI 10.0.10.4, NAT 10.0.0.4
RDS_TOPO = TOPOLOGIES / "lambda-rds-sg-reference.yaml"   # ENI 10.0.10.4, DB 10.0.20.25
NACL_TOPO = TOPOLOGIES / "lambda-nacl-no-ephemeral.yaml"  # no ephemeral ports inbound
DEFAULT = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
           "packets bytes start end action log-status")
# real-looking ids, as production logs carry them: not the ids netemu makes up for a
# hand-written topology, so the logging ENI is found by the addresses it logs
HP_ENI = "eni-0a1b2c3d4e5f60718"          # the function's Hyperplane ENI in private-a
NAT_ENI = "eni-0f9e8d7c6b5a40312"         # nat-a's ENI
T0 = 1_717_200_000


def log(path: Path, *lines: str, header: str = DEFAULT) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def rec(eni: str, src: str, dst: str, sport: int, dport: int, packets: int, nbytes: int,
        action: str = "ACCEPT", start: int = T0, end: int = T0 + 55, proto: int = 6) -> str:
    return (f"2 123456789012 {eni} {src} {dst} {sport} {dport} {proto} {packets} {nbytes} "
            f"{start} {end} {action} OK")


def run_cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def fresh(path: Path) -> Path:
    path.mkdir()
    return path


def outputs(out: Path) -> tuple[dict, list[dict]]:
    summary = json.loads((out / "summary.json").read_text())
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text().splitlines()]
    return summary, verdicts


# the function's connection to the API as its Hyperplane ENI logs it: 10 packets out,
# 8 back; the source is the ENI's private IP, never 169.254.x (F4, L3)
LAMBDA_OUT = rec(HP_ENI, "10.0.10.4", "203.0.113.10", 40001, 443, 10, 1200)
LAMBDA_BACK = rec(HP_ENI, "203.0.113.10", "10.0.10.4", 443, 40001, 8, 6400)


def test_item2_replies_to_a_hyperplane_eni_are_replies(tmp_path):
    s = replay(netemu.load(NAT_TOPO), [log(tmp_path / "l.log", LAMBDA_OUT, LAMBDA_BACK)],
               fresh(tmp_path / "out"))
    summary, verdicts = outputs(tmp_path / "out")
    assert (s.records, s.packets, s.flows, s.accepted, s.rejected) == (2, 18, 1, 18, 0)
    assert "LAMBDA_INBOUND_NOT_SUPPORTED" not in summary["drop_reasons"]
    assert len(verdicts) == 1
    v = verdicts[0]
    assert (v["src"], v["sport"], v["dst"], v["dport"]) == ("10.0.10.4", 40001,
                                                            "203.0.113.10", 443)
    assert (v["verdict"], v["reply_verdict"], v["packets"], v["bytes"]) == (
        "delivered", "delivered", 18, 7600)
    assert (v["recorded"], v["emulated"]) == ("ACCEPT", "ACCEPT")
    assert summary["recorded_vs_emulated"] == {"agree": 2, "disagree": 0}


# The same connection at nat-a's ENI, in a custom format with the packet addresses (F2,
# F4): private side in (to the gateway's own IP), public side out (from it, on the port
# the gateway chose), public side back, private side back.
PKT = ("version interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr srcport dstport "
       "protocol packets bytes start end action log-status")


def pkt(eni, src, dst, psrc, pdst, sport, dport, packets, nbytes, action="ACCEPT") -> str:
    return (f"3 {eni} {src} {dst} {psrc} {pdst} {sport} {dport} 6 {packets} {nbytes} "
            f"{T0} {T0 + 55} {action} OK")


AT_THREE_PLACES = [
    pkt(HP_ENI, "10.0.10.4", "203.0.113.10", "10.0.10.4", "203.0.113.10", 40001, 443, 10,
        1200),
    pkt(HP_ENI, "203.0.113.10", "10.0.10.4", "203.0.113.10", "10.0.10.4", 443, 40001, 8,
        6400),
    pkt(NAT_ENI, "10.0.10.4", "10.0.0.4", "10.0.10.4", "203.0.113.10", 40001, 443, 10, 1200),
    pkt(NAT_ENI, "10.0.0.4", "203.0.113.10", "10.0.0.4", "203.0.113.10", 61007, 443, 10,
        1200),
    pkt(NAT_ENI, "203.0.113.10", "10.0.0.4", "203.0.113.10", "10.0.0.4", 443, 61007, 8,
        6400),
    pkt(NAT_ENI, "10.0.0.4", "10.0.10.4", "203.0.113.10", "10.0.10.4", 443, 40001, 8, 6400),
]


def test_item2_one_connection_logged_at_the_lambda_and_nat_gateway_enis(tmp_path):
    """Six records, one connection: counted once, and every record agrees (a working
    network). The NAT gateway's records are not replayed as connections of their own."""
    s = replay(netemu.load(NAT_TOPO),
               [log(tmp_path / "l.log", *AT_THREE_PLACES, header=PKT)],
               fresh(tmp_path / "out"))
    summary, verdicts = outputs(tmp_path / "out")
    assert (s.records, s.flows, s.rejected, s.unplaced) == (6, 1, 0, 0)
    # as logged: 10 + 8 at the function's ENI, each leg twice at the gateway's (F4)
    assert s.packets == s.accepted == (10 + 8) + 2 * (10 + 8)
    assert len(verdicts) == 1 and verdicts[0]["packets"] == 18      # the packets, once
    assert (verdicts[0]["verdict"], verdicts[0]["reply_verdict"]) == ("delivered",
                                                                     "delivered")
    assert summary["recorded_vs_emulated"] == {"agree": 6, "disagree": 0}


def test_item2_nat_gateway_records_in_the_default_format_make_no_connection(tmp_path):
    """Without pkt-srcaddr/pkt-dstaddr, the gateway's records still belong to the
    function's connection: none is replayed as a new connection, none is rejected."""
    lines = [LAMBDA_OUT, LAMBDA_BACK,
             rec(NAT_ENI, "10.0.10.4", "10.0.0.4", 40001, 443, 10, 1200),
             rec(NAT_ENI, "10.0.0.4", "203.0.113.10", 61007, 443, 10, 1200),
             rec(NAT_ENI, "203.0.113.10", "10.0.0.4", 443, 61007, 8, 6400),
             rec(NAT_ENI, "10.0.0.4", "10.0.10.4", 443, 40001, 8, 6400)]
    s = replay(netemu.load(NAT_TOPO), [log(tmp_path / "l.log", *lines)],
               fresh(tmp_path / "out"))
    summary, verdicts = outputs(tmp_path / "out")
    assert (s.flows, s.rejected, s.accepted) == (1, 0, 10 + 8 + 2 * (10 + 8))
    assert len(verdicts) == 1
    assert summary["recorded_vs_emulated"] == {"agree": 6, "disagree": 0}


# The function and its database, both ENIs' logs (ids as a snapshot names them).
def db_records(hp: str) -> list[str]:
    return [rec(hp, "10.0.10.4", "10.0.20.25", 45000, 5432, 6, 700),
            rec(hp, "10.0.20.25", "10.0.10.4", 5432, 45000, 5, 900),
            rec("eni-orders-db", "10.0.10.4", "10.0.20.25", 45000, 5432, 6, 700),
            rec("eni-orders-db", "10.0.20.25", "10.0.10.4", 5432, 45000, 5, 900)]


def test_item2_each_record_is_checked_at_the_eni_that_logged_it(tmp_path):
    """Tomorrow's database group admits the wrong CIDR. At the function's ENI the request
    still leaves (its group allows it: ACCEPT agrees); at the database's ENI the group
    refuses it (ENI_SG_RULES_MISMATCH); no reply is sent, so neither ENI sees one."""
    topo = netemu.load(RDS_TOPO)
    hp = topo.environments["orders/app-a"].eni
    good = log(tmp_path / "db.log", *db_records(hp))
    s = replay(topo, [good], fresh(tmp_path / "today"))
    summary, verdicts = outputs(tmp_path / "today")
    assert (s.flows, s.packets, s.rejected) == (1, 22, 0)
    assert len(verdicts) == 1 and verdicts[0]["packets"] == 11
    assert summary["recorded_vs_emulated"] == {"agree": 4, "disagree": 0}

    broken = tmp_path / "tomorrow.yaml"
    broken.write_text(RDS_TOPO.read_text().replace('tcp 5432 from sg:fn',
                                                    'tcp 5432 from 10.0.99.0/24'))
    code, out, err = run_cli("replay", broken, good, "--out", tmp_path / "t", "-q",
                             "--fail-on", "disagree")
    assert code == 1, err
    summary, verdicts = outputs(tmp_path / "t")
    assert summary["recorded_vs_emulated"] == {"agree": 1, "disagree": 3}
    table = {(d["interface"], d["direction"], d["recorded"], d["emulated"], d["resource"],
              d["reason"]): (d["records"], d["packets"]) for d in summary["disagreements"]}
    assert table == {
        ("eni-orders-db", "ingress", "ACCEPT", "REJECT", "db", "ENI_SG_RULES_MISMATCH"):
            (1, 6),
        ("eni-orders-db", "egress", "ACCEPT", "REJECT", "-", "REQUEST_DROPPED"): (1, 5),
        (hp, "ingress", "ACCEPT", "REJECT", "-", "REQUEST_DROPPED"): (1, 5)}
    v = verdicts[0]
    assert (v["recorded"], v["emulated"], v["agree"], v["disagree"]) == (
        "ACCEPT", "ACCEPT+REJECT", 1, 3)
    assert (v["verdict"], v["dropped_at"], v["reason"]) == ("dropped", "db",
                                                            "ENI_SG_RULES_MISMATCH")


def test_item2_fail_on_reject_and_disagree_against_tomorrows_acl(tmp_path):
    """Yesterday's working logs against an ACL without the ephemeral ports (N2, N6): the
    request still leaves the function's ENI (agree); the reply the ENI accepted yesterday
    is now refused at its subnet's ACL, logged at that ENI."""
    logs = log(tmp_path / "y.log", LAMBDA_OUT, LAMBDA_BACK)
    code, out, err = run_cli("replay", NACL_TOPO, logs, "--out", tmp_path / "a", "--json")
    assert code == 0, err                                   # no --fail-on: a report only
    s = json.loads(out)
    assert s["recorded_vs_emulated"] == {"agree": 1, "disagree": 1}
    assert s["disagreements"] == [{
        "interface": netemu.load(NACL_TOPO).environments["billing/private-a"].eni,
        "direction": "ingress", "recorded": "ACCEPT", "emulated": "REJECT",
        "resource": "app", "rule": "app rule * deny all from 0.0.0.0/0",
        "reason": "SUBNET_ACL_RESTRICTION", "records": 1, "packets": 8}]
    assert (s["accepted"], s["rejected"]) == (10, 8)
    for flag in ("reject", "disagree"):
        code, out, err = run_cli("replay", NACL_TOPO, logs, "--fail-on", flag, "-q")
        assert code == 1, (flag, err)
    code, out, _ = run_cli("replay", NACL_TOPO, logs, "--out", tmp_path / "b")
    assert "disagreements" in out and "SUBNET_ACL_RESTRICTION" in out   # printed too
    # on the working network the same logs pass both gates
    for flag in ("reject", "disagree"):
        code, _, err = run_cli("replay", NAT_TOPO, logs, "--fail-on", flag, "-q")
        assert code == 0, (flag, err)
    code, _, err = run_cli("replay", NAT_TOPO, logs, "--fail-on", "sometimes", "-q")
    assert code == 2 and "--fail-on" in err


def test_item2_recorded_reject_the_emulation_accepts_is_a_disagreement(tmp_path):
    """The broken network's own logs (the reply REJECTed at the function's ENI) replayed
    against the fixed one: the emulation accepts what AWS rejected."""
    logs = log(tmp_path / "b.log", LAMBDA_OUT, rec(HP_ENI, "203.0.113.10", "10.0.10.4",
                                                   443, 40001, 8, 6400, "REJECT"))
    replay(netemu.load(NAT_TOPO), [logs], fresh(tmp_path / "out"))
    summary, verdicts = outputs(tmp_path / "out")
    assert summary["recorded_vs_emulated"] == {"agree": 1, "disagree": 1}
    (d,) = summary["disagreements"]
    assert (d["direction"], d["recorded"], d["emulated"], d["records"], d["packets"]) == (
        "ingress", "REJECT", "ACCEPT", 1, 8)
    assert (verdicts[0]["recorded"], verdicts[0]["emulated"]) == ("ACCEPT+REJECT", "ACCEPT")


def test_item2_plain_format_without_interface_id_is_checked_on_the_whole_path(tmp_path):
    """No interface-id: a record's ACCEPT is compared with whether the emulated packet
    arrived, since no ENI can be named."""
    fields = "srcaddr dstaddr srcport dstport protocol packets action"
    logs = log(tmp_path / "p.log", "10.0.10.4 203.0.113.10 40001 443 6 3 ACCEPT",
               "203.0.113.10 10.0.10.4 443 40001 6 2 ACCEPT", header=fields)
    s = replay(netemu.load(NACL_TOPO), [logs], fresh(tmp_path / "out"))
    summary, _ = outputs(tmp_path / "out")
    assert (s.flows, s.accepted, s.rejected) == (1, 3, 2)
    assert summary["recorded_vs_emulated"] == {"agree": 1, "disagree": 1}
    assert summary["disagreements"][0]["interface"] == "-"


@contextmanager
def deadline(seconds: int):
    def stop(*_):
        raise TimeoutError(f"took longer than {seconds} s")
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_item2_a_record_is_decided_once_and_counted_exactly(tmp_path):
    """Ten records of 999,999,999,999,999,999 packets: their sum passes int64's maximum,
    and replaying them costs what ten records of one packet cost."""
    big = 999_999_999_999_999_999
    lines = []
    for k in range(5):
        lines += [rec(HP_ENI, "10.0.10.4", "203.0.113.10", 40100 + k, 443, big, big),
                  rec(HP_ENI, "203.0.113.10", "10.0.10.4", 443, 40100 + k, big, big)]
    with deadline(60):
        s = replay(netemu.load(NAT_TOPO), [log(tmp_path / "h.log", *lines)],
                   fresh(tmp_path / "o"))
    assert s.packets == s.accepted == 10 * big > 2**63
    assert (s.flows, s.rejected) == (5, 0)
    _, verdicts = outputs(tmp_path / "o")
    assert {v["packets"] for v in verdicts} == {2 * big}


def test_item8_a_record_of_0_packets_is_counted_as_skipped(tmp_path):
    lines = [LAMBDA_OUT, rec(HP_ENI, "10.0.10.4", "203.0.113.10", 40002, 443, 0, 0),
             "2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1717200000 1717200060 - "
             "NODATA"]
    s = replay(netemu.load(NAT_TOPO), [log(tmp_path / "z.log", *lines)],
               fresh(tmp_path / "out"))
    summary, verdicts = outputs(tmp_path / "out")
    assert (s.records, s.packets, s.flows) == (3, 10, 1)
    assert summary["skipped"] == {"0 packets": 1, "NODATA": 1}
    assert [v["sport"] for v in verdicts] == [40001]


# ---- what S3 delivers ---------------------------------------------------------------

def s3_object(folder: Path, day: str, name: str, *lines: str) -> Path:
    y, m, d = day.split("-")
    where = folder / "AWSLogs" / "123456789012" / "vpcflowlogs" / "us-east-1" / y / m / d
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"123456789012_vpcflowlogs_us-east-1_fl-0123456789abcdef0_{name}.log.gz"
    path.write_bytes(gzip.compress(("\n".join([DEFAULT, *lines]) + "\n").encode()))
    return path


def test_item2_s3_export_folder_of_log_gz_objects(tmp_path):
    """The export layout, walked in date order: the connection is opened in the first
    day's object and answered in the next day's (a reply first would be an inbound
    connection into the function, L5)."""
    s3 = tmp_path / "bucket"
    s3_object(s3, "2024-06-01", "20240601T2355Z_a1b2c3d4",
              rec(HP_ENI, "10.0.10.4", "203.0.113.10", 40001, 443, 10, 1200, start=T0,
                  end=T0 + 50))
    s3_object(s3, "2024-06-02", "20240602T0000Z_e5f6a7b8",
              rec(HP_ENI, "203.0.113.10", "10.0.10.4", 443, 40001, 8, 6400, start=T0 + 20,
                  end=T0 + 60))
    code, out, err = run_cli("replay", NAT_TOPO, s3, "--out", tmp_path / "o", "--json")
    assert code == 0, err
    s = json.loads(out)
    assert (s["records"], s["flows"], s["accepted"], s["rejected"]) == (2, 1, 18, 0)
    one = next(s3.rglob("*20240601*.log.gz"))
    code, out, err = run_cli("replay", NAT_TOPO, one, "--json")      # a .log.gz by itself
    assert code == 0, err
    assert (json.loads(out)["records"], json.loads(out)["accepted"]) == (1, 10)
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli("replay", NAT_TOPO, empty, "-q")
    assert code == 2 and str(empty) in err and len(err.strip().splitlines()) == 1


def test_item2_a_damaged_log_gz_is_one_line_of_error(tmp_path):
    data = gzip.compress(("\n".join([DEFAULT, LAMBDA_OUT] * 50) + "\n").encode())
    bad = tmp_path / "cut.log.gz"
    bad.write_bytes(data[:len(data) // 2])
    code, out, err = run_cli("replay", NAT_TOPO, bad, "--out", tmp_path / "o", "-q")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(bad) in err and "gzip" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_item2_parquet_flow_logs(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({
        "version": [2, 2], "account_id": ["123456789012"] * 2,
        "interface_id": [HP_ENI, HP_ENI], "srcaddr": ["10.0.10.4", "203.0.113.10"],
        "dstaddr": ["203.0.113.10", "10.0.10.4"], "srcport": [40001, 443],
        "dstport": [443, 40001], "protocol": [6, 6], "packets": [10, 8],
        "bytes": [1200, 6400], "start": [T0, T0], "end": [T0 + 55, T0 + 55],
        "action": ["ACCEPT", "ACCEPT"], "log_status": ["OK", "OK"]})
    path = tmp_path / "flows.parquet"
    pq.write_table(table, path)
    code, out, err = run_cli("replay", NAT_TOPO, path, "--json")
    assert code == 0, err
    s = json.loads(out)
    assert (s["records"], s["packets"], s["flows"], s["accepted"]) == (2, 18, 1, 18)
    assert s["recorded_vs_emulated"] == {"agree": 2, "disagree": 0}


def test_item2_parquet_without_pyarrow_is_a_clear_refusal(tmp_path, monkeypatch):
    path = tmp_path / "flows.parquet"
    path.write_bytes(b"PAR1" + bytes(64) + b"PAR1")
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)
    monkeypatch.setitem(__import__("sys").modules, "pyarrow.parquet", None)
    code, out, err = run_cli("replay", NAT_TOPO, path, "-q")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "pyarrow" in lines[0] and "netemu[parquet]" in lines[0]


@pytest.mark.parametrize("name, content", [
    ("empty.pcap", b""),
    ("broken.pcap", b"\x00\x01\x02\x03" + bytes(range(256)) * 4),
])
def test_item2_format_by_content_a_broken_pcap_is_a_pcap_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run_cli("replay", NAT_TOPO, path, "-q")
    assert code == 2
    assert "not a pcap" in err and "fields" not in err and str(path) in err


def test_item2_record_replay_is_the_same_whatever_the_batch(tmp_path):
    """The reply logged before its request (AWS does not order an ENI's records), cut
    into batches anywhere: the function's side still opened the connection (L5), and
    every output is byte-identical."""
    lines = list(reversed(AT_THREE_PLACES)) + [
        pkt(HP_ENI, "10.0.10.4", "203.0.113.10", "10.0.10.4", "203.0.113.10", 40002, 443,
            3, 300)]
    logs = log(tmp_path / "r.log", *lines, header=PKT)
    seen = []
    for batch in (1, 2, 5, 65_536):
        out = tmp_path / f"b{batch}"
        code, _, err = run_cli("replay", NAT_TOPO, logs, "--out", out, "-q", "--batch",
                               batch)
        assert code == 0, err
        s = json.loads((out / "summary.json").read_text())
        assert (s["flows"], s["rejected"]) == (2, 0)
        assert s["recorded_vs_emulated"] == {"agree": 7, "disagree": 0}
        seen.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*"))
                     if p.is_file()})
    assert all(x == seen[0] for x in seen)


def test_item2_emulated_flow_logs_replay_as_recorded(tmp_path):
    """netemu's own flow logs are AWS's format (F4 at the NAT gateway's ENI: the private
    side logged to and from the gateway's address), so replaying them gives back the
    same connections, every record agreeing."""
    pcap = tmp_path / "w.pcap"
    code, _, err = run_cli("workload", NAT_TOPO, "--function", "orders", "--to",
                           "api.example.com", "--concurrency", 3, "--connections", 2,
                           "--hold", 2, "--duration", 10, "--rate", 10, "-o", pcap)
    assert code == 0, err
    first = tmp_path / "first"
    code, _, err = run_cli("replay", NAT_TOPO, pcap, "--out", first, "-q")
    assert code == 0, err
    nat = (first / "flowlogs" / "eni-nat-a.log").read_text().splitlines()[1:]
    pairs = {(x.split()[3], x.split()[4]) for x in nat}
    hp = {str(netemu.load(NAT_TOPO).enis[e].private_ip) for e in (
        "eni-lambda-829b558e3311", "eni-lambda-09ccca32a573")}
    assert pairs == {(h, "10.0.0.4") for h in hp} | {("10.0.0.4", h) for h in hp} | {
        ("10.0.0.4", "203.0.113.10"), ("203.0.113.10", "10.0.0.4")}
    code, out, err = run_cli("replay", NAT_TOPO, first / "flowlogs", "--json",
                             "--fail-on", "disagree")
    assert code == 0, err
    s = json.loads(out)
    records = sum(len(p.read_text().splitlines()) - 1 for p in (first / "flowlogs").iterdir())
    assert (s["records"], s["flows"], s["rejected"]) == (records, 6, 0)
    assert s["recorded_vs_emulated"] == {"agree": records, "disagree": 0}


_ADDRS = ["10.0.10.4", "10.0.11.4", "10.0.0.4", "203.0.113.10", "10.0.10.77", "54.0.0.10",
          "8.8.8.8", "169.254.169.254"]
_IFACES = ["-", HP_ENI, NAT_ENI, "eni-lambda-829b558e3311", "eni-nat-a", "eni-0ffffffffffff"]


def test_item2_any_records_are_accounted_exactly(tmp_path_factory):
    """Whatever the records (any ENI, address, direction, action, count), every packet is
    accepted, rejected or unplaced exactly once, every record with an action is compared
    once, and no record opens more than one connection."""
    from hypothesis import Phase, given, settings
    from hypothesis import strategies as st

    topo = netemu.load(NAT_TOPO)
    line = st.tuples(st.sampled_from(_IFACES), st.sampled_from(_ADDRS),
                     st.sampled_from(_ADDRS), st.sampled_from([0, 443, 40001, 61007]),
                     st.sampled_from([0, 443, 40001, 61007]), st.sampled_from([1, 6, 17]),
                     st.integers(0, 10**15), st.integers(0, 3000), st.integers(0, 700),
                     st.sampled_from(["ACCEPT", "REJECT", "-"]))

    @settings(max_examples=examples(40), deadline=None, phases=[Phase.generate])
    @given(st.lists(line, min_size=1, max_size=25), st.sampled_from([1, 4, 1000]))
    def check(lines, batch):
        text = [f"2 1 {i} {a} {b} {sp} {dp} {p} {n} {n * 40} {T0 + t} {T0 + t + d} {act} OK"
                for i, a, b, sp, dp, p, n, t, d, act in lines]
        path = log(tmp_path_factory.mktemp("h") / "h.log", *text)
        with deadline(30):         # records are decided, not expanded into packets
            s = replay(topo, [path], batch_size=batch)
        zero = sum(1 for x in lines if x[6] == 0)
        assert s.records == len(lines) and s.skipped.get("0 packets", 0) == zero
        assert s.packets == sum(x[6] for x in lines)
        assert s.accepted + s.rejected + s.unplaced == s.packets
        c = s.compared["recorded_vs_emulated"]
        assert c["agree"] + c["disagree"] == sum(1 for x in lines if x[9] != "-" and x[6])
        assert s.flows <= len(lines) - zero
    check()


def test_item2_map_places_production_addresses_in_flow_logs(tmp_path):
    """Production's Hyperplane ENI has another address than the hand-written topology's:
    --map says whose it is, for the records from it and to it alike."""
    prod = [rec(HP_ENI, "10.0.10.57", "203.0.113.10", 40001, 443, 10, 1200),
            rec(HP_ENI, "203.0.113.10", "10.0.10.57", 443, 40001, 8, 6400)]
    logs = log(tmp_path / "p.log", *prod)
    code, out, err = run_cli("replay", NAT_TOPO, logs, "--json")
    assert code == 0, err
    s = json.loads(out)
    assert (s["unplaced"], s["recorded_vs_emulated"]) == (10, {"agree": 0, "disagree": 2})
    code, out, err = run_cli("replay", NAT_TOPO, logs, "--json", "--fail-on", "disagree",
                             "--map", "10.0.10.57/32=lambda:orders@private-a")
    assert code == 0, err
    s = json.loads(out)
    assert (s["flows"], s["accepted"], s["rejected"], s["unplaced"]) == (1, 18, 0, 0)
    assert s["recorded_vs_emulated"] == {"agree": 2, "disagree": 0}


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_item2_a_trace_that_is_no_regular_file_is_refused(tmp_path, special):
    import os
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "f.log"
        os.mkfifo(path)
    with deadline(20):                      # reading either would never end
        code, out, err = run_cli("replay", NAT_TOPO, path, "-q")
    assert code == 2 and out == "" and "not a regular file" in err

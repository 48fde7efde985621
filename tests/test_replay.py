"""Replay: traces in; verdicts, flow logs, captures and a summary out, with exact counts."""

from __future__ import annotations

import json
import shutil
import subprocess

import flowlogs_reader
import numpy as np
import pytest
from conftest import SHARED_DATA, TOPOLOGIES
from scapy.layers.inet import IP, TCP  # noqa: F401  (registers the dissectors)
from scapy.utils import rdpcap
from typer.testing import CliRunner

import netemu
from netemu.apps.replay import replay
from netemu.cli import app
from netemu.dataplane.pipeline import Settings
from netemu.io.pcap_writer import write_pcap
from netemu.packet import ACK, FIN, PSH, SYN, from_columns

TOPO_PATH = TOPOLOGIES / "lambda-nat-internet.yaml"
TOPO = netemu.load(TOPO_PATH)
ENV = int(TOPO.environments["orders/private-a"].ip)
API = int(TOPO.hosts["api.example.com"].ip)


def conversation(n_flows: int, t0: float = 0.0, gap: float = 0.001, sport0: int = 40000,
                 dst: int = API, dport: int = 443) -> np.ndarray:
    """n TCP connections from the function's first environment, each: SYN, SYN-ACK, ACK,
    request, response, FIN (6 packets, 4 from the client)."""
    client = [True, False, True, True, False, True]
    flags = [SYN, SYN | ACK, ACK, PSH | ACK, PSH | ACK, FIN | ACK]
    rows = []
    for f in range(n_flows):
        for k, (c, fl) in enumerate(zip(client, flags, strict=True)):
            rows.append((t0 + f * gap + k * 1e-4, c, fl, sport0 + f))
    ts, c, fl, sp = (np.array(x) for x in zip(*rows, strict=True))
    order = np.argsort(ts, kind="stable")
    ts, c, fl, sp = ts[order], c[order], fl[order], sp[order]
    return from_columns(ts=ts, src=np.where(c, ENV, dst), dst=np.where(c, dst, ENV),
                        sport=np.where(c, sp, dport), dport=np.where(c, dport, sp), proto=6,
                        flags=fl, length=np.where(c, 120, 800))


def run_cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def test_both_directions_of_a_connection_are_one_flow(tmp_path):
    write_pcap(tmp_path / "t.pcap", conversation(3))
    s = replay(TOPO, [tmp_path / "t.pcap"], tmp_path)
    assert (s.records, s.packets, s.flows, s.accepted, s.rejected, s.unplaced) == (
        18, 18, 3, 18, 0, 0)
    verdicts = [json.loads(x) for x in (tmp_path / "verdicts.jsonl").read_text().splitlines()]
    assert [v["packets"] for v in verdicts] == [6, 6, 6]
    assert {(v["verdict"], v["reply_verdict"]) for v in verdicts} == {("delivered",
                                                                      "delivered")}
    assert verdicts[0]["bytes"] == 4 * 120 + 2 * 800


def test_flow_logs_per_eni_as_aws_would_log_them(tmp_path):
    write_pcap(tmp_path / "t.pcap", conversation(2))
    replay(TOPO, [tmp_path / "t.pcap"], tmp_path)
    logs = {p.stem: p.read_text().splitlines() for p in (tmp_path / "flowlogs").iterdir()}
    hp = TOPO.environments["orders/private-a"].eni
    assert set(logs) == {hp, "eni-nat-a"}
    records = {name: [flowlogs_reader.FlowRecord.from_cwl_event({"message": line})
                      for line in lines[1:]] for name, lines in logs.items()}
    # F4: on the Hyperplane ENI the source is the ENI's address, not the environment's
    hp_ip = str(TOPO.enis[hp].private_ip)
    assert {r.srcaddr for r in records[hp]} == {hp_ip, "203.0.113.10"}
    assert sum(r.packets for r in records[hp]) == 2 * 6      # 2 connections x 6 packets
    assert all(r.action == "ACCEPT" and r.log_status == "OK" for r in records[hp])
    # the NAT gateway's ENI logs each direction twice: its private side and public side
    assert sum(r.packets for r in records["eni-nat-a"]) == 2 * (2 * 6)
    assert {r.srcaddr for r in records["eni-nat-a"]} == {hp_ip, "10.0.0.4", "203.0.113.10"}


def test_rejected_flows_are_logged_reject_on_the_eni(tmp_path):
    topo = netemu.load(TOPOLOGIES / "lambda-nacl-no-ephemeral.yaml")
    env = int(topo.environments["billing/private-a"].ip)
    b = conversation(2)
    b["src"][b["src"] == ENV] = env
    b["dst"][b["dst"] == ENV] = env
    write_pcap(tmp_path / "t.pcap", b)
    s = replay(topo, [tmp_path / "t.pcap"], tmp_path)
    # the requests leave; every reply dies at the private subnet's ACL (N2, N6)
    assert (s.accepted, s.rejected) == (8, 4)
    assert s.to_json()["rejected_by"] == [{"resource": "app", "rule": "app rule * deny all "
                                           "from 0.0.0.0/0", "reason": "SUBNET_ACL_RESTRICTION",
                                           "packets": 4, "flows": 2}]
    hp = topo.environments["billing/private-a"].eni
    lines = (tmp_path / "flowlogs" / f"{hp}.log").read_text().splitlines()[1:]
    recs = [flowlogs_reader.FlowRecord.from_cwl_event({"message": x}) for x in lines]
    by_action = {a: sum(r.packets for r in recs if r.action == a) for a in ("ACCEPT", "REJECT")}
    assert by_action == {"ACCEPT": 8, "REJECT": 4} and len(recs) == 4    # 2 flows x 2 ways
    v = [json.loads(x) for x in (tmp_path / "verdicts.jsonl").read_text().splitlines()]
    assert v[0]["verdict"] == "delivered" and v[0]["reply_verdict"] == "dropped"
    assert (v[0]["dropped_at"], v[0]["reason"]) == ("app", "SUBNET_ACL_RESTRICTION")


def test_captures_show_translated_addresses_and_reopen_in_scapy(tmp_path):
    write_pcap(tmp_path / "t.pcap", conversation(2))
    replay(TOPO, [tmp_path / "t.pcap"], tmp_path, captures=["nat-a", "igw"])
    igw = rdpcap(str(tmp_path / "capture-igw.pcap"))
    assert len(igw) == 2 * 6                          # every packet crosses it once
    assert {p["IP"].src for p in igw} == {"54.0.0.10", "203.0.113.10"}
    flags = [int(p["TCP"].flags) for p in igw]
    assert flags[:3] == [SYN, SYN | ACK, ACK]          # the first handshake
    nat = rdpcap(str(tmp_path / "capture-nat-a.pcap"))
    assert len(nat) == 2 * (2 * 6)                    # and the NAT gateway's two sides
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed here: the capture was checked with scapy only")
    out = subprocess.run(["tshark", "-r", str(tmp_path / "capture-igw.pcap")],
                         capture_output=True, text=True, check=True)
    assert len(out.stdout.splitlines()) == 2 * 6


def test_nat_gateway_port_exhaustion_exact_count(tmp_path):
    """G3: 55,000 simultaneous connections to one destination, then ErrorPortAllocation."""
    n = 55_010
    b = from_columns(ts=np.arange(n) * 1e-5, src=ENV, dst=API,
                     sport=(1024 + np.arange(n)) % 65536, dport=443, proto=6, flags=SYN,
                     length=60)
    b["src"] = ENV + np.arange(n) // 60000          # two environments: ports stay unique
    write_pcap(tmp_path / "t.pcap", b)
    topo = TOPO
    s = replay(topo, [tmp_path / "t.pcap"], tmp_path,
               settings=Settings(hyperplane_connections=10**6))
    assert s.nat_port_allocation_failures == n - 55_000
    assert (s.accepted, s.rejected) == (55_000, n - 55_000)
    assert s.to_json()["drop_reasons"] == {"NGW_PORT_ALLOCATION": 10}


def test_nat_gateway_idle_timeout_exact_count(tmp_path):
    """G4: a connection quiet for over 350 s is gone; its next packet gets a RST."""
    first = from_columns(ts=0.0, src=ENV, dst=API, sport=np.arange(40000, 40010), dport=443,
                         proto=6, flags=SYN, length=60)
    later = from_columns(ts=np.r_[np.full(4, 349.0), np.full(6, 351.0)], src=ENV, dst=API,
                         sport=np.arange(40000, 40010), dport=443, proto=6, flags=ACK,
                         length=60)
    write_pcap(tmp_path / "t.pcap", np.concatenate([first, later]))
    s = replay(TOPO, [tmp_path / "t.pcap"], tmp_path)
    assert s.to_json()["drop_reasons"] == {"NGW_IDLE_TIMEOUT": 6}
    assert (s.accepted, s.rejected, s.flows) == (14, 6, 10)


def test_nothing_opens_a_connection_into_a_function(tmp_path):
    hp = TOPO.enis[TOPO.environments["orders/private-a"].eni]
    b = from_columns(ts=[0.0], src=API, dst=int(hp.private_ip), sport=443, dport=40000,
                     proto=6, flags=SYN, length=60)
    write_pcap(tmp_path / "t.pcap", b)
    s = replay(TOPO, [tmp_path / "t.pcap"], tmp_path)
    assert s.rejected == 1 and s.unplaced == 0


def test_map_places_other_addresses(tmp_path):
    b = conversation(1)
    recorded = 0x0A630005            # 10.99.0.5: a laptop's address in the recording
    b["src"][b["src"] == ENV] = recorded
    b["dst"][b["dst"] == ENV] = recorded
    write_pcap(tmp_path / "t.pcap", b)
    s = replay(TOPO, [tmp_path / "t.pcap"], tmp_path)
    assert s.unplaced == 4 and s.rejected == 2        # replies to an unplaced request
    s = replay(TOPO, [tmp_path / "t.pcap"], tmp_path, mappings=["10.99.0.0/16=lambda:orders"])
    assert (s.accepted, s.rejected, s.unplaced) == (6, 0, 0)


# Every shared sample through the default topology: what was read, what was skipped and
# why, and that every record is accounted for once. Figures: records and skips from the
# readers (checked against tcpdump's own decode in tests/test_pcap_reader.py), packets
# = records - skipped for pcaps, and the expansion of flow-log records into packets.
SAMPLES = [
    ("pcap/scapy__http_compressed.pcap", 3, 3, {}),
    ("pcap/scapy__http_content_length.pcap", 18, 18, {}),
    ("pcap/scapy__ssh_ed25519.pcap", 28, 28, {}),
    ("pcap/scapy__tls_new-session-ticket.pcap", 12, 6, {"ipv6": 6}),
    ("pcap/tcpdump__802.1ad_QinQ.pcap", 2, 0, {"arp": 2}),
    ("pcap/tcpdump__LINKTYPE_RAW_ipv4.pcap", 1, 1, {}),
    ("pcap/tcpdump__dns_tcp.pcap", 11, 11, {}),
    ("pcap/tcpdump__dns_udp.pcap", 2, 2, {}),
    ("pcap/tcpdump__icmpv6-length-zero.pcapng", 1, 0, {"ipv6": 1}),
    ("pcap/tcpdump__icmpv6.pcap", 5, 0, {"ipv6": 5}),
    ("pcap/tcpdump__ipv4_tcp_http_xml.pcap", 1, 1, {}),
    ("pcap/tcpdump__ntp-time.pcap", 2, 2, {}),
    ("pcap/tcpdump__tcp-handshake-nano.pcap", 3, 3, {}),
    ("vpcflow/beats__accept-reject-traffic.log", 4, 48, {}),
    ("vpcflow/beats__custom-nat-gateway.log", 2, 2, {}),
    ("vpcflow/beats__ipv6.log", 1, 0, {"ipv6": 1}),
    ("vpcflow/beats__no-data-skip-data.log", 2, 0, {"NODATA": 1, "SKIPDATA": 1}),
    ("vpcflow/beats__tcp-flag-sequence.log", 1, 8, {}),
    ("vpcflow/integrations__test-extra-samples.log", 7, 48,
     {"ipv6": 1, "NODATA": 1, "SKIPDATA": 1}),
]
TGW_FIELDS = ("version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id "
              "tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id "
              "tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id "
              "tgw-pair-attachment-id srcaddr")


@pytest.mark.parametrize("name, records, packets, skipped", SAMPLES)
def test_every_shared_sample_replays(tmp_path, name, records, packets, skipped):
    path = SHARED_DATA / "traces" / name
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data is not beside this checkout)")
    code, out, err = run_cli("replay", TOPO_PATH, path, "--out", tmp_path, "--json")
    assert code == 0, err
    s = json.loads(out)
    assert (s["records"], s["packets"], s["skipped"]) == (records, packets, skipped)
    assert s["accepted"] + s["rejected"] + s["unplaced"] == s["packets"]
    assert json.loads((tmp_path / "summary.json").read_text()) == s


def test_bad_traces_name_file_and_record_and_leave_no_output(tmp_path):
    good = tmp_path / "good.pcap"
    write_pcap(good, conversation(3))
    data = good.read_bytes()
    cases = {
        "truncated.pcap": data[:-30],
        "magic.pcap": b"\x00\x01\x02\x03" + data[4:],
        "garbled.log": b"version account-id interface-id srcaddr dstaddr srcport dstport "
                       b"protocol packets bytes start end action log-status\n"
                       b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 10 0 1 ACCEPT OK\n"
                       b"2 1 eni-1 10.0.0.1 not-an-ip 1 2 6 1 10 0 1 ACCEPT OK\n",
        "short.log": b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6\n",
        "field.log": b"version srcaddr dstaddr bogus-field\n2 10.0.0.1 10.0.0.2 x\n",
    }
    expected = {"truncated.pcap": "truncated.pcap: record 18", "magic.pcap": "magic",
                "garbled.log": ":3", "short.log": ":1", "field.log": "bogus-field"}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        out = tmp_path / f"out-{name}"
        code, stdout, err = run_cli("replay", TOPO_PATH, good, path, "--out", out, "-q")
        assert code == 2, (name, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and expected[name] in lines[0], (
            name, lines)
        assert stdout == "" and not out.exists(), name   # nothing passed off as whole


def test_workload_round_trip_exact_counts(tmp_path):
    """workload -> pcap -> replay -> verdicts and flow logs, by hand: 3 concurrent
    invocations x 2 connections x 1 destination, each connection held 2 s at 10 packets/s:
    d = 10 exchanges, so 3 + 2*10 + 3 = 26 packets a connection (14 from the client, 12
    from the server) and 6 * 26 = 156 in all. Environments 0 and 2 run in private-a,
    environment 1 in private-b (round-robin over the function's subnets, L7)."""
    pcap = tmp_path / "w.pcap"
    code, _, err = run_cli("workload", TOPO_PATH, "--function", "orders", "--to",
                           "api.example.com", "--concurrency", 3, "--connections", 2,
                           "--hold", 2, "--duration", 10, "--rate", 10, "-o", pcap)
    assert code == 0, err
    out = tmp_path / "out"
    code, stdout, err = run_cli("replay", TOPO_PATH, pcap, "--out", out, "--json",
                                "--capture", "igw")
    assert code == 0, err
    s = json.loads(stdout)
    assert (s["records"], s["packets"], s["flows"], s["accepted"], s["rejected"]) == (
        156, 156, 6, 156, 0)
    assert s["delivered_to"] == {"internet-host:internet": 6 * 14,
                                 "lambda-service:lambda-service-vpc": 6 * 12}
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text().splitlines()]
    assert len(verdicts) == 6 and {v["packets"] for v in verdicts} == {26}
    assert {(v["verdict"], v["reply_verdict"]) for v in verdicts} == {("delivered",
                                                                      "delivered")}

    def records(eni):
        lines = (out / "flowlogs" / f"{eni}.log").read_text().splitlines()[1:]
        return [flowlogs_reader.FlowRecord.from_cwl_event({"message": x}) for x in lines]
    hp_a = TOPO.environments["orders/private-a"].eni
    hp_b = TOPO.environments["orders/private-b"].eni
    a, b, nat = records(hp_a), records(hp_b), records("eni-nat-a")
    # one record per direction of each connection on its Hyperplane ENI...
    assert (len(a), sum(r.packets for r in a)) == (8, 4 * 26)
    assert (len(b), sum(r.packets for r in b)) == (4, 2 * 26)
    assert sorted({r.packets for r in a}) == [12, 14]
    # ...and four on the NAT gateway's: private and public side, both ways (F4)
    assert (len(nat), sum(r.packets for r in nat)) == (24, 6 * 52)
    # the internet gateway sees every packet of the 6 connections once: 6 * 26
    assert len(rdpcap(str(out / "capture-igw.pcap"))) == 6 * 26


def test_workload_round_trip_through_json_lines(tmp_path):
    from netemu.apps.workload import generate_workload, write_workload
    batch = generate_workload(TOPO, "orders", 3, 2, ["api.example.com"], 10.0, hold=2.0)
    write_workload(tmp_path / "w.jsonl", batch)
    s = replay(TOPO, [tmp_path / "w.jsonl"], tmp_path)
    assert (s.packets, s.flows, s.accepted) == (156, 6, 156)

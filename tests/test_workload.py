"""Synthetic workloads (L10, N6): counts derived by hand, handshakes, ports, determinism,
both directions, pcap and JSON-lines output, bad input."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path

import numpy as np
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.utils import rdpcap

import netemu
from netemu.apps.workload import (
    client_mask,
    exchanges,
    generate_workload,
    packets_per_connection,
    parse_destination,
    write_workload,
)
from netemu.errors import InputError
from netemu.model import aws_services
from netemu.packet import ACK, FIN, PSH, SYN

ROOT = Path(__file__).resolve().parents[1] / "topologies"
NAT = netemu.load(ROOT / "lambda-nat-internet.yaml")
RDS = netemu.load(ROOT / "lambda-rds-sg-reference.yaml")
API = "api.example.com"
DB = "orders-db.c9akciq32.us-east-1.rds.amazonaws.com:5432"
SYN_ACK, FIN_ACK, PSH_ACK = SYN | ACK, FIN | ACK, PSH | ACK


def env_ip(topo, k: int, function: str = "orders") -> int:
    return int(topo.environment(function, k).ip)


def per_flow(batch: np.ndarray) -> dict[int, np.ndarray]:
    return {int(f): batch[batch["flow"] == f] for f in np.unique(batch["flow"])}


# ---- counts by hand ---------------------------------------------------------------
def test_exchanges_formula() -> None:
    assert exchanges(10.0, 2.0) == 10           # floor(10 * 2 / 2)
    assert exchanges(10.0, 0.05) == 1           # at least one exchange
    assert exchanges(3.0, 1.0) == 1             # floor(1.5)
    assert exchanges(1.0, 9.0) == 4             # floor(4.5)
    assert packets_per_connection("tcp", 10) == 3 + 2 * 10 + 3  # handshake, 10 exchanges, close
    assert packets_per_connection("udp", 10) == 2 * 10          # 10 exchanges, nothing else


def test_L10_tcp_count_3_envs_x_2_connections_x_2_destinations() -> None:
    # 12 connections; hold 2 s at 10 packets/s = 10 exchanges; 3 + 2*10 + 3 = 26 each
    b = generate_workload(NAT, "orders", 3, 2, [API, "10.0.20.25:5432"], 10.0, rate=10.0,
                          hold=2.0)
    assert len(b) == 3 * 2 * 2 * 26 == 312
    assert sorted(np.unique(b["flow"]).tolist()) == list(range(12))
    assert all(len(p) == 26 for p in per_flow(b).values())
    assert np.all(np.diff(b["ts"]) >= 0)
    assert b["ts"].min() >= 0.0


def test_udp_count_and_no_handshake() -> None:
    # 4 x 3 x 1 = 12 connections, hold 1.5 s at rate 4 -> floor(3) = 3 exchanges, 6 packets
    b = generate_workload(RDS, "orders", 4, 3, [DB], 5.0, rate=4.0, proto="udp", hold=1.5)
    assert len(b) == 12 * 6
    assert set(b["proto"].tolist()) == {17} and set(b["flags"].tolist()) == {0}
    for p in per_flow(b).values():
        assert (p["dport"][0::2] == 5432).all() and (p["sport"][1::2] == 5432).all()


def test_udp_default_port_53() -> None:
    b = generate_workload(RDS, "orders", 1, 1, ["10.0.0.2"], 1.0, proto="udp", hold=1.0)
    assert b["dport"][0] == 53


def test_without_hold_each_flow_follows_the_formula() -> None:
    b = generate_workload(NAT, "orders", 5, 3, [API], 20.0, rate=6.0, seed=7)
    for p in per_flow(b).values():
        d = (len(p) - 6) // 2
        assert len(p) == 6 + 2 * d and d >= 1
        assert np.count_nonzero(p["flags"] == PSH_ACK) == 2 * d
    assert b["ts"].min() >= 0.0
    assert b["ts"].max() < 20.0 + 2 / 6.0 + 2 * 0.024 + 150e-6      # bound in the docstring


# ---- packets of a connection --------------------------------------------------------
def test_handshake_data_teardown_order_and_directions() -> None:
    b = generate_workload(RDS, "orders", 3, 2, [DB], 10.0, rate=10.0, hold=1.0, seed=3)
    db = int(ipaddress.IPv4Address("10.0.20.25"))
    for flow_id, p in per_flow(b).items():
        k = flow_id // 2                               # flow = (k * D + j) * M + c, D = 1
        client, sport = env_ip(RDS, k), int(p["sport"][0])
        d = exchanges(10.0, 1.0)
        flags = p["flags"].tolist()
        assert flags == [SYN, SYN_ACK, ACK] + [PSH_ACK] * (2 * d) + [FIN_ACK, FIN_ACK, ACK]
        up = [True, False, True] + [True, False] * d + [True, False, True]
        for pkt, out in zip(p, up, strict=True):
            if out:
                assert (pkt["src"], pkt["sport"], pkt["dst"], pkt["dport"]) == (
                    client, sport, db, 5432)
            else:
                assert (pkt["src"], pkt["sport"], pkt["dst"], pkt["dport"]) == (
                    db, 5432, client, sport)
        assert np.all(np.diff(p["ts"]) > 0)
        lengths = p["length"]
        assert (lengths[[0, 1, 2, -3, -2, -1]] == 40).all()
        data = lengths[3:-3]
        assert ((data[0::2] >= 200) & (data[0::2] <= 600)).all()
        assert ((data[1::2] >= 200) & (data[1::2] <= 1500)).all()
        assert np.allclose(np.diff(p["ts"][3:-3]), 1 / 10.0)


def test_N6_source_ports_ephemeral_and_unique_per_environment() -> None:
    b = generate_workload(NAT, "orders", 4, 50, [API, "10.0.20.25:5432"], 5.0, hold=0.5)
    syn = b[b["flags"] == SYN]
    assert len(syn) == 4 * 50 * 2
    assert ((syn["sport"] >= 32768) & (syn["sport"] <= 60999)).all()
    for k in range(4):
        ports = syn["sport"][syn["src"] == env_ip(NAT, k)]
        assert len(ports) == 100 and len(set(ports.tolist())) == 100


def test_L10_each_environment_opens_its_own_connections() -> None:
    b = generate_workload(NAT, "orders", 5, 1, [API], 2.0, hold=0.2)
    syn = b[b["flags"] == SYN]
    clients = syn["src"][np.argsort(syn["flow"])].tolist()
    assert clients == [env_ip(NAT, k) for k in range(5)]
    net = aws_services.LAMBDA_SERVICE_CIDR
    assert all(ipaddress.IPv4Address(c) in net for c in clients)
    assert set(syn["dst"].tolist()) == {int(ipaddress.IPv4Address("203.0.113.10"))}
    assert set(syn["dport"].tolist()) == {443}
    assert client_mask(b).sum() == 5 * (4 + 1)          # client sends 4 + d, d = 1


def test_both_directions_share_the_flow_id() -> None:
    b = generate_workload(NAT, "orders", 2, 2, [API], 3.0, seed=9)
    for p in per_flow(b).values():
        ends = {frozenset([(a, x), (c, y)])
                for a, x, c, y in zip(p["src"].tolist(), p["sport"].tolist(),
                                      p["dst"].tolist(), p["dport"].tolist(), strict=True)}
        assert len(ends) == 1                          # one connection, both directions
        assert len(set(p["src"].tolist())) == 2


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    args = (NAT, "orders", 3, 2, [API, "10.0.20.25:5432"], 5.0)
    a, b = generate_workload(*args, seed=11), generate_workload(*args, seed=11)
    assert a.tobytes() == b.tobytes()
    assert generate_workload(*args, seed=12).tobytes() != a.tobytes()
    write_workload(tmp_path / "a.pcap", a)
    write_workload(tmp_path / "b.pcap", b)
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("a.pcap",
                                                                                "b.pcap")]
    assert digest[0] == digest[1]


def test_function_without_vpc_configuration() -> None:
    topo = netemu.load(ROOT / "lambda-no-vpc.yaml")
    b = generate_workload(topo, "thumbnails", 2, 1, [API], 1.0, hold=1.0)
    assert len(b) == 2 * (6 + 2 * 5)
    assert {env_ip(topo, k, "thumbnails") for k in (0, 1)} == set(b["src"][client_mask(b)].tolist())


# ---- output -----------------------------------------------------------------------
def test_pcap_reopens_with_scapy(tmp_path: Path) -> None:
    b = generate_workload(NAT, "orders", 3, 2, [API], 4.0, rate=10.0, hold=0.6, t0=1.7e9)
    assert write_workload(tmp_path / "w.pcap", b) == len(b) == 6 * (6 + 2 * 3)
    pkts = rdpcap(str(tmp_path / "w.pcap"))
    assert len(pkts) == len(b)
    assert [int(p[TCP].flags) for p in pkts] == b["flags"].tolist()
    assert [p[IP].len for p in pkts] == b["length"].tolist()
    assert [p[TCP].sport for p in pkts] == b["sport"].tolist()
    first = b[b["flow"] == 0]
    got = [str(p[TCP].flags) for p in pkts
           if {p[TCP].sport, p[TCP].dport} == {int(first["sport"][0]), 443}]
    assert got[:3] == ["S", "SA", "A"] and got[-3:] == ["FA", "FA", "A"]
    assert set(got[3:-3]) == {"PA"}
    assert float(pkts[0].time) == pytest.approx(b["ts"][0], abs=1e-6)


def test_pcapng_extension_and_udp(tmp_path: Path) -> None:
    b = generate_workload(RDS, "orders", 2, 1, [DB], 2.0, proto="udp", hold=1.0)
    assert write_workload(tmp_path / "w.PCAPNG", b) == len(b) == 2 * 10
    pkts = rdpcap(str(tmp_path / "w.PCAPNG"))
    assert len(pkts) == len(b) and all(UDP in p for p in pkts)


def test_jsonl_flows(tmp_path: Path) -> None:
    b = generate_workload(NAT, "orders", 3, 2, [API], 4.0, hold=1.0)
    lines = write_workload(tmp_path / "w.jsonl", b)
    rows = [json.loads(x) for x in (tmp_path / "w.jsonl").read_text().splitlines()]
    assert lines == len(rows) == 12                    # 6 connections x 2 directions
    assert sum(r["packets"] for r in rows) == len(b)
    assert sum(r["bytes"] for r in rows) == int(b["length"].sum())
    by_flow: dict[int, list[dict]] = {}
    for r in rows:
        by_flow.setdefault(r["flow"], []).append(r)
    assert sorted(by_flow) == list(range(6))
    for pair in by_flow.values():
        out = next(r for r in pair if r["dport"] == 443)
        back = next(r for r in pair if r["sport"] == 443)
        assert (out["packets"], back["packets"]) == (4 + 5, 2 + 5)
        assert out["tcp_flags"] == SYN | FIN          # as flow logs report them
        assert back["tcp_flags"] == SYN_ACK | FIN


def test_unknown_output_extension(tmp_path: Path) -> None:
    b = generate_workload(NAT, "orders", 1, 1, [API], 1.0)
    with pytest.raises(InputError, match="pcap"):
        write_workload(tmp_path / "w.csv", b)


# ---- bad input --------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"function": "nope"}, "unknown Lambda function 'nope'"),
    ({"concurrency": 1025}, "at most 1024"),
    ({"concurrency": 0}, "concurrency 0"),
    ({"concurrency": 2.5}, "integer"),
    ({"connections": 0}, "connections 0"),
    ({"destinations": []}, "at least one destination"),
    ({"destinations": "api.example.com"}, "at least one destination"),
    ({"destinations": ["nowhere.invalid"]}, "cannot resolve 'nowhere.invalid'"),
    ({"destinations": ["api.example.com:70000"]}, "port 70000"),
    ({"destinations": [":443"]}, "no name"),
    ({"duration": 0}, "duration"),
    ({"duration": float("nan")}, "duration"),
    ({"rate": -1.0}, "rate"),
    ({"seed": -1}, "seed"),
    ({"proto": "icmp"}, "tcp or udp"),
    ({"port": 0}, "port 0"),
    ({"hold": 5.0}, "longer than the duration"),
    ({"connections": 20000, "destinations": [API, API]}, "ephemeral ports"),
    ({"rate": 1e6, "duration": 100.0, "hold": 100.0, "concurrency": 1024}, "at most"),
])
def test_bad_input(kwargs: dict, match: str) -> None:
    args = {"function": "orders", "concurrency": 2, "connections": 1,
            "destinations": [API], "duration": 2.0} | kwargs
    with pytest.raises(InputError, match=match):
        generate_workload(NAT, **args)


def test_private_name_unresolvable_without_vpc() -> None:
    topo = netemu.load(ROOT / "lambda-no-vpc.yaml")
    with pytest.raises(InputError, match="outside any VPC"):       # L1
        generate_workload(topo, "thumbnails", 1, 1, ["db.app.internal"], 1.0)


def test_parse_destination() -> None:
    assert parse_destination("db:5432", 443) == ("db", 5432)
    assert parse_destination("lambda:orders", 443) == ("lambda:orders", 443)
    assert parse_destination("lambda:orders:8080", 443) == ("lambda:orders", 8080)
    assert parse_destination(" 10.0.20.25 ", 53) == ("10.0.20.25", 53)

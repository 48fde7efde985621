"""Issue 11, "Beyond one machine": `netemu replay --engine dask` partitions the input so
that every verdict's state stays in one partition and merges the partial results into
the very files the local engine writes. One in-process LocalCluster of 2 workers serves
the whole module; nothing but localhost is contacted."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
from conftest import TOPOLOGIES
from hypothesis import HealthCheck, given, settings
from strategies import connections, examples
from typer.testing import CliRunner

import netemu
from netemu.apps import replay_dask as rd
from netemu.apps.replay import replay
from netemu.apps.replay_dask import partition_of, replay_dask
from netemu.cli import app
from netemu.dataplane.pipeline import Settings
from netemu.io.pcap_writer import write_pcap
from netemu.packet import ACK, SYN, TCP, UDP, from_columns

distributed = pytest.importorskip("dask.distributed")

# (topology, function, destinations, protocol): the shipped topologies' own traffic
CORPUS = [
    ("lambda-nat-internet.yaml", "orders", ["api.example.com", "api.example.com:80"], "tcp"),
    ("lambda-nat-internet.yaml", "orders", ["api.example.com:53", "api.example.com:123"],
     "udp"),
    ("lambda-nat-instance.yaml", "orders", ["api.example.com", "api.example.com:8443"], "tcp"),
    ("lambda-rds-sg-reference.yaml", "orders", ["10.0.20.25:5432", "10.0.20.25:3306"], "tcp"),
    ("lambda-nacl-no-ephemeral.yaml", "billing", ["api.example.com"], "tcp"),
    ("lambda-two-az-missing-nat.yaml", "orders", ["api.example.com"], "tcp"),
    ("lambda-public-subnet.yaml", "webhook", ["api.example.com"], "tcp"),
]
CAPTURES = {"lambda-nat-internet.yaml": ["nat-a"], "lambda-nat-instance.yaml":
            ["nat-instance"], "lambda-rds-sg-reference.yaml": ["orders-db"]}


@pytest.fixture(scope="module")
def client():
    """Threads, not processes: starts in well under a second and needs no pickling of
    closures (the CLI's default LocalCluster uses processes; see the CLI test)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _both(topo, traces, tmp: Path, client, *, partitions=3, **kw):
    a, b = tmp / "local", tmp / "dask"
    sa = replay(topo, traces, a, **kw)
    sb = replay_dask(topo, traces, b, scheduler=client, partitions=partitions, **kw)
    return sa, sb, _files(a), _files(b)


def _workload(runner, topo: Path, fn: str, dests: list[str], proto: str, out: Path):
    args = ["workload", str(topo), "--function", fn, "--concurrency", "12",
            "--connections", "2", "--duration", "20", "--rate", "4", "--proto", proto,
            "--seed", "11", "-o", str(out)]
    for d in dests:
        args += ["--to", d]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: f"{c[0]}-{c[3]}")
def test_issue11_dask_corpus_outputs_identical_to_local(case, client, tmp_path):
    """Every file (verdicts, flow logs per ENI, captures, summary) is byte-identical to
    the single-process run, with connections spread over 3 partitions."""
    name, fn, dests, proto = case
    topo_path = TOPOLOGIES / name
    _workload(CliRunner(), topo_path, fn, dests, proto, tmp_path / "w.pcap")
    topo = netemu.load(topo_path)
    sa, sb, fa, fb = _both(topo, [tmp_path / "w.pcap"], tmp_path, client,
                           captures=CAPTURES.get(name, []))
    assert sorted(fa) == sorted(fb)
    for f in fa:
        assert fa[f] == fb[f], f
    assert sa.to_json() == sb.to_json() and sa.packets > 0


def test_issue11_dask_flow_log_file_and_mixed_inputs_identical(client, tmp_path):
    """A flow-log file (record by record, F1-F5) alone, and after a packet trace: the same
    files, flow-log connections numbered after the trace's, recorded-vs-emulated kept."""
    topo_path = TOPOLOGIES / "lambda-nacl-no-ephemeral.yaml"
    log = TOPOLOGIES / "traces" / "billing-flowlogs.log"
    topo = netemu.load(topo_path)
    _, sb, fa, fb = _both(topo, [log], tmp_path / "alone", client)
    assert fa == fb and "recorded_vs_emulated" in sb.to_json()
    _workload(CliRunner(), topo_path, "billing", ["api.example.com"], "tcp",
              tmp_path / "w.pcap")
    _, _, fa, fb = _both(topo, [tmp_path / "w.pcap", log], tmp_path / "mixed", client)
    assert fa == fb


def _ip(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


ENVS = [_ip("169.254.0.1"), _ip("169.254.0.2")]       # orders' environments
SERVERS = [_ip("203.0.113.10"), _ip("203.0.113.11"), _ip("203.0.113.12")]


@pytest.fixture(scope="module")
def nat_topo(tmp_path_factory):
    path = tmp_path_factory.mktemp("topo") / "topo.yaml"
    path.write_text((TOPOLOGIES / "lambda-nat-internet.yaml").read_text())
    return netemu.load(path)


@settings(max_examples=examples(8), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trace=connections(ENVS, SERVERS, max_connections=6))
def test_issue11_dask_random_traces_same_verdicts_flow_logs_captures(
        nat_topo, client, tmp_path_factory, trace):
    """Random connections (TCP, UDP, ICMP, GRE; silences around every timeout) to three
    internet hosts through the NAT gateway: the same bytes in every file."""
    tmp = tmp_path_factory.mktemp("rand")
    write_pcap(tmp / "t.pcap", trace)
    _, _, fa, fb = _both(nat_topo, [tmp / "t.pcap"], tmp, client, partitions=4,
                         captures=["nat-a"], batch_size=7)
    assert fa == fb


def _many(dests: list[int], n: int, dport: int = 443) -> np.ndarray:
    """n TCP connections to each destination, all open at once (SYN at t, data later)."""
    rows = []
    for d, dst in enumerate(dests):
        for k in range(n):
            sport = 40000 + 100 * d + k
            rows.append((0.001 * k, ENVS[0], dst, sport, dport, SYN))
            rows.append((10.0 + 0.001 * k, ENVS[0], dst, sport, dport, ACK))
    ts, src, dst, sport, dport, flags = (np.array(x) for x in zip(*rows, strict=True))
    order = np.argsort(ts, kind="stable")
    return from_columns(ts=ts[order], src=src[order], dst=dst[order], sport=sport[order],
                        dport=dport[order], proto=TCP, flags=flags[order], length=100)


def test_issue11_dask_partition_by_destination_keeps_g3_exact(nat_topo, client, tmp_path):
    """G3 (simultaneous connections per destination, lowered to 3 here): 5 connections to
    each of 3 destinations lose 2 each, whichever partitions they fall in."""
    write_pcap(tmp_path / "t.pcap", _many(SERVERS, 5))
    st = Settings(nat_connections_per_destination=3)
    _, _, conn_part = partition_of(_many(SERVERS, 5), 4)
    assert len(set(conn_part.tolist())) > 1      # the destinations do spread out
    sa, sb, fa, fb = _both(nat_topo, [tmp_path / "t.pcap"], tmp_path, client,
                           partitions=4, settings=st)
    assert fa == fb
    assert sb.to_json()["drop_reasons"] == {"NGW_PORT_ALLOCATION": 3 * 2 * 2}


def test_issue11_dask_partition_keeps_a_connection_and_its_destination_together():
    """Both directions of a connection, and every connection to one (address, port,
    protocol), land in one partition."""
    b = np.concatenate([_many(SERVERS, 4), _many(SERVERS, 4, dport=80)])
    rev = b.copy()
    rev["src"], rev["dst"], rev["sport"], rev["dport"] = b["dst"], b["src"], b["dport"], \
        b["sport"]
    both = np.concatenate([b, rev])
    part, conn, _ = partition_of(both, 5)
    assert (part[: len(b)] == part[len(b):]).all()
    assert (conn[: len(b)] == conn[len(b):]).all()
    for d in SERVERS:
        for port in (443, 80):
            mine = (both["dst"] == d) & (both["dport"] == port)
            assert len(set(part[mine].tolist())) == 1


def test_issue11_dask_l3_is_approximate_across_partitions_and_warned(nat_topo, client,
                                                                     tmp_path):
    """docs/dask.md: a Hyperplane ENI's connection limit (L3, lowered to 4 here) is counted
    per partition. 3 destinations x 3 connections from one ENI: the local engine refuses
    5 connections; with each destination alone in a partition none is refused - and the
    run says so on stderr."""
    trace = _many(SERVERS, 3)
    write_pcap(tmp_path / "t.pcap", trace)
    st = Settings(hyperplane_connections=4)
    _, conn_part = partition_of(trace, 64)[1:]
    assert len(set(conn_part.tolist())) == 3        # one destination per partition
    warnings: list[str] = []
    sa = replay(nat_topo, [tmp_path / "t.pcap"], settings=st)
    sb = replay_dask(nat_topo, [tmp_path / "t.pcap"], scheduler=client, partitions=64,
                     settings=st, warn=warnings.append)
    assert sa.to_json()["drop_reasons"] == {"LAMBDA_ENI_CONNECTION_LIMIT": 5 * 2}
    assert sb.rejected == 0
    assert len(warnings) == 1 and "L3" in warnings[0]


def test_issue11_dask_one_partition_equals_local_with_udp(nat_topo, client, tmp_path):
    """--partitions 1: the whole input in one partition, the local engine on a worker."""
    t = _many(SERVERS[:1], 3)
    t["proto"] = UDP
    write_pcap(tmp_path / "t.pcap", t)
    _, _, fa, fb = _both(nat_topo, [tmp_path / "t.pcap"], tmp_path, client, partitions=1)
    assert fa == fb


# ---- the command line -----------------------------------------------------------------

def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "w.pcap"
    _workload(CliRunner(), TOPOLOGIES / "lambda-nat-internet.yaml", "orders",
              ["api.example.com"], "tcp", path)
    return path


def test_issue11_dask_bad_engine_exit_2_one_line(trace_file, tmp_path):
    r = CliRunner().invoke(app, ["replay", str(TOPOLOGIES / "lambda-nat-internet.yaml"),
                                 str(trace_file), "--engine", "spark", "--out",
                                 str(tmp_path / "o")])
    assert r.exit_code == 2
    assert r.output.strip() == "netemu: error: --engine 'spark': expected local or dask"
    assert not (tmp_path / "o").exists()


def test_issue11_dask_scheduler_without_dask_engine_exit_2(trace_file):
    r = CliRunner().invoke(app, ["replay", str(TOPOLOGIES / "lambda-nat-internet.yaml"),
                                 str(trace_file), "--scheduler", "tcp://127.0.0.1:1"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "--engine dask" in r.output


def test_issue11_dask_unreachable_scheduler_exit_2_one_line(trace_file, tmp_path,
                                                            monkeypatch):
    monkeypatch.setattr(rd, "CONNECT_TIMEOUT", "0.5s")
    port = _closed_port()
    r = CliRunner().invoke(app, ["replay", str(TOPOLOGIES / "lambda-nat-internet.yaml"),
                                 str(trace_file), "--engine", "dask", "--scheduler",
                                 f"tcp://127.0.0.1:{port}", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"netemu: error: --scheduler tcp://127.0.0.1:{port}: cannot reach"), r.output
    assert not (tmp_path / "o").exists()


def test_issue11_dask_cli_with_scheduler_address_same_files(client, trace_file, tmp_path):
    """The command with --scheduler (the module's cluster) writes what the local one does;
    --json prints the same summary."""
    topo = str(TOPOLOGIES / "lambda-nat-internet.yaml")
    runner = CliRunner()
    r1 = runner.invoke(app, ["replay", topo, str(trace_file), "--out", str(tmp_path / "a"),
                             "--capture", "nat-a", "--json"])
    r2 = runner.invoke(app, ["replay", topo, str(trace_file), "--out", str(tmp_path / "b"),
                             "--capture", "nat-a", "--json", "--engine", "dask",
                             "--scheduler", client.scheduler.address, "--partitions", "3"])
    assert r1.exit_code == r2.exit_code == 0, r2.output
    assert json.loads(r1.stdout) == json.loads(r2.stdout)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_issue11_dask_zero_partitions_exit_2_nothing_written(client, trace_file, tmp_path):
    r = CliRunner().invoke(app, ["replay", str(TOPOLOGIES / "lambda-nat-internet.yaml"),
                                 str(trace_file), "--engine", "dask", "--scheduler",
                                 client.scheduler.address, "--partitions", "0", "--out",
                                 str(tmp_path / "o")])
    assert r.exit_code == 2
    assert r.output.strip() == "netemu: error: --partitions 0: at least 1"
    assert not (tmp_path / "o").exists()


def test_issue11_dask_nonempty_out_refused_like_local(client, trace_file, tmp_path):
    """An --out folder holding something is refused with the local engine's line, and
    left as it was."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    base = ["replay", str(TOPOLOGIES / "lambda-nat-internet.yaml"), str(trace_file),
            "--out", str(out), "-q"]
    r1 = CliRunner().invoke(app, base)
    r2 = CliRunner().invoke(app, base + ["--engine", "dask", "--scheduler",
                                         client.scheduler.address])
    assert r1.exit_code == r2.exit_code == 2
    assert r2.output == r1.output and "not empty" in r2.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]

"""Issue 11: the fast paths of replay's outputs give what the reference paths give.

Fast: flow-log records aggregated and merged by one sort over packed key words
(`packed_order`), held narrow (SUMMED_DTYPE) and merged as the batches go
(`compact_records`); verdict lines formatted from whole columns (`verdict_lines`).
Reference: the lexsort aggregation over eight columns, `np.unique(axis=0)` merged once at
the end over full records (`_merge_records_wide`), and one `json.dumps` per verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TOPOLOGIES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import connections, examples
from test_item1_batch_independence import CAPTURES, ENVS, SERVERS, TOPO_YAML

import netemu
import netemu.apps.replay as replay_mod
from netemu.apps import flowlog_replay
from netemu.apps import verdict_lines as vl
from netemu.apps.replay import Replayer, _merge_records_wide, merge_records, replay
from netemu.io import flowlog_writer
from netemu.io.flowlog_reader import RECORD_DTYPE
from netemu.io.flowlog_writer import format_records, minus_ones, packed_order
from netemu.io.pcap_writer import write_pcap
from netemu.packet import ICMP


def reference_aggregate(packets, interface, accept, *, window=600, narrow=False):
    """The aggregation before issue 11: a stable lexsort over the eight key columns, full
    RECORD_DTYPE records built with np.full."""
    n = len(packets)
    iface = np.broadcast_to(np.asarray(interface, np.int64), (n,))
    action = np.broadcast_to(np.asarray(accept, bool), (n,)).astype(np.int64)
    ts = packets["ts"].astype(np.float64)
    win = np.floor(ts / window).astype(np.int64)
    icmp = packets["proto"] == ICMP
    sport = np.where(icmp, 0, packets["sport"])
    dport = np.where(icmp, 0, packets["dport"])
    keys = (packets["proto"], dport, sport, packets["dst"], packets["src"], action, iface, win)
    order = np.lexsort(keys)
    sk = [np.asarray(k)[order] for k in keys]
    change = np.zeros(n, bool)
    if n:
        change[0] = True
        for k in sk:
            change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    out = np.full(len(starts), -1, RECORD_DTYPE)
    if n == 0:
        return out
    p = packets[order]
    first = p[starts]
    out["version"], out["log_status"] = 2, 0
    out["interface_id"] = sk[6][starts]
    out["src"], out["dst"] = first["src"], first["dst"]
    out["sport"], out["dport"], out["proto"] = sk[2][starts], sk[1][starts], first["proto"]
    out["action"] = sk[5][starts]
    out["packets"] = np.diff(np.append(starts, n))
    out["bytes"] = np.add.reduceat(p["length"].astype(np.int64), starts)
    t = ts[order]
    out["start"] = np.floor(np.minimum.reduceat(t, starts)).astype(np.int64)
    out["end"] = np.ceil(np.maximum.reduceat(t, starts)).astype(np.int64)
    out["line"] = np.arange(len(starts)) + 2
    return out


def _small_steps(mp: pytest.MonkeyPatch) -> None:
    """Merge after every batch and format 2 lines at a time: every boundary is met."""
    mp.setattr(Replayer, "COMPACT_FLOOR", 1)
    mp.setattr(replay_mod, "LINES_AT_ONCE", 2)
    mp.setattr(vl, "AT_ONCE", 2)
    mp.setattr(flowlog_writer, "FORMAT_AT_ONCE", 2)


def reference_verdict_lines(self):
    return (json.dumps(v) for v in self.verdicts())


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    path = tmp_path_factory.mktemp("topo") / "topo.yaml"
    path.write_text(TOPO_YAML)
    return netemu.load(path)


def _outputs(topo, trace: Path, folder: Path, batch: int, captures=CAPTURES
             ) -> dict[str, bytes]:
    replay(topo, [trace], folder, captures=captures, batch_size=batch)
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@settings(max_examples=examples(25), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trace=connections(ENVS, SERVERS, max_connections=6), data=st.data())
def test_issue11_fast_outputs_equal_the_reference_path(topo, tmp_path_factory, trace, data):
    """Verdicts, flow logs, captures and summary: the fast path, merging after every batch
    (the streaming floor at 1 record), is byte for byte the reference path in one batch."""
    tmp = tmp_path_factory.mktemp("exact")
    write_pcap(tmp / "t.pcap", trace)
    batch = data.draw(st.integers(1, max(1, len(trace))), label="batch")
    mp = pytest.MonkeyPatch()
    try:
        _small_steps(mp)
        fast = _outputs(topo, tmp / "t.pcap", tmp / "fast", batch)
        mp.setattr(Replayer, "COMPACT_FLOOR", 1 << 62)
        mp.setattr(replay_mod, "aggregate", reference_aggregate)
        mp.setattr(replay_mod, "merge_records", lambda r: _merge_records_wide(np.concatenate(r)))
        mp.setattr(Replayer, "verdict_lines", reference_verdict_lines)
        ref = _outputs(topo, tmp / "t.pcap", tmp / "ref", len(trace))
    finally:
        mp.undo()
    assert sorted(fast) == sorted(ref)
    assert any(name.startswith("flowlogs/") for name in ref)
    for name in ref:
        assert fast[name] == ref[name], name


COLUMN = st.one_of(st.integers(0, 3), st.integers(0, 2**16), st.integers(-2**40, 2**40),
                   st.sampled_from([-2**63, 2**63 - 1, 0]))


@settings(max_examples=examples(100), deadline=None)
@given(st.integers(1, 5).flatmap(lambda k: st.lists(st.tuples(*[COLUMN] * k), min_size=1,
                                                     max_size=60)))
def test_issue11_packed_order_groups_and_sorts_as_lexsort(rows):
    """Whatever the ranges (one word, several, or none fitting: int64's extremes), rows
    come out in lexicographic order and the group starts are where rows change."""
    cols = [np.array(c, np.int64) for c in zip(*rows, strict=True)]
    order, head = packed_order(cols)
    got = [tuple(int(c[i]) for c in cols) for i in order]
    assert got == sorted(got)
    assert head.tolist() == [i == 0 or got[i] != got[i - 1] for i in range(len(got))]
    stable, _ = packed_order(cols, stable=True)
    assert stable.tolist() == np.lexsort(cols[::-1]).tolist()


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from([-1, 7, 2**32 - 1]),
                          st.integers(0, 2), st.integers(0, 3), st.integers(0, 1),
                          st.integers(0, 2000), st.sampled_from([1, 2**62])),
                min_size=1, max_size=40), st.integers(1, 4))
def test_issue11_merged_records_equal_the_unique_merge(rows, parts):
    """Records merged through the packed sort, narrow or (a field out of range) wide, in
    any number of pieces, write the lines np.unique's merge writes, counts saturating."""
    r = minus_ones(len(rows))
    for name, col in zip(("interface_id", "src", "dst", "sport", "action", "start",
                          "bytes"), zip(*rows, strict=True), strict=True):
        r[name] = col
    r["dport"], r["proto"], r["packets"], r["end"] = 443, 6, 3, r["start"] + 4
    pieces = np.array_split(r, parts)
    names = ["eni-a", "eni-b", "eni-c"]
    got = list(format_records(merge_records(pieces), names))
    want = list(format_records(_merge_records_wide(r), names))
    assert got == want


FLOW_TOPOS = [TOPOLOGIES / "lambda-nat-internet.yaml",
              TOPOLOGIES / "lambda-nacl-no-ephemeral.yaml"]
HEADER_V2 = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
             "packets bytes start end action log-status")
ENDS = ["10.0.10.4", "203.0.113.10", "10.0.0.4", "10.0.20.25"]


@st.composite
def flow_log_lines(draw) -> list[str]:
    """Up to 12 default-format records among the function's ENI, an internet host, the
    NAT gateway and a database, either way, accepted or rejected, across windows."""
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        a, b = draw(st.permutations(ENDS))[:2]
        sport, dport = draw(st.sampled_from([(40001, 443), (443, 40001), (40002, 5432)]))
        start = 1_717_200_000 + draw(st.sampled_from([0, 30, 400, 700, 1300]))
        eni = draw(st.sampled_from(["eni-0a1b2c3d4e5f60718", "-"]))
        lines.append(f"2 123456789012 {eni} {a} {b} {sport} {dport} "
                     f"{draw(st.sampled_from([6, 17]))} {draw(st.integers(1, 20))} "
                     f"{draw(st.integers(40, 9000))} {start} {start + 55} "
                     f"{draw(st.sampled_from(['ACCEPT', 'REJECT']))} OK")
    return lines


@settings(max_examples=examples(25), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=flow_log_lines(), topo_path=st.sampled_from(FLOW_TOPOS), batch=st.integers(1, 5))
def test_issue11_flow_log_replay_fast_outputs_equal_the_reference_path(tmp_path_factory,
                                                                       lines, topo_path,
                                                                       batch):
    """Flow-log replay: verdict lines built from columns and records merged through the
    packed sort as the batches go write the bytes json.dumps and np.unique's merge write."""
    tmp = tmp_path_factory.mktemp("flowlog")
    src = tmp / "in.log"
    src.write_text("\n".join([HEADER_V2, *lines]) + "\n")
    topo = netemu.load(topo_path)
    mp = pytest.MonkeyPatch()
    try:
        _small_steps(mp)
        fast = _outputs(topo, src, tmp / "fast", batch, ())
        mp.setattr(Replayer, "COMPACT_FLOOR", 1 << 62)
        mp.setattr(replay_mod, "merge_records", lambda r: _merge_records_wide(np.concatenate(
            [x if x.dtype == RECORD_DTYPE else replay_mod._widened(x) for x in r])))
        mp.setattr(Replayer, "verdict_lines", reference_verdict_lines)
        mp.setattr(flowlog_replay, "verdict_lines",
                   lambda r: (json.dumps(v) for v in flowlog_replay.verdicts(r)))
        ref = _outputs(topo, src, tmp / "ref", batch, ())
    finally:
        mp.undo()
    assert sorted(fast) == sorted(ref)
    for name in ref:
        assert fast[name] == ref[name], name

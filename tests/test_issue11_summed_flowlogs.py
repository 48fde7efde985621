"""Issue 11: without captures, replay observes a flow piece once, summed (packets, bytes,
first and last time), instead of once per packet; flow logs, verdicts and the summary
are byte for byte those of the packet-by-packet path (taken when captures are asked
for), for pieces inside one capture window and pieces across two."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import connections, examples
from test_issue11_exactness import topo  # noqa: F401  (the fixture)
from test_item1_batch_independence import CAPTURES, ENVS, SERVERS

from netemu.apps.replay import replay
from netemu.io.pcap_writer import write_pcap
from netemu.packet import TCP, from_columns


def _outputs(t, trace: Path, folder: Path, batch: int, captures=()) -> dict[str, bytes]:
    replay(t, [trace], folder, captures=captures, batch_size=batch)
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and "capture" not in p.name}


@settings(max_examples=examples(25), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trace=connections(ENVS, SERVERS, max_connections=6), data=st.data())
def test_summed_flow_pieces_log_as_every_packet(topo, tmp_path_factory, trace, data):  # noqa: F811
    tmp = tmp_path_factory.mktemp("summed")
    write_pcap(tmp / "t.pcap", trace)
    batch = data.draw(st.integers(1, max(1, len(trace))), label="batch")
    summed = _outputs(topo, tmp / "t.pcap", tmp / "summed", batch)
    every = _outputs(topo, tmp / "t.pcap", tmp / "every", len(trace), CAPTURES)
    assert sorted(summed) == sorted(every)
    for name in every:
        assert summed[name] == every[name], name


def test_a_flow_across_windows_is_two_records(topo, tmp_path):  # noqa: F811
    """By hand: one TCP flow's packets at 590, 599, 601 s (a piece across the 600 s
    window edge: logged packet by packet) and 650, 660, 670 s (after a 49 s silence, longer
    than the shortest timeout: a piece of its own, summed) make two records at the
    function's ENI (F3): 2 packets, 60 + 100 bytes, 590-599 s, and 4 packets, 200 + 300 +
    400 + 500 bytes, 601-670 s."""
    ts = np.array([590.0, 599.0, 601.0, 650.0, 660.0, 670.0])
    trace = from_columns(ts=ts, src=ENVS[0], dst=SERVERS[0], sport=40000, dport=443,
                         proto=TCP, flags=[2, 16, 16, 16, 16, 16],
                         length=[60, 100, 200, 300, 400, 500])
    write_pcap(tmp_path / "t.pcap", trace)
    replay(topo, [tmp_path / "t.pcap"], tmp_path / "out", batch_size=6)
    log = next((tmp_path / "out" / "flowlogs").glob("eni-lambda-*.log"))
    rows = [ln.split() for ln in log.read_text().splitlines()[1:]]
    # fields: ... srcport dstport protocol packets bytes start end action log-status
    assert [tuple(r[6:13]) for r in rows] == [
        ("443", "6", "2", "160", "590", "599", "ACCEPT"),
        ("443", "6", "4", "1400", "601", "670", "ACCEPT")]

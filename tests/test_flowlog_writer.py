"""Flow-log writer: aggregation per window, lines flowlogs_reader parses, round trip."""

from __future__ import annotations

from pathlib import Path

import flowlogs_reader
import numpy as np

from netemu.io.flowlog_reader import ACCEPT, REJECT, read_flow_logs, records_to_packets
from netemu.io.flowlog_writer import HEADER, aggregate, write_flow_logs
from netemu.packet import from_columns


def packets() -> np.ndarray:
    # two TCP flows and ICMP echo; one flow crosses a 600 s window boundary
    return from_columns(
        ts=np.array([590.2, 595.0, 601.5, 10.0, 11.0, 20.0, 21.0]),
        src=np.array([1, 1, 1, 2, 2, 3, 3], np.uint32) + 0x0A000000,
        dst=np.array([9, 9, 9, 9, 9, 9, 9], np.uint32) + 0x0A000000,
        sport=np.array([1000, 1000, 1000, 2000, 2000, 8, 8]),
        dport=np.array([443, 443, 443, 443, 443, 0, 0]),
        proto=np.array([6, 6, 6, 6, 6, 1, 1]),
        length=np.array([60, 1500, 40, 52, 52, 84, 84]))


def test_aggregate_per_window_interface_action() -> None:
    p = packets()
    accept = np.array([True, True, True, False, False, True, True])
    iface = np.array([0, 0, 0, 1, 1, 0, 0])
    recs = aggregate(p, iface, accept)
    got = sorted((int(r["src"]) & 0xFF, int(r["start"]), int(r["end"]), int(r["packets"]),
                  int(r["bytes"]), int(r["action"]), int(r["interface_id"]), int(r["sport"]))
                 for r in recs)
    assert got == [(1, 590, 595, 2, 1560, 1, 0, 1000), (1, 601, 602, 1, 40, 1, 0, 1000),
                   (2, 10, 11, 2, 104, 0, 1, 2000), (3, 20, 21, 2, 168, 1, 0, 0)]
    assert len(aggregate(p, iface, accept, window=60)) == 4
    assert len(aggregate(p, 0, True, window=6000)) == 3


def test_written_lines_parse_with_flowlogs_reader(tmp_path: Path) -> None:
    f = tmp_path / "out.log"
    n = write_flow_logs(f, packets(), np.array([0, 0, 0, 1, 1, 0, 0]), True,
                        interfaces=["eni-0aaa", "eni-0bbb"], account_id="111122223333")
    lines = f.read_text().splitlines()
    assert lines[0] == HEADER and len(lines) == n + 1 == 5
    for line in lines[1:]:
        rec = flowlogs_reader.FlowRecord.from_cwl_event({"message": line})
        assert rec.version == 2 and rec.account_id == "111122223333"
        assert rec.interface_id in ("eni-0aaa", "eni-0bbb")
        assert rec.action == "ACCEPT" and rec.log_status == "OK"
        assert rec.srcaddr.startswith("10.0.0.") and rec.dstaddr == "10.0.0.9"
        assert rec.packets >= 1 and rec.bytes >= 40
        t = line.split()
        assert (rec.srcport, rec.dstport, rec.protocol) == (int(t[5]), int(t[6]), int(t[7]))
        assert rec.start.year == 1970 and rec.end >= rec.start


def test_round_trip_counts(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 5000
    p = from_columns(ts=np.sort(rng.uniform(0, 3000, n)),
                     src=rng.integers(0, 4, n) + 0x0A000000, dst=0x0A000063,
                     sport=rng.integers(1024, 1030, n), dport=443, proto=6,
                     length=rng.integers(40, 1500, n))
    accept = rng.random(n) < 0.8
    f = tmp_path / "rt.log"
    write_flow_logs(f, p, rng.integers(0, 2, n), accept, interfaces=["eni-1", "eni-2"])
    recs = np.concatenate([b.records for b in read_flow_logs(f)])
    assert recs["packets"].sum() == n
    assert recs["bytes"].sum() == p["length"].sum()
    # a record holds one action: ACCEPT records add up to exactly the accepted packets
    assert recs["packets"][recs["action"] == ACCEPT].sum() == accept.sum()
    assert recs["packets"][recs["action"] == REJECT].sum() == n - accept.sum()
    back = records_to_packets(recs)
    assert len(back) == n and back["length"].sum() == p["length"].sum()
    assert ((recs["end"] - recs["start"]) <= 600).all()

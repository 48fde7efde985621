"""JSON-lines flows: reader, writer, round trip, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from netemu.errors import InputError
from netemu.io.jsonl_flows import packets_to_flows, read_jsonl_flows, write_jsonl_flows
from netemu.io.pcap_reader import ReadStats
from netemu.io.trace_readers import detect_format, open_trace
from netemu.packet import ACK, FIN, SYN, from_columns


def read(path: Path, batch_size: int = 65536) -> tuple[np.ndarray, ReadStats]:
    stats = ReadStats()
    out = list(read_jsonl_flows(path, batch_size, stats))
    return np.concatenate(out), stats


def test_read_expands_flows(tmp_path: Path) -> None:
    f = tmp_path / "f.jsonl"
    f.write_text(
        '{"ts": 10.0, "src": "10.0.0.1", "dst": "10.0.0.2", "sport": 1234, "dport": 80,'
        ' "proto": 6, "packets": 4, "bytes": 402, "duration": 3.0, "tcp_flags": 3}\n'
        "\n"
        '{"ts": 11.5, "src": 167772163, "dst": "8.8.8.8", "sport": 5000, "dport": 53,'
        ' "proto": 17, "packets": 1, "bytes": 60, "duration": 0, "flow": 42}\n'
        '{"ts": 12, "src": "2001:db8::1", "dst": "2001:db8::2", "sport": 1, "dport": 2,'
        ' "proto": 17, "packets": 1, "bytes": 60}\n')
    p, stats = read(f)
    assert stats.records == 3 and stats.skipped == {"ipv6": 1} and stats.packets == 5
    tcp = p[p["proto"] == 6]
    assert list(tcp["ts"]) == [10.0, 11.0, 12.0, 13.0]
    assert list(tcp["length"]) == [101, 101, 100, 100]
    assert list(tcp["flags"]) == [SYN, ACK, ACK, FIN | ACK]
    assert set(tcp["flow"]) == {1}                       # line number when no flow id
    assert p[p["proto"] == 17]["flow"][0] == 42


def test_round_trip_and_small_batches(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 3000
    p = from_columns(ts=np.sort(rng.uniform(0, 100, n)), src=rng.integers(0, 2**32, 5)[
        rng.integers(0, 5, n)], dst=0x0A000001, sport=rng.integers(1, 4, n), dport=443,
        proto=rng.choice([6, 17], n), length=rng.integers(40, 1500, n),
        flags=np.where(rng.random(n) < 0.1, SYN, ACK), flow=rng.integers(0, 3, n))
    f = tmp_path / "rt.jsonl"
    nflows = write_jsonl_flows(f, p)
    assert nflows == len(packets_to_flows(p)["ts"])
    back, stats = read(f, batch_size=100)
    assert stats.packets == n and len(back) == n
    assert back["length"].sum() == p["length"].sum()
    for key in ("src", "dst", "sport", "dport", "proto"):
        assert sorted(back[key].tolist()) == sorted(p[key].tolist())
    it, st = open_trace(f)
    assert sum(len(b) for b in it) == n and st.packets == n
    assert detect_format(f) == "jsonl"
    first = json.loads(f.read_text().splitlines()[0])
    assert set(first) >= {"ts", "src", "dst", "sport", "dport", "proto", "packets", "bytes",
                          "duration", "flow"}


@pytest.mark.parametrize(("line", "word"), [
    ('{"ts": 1, "src": "1.2.3.4"', "bad flow"),
    ('{"ts": 1, "src": "1.2.3.4", "dst": "1.2.3.5"}', "missing"),
    ('{"ts": 1, "src": "1.2.3.4", "dst": "x", "sport": 1, "dport": 2, "proto": 6,'
     ' "packets": 1, "bytes": 1}', "bad flow"),
    ('{"ts": 1, "src": "1.2.3.4", "dst": "1.2.3.5", "sport": -1, "dport": 2, "proto": 6,'
     ' "packets": 1, "bytes": 1}', "sport"),
    ("[1, 2]", "object"),
])
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, word: str) -> None:
    good = ('{"ts": 1, "src": "1.2.3.4", "dst": "1.2.3.5", "sport": 1, "dport": 2,'
            ' "proto": 6, "packets": 1, "bytes": 40}')
    f = tmp_path / "bad.jsonl"
    f.write_text(good + "\n" + good + "\n" + line + "\n")
    with pytest.raises(InputError) as err:
        read(f)
    assert err.value.file == str(f) and err.value.line == 3
    assert word in str(err.value) and "bad.jsonl:3" in str(err.value)

"""Issue 7, item 7: outputs are whole or absent. `replay --out` and `workload -o` write
under a temporary name beside the target and rename it into place at the end; a kill, a
full disk or a refusal leaves nothing; an existing non-empty target is refused unless
--force, which replaces it whole; summary.json's `complete` says whether every record
was replayed."""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import TOPOLOGIES, run_cli

from netemu.apps.replay import replay
from netemu.apps.workload import generate_workload, write_workload
from netemu.errors import InputError
from netemu.io.load import load

NAT = TOPOLOGIES / "lambda-nat-internet.yaml"
FLOW = {"ts": 1.0, "src": "169.254.0.1", "dst": "203.0.113.10", "sport": 40000, "dport": 443,
        "proto": 6, "packets": 4, "bytes": 400, "duration": 0.5}




def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def flows(tmp_path, *rows, name="t.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps({**FLOW, **r}) + "\n" for r in rows))
    return path


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "netemu" in p.name)


def test_item7_sigterm_during_replay_leaves_nothing(tmp_path):
    """A replay killed with SIGTERM half-way exits 143 and leaves neither --out nor a
    temporary beside it (today: a hidden folder of partial captures inside --out)."""
    batch = generate_workload(load(NAT), "orders", 20, 3, ["api.example.com"], 600,
                              rate=40, seed=1)
    write_workload(tmp_path / "big.pcap", batch)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", "from netemu.cli import main; main()",
                             "replay", str(NAT), str(tmp_path / "big.pcap"), "--out", str(out),
                             "--capture", "nat-a", "-q", "--batch", "4096"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        started = [p for p in tmp_path.iterdir() if p.name not in ("big.pcap",)]
        if started:
            break
        time.sleep(0.02)
    time.sleep(0.3)                                # let it write part of its outputs
    assert proc.poll() is None, "the replay ended before it could be killed"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.pcap"]


def test_item7_full_disk_during_workload_leaves_no_truncated_pcap(capsys, tmp_path,
                                                                  monkeypatch):
    import netemu.apps.workload as workload

    def half_then_full(path, batch):
        with open(path, "wb") as f:
            f.write(b"\xd4\xc3\xb2\xa1" + bytes(100))       # what got out before the disk
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(workload, "write_pcap", half_then_full)
    target = tmp_path / "w.pcap"
    code, out, err = run_cli(capsys, "workload", NAT, "--function", "orders", "--to",
                         "api.example.com", "--duration", "2", "-o", target)
    assert code == 2 and out == ""
    assert one_line(err) == f"netemu: error: {target}: cannot write: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_item7_full_disk_during_replay_leaves_no_output(capsys, tmp_path, monkeypatch):
    from netemu.io.pcap_writer import PcapStream

    def full(self, packets):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(PcapStream, "write", full)
    trace = flows(tmp_path, {})
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "replay", NAT, trace, "--out", out, "--capture", "nat-a", "-q")
    assert code == 2
    assert one_line(err) == f"netemu: error: {out}: cannot write: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl"]


def test_item7_non_empty_out_is_refused_and_force_replaces_it_whole(capsys, tmp_path):
    trace = flows(tmp_path, {})
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"stale": true}\n')
    (out / "capture-igw.pcap").write_bytes(b"stale")       # an earlier run's capture
    code, _, err = run_cli(capsys, "replay", NAT, trace, "--out", out, "-q")
    assert code == 2
    assert one_line(err) == (f"netemu: error: {out}: output folder is not empty (give "
                             "--force to replace it whole)")
    assert (out / "summary.json").read_text() == '{"stale": true}\n'
    code, _, err = run_cli(capsys, "replay", NAT, trace, "--out", out, "-q", "--force")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["flowlogs", "summary.json",
                                                     "verdicts.jsonl"]
    assert json.loads((out / "summary.json").read_text())["records"] == 1
    assert leftovers(tmp_path) == []


def test_item7_existing_workload_file_is_refused_unless_force(capsys, tmp_path):
    target = tmp_path / "w.jsonl"
    target.write_text("keep me\n")
    args = ("workload", NAT, "--function", "orders", "--to", "api.example.com",
            "--duration", "2", "--concurrency", "1", "-o", target)
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "give --force" in one_line(err)
    assert target.read_text() == "keep me\n"
    code, _, err = run_cli(capsys, *args, "--force")
    assert code == 0, err
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(f["dport"] == 443 for f in lines) == [False, True]   # one flow each way
    assert leftovers(tmp_path) == []


def test_item7_two_concurrent_runs_never_mix(tmp_path):
    """Each run writes its own temporary; the one that finishes second finds the folder
    taken and refuses, so the folder holds exactly the first one's files."""
    from netemu.io.atomic import atomic_folder
    out = tmp_path / "out"
    with pytest.raises(InputError, match="filled by another run"):
        with atomic_folder(out) as first:
            (first / "summary.json").write_text("first\n")
            (first / "capture-igw.pcap").write_text("first\n")
            with atomic_folder(out) as second:
                (second / "summary.json").write_text("second\n")
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert (out / "summary.json").read_text() == "second\n"
    assert leftovers(tmp_path) == []


def test_item7_summary_complete_is_false_when_records_were_skipped(tmp_path):
    """`complete` is true only when every record read was replayed; an IPv6 flow (not
    modelled, counted under skipped) makes it false."""
    topo = load(NAT)
    whole = replay(topo, [flows(tmp_path, {}, {"sport": 40001})]).to_json()
    assert whole["complete"] is True and whole["skipped"] == {}
    part = replay(topo, [flows(tmp_path, {}, {"src": "2001:db8::1", "dst": "2001:db8::2"},
                               name="v6.jsonl")]).to_json()
    assert part["skipped"] == {"ipv6": 1} and part["complete"] is False

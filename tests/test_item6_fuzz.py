"""Issue 7, item 6: hypothesis fuzzing of every loader and of the command line. Starting
from well-formed inputs (the shipped topologies, the snapshot in tests/data, a generated
capture, flow log and JSON-lines file), mutations delete keys, change types, insert
nulls, huge numbers, NaN and stray bytes. Whatever comes out, a loader either loads or
raises InputError naming the file; the CLI exits 0, 1 or 2 and never prints a traceback
or "internal error". Derandomized and small, so `make test` stays fast and repeatable."""

from __future__ import annotations

import copy
import json
import shutil
import struct

import numpy as np
import pytest
import yaml
from conftest import BASE, ROOT, TOPOLOGIES, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import examples

from netemu.apps.workload import generate_workload, write_workload
from netemu.errors import InputError
from netemu.io.flowlog_writer import HEADER
from netemu.io.load import load
from netemu.io.trace_readers import open_trace

FUZZ = settings(deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
NAT = TOPOLOGIES / "lambda-nat-internet.yaml"
SNAPSHOT = ROOT / "tests" / "data" / "snapshot-rds"

DOCS = [yaml.safe_load(p.read_text()) for p in sorted(TOPOLOGIES.glob("*.yaml"))] + [BASE]
WORDS = ["", "x", "no", "false", "'true'", "igw", "nat-a", "private-a", "fn", "*", "-1",
         "10.0.0.0/8", "0.0.0.0/0", "::/0", "10.0.0.1/24", "tcp 1-65535 from 0.0.0.0/0",
         "100 allow all from 0.0.0.0/0", "icmp type 8 code", "lambda:orders", "pcx-1",
         "1e999", "NaN", "\u00b2", "\x00"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.sampled_from(WORDS),
    st.integers(-(2 ** 70), 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.one_of(st.none(), st.sampled_from(WORDS),
                                             st.integers(-5, 70000)), max_size=3),
    st.dictionaries(st.sampled_from(WORDS[1:8]), st.one_of(st.none(), st.sampled_from(WORDS)),
                    max_size=2))
EDIT = st.tuples(st.sampled_from(["delete", "replace", "add"]), st.sampled_from(WORDS[1:12]),
                 VALUES)


def paths(node, here=()):
    yield here
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, here + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, here + (i,))


def mutate(doc, data, n: int = 3, edit=EDIT):
    """Up to n edits of a deep copy of a JSON/YAML document, each at a spot drawn
    uniformly from all its keys and items: delete it, replace it, or add beside it."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, n))):
        spots = [p for p in paths(doc) if p]
        if not spots:
            return data.draw(VALUES)
        path = data.draw(st.sampled_from(spots))
        how, key, value = data.draw(edit)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if how == "delete":
            del parent[path[-1]]
        elif how == "add" and isinstance(parent, dict):
            parent[key] = value
        elif how == "add":
            parent.insert(path[-1], value)
        else:
            parent[path[-1]] = value
    return doc


def loads_or_refuses(fn, path) -> None:
    """The only acceptable failure is InputError, and it names the input."""
    try:
        fn()
    except InputError as exc:
        assert str(path) in exc.message or (exc.file and str(path) in exc.file), exc.message


def drain(path, batch=5) -> None:
    """Read every batch; what is read must be fit to replay (no NaN or infinite time)."""
    batches, _ = open_trace(path, None, None, batch)
    for b in batches:
        assert np.isfinite(b["ts"]).all(), b["ts"]


# ---- topologies -----------------------------------------------------------------------

@settings(FUZZ, max_examples=examples(120))
@given(which=st.integers(0, len(DOCS) - 1), data=st.data())
def test_item6_fuzz_yaml_topologies(tmp_path, which, data):
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(mutate(DOCS[which], data), allow_unicode=True))
    loads_or_refuses(lambda: load(path), path)


@settings(FUZZ, max_examples=examples(60))
@given(which=st.integers(0, len(DOCS) - 1), cut=st.integers(0, 10 ** 6),
       junk=st.binary(max_size=8) | st.sampled_from([b"&a", b"*a", b"<<: ", b"[", b"{", b"!!",
                                                     b"\t", b"\xff", b"---\n", b"- "]))
def test_item6_fuzz_yaml_text(tmp_path, which, cut, junk):
    text = yaml.safe_dump(DOCS[which]).encode()
    at = cut % (len(text) + 1)
    path = tmp_path / "t.yaml"
    path.write_bytes(text[:at] + junk + text[at:])
    loads_or_refuses(lambda: load(path), path)


@settings(FUZZ, max_examples=examples(60))
@given(data=st.data())
def test_item6_fuzz_snapshot_json(tmp_path, data):
    snap = tmp_path / "snap"
    if snap.exists():
        shutil.rmtree(snap)
    shutil.copytree(SNAPSHOT, snap)
    files = sorted(snap.rglob("*.json"))
    target = data.draw(st.sampled_from(files))
    target.write_text(json.dumps(mutate(json.loads(target.read_text()), data)))
    loads_or_refuses(lambda: load(snap), snap)


# ---- traces ---------------------------------------------------------------------------

def _seed_pcap(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("seed") / "w.pcap"
    batch = generate_workload(load(NAT), "orders", 2, 1, ["api.example.com"], 1, rate=4,
                              seed=3)
    write_workload(path, batch)
    return path.read_bytes()


def _seed_pcapng() -> bytes:
    """Section header, one Ethernet interface with nanosecond stamps, one TCP SYN."""
    def block(kind: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        n = len(body) + 12
        return struct.pack("<II", kind, n) + body + struct.pack("<I", n)
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", 1, 0, 65535) + struct.pack("<HHB3x", 9, 1, 9)
                + struct.pack("<HH", 0, 0))
    frame = (bytes(12) + b"\x08\x00" + bytes.fromhex("450000280001000040060000")
             + bytes([169, 254, 0, 1, 203, 0, 113, 10])
             + struct.pack(">HHIIBBHHH", 40000, 443, 0, 0, 0x50, 2, 1024, 0, 0))
    epb = block(6, struct.pack("<IIIII", 0, 1, 2, len(frame), len(frame)) + frame)
    return shb + idb + epb


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    flowlog = (HEADER + "\n" + "".join(
        f"2 123456789012 eni-{i} 10.0.10.{i + 4} 203.0.113.10 {40000 + i} 443 6 {i + 1} "
        f"{100 * (i + 1)} 1700000000 1700000060 {'ACCEPT' if i % 2 else 'REJECT'} OK\n"
        for i in range(4)) + "2 123456789012 eni-9 - - - - - - - 1700000000 1700000060 - "
        "NODATA\n").encode()
    jsonl = "".join(json.dumps({"ts": 1.0 + i, "src": "169.254.0.1", "dst": "203.0.113.10",
                                "sport": 40000 + i, "dport": 443, "proto": 6, "packets": 3,
                                "bytes": 300, "duration": 0.5, "tcp_flags": 2}) + "\n"
                    for i in range(3)).encode()
    return {".pcap": _seed_pcap(tmp_path_factory), ".pcapng": _seed_pcapng(),
            ".log": flowlog, ".jsonl": jsonl}


SPLICES = [b"\x00", b"\xff", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff",
           b"NaN", b"Infinity", b"1e999", b"-1", b"99999999999999999999", b" ", b"\n", b"-",
           b"null", b"[]", b"{}", b'"x"', b"::1", b"300.1.1.1"]
# what a JSON-lines field can hold that a flow cannot mean
ODD_FIELD = st.tuples(st.just("replace"), st.just("x"), st.sampled_from(
    [float("nan"), float("inf"), -float("inf"), 1e300, 2 ** 64, 2 ** 70, -1, None, "1", [],
     {}, True, "::1"]))
BYTE_EDIT = st.tuples(st.integers(0, 10 ** 6), st.sampled_from(["set", "splice", "cut"]),
                      st.integers(0, 255), st.sampled_from(SPLICES))


@settings(FUZZ, max_examples=examples(200))
@given(kind=st.sampled_from([".pcap", ".pcapng", ".log", ".jsonl", "fields.jsonl"]),
       edits=st.lists(BYTE_EDIT, min_size=1, max_size=4), batch=st.integers(1, 9),
       fields=st.data())
def test_item6_fuzz_trace_readers(tmp_path, seeds, kind, edits, batch, fields):
    """Bytes spliced into each format; for JSON lines also values of every type (NaN,
    1e999, 2**70, null, lists) put in every field."""
    if kind == "fields.jsonl":
        flows = [json.loads(line) for line in seeds[".jsonl"].splitlines()]
        path = tmp_path / "t.jsonl"
        path.write_text("".join(json.dumps(f) + "\n" for f in mutate(flows, fields,
                                                                     edit=ODD_FIELD)))
        loads_or_refuses(lambda: drain(path, batch), path)
        return
    data = bytearray(seeds[kind])
    for where, how, byte, splice in edits:
        at = where % (len(data) + 1)
        if how == "set" and at < len(data):
            data[at] = byte
        elif how == "cut":
            del data[at:at + 1 + byte % 16]
        else:
            data[at:at] = splice
    path = tmp_path / f"t{kind}"
    path.write_bytes(bytes(data))
    loads_or_refuses(lambda: drain(path, batch), path)


# ---- the command line -----------------------------------------------------------------

ARG = st.sampled_from(["--port", "--proto", "--sport", "--from", "--to", "--json", "--no-fix",
                       "--batch", "--format", "--map", "--capture", "--duration", "--rate",
                       "--hold", "--concurrency", "--connections", "--seed", "--function",
                       "-q", "--bogus", "=", "abc", "0", "-1", "nan", "inf", "1e999",
                       "99999999999999999999", "65536", "lambda:orders", "lambda:nope",
                       "api.example.com", "10.0.0.0/8=lambda:orders", "nat-a", "icmp", "udp",
                       "256", "pcap", "jsonl", "flowlogs", "", "\x00"])


@settings(FUZZ, max_examples=examples(40))
@given(command=st.sampled_from(["trace", "replay", "workload", "show"]),
       args=st.lists(ARG, max_size=6))
def test_item6_fuzz_command_line(tmp_path, capsys, command, args):
    trace = tmp_path / "t.jsonl"
    trace.write_text(json.dumps({"ts": 1, "src": "169.254.0.1", "dst": "203.0.113.10",
                                 "sport": 40000, "dport": 443, "proto": 6, "packets": 2,
                                 "bytes": 80}) + "\n")
    head = {"trace": [NAT, "--from", "lambda:orders", "--to", "api.example.com"],
            "replay": [NAT, trace], "show": [NAT],
            "workload": [NAT, "--function", "orders", "--to", "api.example.com", "-o",
                         tmp_path / "w.jsonl", "--force", "--duration", "1",
                         "--concurrency", "1"]}[command]
    code, _, err = run_cli(capsys, command, *head, *args)
    assert code in (0, 1, 2), (args, err)
    assert "Traceback" not in err and "internal error" not in err, (args, err)
    if code == 2 and err:
        assert len(err.strip().splitlines()) == 1 and err.startswith("netemu: error: "), err

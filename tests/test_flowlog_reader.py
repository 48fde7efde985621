"""Flow-log reader: samples against flowlogs_reader, formats, streaming, expansion, errors."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import flowlogs_reader
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

from netemu.errors import InputError
from netemu.io import flowlog_reader as flr
from netemu.io.flowlog_reader import (
    FlowRecords,
    iter_packets,
    read_flow_logs,
    records_to_packets,
)
from netemu.io.pcap_reader import ReadStats
from netemu.packet import ACK, FIN, RST, SYN

VPCFLOW = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces" / "vpcflow"
# The transit-gateway sample has no header; its format is the one of AWS's documented
# "traffic through a transit gateway" custom-format example, which this line reproduces.
TGW_FIELDS = ("version interface-id account-id vpc-id subnet-id instance-id srcaddr dstaddr "
              "srcport dstport protocol tcp-flags type pkt-srcaddr pkt-dstaddr action "
              "log-status").split()

# name -> (records, kept records, packets after expansion, nodata, skipdata, skipped),
# counted by reading each file by eye: header lines are not records; `packets` is the sum
# of the packets column of the kept records (1 per record when the format has none).
SAMPLES = {
    "beats__accept-reject-traffic.log": (4, 4, 20 + 20 + 4 + 4, 0, 0, {}),
    "beats__custom-nat-gateway.log": (2, 2, 2, 0, 0, {}),
    "beats__custom-transit-gateway.log": (1, 1, 1, 0, 0, {}),
    "beats__ipv6.log": (1, 0, 0, 0, 0, {"ipv6": 1}),
    "beats__no-data-skip-data.log": (2, 0, 0, 1, 1, {}),
    "beats__tcp-flag-sequence.log": (1, 1, 8, 0, 0, {}),
    "integrations__test-extra-samples.log": (7, 4, 48, 1, 1, {"ipv6": 1}),
}


def need(name: str) -> Path:
    path = VPCFLOW / name
    if not path.exists():
        pytest.skip(f"sample data absent: {path} (../shared/data not mounted)")
    return path


def read(path: Path, **kw) -> tuple[FlowRecords, ReadStats]:
    stats = ReadStats()
    batches = list(read_flow_logs(path, stats=stats, **kw))
    recs = np.concatenate([b.records for b in batches]) if batches else \
        np.zeros(0, flr.RECORD_DTYPE)
    strings = batches[0].strings if batches else []
    return FlowRecords(recs, strings), stats


def oracle(path: Path, fields: list[str] | None) -> list[flowlogs_reader.FlowRecord]:
    """flowlogs_reader's own record class over the same lines (IPv4, status OK only)."""
    out = []
    names = [f.replace("-", "_") for f in (fields or flr.DEFAULT_FIELDS)]
    for line in path.read_text().splitlines():
        toks = line.split()
        if not toks:
            continue
        if toks[0].replace("_", "-") in flr.KNOWN_FIELDS:
            names = [t.replace("-", "_") for t in toks]
            continue
        rec = flowlogs_reader.FlowRecord(dict(zip(names, toks, strict=True)))
        if rec.log_status in ("NODATA", "SKIPDATA") or ":" in (rec.srcaddr or ""):
            continue
        out.append(rec)
    return out


def ip_or_none(v: int) -> str | None:
    return str(ipaddress.IPv4Address(int(v))) if v >= 0 else None


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_counts_and_fields_match_flowlogs_reader(name: str) -> None:
    path = need(name)
    fields = TGW_FIELDS if "transit" in name else None
    recs, stats = read(path, fields=fields)
    n, kept, packets, nodata, skipdata, skipped = SAMPLES[name]
    assert (stats.records, len(recs), stats.nodata, stats.skipdata, stats.skipped) == \
        (n, kept, nodata, skipdata, skipped)
    assert len(records_to_packets(recs)) == packets
    want = oracle(path, fields)
    assert len(want) == kept
    r = recs.records
    for i, w in enumerate(want):
        assert ip_or_none(r["src"][i]) == w.srcaddr and ip_or_none(r["dst"][i]) == w.dstaddr
        assert ip_or_none(r["pkt_src"][i]) == w.pkt_srcaddr
        assert ip_or_none(r["pkt_dst"][i]) == w.pkt_dstaddr
        for col, attr in (("sport", "srcport"), ("dport", "dstport"), ("proto", "protocol"),
                          ("packets", "packets"), ("bytes", "bytes"), ("version", "version"),
                          ("tcp_flags", "tcp_flags")):
            got = int(r[col][i])
            assert (got if got >= 0 else None) == getattr(w, attr), col
        assert recs.text("interface_id")[i] == w.interface_id
        assert recs.text("instance_id")[i] == w.instance_id
        assert recs.text("account_id")[i] == w.account_id
        if w.start is not None:
            assert r["start"][i] == w.start.timestamp() - _utc_shift(w.start)
        if w.action is not None:
            assert r["action"][i] == (1 if w.action == "ACCEPT" else 0)


def _utc_shift(dt) -> float:
    """flowlogs_reader gives naive UTC datetimes; .timestamp() reads them as local."""
    import calendar
    return dt.timestamp() - calendar.timegm(dt.utctimetuple())


def test_nat_gateway_keeps_packet_addresses() -> None:
    recs, _ = read(need("beats__custom-nat-gateway.log"))
    r = recs.records
    assert ip_or_none(r["dst"][0]) == "10.0.0.220"
    assert ip_or_none(r["pkt_dst"][0]) == "203.0.113.5"
    assert recs.text("instance_id") == [None, "i-01234567890123456"]


def test_tcp_flag_expansion_of_sample() -> None:
    recs, _ = read(need("beats__tcp-flag-sequence.log"))
    p = records_to_packets(recs)
    assert list(p["flags"]) == [SYN] + [ACK] * 7           # tcp-flags 2: SYN only
    assert list(p["length"]) == [71] * 8                   # 568 bytes over 8 packets
    assert p["ts"][0] == 1566848875 and p["ts"][-1] == 1566848933
    assert set(p["flow"]) == {2}                           # line 2 of the file


def test_transit_gateway_one_packet_record_gets_first_and_last_flags() -> None:
    recs, _ = read(need("beats__custom-transit-gateway.log"), fields=TGW_FIELDS)
    p = records_to_packets(recs)
    assert list(p["flags"]) == [SYN | FIN | ACK]           # tcp-flags 3 on one packet


def test_expansion_rules() -> None:
    recs = np.full(3, -1, flr.RECORD_DTYPE)
    recs["src"], recs["dst"], recs["proto"] = 1, 2, 6
    recs["sport"], recs["dport"] = 1000, 80
    recs["packets"] = [5, 3, 1]
    recs["bytes"] = [1002, 300, 60]
    recs["start"], recs["end"] = [100, 200, 300], [104, 202, 300]
    recs["tcp_flags"] = [SYN | FIN, (SYN | ACK) | RST, -1]
    recs["line"] = [7, 8, 9]
    p = records_to_packets(recs)
    a = p[p["flow"] == 7]
    assert list(a["ts"]) == [100, 101, 102, 103, 104]
    assert list(a["length"]) == [201, 201, 200, 200, 200]
    assert list(a["flags"]) == [SYN, ACK, ACK, ACK, FIN | ACK]
    b = p[p["flow"] == 8]
    assert list(b["flags"]) == [SYN | ACK, ACK, RST]
    assert list(p[p["flow"] == 9]["flags"]) == [ACK]       # no tcp-flags: ACK
    assert np.all(np.diff(p["ts"]) >= 0)


def test_sliced_expansion_equals_whole(tmp_path: Path) -> None:
    f = tmp_path / "big.log"
    f.write_text("2 1 eni-a 10.0.0.1 10.0.0.2 1 2 6 1000 100000 0 999 ACCEPT OK\n"
                 "2 1 eni-a 10.0.0.3 10.0.0.4 1 2 17 7 700 5 9 REJECT OK\n")
    recs, _ = read(f)
    whole = records_to_packets(recs)
    parts = list(iter_packets(iter([recs]), batch_size=64))
    assert max(len(x) for x in parts) <= 64
    joined = np.concatenate(parts)
    key = ["flow", "ts", "length", "flags"]
    assert np.array_equal(np.sort(joined[key], order=key), np.sort(whole[key], order=key))


def test_repeated_headers_formats_and_streaming(tmp_path: Path, monkeypatch) -> None:
    body = []
    for k in range(30):
        body.append("version srcaddr dstaddr action log-status packets")
        body += [f"2 10.0.{k}.{i} 10.1.0.1 ACCEPT OK {i + 1}" for i in range(5)]
        body.append("interface-id srcaddr dstaddr srcport dstport protocol")
        body += [f"eni-{k} 10.2.{k}.{i} 10.3.0.1 {i} 443 6" for i in range(3)]
        body.append("")
    f = tmp_path / "cat.log"
    f.write_text("\n".join(body))                     # no trailing newline
    whole, stats = read(f)
    assert stats.records == 30 * 8 and len(whole) == 240
    monkeypatch.setattr(flr, "CHUNK_BYTES", 97)       # force many block boundaries
    small, _ = read(f, batch_size=13)
    assert np.array_equal(whole.records, small.records)
    assert sorted(set(whole.text("interface_id")) - {None}) == sorted(
        f"eni-{k}" for k in range(30))
    assert whole.records["line"][0] == 2 and whole.records["line"][5] == 8


def test_fields_without_header(tmp_path: Path) -> None:
    f = tmp_path / "noheader.log"
    f.write_text("10.0.0.1 10.0.0.2 6 5\n")
    recs, _ = read(f, fields=["srcaddr", "dstaddr", "protocol", "packets"])
    assert len(records_to_packets(recs)) == 5


def _err(tmp_path: Path, text: str, **kw) -> InputError:
    f = tmp_path / "bad.log"
    f.write_text(text)
    with pytest.raises(InputError) as err:
        read(f, **kw)
    assert err.value.file == str(f)
    return err.value


GOOD = "2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 180 100 160 ACCEPT OK\n"


@pytest.mark.parametrize(("bad", "word"), [
    ("2 123456789010 eni-1 10.0.0.1 10.0.0.2 x1 2 6 3 180 100 160 ACCEPT OK\n", "srcport"),
    ("2 123456789010 eni-1 10.0.0.1 10.0.0.999 1 2 6 3 180 100 160 ACCEPT OK\n", "dstaddr"),
    ("2 123456789010 eni-1 10.0.0 10.0.0.2 1 2 6 3 180 100 160 ACCEPT OK\n", "srcaddr"),
    ("2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 180 100 160 ALLOW OK\n", "action"),
    ("2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 180 100 160 ACCEPT\n", "expected 14"),
    ("2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 180 100 160 ACCEPT OK extra\n",
     "found 15"),
])
def test_garbled_and_short_lines_name_file_and_line(tmp_path: Path, bad: str,
                                                    word: str) -> None:
    err = _err(tmp_path, GOOD + GOOD + bad + GOOD)
    assert err.line == 3 and word in err.problem
    assert "bad.log:3" in str(err)


def test_unknown_header_field(tmp_path: Path) -> None:
    err = _err(tmp_path, GOOD + "version srcaddr dstaddr bogus-field\n")
    assert err.line == 2 and "bogus-field" in str(err)
    err = _err(tmp_path, GOOD, fields=["srcaddr", "nope"])
    assert "nope" in str(err)


def test_line_numbers_across_blocks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(flr, "CHUNK_BYTES", 50)
    err = _err(tmp_path, GOOD * 40 + GOOD.replace("ACCEPT", "MAYBE"))
    assert err.line == 41


def test_fast_and_exact_paths_agree(tmp_path: Path, monkeypatch) -> None:
    """The C-reader fast path and the token-by-token exact path give the same records."""
    rng = np.random.default_rng(11)
    lines = ["version account-id interface-id srcaddr dstaddr srcport dstport protocol "
             "packets bytes start end action log-status instance-id tcp-flags"]
    for i in range(3000):
        a = ".".join(str(x) for x in rng.integers(0, 256, 4))
        b = ".".join(str(x) for x in rng.integers(0, 256, 4))
        if i % 97 == 5:
            lines.append(f"5 1234 eni-{i % 7} - - - - - - - 100 160 - NODATA - -")
        elif i % 89 == 3:
            lines.append(f"5 1234 eni-{i % 7} 2001:db8::1 2001:db8::2 1 2 6 1 40 1 2 "
                         "ACCEPT OK - 2")
        else:
            inst = "-" if i % 3 else f"i-{i:017x}"
            flags = "-" if i % 5 == 0 else str(int(rng.integers(0, 32)))
            lines.append(f"5 1234 eni-{i % 7} {a} {b} {rng.integers(0, 65536)} "
                         f"{rng.integers(0, 65536)} {rng.choice([1, 6, 17])} "
                         f"{rng.integers(1, 50)} {rng.integers(40, 9000)} {1000 + i} "
                         f"{1060 + i} {rng.choice(['ACCEPT', 'REJECT'])} OK {inst} {flags}")
    f = tmp_path / "mix.log"
    f.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(flr, "CHUNK_BYTES", 20_000)
    fast, s1 = read(f)
    monkeypatch.setattr(flr._BlockParser, "_fast", lambda self, seg, lo, n: None)
    exact, s2 = read(f)
    assert s1 == s2 and s1.nodata > 0 and s1.skipped["ipv6"] > 0
    assert np.array_equal(fast.records, exact.records)
    assert fast.strings == exact.strings


def test_open_trace_detects_every_format(tmp_path: Path) -> None:
    from netemu.io.pcap_writer import write_pcap
    from netemu.io.trace_readers import detect_format, open_trace

    log = tmp_path / "x.log"
    log.write_text(GOOD * 3)
    it, stats = open_trace(log, batch_size=4)
    batches = list(it)
    assert [len(b) for b in batches] == [4, 4, 1] and stats.packets == 9
    assert stats.records == 3
    pcap = tmp_path / "x.bin"
    write_pcap(pcap, records_to_packets(read(log)[0]))
    assert detect_format(pcap) == "pcap" and detect_format(log) == "flowlogs"
    it, stats = open_trace(pcap)
    assert sum(len(b) for b in it) == 9 and stats.records == 9
    it, stats = open_trace(log, format="flowlogs", fields=flr.DEFAULT_FIELDS)
    assert sum(len(b) for b in it) == 9
    with pytest.raises(InputError):
        open_trace(log, format="netflow")
    with pytest.raises(InputError):
        open_trace(tmp_path / "missing.log")
    tgw = VPCFLOW / "beats__custom-transit-gateway.log"
    if tgw.exists():
        it, stats = open_trace(tgw, fields=TGW_FIELDS)
        assert sum(len(b) for b in it) == 1


_BASE_LOG = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
             "packets bytes start end action log-status\n" + GOOD * 3 +
             "2 1 eni-2 - - - - - - - 100 160 - NODATA\n" + GOOD).encode()


def _outcome(path: Path, fast: bool, expand: bool = True) -> tuple:
    """Records, strings and stats of a read with or without the fast parser, or its
    error; `expand` also turns the records into packets (off where random packet counts
    may be huge)."""
    with pytest.MonkeyPatch.context() as mp:
        if not fast:
            mp.setattr(flr._BlockParser, "_fast", lambda self, seg, lo, n: None)
        try:
            recs, stats = read(path)
        except InputError as e:
            assert e.file == str(path) and e.line is not None
            return ("error", str(e))
    assert len(recs) <= stats.records
    if expand:
        records_to_packets(recs)
    return ("ok", recs.records.tobytes(), tuple(recs.strings), stats)


@settings(max_examples=examples(200), deadline=None)
@given(cut=st.integers(0, 600),
       flips=st.lists(st.tuples(st.integers(0, 600), st.sampled_from(
           b" \t\n-.:0123456789aAzZ\x00\xff+eni")), max_size=5))
def test_damaged_flow_logs_raise_input_error_or_read(tmp_path_factory, cut: int,
                                                     flips: list[tuple[int, int]]) -> None:
    """Whatever the damage, the reader reads or raises InputError naming the file, and
    the fast and exact parsers agree on which, and on what they read."""
    data = bytearray(_BASE_LOG)
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    f = tmp_path_factory.mktemp("fuzz") / "f.log"
    f.write_bytes(bytes(data[:cut]))
    assert _outcome(f, fast=True) == _outcome(f, fast=False)


_TOKENS = {
    "int": st.one_of(st.integers(0, 10**18).map(str), st.sampled_from(
        ["-", "0", "007", "65535", "1" * 16, "9" * 17, "1" * 19, "x1", "+5", "1.5", "-1",
         "12a", "--"])),
    "addr": st.one_of(
        st.tuples(*[st.integers(0, 255)] * 4).map(lambda o: ".".join(map(str, o))),
        st.sampled_from(["-", "2001:db8::1", "::ffff:1.2.3.4", "1.2.3", "1..2.3",
                         "1.2.3.4.5", "01.002.3.4", "a.b.c.d", "1111.2.3.4", "1.2.3.256",
                         "255.255.255.255", "0.0.0.0", "10.0.0.1:", "1.2.3.4x",
                         "123.123.123.1234", "abcdefghijklmnopq:"])),
    "action": st.sampled_from(["ACCEPT", "REJECT", "-", "ALLOW", "ACCEPTX", "accept"]),
    "log-status": st.sampled_from(["OK", "NODATA", "SKIPDATA", "-", "NOPE", "SKIPDATAX"]),
    "str": st.one_of(st.sampled_from(["-", "x", "a.b", "eni-1", "i-0123456789abcdef0",
                                      "z" * 300, "\u00e9t\u00e9"]),
                     st.text("abc-019.", min_size=1, max_size=30)),
}
_FORMATS = [list(flr.DEFAULT_FIELDS),
            "version interface-id account-id vpc-id subnet-id instance-id srcaddr dstaddr "
            "srcport dstport protocol tcp-flags type pkt-srcaddr pkt-dstaddr action "
            "log-status".split(),
            ["srcaddr", "dstaddr", "protocol", "packets"],
            ["start", "end", "bytes", "pkt-dstaddr", "action", "region", "tgw-id"]]


def _token(kind_of: str) -> st.SearchStrategy[str]:
    kind = flr._kind(kind_of)
    return _TOKENS[kind_of] if kind == "enum" else _TOKENS[kind]


@st.composite
def _flow_log(draw, valid: bool) -> bytes:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        fmt = draw(st.sampled_from(_FORMATS))
        out.append(" ".join(fmt))
        for _ in range(draw(st.integers(0, 12))):
            toks = [draw(_token(f)) for f in fmt]
            if draw(st.integers(0, 9)) == 0 and not valid:
                toks = toks[:-1] if draw(st.booleans()) else toks + ["extra"]
            sep = " " if valid else draw(st.sampled_from([" "] * 8 + ["  ", "\t"]))
            end = "" if valid else draw(st.sampled_from([""] * 8 + [" ", "\r", "\n"]))
            out.append(sep.join(toks) + end)
    return ("\n".join(out) + "\n").encode()


@settings(max_examples=examples(300), deadline=None)
@given(data=st.data(), valid=st.booleans(), chunk=st.sampled_from([64, 300, 1 << 20]))
def test_fast_parser_matches_exact_on_random_lines(tmp_path_factory, data, valid: bool,
                                                   chunk: int) -> None:
    """The word-gather fast path and the exact parser give the same records, strings,
    stats -- or the same error, naming the same file and line -- on random lines of
    random formats, valid or not, cut into blocks anywhere."""
    text = data.draw(_flow_log(valid))
    f = tmp_path_factory.mktemp("rand") / "r.log"
    f.write_bytes(text)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(flr, "CHUNK_BYTES", chunk)
        assert _outcome(f, True, expand=False) == _outcome(f, False, expand=False)


def test_fast_parser_takes_clean_blocks(tmp_path: Path, monkeypatch) -> None:
    """Clean lines -- missing values, IPv6, NODATA included -- never reach the exact
    parser, and read as the exact parser reads them."""
    rng = np.random.default_rng(5)
    lines = ["version account-id interface-id srcaddr dstaddr srcport dstport protocol "
             "packets bytes start end action log-status instance-id tcp-flags"]
    for i in range(5000):
        a = ".".join(str(x) for x in rng.integers(0, 256, 4))
        if i % 97 == 5:
            lines.append(f"5 1234 eni-{i % 7} - - - - - - - 100 160 - NODATA - -")
        elif i % 89 == 3:
            lines.append(f"5 1234 eni-{i % 7} 2001:db8::1 {a} 1 2 6 1 40 1 2 ACCEPT OK - 2")
        elif i % 83 == 1:
            lines.append(f"5 1234 eni-{i % 7} - {a} 1 2 6 1 40 1 2 REJECT OK - 2")
        else:
            inst = "-" if i % 3 else f"i-{i:017x}"
            lines.append(f"5 1234 eni-{i % 7} {a} 010.0.0.{i % 256} {rng.integers(0, 65536)} "
                         f"443 6 {rng.integers(1, 50)} {rng.integers(0, 10**16)} "
                         f"{1700000000 + i} {1700000060 + i} ACCEPT OK {inst} 19")
    f = tmp_path / "clean.log"
    f.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(flr, "CHUNK_BYTES", 50_000)
    exact_calls = []
    real_exact = flr._BlockParser._exact
    monkeypatch.setattr(flr._BlockParser, "_exact",
                        lambda self, seg, lo: exact_calls.append(lo) or real_exact(self, seg, lo))
    fast, s1 = read(f)
    assert exact_calls == []
    monkeypatch.setattr(flr._BlockParser, "_fast", lambda self, seg, lo, n: None)
    exact, s2 = read(f)
    assert s1 == s2 and s1.nodata > 0 and s1.skipped["ipv6"] > 0
    assert s1.skipped["missing address"] > 0
    assert np.array_equal(fast.records, exact.records)
    assert fast.strings == exact.strings

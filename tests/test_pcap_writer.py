"""pcap writer: scapy and tshark read what it writes; write -> read is the identity."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.utils import rdpcap
from strategies import examples, header_columns

from netemu.io.pcap_reader import ReadStats, read_pcap
from netemu.io.pcap_writer import min_length, write_pcap
from netemu.packet import from_columns

HEADER = ["src", "dst", "sport", "dport", "proto", "flags", "length"]


def sample_batch() -> np.ndarray:
    return from_columns(
        ts=np.array([1_700_000_000.25, 1_700_000_000.5, 1_700_000_001.0, 1_700_000_002.0]),
        src=np.array([0x0A000001, 0x0A000002, 0xC0000201, 0x01020304], np.uint32),
        dst=np.array([0x08080808, 0x0A000001, 0x0A000001, 0x05060708], np.uint32),
        sport=np.array([40000, 53, 8, 0]), dport=np.array([443, 33000, 0, 0]),
        proto=np.array([6, 17, 1, 47]), flags=np.array([18, 0, 0, 0]),
        length=np.array([60, 120, 84, 64]))


def read_back(path: Path) -> np.ndarray:
    stats = ReadStats()
    out = np.concatenate(list(read_pcap(path, stats=stats)))
    assert stats.skipped == {}
    return out


def test_scapy_reads_headers_and_checksums(tmp_path: Path) -> None:
    batch = sample_batch()
    f = tmp_path / "w.pcap"
    assert write_pcap(f, batch) == 4
    pkts = rdpcap(str(f))
    assert len(pkts) == 4
    for p, b in zip(pkts, batch, strict=True):
        ip = p[IP]
        assert int.from_bytes(bytes(ip)[12:16], "big") == b["src"]
        assert ip.len == b["length"] and ip.proto == b["proto"]
        assert float(p.time) == pytest.approx(b["ts"], abs=1e-6)
        # recomputing every checksum gives the written one
        fresh = IP(bytes(ip))
        check = fresh.copy()
        del check.chksum
        if hasattr(check.payload, "chksum"):
            del check.payload.chksum
        check = IP(bytes(check))
        assert fresh.chksum == check.chksum
        if hasattr(fresh.payload, "chksum"):
            assert fresh.payload.chksum == check.payload.chksum
    assert pkts[0][TCP].sport == 40000 and int(pkts[0][TCP].flags) == 18
    assert pkts[1][UDP].dport == 33000 and pkts[1][UDP].len == 100
    assert (pkts[2][ICMP].type, pkts[2][ICMP].code) == (8, 0)


def test_round_trip_sample(tmp_path: Path) -> None:
    batch = sample_batch()
    f = tmp_path / "w.pcap"
    write_pcap(f, batch, nanosecond=True)
    got = read_back(f)
    for c in HEADER:
        assert np.array_equal(got[c], batch[c]), c
    assert np.allclose(got["ts"], batch["ts"], rtol=0, atol=1e-6)


def test_short_lengths_are_raised_to_headers_and_snaplen_cuts(tmp_path: Path) -> None:
    batch = from_columns(ts=0.0, src=1, dst=2, sport=1, dport=2, proto=np.array([6, 17, 1, 50]),
                         length=0)
    f = tmp_path / "s.pcap"
    write_pcap(f, batch)
    assert list(read_back(f)["length"]) == [40, 28, 28, 20]
    assert list(min_length(np.array([6, 17, 1, 50]))) == [40, 28, 28, 20]
    big = from_columns(ts=0.0, src=1, dst=2, sport=1, dport=2, proto=6, length=9000)
    g = tmp_path / "g.pcap"
    write_pcap(g, big, snaplen=96)
    assert g.stat().st_size == 24 + 16 + 96
    assert read_back(g)["length"][0] == 9000


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not on PATH")
def test_tshark_reads_it(tmp_path: Path) -> None:
    f = tmp_path / "w.pcap"
    write_pcap(f, sample_batch())
    out = subprocess.run(["tshark", "-r", str(f), "-T", "fields", "-e", "ip.src",
                          "-e", "ip.len", "-e", "ip.checksum.status"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0].split("\t")[:2] == ["10.0.0.1", "60"]
    assert len([line for line in out if line]) == 4


@settings(max_examples=examples(60), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cols=header_columns)
def test_round_trip_random_batches(tmp_path: Path, cols: dict) -> None:
    proto = np.array(cols["proto"])
    tcp, icmp, ported = proto == 6, proto == 1, np.isin(proto, (6, 17))
    sport = np.where(ported, cols["sport"], np.where(icmp, np.array(cols["sport"]) % 256, 0))
    dport = np.where(ported, cols["dport"], np.where(icmp, np.array(cols["dport"]) % 256, 0))
    batch = from_columns(ts=np.array(cols["ts"]) / 1000, src=np.array(cols["src"], np.uint32),
                         dst=np.array(cols["dst"], np.uint32), sport=sport, dport=dport,
                         proto=proto, flags=np.where(tcp, cols["flags"], 0),
                         length=min_length(proto) + np.array(cols["extra"]))
    f = tmp_path / "h.pcap"
    write_pcap(f, batch)
    got = read_back(f)
    for c in HEADER:
        assert np.array_equal(got[c], batch[c]), c
    assert np.allclose(got["ts"], batch["ts"], rtol=0, atol=1e-6)

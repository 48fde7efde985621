"""Classic-pcap record offsets found run by run (issue 11) against the one-record-at-a-time
walk: the same offsets and the same stopping point for any lengths and any cut, and the
reader gives the same packets whatever the chunk size."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

import netemu.io.pcap_reader as pr
from netemu.errors import InputError
from netemu.io import pcap_walk
from netemu.io.pcap_reader import ReadStats, read_pcap


def plain_walk(buf: bytes, endian: str) -> tuple[list[int], int]:
    """The definition: from offset 0, a record is its 16-byte header and its captured
    length (the header's third word) of bytes; stop at the first that is not whole."""
    offs, off = [], 0
    while off + 16 <= len(buf):
        incl = struct.unpack_from(endian + "I", buf, off + 8)[0]
        if off + 16 + incl > len(buf):
            break
        offs.append(off)
        off += 16 + incl
    return offs, off


def records(lengths: list[int], endian: str) -> bytes:
    """Records whose headers and bodies are filled with bytes that look like lengths,
    so a walk that reads a length at a wrong place goes wrong."""
    out = bytearray()
    for i, n in enumerate(lengths):
        out += struct.pack(endian + "IIII", i, i * 7, n, n + 3)
        out += (bytes([n & 0xFF, 0, 0, 0]) * (n // 4 + 1))[:n]
    return bytes(out)


runs = st.lists(st.tuples(st.integers(0, 120), st.integers(1, 300)), min_size=0,
                max_size=8)


@settings(max_examples=examples(200))
@given(runs, st.sampled_from(["<", ">"]), st.integers(0, 40), st.data())
def test_offsets_match_the_plain_walk(runs, endian, tail, data):
    lengths = [n for n, k in runs for _ in range(k)]
    buf = records(lengths, endian)
    cut = data.draw(st.integers(max(0, len(buf) - tail - 200), len(buf)))
    buf = buf[:cut]
    offs, off = pcap_walk.record_offsets(buf, endian)
    want, want_off = plain_walk(buf, endian)
    assert offs.tolist() == want
    assert off == want_off


def test_long_runs_and_alternating_lengths():
    """A run long enough for the guess to double many times, then lengths that change
    at every record (the Python walk), then a run again."""
    lengths = [96] * 200_000 + [40, 41] * 3000 + [60] * 5000
    buf = records(lengths, "<")
    offs, off = pcap_walk.record_offsets(buf, "<")
    want, want_off = plain_walk(buf, "<")
    assert len(offs) == len(lengths)
    assert offs.tolist() == want and off == want_off == len(buf)


def write_pcap(path, lengths: list[int]) -> None:
    """Raw-IPv4 captures (link type 101) of TCP packets, each `n` bytes captured of
    a 60-byte packet (n >= 40), port numbers counting up."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    for i, n in enumerate(lengths):
        ip = struct.pack(">BBHHHBBHII", 0x45, 0, 60, i & 0xFFFF, 0, 64, 6, 0,
                         0x0A000001, 0x0A000002)
        tcp = struct.pack(">HHIIBBHHH", 1000 + i % 5000, 443, 0, 0, 0x50, 0x10, 0, 0, 0)
        pkt = (ip + tcp + bytes(20))[:n]
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, n, 60) + pkt
    path.write_bytes(bytes(out))


@pytest.mark.parametrize("chunk", [97, 4096, 8 << 20])
def test_reader_same_packets_for_any_chunk(tmp_path, monkeypatch, chunk):
    """Records cut across chunk boundaries at every possible place: the carry over
    keeps them whole, the packets come out the same and in order."""
    lengths = [40] * 3000 + [44, 52] * 500 + [60] * 2000
    path = tmp_path / "t.pcap"
    write_pcap(path, lengths)
    monkeypatch.setattr(pr, "CHUNK_BYTES", chunk)
    stats = ReadStats()
    b = np.concatenate(list(read_pcap(path, stats=stats)))
    assert stats.records == len(lengths) == len(b)
    i = np.arange(len(lengths))
    assert (b["sport"] == 1000 + i % 5000).all() and (b["dport"] == 443).all()
    assert (b["ts"] == 1_700_000_000 + i).all()


def test_implausible_length_names_its_record(tmp_path):
    path = tmp_path / "bad.pcap"
    write_pcap(path, [40] * 500)
    raw = bytearray(path.read_bytes())
    at = 24 + 300 * (16 + 40)                     # the 301st record's header
    raw[at + 8:at + 12] = struct.pack("<I", 1 << 30)
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="record 301") as e:
        list(read_pcap(path))
    assert "implausible" in str(e.value)

"""pcap / pcapng reader: real samples against scapy, crafted link types, bad files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, CookedLinux, Dot1AD, Dot1Q, Ether, Loopback
from scapy.packet import Raw
from scapy.utils import rdpcap, wrpcap
from strategies import examples

from netemu.errors import InputError
from netemu.io.pcap_reader import ReadStats, read_pcap

TRACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
PCAPS = TRACES / "pcap"
HEADER = ["src", "dst", "sport", "dport", "proto", "flags", "length"]

# Expected (records, packets yielded, skipped) per sample. Records and the IPv4 / IPv6 /
# ARP split come from the tcpdump `.out` decodes shipped beside each tcpdump capture
# (one numbered line per record) and, for the scapy captures, from counting
# `rdpcap(f)` packets with `IP in p`, `IPv6 in p`, `ARP in p` (scapy 2.8).
SAMPLES = {
    "scapy__http_compressed.pcap": (3, 3, {}),
    "scapy__http_content_length.pcap": (18, 18, {}),
    "scapy__ssh_ed25519.pcap": (28, 28, {}),
    "scapy__tls_new-session-ticket.pcap": (12, 6, {"ipv6": 6}),
    "tcpdump__802.1ad_QinQ.pcap": (2, 0, {"arp": 2}),
    "tcpdump__LINKTYPE_RAW_ipv4.pcap": (1, 1, {}),
    "tcpdump__dns_tcp.pcap": (11, 11, {}),
    "tcpdump__dns_udp.pcap": (2, 2, {}),
    "tcpdump__icmpv6-length-zero.pcapng": (1, 0, {"ipv6": 1}),
    "tcpdump__icmpv6.pcap": (5, 0, {"ipv6": 5}),
    "tcpdump__ipv4_tcp_http_xml.pcap": (1, 1, {}),
    "tcpdump__ntp-time.pcap": (2, 2, {}),
    "tcpdump__tcp-handshake-nano.pcap": (3, 3, {}),
}


def read_all(path: Path, batch_size: int = 65536) -> tuple[np.ndarray, ReadStats]:
    stats = ReadStats()
    batches = list(read_pcap(path, batch_size=batch_size, stats=stats))
    assert all(len(b) <= batch_size for b in batches)
    out = np.concatenate(batches) if batches else np.zeros(0)
    return out, stats


def scapy_rows(packets) -> list[tuple]:
    """Header columns as scapy decodes them (the independent oracle)."""
    rows = []
    for p in packets:
        if IP not in p:
            continue
        ip = p[IP]
        sport = dport = flags = 0
        if ip.frag == 0 and TCP in ip:
            sport, dport, flags = ip[TCP].sport, ip[TCP].dport, int(ip[TCP].flags)
        elif ip.frag == 0 and UDP in ip:
            sport, dport = ip[UDP].sport, ip[UDP].dport
        elif ip.frag == 0 and ICMP in ip:
            sport, dport = ip[ICMP].type, ip[ICMP].code
        rows.append((float(p.time), int.from_bytes(bytes(ip)[12:16], "big"),
                     int.from_bytes(bytes(ip)[16:20], "big"), sport, dport, ip.proto, flags,
                     ip.len))
    return rows


def as_rows(batch: np.ndarray) -> list[tuple]:
    return [(float(r["ts"]), *(int(r[c]) for c in HEADER)) for r in batch]


def assert_same(batch: np.ndarray, oracle: list[tuple]) -> None:
    got = as_rows(batch)
    assert len(got) == len(oracle)
    for g, o in zip(got, oracle, strict=True):
        assert g[1:] == o[1:]
        assert g[0] == pytest.approx(o[0], abs=1e-6)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_counts_and_headers_match_scapy(name: str) -> None:
    path = PCAPS / name
    if not path.exists():
        pytest.skip(f"sample data absent: {path} (../shared/data not mounted)")
    batch, stats = read_all(path)
    records, packets, skipped = SAMPLES[name]
    assert (stats.records, stats.packets, stats.skipped) == (records, packets, skipped)
    assert len(batch) == packets
    assert_same(batch, scapy_rows(rdpcap(str(path))))


def test_sample_values_from_tcpdump_decode() -> None:
    path = PCAPS / "tcpdump__tcp-handshake-nano.pcap"
    if not path.exists():
        pytest.skip(f"sample data absent: {path}")
    batch, _ = read_all(path)
    # tcpdump .out: 17:16:09.924505488 IP 131.155.215.69.46656 > 137.116.81.94.80
    assert batch["sport"][0] == 46656 and batch["dport"][0] == 80
    assert batch["src"][0] == (131 << 24 | 155 << 16 | 215 << 8 | 69)
    assert (batch["ts"][0] % 60) == pytest.approx(9.924505488, abs=1e-6)
    assert list(batch["flags"]) == [2, 18, 16]          # handshake S, S., .


def test_small_batches_give_same_packets(tmp_path: Path) -> None:
    pkts = [Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=i, dport=53)
            for i in range(1, 40)]
    for i, p in enumerate(pkts):
        p.time = 1000 + i
    f = tmp_path / "s.pcap"
    wrpcap(str(f), pkts)
    whole, _ = read_all(f)
    parts, stats = read_all(f, batch_size=7)
    assert stats.packets == 39 and np.array_equal(whole, parts)
    assert list(whole["sport"]) == list(range(1, 40))


def _crafted() -> list:
    base = IP(src="192.0.2.1", dst="198.51.100.7")
    return [
        Ether() / base / TCP(sport=1234, dport=443, flags="SA"),
        Ether() / Dot1Q(vlan=10) / base / UDP(sport=5000, dport=53),
        Ether(type=0x88A8) / Dot1AD(vlan=200) / Dot1Q(vlan=2001) / base / ICMP(type=3, code=4),
        Ether() / Dot1AD(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / base / GRE(),
        Ether() / base / TCP(sport=1, dport=2, flags="SEC"),
        Ether() / ARP(),
        Ether() / IPv6() / UDP(),
        Ether(type=0x88CC) / Raw(b"\x00" * 30),
        Ether(type=0x0800) / Raw(b"\x45\x00"),              # cut inside the IP header
        Ether() / IP(src="1.2.3.4", dst="5.6.7.8", proto=2) / Raw(b"\x11" * 8),   # IGMP
    ]


def test_crafted_ethernet_vlans_and_skips(tmp_path: Path) -> None:
    pkts = _crafted()
    for i, p in enumerate(pkts):
        p.time = 1_600_000_000 + i / 10
    f = tmp_path / "c.pcap"
    wrpcap(str(f), pkts)
    batch, stats = read_all(f)
    assert stats.records == 10 and stats.packets == 6
    assert stats.skipped == {"arp": 1, "ipv6": 1, "non-ip ethertype 0x88cc": 1,
                             "truncated frame": 1}
    assert_same(batch, scapy_rows(rdpcap(str(f))))
    assert list(batch["proto"]) == [6, 17, 1, 47, 6, 2]
    assert batch["flags"][4] == 0xC2                    # ECE/CWR kept with SYN
    assert (batch["sport"][3], batch["dport"][3]) == (0, 0)


def test_cooked_sll_sll2_raw_null_and_loopback(tmp_path: Path) -> None:
    ip = IP(src="10.1.1.1", dst="10.2.2.2") / TCP(sport=4000, dport=22, flags="S")
    ip6 = IPv6() / UDP()
    raw = bytes(ip)
    cases = {
        113: [bytes(CookedLinux(proto=0x0800) / ip), bytes(CookedLinux(proto=0x86DD) / ip6)],
        276: [struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\0" * 8) + raw],
        101: [raw, bytes(ip6)],
        228: [raw],
        12: [raw],
        0: [struct.pack("<I", 2) + raw, struct.pack(">I", 2) + raw, bytes(Loopback() / ip6)],
        108: [struct.pack(">I", 2) + raw],
    }
    for linktype, frames in cases.items():
        f = tmp_path / f"lt{linktype}.pcap"
        with open(f, "wb") as out:
            out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
            for frame in frames:
                out.write(struct.pack("<IIII", 10, 5, len(frame), len(frame)) + frame)
        batch, stats = read_all(f)
        assert stats.records == len(frames)
        n_ip4 = sum(1 for fr in frames if raw in fr)
        assert stats.packets == n_ip4, linktype
        assert set(stats.skipped) <= {"ipv6"}
        assert all(as_rows(batch[i:i + 1])[0][1:] ==
                   (0x0A010101, 0x0A020202, 4000, 22, 6, 2, 40) for i in range(n_ip4))
        assert batch["ts"][0] == pytest.approx(10.000005)


def test_unknown_link_type_is_skipped(tmp_path: Path) -> None:
    f = tmp_path / "lt.pcap"
    with open(f, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147))
        out.write(struct.pack("<IIII", 1, 0, 4, 4) + b"abcd")
    _, stats = read_all(f)
    assert stats.skipped == {"unsupported link type 147": 1}


@pytest.mark.parametrize(("magic", "endian", "unit"), [
    (0xA1B2C3D4, "<", 1e-6), (0xA1B2C3D4, ">", 1e-6),
    (0xA1B23C4D, "<", 1e-9), (0xA1B23C4D, ">", 1e-9)])
def test_classic_magics_and_endianness(tmp_path: Path, magic: int, endian: str,
                                       unit: float) -> None:
    frame = bytes(Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=7, dport=9))
    f = tmp_path / "m.pcap"
    with open(f, "wb") as out:
        out.write(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1))
        out.write(struct.pack(endian + "IIII", 100, 123456, len(frame), len(frame)) + frame)
    batch, _ = read_all(f)
    assert batch["ts"][0] == pytest.approx(100 + 123456 * unit, abs=1e-9)
    assert (batch["sport"][0], batch["dport"][0], batch["length"][0]) == (7, 9, 28)


def _block(btype: int, body: bytes, endian: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def _pcapng(endian: str = "<") -> bytes:
    e = endian
    shb = _block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)
    opt_ns = struct.pack(e + "HH", 9, 1) + b"\x09\0\0\0" + struct.pack(e + "HH", 0, 0)
    opt_ms = struct.pack(e + "HH", 9, 1) + b"\x03\0\0\0" + struct.pack(e + "HH", 0, 0)
    idb0 = _block(1, struct.pack(e + "HHI", 1, 0, 65535) + opt_ns, e)       # Ethernet, ns
    idb1 = _block(1, struct.pack(e + "HHI", 101, 0, 65535) + opt_ms, e)     # raw IP, ms
    eth = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=80, dport=81))
    raw = bytes(IP(src="10.0.0.3", dst="10.0.0.4") / UDP(sport=82, dport=83))
    t0 = 1_700_000_000_123_456_789
    epb0 = _block(6, struct.pack(e + "IIIII", 0, t0 >> 32, t0 & 0xFFFFFFFF, len(eth),
                                 len(eth)) + eth, e)
    t1 = 1_700_000_001_250
    epb1 = _block(6, struct.pack(e + "IIIII", 1, t1 >> 32, t1 & 0xFFFFFFFF, len(raw),
                                 len(raw)) + raw, e)
    spb = _block(3, struct.pack(e + "I", len(eth)) + eth, e)
    nrb = _block(4, b"\0\0\0\0", e)
    return shb + idb0 + idb1 + epb0 + nrb + epb1 + spb


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_interfaces_resolution_and_simple_blocks(tmp_path: Path, endian: str) -> None:
    f = tmp_path / "x.pcapng"
    f.write_bytes(_pcapng(endian) + _pcapng(endian))     # two sections, concatenated
    batch, stats = read_all(f)
    assert stats.records == 6 and stats.packets == 6
    assert list(batch["sport"]) == [80, 82, 80] * 2
    assert batch["ts"][0] == pytest.approx(1_700_000_000.123456789)
    assert batch["ts"][1] == pytest.approx(1_700_000_001.250)
    assert batch["ts"][2] == batch["ts"][1]          # simple block: previous time kept


def test_pcapng_written_by_scapy(tmp_path: Path) -> None:
    from scapy.utils import PcapNgWriter
    pkts = _crafted()
    for i, p in enumerate(pkts):
        p.time = 1_500_000_000 + i
    f = tmp_path / "s.pcapng"
    with PcapNgWriter(str(f)) as w:
        for p in pkts:
            w.write(p)
    batch, stats = read_all(f)
    assert stats.records == 10 and stats.packets == 6
    assert_same(batch, scapy_rows(rdpcap(str(f))))


def test_fragments_take_ports_of_their_first_fragment(tmp_path: Path) -> None:
    big = IP(src="10.9.9.9", dst="10.8.8.8", id=77) / UDP(sport=1111, dport=2222) / Raw(
        b"x" * 3000)
    frags = fragment(big, fragsize=1000)
    orphan = IP(src="10.7.7.7", dst="10.8.8.8", id=5, proto=17, frag=100) / Raw(b"y" * 8)
    pkts = [Ether() / fr for fr in frags] + [Ether() / orphan]
    f = tmp_path / "f.pcap"
    wrpcap(str(f), pkts)
    batch, _ = read_all(f)
    assert len(batch) == len(frags) + 1 >= 4
    assert all(batch["sport"][:-1] == 1111) and all(batch["dport"][:-1] == 2222)
    assert (batch["sport"][-1], batch["dport"][-1]) == (0, 0)


def test_short_l4_keeps_packet_with_zero_ports(tmp_path: Path) -> None:
    frame = bytes(Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / TCP())[:14 + 20 + 2]
    f = tmp_path / "s.pcap"
    with open(f, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 36, 1))
        out.write(struct.pack("<IIII", 1, 0, len(frame), 54) + frame)
    batch, stats = read_all(f)
    assert stats.packets == 1 and stats.short_l4 == 1
    assert (batch["sport"][0], batch["length"][0]) == (0, 40)


def _two_record_file(tmp_path: Path) -> tuple[Path, bytes]:
    pkts = [Ether() / IP() / UDP(sport=1), Ether() / IP() / UDP(sport=2)]
    f = tmp_path / "t.pcap"
    wrpcap(str(f), pkts)
    return f, f.read_bytes()


@pytest.mark.parametrize(("cut", "record"), [(-5, 2), (-50, 2), (24 + 16 + 42 + 8, 2),
                                             (24 + 3, 1)])
def test_truncated_file_names_file_and_record(tmp_path: Path, cut: int, record: int) -> None:
    f, data = _two_record_file(tmp_path)
    f.write_bytes(data[:cut])
    with pytest.raises(InputError) as err:
        read_all(f)
    assert err.value.file == str(f) and err.value.record == record
    assert f"{f}: record {record}:" in str(err.value) and "truncated" in str(err.value)


def test_truncated_pcapng_names_block(tmp_path: Path) -> None:
    f = tmp_path / "t.pcapng"
    f.write_bytes(_pcapng()[:-10])
    with pytest.raises(InputError) as err:
        read_all(f)
    assert err.value.record == 7 and str(f) in str(err.value)


def test_wrong_magic_names_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.pcap"
    f.write_bytes(b"GIF89a" + b"\0" * 40)
    with pytest.raises(InputError) as err:
        read_all(f)
    assert str(f) in str(err.value) and "magic" in str(err.value)


def _fuzz_base() -> tuple[bytes, bytes]:
    pkts = _crafted()
    for i, p in enumerate(pkts):
        p.time = 1_600_000_000 + i
    import io

    from scapy.utils import PcapWriter
    buf = io.BytesIO()
    w = PcapWriter(buf)
    for p in pkts:
        w.write(p)
    w.flush()
    return buf.getvalue(), _pcapng() + _pcapng(">")


_BASES = _fuzz_base()


@settings(max_examples=examples(150), deadline=None)
@given(which=st.integers(0, 1), cut=st.integers(0, 2000),
       flips=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=4))
def test_corrupt_files_raise_input_error_or_read(tmp_path_factory, which: int, cut: int,
                                                 flips: list[tuple[int, int]]) -> None:
    """Whatever the damage, the reader either reads or raises InputError -- never crashes."""
    data = bytearray(_BASES[which])
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    f = tmp_path_factory.mktemp("fuzz") / "f.cap"
    f.write_bytes(bytes(data[:cut]) if cut < len(data) else bytes(data))
    try:
        batch, stats = read_all(f)
    except InputError as e:
        assert str(f) in str(e)
        return
    assert stats.packets == len(batch) <= stats.records


def test_missing_file_and_eager_magic_check(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        read_pcap(tmp_path / "nope.pcap")
    assert "nope.pcap" in str(err.value)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(InputError):
        read_pcap(bad)                   # refused before any batch is asked for

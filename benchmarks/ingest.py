"""Trace ingest throughput: pcap reader vs three anchors, and the flow-log reader.

    python -m benchmarks.ingest [--packets N] [--records N] [--scapy-packets N]
                                [--only pcap|flowlogs]

Synthetic inputs are generated in a temporary directory: a classic pcap of N packets
written by netemu's own writer (TCP/UDP/ICMP, 40-160 byte packets), and a version-2 flow
log of N records (1% NODATA lines, as real exports have). scapy's rdpcap is timed on a
prefix of the same packets (it runs ~10^4 packets/s, so the full file would take minutes)
and its rate is compared per packet, which is what scaling by length amounts to. Two
honest anchors read the whole file in the same run: a plain `struct` loop (the Python
anyone would write: record header, Ethernet, IPv4 and TCP/UDP ports into a list of
tuples) and dpkt (`pip install -e '.[bench]'`), both checked to see the same packets.
Results go to benchmarks/results/ingest.json (with --only, just that section is
replaced; the other keeps its earlier figures).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, write_result
from netemu.io.flowlog_reader import RECORD_DTYPE, iter_packets, read_flow_logs
from netemu.io.flowlog_writer import HEADER, format_records
from netemu.io.pcap_reader import ReadStats, read_pcap
from netemu.io.pcap_writer import write_pcap
from netemu.packet import from_columns

CPU: dict[str, float] = {}       # best CPU seconds per measurement, by label


def best(fn: Callable[[], object], repeat: int, label: str = "") -> float:
    """Best wall-clock seconds of `repeat` runs; the best CPU seconds go to CPU[label]
    (on a shared machine CPU time is the steadier figure)."""
    times, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    if label:
        CPU[label] = min(cpu)
    return min(times)


def struct_loop(path: Path) -> list[tuple]:
    """A plain-Python pcap reader: (ts, src, dst, sport, dport, proto, flags, length) of
    every Ethernet/IPv4 packet, one struct.unpack_from per header."""
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    scale = 1e-9 if magic in (0xA1B23C4D, 0x4D3CB2A1) else 1e-6
    rec = struct.Struct(endian + "IIII")
    ip = struct.Struct("!BxHxxxxxBxxII")         # ihl, total length, proto, src, dst
    ports = struct.Struct("!HH")
    out = []
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, caplen, _ = rec.unpack_from(data, pos)
        pos += 16
        if data[pos + 12:pos + 14] == b"\x08\x00":
            vihl, length, proto, src, dst = ip.unpack_from(data, pos + 14)
            l4 = pos + 14 + (vihl & 15) * 4
            sport = dport = flags = 0
            if proto in (6, 17):
                sport, dport = ports.unpack_from(data, l4)
                if proto == 6:
                    flags = data[l4 + 13]
            out.append((sec + frac * scale, src, dst, sport, dport, proto, flags, length))
        pos += caplen
    return out


def dpkt_loop(path: Path) -> list[tuple]:
    """The same tuples read with dpkt, as its documentation's loop does."""
    import dpkt

    out = []
    with open(path, "rb") as f:
        for ts, buf in dpkt.pcap.Reader(f):
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if not isinstance(ip, dpkt.ip.IP):
                continue
            l4 = ip.data
            sport = getattr(l4, "sport", 0)
            dport = getattr(l4, "dport", 0)
            flags = l4.flags if isinstance(l4, dpkt.tcp.TCP) else 0
            out.append((ts, int.from_bytes(ip.src, "big"), int.from_bytes(ip.dst, "big"),
                        sport, dport, ip.p, flags, ip.len))
    return out


def synthetic_packets(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    proto = rng.choice([6, 17, 1], n, p=[0.7, 0.25, 0.05])
    return from_columns(ts=1.7e9 + np.arange(n) * 1e-5, src=rng.integers(0, 2**32, n),
                        dst=rng.integers(0, 2**32, n), sport=rng.integers(0, 65536, n),
                        dport=rng.integers(0, 65536, n), proto=proto,
                        flags=np.where(proto == 6, 16, 0), length=rng.integers(40, 160, n))


def write_flow_log(path: Path, n: int, seed: int = 2) -> None:
    rng = np.random.default_rng(seed)
    recs = np.full(n, -1, RECORD_DTYPE)
    recs["interface_id"] = rng.integers(0, 500, n)
    recs["src"] = rng.integers(0, 2**32, n)
    recs["dst"] = rng.integers(0, 2**32, n)
    recs["sport"] = rng.integers(0, 65536, n)
    recs["dport"] = rng.integers(0, 65536, n)
    recs["proto"] = 6
    recs["packets"] = rng.integers(1, 20, n)
    recs["bytes"] = recs["packets"] * 100
    recs["start"] = 1_700_000_000 + np.arange(n) // 1000
    recs["end"] = recs["start"] + 60
    recs["action"] = rng.random(n) < 0.9
    names = [f"eni-{i:017x}" for i in range(500)]
    nodata = "2 123456789012 eni-00000000000000000 - - - - - - - 1700000000 1700000060 - NODATA"
    with open(path, "w") as f:
        f.write(HEADER + "\n")
        for i, line in enumerate(format_records(recs, names)):
            f.write(line + "\n")
            if i % 100 == 99:
                f.write(nodata + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--scapy-packets", type=int, default=20_000)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["pcap", "flowlogs"], default=None)
    args = ap.parse_args()
    command = "python -m benchmarks.ingest " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        result = {"command": command}
        if args.only != "flowlogs":
            result["pcap"] = bench_pcap(d, args)
        if args.only != "pcap":
            result["flowlogs"] = bench_flowlogs(d, args)
    result["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)  # other work on the box
    if args.only:
        old = RESULTS / "ingest.json"
        prev = json.loads(old.read_text()) if old.exists() else {}
        section = result[args.only]
        section["command"] = command
        section["load_average_1m_at_end"] = result["load_average_1m_at_end"]
        prev.pop("machine", None)
        result = {**prev, args.only: section}
    path = write_result("ingest", result)
    print(f"wrote {path}")


def bench_pcap(d: Path, args: argparse.Namespace) -> dict:
    from scapy.all import rdpcap  # loads every layer, so packets are fully dissected

    pkts = synthetic_packets(args.packets)
    pcap = d / "synthetic.pcap"
    t_write = best(lambda: write_pcap(pcap, pkts), 1)
    stats = ReadStats()

    def ingest() -> int:
        return sum(len(b) for b in read_pcap(pcap, stats=ReadStats()))

    assert ingest() == args.packets
    t_ours = best(ingest, args.repeat, "pcap")
    small = d / "prefix.pcap"
    write_pcap(small, pkts[: args.scapy_packets])
    t_scapy = best(lambda: rdpcap(str(small)), 1, "scapy")
    plain, t_struct = _timed(lambda: struct_loop(pcap), "struct")
    try:
        via_dpkt, t_dpkt = _timed(lambda: dpkt_loop(pcap), "dpkt")
    except ImportError:             # the `bench` extra is not installed: the anchor is not
        raise SystemExit("dpkt is missing: pip install -e '.[bench]'") from None
    first = next(iter(read_pcap(pcap, stats=ReadStats())))
    want = [tuple(int(first[c][i]) for c in ("src", "dst", "proto")) for i in range(100)]
    for name, rows in (("struct loop", plain), ("dpkt", via_dpkt)):
        assert len(rows) == args.packets, (name, len(rows))
        assert [(r[1], r[2], r[5]) for r in rows[:100]] == want, f"{name} reads others"
    anchors = {"struct_loop": args.packets / t_struct, "dpkt": args.packets / t_dpkt}
    t_ours_small = best(lambda: sum(len(b) for b in read_pcap(small, stats=stats)),
                        args.repeat)
    ours = args.packets / t_ours
    scapy = args.scapy_packets / t_scapy
    print(f"pcap ingest: {ours:,.0f} packets/s ({args.packets:,} packets in {t_ours:.3f} s);"
          f" scapy rdpcap: {scapy:,.0f} packets/s on {args.scapy_packets:,};"
          f" speedup {ours / scapy:,.0f}x")
    print(f"  anchors on the whole file: plain struct loop {anchors['struct_loop']:,.0f} "
          f"packets/s, dpkt {anchors['dpkt']:,.0f}/s")
    print(f"  per CPU second: {args.packets / CPU['pcap']:,.0f} packets/s; scapy "
          f"{args.scapy_packets / CPU['scapy']:,.0f}; struct loop "
          f"{args.packets / CPU['struct']:,.0f}; dpkt {args.packets / CPU['dpkt']:,.0f}")
    return {
        "packets": args.packets, "file_bytes": pcap_size(args.packets, pkts),
        "netemu_seconds": round(t_ours, 4), "netemu_packets_per_s": round(ours),
        "scapy_rdpcap_packets": args.scapy_packets,
        "scapy_rdpcap_seconds": round(t_scapy, 4),
        "scapy_rdpcap_packets_per_s": round(scapy),
        "netemu_on_scapy_prefix_packets_per_s": round(args.scapy_packets / t_ours_small),
        "speedup_vs_scapy": round(ours / scapy, 1),
        "struct_loop_packets_per_s": round(anchors["struct_loop"]),
        "struct_loop_packets_per_cpu_s": round(args.packets / CPU["struct"]),
        "speedup_vs_struct_loop": round(ours / anchors["struct_loop"], 1),
        "dpkt_packets_per_s": round(anchors["dpkt"]),
        "dpkt_packets_per_cpu_s": round(args.packets / CPU["dpkt"]),
        "speedup_vs_dpkt": round(ours / anchors["dpkt"], 1),
        "netemu_packets_per_cpu_s": round(args.packets / CPU["pcap"]),
        "scapy_rdpcap_packets_per_cpu_s": round(args.scapy_packets / CPU["scapy"]),
        "note": "scapy timed on a prefix of the same synthetic packets, rates compared "
                "per packet; the struct loop and dpkt read the whole file into a list of "
                "(ts, src, dst, sport, dport, proto, flags, length) tuples, once",
        "writer_packets_per_s": round(args.packets / t_write),
    }


def _timed(fn: Callable[[], list], label: str) -> tuple[list, float]:
    """One run (the anchors take seconds): its result and wall seconds; CPU to CPU."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    CPU[label] = time.process_time() - c
    return out, time.perf_counter() - t


def bench_flowlogs(d: Path, args: argparse.Namespace) -> dict:
    log = d / "synthetic.log"
    write_flow_log(log, args.records)
    lines = args.records + args.records // 100

    def flow_ingest() -> int:
        return sum(len(b) for b in read_flow_logs(log))

    assert flow_ingest() == args.records
    t_flow = best(flow_ingest, args.repeat, "flow")
    t_expand = best(lambda: sum(len(b) for b in iter_packets(read_flow_logs(log))), 1)
    n_expanded = sum(len(b) for b in iter_packets(read_flow_logs(log)))
    print(f"flow-log ingest: {args.records / t_flow:,.0f} records/s "
          f"({args.records:,} records in {t_flow:.3f} s);"
          f" read+expand {n_expanded / t_expand:,.0f} packets/s;"
          f" per CPU second {args.records / CPU['flow']:,.0f} records/s")
    return {
        "records": args.records, "lines": lines + 1, "file_bytes": log.stat().st_size,
        "seconds": round(t_flow, 4), "records_per_s": round(args.records / t_flow),
        "lines_per_s": round((lines + 1) / t_flow),
        "cpu_seconds": round(CPU["flow"], 4),
        "records_per_cpu_s": round(args.records / CPU["flow"]),
        "expanded_packets": n_expanded,
        "read_and_expand_seconds": round(t_expand, 4),
        "expanded_packets_per_s": round(n_expanded / t_expand),
    }


def pcap_size(n: int, pkts: np.ndarray) -> int:
    return int(24 + 16 * n + (14 * n) + pkts["length"].astype(np.int64).sum())


if __name__ == "__main__":
    main()

"""Replay throughput: a trace file through the end-to-end topology, read, decided and
accounted, against a plain scapy `rdpcap` loop over the same file.

    python -m benchmarks.replay [--packets N] [--records N] [--scapy-packets N]
                                [--concurrent N] [--batch N]

The pcap holds N packets of 10-packet flows (benchmarks/synthetic.py); the flow log holds
N records of 10 packets each. scapy's `rdpcap` only reads (it decides nothing) and runs
at ~10^4 packets/s, so it is timed on the first packets of the same file and compared per
packet.

Concurrent (issue 11): --concurrent N packets of N/10 connections whose packets are
shuffled over the whole trace, so every connection is in flight from start to end and
each batch meets most of them again; replayed without outputs and with an output folder
(verdicts, flow logs per ENI), wall and CPU seconds; the flow log is replayed with
outputs too. Results go to benchmarks/results/replay.json."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import parser, write_result
from benchmarks.end_to_end import SETTINGS
from benchmarks.synthetic import packets, topology, write_trace
from netemu.apps.replay import replay
from netemu.io.flowlog_writer import HEADER
from netemu.io.pcap_writer import write_pcap


def timed(topo, path: Path, out: Path | None, batch: int) -> dict:
    """One replay: wall and CPU seconds, packets (or records) per second of each."""
    if out is not None and out.exists():
        shutil.rmtree(out)
    w, c = time.perf_counter(), time.process_time()
    s = replay(topo, [path], out, settings=SETTINGS, batch_size=batch)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    return {"packets": s.packets, "records": s.records, "flows": s.flows,
            "accepted": s.accepted, "seconds": wall, "cpu_seconds": cpu,
            "packets_per_s": s.packets / wall, "packets_per_cpu_s": s.packets / cpu,
            "records_per_s": s.records / wall, "records_per_cpu_s": s.records / cpu}


def concurrent(topo, tmp: Path, n: int, batch: int) -> dict:
    """n packets of n/10 connections shuffled over the whole trace (all in flight)."""
    pcap = tmp / "concurrent.pcap"
    b = packets(topo, n, 10, seed=0)
    write_pcap(pcap, (b[i:i + 262_144] for i in range(0, n, 262_144)), snaplen=96)
    del b
    return {"connections": -(-n // 10), "batch": batch, "cores": os.cpu_count(),
            "load_average": os.getloadavg()[0],
            "no_out": timed(topo, pcap, None, batch),
            "with_out": timed(topo, pcap, tmp / "out", batch)}


def flow_log(path: Path, records: int, topo) -> None:
    """`records` default-format records, 10 packets each, from the Hyperplane ENIs."""
    enis = [e.id for e in topo.enis.values() if e.kind == "lambda"]
    ips = [str(topo.enis[e].private_ip) for e in enis]
    rng = np.random.default_rng(0)
    k = np.arange(records)
    with open(path, "w") as f:
        f.write(HEADER + "\n")
        dst = 0xC6120000 + (k % 1000)
        sport = 1024 + (k // 1000) % 64000
        start = 1_700_000_000 + k // 1000
        for i in range(0, records, 100_000):
            j = slice(i, min(i + 100_000, records))
            f.writelines(
                f"2 123456789012 {enis[x % 2]} {ips[x % 2]} {d >> 24}.{(d >> 16) & 255}."
                f"{(d >> 8) & 255}.{d & 255} {sp} 443 6 10 {b} {st} {st + 5} ACCEPT OK\n"
                for x, d, sp, st, b in zip(k[j].tolist(), dst[j].tolist(), sport[j].tolist(),
                                           start[j].tolist(),
                                           rng.integers(400, 15000, len(k[j])).tolist(),
                                           strict=True))


def main(argv: list[str] | None = None) -> int:
    ap = parser("replay", __doc__)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--scapy-packets", type=int, default=20_000)
    ap.add_argument("--concurrent", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=65_536)
    args = ap.parse_args(argv)
    topo = topology()
    with tempfile.TemporaryDirectory() as tmp:
        pcap, log = Path(tmp) / "trace.pcap", Path(tmp) / "trace.log"
        write_trace(pcap, topo, args.packets)
        head = Path(tmp) / "head.pcap"
        write_trace(head, topo, args.scapy_packets)
        t = time.perf_counter()
        s = replay(topo, [pcap], settings=SETTINGS)
        t_pcap = time.perf_counter() - t
        from scapy.all import rdpcap  # the baseline only
        t = time.perf_counter()
        rdpcap(str(head))
        t_scapy = time.perf_counter() - t
        flow_log(log, args.records, topo)
        t = time.perf_counter()
        f = replay(topo, [log], settings=SETTINGS)
        t_log = time.perf_counter() - t
        log_out = timed(topo, log, Path(tmp) / "log-out", args.batch)
        conc = concurrent(topo, Path(tmp), args.concurrent, args.batch)
    result = {
        "pcap": {"packets": s.packets, "accepted": s.accepted, "seconds": t_pcap,
                 "packets_per_s": s.packets / t_pcap},
        "scapy_rdpcap": {"packets": args.scapy_packets, "seconds": t_scapy,
                         "packets_per_s": args.scapy_packets / t_scapy},
        "speedup_vs_rdpcap": (s.packets / t_pcap) / (args.scapy_packets / t_scapy),
        "flowlogs": {"records": f.records, "packets": f.packets, "accepted": f.accepted,
                     "seconds": t_log, "records_per_s": f.records / t_log,
                     "packets_per_s": f.packets / t_log},
        "flowlogs_with_out": log_out,
        "concurrent": conc,
    }
    print(f"pcap replay {result['pcap']['packets_per_s']:,.0f} packets/s (x"
          f"{result['speedup_vs_rdpcap']:.0f} rdpcap, which only reads); flow-log replay "
          f"{result['flowlogs']['records_per_s']:,.0f} records/s = "
          f"{result['flowlogs']['packets_per_s']:,.0f} packets/s")
    for k in ("no_out", "with_out"):
        c = conc[k]
        print(f"concurrent, {k}: {c['packets']:,} packets over {conc['connections']:,} "
              f"connections in batches of {args.batch:,}: {c['packets_per_s']:,.0f} "
              f"packets/s wall, {c['packets_per_cpu_s']:,.0f} per CPU second")
    print(f"flow-log replay with outputs: {log_out['records_per_s']:,.0f} records/s wall, "
          f"{log_out['records_per_cpu_s']:,.0f} per CPU second")
    print(f"wrote {write_result('replay', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

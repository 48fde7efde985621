"""Peak memory of a streamed replay: a pcap of 10,000,000 synthetic packets (10 per flow,
1,000,000 connections) replayed through the end-to-end topology by `netemu.apps.replay`,
which reads it in batches and never holds the trace whole.

    python -m benchmarks.memory [--packets N] [--batch N] [--concurrent] [--out]
                                [--trace PCAP]

--concurrent (issue 11): the packets of the N/10 connections are shuffled over the whole
trace, so all of them are in flight together; --out writes verdicts and flow logs per ENI
(to a temporary folder); --trace replays a pcap already written (taken as concurrent).

Peak resident memory is read from the kernel (ru_maxrss) in a fresh child process, so the
figure is the replay's alone; the baseline is the same child replaying a 1,000-packet
file (imports, topology, compiled dataplane)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import parser, write_result
from benchmarks.synthetic import packets, topology, write_trace
from netemu.io.pcap_writer import write_pcap

CHILD = """
import json, resource, sys, time
from pathlib import Path
from benchmarks.synthetic import topology
from benchmarks.end_to_end import SETTINGS
from netemu.apps.replay import replay
topo = topology()
out = Path(sys.argv[3]) if len(sys.argv) > 3 else None
t, c = time.perf_counter(), time.process_time()
s = replay(topo, [Path(sys.argv[1])], out, settings=SETTINGS, batch_size=int(sys.argv[2]))
seconds, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"packets": s.packets, "flows": s.flows, "accepted": s.accepted,
                  "seconds": seconds, "cpu_seconds": cpu,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(trace: Path, batch: int, out: Path | None = None) -> dict:
    argv = [sys.executable, "-c", CHILD, str(trace), str(batch)] + ([str(out)] if out else [])
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = parser("memory", __doc__)
    ap.add_argument("--packets", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=65_536)
    ap.add_argument("--concurrent", action="store_true")
    ap.add_argument("--out", action="store_true")
    ap.add_argument("--trace", type=Path)
    args = ap.parse_args(argv)
    topo = topology()
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "small.pcap", Path(tmp) / "big.pcap"
        write_trace(small, topo, 1000, args.batch)
        if args.trace:
            big = args.trace
        elif args.concurrent:
            b = packets(topo, args.packets, 10, seed=0)
            write_pcap(big, (b[i:i + 262_144] for i in range(0, len(b), 262_144)),
                       snaplen=96)
            del b
        else:
            write_trace(big, topo, args.packets, args.batch, snaplen=96)
        size = big.stat().st_size
        out = Path(tmp) / "out" if args.out else None
        base = child(small, args.batch, Path(tmp) / "small-out" if args.out else None)
        t = time.perf_counter()
        run = child(big, args.batch, out)
        run["wall_seconds"] = time.perf_counter() - t
        run["trace_bytes"] = size
    run["packets_per_s"] = run["packets"] / run["seconds"]
    run["packets_per_cpu_s"] = run["packets"] / run["cpu_seconds"]
    print(f"{run['packets']:,} packets streamed in batches of {args.batch:,}"
          f"{', connections shuffled over the trace' if args.concurrent else ''}"
          f"{', with outputs' if args.out else ''}: peak "
          f"{run['peak_rss_mb']:.0f} MB (baseline {base['peak_rss_mb']:.0f} MB), "
          f"{run['packets_per_s']:,.0f} packets/s")
    name = "memory" + ("_concurrent" if args.concurrent or args.trace else "") + (
        "_out" if args.out else "")
    path = write_result(name, {"batch": args.batch,
                               "concurrent": bool(args.concurrent or args.trace),
                               "outputs": args.out, "replay": run, "baseline": base,
                               "target_peak_mb": 1000 if args.out else 500})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

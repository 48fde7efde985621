"""Peak memory of a streamed replay: a pcap of 10,000,000 synthetic packets (10 per flow,
1,000,000 connections) replayed through the end-to-end topology by `netemu.apps.replay`,
which reads it in batches and never holds the trace whole.

    python -m benchmarks.memory [--packets N] [--batch N]

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
from benchmarks.synthetic import topology, write_trace

CHILD = """
import json, resource, sys, time
from pathlib import Path
from benchmarks.synthetic import topology
from benchmarks.end_to_end import SETTINGS
from netemu.apps.replay import replay
topo = topology()
t = time.perf_counter()
s = replay(topo, [Path(sys.argv[1])], settings=SETTINGS, batch_size=int(sys.argv[2]))
seconds = time.perf_counter() - t
print(json.dumps({"packets": s.packets, "flows": s.flows, "accepted": s.accepted,
                  "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(trace: Path, batch: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(trace), str(batch)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = parser("memory", __doc__)
    ap.add_argument("--packets", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=65_536)
    args = ap.parse_args(argv)
    topo = topology()
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "small.pcap", Path(tmp) / "big.pcap"
        write_trace(small, topo, 1000, args.batch)
        write_trace(big, topo, args.packets, args.batch, snaplen=96)
        size = big.stat().st_size
        base = child(small, args.batch)
        t = time.perf_counter()
        run = child(big, args.batch)
        run["wall_seconds"] = time.perf_counter() - t
        run["trace_bytes"] = size
    run["packets_per_s"] = run["packets"] / run["seconds"]
    print(f"{run['packets']:,} packets streamed in batches of {args.batch:,}: peak "
          f"{run['peak_rss_mb']:.0f} MB (baseline {base['peak_rss_mb']:.0f} MB), "
          f"{run['packets_per_s']:,.0f} packets/s")
    path = write_result("memory", {"batch": args.batch, "replay": run, "baseline": base,
                                   "target_peak_mb": 500})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

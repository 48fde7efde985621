"""Peak memory of a streamed replay: 10,000,000 synthetic packets (10 per flow) pushed
through the end-to-end topology in batches, the trace never held whole in memory.

    python -m benchmarks.memory [--packets N] [--batch N]

Peak resident memory is read from the kernel (ru_maxrss) in a fresh child process, so the
figure is this replay's alone; the baseline is the same child importing netemu and
building the topology without replaying anything."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from benchmarks.common import write_result

CHILD = """
import json, resource, sys, time
from benchmarks.synthetic import stream, topology
from benchmarks.end_to_end import SETTINGS
from netemu.dataplane.pipeline import Dataplane
total, batch = int(sys.argv[1]), int(sys.argv[2])
topo = topology()
dp = Dataplane(topo, SETTINGS)
done = delivered = 0
t = time.perf_counter()
for b in (stream(topo, total, 10, batch) if total else ()):
    dp.run_flows(b)
    done += len(b)
    delivered += int((b["status"] == 1).sum())
seconds = time.perf_counter() - t
print(json.dumps({"packets": done, "delivered": delivered, "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(total: int, batch: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(total), str(batch)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=262_144)
    args = ap.parse_args(argv)
    base = child(0, args.batch)
    t = time.perf_counter()
    run = child(args.packets, args.batch)
    run["wall_seconds"] = time.perf_counter() - t
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

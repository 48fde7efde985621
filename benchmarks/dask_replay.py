"""Replay on Dask (`netemu replay --engine dask`): 1 and 2 workers on this machine, and the
throughput a cluster of W workers would reach.

    python -m benchmarks.dask_replay [--packets N] [--workers 1,2] [--project 4,16,64]

The trace is benchmarks/synthetic.py's pcap of 10-packet TCP flows to many destinations,
replayed with --out (verdicts, flow logs, summary: what the merge must put together) by
the local engine and by a LocalCluster of 1 and 2 worker processes, one thread each, one
partition per worker. Every phase is timed: the driver reads and partitions the input
(serial), the workers replay their partitions, the driver merges and writes (the files
the local engine writes too). The projection for W workers keeps the serial phases as
measured (2-worker run) and divides the work by W at the per-worker rate of the 1-worker
run (one busy core, no contention):
    seconds(W) = read + partition + merge + write + overhead + packets / (rate x W)
beside the naive rate x W. Results go to benchmarks/results/dask_replay.json."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import parser, write_result
from benchmarks.end_to_end import SETTINGS
from benchmarks.synthetic import topology, write_trace
from netemu.apps.replay import replay


def _dask_run(topo, pcap: Path, out: Path, workers: int, partitions: int) -> dict:
    from dask.distributed import Client, LocalCluster

    from netemu.apps.replay_dask import replay_dask
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        replay_dask(topo, [pcap], scheduler=client, partitions=partitions,
                    settings=SETTINGS)                      # warm the workers' imports
        timings: dict = {}
        t = time.perf_counter()
        s = replay_dask(topo, [pcap], out, scheduler=client, partitions=partitions,
                        settings=SETTINGS, timings=timings)
        seconds = time.perf_counter() - t
    parts = timings.pop("partitions")
    work = sum(p["seconds"] for p in parts)
    return {"workers": workers, "partitions": partitions, "packets": s.packets,
            "accepted": s.accepted, "seconds": seconds, "packets_per_s": s.packets / seconds,
            "phases_s": timings, "worker_seconds_total": work,
            "worker_packets_per_s": s.packets / work,
            "largest_partition_share": max(p["packets"] for p in parts) / s.packets}


def main(argv: list[str] | None = None) -> int:
    ap = parser("dask_replay", __doc__)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--project", default="4,16,64")
    args = ap.parse_args(argv)
    topo = topology()
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "trace.pcap"
        write_trace(pcap, topo, args.packets)
        t = time.perf_counter()
        s = replay(topo, [pcap], Path(tmp) / "local", settings=SETTINGS)
        t_local = time.perf_counter() - t
        runs = [_dask_run(topo, pcap, Path(tmp) / f"dask{w}", w, w)
                for w in map(int, args.workers.split(","))]
    last = runs[-1]
    ph = last["phases_s"]
    serial = ph["read"] + ph["partition"] + ph["merge"] + ph["write"]
    overhead = max(0.0, last["seconds"] - serial - ph["compute"] - ph.get("connect", 0.0))
    rate = runs[0]["worker_packets_per_s"]
    projected = []
    for w in map(int, args.project.split(",")):
        secs = serial + overhead + last["packets"] / (rate * w)
        projected.append({"workers": w, "naive_packets_per_s": rate * w,
                          "packets_per_s": last["packets"] / secs,
                          "bound_by_serial_s": serial})
    result = {
        "conditions": {"packets": args.packets, "flows": args.packets // 10,
                       "batch": 65_536, "threads_per_worker": 1, "processes": True,
                       "partitions": "one per worker",
                       "outputs": "--out: verdicts.jsonl, flowlogs/, summary.json"},
        "local": {"packets": s.packets, "accepted": s.accepted, "seconds": t_local,
                  "packets_per_s": s.packets / t_local},
        "dask": runs,
        "serial_s": {"read": ph["read"], "partition": ph["partition"],
                     "merge": ph["merge"], "write": ph["write"], "overhead": overhead},
        "per_worker_packets_per_s": rate,
        "projected": projected,
    }
    for r in runs:
        print(f"dask {r['workers']} worker(s): {r['packets_per_s']:,.0f} packets/s "
              f"({r['worker_packets_per_s']:,.0f} per worker busy second)")
    print(f"local: {result['local']['packets_per_s']:,.0f} packets/s; projected "
          + ", ".join(f"{p['workers']} workers {p['packets_per_s']:,.0f}/s" for p in projected))
    print(f"wrote {write_result('dask_replay', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

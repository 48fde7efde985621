"""End-to-end throughput: 1,000,000 synthetic packets through execution environment ->
Hyperplane NAT -> ENI (50 SG rules) -> ACL (20 entries) -> router (100 routes) -> NAT
gateway -> internet gateway, at 1, 10 and 100 packets per flow.

    python -m benchmarks.end_to_end [--packets N] [--sample N]

Three ways over the same packets, in the same run:
- per flow (the fast path): each flow decided once by its first packet (`run_flows`);
- per packet: the whole batch pushed through the elements, every packet decided;
- one at a time: one-packet batches on a sample, what a per-packet emulator would do.
The Hyperplane ENI connection quota (65,000, L3) is raised for the run: a million flows
would otherwise be refused, which is a different measurement."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import parser, write_result
from benchmarks.synthetic import packets, topology
from netemu.dataplane.packet import DELIVERED
from netemu.dataplane.pipeline import Dataplane, Settings

SETTINGS = Settings(hyperplane_connections=10**9)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(n: int, per_flow: int, sample: int, repeat: int) -> dict:
    topo = topology()
    b = packets(topo, n, per_flow)
    times = []
    for _ in range(repeat):              # each on a fresh dataplane: no state carried over
        flows = b.copy()
        dp = Dataplane(topo, SETTINGS)
        times.append(_timed(lambda: dp.run_flows(flows)))      # noqa: B023
    t_flows = min(times)
    per_packet = b.copy()
    t_packets = _timed(lambda: Dataplane(topo, SETTINGS).run(per_packet))
    dp = Dataplane(topo, SETTINGS)
    one = b[:sample].copy()
    t_one = _timed(lambda: [dp.run(one[i:i + 1]) for i in range(len(one))])
    same = all((flows[c] == per_packet[c]).all() for c in ("status", "src", "sport", "at"))
    return {
        "packets": n, "packets_per_flow": per_flow, "flows": int(len(np.unique(b["flow"]))),
        "delivered": int((flows["status"] == DELIVERED).sum()),
        "per_flow": {"seconds": t_flows, "packets_per_s": n / t_flows, "repeat": repeat,
                     "timing": "best of repeat", "all_seconds": times},
        "per_packet": {"seconds": t_packets, "packets_per_s": n / t_packets},
        "one_at_a_time": {"sample": sample, "packets_per_s": sample / t_one},
        "speedup_vs_per_packet": t_packets / t_flows,
        "speedup_vs_one_at_a_time": (n / t_flows) / (sample / t_one),
        "same_fates_per_flow_and_per_packet": bool(same),
    }


def main(argv: list[str] | None = None) -> int:
    ap = parser("end_to_end", __doc__)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=2_000)
    ap.add_argument("--per-flow", type=int, nargs="*", default=[1, 10, 100])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    runs = []
    for per_flow in args.per_flow:
        r = measure(args.packets, per_flow, args.sample, args.repeat)
        runs.append(r)
        print(f"{per_flow:>4} packets/flow: per flow {r['per_flow']['packets_per_s']:>12,.0f}"
              f" pkt/s, per packet {r['per_packet']['packets_per_s']:>10,.0f} pkt/s, one at "
              f"a time {r['one_at_a_time']['packets_per_s']:>8,.0f} pkt/s, delivered "
              f"{r['delivered']:,}/{r['packets']:,}")
    path = write_result("end_to_end", {
        "path": "environment > Hyperplane NAT > ENI (50 SG rules) > ACL (20) > router (100 "
                "routes) > NAT gateway > internet gateway", "target_packets_per_s": 2_000_000,
        "runs": runs})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

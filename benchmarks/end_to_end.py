"""End-to-end throughput: 1,000,000 synthetic packets through execution environment ->
Hyperplane NAT -> ENI (50 SG rules) -> ACL (20 entries) -> router (100 routes) -> NAT
gateway -> internet gateway, at 1, 10 and 100 packets per flow.

    python -m benchmarks.end_to_end [--packets N] [--sample N]

Three ways over the same packets, in the same run:
- per flow (the fast path): each flow decided once by its first packet (`run_flows`);
- per packet: the whole batch pushed through the elements, every packet decided;
- the anchor, a plain-Python per-packet walk on a sample: tests/reference_walk.py (rules
  looped over with `ipaddress`, routes scanned for the longest prefix), each packet
  walked from its environment through Hyperplane NAT, its ENI's groups, the ACLs and route
  tables to the internet; its verdicts are checked against netemu's.
Decisions/s (a decision: one packet or flow judged on the whole path) stand beside
packets/s: the fast path decides once per flow, the others once per packet.
The Hyperplane ENI connection quota (65,000, L3) is raised for the run: a million flows
would otherwise be refused, which is a different measurement."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import parser, write_result
from benchmarks.synthetic import packets, topology
from netemu.dataplane.pipeline import Dataplane, Settings
from netemu.packet import DELIVERED

SETTINGS = Settings(hyperplane_connections=10**9)
TESTS = Path(__file__).resolve().parents[1] / "tests"


def reference_walk(topo, b: np.ndarray) -> tuple[np.ndarray, float]:
    """Walk each packet of `b` alone through tests/reference_walk.py; whether each was
    delivered, and the seconds the walks took."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    from reference_walk import IP, Drop, Pkt, Walker

    env_eni = {int(e.ip): topo.enis[e.eni] for e in topo.environments.values() if e.eni}
    rows = [(int(r["src"]), int(r["sport"]), int(r["dst"]), int(r["dport"]), int(r["proto"]))
            for r in b]
    delivered = np.zeros(len(rows), dtype=bool)
    t = time.perf_counter()
    walker = Walker(topo, None, None)
    for i, (src, sport, dst, dport, proto) in enumerate(rows):
        walker.routes, walker.final = 0, None
        try:
            walker.hyperplane_out(env_eni[src], Pkt(IP(src), sport, IP(dst), dport, proto))
            delivered[i] = True
        except Drop:
            pass
    return delivered, time.perf_counter() - t


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
    walked, t_walk = reference_walk(topo, b[:sample])
    agree = bool((walked == (per_packet["status"][:sample] == DELIVERED)).all())
    same = all((flows[c] == per_packet[c]).all() for c in ("status", "src", "sport", "at"))
    n_flows = int(len(np.unique(b["flow"])))
    return {
        "packets": n, "packets_per_flow": per_flow, "flows": n_flows,
        "delivered": int((flows["status"] == DELIVERED).sum()),
        "per_flow": {"seconds": t_flows, "packets_per_s": n / t_flows,
                     "decisions_per_s": n_flows / t_flows, "repeat": repeat,
                     "timing": "best of repeat", "all_seconds": times},
        "per_packet": {"seconds": t_packets, "packets_per_s": n / t_packets,
                       "decisions_per_s": n / t_packets},
        "reference_walk": {"method": "tests/reference_walk.py, one packet at a time in "
                           "plain Python", "sample": sample, "packets_per_s": sample / t_walk,
                           "decisions_per_s": sample / t_walk,
                           "agrees_with_netemu": agree},
        "speedup_vs_per_packet": t_packets / t_flows,
        "speedup_vs_reference_walk": (n / t_flows) / (sample / t_walk),
        "per_packet_speedup_vs_reference_walk": (n / t_packets) / (sample / t_walk),
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
              f" pkt/s ({r['per_flow']['decisions_per_s']:,.0f} decisions/s), per packet "
              f"{r['per_packet']['packets_per_s']:>10,.0f} pkt/s, plain-Python walk "
              f"{r['reference_walk']['packets_per_s']:>8,.0f} pkt/s (agrees: "
              f"{r['reference_walk']['agrees_with_netemu']}), delivered "
              f"{r['delivered']:,}/{r['packets']:,}")
        if not r["reference_walk"]["agrees_with_netemu"]:
            raise SystemExit("the reference walk and netemu disagree")
    path = write_result("end_to_end", {
        "path": "environment > Hyperplane NAT > ENI (50 SG rules) > ACL (20) > router (100 "
                "routes) > NAT gateway > internet gateway", "target_packets_per_s": 2_000_000,
        "runs": runs})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

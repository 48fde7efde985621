"""Scale simulation throughput: one simulated hour of 3 functions at 2,800 invocations/s
in all (about 10 million invocations, 20 million events: an arrival and a departure
each), against a plain per-event Python loop measured in the same run.

    python -m benchmarks.scale [--seconds S] [--rate R] [--baseline-seconds S]

netemu processes 1-second ticks with NumPy arrays (admission.py). Two baselines, timed
in the same run on the first minute of the same arrivals and compared per event:
- the per-event loop with the same rules (the simulation with every tick run invocation
  by invocation, `fast=False`): what a plain discrete-event simulator of this model costs;
  it must agree exactly with the vectorised run;
- a bare heap loop (a departure heap and one concurrency check per arrival, no rules,
  sorting not timed): the floor of any per-event Python loop.
Results go to benchmarks/results/scale.json."""

from __future__ import annotations

import heapq
import tempfile
import time
from pathlib import Path

from benchmarks.common import parser, write_result
from netemu.apps.scale import Settings
from netemu.apps.scale.load import build
from netemu.apps.scale.sim import Simulation
from netemu.io.yaml_loader import load_yaml

TOPO = """
vpc: bench
cidr: 10.0.0.0/16
subnets:
  app-a: {cidr: 10.0.0.0/20, az: us-east-1a}
  app-b: {cidr: 10.0.16.0/20, az: us-east-1b}
  app-c: {cidr: 10.0.32.0/20, az: us-east-1c}
security_groups:
  fn: {egress: ["all to 0.0.0.0/0"]}
functions:
  orders: {subnets: [app-a, app-b, app-c], security_groups: [fn], memory: 512}
  payments: {subnets: [app-a, app-b], security_groups: [fn], memory: 1024}
  search: {subnets: [app-b, app-c], security_groups: [fn], memory: 256}
"""
FUNCTIONS = ["orders", "payments", "search"]


def per_event_loop(invocations: dict, limit: int, until: float) -> tuple[int, float]:
    """The baseline: every arrival and departure handled one at a time."""
    events = sorted((float(a), fi, float(d)) for fi, fn in enumerate(FUNCTIONS)
                    for a, d in zip(invocations[fn].arrival.tolist(),
                                    invocations[fn].duration.tolist(), strict=True)
                    if a < until)
    t0 = time.perf_counter()
    heap: list[float] = []
    admitted = throttled = 0
    for t, _fi, d in events:
        while heap and heap[0] <= t:
            heapq.heappop(heap)
        if len(heap) >= limit:
            throttled += 1
            continue
        heapq.heappush(heap, t + d)
        admitted += 1
    elapsed = time.perf_counter() - t0
    return len(events) + admitted, elapsed       # arrivals + departures scheduled


def main(argv: list[str] | None = None) -> int:
    ap = parser("scale", __doc__)
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--rate", type=float, default=2800.0)
    ap.add_argument("--baseline-seconds", type=float, default=120.0)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t.yaml").write_text(TOPO)
        topo = load_yaml(Path(tmp) / "t.yaml")
    s = Settings()
    spec = f"constant:{args.rate / len(FUNCTIONS)}"
    t = time.perf_counter()
    inv, duration = build([spec], FUNCTIONS, "exp:0.25", args.seconds, s.tick, seed=0)
    t_load = time.perf_counter() - t
    n = sum(len(v) for v in inv.values())
    t = time.perf_counter()
    r = Simulation(topo, FUNCTIONS, inv, duration, s).run()
    t_sim = time.perf_counter() - t
    ok = r.summary["totals"]["ok"]
    events = n + ok                        # each arrival, and each admitted one's departure
    base_events, t_base = per_event_loop(inv, s.account_concurrency, args.baseline_seconds)
    # the same rules event by event on the first minute; and exactness against it
    head = {fn: type(v)(v.arrival[v.arrival < 60], v.duration[v.arrival < 60])
            for fn, v in inv.items()}
    fast = Simulation(topo, FUNCTIONS, head, 60.0, s).run()
    t = time.perf_counter()
    slow = Simulation(topo, FUNCTIONS, head, 60.0, s, fast=False).run()
    t_slow = time.perf_counter() - t
    slow_events = sum(len(v) for v in head.values()) + slow.summary["totals"]["ok"]
    exact = fast.summary["functions"] == slow.summary["functions"] and all(
        (fast.timeline[k] == slow.timeline[k]).all() for k in fast.timeline)
    result = {
        "simulated_seconds": duration, "functions": len(FUNCTIONS),
        "invocations": n, "ok": ok, "events": events,
        "load_seconds": t_load, "simulate_seconds": t_sim,
        "total_seconds": t_load + t_sim,
        "events_per_s": events / t_sim, "invocations_per_s": n / t_sim,
        "sequential_ticks": r.sequential_ticks,
        "per_event_same_rules": {"simulated_seconds": 60.0, "events": slow_events,
                                 "seconds": t_slow, "events_per_s": slow_events / t_slow,
                                 "projected_hour_seconds": events / (slow_events / t_slow)},
        "speedup_vs_per_event_same_rules": (events / t_sim) / (slow_events / t_slow),
        "bare_heap_loop": {"simulated_seconds": args.baseline_seconds,
                           "events": base_events, "seconds": t_base,
                           "events_per_s": base_events / t_base},
        "exact_vs_sequential_first_60s": bool(exact),
        "under_30_s": t_load + t_sim < 30.0,
    }
    print(f"{n:,} invocations ({events:,} events) in {duration:,.0f} simulated s: "
          f"{t_load + t_sim:.1f} s ({result['events_per_s']:,.0f} events/s); per-event "
          f"loop, same rules {result['per_event_same_rules']['events_per_s']:,.0f} events/s "
          f"(x{result['speedup_vs_per_event_same_rules']:.0f}); bare heap loop "
          f"{result['bare_heap_loop']['events_per_s']:,.0f} events/s; exact: {exact}")
    print(f"wrote {write_result('scale', result)}")
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Reachability: a function's full reach in a topology of 1,000 security-group and ACL
rules and 1,000 routes (benchmarks/load.py's generator), walked symbolically over the
element tables, against answering the same question by pushing concrete packets through
the dataplane.

    python -m benchmarks.reach [--repeat R]

The symbolic walk answers for every request at once (2^32 destinations x TCP, UDP, ICMP
x 65,536 ports x the client's ports). The dataplane decides per packet: the benchmark
times it on a batch of requests and their replies (drawn at random over the same space)
and reports the time per request and what enumerating one client port's requests (2^32
destinations x 65,536 ports x 2 protocols) would take at that rate.

Then who can reach a destination (`netemu reach --to` alone: every function, interface
and the internet, each walked to the destination over every protocol, port and client
port) in benchmarks/lint.py's 200-subnet topology (134 ENIs: 60 databases, 71 Hyperplane
ENIs of 24 functions, 3 NAT gateways), for the internet API everything calls and for a
database its groups admit from two functions; beside the dataplane answering the same
question packet by packet: timed on a random sample of those requests with their
replies, extrapolated to all of them (the formula is in the JSON).
Results go to benchmarks/results/reach.json."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import parser, write_result
from benchmarks.load import topology_yaml


def _requests_with_replies(topo, rng, src, dst, sport_lo, sport_hi) -> float:
    """Seconds the dataplane takes for these random requests and the replies of those
    delivered (the anchor: answering by enumerating concrete packets)."""
    from netemu.dataplane.pipeline import Dataplane
    from netemu.packet import ICMP, SYN, TCP, UDP, from_columns
    n = len(src)
    proto = rng.choice(np.array([TCP, UDP, ICMP]), n)
    b = from_columns(src=src, dst=dst,
                     sport=np.where(proto == ICMP, 8, rng.integers(sport_lo, sport_hi + 1, n)),
                     dport=np.where(proto == ICMP, 0, rng.integers(0, 65536, n)),
                     proto=proto, flags=np.where(proto == TCP, SYN, 0), length=60,
                     flow=np.arange(n))
    dp = Dataplane(topo)
    t0 = time.perf_counter()
    dp.run(b)
    dp.run(dp.replies(b, np.flatnonzero(b["status"] == 1)))
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = parser("reach", __doc__)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--packets", type=int, default=100_000)
    args = p.parse_args(argv)

    from netemu.apps.reach.query import Reach
    from netemu.io.load import load

    tmp = Path(tempfile.mkdtemp(prefix="netemu-bench-reach-"))
    path = tmp / "big.yaml"
    # the generator's ACL share rounds down: 1,300 asked gives ~1,300 SG and ACL rules
    path.write_text(topology_yaml(routes=1_000, rules=1_300))
    topo = load(path)
    rules = sum(len(g.ingress) + len(g.egress) for g in topo.security_groups.values()) + \
        sum(len(a.entries) for a in topo.network_acls.values())
    routes = sum(len(t.routes) for t in topo.route_tables.values())

    t0 = time.perf_counter()
    r = Reach(topo)
    graph_s = time.perf_counter() - t0
    walks, cold, answers = [], [], None
    for _ in range(args.repeat):
        r.walker.tables.clear()          # cold: the element tables read and compiled
        t0 = time.perf_counter()
        answers = r.reach("lambda:orders")
        cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()         # warm: the compiled tables kept (a second query)
        answers = r.reach("lambda:orders")
        walks.append(time.perf_counter() - t0)
    reached = sum(len(a.boxes()) for a in answers)

    # the dataplane, per concrete request and its reply
    rng = np.random.default_rng(0)
    n = args.packets
    src = np.repeat(np.array([int(a.source.ip) for a in answers], np.uint32),
                    n // len(answers) + 1)[:n]
    concrete_s = _requests_with_replies(topo, rng, src,
                                        rng.integers(0, 2**32, n, dtype=np.uint32), 1024, 65535)
    per_request = concrete_s / n
    space = 2**32 * 65536 * 2
    result = {
        "topology": {"rules": rules, "routes": routes, "subnets": len(topo.subnets),
                     "enis": len(topo.enis)},
        "graph_build_s": round(graph_s, 4),
        "reach_walk_s": {"median": round(statistics.median(walks), 4),
                         "min": round(min(walks), 4), "repeat": args.repeat},
        "reach_walk_cold_s": {"median": round(statistics.median(cold), 4),
                              "min": round(min(cold), 4)},
        "target_s": 0.05,
        "places": len(answers), "reached_boxes": reached,
        "dataplane": {"requests": n, "seconds_with_replies": round(concrete_s, 4),
                      "per_request_us": round(per_request * 1e6, 3),
                      "enumerate_one_client_port_years": round(
                          per_request * space / 3.15e7, 1)},
    }
    result["who_can_reach"] = who_can_reach(args.repeat, args.packets)
    result["load_average"] = round(os.getloadavg()[0], 2)   # other work
    out = write_result("reach", result)
    print(f"full reach of lambda:orders ({rules} rules, {routes} routes): "
          f"{result['reach_walk_s']['median'] * 1000:.1f} ms median after loading "
          f"({statistics.median(cold) * 1000:.1f} ms reading the tables too; graph "
          f"{graph_s * 1000:.0f} ms); dataplane {per_request * 1e6:.2f} us per "
          f"request with its reply: enumerating would take "
          f"{result['dataplane']['enumerate_one_client_port_years']:,} years -> {out}")
    return 0


def who_can_reach(repeat: int, packets: int) -> dict:
    import yaml

    from benchmarks.lint import generate
    from netemu.apps.reach.answers import who_reaches
    from netemu.apps.reach.query import PROTOCOLS, Reach, client_ports
    from netemu.apps.resolve import resolve_destination
    from netemu.io.load import load

    tmp = Path(tempfile.mkdtemp(prefix="netemu-bench-who-"))
    path = tmp / "lint200.yaml"
    path.write_text(yaml.safe_dump(generate(), sort_keys=False))
    topo = load(path)
    t0 = time.perf_counter()
    graph_r = Reach(topo)
    graph_s = time.perf_counter() - t0
    out = {"topology": {"subnets": len(topo.subnets), "enis": len(topo.enis),
                        "sources": len(graph_r.every_source())},
           "graph_build_s": round(graph_s, 4), "target_s": 1.0, "questions": {}}
    for dst in ("api.example.com", "host:db0"):
        cold, warm, rows = [], [], []
        for _ in range(repeat):
            r = Reach(topo, graph_r.graph)     # a fresh walker: tables read and compiled
            t0 = time.perf_counter()
            rows = who_reaches(r, dst, PROTOCOLS["all"], (0, 65535))
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            who_reaches(r, dst, PROTOCOLS["all"], (0, 65535))
            warm.append(time.perf_counter() - t0)
        # the same question packet by packet: every place of every source, to the
        # destination, every protocol, destination port and client port
        places = [(src, client_ports(topo, src)) for name in graph_r.every_source()
                  for src in graph_r.sources(name)]
        rng = np.random.default_rng(1)
        pick = rng.integers(0, len(places), packets)
        srcs, dsts, spans = [], [], []
        for i in pick:
            src, sp = places[int(i)]
            srcs.append(int(src.ip))
            dsts.append(int(resolve_destination(topo, dst, src).ip) if src.text != "internet"
                        else int(resolve_destination(topo, dst, None).ip))
            spans.append(sp)
        lo = np.array([s[0] for s in spans])
        hi = np.array([s[1] for s in spans])
        per = _requests_with_replies(topo, rng, np.array(srcs, np.uint32),
                                     np.array(dsts, np.uint32), lo, hi) / packets
        total = sum(2 * 65536 * (sp[1] - sp[0] + 1) + 1 for _, sp in places)
        out["questions"][dst] = {
            "places_reaching": len(rows), "sources_reaching": len({n for n, _ in rows}),
            "who_s": {"median": round(statistics.median(cold), 4),
                      "min": round(min(cold), 4), "repeat": repeat},
            "who_warm_s": {"median": round(statistics.median(warm), 4),
                           "min": round(min(warm), 4)},
            "dataplane": {
                "sample_requests": packets, "per_request_us": round(per * 1e6, 3),
                "requests_in_question": total,
                "formula": "sum over places of (2 protocols x 65,536 ports x client ports "
                           "+ 1 echo) x per_request_us",
                "enumerate_days": round(total * per / 86400, 1)}}
        q = out["questions"][dst]
        print(f"who reaches {dst} ({len(places)} places, {len(topo.enis)} ENIs): "
              f"{q['who_s']['median'] * 1000:.0f} ms median (best "
              f"{q['who_s']['min'] * 1000:.0f}) with the tables read, "
              f"{q['who_warm_s']['median'] * 1000:.0f} ms warm; {q['sources_reaching']} "
              f"sources; the dataplane at {per * 1e6:.2f} us per request would take "
              f"{q['dataplane']['enumerate_days']:,} days for all {total:.3g}")
    return out


if __name__ == "__main__":
    raise SystemExit(main())

"""ClassBench first-match: write per-header matches, or measure throughput.

    python -m benchmarks.classbench RULES [TRACE] --matches OUT   # one row index per line
    python -m benchmarks.classbench RULES [TRACE] [--bench]       # throughput, JSON result

Throughput compares, in one run: the compiled matcher on the whole trace; the naive
linear scan vectorised per rule over the batch (the brute force every answer is checked
against); and the compiled matcher called one packet at a time on a sample."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from benchmarks.common import parser, write_result
from netemu.dataplane.classify.first_match import FirstMatch, first_match_scan, headers
from netemu.errors import InputError
from netemu.io.classbench import load_filters, load_trace

COLS = ("src", "dst", "sport", "dport", "proto")


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench(rules: Path, trace: Path, repeat: int, sample: int) -> dict:
    t0 = time.perf_counter()
    table = load_filters(rules)
    batch, gen = load_trace(trace)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    fm = FirstMatch(table)
    t_build = time.perf_counter() - t0
    hdr = headers(*(batch[c] for c in COLS))
    n = len(batch)
    got = fm.match_headers(hdr)
    t_compiled = _best(lambda: fm.match_headers(hdr), repeat)
    t0 = time.perf_counter()
    ref = first_match_scan(table, *(batch[c] for c in COLS))
    t_scan = time.perf_counter() - t0
    one = hdr[:sample]
    t_single = _best(lambda: [fm.match_headers(one[i:i + 1]) for i in range(len(one))], 1)
    mismatches = int((got != ref).sum())
    return {
        "rules": str(rules), "trace": str(trace), "n_rules": len(table), "n_headers": n,
        "load_s": t_load, "build_s": t_build, "tree_nodes": fm.n_nodes, "tree_depth": fm.depth,
        "leaf_entries": fm.n_leaf_entries,
        "compiled_batch": {"seconds": t_compiled, "per_s": n / t_compiled,
                           "repeat": repeat, "timing": "best of repeat"},
        "naive_scan": {"method": "linear first-match scan, vectorised per rule over the "
                       "batch (packets leave the batch once matched)", "seconds": t_scan,
                       "per_s": n / t_scan},
        "compiled_per_packet": {"method": "compiled matcher on one-packet batches",
                                "sample": len(one), "per_s": len(one) / t_single},
        "speedup_vs_naive_scan": t_scan / t_compiled,
        "speedup_vs_per_packet": (n / t_compiled) / (len(one) / t_single),
        "exact_vs_brute_force": mismatches == 0, "mismatches": mismatches,
        "first_match_le_generating_rule": bool((got <= gen).all()),
        "no_match": int((got < 0).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = parser("classbench", __doc__)
    ap.add_argument("rules", type=Path)
    ap.add_argument("trace", type=Path, nargs="?")
    ap.add_argument("--matches", type=Path, help="write first-match row per header here")
    ap.add_argument("--bench", action="store_true", help="measure even with --matches")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sample", type=int, default=2000, help="packets for per-packet calls")
    ap.add_argument("--name", default="classbench", help="result file name")
    args = ap.parse_args(argv)
    trace = args.trace or Path(str(args.rules) + "_trace")
    try:
        if args.matches:
            table = load_filters(args.rules)
            batch, _ = load_trace(trace)
            rows = FirstMatch(table).match(*(batch[c] for c in COLS))
            args.matches.write_text("".join(f"{r}\n" for r in rows.tolist()))
        if args.bench or not args.matches:
            res = bench(args.rules, trace, args.repeat, args.sample)
            path = Path(__file__).resolve().parent / "results" / f"{args.name}.json"
            previous = {}
            if path.exists():
                import json
                previous = json.loads(path.read_text()).get("runs", {})
            previous[args.rules.name] = res
            write_result(args.name, {"runs": previous})
            print(f"{args.rules.name}: {res['n_rules']} rules, {res['n_headers']} headers, "
                  f"build {res['build_s']:.2f}s, compiled {res['compiled_batch']['per_s']:,.0f}/s"
                  f", naive scan {res['naive_scan']['per_s']:,.0f}/s "
                  f"(x{res['speedup_vs_naive_scan']:.0f}), per-packet "
                  f"{res['compiled_per_packet']['per_s']:,.0f}/s, exact "
                  f"{res['exact_vs_brute_force']}")
            if not res["exact_vs_brute_force"]:
                return 1
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

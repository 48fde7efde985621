"""ClassBench first-match: write per-header matches, or measure throughput.

    python -m benchmarks.classbench RULES [TRACE] --matches OUT   # one row index per line
    python -m benchmarks.classbench RULES [TRACE] [--bench]       # throughput, JSON result

Throughput compares, in one run: the compiled matcher on the whole trace; two brute
forces, each checked against the other and every answer of the compiled matcher checked
against them: a packets x rules matrix (NumPy broadcasting over a chunk of packets and
all rules, the first match by argmax: the honest naive anchor) and a linear scan, one
NumPy pass per rule over the packets not yet matched; and the compiled matcher called one
packet at a time on a sample."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import parser, write_result
from netemu.dataplane.classify.first_match import FirstMatch, first_match_scan, headers
from netemu.errors import InputError
from netemu.io.classbench import load_filters, load_trace
from netemu.rules import FIELDS

COLS = ("src", "dst", "sport", "dport", "proto")


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


MATRIX_CELLS = 1 << 18      # packets x rules per chunk: 256 KB booleans, cache-sized


def first_match_matrix(table, hdr: np.ndarray) -> np.ndarray:
    """Brute force as a plain matrix: for a chunk of packets, every (packet, rule) pair
    is compared at once, one field at a time into one boolean matrix; a packet's first
    match is the first True of its row (argmax), -1 where the row has none."""
    lo = np.stack([np.asarray(table.lo[f], np.uint32) for f in FIELDS])     # (5, rules)
    hi = np.stack([np.asarray(table.hi[f], np.uint32) for f in FIELDS])
    out = np.full(len(hdr), -1, dtype=np.int32)
    chunk = max(1, MATRIX_CELLS // max(lo.shape[1], 1))
    hit = np.empty((chunk, lo.shape[1]), dtype=bool)
    tmp = np.empty_like(hit)
    for start in range(0, len(hdr), chunk):
        p = hdr[start:start + chunk]
        h, t = hit[:len(p)], tmp[:len(p)]
        h[:] = True
        for f in range(len(FIELDS)):
            np.greater_equal(p[:, f, None], lo[f], out=t)
            h &= t
            np.less_equal(p[:, f, None], hi[f], out=t)
            h &= t
        first = h.argmax(axis=1)
        out[start:start + len(p)] = np.where(h[np.arange(len(p)), first], first, -1)
    return out


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
    t0 = time.perf_counter()
    ref_matrix = first_match_matrix(table, hdr)
    t_matrix = time.perf_counter() - t0
    one = hdr[:sample]
    t_single = _best(lambda: [fm.match_headers(one[i:i + 1]) for i in range(len(one))], 1)
    mismatches = int((got != ref).sum() + (got != ref_matrix).sum())
    return {
        "rules": str(rules), "trace": str(trace), "n_rules": len(table), "n_headers": n,
        "load_s": t_load, "build_s": t_build, "tree_nodes": fm.n_nodes, "tree_depth": fm.depth,
        "leaf_entries": fm.n_leaf_entries,
        "compiled_batch": {"seconds": t_compiled, "per_s": n / t_compiled,
                           "repeat": repeat, "timing": "best of repeat"},
        "naive_matrix": {"method": "packets x rules matrix by NumPy broadcasting, one "
                         f"field at a time, over chunks of {MATRIX_CELLS:,} cells, first "
                         "match by argmax",
                         "seconds": t_matrix, "per_s": n / t_matrix},
        "naive_scan": {"method": "linear first-match scan, vectorised per rule over the "
                       "batch (packets leave the batch once matched)", "seconds": t_scan,
                       "per_s": n / t_scan},
        "speedup_vs_naive_matrix": t_matrix / t_compiled,
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
                  f", naive matrix {res['naive_matrix']['per_s']:,.0f}/s "
                  f"(x{res['speedup_vs_naive_matrix']:.0f}), naive scan "
                  f"{res['naive_scan']['per_s']:,.0f}/s (x{res['speedup_vs_naive_scan']:.0f}),"
                  " per-packet "
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

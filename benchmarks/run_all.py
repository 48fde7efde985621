"""`make bench`: every benchmark in one run, then the table in benchmarks/README.md.

Each benchmark writes benchmarks/results/<name>.json (with the machine's CPU, Python and
NumPy versions); this script runs them in turn and renders the figures into the README
between its RESULTS markers. A failed exactness check fails the run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.common import DATA, RESULTS

HERE = Path(__file__).resolve().parent
SETS = ("acl1_1k", "fw1_1k", "acl2_10k", "fw1_10k")


def run(*args: str) -> None:
    print("$ python -m", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", *args], check=True, cwd=HERE.parent)


def main() -> int:
    classbench = DATA / "classbench"
    if classbench.is_dir():
        (RESULTS / "classbench.json").unlink(missing_ok=True)
        for name in SETS:
            run("benchmarks.classbench", str(classbench / name), "--repeat", "5")
    else:
        print(f"skipping ClassBench: {classbench} is absent")
    run("benchmarks.end_to_end")
    run("benchmarks.memory")
    run("benchmarks.ingest")
    run("benchmarks.replay")
    run("benchmarks.dask_replay")
    run("benchmarks.scale")
    run("benchmarks.lint")
    run("benchmarks.reach")
    run("benchmarks.load")
    run("benchmarks.cold_start")
    render()
    return 0


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def table() -> str:
    rows = []
    cb = _load("classbench")
    if cb:
        m = cb["machine"]
        rows.append(f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
                    f"NumPy {m['numpy']}.\n")
        rows.append("| ClassBench set | rules | build | compiled batch | packets x rules "
                    "matrix (anchor) | x matrix | scan per rule | one packet per call | "
                    "exact |")
        rows.append("|---|---|---|---|---|---|---|---|---|")
        for name, r in cb["runs"].items():
            matrix = r.get("naive_matrix", {}).get("per_s")
            rows.append(f"| {name} | {r['n_rules']:,} | {r['build_s']:.2f} s | "
                        f"{r['compiled_batch']['per_s']:,.0f}/s | "
                        + (f"{matrix:,.0f}/s | {r['speedup_vs_naive_matrix']:.0f} | "
                           if matrix else "| | ")
                        + f"{r['naive_scan']['per_s']:,.0f}/s | "
                        f"{r['compiled_per_packet']['per_s']:,.0f}/s | "
                        f"{'yes' if r['exact_vs_brute_force'] else 'NO'} |")
        rows.append("")
    e2e = _load("end_to_end")
    if e2e:
        rows.append("| end to end, packets per flow | per flow (fast path): packets/s "
                    "(decisions/s) | per packet | plain-Python walk (anchor) | x walk | "
                    "x per packet |")
        rows.append("|---|---|---|---|---|---|")
        for r in e2e["runs"]:
            walk = r.get("reference_walk") or r.get("one_at_a_time")
            rows.append(f"| {r['packets_per_flow']} | {r['per_flow']['packets_per_s']:,.0f}/s "
                        f"({r['per_flow'].get('decisions_per_s', 0):,.0f}/s) | "
                        f"{r['per_packet']['packets_per_s']:,.0f}/s | "
                        f"{walk['packets_per_s']:,.0f}/s | "
                        f"{r.get('speedup_vs_reference_walk', 0):,.0f} | "
                        f"{r['speedup_vs_per_packet']:.1f} |")
        rows.append("")
    mem = _load("memory")
    if mem:
        r = mem["replay"]
        rows.append(f"Streamed replay of {r['packets']:,} packets: peak "
                    f"{r['peak_rss_mb']:.0f} MB resident (a bare import and topology: "
                    f"{mem['baseline']['peak_rss_mb']:.0f} MB), {r['packets_per_s']:,.0f} "
                    "packets/s.\n")
    ing, rep = _load("ingest"), _load("replay")
    if ing or rep:
        rows.append("| trace | netemu | baseline | ratio |")
        rows.append("|---|---|---|---|")
    if ing:
        p, f = ing["pcap"], ing["flowlogs"]
        rows.append(f"| pcap ingest into batches | {p['netemu_packets_per_s']:,.0f} packets/s | "
                    f"scapy rdpcap {p['scapy_rdpcap_packets_per_s']:,.0f}/s | "
                    f"{p['speedup_vs_scapy']:.0f} |")
        if "struct_loop_packets_per_s" in p:
            rows.append(f"| | | plain struct loop {p['struct_loop_packets_per_s']:,.0f}/s | "
                        f"{p['speedup_vs_struct_loop']:.1f} |")
            rows.append(f"| | | dpkt {p['dpkt_packets_per_s']:,.0f}/s | "
                        f"{p['speedup_vs_dpkt']:.0f} |")
        rows.append(f"| flow-log ingest | {f['records_per_s']:,.0f} records/s | | |")
    if rep:
        rows.append(f"| pcap replay (read, decide, account) | "
                    f"{rep['pcap']['packets_per_s']:,.0f} packets/s | scapy rdpcap "
                    f"{rep['scapy_rdpcap']['packets_per_s']:,.0f}/s | "
                    f"{rep['speedup_vs_rdpcap']:.0f} |")
        rows.append(f"| flow-log replay | {rep['flowlogs']['records_per_s']:,.0f} records/s "
                    f"({rep['flowlogs']['packets_per_s']:,.0f} packets/s) | | |")
    rows += _load_rows() + _reach_lint_rows() + _cold_start_rows()
    return "\n".join(rows)


def _reach_lint_rows() -> list[str]:
    """Reach and lint, each beside answering the same question packet by packet through
    the dataplane in the same run."""
    reach, lint = _load("reach"), _load("lint")
    if not (reach or lint):
        return []
    rows = ["", "| question | netemu | target | anchor: the dataplane, packet by packet |",
            "|---|---|---|---|"]
    if reach:
        t, d = reach["topology"], reach["dataplane"]
        rows.append(f"| full reach of a function ({t['rules']:,} rules, {t['routes']:,} "
                    f"routes) | {reach['reach_walk_s']['median'] * 1e3:.0f} ms "
                    f"({reach['reach_walk_cold_s']['median'] * 1e3:.0f} ms reading the "
                    f"tables) | 50 ms | {d['per_request_us']:.1f} us per request: "
                    f"{d['enumerate_one_client_port_years']:,.0f} years for one client "
                    "port |")
        who = reach.get("who_can_reach")
        for dst, q in (who or {}).get("questions", {}).items():
            rows.append(f"| who reaches {dst} ({who['topology']['enis']} ENIs, "
                        f"{who['topology']['sources']} sources) | "
                        f"{q['who_s']['median'] * 1e3:.0f} ms, best "
                        f"{q['who_s']['min'] * 1e3:.0f} ms ({q['who_warm_s']['median'] * 1e3:.0f}"
                        f" ms warm) | 1 s | {q['dataplane']['per_request_us']:.1f} us "
                        f"per request: {q['dataplane']['enumerate_days']:,.0f} days for "
                        f"{q['dataplane']['requests_in_question']:.2g} requests |")
    if lint:
        n6 = lint["n6_boxes_vs_enumerated_packets"]
        rows.append(f"| lint of {lint['subnets']} subnets, {lint['verified']} fixes verified "
                    f"| {lint['lint_seconds_best']:.2f} s best of "
                    f"{len(lint['lint_seconds_all'])} | 2 s | N6 over {n6['crossings']} ACL "
                    f"crossings: boxes {n6['boxes_seconds'] * 1e3:.0f} ms, every reply port "
                    f"enumerated {n6['enumeration_seconds'] * 1e3:,.0f} ms |")
    return rows


def _load_rows() -> list[str]:
    r = _load("load")
    if not r:
        return []
    s, d = r["spread"], r["one_table_per_vpc"]
    return ["", f"Loading a YAML topology of {s['routes']:,} routes ({s['route_tables']} "
            f"tables) and {s['acl_entries'] + s['sg_rules']:,} rules ({s['network_acls']} ACLs,"
            f" {s['security_groups']} groups): {s['load_s']:.2f} s (target 1 s; the same "
            f"routes in one table per VPC: {d['load_s']:.2f} s); its Dataplane "
            f"{s['dataplane_build_s']:.2f} s. Scaling exponent from a tenth of the size: "
            f"load {r['scaling_exponent']['load_s']:.2f}, Dataplane "
            f"{r['scaling_exponent']['dataplane_build_s']:.2f} (1 = linear)."]


def _cold_start_rows() -> list[str]:
    r = _load("cold_start")
    if not r:
        return []
    w = r["wall"]
    rows = ["", f"| cold start, median of {r['runs']} (load average "
            f"{r['load_average']:.1f}) | wall | CPU |", "|---|---|---|"]
    for name, label in (("netemu trace", "`netemu trace` (lambda-nat-internet)"),
                        ("netemu trace, compiling netemu", "the same, netemu's bytecode "
                         "not cached"),
                        ("python -c pass", "anchor: `python -c pass`"),
                        ("import numpy", "anchor: `python -c 'import numpy'`"),
                        ("import numpy, one BLAS thread", "anchor: the same, one BLAS thread")):
        if name not in w:                       # results from before that row existed
            continue
        rows.append(f"| {label} | {w[name]['median_s']:.3f} s | "
                    f"{w[name]['cpu_median_s']:.3f} s |")
    return rows


def render() -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    begin, end = "<!-- RESULTS -->", "<!-- /RESULTS -->"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    readme.write_text(f"{head}{begin}\n{table()}\n{end}{tail}")
    print(f"updated {readme}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--render"]:
        render()
    else:
        raise SystemExit(main())

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
    run("benchmarks.scale")
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
        rows.append("| ClassBench set | rules | build | compiled batch | naive scan | x naive "
                    "| one packet per call | exact |")
        rows.append("|---|---|---|---|---|---|---|---|")
        for name, r in cb["runs"].items():
            rows.append(f"| {name} | {r['n_rules']:,} | {r['build_s']:.2f} s | "
                        f"{r['compiled_batch']['per_s']:,.0f}/s | {r['naive_scan']['per_s']:,.0f}"
                        f"/s | {r['speedup_vs_naive_scan']:.0f} | "
                        f"{r['compiled_per_packet']['per_s']:,.0f}/s | "
                        f"{'yes' if r['exact_vs_brute_force'] else 'NO'} |")
        rows.append("")
    e2e = _load("end_to_end")
    if e2e:
        rows.append("| end to end, packets per flow | per flow (fast path) | per packet | "
                    "one at a time | x per packet |")
        rows.append("|---|---|---|---|---|")
        for r in e2e["runs"]:
            rows.append(f"| {r['packets_per_flow']} | {r['per_flow']['packets_per_s']:,.0f}/s | "
                        f"{r['per_packet']['packets_per_s']:,.0f}/s | "
                        f"{r['one_at_a_time']['packets_per_s']:,.0f}/s | "
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
        rows.append(f"| flow-log ingest | {f['records_per_s']:,.0f} records/s | | |")
    if rep:
        rows.append(f"| pcap replay (read, decide, account) | "
                    f"{rep['pcap']['packets_per_s']:,.0f} packets/s | scapy rdpcap "
                    f"{rep['scapy_rdpcap']['packets_per_s']:,.0f}/s | "
                    f"{rep['speedup_vs_rdpcap']:.0f} |")
        rows.append(f"| flow-log replay | {rep['flowlogs']['records_per_s']:,.0f} records/s "
                    f"({rep['flowlogs']['packets_per_s']:,.0f} packets/s) | | |")
    return "\n".join(rows)


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

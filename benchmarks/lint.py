"""`netemu lint` on a generated 200-subnet topology (three AZs, a NAT gateway per AZ,
20 network ACLs of 12 rules, 40 security groups, 24 functions, 60 databases), from the
YAML file to every finding with its fix verified; and the ephemeral-range question (N6)
answered with boxes beside the same answer by enumerating every reply port through the
dataplane's classifier (they must agree).

    python -m benchmarks.lint [--repeat N]

The generated topology carries mistakes on purpose (shadowed ACL rules, redundant group
rules, an ACL without the low ephemeral ports, a cross-AZ NAT route, a function in one
AZ) so that the checks and their fix verification are timed, not only the clean paths.
Results go to benchmarks/results/lint.json."""

from __future__ import annotations

import ipaddress
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from benchmarks.common import parser, write_result
from netemu.apps.lint import lint_file
from netemu.apps.lint.acl_checks import EPHEMERAL, reply_acl_crossings
from netemu.apps.lint.boxes import FULL, acl_allowed, minus, ranges
from netemu.apps.lint.context import Context
from netemu.dataplane.classify.first_match import FirstMatch
from netemu.dataplane.compile_rules import compile_acl

AZS = ("us-east-1a", "us-east-1b", "us-east-1c")


def generate(subnets: int = 200, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    public = {f"pub-{i}": {"cidr": f"10.0.{i}.0/24", "az": AZS[i % 3], "route_table": "public"}
              for i in range(3)}
    acls = {}
    for a in range(20):
        inbound = [f"{100 + 10 * k} allow tcp {p} from 10.{a}.0.0/16"
                   for k, p in enumerate(rng.choice(range(1000, 9000), 8, replace=False))]
        inbound += ["200 allow tcp 1024-65535 from 0.0.0.0/0",
                    "210 allow tcp 5432 from 10.0.0.0/16",          # shadowed by 200
                    "220 deny tcp 3000-3100 from 10.0.0.0/8",       # shadowed (conflict)
                    "230 allow udp 53 from 10.0.0.0/16"]
        acls[f"acl-{a}"] = {"inbound": inbound,
                            "outbound": ["100 allow tcp 443 to 0.0.0.0/0",
                                         "110 allow tcp 5432 to 10.0.0.0/16",
                                         "120 allow tcp 1024-65535 to 10.0.0.0/16"]}
    acls["acl-5"]["inbound"][8] = "200 allow tcp 32768-65535 from 0.0.0.0/0"    # N6
    private = {f"priv-{i}": {"cidr": f"10.0.{i + 3}.0/24", "az": AZS[i % 3],
                             "route_table": f"private-{i % 3}", "acl": f"acl-{i % 20}"}
               for i in range(subnets - 3)}
    tables = {"public": {"0.0.0.0/0": "igw"},
              **{f"private-{k}": {"0.0.0.0/0": f"nat-{k}"} for k in range(3)}}
    tables["private-2"] = {"0.0.0.0/0": "nat-0"}                                 # G5
    sgs = {f"db-{g}": {"ingress": [f"tcp 5432 from sg:fn-{g}", f"tcp 5432 from sg:fn-{g + 8}",
                                   "tcp 5432 from 10.200.0.0/16",     # a peered network
                                   "tcp 5432 from 10.200.3.0/24"]}   # covered by the /16
           for g in range(16)}
    sgs.update({f"fn-{f}": {"egress": ["tcp 443 to 0.0.0.0/0", "tcp 5432 to 10.0.0.0/16",
                                       "udp 53 to 10.0.0.2/32"]} for f in range(24)})
    names = sorted(private)
    functions = {f"f{f}": {"subnets": [names[(3 * f + k) % len(names)] for k in range(3)],
                           "security_groups": [f"fn-{f}"]} for f in range(24)}
    functions["f0"]["subnets"] = ["priv-0", "priv-3"]                           # L7
    hosts = {f"db{h}": {"subnet": names[(7 * h) % len(names)], "kind": "rds",
                        "security_groups": [f"db-{h % 16}"],
                        "dns": f"db{h}.abc.us-east-1.rds.amazonaws.com"} for h in range(60)}
    return {"vpc": "bench", "cidr": "10.0.0.0/16", "internet_gateway": "igw",
            "subnets": {**public, **private}, "route_tables": tables,
            "nat_gateways": {f"nat-{k}": {"subnet": f"pub-{k}", "elastic_ip": f"54.0.0.{10 + k}"}
                             for k in range(3)},
            "network_acls": acls, "security_groups": sgs, "functions": functions,
            "hosts": hosts, "internet": {"api.example.com": "203.0.113.10"}}


def n6_both_ways(topo) -> dict:
    """The N6 question (which reply ports of 1024-65535 does each ACL crossing drop?)
    answered twice after the same dataplane walk: with boxes, as lint does, and by
    enumerating all 64,512 reply ports of every crossing through the dataplane's own
    vectorised first-match classifier. Both must find the same missing ports."""
    ctx = Context(topo)
    crossings = {(acl, egress, peer, p.proto) for fn in ctx.vpc_functions()
                 for p in ctx.paths(fn) for acl, egress, peer in reply_acl_crossings(ctx, fn, p)}
    t0 = time.perf_counter()
    by_boxes = 0
    for acl_id, egress, peer, proto in crossings:
        ip = int(ipaddress.IPv4Address(peer))
        box = ((ip, ip), (proto, proto), FULL[2], EPHEMERAL)
        entries = tuple(sorted(topo.network_acls[acl_id].direction(egress),
                               key=lambda e: e.number))
        by_boxes += sum(hi - lo + 1 for lo, hi in ranges(
            minus([box], acl_allowed(entries, box)), "dport"))
    boxes_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ports = np.arange(EPHEMERAL[0], EPHEMERAL[1] + 1).astype(np.uint16)
    n = len(ports)
    by_packets = 0
    for acl_id, egress, peer, proto in crossings:
        acl = compile_acl(topo.network_acls[acl_id].entries, egress)
        ip = np.full(n, int(ipaddress.IPv4Address(peer)), dtype=np.uint32)
        rows = FirstMatch(acl.table).match(ip, ip, np.zeros(n, np.uint16), ports,
                                           np.full(n, proto, np.uint8))
        rule = np.where(rows >= 0, acl.table.rule[np.maximum(rows, 0)], -1)
        by_packets += int((~np.array(acl.allow + (False,))[rule]).sum())
    return {"crossings": len(crossings), "missing_ports": by_boxes,
            "boxes_seconds": boxes_s, "enumeration_seconds": time.perf_counter() - t0,
            "agree": by_boxes == by_packets}


def main() -> int:
    args = parser("lint", __doc__)
    args.add_argument("--repeat", type=int, default=3)
    opts = args.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(generate(), sort_keys=False))
        times, findings = [], []
        for _ in range(opts.repeat):
            t0 = time.perf_counter()
            topo, findings = lint_file(path)
            times.append(time.perf_counter() - t0)
        n6 = n6_both_ways(topo)
    by_code: dict[str, int] = {}
    for f in findings:
        by_code[f.code] = by_code.get(f.code, 0) + 1
    result = {
        "subnets": len(topo.subnets), "functions": len(topo.functions),
        "acl_rules": sum(len(a.entries) for a in topo.network_acls.values()),
        "sg_rules": sum(len(s.ingress) + len(s.egress) for s in topo.security_groups.values()),
        "findings": by_code,
        "verified": sum(f.fix_status == "verified" for f in findings),
        "lint_seconds_best": min(times), "lint_seconds_all": times,
        "target_seconds": 2.0, "under_target": min(times) < 2.0,
        "n6_boxes_vs_enumerated_packets": n6,
        "load_average": round(os.getloadavg()[0], 2),   # other work running
    }
    out = write_result("lint", result)
    print(f"lint of {result['subnets']} subnets: {min(times):.2f} s best of {opts.repeat} "
          f"({len(findings)} findings, {result['verified']} fixes verified); N6 over "
          f"{n6['crossings']} crossings: boxes {n6['boxes_seconds'] * 1e3:.1f} ms, "
          f"enumerated {n6['enumeration_seconds'] * 1e3:.0f} ms; wrote {out}")
    return 0 if n6["agree"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

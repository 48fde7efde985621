"""Topology loading at scale: a generated YAML topology of 10,000 routes and 10,000 rules
loaded by `netemu.io.load.load`, and the Dataplane built from it.

    python -m benchmarks.load [--routes N] [--rules N] [--repeat R] [--write FILE]

The shape is that of a big account, not one giant table: AWS caps a route table at 50
routes by default (1,000 on request), a network ACL at 20 rules per direction by default
(40 at most) and a security group at 60 rules per direction, so the rules and routes are
spread over many tables, ACLs and groups:
- 4 VPCs (10.V.0.0/16), the first peered with the three others;
- per VPC: 25 route tables of routes/100 routes each (a default route to the NAT
  gateway or the internet gateway, the rest /24s to the peering, a host's ENI or a
  blackhole), 50 subnets spread over them;
- per VPC: 25 network ACLs of 20 inbound and 20 outbound numbered rules (4,000 rules);
- per VPC: 100 security groups sharing the other 6,000 rules, a third of them naming
  another group (`sg:`), used by one host each.
Loading scales linearly when no check compares every pair; the benchmark loads a tenth
of the size too, so the exponent shows (1.0 = linear, 2.0 = quadratic).
Results go to benchmarks/results/load.json."""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import parser, write_result

VPCS = 4
TABLES = 25         # route tables per VPC
SUBNETS = 50        # per VPC, /24s
ACLS = 25           # per VPC
ACL_RULES = 20      # per direction
GROUPS = 100        # security groups per VPC


def topology_yaml(routes: int = 10_000, rules: int = 10_000, tables: int = TABLES) -> str:
    """The YAML text of a topology with `routes` routes and `rules` ACL and SG rules, the
    routes spread over `tables` route tables per VPC."""
    per_table = max(routes // (VPCS * tables), 1)
    acls = min(ACLS, max(rules * 4 // 10 // (VPCS * 2 * ACL_RULES), 1))
    sg_rules = rules - VPCS * acls * 2 * ACL_RULES
    per_group = max(sg_rules // (VPCS * GROUPS), 1)
    out = ["vpcs:"]
    for v in range(VPCS):
        vpc = f"v{v}"
        out += [f"  {vpc}:", f"    cidr: 10.{v}.0.0/16", f"    internet_gateway: igw-{v}",
                "    nat_gateways:",
                f"      nat-{v}: {{subnet: {vpc}-s0, elastic_ip: 54.0.{v}.10}}",
                "    subnets:"]
        out += [f"      {vpc}-s{s}: {{cidr: 10.{v}.{s}.0/24, az: us-east-1{'abc'[s % 3]}, "
                f"route_table: {vpc}-rt{s % tables}, acl: {vpc}-acl{s % acls}}}"
                for s in range(SUBNETS)]
        out.append("    route_tables:")
        pcx = f"pcx-{v}" if v else "pcx-1"
        for t in range(tables):
            out.append(f"      {vpc}-rt{t}:")
            out.append(f"        0.0.0.0/0: {'igw-' if t == 0 else 'nat-'}{v}")
            for r in range(per_table - 1):
                # /24s outside every VPC, distinct within the table
                dest = f"{100 + r // 256}.{r % 256}.{t}.0/24"
                target = (pcx, f"h{v}-{r % GROUPS}", "blackhole")[r % 3]
                out.append(f"        {dest}: {target}")
        out.append("    network_acls:")
        for a in range(acls):
            out.append(f"      {vpc}-acl{a}:")
            for direction, word in (("inbound", "from"), ("outbound", "to")):
                out.append(f"        {direction}:")
                out += [f'          - "{100 + 10 * i} {"deny" if i % 5 == 4 else "allow"} '
                        f'tcp {1000 + i}-{2000 + i} {word} 10.{(a + i) % 200}.0.0/16"'
                        for i in range(ACL_RULES)]
        out.append("    security_groups:")
        for g in range(GROUPS):
            out.append(f"      {vpc}-sg{g}:")
            n_in = per_group - per_group // 3
            ing = [f"sg:{vpc}-sg{(g + i) % GROUPS}" if i % 3 == 2 else
                   f"172.{16 + i % 16}.{g}.0/24" for i in range(n_in)]
            out.append("        ingress:")
            out += [f'          - "tcp {1 + i} from {peer}"' for i, peer in enumerate(ing)]
            out.append("        egress:")
            out += [f'          - "udp {1 + i} to 192.168.{i % 256}.0/24"'
                    for i in range(per_group - n_in)]
    out.append("peerings:")
    out += [f"  pcx-{v}: {{requester: v0, accepter: v{v}}}" for v in range(1, VPCS)]
    out.append("hosts:")
    out += [f"  h{v}-{g}: {{subnet: v{v}-s{1 + g % (SUBNETS - 1)}, "
            f"security_groups: [v{v}-sg{g}]}}" for v in range(VPCS) for g in range(GROUPS)]
    out += ["functions:", "  orders: {subnets: [v0-s1, v0-s2], security_groups: [v0-sg0]}",
            "internet:", "  api.example.com: 203.0.113.10", ""]
    return "\n".join(out)


def _time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def measure(routes: int, rules: int, repeat: int, tmp: Path, tables: int = TABLES,
            dataplane: bool = True) -> dict:
    import netemu
    from netemu.dataplane.pipeline import Dataplane

    path = tmp / f"topology-{routes}-{rules}-{tables}.yaml"
    path.write_text(topology_yaml(routes, rules, tables))
    load_s, topo = _time(lambda: netemu.load(path), repeat)
    out = {"routes": sum(len(rt.routes) for rt in topo.route_tables.values()),
           "acl_entries": sum(len(a.entries) for a in topo.network_acls.values()),
           "sg_rules": sum(len(g.ingress) + len(g.egress)
                           for g in topo.security_groups.values()),
           "route_tables": len(topo.route_tables), "network_acls": len(topo.network_acls),
           "security_groups": len(topo.security_groups), "subnets": len(topo.subnets),
           "enis": len(topo.enis), "bytes": path.stat().st_size, "load_s": load_s}
    if dataplane:
        out["dataplane_build_s"] = _time(lambda: Dataplane(topo), 1)[0]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = parser("load", __doc__)
    ap.add_argument("--routes", type=int, default=10_000)
    ap.add_argument("--rules", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", type=Path, help="write the generated YAML here and stop")
    ap.add_argument("--tables", type=int, default=TABLES, help="route tables per VPC "
                    "(with --write)")
    args = ap.parse_args(argv)
    if args.write:
        args.write.write_text(topology_yaml(args.routes, args.rules, args.tables))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        measure(args.routes // 10, args.rules // 10, 1, Path(tmp))     # imports, warm-up
        small = measure(args.routes // 10, args.rules // 10, args.repeat, Path(tmp))
        full = measure(args.routes, args.rules, args.repeat, Path(tmp))
        # the worst case: every route of a VPC in one table (past AWS's quota of
        # 1,000 routes per table, so only a stress test of the loader)
        dense = measure(args.routes, args.rules, args.repeat, Path(tmp), tables=1,
                        dataplane=False)
    size = (full["routes"] + full["sg_rules"] + full["acl_entries"]) / (
        small["routes"] + small["sg_rules"] + small["acl_entries"])
    exponent = {k: math.log(full[k] / small[k]) / math.log(size)
                for k in ("load_s", "dataplane_build_s")}
    write_result("load", {"spread": full, "spread_tenth": small, "one_table_per_vpc": dense,
                          "scaling_exponent": exponent, "target_load_s": 1.0})
    for name, r in (("tenth", small), ("spread", full), ("one table per VPC", dense)):
        dp = f", Dataplane {r['dataplane_build_s']:.2f} s" if "dataplane_build_s" in r else ""
        print(f"{name}: {r['routes']:,} routes in {r['route_tables']} tables, "
              f"{r['acl_entries']:,} ACL entries, {r['sg_rules']:,} SG rules "
              f"({r['bytes'] / 1e6:.1f} MB): load {r['load_s']:.2f} s{dp}")
    print(f"scaling exponent: load {exponent['load_s']:.2f}, Dataplane "
          f"{exponent['dataplane_build_s']:.2f} (1 = linear, 2 = quadratic)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

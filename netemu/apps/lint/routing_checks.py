"""Routes: a subnet using a NAT gateway of another AZ (G5), a NAT gateway in a subnet
without an internet route (G2), blackhole routes in use (R3)."""

from __future__ import annotations

from dataclasses import replace

from netemu.apps.fix import find_fix
from netemu.apps.fix_format import Change, FixText
from netemu.apps.lint import net
from netemu.apps.lint.apply import new_id
from netemu.apps.lint.context import finding_key, verify
from netemu.apps.lint.lambda_checks import _settle, _unfixed
from netemu.apps.lint.registry import Finding, check
from netemu.model.resources import IGW, NAT, NatGateway, Route, RouteTable


def _function_paths_from(ctx, subnet: str) -> list:
    return [p for f in net.functions_in(ctx.topo, subnet)
            for p in ctx.paths(ctx.topo.functions[f]) if ctx.ok(p)]


# ---- G5: a NAT gateway of another AZ ----------------------------------------------------
@check("NETEMU-G5", "warning", "Subnet routes to a NAT gateway in another Availability Zone",
       "G5", "L7")
def cross_az_nat(ctx):
    """One finding per route table and AZ whose subnets use a NAT gateway elsewhere."""
    topo = ctx.topo
    for rid in sorted(topo.route_tables):
        rt = topo.route_tables[rid]
        nats = {r.target for r in rt.routes if r.target_kind == NAT and not r.blackhole
                and r.target in topo.nat_gateways}
        users = [topo.subnets[s] for s in net.subnets_using(topo, rid)
                 if not any(n.subnet == s for n in topo.nat_gateways.values())]
        for az in sorted({s.az for s in users}):
            far = sorted(n for n in nats if topo.subnets[topo.nat_gateways[n].subnet].az != az)
            here = [s.id for s in users if s.az == az]
            if not far:
                continue
            nat_az = topo.subnets[topo.nat_gateways[far[0]].subnet].az
            f = Finding(
                "NETEMU-G5", "warning",
                f"subnet(s) {', '.join(map(ctx.show, here))} in {az} route through NAT "
                f"gateway {ctx.show(far[0])} in {nat_az} (route table {ctx.show(rid)})",
                [rid, *far, *here],
                f"G5: a NAT gateway is zonal; if {nat_az} fails, {az} loses egress too, and "
                "traffic crossing AZs is charged. Give each AZ its own NAT gateway and route "
                "table.", line=ctx.line(rid, "route_tables"), where=az)
            fixes = _same_az_fix(ctx, rt, az, here, far, len(here) == len(users))
            if not fixes:
                yield _no_fix(f, f"no public subnet in {az} to hold a NAT gateway: create "
                                 "one first")
            elif not ctx.settings.verify:
                yield _unfixed(f, fixes)
            else:
                paths = [p for s in here for p in _function_paths_from(ctx, s)]
                yield _settle(ctx, f, cross_az_nat, fixes, list(dict.fromkeys(paths)))


def _no_fix(f: Finding, note: str) -> Finding:
    f.fix_status, f.fix_note = "none", note
    return f


def _same_az_fix(ctx, rt, az: str, here: list[str], far: list[str], whole: bool) -> list:
    """Routes to the NAT gateway of the subnets' own AZ (made in a public subnet of the AZ
    if there is none): in the table itself when only that AZ uses it, else in a new table
    for that AZ's subnets."""
    topo = ctx.topo
    fixes, taken = [], set()
    mine = [n for n in net.public_nats(topo, rt.vpc, az) if topo.subnets[n.subnet].az == az]
    if mine:
        nat = mine[0]
    else:
        public = [s for s in sorted(topo.subnets) if topo.subnets[s].az == az
                  and topo.subnets[s].vpc == rt.vpc and net.is_public(topo, s)]
        if not public:
            return []
        nid = new_id(topo, f"nat-{az}")
        taken.add(nid)
        nat = NatGateway(nid, public[0], f"eni-{nid}",
                         topo.subnets[public[0]].cidr.network_address + 4,
                         net.free_public_ip(topo, set()))
        fixes.append(FixText(f"create NAT gateway {nid} with a new Elastic IP in public "
                             f"subnet {ctx.show(public[0])}",
                             Change("create-nat-gateway", nid, nat)))
    if whole:
        for r in rt.routes:
            if r.target in far:
                fixes.append(FixText(f"point route {r.dest_text} of route table "
                                     f"{ctx.show(rt.id)} at {ctx.show(nat.id)} ({az})",
                                     Change("add-route", rt.id, replace(r, target=nat.id))))
        return fixes
    rid = new_id(topo, f"{rt.id}-{az}", taken)
    routes = tuple(replace(r, target=nat.id) if r.target in far else r for r in rt.routes)
    fixes.append(FixText(f"create route table {rid} like {ctx.show(rt.id)} but through "
                         f"{ctx.show(nat.id)}",
                         Change("create-route-table", rid, RouteTable(rid, rt.vpc, routes))))
    for sid in here:
        fixes.append(FixText(f"associate subnet {ctx.show(sid)} with route table {rid}",
                             Change("associate-route-table", sid, rid)))
    return fixes


# ---- G2: NAT gateway without an internet route ------------------------------------------
@check("NETEMU-G2", "error", "NAT gateway in a subnet without an internet route", "G2")
def nat_without_igw(ctx):
    topo = ctx.topo
    for nid in sorted(topo.nat_gateways):
        nat = topo.nat_gateways[nid]
        if not nat.public or net.is_public(topo, nat.subnet):
            continue
        sn = topo.subnets[nat.subnet]
        users = sorted(s.id for s in topo.subnets.values()
                       if any(r.target == nid for r in topo.route_tables[s.route_table].routes))
        f = Finding(
            "NETEMU-G2", "error",
            f"NAT gateway {ctx.show(nid)} is in subnet {ctx.show(sn.id)}, whose route table "
            f"{ctx.show(sn.route_table)} does not send 0.0.0.0/0 to an internet gateway"
            + (f"; subnets {', '.join(map(ctx.show, users))} route through it" if users
               else ""), [nid, sn.id, sn.route_table],
            "G2: a public NAT gateway must sit in a subnet whose route table sends 0.0.0.0/0 "
            "to the internet gateway; in a private subnet it reaches nothing outside.",
            line=ctx.line(nid, "nat_gateways"))
        igw = topo.vpcs[sn.vpc].internet_gateway
        paths = [p for s in users for fn in net.functions_in(topo, s)
                 for p in ctx.paths(topo.functions[fn])]
        paths = [p for p in dict.fromkeys(paths) if _through(ctx, p, nid)]
        if igw is None:
            f.fix_note = f"VPC {sn.vpc} has no internet gateway: attach one first"
            yield f
            continue
        route = Route(net.ALL, igw, IGW)
        shared = [s for s in net.subnets_using(topo, sn.route_table) if s != sn.id]
        public = [s for s in sorted(topo.subnets) if topo.subnets[s].vpc == sn.vpc
                  and topo.subnets[s].az == sn.az and net.is_public(topo, s)]
        if public and (net.functions_in(topo, sn.id) or shared or any(
                r.target == nid for r in topo.route_tables[sn.route_table].routes)):
            fixes = _move_nat(ctx, nat, public[0], users)      # its subnet is private
        elif shared or any(r.target == nid for r in topo.route_tables[sn.route_table].routes):
            rid = new_id(topo, f"{sn.id}-public")
            local = tuple(r for r in topo.route_tables[sn.route_table].routes
                          if r.target_kind == "local")
            fixes = [FixText(f"create route table {rid} with 0.0.0.0/0 -> {ctx.show(igw)}",
                             Change("create-route-table", rid,
                                    RouteTable(rid, sn.vpc, local + (route,)))),
                     FixText(f"associate subnet {ctx.show(sn.id)} with route table {rid}",
                             Change("associate-route-table", sn.id, rid))]
        else:
            fixes = [FixText(f"add route 0.0.0.0/0 -> {igw} to route table "
                             f"{ctx.show(sn.route_table)}",
                             Change("add-route", sn.route_table, route))]
        yield _settle(ctx, f, nat_without_igw, fixes, paths) if ctx.settings.verify else \
            _unfixed(f, fixes)


def _move_nat(ctx, nat, subnet: str, users: list[str]) -> list:
    """A NAT gateway in its AZ's public subnet, and the routes to the old one moved to it
    (a NAT gateway cannot move: make a new one, then delete the old)."""
    topo = ctx.topo
    nid = new_id(topo, f"{nat.id}-public")
    new = NatGateway(nid, subnet, f"eni-{nid}", topo.subnets[subnet].cidr.network_address + 4,
                     net.free_public_ip(topo, set()))
    fixes = [FixText(f"create NAT gateway {nid} with a new Elastic IP in public subnet "
                     f"{ctx.show(subnet)}", Change("create-nat-gateway", nid, new))]
    for rid in sorted({topo.subnets[s].route_table for s in users}):
        for r in topo.route_tables[rid].routes:
            if r.target == nat.id:
                fixes.append(FixText(f"point route {r.dest_text} of route table "
                                     f"{ctx.show(rid)} at {nid}",
                                     Change("add-route", rid, replace(r, target=nid))))
    fixes.append(FixText(f"delete NAT gateway {ctx.show(nat.id)} (and release its Elastic "
                         "IP)", Change("delete-nat-gateway", nat.id)))
    return fixes


def _through(ctx, p, nat_id: str) -> bool:
    return any(h.resource == nat_id for h in ctx.request_hops(p))


# ---- R3: blackhole routes in use ---------------------------------------------------------
@check("NETEMU-R3", "warning", "Blackhole route in a route table in use", "R3")
def blackhole_routes(ctx):
    topo = ctx.topo
    for rid in sorted(topo.route_tables):
        rt = topo.route_tables[rid]
        users = net.subnets_using(topo, rid)
        if not users:
            continue
        for route in rt.routes:
            if not route.blackhole:
                continue
            hit = [p for s in users for fn in net.functions_in(topo, s)
                   for p in ctx.paths(topo.functions[fn]) if _dropped_by(ctx, p, rid)]
            hit = list(dict.fromkeys(hit))
            lacking = [w.split(":", 1)[0] for w in topo.warnings
                       if "not in the snapshot" in w.split(":", 1)[0] and any(
                           x and x in w.split(":", 1)[0] for x in (route.target,
                                                                    route.prefix_list))]
            if lacking:         # netemu made it a blackhole: the snapshot lacks its target
                yield Finding(
                    "NETEMU-R3", "warning",
                    f"route {route.dest_text} in route table {ctx.show(rid)} is a blackhole "
                    f"here because {lacking[0]}", [rid],
                    "R3: a route whose target is gone is a blackhole; netemu treats a target "
                    "the snapshot does not describe as gone, so what it finds behind this "
                    "route may differ from AWS.", line=ctx.line(rid, "route_tables"),
                    where=route.dest_text,
                    fix_note="collect the snapshot's missing output and lint again")
                continue
            f = Finding(
                "NETEMU-R3", "error" if hit else "warning",
                f"route {route.dest_text} in route table {ctx.show(rid)} is a blackhole "
                f"(its target {route.target} is gone); subnets "
                f"{', '.join(map(ctx.show, users))} use it"
                + (f"; it drops {', '.join(p.text for p in hit)}" if hit else ""),
                [rid],
                "R3: a route whose target is gone is a blackhole: matching packets are "
                "dropped (BAD_STATE_ROUTE), even where a less specific route would serve.",
                line=ctx.line(rid, "route_tables"), where=route.dest_text)
            if hit and ctx.settings.verify:
                r = ctx.trace(hit[0])
                fixes, _, note = find_fix(topo, r.subnets or [r])
                if not fixes or not all(getattr(x, "changes", ()) for x in fixes):
                    yield _unfixed(f, fixes) if fixes else _no_fix(f, note or "")
                    continue
                yield _settle(ctx, f, blackhole_routes, fixes, hit)
                continue
            fixes = [FixText(f"delete the blackhole route {route.dest_text} from route "
                             f"table {ctx.show(rid)} (less specific routes then apply)",
                             Change("delete-route", rid, route))]
            if not ctx.settings.verify:
                yield _unfixed(f, fixes)
                continue
            f.fixes = fixes
            f.fix_status, f.fix_note = verify(ctx, blackhole_routes, finding_key(f),
                                              [c for x in fixes for c in x.changes],
                                              finding=f)
            yield f


def _dropped_by(ctx, p, rid: str) -> bool:
    return any(why == "BAD_STATE_ROUTE" and at == rid for _, why, at in ctx.failures(p))

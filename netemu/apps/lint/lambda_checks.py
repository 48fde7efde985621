"""Lambda's own mistakes: a function in a public subnet (L4), in one AZ (L7), in subnets
too small for its Hyperplane ENIs (L2), a VPC over the Hyperplane ENI quota or a function
over its subnet and group limits (L8), an execution role without ENI permissions (L12)."""

from __future__ import annotations

from netemu.apps.fix_format import Change, FixText
from netemu.apps.lint import net
from netemu.apps.lint.apply import new_id, new_subnet
from netemu.apps.lint.context import complete, finding_key, verify
from netemu.apps.lint.registry import Finding, check
from netemu.model.resources import NAT, NatGateway, Route, RouteTable
from netemu.model.topology import MAX_FUNCTION_SGS, MAX_FUNCTION_SUBNETS


def _settle(ctx, finding: Finding, fn_check, fixes: list, paths) -> Finding:
    """Complete the fixes with trace's finder where a path still fails, then verify."""
    involved = {p.function for p in paths} | {r for r in finding.resources[:1]
                                               if r in ctx.topo.functions}
    fixes, fixed = complete(ctx, fixes, paths, involved)
    finding.fixes = fixes
    changes = [c for f in fixes for c in getattr(f, "changes", ())]
    finding.fix_status, finding.fix_note = verify(ctx, fn_check, finding_key(finding),
                                                  changes, paths, fixed=fixed,
                                                  finding=finding)
    return finding


# ---- L4 -------------------------------------------------------------------------------
@check("NETEMU-L4", "error", "Function in a public subnet expects the internet", "L4", "I1")
def public_subnet(ctx):
    for fn in ctx.vpc_functions():
        subnets, hit = set(), []
        for p in ctx.paths(fn):
            for subnet, why, _ in ctx.failures(p):
                if why == "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS":
                    subnets.add(subnet)
                    hit.append(p) if p not in hit else None
        if not subnets:
            continue
        shown = ", ".join(ctx.show(s) for s in sorted(subnets))
        f = Finding(
            "NETEMU-L4", "error",
            f"function {ctx.show(fn.id)} is in public subnet(s) {shown} (0.0.0.0/0 -> "
            f"internet gateway) and calls the internet: {', '.join(p.dst for p in hit)}",
            [fn.id, *sorted(subnets)],
            "L4: a Hyperplane ENI never has a public IPv4 address, so the internet gateway "
            "has nothing to translate the function's address to (I1); a function reaches "
            "the internet from private subnets routing 0.0.0.0/0 to a NAT gateway in a "
            "public subnet.", line=ctx.line(fn.id, "functions"))
        fixes = _private_subnets_fix(ctx, fn, sorted(subnets))
        yield _settle(ctx, f, public_subnet, fixes, hit) if ctx.settings.verify and fixes \
            else _unfixed(f, fixes)


def _private_subnets_fix(ctx, fn, public: list[str]) -> list:
    """Move the function from each public subnet to a private one of the same AZ: an
    existing subnet routing 0.0.0.0/0 to a NAT gateway, else a new one with a route
    table to a NAT gateway of the AZ (made in the public subnet if there is none)."""
    topo, vpc = ctx.topo, ctx.vpc_of(fn)
    fixes, taken_ids, taken_cidrs, tables, eips = [], set(), [], {}, set()
    subnets = list(fn.subnets)
    for sid in public:
        sn = topo.subnets[sid]
        private = next((s.id for s in sorted(topo.subnets.values(), key=_placement(topo))
                        if s.vpc == vpc and s.az == sn.az and net.routes_to_nat(topo, s.id)),
                       None)
        if private is None:
            nats = net.public_nats(topo, vpc, sn.az)
            nat = nats[0] if nats and topo.subnets[nats[0].subnet].az == sn.az else None
            if nat is None:
                nid = new_id(topo, f"nat-{sn.az}", taken_ids)
                taken_ids.add(nid)
                nat = NatGateway(nid, sid, f"eni-{nid}", sn.cidr.network_address + 4,
                                 net.free_public_ip(topo, eips))
                fixes.append(FixText(f"create NAT gateway {nid} with a new Elastic IP in "
                                     f"public subnet {ctx.show(sid)}",
                                     Change("create-nat-gateway", nid, nat)))
            if nat.id not in tables:
                rid = new_id(topo, f"{fn.id}-private-{sn.az}-rt", taken_ids)
                taken_ids.add(rid)
                local = tuple(r for r in topo.route_tables[sn.route_table].routes
                              if r.target_kind == "local")
                rt = RouteTable(rid, vpc, local + (Route(net.ALL, nat.id, NAT),))
                tables[nat.id] = rt
                fixes.append(FixText(f"create route table {rid} with 0.0.0.0/0 -> "
                                     f"{ctx.show(nat.id)}", Change("create-route-table", rid,
                                                                    rt)))
            new = new_subnet(topo, sn, sn.az, new_id(topo, f"{fn.id}-private-{sn.az}",
                                                     taken_ids), tables[nat.id].id,
                             taken=tuple(taken_cidrs))
            taken_ids.add(new.id)
            taken_cidrs.append(new.cidr)
            fixes.append(FixText(f"create private subnet {new.id} ({new.cidr}, {new.az}) "
                                 f"using route table {new.route_table} and network ACL "
                                 f"{ctx.show(new.acl)}", Change("create-subnet", new.id, new)))
            private = new.id
        subnets = [private if s == sid else s for s in subnets]
    subnets = list(dict.fromkeys(subnets))
    fixes.append(FixText(f"set function {fn.id}'s subnets to {', '.join(subnets)}",
                         Change("update-function-subnets", fn.id, tuple(subnets))))
    return fixes


def _placement(topo):
    """Subnets for functions first: those other functions use, then those holding no
    instance or database."""
    def key(s):
        return (not net.functions_in(topo, s.id), any(
            e.subnet == s.id and e.kind != "lambda" for e in topo.enis.values()), s.id)
    return key


def _unfixed(f: Finding, fixes: list) -> Finding:
    f.fixes = fixes
    f.fix_status = "unverified" if fixes else "none"
    f.fix_note = "not verified" if fixes else f.fix_note
    return f


# ---- L7 -------------------------------------------------------------------------------
@check("NETEMU-L7", "warning", "Function subnets all in one Availability Zone", "L7", "G5")
def one_az(ctx):
    for fn in ctx.vpc_functions():
        azs = {ctx.topo.subnets[s].az for s in fn.subnets}
        if len(azs) > 1:
            continue
        az = next(iter(azs))
        f = Finding(
            "NETEMU-L7", "warning",
            f"function {ctx.show(fn.id)} runs only in {az} (subnets "
            f"{', '.join(ctx.show(s) for s in fn.subnets)})", [fn.id, *fn.subnets],
            "L7: the function runs in the Availability Zones of its subnets; an outage of "
            f"{az} takes away every execution environment. AWS recommends subnets in at "
            "least two AZs.", line=ctx.line(fn.id, "functions"))
        like = ctx.topo.subnets[fn.subnets[0]]
        other = net.next_az(ctx.topo, like.vpc, azs)
        fixes = []
        same = _twin(ctx.topo, like, azs)
        other = ctx.topo.subnets[same].az if same else other
        if same is None:
            try:
                sn = new_subnet(ctx.topo, like, other, new_id(ctx.topo, f"{fn.id}-{other}"))
            except Exception:       # noqa: BLE001 - no room: say so, no fix
                f.fix_note = f"no free block in VPC {like.vpc} for a subnet in {other}"
                yield f
                continue
            fixes.append(FixText(f"create subnet {sn.id} ({sn.cidr}, {other}) using route "
                                 f"table {ctx.show(sn.route_table)} and network ACL "
                                 f"{ctx.show(sn.acl)}", Change("create-subnet", sn.id, sn)))
            same = sn.id
        subnets = (*fn.subnets, same)
        fixes.append(FixText(f"add subnet {same} ({other}) to function {fn.id}",
                             Change("update-function-subnets", fn.id, subnets)))
        paths = [p for p in ctx.paths(fn) if ctx.ok(p)]
        yield _settle(ctx, f, one_az, fixes, paths) if ctx.settings.verify else \
            _unfixed(f, fixes)


def _twin(topo, like, azs: set[str]) -> str | None:
    """A subnet of another AZ like `like`: same ACL, its default route to the same kind
    of target (a NAT gateway of its own AZ for a private subnet), nothing but ENIs of
    Lambda and hosts in it; the same route table first."""
    want = net.default_route(topo, like.route_table)

    def fits(s) -> bool:
        r = net.default_route(topo, s.route_table)
        if s.vpc != like.vpc or s.az in azs or s.acl != like.acl or \
                any(n.subnet == s.id for n in topo.nat_gateways.values()):
            return False
        if want is None or r is None:
            return want is None and r is None
        if r.target_kind != want.target_kind or r.blackhole:
            return False
        return r.target_kind != NAT or topo.subnets[topo.nat_gateways[r.target].subnet].az \
            == s.az
    found = sorted((s.route_table != like.route_table, s.id)
                   for s in topo.subnets.values() if fits(s))
    return found[0][1] if found else None


# ---- L2: addresses for Hyperplane ENIs ---------------------------------------------------
@check("NETEMU-L2", "warning", "Subnet too small for the Hyperplane ENIs of its functions",
       "L2", "L3", "L8")
def subnet_capacity(ctx):
    topo = ctx.topo
    for sid in sorted(topo.subnets):
        fns = [topo.functions[f] for f in net.functions_in(topo, sid)]
        if not fns:
            continue
        combos = {frozenset(f.security_groups) for f in fns}
        have = {frozenset(e.security_groups) for e in net.hyperplane_enis(topo, sid)}
        missing = len(combos - have)
        need = len(combos) + missing       # each ENI made, plus room for one more each
        free = net.free_addresses(topo, sid)
        if free >= need:
            continue
        sn = topo.subnets[sid]
        f = Finding(
            "NETEMU-L2", "error" if free < max(missing, 1) else "warning",
            f"subnet {ctx.show(sid)} ({sn.cidr}) has {free} free address(es) for "
            f"{len(combos)} Hyperplane ENI combination(s) of function(s) "
            f"{', '.join(f.id for f in fns)}: {need} needed", [sid, *(f.id for f in fns)],
            f"L2, L3: Lambda takes one address of the subnet per (subnet, security-group set) "
            f"and needs one more each to add an ENI past 65,000 connections or to replace "
            f"it when the configuration changes; a /{sn.cidr.prefixlen} has "
            f"{sn.cidr.num_addresses} addresses, 5 reserved. Out of addresses, updates and "
            "invocations fail with SubnetIPAddressLimitReachedException (L8).",
            line=ctx.line(sid, "subnets"))
        prefix = min(sn.cidr.prefixlen - 1, 24)
        try:
            big = new_subnet(topo, sn, sn.az, new_id(topo, f"{sid}-larger"), prefixlen=prefix)
        except Exception:       # noqa: BLE001 - no room in the VPC: no fix to offer
            f.fix_note = f"no free /{prefix} in VPC {sn.vpc} for a larger subnet"
            yield f
            continue
        fixes = [FixText(f"create subnet {big.id} ({big.cidr}, {big.az}) like {sid}",
                         Change("create-subnet", big.id, big))]
        for fn in fns:
            fixes.append(FixText(f"move function {fn.id} from {sid} to {big.id}", Change(
                "update-function-subnets", fn.id,
                tuple(big.id if s == sid else s for s in fn.subnets))))
        paths = [p for fn in fns for p in ctx.paths(fn) if ctx.ok(p)]
        yield _settle(ctx, f, subnet_capacity, fixes, paths) if ctx.settings.verify else \
            _unfixed(f, fixes)


# ---- L8: the Hyperplane ENI quota, and a function's limits ------------------------------
@check("NETEMU-L8-QUOTA", "error", "VPC over the Hyperplane ENI quota", "L8", "L2")
def eni_quota(ctx):
    topo = ctx.topo
    for vpc in sorted(topo.vpcs):
        enis = {(e.subnet, frozenset(e.security_groups)) for e in topo.enis.values()
                if e.kind == "lambda" and topo.subnets[e.subnet].vpc == vpc}
        enis |= {(s, frozenset(f.security_groups)) for f in topo.functions.values()
                 for s in f.subnets if topo.subnets[s].vpc == vpc}
        quota = ctx.settings.eni_quota
        if len(enis) <= quota:
            continue
        yield Finding(
            "NETEMU-L8-QUOTA", "error",
            f"VPC {ctx.show(vpc)} needs {len(enis)} Hyperplane ENIs (one per subnet and "
            f"security-group set); the quota is {quota}", [vpc],
            f"L8: Lambda's Hyperplane ENIs per VPC are limited ({quota} by default); past it "
            "function creation and updates fail with ENILimitReachedException. L2: functions "
            "sharing a (subnet, security-group set) share an ENI.",
            [FixText("let functions share subnet and security-group combinations, or "
                     "request a higher 'Elastic network interfaces per VPC' quota for Lambda "
                     "in Service Quotas")], "unverified",
            "a quota increase is not a configuration netemu can apply and "
            "trace", ctx.line(vpc, "vpcs"))


@check("NETEMU-L8-LIMITS", "error", "Function with more than 16 subnets or 5 security "
       "groups", "L8")
def function_limits(ctx):
    for fn, n_subnets, n_sgs in ctx.over_limits:
        over = []
        if n_subnets > MAX_FUNCTION_SUBNETS:
            over.append(f"{n_subnets} subnets (at most {MAX_FUNCTION_SUBNETS})")
        if n_sgs > MAX_FUNCTION_SGS:
            over.append(f"{n_sgs} security groups (at most {MAX_FUNCTION_SGS})")
        yield Finding(
            "NETEMU-L8-LIMITS", "error", f"function {fn} has {' and '.join(over)}", [fn],
            "L8: a function takes up to 16 subnets and 5 security groups; AWS refuses a "
            "larger VPC configuration (InvalidParameterValueException). netemu linted the "
            "rest with its first 16 subnets and 5 groups.",
            [FixText(f"give function {fn} at most {MAX_FUNCTION_SUBNETS} subnets and "
                     f"{MAX_FUNCTION_SGS} security groups (merge groups' rules)")],
            "unverified", "which subnets or groups to drop is a choice "
            "netemu cannot make for you", ctx.line(fn, "functions"))


# ---- L12 ------------------------------------------------------------------------------
@check("NETEMU-L12", "error", "Execution role without the ENI permissions", "L12", "L8")
def role_permissions(ctx):
    for fn in ctx.vpc_functions():
        if fn.role_can_manage_enis:
            continue
        f = Finding(
            "NETEMU-L12", "error",
            f"function {ctx.show(fn.id)} has VPC configuration but its execution role "
            "cannot manage network interfaces", [fn.id],
            "L12: the execution role needs ec2:CreateNetworkInterface, "
            "ec2:DescribeNetworkInterfaces and ec2:DeleteNetworkInterface (the managed "
            "policy AWSLambdaVPCAccessExecutionRole), or VPC configuration fails "
            "(EC2AccessDeniedException, L8) and the function has no Hyperplane ENI.",
            line=ctx.line(fn.id, "functions"))
        fixes = [FixText(f"attach AWSLambdaVPCAccessExecutionRole to function {fn.id}'s "
                         "execution role", Change("attach-vpc-access-policy", fn.id))]
        paths = [p for p in ctx.paths(fn)
                 if any(why == "LAMBDA_ENI_MISSING" for _, why, _ in ctx.failures(p))]
        yield _settle(ctx, f, role_permissions, fixes, paths) if ctx.settings.verify else \
            _unfixed(f, fixes)


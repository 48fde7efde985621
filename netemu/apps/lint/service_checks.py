"""AWS services and names: S3/DynamoDB through a NAT gateway where a gateway endpoint
would serve (E1), an interface endpoint without private DNS while the function calls the
public name (E2), custom DHCP DNS servers that cannot answer AWS names (D2)."""

from __future__ import annotations

import ipaddress

from netemu.apps.fix_format import Change, FixText
from netemu.apps.lint.context import GATEWAY_SERVICES
from netemu.apps.lint.lambda_checks import _settle, _unfixed
from netemu.apps.lint.registry import Finding, check
from netemu.model import aws_services
from netemu.model.resources import VPCE, Route, VpcEndpoint


def _through_nat(ctx, p) -> bool:
    return ctx.ok(p) and any(h.kind in ("nat-gateway", "nat-instance")
                             for h in ctx.request_hops(p))


# ---- E1 -------------------------------------------------------------------------------
@check("NETEMU-E1", "warning", "S3 or DynamoDB through a NAT gateway where a gateway "
       "endpoint would serve (cost)", "E1", "R5", "G1")
def gateway_endpoint(ctx):
    topo = ctx.topo
    for fn in ctx.vpc_functions():
        vpc = topo.vpcs[ctx.vpc_of(fn)]
        for p in ctx.paths(fn):
            if p.service not in GATEWAY_SERVICES or not _through_nat(ctx, p):
                continue
            pl = aws_services.gateway_prefix_list(vpc.region, p.service)
            r = ctx.trace(p)
            if pl is None or not any(ipaddress.IPv4Address(str(r.destination.ip)) in c
                                     for c in pl.cidrs):
                continue            # another Region's: a gateway endpoint would not serve
            tables = sorted({topo.subnets[s].route_table for s in fn.subnets})
            f = Finding(
                "NETEMU-E1", "warning",
                f"function {ctx.show(fn.id)} reaches {p.service} ({p.dst}) through a NAT "
                f"gateway; a gateway endpoint in VPC {ctx.show(vpc.id)} would carry it "
                "free of NAT processing charges", [fn.id, p.service],
                "E1: gateway endpoints for S3 and DynamoDB (same Region) are reached through "
                "their prefix-list route (R5) and cost nothing per GB; through a NAT gateway "
                "every GB is charged (G1).", line=ctx.line(fn.id, "functions"))
            have = next((e for e in sorted(topo.endpoints.values(), key=lambda e: e.id)
                         if e.vpc == vpc.id and e.kind == "gateway"
                         and aws_services.service_short_name(e.service) == p.service), None)
            if have is not None:
                fixes = [FixText(f"associate route table {ctx.show(rt)} with gateway "
                                 f"endpoint {ctx.show(have.id)}",
                                 Change("add-route", rt, Route(None, have.id, VPCE,
                                                               have.prefix_list)))
                         for rt in tables if have.id not in {
                             x.target for x in topo.route_tables[rt].routes}]
            else:
                ep_id = f"vpce-{p.service}-{vpc.id}"
                ep = VpcEndpoint(ep_id, vpc.id, f"com.amazonaws.{vpc.region}.{p.service}",
                                 "gateway", tuple(tables), pl.id)
                fixes = [FixText(f"create a gateway endpoint for {p.service} in VPC "
                                 f"{ctx.show(vpc.id)} for route table(s) {', '.join(tables)}",
                                 Change("create-gateway-endpoint", ep_id, ep))]
            yield _settle(ctx, f, gateway_endpoint, fixes, [p]) if ctx.settings.verify \
                and fixes else _unfixed(f, fixes)


# ---- E2 -------------------------------------------------------------------------------
@check("NETEMU-E2", "warning", "Interface endpoint without private DNS while the function "
       "calls the public name", "E2", "D1")
def endpoint_private_dns(ctx):
    topo = ctx.topo
    for fn in ctx.vpc_functions():
        vpc = topo.vpcs[ctx.vpc_of(fn)]
        for ep in sorted(topo.endpoints.values(), key=lambda e: e.id):
            if ep.vpc != vpc.id or ep.kind != "interface" or ep.private_dns:
                continue
            short = aws_services.service_short_name(ep.service)
            name = aws_services.service_dns_name(vpc.region, short)
            p = next((x for x in ctx.paths(fn) if x.dst == name), None)
            if p is None:
                continue
            works = ctx.ok(p)
            f = Finding(
                "NETEMU-E2", "warning" if works else "error",
                f"interface endpoint {ctx.show(ep.id)} ({short}) has private DNS off, so "
                f"function {ctx.show(fn.id)} calling {name} gets the public address and "
                + ("goes around the endpoint (through NAT)" if works else
                   "is dropped: " + _why(ctx, p)), [ep.id, fn.id],
                "E2: only with private DNS enabled (and the VPC's enableDnsSupport and "
                "enableDnsHostnames on) does the service's public name resolve to the "
                "endpoint's private addresses; without it the name resolves to public "
                "addresses that need a NAT gateway.", line=ctx.line(ep.id, "endpoints"))
            fixes = [FixText(f"enable private DNS on interface endpoint {ctx.show(ep.id)}",
                             Change("enable-private-dns", ep.id))]
            if not (vpc.enable_dns_support and vpc.enable_dns_hostnames):
                fixes.insert(0, FixText(f"turn on DNS support and DNS hostnames in VPC "
                                        f"{ctx.show(vpc.id)}", Change("enable-vpc-dns",
                                                                      vpc.id)))
            yield _settle(ctx, f, endpoint_private_dns, fixes, [p]) if ctx.settings.verify \
                else _unfixed(f, fixes)


def _why(ctx, p) -> str:
    fails = ctx.failures(p)
    if not fails:
        return "dropped"
    _, why, at = fails[0]
    return f"{why} at {ctx.show(at)}" if at else why


# ---- D2 -------------------------------------------------------------------------------
@check("NETEMU-D2", "error", "Custom DHCP DNS servers that cannot answer AWS names",
       "D2", "D1", "E2")
def custom_dns(ctx):
    topo = ctx.topo
    for vid in sorted(topo.vpcs):
        vpc = topo.vpcs[vid]
        amazon = {str(vpc.resolver_ip), "169.254.169.253"}
        if not vpc.custom_dns or all(s in amazon for s in vpc.dns_servers):
            continue
        private = {n for e in topo.endpoints.values() if e.vpc == vid and e.kind ==
                   "interface" and e.private_dns for n in e.dns_names}
        private |= {n for h in topo.hosts.values() if h.kind == "instance" and h.eni
                    and topo.subnets[topo.enis[h.eni].subnet].vpc == vid for n in h.dns}
        fns = [fn for fn in ctx.vpc_functions() if ctx.vpc_of(fn) == vid]
        paths = [p for fn in fns for p in ctx.paths(fn) if p.dst in private]
        if not paths:
            continue
        names = sorted({p.dst for p in paths})
        f = Finding(
            "NETEMU-D2", "error",
            f"VPC {ctx.show(vid)} hands out DNS servers {', '.join(vpc.dns_servers)}, which "
            f"cannot answer {', '.join(names)}, used by function(s) "
            f"{', '.join(sorted({p.function for p in paths}))}", [vid],
            "D2: a DHCP options set with custom domain-name-servers replaces the Amazon "
            "resolver for every ENI, Lambda's included; the private answers only the Amazon "
            "resolver gives (interface endpoints' private DNS, private host names, D1, E2) "
            "are then lost.", line=ctx.line(vid, "vpcs"))
        fixes = [FixText(f"associate VPC {ctx.show(vid)} with DHCP options whose "
                         "domain-name-servers is AmazonProvidedDNS (or have the custom "
                         f"servers forward to {vpc.resolver_ip})", Change("amazon-dns", vid))]
        yield _settle(ctx, f, custom_dns, fixes, paths) if ctx.settings.verify else \
            _unfixed(f, fixes)

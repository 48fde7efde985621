"""What every check shares: the topology, the YAML lines of its resources, the paths each
function uses (its destinations known from the topology), their traces (cached), and the
verification of a fix by running the check and `trace` again with the fix applied."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from netemu.apps.trace import TraceResult, trace
from netemu.errors import InputError
from netemu.model import aws_services
from netemu.model.resources import LambdaFunction
from netemu.model.topology import Topology
from netemu.packet import TCP, UDP, protocol_name

GATEWAY_SERVICES = ("s3", "dynamodb")


@dataclass(frozen=True)
class FnPath:
    """A destination a function uses: `dst` as `trace --to` takes it."""
    function: str
    dst: str
    proto: int
    port: int
    why: str                          # where the topology says the function uses it
    service: str | None = None        # the AWS service (short name) when it is one

    @property
    def text(self) -> str:
        return f"lambda:{self.function} -> {self.dst} {protocol_name(self.proto)} {self.port}"


@dataclass
class LintSettings:
    eni_quota: int = 500               # L8: Hyperplane ENIs per VPC
    verify: bool = True                # verify fixes (off inside a verification)


@dataclass
class Context:
    topo: Topology
    lines: dict[str, int] = field(default_factory=dict)     # resource id -> YAML line
    settings: LintSettings = field(default_factory=LintSettings)
    _traces: dict = field(default_factory=dict)
    _paths: dict = field(default_factory=dict)

    over_limits: list = field(default_factory=list)   # (function, subnets, groups) > L8
    _batch: _Batch | None = None
    only: set | None = None          # verifying: the functions involved, not every one

    def line(self, rid: str | None, section: str | None = None) -> int:
        """The YAML line of a resource (its section first: names are unique per kind)."""
        return self.lines.get((section, rid), self.lines.get(rid or "", 1)) or 1

    def show(self, rid: str | None) -> str:
        return self.topo.display(rid)

    # ---- the paths a function uses --------------------------------------------------
    def vpc_functions(self) -> list[LambdaFunction]:
        return [self.topo.functions[f] for f in self.topo.function_order
                if self.topo.functions[f].in_vpc and (self.only is None or f in self.only)]

    def vpc_of(self, fn: LambdaFunction) -> str:
        return self.topo.subnets[fn.subnets[0]].vpc

    def paths(self, fn: LambdaFunction) -> list[FnPath]:
        if fn.id not in self._paths:
            self._paths[fn.id] = _function_paths(self.topo, fn, self.vpc_of(fn))
        return self._paths[fn.id]

    def trace(self, p: FnPath) -> TraceResult | InputError:
        """The path traced from every subnet of the function (no fix searched); an
        InputError where the destination does not resolve from there."""
        key = (p.function, p.dst, p.proto, p.port)
        if key not in self._traces:
            try:
                self._traces[key] = trace(self.topo, f"lambda:{p.function}", p.dst, p.proto,
                                          p.port, fix=False)
            except InputError as exc:
                self._traces[key] = exc
        return self._traces[key]

    def ok(self, p: FnPath) -> bool:
        """Delivered both ways from every subnet of the function (from the batch)."""
        return self._run().ok.get(p, False)

    def request_hops(self, p: FnPath) -> list:
        """Every element the request went through, from every subnet."""
        return self._run().request.get(p, [])

    def failures(self, p: FnPath) -> list[tuple[str | None, str, str | None]]:
        """(subnet, reason code, resource) of each subnet the path fails from."""
        return self._run().failures.get(p, [])

    def destinations(self, p: FnPath) -> list[int]:
        """The addresses the path was sent to (one per subnet it resolves from)."""
        return self._run().dst.get(p, [])

    def crossings(self, p: FnPath) -> list[tuple[str, bool, str]]:
        """(ACL id, egress, peer address) of each ACL the reply crossed, every subnet."""
        return self._run().crossings.get(p, [])

    def _run(self) -> _Batch:
        if self._batch is None:
            self._batch = _run_batch(self)
        return self._batch


@dataclass
class _Batch:
    ok: dict
    request: dict
    crossings: dict
    failures: dict
    dst: dict = field(default_factory=dict)     # path -> the addresses it was sent to


def _run_batch(ctx: Context) -> _Batch:
    """Every path of every function from each of its subnets, as one batch through one
    dataplane (the flows are distinct, so they do not meet), then their replies; per
    path: delivered both ways everywhere, the request's hops, the ACLs the reply crossed
    with the reply's peer address there (its packet followed through each translation)."""
    from netemu.apps.resolve import resolve_destination, resolve_sources
    from netemu.apps.trace import DEFAULT_SPORT, packet_for
    from netemu.dataplane.pipeline import Dataplane
    from netemu.dataplane.reasons import CODES
    from netemu.packet import DELIVERED

    rows, bad = [], set()
    out = _Batch({}, {}, {}, {})
    for fn in ctx.vpc_functions():
        sources = resolve_sources(ctx.topo, f"lambda:{fn.id}")
        for p in ctx.paths(fn):
            for src in sources:
                try:
                    dst = resolve_destination(ctx.topo, p.dst, src)
                except InputError:
                    bad.add(p)
                    continue
                if dst.function is not None:
                    bad.add(p)
                    continue
                rows.append((p, packet_for(src, dst, p.proto, p.port, DEFAULT_SPORT),
                             src.subnet))
                out.dst.setdefault(p, []).append(int(dst.ip))
    for p in bad:
        out.ok[p] = False
        out.failures[p] = [(None, "UNRESOLVED", None)]
    if not rows:
        return out
    b = np.concatenate([row[1] for row in rows])
    b["flow"] = np.arange(len(b))
    sent = b.copy()
    dp = Dataplane(ctx.topo)
    hops = dp.run(b, recording=True).hops
    got = np.flatnonzero(b["status"] == DELIVERED)
    r = dp.replies(b, got)
    start = r.copy()
    reply_hops = dp.run(r, recording=True).hops
    ported = np.isin(sent["proto"][got], (TCP, UDP))
    answered = (r["status"] == DELIVERED) & (r["src"] == sent["dst"][got]) & (
        ~ported | (r["sport"] == sent["dport"][got]))
    ok = np.zeros(len(b), dtype=bool)
    ok[got] = answered
    for i, (p, _, _) in enumerate(rows):
        out.ok[p] = out.ok.get(p, True) and bool(ok[i]) and p not in bad
        out.request.setdefault(p, [])
        out.crossings.setdefault(p, [])
    dropped_at: dict[int, str] = {}
    for h in hops:
        out.request[rows[h.packet][0]].append(h)
        if h.decision == "drop":
            dropped_at[h.packet] = h.resource
    by_reply: dict[int, list] = {}
    for h in reply_hops:
        by_reply.setdefault(h.packet, []).append(h)
    back = {int(i): j for j, i in enumerate(got)}
    for i in np.flatnonzero(~ok):
        p, _, subnet = rows[i]
        j = back.get(int(i))
        if j is None:
            why, at = CODES[int(b["reason"][i])], dropped_at.get(int(i))
        elif r["status"][j] == DELIVERED:
            why, at = "REPLY_SOURCE_CHANGED", None
        else:
            why = CODES[int(r["reason"][j])]
            at = next((h.resource for h in reversed(by_reply.get(j, []))
                       if h.decision == "drop"), None)
        out.failures.setdefault(p, []).append((subnet, why, at))
    for j, hs in by_reply.items():
        p = rows[int(got[j])][0]
        cur = (str(ipaddress.IPv4Address(int(start["src"][j]))), int(start["sport"][j]),
               str(ipaddress.IPv4Address(int(start["dst"][j]))), int(start["dport"][j]))
        for h in hs:
            if h.kind in ("acl-inbound", "acl-outbound"):
                egress = h.kind == "acl-outbound"
                acl = h.element[h.element.index("(") + 1:-1]     # acl-inbound:SUBNET(ACL)
                hit = (acl, egress, cur[2] if egress else cur[0])
                if hit not in out.crossings[p]:
                    out.crossings[p].append(hit)
            if h.decision == "drop":
                break
            if h.after is not None:
                cur = h.after
    return out


def _function_paths(topo: Topology, fn: LambdaFunction, vpc_id: str) -> list[FnPath]:
    """Internet hosts of the topology, the services of its VPC's endpoints (called by
    their public names, as SDKs do), and the hosts of its VPC on the ports their security
    groups admit from the function (or its groups send to them): all on TCP 443 unless a
    rule names the port."""
    vpc = topo.vpcs[vpc_id]
    out: dict[tuple, FnPath] = {}

    def add(p: FnPath) -> None:
        out.setdefault((p.dst, p.proto, p.port), p)

    for host in sorted(topo.hosts.values(), key=lambda h: h.id):
        if host.kind == "internet":
            svc = aws_services.parse_service_name(host.id)
            add(FnPath(fn.id, host.id, TCP, 443, f"internet host {host.id} of the topology",
                       svc.service if svc else None))
    for ep in sorted(topo.endpoints.values(), key=lambda e: e.id):
        if ep.vpc != vpc_id:
            continue
        short = aws_services.service_short_name(ep.service)
        name = aws_services.service_dns_name(vpc.region, short)
        add(FnPath(fn.id, name, TCP, 443, f"{ep.kind} endpoint {topo.display(ep.id)} for "
                   f"{short}", short))
    fn_cidrs = [topo.subnets[s].cidr for s in fn.subnets]
    for host in sorted(topo.hosts.values(), key=lambda h: h.id):
        if host.eni is None or topo.subnets[topo.enis[host.eni].subnet].vpc != vpc_id:
            continue
        eni = topo.enis[host.eni]
        dst = host.dns[0] if host.dns else f"instance:{host.id}"
        for port, proto, why in _intended_ports(topo, fn, eni, fn_cidrs):
            add(FnPath(fn.id, dst, proto, port, why))
    return list(out.values())


@functools.lru_cache(maxsize=4096)
def _network(text: str):
    return ipaddress.ip_network(text, strict=False)


def _intended_ports(topo: Topology, fn: LambdaFunction, eni, fn_cidrs):
    """(port, proto, why): ports the host's groups admit from the function (its groups or
    a CIDR holding its subnets), or that the function's groups send to the host's groups."""
    for sg in eni.security_groups:
        for rule in topo.security_groups[sg].ingress:
            if rule.protocol not in (TCP, UDP) or rule.from_port < 0:
                continue
            if rule.peer_kind == "sg":
                hit = rule.peer in fn.security_groups
            elif rule.peer_kind == "cidr":
                net = _network(rule.peer)
                hit = net.version == 4 and net.prefixlen > 0 and any(
                    c.subnet_of(net) for c in fn_cidrs)
            else:
                hit = False
            if hit:
                yield rule.from_port, rule.protocol, f"{sg} ingress \"{rule.text}\""
    for sg in fn.security_groups:
        for rule in topo.security_groups[sg].egress:
            if rule.protocol in (TCP, UDP) and rule.from_port >= 0 and \
                    rule.peer_kind == "sg" and rule.peer in eni.security_groups:
                yield rule.from_port, rule.protocol, f"{sg} egress \"{rule.text}\""


# ---- verification ---------------------------------------------------------------------
def verify(ctx: Context, check: Callable, key: tuple, changes, paths: list[FnPath] = (),
           expect_ok: bool = True, fixed: Context | None = None, finding=None
           ) -> tuple[str, str]:
    """(status, note): apply the changes, run the check again (the finding with `key`
    must be gone), trace `paths` (they must get through both ways) and every path of
    the functions involved that got through before (it must still), and walk reach on
    both topologies (reach/effects.py): nothing any source reached may be lost, and what
    the change opens besides `paths` is said (on `finding`: fix_also_opens, fix_closes)."""
    from netemu.apps.lint.apply import apply_changes
    if not ctx.settings.verify:
        return "unverified", "not verified"
    involved = {p.function for p in paths} | {r for r in key[1:2] if r in ctx.topo.functions}
    try:
        if fixed is None:
            after = apply_changes(ctx.topo, changes)
            fixed = Context(after, ctx.lines, LintSettings(ctx.settings.eni_quota,
                                                           verify=False),
                            only=touched(ctx, after, involved))
    except InputError as exc:
        return "unverified", f"the change does not apply here ({exc.problem})"
    if any(finding_key(f) == key for f in check(fixed)):
        return "unverified", "lint still reports it with the change applied"
    for p in paths:
        if expect_ok and not fixed.ok(p):
            r = fixed.trace(p)
            why = r.problem if isinstance(r, InputError) else \
                f"{r.failed.reason} at {r.failed.dropped_at}" if r.failed else "dropped"
            return "unverified", f"trace {p.text} still fails ({why})"
    broken = [p for f in sorted(involved) if f in fixed.topo.functions
              for p in ctx.paths(ctx.topo.functions[f]) if ctx.ok(p) and not fixed.ok(p)]
    if broken:
        return "unverified", f"the change breaks trace {broken[0].text}"
    from netemu.apps.reach.effects import Effects
    fx = Effects(*side_effects(ctx, fixed, paths))
    if finding is not None:
        finding.fix_also_opens, finding.fix_closes = fx.opens, fx.closes
    if fx.closes:
        return "unverified", "the change closes what worked before: " + "; ".join(
            line.partition(": ")[2] for line in fx.lines() if line.startswith("closes"))
    shown = f"; trace delivers both ways: {', '.join(p.text for p in paths)}" if paths else ""
    n = len(fixed.vpc_functions())
    opens = "others open (listed)" if fx.opens else "no other opens"
    return "verified", f"lint re-run with the change applied no longer reports " \
        f"it{shown}; of the paths lint knows for the {n} function(s) the change can " \
        f"decide, none that got through breaks and {opens}"


def touched(ctx: Context, after: Topology, involved: set) -> set | None:
    """The functions whose paths a change can decide (reach/scope.py's reasoning, over the
    paths lint knows): the ones it is for, the ones sending from a subnet or interface it
    changes or whose configuration it changes, and the ones with a path into what it
    changes. None: every function (the change reaches the VPC itself)."""
    from netemu.apps.reach.scope import scope
    sc = scope(ctx.topo, after)
    if sc.everything:
        return None
    into = [sp for spans, _ in sc.into for sp in spans]
    out = set(involved) | sc.functions
    for fid in ctx.topo.function_order:
        fn = ctx.topo.functions[fid]
        if not fn.in_vpc or fid in out:
            continue
        enis = {e.eni for e in ctx.topo.environments_of(fid)}
        if any(s in sc.subnet_own for s in fn.subnets) or enis & set(sc.eni_own) or any(
                lo <= ip <= hi for p in ctx.paths(fn) for ip in ctx.destinations(p)
                for lo, hi in into):
            out.add(fid)
    return out


def side_effects(ctx: Context, fixed: Context, paths) -> tuple[list, list]:
    """(opens, closes): the paths of the functions the change can decide (fixed.only)
    that trace delivers both ways after and not before (besides `paths`, what the fix is
    for), and the ones it delivered before and no longer does; per source, as reach's
    rows."""
    opens: dict = {}
    closes: dict = {}
    for fn in fixed.vpc_functions():
        if fn.id not in ctx.topo.functions:
            continue
        known = list(dict.fromkeys(ctx.paths(ctx.topo.functions[fn.id]) + fixed.paths(fn)))
        for p in known:
            was = p in ctx._paths.get(fn.id, ()) and ctx.ok(p)
            now = fixed.ok(p)
            if now and not was and p not in paths:
                opens.setdefault(f"lambda:{fn.id}", []).append(_as_row(p))
            elif was and not now:
                closes.setdefault(f"lambda:{fn.id}", []).append(_as_row(p))
    return ([{"source": k, "packets": v} for k, v in opens.items()],
            [{"source": k, "packets": v} for k, v in closes.items()])


def _as_row(p: FnPath) -> dict:
    return {"protocol": protocol_name(p.proto), "ports": str(p.port), "client_ports": None,
            "destinations": p.dst}


def finding_key(f) -> tuple:
    """What a finding is about: its code, its first resource and which part of it."""
    return (f.code, f.resources[0] if f.resources else "", f.where)


def complete(ctx: Context, fixes: list, paths: list[FnPath], involved: set
             ) -> tuple[list, Context | None]:
    """The fixes, followed by what `trace`'s fix finder adds where a path still fails with
    them applied (an endpoint's group admitting HTTPS, an ACL rule for the new subnet);
    and the topology with all of them applied, for `verify` (None: it does not apply)."""
    from netemu.apps.fix import find_fix
    from netemu.apps.lint.apply import apply_changes
    changes = [c for f in fixes for c in getattr(f, "changes", ())]
    try:
        after = apply_changes(ctx.topo, changes)
        fixed = Context(after, ctx.lines, LintSettings(ctx.settings.eni_quota, verify=False),
                        only=touched(ctx, after, involved))
    except InputError:
        return fixes, None
    extra: list = []
    for p in paths:
        if fixed.ok(p):
            continue
        r = fixed.trace(p)
        if isinstance(r, TraceResult) and not r.ok:
            more, _, _ = find_fix(fixed.topo, r.subnets or [r])
            if more and all(getattr(m, "changes", ()) for m in more):
                extra += [m for m in more if m not in extra]
                try:
                    after = apply_changes(fixed.topo, [c for m in more for c in m.changes])
                    fixed = Context(after, ctx.lines, fixed.settings,
                                    only=touched(ctx, after, involved))
                except InputError:
                    return fixes, None
    return fixes + extra, fixed

"""The native YAML topology: a network as a person would draw it.

One VPC at the top level (the DESIGN.md example), or several under `vpcs:` with
`peerings:` between them. Resources are named by the user; every error names the file,
the line of the resource and what is wrong."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import yaml

from netemu.addr import parse_address, parse_network
from netemu.errors import InputError
from netemu.io.rule_text import parse_nacl_entry, parse_sg_rule
from netemu.model import aws_services, defaults
from netemu.model.resources import (
    EC2,
    IGW,
    LOCAL,
    NAT,
    NAT_ENI,
    PCX,
    RDS,
    VPCE,
    VPCE_ENI,
    Eni,
    Host,
    InternetGateway,
    LambdaFunction,
    NatGateway,
    NetworkAcl,
    Peering,
    Route,
    RouteTable,
    SecurityGroup,
    Subnet,
    Vpc,
    VpcEndpoint,
)
from netemu.model.topology import Topology

VPC_KEYS = {"vpc", "cidr", "cidrs", "region", "internet_gateway", "subnets", "route_tables",
            "main_route_table", "nat_gateways", "network_acls", "security_groups",
            "endpoints", "dns_support", "dns_hostnames", "dns_servers"}
GLOBAL_KEYS = {"functions", "hosts", "internet", "vpcs", "peerings", "prefix_lists"}


def _compose_lines(text: str, file: str) -> tuple[Any, dict[tuple, int]]:
    """safe_load the text and remember the line of every mapping key, by path."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"malformed YAML: {problem}", file=file,
                         line=mark.line + 1 if mark else None) from None
    lines: dict[tuple, int] = {}

    def walk(n: yaml.Node, path: tuple) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = path + (k.value,)
                if key in lines:     # PyYAML would silently keep the last one
                    raise InputError(f"duplicate id {k.value!r} (first at line {lines[key]})",
                                     file=file, line=k.start_mark.line + 1)
                lines[key] = k.start_mark.line + 1
                walk(v, key)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                lines[path + (i,)] = v.start_mark.line + 1
                walk(v, path + (i,))

    if node is not None:
        walk(node, ())
    return data, lines


class _Builder:
    """Turns the parsed document into resources, remembering each one's line."""

    def __init__(self, file: str, lines: dict[tuple, int]) -> None:
        self.file = file
        self.lines = lines
        self.where: dict[str, int] = {}     # resource id -> line
        self.out: dict[str, list] = {k: [] for k in (
            "vpcs", "subnets", "route_tables", "network_acls", "security_groups", "enis",
            "nat_gateways", "internet_gateways", "endpoints", "peerings", "functions",
            "hosts", "prefix_lists")}
        self.kind_of: dict[str, str] = {}   # name -> route target kind
        self.used_ips: dict[str, set] = {}   # subnet -> used addresses

    def fail(self, problem: str, path: tuple, resource: str | None = None) -> InputError:
        line = None
        while path and line is None:
            line = self.lines.get(path)
            path = path[:-1]
        return InputError(problem, file=self.file, line=line, resource=resource)

    def mapping(self, value: Any, path: tuple, what: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"{what} must be a mapping, not {type(value).__name__}", path)
        return value

    def keys(self, body: dict, allowed: set[str], path: tuple, rid: str) -> None:
        for k in body:
            if k not in allowed:
                raise self.fail(f"unknown key {k!r} (expected one of "
                                f"{', '.join(sorted(allowed))})", path + (k,), rid)

    def guard(self, path: tuple, rid: str | None, fn, *args):
        try:
            return fn(*args)
        except InputError as exc:
            raise self.fail(exc.problem, path, rid) from None

    def add(self, table: str, item, path: tuple) -> None:
        self.out[table].append(item)
        self.where.setdefault(item.id, self.lines.get(path, 0))

    # ---- one VPC ---------------------------------------------------------------------
    def vpc(self, name: str, body: dict, path: tuple) -> None:
        self.keys(body, VPC_KEYS, path, name)
        cidr_text = body.get("cidrs") or ([body["cidr"]] if "cidr" in body else None)
        if not cidr_text:
            raise self.fail("a VPC needs a cidr", path, name)
        cidrs = tuple(self.guard(path + ("cidr",), name, parse_network, c, "VPC CIDR")
                      for c in (cidr_text if isinstance(cidr_text, list) else [cidr_text]))
        region = str(body.get("region", "us-east-1"))
        igw = body.get("internet_gateway")
        if igw:
            self.add("internet_gateways", InternetGateway(str(igw), name),
                     path + ("internet_gateway",))
            self.kind_of[str(igw)] = IGW

        for nat in self.mapping(body.get("nat_gateways"), path, "nat_gateways"):
            self.kind_of[str(nat)] = NAT
        endpoints = self.mapping(body.get("endpoints"), path, "endpoints")
        for ep in endpoints:
            self.kind_of[str(ep)] = VPCE

        default_acl, default_sg = f"{name}-default-acl", f"{name}-default-sg"
        acls = [NetworkAcl(default_acl, name, defaults.default_acl_entries(), default=True)]
        for acl_name, acl in self.mapping(body.get("network_acls"), path, "network_acls").items():
            acls.append(self.acl(str(acl_name), acl, name, path + ("network_acls", acl_name)))
        for acl in acls:
            self.add("network_acls", acl, path + ("network_acls", acl.id))

        self.add("security_groups", SecurityGroup(
            default_sg, name, defaults.default_group_ingress(default_sg),
            defaults.allow_all_egress(), name="default"), path)
        for sg_name, sg in self.mapping(body.get("security_groups"), path,
                                        "security_groups").items():
            self.sg(str(sg_name), sg, name, path + ("security_groups", sg_name))

        tables = self.mapping(body.get("route_tables"), path, "route_tables")
        main = str(body.get("main_route_table", f"{name}-main"))
        if main not in tables and main != f"{name}-main":
            raise self.fail(f"unknown main route table {main!r}",
                            path + ("main_route_table",), name)
        local = defaults.local_routes(cidrs)
        gateway_assoc: dict[str, list[str]] = {}
        if main not in tables:
            self.add("route_tables", RouteTable(main, name, local, main=True), path)
        for rt_name, routes in tables.items():
            rt_path = path + ("route_tables", rt_name)
            self.add("route_tables", self.route_table(
                str(rt_name), routes, name, region, local, str(rt_name) == main, rt_path,
                gateway_assoc), rt_path)

        subnets = self.mapping(body.get("subnets"), path, "subnets")
        for sn_name, sn in subnets.items():
            sn_path = path + ("subnets", sn_name)
            sn = self.mapping(sn, sn_path, f"subnet {sn_name}")
            self.keys(sn, {"cidr", "az", "route_table", "acl"}, sn_path, str(sn_name))
            if "cidr" not in sn:
                raise self.fail("a subnet needs a cidr", sn_path, str(sn_name))
            cidr = self.guard(sn_path + ("cidr",), str(sn_name), parse_network, sn["cidr"],
                              "subnet CIDR")
            self.add("subnets", Subnet(str(sn_name), name, cidr, str(sn.get("az", f"{region}a")),
                                       str(sn.get("route_table", main)),
                                       str(sn.get("acl", default_acl))), sn_path)

        self.add("vpcs", Vpc(
            name, cidrs, main, default_acl, str(igw) if igw else None,
            bool(body.get("dns_support", True)), bool(body.get("dns_hostnames", True)),
            tuple(str(s) for s in body.get("dns_servers", ["AmazonProvidedDNS"])), region),
            path)
        for nat_name, nat in self.mapping(body.get("nat_gateways"), path,
                                          "nat_gateways").items():
            self.nat(str(nat_name), nat, path + ("nat_gateways", nat_name))
        for ep_name, ep in endpoints.items():
            self.endpoint(str(ep_name), ep, name, region, gateway_assoc.get(str(ep_name), []),
                          path + ("endpoints", ep_name))

    def acl(self, acl_id: str, body: Any, vpc: str, path: tuple) -> NetworkAcl:
        body = self.mapping(body, path, f"network ACL {acl_id}")
        self.keys(body, {"inbound", "outbound"}, path, acl_id)
        entries = []
        for direction, egress in (("inbound", False), ("outbound", True)):
            rules = body.get(direction) or []
            numbers: set[int] = set()
            for i, text in enumerate(rules):
                e = self.guard(path + (direction, i), acl_id, parse_nacl_entry, text, egress)
                if e.number in numbers:
                    raise self.fail(f"rule number {e.number} is used twice in {direction}",
                                    path + (direction, i), acl_id)
                numbers.add(e.number)
                entries.append(e)
            if 32767 not in numbers:
                entries.append(defaults.implicit_deny(egress))
        entries.sort(key=lambda e: (e.egress, e.number))
        return NetworkAcl(acl_id, vpc, tuple(entries), name=acl_id)

    def sg(self, sg_id: str, body: Any, vpc: str, path: tuple) -> None:
        body = self.mapping(body, path, f"security group {sg_id}")
        self.keys(body, {"ingress", "egress", "description"}, path, sg_id)
        rules = {}
        for direction, egress in (("ingress", False), ("egress", True)):
            rules[direction] = tuple(
                self.guard(path + (direction, i), sg_id, parse_sg_rule, t, egress)
                for i, t in enumerate(body.get(direction) or []))
        egress_rules = rules["egress"] if "egress" in body else defaults.allow_all_egress()
        self.add("security_groups", SecurityGroup(sg_id, vpc, rules["ingress"], egress_rules,
                                                  name=sg_id), path)

    def route_table(self, rt_id: str, routes: Any, vpc: str, region: str, local: tuple,
                    main: bool, path: tuple, gateway_assoc: dict[str, list[str]]) -> RouteTable:
        routes = self.mapping(routes, path, f"route table {rt_id}")
        out = list(local)
        for dest, target in routes.items():
            rpath = path + (dest,)
            dest, target = str(dest), str(target)
            kind = self.kind_of.get(target)
            blackhole = target == "blackhole"
            if target == LOCAL:
                kind = LOCAL
            elif blackhole:
                kind = "blackhole"
            elif kind is None and target.startswith("pcx"):
                kind = PCX
            elif kind is None:
                kind = "network-interface"    # checked against the ENIs once all are known
            if kind == VPCE:
                gateway_assoc.setdefault(target, []).append(rt_id)
                continue                       # R5: the endpoint adds its own route
            if "/" in dest:
                net = self.guard(rpath, rt_id, parse_network, dest, "route destination")
                out = [r for r in out if not (r.destination == net and r.target_kind == LOCAL
                                              and kind in (NAT, "network-interface"))]
                out.append(Route(net, target, kind, blackhole=blackhole))
            else:
                pl = self.prefix_list_id(dest, region, rpath, rt_id)
                out.append(Route(None, target, kind, prefix_list=pl, blackhole=blackhole))
        return RouteTable(rt_id, vpc, tuple(out), main=main, name=rt_id)

    def prefix_list_id(self, name: str, region: str, path: tuple, rid: str) -> str:
        if name.startswith("pl-"):
            return name
        pl = aws_services.gateway_prefix_list(region, name)
        if pl is None:
            raise self.fail(f"unknown destination {name!r}: a CIDR, a prefix list id or "
                            "s3/dynamodb", path, rid)
        return pl.id

    def nat(self, nat_id: str, body: Any, path: tuple) -> None:
        body = self.mapping(body, path, f"NAT gateway {nat_id}")
        self.keys(body, {"subnet", "elastic_ip", "private_ip", "public"}, path, nat_id)
        subnet = str(body.get("subnet", ""))
        public = bool(body.get("public", True))
        eip = body.get("elastic_ip")
        if public and not eip:
            raise self.fail("a public NAT gateway needs an elastic_ip", path, nat_id)
        eip_ip = self.guard(path + ("elastic_ip",), nat_id, parse_address, eip,
                            "Elastic IP") if eip else None
        ip = self.eni_ip(subnet, body.get("private_ip"), nat_id, path)
        eni_id = f"eni-{nat_id}"
        self.add("enis", Eni(eni_id, subnet, ip, (), None, NAT_ENI, nat_id,
                             requester_managed=True, description=f"NAT gateway {nat_id}"), path)
        self.add("nat_gateways", NatGateway(nat_id, subnet, eni_id, ip, eip_ip, public), path)

    def endpoint(self, ep_id: str, body: Any, vpc: str, region: str, assoc: list[str],
                 path: tuple) -> None:
        body = self.mapping(body, path, f"endpoint {ep_id}")
        self.keys(body, {"service", "type", "route_tables", "subnets", "security_groups",
                         "private_dns", "policy"}, path, ep_id)
        short = str(body.get("service", ""))
        service = short if short.startswith("com.") else f"com.amazonaws.{region}.{short}"
        short = aws_services.service_short_name(service)
        kind = str(body.get("type", "gateway" if short in ("s3", "dynamodb") else "interface"))
        policy = str(body.get("policy", "allow"))
        if kind == "gateway":
            pl = aws_services.gateway_prefix_list(region, short)
            if pl is None:
                raise self.fail(f"gateway endpoints exist for s3 and dynamodb only (E1), "
                                f"not {short!r}", path, ep_id)
            rts = tuple(dict.fromkeys([*map(str, body.get("route_tables", [])), *assoc]))
            self.add("endpoints", VpcEndpoint(ep_id, vpc, service, "gateway", rts, pl.id,
                                              policy_allows=policy == "allow"), path)
            return
        subnets = tuple(map(str, body.get("subnets", [])))
        sgs = tuple(map(str, body.get("security_groups", [f"{vpc}-default-sg"])))
        enis = []
        for sn in subnets:
            ip = self.eni_ip(sn, None, ep_id, path)
            eni = Eni(f"eni-{ep_id}-{sn}", sn, ip, sgs, None, VPCE_ENI, ep_id,
                      requester_managed=True, description=f"VPC Endpoint Interface {ep_id}")
            self.add("enis", eni, path)
            enis.append(eni.id)
        private_dns = bool(body.get("private_dns", True))
        names = (aws_services.service_dns_name(region, short),) if private_dns else ()
        self.add("endpoints", VpcEndpoint(ep_id, vpc, service, "interface", (), None,
                                          subnets, tuple(enis), sgs, private_dns, names,
                                          policy == "allow"), path)

    def eni_ip(self, subnet: str, ip: Any, owner: str, path: tuple) -> ipaddress.IPv4Address:
        """An explicit address, else the lowest free one of the subnet."""
        sn = next((s for s in self.out["subnets"] if s.id == subnet), None)
        if sn is None:
            raise self.fail(f"unknown subnet {subnet!r}", path + ("subnet",), owner)
        used = self.used_ips.setdefault(subnet, set())
        if ip is not None:
            addr = self.guard(path, owner, parse_address, ip)
            used.add(addr)
            return addr
        return self.guard(path, owner, defaults.allocate_ip, sn, used, owner)

    # ---- global sections -------------------------------------------------------------
    def function(self, fn_id: str, body: Any, path: tuple) -> None:
        body = self.mapping(body, path, f"function {fn_id}")
        self.keys(body, {"subnets", "security_groups", "memory", "role_can_manage_enis"},
                  path, fn_id)
        self.add("functions", LambdaFunction(
            fn_id, tuple(map(str, body.get("subnets", []))),
            tuple(map(str, body.get("security_groups", []))), int(body.get("memory", 128)),
            bool(body.get("role_can_manage_enis", True))), path)

    def host(self, host_id: str, body: Any, path: tuple) -> None:
        body = self.mapping(body, path, f"host {host_id}")
        self.keys(body, {"subnet", "ip", "security_groups", "dns", "public_ip", "kind"},
                  path, host_id)
        subnet = str(body.get("subnet", ""))
        ip = self.eni_ip(subnet, body.get("ip"), host_id, path)
        public = body.get("public_ip")
        public_ip = self.guard(path + ("public_ip",), host_id, parse_address,
                               public) if public else None
        kind = str(body.get("kind", "rds" if "rds" in str(body.get("dns", "")) else "instance"))
        eni_id = f"eni-{host_id}"
        self.add("enis", Eni(eni_id, subnet, ip, tuple(map(str, body.get(
            "security_groups", [self.vpc_of_subnet(subnet) + "-default-sg"]))), public_ip,
            RDS if kind == "rds" else EC2, host_id), path)
        dns = body.get("dns") or []
        self.add("hosts", Host(host_id, ip, kind, eni_id,
                               tuple(map(str, [dns] if isinstance(dns, str) else dns))), path)

    def vpc_of_subnet(self, subnet: str) -> str:
        return next(s.vpc for s in self.out["subnets"] if s.id == subnet)

    def internet_host(self, name: str, ip: Any, path: tuple) -> None:
        addr = self.guard(path, name, parse_address, ip)
        self.add("hosts", Host(name, addr, "internet", None, (name,)), path)

    def peering(self, pcx_id: str, body: Any, path: tuple) -> None:
        body = self.mapping(body, path, f"peering {pcx_id}")
        self.keys(body, {"requester", "accepter", "active"}, path, pcx_id)
        self.add("peerings", Peering(pcx_id, str(body.get("requester", "")),
                                     str(body.get("accepter", "")),
                                     bool(body.get("active", True))), path)

    def fix_eni_routes(self) -> None:
        """Route targets that named no gateway must name an ENI or a host's ENI."""
        eni_ids = {e.id for e in self.out["enis"]}
        fixed = []
        for rt in self.out["route_tables"]:
            routes = []
            for r in rt.routes:
                if r.target_kind == "network-interface" and r.target not in eni_ids:
                    if f"eni-{r.target}" in eni_ids:
                        r = Route(r.destination, f"eni-{r.target}", r.target_kind,
                                  r.prefix_list, r.origin, r.blackhole)
                    else:
                        raise InputError(f"unknown route target {r.target!r} for "
                                         f"{r.dest_text}", file=self.file,
                                         line=self.where.get(rt.id), resource=rt.id)
                routes.append(r)
            fixed.append(RouteTable(rt.id, rt.vpc, tuple(routes), rt.main, rt.name))
        self.out["route_tables"] = fixed

    def gateway_routes(self) -> None:
        """R5: each gateway endpoint adds its prefix-list route to its route tables."""
        by_rt: dict[str, list[Route]] = {}
        for ep in self.out["endpoints"]:
            for rt in ep.route_tables:
                by_rt.setdefault(rt, []).append(Route(None, ep.id, VPCE, ep.prefix_list))
        self.out["route_tables"] = [
            RouteTable(rt.id, rt.vpc, rt.routes + tuple(by_rt.get(rt.id, ())), rt.main, rt.name)
            for rt in self.out["route_tables"]]


def load_yaml(path: str | Path) -> Topology:
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=file) from None
    data, lines = _compose_lines(text, file)
    if not isinstance(data, dict):
        raise InputError("a topology must be a YAML mapping", file=file, line=1)
    b = _Builder(file, lines)
    b.keys(data, VPC_KEYS | GLOBAL_KEYS, (), None)
    if "vpcs" in data:
        for name, body in b.mapping(data["vpcs"], ("vpcs",), "vpcs").items():
            b.vpc(str(name), b.mapping(body, ("vpcs", name), f"VPC {name}"), ("vpcs", name))
    if "vpc" in data or "cidr" in data:
        b.vpc(str(data.get("vpc", "vpc")), {k: v for k, v in data.items()
                                            if k in VPC_KEYS}, ())
    for name, body in b.mapping(data.get("hosts"), ("hosts",), "hosts").items():
        b.host(str(name), body, ("hosts", name))
    for name, ip in b.mapping(data.get("internet"), ("internet",), "internet").items():
        b.internet_host(str(name), ip, ("internet", name))
    for name, body in b.mapping(data.get("functions"), ("functions",), "functions").items():
        b.function(str(name), body, ("functions", name))
    for name, body in b.mapping(data.get("peerings"), ("peerings",), "peerings").items():
        b.peering(str(name), body, ("peerings", name))
    b.fix_eni_routes()
    b.gateway_routes()
    made, notes = defaults.hyperplane_enis(b.out["functions"],
                                           {s.id: s for s in b.out["subnets"]}, b.out["enis"])
    b.out["enis"].extend(made)
    try:
        return Topology.build(source=file, **b.out)
    except InputError as exc:
        raise exc.at(file=file, line=b.where.get(exc.resource or "")) from None

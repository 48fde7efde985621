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
from netemu.io.safe_read import decode_utf8, read_bytes_capped
from netemu.model import aws_services
from netemu.model.finish import AddressSet, allocate_ip, allow_all_egress
from netemu.model.resources import (
    EC2,
    IGW,
    LOCAL,
    NAT,
    NAT_ENI,
    PCX,
    RDS,
    RESOURCE_KINDS,
    VPCE,
    VPCE_ENI,
    Eni,
    Host,
    InternetGateway,
    LambdaFunction,
    NatGateway,
    NetworkAcl,
    Peering,
    PrefixList,
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


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when present
MAX_NODES = 200_000     # values after alias expansion; a large topology has a few thousand
MAX_DEPTH = 64          # nesting; a topology needs about 6


def _yaml_error(exc: yaml.YAMLError, file: str) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return InputError(f"malformed YAML: {problem}", file=file,
                      line=mark.line + 1 if mark else None)


def _bound(text: str, file: str) -> None:
    """Refuse before composing what would cost more than MAX_NODES values once aliases are
    expanded (a 342-byte billion-laughs expands to 10^9) or nest deeper than MAX_DEPTH.
    Sizes are counted over the event stream, so the check itself is linear in the text."""
    sizes: dict[str, int] = {}      # anchor -> expanded size of its node
    stack: list[list] = []          # open collections: [size so far, anchor]
    total = 0
    for ev in yaml.parse(text, Loader=_LOADER):
        if isinstance(ev, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise InputError(f"YAML nested deeper than {MAX_DEPTH} levels", file=file,
                                 line=ev.start_mark.line + 1)
            stack.append([1, ev.anchor])
            continue
        if isinstance(ev, yaml.CollectionEndEvent):
            size, anchor = stack.pop()
        elif isinstance(ev, yaml.ScalarEvent):
            size, anchor = 1, ev.anchor
        elif isinstance(ev, yaml.AliasEvent):
            size, anchor = sizes.get(ev.anchor, 1), None
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        if stack:
            stack[-1][0] += size
            size = stack[-1][0]
        else:
            total += size
        if total + size > MAX_NODES:
            raise InputError(f"YAML expands to more than {MAX_NODES:,} values (aliases of "
                             "aliases?); a topology is written out by hand", file=file,
                             line=ev.start_mark.line + 1)


def _compose_lines(text: str, file: str) -> tuple[Any, dict[tuple, int]]:
    """safe_load the text and remember the line of every mapping key, by path."""
    try:
        _bound(text, file)
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None
    lines: dict[tuple, int] = {}

    def walk(n: yaml.Node, path: tuple) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                name = k.value if isinstance(k, yaml.ScalarNode) else f"<{k.tag}>"
                key = path + (name,)
                if key in lines and name != "<<":   # PyYAML would keep the last one
                    raise InputError(f"duplicate id {name!r} (first at line {lines[key]})",
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


_MISSING = object()
# Route targets, capture points and --from/--to name these without saying their kind, so
# one name must mean one of them (VPCs, subnets, tables, ACLs and groups are named only
# where their kind is implied: `acl:`, `sg:`, `route_table:`, peering sides).
_SHARED_NAMESPACE = ("internet gateway", "NAT gateway", "endpoint", "peering", "host",
                     "function", "prefix list")
ENDPOINT_TYPES = ("gateway", "interface")
ENDPOINT_POLICIES = ("allow", "deny")
HOST_KINDS = ("instance", "rds")
MEMORY_MB = (128, 10240)            # Lambda's memory setting, MB


class _Builder:
    """Turns the parsed document into resources, remembering each one's line. Every value
    is checked for its type here: YAML gives strings, numbers, booleans, lists, mappings
    and nulls anywhere, and a wrong one must be named, never coerced with str()/bool()."""

    def __init__(self, file: str, lines: dict[tuple, int]) -> None:
        self.file = file
        self.lines = lines
        self.where: dict[str, int] = {}     # resource id -> line
        self.out: dict[str, list] = {k: [] for k in RESOURCE_KINDS}
        self.kind_of: dict[str, str] = {}   # name -> route target kind
        self.used_ips: dict[str, set] = {}   # subnet -> used addresses
        self.named: dict[str, str] = {}      # shared-namespace name -> its kind

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
            raise self.fail(f"{what} must be a mapping, not {_kind(value)}", path)
        for k in value:
            if not isinstance(k, str) or not k:
                raise self.fail(f"{what}: key {k!r} must be a non-empty string (quote it)",
                                path)
        return value

    def keys(self, body: dict, allowed: set[str], path: tuple, rid: str | None) -> None:
        for k in body:
            if k not in allowed:
                raise self.fail(f"unknown key {k!r} (expected one of "
                                f"{', '.join(sorted(allowed))})", path + (k,), rid)

    # typed values: `key` of `body`, with the line of the key in errors
    def text(self, body: dict, key: str, path: tuple, rid: str | None,
             default: Any = _MISSING) -> Any:
        if key not in body or (body[key] is None and default is not _MISSING):
            if default is _MISSING:
                raise self.fail(f"{key} is required", path, rid)
            return default
        v = body[key]
        if not isinstance(v, str) or not v.strip():
            raise self.fail(f"{key} must be a non-empty string, not {_kind(v)}",
                            path + (key,), rid)
        return v

    def flag(self, body: dict, key: str, path: tuple, rid: str | None, default: bool) -> bool:
        v = body.get(key, default)
        if not isinstance(v, bool):      # 'false' and 'no' in quotes are strings, not false
            raise self.fail(f"{key} must be true or false (unquoted), not {_kind(v)}",
                            path + (key,), rid)
        return v

    def integer(self, body: dict, key: str, path: tuple, rid: str | None, default: int,
                lo: int, hi: int) -> int:
        v = body.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(f"{key} must be an integer, not {_kind(v)}", path + (key,), rid)
        if not lo <= v <= hi:
            raise self.fail(f"{key} {v} is outside {lo}-{hi}", path + (key,), rid)
        return v

    def texts(self, body: dict, key: str, path: tuple, rid: str | None,
              default: tuple = ()) -> tuple[str, ...]:
        """A list of non-empty strings (a lone string is refused, not split into letters)."""
        if key not in body or body[key] is None:
            return tuple(default)
        v = body[key]
        if not isinstance(v, list):
            raise self.fail(f"{key} must be a list, not {_kind(v)}", path + (key,), rid)
        for i, item in enumerate(v):
            if not isinstance(item, str) or not item.strip():
                raise self.fail(f"{key} item {i + 1} must be a non-empty string, not "
                                f"{_kind(item)}", path + (key, i), rid)
        return tuple(v)

    def name(self, name: str, kind: str, path: tuple) -> str:
        """Claim a name in the namespace shared by route targets and endpoints of a trace."""
        if name in self.named and self.named[name] != kind:
            raise self.fail(f"name {name!r} is used by both a {self.named[name]} and a "
                            f"{kind}", path, name)
        self.named[name] = kind
        return name

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
        if "cidrs" in body and "cidr" in body:
            raise self.fail("give cidr or cidrs, not both", path + ("cidrs",), name)
        if "cidrs" in body:
            cidr_text = self.texts(body, "cidrs", path, name)
        else:
            cidr_text = (self.text(body, "cidr", path, name),) if "cidr" in body else ()
        if not cidr_text:
            raise self.fail("a VPC needs a cidr", path, name)
        key = "cidrs" if "cidrs" in body else "cidr"
        cidrs = tuple(self.guard(path + (key,), name, parse_ipv4_network, c, "VPC CIDR")
                      for c in cidr_text)
        region = self.text(body, "region", path, name, "us-east-1")
        igw = self.text(body, "internet_gateway", path, name, None)
        if igw:
            self.name(igw, "internet gateway", path + ("internet_gateway",))
            self.add("internet_gateways", InternetGateway(igw, name),
                     path + ("internet_gateway",))
            self.kind_of[igw] = IGW
        dns = (self.flag(body, "dns_support", path, name, True),
               self.flag(body, "dns_hostnames", path, name, True))
        servers = self.texts(body, "dns_servers", path, name, ("AmazonProvidedDNS",))

        nats = self.mapping(body.get("nat_gateways"), path + ("nat_gateways",), "nat_gateways")
        for nat in nats:
            self.name(nat, "NAT gateway", path + ("nat_gateways", nat))
            self.kind_of[nat] = NAT
        endpoints = self.mapping(body.get("endpoints"), path + ("endpoints",), "endpoints")
        for ep in endpoints:
            self.name(ep, "endpoint", path + ("endpoints", ep))
            self.kind_of[ep] = VPCE

        # the main route table (unless named), default ACL and default group are made by
        # `finish`; errors naming them point at the VPC
        default_acl, default_sg = f"{name}-default-acl", f"{name}-default-sg"
        for made in (default_acl, default_sg):
            self.where.setdefault(made, self.lines.get(path, 0))
        for acl_name, acl in self.mapping(body.get("network_acls"), path + ("network_acls",),
                                          "network_acls").items():
            acl_path = path + ("network_acls", acl_name)
            self.reserved_name(acl_name, default_acl, "network acl", acl_path)
            self.add("network_acls", self.acl(acl_name, acl, name, acl_path), acl_path)

        for sg_name, sg in self.mapping(body.get("security_groups"),
                                        path + ("security_groups",),
                                        "security_groups").items():
            self.reserved_name(sg_name, default_sg, "security group",
                               path + ("security_groups", sg_name))
            self.sg(sg_name, sg, name, path + ("security_groups", sg_name))

        tables = self.mapping(body.get("route_tables"), path + ("route_tables",),
                              "route_tables")
        main = self.text(body, "main_route_table", path, name, f"{name}-main")
        if main not in tables and main != f"{name}-main":
            raise self.fail(f"unknown main route table {main!r}",
                            path + ("main_route_table",), name)
        gateway_assoc: dict[str, list[str]] = {}
        self.where.setdefault(main, self.lines.get(path, 0))
        for rt_name, routes in tables.items():
            rt_path = path + ("route_tables", rt_name)
            self.add("route_tables", self.route_table(
                rt_name, routes, name, region, rt_name == main, rt_path, gateway_assoc),
                rt_path)

        subnets = self.mapping(body.get("subnets"), path + ("subnets",), "subnets")
        for sn_name, sn in subnets.items():
            sn_path = path + ("subnets", sn_name)
            sn = self.mapping(sn, sn_path, f"subnet {sn_name}")
            self.keys(sn, {"cidr", "az", "route_table", "acl"}, sn_path, sn_name)
            if "cidr" not in sn:
                raise self.fail("a subnet needs a cidr", sn_path, sn_name)
            cidr = self.guard(sn_path + ("cidr",), sn_name, parse_ipv4_network,
                              self.text(sn, "cidr", sn_path, sn_name), "subnet CIDR")
            self.add("subnets", Subnet(
                sn_name, name, cidr, self.text(sn, "az", sn_path, sn_name, f"{region}a"),
                self.text(sn, "route_table", sn_path, sn_name, main),
                self.text(sn, "acl", sn_path, sn_name, default_acl)), sn_path)

        self.add("vpcs", Vpc(name, cidrs, main, default_acl, igw, dns[0], dns[1], servers,
                             region, default_security_group=default_sg),
                 path + (key,))      # its errors are about its CIDRs
        for nat_name, nat in nats.items():
            self.nat(nat_name, nat, path + ("nat_gateways", nat_name))
        for ep_name, ep in endpoints.items():
            self.endpoint(ep_name, ep, name, region, gateway_assoc.get(ep_name, []),
                          path + ("endpoints", ep_name))

    def reserved_name(self, name: str, made: str, kind: str, path: tuple) -> None:
        """The VPC's default ACL and group take these names (made by `finish`)."""
        if name == made:
            raise self.fail(f"duplicate {kind} id", path, made)

    def rules(self, body: dict, key: str, path: tuple, rid: str) -> list[str]:
        return list(self.texts(body, key, path, rid))

    def acl(self, acl_id: str, body: Any, vpc: str, path: tuple) -> NetworkAcl:
        body = self.mapping(body, path, f"network ACL {acl_id}")
        self.keys(body, {"inbound", "outbound"}, path, acl_id)
        entries = []
        for direction, egress in (("inbound", False), ("outbound", True)):
            numbers: set[int] = set()
            for i, text in enumerate(self.rules(body, direction, path, acl_id)):
                e = self.guard(path + (direction, i), acl_id, parse_nacl_entry, text, egress)
                if e.number in numbers:
                    raise self.fail(f"rule number {e.number} is used twice in {direction}",
                                    path + (direction, i), acl_id)
                numbers.add(e.number)
                entries.append(e)
        return NetworkAcl(acl_id, vpc, tuple(entries), name=acl_id)

    def sg(self, sg_id: str, body: Any, vpc: str, path: tuple) -> None:
        body = self.mapping(body, path, f"security group {sg_id}")
        self.keys(body, {"ingress", "egress", "description"}, path, sg_id)
        self.text(body, "description", path, sg_id, "")
        rules = {}
        for direction, egress in (("ingress", False), ("egress", True)):
            rules[direction] = tuple(
                self.guard(path + (direction, i), sg_id, parse_sg_rule, t, egress)
                for i, t in enumerate(self.rules(body, direction, path, sg_id)))
        egress_rules = rules["egress"] if "egress" in body else allow_all_egress()
        self.add("security_groups", SecurityGroup(sg_id, vpc, rules["ingress"], egress_rules,
                                                  name=sg_id), path)

    def route_table(self, rt_id: str, routes: Any, vpc: str, region: str, main: bool,
                    path: tuple, gateway_assoc: dict[str, list[str]]) -> RouteTable:
        """The routes written; `finish` adds the local routes (unless a NAT gateway or an
        interface route replaces one, R2) and the gateway endpoints' routes (R5)."""
        routes = self.mapping(routes, path, f"route table {rt_id}")
        out = []
        for dest, target in routes.items():
            rpath = path + (dest,)
            target = self.text(routes, dest, path, rt_id)
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
                net = self.guard(rpath, rt_id, parse_ipv4_network, dest, "route destination")
                out.append(Route(net, target, kind, blackhole=blackhole))
            else:
                pl = self.prefix_list_id(dest, region, rpath, rt_id)
                out.append(Route(None, target, kind, prefix_list=pl, blackhole=blackhole))
        return RouteTable(rt_id, vpc, tuple(out), main=main, name=rt_id)

    def prefix_list_id(self, name: str, region: str, path: tuple, rid: str) -> str:
        if name.startswith("pl-") or name in self.named and self.named[name] == "prefix list":
            return name
        pl = aws_services.gateway_prefix_list(region, name)
        if pl is None:
            raise self.fail(f"unknown destination {name!r}: a CIDR, a prefix list id or "
                            "s3/dynamodb", path, rid)
        return pl.id

    def nat(self, nat_id: str, body: Any, path: tuple) -> None:
        body = self.mapping(body, path, f"NAT gateway {nat_id}")
        self.keys(body, {"subnet", "elastic_ip", "private_ip", "public"}, path, nat_id)
        subnet = self.text(body, "subnet", path, nat_id)
        public = self.flag(body, "public", path, nat_id, True)
        eip = self.text(body, "elastic_ip", path, nat_id, None)
        if public and not eip:
            raise self.fail("a public NAT gateway needs an elastic_ip", path, nat_id)
        if eip and not public:
            raise self.fail("a private NAT gateway has no elastic_ip", path + ("elastic_ip",),
                            nat_id)
        eip_ip = self.guard(path + ("elastic_ip",), nat_id, parse_address, eip,
                            "Elastic IP") if eip else None
        ip = self.eni_ip(subnet, self.text(body, "private_ip", path, nat_id, None), nat_id,
                         path)
        eni_id = f"eni-{nat_id}"
        self.add("enis", Eni(eni_id, subnet, ip, (), None, NAT_ENI, nat_id,
                             requester_managed=True, description=f"NAT gateway {nat_id}"), path)
        self.add("nat_gateways", NatGateway(nat_id, subnet, eni_id, ip, eip_ip, public), path)

    def endpoint(self, ep_id: str, body: Any, vpc: str, region: str, assoc: list[str],
                 path: tuple) -> None:
        body = self.mapping(body, path, f"endpoint {ep_id}")
        self.keys(body, {"service", "type", "route_tables", "subnets", "security_groups",
                         "private_dns", "policy"}, path, ep_id)
        short = self.text(body, "service", path, ep_id)
        service = short if short.startswith("com.") else f"com.amazonaws.{region}.{short}"
        short = aws_services.service_short_name(service)
        kind = self.choice(body, "type", path, ep_id, ENDPOINT_TYPES,
                           "gateway" if short in ("s3", "dynamodb") else "interface")
        policy = self.choice(body, "policy", path, ep_id, ENDPOINT_POLICIES, "allow")
        if kind == "gateway":
            for key in ("subnets", "security_groups", "private_dns"):
                if key in body:
                    raise self.fail(f"a gateway endpoint has no {key}", path + (key,), ep_id)
            pl = aws_services.gateway_prefix_list(region, short)
            if pl is None:
                raise self.fail(f"gateway endpoints exist for s3 and dynamodb only (E1), "
                                f"not {short!r}", path, ep_id)
            rts = tuple(dict.fromkeys([*self.texts(body, "route_tables", path, ep_id),
                                       *assoc]))
            self.add("endpoints", VpcEndpoint(ep_id, vpc, service, "gateway", rts, pl.id,
                                              policy_allows=policy == "allow"), path)
            return
        if "route_tables" in body:
            raise self.fail("an interface endpoint takes no route tables",
                            path + ("route_tables",), ep_id)
        if assoc:
            raise self.fail(f"route table {assoc[0]} routes to {ep_id}, an interface endpoint;"
                            " only gateway endpoints are route targets", path, ep_id)
        subnets = self.texts(body, "subnets", path, ep_id)
        sgs = self.texts(body, "security_groups", path, ep_id, (f"{vpc}-default-sg",))
        enis = []
        for sn in subnets:
            ip = self.eni_ip(sn, None, ep_id, path)
            eni = Eni(f"eni-{ep_id}-{sn}", sn, ip, sgs, None, VPCE_ENI, ep_id,
                      requester_managed=True, description=f"VPC Endpoint Interface {ep_id}")
            self.add("enis", eni, path)
            enis.append(eni.id)
        private_dns = self.flag(body, "private_dns", path, ep_id, True)
        names = (aws_services.service_dns_name(region, short),) if private_dns else ()
        self.add("endpoints", VpcEndpoint(ep_id, vpc, service, "interface", (), None,
                                          subnets, tuple(enis), sgs, private_dns, names,
                                          policy == "allow"), path)

    def choice(self, body: dict, key: str, path: tuple, rid: str, allowed: tuple,
               default: str) -> str:
        v = self.text(body, key, path, rid, default)
        if v not in allowed:
            raise self.fail(f"unknown {key} {v!r} (expected {' or '.join(allowed)})",
                            path + (key,), rid)
        return v

    def eni_ip(self, subnet: str, ip: Any, owner: str, path: tuple) -> ipaddress.IPv4Address:
        """An explicit address, else the lowest free one of the subnet."""
        sn = next((s for s in self.out["subnets"] if s.id == subnet), None)
        if sn is None:
            raise self.fail(f"unknown subnet {subnet!r}", path + ("subnet",), owner)
        used = self.used_ips.setdefault(subnet, AddressSet())
        if ip is not None:
            addr = self.guard(path, owner, parse_address, ip)
            used.add(addr)
            return addr
        return self.guard(path, owner, allocate_ip, sn, used, owner)

    # ---- global sections -------------------------------------------------------------
    def function(self, fn_id: str, body: Any, path: tuple) -> None:
        body = self.mapping(body, path, f"function {fn_id}")
        self.keys(body, {"subnets", "security_groups", "memory", "role_can_manage_enis"},
                  path, fn_id)
        self.name(fn_id, "function", path)
        self.add("functions", LambdaFunction(
            fn_id, self.texts(body, "subnets", path, fn_id),
            self.texts(body, "security_groups", path, fn_id),
            self.integer(body, "memory", path, fn_id, 128, *MEMORY_MB),
            self.flag(body, "role_can_manage_enis", path, fn_id, True)), path)

    def host(self, host_id: str, body: Any, path: tuple) -> None:
        body = self.mapping(body, path, f"host {host_id}")
        self.keys(body, {"subnet", "ip", "security_groups", "dns", "public_ip", "kind",
                         "source_dest_check"}, path, host_id)
        self.name(host_id, "host", path)
        subnet = self.text(body, "subnet", path, host_id)
        ip = self.eni_ip(subnet, self.text(body, "ip", path, host_id, None), host_id, path)
        public = self.text(body, "public_ip", path, host_id, None)
        public_ip = self.guard(path + ("public_ip",), host_id, parse_address,
                               public) if public else None
        dns = (self.text(body, "dns", path, host_id),) if isinstance(
            body.get("dns"), str) else self.texts(body, "dns", path, host_id)
        kind = self.choice(body, "kind", path, host_id, HOST_KINDS,
                           "rds" if any("rds" in d for d in dns) else "instance")
        eni_id = f"eni-{host_id}"
        sgs = self.texts(body, "security_groups", path, host_id,
                         (self.vpc_of_subnet(subnet) + "-default-sg",))
        check = self.flag(body, "source_dest_check", path, host_id, True)
        self.add("enis", Eni(eni_id, subnet, ip, sgs, public_ip,
                             RDS if kind == "rds" else EC2, host_id,
                             source_dest_check=check), path)
        self.add("hosts", Host(host_id, ip, kind, eni_id, dns), path)

    def vpc_of_subnet(self, subnet: str) -> str:
        return next(s.vpc for s in self.out["subnets"] if s.id == subnet)

    def internet_host(self, name: str, ip: Any, path: tuple) -> None:
        self.name(name, "host", path)
        if not isinstance(ip, str):
            raise self.fail(f"internet host {name}: expected an IPv4 address, not "
                            f"{_kind(ip)}", path, name)
        addr = self.guard(path, name, parse_address, ip)
        self.add("hosts", Host(name, addr, "internet", None, (name,)), path)

    def peering(self, pcx_id: str, body: Any, path: tuple) -> None:
        body = self.mapping(body, path, f"peering {pcx_id}")
        self.keys(body, {"requester", "accepter", "active"}, path, pcx_id)
        self.name(pcx_id, "peering", path)
        self.kind_of[pcx_id] = PCX
        self.add("peerings", Peering(pcx_id, self.text(body, "requester", path, pcx_id),
                                     self.text(body, "accepter", path, pcx_id),
                                     self.flag(body, "active", path, pcx_id, True)), path)

    def prefix_list(self, pl_id: str, cidrs: Any, path: tuple) -> None:
        """A customer-managed prefix list: `NAME: [CIDR, ...]`, used as `pl:NAME` in rules
        and as a route destination."""
        self.name(pl_id, "prefix list", path)
        body = {"cidrs": cidrs}
        if not isinstance(cidrs, list) or not cidrs:
            raise self.fail(f"prefix list {pl_id}: expected a list of CIDRs, not "
                            f"{_kind(cidrs)}", path, pl_id)
        nets = tuple(self.guard(path + (i,), pl_id, parse_ipv4_network, c, "prefix list CIDR")
                     for i, c in enumerate(self.texts(body, "cidrs", path, pl_id)))
        self.add("prefix_lists", PrefixList(pl_id, pl_id, nets), path)

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


def load_yaml(path: str | Path) -> Topology:
    path = Path(path)
    file = str(path)
    text = decode_utf8(read_bytes_capped(path, "topology"), file, "topology")
    data, lines = _compose_lines(text, file)
    if not isinstance(data, dict):
        raise InputError(f"a topology must be a YAML mapping, not {_kind(data)}", file=file,
                         line=1)
    b = _Builder(file, lines)
    b.mapping(data, (), "the topology")
    b.keys(data, VPC_KEYS | GLOBAL_KEYS, (), None)
    # names routes may target before their sections are read
    for name, cidrs in b.mapping(data.get("prefix_lists"), ("prefix_lists",),
                                 "prefix_lists").items():
        b.prefix_list(name, cidrs, ("prefix_lists", name))
    peerings = b.mapping(data.get("peerings"), ("peerings",), "peerings")
    for name in peerings:
        b.name(name, "peering", ("peerings", name))
        b.kind_of[name] = PCX
    if "vpcs" in data:
        for name, body in b.mapping(data["vpcs"], ("vpcs",), "vpcs").items():
            b.vpc(name, b.mapping(body, ("vpcs", name), f"VPC {name}"), ("vpcs", name))
    top = {k: v for k, v in data.items() if k in VPC_KEYS}
    if top:
        b.vpc(b.text(data, "vpc", (), None, "vpc"), top, ())
    for name, body in b.mapping(data.get("hosts"), ("hosts",), "hosts").items():
        b.host(name, body, ("hosts", name))
    for name, ip in b.mapping(data.get("internet"), ("internet",), "internet").items():
        b.internet_host(name, ip, ("internet", name))
    for name, body in b.mapping(data.get("functions"), ("functions",), "functions").items():
        b.function(name, body, ("functions", name))
    for name, body in peerings.items():
        b.peering(name, body, ("peerings", name))
    b.fix_eni_routes()
    try:
        return Topology.build(source=file, **b.out)
    except InputError as exc:
        raise exc.at(file=file, line=b.where.get(exc.resource or "")) from None


def parse_ipv4_network(text: str, what: str) -> ipaddress.IPv4Network:
    net = parse_network(text, what)
    if net.version != 4:
        raise InputError(f"{what} {text!r}: IPv6 is not modelled, give an IPv4 CIDR")
    return net


def _kind(v: Any) -> str:
    """A YAML value as a person wrote it, for error messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"the string {v[:40]!r}"
    if isinstance(v, int | float):
        return f"the number {v!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return f"a {type(v).__name__}"

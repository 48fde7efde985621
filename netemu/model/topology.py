"""Topology: every resource, indexed by id, checked once when built.

Loaders hand their resources to `Topology.build`; it refuses a network with a dangling
reference, a CIDR outside its VPC, overlapping subnets, duplicate ids or addresses, and
names the resource. Nothing half-checked reaches the dataplane."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from netemu.errors import InputError
from netemu.model import aws_services
from netemu.model.finish import finish
from netemu.model.resources import (
    IGW,
    LAMBDA,
    LOCAL,
    NAT,
    PCX,
    RESOURCE_KINDS,
    VPCE,
    Eni,
    Host,
    InternetGateway,
    LambdaFunction,
    NatGateway,
    NetworkAcl,
    Peering,
    PrefixList,
    RouteTable,
    SecurityGroup,
    Subnet,
    Unplaced,
    Vpc,
    VpcEndpoint,
)

MAX_FUNCTION_SUBNETS = 16       # L8
MAX_FUNCTION_SGS = 5            # L8
MAX_ENI_SGS = 5                 # S1


@dataclass(frozen=True)
class ExecutionEnvironment:
    """Where a function's code runs, in the Lambda service VPC (L1); one per function and
    subnet (AZ) for tracing, many for scaling."""
    id: str
    function: str
    ip: ipaddress.IPv4Address
    eni: str | None                # the Hyperplane ENI its traffic is NATed onto (L3)
    subnet: str | None


@dataclass
class Topology:
    vpcs: dict[str, Vpc] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    route_tables: dict[str, RouteTable] = field(default_factory=dict)
    network_acls: dict[str, NetworkAcl] = field(default_factory=dict)
    security_groups: dict[str, SecurityGroup] = field(default_factory=dict)
    enis: dict[str, Eni] = field(default_factory=dict)
    nat_gateways: dict[str, NatGateway] = field(default_factory=dict)
    internet_gateways: dict[str, InternetGateway] = field(default_factory=dict)
    endpoints: dict[str, VpcEndpoint] = field(default_factory=dict)
    prefix_lists: dict[str, PrefixList] = field(default_factory=dict)
    peerings: dict[str, Peering] = field(default_factory=dict)
    functions: dict[str, LambdaFunction] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)
    environments: dict[str, ExecutionEnvironment] = field(default_factory=dict)
    source: str = ""
    notes: list[str] = field(default_factory=list)       # what the loader synthesised
    unmodelled: list[str] = field(default_factory=list)  # what it could not model
    # what a snapshot lacked, and what netemu did about it (blackholed a route to a
    # gateway it does not describe, left an interface of an uncollected subnet unplaced)
    warnings: list[str] = field(default_factory=list)
    unplaced: dict[str, Unplaced] = field(default_factory=dict)

    # ---- building -------------------------------------------------------------------
    @classmethod
    def build(cls, *, source: str = "", notes: Iterable[str] = (),
              unmodelled: Iterable[str] = (), warnings: Iterable[str] = (),
              environments: bool = True, lacking: str | None = None,
              **resources: Iterable) -> Topology:
        """Index the resources by id, add built-in prefix lists and what AWS adds to what a
        user writes (`finish`), check everything. `lacking` names a source expected to hold
        the Hyperplane ENIs it lacks, for the notes."""
        topo = cls(source=source, notes=list(notes), unmodelled=list(unmodelled),
                   warnings=list(warnings))
        topo.prefix_lists.update(aws_services.builtin_prefix_lists())
        for name in (f.name for f in fields(cls)):
            items = resources.pop(name, None)
            if items is None:
                continue
            table = getattr(topo, name)
            for item in items:
                if name == "prefix_lists" and item.id in table:
                    table[item.id] = item      # a snapshot's copy replaces the built-in
                    continue
                if item.id in table:   # ids are unique per kind, as names in a YAML file
                    kind = name.rstrip("s").replace("_", " ")
                    raise InputError(f"duplicate {kind} id", resource=item.id)
                table[item.id] = item
        if resources:
            raise TypeError(f"unknown resource kinds {sorted(resources)}")
        topo.notes.extend(finish(topo, lacking))
        topo._check()
        topo._index()
        if environments:
            topo._make_environments()
        return topo

    def _check(self) -> None:
        _ref = self._require
        for vpc in self.vpcs.values():
            _ref(vpc.main_route_table, self.route_tables, vpc.id, "main route table")
            _ref(vpc.default_acl, self.network_acls, vpc.id, "default network ACL")
            if vpc.internet_gateway:
                _ref(vpc.internet_gateway, self.internet_gateways, vpc.id, "internet gateway")
            self._check_vpc_cidrs(vpc)
        self._check_subnets()
        for rt in self.route_tables.values():
            _ref(rt.vpc, self.vpcs, rt.id, "VPC")
            for route in rt.routes:
                if route.prefix_list:
                    _ref(route.prefix_list, self.prefix_lists, rt.id, "prefix list")
                if route.blackhole or route.target_kind == LOCAL:
                    continue
                table = {IGW: self.internet_gateways, NAT: self.nat_gateways,
                         VPCE: self.endpoints, PCX: self.peerings,
                         "network-interface": self.enis}.get(route.target_kind)
                if table is not None:
                    _ref(route.target, table, rt.id, f"route target for {route.dest_text}")
        for acl in self.network_acls.values():
            _ref(acl.vpc, self.vpcs, acl.id, "VPC")
            for e in acl.entries:
                if not 1 <= e.number <= 32767:
                    raise InputError(f"rule number {e.number} out of range 1-32766",
                                     resource=acl.id)
                if e.port_from > e.port_to:
                    raise InputError(f"rule {e.number}: port range {e.port_from}-{e.port_to}"
                                     " is reversed", resource=acl.id)
        for sg in self.security_groups.values():
            _ref(sg.vpc, self.vpcs, sg.id, "VPC")
            for rule in sg.ingress + sg.egress:
                if rule.peer_kind == "sg":
                    _ref(rule.peer, self.security_groups, sg.id, "referenced security group")
                elif rule.peer_kind == "prefix-list":
                    _ref(rule.peer, self.prefix_lists, sg.id, "prefix list")
                if rule.protocol in (6, 17) and rule.from_port > rule.to_port:
                    raise InputError(f"port range {rule.from_port}-{rule.to_port} is reversed"
                                     f" in rule '{rule.text}'", resource=sg.id)
        for fn in self.functions.values():     # before the ENIs Lambda made for them
            self._check_function(fn)
        self._check_enis()
        for nat in self.nat_gateways.values():
            _ref(nat.subnet, self.subnets, nat.id, "subnet")
            _ref(nat.eni, self.enis, nat.id, "network interface")
        for igw in self.internet_gateways.values():
            if igw.vpc:
                _ref(igw.vpc, self.vpcs, igw.id, "VPC")
        for ep in self.endpoints.values():
            _ref(ep.vpc, self.vpcs, ep.id, "VPC")
            for rt in ep.route_tables:
                _ref(rt, self.route_tables, ep.id, "route table")
            for sn in ep.subnets:
                _ref(sn, self.subnets, ep.id, "subnet")
            for eni in ep.enis:
                _ref(eni, self.enis, ep.id, "network interface")
            for sg in ep.security_groups:
                _ref(sg, self.security_groups, ep.id, "security group")
        for pcx in self.peerings.values():
            _ref(pcx.requester_vpc, self.vpcs, pcx.id, "requester VPC")
            _ref(pcx.accepter_vpc, self.vpcs, pcx.id, "accepter VPC")
            self._check_peering(pcx)
        for host in self.hosts.values():
            if host.eni:
                _ref(host.eni, self.enis, host.id, "network interface")

    @staticmethod
    def _check_vpc_cidrs(vpc: Vpc) -> None:
        """AWS takes IPv4 blocks of /16 to /28 and refuses one overlapping another of the
        same VPC (InvalidVpc.Range, InvalidVpcRange.Conflict)."""
        for i, c in enumerate(vpc.cidrs):
            if c.version != 4 or not 16 <= c.prefixlen <= 28:
                raise InputError(f"VPC CIDR {c}: an IPv4 block between /16 and /28 "
                                 "(InvalidVpc.Range)", resource=vpc.id)
            for other in vpc.cidrs[:i]:
                if c.overlaps(other):
                    raise InputError(f"VPC CIDR {c} overlaps its CIDR {other} "
                                     "(InvalidVpcRange.Conflict)", resource=vpc.id)

    def _check_peering(self, pcx: Peering) -> None:
        """AWS refuses a peering of a VPC with itself, and one between VPCs whose IPv4
        CIDRs overlap (an overlapping request ends `failed`, never active)."""
        if pcx.requester_vpc == pcx.accepter_vpc:
            raise InputError(f"peers VPC {pcx.requester_vpc} with itself", resource=pcx.id)
        sides = self.vpcs.get(pcx.requester_vpc), self.vpcs.get(pcx.accepter_vpc)
        if not pcx.active or None in sides:      # a side not described: nothing to compare
            return
        for a in sides[0].cidrs:
            for b in sides[1].cidrs:
                if a.overlaps(b):
                    raise InputError(f"peers VPCs with overlapping CIDRs: {a} of "
                                     f"{pcx.requester_vpc} and {b} of {pcx.accepter_vpc}",
                                     resource=pcx.id)

    def _check_subnets(self) -> None:
        by_vpc: dict[str, list[tuple[Subnet, int, int]]] = {}
        for sn in self.subnets.values():
            vpc = self._require(sn.vpc, self.vpcs, sn.id, "VPC")
            self._require(sn.route_table, self.route_tables, sn.id, "route table")
            self._require(sn.acl, self.network_acls, sn.id, "network ACL")
            if not any(sn.cidr.subnet_of(c) for c in vpc.cidrs):
                raise InputError(f"CIDR {sn.cidr} is outside VPC {vpc.id} "
                                 f"({', '.join(map(str, vpc.cidrs))})", resource=sn.id)
            if not 16 <= sn.cidr.prefixlen <= 28:
                raise InputError(f"CIDR {sn.cidr}: a subnet must be between /16 and /28",
                                 resource=sn.id)
            if self.route_tables[sn.route_table].vpc != sn.vpc:
                raise InputError(f"route table {sn.route_table} belongs to another VPC",
                                 resource=sn.id)
            if self.network_acls[sn.acl].vpc != sn.vpc:
                raise InputError(f"network ACL {sn.acl} belongs to another VPC", resource=sn.id)
            lo, hi = int(sn.cidr.network_address), int(sn.cidr.broadcast_address)
            for other, olo, ohi in by_vpc.setdefault(sn.vpc, []):   # ints: O(n^2) is cheap
                if lo <= ohi and olo <= hi:
                    raise InputError(f"CIDR {sn.cidr} overlaps subnet {other.id} "
                                     f"({other.cidr})", resource=sn.id)
            by_vpc[sn.vpc].append((sn, lo, hi))

    def _check_enis(self) -> None:
        owner: dict[ipaddress.IPv4Address, str] = {}
        for eni in self.enis.values():
            sn = self._require(eni.subnet, self.subnets, eni.id, "subnet")
            if eni.private_ip not in sn.cidr:
                raise InputError(f"private IP {eni.private_ip} is outside subnet {sn.id} "
                                 f"({sn.cidr})", resource=eni.id)
            if eni.private_ip in sn.reserved():
                raise InputError(f"private IP {eni.private_ip} is one of the five addresses "
                                 f"AWS reserves in subnet {sn.id}", resource=eni.id)
            key = (sn.vpc, eni.private_ip)
            if key in owner:
                raise InputError(f"private IP {eni.private_ip} is already used by "
                                 f"{owner[key]}", resource=eni.id)
            owner[key] = eni.id
            if len(eni.security_groups) > MAX_ENI_SGS:
                raise InputError(f"{len(eni.security_groups)} security groups; an ENI takes "
                                 f"at most {MAX_ENI_SGS}", resource=eni.id)
            for sg in eni.security_groups:
                group = self._require(sg, self.security_groups, eni.id, "security group")
                if group.vpc != sn.vpc:
                    raise InputError(f"security group {sg} belongs to VPC {group.vpc}, "
                                     f"not {sn.vpc}", resource=eni.id)
            if eni.kind == LAMBDA and eni.public_ip is not None:
                raise InputError("a Hyperplane ENI never has a public IPv4 address (L4)",
                                 resource=eni.id)

    def _check_function(self, fn: LambdaFunction) -> None:
        if len(fn.subnets) > MAX_FUNCTION_SUBNETS:
            raise InputError(f"{len(fn.subnets)} subnets; a function takes at most "
                             f"{MAX_FUNCTION_SUBNETS} (L8)", resource=fn.id)
        if len(fn.security_groups) > MAX_FUNCTION_SGS:
            raise InputError(f"{len(fn.security_groups)} security groups; a function takes "
                             f"at most {MAX_FUNCTION_SGS} (L8)", resource=fn.id)
        if fn.subnets and not fn.security_groups:
            raise InputError("VPC configuration needs at least one security group",
                             resource=fn.id)
        vpcs = {self._require(s, self.subnets, fn.id, "subnet", "InvalidSubnetIDException").vpc
                for s in fn.subnets}
        for sg in fn.security_groups:
            vpcs.add(self._require(sg, self.security_groups, fn.id, "security group",
                                   "InvalidSecurityGroupIDException").vpc)
        if len(vpcs) > 1:
            raise InputError(f"subnets and security groups span several VPCs "
                             f"({', '.join(sorted(vpcs))})", resource=fn.id)

    @staticmethod
    def _require(ref: str, table: dict, owner: str, what: str, code: str = ""):
        if ref not in table:
            hint = f" ({code})" if code else ""
            raise InputError(f"unknown {what} {ref!r}{hint}", resource=owner)
        return table[ref]

    # ---- indexes --------------------------------------------------------------------
    def _index(self) -> None:
        self.eni_by_ip: dict[tuple[str, ipaddress.IPv4Address], Eni] = {
            (self.subnets[e.subnet].vpc, e.private_ip): e for e in self.enis.values()}
        self.eni_by_public_ip = {e.public_ip: e for e in self.enis.values() if e.public_ip}
        self.nat_by_eip = {n.elastic_ip: n for n in self.nat_gateways.values() if n.elastic_ip}
        self.sg_members: dict[str, list[ipaddress.IPv4Address]] = {}
        for eni in sorted(self.enis.values(), key=lambda e: e.id):
            for sg in eni.security_groups:
                self.sg_members.setdefault(sg, []).append(eni.private_ip)
        self.host_by_eni = {h.eni: h for h in self.hosts.values() if h.eni}
        self.unplaced_by_ip = {u.ip: u for u in self.unplaced.values() if u.ip is not None}

    # ---- names: a resource's Name tag, beside its id or in place of it ---------------
    KINDS = {"vpc": "vpcs", "subnet": "subnets", "route table": "route_tables",
             "network ACL": "network_acls", "security group": "security_groups",
             "network interface": "enis", "NAT gateway": "nat_gateways",
             "internet gateway": "internet_gateways", "VPC endpoint": "endpoints",
             "peering connection": "peerings", "Lambda function": "functions",
             "instance": "hosts"}

    def display(self, rid: str | None) -> str:
        """`subnet-0abc (app-b)`: the id and, when it says something more, its name."""
        if not rid:
            return str(rid)
        for table in self.KINDS.values():
            item = getattr(self, table).get(rid)
            if item is not None:
                break
        else:
            item = self.unplaced.get(rid)
        name = getattr(item, "name", None)
        return f"{rid} ({name})" if name and name not in rid else rid

    def find(self, kind: str, text: str, among: Iterable[str] | None = None) -> str | None:
        """The id of the resource of `kind` whose id, else whose Name tag, is `text`
        (optionally only among some ids); None when nothing is; an ambiguous name is
        refused with the candidates. Unplaced resources are found too (their ids are in
        `unplaced`), so naming one gets its reason rather than 'unknown'."""
        table = getattr(self, self.KINDS[kind])
        ids = [i for i in table if among is None or i in among]
        ids += [u.id for u in self.unplaced.values() if u.kind == kind and u.id not in table
                and (among is None or u.id in among)]
        if text in ids:
            return text
        found = sorted(i for i in ids if getattr(table.get(i) or self.unplaced.get(i),
                                                 "name", None) == text)
        if len(found) > 1:
            raise InputError(f"{kind} name {text!r} is ambiguous: "
                             f"{', '.join(self.display(i) for i in found)}; give the id",
                             resource=text)
        return found[0] if found else None

    def vpc_of_ip(self, ip: ipaddress.IPv4Address) -> Vpc | None:
        for vpc in self.vpcs.values():
            if any(ip in c for c in vpc.cidrs):
                return vpc
        return None

    def subnet_of_ip(self, vpc: str, ip: ipaddress.IPv4Address) -> Subnet | None:
        for sn in self.subnets.values():
            if sn.vpc == vpc and ip in sn.cidr:
                return sn
        return None

    # ---- Lambda execution environments ---------------------------------------------
    def _make_environments(self) -> None:
        """The first environment in each of a function's subnets, by name (`orders/private-a`);
        `environment()` gives any other."""
        most = (aws_services.LAMBDA_SERVICE_CIDR.num_addresses - 1) // \
            aws_services.ENVS_PER_FUNCTION
        if len(self.functions) > most:
            raise InputError(f"{len(self.functions)} functions: netemu emulates at most {most}")
        for fn in self.function_order:
            for k in range(max(len(self.functions[fn].subnets), 1)):
                env = self.environment(fn, k)
                self.environments[env.id] = env

    @property
    def function_order(self) -> list[str]:
        return sorted(self.functions)

    def environment(self, function: str, k: int) -> ExecutionEnvironment:
        """Execution environment k of a function (L10: each concurrent invocation has its
        own), in its subnets round-robin, NATed onto the Hyperplane ENI of its (subnet,
        security-group set) (L2, L3)."""
        if not 0 <= k < aws_services.ENVS_PER_FUNCTION:
            raise InputError(f"environment {k}: a function has at most "
                             f"{aws_services.ENVS_PER_FUNCTION} here", resource=function)
        fn = self.functions[function]
        i = self.function_order.index(function)
        ip = aws_services.LAMBDA_ENV_BASE + i * aws_services.ENVS_PER_FUNCTION + k
        subnet = fn.subnets[k % len(fn.subnets)] if fn.subnets else None
        # L12: without ec2:CreateNetworkInterface and friends, Lambda makes no ENI for it
        eni = (self.hyperplane_eni(subnet, fn.security_groups)
               if subnet and fn.role_can_manage_enis else None)
        name = (subnet or "env") if k < max(len(fn.subnets), 1) else str(k)
        return ExecutionEnvironment(f"{fn.id}/{name}", fn.id, ip, eni.id if eni else None,
                                    subnet)

    def hyperplane_eni(self, subnet: str, sgs: Iterable[str]) -> Eni | None:
        want = frozenset(sgs)
        for eni in self.enis.values():
            if eni.kind == LAMBDA and eni.subnet == subnet and frozenset(
                    eni.security_groups) == want:
                return eni
        return None

    def environments_of(self, function: str) -> list[ExecutionEnvironment]:
        return [e for e in self.environments.values() if e.function == function]

    def summary(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in RESOURCE_KINDS
                if name != "prefix_lists"}

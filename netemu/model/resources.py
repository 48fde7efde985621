"""One frozen dataclass per AWS resource netemu models.

Ids are whatever the source used: AWS ids from a snapshot (`subnet-0abc...`), or the
names a person gave in a YAML topology (`private-a`). References between resources are
ids; `Topology` checks every one of them when it is built."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netemu.packet import ICMP, ICMPV6, TCP, UDP, protocol_name

Net = ipaddress.IPv4Network
Ip = ipaddress.IPv4Address

# every kind of resource a Topology holds, by its table's name; loaders, fix and lint
# copy or rebuild a topology through this one list
RESOURCE_KINDS = ("vpcs", "subnets", "route_tables", "network_acls", "security_groups",
                  "enis", "nat_gateways", "internet_gateways", "endpoints", "peerings",
                  "functions", "hosts", "prefix_lists")


@dataclass(frozen=True)
class Vpc:
    id: str
    cidrs: tuple[Net, ...]
    main_route_table: str
    default_acl: str
    internet_gateway: str | None = None
    enable_dns_support: bool = True
    enable_dns_hostnames: bool = True
    dns_servers: tuple[str, ...] = ("AmazonProvidedDNS",)   # DHCP options domain-name-servers
    region: str = "us-east-1"
    name: str | None = None
    ipv6_cidrs: tuple[str, ...] = ()
    default_security_group: str | None = None   # made by `finish` when absent

    @property
    def resolver_ip(self) -> Ip:
        """D1: the Amazon resolver answers at the base of the primary CIDR plus two."""
        return self.cidrs[0].network_address + 2

    @property
    def custom_dns(self) -> bool:
        return "AmazonProvidedDNS" not in self.dns_servers


@dataclass(frozen=True)
class Subnet:
    id: str
    vpc: str
    cidr: Net
    az: str
    route_table: str     # effective: explicit association, else the VPC's main table
    acl: str             # effective: explicit association, else the VPC's default ACL
    name: str | None = None

    def reserved(self) -> tuple[Ip, ...]:
        """The five addresses AWS keeps in every subnet: network, router, DNS, future, broadcast."""
        base = self.cidr.network_address
        return (base, base + 1, base + 2, base + 3, self.cidr.broadcast_address)


# route target kinds (R3)
LOCAL, IGW, NAT, ENI_TARGET, VPCE, PCX, TGW, VGW, EIGW = (
    "local", "internet-gateway", "nat-gateway", "network-interface", "vpc-endpoint",
    "vpc-peering", "transit-gateway", "vpn-gateway", "egress-only-internet-gateway")


@dataclass(frozen=True)
class Route:
    destination: Net | None        # None when the destination is a prefix list
    target: str                    # resource id, or "local"
    target_kind: str               # one of the kinds above
    prefix_list: str | None = None
    origin: str = "static"         # static | propagated
    blackhole: bool = False        # R3: the target is gone

    @property
    def dest_text(self) -> str:
        return str(self.destination) if self.destination is not None else str(self.prefix_list)

    @property
    def text(self) -> str:
        state = " (blackhole)" if self.blackhole else ""
        return f"{self.dest_text} -> {self.target}{state}"


@dataclass(frozen=True)
class RouteTable:
    id: str
    vpc: str
    routes: tuple[Route, ...]
    main: bool = False
    name: str | None = None


@dataclass(frozen=True)
class SgRule:
    """S2: protocol, port range (ICMP: type and code), one peer; allow only."""
    egress: bool
    protocol: int                   # -1 all
    from_port: int                  # -1 any (ICMP type)
    to_port: int                    # -1 any (ICMP code)
    peer_kind: str                  # cidr | sg | prefix-list
    peer: str                       # CIDR text, group id or prefix-list id
    description: str = ""

    @property
    def text(self) -> str:
        proto = protocol_name(self.protocol)
        if self.protocol in (TCP, UDP):
            ports = (f" {self.from_port}" if self.from_port == self.to_port
                     else f" {self.from_port}-{self.to_port}")
            if (self.from_port, self.to_port) in ((0, 65535), (-1, -1)):
                ports = " all"
        elif self.protocol in (ICMP, ICMPV6):
            ports = "" if self.from_port == -1 else (
                f" type {self.from_port}" + ("" if self.to_port == -1 else f" code {self.to_port}"))
        else:
            ports = ""
        peer = {"cidr": "", "sg": "sg:", "prefix-list": "pl:"}[self.peer_kind] + self.peer
        return f"{proto}{ports} {'to' if self.egress else 'from'} {peer}"


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    vpc: str
    ingress: tuple[SgRule, ...] = ()
    egress: tuple[SgRule, ...] = ()
    name: str | None = None


@dataclass(frozen=True)
class NaclEntry:
    """N3/N4: numbered, allow or deny, one CIDR, TCP/UDP destination ports or ICMP type/code."""
    number: int
    egress: bool
    allow: bool
    protocol: int                     # -1 all
    cidr: Net
    port_from: int = 0                # TCP/UDP destination port range
    port_to: int = 65535
    icmp_type: int = -1
    icmp_code: int = -1

    @property
    def text(self) -> str:
        num = "*" if self.number == 32767 else str(self.number)
        proto = protocol_name(self.protocol)
        if self.protocol in (TCP, UDP):
            ports = (" all" if (self.port_from, self.port_to) == (0, 65535) else
                     f" {self.port_from}" if self.port_from == self.port_to else
                     f" {self.port_from}-{self.port_to}")
        elif self.protocol == ICMP and self.icmp_type != -1:
            ports = f" type {self.icmp_type}" + (
                "" if self.icmp_code == -1 else f" code {self.icmp_code}")
        else:
            ports = ""
        return (f"{num} {'allow' if self.allow else 'deny'} {proto}{ports} "
                f"{'to' if self.egress else 'from'} {self.cidr}")


@dataclass(frozen=True)
class NetworkAcl:
    id: str
    vpc: str
    entries: tuple[NaclEntry, ...]      # both directions, sorted by number within each
    default: bool = False
    name: str | None = None

    def direction(self, egress: bool) -> tuple[NaclEntry, ...]:
        return tuple(e for e in self.entries if e.egress == egress)


# ENI kinds
LAMBDA, EC2, RDS, NAT_ENI, VPCE_ENI, OTHER = (
    "lambda", "interface", "rds", "nat_gateway", "vpc_endpoint", "other")


@dataclass(frozen=True)
class Eni:
    id: str
    subnet: str
    private_ip: Ip
    security_groups: tuple[str, ...] = ()
    public_ip: Ip | None = None
    kind: str = EC2
    attached_to: str | None = None     # instance, NAT gateway, endpoint or host id
    requester_managed: bool = False
    synthesized: bool = False           # made up by netemu where a snapshot lacked it
    description: str = ""
    # on (AWS's default): it takes only traffic to its own address and sends only from
    # it; off: it forwards what a route sends it (a NAT instance, assumed to masquerade)
    source_dest_check: bool = True
    name: str | None = None             # its Name tag


@dataclass(frozen=True)
class NatGateway:
    id: str
    subnet: str
    eni: str
    private_ip: Ip
    elastic_ip: Ip | None              # None for a private NAT gateway
    public: bool = True
    name: str | None = None


@dataclass(frozen=True)
class InternetGateway:
    id: str
    vpc: str | None
    egress_only: bool = False
    name: str | None = None


@dataclass(frozen=True)
class PrefixList:
    id: str
    name: str
    cidrs: tuple[Net, ...]


@dataclass(frozen=True)
class VpcEndpoint:
    id: str
    vpc: str
    service: str                        # com.amazonaws.us-east-1.s3
    kind: str                           # gateway | interface
    route_tables: tuple[str, ...] = ()  # gateway
    prefix_list: str | None = None      # gateway: the service's managed prefix list
    subnets: tuple[str, ...] = ()       # interface
    enis: tuple[str, ...] = ()          # interface
    security_groups: tuple[str, ...] = ()
    private_dns: bool = False
    dns_names: tuple[str, ...] = ()     # private DNS names (interface, private_dns on)
    policy_allows: bool = True          # E1: an endpoint policy can deny
    name: str | None = None


@dataclass(frozen=True)
class Peering:
    id: str
    requester_vpc: str
    accepter_vpc: str
    active: bool = True
    name: str | None = None


@dataclass(frozen=True)
class LambdaFunction:
    """L1/L2: with no subnets the function lives only in the Lambda service VPC."""
    id: str
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    memory_mb: int = 128
    role_can_manage_enis: bool = True    # L12
    state: str = "Active"

    @property
    def in_vpc(self) -> bool:
        return bool(self.subnets)


@dataclass(frozen=True)
class Host:
    """Something that answers: an instance or database behind an ENI, an internet host, or
    an AWS service address."""
    id: str
    ip: Ip
    kind: str = "instance"               # instance | rds | internet | aws-service
    eni: str | None = None               # inside a VPC
    dns: tuple[str, ...] = ()
    name: str | None = None              # an instance's Name tag


@dataclass(frozen=True)
class Unplaced:
    """Something a snapshot describes but netemu cannot place: its subnet was not
    collected (or is IPv6-only). Kept so that naming it gets a clear answer; no element
    stands for it, so its traffic is unplaced and traffic to it finds nobody."""
    id: str
    kind: str                            # network interface | instance | NAT gateway ...
    reason: str                          # why, for people
    ip: Ip | None = None
    name: str | None = None

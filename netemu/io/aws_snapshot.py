"""AWS CLI snapshots: a folder of JSON files as `aws ec2 describe-*` (and Lambda's
`list-functions`, RDS's `describe-db-instances`) print them.

Files are recognised by their top-level keys, never by their names, and the folder is
walked recursively, so a Batfish-style `aws_configs/<account>/<region>/*.json` tree loads
as it is; several files of one kind merge. What the model cannot express is listed in
`Topology.unmodelled`; what netemu had to make up (a Hyperplane ENI the snapshot lacks, a
missing main route table) in `Topology.notes`. Every error names the file and the
resource id (and the line where it can be found)."""

from __future__ import annotations

import codecs
import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from netemu.addr import parse_address, parse_network
from netemu.errors import InputError
from netemu.io import snapshot_gaps
from netemu.io.aws_shapes import parse_json
from netemu.io.safe_read import read_bytes_capped
from netemu.model import aws_services
from netemu.model.finish import allocate_ip
from netemu.model.resources import (
    EC2,
    IGW,
    LAMBDA,
    LOCAL,
    NAT,
    NAT_ENI,
    OTHER,
    PCX,
    RDS,
    RESOURCE_KINDS,
    TGW,
    VGW,
    VPCE,
    VPCE_ENI,
    Eni,
    Host,
    InternetGateway,
    LambdaFunction,
    NaclEntry,
    NatGateway,
    NetworkAcl,
    Peering,
    PrefixList,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    Unplaced,
    Vpc,
    VpcEndpoint,
)
from netemu.model.topology import Topology
from netemu.packet import ICMP, ICMPV6, PROTOCOL_NAMES, TCP, UDP

ENI_TARGET = "network-interface"
EIGW_KIND = "egress-only-internet-gateway"
# Route target kind for targets netemu does not model (carrier/local gateways, core
# networks, Gateway Load Balancer endpoints, peerings to VPCs outside the snapshot).
UNMODELLED_TARGET = "unmodelled"

# top-level key -> what it holds (for the keys this loader reads)
KNOWN_KEYS = {
    "Vpcs": "VPCs", "Subnets": "subnets", "RouteTables": "route tables",
    "SecurityGroups": "security groups", "NetworkAcls": "network ACLs",
    "NatGateways": "NAT gateways", "InternetGateways": "internet gateways",
    "EgressOnlyInternetGateways": "egress-only internet gateways",
    "VpcEndpoints": "VPC endpoints", "NetworkInterfaces": "network interfaces",
    "Reservations": "instances", "Addresses": "Elastic IPs", "DhcpOptions": "DHCP options",
    "PrefixLists": "prefix lists", "Entries": "prefix-list entries",
    "VpcPeeringConnections": "VPC peering connections", "Functions": "Lambda functions",
    "DBInstances": "RDS instances",
}
# keys that only carry paging or request metadata
IGNORED_KEYS = {"NextToken", "ResponseMetadata", "NextMarker", "Marker", "PrefixListId",
                "VpcId"}
# top-level keys of resources netemu knows about but does not model
UNMODELLED_KEYS = {
    "TransitGateways": "transit gateways",
    "TransitGatewayAttachments": "transit gateway attachments",
    "TransitGatewayVpcAttachments": "transit gateway VPC attachments",
    "TransitGatewayRouteTables": "transit gateway route tables",
    "VpnGateways": "virtual private gateways", "VpnConnections": "VPN connections",
    "CustomerGateways": "customer gateways", "LoadBalancers": "load balancers",
    "LoadBalancerDescriptions": "classic load balancers", "TargetGroups": "target groups",
    "DBClusters": "RDS clusters", "DBProxies": "RDS proxies", "FlowLogs": "flow logs",
    "CarrierGateways": "carrier gateways", "LocalGateways": "local gateways",
    "ManagedPrefixLists": "managed prefix lists", "NetworkFirewalls": "network firewalls",
    "FirewallPolicies": "firewall policies", "ClientVpnEndpoints": "client VPN endpoints",
}
_REGION = re.compile(r"^([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d)")
_PL_ID = re.compile(r"pl-[0-9a-f]+")
_LIVE_NAT_STATES = {"available", "pending"}
_DEAD_ENDPOINT_STATES = {"deleted", "deleting", "failed", "rejected", "expired"}


def load_snapshot(folder: str | Path) -> Topology:
    """Load a folder (walked recursively) or a single file of AWS CLI JSON output."""
    root = Path(folder)
    if not root.exists():
        raise InputError("no such file or folder", file=str(root))
    return _Snapshot(root).load()


def _name_tag(obj: dict) -> str | None:
    """The Name tag (`Tags`, or `TagSet` in describe-network-interfaces)."""
    tags = obj.get("Tags") or obj.get("TagSet")
    for tag in tags if isinstance(tags, list) else ():
        if isinstance(tag, dict) and tag.get("Key") == "Name":
            return str(tag.get("Value", ""))
    return None


def _essence(obj: dict) -> dict:
    """A description without what two copies of one resource may differ in: tags are
    per account (a shared subnet's participant sees none), free addresses per moment."""
    return {k: v for k, v in obj.items()
            if k not in ("Tags", "TagSet", "AvailableIpAddressCount")}


def _field(obj: dict, key: str, sub: str, default: str) -> str:
    inner = obj.get(key)
    return str(inner.get(sub, default)) if isinstance(inner, dict) else default


def _pcx_vpcs(obj: dict) -> tuple[str, str]:
    return (_field(obj, "RequesterVpcInfo", "VpcId", ""),
            _field(obj, "AccepterVpcInfo", "VpcId", ""))


def _pcx_status(obj: dict) -> str:
    return _field(obj, "Status", "Code", "active")


def _decode(raw: bytes) -> str:
    """JSON as people save it: UTF-8 with or without a BOM, or UTF-16/32 with a BOM
    (PowerShell's `Out-File` and `>` write UTF-16 LE with one), or BOM-less UTF-16/32,
    told by where the NULs of the first ASCII character fall (RFC 4627, section 3)."""
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return raw.decode(codec)
    head = raw[:4]
    if len(head) == 4 and head[0] and not any(head[1:]):
        return raw.decode("utf-32-le")
    if len(head) == 4 and head[3] and not any(head[:3]):
        return raw.decode("utf-32-be")
    if len(head) >= 2 and head[0] and not head[1]:
        return raw.decode("utf-16-le")
    if len(head) >= 2 and head[1] and not head[0]:
        return raw.decode("utf-16-be")
    return raw.decode("utf-8")


def _region_of(text: str) -> str | None:
    m = _REGION.match(text)
    return m.group(1) if m else None


class _Snapshot:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[Path] = []
        self.texts: dict[str, str] = {}
        self.items: dict[str, list[tuple[dict, str]]] = {k: [] for k in KNOWN_KEYS}
        self.items["VpcAttributes"] = []
        self.items["FunctionConfigs"] = []
        self.where: dict[str, str] = {}             # resource id -> file
        self.id_key: dict[str, str] = {}            # resource id -> JSON key naming it
        self.notes: list[str] = []
        self.unmodelled: list[str] = []
        self.warnings: list[str] = []               # what the snapshot lacks
        self.collected: set[str] = set()            # top-level keys found in some file
        self.ipv6_only: set[str] = set()            # subnets with no IPv4 CIDR
        self.unplaced_by_id: dict[str, Unplaced] = {}
        self.unplaced_in: dict[str, list[str]] = {}  # missing subnet -> what it held
        self.out: dict[str, list] = {k: [] for k in (*RESOURCE_KINDS, "unplaced")}

    # ---- reading --------------------------------------------------------------------
    def load(self) -> Topology:
        try:
            self.read()
            self.build()
            return Topology.build(source=str(self.root), notes=self.notes,
                                  unmodelled=self.unmodelled, warnings=self.warnings,
                                  lacking="the snapshot", **self.out)
        except InputError as exc:
            raise self.locate(exc) from None

    def read(self) -> None:
        paths = [self.root] if self.root.is_file() else sorted(
            p for p in self.root.rglob("*") if p.is_file())
        for path in paths:
            rel = str(path)
            if path.name.startswith("."):
                continue
            if path.suffix.lower() != ".json":
                self.unmodelled.append(f"{rel}: not a JSON file, ignored")
                continue
            try:
                text = _decode(read_bytes_capped(path, "snapshot file"))
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror or exc}", file=rel) from None
            except UnicodeDecodeError as exc:
                raise InputError(f"not UTF-8 or UTF-16 text ({exc.encoding}: byte "
                                 f"{exc.object[exc.start]:#04x} at offset {exc.start})",
                                 file=rel) from None
            data = parse_json(text, rel)    # syntax and field types: one line each
            self.texts[rel] = text
            self.dispatch(data, rel, path)

    def dispatch(self, data: Any, file: str, path: Path) -> None:
        if not isinstance(data, dict):
            self.unmodelled.append(f"{file}: top level is a {type(data).__name__}, "
                                   "not an AWS CLI object; ignored")
            return
        if "VpcId" in data and ({"EnableDnsSupport", "EnableDnsHostnames"} & data.keys()):
            self.items["VpcAttributes"].append((data, file))       # describe-vpc-attribute
            return
        if "FunctionName" in data:                                 # get-function-configuration
            self.items["FunctionConfigs"].append((data, file))
            return
        if isinstance(data.get("Configuration"), dict) and "FunctionName" in data[
                "Configuration"]:                                  # get-function
            self.items["FunctionConfigs"].append((data["Configuration"], file))
            return
        for key, value in data.items():
            if key in IGNORED_KEYS:
                continue
            if key == "Entries":                                   # managed prefix list
                pl = data.get("PrefixListId") or next(iter(_PL_ID.findall(path.name)), None)
                if pl is None:
                    self.unmodelled.append(f"{file}: prefix-list entries without a "
                                           "PrefixListId (in the object or the file name)")
                    continue
                self.items["Entries"].append(({"PrefixListId": pl, "Entries": value}, file))
                self.collected.add(key)
                continue
            if key in KNOWN_KEYS:
                self.collected.add(key)
                if not isinstance(value, list):
                    raise InputError(f"{key} must be a list, not {type(value).__name__}",
                                     file=file, line=self.line_of_key(file, key))
                for item in value:
                    if not isinstance(item, dict):
                        raise InputError(f"an item of {key} is a {type(item).__name__}, "
                                         "not an object", file=file,
                                         line=self.line_of_key(file, key))
                    self.items[key].append((item, file))
                continue
            what = UNMODELLED_KEYS.get(key)
            count = f"{len(value)} " if isinstance(value, list) else ""
            if what:
                self.unmodelled.append(f"{file}: {count}{what} ({key}) not modelled")
            else:
                self.unmodelled.append(f"{file}: unknown top-level key {key!r}, ignored")

    # ---- errors ---------------------------------------------------------------------
    def line_of_key(self, file: str, key: str) -> int | None:
        m = re.search(rf'"{re.escape(key)}"\s*:', self.texts.get(file, ""))
        return self.texts[file].count("\n", 0, m.start()) + 1 if m else None

    def line_of(self, file: str, rid: str) -> int | None:
        text = self.texts.get(file, "")
        key = self.id_key.get(rid)
        pattern = (rf'"{re.escape(key)}"\s*:\s*"{re.escape(rid)}"' if key
                   else rf'"{re.escape(rid)}"')
        m = re.search(pattern, text) or re.search(rf'"{re.escape(rid)}"', text)
        return text.count("\n", 0, m.start()) + 1 if m else None

    def fail(self, problem: str, file: str, rid: str | None) -> InputError:
        return InputError(problem, file=file, line=self.line_of(file, rid) if rid else None,
                          resource=rid)

    def locate(self, exc: InputError) -> InputError:
        file = self.where.get(exc.resource or "")
        line = self.line_of(file, exc.resource) if file and exc.resource else None
        return exc.at(file=file, line=line)

    def req(self, obj: dict, key: str, file: str, rid: str | None, what: str) -> Any:
        value = obj.get(key)
        if value is None or value == "":
            raise self.fail(f"{what} has no {key}", file, rid)
        return value

    def net(self, text: Any, file: str, rid: str, what: str) -> ipaddress.IPv4Network:
        try:
            net = parse_network(str(text), what)
        except InputError as exc:
            raise self.fail(exc.problem, file, rid) from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise self.fail(f"{what} {text!r} is not IPv4", file, rid)
        return net

    def addr(self, text: Any, file: str, rid: str, what: str) -> ipaddress.IPv4Address:
        try:
            return parse_address(str(text), what)
        except InputError as exc:
            raise self.fail(exc.problem, file, rid) from None

    def unique(self, key: str, id_key: str, what: str) -> dict[str, tuple[dict, str]]:
        """The items of one kind by id; a resource exported twice (identically) counts
        once, one exported twice differently is refused."""
        out: dict[str, tuple[dict, str]] = {}
        for i, (obj, file) in enumerate(self.items[key]):
            rid = obj.get(id_key)
            if not rid:
                raise InputError(f"{what} #{i + 1} has no {id_key}", file=file,
                                 line=self.line_of_key(file, key))
            rid = str(rid)
            self.id_key.setdefault(rid, id_key)
            if rid in out:
                old, old_file = out[rid]
                if _essence(old) != _essence(obj):
                    raise self.fail(f"{what} is defined differently in {old_file} and "
                                    f"{file}", file, rid)
                if _name_tag(obj) and not _name_tag(old):
                    out[rid] = ({**old, "Tags": obj.get("Tags") or obj.get("TagSet")},
                                old_file)
                continue
            out[rid] = (obj, file)
            self.where.setdefault(rid, file)
        return out

    def unique_peerings(self) -> dict[str, tuple[dict, str]]:
        """Peering connections by id. In Batfish's multi-account layout each account
        describes the same connection from its side (own tags, own view of the options):
        one connection, as long as both name the same two VPCs."""
        out: dict[str, tuple[dict, str]] = {}
        key = "VpcPeeringConnections"
        for i, (obj, file) in enumerate(self.items[key]):
            rid = obj.get("VpcPeeringConnectionId")
            if not rid:
                raise InputError(f"peering connection #{i + 1} has no VpcPeeringConnectionId",
                                 file=file, line=self.line_of_key(file, key))
            rid = str(rid)
            self.id_key.setdefault(rid, "VpcPeeringConnectionId")
            if rid not in out:
                out[rid] = (obj, file)
                self.where.setdefault(rid, file)
                continue
            old, old_file = out[rid]
            if _pcx_vpcs(old) != _pcx_vpcs(obj):
                raise self.fail("peering connection is described with different VPCs in "
                                f"{old_file} ({' -> '.join(_pcx_vpcs(old))}) and {file} "
                                f"({' -> '.join(_pcx_vpcs(obj))})", file, rid)
            codes = [_pcx_status(o) for o in (old, obj)]
            merged = dict(old)
            if codes[0] != codes[1]:
                # described at two moments: active only if both saw it active
                worse = old if codes[1] == "active" else obj
                merged["Status"] = worse.get("Status")
                self.warnings.append(f"peering connection {rid}: {codes[0]} in {old_file} "
                                     f"but {codes[1]} in {file}; taken as "
                                     f"{_pcx_status(worse)}")
            merged["Tags"] = old.get("Tags") if _name_tag(old) else obj.get("Tags")
            out[rid] = (merged, old_file)
        return out

    def add(self, table: str, item: Any, file: str) -> None:
        self.out[table].append(item)
        self.where.setdefault(item.id, file)

    # ---- building -------------------------------------------------------------------
    def build(self) -> None:
        self.vpc_raw = self.unique("Vpcs", "VpcId", "VPC")
        self.subnet_raw = self.unique("Subnets", "SubnetId", "subnet")
        self.rt_raw = self.unique("RouteTables", "RouteTableId", "route table")
        self.acl_raw = self.unique("NetworkAcls", "NetworkAclId", "network ACL")
        self.sg_raw = self.unique("SecurityGroups", "GroupId", "security group")
        self.eni_raw = self.unique("NetworkInterfaces", "NetworkInterfaceId",
                                   "network interface")
        self.nat_raw = self.unique("NatGateways", "NatGatewayId", "NAT gateway")
        self.igw_raw = self.unique("InternetGateways", "InternetGatewayId", "internet gateway")
        self.eigw_raw = self.unique("EgressOnlyInternetGateways",
                                    "EgressOnlyInternetGatewayId", "egress-only gateway")
        self.vpce_raw = self.unique("VpcEndpoints", "VpcEndpointId", "VPC endpoint")
        self.dhcp_raw = self.unique("DhcpOptions", "DhcpOptionsId", "DHCP options")
        self.pcx_raw = self.unique_peerings()
        self.addresses = [a for a, _ in self.items["Addresses"]]
        snapshot_gaps.missing_vpcs(self)
        self.region_of_vpc = self.regions()
        self.prefix_lists()
        self.gateways()
        self.vpcs()
        self.subnets()
        self.acls()
        self.security_groups()
        self.enis()
        self.nat_gateways()
        self.endpoints()
        self.instances()
        self.route_tables()
        self.peerings()
        self.functions()
        self.databases()
        self.dangling()
        self.interfaces()
        snapshot_gaps.missing_groups(self)
        self.report_unplaced()

    def regions(self) -> dict[str, str]:
        """Each VPC's Region: from its subnets' zones, else the folder it was found in."""
        out: dict[str, str] = {}
        for sn, _ in self.subnet_raw.values():
            region = _region_of(str(sn.get("AvailabilityZone", "")))
            if region and sn.get("VpcId"):
                out.setdefault(str(sn["VpcId"]), region)
        for vpc_id, (_, file) in self.vpc_raw.items():
            if vpc_id not in out:
                parts = Path(file).parts
                found = [r for r in map(_region_of, parts) if r and r in parts]
                out[vpc_id] = found[-1] if found else "us-east-1"
        return out

    def prefix_lists(self) -> None:
        lists: dict[str, dict] = {}
        for obj, file in self.items["PrefixLists"]:
            pid = str(self.req(obj, "PrefixListId", file, None, "prefix list"))
            self.where.setdefault(pid, file)
            self.id_key.setdefault(pid, "PrefixListId")
            entry = lists.setdefault(pid, {"name": None, "cidrs": None, "file": file})
            entry["name"] = entry["name"] or obj.get("PrefixListName")
            if obj.get("AddressFamily") == "IPv6":
                entry["ipv6"] = True
            if "Cidrs" in obj:
                entry["cidrs"] = list(obj["Cidrs"] or [])
        for obj, file in self.items["Entries"]:
            pid = str(obj["PrefixListId"])
            entry = lists.setdefault(pid, {"name": None, "cidrs": None, "file": file})
            entry["cidrs"] = [e.get("Cidr") for e in obj["Entries"] or [] if isinstance(e, dict)]
        builtin = aws_services.builtin_prefix_lists()
        for pid, entry in sorted(lists.items()):
            file = entry["file"]
            if entry.get("ipv6"):
                self.unmodelled.append(f"prefix list {pid} ({entry['name']}): IPv6, not in "
                                       "the dataplane yet")
                continue
            if entry["cidrs"] is None:
                if pid in builtin:
                    continue        # the built-in copy has the entries
                self.unmodelled.append(f"prefix list {pid} ({entry['name']}): entries not "
                                       "in the snapshot (get-managed-prefix-list-entries); "
                                       "it matches nothing")
                entry["cidrs"] = []
            cidrs = tuple(self.net(c, file, pid, "prefix-list CIDR") for c in entry["cidrs"])
            self.add("prefix_lists", PrefixList(pid, str(entry["name"] or pid), cidrs), file)
        self.pl_ids = set(builtin) | {pl.id for pl in self.out["prefix_lists"]}
        self.pl_by_name = {**{pl.name: pl.id for pl in builtin.values()},
                           **{pl.name: pl.id for pl in self.out["prefix_lists"]}}

    def gateways(self) -> None:
        self.igw_of_vpc: dict[str, str] = {}
        for gid, (obj, file) in self.igw_raw.items():
            vpcs = [a.get("VpcId") for a in obj.get("Attachments") or []
                    if a.get("State") in ("available", "attached", None)]
            vpc = str(vpcs[0]) if vpcs else None
            if vpc:
                self.igw_of_vpc.setdefault(vpc, gid)
            self.add("internet_gateways", InternetGateway(gid, vpc, name=_name_tag(obj)), file)
        for gid, (obj, file) in self.eigw_raw.items():
            vpcs = [a.get("VpcId") for a in obj.get("Attachments") or []
                    if a.get("State") in ("attached", "available", None)]
            self.add("internet_gateways", InternetGateway(
                gid, str(vpcs[0]) if vpcs else None, egress_only=True, name=_name_tag(obj)),
                file)
            self.unmodelled.append(f"egress-only internet gateway {gid}: IPv6 only, not in "
                                   "the dataplane yet")

    def vpcs(self) -> None:
        attrs: dict[str, dict[str, bool]] = {}
        for obj, file in self.items["VpcAttributes"]:
            vid = str(obj["VpcId"])
            for key in ("EnableDnsSupport", "EnableDnsHostnames"):
                if key in obj:
                    value = obj[key]
                    value = value.get("Value") if isinstance(value, dict) else value
                    if not isinstance(value, bool):
                        raise self.fail(f"{key} must be {{\"Value\": true|false}}", file, vid)
                    attrs.setdefault(vid, {})[key] = value
        for vid in sorted(set(attrs) - set(self.vpc_raw)):
            self.unmodelled.append(f"VPC attributes for {vid}, a VPC not in the snapshot")
        self.main_rt: dict[str, str] = {}
        for rid, (obj, _) in self.rt_raw.items():
            if any(a.get("Main") for a in obj.get("Associations") or []):
                self.main_rt.setdefault(str(obj.get("VpcId")), rid)
        self.default_acl: dict[str, str] = {}
        for aid, (obj, _) in self.acl_raw.items():
            if obj.get("IsDefault"):
                self.default_acl.setdefault(str(obj.get("VpcId")), aid)
        self.vpc_cidrs: dict[str, tuple[ipaddress.IPv4Network, ...]] = {}
        for vid, (obj, file) in self.vpc_raw.items():
            assoc = [a.get("CidrBlock") for a in obj.get("CidrBlockAssociationSet") or []
                     if (a.get("CidrBlockState") or {}).get("State", "associated")
                     in ("associated", "associating")]
            texts = list(dict.fromkeys(
                [self.req(obj, "CidrBlock", file, vid, "VPC"), *filter(None, assoc)]))
            cidrs = tuple(self.net(c, file, vid, "VPC CIDR") for c in texts)
            self.vpc_cidrs[vid] = cidrs
            ipv6 = tuple(str(a.get("Ipv6CidrBlock")) for a in
                         obj.get("Ipv6CidrBlockAssociationSet") or [] if a.get("Ipv6CidrBlock"))
            if ipv6:
                self.unmodelled.append(f"VPC {vid}: IPv6 CIDRs {', '.join(ipv6)} kept, but "
                                       "IPv6 is not in the dataplane yet")
            region = self.region_of_vpc[vid]
            main = self.main_rt.get(vid)
            if main is None:                     # `finish` makes it, with local routes
                main = f"{vid}-main"
                self.main_rt[vid] = main
                self.where.setdefault(main, file)
                (self.notes if "RouteTables" in self.collected else self.warnings).append(
                    f"VPC {vid}: no main route table in the snapshot"
                    + ("" if "RouteTables" in self.collected else
                       " (no describe-route-tables output was collected)")
                    + f"; synthesised {main} with local routes only")
            acl = self.default_acl.get(vid)
            if acl is None:                      # `finish` makes it, allowing everything
                acl = f"{vid}-default-acl"
                self.default_acl[vid] = acl
                self.where.setdefault(acl, file)
                (self.notes if "NetworkAcls" in self.collected else self.warnings).append(
                    f"VPC {vid}: no default network ACL in the snapshot"
                    + ("" if "NetworkAcls" in self.collected else
                       " (no describe-network-acls output was collected)")
                    + f"; synthesised {acl} allowing everything")
            a = attrs.get(vid, {})
            self.add("vpcs", Vpc(
                vid, cidrs, main, acl, self.igw_of_vpc.get(vid),
                a.get("EnableDnsSupport", True), a.get("EnableDnsHostnames", True),
                self.dns_servers(vid, obj, file), region, _name_tag(obj), ipv6), file)

    def dns_servers(self, vid: str, vpc: dict, file: str) -> tuple[str, ...]:
        """D2: the VPC's DHCP options set decides who answers DNS."""
        dopt = vpc.get("DhcpOptionsId")
        if not dopt or dopt == "default":
            return ("AmazonProvidedDNS",)
        if dopt not in self.dhcp_raw:
            self.unmodelled.append(f"VPC {vid}: DHCP options {dopt} not in the snapshot; "
                                   "assuming AmazonProvidedDNS")
            return ("AmazonProvidedDNS",)
        obj, _ = self.dhcp_raw[dopt]
        for conf in obj.get("DhcpConfigurations") or []:
            if conf.get("Key") == "domain-name-servers":
                values = tuple(str(v.get("Value") if isinstance(v, dict) else v)
                               for v in conf.get("Values") or [])
                return values or ("AmazonProvidedDNS",)
        return ("AmazonProvidedDNS",)

    def subnets(self) -> None:
        rt_of: dict[str, str] = {}
        for rid, (obj, _) in self.rt_raw.items():
            for a in obj.get("Associations") or []:
                if a.get("SubnetId") and (a.get("AssociationState") or {}).get(
                        "State", "associated") in ("associated", "associating"):
                    rt_of[str(a["SubnetId"])] = rid
        acl_of: dict[str, str] = {}
        for aid, (obj, _) in self.acl_raw.items():
            for a in obj.get("Associations") or []:
                if a.get("SubnetId"):
                    acl_of[str(a["SubnetId"])] = aid
        self.subnet_by_id: dict[str, Subnet] = {}
        for sid, (obj, file) in self.subnet_raw.items():
            vpc = str(self.req(obj, "VpcId", file, sid, "subnet"))
            if not obj.get("CidrBlock") and (obj.get("Ipv6Native") or
                                             obj.get("Ipv6CidrBlockAssociationSet")):
                self.ipv6_only.add(sid)
                name = _name_tag(obj)
                self.unmodelled.append(f"subnet {sid}{f' ({name})' if name else ''}: "
                                       "IPv6-only, not modelled (what is in it is unplaced)")
                continue
            cidr = self.net(self.req(obj, "CidrBlock", file, sid, "subnet"), file, sid,
                            "subnet CIDR")
            if obj.get("Ipv6CidrBlockAssociationSet"):
                self.unmodelled.append(f"subnet {sid}: IPv6 CIDR not in the dataplane yet")
            sn = Subnet(sid, vpc, cidr, str(obj.get("AvailabilityZone", "")),
                        rt_of.get(sid) or self.main_rt.get(vpc, f"{vpc}-main"),
                        acl_of.get(sid) or self.default_acl.get(vpc, f"{vpc}-default-acl"),
                        _name_tag(obj))
            self.subnet_by_id[sid] = sn
            self.add("subnets", sn, file)

    def acls(self) -> None:
        for aid, (obj, file) in self.acl_raw.items():
            vpc = str(self.req(obj, "VpcId", file, aid, "network ACL"))
            entries: list[NaclEntry] = []
            for e in obj.get("Entries") or []:
                entry = self.nacl_entry(e, file, aid)
                if entry is not None:
                    entries.append(entry)
            self.add("network_acls", NetworkAcl(aid, vpc, tuple(entries),
                                                bool(obj.get("IsDefault")), _name_tag(obj)),
                     file)

    def nacl_entry(self, e: dict, file: str, aid: str) -> NaclEntry | None:
        number = int(self.req(e, "RuleNumber", file, aid, "network ACL entry"))
        egress = bool(e.get("Egress"))
        if e.get("Ipv6CidrBlock") and not e.get("CidrBlock"):
            if number != 32767:
                self.unmodelled.append(f"network ACL {aid}: IPv6 rule {number} "
                                       f"({'outbound' if egress else 'inbound'}) for "
                                       f"{e['Ipv6CidrBlock']} not in the dataplane yet")
            return None
        cidr = self.net(self.req(e, "CidrBlock", file, aid, f"network ACL rule {number}"),
                        file, aid, f"rule {number} CIDR")
        proto = self.protocol(self.req(e, "Protocol", file, aid, f"rule {number}"), file, aid)
        action = str(self.req(e, "RuleAction", file, aid, f"rule {number}")).lower()
        if action not in ("allow", "deny"):
            raise self.fail(f"rule {number}: RuleAction {action!r} is not allow or deny",
                            file, aid)
        lo, hi, itype, icode = 0, 65535, -1, -1
        if proto in (TCP, UDP) and e.get("PortRange"):
            lo = int(e["PortRange"].get("From", 0))
            hi = int(e["PortRange"].get("To", 65535))
        if proto in (ICMP, ICMPV6) and e.get("IcmpTypeCode"):
            itype = int(e["IcmpTypeCode"].get("Type", -1))
            icode = int(e["IcmpTypeCode"].get("Code", -1))
        return NaclEntry(number, egress, action == "allow", proto, cidr, lo, hi, itype, icode)

    def protocol(self, value: Any, file: str, rid: str) -> int:
        text = str(value).lower()
        if text in PROTOCOL_NAMES:
            return PROTOCOL_NAMES[text]
        if text.lstrip("-").isdigit() and -1 <= int(text) <= 255:
            return int(text)
        raise self.fail(f"unknown protocol {value!r}", file, rid)

    def security_groups(self) -> None:
        for gid, (obj, file) in self.sg_raw.items():
            vpc = str(self.req(obj, "VpcId", file, gid, "security group"))
            rules = {}
            for key, egress in (("IpPermissions", False), ("IpPermissionsEgress", True)):
                rules[egress] = tuple(r for perm in obj.get(key) or []
                                      for r in self.sg_rules(perm, egress, gid, obj, file))
            self.add("security_groups", SecurityGroup(
                gid, vpc, rules[False], rules[True],
                _name_tag(obj) or obj.get("GroupName")), file)

    def sg_rules(self, perm: dict, egress: bool, gid: str, group: dict,
                 file: str) -> Iterable[SgRule]:
        proto = self.protocol(self.req(perm, "IpProtocol", file, gid, "security group rule"),
                              file, gid)
        if proto in (TCP, UDP):
            lo = perm.get("FromPort", 0)
            hi = perm.get("ToPort", 65535)
            lo, hi = (0, 65535) if (lo, hi) == (-1, -1) else (int(lo), int(hi))
        elif proto in (ICMP, ICMPV6):
            lo, hi = int(perm.get("FromPort", -1)), int(perm.get("ToPort", -1))
        else:
            lo = hi = -1                # S2: other protocols cover all ports
        way = "to" if egress else "from"
        for r in perm.get("IpRanges") or []:
            cidr = self.net(self.req(r, "CidrIp", file, gid, "IpRanges entry"), file, gid,
                            "security group CIDR")
            yield SgRule(egress, proto, lo, hi, "cidr", str(cidr), str(r.get("Description", "")))
        for r in perm.get("Ipv6Ranges") or []:
            rule = SgRule(egress, proto, lo, hi, "cidr", str(r.get("CidrIpv6")))
            self.unmodelled.append(f"security group {gid}: IPv6 rule '{rule.text}' not in "
                                   "the dataplane yet")
        for r in perm.get("PrefixListIds") or []:
            pid = str(self.req(r, "PrefixListId", file, gid, "PrefixListIds entry"))
            yield SgRule(egress, proto, lo, hi, "prefix-list", pid,
                         str(r.get("Description", "")))
        for r in perm.get("UserIdGroupPairs") or []:
            peer = str(self.req(r, "GroupId", file, gid, "UserIdGroupPairs entry"))
            foreign = (r.get("VpcPeeringConnectionId") or (
                r.get("UserId") and group.get("OwnerId") and r["UserId"] != group["OwnerId"]))
            if peer not in self.sg_raw and foreign:
                self.unmodelled.append(f"security group {gid}: rule {way} {peer} (a group of "
                                       "another account or a peered VPC, not in the snapshot) "
                                       "dropped")
                continue
            yield SgRule(egress, proto, lo, hi, "sg", peer, str(r.get("Description", "")))

    # ---- network interfaces and what owns them ---------------------------------------
    def enis(self) -> None:
        self.public_of = {str(a["NetworkInterfaceId"]): str(a["PublicIp"])
                          for a in self.addresses
                          if a.get("NetworkInterfaceId") and a.get("PublicIp")}
        self.eni_by_id: dict[str, Eni] = {}
        for eid, (obj, file) in self.eni_raw.items():
            eni = self.eni(eid, obj, file, self.public_of)
            if eni is not None:
                self.eni_by_id[eid] = eni

    def eni(self, eid: str, obj: dict, file: str, public_of: dict[str, str]) -> Eni | None:
        """The interface, or None when its subnet is not in the snapshot (unplaced)."""
        subnet = str(self.req(obj, "SubnetId", file, eid, "network interface"))
        if subnet not in self.subnet_by_id:
            ip = obj.get("PrivateIpAddress")
            self.unplace(eid, "network interface", subnet,
                         self.addr(ip, file, eid, "private IP") if ip else None,
                         _name_tag(obj), file)
            return None
        ip = self.addr(self.req(obj, "PrivateIpAddress", file, eid, "network interface"),
                       file, eid, "private IP")
        secondary = [p.get("PrivateIpAddress") for p in obj.get("PrivateIpAddresses") or []
                     if not p.get("Primary") and p.get("PrivateIpAddress")]
        if secondary:
            self.unmodelled.append(f"network interface {eid}: secondary private IPs "
                                   f"{', '.join(map(str, secondary))} not modelled")
        if obj.get("Ipv6Addresses"):
            self.unmodelled.append(f"network interface {eid}: IPv6 addresses not in the "
                                   "dataplane yet")
        public = (obj.get("Association") or {}).get("PublicIp") or public_of.get(eid)
        itype = str(obj.get("InterfaceType") or "interface")
        desc = str(obj.get("Description") or "")
        requester = str(obj.get("RequesterId") or "")
        attach = obj.get("Attachment") or {}
        kind, owner = EC2, attach.get("InstanceId")
        if itype == "lambda" or (desc.startswith("AWS Lambda VPC ENI") and
                                 obj.get("RequesterManaged")):
            kind = LAMBDA
        elif itype == "nat_gateway":
            kind, public = NAT_ENI, None        # the Elastic IP lives on the NAT gateway
        elif itype == "vpc_endpoint":
            kind = VPCE_ENI
        elif requester == "amazon-rds" or desc == "RDSNetworkInterface":
            kind = RDS
        elif requester == "amazon-elb" or desc.startswith("ELB ") or itype in (
                "network_load_balancer", "gateway_load_balancer", "load_balancer"):
            kind = OTHER
            self.unmodelled.append(f"network interface {eid}: load balancer ({desc or itype})"
                                   " not modelled; kept as a plain interface")
        elif itype not in ("interface", "efa", "trunk", "branch"):
            kind = OTHER
            self.unmodelled.append(f"network interface {eid}: interface type {itype!r} "
                                   "not modelled; kept as a plain interface")
        groups = tuple(str(g["GroupId"]) for g in obj.get("Groups") or [] if g.get("GroupId"))
        check = obj.get("SourceDestCheck", True)
        if not isinstance(check, bool):
            raise self.fail(f"SourceDestCheck must be true or false, not {check!r}", file, eid)
        self.where.setdefault(eid, file)
        return Eni(eid, subnet, ip, groups,
                   self.addr(public, file, eid, "public IP") if public else None, kind,
                   str(owner) if owner else None, bool(obj.get("RequesterManaged")),
                   description=desc, source_dest_check=check, name=_name_tag(obj))

    # ---- what cannot be placed ----------------------------------------------------------
    def subnet_missing(self, subnet: str) -> str:
        """Why a subnet is not in the model, for people."""
        if subnet in self.ipv6_only:
            return f"its subnet {subnet} is IPv6-only, which netemu does not model"
        if "Subnets" not in self.collected:
            return (f"its subnet {subnet} is not in the snapshot (no describe-subnets "
                    "output was collected)")
        return f"its subnet {subnet} is not in the snapshot's describe-subnets output"

    def unplace(self, rid: str, kind: str, subnet: str, ip: Any, name: str | None,
                file: str) -> None:
        if rid in self.unplaced_by_id:
            return
        reason = self.subnet_missing(subnet)
        self.unplaced_by_id[rid] = Unplaced(rid, kind, reason, ip, name)
        self.unplaced_in.setdefault(subnet, []).append(rid)
        self.where.setdefault(rid, file)

    def report_unplaced(self) -> None:
        """One warning per missing subnet, naming what could not be placed in it."""
        for subnet, rids in sorted(self.unplaced_in.items()):
            things = [f"{u.kind} {u.id}" + (f" ({u.ip})" if u.ip else "")
                      for u in map(self.unplaced_by_id.get, rids) if u is not None]
            shown = ", ".join(things[:5]) + (f" and {len(things) - 5} more"
                                             if len(things) > 5 else "")
            why = self.subnet_missing(subnet).removeprefix("its ")
            them = "them" if len(things) > 1 else "it"
            self.warnings.append(f"{why}: unplaced {shown}; traffic from {them} is unplaced "
                                 f"and traffic to {them} finds nobody")
        self.out["unplaced"] = list(self.unplaced_by_id.values())

    def eni_replace(self, eid: str, **changes: Any) -> None:
        self.eni_by_id[eid] = replace(self.eni_by_id[eid], **changes)

    def used_ips(self, subnet: str) -> set[ipaddress.IPv4Address]:
        return {e.private_ip for e in self.eni_by_id.values() if e.subnet == subnet}

    def nat_gateways(self) -> None:
        eip_of = {str(a["AllocationId"]): str(a["PublicIp"]) for a in self.addresses
                  if a.get("AllocationId") and a.get("PublicIp")}
        for nid, (obj, file) in self.nat_raw.items():
            state = str(obj.get("State", "available"))
            if state not in _LIVE_NAT_STATES:
                self.notes.append(f"NAT gateway {nid} is {state}; left out")
                continue
            subnet = str(self.req(obj, "SubnetId", file, nid, "NAT gateway"))
            addrs = obj.get("NatGatewayAddresses") or []
            if not addrs:
                raise self.fail("NAT gateway has no NatGatewayAddresses", file, nid)
            first = next((a for a in addrs if a.get("IsPrimary")), addrs[0])
            if subnet not in self.subnet_by_id:
                ip_text = first.get("PrivateIp")
                self.unplace(nid, "NAT gateway", subnet, self.addr(
                    ip_text, file, nid, "private IP") if ip_text else None, _name_tag(obj), file)
                continue
            if len(addrs) > 1:
                self.unmodelled.append(f"NAT gateway {nid}: {len(addrs) - 1} secondary "
                                       "addresses not modelled (the primary one is used)")
            public = str(obj.get("ConnectivityType", "public")) != "private"
            eip_text = first.get("PublicIp") or eip_of.get(str(first.get("AllocationId")))
            eip = self.addr(eip_text, file, nid, "Elastic IP") if eip_text else None
            eni_id = first.get("NetworkInterfaceId")
            ip_text = first.get("PrivateIp")
            if eni_id and eni_id in self.eni_by_id:
                eni = self.eni_by_id[eni_id]
                ip = eni.private_ip
                self.eni_replace(eni_id, kind=NAT_ENI, attached_to=nid, public_ip=None)
            else:
                if not ip_text:
                    raise self.fail("NAT gateway address has no PrivateIp", file, nid)
                ip = self.addr(ip_text, file, nid, "private IP")
                eni_id = str(eni_id or f"eni-{nid}")
                self.eni_by_id[eni_id] = Eni(eni_id, subnet, ip, (), None, NAT_ENI, nid,
                                             requester_managed=True,
                                             description=f"Interface for NAT Gateway {nid}")
                self.where.setdefault(eni_id, file)
                self.notes.append(f"NAT gateway {nid}: network interface {eni_id} not in "
                                  "the snapshot; made from NatGatewayAddresses")
            if public and eip is None:
                self.unmodelled.append(f"NAT gateway {nid}: public but no Elastic IP in the "
                                       "snapshot")
            self.add("nat_gateways", NatGateway(nid, subnet, eni_id, ip, eip, public,
                                                _name_tag(obj)), file)

    def endpoints(self) -> None:
        self.vpce_kind: dict[str, str] = {}
        for eid, (obj, file) in self.vpce_raw.items():
            state = str(obj.get("State", "available")).lower()
            etype = str(obj.get("VpcEndpointType", "Gateway"))
            self.vpce_kind[eid] = etype
            if state in _DEAD_ENDPOINT_STATES:
                self.notes.append(f"VPC endpoint {eid} is {state}; left out")
                continue
            if etype not in ("Gateway", "Interface"):
                self.unmodelled.append(f"VPC endpoint {eid}: type {etype} not modelled")
                continue
            vpc = str(self.req(obj, "VpcId", file, eid, "VPC endpoint"))
            service = str(self.req(obj, "ServiceName", file, eid, "VPC endpoint"))
            region = self.region_of_vpc.get(vpc, "us-east-1")
            short = aws_services.service_short_name(service)
            allows = self.policy_allows(eid, obj.get("PolicyDocument"))
            if etype == "Gateway":
                pl = self.gateway_prefix_list(eid, service, region, short)
                self.add("endpoints", VpcEndpoint(
                    eid, vpc, service, "gateway", tuple(map(str, obj.get("RouteTableIds") or [])),
                    pl, policy_allows=allows, name=_name_tag(obj)), file)
                continue
            subnets = tuple(map(str, obj.get("SubnetIds") or []))
            missing = [sn for sn in subnets if sn not in self.subnet_by_id]
            if missing:
                self.warnings.append(f"VPC endpoint {eid}: subnet {', '.join(missing)} not "
                                     "in the snapshot; its interfaces there are unplaced")
                subnets = tuple(sn for sn in subnets if sn in self.subnet_by_id)
            groups = tuple(str(g["GroupId"]) for g in obj.get("Groups") or [] if g.get("GroupId"))
            enis = []
            for eni_id in obj.get("NetworkInterfaceIds") or []:
                eni_id = str(eni_id)
                if eni_id in self.eni_by_id:
                    self.eni_replace(eni_id, kind=VPCE_ENI, attached_to=eid)
                    enis.append(eni_id)
            have = {self.eni_by_id[e].subnet for e in enis}
            for sn in subnets:
                if sn in have or sn not in self.subnet_by_id:
                    continue
                ip = allocate_ip(self.subnet_by_id[sn], self.used_ips(sn), eid)
                eni_id = f"eni-{eid}-{sn}"
                self.eni_by_id[eni_id] = Eni(eni_id, sn, ip, groups, None, VPCE_ENI, eid,
                                             requester_managed=True, synthesized=True,
                                             description=f"VPC Endpoint Interface {eid}")
                self.where.setdefault(eni_id, file)
                enis.append(eni_id)
                self.notes.append(f"VPC endpoint {eid}: no network interface in {sn} in the "
                                  f"snapshot; synthesised {eni_id} ({ip})")
            if missing and not enis:
                self.unplaced_by_id[eid] = Unplaced(
                    eid, "VPC endpoint", "none of its subnets is in the snapshot", None,
                    _name_tag(obj))
                self.where.setdefault(eid, file)
                continue
            private_dns = bool(obj.get("PrivateDnsEnabled"))
            names = (aws_services.service_dns_name(region, short),) if private_dns else ()
            self.add("endpoints", VpcEndpoint(eid, vpc, service, "interface", (), None, subnets,
                                              tuple(enis), groups, private_dns, names, allows,
                                              _name_tag(obj)), file)

    def gateway_prefix_list(self, eid: str, service: str, region: str,
                            short: str) -> str | None:
        """R5: the prefix list of the endpoint's own routes, else the service's list."""
        for obj, _ in self.rt_raw.values():
            for r in obj.get("Routes") or []:
                if r.get("GatewayId") == eid and r.get("DestinationPrefixListId"):
                    return str(r["DestinationPrefixListId"])
        if service in self.pl_by_name:
            return self.pl_by_name[service]
        pl = aws_services.gateway_prefix_list(region, short)
        if pl is None:
            self.unmodelled.append(f"VPC endpoint {eid}: no prefix list known for {service}")
            return None
        return pl.id

    def policy_allows(self, eid: str, policy: Any) -> bool:
        """E1: the model keeps allow-all or deny-all; anything finer is reported."""
        if not policy:
            return True
        try:
            doc = json.loads(policy) if isinstance(policy, str) else policy
            statements = doc.get("Statement", [])
            statements = [statements] if isinstance(statements, dict) else list(statements)
            if not all(isinstance(s, dict) for s in statements):
                raise ValueError("a statement is not an object")
        except (ValueError, AttributeError, TypeError, RecursionError):
            self.unmodelled.append(f"VPC endpoint {eid}: unreadable policy, taken as allow")
            return True

        def full(s: dict) -> bool:
            return (s.get("Principal") in ("*", {"AWS": "*"}) and s.get("Action") in ("*", ["*"])
                    and s.get("Resource") in ("*", ["*"]) and not s.get("Condition"))

        allows = [s for s in statements if s.get("Effect") == "Allow"]
        denies = [s for s in statements if s.get("Effect") == "Deny"]
        if not allows or any(full(s) for s in denies):
            return False
        if not denies and any(full(s) for s in allows):
            return True
        self.unmodelled.append(f"VPC endpoint {eid}: custom policy not evaluated; taken as "
                               "allow")
        return True

    def instances(self) -> None:
        self.eni_of_instance: dict[str, str] = {}
        seen: set[str] = set()
        for res, file in self.items["Reservations"]:
            for inst in res.get("Instances") or []:
                iid = str(self.req(inst, "InstanceId", file, None, "instance"))
                if iid in seen:
                    continue
                seen.add(iid)
                self.id_key.setdefault(iid, "InstanceId")
                self.where.setdefault(iid, file)
                self.instance(iid, inst, file)

    def instance(self, iid: str, inst: dict, file: str) -> None:
        state = str((inst.get("State") or {}).get("Name", "running"))
        if state in ("terminated", "shutting-down"):
            self.notes.append(f"instance {iid} is {state}; left out")
            return
        primary = None
        for ni in sorted(inst.get("NetworkInterfaces") or [],
                         key=lambda n: (n.get("Attachment") or {}).get("DeviceIndex", 0)):
            nid = str(self.req(ni, "NetworkInterfaceId", file, iid, "instance interface"))
            if nid in self.eni_by_id:
                self.eni_replace(nid, attached_to=iid)
            else:
                merged = {"SubnetId": inst.get("SubnetId"), **ni}
                if primary is None and "SourceDestCheck" in inst:   # the instance's attribute
                    merged.setdefault("SourceDestCheck", inst["SourceDestCheck"])
                eni = self.eni(nid, merged, file, self.public_of)
                if eni is not None:
                    self.eni_by_id[nid] = eni
                    self.eni_replace(nid, attached_to=iid)
            primary = primary or nid
        if primary is None:
            self.unmodelled.append(f"instance {iid}: no network interface (EC2-Classic?)")
            return
        self.eni_of_instance[iid] = primary
        if primary in self.unplaced_by_id:
            eni = self.unplaced_by_id[primary]
            self.unplaced_by_id[iid] = Unplaced(iid, "instance", eni.reason, eni.ip,
                                                _name_tag(inst))
            for rids in self.unplaced_in.values():
                if primary in rids:
                    rids.append(iid)
            return
        if state != "running":
            self.unmodelled.append(f"instance {iid} is {state}; its interface is kept, no "
                                   "host answers")
            return
        dns = tuple(str(inst[k]) for k in ("PrivateDnsName", "PublicDnsName") if inst.get(k))
        self.add("hosts", Host(iid, self.eni_by_id[primary].private_ip, "instance", primary,
                               dns, _name_tag(inst)), file)

    # ---- routes -----------------------------------------------------------------------
    def route_tables(self) -> None:
        for rid, (obj, file) in self.rt_raw.items():
            vpc = str(self.req(obj, "VpcId", file, rid, "route table"))
            routes: list[Route] = []
            for r in obj.get("Routes") or []:
                route = self.route(r, rid, file)
                if route is not None:
                    routes.append(route)
            main = any(a.get("Main") for a in obj.get("Associations") or [])
            for a in obj.get("Associations") or []:
                if a.get("GatewayId"):
                    self.unmodelled.append(f"route table {rid}: edge association with "
                                           f"{a['GatewayId']} not modelled")
            # a gateway endpoint's route, when the output lacks it, is added by `finish`
            self.add("route_tables", RouteTable(rid, vpc, tuple(routes), main, _name_tag(obj)),
                     file)

    def route(self, r: dict, rid: str, file: str) -> Route | None:
        v6 = r.get("DestinationIpv6CidrBlock")
        if v6 and not r.get("DestinationCidrBlock"):
            self.unmodelled.append(f"route table {rid}: IPv6 route {v6} not in the dataplane "
                                   "yet")
            return None
        dest_text, pl = r.get("DestinationCidrBlock"), r.get("DestinationPrefixListId")
        if not dest_text and not pl:
            raise self.fail("a route has neither DestinationCidrBlock nor "
                            "DestinationPrefixListId", file, rid)
        dest = self.net(dest_text, file, rid, "route destination") if dest_text else None
        label = dest_text or pl
        target, kind = self.route_target(r, rid, label)
        if target is None:
            raise self.fail(f"route {label} has no target", file, rid)
        origin = "propagated" if r.get("Origin") == "EnableVgwRoutePropagation" else "static"
        blackhole = r.get("State") == "blackhole"
        return Route(dest, target, kind, str(pl) if pl else None, origin, blackhole)

    def route_target(self, r: dict, rid: str, label: str) -> tuple[str | None, str]:
        if r.get("NatGatewayId"):
            return str(r["NatGatewayId"]), NAT
        if r.get("VpcPeeringConnectionId"):
            pcx = str(r["VpcPeeringConnectionId"])
            return pcx, PCX
        if r.get("TransitGatewayId"):
            self.unmodelled.append(f"route table {rid}: route {label} -> "
                                   f"{r['TransitGatewayId']} (transit gateway) kept; transit "
                                   "gateways are not modelled")
            return str(r["TransitGatewayId"]), TGW
        if r.get("EgressOnlyInternetGatewayId"):
            return str(r["EgressOnlyInternetGatewayId"]), EIGW_KIND
        for key, what in (("CarrierGatewayId", "carrier gateway"),
                          ("LocalGatewayId", "local gateway"), ("CoreNetworkArn", "core network")):
            if r.get(key):
                self.unmodelled.append(f"route table {rid}: route {label} -> {r[key]} "
                                       f"({what}) kept; not modelled")
                return str(r[key]), UNMODELLED_TARGET
        gw = str(r.get("GatewayId") or "")
        if gw == "local":
            return LOCAL, LOCAL
        if gw.startswith("igw-"):
            return gw, IGW
        if gw.startswith("vgw-"):
            self.unmodelled.append(f"route table {rid}: route {label} -> {gw} (virtual "
                                   "private gateway) kept; VPN gateways are not modelled")
            return gw, VGW
        if gw.startswith("vpce-"):
            if self.vpce_kind.get(gw, "Gateway") not in ("Gateway", "Interface"):
                self.unmodelled.append(f"route table {rid}: route {label} -> {gw} (Gateway "
                                       "Load Balancer endpoint) kept; not modelled")
                return gw, UNMODELLED_TARGET
            return gw, VPCE
        if r.get("NetworkInterfaceId"):
            return str(r["NetworkInterfaceId"]), ENI_TARGET
        if r.get("InstanceId"):
            iid = str(r["InstanceId"])
            return self.eni_of_instance.get(iid, iid), ENI_TARGET
        if gw:
            self.unmodelled.append(f"route table {rid}: route {label} -> {gw} (unknown "
                                   "gateway kind) kept; not modelled")
            return gw, UNMODELLED_TARGET
        return None, ""

    def peerings(self) -> None:
        self.external_pcx: set[str] = set()
        for pid, (obj, file) in self.pcx_raw.items():
            req, acc = _pcx_vpcs(obj)
            code = _pcx_status(obj)
            if code in ("deleted", "rejected", "failed", "expired"):
                self.notes.append(f"peering connection {pid} is {code}; left out")
                continue
            missing = [v for v in (req, acc) if v not in self.vpc_raw]
            if missing:
                self.unmodelled.append(f"peering connection {pid}: VPC {', '.join(missing)} "
                                       "not in the snapshot; routes to it are kept as "
                                       "unmodelled targets")
                self.external_pcx.add(pid)
                continue
            self.add("peerings", Peering(pid, req, acc, code == "active", _name_tag(obj)),
                     file)
        if self.external_pcx:
            self.out["route_tables"] = [
                RouteTable(rt.id, rt.vpc, tuple(
                    Route(r.destination, r.target, UNMODELLED_TARGET, r.prefix_list, r.origin,
                          r.blackhole) if r.target in self.external_pcx else r
                    for r in rt.routes), rt.main, rt.name)
                for rt in self.out["route_tables"]]

    # what a route can point at, the output that describes it and its raw descriptions
    TARGETS = {IGW: ("internet gateway", "InternetGateways", "describe-internet-gateways",
                     "igw_raw"),
               NAT: ("NAT gateway", "NatGateways", "describe-nat-gateways", "nat_raw"),
               PCX: ("peering connection", "VpcPeeringConnections",
                     "describe-vpc-peering-connections", "pcx_raw"),
               VPCE: ("VPC endpoint", "VpcEndpoints", "describe-vpc-endpoints", "vpce_raw"),
               ENI_TARGET: ("network interface", "NetworkInterfaces",
                            "describe-network-interfaces", "eni_raw")}

    def why_missing(self, kind: str, target: str) -> str:
        _, key, command, raw = self.TARGETS[kind]
        if target.startswith("i-"):
            return "an instance not in the snapshot's describe-instances output"
        if target in getattr(self, raw):
            obj = getattr(self, raw)[target][0]
            state = obj.get("State") or (obj.get("Status") or {}).get("Code")
            return f"it is {state}" if state else "it could not be modelled"
        if key not in self.collected:
            return f"no {command} output was collected"
        return f"not in the {command} output"

    def dangling(self) -> None:
        """A route to a gateway, peering connection, endpoint, interface or prefix list the
        snapshot does not describe is a blackhole, as AWS shows a route whose target is
        gone (R3); a route to something described but unplaced leads to an unmodelled
        target. A security-group rule naming an unknown prefix list matches nothing."""
        known = {IGW: {g.id for g in self.out["internet_gateways"]},
                 NAT: {n.id for n in self.out["nat_gateways"]},
                 PCX: {p.id for p in self.out["peerings"]},
                 VPCE: {e.id for e in self.out["endpoints"]},
                 ENI_TARGET: set(self.eni_by_id)}
        lost: dict[tuple[str, str], list[str]] = {}      # (kind, target) -> route tables
        lists: dict[str, list[str]] = {}                 # unknown prefix list -> users
        tables = []
        for rt in self.out["route_tables"]:
            routes = []
            for r in rt.routes:
                if r.prefix_list and r.prefix_list not in self.pl_ids:
                    lists.setdefault(r.prefix_list, []).append(f"route table {rt.id}")
                    r = replace(r, blackhole=True)
                if (not r.blackhole and r.target_kind in known
                        and r.target not in known[r.target_kind]):
                    lost.setdefault((r.target_kind, r.target), []).append(rt.id)
                    r = (replace(r, target_kind=UNMODELLED_TARGET)
                         if r.target in self.unplaced_by_id else replace(r, blackhole=True))
                routes.append(r)
            tables.append(replace(rt, routes=tuple(routes)))
        self.out["route_tables"] = tables
        for (kind, target), rts in sorted(lost.items()):
            what, where = self.TARGETS[kind][0], ", ".join(dict.fromkeys(rts))
            if target in self.unplaced_by_id:
                self.warnings.append(f"{what} {target}: {self.unplaced_by_id[target].reason}; "
                                     f"routes to it (in {where}) lead to an unmodelled target")
            else:
                what = "instance" if target.startswith("i-") else what
                self.warnings.append(f"{what} {target} is not in the snapshot "
                                     f"({self.why_missing(kind, target)}): routes to it (in "
                                     f"{where}) are blackholes")
        for sg in self.out["security_groups"]:
            for rule in sg.ingress + sg.egress:
                if rule.peer_kind == "prefix-list" and rule.peer not in self.pl_ids:
                    lists.setdefault(rule.peer, []).append(f"security group {sg.id}")
        for pid, users in sorted(lists.items()):
            why = ("no describe-managed-prefix-lists output was collected"
                   if "PrefixLists" not in self.collected else
                   "not in the describe-managed-prefix-lists output")
            self.out["prefix_lists"].append(PrefixList(pid, pid, ()))
            routed = any(u.startswith("route table") for u in users)
            self.warnings.append(f"prefix list {pid} is not in the snapshot ({why}): it "
                                 "matches nothing here (used by "
                                 f"{', '.join(dict.fromkeys(users))})"
                                 + ("; routes to it are blackholes" if routed else ""))

    # ---- Lambda and RDS -----------------------------------------------------------------
    def functions(self) -> None:
        seen: dict[str, tuple[dict, str]] = {}
        entries = [(f, file) for f, file in self.items["Functions"]]
        entries += self.items["FunctionConfigs"]
        for fn, file in entries:
            name = str(self.req(fn, "FunctionName", file, None, "Lambda function"))
            self.id_key.setdefault(name, "FunctionName")
            vpc_conf = fn.get("VpcConfig") or {}
            key = (tuple(vpc_conf.get("SubnetIds") or ()),
                   tuple(vpc_conf.get("SecurityGroupIds") or ()))
            if name in seen:
                old = seen[name][0].get("VpcConfig") or {}
                if (tuple(old.get("SubnetIds") or ()),
                        tuple(old.get("SecurityGroupIds") or ())) != key:
                    raise self.fail(f"function defined with different VPC configurations in "
                                    f"{seen[name][1]} and {file}", file, name)
                continue
            seen[name] = (fn, file)
            if vpc_conf.get("Ipv6AllowedForDualStack"):
                self.unmodelled.append(f"function {name}: dual-stack IPv6 not in the dataplane"
                                       " yet")
            subnets = tuple(map(str, key[0]))
            missing = [sn for sn in subnets if sn not in self.subnet_by_id]
            if missing and len(missing) == len(subnets):
                self.unplace(name, "Lambda function", missing[0], None, None, file)
                continue
            if missing:     # Lambda runs environments in every subnet: say which are not here
                self.warnings.append(
                    f"Lambda function {name}: {'; '.join(map(self.subnet_missing, missing))}"
                    .replace("its subnet", "subnet") + "; only its other subnets are traced")
                subnets = tuple(sn for sn in subnets if sn not in missing)
            self.add("functions", LambdaFunction(
                name, subnets, tuple(map(str, key[1])),
                int(fn.get("MemorySize", 128)), True, str(fn.get("State") or "Active")), file)

    def databases(self) -> None:
        claimed: set[str] = set()
        for db, file in self.items["DBInstances"]:
            did = str(self.req(db, "DBInstanceIdentifier", file, None, "RDS instance"))
            self.id_key.setdefault(did, "DBInstanceIdentifier")
            if did in {h.id for h in self.out["hosts"]}:
                continue
            self.where.setdefault(did, file)
            eni = self.db_eni(db, claimed)
            gone = self.db_unplaced(db) if eni is None else None
            if gone is not None:
                self.unplaced_by_id[did] = Unplaced(did, "RDS instance", gone.reason, gone.ip)
                if gone.id in self.unplaced_by_id:
                    for rids in self.unplaced_in.values():
                        rids.extend([did] if gone.id in rids else [])
                else:
                    self.warnings.append(f"RDS instance {did}: {gone.reason}; unplaced")
                continue
            if eni is None:
                self.unmodelled.append(f"RDS instance {did}: no matching network interface "
                                       "in the snapshot; left out")
                continue
            claimed.add(eni.id)
            self.eni_replace(eni.id, kind=RDS, attached_to=did)
            endpoint = (db.get("Endpoint") or {}).get("Address")
            self.add("hosts", Host(did, eni.private_ip, "rds", eni.id,
                                   (str(endpoint),) if endpoint else ()), file)

    def db_unplaced(self, db: dict) -> Unplaced | None:
        """An RDS instance whose interface, or every subnet of its subnet group, is not
        in the snapshot."""
        ip = db.get("PrivateIpAddress") or (db.get("Endpoint") or {}).get("Address")
        for u in self.unplaced_by_id.values():
            if ip and u.kind == "network interface" and str(u.ip) == str(ip):
                return u
        group = [str(s.get("SubnetIdentifier")) for s in
                 (db.get("DBSubnetGroup") or {}).get("Subnets") or []]
        if group and not any(sn in self.subnet_by_id for sn in group):
            return Unplaced("", "", self.subnet_missing(group[0]))
        return None

    def db_eni(self, db: dict, claimed: set[str]) -> Eni | None:
        """An RDS instance's ENI: by private IP when the snapshot gives one, else the
        RDS-requested interface in the instance's zone, subnet group and groups."""
        ip = db.get("PrivateIpAddress") or (db.get("Endpoint") or {}).get("Address")
        for eni in self.eni_by_id.values():
            if ip and str(eni.private_ip) == str(ip) and eni.id not in claimed:
                return eni
        groups = {str(g.get("VpcSecurityGroupId")) for g in db.get("VpcSecurityGroups") or []
                  if g.get("Status", "active") == "active"}
        group_subnets = {str(s.get("SubnetIdentifier")) for s in
                         (db.get("DBSubnetGroup") or {}).get("Subnets") or []}
        az = db.get("AvailabilityZone")
        candidates = []
        for eni in sorted(self.eni_by_id.values(), key=lambda e: e.id):
            raw = (self.eni_raw.get(eni.id) or ({}, ""))[0]
            if eni.id in claimed or not (eni.kind == RDS or raw.get("RequesterId") ==
                                         "amazon-rds"):
                continue
            if groups and set(eni.security_groups) != groups:
                continue
            if group_subnets and eni.subnet not in group_subnets:
                continue
            sn = self.subnet_by_id.get(eni.subnet)
            candidates.append((bool(az and sn and sn.az != az), eni.id, eni))
        return min(candidates)[2] if candidates else None

    def interfaces(self) -> None:
        """The interfaces read; `finish` makes up the Hyperplane ENIs missing (L2)."""
        for eni in self.eni_by_id.values():
            self.add("enis", eni, self.where.get(eni.id, ""))

"""A proposed fix as people apply it: the sentence, the AWS CLI commands, a Terraform
snippet. Ids are printed as the topology has them; a Name tag that says more is shown
beside the id in a comment (`# rtb-0abc (private)`).

`Change` is one structured configuration change; `FixText` is the sentence `trace` and
`lint` have always printed (a `str`, so every existing use keeps working) with the
changes that make it up attached."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from netemu.model.resources import EIGW, IGW, NAT, PCX, TGW, VGW
from netemu.packet import ICMP, TCP, UDP

FORMATS = ("text", "aws-cli", "terraform")
VPC_ACCESS_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


@dataclass(frozen=True)
class Change:
    """One change: `action` on resource `resource` (an id; a new one for create-*),
    with the new or removed item (Route, SgRule, NaclEntry, Subnet ...) where it has one."""
    action: str
    resource: str
    item: object = None


class FixText(str):
    """The fix as a sentence, carrying the structured changes it stands for."""
    changes: tuple[Change, ...] = ()

    def __new__(cls, text: str, *changes: Change) -> FixText:
        obj = super().__new__(cls, text)
        obj.changes = tuple(changes)
        return obj


def render(fix: str, topo, fmt: str) -> str:
    """The fix in `fmt` (text, aws-cli or terraform)."""
    if fmt == "text":
        return str(fix)
    changes = getattr(fix, "changes", ())
    if not changes:
        return f"# {fix}\n# (no {fmt} form: this is advice, not one configuration change)"
    out = [f"# {fix}"]
    for c in changes:
        fn = (_CLI if fmt == "aws-cli" else _TF).get(c.action)
        out.append(fn(c, topo) if fn else f"# {c.action} {c.resource}: no {fmt} form")
    return "\n".join(out)


# ---- helpers ------------------------------------------------------------------------
def _name(topo, rid: str) -> str:
    """A trailing comment with the Name tag where it says more than the id."""
    shown = topo.display(rid) if topo is not None else rid
    return f"  # {shown}" if shown != rid else ""


def _names(topo, *rids: str) -> str:
    """One trailing comment naming every id whose Name tag says more than the id."""
    shown = [topo.display(r) for r in rids if r] if topo is not None else []
    named = [s for s, r in zip(shown, rids, strict=False) if s != r]
    return f"  # {', '.join(named)}" if named else ""


def _tf_id(*parts: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", "_".join(p for p in parts if p)).strip("_").lower()
    return s if s and s[0].isalpha() else f"r_{s}"


def _tf(kind: str, name: str, fields: list[tuple[str, object, str]]) -> str:
    """A resource block; each field (key, value, comment); values quoted unless raw."""
    width = max((len(k) for k, _, _ in fields), default=0)
    lines = [f'resource "{kind}" "{name}" {{']
    for k, v, note in fields:
        val = v if isinstance(v, _Raw) else json.dumps(v)
        lines.append(f"  {k:<{width}} = {val}{note}")
    return "\n".join(lines + ["}"])


class _Raw(str):
    """A Terraform expression, printed unquoted."""


def _tf_val(v) -> str:
    return v if isinstance(v, _Raw) else json.dumps(v)


_TARGET_CLI = {IGW: "--gateway-id", NAT: "--nat-gateway-id", PCX: "--vpc-peering-connection-id",
               "network-interface": "--network-interface-id", TGW: "--transit-gateway-id",
               VGW: "--gateway-id", EIGW: "--egress-only-internet-gateway-id",
               "vpc-endpoint": "--vpc-endpoint-id"}
_TARGET_TF = {IGW: "gateway_id", NAT: "nat_gateway_id", PCX: "vpc_peering_connection_id",
              "network-interface": "network_interface_id", TGW: "transit_gateway_id",
              VGW: "gateway_id", EIGW: "egress_only_gateway_id",
              "vpc-endpoint": "vpc_endpoint_id"}


def _dest_cli(route) -> str:
    if route.destination is None:
        return f"--destination-prefix-list-id {route.prefix_list}"
    return f"--destination-cidr-block {route.destination}"


def _dest_tf(route) -> tuple[str, str]:
    if route.destination is None:
        return "destination_prefix_list_id", route.prefix_list
    return "destination_cidr_block", str(route.destination)


_NEW = {"subnets": ("SUBNET", "aws_subnet"), "route_tables": ("RTB", "aws_route_table"),
        "nat_gateways": ("NAT", "aws_nat_gateway"), "endpoints": ("VPCE", "aws_vpc_endpoint")}


def _var(table: str, rid: str) -> str:
    return f"{_NEW[table][0]}_{_tf_id(rid).upper()}"


def _ref(topo, table: str, rid: str) -> str:
    """An id in a command: as is when it exists, else the shell variable a command
    before it set (a resource the same fix creates)."""
    if topo is None or rid in getattr(topo, table):
        return rid
    return f'"${_var(table, rid)}"'


def _tf_ref(topo, table: str, rid: str):
    if topo is None or rid in getattr(topo, table):
        return rid
    return _Raw(f"{_NEW[table][1]}.{_tf_id(rid)}.id")


def _target_table(kind: str) -> str:
    return {NAT: "nat_gateways", "vpc-endpoint": "endpoints"}.get(kind, "subnets")


def _proto(p: int) -> str:
    return {TCP: "tcp", UDP: "udp", ICMP: "icmp", -1: "-1"}.get(p, str(p))


# ---- AWS CLI --------------------------------------------------------------------------
def _cli_route(c: Change, topo, verb: str = "create-route") -> str:
    r = c.item
    existing = topo.route_tables.get(c.resource) if topo is not None else None
    if verb == "create-route" and existing is not None and any(
            x.destination == r.destination and x.prefix_list == r.prefix_list
            for x in existing.routes):
        verb = "replace-route"          # the destination is there: point it elsewhere
    if r.target_kind == "vpc-endpoint":      # a gateway endpoint's route: associate the table
        return (f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id "
                f"{_ref(topo, 'endpoints', r.target)} --add-route-table-ids "
                f"{_ref(topo, 'route_tables', c.resource)}{_name(topo, c.resource)}")
    flag = _TARGET_CLI.get(r.target_kind, "--gateway-id")
    target = _ref(topo, "nat_gateways", r.target) if r.target_kind == NAT else r.target
    return (f"aws ec2 {verb} --route-table-id {_ref(topo, 'route_tables', c.resource)} "
            f"{_dest_cli(r)} {flag} {target}{_names(topo, c.resource, r.target)}")


def _ip_permissions(rule) -> str:
    perm = f"IpProtocol={_proto(rule.protocol)}"
    if rule.protocol in (TCP, UDP, ICMP):
        perm += f",FromPort={rule.from_port},ToPort={rule.to_port}"
    peer = {"cidr": f"IpRanges=[{{CidrIp={rule.peer}}}]",
            "sg": f"UserIdGroupPairs=[{{GroupId={rule.peer}}}]",
            "prefix-list": f"PrefixListIds=[{{PrefixListId={rule.peer}}}]"}[rule.peer_kind]
    return f"'{perm},{peer}'"


def _cli_sg(c: Change, topo, verb: str) -> str:
    rule = c.item
    direction = "egress" if rule.egress else "ingress"
    peer = rule.peer if rule.peer_kind == "sg" else ""
    return (f"aws ec2 {verb}-security-group-{direction} --group-id {c.resource} "
            f"--ip-permissions {_ip_permissions(rule)}{_names(topo, c.resource, peer)}")


def _cli_acl_add(c: Change, topo) -> str:
    e = c.item
    extra = ""
    if e.protocol in (TCP, UDP):
        extra = f" --port-range From={e.port_from},To={e.port_to}"
    elif e.protocol == ICMP:
        extra = f" --icmp-type-code Type={e.icmp_type},Code={e.icmp_code}"
    return (f"aws ec2 create-network-acl-entry --network-acl-id {c.resource} "
            f"--{'egress' if e.egress else 'ingress'} --rule-number {e.number} "
            f"--protocol {_proto(e.protocol)}{extra} --cidr-block {e.cidr} "
            f"--rule-action {'allow' if e.allow else 'deny'}{_name(topo, c.resource)}")


def _cli_acl_delete(c: Change, topo) -> str:
    e = c.item
    return (f"aws ec2 delete-network-acl-entry --network-acl-id {c.resource} "
            f"--{'egress' if e.egress else 'ingress'} --rule-number {e.number}"
            f"{_name(topo, c.resource)}")


def _cli_sdc(c: Change, topo) -> str:
    eni = topo.enis.get(c.resource) if topo is not None else None
    host = eni.attached_to if eni is not None and eni.attached_to in topo.hosts else None
    if host:
        return f"aws ec2 modify-instance-attribute --instance-id {host} --no-source-dest-check" \
            + _name(topo, host)
    return (f"aws ec2 modify-network-interface-attribute --network-interface-id {c.resource} "
            f"--no-source-dest-check{_name(topo, c.resource)}")


def _cli_eip(c: Change, topo) -> str:
    return ("aws ec2 allocate-address --domain vpc   # note its AllocationId\n"
            f"aws ec2 associate-address --allocation-id eipalloc-NEW --network-interface-id "
            f"{c.resource}{_name(topo, c.resource)}")


def _cli_subnet(c: Change, topo) -> str:
    s = c.item
    var = _var("subnets", s.id)
    return (f"{var}=$(aws ec2 create-subnet --vpc-id {s.vpc} --cidr-block {s.cidr} "
            f"--availability-zone {s.az} --query Subnet.SubnetId --output text)   # {s.id}\n"
            f"aws ec2 associate-route-table --route-table-id "
            f"{_ref(topo, 'route_tables', s.route_table)} --subnet-id \"${var}\""
            f"{_name(topo, s.route_table)}\n"
            f"aws ec2 replace-network-acl-association --network-acl-id {s.acl} "
            "--association-id \"$(aws ec2 describe-network-acls --filters "
            f"Name=association.subnet-id,Values=${var} --query "
            f"'NetworkAcls[0].Associations[?SubnetId==`'${var}'`].NetworkAclAssociationId' "
            f"--output text)\"{_name(topo, s.acl)}")


def _cli_route_table(c: Change, topo) -> str:
    rt = c.item
    lines = [f"{_var('route_tables', rt.id)}=$(aws ec2 create-route-table --vpc-id {rt.vpc} "
             f"--query RouteTable.RouteTableId --output text)   # {rt.id}"]
    for r in rt.routes:
        if r.target_kind != "local":
            lines.append(_cli_route(Change("add-route", rt.id, r), topo))
    return "\n".join(lines)


def _cli_nat(c: Change, topo) -> str:
    n = c.item
    var = _var("nat_gateways", n.id)
    return (f"EIP_{var}=$(aws ec2 allocate-address --domain vpc --query AllocationId "
            "--output text)\n"
            f"{var}=$(aws ec2 create-nat-gateway --subnet-id {_ref(topo, 'subnets', n.subnet)} "
            f"--allocation-id \"$EIP_{var}\" --query NatGateway.NatGatewayId --output text)"
            f"   # {n.id}{_name(topo, n.subnet).replace('  #', ',')}\n"
            f"aws ec2 wait nat-gateway-available --nat-gateway-ids \"${var}\"")


def _cli_function_subnets(c: Change, topo) -> str:
    fn = topo.functions[c.resource] if topo is not None else None
    sgs = ",".join(fn.security_groups) if fn is not None else "SG_IDS"
    ids = ",".join(_ref(topo, "subnets", s) for s in c.item)
    return (f"aws lambda update-function-configuration --function-name {c.resource} "
            f"--vpc-config SubnetIds={ids},SecurityGroupIds={sgs}")


def _cli_endpoint(c: Change, topo) -> str:
    ep = c.item
    return (f"aws ec2 create-vpc-endpoint --vpc-id {ep.vpc} --vpc-endpoint-type Gateway "
            f"--service-name {ep.service} --route-table-ids {' '.join(ep.route_tables)}")


_CLI = {
    "add-route": _cli_route,
    "delete-route": lambda c, t: (f"aws ec2 delete-route --route-table-id {c.resource} "
                                  f"{_dest_cli(c.item)}{_name(t, c.resource)}"),
    "add-sg-rule": lambda c, t: _cli_sg(c, t, "authorize"),
    "revoke-sg-rule": lambda c, t: _cli_sg(c, t, "revoke"),
    "add-acl-entry": _cli_acl_add,
    "delete-acl-entry": _cli_acl_delete,
    "source-dest-check-off": _cli_sdc,
    "associate-eip": _cli_eip,
    "allow-endpoint-policy": lambda c, t: (f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id "
                                           f"{c.resource} --reset-policy{_name(t, c.resource)}"),
    "create-gateway-endpoint": _cli_endpoint,
    "enable-private-dns": lambda c, t: (f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id "
                                        f"{c.resource} --private-dns-enabled"
                                        f"{_name(t, c.resource)}"),
    "enable-vpc-dns": lambda c, t: (
        f"aws ec2 modify-vpc-attribute --vpc-id {c.resource} --enable-dns-support "
        f"'{{\"Value\":true}}'\naws ec2 modify-vpc-attribute --vpc-id {c.resource} "
        f"--enable-dns-hostnames '{{\"Value\":true}}'"),
    "attach-vpc-access-policy": lambda c, t: (
        "aws iam attach-role-policy --role-name \"$(aws lambda get-function-configuration "
        f"--function-name {c.resource} --query Role --output text | cut -d/ -f2-)\" "
        f"--policy-arn {VPC_ACCESS_POLICY}"),
    "amazon-dns": lambda c, t: (
        "aws ec2 create-dhcp-options --dhcp-configurations "
        "'Key=domain-name-servers,Values=AmazonProvidedDNS'   # note its DhcpOptionsId\n"
        f"aws ec2 associate-dhcp-options --dhcp-options-id dopt-NEW --vpc-id {c.resource}"),
    "create-subnet": _cli_subnet,
    "create-route-table": _cli_route_table,
    "associate-route-table": lambda c, t: (
        f"aws ec2 replace-route-table-association --route-table-id "
        f"{_ref(t, 'route_tables', c.item)} --association-id \"$(aws ec2 describe-route-tables "
        f"--filters Name=association.subnet-id,Values={c.resource} --query "
        f"'RouteTables[0].Associations[?SubnetId==`{c.resource}`].RouteTableAssociationId' "
        f"--output text)\"{_name(t, c.resource)}"),
    "create-nat-gateway": _cli_nat,
    "delete-nat-gateway": lambda c, t: (f"aws ec2 delete-nat-gateway --nat-gateway-id "
                                        f"{c.resource}{_name(t, c.resource)}   # then "
                                        "release its Elastic IP"),
    "update-function-subnets": _cli_function_subnets,
}


# ---- Terraform ------------------------------------------------------------------------
def _tf_route(c: Change, topo) -> str:
    r = c.item
    key, dest = _dest_tf(r)
    if r.target_kind == "vpc-endpoint":
        return _tf("aws_vpc_endpoint_route_table_association", _tf_id(c.resource, r.target), [
            ("vpc_endpoint_id", _tf_ref(topo, "endpoints", r.target), _name(topo, r.target)),
            ("route_table_id", _tf_ref(topo, "route_tables", c.resource),
             _name(topo, c.resource))])
    target = _tf_ref(topo, "nat_gateways", r.target) if r.target_kind == NAT else r.target
    return _tf("aws_route", _tf_id(c.resource, dest if r.destination is None else
                                  "default" if r.destination.prefixlen == 0 else dest),
               [("route_table_id", _tf_ref(topo, "route_tables", c.resource),
                 _name(topo, c.resource)), (key, dest, ""),
                (_TARGET_TF.get(r.target_kind, "gateway_id"), target, _name(topo, r.target))])


def _tf_sg_rule(c: Change, topo) -> str:
    rule = c.item
    kind = ("aws_vpc_security_group_egress_rule" if rule.egress
            else "aws_vpc_security_group_ingress_rule")
    fields = [("security_group_id", c.resource, _name(topo, c.resource)),
              ("ip_protocol", _proto(rule.protocol), "")]
    if rule.protocol in (TCP, UDP, ICMP):
        fields += [("from_port", _Raw(rule.from_port), ""), ("to_port", _Raw(rule.to_port), "")]
    peer_key = {"cidr": "cidr_ipv4", "sg": "referenced_security_group_id",
                "prefix-list": "prefix_list_id"}[rule.peer_kind]
    fields.append((peer_key, rule.peer, _name(topo, rule.peer) if rule.peer_kind == "sg"
                   else ""))
    ports = f"{rule.from_port}" if rule.protocol in (TCP, UDP) else _proto(rule.protocol)
    return _tf(kind, _tf_id(c.resource, _proto(rule.protocol), ports), fields)


def _tf_acl(c: Change, topo) -> str:
    e = c.item
    fields = [("network_acl_id", c.resource, _name(topo, c.resource)),
              ("rule_number", _Raw(e.number), ""), ("egress", _Raw(str(e.egress).lower()), ""),
              ("protocol", _proto(e.protocol), ""),
              ("rule_action", "allow" if e.allow else "deny", ""),
              ("cidr_block", str(e.cidr), "")]
    if e.protocol in (TCP, UDP):
        fields += [("from_port", _Raw(e.port_from), ""), ("to_port", _Raw(e.port_to), "")]
    elif e.protocol == ICMP:
        fields += [("icmp_type", _Raw(e.icmp_type), ""), ("icmp_code", _Raw(e.icmp_code), "")]
    return _tf("aws_network_acl_rule", _tf_id(c.resource, "egress" if e.egress else "ingress",
                                              str(e.number)), fields)


def _tf_removed(what: str):
    def text(c, t) -> str:
        item = "" if c.item is None else f": {getattr(c.item, 'text', c.item)}"
        return (f"# remove the {what} below from your configuration (or from the resource "
                f"it is written in), then apply:\n#   {c.resource}{_name(t, c.resource)}{item}")
    return text


def _tf_subnet(c: Change, topo) -> str:
    s = c.item
    name = _tf_id(s.id)
    return "\n".join([
        _tf("aws_subnet", name, [("vpc_id", s.vpc, ""), ("cidr_block", str(s.cidr), ""),
                                 ("availability_zone", s.az, "")]),
        _tf("aws_route_table_association", name, [
            ("subnet_id", _Raw(f"aws_subnet.{name}.id"), ""),
            ("route_table_id", _tf_ref(topo, "route_tables", s.route_table),
             _name(topo, s.route_table))]),
        _tf("aws_network_acl_association", name, [
            ("subnet_id", _Raw(f"aws_subnet.{name}.id"), ""),
            ("network_acl_id", s.acl, _name(topo, s.acl))])])


def _tf_route_table(c: Change, topo) -> str:
    rt = c.item
    name = _tf_id(rt.id)
    blocks = [_tf("aws_route_table", name, [("vpc_id", rt.vpc, "")])]
    for r in rt.routes:
        if r.target_kind != "local":
            blocks.append(_tf_route(Change("add-route", rt.id, r), topo))
    return "\n".join(blocks)


def _tf_nat(c: Change, topo) -> str:
    n = c.item
    name = _tf_id(n.id)
    return "\n".join([_tf("aws_eip", name, [("domain", "vpc", "")]), _tf(
        "aws_nat_gateway", name, [("subnet_id", _tf_ref(topo, "subnets", n.subnet),
                                   _name(topo, n.subnet)),
                                  ("allocation_id", _Raw(f"aws_eip.{name}.id"), "")])])


def _tf_endpoint(c: Change, topo) -> str:
    ep = c.item
    return _tf("aws_vpc_endpoint", _tf_id(ep.id), [
        ("vpc_id", ep.vpc, ""), ("service_name", ep.service, ""),
        ("vpc_endpoint_type", "Gateway", ""),
        ("route_table_ids", _Raw(json.dumps(list(ep.route_tables))), "")])


def _tf_setting(kind: str, setting: str):
    return lambda c, t: (f"# in the {kind} of "
                         f"{t.display(c.resource) if t is not None else c.resource}:\n{setting}")


_TF = {
    "add-route": _tf_route,
    "delete-route": _tf_removed("route"),
    "add-sg-rule": _tf_sg_rule,
    "revoke-sg-rule": _tf_removed("security group rule"),
    "add-acl-entry": _tf_acl,
    "delete-acl-entry": _tf_removed("network ACL rule"),
    "source-dest-check-off": _tf_setting("aws_instance or aws_network_interface",
                                         "  source_dest_check = false"),
    "associate-eip": lambda c, t: _tf("aws_eip", _tf_id(c.resource, "eip"), [
        ("domain", "vpc", ""), ("network_interface", c.resource, _name(t, c.resource))]),
    "allow-endpoint-policy": lambda c, t: _tf("aws_vpc_endpoint_policy", _tf_id(c.resource), [
        ("vpc_endpoint_id", c.resource, _name(t, c.resource)),
        ("policy", _Raw('jsonencode({ Statement = [{ Effect = "Allow", Principal = "*", '
                        'Action = "*", Resource = "*" }] })'), "")]),
    "create-gateway-endpoint": _tf_endpoint,
    "enable-private-dns": _tf_setting("aws_vpc_endpoint", "  private_dns_enabled = true"),
    "enable-vpc-dns": _tf_setting("aws_vpc", "  enable_dns_support   = true\n"
                                  "  enable_dns_hostnames = true"),
    "attach-vpc-access-policy": lambda c, t: _tf(
        "aws_iam_role_policy_attachment", _tf_id(c.resource, "vpc_access"), [
            ("role", _Raw("aws_iam_role.REPLACE_ME.name"), f"  # the execution role of "
             f"{c.resource}"), ("policy_arn", VPC_ACCESS_POLICY, "")]),
    "amazon-dns": lambda c, t: "\n".join([
        _tf("aws_vpc_dhcp_options", _tf_id(c.resource, "dns"),
            [("domain_name_servers", _Raw('["AmazonProvidedDNS"]'), "")]),
        _tf("aws_vpc_dhcp_options_association", _tf_id(c.resource, "dns"), [
            ("vpc_id", c.resource, _name(t, c.resource)),
            ("dhcp_options_id", _Raw(f"aws_vpc_dhcp_options.{_tf_id(c.resource, 'dns')}.id"),
             "")])]),
    "create-subnet": _tf_subnet,
    "create-route-table": _tf_route_table,
    "associate-route-table": lambda c, t: _tf(
        "aws_route_table_association", _tf_id(c.resource), [
            ("subnet_id", c.resource, _name(t, c.resource)),
            ("route_table_id", _tf_ref(t, "route_tables", c.item), _name(t, c.item))]),
    "create-nat-gateway": _tf_nat,
    "delete-nat-gateway": _tf_removed("NAT gateway (and its aws_eip)"),
    "update-function-subnets": lambda c, t: (
        f"# in resource \"aws_lambda_function\" for {c.resource}:\n  vpc_config {{\n"
        f"    subnet_ids         = [{', '.join(_tf_val(_tf_ref(t, 'subnets', s)) for s in c.item)}"
        "]\n"
        f"    security_group_ids = "
        f"{json.dumps(list(t.functions[c.resource].security_groups) if t else [])}\n  }}"),
}

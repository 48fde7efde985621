"""The shape of the AWS CLI output the snapshot loader reads, checked for each resource
before anything is built: a hand-edited or hostile file (a string where AWS prints a
list, a list where it prints an id) is one clear error naming the file, the resource and
the field, never a traceback or a silent misreading.

A shape is a scalar type (or a tuple of them), a list `[shape]`, a dict `{key: shape}`
(keys netemu does not read are not checked), or `Either(...)`. A null field is taken as
absent, as the loader does, except an integer; a null list item is refused."""

from __future__ import annotations

import json
import re
from typing import Any

from netemu.errors import InputError

S: tuple[type, ...] = (str,)
N: tuple[type, ...] = (int,)              # booleans refused, though Python's bools are ints
B: tuple[type, ...] = (bool,)
ID: tuple[type, ...] = (str, int)         # account ids hand-written as numbers
PROTO: tuple[type, ...] = (str, int)      # "-1", "tcp", "6" or 6


class Either:
    def __init__(self, *shapes: Any) -> None:
        self.shapes = shapes


TAGS = [{"Key": S, "Value": (str, int, float, bool)}]
PERMISSIONS = [{
    "IpProtocol": PROTO, "FromPort": N, "ToPort": N,
    "IpRanges": [{"CidrIp": S, "Description": S}], "Ipv6Ranges": [{"CidrIpv6": S}],
    "PrefixListIds": [{"PrefixListId": S, "Description": S}],
    "UserIdGroupPairs": [{"GroupId": S, "UserId": ID, "VpcPeeringConnectionId": S,
                          "Description": S}]}]
INTERFACE = {
    "NetworkInterfaceId": S, "SubnetId": S, "VpcId": S, "PrivateIpAddress": S,
    "PrivateIpAddresses": [{"PrivateIpAddress": S, "Primary": B}],
    "Ipv6Addresses": [{"Ipv6Address": S}], "Association": {"PublicIp": S},
    "InterfaceType": S, "Description": S, "RequesterId": S, "RequesterManaged": B,
    "Attachment": {"InstanceId": S, "DeviceIndex": N}, "Groups": [{"GroupId": S}],
    "SourceDestCheck": B, "TagSet": TAGS, "Tags": TAGS}
FUNCTION = {"FunctionName": S, "MemorySize": N, "State": S,
            "VpcConfig": {"SubnetIds": [S], "SecurityGroupIds": [S], "VpcId": S,
                          "Ipv6AllowedForDualStack": B}}
GATEWAY = {"Attachments": [{"VpcId": S, "State": S}], "Tags": TAGS}

SHAPES: dict[str, dict] = {
    "Vpcs": {"VpcId": S, "CidrBlock": S, "DhcpOptionsId": S, "OwnerId": ID, "Tags": TAGS,
             "CidrBlockAssociationSet": [{"CidrBlock": S, "CidrBlockState": {"State": S}}],
             "Ipv6CidrBlockAssociationSet": [{"Ipv6CidrBlock": S}]},
    "Subnets": {"SubnetId": S, "VpcId": S, "CidrBlock": S, "AvailabilityZone": S,
                "Ipv6Native": B, "Ipv6CidrBlockAssociationSet": [{"Ipv6CidrBlock": S}],
                "Tags": TAGS},
    "RouteTables": {
        "RouteTableId": S, "VpcId": S, "Tags": TAGS,
        "Associations": [{"Main": B, "SubnetId": S, "GatewayId": S,
                          "AssociationState": {"State": S}}],
        "Routes": [{k: S for k in (
            "DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId",
            "GatewayId", "NatGatewayId", "VpcPeeringConnectionId", "TransitGatewayId",
            "EgressOnlyInternetGatewayId", "CarrierGatewayId", "LocalGatewayId",
            "CoreNetworkArn", "NetworkInterfaceId", "InstanceId", "Origin", "State")}]},
    "NetworkAcls": {
        "NetworkAclId": S, "VpcId": S, "IsDefault": B, "Tags": TAGS,
        "Associations": [{"SubnetId": S}],
        "Entries": [{"RuleNumber": N, "Egress": B, "Protocol": PROTO, "RuleAction": S,
                     "CidrBlock": S, "Ipv6CidrBlock": S, "PortRange": {"From": N, "To": N},
                     "IcmpTypeCode": {"Type": N, "Code": N}}]},
    "SecurityGroups": {"GroupId": S, "GroupName": S, "VpcId": S, "OwnerId": ID,
                       "IpPermissions": PERMISSIONS, "IpPermissionsEgress": PERMISSIONS,
                       "Tags": TAGS},
    "NetworkInterfaces": INTERFACE,
    "NatGateways": {"NatGatewayId": S, "SubnetId": S, "VpcId": S, "State": S,
                    "ConnectivityType": S, "Tags": TAGS,
                    "NatGatewayAddresses": [{"PublicIp": S, "PrivateIp": S,
                                             "AllocationId": S, "NetworkInterfaceId": S,
                                             "IsPrimary": B}]},
    "InternetGateways": {"InternetGatewayId": S, **GATEWAY},
    "EgressOnlyInternetGateways": {"EgressOnlyInternetGatewayId": S, **GATEWAY},
    "VpcEndpoints": {"VpcEndpointId": S, "VpcEndpointType": S, "VpcId": S, "ServiceName": S,
                     "State": S, "RouteTableIds": [S], "SubnetIds": [S],
                     "NetworkInterfaceIds": [S], "Groups": [{"GroupId": S}],
                     "PrivateDnsEnabled": B, "PolicyDocument": (str, dict), "Tags": TAGS},
    "Reservations": {"Instances": [{
        "InstanceId": S, "State": {"Name": S}, "SubnetId": S, "VpcId": S,
        "PrivateIpAddress": S, "PrivateDnsName": S, "PublicDnsName": S,
        "SourceDestCheck": B, "NetworkInterfaces": [INTERFACE], "Tags": TAGS}]},
    "Addresses": {"PublicIp": S, "AllocationId": S, "NetworkInterfaceId": S,
                  "InstanceId": S},
    "DhcpOptions": {"DhcpOptionsId": S, "DhcpConfigurations": [{
        "Key": S, "Values": [Either({"Value": S}, S)]}]},
    "PrefixLists": {"PrefixListId": S, "PrefixListName": S, "AddressFamily": S,
                    "Cidrs": [S]},
    "Entries": {"PrefixListId": S, "Entries": [{"Cidr": S}]},
    "VpcPeeringConnections": {"VpcPeeringConnectionId": S, "RequesterVpcInfo": {"VpcId": S},
                              "AccepterVpcInfo": {"VpcId": S}, "Status": {"Code": S},
                              "Tags": TAGS},
    "Functions": FUNCTION,
    "FunctionConfigs": FUNCTION,
    "DBInstances": {"DBInstanceIdentifier": S, "PrivateIpAddress": S, "AvailabilityZone": S,
                    "Endpoint": {"Address": S},
                    "VpcSecurityGroups": [{"VpcSecurityGroupId": S, "Status": S}],
                    "DBSubnetGroup": {"Subnets": [{"SubnetIdentifier": S}]}},
    "VpcAttributes": {"VpcId": S},
}

_NAMES = {str: "a string", int: "an integer", bool: "true or false", float: "a number",
          dict: "an object", list: "a list"}


def _what(value: Any) -> str:
    return "null" if value is None else _NAMES.get(type(value), type(value).__name__)


def mismatch(value: Any, shape: Any, path: str = "") -> str | None:
    """Where `value` departs from `shape`, as `Routes[2].NatGatewayId must be a string,
    not a list`; None when it fits."""
    if value is None:       # absent, except where the loader would do arithmetic with it
        return f"{path} must be an integer, not null" if shape == N else None
    if isinstance(shape, Either):
        problems = [mismatch(value, s, path) for s in shape.shapes]
        return None if None in problems else problems[0]
    if isinstance(shape, tuple):
        ok = isinstance(value, shape) and not (isinstance(value, bool) and bool not in shape)
        if ok:
            return None
        want = " or ".join(dict.fromkeys(_NAMES.get(t, t.__name__) for t in shape))
        return f"{path or 'the value'} must be {want}, not {_what(value)}"
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{path} must be a list, not {_what(value)}"
        for i, item in enumerate(value):
            problem = (f"{path}[{i}] is null" if item is None else
                       mismatch(item, shape[0], f"{path}[{i}]"))
            if problem:
                return problem
        return None
    if not isinstance(value, dict):
        return f"{path or 'the item'} must be an object, not {_what(value)}"
    for key, sub in shape.items():
        if key in value:
            problem = mismatch(value[key], sub, f"{path}.{key}" if path else key)
            if problem:
                return problem
    return None


# the key naming each kind's resources, for error messages
ID_KEYS = {"Vpcs": "VpcId", "Subnets": "SubnetId", "RouteTables": "RouteTableId",
           "NetworkAcls": "NetworkAclId", "SecurityGroups": "GroupId",
           "NetworkInterfaces": "NetworkInterfaceId", "NatGateways": "NatGatewayId",
           "InternetGateways": "InternetGatewayId",
           "EgressOnlyInternetGateways": "EgressOnlyInternetGatewayId",
           "VpcEndpoints": "VpcEndpointId", "Reservations": "ReservationId",
           "Addresses": "AllocationId", "DhcpOptions": "DhcpOptionsId",
           "PrefixLists": "PrefixListId", "VpcPeeringConnections": "VpcPeeringConnectionId",
           "Functions": "FunctionName", "DBInstances": "DBInstanceIdentifier"}


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str, file: str) -> Any:
    """The document, or one InputError naming the file, line and problem: malformed or
    too deeply nested JSON, NaN or Infinity, or a resource of a kind netemu reads whose
    fields have the wrong type."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", file=file,
                         line=exc.lineno) from None
    except ValueError as exc:
        raise InputError(f"malformed JSON: {exc}", file=file) from None
    except RecursionError:
        raise InputError("malformed JSON: nested too deeply", file=file) from None
    check_document(data, text, file)
    return data


def check_document(data: Any, text: str, file: str) -> None:
    if not isinstance(data, dict):
        return
    if "VpcId" in data and ({"EnableDnsSupport", "EnableDnsHostnames"} & data.keys()):
        _check(data, SHAPES["VpcAttributes"], text, file, "VpcId", "")
        return
    if "FunctionName" in data:
        _check(data, FUNCTION, text, file, "FunctionName", "")
        return
    if isinstance(data.get("Configuration"), dict) and "FunctionName" in data["Configuration"]:
        _check(data["Configuration"], FUNCTION, text, file, "FunctionName", "Configuration")
        return
    for key, value in data.items():
        shape = SHAPES.get(key)
        if shape is None or not isinstance(value, list):
            continue        # unknown keys are reported by the loader; non-lists refused there
        if key == "Entries":
            problem = mismatch(value, shape["Entries"], key)
            if problem:
                raise InputError(problem, file=file, line=_line(text, key))
            continue
        for i, item in enumerate(value):
            _check(item, shape, text, file, ID_KEYS.get(key, ""), f"{key}[{i}]")


def _check(item: Any, shape: dict, text: str, file: str, id_key: str, where: str) -> None:
    if not isinstance(item, dict):
        return              # the loader names an item that is not an object
    problem = mismatch(item, shape)
    if problem is None:
        return
    rid = item.get(id_key)
    rid = rid if isinstance(rid, str) and rid else None
    raise InputError(problem, file=file, line=_line(text, rid or where.split("[")[0]),
                     resource=rid or where or None)


def _line(text: str, needle: str | None) -> int | None:
    if not needle:
        return None
    m = re.search(rf'"{re.escape(needle)}"', text)
    return text.count("\n", 0, m.start()) + 1 if m else None

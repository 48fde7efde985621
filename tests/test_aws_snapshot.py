"""AWS CLI snapshot loader: the reference snapshot equals the reference YAML, and each
piece of AWS output semantics (associations, route states and origins, endpoints, DHCP,
attributes, Hyperplane ENIs) and each kind of bad input is pinned."""

from __future__ import annotations

import copy
import ipaddress
import json
from pathlib import Path

import pytest

from netemu.errors import InputError
from netemu.io.aws_snapshot import load_snapshot
from netemu.io.yaml_loader import load_yaml
from netemu.model.resources import EC2, IGW, LAMBDA, NAT, NAT_ENI, RDS, VGW, VPCE
from netemu.model.topology import Topology

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "data" / "snapshot-rds"
YAML = ROOT / "topologies" / "lambda-rds-sg-reference.yaml"


# ---- normaliser: ids -> names, so a snapshot and a YAML topology compare ----------------
def normalise(t: Topology, *, by_name: bool) -> dict:
    names: dict[str, str] = {}
    for table in (t.vpcs, t.subnets, t.route_tables, t.network_acls, t.security_groups,
                  t.nat_gateways):
        for rid, r in table.items():
            names[rid] = (r.name or rid) if by_name else rid

    def n(x):
        return names.get(x, x) if x is not None else None

    eni_ip = {e.id: str(e.private_ip) for e in t.enis.values()}

    def rules(rs):
        return sorted((r.protocol, r.from_port, r.to_port, r.peer_kind, n(r.peer)) for r in rs)

    return {
        "vpcs": {n(v.id): (v.cidrs, n(v.main_route_table), n(v.default_acl),
                           n(v.internet_gateway), v.enable_dns_support,
                           v.enable_dns_hostnames, v.dns_servers, v.region)
                 for v in t.vpcs.values()},
        "subnets": {n(s.id): (n(s.vpc), s.cidr, s.az, n(s.route_table), n(s.acl))
                    for s in t.subnets.values()},
        "route_tables": {n(rt.id): (n(rt.vpc), rt.main, sorted(
            (r.dest_text, n(r.target), r.target_kind, r.origin, r.blackhole)
            for r in rt.routes)) for rt in t.route_tables.values()},
        "network_acls": {n(a.id): (n(a.vpc), a.default, a.entries)
                         for a in t.network_acls.values()},
        "security_groups": {n(g.id): (n(g.vpc), rules(g.ingress), rules(g.egress))
                            for g in t.security_groups.values()},
        "enis": {str(e.private_ip): (n(e.subnet), e.kind, sorted(map(n, e.security_groups)),
                                     e.public_ip, e.attached_to)
                 for e in t.enis.values()},
        "functions": {f.id: (tuple(map(n, f.subnets)), tuple(map(n, f.security_groups)),
                             f.memory_mb, f.state) for f in t.functions.values()},
        "hosts": {h.id: (h.ip, h.kind, eni_ip.get(h.eni), h.dns)
                  for h in t.hosts.values()},
        "environments": sorted((e.function, n(e.subnet), eni_ip.get(e.eni))
                               for e in t.environments.values()),
    }


def test_reference_snapshot_equals_reference_yaml():
    snap = normalise(load_snapshot(SNAPSHOT), by_name=True)
    yaml = normalise(load_yaml(YAML), by_name=False)
    for key in yaml:
        assert snap[key] == yaml[key], key


def test_reference_snapshot_found_by_key_in_nested_folders():
    t = load_snapshot(SNAPSHOT)
    # network interfaces live in interfaces-dump.json, the function in lambda/page-1.json
    assert "eni-0123456789abcdef0" in t.enis
    assert t.enis["eni-0fedcba9876543210"].kind == RDS
    assert t.functions["orders"].subnets == ("subnet-0a11aa22bb33cc441",
                                             "subnet-0b22bb33cc44dd552")
    assert t.hosts["orders-db"].eni == "eni-0fedcba9876543210"
    assert t.unmodelled == []


def test_reference_snapshot_synthesises_missing_hyperplane_eni():
    t = load_snapshot(SNAPSHOT)
    lambdas = [e for e in t.enis.values() if e.kind == LAMBDA]
    assert len(lambdas) == 2
    made = [e for e in lambdas if e.synthesized]
    assert [e.subnet for e in made] == ["subnet-0b22bb33cc44dd552"]
    assert made[0].private_ip == ipaddress.IPv4Address("10.0.11.4")
    assert not t.enis["eni-0123456789abcdef0"].synthesized
    assert len(t.notes) == 1
    assert made[0].id in t.notes[0] and "snapshot has no Hyperplane ENI" in t.notes[0]


# ---- small snapshots written from Python dicts --------------------------------------------
VPC = "vpc-0123456789abcdef0"
SN_A, SN_B = "subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"
RT_MAIN, RT_PRIV = "rtb-0aaaaaaaaaaaaaaa1", "rtb-0bbbbbbbbbbbbbbb2"
ACL = "acl-0aaaaaaaaaaaaaaa1"
SG_DEF, SG_FN = "sg-0aaaaaaaaaaaaaaa1", "sg-0bbbbbbbbbbbbbbb2"


def tags(name: str) -> list[dict]:
    return [{"Key": "Name", "Value": name}]


def base() -> dict[str, dict]:
    """One VPC, a public and a private subnet, a function in the private one."""
    return {
        "describe-vpcs.json": {"Vpcs": [{
            "VpcId": VPC, "CidrBlock": "10.1.0.0/16", "DhcpOptionsId": "default",
            "State": "available", "Tags": tags("lab")}]},
        "describe-subnets.json": {"Subnets": [
            {"SubnetId": SN_A, "VpcId": VPC, "CidrBlock": "10.1.0.0/24",
             "AvailabilityZone": "eu-west-1a", "Tags": tags("public-a")},
            {"SubnetId": SN_B, "VpcId": VPC, "CidrBlock": "10.1.1.0/24",
             "AvailabilityZone": "eu-west-1b", "Tags": tags("private-b")}]},
        "describe-route-tables.json": {"RouteTables": [
            {"RouteTableId": RT_MAIN, "VpcId": VPC,
             "Associations": [{"Main": True, "RouteTableId": RT_MAIN}],
             "Routes": [{"DestinationCidrBlock": "10.1.0.0/16", "GatewayId": "local",
                         "Origin": "CreateRouteTable", "State": "active"}]},
            {"RouteTableId": RT_PRIV, "VpcId": VPC,
             "Associations": [{"Main": False, "RouteTableId": RT_PRIV, "SubnetId": SN_B,
                               "AssociationState": {"State": "associated"}}],
             "Routes": [{"DestinationCidrBlock": "10.1.0.0/16", "GatewayId": "local",
                         "Origin": "CreateRouteTable", "State": "active"}]}]},
        "describe-network-acls.json": {"NetworkAcls": [{
            "NetworkAclId": ACL, "VpcId": VPC, "IsDefault": True,
            "Associations": [{"NetworkAclId": ACL, "SubnetId": SN_A},
                             {"NetworkAclId": ACL, "SubnetId": SN_B}],
            "Entries": [{"RuleNumber": n, "Egress": eg, "Protocol": "-1",
                         "RuleAction": a, "CidrBlock": "0.0.0.0/0"}
                        for eg in (False, True) for n, a in ((100, "allow"), (32767, "deny"))]}]},
        "describe-security-groups.json": {"SecurityGroups": [
            {"GroupId": SG_DEF, "GroupName": "default", "VpcId": VPC, "OwnerId": "111122223333",
             "IpPermissions": [{"IpProtocol": "-1", "UserIdGroupPairs": [
                 {"GroupId": SG_DEF, "UserId": "111122223333"}]}],
             "IpPermissionsEgress": [{"IpProtocol": "-1",
                                      "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]},
            {"GroupId": SG_FN, "GroupName": "fn", "VpcId": VPC, "OwnerId": "111122223333",
             "IpPermissions": [],
             "IpPermissionsEgress": [{"IpProtocol": "-1",
                                      "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}]},
        "list-functions.json": {"Functions": [{
            "FunctionName": "worker", "MemorySize": 512,
            "VpcConfig": {"SubnetIds": [SN_B], "SecurityGroupIds": [SG_FN], "VpcId": VPC}}]},
    }


def write(folder: Path, files: dict[str, object]) -> Path:
    for rel, obj in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(obj if isinstance(obj, str) else json.dumps(obj, indent=4))
    return folder


def load(tmp_path: Path, files: dict[str, object]) -> Topology:
    return load_snapshot(write(tmp_path / "snap", files))


def routes_of(files: dict) -> list[dict]:
    return files["describe-route-tables.json"]["RouteTables"][1]["Routes"]


def test_base_snapshot_associations(tmp_path):
    t = load(tmp_path, base())
    vpc = t.vpcs[VPC]
    assert (vpc.name, vpc.main_route_table, vpc.default_acl, vpc.region) == (
        "lab", RT_MAIN, ACL, "eu-west-1")
    assert t.subnets[SN_A].route_table == RT_MAIN          # main table, implicitly
    assert t.subnets[SN_B].route_table == RT_PRIV          # explicit association
    assert t.subnets[SN_B].acl == ACL and t.subnets[SN_B].name == "private-b"
    assert t.security_groups[SG_DEF].name == "default"     # no Name tag: the GroupName
    assert t.functions["worker"].memory_mb == 512
    assert t.hyperplane_eni(SN_B, [SG_FN]).synthesized


def test_detection_by_top_level_key_not_file_name(tmp_path):
    files = base()
    renamed = {
        "describe-subnets.json": files["describe-route-tables.json"],
        "describe-route-tables.json": files["describe-subnets.json"],
        "notes.json": files["describe-vpcs.json"],
        "whatever.json": files["describe-security-groups.json"],
        "describe-network-acls.json": files["describe-network-acls.json"],
        "describe-instances.json": files["list-functions.json"],
    }
    t = load(tmp_path, renamed)
    assert set(t.subnets) == {SN_A, SN_B} and set(t.route_tables) == {RT_MAIN, RT_PRIV}
    assert "worker" in t.functions


def test_recursion_into_subfolders_and_merge(tmp_path):
    files = base()
    subnets = files.pop("describe-subnets.json")["Subnets"]
    files["aws_configs/111122223333/eu-west-1/a/subnets-1.json"] = {"Subnets": subnets[:1]}
    files["aws_configs/111122223333/eu-west-1/b/c/subnets-2.json"] = {"Subnets": subnets[1:]}
    # the same resource exported twice, identically, counts once
    files["aws_configs/111122223333/eu-west-1/dup.json"] = {"Subnets": subnets[:1]}
    files["aws_configs/deeper/still/sg.json"] = files.pop("describe-security-groups.json")
    t = load(tmp_path, files)
    assert set(t.subnets) == {SN_A, SN_B}
    assert set(t.security_groups) == {SG_DEF, SG_FN}


def test_same_id_defined_differently_is_refused(tmp_path):
    files = base()
    other = copy.deepcopy(files["describe-subnets.json"]["Subnets"][0])
    other["CidrBlock"] = "10.1.5.0/24"
    files["more/subnets.json"] = {"Subnets": [other]}
    with pytest.raises(InputError) as err:
        load(tmp_path, files)
    assert err.value.resource == SN_A and "defined differently" in err.value.problem


def test_blackhole_route(tmp_path):
    files = base()
    routes_of(files).append({"DestinationCidrBlock": "0.0.0.0/0",
                             "NatGatewayId": "nat-0deaddeaddeaddead", "Origin": "CreateRoute",
                             "State": "blackhole"})
    t = load(tmp_path, files)
    route = [r for r in t.route_tables[RT_PRIV].routes if r.target_kind == NAT][0]
    assert route.blackhole and route.target == "nat-0deaddeaddeaddead"
    assert str(route.destination) == "0.0.0.0/0"


def test_propagated_route(tmp_path):
    files = base()
    routes_of(files).append({"DestinationCidrBlock": "192.168.0.0/16",
                             "GatewayId": "vgw-0123456789abcdef0",
                             "Origin": "EnableVgwRoutePropagation", "State": "active"})
    routes_of(files).append({"DestinationCidrBlock": "192.168.10.0/24",
                             "GatewayId": "vgw-0123456789abcdef0",
                             "Origin": "CreateRoute", "State": "active"})
    t = load(tmp_path, files)
    by_dest = {str(r.destination): r for r in t.route_tables[RT_PRIV].routes}
    assert by_dest["192.168.0.0/16"].origin == "propagated"
    assert by_dest["192.168.10.0/24"].origin == "static"
    assert by_dest["192.168.0.0/16"].target_kind == VGW
    assert by_dest["10.1.0.0/16"].origin == "static"
    assert any("vgw-0123456789abcdef0" in u and "not modelled" in u for u in t.unmodelled)


def test_prefix_list_and_gateway_endpoint_routes(tmp_path):
    files = base()
    vpce, igw, cpl = "vpce-0123456789abcdef0", "igw-0123456789abcdef0", "pl-0123456789abcdef0"
    routes_of(files).append({"DestinationPrefixListId": "pl-6da54004", "GatewayId": vpce,
                             "Origin": "CreateRoute", "State": "active"})
    files["describe-route-tables.json"]["RouteTables"][0]["Routes"].append(
        {"DestinationPrefixListId": cpl, "GatewayId": igw, "Origin": "CreateRoute",
         "State": "active"})
    files["describe-internet-gateways.json"] = {"InternetGateways": [{
        "InternetGatewayId": igw, "Attachments": [{"State": "available", "VpcId": VPC}]}]}
    files["describe-vpc-endpoints.json"] = {"VpcEndpoints": [{
        "VpcEndpointId": vpce, "VpcEndpointType": "Gateway", "VpcId": VPC,
        "ServiceName": "com.amazonaws.eu-west-1.s3", "State": "available",
        "RouteTableIds": [RT_PRIV],
        "PolicyDocument": json.dumps({"Version": "2008-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})}]}
    files["describe-managed-prefix-lists.json"] = {"PrefixLists": [{
        "PrefixListId": cpl, "AddressFamily": "IPv4", "State": "create-complete",
        "PrefixListName": "partners", "MaxEntries": 5, "OwnerId": "111122223333"}]}
    files[f"entries/get-managed-prefix-list-entries-{cpl}.json"] = {"Entries": [
        {"Cidr": "198.51.100.0/24", "Description": "partner A"},
        {"Cidr": "203.0.113.0/25"}]}
    t = load(tmp_path, files)
    ep = t.endpoints[vpce]
    assert (ep.kind, ep.prefix_list, ep.route_tables, ep.policy_allows) == (
        "gateway", "pl-6da54004", (RT_PRIV,), True)
    route = [r for r in t.route_tables[RT_PRIV].routes if r.target == vpce]
    assert len(route) == 1
    assert (route[0].destination, route[0].prefix_list, route[0].target_kind) == (
        None, "pl-6da54004", VPCE)
    pl_route = [r for r in t.route_tables[RT_MAIN].routes if r.prefix_list == cpl][0]
    assert pl_route.target_kind == IGW and pl_route.destination is None
    assert [str(c) for c in t.prefix_lists[cpl].cidrs] == ["198.51.100.0/24", "203.0.113.0/25"]
    assert t.vpcs[VPC].internet_gateway == igw


def test_dhcp_custom_dns(tmp_path):
    files = base()
    files["describe-vpcs.json"]["Vpcs"][0]["DhcpOptionsId"] = "dopt-0123456789abcdef0"
    files["describe-dhcp-options.json"] = {"DhcpOptions": [{
        "DhcpOptionsId": "dopt-0123456789abcdef0", "DhcpConfigurations": [
            {"Key": "domain-name", "Values": [{"Value": "corp.example"}]},
            {"Key": "domain-name-servers",
             "Values": [{"Value": "10.1.0.53"}, {"Value": "10.1.1.53"}]}]}]}
    t = load(tmp_path, files)
    assert t.vpcs[VPC].dns_servers == ("10.1.0.53", "10.1.1.53")
    assert t.vpcs[VPC].custom_dns


def test_describe_vpc_attribute(tmp_path):
    files = base()
    files["attr/a.json"] = {"VpcId": VPC, "EnableDnsSupport": {"Value": True}}
    files["attr/b.json"] = {"VpcId": VPC, "EnableDnsHostnames": {"Value": False}}
    t = load(tmp_path, files)
    assert t.vpcs[VPC].enable_dns_support is True
    assert t.vpcs[VPC].enable_dns_hostnames is False


def test_hyperplane_eni_from_snapshot_is_used_not_synthesised(tmp_path):
    files = base()
    files["describe-network-interfaces.json"] = {"NetworkInterfaces": [{
        "NetworkInterfaceId": "eni-0aaaaaaaaaaaaaaa1", "SubnetId": SN_B, "VpcId": VPC,
        "PrivateIpAddress": "10.1.1.77", "InterfaceType": "lambda", "RequesterManaged": True,
        "Description": "AWS Lambda VPC ENI-worker", "Groups": [{"GroupId": SG_FN}],
        "Status": "in-use"}]}
    t = load(tmp_path, files)
    eni = t.hyperplane_eni(SN_B, [SG_FN])
    assert eni.id == "eni-0aaaaaaaaaaaaaaa1" and not eni.synthesized
    assert t.environments["worker/" + SN_B].eni == eni.id
    assert t.notes == []


def test_public_subnet_nat_gateway_and_instance(tmp_path):
    files = base()
    igw, nat = "igw-0123456789abcdef0", "nat-0123456789abcdef0"
    files["describe-route-tables.json"]["RouteTables"][0]["Routes"].append(
        {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw, "Origin": "CreateRoute",
         "State": "active"})
    routes_of(files).append({"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": nat,
                             "Origin": "CreateRoute", "State": "active"})
    files["describe-internet-gateways.json"] = {"InternetGateways": [{
        "InternetGatewayId": igw, "Attachments": [{"State": "available", "VpcId": VPC}]}]}
    files["describe-nat-gateways.json"] = {"NatGateways": [{
        "NatGatewayId": nat, "SubnetId": SN_A, "VpcId": VPC, "State": "available",
        "ConnectivityType": "public", "Tags": tags("nat-a"),
        "NatGatewayAddresses": [{"AllocationId": "eipalloc-0123456789abcdef0",
                                 "NetworkInterfaceId": "eni-0ccccccccccccccc3",
                                 "PrivateIp": "10.1.0.10", "PublicIp": "54.1.2.3",
                                 "IsPrimary": True, "Status": "succeeded"}]}]}
    files["describe-network-interfaces.json"] = {"NetworkInterfaces": [{
        "NetworkInterfaceId": "eni-0ccccccccccccccc3", "SubnetId": SN_A, "VpcId": VPC,
        "PrivateIpAddress": "10.1.0.10", "InterfaceType": "nat_gateway",
        "RequesterManaged": True, "Groups": [], "Association": {"PublicIp": "54.1.2.3"},
        "Description": f"Interface for NAT Gateway {nat}"}]}
    files["describe-instances.json"] = {"Reservations": [{"Instances": [{
        "InstanceId": "i-0123456789abcdef0", "State": {"Name": "running"},
        "SubnetId": SN_A, "VpcId": VPC, "PrivateIpAddress": "10.1.0.20",
        "PrivateDnsName": "ip-10-1-0-20.eu-west-1.compute.internal",
        "NetworkInterfaces": [{
            "NetworkInterfaceId": "eni-0ddddddddddddddd4", "SubnetId": SN_A,
            "PrivateIpAddress": "10.1.0.20", "Groups": [{"GroupId": SG_DEF}],
            "Attachment": {"DeviceIndex": 0, "Status": "attached"}}]}]}]}
    files["describe-addresses.json"] = {"Addresses": [{
        "PublicIp": "54.1.2.4", "AllocationId": "eipalloc-0aaaaaaaaaaaaaaa1",
        "NetworkInterfaceId": "eni-0ddddddddddddddd4", "PrivateIpAddress": "10.1.0.20",
        "InstanceId": "i-0123456789abcdef0", "Domain": "vpc"}]}
    t = load(tmp_path, files)
    gw = t.nat_gateways[nat]
    assert (gw.eni, str(gw.private_ip), str(gw.elastic_ip), gw.public, gw.name) == (
        "eni-0ccccccccccccccc3", "10.1.0.10", "54.1.2.3", True, "nat-a")
    assert t.enis[gw.eni].kind == NAT_ENI and t.enis[gw.eni].attached_to == nat
    host = t.hosts["i-0123456789abcdef0"]
    eni = t.enis[host.eni]
    assert (host.kind, str(host.ip), eni.kind, str(eni.public_ip)) == (
        "instance", "10.1.0.20", EC2, "54.1.2.4")
    assert host.dns == ("ip-10-1-0-20.eu-west-1.compute.internal",)


def test_sg_rule_shapes_and_ipv6_unmodelled(tmp_path):
    files = base()
    group = files["describe-security-groups.json"]["SecurityGroups"][1]
    group["IpPermissions"] = [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "10.1.0.0/16", "Description": "vpc"}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
         "PrefixListIds": [{"PrefixListId": "pl-6da54004"}],
         "UserIdGroupPairs": [{"GroupId": SG_DEF, "UserId": "111122223333"}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "50", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    ]
    t = load(tmp_path, files)
    texts = sorted(r.text for r in t.security_groups[SG_FN].ingress)
    assert texts == sorted([f"tcp 443 from sg:{SG_DEF}", "tcp 443 from 10.1.0.0/16",
                            "tcp 443 from pl:pl-6da54004", "icmp type 8 from 0.0.0.0/0",
                            "50 from 0.0.0.0/0"])
    assert any(SG_FN in u and "::/0" in u and "IPv6" in u for u in t.unmodelled)


def test_nacl_entries(tmp_path):
    files = base()
    entries = files["describe-network-acls.json"]["NetworkAcls"][0]["Entries"]
    entries[:] = [
        {"RuleNumber": 100, "Egress": False, "Protocol": "6", "RuleAction": "allow",
         "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 1024, "To": 65535}},
        {"RuleNumber": 110, "Egress": False, "Protocol": "1", "RuleAction": "deny",
         "CidrBlock": "10.0.0.0/8", "IcmpTypeCode": {"Type": 8, "Code": -1}},
        {"RuleNumber": 120, "Egress": False, "Protocol": "-1", "RuleAction": "allow",
         "Ipv6CidrBlock": "::/0"},
        {"RuleNumber": 100, "Egress": True, "Protocol": "-1", "RuleAction": "allow",
         "CidrBlock": "0.0.0.0/0"},
    ]
    t = load(tmp_path, files)
    acl = t.network_acls[ACL]
    assert [e.text for e in acl.direction(False)] == [
        "100 allow tcp 1024-65535 from 0.0.0.0/0", "110 deny icmp type 8 from 10.0.0.0/8",
        "* deny all from 0.0.0.0/0"]
    assert [e.text for e in acl.direction(True)] == [
        "100 allow all to 0.0.0.0/0", "* deny all to 0.0.0.0/0"]
    assert any("IPv6 rule 120" in u for u in t.unmodelled)


def test_get_function_configuration_and_no_vpc_function(tmp_path):
    files = base()
    del files["list-functions.json"]
    files["fn/worker.json"] = {"FunctionName": "worker", "MemorySize": 256,
                               "VpcConfig": {"SubnetIds": [SN_B],
                                             "SecurityGroupIds": [SG_FN], "VpcId": VPC}}
    files["fn/public.json"] = {"FunctionName": "public", "MemorySize": 128,
                               "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [],
                                             "VpcId": ""}}
    t = load(tmp_path, files)
    assert t.functions["worker"].subnets == (SN_B,)
    assert not t.functions["public"].in_vpc


def test_unmodelled_report(tmp_path):
    files = base()
    files["tgw/describe-transit-gateways.json"] = {"TransitGateways": [
        {"TransitGatewayId": "tgw-0123456789abcdef0", "State": "available"}]}
    files["odd.json"] = {"Widgets": []}
    files["README.txt"] = "not json"
    routes_of(files).append({"DestinationCidrBlock": "172.16.0.0/12",
                             "TransitGatewayId": "tgw-0123456789abcdef0",
                             "Origin": "CreateRoute", "State": "active"})
    t = load(tmp_path, files)
    joined = "\n".join(t.unmodelled)
    assert "describe-transit-gateways.json: 1 transit gateways (TransitGateways)" in joined
    assert "unknown top-level key 'Widgets'" in joined
    assert "README.txt: not a JSON file" in joined
    assert "tgw-0123456789abcdef0 (transit gateway) kept" in joined
    assert any(r.target == "tgw-0123456789abcdef0" for r in t.route_tables[RT_PRIV].routes)


# ---- bad input ------------------------------------------------------------------------
def test_malformed_json_names_file_and_line(tmp_path):
    files = base()
    files["sub/broken.json"] = '{\n    "Subnets": [\n        {"SubnetId": "subnet-1",}\n    ]\n}\n'
    with pytest.raises(InputError) as err:
        load(tmp_path, files)
    assert err.value.file.endswith("sub/broken.json")
    assert err.value.line == 3
    assert "malformed JSON" in str(err.value)


def test_unknown_reference_names_file_and_resource(tmp_path):
    # (a route to a NAT gateway the snapshot lacks is a blackhole: test_item5_*)
    files = base()
    files["describe-security-groups.json"]["SecurityGroups"][1]["IpPermissions"] = [
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-0000000000000dead",
                                                   "UserId": "111122223333"}]}]
    with pytest.raises(InputError) as err:
        load(tmp_path, files)
    assert err.value.file.endswith("describe-security-groups.json")
    assert err.value.resource == SG_FN
    assert "sg-0000000000000dead" in err.value.problem
    assert err.value.line is not None


def test_unknown_security_group_of_function_names_its_file(tmp_path):
    files = base()
    files["list-functions.json"]["Functions"][0]["VpcConfig"]["SecurityGroupIds"] = [
        "sg-0999999999999999f"]
    with pytest.raises(InputError) as err:
        load(tmp_path, files)
    assert err.value.file.endswith("list-functions.json")
    assert err.value.resource == "worker"
    assert "InvalidSecurityGroupIDException" in err.value.problem


def test_invalid_cidr_names_resource(tmp_path):
    files = base()
    files["describe-subnets.json"]["Subnets"][1]["CidrBlock"] = "10.1.300.0/24"
    with pytest.raises(InputError) as err:
        load(tmp_path, files)
    assert err.value.resource == SN_B
    assert err.value.file.endswith("describe-subnets.json")
    assert "10.1.300.0/24" in err.value.problem
    assert err.value.line is not None


def test_missing_required_key_names_resource(tmp_path):
    files = base()
    del files["describe-subnets.json"]["Subnets"][0]["VpcId"]
    with pytest.raises(InputError) as err:
        load(tmp_path, files)
    assert err.value.resource == SN_A and "VpcId" in err.value.problem
    assert err.value.file.endswith("describe-subnets.json")

"""issue 9, fixes people can apply: each structured change as the AWS CLI command (the
parameters of the EC2, Lambda and IAM CLI references) and as a Terraform resource (the
AWS provider's argument names), ids with their Name tags beside them."""

from __future__ import annotations

import ipaddress

import pytest

from netemu.apps.fix_format import Change, FixText, render
from netemu.model import finish
from netemu.model.resources import (
    NAT,
    Eni,
    Host,
    InternetGateway,
    LambdaFunction,
    NaclEntry,
    NatGateway,
    NetworkAcl,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    Vpc,
    VpcEndpoint,
)
from netemu.model.topology import Topology

N = ipaddress.IPv4Network
IP = ipaddress.IPv4Address


@pytest.fixture(scope="module")
def topo():
    cidr = N("10.0.0.0/16")
    return Topology.build(
        vpcs=[Vpc("vpc-0a", (cidr,), "rtb-0m", "acl-0d", "igw-0f", name="app")],
        route_tables=[RouteTable("rtb-0m", "vpc-0a", finish.local_routes([cidr]), True),
                      RouteTable("rtb-0p", "vpc-0a", finish.local_routes([cidr]),
                                 name="private")],
        network_acls=[NetworkAcl("acl-0d", "vpc-0a", finish.default_acl_entries(), True,
                                 name="app-acl")],
        subnets=[Subnet("subnet-0a", "vpc-0a", N("10.0.0.0/24"), "us-east-1a", "rtb-0m",
                        "acl-0d", name="public-a")],
        internet_gateways=[InternetGateway("igw-0f", "vpc-0a")],
        security_groups=[SecurityGroup("sg-0f", "vpc-0a", name="fn"),
                         SecurityGroup("sg-0d", "vpc-0a", name="db")],
        enis=[Eni("eni-0n", "subnet-0a", IP("10.0.0.9"), kind="nat_gateway"),
              Eni("eni-0i", "subnet-0a", IP("10.0.0.20"), ("sg-0f",), attached_to="i-0abc")],
        nat_gateways=[NatGateway("nat-0n", "subnet-0a", "eni-0n", IP("10.0.0.9"),
                                 IP("54.0.0.10"), name="nat-a")],
        hosts=[Host("i-0abc", IP("10.0.0.20"), eni="eni-0i", name="nat-box")],
        functions=[LambdaFunction("orders", ("subnet-0a",), ("sg-0f",))])


ROUTE = Change("add-route", "rtb-0p", Route(N("0.0.0.0/0"), "nat-0n", NAT))
INGRESS = Change("add-sg-rule", "sg-0d", SgRule(False, 6, 5432, 5432, "sg", "sg-0f"))
ACL = Change("add-acl-entry", "acl-0d", NaclEntry(120, False, True, 6, N("0.0.0.0/0"),
                                                  1024, 65535))


def test_item9_fix_text_is_a_string_with_changes():
    fix = FixText("add route 0.0.0.0/0 -> nat-0n to route table rtb-0p", ROUTE)
    assert fix == "add route 0.0.0.0/0 -> nat-0n to route table rtb-0p"
    assert fix.changes == (ROUTE,)
    assert render(fix, None, "text") == str(fix)


def test_item9_aws_cli_create_route_with_name_tags(topo):
    out = render(FixText("x", ROUTE), topo, "aws-cli").splitlines()
    assert out == ["# x", "aws ec2 create-route --route-table-id rtb-0p --destination-cidr-block "
                   "0.0.0.0/0 --nat-gateway-id nat-0n  # rtb-0p (private), nat-0n (nat-a)"]


def test_item9_aws_cli_replace_route_when_destination_exists(topo):
    local = Change("add-route", "rtb-0p", Route(N("10.0.0.0/16"), "nat-0n", NAT))
    assert "aws ec2 replace-route --route-table-id rtb-0p --destination-cidr-block " \
        "10.0.0.0/16 --nat-gateway-id nat-0n" in render(FixText("x", local), topo, "aws-cli")


def test_item9_aws_cli_security_group_ingress(topo):
    out = render(FixText("x", INGRESS), topo, "aws-cli").splitlines()[1]
    assert out == ("aws ec2 authorize-security-group-ingress --group-id sg-0d --ip-permissions "
                   "'IpProtocol=tcp,FromPort=5432,ToPort=5432,UserIdGroupPairs=[{GroupId="
                   "sg-0f}]'  # sg-0d (db), sg-0f (fn)")


def test_item9_aws_cli_security_group_egress_cidr_all_protocols(topo):
    rule = SgRule(True, -1, -1, -1, "cidr", "0.0.0.0/0")
    out = render(FixText("x", Change("add-sg-rule", "sg-0f", rule)), topo, "aws-cli")
    assert "aws ec2 authorize-security-group-egress --group-id sg-0f --ip-permissions " \
        "'IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]'" in out


def test_item9_aws_cli_network_acl_entry(topo):
    out = render(FixText("x", ACL), topo, "aws-cli").splitlines()[1]
    assert out == ("aws ec2 create-network-acl-entry --network-acl-id acl-0d --ingress "
                   "--rule-number 120 --protocol tcp --port-range From=1024,To=65535 "
                   "--cidr-block 0.0.0.0/0 --rule-action allow  # acl-0d (app-acl)")


def test_item9_aws_cli_source_dest_check_of_an_instance(topo):
    out = render(FixText("x", Change("source-dest-check-off", "eni-0i")), topo, "aws-cli")
    assert "aws ec2 modify-instance-attribute --instance-id i-0abc --no-source-dest-check" \
        "  # i-0abc (nat-box)" in out


def test_item9_aws_cli_gateway_endpoint(topo):
    ep = VpcEndpoint("vpce-s3", "vpc-0a", "com.amazonaws.us-east-1.s3", "gateway",
                     ("rtb-0p",), "pl-63a5400a")
    out = render(FixText("x", Change("create-gateway-endpoint", ep.id, ep)), topo, "aws-cli")
    assert "aws ec2 create-vpc-endpoint --vpc-id vpc-0a --vpc-endpoint-type Gateway " \
        "--service-name com.amazonaws.us-east-1.s3 --route-table-ids rtb-0p" in out


def test_item9_aws_cli_role_policy_and_function_subnets(topo):
    role = render(FixText("x", Change("attach-vpc-access-policy", "orders")), topo, "aws-cli")
    assert "--policy-arn arn:aws:iam::aws:policy/service-role/" \
        "AWSLambdaVPCAccessExecutionRole" in role
    assert role.count("aws iam attach-role-policy --role-name") == 1
    subnets = Change("update-function-subnets", "orders", ("subnet-0a",))
    assert "aws lambda update-function-configuration --function-name orders --vpc-config " \
        "SubnetIds=subnet-0a,SecurityGroupIds=sg-0f" in render(FixText("x", subnets), topo,
                                                                "aws-cli")


def test_item9_terraform_route(topo):
    out = render(FixText("x", ROUTE), topo, "terraform").splitlines()
    assert out == ["# x",
                   'resource "aws_route" "rtb_0p_default" {',
                   '  route_table_id         = "rtb-0p"  # rtb-0p (private)',
                   '  destination_cidr_block = "0.0.0.0/0"',
                   '  nat_gateway_id         = "nat-0n"  # nat-0n (nat-a)',
                   "}"]


def test_item9_terraform_security_group_ingress_rule(topo):
    out = render(FixText("x", INGRESS), topo, "terraform")
    assert 'resource "aws_vpc_security_group_ingress_rule"' in out
    assert '  referenced_security_group_id = "sg-0f"  # sg-0f (fn)' in out
    assert '  ip_protocol                  = "tcp"' in out
    assert "  from_port                    = 5432" in out


def test_item9_terraform_network_acl_rule(topo):
    out = render(FixText("x", ACL), topo, "terraform")
    for line in ('resource "aws_network_acl_rule" "acl_0d_ingress_120" {',
                 "  rule_number    = 120", "  egress         = false",
                 '  rule_action    = "allow"', "  from_port      = 1024",
                 "  to_port        = 65535"):
        assert line in out


def test_item9_new_resources_referenced_by_variable_and_terraform_address(topo):
    sn = Subnet("orders-b", "vpc-0a", N("10.0.1.0/24"), "us-east-1b", "rtb-0p", "acl-0d")
    fix = FixText("x", Change("create-subnet", sn.id, sn),
                  Change("update-function-subnets", "orders", ("subnet-0a", "orders-b")))
    cli = render(fix, topo, "aws-cli")
    assert 'SUBNET_ORDERS_B=$(aws ec2 create-subnet --vpc-id vpc-0a --cidr-block 10.0.1.0/24' \
        in cli
    assert 'SubnetIds=subnet-0a,"$SUBNET_ORDERS_B",SecurityGroupIds=sg-0f' in cli
    tf = render(fix, topo, "terraform")
    assert 'subnet_ids         = ["subnet-0a", aws_subnet.orders_b.id]' in tf


def test_item9_advice_without_changes_says_so(topo):
    out = render("request a quota increase", topo, "aws-cli")
    assert out.startswith("# request a quota increase") and "no aws-cli form" in out


def test_item9_trace_fixes_carry_structured_changes():
    """trace's own fix finder: the route it adds (private-b has none, its AZ's NAT
    gateway is nat-b) is there as a Change to render."""
    import netemu
    from netemu.apps.trace import trace
    from tests.conftest import TOPOLOGIES
    topo = netemu.load(TOPOLOGIES / "lambda-two-az-missing-nat.yaml")
    r = trace(topo, "lambda:orders", "api.example.com")
    assert r.fix_status == "verified"
    (change,) = r.fixes[0].changes
    assert (change.action, change.resource, change.item.target) == ("add-route", "private-b",
                                                                     "nat-b")
    assert render(r.fixes[0], topo, "aws-cli").splitlines()[1] == (
        "aws ec2 create-route --route-table-id private-b --destination-cidr-block 0.0.0.0/0 "
        "--nat-gateway-id nat-b")

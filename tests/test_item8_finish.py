"""Issue 8: what AWS adds to what a user writes is added once, by Topology.build
(netemu.model.finish), whatever the source; the loaders carry no copy of it.

Expected values are worked from AWS's documentation (AWS-SEMANTICS ids beside them)."""

import ipaddress
from dataclasses import fields
from pathlib import Path

import pytest

from netemu.model.resources import (
    LAMBDA,
    LOCAL,
    RESOURCE_KINDS,
    VPCE,
    LambdaFunction,
    NaclEntry,
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
from netemu.packet import ANY, TCP

NETEMU = Path(__file__).resolve().parent.parent / "netemu"
N = ipaddress.IPv4Network
ALL = N("0.0.0.0/0")
VPC_CIDR = N("10.0.0.0/16")


def _bare(**extra):
    """A VPC as a person writes it: no main table, no default ACL or group, no ENI."""
    res = dict(
        vpcs=[Vpc("v", (VPC_CIDR,), "v-main", "v-acl", default_security_group="v-sg")],
        subnets=[Subnet("a", "v", N("10.0.1.0/24"), "us-east-1a", "v-main", "v-acl")],
        security_groups=[SecurityGroup("fn", "v", (), (SgRule(True, ANY, -1, -1, "cidr",
                                                              "0.0.0.0/0"),))],
        functions=[LambdaFunction("f", ("a",), ("fn",))])
    for k, v in extra.items():
        res[k] = res.get(k, []) + v
    return res


def test_item8_finish_adds_main_table_default_acl_and_group_R2_N5_S4():
    t = Topology.build(**_bare())
    # R2: the main table holds the local route for the VPC CIDR and nothing else
    assert t.route_tables["v-main"] == RouteTable("v-main", "v", (Route(VPC_CIDR, LOCAL, LOCAL),),
                                                  main=True)
    # N5: the default ACL allows everything both ways (rule 100), then `*` denies
    acl = t.network_acls["v-acl"]
    assert acl.default
    assert [(e.egress, e.number, e.allow, e.protocol, e.cidr) for e in acl.entries] == [
        (False, 100, True, ANY, ALL), (False, 32767, False, ANY, ALL),
        (True, 100, True, ANY, ALL), (True, 32767, False, ANY, ALL)]
    # S4: the default group admits its own members and sends anything anywhere
    sg = t.security_groups["v-sg"]
    assert sg.ingress == (SgRule(False, ANY, -1, -1, "sg", "v-sg"),)
    assert sg.egress == (SgRule(True, ANY, -1, -1, "cidr", "0.0.0.0/0"),)


def test_item8_finish_makes_one_hyperplane_eni_per_subnet_and_group_set_L2():
    t = Topology.build(**_bare(functions=[LambdaFunction("g", ("a",), ("fn",))]))
    lambda_enis = [e for e in t.enis.values() if e.kind == LAMBDA]
    # f and g share (a, {fn}): one ENI; its address is the first AWS does not reserve
    # (10.0.1.0 network, .1 router, .2 DNS, .3 future use)
    assert len(lambda_enis) == 1
    eni = lambda_enis[0]
    assert (eni.subnet, eni.security_groups, eni.private_ip) == (
        "a", ("fn",), ipaddress.IPv4Address("10.0.1.4"))
    assert t.notes == []            # a YAML file never holds these: nothing to report


def test_item8_finish_notes_what_a_snapshot_lacked():
    t = Topology.build(lacking="the snapshot", **_bare())
    assert len(t.notes) == 1
    assert "the snapshot has no Hyperplane ENI" in t.notes[0] and "10.0.1.4" in t.notes[0]


def test_item8_finish_adds_the_implicit_deny_and_sorts_N3():
    custom = NetworkAcl("custom", "v", (NaclEntry(200, True, True, TCP, ALL, 443, 443),
                                        NaclEntry(100, False, True, TCP, ALL, 443, 443)))
    t = Topology.build(**_bare(network_acls=[custom]))
    assert [(e.egress, e.number, e.allow) for e in t.network_acls["custom"].entries] == [
        (False, 100, True), (False, 32767, False), (True, 200, True), (True, 32767, False)]


def test_item8_finish_keeps_a_local_route_replaced_by_an_appliance_R2():
    # the VPC CIDR routed to a NAT gateway (a middlebox; its target gone, so a blackhole
    # here, R3): no local route comes back beside it
    rt = RouteTable("mid", "v", (Route(VPC_CIDR, "nat-x", "nat-gateway", blackhole=True),))
    t = Topology.build(**_bare(route_tables=[rt]))
    assert t.route_tables["mid"].routes == rt.routes


def test_item8_finish_adds_gateway_endpoint_routes_once_R5():
    pl = "pl-63a5400a"                       # S3's managed prefix list in us-east-1
    ep = VpcEndpoint("vpce-s3", "v", "com.amazonaws.us-east-1.s3", "gateway", ("rt",), pl)
    rt = RouteTable("rt", "v", ())
    t = Topology.build(**_bare(route_tables=[rt], endpoints=[ep]))
    assert t.route_tables["rt"].routes == (Route(VPC_CIDR, LOCAL, LOCAL),
                                           Route(None, "vpce-s3", VPCE, pl))
    # a table that already lists the endpoint's route (a snapshot's) gets no second one
    t2 = Topology.build(**{k: list(getattr(t, k).values()) for k in RESOURCE_KINDS})
    assert t2.route_tables["rt"].routes == t.route_tables["rt"].routes


def test_item8_building_twice_adds_nothing():
    """fix and lint rebuild a topology from its own tables: finish must add nothing."""
    t = Topology.build(**_bare())
    again = Topology.build(notes=t.notes, **{k: list(getattr(t, k).values())
                                             for k in RESOURCE_KINDS})
    for k in RESOURCE_KINDS:
        assert list(getattr(again, k).items()) == list(getattr(t, k).items()), k
    assert again.notes == t.notes


def test_item8_one_list_of_resource_kinds():
    tables = {f.name for f in fields(Topology) if str(f.type).startswith("dict[str")}
    assert set(RESOURCE_KINDS) == tables - {"environments", "unplaced"}


@pytest.mark.parametrize("loader", ["io/yaml_loader.py", "io/aws_snapshot.py"])
def test_item8_loaders_carry_no_copy_of_finish(loader):
    text = (NETEMU / loader).read_text()
    for made in ("local_routes(", "default_acl_entries(", "implicit_deny(",
                 "hyperplane_enis(", "default_group_ingress(", "Route(None, ep.id, VPCE"):
        assert made not in text, f"{loader} still makes {made}"

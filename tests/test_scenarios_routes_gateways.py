"""Route tables (R1-R5), NAT gateways (G1-G5), internet gateways (I1), peering."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest
from conftest import PEERED, flow

from netemu.dataplane.elements.router import route_prefixes
from netemu.dataplane.pipeline import Dataplane, Settings
from netemu.dataplane.reasons import CODE
from netemu.errors import InputError
from netemu.model.resources import Route, RouteTable
from netemu.packet import ACK, SYN, from_columns

DB = "db-1.abc.us-east-1.rds.amazonaws.com"


def test_R1_longest_prefix_wins_and_main_table_serves_unassociated(network):
    topo = network({"route_tables": {"private": {"203.0.113.0/24": "blackhole"}},
                    "subnets": {"loose": {"cidr": "10.0.30.0/24"}},
                    "hosts": {"h": {"subnet": "loose"}}})
    out = flow(topo, "lambda:orders", "api.example.com")
    assert (out["reason"], out["dropped_at"]) == ("BAD_STATE_ROUTE", "private")
    assert out["rule"] == "private route 203.0.113.0/24 -> blackhole (blackhole)"
    assert flow(topo, "lambda:orders", "198.51.100.7")["verdict"] == "delivered"
    assert topo.subnets["loose"].route_table == "app-main"
    out = flow(topo, "instance:h", "api.example.com")
    assert (out["reason"], out["dropped_at"]) == ("NO_ROUTE_TO_DESTINATION", "app-main")


def test_R2_local_route_always_there_and_more_specific_route_to_an_appliance(network):
    topo = network({"route_tables": {"private": {"10.0.20.0/24": "fw"}},
                    "hosts": {"fw": {"subnet": "public-a", "ip": "10.0.0.99",
                                     "security_groups": ["app-default-sg"]}},
                    "security_groups": {"app-extra": {"ingress": ["all from 10.0.0.0/16"]}}})
    routes = topo.route_tables["private"].routes
    assert any(r.target == "local" and str(r.destination) == "10.0.0.0/16" for r in routes)
    out = flow(topo, "lambda:orders", DB, port=5432)
    assert out["hops"][3]["rule"] == "private route 10.0.20.0/24 -> eni-fw"


def test_R3_no_route_and_blackhole(network):
    topo = network({"route_tables": {"private": {"0.0.0.0/0": None}}})
    out = flow(topo, "lambda:orders", "api.example.com")
    assert (out["reason"], out["dropped_at"]) == ("NO_ROUTE_TO_DESTINATION", "private")
    assert out["fix"] == ["add route 0.0.0.0/0 -> nat-a to route table private"]
    assert out["fix_verified"] is True


def test_R4_static_cidr_beats_prefix_list_beats_propagated():
    net = ipaddress.IPv4Network("52.216.0.0/15")
    table = RouteTable("rt", "vpc", (
        Route(net, "vgw-1", "vpn-gateway", origin="propagated"),
        Route(None, "vpce-1", "vpc-endpoint", prefix_list="pl-1"),
        Route(net, "nat-1", "nat-gateway"),
    ))

    class PL:
        cidrs = (net,)
    prefixes, lengths, values = route_prefixes(table, {"pl-1": PL})
    assert values[0] == 2 and values[1] == 1 and values[2] == 0   # best first
    from netemu.dataplane.classify.lpm import Lpm
    lpm = Lpm(np.array(prefixes, np.uint32), np.array(lengths, np.uint8),
              np.array(values, np.int32))
    assert lpm.lookup(np.array([int(net.network_address) + 5], np.uint32))[0] == 2


def test_R5_gateway_endpoint_adds_the_prefix_list_route(network):
    topo = network({"route_tables": {"private": {"0.0.0.0/0": None}},
                    "endpoints": {"vpce-s3": {"service": "s3", "route_tables": ["private"]}}})
    routes = topo.route_tables["private"].routes
    assert any(r.prefix_list == "pl-63a5400a" and r.target == "vpce-s3" for r in routes)
    out = flow(topo, "lambda:orders", "s3.us-east-1.amazonaws.com")
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    assert [h["kind"] for h in out["hops"]].count("gateway-endpoint") == 2


def test_G1_nat_gateway_translates_to_private_ip_then_igw_to_elastic_ip(network):
    out = flow(network(), "lambda:orders", "api.example.com")
    nat = next(h for h in out["hops"] if h["kind"] == "nat-gateway")
    igw = next(h for h in out["hops"] if h["kind"] == "igw-egress")
    assert nat["translation"].startswith("source 10.0.10.4:") and "-> 10.0.0.4:" in nat[
        "translation"]
    assert igw["translation"].endswith(f"-> 54.0.0.10:{nat['translation'].split(':')[-1]}")
    port = int(nat["translation"].split(":")[-1])
    assert 1024 <= port <= 65535


def test_G2_nat_gateway_in_a_private_subnet_reaches_nothing_outside(network):
    topo = network({"nat_gateways": {"nat-a": {"subnet": "data-a"}}})
    out = flow(topo, "lambda:orders", "api.example.com")
    assert (out["reason"], out["dropped_at"]) == ("NGW_NO_ROUTE_TO_IGW", "nat-a")


def _nat_batch(topo, n, ts=0.0, flags=SYN, sport0=40000):
    eni = topo.enis[topo.environments["orders/private-a"].eni]
    return from_columns(ts=ts, src=int(eni.private_ip),
                        dst=int(topo.hosts["api.example.com"].ip),
                        sport=np.arange(sport0, sport0 + n), dport=443, proto=6, flags=flags)


def test_G3_port_allocation_limit_per_destination(network):
    topo = network()
    dp = Dataplane(topo, Settings(nat_connections_per_destination=100))
    b = _nat_batch(topo, 130)
    dp.run(b)
    assert (b["status"] == 1).sum() == 100
    assert (b["reason"] == CODE["NGW_PORT_ALLOCATION"]).sum() == 30
    other = _nat_batch(topo, 5)
    other["dport"] = 80                         # another destination: its own 100
    dp.run(other)
    assert (other["status"] == 1).all()


def test_G3_default_limit_is_55000_per_destination(network):
    # G3: 55,000 simultaneous connections to one (IP, port, protocol) per address; the
    # 55,001st new connection fails with a port-allocation error.
    topo = network()
    dp = Dataplane(topo)
    b = _nat_batch(topo, 55_001, sport0=1024)
    dp.run(b)
    assert (b["status"][:55_000] == 1).all()
    assert b["reason"][55_000] == CODE["NGW_PORT_ALLOCATION"]


def test_G4_idle_timeout_350s_refuses_the_stale_segment(network):
    # G4: a connection idle for 350 s or more times out; a later segment (no SYN) of it is
    # refused. 349 s after the last packet the mapping, and so its port, still holds.
    topo = network()
    dp = Dataplane(topo)
    first = _nat_batch(topo, 2)
    dp.run(first)
    assert (first["status"] == 1).all()
    later = _nat_batch(topo, 2, ts=np.array([349.0, 351.0]), flags=ACK)
    dp.run(later)
    assert later["status"][0] == 1 and later["sport"][0] == first["sport"][0]
    nat = dp.elements[later["at"][1]]
    assert (later["status"][1], later["reason"][1]) == (2, CODE["NGW_IDLE_TIMEOUT"])
    assert (nat.kind, nat.resource) == ("nat-gateway", "nat-a")
    # a new connection (SYN) of the same 5-tuple after the reset gets a mapping again
    again = _nat_batch(topo, 1, ts=352.0, sport0=40001)
    dp.run(again)
    assert again["status"][0] == 1


def test_G5_no_inbound_connections_and_tcp_udp_icmp_only(network):
    topo = network()
    out = flow(topo, "api.example.com", "54.0.0.10", port=22)
    assert (out["reason"], out["dropped_at"]) == ("NGW_NO_INBOUND", "nat-a")
    out = flow(topo, "lambda:orders", "api.example.com", proto=47)
    assert (out["reason"], out["dropped_at"]) == ("PROTOCOL_RESTRICTION", "nat-a")
    assert flow(topo, "lambda:orders", "api.example.com", proto="icmp")[
        "reply_verdict"] == "delivered"


def test_I1_internet_gateway_one_to_one_nat(network):
    topo = network()
    out = flow(topo, "api.example.com", "54.0.0.50")
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    igw_in = next(h for h in out["hops"] if h["kind"] == "igw-ingress")
    assert igw_in["translation"] == "destination 54.0.0.50:443 -> 10.0.0.50:443"
    out = flow(topo, "instance:web-1", "api.example.com")
    assert out["verdict"] == "delivered"


def test_I1_no_public_ip_no_internet_and_the_fix_is_an_elastic_ip(network):
    topo = network({"hosts": {"web-1": {"public_ip": None}}})
    out = flow(topo, "instance:web-1", "api.example.com")
    assert out["reason"] == "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS"
    assert out["fix"][0].startswith("associate an Elastic IP") and out["fix_verified"]




def test_peering_reaches_the_other_vpc_with_group_references(network):
    topo = network(base=PEERED)
    out = flow(topo, "lambda:f", "10.1.1.10")
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    assert "vpc-peering" in [h["kind"] for h in out["hops"]]


def test_peering_needs_the_route_back(network):
    topo = network({"vpcs": {"shared": {"route_tables": {"rt-shared": {
        "10.0.0.0/16": None}}}}}, base=PEERED)
    out = flow(topo, "lambda:f", "10.1.1.10")
    assert (out["reply_verdict"], out["reason"], out["dropped_at"]) == (
        "dropped", "NO_ROUTE_TO_DESTINATION", "rt-shared")
    assert out["fix"] == ["add route 10.0.0.0/16 -> pcx-1 to route table rt-shared"]


def test_unknown_route_target_is_refused(network):
    with pytest.raises(InputError, match="unknown route target 'nat-z'"):
        network({"route_tables": {"private": {"0.0.0.0/0": "nat-z"}}})

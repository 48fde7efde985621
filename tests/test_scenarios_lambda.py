"""Lambda behaviours (L1-L8 of AWS-SEMANTICS.md), one scenario each."""

from __future__ import annotations

import pytest
from conftest import flow

from netemu.errors import InputError
from netemu.model.resources import LAMBDA


def test_L1_function_without_vpc_reaches_internet_but_nothing_private(network):
    topo = network({"functions": {"thumbs": {}}})
    assert flow(topo, "lambda:thumbs", "api.example.com")["reply_verdict"] == "delivered"
    out = flow(topo, "lambda:thumbs", "10.0.20.25", port=5432)
    assert (out["verdict"], out["reason"]) == ("dropped", "LAMBDA_NOT_IN_VPC")
    assert "attach function thumbs" in out["fix"][0]


def test_L1_function_without_vpc_reaches_public_aws_endpoints(network):
    topo = network({"functions": {"thumbs": {}}})
    out = flow(topo, "lambda:thumbs", "s3.us-east-1.amazonaws.com")
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    assert out["hops"][-len([h for h in out["hops"] if h["direction"] == "reply"]) - 1][
        "kind"] == "aws-service"


def test_L2_one_hyperplane_eni_per_subnet_and_group_set_shared_by_functions(network):
    topo = network({
        "security_groups": {"other": {}},
        "functions": {"billing": {"subnets": ["private-a", "private-b"],
                                  "security_groups": ["fn"]},
                      "audit": {"subnets": ["private-a"], "security_groups": ["fn", "other"]}},
    })
    enis = [e for e in topo.enis.values() if e.kind == LAMBDA]
    keys = {(e.subnet, frozenset(e.security_groups)) for e in enis}
    assert len(enis) == len(keys) == 3          # orders and billing share two
    for e in enis:
        assert e.requester_managed and e.public_ip is None
        assert e.private_ip in topo.subnets[e.subnet].cidr
        assert e.private_ip not in topo.subnets[e.subnet].reserved()
    a = topo.environments["orders/private-a"].eni
    assert a == topo.environments["billing/private-a"].eni
    assert a != topo.environments["audit/private-a"].eni


def test_L3_execution_environment_traffic_is_natted_onto_the_eni(network):
    topo = network()
    eni = topo.enis[topo.environments["orders/private-a"].eni]
    out = flow(topo, "lambda:orders", "db-1.abc.us-east-1.rds.amazonaws.com", port=5432)
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    hp = [h for h in out["hops"] if h["kind"] == "hyperplane-nat"]
    env = topo.environments["orders/private-a"]
    assert hp[0]["translation"].startswith(f"source {env.ip}:40000 -> ")
    assert f"-> {eni.private_ip}:" in hp[0]["translation"]
    assert hp[1]["direction"] == "reply" and "destination" in hp[1]["translation"]


def test_L3_hyperplane_eni_connection_limit(network):
    import numpy as np

    from netemu.dataplane.pipeline import Dataplane, Settings
    from netemu.dataplane.reasons import CODE
    from netemu.packet import SYN, from_columns

    topo = network()
    dp = Dataplane(topo, Settings(hyperplane_connections=3))
    env = topo.environments["orders/private-a"]
    b = from_columns(src=int(env.ip), dst=int(topo.hosts["api.example.com"].ip),
                     sport=np.arange(40000, 40005), dport=443, proto=6, flags=SYN)
    dp.run(b)
    assert list(b["status"]) == [1, 1, 1, 2, 2]
    assert set(b["reason"][3:]) == {CODE["LAMBDA_ENI_CONNECTION_LIMIT"]}


def test_L4_function_in_public_subnet_has_no_internet(network):
    topo = network({"functions": {"orders": {"subnets": ["public-a"]}}})
    out = flow(topo, "lambda:orders", "api.example.com")
    assert out["verdict"] == "dropped"
    assert out["reason"] == "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS"
    assert out["dropped_at"] == "igw"
    assert out["fix_verified"] is False and "NAT gateway" in out["fix"][0]


def test_L4_private_subnet_through_nat_gateway_has_internet(network):
    out = flow(network(), "lambda:orders", "api.example.com")
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    kinds = [h["kind"] for h in out["hops"] if h["direction"] == "request"]
    assert kinds.index("nat-gateway") < kinds.index("igw-egress")


def test_L5_no_connection_can_be_opened_into_a_function(network):
    topo = network({"security_groups": {"fn": {"ingress": ["all from 0.0.0.0/0"]}},
                    "hosts": {"web-1": {"security_groups": ["web", "fn"]}}})
    eni = topo.environments["orders/private-a"].eni
    out = flow(topo, "instance:web-1", f"eni:{eni}", port=8080)
    assert (out["verdict"], out["reason"]) == ("dropped", "LAMBDA_INBOUND_NOT_SUPPORTED")
    assert out["dropped_at"] == eni


def test_L6_function_obeys_its_security_group(network):
    topo = network({"security_groups": {"fn": {"egress": ["tcp 443 to 0.0.0.0/0"]}}})
    out = flow(topo, "lambda:orders", "db-1.abc.us-east-1.rds.amazonaws.com", port=5432)
    assert (out["reason"], out["dropped_at"]) == ("ENI_SG_RULES_MISMATCH", "fn")
    assert out["fix"] == ['add egress rule "tcp 5432 to sg:db" to security group fn']
    assert out["fix_verified"] is True


def test_L6_function_obeys_the_subnet_acl_and_route_table(network):
    topo = network({"network_acls": {"strict": {"outbound": ["100 deny all to 0.0.0.0/0"]}},
                    "subnets": {"private-a": {"acl": "strict"}}})
    out = flow(topo, "lambda:orders@private-a", "api.example.com")
    assert (out["reason"], out["dropped_at"]) == ("SUBNET_ACL_RESTRICTION", "strict")
    assert out["rule"] == "strict rule 100 deny all to 0.0.0.0/0"
    assert flow(topo, "lambda:orders@private-b", "api.example.com")["verdict"] == "delivered"


def test_L7_each_subnet_az_has_its_own_environment_and_eni(network):
    topo = network()
    a, b = topo.environments["orders/private-a"], topo.environments["orders/private-b"]
    assert a.eni != b.eni
    assert topo.subnets[topo.enis[b.eni].subnet].az == "us-east-1b"
    out = flow(topo, "lambda:orders@private-b", "api.example.com")
    assert any(b.eni in h["element"] for h in out["hops"])
    with pytest.raises(InputError, match="has no subnet 'public-a'"):
        flow(topo, "lambda:orders@public-a", "api.example.com")


def test_L8_function_takes_at_most_16_subnets_and_5_groups(network):
    many = {f"s{i}": {"cidr": f"10.0.{100 + i}.0/24"} for i in range(17)}
    with pytest.raises(InputError, match="at most 16"):
        network({"subnets": many,
                 "functions": {"orders": {"subnets": sorted(many)}}})
    groups = {f"g{i}": {} for i in range(6)}
    with pytest.raises(InputError, match="at most 5"):
        network({"security_groups": groups,
                 "functions": {"orders": {"security_groups": sorted(groups)}}})


def test_L8_unknown_subnet_is_invalid_subnet_id(network):
    with pytest.raises(InputError, match="InvalidSubnetIDException"):
        network({"functions": {"orders": {"subnets": ["nope"]}}})
    with pytest.raises(InputError, match="InvalidSecurityGroupIDException"):
        network({"functions": {"orders": {"security_groups": ["nope"]}}})


def test_L8_subnet_out_of_addresses(network):
    # a /28 has 16 addresses, 5 reserved: 11 usable, all taken by hosts
    hosts = {f"h{i}": {"subnet": "tiny"} for i in range(11)}
    with pytest.raises(InputError, match="SubnetIPAddressLimitReachedException"):
        network({"subnets": {"tiny": {"cidr": "10.0.99.0/28"}}, "hosts": hosts,
                 "functions": {"orders": {"subnets": ["tiny"]}}})


def test_L12_role_without_eni_permissions_gets_no_hyperplane_eni(network):
    topo = network({"functions": {"orders": {"role_can_manage_enis": False}}})
    assert not [e for e in topo.enis.values() if e.kind == LAMBDA]
    out = flow(topo, "lambda:orders", "api.example.com")
    assert (out["verdict"], out["reason"]) == ("dropped", "LAMBDA_ENI_MISSING")
    assert "AWSLambdaVPCAccessExecutionRole" in out["fix"][0]


def test_L10_a_thousand_environments_open_a_thousand_database_connections(network, tmp_path):
    from netemu.apps.replay import replay
    from netemu.apps.workload import generate_workload, write_workload

    topo = network()
    batch = generate_workload(topo, "orders", 1000, 1, [f"{DB_NAME}:5432"], 10.0, rate=2.0,
                              hold=1.0)
    write_workload(tmp_path / "w.pcap", batch)
    s = replay(topo, [tmp_path / "w.pcap"], tmp_path)
    assert (s.flows, s.packets, s.rejected) == (1000, 1000 * 8, 0)   # 3 + 2 * 1 + 3 each
    lines = (tmp_path / "flowlogs" / "eni-db-1.log").read_text().splitlines()[1:]
    inbound = {tuple(x.split()[3:7]) for x in lines if x.split()[4] == "10.0.20.25"}
    assert len(inbound) == 1000       # one connection per environment, through 2 ENIs (L3)
    assert {x[0] for x in inbound} == {str(e.private_ip) for e in topo.enis.values()
                                       if e.kind == LAMBDA}


DB_NAME = "db-1.abc.us-east-1.rds.amazonaws.com"

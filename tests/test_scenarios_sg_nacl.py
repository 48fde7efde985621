"""Security groups (S1-S6) and network ACLs (N1-N6), one scenario each."""

from __future__ import annotations

import numpy as np
from conftest import flow

from netemu.dataplane.packet import ACK, SYN, from_columns
from netemu.dataplane.pipeline import Dataplane, Settings
from netemu.dataplane.reasons import CODE
from netemu.dataplane.state import Timeouts

DB = "db-1.abc.us-east-1.rds.amazonaws.com"


def test_S1_any_rule_of_any_attached_group_allows(network):
    topo = network({"security_groups": {"db": {"ingress": []},
                                        "extra": {"ingress": ["tcp 5432 from 10.0.0.0/16"]}},
                    "hosts": {"db-1": {"security_groups": ["db", "extra"]}}})
    out = flow(topo, "lambda:orders", DB, port=5432)
    assert out["verdict"] == "delivered"
    allow = next(h for h in out["hops"] if h["kind"] == "eni-ingress")
    assert allow["rule"] == "extra ingress rule 1: tcp 5432 from 10.0.0.0/16"


def test_S2_group_reference_means_member_private_ips(network):
    topo = network()
    assert flow(topo, "lambda:orders", DB, port=5432)["verdict"] == "delivered"
    # web-1 is not a member of fn: the same rule does not admit it
    out = flow(topo, "instance:web-1", DB, port=5432)
    assert (out["reason"], out["dropped_at"]) == ("ENI_SG_RULES_MISMATCH", "db")


def test_S2_group_reference_never_matches_an_address_seen_through_nat(network):
    # web-1 admits sg:fn, but the function reaches its public IP through the NAT gateway
    topo = network({"security_groups": {"web": {"ingress": ["tcp 443 from sg:fn"]}}})
    out = flow(topo, "lambda:orders", "54.0.0.50")
    assert (out["verdict"], out["reason"], out["dropped_at"]) == (
        "dropped", "ENI_SG_RULES_MISMATCH", "web")
    assert flow(topo, "lambda:orders", "10.0.0.50")["verdict"] == "delivered"


def test_S2_protocol_all_and_other_protocols_cover_every_port(network):
    topo = network({"security_groups": {"db": {"ingress": ["all from sg:fn"]}}})
    assert flow(topo, "lambda:orders", DB, port=1)["verdict"] == "delivered"
    topo = network({"security_groups": {"db": {"ingress": ["47 1-2 from sg:fn"]}}})
    out = flow(topo, "lambda:orders", DB, proto=47)
    assert out["verdict"] == "delivered"


def test_S2_icmp_rule_type_and_code(network):
    topo = network({"security_groups": {"db": {"ingress": ["icmp type 8 code 0 from sg:fn"]}}})
    out = flow(topo, "lambda:orders", DB, proto="icmp")
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    topo = network({"security_groups": {"db": {"ingress": ["icmp type 13 from sg:fn"]}}})
    assert flow(topo, "lambda:orders", DB, proto="icmp")["reason"] == "ENI_SG_RULES_MISMATCH"


def test_S3_replies_pass_whatever_the_rules_say(network):
    topo = network({"security_groups": {"db": {"ingress": ["tcp 5432 from sg:fn"],
                                               "egress": []}}})
    out = flow(topo, "lambda:orders", DB, port=5432)
    assert out["reply_verdict"] == "delivered"
    assert any(h["decision"] == "allow (tracked reply)" and h["kind"] == "eni-egress"
               for h in out["hops"])


def test_S3_new_flow_from_the_other_side_needs_its_own_rule(network):
    topo = network({"security_groups": {"web": {"ingress": ["tcp 443 from 0.0.0.0/0"],
                                                "egress": []}}})
    out = flow(topo, "instance:web-1", "api.example.com")
    assert (out["reason"], out["dropped_at"]) == ("SG_HAS_NO_RULES", "web")


def test_S4_new_group_sends_anything_and_admits_nothing(network):
    topo = network({"security_groups": {"fresh": {}},
                    "hosts": {"web-1": {"security_groups": ["fresh"]}}})
    assert flow(topo, "instance:web-1", "api.example.com")["verdict"] == "delivered"
    out = flow(topo, "api.example.com", "54.0.0.50")
    assert (out["reason"], out["dropped_at"]) == ("SG_HAS_NO_RULES", "fresh")


def test_S4_default_group_admits_its_own_members(network):
    topo = network({"hosts": {"a": {"subnet": "data-a", "security_groups": ["app-default-sg"]},
                              "b": {"subnet": "data-a", "security_groups": ["app-default-sg"]},
                              "c": {"subnet": "data-a", "security_groups": ["fn"]}}})
    assert flow(topo, "instance:a", "instance:b", port=22)["verdict"] == "delivered"
    assert flow(topo, "instance:c", "instance:b", port=22)["reason"] == "ENI_SG_RULES_MISMATCH"


def test_S5_udp_tracking_times_out_after_30s_without_replies(network):
    topo = network({"security_groups": {"db": {"ingress": ["udp 53 from sg:fn"],
                                               "egress": []}}})
    dp = Dataplane(topo)
    eni = topo.enis[topo.environments["orders/private-a"].eni]
    db = topo.hosts["db-1"]
    ask = from_columns(ts=[0.0], src=int(eni.private_ip), dst=int(db.ip), sport=5000,
                       dport=53, proto=17)
    dp.run(ask)
    assert ask["status"][0] == 1
    late = dp.replies(ask, np.array([0]))
    late["ts"] = 31.0                     # S5: other UDP 30 s
    dp.run(late)
    assert late["reason"][0] == CODE["SG_HAS_NO_RULES"]


def test_S5_timeouts_are_settings(network):
    topo = network()
    dp = Dataplane(topo, Settings(timeouts=Timeouts(udp=60.0)))
    eni = topo.enis[topo.environments["orders/private-a"].eni]
    ask = from_columns(ts=[0.0], src=int(eni.private_ip), dst=int(topo.hosts["db-1"].ip),
                       sport=5000, dport=5432, proto=17)
    topo_sg = dp.elements[dp.slots[("in", "eni-db-1")]]
    dp.run(ask)
    assert ask["reason"][0] == CODE["ENI_SG_RULES_MISMATCH"] and topo_sg.kind == "eni-ingress"
    assert dp.settings.timeouts.udp == 60.0


def test_S6_resolver_traffic_is_not_filtered(network):
    topo = network({"security_groups": {"fn": {"egress": []}},
                    "network_acls": {"closed": {}},
                    "subnets": {"private-a": {"acl": "closed"}}})
    out = flow(topo, "lambda:orders@private-a", "10.0.0.2", proto="udp", port=53)
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    assert any(h["decision"] == "not filtered (S6)" for h in out["hops"])
    out = flow(topo, "lambda:orders@private-a", "169.254.169.254", port=80)
    assert out["verdict"] == "delivered"


def test_N1_acl_is_not_evaluated_inside_one_subnet(network):
    topo = network({"network_acls": {"closed": {}},
                    "subnets": {"data-a": {"acl": "closed"}},
                    "hosts": {"a": {"subnet": "data-a", "security_groups": ["app-default-sg"]},
                              "b": {"subnet": "data-a", "security_groups": ["app-default-sg"]}}})
    out = flow(topo, "instance:a", "instance:b", port=22)
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    assert not any(h["kind"].startswith("acl") for h in out["hops"])
    out = flow(topo, "lambda:orders", DB, port=5432)
    assert (out["reason"], out["dropped_at"]) == ("SUBNET_ACL_RESTRICTION", "closed")


def test_N2_stateless_reply_needs_its_own_rule(network):
    topo = network({"network_acls": {"app": {
        "inbound": ["100 allow tcp 5432 from 10.0.0.0/16"],
        "outbound": ["100 allow tcp 5432 to 10.0.0.0/16"]}},
        "subnets": {"data-a": {"acl": "app"}}})
    out = flow(topo, "lambda:orders", DB, port=5432)
    assert out["verdict"] == "delivered" and out["reply_verdict"] == "dropped"
    assert (out["dropped_in"], out["dropped_at"]) == ("reply", "app")
    assert out["rule"] == "app rule * deny all to 0.0.0.0/0"
    assert out["fix"] == ['add outbound rule "110 allow tcp 1024-65535 to 10.0.10.4/32" '
                          'to network ACL app'] and out["fix_verified"]


def test_N3_lowest_number_first_match_decides(network):
    deny_first = {"inbound": ["100 deny tcp 5432 from 10.0.10.0/24",
                              "200 allow all from 0.0.0.0/0"],
                  "outbound": ["100 allow all to 0.0.0.0/0"]}
    topo = network({"network_acls": {"app": deny_first}, "subnets": {"data-a": {"acl": "app"}}})
    out = flow(topo, "lambda:orders@private-a", DB, port=5432)
    assert out["rule"] == "app rule 100 deny tcp 5432 from 10.0.10.0/24"
    assert flow(topo, "lambda:orders@private-b", DB, port=5432)["verdict"] == "delivered"
    allow_first = {"inbound": ["300 deny all from 0.0.0.0/0", "50 allow tcp 5432 from "
                               "10.0.0.0/16"], "outbound": ["100 allow all to 0.0.0.0/0"]}
    topo = network({"network_acls": {"app": allow_first},
                    "subnets": {"data-a": {"acl": "app"}}})
    assert flow(topo, "lambda:orders", DB, port=5432)["verdict"] == "delivered"


def test_N4_acl_icmp_type_and_port_ranges(network):
    acl = {"inbound": ["100 allow icmp type 8 from 10.0.0.0/16",
                       "110 allow tcp 5000-5432 from 10.0.0.0/16"],
           "outbound": ["100 allow all to 0.0.0.0/0"]}
    topo = network({"network_acls": {"app": acl}, "subnets": {"data-a": {"acl": "app"}},
                    "security_groups": {"db": {"ingress": ["all from sg:fn"]}}})
    assert flow(topo, "lambda:orders", DB, proto="icmp")["verdict"] == "delivered"
    assert flow(topo, "lambda:orders", DB, port=5432)["verdict"] == "delivered"
    assert flow(topo, "lambda:orders", DB, port=5433)["reason"] == "SUBNET_ACL_RESTRICTION"


def test_N5_default_acl_allows_and_new_custom_acl_denies(network):
    topo = network()
    assert flow(topo, "lambda:orders", DB, port=5432)["reply_verdict"] == "delivered"
    topo = network({"network_acls": {"new": {}}, "subnets": {"data-a": {"acl": "new"}}})
    out = flow(topo, "lambda:orders", DB, port=5432)
    assert (out["reason"], out["rule"]) == ("SUBNET_ACL_RESTRICTION",
                                            "new rule * deny all from 0.0.0.0/0")


def test_N6_replies_to_lambda_and_nat_come_to_ports_1024_65535(network):
    topo = network({"network_acls": {"app": {
        "inbound": ["100 allow tcp 32768-61000 from 0.0.0.0/0"],
        "outbound": ["100 allow all to 0.0.0.0/0"]}},
        "subnets": {"private-a": {"acl": "app"}, "private-b": {"acl": "app"}}})
    dp = Dataplane(topo)
    env = topo.environments["orders/private-a"]
    n = 400
    b = from_columns(src=int(env.ip), dst=int(topo.hosts["api.example.com"].ip),
                     sport=np.arange(40000, 40000 + n), dport=443, proto=6, flags=SYN)
    dp.run(b)
    hp_ports = b["dport"]            # not yet: the request was delivered with NAT'd ports
    assert (b["status"] == 1).all()
    r = dp.replies(b, np.arange(n))
    dp.run(r)
    # the Hyperplane ports span 1024-65535, so a Linux-only range drops some replies
    dropped = r["reason"] == CODE["SUBNET_ACL_RESTRICTION"]
    assert 0 < dropped.sum() < n
    assert len(hp_ports) == n and r["flags"][0] == SYN | ACK

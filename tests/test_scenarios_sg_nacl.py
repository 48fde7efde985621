"""Security groups (S1-S6) and network ACLs (N1-N6), one scenario each."""

from __future__ import annotations

import numpy as np
from conftest import flow

from netemu.dataplane.pipeline import Dataplane, Settings
from netemu.dataplane.reasons import CODE, CODES
from netemu.dataplane.state import Timeouts
from netemu.packet import ACK, DELIVERED, DROPPED, SYN, from_columns

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


def _udp_reply_after(topo, settings, delay) -> str:
    """What becomes of the database's reply `delay` seconds after the function's UDP
    request, with the database's SG admitting the request and allowing nothing outbound:
    "delivered", or the reason it was dropped."""
    dp = Dataplane(topo, settings)
    env = topo.environments["orders/private-a"]
    ask = from_columns(ts=[0.0], src=int(env.ip), dst=int(topo.hosts["db-1"].ip),
                       sport=5000, dport=53, proto=17)
    dp.run(ask)
    assert ask["status"][0] == DELIVERED
    late = dp.replies(ask, np.array([0]))
    late["ts"] = delay
    dp.run(late)
    return "delivered" if late["status"][0] == DELIVERED else CODES[late["reason"][0]]


def test_S5_timeouts_are_settings(network):
    # S5: "other UDP" is tracked 30 s by default (30-60 configurable). A reply 45 s after
    # the request is outside the default but inside a 60 s setting; 61 s is outside both.
    topo = network({"security_groups": {"db": {"ingress": ["udp 53 from sg:fn"],
                                               "egress": []}}})
    sixty = Settings(timeouts=Timeouts(udp=60.0))
    assert _udp_reply_after(topo, Settings(), 45.0) == "SG_HAS_NO_RULES"
    assert _udp_reply_after(topo, sixty, 45.0) == "delivered"
    assert _udp_reply_after(topo, sixty, 61.0) == "SG_HAS_NO_RULES"


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
    # item 3: for each subnet of the function, its CIDR, never the Hyperplane ENI's /32
    assert out["fix"] == ['add outbound rule "110 allow tcp 1024-65535 to 10.0.10.0/24" '
                          'to network ACL app',
                          'add outbound rule "120 allow tcp 1024-65535 to 10.0.11.0/24" '
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
    assert (b["status"] == DELIVERED).all()
    r = dp.replies(b, np.arange(n))
    assert (r["flags"] == SYN | ACK).all()
    dp.run(r)
    # the Hyperplane NAT picks ports in 1024-65535 (N6), so a reply is dropped at the
    # private subnet's ACL exactly when its port there lies outside 32768-61000, and the
    # others come back to the environment's own ports 40000..
    dropped = r["status"] == DROPPED
    assert 0 < dropped.sum() < n
    assert (r["reason"][dropped] == CODE["SUBNET_ACL_RESTRICTION"]).all()
    port_at_acl = r["dport"][dropped]
    assert ((port_at_acl < 32768) | (port_at_acl > 61000)).all()
    assert ((port_at_acl >= 1024) & (port_at_acl <= 65535)).all()
    ok = ~dropped
    assert (r["status"][ok] == DELIVERED).all()
    assert (r["dport"][ok] == np.arange(40000, 40000 + n)[ok]).all()


def test_N2_icmp_echo_reply_is_type_0_for_a_stateless_acl(network):
    # A ping is an echo request (type 8) answered by an echo reply (type 0, code 0). The
    # function's subnet ACL is stateless (N2): it must admit type 0 for the answer to come
    # back, and admitting only type 8 inbound drops the answer there.
    def acl(inbound):
        return {"network_acls": {"fn": {"inbound": [inbound],
                                        "outbound": ["100 allow all to 0.0.0.0/0"]}},
                "subnets": {"private-a": {"acl": "fn"}, "private-b": {"acl": "fn"}},
                "security_groups": {"db": {"ingress": ["icmp type 8 from sg:fn"]}}}
    out = flow(network(acl("100 allow icmp type 0 code 0 from 10.0.0.0/16")),
               "lambda:orders", DB, proto="icmp")
    assert out["verdict"] == out["reply_verdict"] == "delivered"
    out = flow(network(acl("100 allow icmp type 8 from 10.0.0.0/16")),
               "lambda:orders", DB, proto="icmp")
    assert out["verdict"] == "delivered"
    assert (out["reply_verdict"], out["reason"]) == ("dropped", "SUBNET_ACL_RESTRICTION")

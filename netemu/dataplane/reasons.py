"""Why a packet was dropped, in AWS Reachability Analyzer's vocabulary where it has a
word, and in the same style where it has none (the Lambda-specific ones)."""

from __future__ import annotations

CODES: tuple[str, ...] = (
    "",                                      # 0: not dropped
    "ENI_SG_RULES_MISMATCH",                 # no rule of the ENI's groups admits it
    "SG_HAS_NO_RULES",                       # the groups have no rule in that direction
    "SUBNET_ACL_RESTRICTION",                # the subnet's network ACL denies it
    "NO_ROUTE_TO_DESTINATION",               # no route in the route table covers it
    "BAD_STATE_ROUTE",                       # the matching route is a blackhole
    "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS",  # the source has no public IPv4 (L4, I1)
    "IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS",  # no private address behind that public one
    "NGW_REQUIRES_SOURCE_IN_VPC",            # NAT gateway: traffic from outside its VPC
    "PROTOCOL_RESTRICTION",                  # NAT gateway: TCP, UDP and ICMP only (G5)
    "UNKNOWN_DESTINATION",                   # nothing owns the destination address
    "CANNOT_ROUTE",                          # a gateway cannot forward it (no IGW, peering down)
    "VPCE_POLICY_RESTRICTION",               # the endpoint policy denies it (E1)
    "NGW_PORT_ALLOCATION",                   # ErrorPortAllocation: 55,000 per destination (G3)
    "NGW_IDLE_TIMEOUT",                      # connection timed out after 350 s; RST sent (G4)
    "NGW_NO_INBOUND",                        # nothing can open a connection in through NAT
    "NGW_NO_ROUTE_TO_IGW",                   # G2: its subnet does not route to an IGW
    "LAMBDA_INBOUND_NOT_SUPPORTED",          # L5: no connection can be opened into a function
    "LAMBDA_NOT_IN_VPC",                     # L1: a function without VPC config sees no VPC
    "LAMBDA_ENI_CONNECTION_LIMIT",           # L3: 65,000 connections per Hyperplane ENI
    "LAMBDA_ENI_MISSING",                    # the function has no Hyperplane ENI in that subnet
    "REPLY_SOURCE_CHANGED",                  # the answer comes from another address or port
    "REQUEST_DROPPED",                       # replay: a reply whose request never arrived
    "ROUTING_LOOP",                          # the packet crossed too many hops
    "NOT_PLACED",                            # no element owns the packet's source address
    "ENI_SOURCE_DEST_CHECK_RESTRICTION",     # routed to an ENI that takes only its own traffic
    "NAT_INSTANCE_PORT_ALLOCATION",          # a NAT instance has no free port for it
)

CODE = {name: i for i, name in enumerate(CODES)}

EXPLAIN = {
    "ENI_SG_RULES_MISMATCH": "no rule of the network interface's security groups admits it",
    "SG_HAS_NO_RULES": "the security groups have no rule in this direction",
    "SUBNET_ACL_RESTRICTION": "the subnet's network ACL does not admit it",
    "NO_ROUTE_TO_DESTINATION": "no route in the route table covers the destination",
    "BAD_STATE_ROUTE": "the matching route is a blackhole (its target is gone)",
    "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS":
        "the source has no public IPv4 address, so the internet gateway cannot translate it",
    "IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS":
        "no private address is associated with that public address",
    "NGW_REQUIRES_SOURCE_IN_VPC": "a NAT gateway only serves sources inside its VPC",
    "PROTOCOL_RESTRICTION": "a NAT gateway forwards TCP, UDP and ICMP only",
    "UNKNOWN_DESTINATION": "no network interface or host owns the destination address",
    "CANNOT_ROUTE": "the gateway cannot forward it",
    "VPCE_POLICY_RESTRICTION": "the endpoint policy denies it",
    "NGW_PORT_ALLOCATION": "the NAT gateway has no free port for this destination "
                           "(ErrorPortAllocation)",
    "NGW_IDLE_TIMEOUT": "the NAT gateway dropped the idle connection and answered with a RST",
    "NGW_NO_INBOUND": "a NAT gateway admits only replies to connections from inside",
    "NGW_NO_ROUTE_TO_IGW": "the NAT gateway's subnet does not send 0.0.0.0/0 to an internet "
                           "gateway, so it reaches nothing outside (G2)",
    "LAMBDA_INBOUND_NOT_SUPPORTED":
        "connections cannot be opened into a Lambda function through its Hyperplane ENI",
    "LAMBDA_NOT_IN_VPC": "a function without VPC configuration reaches nothing private",
    "LAMBDA_ENI_CONNECTION_LIMIT": "the Hyperplane ENI carries 65,000 connections at most",
    "LAMBDA_ENI_MISSING": "the function has no Hyperplane ENI for this subnet",
    "REPLY_SOURCE_CHANGED": "the reply reaches the client from another address or port than "
                            "the one it called (asymmetric path through a NAT), so it answers "
                            "nothing",
    "REQUEST_DROPPED": "the connection's request was dropped, so nothing would answer it",
    "ROUTING_LOOP": "the packet crossed too many hops",
    "NOT_PLACED": "no element of the topology owns the packet's source address",
    "ENI_SOURCE_DEST_CHECK_RESTRICTION":
        "the route's target network interface has source/destination check on, so it "
        "drops traffic not addressed to it (turn the check off for a NAT instance)",
    "NAT_INSTANCE_PORT_ALLOCATION": "the NAT instance has no free port for this destination",
}

"""Compiled packet classifiers: first match (ACLs), any match (security groups), longest
prefix (routes) and the flow table (connection tracking, NAT)."""

from netemu.dataplane.classify.any_match import AnyMatch
from netemu.dataplane.classify.first_match import FirstMatch
from netemu.dataplane.classify.flowtable import FlowTable
from netemu.dataplane.classify.lpm import Lpm

__all__ = ["AnyMatch", "FirstMatch", "FlowTable", "Lpm"]

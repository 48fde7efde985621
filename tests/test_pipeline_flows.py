"""Deciding per flow gives every packet the fate it gets when decided one by one."""

from __future__ import annotations

import numpy as np
from conftest import TOPOLOGIES
from hypothesis import given, settings
from strategies import batches, examples

import netemu
from netemu.dataplane.grouping import flow_groups, segments
from netemu.dataplane.pipeline import FATE_COLUMNS, Dataplane
from netemu.packet import SYN, from_columns

TOPO = netemu.load(TOPOLOGIES / "lambda-nat-internet.yaml")
ENVS = [int(e.ip) for e in TOPO.environments.values()]
DSTS = [int(TOPO.hosts["api.example.com"].ip), int(TOPO.vpcs["app"].resolver_ip),
        0x0A000A63, 0x34D80010]   # an internet host, the resolver, a private hole, S3


@settings(max_examples=examples(50), deadline=None)
@given(batches(ENVS, DSTS))
def test_per_flow_equals_per_packet(b):
    one_by_one = b.copy()
    dp = Dataplane(TOPO)
    for i in range(len(one_by_one)):       # the oracle: each packet alone, in time order
        row = one_by_one[i:i + 1].copy()
        dp.run(row)
        one_by_one[i] = row[0]
    flows = b.copy()
    Dataplane(TOPO).run_flows(flows)
    for column in FATE_COLUMNS:
        assert (flows[column] == one_by_one[column]).all(), column


def test_flow_groups_in_order_of_first_appearance():
    b = from_columns(src=[1, 2, 1, 3, 2], dst=5, sport=[10, 10, 10, 10, 11], dport=80,
                     proto=6)
    flows = flow_groups(b)
    assert list(flows.first) == [0, 1, 3, 4] and list(flows.group) == [0, 1, 0, 2, 3]


def test_segments_split_flows_at_long_silences():
    b = from_columns(src=[1, 2, 1, 1, 2, 1], dst=5, sport=10, dport=80, proto=6,
                     ts=[0.0, 1.0, 10.0, 100.0, 2.0, 101.0])
    assert list(segments(flow_groups(b), b["ts"], 30.0)) == [0, 0, 0, 1, 0, 1]


def test_counters_account_per_packet():
    env = TOPO.environments["orders/private-a"]
    b = from_columns(src=int(env.ip), dst=DSTS[0], sport=np.repeat([1, 2, 3], 4), dport=443,
                     proto=6, flags=SYN)
    dp = Dataplane(TOPO)
    rt = dp.run_flows(b)
    sink = dp.slots[("sink", "internet")]
    assert rt.deliver_count[sink] == 3 * 4       # 3 flows of 4 packets, all delivered
    assert rt.in_count[dp.slots[("lambda", "")]] == 3 * 4

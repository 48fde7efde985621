"""A production-shaped topology and synthetic traffic for the end-to-end benchmarks.

The path of issue #3: execution environment -> Hyperplane NAT -> ENI (50 security-group
rules) -> subnet ACL (20 entries) -> router (100 routes) -> NAT gateway -> internet
gateway -> internet. The matching rule sits last in each list so every classifier does
its whole job."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml

import netemu
from netemu.packet import ACK, SYN, empty

DESTINATIONS = 1000                    # internet hosts, in 198.18.0.0/15 (benchmark range)
DST_BASE = 0xC6120000


def topology_dict(sg_rules: int = 50, acl_entries: int = 20, routes: int = 100) -> dict:
    egress = [f"tcp {1000 + i} to 172.{16 + i % 16}.{i}.0/24" for i in range(sg_rules - 1)]
    egress.append("tcp 443 to 0.0.0.0/0")
    outbound = [f"{10 + 10 * i} deny udp {2000 + i} to 192.168.{i}.0/24"
                for i in range(acl_entries - 1)]
    outbound.append(f"{10 * acl_entries + 10} allow all to 0.0.0.0/0")
    inbound = [f"{10 + 10 * i} deny tcp {3000 + i} from 192.168.{i}.0/24"
               for i in range(acl_entries - 1)]
    inbound.append(f"{10 * acl_entries + 10} allow all from 0.0.0.0/0")
    private = {f"100.{64 + i // 256}.{i % 256}.0/24": "blackhole" for i in range(routes - 2)}
    private["0.0.0.0/0"] = "nat-a"
    return {
        "vpc": "bench", "cidr": "10.0.0.0/16", "internet_gateway": "igw",
        "subnets": {
            "public-a": {"cidr": "10.0.0.0/24", "az": "us-east-1a", "route_table": "public"},
            "private-a": {"cidr": "10.0.10.0/24", "az": "us-east-1a", "route_table": "private",
                          "acl": "app"},
            "private-b": {"cidr": "10.0.11.0/24", "az": "us-east-1b", "route_table": "private",
                          "acl": "app"},
        },
        "route_tables": {"public": {"0.0.0.0/0": "igw"}, "private": private},
        "nat_gateways": {"nat-a": {"subnet": "public-a", "elastic_ip": "54.0.0.10"}},
        "network_acls": {"app": {"inbound": inbound, "outbound": outbound}},
        "security_groups": {"fn": {"egress": egress}},
        "functions": {"orders": {"subnets": ["private-a", "private-b"],
                                 "security_groups": ["fn"]}},
    }


def topology() -> netemu.Topology:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(topology_dict()))
        topo = netemu.load(path)
    counts = (len(topo.security_groups["fn"].egress),
              len([e for e in topo.network_acls["app"].direction(True) if e.number < 32767]),
              len(topo.route_tables["private"].routes))
    assert counts == (50, 20, 100), counts
    return topo


def packets(topo: netemu.Topology, n: int, per_flow: int, seed: int = 0, t0: float = 0.0,
            flow0: int = 0) -> np.ndarray:
    """n packets of n / per_flow TCP flows from the function's environments, interleaved
    in time order; flow numbers start at flow0 so a stream can continue."""
    rng = np.random.default_rng(seed)
    flows = -(-n // per_flow)
    flow = np.repeat(np.arange(flows), per_flow)[:n]
    rng.shuffle(flow)
    flow = flow + flow0
    envs = np.array(sorted(int(e.ip) for e in topo.environments.values()), dtype=np.uint32)
    b = empty(len(flow))
    b["ts"] = t0 + np.arange(len(flow)) * 1e-5
    b["src"] = envs[flow % len(envs)]
    b["dst"] = DST_BASE + (flow // len(envs)) % DESTINATIONS
    b["sport"] = 1024 + (flow // (len(envs) * DESTINATIONS)) % 64000
    b["dport"] = 443
    b["proto"] = 6
    b["flags"] = ACK
    b["length"] = 100
    b["flow"] = flow
    first = np.unique(flow, return_index=True)[1]
    b["flags"][first] = SYN
    return b


def stream(topo: netemu.Topology, total: int, per_flow: int, batch: int
           ) -> Iterator[np.ndarray]:
    """`total` packets in batches, flows spanning no batch boundary."""
    done = 0
    while done < total:
        n = min(batch, total - done)
        yield packets(topo, n, per_flow, seed=done, t0=done * 1e-5, flow0=done // per_flow)
        done += n


def write_trace(path, topo: netemu.Topology, total: int, batch: int = 262_144,
                snaplen: int = 65535) -> None:
    """A pcap of `total` packets of 10-packet flows, written batch by batch."""
    from netemu.io.pcap_writer import write_pcap
    write_pcap(path, stream(topo, total, 10, batch), snaplen=snaplen)

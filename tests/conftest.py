"""Shared test helpers: topologies written from Python dicts, one flow traced."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import Phase, settings

import netemu

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE: "ci" (the default, `make test`)
# draws the same examples every run, so a failure is reproducible and a run's time is
# known; "deep" (`make test-deep`) draws 20 times as many, fresh each run. A test asks
# for `examples(n)` (tests/strategies.py), which scales with the profile.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
HYPOTHESIS_DEFAULT = 100   # hypothesis's own max_examples (not settings.default: this
                           # module may be imported twice, as under mutmut)
settings.register_profile("deep", derandomize=False, deadline=None, print_blob=True,
                          max_examples=20 * HYPOTHESIS_DEFAULT)
# "mutation" (`make mutants`): a quarter of the examples and no shrinking, since a
# mutant only needs one failing example and shrinking it would be timed out.
settings.register_profile("mutation", derandomize=True, deadline=None, database=None,
                          max_examples=HYPOTHESIS_DEFAULT // 4,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGIES = ROOT / "topologies"
SHARED_DATA = ROOT.parent / "shared" / "data"

# The usual shape: a function in two private subnets, a NAT gateway in a public subnet,
# a database and a web server, and one host on the internet.
BASE = {
    "vpc": "app",
    "cidr": "10.0.0.0/16",
    "internet_gateway": "igw",
    "subnets": {
        "public-a": {"cidr": "10.0.0.0/24", "az": "us-east-1a", "route_table": "public"},
        "private-a": {"cidr": "10.0.10.0/24", "az": "us-east-1a", "route_table": "private"},
        "private-b": {"cidr": "10.0.11.0/24", "az": "us-east-1b", "route_table": "private"},
        "data-a": {"cidr": "10.0.20.0/24", "az": "us-east-1a", "route_table": "private"},
    },
    "route_tables": {"public": {"0.0.0.0/0": "igw"}, "private": {"0.0.0.0/0": "nat-a"}},
    "nat_gateways": {"nat-a": {"subnet": "public-a", "elastic_ip": "54.0.0.10"}},
    "security_groups": {
        "fn": {"egress": ["all to 0.0.0.0/0"]},
        "db": {"ingress": ["tcp 5432 from sg:fn"]},
        "web": {"ingress": ["tcp 443 from 0.0.0.0/0"]},
    },
    "functions": {"orders": {"subnets": ["private-a", "private-b"],
                             "security_groups": ["fn"]}},
    "hosts": {
        "db-1": {"subnet": "data-a", "ip": "10.0.20.25", "security_groups": ["db"],
                 "kind": "rds", "dns": "db-1.abc.us-east-1.rds.amazonaws.com"},
        "web-1": {"subnet": "public-a", "ip": "10.0.0.50", "public_ip": "54.0.0.50",
                  "security_groups": ["web"]},
    },
    "internet": {"api.example.com": "203.0.113.10"},
}


# Two peered VPCs: a function in one, a service admitting its group in the other (S2).
PEERED = {
    "vpcs": {
        "app": {"cidr": "10.0.0.0/16",
                "subnets": {"a": {"cidr": "10.0.1.0/24", "route_table": "rt-app"}},
                "route_tables": {"rt-app": {"10.1.0.0/16": "pcx-1"}},
                "security_groups": {"fn": {}}},
        "shared": {"cidr": "10.1.0.0/16",
                   "subnets": {"b": {"cidr": "10.1.1.0/24", "route_table": "rt-shared"}},
                   "route_tables": {"rt-shared": {"10.0.0.0/16": "pcx-1"}},
                   "security_groups": {"svc": {"ingress": ["tcp 443 from sg:fn"]}}},
    },
    "peerings": {"pcx-1": {"requester": "app", "accepter": "shared"}},
    "functions": {"f": {"subnets": ["a"], "security_groups": ["fn"]}},
    "hosts": {"svc-1": {"subnet": "b", "ip": "10.1.1.10", "security_groups": ["svc"]}},
}


def merge(base: dict, changes: dict) -> dict:
    """Deep-merge `changes` into a copy of `base`; a value of None deletes the key."""
    out = copy.deepcopy(base)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


@pytest.fixture
def network(tmp_path):
    """network(changes) -> Topology built from BASE with `changes` merged in."""
    def build(changes: dict | None = None, *, base: dict = BASE) -> netemu.Topology:
        path = tmp_path / "topology.yaml"
        path.write_text(yaml.safe_dump(merge(base, changes or {}), sort_keys=False))
        return netemu.load(path)
    return build


def flow(topo, src, dst, proto="tcp", port=None, **kw) -> dict:
    return netemu.trace(topo, src, dst, proto=proto, port=port, **kw).to_json()


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """netemu as the console script runs it: through main(), every exit an exit code."""
    import sys

    from netemu.cli import main
    argv, sys.argv = sys.argv, ["netemu", *map(str, args)]
    try:
        with pytest.raises(SystemExit) as stop:
            main()
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return stop.value.code, out, err

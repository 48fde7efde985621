"""Addresses AWS hands out: the lowest free one of the subnet, after the four reserved at
its start (and never the broadcast address), skipping addresses written explicitly."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

import netemu


def _load(tmp_path, hosts: dict, cidr: str = "10.0.0.0/24"):
    t = {"vpc": "v", "cidr": "10.0.0.0/16", "subnets": {"a": {"cidr": cidr}}, "hosts": hosts}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(t, sort_keys=False))
    return netemu.load(path)


def test_lowest_free_address_skips_reserved_and_explicit_ones(tmp_path):
    topo = _load(tmp_path, {"first": {"subnet": "a"}, "pinned": {"subnet": "a", "ip": "10.0.0.6"},
                            "second": {"subnet": "a"}, "third": {"subnet": "a"}})
    got = {h: str(topo.hosts[h].ip) for h in ("first", "pinned", "second", "third")}
    # .0-.3 are reserved (network, router, DNS, future): .4, then .5, .6 is taken, .7
    assert got == {"first": "10.0.0.4", "pinned": "10.0.0.6", "second": "10.0.0.5",
                   "third": "10.0.0.7"}


def test_thousands_of_addresses_in_one_subnet_are_handed_out_in_order(tmp_path):
    n = 3000
    topo = _load(tmp_path, {f"h{i:04d}": {"subnet": "a"} for i in range(n)}, "10.0.0.0/20")
    ips = [int(topo.hosts[f"h{i:04d}"].ip) for i in range(n)]
    base = int(ipaddress.IPv4Address("10.0.0.4"))
    assert ips == list(range(base, base + n))


def test_a_full_subnet_names_the_exception(tmp_path):
    # a /28 has 16 addresses, 5 reserved: 11 to hand out
    hosts = {f"h{i}": {"subnet": "a"} for i in range(12)}
    with pytest.raises(netemu.InputError, match="SubnetIPAddressLimitReachedException"):
        _load(tmp_path, hosts, "10.0.0.0/28")
    assert len(_load(tmp_path, dict(list(hosts.items())[:11]), "10.0.0.0/28").hosts) == 11

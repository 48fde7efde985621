"""IPv4 addresses as unsigned 32-bit integers, the form the dataplane works in.

The model keeps `ipaddress` objects; the dataplane compares plain integers."""

from __future__ import annotations

import ipaddress

import numpy as np

from netemu.errors import InputError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def ip_to_int(ip: str | ipaddress.IPv4Address) -> int:
    return int(ipaddress.IPv4Address(ip))


def int_to_ip(value: int) -> str:
    return str(ipaddress.IPv4Address(int(value)))


def parse_network(text: str, what: str = "CIDR") -> Network:
    """Parse a CIDR strictly (host bits must be zero), as AWS does."""
    try:
        return ipaddress.ip_network(str(text).strip(), strict=True)
    except ValueError as exc:
        raise InputError(f"invalid {what} {text!r}: {exc}") from None


def parse_address(text: str, what: str = "IP address") -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(text).strip())
    except ValueError:
        raise InputError(f"invalid {what} {text!r}") from None


def net_range(net: Network) -> tuple[int, int]:
    """First and last address of an IPv4 network as integers."""
    return int(net.network_address), int(net.broadcast_address)


# Addresses never routed on the internet: RFC 1918, shared, link-local, loopback, multicast.
PRIVATE_NETS = tuple(ipaddress.IPv4Network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
    "127.0.0.0/8", "0.0.0.0/8", "224.0.0.0/3"))


def in_ranges(ips: np.ndarray, nets) -> np.ndarray:
    """Which addresses fall in any of the IPv4 networks."""
    out = np.zeros(len(ips), dtype=bool)
    for net in nets:
        lo, hi = net_range(net)
        out |= (ips >= lo) & (ips <= hi)
    return out


def is_private(ip: ipaddress.IPv4Address | int) -> bool:
    return bool(in_ranges(np.array([int(ip)], dtype=np.uint32), PRIVATE_NETS)[0])

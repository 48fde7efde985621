"""Faults at a time: `az:ZONE@T` (an Availability Zone lost), `nat:ID@T` (a NAT gateway
lost), `eni-quota:N@T` (the ENI quota lowered to N), `fill:SUBNET[=N]@T` (N addresses of a
subnet, or all its free ones, taken by other workloads). A fault takes effect at the start
of the tick holding T and lasts to the end of the run."""

from __future__ import annotations

import math
from dataclasses import dataclass

from netemu.errors import InputError
from netemu.model.topology import Topology

KINDS = ("az", "nat", "eni-quota", "fill")


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str
    target: str
    value: int | None = None

    @property
    def text(self) -> str:
        v = "" if self.value is None else f"={self.value}"
        return f"{self.kind}:{self.target}{v}@{self.at:g}"


def parse_fault(text: str, topo: Topology) -> Fault:
    body, at_sep, at = text.rpartition("@")
    kind, sep, arg = body.partition(":")
    if not at_sep or not sep or kind not in KINDS or not arg:
        raise InputError(f"--fault {text!r}: expected az:ZONE@T, nat:ID@T, eni-quota:N@T or "
                         "fill:SUBNET[=N]@T")
    try:
        when = float(at)
    except ValueError:
        when = math.nan
    if not math.isfinite(when) or when < 0:
        raise InputError(f"--fault {text!r}: time {at!r} must be seconds >= 0")
    if kind == "az":
        zones = sorted({s.az for s in topo.subnets.values()})
        if arg not in zones:
            raise InputError(f"--fault {text!r}: no subnet in Availability Zone {arg!r} "
                             f"(zones: {', '.join(zones)})")
        return Fault(when, kind, arg)
    if kind == "nat":
        if arg not in topo.nat_gateways:
            raise InputError(f"--fault {text!r}: unknown NAT gateway {arg!r}")
        return Fault(when, kind, arg)
    if kind == "eni-quota":
        if not arg.isdigit():
            raise InputError(f"--fault {text!r}: the quota must be a whole number")
        return Fault(when, kind, "vpc", int(arg))
    subnet, eq, n = arg.partition("=")
    if subnet not in topo.subnets:
        raise InputError(f"--fault {text!r}: unknown subnet {subnet!r}")
    if eq and not n.isdigit():
        raise InputError(f"--fault {text!r}: the address count must be a whole number")
    return Fault(when, kind, subnet, int(n) if eq else None)

"""Source NAT as an element does it: the Hyperplane NAT, the NAT gateway and Lambda's
own public egress all translate a flow's source on the way out and its replies on the
way back, and differ only in what they call a failure."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.elements.base import Element, Runtime
from netemu.dataplane.state import SourceNat
from netemu.packet import pick


def translate_back(b: np.ndarray, idx: np.ndarray, here: Element, nat: SourceNat,
                   rt: Runtime, refused: str) -> np.ndarray:
    """Replies get their flow's original destination back; anything else is refused.
    Returns the packets translated."""
    if len(idx) == 0:
        return idx
    addr, port, ok = nat.inbound(pick(b, idx))
    rt.drop(b, idx[~ok], here, refused)
    rt.translate(b, idx[ok], here, "dst", addr[ok], port_column="dport", ports=port[ok])
    return idx[ok]


def translate_out(b: np.ndarray, idx: np.ndarray, here: Element, nat: SourceNat,
                  rt: Runtime, exhausted: str, timed_out: str | None = None) -> np.ndarray:
    """New flows get the NAT's address and a port; flows it has no port for, or (with
    `timed_out`) whose connection it already forgot, are dropped. Returns the packets
    translated."""
    if len(idx) == 0:
        return idx
    ports, ok, late = nat.outbound(pick(b, idx))
    if timed_out is not None:
        rt.drop(b, idx[late], here, timed_out)
    rt.drop(b, idx[~ok & ~late] if timed_out else idx[~ok], here, exhausted)
    rt.translate(b, idx[ok], here, "src", nat.ip, port_column="sport", ports=ports[ok])
    return idx[ok]

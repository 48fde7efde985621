"""Reusable hypothesis strategies: traces of whole connections (both directions, as a
capture point beside the opener sees them) whose silences sit just below, at and just
above every idle timeout, and whose packets come in runs long enough to span batches."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from netemu.dataplane.packet import ACK, ICMP, SYN, TCP, UDP, from_columns
from netemu.dataplane.state import Timeouts

GRE = 47           # a protocol with neither ports nor types: S5's "other"
EPS = 0.125        # exact in binary, so a silence of exactly a timeout stays exact


def around_timeouts(timeouts: Timeouts = Timeouts()) -> list[float]:
    """Silences just below, at and just above each idle timeout (S5 and G4), but the
    five-day TCP one (a trace of weeks is no test of a few seconds)."""
    values = {t for t in (timeouts.udp, timeouts.udp_stream, timeouts.nat_gateway,
                          timeouts.other)}
    return sorted({0.0, EPS} | {v + d for v in values for d in (-EPS, 0.0, EPS)})


PORTS = {TCP: 443, UDP: 53, ICMP: 0, GRE: 0}


@st.composite
def connections(draw, clients: list[int], servers: list[int], *, max_connections: int = 4,
                max_turns: int = 4, gaps: list[float] | None = None) -> np.ndarray:
    """A time-ordered trace of up to `max_connections` connections, each opened by one of
    `clients` to one of `servers` and made of up to `max_turns` turns: after a silence
    drawn from `gaps`, one side sends a run of packets (1 to 13, spaced 0, 1/8 or just
    under 30 s apart: a run of 13 of the last lasts past the NAT gateway's 350 s without
    ever being idle that long). TCP opens with SYN and SYN-ACK; a later client turn may
    start with a SYN again (a reopened flow). Ties in time keep generation order."""
    gaps = gaps if gaps is not None else around_timeouts()
    rows: list[tuple] = []
    for c in range(draw(st.integers(1, max_connections))):
        client, server = draw(st.sampled_from(clients)), draw(st.sampled_from(servers))
        proto = draw(st.sampled_from([TCP, TCP, UDP, ICMP, GRE]))
        sport = 40000 + c
        t = draw(st.sampled_from([0.0, EPS, 10.0, 340.0]))
        for turn in range(draw(st.integers(1, max_turns))):
            if turn:
                t += draw(st.sampled_from(gaps))
            reply = turn > 0 and draw(st.booleans())
            count = draw(st.sampled_from([1, 2, 3, 13]))
            spacing = draw(st.sampled_from([0.0, EPS, 30.0 - EPS]))
            syn = proto == TCP and (turn == 0 or (not reply and draw(st.booleans())))
            for k in range(count):
                flags = ((SYN | ACK if reply else SYN) if syn and k == 0 else ACK) \
                    if proto == TCP else 0
                rows.append((t + k * spacing, reply, client, server, sport, proto, flags))
            t += (count - 1) * spacing
    ts, reply, client, server, sport, proto, flags = (np.array(x) for x in zip(*rows,
                                                                             strict=True))
    order = np.argsort(ts, kind="stable")
    ts, reply, client, server, sport, proto, flags = (x[order] for x in (
        ts, reply, client, server, sport, proto, flags))
    port = np.array([PORTS[int(p)] for p in proto])
    icmp = proto == ICMP
    # ICMP keeps its type in sport: echo request 8 out, echo reply 0 back
    ask_sport = np.where(icmp, 8, np.where(proto == GRE, 0, sport))
    ans_sport = np.where(icmp, 0, port)
    ans_dport = np.where(icmp | (proto == GRE), 0, sport)
    return from_columns(
        ts=ts, src=np.where(reply, server, client), dst=np.where(reply, client, server),
        sport=np.where(reply, ans_sport, ask_sport), dport=np.where(reply, ans_dport, port),
        proto=proto, flags=flags, length=np.where(reply, 400, 100))

"""Issue 8: the rows of a translator's table that hold only in some state (a known
translation, no port left, a flow forgotten on idle) say what process() does in that
state. test_item8_element_tables checks every element from fresh state, where those rows
never hold; here the Hyperplane NAT (L3, L5) and the NAT gateway (G1, G3, G4) are driven
into each state first, with quotas of one connection so that the second flow finds no
port, and the row that holds in that state is compared with what happened:

- a reply to a translated flow (KNOWN_TRANSLATION): the row rewrites `dst` and `dport`
  to their "original" values, which are the request's source and source port;
- a second flow to the same destination (NO_PORT): dropped with the row's reason
  (LAMBDA_ENI_CONNECTION_LIMIT, NGW_PORT_ALLOCATION);
- a TCP segment without SYN of a flow idle past 350 s (FORGOTTEN, NAT gateway only):
  dropped with NGW_IDLE_TIMEOUT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netemu.dataplane.elements.base import Runtime
from netemu.dataplane.graph import Graph
from netemu.dataplane.reasons import CODE
from netemu.dataplane.settings import Settings
from netemu.dataplane.table import FORGOTTEN, KNOWN_TRANSLATION, NO_PORT, decide
from netemu.io.load import load
from netemu.packet import ACK, DROPPED, IN_FLIGHT, SYN, TCP, from_columns
from netemu.rules import FIELDS

TOPO = load(Path(__file__).parent.parent / "topologies" / "lambda-nat-internet.yaml")
ONE = Settings(hyperplane_connections=1, nat_connections_per_destination=1)
API = 0xCB00710A                      # 203.0.113.10, api.example.com
INSIDE = {"hyperplane-nat": 0xA9FE0001,   # 169.254.0.1: an execution environment
          "nat-gateway": 0x0A000A04}      # 10.0.10.4: a Lambda ENI in the VPC


def _element(kind: str):
    g = Graph(TOPO, ONE)
    element = next(e for e in g.elements if e.kind == kind)
    return g, element


def _send(g, element, ts, src, dst, sport, dport, flags) -> np.ndarray:
    b = from_columns(ts=ts, src=src, dst=dst, sport=sport, dport=dport, proto=TCP,
                     flags=flags, length=60)
    b["node"] = element.index
    element.process(b, np.arange(len(b)), Runtime(g.elements))
    return b


def _header(b, k=0) -> dict[str, int]:
    return {f: int(b[f][k]) for f in FIELDS}


@pytest.mark.parametrize("kind", ["hyperplane-nat", "nat-gateway"])
def test_item8_stateful_rows_say_what_the_translator_does(kind):
    g, element = _element(kind)
    rows = element.table()
    inside = INSIDE[kind]
    request = _send(g, element, [0.0], inside, API, 40000, 443, SYN)
    assert request["status"][0] == IN_FLIGHT
    nat_ip, nat_port = int(request["src"][0]), int(request["sport"][0])

    # a known translation: the reply gets the request's source back
    reply = _send(g, element, [1.0], API, nat_ip, 443, nat_port, ACK)
    sent = {"src": API, "dst": nat_ip, "sport": 443, "dport": nat_port, "proto": TCP}
    row = decide(rows, sent, frozenset({KNOWN_TRANSLATION}))
    assert row.action == "rewrite" and row.state == KNOWN_TRANSLATION
    original = {"dst": inside, "dport": 40000}          # what "original" restores
    assert set(row.rewrite) == set(original) and set(row.rewrite.values()) == {"original"}
    assert reply["status"][0] == IN_FLIGHT
    for f in FIELDS:
        assert int(reply[f][0]) == original.get(f, sent[f]), f

    # no port left (quota of one): the second flow is dropped for the row's reason
    second = _send(g, element, [2.0], inside, API, 40001, 443, SYN)
    row = decide(rows, _header(second), frozenset({NO_PORT}))
    assert (row.action, row.state) == ("drop", NO_PORT)
    assert (second["status"][0], second["reason"][0]) == (DROPPED, CODE[row.reason])
    assert row.reason == {"hyperplane-nat": "LAMBDA_ENI_CONNECTION_LIMIT",
                          "nat-gateway": "NGW_PORT_ALLOCATION"}[kind]


def test_item8_forgotten_row_says_what_the_nat_gateway_does_after_idle():
    g, element = _element("nat-gateway")
    rows = element.table()
    first = _send(g, element, [0.0], INSIDE["nat-gateway"], API, 40000, 443, SYN)
    assert first["status"][0] == IN_FLIGHT
    late = _send(g, element, [351.0], INSIDE["nat-gateway"], API, 40000, 443, ACK)
    row = decide(rows, _header(late), frozenset({FORGOTTEN}))
    assert (row.action, row.state, row.reason) == ("drop", FORGOTTEN, "NGW_IDLE_TIMEOUT")
    assert (late["status"][0], late["reason"][0]) == (DROPPED, CODE[row.reason])

"""One flow, explained hop by hop: the first packet, and when it arrives, its reply.

The same dataplane as every other app, with recording on; a drop comes with the rule
that decided it and a fix that was checked by tracing again with the fix applied.
A function sends from each of its subnets (its environments land in any of them, L7):
it is traced from every one, and the flow works only if it works from all of them."""

from __future__ import annotations

from dataclasses import replace

from netemu.apps.resolve import resolve_destination, resolve_sources
from netemu.apps.trace_core import (  # noqa: F401  (re-exported: the trace API)
    DEFAULT_SPORT,
    Leg,
    Step,
    TraceResult,
    packet_for,
    run_trace,
)
from netemu.dataplane.settings import Settings
from netemu.errors import InputError
from netemu.io.rule_text import parse_protocol
from netemu.model.topology import Topology
from netemu.packet import TCP, UDP


def trace(topology: Topology, src: str, dst: str, proto: str | int = "tcp",
          port: int | None = None, sport: int = DEFAULT_SPORT, *, fix: bool = True,
          settings: Settings | None = None) -> TraceResult:
    """Trace one flow from `src` to `dst` and its reply (from every subnet of a function);
    on a drop, find a fix and check it by tracing again, from every subnet, with the fix
    applied."""
    p = parse_protocol(str(proto)) if not isinstance(proto, int) else proto
    if p < 0:
        raise InputError("a trace needs one protocol, not 'all'")
    if port is None:
        port = 443 if p in (TCP, UDP) else 0
    if not 0 <= port <= 65535 or not 0 <= sport <= 65535:
        raise InputError("ports are 0-65535")
    results = []
    for s in resolve_sources(topology, src):
        d = resolve_destination(topology, dst, s)
        result = run_trace(topology, s, d, p, port, sport, settings)
        result.sport = sport
        results.append(result)
    # the result is the first subnet that fails (else the first), with every subnet's
    first = next((r for r in results if not r.ok), results[0])
    result = replace(first, subnets=results if first.source.subnet else [])
    if fix and not result.ok:
        # only a drop needs a fix (and fix_format): imported here, not by every trace
        from netemu.apps.fix import find_fix
        result.fixes, result.fix_verified, result.fix_note = find_fix(topology, results,
                                                                      settings)
    return result

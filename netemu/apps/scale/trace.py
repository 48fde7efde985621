"""`--emit-trace`: the connections the simulation opened, as JSON-lines flows (the format
of netemu/io/jsonl_flows.py), replayed through the dataplane in the same run so that NAT
port allocation (G3) and Hyperplane connections (L3) are decided by the same elements as
`netemu replay` uses.

Bounded: the first `trace_cap` connections in time order (200,000 by default). Each flow
is the connection's opening SYN from its execution environment's address (environment
slot j of function i is LAMBDA_ENV_BASE + 1024 i + (j mod 1024), which the dataplane
places in the function's subnet j mod n); the dataplane then holds the NAT and
Hyperplane mappings for their idle timeouts (S5, G4). The replay sees the intact topology:
faults of the run are not applied to it."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import numpy as np

from netemu.model import aws_services

EPHEMERAL_LO, EPHEMERAL_PORTS = 32768, 60999 - 32768 + 1     # Linux clients (N6)


def connections(sim) -> dict[str, np.ndarray]:
    """ts, duration, src (environment address) and dst/dport of every connection opened,
    capped, in time order."""
    topo, s = sim.topo, sim.s
    parts = []
    order = topo.function_order
    for f in sim.fns:
        base = int(aws_services.LAMBDA_ENV_BASE) + order.index(f.name) * \
            aws_services.ENVS_PER_FUNCTION
        n_sub = max(len(f.subnets), 1)
        env = sim.trace_envs[f.index]
        for target in s.targets:
            if target.per_invocation:
                for a, e, sub in sim.trace_inv[f.index]:
                    slot = sub + n_sub * (np.arange(len(a)) % (1024 // n_sub))
                    for _ in range(target.connections):
                        parts.append((a, e - a, base + slot, target))
            else:
                ts, dur, slot = _environment_lives(env, f.provisioned, sim.dt)
                for _ in range(target.connections):
                    parts.append((ts, dur, base + slot % aws_services.ENVS_PER_FUNCTION,
                                  target))
    if not parts:
        return {k: np.zeros(0) for k in ("ts", "duration", "src", "dst", "dport")}
    ts = np.concatenate([p[0] for p in parts])
    out = {"ts": ts, "duration": np.concatenate([p[1] for p in parts]),
           "src": np.concatenate([p[2] for p in parts]).astype(np.int64),
           "dst": np.concatenate([np.full(len(p[0]), p[3].ip) for p in parts]),
           "dport": np.concatenate([np.full(len(p[0]), p[3].port) for p in parts])}
    keep = np.argsort(ts, kind="stable")[: s.trace_cap]
    return {k: v[keep] for k, v in out.items()}


def _environment_lives(env: np.ndarray, provisioned: int, dt: float):
    """(creation time, lifetime, slot) of every environment from the per-tick counts."""
    prev = np.concatenate(([provisioned], env[:-1]))
    ts, dur, slots = [], [], []
    if provisioned:
        ts.append(np.zeros(provisioned))
        dur.append(np.full(provisioned, len(env) * dt))
        slots.append(np.arange(provisioned))
    for k in np.flatnonzero(env > prev):
        j = np.arange(prev[k], env[k])
        run_min = np.minimum.accumulate(env[k:])
        # the environment lives until the first tick whose count drops to its slot or below
        end_tick = k + np.searchsorted(-run_min, -j, side="left")
        ts.append(k * dt + (j - prev[k] + 0.5) / (env[k] - prev[k]) * dt)
        dur.append(np.maximum(end_tick * dt - ts[-1], 0.0))
        slots.append(j)
    if not ts:
        return np.zeros(0), np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(ts), np.concatenate(dur), np.concatenate(slots).astype(np.int64)


def write(conns: dict[str, np.ndarray], path: Path) -> int:
    src = conns["src"]
    order = np.argsort(src, kind="stable")
    first = np.searchsorted(src[order], src[order], side="left")
    rank = np.empty(len(src), np.int64)
    rank[order] = np.arange(len(src)) - first
    sport = EPHEMERAL_LO + rank % EPHEMERAL_PORTS
    with open(path, "w", encoding="utf-8") as f:
        for i, (ts, _dur, s, d, sp, dp) in enumerate(zip(
                conns["ts"].tolist(), conns["duration"].tolist(), src.tolist(),
                conns["dst"].tolist(), sport.tolist(), conns["dport"].tolist(), strict=True)):
            f.write(json.dumps({"ts": round(ts, 6), "src": str(ipaddress.IPv4Address(s)),
                                "dst": str(ipaddress.IPv4Address(d)), "sport": sp,
                                "dport": dp, "proto": 6, "packets": 1, "bytes": 60,
                                "duration": 0.0, "flow": i, "tcp_flags": 2}) + "\n")
    return len(src)


def emit_and_replay(sim, path: Path) -> dict:
    """Write the trace, replay it through the dataplane, and say what became of it."""
    from netemu.apps.replay import replay

    n = write(connections(sim), path)
    summary = replay(sim.topo, [path], None, format="jsonl")
    failed: dict[str, int] = {}
    where: dict[str, int] = {}
    for (resource, _rule, reason), flows in summary.drop_flows.items():
        failed[reason] = failed.get(reason, 0) + flows
        where[f"{resource}: {reason}"] = where.get(f"{resource}: {reason}", 0) + flows
    return {"trace": str(path), "connections": n, "capped": n >= sim.s.trace_cap,
            "replayed_flows": summary.flows,
            "failed": dict(sorted(failed.items(), key=lambda kv: -kv[1])),
            "failed_at": dict(sorted(where.items(), key=lambda kv: -kv[1]))}

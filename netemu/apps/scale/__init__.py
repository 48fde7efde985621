"""`netemu scale`: Lambda scaling and failure over time, as a simulation on the trace clock
that shares the topology (and, with --emit-trace, the dataplane) with the rest of netemu.
See docs/scale.md."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from netemu.apps.scale.faults import Fault, parse_fault
from netemu.apps.scale.load import build as build_load
from netemu.apps.scale.settings import (
    HYPERPLANE,
    LEGACY,
    Database,
    FunctionSettings,
    Settings,
    Target,
)
from netemu.apps.scale.sim import Result, Simulation
from netemu.errors import InputError
from netemu.model.topology import Topology

__all__ = ["Database", "Fault", "FunctionSettings", "Result", "Settings", "Target",
           "parse_fault", "resolve_target", "run", "settings_with"]

_NUMERIC = {f.name: f.type for f in dataclasses.fields(Settings)
            if f.type in ("int", "float")}


def settings_with(base: Settings, assignments: list[str]) -> Settings:
    """`--set NAME=VALUE` for any numeric setting."""
    changes: dict = {}
    for text in assignments:
        name, eq, value = text.partition("=")
        name = name.strip().replace("-", "_")
        if not eq or name not in _NUMERIC:
            raise InputError(f"--set {text!r}: expected NAME=VALUE with NAME one of "
                             f"{', '.join(sorted(_NUMERIC))}")
        try:
            v = int(value) if _NUMERIC[name] == "int" else float(value)
        except ValueError:
            raise InputError(f"--set {text!r}: {value!r} is not a number") from None
        if not v >= 0 or v != v:
            raise InputError(f"--set {text!r}: must be a number >= 0")
        changes[name] = v
    return dataclasses.replace(base, **changes)


def resolve_target(topo: Topology, text: str, functions: list[str], database: bool = False,
                   engine: str = "postgres", per_invocation: bool = False,
                   connections: int = 1) -> Target:
    """NAME[:PORT]: a host of the topology, an address, or a name the VPC resolver answers."""
    import ipaddress

    from netemu.apps.resolve import resolve_destination, resolve_source

    name, _, port_text = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if not name:
        name, port_text = text, ""
    if port_text and not port_text.isdigit():
        raise InputError(f"--target {text!r}: port {port_text!r} is not a number")
    port = int(port_text) if port_text else (3306 if database and engine in (
        "mysql", "mariadb") else 5432 if database else 443)
    if not 1 <= port <= 65535:
        raise InputError(f"--target {text!r}: port {port} out of range")
    if name in topo.hosts:
        ip = topo.hosts[name].ip
    else:
        try:
            ip = ipaddress.IPv4Address(name)
        except ValueError:
            ip = resolve_destination(topo, name, resolve_source(
                topo, f"lambda:{functions[0]}")).ip
    return Target(name, int(ip), port, per_invocation, connections, database)


def run(topo: Topology, functions: list[str], load: list[str], *, durations: str = "0.2",
        duration: float | None = None, settings: Settings | None = None,
        model: str = HYPERPLANE, faults: list[Fault] = (), seed: int = 0,
        even: bool = False, out: Path | None = None, emit_trace: Path | None = None,
        plots: bool = True, progress: Callable[[int, int], None] | None = None,
        fast: bool = True) -> list[Result]:
    """Simulate; with `out`, write timeline.csv/json, events.jsonl, summary.json and PNGs
    there (a sub-folder per model for `both`, plus comparison.png)."""
    settings = settings or Settings()
    if model not in (HYPERPLANE, LEGACY, "both"):
        raise InputError(f"--eni-model {model!r}: hyperplane, legacy or both")
    for fn in functions:
        if fn not in topo.functions:
            raise InputError(f"unknown function {fn!r} (the topology has "
                             f"{', '.join(sorted(topo.functions)) or 'none'})")
    invocations, duration = build_load(list(load), functions, durations, duration,
                                       settings.tick, seed, even)
    models = [HYPERPLANE, LEGACY] if model == "both" else [model]
    results: list[Result] = []
    tmp = Path(tempfile.mkdtemp(prefix=".netemu-scale-", dir=out)) if out else None
    try:
        for i, m in enumerate(models):
            prog = None
            if progress is not None:
                def prog(done, total, i=i):
                    progress(i * total + done, total * len(models))
            sim = Simulation(topo, functions, invocations, duration, settings, m, faults,
                             prog, fast, record_trace=emit_trace is not None)
            result = sim.run()
            if emit_trace is not None:
                from netemu.apps.scale.trace import emit_and_replay
                path = emit_trace if len(models) == 1 else emit_trace.with_name(
                    f"{emit_trace.stem}-{m}{emit_trace.suffix}")
                result.replay = emit_and_replay(sim, path)
            results.append(result)
        if tmp is not None:
            _write(results, tmp, plots)
            for item in tmp.iterdir():
                target = out / item.name
                if target.is_dir():
                    shutil.rmtree(target)
                item.replace(target)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def _write(results: list[Result], folder: Path, plots: bool) -> None:
    import json

    from netemu.apps.scale import output

    for r in results:
        where = folder / r.model if len(results) > 1 else folder
        where.mkdir(exist_ok=True)
        output.write_timeline(r, where)
        output.write_events(r, where)
        (where / "summary.json").write_text(json.dumps(output.summary_json(r), indent=2)
                                            + "\n", encoding="utf-8")
        if plots:
            from netemu.apps.scale import plots as p
            p.save(p.figures(r), where)
    if plots and len(results) > 1:
        from netemu.apps.scale import plots as p
        p.save({"comparison": p.comparison(results)}, folder)

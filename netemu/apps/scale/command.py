"""The `netemu scale` command: its body, progress bar and summary table (its options are
declared in netemu/cli_scale.py, which netemu/cli.py registers without importing this)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from netemu.errors import InputError


def _pairs(items: list[str] | None, what: str, functions: list[str]) -> dict[str, int]:
    out = {}
    for text in items or []:
        fn, eq, n = text.partition("=")
        if not eq or not n.strip().isdigit():
            raise InputError(f"--{what} {text!r}: expected FUNCTION=N")
        if fn not in functions:
            raise InputError(f"--{what} {text!r}: {fn!r} is not one of the simulated "
                             f"functions ({', '.join(functions)})")
        out[fn] = int(n)
    return out


def run_scale(topology: Path, function: str, load: list[str], eni_model: str,
              duration: float | None, invocation_duration: str, out: Path | None,
              target: list[str] | None, per_invocation: bool, connections: int,
              db: list[str] | None, rds_proxy: bool, proxy_max_percent: int,
              proxy_borrow_timeout: float, db_busy: float, db_pinned: float,
              db_max_connections: int | None, reserved: list[str] | None,
              provisioned: list[str] | None, new: list[str] | None,
              inactive: list[str] | None, fault: list[str] | None, set_: list[str] | None,
              seed: int, even: bool, emit_trace: Path | None, no_plots: bool, quiet: bool,
              as_json: bool) -> None:
    """`netemu scale` with its options parsed (declared in netemu/cli_scale.py)."""
    from netemu.apps.scale import (
        Database,
        FunctionSettings,
        Settings,
        parse_fault,
        resolve_target,
        run,
        settings_with,
    )
    from netemu.io.load import load as load_topology

    err = Console(stderr=True, highlight=False)

    def refuse(message: str) -> None:         # one line, whatever its length
        sys.stderr.write(f"netemu: error: {' '.join(message.split())}\n")
        raise typer.Exit(2)
    try:
        topo = load_topology(topology)
        fns = [f.strip() for f in function.split(",") if f.strip()]
        if not fns:
            raise InputError("--function: name at least one function")
        for fn in fns:
            if fn not in topo.functions:
                raise InputError(f"--function: unknown function {fn!r} (the topology has "
                                 f"{', '.join(sorted(topo.functions)) or 'none'})")
        settings = settings_with(Settings(), set_ or [])
        res, prov = _pairs(reserved, "reserved", fns), _pairs(provisioned, "provisioned", fns)
        for flag, names in (("new", new), ("inactive", inactive)):
            for n in names or []:
                if n not in fns:
                    raise InputError(f"--{flag} {n!r}: not one of the simulated functions")
        per_fn = {fn: FunctionSettings(reserved=res.get(fn), provisioned=prov.get(fn, 0),
                                       new=fn in (new or []), inactive=fn in (inactive or []))
                  for fn in fns}
        if connections < 1:
            raise InputError("--connections: must be at least 1")
        if db_max_connections is not None and db_max_connections < 0:
            raise InputError("--db-max-connections: must be >= 0")
        for name, v in (("--db-busy", db_busy), ("--db-pinned", db_pinned)):
            if not 0 <= v <= 1:
                raise InputError(f"{name} {v}: must be a share between 0 and 1")
        if not proxy_borrow_timeout >= 0:
            raise InputError("--proxy-borrow-timeout: must be >= 0 seconds")
        dbs, db_targets = [], {}
        for text in db or []:
            name, eq, spec = text.partition("=")
            if not eq:
                raise InputError(f"--db {text!r}: expected TARGET=CLASS[:ENGINE]")
            cls, _, engine = spec.partition(":")
            dbs.append(Database(name, cls, engine or "postgres",
                                max_connections=db_max_connections, proxy=rds_proxy,
                                proxy_max_connections_percent=proxy_max_percent,
                                proxy_borrow_timeout=proxy_borrow_timeout,
                                busy_fraction=db_busy, pinned_fraction=db_pinned))
            db_targets[name] = engine or "postgres"
        targets = [resolve_target(topo, t, fns, per_invocation=per_invocation,
                                  connections=connections,
                                  database=t.partition(":")[0] in db_targets,
                                  engine=db_targets.get(t.partition(":")[0], "postgres"))
                   for t in target or []]
        for name, engine in db_targets.items():
            if name not in {t.name for t in targets}:
                targets.append(resolve_target(topo, name, fns, True, engine, per_invocation,
                                              connections))
        settings = dataclasses.replace(settings, functions=per_fn, targets=tuple(targets),
                                       databases=tuple(dbs))
        faults = [parse_fault(f, topo) for f in fault or []]
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        with _Progress(quiet or as_json, err) as advance:
            results = run(topo, fns, load, durations=invocation_duration, duration=duration,
                          settings=settings, model=eni_model, faults=faults, seed=seed,
                          even=even, out=out, emit_trace=emit_trace, plots=not no_plots,
                          progress=advance)
    except InputError as exc:
        refuse(exc.message)
    except OSError as exc:
        refuse(f"{exc.filename}: cannot write: {exc.strerror}")
    if as_json:
        from netemu.apps.scale.output import summary_json
        doc = [summary_json(r) for r in results]
        sys.stdout.write(json.dumps(doc[0] if len(doc) == 1 else doc, indent=2) + "\n")
    elif not quiet:
        show(results, out)


class _Progress:
    """A Rich progress bar over simulated ticks (on stderr, gone when done)."""

    def __init__(self, disabled: bool, console: Console) -> None:
        self.disabled, self.console, self.bar = disabled, console, None

    def __enter__(self):
        if not self.disabled and self.console.is_terminal:   # nothing in pipes and logs
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            self.bar = Progress(TextColumn("simulating"), BarColumn(),
                                TextColumn("{task.completed:,}/{task.total:,} ticks"),
                                TimeElapsedColumn(), console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("scale", total=1)
        return self.advance

    def advance(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def show(results, out: Path | None) -> None:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    for r in results:
        s = r.summary
        table = Table(title=f"netemu scale: {r.model} ENIs, {r.duration:g} s simulated")
        for col in ("function", "invocations", "ok", "cold starts", "mean cold start",
                    "peak concurrency", "peak environments", "throttled", "other errors"):
            table.add_column(col, justify="left" if col == "function" else "right")
        for name, st in s["functions"].items():
            errors = dict(st["errors"])
            throttled = errors.pop("TooManyRequestsException", 0)
            mean = st["cold_start_seconds"] / st["cold_starts"] if st["cold_starts"] else 0
            table.add_row(name, f"{st['invocations']:,}", f"{st['ok']:,}",
                          f"{st['cold_starts']:,}", f"{mean:.2f} s",
                          f"{st['peak_concurrency']:,}", f"{st['peak_environments']:,}",
                          f"{throttled:,}", ", ".join(f"{k} {v:,}" for k, v in
                                                      sorted(errors.items())) or "-")
        console.print(table)
        lows = {k.split(":", 1)[1]: int(v) for k, v in s["minimums"].items()}
        enis = {k.split(":")[1]: int(v) for k, v in s["peaks"].items()
                if k.startswith("enis:") and not k.endswith("pending")}
        if lows:
            console.print("subnets: " + ", ".join(
                f"{sn} {enis.get(sn, 0)} Lambda ENI(s), {lows[sn]} free addresses at least"
                for sn in sorted(lows)))
        for k, v in s["peaks"].items():
            if k.startswith(("db_connections:", "nat_ports:", "eni_connections:",
                             "proxy_")):
                console.print(f"peak {k}: {v:,.0f}")
        conn = {k: int(r.timeline[k].max()) for k in r.timeline
                if k.startswith("connection_errors:")}
        if conn:
            console.print("refused connections (most at once): " + ", ".join(
                f"{k.split(':', 1)[1]} {v:,}" for k, v in conn.items()))
        if r.replay:
            rp = r.replay
            failed = ", ".join(f"{k} {v:,}" for k, v in rp["failed"].items()) or "none"
            console.print(f"replayed {rp['connections']:,} connections through the "
                          f"dataplane ({rp['trace']}): failed {failed}")
    if out is not None:
        console.print(f"wrote {out}/ (timeline.csv, timeline.json, events.jsonl, "
                      "summary.json, PNG plots)")

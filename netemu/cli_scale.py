"""The options of `netemu scale`, declared apart from the simulation so that registering
the command (netemu/cli.py) imports none of it; the body runs
netemu.apps.scale.command.run_scale."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from netemu.cli_lazy import lazy_module

typer = lazy_module("typer")      # the annotations are read when netemu.cli builds the app


def Opt(*args, **kwargs):  # noqa: N802  (stands for typer.Option)
    return typer.Option(*args, **kwargs)


def scale(
    topology: Annotated[Path, typer.Argument(help="A topology YAML file or an AWS CLI "
                                             "snapshot folder.")],
    function: Annotated[str, Opt(help="Functions to simulate, comma-separated.")],
    load: Annotated[list[str], Opt(help="constant:RATE, steps:T=R,..., ramp:FROM,TO[,S], "
                                   "burst:BASE,PEAK,AT,LENGTH or a CSV (time,duration"
                                   "[,function]); FUNCTION=PROFILE for one function.")],
    eni_model: Annotated[str, Opt(help="hyperplane, legacy or both.")] = "hyperplane",
    duration: Annotated[float | None, Opt(help="Simulated seconds (default: the CSV's "
                                          "end, else 600).")] = None,
    invocation_duration: Annotated[str, Opt(help="SECONDS, exp:MEAN, uniform:LO,HI or "
                                            "lognormal:MEDIAN,SIGMA.")] = "0.2",
    out: Annotated[Path | None, Opt(help="Folder for timeline.csv/json, events.jsonl, "
                                    "summary.json and PNG plots.")] = None,
    target: Annotated[list[str] | None, Opt(help="Downstream NAME[:PORT] each environment "
                                            "connects to (repeatable).")] = None,
    per_invocation: Annotated[bool, Opt(help="Open connections per invocation instead of "
                                        "per environment.")] = False,
    connections: Annotated[int, Opt(help="Connections to each target.")] = 1,
    db: Annotated[list[str] | None, Opt(help="TARGET=CLASS[:ENGINE], e.g. orders-db="
                                        "db.t3.medium:postgres (repeatable).")] = None,
    rds_proxy: Annotated[bool, Opt(help="Put RDS Proxy in front of every --db.")] = False,
    proxy_max_percent: Annotated[int, Opt(help="RDS Proxy MaxConnectionsPercent.")] = 100,
    proxy_borrow_timeout: Annotated[float, Opt(help="RDS Proxy ConnectionBorrowTimeout, "
                                               "seconds.")] = 120.0,
    db_busy: Annotated[float, Opt(help="Share of an invocation that holds its borrowed "
                                  "DB connection (proxy).")] = 1.0,
    db_pinned: Annotated[float, Opt(help="Share of proxy client connections pinned.")] = 0.0,
    db_max_connections: Annotated[int | None, Opt(help="max_connections of every --db, "
                                                  "instead of the class's default.")] = None,
    reserved: Annotated[list[str] | None, Opt(help="FUNCTION=N reserved concurrency.")] = None,
    provisioned: Annotated[list[str] | None, Opt(help="FUNCTION=N provisioned "
                                                 "concurrency.")] = None,
    new: Annotated[list[str] | None, Opt(help="FUNCTION created at t=0 (Pending until its "
                                         "ENIs are Available).")] = None,
    inactive: Annotated[list[str] | None, Opt(help="FUNCTION Inactive at t=0.")] = None,
    fault: Annotated[list[str] | None, Opt(help="az:ZONE@T, nat:ID@T, eni-quota:N@T, "
                                           "fill:SUBNET[=N]@T (repeatable).")] = None,
    set_: Annotated[list[str] | None, Opt("--set", help="NAME=VALUE for any numeric setting "
                                          "(account_concurrency, eni_quota, idle_reclaim, "
                                          "cold_start, tick, ...).")] = None,
    seed: Annotated[int, Opt(help="Seed: same seed, same run.")] = 0,
    even: Annotated[bool, Opt(help="Evenly spaced arrivals instead of Poisson.")] = False,
    emit_trace: Annotated[Path | None, Opt(help="Write the connections opened as JSON-lines "
                                           "flows and replay them through the dataplane.")
                          ] = None,
    no_plots: Annotated[bool, Opt("--no-plots", help="Skip the PNGs.")] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar, no table.")] = False,
    as_json: Annotated[bool, Opt("--json", help="Print summary.json.")] = False,
) -> None:
    """Simulate Lambda scaling over time: concurrency, cold starts, throttles, Hyperplane
    or legacy ENIs, subnet addresses, NAT ports, database connections, faults."""
    options = dict(locals())             # the parameters above, by name
    from netemu.apps.scale.command import run_scale
    run_scale(**options)

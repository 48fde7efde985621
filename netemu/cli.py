"""The `netemu` command: a shell over the apps, never a second implementation.

Exit status: 0 when the flow gets through both ways, 1 when it is dropped, 2 on bad
input (one line naming the file, line or resource, and the problem; no traceback).

Each command imports what it runs inside its body, so `netemu trace` loads neither
replay, scaling, lint nor their readers (`python -X importtime -m netemu.cli` shows it);
benchmarks/cold_start.py times it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from rich.console import Console
from rich.markup import escape

from netemu.cli_lazy import Direct, LazyTyper, exit_with, lazy_module
from netemu.cli_scale import scale as scale_command  # its options; the simulation is lazy
from netemu.errors import InputError

typer = lazy_module("typer")      # imported when the app is built (not by `netemu trace`)

if TYPE_CHECKING:
    from netemu.apps.trace import TraceResult

app = LazyTyper(add_completion=False, no_args_is_help=True,
                help="Packet-level emulator of AWS Lambda networking.")
console = Console(highlight=False)
if not console.is_terminal:
    console = Console(highlight=False, width=160)   # pipes and files: no hard wrapping
err = Console(stderr=True, highlight=False, width=1000)



@app.before_build
def _typer_annotations() -> None:
    """Module-level annotations that need typer itself: made when the app is built."""
    global Topo
    Topo = Annotated[Path, typer.Argument(help="A topology YAML file or an AWS CLI "
                                          "snapshot folder.")]


def load(path: Path):
    """The topology; what its snapshot lacked goes to stderr, one line each, once."""
    from netemu.io.load import load as load_topology
    topo = load_topology(path)
    for w in topo.warnings:
        err.print(f"netemu: warning: {w}", markup=False, soft_wrap=True)
    return topo


def fail(exc: InputError) -> None:
    """Refused input: one line (whatever newlines the message holds) and exit 2."""
    err.print(f"netemu: error: {' '.join(exc.message.split())}", markup=False,
              soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def trace(
    topology: Topo,
    src: Annotated[str, typer.Option("--from", help="lambda:NAME (from each of its "
                                     "subnets) or lambda:NAME@SUBNET, eni:ID, "
                                     "instance:ID, an IP address or a DNS name.")],
    dst: Annotated[str, typer.Option("--to", help="Same forms as --from.")],
    proto: Annotated[str, typer.Option(help="tcp, udp, icmp or an IP protocol number.")] = "tcp",
    port: Annotated[int | None, typer.Option(help="Destination port (default 443).")] = None,
    sport: Annotated[int, typer.Option(help="Source port, where it matters.")] = 40000,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    no_fix: Annotated[bool, typer.Option("--no-fix", help="Do not search for a fix.")] = False,
    fix_format: Annotated[str, typer.Option("--fix-format", help="Fixes also as text, "
                                            "aws-cli or terraform.")] = "text",
) -> int:
    """Send one packet from SRC to DST and, when it arrives, its reply; show every hop."""
    from netemu.apps.trace import trace as run_trace
    if fix_format != "text":          # text is the trace's own form; the others, rendered
        from netemu.apps.fix_format import FORMATS, render
        if fix_format not in FORMATS:
            fail(InputError(f"--fix-format {fix_format!r}: expected text, aws-cli or "
                            "terraform"))
    try:
        topo = load(topology)
        result = run_trace(topo, src, dst, proto, port, sport, fix=not no_fix)
    except InputError as exc:
        fail(exc)
    rendered = ([render(f, topo, fix_format) for f in result.fixes]
                if fix_format != "text" else [])
    if as_json:
        out = result.to_json()
        if fix_format != "text":
            out["fix_" + fix_format.replace("-", "_")] = rendered
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        show_trace(result)
        if fix_format != "text" and rendered:
            console.print(f"[bold]as {fix_format}[/]:")
            for block in rendered:
                console.print(block, markup=False, soft_wrap=True)
    return exit_with(0 if result.ok else 1)


# main() runs these command lines itself, without building the Typer app (the cold start
# of issue #11); any other `netemu trace` line (help, errors, ...) goes to Typer.
# tests/test_issue11_cold_start.py checks this against trace's Typer options.
TRACE = Direct(trace, "topology", {
    "--from": ("src", str), "--to": ("dst", str), "--proto": ("proto", str),
    "--port": ("port", int), "--sport": ("sport", int), "--json": ("as_json", bool),
    "--no-fix": ("no_fix", bool), "--fix-format": ("fix_format", str)},
    required=("src", "dst"))


DECISION_STYLE = {"drop": "bold red", "deliver": "bold green", "translate": "cyan"}


def show_trace(r: TraceResult) -> None:
    from netemu.packet import protocol_name
    port = f" port {r.port}" if r.proto in (6, 17) else ""
    src, dst = r.source, r.destination
    many = len(r.subnets) > 1          # a function: its trace from each of its subnets
    what = (f"Lambda function {src.function} in {len(r.subnets)} subnets" if many
            else f"{src.ip}, {src.label}")
    console.print(f"[bold]{protocol_name(r.proto)}{port}[/] from [bold]{escape(src.text)}[/] "
                  f"({escape(what)}) to [bold]{escape(dst.text)}[/] "
                  f"({dst.ip}, {escape(dst.label)})")
    for t in r.subnets if many else [r]:
        if many:
            console.print(f"[bold]from subnet {escape(_subnet(t))}[/]: {t.source.ip} to "
                          f"{t.destination.ip} ({escape(t.destination.label)})")
        _show_legs(t)
        if many:
            console.print(f"  {escape(_subnet(t))}: {_outcome(t)}")
    if r.ok:
        console.print("[bold green]delivered both ways[/]" + (
            " from every subnet" if many else ""))
    else:
        console.print(("[bold red]dropped[/] from subnet "
                       f"{escape(_subnet(r))} " if many else "[bold red]dropped[/] ")
                      + _outcome(r).removeprefix("dropped "))
    _show_fix(r, many)


def _subnet(t: TraceResult) -> str:
    return f"{t.source.subnet} in {t.source.az}"


def _outcome(t: TraceResult) -> str:
    failed = t.failed
    if failed is None:
        return "delivered both ways"
    where = "request" if failed is t.request else "reply"
    at = escape(str(failed.where or failed.dropped_at))     # Name tags are anyone's text
    return (f"dropped ({where}) at [bold]{at}[/]: {failed.reason}"
            + (f", {escape(failed.rule)}" if failed.rule else ""))


def _show_legs(t: TraceResult) -> None:
    from rich.tree import Tree

    from netemu.dataplane.reasons import EXPLAIN
    for leg, title in ((t.request, "request"), (t.reply, "reply")):
        if leg is None:
            continue
        tree = Tree(f"[bold]{title}[/]: {leg.verdict}")
        for s in leg.steps:
            style = DECISION_STYLE.get(s.decision, "green" if s.decision.startswith("allow")
                                       else "white")
            line = f"[{style}]{s.decision:<9}[/] {escape(s.label or s.element)}"
            if s.rule:
                line += f"  [dim]{s.rule}[/]"
            if s.translation:
                line += f"\n          {s.translation}"
            if s.reason:
                line += f"\n          [red]{s.reason}[/]: {EXPLAIN.get(s.reason, '')}"
            tree.add(line)
        console.print(tree)


def _show_fix(r: TraceResult, many: bool) -> None:
    """One answer: a verified fix, a suggestion that could not be verified, or none."""
    status = r.fix_status
    if status == "verified":
        console.print("[bold]fix (verified by tracing again"
                      + (" from every subnet" if many else "") + ")[/]:")
    elif status == "suggestion":
        console.print("[bold]suggestion (not verified: netemu cannot make this change and "
                      "trace again)[/]:")
    elif status == "none":
        console.print(f"[bold]{escape(r.fix_note or '')}[/]")
    for f in r.fixes:
        console.print(f"  - {escape(f)}")


@app.command()
def replay(
    topology: Topo,
    traces: Annotated[list[Path], typer.Argument(help="pcap/pcapng, VPC Flow Logs (text, "
                                                 ".log.gz, Parquet or an S3 export folder) "
                                                 "or JSON lines of flows, replayed in "
                                                 "order.")],
    fmt: Annotated[str | None, typer.Option("--format", help="pcap, flowlogs or jsonl "
                                            "(default: told by the file).")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for verdicts.jsonl, flowlogs/, "
                                             "captures and summary.json.")] = None,
    capture: Annotated[list[str] | None, typer.Option(
        help="With --out: write a pcap of what this ENI, NAT gateway, host, internet "
             "gateway or lambda:NAME (its Hyperplane ENIs) saw (repeatable).")] = None,
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help="CIDR=SOURCE: packets from CIDR enter as sent by SOURCE "
                      "(lambda:NAME, eni:ID, instance:ID). Repeatable.")] = None,
    flowlog_fields: Annotated[str | None, typer.Option(
        help="Fields of flow logs without a header line, space-separated.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json.")] = False,
    batch: Annotated[int, typer.Option(help="Packets per batch: larger is faster, "
                                       "smaller holds less.")] = 65_536,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --out folder "
                                        "whole.")] = False,
    fail_on: Annotated[str | None, typer.Option(
        "--fail-on", help="Exit 1 on 'reject' (the emulation dropped anything) or "
                          "'disagree' (a flow-log record's ACCEPT/REJECT differs from the "
                          "emulation's at its ENI).")] = None,
    engine: Annotated[str, typer.Option(help="local (one process) or dask "
                                        "(dask.distributed; docs/dask.md).")] = "local",
    scheduler: Annotated[str | None, typer.Option(
        help="With --engine dask: the scheduler's address (default: a local cluster of "
             "this machine's cores).")] = None,
    partitions: Annotated[int | None, typer.Option(
        help="With --engine dask: partitions (default: the cluster's threads).")] = None,
) -> None:
    """Replay traces through the topology: verdicts per flow, emulated flow logs per ENI,
    per-hop captures and a summary."""
    from netemu.apps.replay import replay as run_replay

    if fail_on not in (None, "reject", "disagree"):
        fail(InputError(f"--fail-on {fail_on!r}: expected reject or disagree"))
    if engine not in ("local", "dask"):
        fail(InputError(f"--engine {engine!r}: expected local or dask"))
    if engine == "local" and (scheduler or partitions is not None):
        fail(InputError("--scheduler and --partitions need --engine dask"))
    if engine == "dask":
        from functools import partial

        from netemu.apps.replay_dask import replay_dask
        run_replay = partial(replay_dask, scheduler=scheduler, partitions=partitions,
                             warn=lambda w: err.print(f"netemu: warning: {w}", markup=False,
                                                      soft_wrap=True))

    if capture and out is None:           # before anything: a usage error, nothing written
        fail(InputError("--capture needs --out DIR: the capture is written there"))
    try:
        topo = load(topology)
        with _progress(quiet or as_json) as advance:
            summary = run_replay(topo, traces, out, format=fmt,
                                 fields=flowlog_fields.split() if flowlog_fields else None,
                                 mappings=map_ or (), captures=capture or (),
                                 batch_size=batch, progress=advance, force=force,
                                 strict=True)
    except InputError as exc:
        fail(exc)
    except OSError as exc:
        fail(InputError(f"cannot write: {exc.strerror}", file=exc.filename))
    if as_json:
        sys.stdout.write(json.dumps(summary.to_json(), indent=2) + "\n")
    elif not quiet:
        show_summary(summary, out)
    compared = summary.compared.get("recorded_vs_emulated", {})
    if (fail_on == "reject" and summary.rejected) or (
            fail_on == "disagree" and compared.get("disagree")):
        raise typer.Exit(1)


class _progress:
    """A Rich progress line for replays that last over a second; nothing for short ones."""

    def __init__(self, disabled: bool) -> None:
        import time
        self.disabled, self.clock, self.packets, self.bar = disabled, time.monotonic, 0, None

    def __enter__(self):
        self.start = self.clock()
        return self.advance

    def advance(self, n: int) -> None:
        self.packets += n
        if self.disabled:
            return
        if self.bar is None and self.clock() - self.start > 1.0:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
            self.bar = Progress(SpinnerColumn(), TextColumn("replaying {task.fields[n]:,} "
                                                            "packets"), TimeElapsedColumn(),
                                console=err, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("replay", n=0, total=None)
        if self.bar is not None:
            self.bar.update(self.task, n=self.packets)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def show_summary(summary, out: Path | None) -> None:
    from rich.table import Table
    s = summary.to_json()
    table = Table(title="replay")
    for col in ("records", "packets", "flows", "accepted", "rejected", "unplaced"):
        table.add_column(col, justify="right")
    table.add_row(*(f"{s[c]:,}" for c in ("records", "packets", "flows", "accepted",
                                          "rejected", "unplaced")))
    console.print(table)
    if s["skipped"]:
        console.print("skipped: " + ", ".join(f"{k} {v:,}" for k, v in s["skipped"].items()))
    if s["rejected_by"]:
        drops = Table(title="rejected by")
        for col in ("resource", "rule", "reason", "packets", "flows"):
            drops.add_column(col, justify="right" if col in ("packets", "flows") else "left")
        for d in s["rejected_by"][:15]:
            drops.add_row(d["resource"], d["rule"], d["reason"], f"{d['packets']:,}",
                          f"{d['flows']:,}")
        console.print(drops)
    if s["delivered_to"]:
        console.print("delivered to: " + ", ".join(
            f"{k} {v:,}" for k, v in s["delivered_to"].items()))
    if "recorded_vs_emulated" in s:
        show_disagreements(s)
    if out is not None:
        console.print(f"wrote {out}/verdicts.jsonl, {out}/flowlogs/, {out}/summary.json")


def show_disagreements(s: dict) -> None:
    """Flow logs: each record's recorded action against the emulation's at its ENI."""
    from rich.table import Table
    c = s["recorded_vs_emulated"]
    console.print(f"recorded vs emulated: {c['agree']:,} records agree, "
                  f"{c['disagree']:,} disagree")
    if s["disagreements"]:
        t = Table(title="disagreements")
        for col in ("interface", "direction", "recorded", "emulated", "resource", "rule",
                    "reason", "records", "packets"):
            t.add_column(col, justify="right" if col in ("records", "packets") else "left")
        for d in s["disagreements"][:15]:
            t.add_row(d["interface"], d["direction"], d["recorded"], d["emulated"],
                      d["resource"], d["rule"], d["reason"], f"{d['records']:,}",
                      f"{d['packets']:,}")
        console.print(t)


@app.command()
def workload(
    topology: Topo,
    function: Annotated[str, typer.Option(help="The Lambda function whose invocations run.")],
    to: Annotated[list[str], typer.Option(help="Destination NAME[:PORT] (repeatable).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="FILE.pcap or FILE.jsonl.")],
    concurrency: Annotated[int, typer.Option(help="Concurrent invocations (execution "
                                             "environments).")] = 10,
    connections: Annotated[int, typer.Option(help="Connections each opens to each "
                                             "destination.")] = 1,
    duration: Annotated[float, typer.Option(help="Seconds of traffic.")] = 60.0,
    rate: Annotated[float, typer.Option(help="Packets per second per connection.")] = 10.0,
    hold: Annotated[float | None, typer.Option(help="Every connection lasts this long "
                                               "(seconds).")] = None,
    proto: Annotated[str, typer.Option(help="tcp or udp.")] = "tcp",
    seed: Annotated[int, typer.Option(help="Seed: same seed, same traffic.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Synthetic traffic of N concurrent invocations: handshakes, data and teardown, both
    directions, as the execution environments see it."""
    from netemu.apps.workload import generate_workload, write_workload

    try:
        topo = load(topology)
        batch = generate_workload(topo, function, concurrency, connections, to, duration,
                                  rate=rate, seed=seed, proto=proto, hold=hold)
        n = write_workload(out, batch, force=force)
    except InputError as exc:
        fail(exc)
    console.print(f"wrote {n:,} {'packets' if out.suffix != '.jsonl' else 'flows'} "
                  f"({len(batch):,} packets) to {out}")


@app.command()
def show(topology: Topo) -> None:
    """Load a topology and list what it holds, what its snapshot lacked (warnings), what
    was synthesised and what is not modelled."""
    from rich.table import Table

    from netemu.io.load import load as load_topology
    try:
        topo = load_topology(topology)
    except InputError as exc:
        fail(exc)
    table = Table(title=str(topology))
    table.add_column("resource")
    table.add_column("count", justify="right")
    for k, v in topo.summary().items():
        table.add_row(k.replace("_", " "), str(v))
    if topo.unplaced:
        table.add_row("unplaced", str(len(topo.unplaced)))
    console.print(table)
    for title, items in (("warnings", topo.warnings), ("synthesised", topo.notes),
                         ("not modelled", topo.unmodelled)):
        if items:
            console.print(f"[bold]{title}[/]:")
            for n in items:
                console.print(f"  - {n}", markup=False, soft_wrap=True)


@app.command()
def graph(
    topology: Topo,
    dot: Annotated[bool, typer.Option("--dot", help="Graphviz dot instead of text.")] = False,
) -> None:
    """The dataplane's graph: every node (kind:resource) with its element kind, the
    resource it stands for, and its next nodes by name."""
    from netemu.dataplane.graph import Graph
    try:
        g = Graph(load(topology))
    except InputError as exc:
        fail(exc)
    if dot:
        print(g.dot())
        return
    for node in g.describe():
        print(f"{node['node']}  [{node['kind']} {node['resource']}]")
        for n in node["next"]:
            print(f"  {n['name']} -> {n['node']}")


app.command("scale")(scale_command)


@app.command()
def lint(
    topology: Topo,
    fmt: Annotated[str, typer.Option("--format", help="text, json or sarif.")] = "text",
    severity: Annotated[str, typer.Option(help="Exit 1 when a finding at or above this "
                                          "remains: info, warning or error.")] = "warning",
    fix_format: Annotated[str, typer.Option("--fix-format", help="Fixes as text, aws-cli "
                                            "or terraform.")] = "text",
) -> None:
    """Known Lambda VPC mistakes: a stable code, severity, the resources, the AWS
    behaviour and a fix verified by linting and tracing again (docs/lint.md)."""
    from netemu.apps.lint.command import run_lint
    try:
        status = run_lint(topology, fmt, severity, fix_format)
    except InputError as exc:
        fail(exc)
    raise typer.Exit(status)


@app.command()
def reach(
    topology: Topo,
    src: Annotated[str | None, typer.Option("--from", help="lambda:NAME, eni:ID, "
                                            "instance:NAME, an address, or internet.")] = None,
    dst: Annotated[str | None, typer.Option("--to", help="A destination, as for trace.")
                   ] = None,
    proto: Annotated[str | None, typer.Option(help="tcp, udp, icmp or all (default).")
                     ] = None,
    ports: Annotated[str | None, typer.Option(help="Destination ports A-B.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    no_fix: Annotated[bool, typer.Option("--no-fix", help="Do not search for a fix.")] = False,
) -> None:
    """Every request a source gets delivered with its replies back, walked symbolically
    over the element tables (docs/reach.md); with --to, exit 0 reached, 1 not."""
    from netemu.apps.reach.command import run_reach
    try:
        status = run_reach(topology, src, dst, proto, ports, as_json, fix=not no_fix)
    except InputError as exc:
        fail(exc)
    raise typer.Exit(status)


@app.command("diff")
def diff_command(
    before: Topo,
    after: Topo,
    src: Annotated[str | None, typer.Option("--from", help="Only this source.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    flowlogs: Annotated[list[Path] | None, typer.Option(
        "--flowlogs", help="VPC Flow Logs to replay on both topologies (file, gzip, S3 "
        "export folder, Parquet); repeat for more: --flowlogs A --flowlogs B.")] = None,
) -> None:
    """What a change opens and closes per source, and with --flowlogs the recorded flows
    whose verdict changes; exit 1 when something that worked stops working
    (docs/reach.md)."""
    from netemu.apps.reach.command import run_diff
    try:
        status = run_diff(before, after, src, as_json, flowlogs)
    except InputError as exc:
        fail(exc)
    raise typer.Exit(status)


def main(args: list[str] | None = None) -> None:
    """Every end is an exit code (see netemu.cli_run): usage errors and refused input 2,
    a bug 3 with one line, never a traceback."""
    from netemu.cli_run import run, single_threaded_blas
    single_threaded_blas()
    sys.exit(run(app, args, direct={"trace": TRACE}))


if __name__ == "__main__":
    main()

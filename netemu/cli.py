"""The `netemu` command: a shell over the apps, never a second implementation.

Exit status: 0 when the flow gets through both ways, 1 when it is dropped, 2 on bad
input (one line naming the file, line or resource, and the problem; no traceback)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from netemu.apps.trace import TraceResult
from netemu.apps.trace import trace as run_trace
from netemu.dataplane.reasons import EXPLAIN
from netemu.errors import InputError
from netemu.io.load import load

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Packet-level emulator of AWS Lambda networking.")
console = Console(highlight=False)
if not console.is_terminal:
    console = Console(highlight=False, width=160)   # pipes and files: no hard wrapping
err = Console(stderr=True, highlight=False, width=1000)

Topo = Annotated[Path, typer.Argument(help="A topology YAML file or an AWS CLI snapshot folder.")]


def fail(exc: InputError) -> None:
    err.print(f"netemu: error: {exc.message}", markup=False, soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def trace(
    topology: Topo,
    src: Annotated[str, typer.Option("--from", help="lambda:NAME[@SUBNET], eni:ID, "
                                     "instance:ID, an IP address or a DNS name.")],
    dst: Annotated[str, typer.Option("--to", help="Same forms as --from.")],
    proto: Annotated[str, typer.Option(help="tcp, udp, icmp or an IP protocol number.")] = "tcp",
    port: Annotated[int | None, typer.Option(help="Destination port (default 443).")] = None,
    sport: Annotated[int, typer.Option(help="Source port, where it matters.")] = 40000,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    no_fix: Annotated[bool, typer.Option("--no-fix", help="Do not search for a fix.")] = False,
) -> None:
    """Send one packet from SRC to DST and, when it arrives, its reply; show every hop."""
    try:
        topo = load(topology)
        result = run_trace(topo, src, dst, proto, port, sport, fix=not no_fix)
    except InputError as exc:
        fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        show_trace(result)
    raise typer.Exit(0 if result.ok else 1)


DECISION_STYLE = {"drop": "bold red", "deliver": "bold green", "translate": "cyan"}


def show_trace(r: TraceResult) -> None:
    from netemu.model.resources import protocol_name
    port = f" port {r.port}" if r.proto in (6, 17) else ""
    console.print(f"[bold]{protocol_name(r.proto)}{port}[/] from [bold]{r.source.text}[/] "
                  f"({r.source.ip}, {r.source.label}) to [bold]{r.destination.text}[/] "
                  f"({r.destination.ip}, {r.destination.label})")
    for leg, title in ((r.request, "request"), (r.reply, "reply")):
        if leg is None:
            continue
        tree = Tree(f"[bold]{title}[/]: {leg.verdict}")
        for s in leg.steps:
            style = DECISION_STYLE.get(s.decision, "green" if s.decision.startswith("allow")
                                       else "white")
            line = f"[{style}]{s.decision:<9}[/] {s.element}"
            if s.rule:
                line += f"  [dim]{s.rule}[/]"
            if s.translation:
                line += f"\n          {s.translation}"
            if s.reason:
                line += f"\n          [red]{s.reason}[/]: {EXPLAIN.get(s.reason, '')}"
            tree.add(line)
        console.print(tree)
    failed = r.failed
    if failed is None:
        console.print("[bold green]delivered both ways[/]")
        return
    where = "request" if failed is r.request else "reply"
    console.print(f"[bold red]dropped[/] ({where}) at [bold]{failed.dropped_at}[/]: "
                  f"{failed.reason}" + (f", {failed.rule}" if failed.rule else ""))
    if r.fixes:
        label = "fix (verified by tracing again)" if r.fix_verified else "what would help"
        console.print(f"[bold]{label}[/]:")
        for f in r.fixes:
            console.print(f"  - {f}")


@app.command()
def replay(
    topology: Topo,
    traces: Annotated[list[Path], typer.Argument(help="pcap/pcapng, VPC Flow Logs or JSON "
                                                 "lines of flows, replayed in order.")],
    fmt: Annotated[str | None, typer.Option("--format", help="pcap, flowlogs or jsonl "
                                            "(default: told by the file).")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for verdicts.jsonl, flowlogs/, "
                                             "captures and summary.json.")] = None,
    capture: Annotated[list[str] | None, typer.Option(
        help="Write a pcap of what this ENI, NAT gateway, host or internet gateway saw "
             "(repeatable).")] = None,
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help="CIDR=SOURCE: packets from CIDR enter as sent by SOURCE "
                      "(lambda:NAME, eni:ID, instance:ID). Repeatable.")] = None,
    flowlog_fields: Annotated[str | None, typer.Option(
        help="Fields of flow logs without a header line, space-separated.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json.")] = False,
    batch: Annotated[int, typer.Option(help="Packets per batch: larger is faster, "
                                       "smaller holds less.")] = 65_536,
) -> None:
    """Replay traces through the topology: verdicts per flow, emulated flow logs per ENI,
    per-hop captures and a summary."""
    from netemu.apps.replay import replay as run_replay

    try:
        topo = load(topology)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        with _progress(quiet or as_json) as advance:
            summary = run_replay(topo, traces, out, format=fmt,
                                 fields=flowlog_fields.split() if flowlog_fields else None,
                                 mappings=map_ or (), captures=capture or (),
                                 batch_size=batch, progress=advance)
    except InputError as exc:
        fail(exc)
    except OSError as exc:
        fail(InputError(f"cannot write: {exc.strerror}", file=exc.filename))
    if as_json:
        sys.stdout.write(json.dumps(summary.to_json(), indent=2) + "\n")
    elif not quiet:
        show_summary(summary, out)


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
    if out is not None:
        console.print(f"wrote {out}/verdicts.jsonl, {out}/flowlogs/, {out}/summary.json")


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
) -> None:
    """Synthetic traffic of N concurrent invocations: handshakes, data and teardown, both
    directions, as the execution environments see it."""
    from netemu.apps.workload import generate_workload, write_workload

    try:
        topo = load(topology)
        batch = generate_workload(topo, function, concurrency, connections, to, duration,
                                  rate=rate, seed=seed, proto=proto, hold=hold)
        n = write_workload(out, batch)
    except InputError as exc:
        fail(exc)
    console.print(f"wrote {n:,} {'packets' if out.suffix != '.jsonl' else 'flows'} "
                  f"({len(batch):,} packets) to {out}")


@app.command()
def show(topology: Topo) -> None:
    """Load a topology and list what it holds, what was synthesised and what is not
    modelled."""
    try:
        topo = load(topology)
    except InputError as exc:
        fail(exc)
    table = Table(title=str(topology))
    table.add_column("resource")
    table.add_column("count", justify="right")
    for k, v in topo.summary().items():
        table.add_row(k.replace("_", " "), str(v))
    console.print(table)
    for title, items in (("synthesised", topo.notes), ("not modelled", topo.unmodelled)):
        if items:
            console.print(f"[bold]{title}[/]:")
            for n in items:
                console.print(f"  - {n}", markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

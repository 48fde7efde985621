"""Issue 11: `netemu trace` starts cold in under 0.2 s. These check the causes, not the
clock (benchmarks/cold_start.py times it): registering the commands imports no command's
machinery, and the entry point asks OpenBLAS for one thread unless the user chose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str, env: dict | None = None) -> dict:
    """Run `code` in a fresh interpreter; the modules loaded and the BLAS variables."""
    probe = (f"{code}\nimport json, os, sys\n"
             "print(json.dumps({'modules': sorted(sys.modules), 'env': {k: os.environ.get(k) "
             "for k in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS')}}))")
    env = {k: v for k, v in (env or os.environ).items()}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def test_issue11_cli_import_loads_no_command_machinery():
    """`import netemu.cli` registers every command (scale's 29 options included) without
    importing the simulation, the dataplane, NumPy, replay or lint: each command imports
    what it runs in its body."""
    mods = set(_modules_after("import netemu.cli")["modules"])
    for heavy in ("numpy", "netemu.apps.scale", "netemu.apps.scale.sim",
                  "netemu.apps.replay", "netemu.apps.lint", "netemu.apps.trace", "yaml",
                  "scapy", "rich.progress", "rich.table", "typer", "typer._click", "click"):
        assert heavy not in mods, f"{heavy} imported when the CLI is only registered"


def test_issue11_scale_options_registered_lazily():
    """The `scale` command keeps every option of its body: the light declaration
    (netemu/cli_scale.py) and run_scale take the same parameters, in the same order."""
    import inspect

    from netemu.apps.scale.command import run_scale
    from netemu.cli_scale import scale
    assert list(inspect.signature(scale).parameters) == list(
        inspect.signature(run_scale).parameters)


def test_issue11_trace_path_skips_replay_and_readers():
    """A whole `netemu trace` run loads none of replay, the pcap, flow-log and snapshot
    readers, scaling, scapy or pydantic (typer 0.29 validates options with it; pinned
    below): only what a trace needs."""
    code = ("import sys\nfrom netemu.cli import main\ntry:\n    main(['trace', "
            "'topologies/lambda-nat-internet.yaml', '--from', 'lambda:orders', '--to', "
            "'api.example.com', '--port', '443', '--json'])\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code")
    mods = set(_modules_after(code)["modules"])
    assert "netemu.apps.trace" in mods
    for heavy in ("netemu.apps.replay", "netemu.io.pcap_reader", "netemu.io.flowlog_reader",
                  "netemu.io.aws_snapshot", "netemu.apps.scale", "scapy", "rich.progress",
                  "pydantic"):
        assert heavy not in mods, f"{heavy} imported by a trace"


def test_issue11_entry_point_sets_one_blas_thread_unless_set():
    """main() sets OPENBLAS_NUM_THREADS and OMP_NUM_THREADS to 1 before NumPy loads, and
    leaves a value the user exported alone."""
    code = ("import sys\nfrom netemu.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS",
                                                            "OMP_NUM_THREADS")}
    assert _modules_after(code, env)["env"] == {"OPENBLAS_NUM_THREADS": "1",
                                                "OMP_NUM_THREADS": "1"}
    env["OPENBLAS_NUM_THREADS"] = "4"
    assert _modules_after(code, env)["env"] == {"OPENBLAS_NUM_THREADS": "4",
                                                "OMP_NUM_THREADS": "1"}


# ---- `netemu trace` without Typer (netemu/cli_lazy.py) -------------------------------

BENCH = ["trace", "topologies/lambda-nat-internet.yaml", "--from", "lambda:orders", "--to",
         "api.example.com", "--port", "443"]          # benchmarks/cold_start.py's command


def test_issue11_delivered_trace_loads_neither_typer_nor_fixes():
    """The benchmark's trace (delivered both ways, table output) runs without importing
    Typer or Click (main() parses the line itself), without the fix search and its
    formats (a delivered flow needs no fix), without numpy.random (NAT draws from it
    only when a destination's ports are nearly full) and without numpy.ma (which
    np.unique and np.isin import at their first call)."""
    code = ("import sys\nfrom netemu.cli import main\ntry:\n"
            f"    main({BENCH!r})\nexcept SystemExit as e:\n    assert e.code == 0, e.code")
    mods = set(_modules_after(code)["modules"])
    assert {"netemu.apps.trace", "rich.tree"} <= mods
    for lazy in ("typer", "typer._click", "click", "netemu.apps.fix",
                 "netemu.apps.fix_format", "numpy.random", "numpy.ma", "netemu.apps.scale"):
        assert lazy not in mods, f"{lazy} imported by a delivered trace"


def test_issue11_dropped_trace_loads_the_fix_search():
    """The other side of the lazy import: a drop still finds and renders its fix."""
    code = ("import sys\nfrom netemu.cli import main\ntry:\n    main(['trace', "
            "'topologies/lambda-public-subnet.yaml', '--from', 'lambda:webhook', '--to', "
            "'api.example.com', '--fix-format', 'terraform'])\nexcept SystemExit as e:\n"
            "    assert e.code == 1, e.code")
    mods = set(_modules_after(code)["modules"])
    assert {"netemu.apps.fix", "netemu.apps.fix_format"} <= mods
    assert "typer" not in mods


NAT, PUBLIC = "topologies/lambda-nat-internet.yaml", "topologies/lambda-public-subnet.yaml"
DIRECT_LINES = [
    BENCH,
    ["trace", NAT, "--from", "lambda:orders", "--to", "api.example.com", "--json"],
    ["trace", "--from=lambda:orders", "--to", "api.example.com", NAT, "--proto", "udp",
     "--port", "53", "--sport", "1234"],
    ["trace", PUBLIC, "--from", "lambda:webhook", "--to", "api.example.com"],
    ["trace", PUBLIC, "--from", "lambda:webhook", "--to", "api.example.com", "--json",
     "--fix-format", "aws-cli"],
    ["trace", PUBLIC, "--from", "lambda:webhook", "--to", "api.example.com",
     "--fix-format=terraform"],
    ["trace", PUBLIC, "--from", "lambda:webhook", "--to", "api.example.com", "--no-fix"],
    ["trace", PUBLIC, "--from", "lambda:webhook", "--to", "api.example.com",
     "--fix-format", "yaml"],                                    # refused by the command
    ["trace", NAT, "--from", "lambda:orders", "--to", "api.example.com", "--port", "70000"],
    ["trace", "no-such.yaml", "--from", "lambda:orders", "--to", "api.example.com"],
    ["trace", NAT, "--from", "lambda:nobody", "--to", "api.example.com"],
]
TYPER_LINES = [
    ["trace", "--help"],
    ["trace", NAT, "--from", "lambda:orders", "--to", "api.example.com", "--port", "abc"],
    ["trace", NAT, "--from", "lambda:orders", "--to", "api.example.com", "--port", "+443"],
    ["trace", NAT, "--from", "lambda:orders"],                           # --to missing
    ["trace", NAT, "--from", "lambda:orders", "--from", "lambda:orders", "--to", "x"],
    ["trace", NAT, NAT, "--from", "lambda:orders", "--to", "api.example.com"],
    ["trace", NAT, "--from", "lambda:orders", "--to", "api.example.com", "--json=1"],
    ["trace", NAT, "--from", "lambda:orders", "--to", "api.example.com", "--port=-1"],
    ["trace", NAT, "--from", "lambda:orders", "--to", "api.example.com", "--verbose"],
    ["trace", "--", NAT, "--from", "lambda:orders", "--to", "api.example.com"],
    ["trace", NAT, "--from", "lambda:orders", "--to", ""],
    ["trace", NAT, "--from", "lambda:orders", "--to"],
    ["show", NAT],
]


def _both_ways(capsys, args: list[str]) -> tuple[tuple, tuple]:
    """(exit, stdout, stderr) of `args` through main()'s parser, then through Typer."""
    from netemu.cli import TRACE, app
    from netemu.cli_run import run
    direct = run(app, args, direct={"trace": TRACE}), *capsys.readouterr()
    typer = run(app, args), *capsys.readouterr()
    return direct, typer


@pytest.mark.parametrize("args", DIRECT_LINES, ids=lambda a: " ".join(a[1:])[:60])
def test_issue11_direct_trace_is_typers_trace(capsys, args):
    """Every line main() runs itself prints the same bytes and exits the same as when
    Typer parses it: delivered, dropped, JSON, fix formats, refused input."""
    from netemu.cli import TRACE
    from netemu.cli_lazy import parse_direct
    assert parse_direct(args, {"trace": TRACE}) is not None
    direct, typer = _both_ways(capsys, args)
    assert direct == typer
    assert direct[0] in (0, 1, 2)


@pytest.mark.parametrize("args", TYPER_LINES, ids=lambda a: " ".join(a)[:60])
def test_issue11_unusual_trace_lines_go_to_typer(args):
    """Help, values Click reads its own way (`+443`, `-1`), missing or repeated options,
    unknown options and `--` are left to Typer, whose help and errors they need."""
    from netemu.cli import TRACE
    from netemu.cli_lazy import parse_direct
    assert parse_direct(args, {"trace": TRACE}) is None


def test_issue11_direct_options_match_typers():
    """main()'s table of trace options (netemu.cli.TRACE) is trace's Typer declaration:
    the same flags, parameters, types and required options, so the two parsers cannot
    drift apart."""
    import typer.main

    from netemu.cli import TRACE, app
    group = typer.main.get_command(app.build())
    cmd = group.commands["trace"]
    options = {o: p for p in cmd.params if p.param_type_name == "option" for o in p.opts}
    options.pop("--help", None)
    assert set(options) == set(TRACE.options)
    for flag, (name, kind) in TRACE.options.items():
        p = options[flag]
        assert p.name == name
        assert (p.is_flag, type(p.type).__name__) == {
            bool: (True, "BoolParamType"), int: (False, "IntParamType"),
            str: (False, "StringParamType")}[kind], flag
    assert {p.name for p in options.values() if p.required} == set(TRACE.required)
    [arg] = [p for p in cmd.params if p.param_type_name == "argument"]
    assert arg.name == TRACE.argument and arg.required and "Path" in type(arg.type).__name__

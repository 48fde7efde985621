"""Issue 11: `netemu trace` starts cold in under 0.2 s. These check the causes, not the
clock (benchmarks/cold_start.py times it): registering the commands imports no command's
machinery, and the entry point asks OpenBLAS for one thread unless the user chose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
                  "scapy", "rich.progress", "rich.table"):
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

"""Shared benchmark helpers: where results go and what machine produced them."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    """What a reader needs to compare figures across runs."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": sys.version.split()[0],
            "numpy": np.__version__, "platform": platform.platform()}


def write_result(name: str, data: dict) -> Path:
    """Write benchmarks/results/<name>.json with machine info attached."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine_info(), **data}, indent=2) + "\n")
    return path


def parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The argument parser of `python -m benchmarks.NAME`, its docstring as help."""
    return argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

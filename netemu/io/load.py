"""One entry point for topologies: a YAML file, or a folder (or file) of AWS CLI JSON."""

from __future__ import annotations

from pathlib import Path

from netemu.errors import InputError
from netemu.model.topology import Topology


def load(path: str | Path) -> Topology:
    from netemu.io.aws_snapshot import load_snapshot
    from netemu.io.yaml_loader import load_yaml

    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", file=str(p))
    if p.is_dir() or p.suffix.lower() == ".json":
        return load_snapshot(p)
    return load_yaml(p)

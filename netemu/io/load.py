"""One entry point for topologies: a YAML file, or a folder (or file) of AWS CLI JSON."""

from __future__ import annotations

from pathlib import Path

from netemu.errors import InputError
from netemu.io.safe_read import require_regular
from netemu.model.topology import Topology


def load(path: str | Path) -> Topology:
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", file=str(p))
    if not p.is_dir():         # /dev/zero, a FIFO: refused before anything reads them
        require_regular(p, "topology")
    try:
        if p.is_dir() or p.suffix.lower() == ".json":
            from netemu.io.aws_snapshot import load_snapshot
            return load_snapshot(p)
        from netemu.io.yaml_loader import load_yaml  # a YAML file needs no snapshot reader
        return load_yaml(p)
    except OSError as exc:     # an unreadable file or folder met on the way
        raise InputError(f"cannot read: {exc.strerror or exc}",
                         file=str(exc.filename or p)) from None

"""Loading a topology for lint: the YAML line of every resource (for SARIF locations and
text output), and functions over the L8 limits, which the model refuses like AWS does:
lint reports them and lints the rest with their first 16 subnets and 5 groups."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path

import yaml

from netemu.errors import InputError
from netemu.io.load import load
from netemu.model.topology import MAX_FUNCTION_SGS, MAX_FUNCTION_SUBNETS

SECTIONS = {"vpcs", "subnets", "route_tables", "network_acls", "security_groups",
            "nat_gateways", "endpoints", "functions", "hosts", "internet", "peerings",
            "prefix_lists"}


def load_for_lint(path) -> tuple:
    """(topology, {resource id: line}, [(function, subnets, groups) over L8 limits])."""
    from netemu.io.safe_read import decode_utf8, read_bytes_capped
    from netemu.io.yaml_loader import _compose_lines
    p = Path(path)
    if not p.is_file() or p.suffix.lower() == ".json":
        return load(p), {}, []
    file = str(p)
    data, lines = _compose_lines(decode_utf8(read_bytes_capped(p, "topology"), file,
                                             "topology"), file)
    ids: dict = {}          # (section, id) -> line, and id -> its first line
    if isinstance(data, dict):
        ids[("vpcs", str(data.get("vpc", "vpc")))] = lines.get(("vpc",),
                                                              lines.get(("cidr",), 1))
    for key, line in sorted(lines.items(), key=lambda kv: kv[1]):
        if len(key) >= 2 and key[-2] in SECTIONS and isinstance(key[-1], str):
            ids.setdefault((key[-2], key[-1]), line)
            ids.setdefault(key[-1], line)
    over, trimmed = _over_limits(data)
    if not over:
        return load(p), ids, []
    fd, tmp = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(trimmed, fh, sort_keys=False)
        try:
            topo = load(tmp)
        except InputError as exc:
            exc.file, exc.line = file, None
            exc.args = (exc.message,)
            raise
    finally:
        os.unlink(tmp)
    topo.source = file
    return topo, ids, over


def _over_limits(data) -> tuple[list, dict]:
    fns = data.get("functions") if isinstance(data, dict) else None
    if not isinstance(fns, dict):
        return [], data
    over, out = [], None
    for name, body in fns.items():
        if not isinstance(body, dict):
            continue
        subnets, sgs = body.get("subnets"), body.get("security_groups")
        n = len(subnets) if isinstance(subnets, list) else 0
        m = len(sgs) if isinstance(sgs, list) else 0
        if n > MAX_FUNCTION_SUBNETS or m > MAX_FUNCTION_SGS:
            over.append((name, n, m))
            out = out or copy.deepcopy(data)
            if n > MAX_FUNCTION_SUBNETS:
                out["functions"][name]["subnets"] = subnets[:MAX_FUNCTION_SUBNETS]
            if m > MAX_FUNCTION_SGS:
                out["functions"][name]["security_groups"] = sgs[:MAX_FUNCTION_SGS]
    return over, out if out is not None else data

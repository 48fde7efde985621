"""The `netemu lint` command's body: options checked first, the whole answer computed
before anything is written, exit 1 when a finding at or above --severity remains."""

from __future__ import annotations

import json
import sys

from netemu.apps.fix_format import FORMATS
from netemu.apps.lint.registry import SEVERITIES, at_least
from netemu.errors import InputError

OUTPUTS = ("text", "json", "sarif")


def run_lint(path, fmt: str, severity: str, fix_format: str) -> int:
    """Write the report to stdout; the exit status (0 or 1). Raises InputError (exit 2)."""
    from netemu.apps.lint import lint_file, render

    for value, allowed, opt in ((fmt, OUTPUTS, "--format"),
                                (severity, SEVERITIES, "--severity"),
                                (fix_format, FORMATS, "--fix-format")):
        if value not in allowed:
            raise InputError(f"{opt} {value!r}: expected {', '.join(allowed[:-1])} or "
                             f"{allowed[-1]}")
    topo, findings = lint_file(path)
    for w in topo.warnings:
        sys.stderr.write(f"netemu: warning: {w}\n")
    source = str(path)
    if fmt == "json":
        out = json.dumps(render.as_json(findings, topo, source), indent=2) + "\n"
    elif fmt == "sarif":
        out = json.dumps(render.sarif(findings, topo, source, _version()), indent=2) + "\n"
    else:
        out = render.text(findings, topo, source, fix_format)
    sys.stdout.write(out)
    return 1 if any(at_least(f.severity, severity) for f in findings) else 0


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("netemu")
    except Exception:       # noqa: BLE001 - not installed: still a valid report
        return "0"

"""`netemu lint`: the known Lambda VPC mistakes of a topology, each under a stable code
with a severity, the resources, the AWS behaviour it breaks and a fix verified by running
the check and `trace` again with the fix applied. One module per family of checks;
importing them registers them (registry.CHECKS, in this order)."""

from __future__ import annotations

from netemu.apps.lint import (  # noqa: F401 - registers the checks
    acl_checks,
    lambda_checks,
    routing_checks,
    service_checks,
    shadow,
)
from netemu.apps.lint.context import Context, LintSettings
from netemu.apps.lint.registry import CHECKS, RULES, SEVERITIES, Finding
from netemu.apps.lint.source import load_for_lint
from netemu.model.topology import Topology

__all__ = ["RULES", "Finding", "LintSettings", "lint", "lint_file"]


def lint(topo: Topology, lines: dict[str, int] | None = None,
         settings: LintSettings | None = None, over_limits=(),
         codes: set[str] | None = None) -> list[Finding]:
    """Every finding, most severe first (then by code and line)."""
    ctx = Context(topo, lines or {}, settings or LintSettings(), over_limits=list(over_limits))
    found = [f for c in CHECKS if codes is None or c.rule.code in codes for f in c.run(ctx)]
    order = {c.rule.code: i for i, c in enumerate(CHECKS)}
    return sorted(found, key=lambda f: (-SEVERITIES.index(f.severity), order[f.code],
                                        f.line, f.resources))


def lint_file(path, settings: LintSettings | None = None):
    """(topology, findings) of a YAML file or snapshot folder."""
    topo, lines, over = load_for_lint(path)
    return topo, lint(topo, lines, settings, over)

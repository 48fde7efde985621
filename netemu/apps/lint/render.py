"""Findings as text (people), JSON (scripts) and SARIF 2.1.0 (code-scanning dashboards)."""

from __future__ import annotations

from netemu.apps.fix_format import render as render_fix
from netemu.apps.lint.registry import CHECKS, SARIF_LEVEL, SEVERITIES, Finding

STATUS_WORDS = {"verified": "fix (verified)", "unverified": "fix (not verified)",
                "none": "no fix"}


def summary(findings: list[Finding]) -> dict[str, int]:
    return {s: sum(1 for f in findings if f.severity == s) for s in reversed(SEVERITIES)}


def text(findings: list[Finding], topo, source: str, fix_format: str = "text") -> str:
    out = []
    for f in findings:
        out.append(f"{source}:{f.line}: {f.severity} {f.code}: {f.message}")
        out.append(f"  why: {f.explanation}")
        out.append(f"  resources: {', '.join(topo.display(r) for r in f.resources)}")
        out.append(f"  {STATUS_WORDS[f.fix_status]}" + (f": {f.fix_note}" if f.fix_note
                                                         else ""))
        for fix in f.fixes:
            body = render_fix(fix, topo, fix_format).splitlines()
            out.append(f"    - {body[0]}")
            out += [f"      {line}" for line in body[1:]]
        out += [f"    {line}" for line in effect_lines(f)]
    s = summary(findings)
    out.append(f"{len(findings)} finding(s): " + ", ".join(f"{n} {k}" for k, n in s.items()))
    return "\n".join(out) + "\n"


def as_json(findings: list[Finding], topo, source: str) -> dict:
    return {
        "topology": source,
        "summary": summary(findings),
        "findings": [{
            "code": f.code, "severity": f.severity, "message": f.message,
            "resources": [{"id": r, "name": _name(topo, r)} for r in f.resources],
            "explanation": f.explanation, "line": f.line,
            "fix": {"status": f.fix_status, "note": f.fix_note,
                    "steps": [str(x) for x in f.fixes],
                    "also_opens": f.fix_also_opens, "closes": f.fix_closes,
                    "aws_cli": [render_fix(x, topo, "aws-cli") for x in f.fixes],
                    "terraform": [render_fix(x, topo, "terraform") for x in f.fixes]},
        } for f in findings]}


def effect_lines(f: Finding) -> list[str]:
    from netemu.apps.reach.effects import Effects
    return Effects(f.fix_also_opens, f.fix_closes).lines()


def _name(topo, rid: str) -> str | None:
    shown = topo.display(rid)
    return shown[len(rid) + 2:-1] if shown != rid else None


def sarif(findings: list[Finding], topo, source: str, version: str) -> dict:
    rules = [c.rule for c in CHECKS]
    index = {r.code: i for i, r in enumerate(rules)}
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "netemu-lint", "version": version,
                "informationUri": rules[0].help_uri.split("#")[0],
                "rules": [{
                    "id": r.code, "name": r.code.replace("-", ""),
                    "shortDescription": {"text": r.title},
                    "fullDescription": {"text": f"{r.title} (AWS behaviour "
                                                f"{', '.join(r.behaviour)})"},
                    "helpUri": r.help_uri,
                    "defaultConfiguration": {"level": SARIF_LEVEL[r.severity]},
                    "properties": {"tags": ["aws", "lambda", "vpc", *r.behaviour]},
                } for r in rules]}},
            "artifacts": [{"location": {"uri": source}}],
            "results": [{
                "ruleId": f.code, "ruleIndex": index[f.code],
                "level": SARIF_LEVEL[f.severity],
                "message": {"text": f"{f.message}. {f.explanation} Fix ({f.fix_status}): "
                                    + "; ".join(str(x) for x in f.fixes)},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": source, "index": 0},
                                         "region": {"startLine": max(1, f.line)}},
                    "logicalLocations": [{"name": r} for r in f.resources[:1]]}],
                "partialFingerprints": {"netemuFinding/v1": "|".join((f.code,
                                                                      *f.resources))},
                "properties": {"resources": f.resources, "fixStatus": f.fix_status,
                               "fixNote": f.fix_note,
                               "fix": [str(x) for x in f.fixes]},
            } for f in findings]}]}

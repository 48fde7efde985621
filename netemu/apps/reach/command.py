"""The bodies of `netemu reach` and `netemu diff`: the whole answer computed before
anything is written; exit 0 reached (nothing lost), 1 not (something lost), 2 bad input."""

from __future__ import annotations

import json
import sys

from netemu.apps.reach.answers import (
    Verdict,
    agree,
    blocks,
    find_fix,
    place_json,
    who_reaches,
)
from netemu.apps.reach.diff import diff
from netemu.apps.reach.query import Answer, Reach, describe, parse_ports, parse_protocols
from netemu.errors import InputError


def _load(path):
    from netemu.io.load import load
    topo = load(path)
    for w in topo.warnings:
        sys.stderr.write(f"netemu: warning: {w}\n")
    return topo


def run_reach(path, src: str | None, dst: str | None, proto: str | None,
              ports: str | None, as_json: bool, fix: bool = True) -> int:
    protos, span = parse_protocols(proto), parse_ports(ports)
    if src is None and dst is None:
        raise InputError("reach needs --from, --to, or both")
    topo = _load(path)
    r = Reach(topo)
    if src is None:
        return _who(r, dst, protos, span, as_json)
    answers = r.reach(src, dst, protos, span)
    if dst is None:
        out = {"from": src, "agree": agree(answers),
               "places": [place_json(a) for a in answers]}
        _write(out, as_json, lambda: _text_all(src, answers, out["agree"]))
        return 0
    verdict = Verdict(answers)
    if not verdict.ok and fix:
        find_fix(topo, src, dst, verdict, protos, span, None, before=r)
    fx = verdict.effects
    out = {"from": src, "to": dst, "reaches": verdict.ok, "agree": agree(answers),
           "places": [place_json(a) for a in answers], "fix": [str(f) for f in verdict.fixes],
           "fix_verified": verdict.fix_verified, "fix_note": verdict.fix_note,
           "fix_also_opens": fx.opens if fx else [], "fix_closes": fx.closes if fx else [],
           "fix_sources_checked": fx.sources if fx else 0}
    _write(out, as_json, lambda: _text_to(src, dst, verdict))
    return 0 if verdict.ok else 1


def _who(r: Reach, dst: str, protos, span, as_json: bool) -> int:
    rows = who_reaches(r, dst, protos, span)
    out = {"to": dst, "sources": [{"from": n, **place_json(a)} for n, a in rows]}
    _write(out, as_json, lambda: _text_who(dst, rows))
    return 0 if rows else 1


def _write(out: dict, as_json: bool, text) -> None:
    sys.stdout.write(json.dumps(out, indent=2) + "\n" if as_json else text())


# ---- text ------------------------------------------------------------------------------
def _place(a: Answer) -> str:
    s = a.source
    where = f" in {s.subnet} ({s.az})" if s.subnet else ""
    return f"{s.text}{where} from {s.ip}"


def _rows(rows: list[dict], indent: str) -> list[str]:
    out = []
    for x in rows:
        ports = "echo" if x["ports"] == "echo" else f"ports {x['ports']}"
        client = f" (client ports {x['client_ports']})" if x["client_ports"] else ""
        out.append(f"{indent}{x['protocol']} {ports} to {x['destinations']}{client}")
    return out


def _path(path: list[dict]) -> str:
    return " > ".join(h["node"] + (f" [{h['rule']}]" if h.get("rule") else "")
                      for h in path)


def _reached(a: Answer, lines: list[str]) -> None:
    for r in a.reached:
        lines.append(f"  reaches {r.node}")
        lines += _rows(describe(r.full), "    ")
        if r.partial:
            lines.append("    partial (replies pass for some translated ports only):")
            lines += _rows(describe(r.partial), "      ")
        lines.append(f"    path: {_path(r.path)}")


def _text_all(src: str, answers: list[Answer], same: bool) -> str:
    lines = []
    if len(answers) > 1:
        lines.append(f"{src}: {len(answers)} subnets, "
                     + ("all reach the same" if same else "they DISAGREE"))
    for a in answers:
        lines.append(f"from {_place(a)}:")
        _reached(a, lines)
        if not a.reached:
            lines.append("  reaches nothing with its replies back")
    return "\n".join(lines) + "\n"


def _text_to(src: str, dst: str, v: Verdict) -> str:
    lines = []
    for a in v.answers:
        lines.append(f"from {_place(a)}:")
        if a.boxes():
            _reached(a, lines)
        else:
            lines.append(f"  does not reach {dst} with its replies back")
        for b in blocks(a)[:3]:
            what = "reply dropped" if b["leg"] == "reply" else "dropped"
            rule = f", {b['rule']}" if b["rule"] else ""
            lines.append(f"  {what} at {b['at']}: {b['reason']}{rule}")
            lines += _rows(describe(b["boxes"]), "    ")
    if v.fixes:
        status = "verified: reach walked again, the pair reaches" if v.fix_verified \
            else "not verified"
        if v.fix_verified and v.effects is not None:
            status += ", nothing that reached is lost, " + (
                "and it opens more (below)" if v.effects.opens else "nothing else opens")
        lines.append(f"fix ({status}):")
        lines += [f"  {f}" for f in v.fixes]
        if v.effects is not None:
            lines += [f"  {line}" for line in v.effects.lines()]
        if not v.fix_verified and v.fix_note and not (v.effects and v.effects.closes):
            lines.append(f"  why: {v.fix_note}")      # (what it closes is listed above)
    elif v.fix_note:
        lines.append(f"no fix: {v.fix_note}")
    return "\n".join(lines) + "\n"


def _text_who(dst: str, rows: list) -> str:
    if not rows:
        return f"nothing reaches {dst} with its replies back\n"
    lines = [f"who reaches {dst}:"]
    for _, a in rows:
        lines.append(f"from {_place(a)}:")
        _reached(a, lines)
    return "\n".join(lines) + "\n"


# ---- diff --------------------------------------------------------------------------------
def run_diff(before_path, after_path, src: str | None, as_json: bool,
             flowlogs: list | None = None) -> int:
    """The symbolic diff; with `flowlogs`, then the recorded flows whose verdict changes
    (netemu.apps.flowlog_diff). Exit 1 when either says something that worked stops."""
    before, after = _load(before_path), _load(after_path)
    if src:             # a source neither topology knows is a typo, not "no change"
        from netemu.apps.flowlog_diff import source_addresses
        source_addresses([before, after], src)
    changes = diff(before, after, [src] if src else None)
    lost = any(c["lost_count"] for c in changes)
    flows = None
    if flowlogs:
        from netemu.apps import flowlog_diff
        flows = flowlog_diff.flowlog_diff(before, after, flowlogs, src)
    out = {"changes": changes, "lost": lost}
    if flows is not None:
        out["flowlogs"] = flows
    if as_json:
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stdout.write(_text_diff(changes))
        if flows is not None:
            sys.stdout.write("\n" + flowlog_diff.text(flows))
    return 1 if lost or (flows and flows["now_rejected"]["flows"]) else 0


def _text_diff(changes: list[dict]) -> str:
    if not changes:
        return "no change in what any source reaches\n"
    lines = []
    for c in changes:
        where = f" in {c['subnet']}" if c["subnet"] else ""
        lines.append(f"{c['source']}{where}:")
        for word in ("lost", "gained"):
            if c[word]:
                lines.append(f"  {word}:")
                lines += _rows(c[word], "    ")
        for side in ("before", "after"):
            for w in c[side]:
                if "reaches" in w:
                    lines.append(f"  {side}: reaches {w['reaches']} by "
                                 + "; ".join(w["rules"]))
                else:
                    rule = f", {w['rule']}" if w["rule"] else ""
                    lines.append(f"  {side}: {w['leg']} dropped at {w['blocked_at']}: "
                                 f"{w['reason']}{rule}")
    return "\n".join(lines) + "\n"

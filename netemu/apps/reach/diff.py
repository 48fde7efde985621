"""What a change opens and closes: reach from every source on both topologies, and per
(source, place, destination node) the requests gained and lost, with the deciding rows
of the path on each side."""

from __future__ import annotations

from netemu.apps.reach.answers import blocks
from netemu.apps.reach.boxes import Box, size, subtract
from netemu.apps.reach.query import Answer, Reach, describe


def _key(a: Answer) -> tuple:
    return (a.source.text, a.source.subnet)


def _rules(path: list[dict]) -> list[str]:
    return [h["rule"] for h in path if h.get("rule")]


def _where(a: Answer, boxes: list[Box]) -> list[dict]:
    """For the requests `boxes`, the paths of `a` that carry them (reached) or stop them
    (blocked), with their deciding rules."""
    out = []
    for r in a.reached:
        part = [x for x in (r.full + r.partial) if not subtract([x], boxes) == [x]]
        if part:
            out.append({"reaches": r.node, "rules": _rules(r.path + r.reply_path)})
    for b in blocks(a):
        if any(subtract([x], boxes) != [x] for x in b["boxes"]):
            out.append({"blocked_at": b["at"], "leg": b["leg"], "reason": b["reason"],
                        "rule": b["rule"],
                        "passed": _rules(b.get("request_path", []) + b["path"][:-1])})
    return out[:6]


def diff(before, after, sources: list[str] | None = None) -> list[dict]:
    """[{source, subnet, gained, lost, before, after}] for every place whose reach
    changed. `sources`: given ones, else every source of either topology."""
    rb, ra = Reach(before), Reach(after)
    names = sources or list(dict.fromkeys(rb.every_source() + ra.every_source()))
    out = []
    for name in names:
        try:
            old = {_key(a): a for a in rb.reach(name)}
        except Exception:       # not in the topology before: everything is gained
            old = {}
        try:
            new = {_key(a): a for a in ra.reach(name)}
        except Exception:
            new = {}
        for key in dict.fromkeys(list(old) + list(new)):
            a, b = old.get(key), new.get(key)
            was = a.boxes() if a else []
            now = b.boxes() if b else []
            lost, gained = subtract(was, now), subtract(now, was)
            if not lost and not gained:
                continue
            out.append({"source": key[0], "subnet": key[1],
                        "gained": describe(gained), "lost": describe(lost),
                        "gained_count": size(gained), "lost_count": size(lost),
                        **_responsible(_where(a, lost + gained) if a else [],
                                       _where(b, lost + gained) if b else [])})
    return out


def _responsible(before: list[dict], after: list[dict]) -> dict:
    """Each side's paths with only the rows that differ from the other side's: the rule
    or route responsible."""
    def rules(side):
        return {r for w in side for r in (w.get("rules") or []) + (w.get("passed") or [])
                + [w.get("rule")] if r}
    old, new = rules(before), rules(after)
    for w, other in [(w, new) for w in before] + [(w, old) for w in after]:
        if "rules" in w:
            w["rules"] = [r for r in dict.fromkeys(w["rules"]) if r not in other]
        w.pop("passed", None)
    return {"before": before, "after": after}

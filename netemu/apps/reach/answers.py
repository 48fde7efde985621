"""The answers `netemu reach` gives: everything a source reaches, whether it reaches one
destination (the blocking hop, rule and reason when not, and a fix verified by walking
again), and every source that reaches a destination."""

from __future__ import annotations

from dataclasses import dataclass, field

from netemu.apps.reach.boxes import O_DPORT, O_DST, O_SPORT, PROTO, Box, size
from netemu.apps.reach.effects import Effects, effects, pair_requests
from netemu.apps.reach.query import Answer, Reach, describe
from netemu.model.topology import Topology
from netemu.packet import ICMP, protocol_name

MAX_FIXES = 4


def place_json(a: Answer) -> dict:
    s = a.source
    return {"source": s.text, "ip": str(s.ip), "what": s.label, "subnet": s.subnet,
            "az": s.az, "client_ports": f"{a.sports[0]}-{a.sports[1]}",
            "reaches": [{"node": r.node, "kind": r.kind, "packets": describe(r.full),
                         "partial": describe(r.partial), "path": r.path,
                         "reply_path": r.reply_path} for r in a.reached],
            "blocked": [blocked_json(b) for b in blocks(a)]}


def blocked_json(b: dict) -> dict:
    return {"leg": b["leg"], "at": b["at"], "reason": b["reason"], "rule": b["rule"],
            "packets": describe(b["boxes"]), "path": b["path"]}


def blocks(a: Answer) -> list[dict]:
    """Drops merged per (leg, hop, reason, rule), the ones that got furthest first."""
    out: dict = {}
    for b in a.blocked:
        key = (b["leg"], b["at"], b["reason"], b["rule"])
        if key in out:
            out[key]["boxes"] = out[key]["boxes"] + b["boxes"]
        else:
            out[key] = dict(b)
    return sorted(out.values(), key=lambda b: (-len(b["path"]) - (100 if b["leg"] == "reply"
                                                                   else 0), b["at"]))


def reached(a: Answer) -> list[Box]:
    return a.boxes() + a.boxes(partial=True)


def agree(answers: list[Answer]) -> bool:
    """Do all the places of a source (a function's subnets) reach the same requests?"""
    def key(a):
        return sorted(str(describe(r.full)) + r.kind for r in a.reached)
    return all(key(a) == key(answers[0]) for a in answers)


# ---- one destination -------------------------------------------------------------------
@dataclass
class Verdict:
    answers: list[Answer]
    fixes: list[str] = field(default_factory=list)
    fix_verified: bool | None = None
    fix_note: str | None = None
    effects: Effects | None = None     # what the fix opens and closes besides the pair

    @property
    def ok(self) -> bool:
        """Something of the asked protocols and ports gets there with its replies back,
        from every place the source sends from (a function: every subnet, as trace)."""
        return all(a.boxes() for a in self.answers)


def representative(a: Answer) -> tuple | None:
    """One concrete request the headline block stops: (proto, dst, dport, sport)."""
    bl = blocks(a)
    if not bl:
        return None
    b = bl[0]["boxes"][0]
    return (b.iv[PROTO][0], b.iv[O_DST][0], b.iv[O_DPORT][0], b.iv[O_SPORT][0])


def find_fix(topo: Topology, src: str, dst: str, verdict: Verdict, protos, ports,
             sports, before: Reach | None = None) -> None:
    """trace's fix for one concrete request the block stops, applied to the topology,
    checked by walking again: the pair then reaches from every place, nothing any source
    reached is lost, and what else it opens is listed (effects.py)."""
    from netemu.apps.fix import _change_for
    from netemu.apps.trace import trace
    from netemu.errors import InputError
    failing = next((a for a in verdict.answers if not a.boxes()), None)
    rep = representative(failing) if failing else None
    if rep is None:
        verdict.fix_note = "nothing of the asked protocols and ports leaves the source"
        return
    proto, ip, dport, sport = rep
    fixed, texts = topo, []
    for _ in range(MAX_FIXES):
        try:
            t = trace(fixed, src, str(_ip(ip)), protocol_name(proto),
                      dport if proto != ICMP else 0, sport if proto != ICMP else 40000,
                      fix=False)
        except InputError as exc:       # a source trace cannot send from (the internet)
            verdict.fix_note = f"trace cannot search a fix here: {exc.message}"
            return
        results = t.subnets or [t]
        bad = next((r for r in results if not r.ok), None)
        if bad is None:
            break
        change = _change_for(fixed, bad, bad.failed)
        if change is None:
            verdict.fix_note = f"trace finds no configuration change for {bad.failed.reason}"
            return
        text, fixed = change
        texts.append(text)
    after = Reach(fixed)
    again = after.reach(src, dst, protos, ports, sports)
    verdict.fixes = texts
    verdict.fix_verified = bool(texts) and all(a.boxes() for a in again)
    if not verdict.fix_verified:
        verdict.fix_note = "the change trace proposes does not make the pair reach"
        return
    before = before or Reach(topo)
    verdict.effects = effects(before, after, pair_requests(before, src, dst, protos, ports))
    if verdict.effects.closes:
        verdict.fix_verified = False
        verdict.fix_note = "the change closes what reached before: " + "; ".join(
            line.partition(": ")[2] for line in verdict.effects.lines()
            if line.startswith("closes"))


def _ip(v: int):
    import ipaddress
    return ipaddress.IPv4Address(v)


def who_reaches(r: Reach, dst: str, protos, ports) -> list[tuple[str, Answer]]:
    """(source, place's answer) for every place of every source that reaches `dst` with
    its replies back (`reach --to` alone)."""
    from netemu.errors import InputError
    rows = []
    for name in r.every_source():
        try:
            answers = r.reach(name, dst, protos, ports)
        except InputError:
            continue             # a source that cannot resolve the name reaches nothing
        rows += [(name, a) for a in answers if a.boxes()]
    return rows


def who_json(rows: list[tuple[str, Answer]]) -> list[dict]:
    return [{"source": text, **place_json(a)} for text, a in rows]


def count(boxes: list[Box]) -> int:
    return size(boxes)

"""What a fix opens and closes besides what it is for: reach walked on the topology before
and after the change, for every source, over the requests the change can touch
(scope.py), compared per source. A function counts what it reaches from every subnet it
sends from (an invocation lands in any of them), as `reach --to` does; as there, a
request counts when it is answered whatever port a translator picks (a `partial` one,
answered for some picks only, neither opens nor closes).

A fix is verified when the pair reaches, nothing is lost, and whatever else it opens is
said beside it."""

from __future__ import annotations

from dataclasses import dataclass, field

from netemu.apps.reach.boxes import Box, size, subtract
from netemu.apps.reach.query import Reach, describe, public_space
from netemu.apps.reach.scope import merge, scope
from netemu.errors import InputError


@dataclass
class Effects:
    opens: list[dict] = field(default_factory=list)     # {source, packets}
    closes: list[dict] = field(default_factory=list)
    sources: int = 0                                    # sources walked (of `of`)
    of: int = 0

    def lines(self) -> list[str]:
        """For people: one line per source and row of requests."""
        out = []
        for word, rows in (("also opens", self.opens), ("closes", self.closes)):
            for r in rows:
                out += [f"{word}: {r['source']} -> {_row(p)}" for p in r["packets"]]
        return out


def _row(x: dict) -> str:
    ports = "echo" if x["ports"] == "echo" else f"ports {x['ports']}"
    return f"{x['protocol']} {ports} to {x['destinations']}"


def effects(before: Reach, after: Reach, pair: dict[str, list[Box]]) -> Effects:
    """`pair`: per source name, the requests the fix is for (not side effects)."""
    sc = scope(before.topo, after.topo)
    after.walker.like = after.walker.like or before.walker
    names = list(dict.fromkeys(before.every_source() + after.every_source()))
    out = Effects(of=len(names))
    for name in names:
        pb, pa = _places(before, name), _places(after, name)
        spans = merge([sp for r, ps in ((before, pb), (after, pa)) for p in ps
                       for sp in _spans(r, p, sc, name)])
        if not spans:
            continue
        out.sources += 1
        old, new = _reaches(before, name, pb, spans), _reaches(after, name, pa, spans)
        gained = subtract(subtract(new, old), pair.get(name, []))
        lost = subtract(old, new)
        if size(gained):
            out.opens.append({"source": name, "packets": describe(gained)})
        if size(lost):
            out.closes.append({"source": name, "packets": describe(lost)})
    return out


def pair_requests(r: Reach, src: str, dst: str, protos, ports) -> dict[str, list[Box]]:
    """The requests of `reach --from src --to dst`: every client port, per place's
    answer for the destination (a name may resolve differently per place)."""
    from netemu.apps.reach.query import ALL, requests
    from netemu.apps.resolve import resolve_destination
    out = []
    for place in _places(r, src):
        try:
            ip = int(resolve_destination(r.topo, dst, place).ip)
        except InputError:
            continue
        out += requests([ALL], [(ip, ip)], protos, ports, (0, 65535))
    return {src: out}


def _places(r: Reach, name: str) -> list:
    try:
        return r.sources(name)
    except InputError:          # not a source here (new or gone): it reaches nothing
        return []


def _spans(r: Reach, src, sc, name: str) -> list:
    eni = _eni(r, src)
    subnet = src.subnet or (eni.subnet if eni else None)
    ip = eni.private_ip if eni is not None else src.ip
    sender = public_space() if name == "internet" else [(int(ip), int(ip))]
    if eni is not None and eni.public_ip is not None:    # seen by its public IP outside
        sender = sender + [(int(eni.public_ip), int(eni.public_ip))]
    return sc.spans(subnet, eni.id if eni else None, src.function, sender)


def _eni(r: Reach, src):
    """The interface a place sends from: a function's environment, by its Hyperplane
    ENI in that subnet (the environment's own address is Lambda's, not the VPC's)."""
    if src.function is not None:
        env = next((e for e in r.topo.environments_of(src.function)
                    if e.subnet == src.subnet and e.eni), None)
        return r.topo.enis.get(env.eni) if env else None
    return r.topo.eni_by_ip.get((src.vpc, src.ip)) if src.vpc else None


def _reaches(r: Reach, name: str, places: list, spans: list) -> list[Box]:
    """What `name` reaches from every one of its places, among destinations `spans`."""
    common = None
    ranges = public_space() if name == "internet" else None
    for src in places:
        r.lean, was = True, r.lean
        try:
            got = r.run(src, spans, src_ranges=ranges).boxes()
        except InputError:      # a place netemu cannot send from reaches nothing
            got = []
        finally:
            r.lean = was
        common = got if common is None else subtract(common, subtract(common, got))
    return common or []

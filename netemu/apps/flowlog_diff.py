"""`netemu diff BEFORE AFTER --flowlogs FILES`: the recorded flows whose emulated verdict
a change turns, "these 1,204 flows seen yesterday would be rejected".

The same flow-log input is replayed once on each topology by the flow-log replay
(`flowlog_replay.feed_file`/`finish`: each record decided once at the ENI that logged it,
records keyed into connections across ENIs). The two replays' connections are joined by
the connection key that replay uses (the two endpoints inside the VPC in a fixed order,
with the protocol), so a connection logged at several ENIs is one flow on both sides.

A flow works when the emulation drops nothing of it either way (its request delivered
and its reply, if logged, delivered back: what `verdicts.jsonl` calls `delivered`); it
fails when any of its packets is dropped or unplaced. A flow that works before and fails
after "would be rejected" (with where it fails after: hop, resource, rule, reason); one
that fails before and works after "would now be accepted". Counts are the recorded
traffic's, from the BEFORE replay: records, and packets and bytes as the first ENI that
logged each direction counted them (the replay's own accounting).

Not compared: records that join no connection (a NAT gateway's public-side records, or
private-side ones without `pkt-*` fields: the replay checks them against an ACL only),
and connections only one side forms (a topology change that moves an ENI's address or a
NAT gateway changes what the records say); both are counted in the output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netemu.addr import in_ranges, int_to_ip
from netemu.apps import flowlog_replay
from netemu.apps import verdict_lines as vl
from netemu.apps.record_math import isum
from netemu.apps.replay import Replayer
from netemu.apps.resolve import resolve_sources
from netemu.apps.trace_core import named
from netemu.errors import InputError
from netemu.model.topology import Topology

EXAMPLES = 5
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp"}
ACTIONS = [None, "ACCEPT", "REJECT", "ACCEPT+REJECT"]
LEGS = ["request", "reply"]


@dataclass
class _Side:
    """One topology's replay of the logs: its connections as columns, in flow order."""
    replayer: Replayer
    keys: np.ndarray          # (n, 2) uint64 connection keys
    c: dict[str, np.ndarray]  # the connection table's columns
    works: np.ndarray         # nothing dropped either way
    read: int                 # records read (all of them)
    skipped: dict[str, int]   # records left out (NODATA, SKIPDATA, IPv6...)

    @property
    def replayed(self) -> int:
        return self.read - sum(self.skipped.values())


def source_addresses(topos: list[Topology], src: str) -> np.ndarray | None:
    """The addresses flow logs show a source by, in any of the topologies (a function: its
    Hyperplane ENIs' addresses, L3/F4); None for `internet` (outside every VPC)."""
    if src == "internet":
        return None
    found, errors = set(), []
    for topo in topos:
        try:
            places = resolve_sources(topo, src)
        except InputError as exc:
            errors.append(exc)
            continue
        envs = {e.ip: e for e in topo.environments.values()}
        for p in places:
            env = envs.get(p.ip) if p.function else None
            if env is None:
                found.add(int(p.ip))
            elif env.eni:
                found.add(int(topo.enis[env.eni].private_ip))
    if len(errors) == len(topos):
        raise InputError(f"--from {src!r}: {errors[0].problem}")
    return np.array(sorted(found), np.int64)


def _opened_by(side: _Side, wanted: np.ndarray | None, topos: list[Topology]) -> np.ndarray:
    """Which of a side's connections --from's source opened (`wanted` None: the internet,
    an opener outside every VPC of either topology)."""
    opener = side.c["o_src"].astype(np.int64)
    if wanted is None:
        return ~in_ranges(opener, [n for t in topos for v in t.vpcs.values() for n in v.cidrs])
    return np.isin(opener, wanted)


def _replay(topo: Topology, paths: list[Path], batch_size: int) -> _Side:
    r = Replayer(topo, observing=False)
    read, skipped = 0, {}
    for path in paths:
        if not flowlog_replay.is_flow_log(path, None):
            raise InputError("not a flow log (--flowlogs takes VPC Flow Logs: text, gzip, "
                             "an S3 export folder or Parquet)", file=str(path))
        stats = flowlog_replay.feed_file(r, path, None, batch_size)
        read += stats.records
        for reason, n in list(stats.skipped.items()) + [("NODATA", stats.nodata),
                                                        ("SKIPDATA", stats.skipdata)]:
            if n:
                skipped[reason] = skipped.get(reason, 0) + n
    flowlog_replay.finish(r)
    rr = getattr(r, "flow_logs", None)
    if rr is None:
        keys, c = np.zeros((0, 2), np.uint64), {k: np.zeros(0, t) for k, t in
                                                flowlog_replay.COLUMNS.items()}
    else:
        slots = rr.conns.alive()
        slots = slots[np.argsort(rr.conns.values["id"][slots], kind="stable")]
        keys = rr.conns.keys_of(slots)
        c = {k: col[slots] for k, col in rr.conns.values.items()}
    request = vl.fate_codes(c["fwd_ok"], c["fwd_packets"])
    reply = vl.fate_codes(c["rev_ok"], c["rev_packets"])
    c["request"], c["reply"] = request, reply
    return _Side(r, keys, c, (request <= 1) & (reply <= 1), read, skipped)


def _join(b: _Side, a: _Side) -> np.ndarray:
    """For each BEFORE connection, the index of the same connection AFTER (-1: none)."""
    n = len(b.keys)
    if n == 0 or len(a.keys) == 0:
        return np.full(n, -1, np.int64)
    _, inv = np.unique(np.concatenate([b.keys, a.keys]), axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    where = np.full(int(inv.max()) + 1, -1, np.int64)
    where[inv[n:]] = np.arange(len(a.keys))
    return where[inv[:n]]


def flowlog_diff(before: Topology, after: Topology, paths: list[Path],
                 src: str | None = None, batch_size: int = 65_536) -> dict:
    """The flows of the logs whose emulated verdict changes from BEFORE to AFTER."""
    if not paths:
        raise InputError("--flowlogs needs at least one file")
    wanted = source_addresses([before, after], src) if src else None
    b = _replay(before, paths, batch_size)
    if b.read == 0:
        raise InputError("no flow-log records in " + ", ".join(map(str, paths)))
    a = _replay(after, paths, batch_size)
    match = _join(b, a)
    keep_b = _opened_by(b, wanted, [before, after]) if src else np.ones(len(b.keys), bool)
    keep_a = _opened_by(a, wanted, [before, after]) if src else np.ones(len(a.keys), bool)
    both = (match >= 0) & keep_b
    mi = np.maximum(match, 0)
    rejected = np.flatnonzero(both & b.works & ~a.works[mi])
    accepted = np.flatnonzero(both & ~b.works & a.works[mi])
    matched_a = np.zeros(len(a.keys), bool)
    matched_a[match[match >= 0]] = True
    in_flows = isum(b.c["emu_accept"]) + isum(b.c["emu_reject"])
    return {
        "files": [str(p) for p in paths],
        "from": src,
        "records": b.read,
        "skipped": dict(sorted(b.skipped.items())),
        "records_outside_flows": b.replayed - in_flows,
        "flows": int(keep_b.sum()),
        "compared": int(both.sum()),
        "only_before": int((keep_b & (match < 0)).sum()),
        "only_after": int((keep_a & ~matched_a).sum()),
        "unchanged": int(both.sum()) - len(rejected) - len(accepted),
        "now_rejected": _group(b, a, match, rejected, after_side=True),
        "now_accepted": _group(b, a, match, accepted, after_side=False),
    }


def _places(side: _Side, i: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Where the rows `i` failed, as verdicts.jsonl blames it (the request's drop, else the
    reply's): the distinct places (a working flow's: "delivered", the rest None), and
    each row's index into them. Vectorised: the places are few, the rows may be many."""
    c, r = side.c, side.replayer
    use_rev = (c["request"][i] <= 1) & (c["reply"][i] > 1)
    fate = np.where(use_rev, c["reply"][i], c["request"][i])
    at, rule, reason = (np.where(use_rev, c[f"rev_{k}"][i], c[k][i]).astype(np.int64)
                        for k in ("at", "rule", "reason"))
    key = np.stack([use_rev, fate, at, rule, reason]).astype(np.int64)
    kinds, inverse = np.unique(key, axis=1, return_inverse=True)
    return ([_where(r, *(int(x) for x in kinds[:, k])) for k in range(kinds.shape[1])],
            inverse.reshape(-1))


def _where(r: Replayer, rev: int, fate: int, at: int, rule: int, reason: int) -> dict:
    if fate <= 1:              # nothing dropped either way
        return {"leg": None, "verdict": "delivered", "hop": None, "resource": None,
                "rule": None, "reason": None}
    resource, text, why = r._blame(at, rule, reason) if reason else (None, None, None)
    hop = None
    if at >= 0 and reason:
        hop = named(r.topo, r.dp.elements[at].name)
    return {"leg": LEGS[rev], "verdict": vl.FATES[fate], "hop": hop,
            "resource": resource if resource != "-" else None, "rule": text or None,
            "reason": why}


def _group(b: _Side, a: _Side, match: np.ndarray, rows: np.ndarray, after_side: bool) -> dict:
    """Counts, the places responsible (on AFTER for flows now rejected, on BEFORE for
    flows now accepted) and the largest flows as examples."""
    c = b.c
    records = c["emu_accept"][rows] + c["emu_reject"][rows]
    packets = c["fwd_packets"][rows] + c["rev_packets"][rows]
    nbytes = c["fwd_bytes"][rows] + c["rev_bytes"][rows]
    kinds, which = _places(a, match[rows]) if after_side else _places(b, rows)
    places = []
    for k, w in enumerate(kinds):
        m = which == k
        places.append({**w, "flows": int(m.sum()), "records": isum(records[m]),
                       "packets": isum(packets[m]), "bytes": isum(nbytes[m])})
    # most flows first; ties by packets, then by the place's texts: deterministic
    places.sort(key=lambda p: (-p["flows"], -p["packets"], [str(v) for v in p.values()]))
    order = np.lexsort((c["id"][rows], -packets))[:EXAMPLES]
    (kb, wb), (ka, wa) = _places(b, rows[order]), _places(a, match[rows[order]])
    examples = []
    for n, j in enumerate(order.tolist()):
        i = int(rows[j])
        proto = int(c["proto"][i])
        examples.append({
            "flow": int(c["id"][i]), "protocol": PROTOCOLS.get(proto, str(proto)),
            "src": int_to_ip(c["o_src"][i]), "sport": int(c["o_sport"][i]),
            "dst": int_to_ip(c["o_dst"][i]), "dport": int(c["o_dport"][i]),
            "interfaces": _interfaces(b, i),
            "recorded": ACTIONS[int(c["rec_accept"][i] > 0) + 2 * int(c["rec_reject"][i] > 0)],
            "records": int(records[j]), "packets": int(packets[j]), "bytes": int(nbytes[j]),
            "before": kb[wb[n]], "after": ka[wa[n]]})
    return {"flows": len(rows), "records": isum(records), "packets": isum(packets),
            "bytes": isum(nbytes), "by": places, "examples": examples}


def _interfaces(side: _Side, i: int) -> list[str]:
    """The ENIs whose records counted the connection's request and reply."""
    ids = side.replayer.dp.eni_ids
    seen = [int(side.c[k][i]) for k in ("fwd_eni", "rev_eni")]
    return list(dict.fromkeys(ids[e] for e in seen if 0 <= e < len(ids)))


# ---- text ------------------------------------------------------------------------------
def _n(x: int, word: str) -> str:
    return f"{x:,} {word}" + ("" if x == 1 else "s")


def _tuple(x: dict) -> str:
    if x["protocol"] in ("tcp", "udp"):
        return f"{x['protocol']} {x['src']}:{x['sport']} -> {x['dst']}:{x['dport']}"
    return f"{x['protocol']} {x['src']} -> {x['dst']}"


def _failure(w: dict) -> str:
    if w["leg"] is None:
        return "delivered"
    where = f" at {w['hop']}" if w["hop"] else ""
    why = f": {w['reason']}" if w["reason"] else ""
    rule = f", {w['rule']}" if w["rule"] else ""
    return f"{w['leg']} {w['verdict']}{where}{why}{rule}"


def text(out: dict) -> str:
    noun = "file" if len(out["files"]) == 1 else "files"
    lines = [f"flow logs ({len(out['files'])} {noun}): {_n(out['records'], 'record')}, "
             f"{_n(out['flows'], 'flow')}" + (f" from {out['from']}" if out["from"] else "")
             + f", {out['compared']:,} compared, {out['unchanged']:,} unchanged"]
    notes = []
    if out["skipped"]:
        notes.append("skipped " + ", ".join(f"{n:,} {k}" for k, n in out["skipped"].items()))
    if out["records_outside_flows"]:
        notes.append(f"{_n(out['records_outside_flows'], 'record')} in no flow (NAT gateway "
                     "records naming no inside address)")
    if out["only_before"] or out["only_after"]:
        notes.append(f"{_n(out['only_before'], 'flow')} only before, "
                     f"{out['only_after']:,} only after (the topologies tie records "
                     "into connections differently)")
    lines += [f"  not compared: {x}" for x in notes]
    for key, head, side in (("now_rejected", "would be rejected after the change", "after"),
                            ("now_accepted", "would now be accepted", "before")):
        g = out[key]
        if not g["flows"]:
            lines.append(f"no flow seen in the logs {head}")
            continue
        lines.append(f"{_n(g['flows'], 'flow')} seen in the logs {head} "
                     f"({_n(g['records'], 'record')}, {_n(g['packets'], 'packet')}, "
                     f"{_n(g['bytes'], 'byte')}):")
        for p in g["by"]:
            lines.append(f"  {_n(p['flows'], 'flow')}, {side}: {_failure(p)}")
        for x in g["examples"]:      # where each failed, when the places are several
            lines.append(f"  e.g. {_tuple(x)}, recorded {x['recorded'] or '-'}, "
                         f"{_n(x['records'], 'record')}, {_n(x['packets'], 'packet')}"
                         + (f", at {', '.join(x['interfaces'])}" if x["interfaces"] else "")
                         + (f"; {side}: {_failure(x[side])}" if len(g["by"]) > 1 else ""))
    return "\n".join(lines) + "\n"


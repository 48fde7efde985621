"""Rules that can never match, like Batfish's filterLineReachability, computed exactly
over boxes. A network ACL entry (N3, first match) never matches when the entries before
it cover it. A security-group rule (S1, any match) is redundant when the other rules of
its group, in the same direction, cover it (those already found redundant excepted, so
that of two equal rules one is kept)."""

from __future__ import annotations

from netemu.apps.fix_format import Change, FixText
from netemu.apps.lint.boxes import acl_box, intersect, minus, sg_boxes
from netemu.apps.lint.registry import Finding, check

_EXACT = ("verified by interval analysis: no packet's decision changes without it (the "
          "rule is never the first match / always matched by another rule)")


@check("NETEMU-N3", "warning", "Network ACL rule that can never match", "N3", "N2")
def acl_shadowed(ctx):
    for aid in sorted(ctx.topo.network_acls):
        acl = ctx.topo.network_acls[aid]
        for egress in (False, True):
            entries = sorted(acl.direction(egress), key=lambda e: e.number)
            boxes = [acl_box(e) for e in entries]
            for i, e in enumerate(entries):
                if e.number == 32767 or minus([boxes[i]], boxes[:i]):
                    continue
                before = [entries[j] for j in range(i) if intersect(boxes[i], boxes[j])]
                conflict = [b for b in before if b.allow != e.allow]
                side = "outbound" if egress else "inbound"
                what = (f"it is shadowed by rule(s) {', '.join(str(b.number) for b in conflict)}"
                        f" that {'deny' if e.allow else 'allow'} what it would "
                        f"{'allow' if e.allow else 'deny'}" if conflict else
                        f"rule(s) {', '.join(str(b.number) for b in before)} before it "
                        "already decide the same way")
                f = Finding(
                    "NETEMU-N3", "warning",
                    f"network ACL {ctx.show(aid)} {side} rule \"{e.text}\" can never match: "
                    f"{what}", [aid],
                    "N3: rules are evaluated in ascending number and the first match "
                    "decides; a rule whose packets all match earlier rules is never used"
                    + (" (and the intent it states is not what happens)." if conflict
                       else "."), line=ctx.line(aid, "network_acls"), where=f"{side} {e.number}")
                f.fixes = [FixText(f"delete {side} rule {e.number} of network ACL "
                                   f"{ctx.show(aid)}" + (" (or renumber it below "
                                                         f"{conflict[0].number} if it states "
                                                         "the intent)" if conflict else ""),
                                   Change("delete-acl-entry", aid, e))]
                f.fix_status, f.fix_note = "verified", _EXACT
                yield f


@check("NETEMU-S1", "info", "Security-group rule covered by the group's other rules",
       "S1", "S2")
def sg_redundant(ctx):
    topo = ctx.topo
    points: dict[str, int] = {}
    for gid in sorted(topo.security_groups):
        sg = topo.security_groups[gid]
        for side, rules in (("ingress", sg.ingress), ("egress", sg.egress)):
            boxes = [sg_boxes(r, topo.prefix_lists, points) for r in rules]
            gone: set[int] = set()
            for i, rule in enumerate(rules):
                if not boxes[i]:
                    continue
                others = [b for j, bs in enumerate(boxes) if j != i and j not in gone
                          for b in bs]
                if minus(list(boxes[i]), others):
                    continue
                gone.add(i)
                f = Finding(
                    "NETEMU-S1", "info",
                    f"security group {ctx.show(gid)} {side} rule {i + 1} \"{rule.text}\" is "
                    "covered by the group's other rules", [gid],
                    "S1: a packet passes if any rule matches, so a rule whose packets all "
                    "match other rules of the group changes nothing; it counts against the "
                    "60-rule quota and hides what the group allows.",
                    line=ctx.line(gid, "security_groups"),
                    where=f"{side} {rule.text}")
                f.fixes = [FixText(f"revoke {side} rule \"{rule.text}\" of security group "
                                   f"{ctx.show(gid)}", Change("revoke-sg-rule", gid, rule))]
                f.fix_status, f.fix_note = "verified", _EXACT
                yield f

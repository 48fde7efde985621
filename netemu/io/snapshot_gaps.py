"""What a snapshot's other files name but do not describe: a VPC (describe-vpcs not
collected, or the VPC missing from it) and a security group (describe-security-groups
not collected). AWS shows such a resource by its id wherever it is used; the snapshot loads
with what the other files tell of it and a warning naming the gap, instead of refusing."""

from __future__ import annotations

import ipaddress

from netemu.model.resources import SecurityGroup


def _why(snap, key: str, command: str) -> str:
    if key not in snap.collected:
        return f"no {command} output was collected"
    return f"not in the {command} output"


def _covering(nets: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    net = nets[0]
    while not all(n.subnet_of(net) for n in nets):
        net = net.supernet()
    return net


def missing_vpcs(snap) -> None:
    """Before the VPCs are built. A VPC's CIDRs are those of the `local` routes of its route
    tables (AWS adds one per VPC CIDR, R1); without route tables, the smallest block
    holding its subnets (then the local route may be narrower or wider than the real one:
    said in the warning). A VPC known only from groups or ACLs carries no traffic here:
    those are left out and listed."""
    named: dict[str, str] = {}                      # VPC -> the first file naming it
    for raw in (snap.subnet_raw, snap.rt_raw, snap.acl_raw, snap.sg_raw):
        for obj, file in raw.values():
            vid = obj.get("VpcId")
            if isinstance(vid, str) and vid and vid not in snap.vpc_raw:
                named.setdefault(vid, file)
    why = _why(snap, "Vpcs", "describe-vpcs")
    for vid, file in sorted(named.items()):
        local = [(str(r["DestinationCidrBlock"]), rid, f)
                 for rid, (obj, f) in snap.rt_raw.items() if obj.get("VpcId") == vid
                 for r in obj.get("Routes") or []
                 if r.get("GatewayId") == "local" and r.get("DestinationCidrBlock")]
        if local:
            texts = list(dict.fromkeys(c for c, _, _ in local))
            for text, rid, f in local:
                snap.net(text, f, rid, "local route")
            source = f"the local routes of {', '.join(dict.fromkeys(r for _, r, _ in local))}"
        else:
            nets = [snap.net(obj.get("CidrBlock"), f, sid, "subnet CIDR")
                    for sid, (obj, f) in snap.subnet_raw.items()
                    if obj.get("VpcId") == vid and obj.get("CidrBlock")]
            if not nets:
                _leave_out(snap, vid, why)
                continue
            texts = [str(_covering(nets))]
            source = ("the smallest block holding its subnets (no route table shows its "
                      "local route, so its real CIDR may differ)")
        snap.vpc_raw[vid] = ({"VpcId": vid, "CidrBlock": texts[0],
                              "CidrBlockAssociationSet": [{"CidrBlock": c} for c in texts]},
                             file)
        snap.warnings.append(f"VPC {vid} is not in the snapshot ({why}): CIDR "
                             f"{', '.join(texts)} from {source}; DNS resolution by the "
                             "Amazon-provided resolver assumed (its DHCP options are unknown)")


def _leave_out(snap, vid: str, why: str) -> None:
    gone = []
    for raw, what in ((snap.acl_raw, "network ACL"), (snap.sg_raw, "security group")):
        for rid in [r for r, (obj, _) in raw.items() if obj.get("VpcId") == vid]:
            del raw[rid]
            gone.append(f"{what} {rid}")
    snap.unmodelled.append(f"VPC {vid} is not in the snapshot ({why}) and holds no subnet "
                           f"or route table here: {', '.join(gone)} left out")


def missing_groups(snap) -> None:
    """After everything else is built, when describe-security-groups was not collected.
    A group that interfaces, functions, endpoints or other groups' rules name is emulated
    with no rules: nothing it guards passes until its rules are collected. Its members are
    still known (the interfaces list it), so rules elsewhere that name it keep their
    meaning. (With the file collected, a group absent from it is a wrong id, refused as
    AWS refuses it: InvalidSecurityGroupIDException, L8.)"""
    if "SecurityGroups" in snap.collected:
        return
    known = {g.id for g in snap.out["security_groups"]}
    vpc_of_subnet = {s.id: s.vpc for s in snap.out["subnets"]}
    users: dict[str, list[str]] = {}
    vpc: dict[str, str] = {}

    def need(gid: str, user: str, where: str | None) -> None:
        if gid in known:
            return
        users.setdefault(gid, []).append(user)
        if where:
            vpc.setdefault(gid, where)

    for eni in snap.out["enis"]:
        for gid in eni.security_groups:
            need(gid, f"network interface {eni.id}", vpc_of_subnet.get(eni.subnet))
    for fn in snap.out["functions"]:
        where = next((vpc_of_subnet[s] for s in fn.subnets if s in vpc_of_subnet), None)
        for gid in fn.security_groups:
            need(gid, f"Lambda function {fn.id}", where)
    for ep in snap.out["endpoints"]:
        for gid in ep.security_groups:
            need(gid, f"VPC endpoint {ep.id}", ep.vpc)
    for sg in snap.out["security_groups"]:
        for rule in sg.ingress + sg.egress:
            if rule.peer_kind == "sg":
                need(rule.peer, f"security group {sg.id}", sg.vpc)
    names = {str(g["GroupId"]): g.get("GroupName") for obj, _ in snap.eni_raw.values()
             for g in obj.get("Groups") or [] if isinstance(g, dict) and g.get("GroupId")}
    why = "no describe-security-groups output was collected"
    for gid, who in sorted(users.items()):
        if gid not in vpc:          # named only by users that are themselves unplaced
            continue
        name = names.get(gid)
        shown = ", ".join(list(dict.fromkeys(who))[:5]) + (
            f" and {len(set(who)) - 5} more" if len(set(who)) > 5 else "")
        snap.add("security_groups", SecurityGroup(gid, vpc[gid], (), (),
                                                  str(name) if name else None),
                 snap.where.get(who[0].rsplit(" ", 1)[-1], ""))
        snap.warnings.append(f"security group {gid}{f' ({name})' if name else ''} is not in "
                             f"the snapshot ({why}): used by {shown}; emulated with no rules, "
                             "so nothing passes it in either direction until its rules are "
                             "collected")

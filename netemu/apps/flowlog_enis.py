"""Which ENI logged a flow-log record, which way it went there, and the connection's
addresses inside the VPC (F2, F4).

An `interface-id` in the topology names its ENI. Production logs carry ids a hand-written
topology does not know (netemu makes up the ids of the ENIs AWS adds), so an unknown id is
learnt from its records as they arrive: the ENI whose address is in every one of them (an
ENI logs only traffic to or from itself; a NAT gateway's logs it with the gateway's own
address, F4). v5's `flow-direction` names the side outright. Otherwise no ENI is named
and a record is checked against the whole path."""

from __future__ import annotations

import numpy as np

from netemu.addr import in_ranges
from netemu.model.resources import LAMBDA, NAT_ENI


class LoggingEnis:
    """The topology's ENIs as flow logs name them, and what each interface id is."""

    def __init__(self, dp) -> None:
        topo = dp.topo
        self.dp = dp
        enis = [topo.enis[e] for e in dp.eni_ids]
        self.n = len(enis)                                # index n: "no ENI"
        self.ip = np.array([int(e.private_ip) for e in enis] + [-1], np.int64)
        self.nat = np.array([e.kind == NAT_ENI and e.attached_to in topo.nat_gateways
                             for e in enis] + [False])
        self.is_lambda_eni = np.array([e.kind == LAMBDA for e in enis] + [False])
        self.vpc = [topo.vpcs[topo.subnets[e.subnet].vpc].cidrs for e in enis]
        self.iface: dict[str, int] = {}                   # interface id -> ENI (-1 none)
        self.cand: dict[str, tuple[int, int]] = {}        # still two ENIs possible

    def is_lambda(self, ips: np.ndarray) -> np.ndarray:
        """Addresses of Lambda Hyperplane ENIs."""
        e = self.dp.eni_anywhere(np.asarray(ips).astype(np.uint32))
        return self.is_lambda_eni[np.where(e >= 0, e, self.n)]

    def resolve(self, rec: np.ndarray, strings: list[str], c: dict) -> tuple[np.ndarray,
                                                                              np.ndarray]:
        """Per record, the ENI index that logged it (-1: none named) and whether it left
        that ENI (egress: the ENI's address is the source) or arrived there."""
        dp = self.dp
        s_eni = dp.eni_anywhere(c["src"].astype(np.uint32))
        d_eni = dp.eni_anywhere(c["dst"].astype(np.uint32))
        ids = rec["interface_id"]
        uniq, first, inv = np.unique(ids, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        # per distinct interface id (Python per id, arrays per record): the ENI it names,
        # else the candidates its records so far have in common
        per_id = np.full(len(uniq) + 1, -1, np.int64)
        cand = np.full((len(uniq) + 1, 2), -1, np.int64)
        texts = [strings[i] if i >= 0 else None for i in uniq.tolist()]
        learn = np.zeros(len(uniq) + 1, bool)
        for u, text in enumerate(texts):
            if text is None:
                continue
            if text in dp.eni_index:
                per_id[u] = dp.eni_index[text]
            elif text in self.iface:
                per_id[u] = self.iface[text]
            else:
                learn[u] = True
                cand[u] = self.cand.get(text, (s_eni[first[u]], d_eni[first[u]]))
        if learn.any():
            self._learn(texts, learn, cand, per_id, inv, s_eni, d_eni)
        x = per_id[inv]
        direction = rec["flow_direction"]
        told = direction >= 0
        if told.any():        # v5 flow-direction names the side that logged it
            du, dinv = np.unique(direction, return_inverse=True)
            words = np.array([strings[i] if i >= 0 else "" for i in du.tolist()], object)
            dirs = words[dinv.reshape(-1)]
            out, inn = dirs == "egress", dirs == "ingress"
            x = np.where(out & (x < 0), s_eni, np.where(inn & (x < 0), d_eni, x))
        xi = np.where(x >= 0, x, self.n)
        egress = c["src"] == self.ip[xi]
        if told.any():
            egress = np.where(out, True, np.where(inn, False, egress))
        return x, egress

    def _learn(self, texts, learn, cand, per_id, inv, s_eni, d_eni) -> None:
        """Interface ids not in the topology: the ENI whose address is in every record of
        the id so far. Two left (records only between two ENIs): a NAT gateway's ENI if
        one is (traffic to a gateway's own address is logged there), else none (the
        whole path is checked) until a record tells them apart."""
        for k in range(2):
            e = cand[inv, k]
            miss = (e < 0) | ((s_eni != e) & (d_eni != e))
            gone = np.bincount(inv, weights=miss, minlength=len(cand)) > 0
            cand[gone, k] = -1
        for u in np.flatnonzero(learn).tolist():
            a, b = (int(v) for v in cand[u])
            keep = sorted({v for v in (a, b) if v >= 0})
            if len(keep) == 2:
                self.cand[texts[u]] = (keep[0], keep[1])
                nat = [v for v in keep if self.nat[v]]
                per_id[u] = nat[0] if len(nat) == 1 else -1
            else:
                self.cand.pop(texts[u], None)
                per_id[u] = self.iface[texts[u]] = keep[0] if keep else -1

    def view(self, c: dict, x: np.ndarray, egress: np.ndarray) -> dict:
        """Each record as the connection's addresses inside the VPC: NAT-gateway records
        translated back with pkt-srcaddr/pkt-dstaddr where they can be."""
        vs, vd = c["src"].copy(), c["dst"].copy()
        tied = np.ones(len(vs), bool)
        xi = np.where(x >= 0, x, self.n)
        nat = self.nat[xi]
        if nat.any():
            nat_ip = self.ip[xi]
            other = np.where(egress, c["dst"], c["src"])
            inside = np.zeros(len(vs), bool)
            for e in np.unique(x[nat]).tolist():
                m = x == e
                inside[m] = in_ranges(other[m].astype(np.uint32), self.vpc[e])
            request = nat & inside & ~egress                # inside -> the gateway
            far = c["pkt_dst"]
            ok = (far >= 0) & (far != nat_ip)
            vd = np.where(request & ok, far, vd)
            reply = nat & inside & egress                   # the gateway -> inside
            far = c["pkt_src"]
            ok2 = (far >= 0) & (far != nat_ip)
            vs = np.where(reply & ok2, far, vs)
            tied = ~nat | (request & ok) | (reply & ok2)
        return {"src": vs, "dst": vd, "tied": tied}


def gateway_view(dp, hdr: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Packets seen at NAT gateways' ENIs as their flow logs show them (F4): on the private
    side the gateway's own address stands for the far end (the request in is logged to
    it, the reply out from it), as `pkt-dstaddr`/`pkt-srcaddr` would keep the original."""
    view = getattr(dp, "_gateway_view", None)
    if view is None:
        topo = dp.topo
        ip = np.full(len(dp.points) + 1, -1, np.int64)
        for g in topo.nat_gateways.values():
            if g.eni in dp.eni_index:
                ip[dp.eni_index[g.eni]] = int(g.private_ip)
        ranges = {i: topo.vpcs[topo.subnets[topo.enis[dp.eni_ids[i]].subnet].vpc].cidrs
                  for i in np.flatnonzero(ip >= 0).tolist()}
        view = dp._gateway_view = (ip, ranges)
    ip, ranges = view
    g = ip[np.where((point >= 0) & (point < len(ip) - 1), point, len(ip) - 1)]
    side = (g >= 0) & (hdr["src"] != g) & (hdr["dst"] != g)
    if not side.any():
        return hdr
    hdr = hdr.copy()
    inside = np.zeros(len(hdr), bool)
    for i, nets in ranges.items():
        m = side & (point == i)
        inside[m] = in_ranges(hdr["src"][m], nets)
    ask = side & inside                      # inside -> the far end: logged to the gateway
    hdr["dst"][ask] = g[ask]
    back = side & ~inside                    # the far end -> inside: logged from it
    hdr["src"][back] = g[back]
    return hdr

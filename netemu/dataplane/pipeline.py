"""The dataplane: elements wired from a Topology, and the loop that pushes batches
through them until every packet is delivered or dropped.

Element indices are reserved for every hop first, so each element is built knowing the
indices of its neighbours; the graph is then fixed for the life of the dataplane, while
connection tracking and NAT state carry over from batch to batch (the trace's clock)."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass

import numpy as np

from netemu.addr import PRIVATE_NETS, in_ranges
from netemu.dataplane.classify.any_match import AnyMatch
from netemu.dataplane.classify.first_match import FirstMatch
from netemu.dataplane.compile_rules import compile_acl, compile_sg
from netemu.dataplane.elements.acl import AclIn, AclOut
from netemu.dataplane.elements.base import Element, Observation, Runtime
from netemu.dataplane.elements.eni import EniIn, EniOut, SourceDestCheck
from netemu.dataplane.elements.gateways import (
    AmazonProvided,
    GatewayEndpoint,
    Internet,
    InternetGatewayIn,
    InternetGatewayOut,
    NatGatewayElement,
    PeeringElement,
    Sink,
    Unmodelled,
    _PublicMap,
)
from netemu.dataplane.elements.lambda_service import HyperplaneNat, LambdaService
from netemu.dataplane.elements.nat_instance import NatInstance
from netemu.dataplane.elements.router import Router
from netemu.dataplane.grouping import Flows, flow_groups, segments
from netemu.dataplane.packet import ACK, ICMP, IN_FLIGHT, SYN, TCP, UNPLACED, empty
from netemu.dataplane.reasons import CODE
from netemu.dataplane.state import ConnTrack, SourceNat, Timeouts
from netemu.model import aws_services
from netemu.model.resources import EC2, IGW, LAMBDA, LOCAL, NAT, NAT_ENI, OTHER, PCX, VPCE
from netemu.model.topology import Topology

# what a flow's first packet decides for all of its packets
FATE_COLUMNS = ("src", "dst", "sport", "dport", "status", "reason", "at", "rule")
LINK_LOCAL_SERVICES = ("169.254.169.253", "169.254.169.254", "169.254.169.123")
MAX_HOPS = 64


@dataclass(frozen=True)
class Settings:
    """Quotas and timeouts, each with AWS's documented default."""
    timeouts: Timeouts = Timeouts()
    hyperplane_connections: int = 65_000      # L3
    nat_connections_per_destination: int = 55_000   # G3
    seed: int = 0


class Dataplane:
    def __init__(self, topo: Topology, settings: Settings | None = None) -> None:
        self.topo = topo
        self.settings = settings or Settings()
        self.vpc_ids = sorted(topo.vpcs)
        self.vpc_index = {v: i for i, v in enumerate(self.vpc_ids)}
        self.subnet_ids = sorted(topo.subnets)
        self.subnet_index = {s: i for i, s in enumerate(self.subnet_ids)}
        self.eni_ids = sorted(topo.enis)
        self.eni_index = {e: i for i, e in enumerate(self.eni_ids)}
        self._index_addresses()
        # observation points: every ENI (same index), then every internet gateway
        self.points = self.eni_ids + sorted(topo.internet_gateways)
        self.slots: dict[tuple[str, str], int] = {}
        self._reserve()
        self.elements: list[Element] = [None] * len(self.slots)  # type: ignore[list-item]
        self._build()

    # ---- addresses -------------------------------------------------------------------
    def _index_addresses(self) -> None:
        topo = self.topo
        keys = [(self.vpc_index[topo.subnets[topo.enis[e].subnet].vpc] << 32)
                | int(topo.enis[e].private_ip) for e in self.eni_ids]
        order = np.argsort(np.array(keys, dtype=np.uint64), kind="stable")
        self._eni_keys = np.array(keys, dtype=np.uint64)[order]
        self._eni_vals = order.astype(np.int64)
        self.eni_subnet = np.array([self.subnet_index[topo.enis[e].subnet]
                                    for e in self.eni_ids], dtype=np.int64)
        self.vpc_ranges = {v: [c for c in topo.vpcs[v].cidrs] for v in self.vpc_ids}

    def eni_at(self, vpc: int, ips: np.ndarray) -> np.ndarray:
        """ENI index owning each address in one VPC, -1 for none."""
        if len(self._eni_keys) == 0 or len(ips) == 0:
            return np.full(len(ips), -1, dtype=np.int64)
        keys = (np.uint64(vpc) << np.uint64(32)) | ips.astype(np.uint64)
        pos = np.minimum(np.searchsorted(self._eni_keys, keys), len(self._eni_keys) - 1)
        return np.where(self._eni_keys[pos] == keys, self._eni_vals[pos], -1)

    def eni_anywhere(self, ips: np.ndarray) -> np.ndarray:
        """ENI owning each address in the first VPC that has one."""
        out = np.full(len(ips), -1, dtype=np.int64)
        for v in range(len(self.vpc_ids)):
            miss = out < 0
            out[miss] = self.eni_at(v, ips[miss])
        return out

    def enter_eni(self, b: np.ndarray, idx: np.ndarray, here: Element, eni: np.ndarray,
                  rt: Runtime) -> None:
        """From a gateway into a VPC: the destination subnet's inbound ACL, then the ENI."""
        rt.drop(b, idx[eni < 0], here, "UNKNOWN_DESTINATION")
        ok, eni = idx[eni >= 0], eni[eni >= 0]
        rt.forward(b, ok, here, self.acl_in[self.eni_subnet[eni]], via=self.eni_in[eni])

    # ---- the graph -------------------------------------------------------------------
    def _reserve(self) -> None:
        topo = self.topo
        self._eni_roles: set[tuple[str, str]] = set()
        keys = [("sink", "internet"), ("sink", "aws"), ("amazon", ""), ("internet", ""),
                ("lambda", "")]
        for e in self.eni_ids:
            kind = topo.enis[e].kind
            owner = ("hp" if kind == LAMBDA else
                     "nat-eni" if kind == NAT_ENI and topo.enis[e].attached_to
                     in topo.nat_gateways else "owner")
            keys += [("in", e), ("out", e)] + ([] if owner == "nat-eni" else [(owner, e)])
            self._eni_roles.add((owner, e))
        for s in self.subnet_ids:
            keys += [("router", s), ("acl-out", s), ("acl-in", s)]
        keys += [("nat", n) for n in sorted(topo.nat_gateways)]
        for g in sorted(topo.internet_gateways):
            keys += [("igw-out", g), ("igw-in", g)]
        for ep in sorted(topo.endpoints):
            keys += [("vpce", ep), ("vpce-sink", ep)]
        keys += [("pcx", p) for p in sorted(topo.peerings)]
        for rt in topo.route_tables.values():
            for r in rt.routes:
                if r.target_kind not in (LOCAL, IGW, NAT, VPCE, PCX, "network-interface") \
                        and not r.blackhole:
                    keys.append(("unmodelled", r.target))
        # a route's next hop that forwards nothing: its source/destination check
        keys += [("sdc", e) for e in self._route_target_enis()
                 if ("nat-eni", e) not in self._eni_roles and not self._forwards(e)]
        for k in keys:
            self.slots.setdefault(k, len(self.slots))

    def _route_target_enis(self) -> list[str]:
        return sorted({r.target for rt in self.topo.route_tables.values() for r in rt.routes
                       if r.target_kind == "network-interface" and not r.blackhole
                       and r.target in self.topo.enis})

    def _forwards(self, eni_id: str) -> bool:
        """An instance's interface with source/destination check off: a NAT instance."""
        eni = self.topo.enis[eni_id]
        return not eni.source_dest_check and eni.kind in (EC2, OTHER) \
            and ("owner", eni_id) in self._eni_roles

    def _add(self, key: tuple[str, str], element: Element) -> None:
        element.index = self.slots[key]
        self.elements[element.index] = element

    def _build(self) -> None:
        topo, s, st = self.topo, self.slots, self.settings
        n_eni = len(self.eni_ids)
        self.eni_in = np.array([s[("in", e)] for e in self.eni_ids], dtype=np.int64)
        self.eni_out = np.array([s[("out", e)] for e in self.eni_ids], dtype=np.int64)
        self.acl_in = np.array([s[("acl-in", x)] for x in self.subnet_ids], dtype=np.int64)
        self.acl_out = np.array([s[("acl-out", x)] for x in self.subnet_ids], dtype=np.int64)
        self.elem_subnet = np.full(len(s), -1, dtype=np.int64)
        for e, i in self.eni_index.items():
            self.elem_subnet[s[("in", e)]] = self.elem_subnet[s[("out", e)]] = self.eni_subnet[i]
        for x, i in self.subnet_index.items():
            for k in ("router", "acl-out", "acl-in"):
                self.elem_subnet[s[(k, x)]] = i

        # sinks, the internet, the Amazon-provided services, the Lambda service
        self._add(("sink", "internet"), Sink("internet-host", "internet", s[("internet", "")]))
        self._add(("sink", "aws"), Sink("aws-service", "aws-public-endpoints",
                                        s[("internet", "")]))
        self.service_addresses = np.array(
            [int(ipaddress.IPv4Address(a)) for a in LINK_LOCAL_SERVICES]
            + [int(v.resolver_ip) for v in topo.vpcs.values() if v.enable_dns_support],
            dtype=np.uint32)
        self._add(("amazon", ""), AmazonProvided(self.service_addresses, self))
        self.elements[s[("amazon", "")]].reply_from = s[("amazon", "")]   # answers itself
        public_owner = {}
        for g, igw in topo.internet_gateways.items():
            for pub in self._public_pairs(igw.vpc).public:
                public_owner[int(pub)] = s[("igw-in", g)]
        self.aws_ranges = [c for c, _ in aws_services.aws_service_ranges()]
        lambda_ip = int(aws_services.LAMBDA_PUBLIC_EGRESS.network_address + 10)
        self._add(("internet", ""), Internet(public_owner, lambda_ip, s[("lambda", "")],
                                             self.aws_ranges, s[("sink", "internet")],
                                             s[("sink", "aws")]))
        self._add(("lambda", ""), LambdaService(
            int(aws_services.LAMBDA_ENV_BASE),
            aws_services.ENVS_PER_FUNCTION, self._hyperplane_table(),
            np.array([topo.functions[f].in_vpc for f in topo.function_order], dtype=bool),
            SourceNat(lambda_ip, seed=st.seed), s[("internet", "")],
            [c for v in topo.vpcs.values() for c in v.cidrs]))
        self._build_enis()
        self._build_subnets()
        self._build_gateways()
        assert all(e is not None for e in self.elements), "an element slot was left empty"
        # where the answer to a packet delivered at each element starts (-1: by its source)
        self.reply_from = np.array([getattr(e, "reply_from", -1) for e in self.elements],
                                   dtype=np.int64)
        assert n_eni == len(self.eni_out)

    def _hyperplane_table(self) -> np.ndarray:
        """Per function, the Hyperplane element of each subnet (-1: no ENI there; -2 pads)."""
        topo = self.topo
        width = max([len(f.subnets) for f in topo.functions.values()] + [1])
        table = np.full((len(topo.functions), width), -2, dtype=np.int64)
        for i, name in enumerate(topo.function_order):
            fn = topo.functions[name]
            for j in range(len(fn.subnets)):
                eni = topo.environment(name, j).eni
                table[i, j] = self.slots[("hp", eni)] if eni else -1
        return table

    def _public_pairs(self, vpc: str | None) -> _PublicMap:
        topo = self.topo
        pairs = [(int(e.private_ip), int(e.public_ip), self.eni_index[e.id])
                 for e in topo.enis.values()
                 if e.public_ip is not None and topo.subnets[e.subnet].vpc == vpc]
        pairs += [(int(n.private_ip), int(n.elastic_ip), self.eni_index[n.eni])
                  for n in topo.nat_gateways.values()
                  if n.elastic_ip is not None and topo.subnets[n.subnet].vpc == vpc]
        return _PublicMap(sorted(pairs))

    def _build_enis(self) -> None:
        topo, s = self.topo, self.slots
        sg_cache: dict = {}

        def compiled(groups: tuple[str, ...], egress: bool):
            key = (tuple(sorted(groups)), egress)
            if key not in sg_cache:
                sg = compile_sg(topo, groups, egress)
                sg_cache[key] = (sg, AnyMatch(sg.table) if len(sg.table) else None)
            return sg_cache[key]

        self.owner_of_eni = np.zeros(len(self.eni_ids), dtype=np.int64)
        for i, e in enumerate(self.eni_ids):
            eni = topo.enis[e]
            sub = int(self.eni_subnet[i])
            track = ConnTrack(self.settings.timeouts)
            no_sg = eni.kind == NAT_ENI
            sg_out = None if no_sg else compiled(eni.security_groups, True)
            sg_in = None if no_sg else compiled(eni.security_groups, False)
            owner = self._owner_of(eni, i)
            self.owner_of_eni[i] = owner
            self._add(("out", e), EniOut(e, sub, eni.security_groups, sg_out, track,
                                         s[("router", eni.subnet)],
                                         exempt=self.service_addresses,
                                         exempt_sink=s[("amazon", "")]))
            self._add(("in", e), EniIn(e, sub, eni.security_groups, sg_in, track, owner))
            self.elements[s[("in", e)]].point = self.elements[s[("out", e)]].point = i
        self.eni_of_element = np.full(len(s), -1, dtype=np.int64)
        self.eni_of_element[self.eni_in] = np.arange(len(self.eni_ids))
        for e in self._route_target_enis():
            if ("sdc", e) in s:
                i, eni = self.eni_index[e], topo.enis[e]
                self._add(("sdc", e), SourceDestCheck(e, int(eni.private_ip),
                                                      int(self.eni_subnet[i]), s[("in", e)]))
                self.elem_subnet[s[("sdc", e)]] = self.eni_subnet[i]
                self.eni_of_element[s[("sdc", e)]] = i

    def _owner_of(self, eni, i: int) -> int:
        """The element behind an interface: Hyperplane NAT, NAT gateway or a sink."""
        s, topo = self.slots, self.topo
        if eni.kind == LAMBDA:
            hp = HyperplaneNat(eni.id, int(eni.private_ip), SourceNat(
                int(eni.private_ip), total=self.settings.hyperplane_connections,
                seed=self.settings.seed + i), s[("lambda", "")])
            hp.eni_out = s[("out", eni.id)]
            self._add(("hp", eni.id), hp)
            return hp.index
        if ("owner", eni.id) not in s:
            return s[("nat", eni.attached_to)]
        host = topo.host_by_eni.get(eni.id)
        kind = ("endpoint-service" if eni.kind == "vpc_endpoint" else
                host.kind if host else "interface")
        resource = eni.attached_to or (host.id if host else eni.id)
        if self._forwards(eni.id):
            nat = NatInstance(resource, eni.id, int(eni.private_ip), SourceNat(
                int(eni.private_ip), seed=self.settings.seed + 104_729 * (i + 1)),
                s[("out", eni.id)])
            self._add(("owner", eni.id), nat)
            return nat.index
        sink = Sink(kind, resource, s[("out", eni.id)])
        self._add(("owner", eni.id), sink)
        return sink.index

    def _build_subnets(self) -> None:
        topo = self.topo
        acl_cache: dict = {}
        for i, x in enumerate(self.subnet_ids):
            sn = topo.subnets[x]
            vpc_i = self.vpc_index[sn.vpc]
            table = topo.route_tables[sn.route_table]
            route_next = np.array([self._route_target(r) for r in table.routes] + [-1],
                                  dtype=np.int64)
            self._add(("router", x), Router(x, i, table, vpc_i, topo.prefix_lists,
                                            route_next, self))
            for egress in (True, False):
                key = (sn.acl, egress)
                if key not in acl_cache:
                    acl = compile_acl(topo.network_acls[sn.acl].entries, egress)
                    acl_cache[key] = (acl, FirstMatch(acl.table))
                acl, matcher = acl_cache[key]
                if egress:
                    self._add(("acl-out", x), AclOut(x, sn.acl, acl, matcher, i,
                                                     acl_in_of_subnet=self.acl_in,
                                                     elem_subnet=self.elem_subnet, net=self))
                else:
                    self._add(("acl-in", x), AclIn(x, sn.acl, acl, matcher, i, net=self))

    def _route_target(self, r) -> int:
        s, topo = self.slots, self.topo
        if r.blackhole or r.target_kind == LOCAL:
            return -1
        if r.target_kind == IGW:
            return s[("igw-out", r.target)]
        if r.target_kind == NAT:
            return s[("in", topo.nat_gateways[r.target].eni)]
        if r.target_kind == VPCE:
            return s[("vpce", r.target)]
        if r.target_kind == PCX:
            return s[("pcx", r.target)]
        if r.target_kind == "network-interface":
            return s.get(("sdc", r.target), s[("in", r.target)])
        return s[("unmodelled", r.target)]

    def _build_gateways(self) -> None:
        topo, s = self.topo, self.slots
        for i, (n, nat) in enumerate(sorted(topo.nat_gateways.items())):
            vpc = topo.subnets[nat.subnet].vpc
            self._add(("nat", n), NatGatewayElement(
                n, int(nat.private_ip), SourceNat(
                    int(nat.private_ip), per_destination=self.settings
                    .nat_connections_per_destination, idle=self.settings.timeouts.nat_gateway,
                    seed=self.settings.seed + 7919 * (i + 1)),
                self.vpc_index[vpc], s[("router", nat.subnet)], self.vpc_ranges[vpc],
                self.eni_index[nat.eni]))
        for g, igw in sorted(topo.internet_gateways.items()):
            pairs = self._public_pairs(igw.vpc)
            point = self.points.index(g)
            self._add(("igw-out", g), InternetGatewayOut(g, pairs, s[("internet", "")], point))
            self._add(("igw-in", g), InternetGatewayIn(g, pairs, self, point))
        for ep_id, ep in sorted(topo.endpoints.items()):
            short = aws_services.service_short_name(ep.service)
            ranges = (list(topo.prefix_lists[ep.prefix_list].cidrs) if ep.prefix_list else [])
            self._add(("vpce", ep_id), GatewayEndpoint(ep_id, ranges, ep.policy_allows,
                                                       s[("vpce-sink", ep_id)],
                                                       self.vpc_index[ep.vpc], self))
            self._add(("vpce-sink", ep_id), Sink("aws-service", f"{short} via {ep_id}",
                                                 s[("vpce", ep_id)]))
        for p, pcx in sorted(topo.peerings.items()):
            sides = [(self.vpc_index[v], self.vpc_ranges[v])
                     for v in (pcx.requester_vpc, pcx.accepter_vpc)]
            self._add(("pcx", p), PeeringElement(p, pcx.active, sides, self))
        for key in s:
            if key[0] == "unmodelled":
                self._add(key, Unmodelled(key[1]))

    # ---- running ---------------------------------------------------------------------
    def place(self, b: np.ndarray) -> None:
        """Give packets with no element yet the element their source address belongs to:
        an execution environment, an ENI, an AWS service behind a gateway endpoint, the
        Amazon-provided services, or the internet. Others are UNPLACED."""
        todo = np.flatnonzero(b["node"] < 0)
        src, dst = b["src"][todo], b["dst"][todo]
        node = np.full(len(todo), -1, dtype=np.int64)
        lambda_service = self.elements[self.slots[("lambda", "")]]
        node[lambda_service.function_of(src)[0] >= 0] = lambda_service.index
        eni = self.eni_anywhere(src)
        free = node < 0
        node[free & (eni >= 0)] = self.eni_out[eni[free & (eni >= 0)]]
        node[(node < 0) & np.isin(src, self.service_addresses)] = self.slots[("amazon", "")]
        for ep_id, ep in sorted(self.topo.endpoints.items()):
            if ep.kind != "gateway" or not ep.prefix_list:
                continue
            cidrs = self.topo.prefix_lists[ep.prefix_list].cidrs
            hit = (node < 0) & in_ranges(src, cidrs) & in_ranges(dst, self.vpc_ranges[ep.vpc])
            node[hit] = self.slots[("vpce", ep_id)]
        public = (node < 0) & ~in_ranges(src, PRIVATE_NETS)
        node[public] = self.slots[("internet", "")]
        b["node"][todo] = node
        lost = todo[node < 0]
        b["status"][lost] = UNPLACED
        b["reason"][lost] = CODE["NOT_PLACED"]

    def run(self, b: np.ndarray, *, recording: bool = False, observing: bool = False,
            weights: np.ndarray | None = None) -> Runtime:
        """Push a batch until every packet is delivered, dropped or unplaced."""
        rt = Runtime(self.elements, recording=recording, weights=weights, observing=observing)
        self.place(b)
        for _ in range(MAX_HOPS):
            live = np.flatnonzero(b["status"] == IN_FLIGHT)
            if len(live) == 0:
                return rt
            nodes = b["node"][live]
            # a stable sort of small integers is a radix sort: linear time
            order = np.argsort(nodes.astype(np.int16) if len(self.elements) < 2**15 else nodes,
                               kind="stable")
            live, nodes = live[order], nodes[order]
            cuts = np.flatnonzero(np.diff(nodes)) + 1
            for group in np.split(live, cuts):
                element = self.elements[int(b["node"][group[0]])]
                rt.in_count[element.index] += rt.packets(group)
                element.process(b, group, rt)
        live = np.flatnonzero(b["status"] == IN_FLIGHT)
        loop = Unmodelled("routing-loop")
        loop.index = -1
        rt.drop(b, live, loop, "ROUTING_LOOP")
        return rt

    @property
    def quiet(self) -> float:
        """The shortest idle timeout: no state forgets a flow silent for less."""
        return min(dataclasses.astuple(self.settings.timeouts))

    def hold(self, horizon: float) -> None:
        """Promise the stateful elements that no lookup will be earlier than `horizon`
        (they compact and sweep no further than that)."""
        states = self.__dict__.get("_states")
        if states is None:
            states = self._states = list({id(s): s for e in self.elements
                                          for s in (getattr(e, n, None) for n in (
                                              "conntrack", "nat", "public_nat"))
                                          if hasattr(s, "horizon")}.values())
        for state in states:
            state.horizon = horizon

    def run_flows(self, b: np.ndarray, *, observing: bool = False,
                  horizon: float | None = None) -> Runtime:
        """Decide per flow, account per packet: the first packet of each flow goes through
        the elements and every packet of the flow takes its fate and its translations.
        A flow idle for longer than the shortest timeout starts a new segment (so does a
        SYN after a segment without one), decided after the earlier ones, so timeouts
        inside one batch still count. Each flow's first packet carries the time of its
        segment's last (`until`): state is refreshed as by every packet of the segment.
        `horizon`: no later call holds an earlier packet (default: this batch's first)."""
        flows = flow_groups(b)
        segment = segments(flows, b["ts"], self.quiet, b["flags"], b["proto"])
        if len(b):
            self.hold(float(b["ts"].min()) if horizon is None else horizon)
        total = Runtime(self.elements, observing=observing)
        waves = int(segment.max()) + 1 if len(b) else 0
        for wave in range(waves):
            if waves > 1:
                idx = np.flatnonzero(segment == wave)
                part = flow_groups(b[idx])
            else:
                idx, part = None, flows
            sub = b if idx is None else b[idx]
            reps = sub[part.first]
            end = np.full(len(part), -np.inf)
            np.maximum.at(end, part.group, np.maximum(sub["ts"], sub["until"]))
            reps["until"] = end
            weights = np.bincount(part.group, minlength=len(part))
            rt = self.run(reps, weights=weights, observing=observing)
            for column in FATE_COLUMNS:
                if idx is None:
                    b[column] = reps[column][part.group]
                else:
                    b[column][idx] = reps[column][part.group]
            if observing:
                members = part.order if idx is None else idx[part.order]
                total.observations += [_per_packet(o, b, members, part, weights)
                                       for o in rt.observations]
            total.in_count += rt.in_count
            total.drop_count += rt.drop_count
            total.deliver_count += rt.deliver_count
        return total

    def replies(self, b: np.ndarray, delivered: np.ndarray) -> np.ndarray:
        """The answer to each delivered packet, starting where the answerer sends from."""
        r = empty(len(delivered))
        d = b[delivered]
        r["ts"] = d["ts"] + 0.001
        r["src"], r["dst"] = d["dst"], d["src"]
        r["sport"], r["dport"], r["proto"] = d["dport"], d["sport"], d["proto"]
        r["length"] = d["length"]
        r["flow"] = d["flow"]
        icmp = d["proto"] == ICMP
        r["sport"][icmp] = np.where(d["sport"][icmp] == 8, 0, d["sport"][icmp])   # echo reply
        r["dport"][icmp] = d["dport"][icmp]
        tcp = d["proto"] == TCP
        r["flags"][tcp] = np.where(d["flags"][tcp] & SYN, SYN | ACK, ACK)
        r["node"] = self.reply_from[d["at"]]
        return r


def _per_packet(o: Observation, b: np.ndarray, members: np.ndarray, flows: Flows,
                weights: np.ndarray) -> Observation:
    """An observation of flows' first packets made one of every packet of those flows:
    the point saw each packet with its flow's addresses and ports, and with its own time,
    flags and length. `members` lists the packets sorted by flow (flows.order)."""
    run_start = np.empty(len(flows), dtype=np.int64)       # flow -> where its run begins
    run_start[flows.group[flows.order][flows.start]] = np.flatnonzero(flows.start)
    count = weights[o.rows]
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    rows = members[np.repeat(run_start[o.rows], count) + offset]
    header = np.repeat(o.header, count)
    for column in ("ts", "flags", "length"):
        header[column] = b[column][rows]
    return Observation(rows, np.repeat(o.point, count), np.repeat(o.accept, count), header)

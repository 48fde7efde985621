"""Connections the environments open, per tick: through each Hyperplane ENI (65,000 each,
L3), through each NAT gateway to each destination (55,000 per destination, G3), and to
databases against max_connections, directly or through RDS Proxy's pool (L10).

Every simulated function connects to every target: per environment (opened on its cold
start and reused: environments x connections) or per invocation (concurrency x
connections). A function's connections are spread over its working subnets like its
environments are."""

from __future__ import annotations

import ipaddress
import math

import numpy as np

from netemu.apps.scale import rds
from netemu.apps.scale.network import Network, key_label, spread
from netemu.apps.scale.settings import HYPERPLANE, Database, Settings, Target
from netemu.model.topology import Topology

DB_MESSAGES = {"postgres": "FATAL: sorry, too many clients already (SQLSTATE 53300)",
               "mysql": "ERROR 1040 (08004): Too many connections"}


class Downstream:
    def __init__(self, topo: Topology, settings: Settings, net: Network, fns, dt: float
                 ) -> None:
        self.topo, self.s, self.net, self.fns, self.dt = topo, settings, net, fns, dt
        self.routes: dict[tuple[str, int], tuple[str, str | None]] = {}
        self.dbs: dict[str, tuple[Database, int, int]] = {}    # target -> (db, max, proxy cap)
        for db in settings.databases:
            maxc = db.max_connections if db.max_connections is not None else \
                rds.max_connections(db.instance_class, db.engine)
            cap = rds.proxy_limit(maxc, db.proxy_max_connections_percent) if db.proxy else maxc
            self.dbs[db.target] = (db, maxc, cap)
        self.waiting_since: dict[str, float | None] = {t: None for t in self.dbs}
        self.last: dict[tuple, int] = {}
        self.now: dict[tuple, int] = {}

    def private(self, ip: int) -> bool:
        addr = ipaddress.IPv4Address(ip)
        return addr.is_private or self.topo.vpc_of_ip(addr) is not None

    def _route(self, subnet: str, ip: int) -> tuple[str, str | None]:
        key = (subnet, ip)
        if key not in self.routes:
            self.routes[key] = self.net.route(subnet, ip)
        return self.routes[key]

    def tick(self, sim, k: int, t0: float) -> None:
        self.now: dict[tuple, int] = {}
        self._tick(sim, k, t0)
        # refused connections are a level (those failing at that second): an event when
        # the level of a (function, subnet, error) changes, not one per second
        for key, n in sorted(self.now.items(), key=lambda kv: str(kv[0])):
            if self.last.get(key) != n:
                fi, sn, error, reason = key
                sim._event(t0, fi, sn, error, reason, n)
        for key in sorted(set(self.last) - set(self.now), key=str):
            fi, sn, error, reason = key
            sim._event(t0, fi, sn, "", f"recovered: {error} ({reason})", 0)
        self.last = self.now

    def _tick(self, sim, k: int, t0: float) -> None:
        # every (target, function, subnet) with the connections it holds open
        groups: list[list] = []
        for target in self.s.targets:
            for f in self.fns:
                if not f.healthy:
                    continue
                total = int(sim.peaks[f.index, k]) if target.per_invocation else f.kept
                for sn, n in zip(f.healthy, spread(total, len(f.healthy)), strict=True):
                    if n:
                        groups.append([target, f, sn, n * target.connections])
        if sim.model == HYPERPLANE:
            self._hyperplane(sim, k, t0, groups)
        for target in self.s.targets:
            nat: dict[str, list] = {}
            reached = 0
            for target_, f, sn, c in groups:
                if target_ is not target or c == 0:
                    continue
                if not f.vpc:
                    if self.private(target.ip):     # L1: nothing private without a VPC
                        self._refuse(sim, k, t0, [(f, None, c)], c, "LAMBDA_NOT_IN_VPC",
                                     f"{f.name} has no VPC configuration: {target.name} "
                                     "is private")
                    else:
                        reached += c
                    continue
                kind, via = self._route(sn, target.ip)
                if kind == "nat":
                    if not self.net.nat_up.get(via, False):
                        self._refuse(sim, k, t0, [(f, sn, c)], c, "BAD_STATE_ROUTE",
                                     f"NAT gateway {via} lost: the route to {target.name} "
                                     "is a blackhole")
                        continue
                    nat.setdefault(via, []).append((f, sn, c))
                elif kind in ("none", "blackhole"):
                    self._refuse(sim, k, t0, [(f, sn, c)], c,
                                 "NO_ROUTE_TO_DESTINATION" if kind == "none" else
                                 "BAD_STATE_ROUTE", f"no route to {target.name}")
                else:
                    reached += c
            for gw, via_gw in sorted(nat.items()):
                total = sum(g[2] for g in via_gw)
                limit = self.s.nat_connections_per_destination
                sim.put(f"nat_ports:{gw}>{target.name}:{target.port}", k, min(total, limit))
                if total > limit:
                    self._refuse(sim, k, t0, via_gw, total - limit, "NGW_PORT_ALLOCATION",
                                 f"ErrorPortAllocation: {gw} has {limit:,} connections to "
                                 f"{target.name}:{target.port} (G3)")
                reached += min(total, limit)
            if target.name in self.dbs:
                self._database(sim, k, t0, target, reached)

    def _hyperplane(self, sim, k: int, t0: float, groups: list[list]) -> None:
        """L3: an ENI carries 65,000 connections; beyond, connections fail until Lambda
        has added another ENI for the same (subnet, SG set). Only what gets through goes
        on to NAT gateways and databases."""
        per_eni = self.s.hyperplane_connections
        by_key: dict = {}
        for g in groups:
            if g[1].vpc:
                by_key.setdefault(g[1].key(g[2]), []).append(g)
        for key in sorted(by_key, key=key_label):
            mine = by_key[key]
            conns = sum(g[3] for g in mine)
            h = self.net.hyperplane.get(key)
            avail = h.available if h else 0
            sim.put(f"eni_connections:{key_label(key)}", k, conns / max(avail, 1))
            cap = avail * per_eni
            if conns > cap:
                self._refuse(sim, k, t0, [(g[1], g[2], g[3]) for g in mine], conns - cap,
                             "LAMBDA_ENI_CONNECTION_LIMIT",
                             f"{key_label(key)} carries {per_eni:,} connections per ENI (L3)")
                kept = np.floor(np.array([g[3] for g in mine]) * cap / conns).astype(int)
                kept[int(np.argmax([g[3] for g in mine]))] += cap - int(kept.sum())
                for g, c in zip(mine, kept.tolist(), strict=True):
                    g[3] = c
            need = math.ceil(conns / per_eni)
            have = h.total if h else 0
            for _ in range(need - have):      # L3: another ENI for the same combination
                err = self.net.create(key, t0)
                f, sn = mine[0][1], mine[0][2]
                sim._event(t0, f.index, sn, err or "", "creating another Hyperplane ENI "
                           f"for {key_label(key)}" + ("" if err else ": Pending"))
                if err:
                    break

    def _database(self, sim, k: int, t0: float, target: Target, clients: int) -> None:
        db, maxc, cap = self.dbs[target.name]
        name = target.name
        sim.put(f"db_max_connections:{name}", k, maxc)
        if not db.proxy:
            sim.put(f"db_connections:{name}", k, min(clients, maxc))
            if clients > maxc:
                groups = self._groups(sim, k, target)
                self._refuse(sim, k, t0, groups, clients - maxc, "TooManyConnections",
                             f"{name} max_connections {maxc}: {DB_MESSAGES.get(db.engine, '')}"
                             .rstrip(": "))
            return
        # RDS Proxy: clients connect to the proxy; a DB connection is borrowed while an
        # invocation uses it (busy share), or held for good by a pinned session
        sim.put(f"proxy_client_connections:{name}", k, clients)
        busy = sum(int(sim.peaks[f.index, k]) for f in self.fns) * target.connections
        borrow = math.ceil(busy * db.busy_fraction) + math.ceil(clients * db.pinned_fraction)
        borrow = min(borrow, clients)
        used = min(borrow, cap)
        waiting = borrow - used
        sim.put(f"db_connections:{name}", k, used)
        sim.put(f"proxy_waiting:{name}", k, waiting)
        if waiting <= 0:
            self.waiting_since[name] = None
            return
        since = self.waiting_since[name]
        if since is None:
            self.waiting_since[name] = t0
        elif t0 + self.dt - since > db.proxy_borrow_timeout:
            self._refuse(sim, k, t0, self._groups(sim, k, target), waiting,
                         "ProxyBorrowTimeout", f"RDS Proxy for {name}: no DB connection free "
                         f"within ConnectionBorrowTimeout {db.proxy_borrow_timeout:g} s")

    def _groups(self, sim, k: int, target: Target) -> list:
        out = []
        for f in self.fns:
            total = f.kept if not target.per_invocation else int(sim.peaks[f.index, k])
            for sn, n in zip(f.healthy, spread(total, len(f.healthy)), strict=True):
                if n:
                    out.append((f, sn or None, n * target.connections))
        return out

    def _refuse(self, sim, k: int, t0: float, groups: list, count: int, error: str,
                reason: str) -> None:
        """`count` connections refused, shared over the groups by their connections."""
        sim.add(f"connection_errors:{error}", k, count)
        total = sum(g[2] for g in groups) or 1
        shares = np.floor(np.array([g[2] for g in groups]) * count / total).astype(int)
        if len(shares):
            shares[int(np.argmax([g[2] for g in groups]))] += count - int(shares.sum())
        for (f, sn, _c), n in zip(groups, shares, strict=True):
            if n > 0:
                key = (f.index, sn or None, error, reason)
                self.now[key] = self.now.get(key, 0) + int(n)

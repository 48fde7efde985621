"""The simulation: ticks of the trace clock, each admitting that tick's invocations
(admission.py), then settling environments, ENIs, addresses and downstream connections,
and writing one row of the timeline. Only errors and state changes become events."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from netemu.apps.scale import admission
from netemu.apps.scale.admission import ERRORS, REASONS, FnTick, Legacy
from netemu.apps.scale.downstream import Downstream
from netemu.apps.scale.faults import Fault
from netemu.apps.scale.load import Invocations
from netemu.apps.scale.network import (
    HyperplaneEnis,
    Key,
    Network,
    key_label,
    legacy_per_eni,
    spread,
)
from netemu.apps.scale.settings import HYPERPLANE, LEGACY, Settings
from netemu.errors import InputError
from netemu.model.topology import Topology

MAX_TICKS = 2_000_000          # the timeline holds a row per tick


@dataclass
class Fn:
    name: str
    index: int
    vpc: bool
    subnets: list[str]
    sgs: frozenset
    memory: int
    reserved: int | None
    provisioned: int
    inv: Invocations
    bounds: np.ndarray                    # arrival index at each tick edge
    state: str = "Active"
    state_error: str | None = None
    recreating: bool = False
    last_invoked: float = 0.0
    healthy: list[str] = field(default_factory=list)
    buckets: dict = field(default_factory=dict)       # end tick -> [(ends, subnet index)]
    base: int = 0
    kept: int = 0
    budget: int = 0
    window: int = -1
    rr: int = 0
    per_eni: int = 0
    stats: dict = field(default_factory=dict)

    def key(self, subnet: str) -> Key:
        return (subnet, self.sgs)


@dataclass
class Result:
    model: str
    tick: float
    duration: float
    functions: list[str]
    timeline: dict[str, np.ndarray]
    events: dict[str, np.ndarray]         # columns: t, function, subnet, error, reason, count
    summary: dict
    replay: dict | None = None
    sequential_ticks: int = 0
    trace_rows: dict = field(default_factory=dict)


class Simulation:
    def __init__(self, topo: Topology, functions: list[str], invocations: dict[str, Invocations],
                 duration: float, settings: Settings, model: str = HYPERPLANE,
                 faults: list[Fault] = (), progress: Callable[[int, int], None] | None = None,
                 fast: bool = True, record_trace: bool = False) -> None:
        self.topo, self.s, self.model = topo, settings, model
        settings.check()
        self.dt = settings.tick
        self.n = int(math.ceil(duration / self.dt - 1e-9))
        if self.n > MAX_TICKS:
            raise InputError(f"{duration:g} s in ticks of {self.dt:g} s is {self.n:,} ticks; "
                             f"netemu simulates at most {MAX_TICKS:,} (a longer tick: "
                             "--set tick=...)")
        self.duration = duration
        self.faults = sorted(faults, key=lambda f: f.at)
        self.progress, self.fast, self.record_trace = progress, fast, record_trace
        self.net = Network(topo, settings)
        self.legacy_quota = settings.legacy_eni_quota
        self.idle_ticks = max(1, int(math.ceil(settings.idle_reclaim / self.dt - 1e-9)))
        self.fns = [self._fn(i, name, invocations[name]) for i, name in enumerate(functions)]
        reserved = sum(f.reserved or 0 for f in self.fns)
        if reserved > settings.account_concurrency - settings.unreserved_minimum:
            raise InputError(f"reserved concurrency {reserved} leaves less than "
                             f"{settings.unreserved_minimum} of the account's "
                             f"{settings.account_concurrency} unreserved")
        self.pool = settings.account_concurrency - reserved
        self.peaks = np.zeros((len(self.fns), self.n), np.int64)
        self.tl: dict[str, np.ndarray] = {}
        self.codes: dict[tuple[str, str], int] = {}
        self.ev: list[tuple] = []          # chunks (t, fn, subnet, code, count)
        self.sequential_ticks = 0
        self.downstream = Downstream(topo, settings, self.net, self.fns, self.dt)
        self.trace_envs = np.zeros((len(self.fns), self.n), np.int64) if record_trace else None
        self.trace_inv: list[list] = [[] for _ in self.fns]
        self._setup_enis()
        for f in self.fns:         # provisioned environments hold their legacy ENIs from t=0
            f.healthy = self._healthy(f)
        self._legacy_enis()

    # ---- setup -----------------------------------------------------------------------
    def _fn(self, i: int, name: str, inv: Invocations) -> Fn:
        topo = self.topo
        if name not in topo.functions:
            raise InputError(f"unknown function {name!r} (the topology has "
                             f"{', '.join(sorted(topo.functions)) or 'none'})")
        lf = topo.functions[name]
        fs = self.s.function(name)
        if fs.reserved is not None and fs.reserved < 0 or fs.provisioned < 0:
            raise InputError("reserved and provisioned concurrency must be >= 0", resource=name)
        if fs.reserved is not None and fs.provisioned > fs.reserved:
            raise InputError(f"provisioned concurrency {fs.provisioned} exceeds reserved "
                             f"{fs.reserved}", resource=name)
        edges = np.arange(self.n + 1) * self.dt
        fn = Fn(name, i, lf.in_vpc, list(lf.subnets), frozenset(lf.security_groups),
                lf.memory_mb, fs.reserved, fs.provisioned, inv,
                np.searchsorted(inv.arrival, edges, side="left"))
        fn.kept = fs.provisioned
        fn.per_eni = (legacy_per_eni(lf.memory_mb, self.s.legacy_gb_per_eni)
                      if self.model == LEGACY and fn.vpc else 0)
        fn.stats = {"invocations": len(inv), "ok": 0, "cold_starts": 0,
                    "cold_start_seconds": 0.0, "errors": {}, "peak_concurrency": 0,
                    "peak_environments": fs.provisioned}
        return fn

    def _setup_enis(self) -> None:
        """Hyperplane: the topology's functions' ENIs exist (L2), except those of functions
        created at t=0 (Pending) or Inactive and sharing them with nobody active."""
        if self.model == LEGACY:
            return
        sim = {f.name: f for f in self.fns}
        live: set[Key] = set()
        for name, lf in self.topo.functions.items():
            fs = self.s.function(name)
            if lf.in_vpc and lf.role_can_manage_enis and not (
                    name in sim and (fs.new or fs.inactive)):
                live.update((sn, frozenset(lf.security_groups)) for sn in lf.subnets)
        for key in sorted(live, key=key_label):
            self.net.hyperplane[key] = HyperplaneEnis(available=1)
        for f in self.fns:
            fs = self.s.function(f.name)
            if not f.vpc:
                continue
            if not self.topo.functions[f.name].role_can_manage_enis:
                f.state, f.state_error = "Failed", "EC2AccessDeniedException"   # L12
            elif fs.inactive:
                f.state = "Inactive"
            elif fs.new:
                self._create_function_enis(f, 0.0, recreate=False)

    def _create_function_enis(self, f: Fn, now: float, recreate: bool) -> None:
        for sn in f.subnets:
            key = f.key(sn)
            h = self.net.hyperplane.get(key)
            if h is not None and h.total > 0:
                continue
            err = self.net.create(key, now)
            if err:
                self._event(now, f.index, sn, err, "creating the function's Hyperplane ENI")
                f.state, f.state_error = ("Inactive" if recreate else "Failed"), err
                return
            self._event(now, f.index, sn, "", f"Hyperplane ENI for {key_label(key)} Pending")
        f.state, f.recreating = "Pending", recreate
        self._event(now, f.index, None, "", "function Pending")

    # ---- events and timeline ---------------------------------------------------------
    def _code(self, error: str, reason: str) -> int:
        return self.codes.setdefault((error, reason), len(self.codes))

    def _event(self, t: float, fn: int, subnet: str | None, error: str, reason: str,
               count: int = 1) -> None:
        sub = -1 if subnet is None else self.net_subnet_index(subnet)
        self.ev.append((np.array([t]), np.array([fn]), np.array([sub]),
                        np.array([self._code(error, reason)]), np.array([count])))

    def net_subnet_index(self, subnet: str) -> int:
        if not hasattr(self, "_sub_index"):
            self._sub_names = sorted(self.topo.subnets)
            self._sub_index = {s: i for i, s in enumerate(self._sub_names)}
        return self._sub_index[subnet]

    def put(self, name: str, k: int, value: float) -> None:
        col = self.tl.get(name)
        if col is None:
            col = self.tl[name] = np.zeros(self.n)
        col[k] = value

    def add(self, name: str, k: int, value: float) -> None:
        col = self.tl.get(name)
        if col is None:
            col = self.tl[name] = np.zeros(self.n)
        col[k] += value

    # ---- the run ---------------------------------------------------------------------
    def run(self) -> Result:
        fault_i = 0
        step = max(1, self.n // 200)
        for k in range(self.n):
            t0, t1 = k * self.dt, (k + 1) * self.dt
            if k:
                self.net.refill(self.dt)
            while fault_i < len(self.faults) and self.faults[fault_i].at < t1:
                self._fault(self.faults[fault_i], k, t0)
                fault_i += 1
            self.net.settle(t0)
            self._tick(k, t0, t1)
            if self.progress and (k % step == 0 or k == self.n - 1):
                self.progress(k + 1, self.n)
        return self._result()

    def _states(self, f: Fn, t0: float) -> None:
        if self.model == LEGACY or not f.vpc:
            return
        if f.state == "Pending":
            hs = [self.net.hyperplane.get(f.key(sn)) for sn in f.subnets]
            if all(h is not None and h.available > 0 for h in hs if h is not None) and all(
                    h is not None for h in hs):
                f.state, f.recreating = "Active", False
                self._event(t0, f.index, None, "", "function Active")
        elif f.state == "Active" and t0 - f.last_invoked >= self.s.inactive_after:
            f.state = "Inactive"             # L9: ENIs reclaimed unless another uses them
            self._event(t0, f.index, None, "", "function Inactive")
            others = {(sn, frozenset(o.security_groups)) for n, o in self.topo.functions.items()
                      if n != f.name and o.in_vpc for sn in o.subnets}
            for sn in f.subnets:
                if f.key(sn) not in others:
                    self.net.hyperplane.pop(f.key(sn), None)

    def _refusal(self, f: Fn) -> tuple[str, str] | None:
        """Why every invocation of this tick fails, or None when it can run."""
        if self.model == HYPERPLANE and f.vpc:
            if f.state == "Inactive":
                return "ResourceNotReadyException", "function Inactive (L9)"
            if f.state == "Pending":
                return (("ResourceNotReadyException", "Hyperplane ENIs being re-created")
                        if f.recreating else
                        ("ResourceConflictException", "function Pending (L2)"))
            if f.state == "Failed":
                return f.state_error or "EC2UnexpectedException", "function Failed"
        if f.vpc and not f.healthy:
            return "ServiceException", "no subnet of the function is usable (Availability " \
                "Zone outage)"
        return None

    def _healthy(self, f: Fn) -> list[str]:
        if not f.vpc:
            return [""]
        out = []
        for sn in f.subnets:
            if not self.net.subnets[sn].up:
                continue
            if self.model == HYPERPLANE:
                h = self.net.hyperplane.get(f.key(sn))
                if h is None or h.available == 0:
                    continue
            out.append(sn)
        return out

    def _tick(self, k: int, t0: float, t1: float) -> None:
        s = self.s
        window = int(t0 // s.scale_period)
        ticks: list[FnTick] = []
        runs: list[Fn] = []
        for f in self.fns:
            self._states(f, t0)
            f.healthy = self._healthy(f)
            lo, hi = int(f.bounds[k]), int(f.bounds[k + 1])
            prior = f.buckets.pop(k, None)
            prior_ends = np.sort(np.concatenate([p[0] for p in prior])) if prior else \
                np.zeros(0)
            if window != f.window:
                f.window, f.budget = window, s.scale_step
            a, d = f.inv.arrival[lo:hi], f.inv.duration[lo:hi]
            self.put(f"invocations:{f.name}", k, hi - lo)
            if hi > lo:
                f.last_invoked = float(a[-1])
            why = self._refusal(f) if hi > lo else None
            if why is not None:
                self._refuse(f, k, a, why)
                if f.state == "Inactive" and self.model == HYPERPLANE:
                    self._create_function_enis(f, t0, recreate=True)
                a, d = a[:0], d[:0]
            ft = FnTick(a, d, prior_ends, f.base, f.kept, f.reserved, f.reserved is None,
                        f.budget, s.cold_start, [sn for sn in f.healthy], f.per_eni,
                        s.legacy_eni_latency)
            ticks.append(ft)
            runs.append(f)
        legacy = None
        if self.model == LEGACY:
            legacy = Legacy({sn: max(0, self.net.free(sn)) for sn in self.net.subnets
                             if self.net.subnets[sn].up},
                            self.legacy_quota - sum(self.net.legacy.values()), self.net.tokens)
        if not admission.admit(ticks, self.pool, t1, legacy, fast=self.fast):
            self.sequential_ticks += 1
        if legacy is not None:
            self.net.tokens = legacy.tokens
        for f, ft in zip(runs, ticks, strict=True):
            self._commit(f, ft, k, t0, t1)
        self._settle_envs(k)
        self.downstream.tick(self, k, t0)
        self._record(k)

    def _refuse(self, f: Fn, k: int, a: np.ndarray, why: tuple[str, str]) -> None:
        n = len(a)
        self.ev.append((a, np.full(n, f.index), np.full(n, -1),
                        np.full(n, self._code(*why)), np.ones(n, np.int64)))
        f.stats["errors"][why[0]] = f.stats["errors"].get(why[0], 0) + n
        self.add(f"errors:{why[0]}", k, n)
        self.add(f"failed:{f.name}", k, n)

    def _commit(self, f: Fn, ft: FnTick, k: int, t0: float, t1: float) -> None:
        ok = ft.status == 0
        n_ok = int(ok.sum())
        bad = np.flatnonzero(~ok)
        if len(bad):
            codes = ft.status[bad]
            subs = np.array([self.net_subnet_index(ft.failed_in[i]) if i in ft.failed_in
                             else -1 for i in bad.tolist()], np.int64)
            mapping = np.array([self._code(ERRORS[c], REASONS[c]) if c else -1
                                for c in range(len(ERRORS))])
            self.ev.append((ft.arrival[bad], np.full(len(bad), f.index), subs,
                            mapping[codes], np.ones(len(bad), np.int64)))
            for c, cnt in zip(*np.unique(codes, return_counts=True), strict=True):
                name = ERRORS[int(c)]
                f.stats["errors"][name] = f.stats["errors"].get(name, 0) + int(cnt)
                self.add(f"errors:{name}", k, int(cnt))
            self.add(f"failed:{f.name}", k, len(bad))
        ends = (ft.arrival + ft.duration + ft.added)[ok]
        # each invocation's subnet (round-robin over the working ones), as its position
        # in the function's own list, which outages do not reorder
        nh = max(len(ft.subnets), 1)
        where = np.array([f.subnets.index(sn) if sn in f.subnets else 0
                          for sn in ft.subnets] or [0])
        sub = where[(f.rr + np.arange(n_ok)) % nh]
        f.rr = (f.rr + n_ok) % nh
        done = ends < t1
        later = ~done
        if later.any():
            et = np.floor(ends[later] / self.dt).astype(np.int64)
            e_l, s_l = ends[later], sub[later]
            if (et == et[0]).all():
                f.buckets.setdefault(int(et[0]), []).append((e_l, s_l))
            else:
                order = np.argsort(et, kind="stable")
                et, e_l, s_l = et[order], e_l[order], s_l[order]
                cut = np.flatnonzero(np.diff(et)) + 1
                for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(et)], strict=True):
                    f.buckets.setdefault(int(et[lo]), []).append((e_l[lo:hi], s_l[lo:hi]))
        f.base = ft.base + n_ok - len(ft.prior_ends) - int(done.sum())
        self.peaks[f.index, k] = ft.peak
        cold = int(ft.cold.sum())
        f.budget -= cold
        st = f.stats
        st["ok"] += n_ok
        st["cold_starts"] += cold
        added = float(ft.added.sum())
        st["cold_start_seconds"] += added
        st["peak_concurrency"] = max(st["peak_concurrency"], ft.peak)
        self.put(f"concurrency:{f.name}", k, ft.peak)
        self.put(f"cold_starts:{f.name}", k, cold)
        self.put(f"cold_start_seconds:{f.name}", k, added)
        if self.record_trace and n_ok and len(self.trace_inv[f.index]) < self.s.trace_cap:
            self.trace_inv[f.index].append((ft.arrival[ok], ends, sub))

    def _settle_envs(self, k: int) -> None:
        """Environments kept after this tick: provisioned, or the peak of the idle window
        (older ones are reclaimed); the legacy model's ENIs follow them."""
        lo = max(0, k - self.idle_ticks + 1)
        for f in self.fns:
            f.kept = max(f.provisioned, int(self.peaks[f.index, lo:k + 1].max()))
            f.stats["peak_environments"] = max(f.stats["peak_environments"], f.kept)
            if self.trace_envs is not None:
                self.trace_envs[f.index, k] = f.kept
        self._legacy_enis()

    def _legacy_enis(self) -> None:
        """L11: each function's environments spread over its working subnets, an ENI for
        every `per_eni` of them in each subnet."""
        if self.model != LEGACY:
            return
        legacy: dict[str, int] = {}
        for f in self.fns:
            if f.per_eni and f.healthy:
                for sn, envs in zip(f.healthy, spread(f.kept, len(f.healthy)), strict=True):
                    legacy[sn] = legacy.get(sn, 0) + math.ceil(envs / f.per_eni)
        self.net.legacy = legacy

    def _fault(self, fault: Fault, k: int, t0: float) -> None:
        self._event(t0, -1, None, "", f"fault {fault.text}")
        if fault.kind == "az":
            lost = [sn for sn, s in self.net.subnets.items() if s.az == fault.target]
            for sn in lost:
                self.net.lose_subnet(sn)
            for nat in self.topo.nat_gateways.values():
                if nat.subnet in lost:
                    self.net.nat_up[nat.id] = False
            for f in self.fns:
                self._lose_environments(f, set(lost), k, t0)
        elif fault.kind == "nat":
            self.net.nat_up[fault.target] = False
        elif fault.kind == "eni-quota":
            self.net.eni_quota = self.legacy_quota = fault.value
        else:
            sn = self.net.subnets[fault.target]
            sn.filled += fault.value if fault.value is not None else max(
                0, self.net.free(fault.target))

    def _lose_environments(self, f: Fn, lost: set[str], k: int, t0: float) -> None:
        """L7: environments in the lost zone go, and the invocations running there fail."""
        old = f.healthy or [sn for sn in f.subnets if sn not in lost]
        if not f.vpc or not any(sn in lost for sn in old):
            return
        hit = [i for i, sn in enumerate(f.subnets) if sn in lost]
        failed: dict[int, int] = {}
        for tick, parts in f.buckets.items():
            kept_parts = []
            for ends, sub in parts:
                gone = np.isin(sub, hit)
                for i, n in zip(*np.unique(sub[gone], return_counts=True), strict=True):
                    failed[int(i)] = failed.get(int(i), 0) + int(n)
                if (~gone).any():
                    kept_parts.append((ends[~gone], sub[~gone]))
            f.buckets[tick] = kept_parts
        for i, n in sorted(failed.items()):
            self._event(t0, f.index, f.subnets[i], "ServiceException",
                        "Availability Zone outage: invocation lost with its environment", n)
            f.stats["errors"]["ServiceException"] = f.stats["errors"].get(
                "ServiceException", 0) + n
            f.stats["ok"] -= n
            self.add("errors:ServiceException", k, n)
            f.base -= n
        survivors = sum(n for sn, n in zip(old, spread(f.kept, len(old)), strict=True)
                        if sn not in lost)
        f.kept = max(f.provisioned, survivors)
        lo = max(0, k - self.idle_ticks)
        self.peaks[f.index, lo:k] = np.minimum(self.peaks[f.index, lo:k], survivors)
        f.rr = 0

    def _record(self, k: int) -> None:
        az_envs: dict[str, int] = {}
        for f in self.fns:
            self.put(f"environments:{f.name}", k, f.kept)
            if f.vpc:
                for sn, n in zip(f.healthy, spread(f.kept, len(f.healthy)), strict=True):
                    az = self.net.subnets[sn].az
                    az_envs[az] = az_envs.get(az, 0) + n
        for az in sorted({s.az for s in self.net.subnets.values()}):
            self.put(f"environments_az:{az}", k, az_envs.get(az, 0))
        used = set()
        for f in self.fns:
            used.update(f.subnets)
        for sn in sorted(used):
            self.put(f"free_ips:{sn}", k, max(0, self.net.free(sn)))
            if self.model == LEGACY:
                self.put(f"enis:{sn}:in-use", k, self.net.legacy.get(sn, 0))
            else:
                hs = [h for key, h in self.net.hyperplane.items() if key[0] == sn]
                self.put(f"enis:{sn}:available", k, sum(h.available for h in hs))
                self.put(f"enis:{sn}:pending", k, sum(len(h.pending) for h in hs))

    def _result(self) -> Result:
        names = {v: kv for kv, v in self.codes.items()}
        if self.ev:
            t, fn, sub, code, count = (np.concatenate([c[i] for c in self.ev])
                                       for i in range(5))
        else:
            t = fn = sub = code = count = np.zeros(0, np.int64)
        order = np.argsort(t, kind="stable")
        subnames = sorted(self.topo.subnets)
        events = {"t": t[order].astype(np.float64), "function": fn[order].astype(np.int64),
                  "subnet": sub[order].astype(np.int64), "code": code[order].astype(np.int64),
                  "count": count[order].astype(np.int64),
                  "names": [names[i] for i in range(len(names))],
                  "functions": [f.name for f in self.fns], "subnets": subnames}
        totals = {"invocations": 0, "ok": 0, "cold_starts": 0, "errors": {}}
        for f in self.fns:
            st = f.stats
            totals["invocations"] += st["invocations"]
            totals["ok"] += st["ok"]
            totals["cold_starts"] += st["cold_starts"]
            for e, n in st["errors"].items():
                totals["errors"][e] = totals["errors"].get(e, 0) + n
        summary = {"model": self.model, "duration": self.duration, "tick": self.dt,
                   "functions": {f.name: f.stats for f in self.fns}, "totals": totals,
                   "peaks": {name: float(col.max()) for name, col in sorted(self.tl.items())
                             if name.startswith(("free_ips:", "enis:", "db_", "nat_ports:",
                                                 "eni_connections:", "environments",
                                                 "proxy_"))},
                   "minimums": {name: float(col.min()) for name, col in sorted(self.tl.items())
                                if name.startswith("free_ips:")},
                   "sequential_ticks": self.sequential_ticks}
        timeline = {"t": np.arange(self.n) * self.dt, **dict(sorted(self.tl.items()))}
        return Result(self.model, self.dt, self.duration, [f.name for f in self.fns],
                      timeline, events, summary, sequential_ticks=self.sequential_ticks)


"""One tick of invocations: which are admitted, which start cold, which are refused and why.

The rules, per invocation in arrival order (a departure at the same instant as an arrival
frees its environment first):
  1. reserved concurrency reached -> TooManyRequestsException
     (ReservedFunctionConcurrentInvocationLimitExceeded);
  2. the account's unreserved pool in use -> TooManyRequestsException
     (ConcurrentInvocationLimitExceeded);
  3. an idle environment exists (in-flight < environments kept) -> warm start;
  4. else a new environment (cold start), if the function has scaling budget left in this
     10-second window (L10), else TooManyRequestsException (scaling rate); in the legacy
     model the environment may need a new ENI first (L11): EC2ThrottledException,
     ENILimitReachedException or SubnetIPAddressLimitReachedException when it cannot be
     made, and the ENI's creation latency is added to the cold start.
Environments kept at an arrival = the greater of the provisioned ones and the peak
concurrency of the last `idle` ticks and of this tick so far (so an environment idle for
the whole idle window is reclaimed at a tick boundary).

`admit` runs the vectorised path: with every arrival admitted, concurrency is a cumulative
count over arrivals and departures, and cold starts are the arrivals that set a new peak.
When any limit could bind in the tick, the tick is run again invocation by invocation
(`_sequential`); both give the same answer (tests/test_scale_oracle.py)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

OK = 0
ERRORS = ("", "TooManyRequestsException", "TooManyRequestsException",
          "TooManyRequestsException", "EC2ThrottledException", "ENILimitReachedException",
          "SubnetIPAddressLimitReachedException")
REASONS = ("", "ReservedFunctionConcurrentInvocationLimitExceeded",
           "ConcurrentInvocationLimitExceeded", "ScalingRateExceeded",
           "EC2 API rate exceeded creating an ENI", "ENI quota reached",
           "no free address in the subnet")
RESERVED, ACCOUNT, SCALING, EC2_THROTTLED, ENI_LIMIT, NO_ADDRESS = range(1, 7)


@dataclass
class Legacy:
    """Addresses, quota and EC2 API tokens the legacy model's ENIs draw on (shared)."""
    free: dict[str, int]                 # subnet -> free addresses now
    quota_left: int
    tokens: float
    created: dict[str, int] = field(default_factory=dict)   # subnet -> ENIs made this tick


@dataclass
class FnTick:
    """One function in one tick."""
    arrival: np.ndarray
    duration: np.ndarray
    prior_ends: np.ndarray          # sorted ends, in this tick, of earlier invocations
    base: int                       # in flight at the tick's start
    kept: int                       # environments kept from earlier ticks (W)
    cap: int | None                 # reserved concurrency
    unreserved: bool
    budget: int                     # new environments left in this scaling window
    cold_start: float
    subnets: list[str]              # where new environments go, round-robin by slot
    per_eni: int = 0                # legacy: environments per ENI (0: Hyperplane)
    eni_latency: float = 0.0
    # results
    status: np.ndarray | None = None
    cold: np.ndarray | None = None
    added: np.ndarray | None = None      # latency added to each invocation
    peak: int = 0
    envs: int = 0                        # environments at the tick's end (before reclaim)
    slots: list[int] = field(default_factory=list)   # legacy: slots that made an ENI
    failed_in: dict[int, str] = field(default_factory=dict)   # invocation -> its ENI's subnet


def _needs_eni(slot: int | np.ndarray, n_subnets: int, per_eni: int):
    return (slot // n_subnets) % per_eni == 0


def admit(fns: list[FnTick], pool: int | None, t1: float, legacy: Legacy | None,
          fast: bool = True) -> bool:
    """Fill each FnTick's results; True when the vectorised path sufficed."""
    if fast and _vectorised(fns, pool, t1, legacy):
        return True
    _sequential(fns, pool, t1, legacy)
    return False


def _vectorised(fns: list[FnTick], pool: int | None, t1: float,
                legacy: Legacy | None) -> bool:
    need: dict[str, int] = {}
    used = 0
    for f in fns:
        n = len(f.arrival)
        lat = np.zeros(n)
        cold = np.zeros(n, bool)
        idx = np.arange(n)
        for _ in range(16):         # cold latency delays departures: iterate to the fixpoint
            end = f.arrival + f.duration + lat
            own = np.sort(end[end < t1])
            deps = np.concatenate((f.prior_ends, own)) if len(own) else f.prior_ends
            if len(own) and len(f.prior_ends):
                deps = np.sort(deps)
            after = f.base + idx + 1 - np.searchsorted(deps, f.arrival, side="right")
            thr = np.maximum.accumulate(np.concatenate(([f.kept], after[:-1]))) if n else after
            new_cold = after > thr
            new_lat = np.where(new_cold, f.cold_start, 0.0)
            if f.per_eni and new_cold.any():
                slot = thr[new_cold]
                new_lat[new_cold] += np.where(
                    _needs_eni(slot, len(f.subnets), f.per_eni), f.eni_latency, 0.0)
            if np.array_equal(new_cold, cold) and np.array_equal(new_lat, lat):
                break
            cold, lat = new_cold, new_lat
        else:
            return False
        peak = max(f.base, int(after.max())) if n else f.base
        if f.cap is not None and peak > f.cap:
            return False
        if int(cold.sum()) > f.budget:
            return False
        if f.unreserved:
            used += peak
        if f.per_eni and cold.any():
            slots = thr[cold]
            slots = slots[_needs_eni(slots, len(f.subnets), f.per_eni)]
            f.slots = slots.tolist()
            for s in f.slots:
                sn = f.subnets[s % len(f.subnets)]
                need[sn] = need.get(sn, 0) + 1
        else:
            f.slots = []
        f.status = np.zeros(n, np.int8)
        f.cold, f.added, f.peak = cold, lat, peak
        f.envs = max(f.kept, peak)
    if pool is not None and used > pool:
        return False
    if need:
        total = sum(need.values())
        if legacy is None or total > legacy.tokens or total > legacy.quota_left or any(
                legacy.free.get(sn, 0) < k for sn, k in need.items()):
            return False
        legacy.tokens -= total
        legacy.quota_left -= total
        for sn, k in need.items():
            legacy.free[sn] -= k
            legacy.created[sn] = legacy.created.get(sn, 0) + k
    return True


def _sequential(fns: list[FnTick], pool: int | None, t1: float,
                legacy: Legacy | None) -> None:
    """Invocation by invocation over every function of the tick, in arrival order."""
    events = []          # (time, order, function, index)
    for fi, f in enumerate(fns):
        n = len(f.arrival)
        f.status = np.zeros(n, np.int8)
        f.cold = np.zeros(n, bool)
        f.added = np.zeros(n)
        f.slots = []
        f.failed_in = {}
        events.extend(zip(f.arrival.tolist(), [fi] * n, range(n), strict=True))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    inflight = [f.base for f in fns]
    kept = [f.kept for f in fns]
    peak = [f.base for f in fns]
    budget = [f.budget for f in fns]
    prior = [f.prior_ends.tolist() for f in fns]
    pptr = [0] * len(fns)
    own: list[list[float]] = [[] for _ in fns]
    in_pool = sum(inflight[i] for i, f in enumerate(fns) if f.unreserved)
    for t, fi, i in events:
        # departures at or before t free their environments first (every function)
        for gi, g in enumerate(fns):
            p, h = prior[gi], own[gi]
            while pptr[gi] < len(p) and p[pptr[gi]] <= t:
                pptr[gi] += 1
                inflight[gi] -= 1
                in_pool -= g.unreserved
            while h and h[0] <= t:
                heapq.heappop(h)
                inflight[gi] -= 1
                in_pool -= g.unreserved
        f = fns[fi]
        if f.cap is not None and inflight[fi] >= f.cap:
            f.status[i] = RESERVED
            continue
        if f.unreserved and pool is not None and in_pool >= pool:
            f.status[i] = ACCOUNT
            continue
        lat = 0.0
        if inflight[fi] >= kept[fi]:
            if budget[fi] <= 0:
                f.status[i] = SCALING
                continue
            slot = kept[fi]
            if f.per_eni and _needs_eni(slot, len(f.subnets), f.per_eni):
                sn = f.subnets[slot % len(f.subnets)]
                code = _make_eni(legacy, sn)
                if code:
                    f.status[i] = code
                    f.failed_in[i] = sn
                    continue
                f.slots.append(slot)
                lat += f.eni_latency
            lat += f.cold_start
            budget[fi] -= 1
            kept[fi] += 1
            f.cold[i] = True
        f.added[i] = lat
        inflight[fi] += 1
        in_pool += f.unreserved
        peak[fi] = max(peak[fi], inflight[fi])
        end = t + float(f.duration[i]) + lat
        if end < t1:
            heapq.heappush(own[fi], end)
    for fi, f in enumerate(fns):
        f.peak = peak[fi]
        f.envs = kept[fi]


def _make_eni(legacy: Legacy | None, subnet: str) -> int:
    """One CreateNetworkInterface call: EC2's rate, then the quota, then an address."""
    if legacy is None:
        return NO_ADDRESS
    if legacy.tokens < 1:
        return EC2_THROTTLED
    legacy.tokens -= 1
    if legacy.quota_left <= 0:
        return ENI_LIMIT
    if legacy.free.get(subnet, 0) <= 0:
        return NO_ADDRESS
    legacy.quota_left -= 1
    legacy.free[subnet] -= 1
    legacy.created[subnet] = legacy.created.get(subnet, 0) + 1
    return OK

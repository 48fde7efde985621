"""The tick model (vectorised, with its per-invocation fallback) against a naive oracle:
one loop over every invocation of the whole run, written from the rules in
netemu/apps/scale/admission.py and nothing else of the simulation."""

from __future__ import annotations

import heapq
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import examples

from netemu.apps.scale.load import Invocations
from netemu.apps.scale.settings import LEGACY, Settings
from netemu.apps.scale.sim import Simulation
from netemu.io.yaml_loader import load_yaml

TOPO_YAML = """
vpc: app
cidr: 10.0.0.0/16
subnets:
  a: {cidr: 10.0.1.0/28, az: us-east-1a}
  b: {cidr: 10.0.2.0/28, az: us-east-1b}
security_groups:
  fn: {egress: ["all to 0.0.0.0/0"]}
functions:
  f0: {subnets: [a, b], security_groups: [fn], memory: 1536}
  f1: {subnets: [a], security_groups: [fn], memory: 1024}
  f2: {security_groups: [], memory: 128}
"""
_DIR = Path(tempfile.mkdtemp(prefix="netemu-scale-oracle-"))
(_DIR / "t.yaml").write_text(TOPO_YAML)
TOPO = load_yaml(_DIR / "t.yaml")
shutil.rmtree(_DIR, ignore_errors=True)
SUBNETS = {"f0": ["a", "b"], "f1": ["a"], "f2": []}
PER_ENI = {"f0": 2, "f1": 3, "f2": 0}        # floor(3072 MB / memory), legacy only
BASE_FREE = {"a": 16 - 5, "b": 16 - 5}       # a /28 less AWS's five


def oracle(fns: dict[str, Invocations], s: Settings, duration: float, legacy: bool,
           reserved: dict[str, int], provisioned: dict[str, int]):
    """Per invocation: error name or '' and cold flag; per tick: peak concurrency."""
    dt = s.tick
    n_ticks = math.ceil(duration / dt - 1e-9)
    idle = max(1, math.ceil(s.idle_reclaim / dt - 1e-9))
    names = list(fns)
    events = sorted((float(a), fi, i) for fi, n in enumerate(names)
                    for i, a in enumerate(fns[n].arrival))
    out = {n: ([""] * len(fns[n].arrival), [False] * len(fns[n].arrival)) for n in names}
    peaks = {n: [0] * n_ticks for n in names}
    ends = {n: [] for n in names}                 # heap of ends of admitted invocations
    budget = {n: 0 for n in names}
    window = {n: -1 for n in names}
    kept_end = {n: provisioned.get(n, 0) for n in names}   # environments after last tick
    created = {n: 0 for n in names}               # environments created this tick
    pool = s.account_concurrency - sum(reserved.values())
    tokens = float(s.ec2_bucket)
    quota_left = s.legacy_eni_quota
    free = dict(BASE_FREE)
    tick = -1

    def inflight(n, t):
        while ends[n] and ends[n][0] <= t:
            heapq.heappop(ends[n])
        return len(ends[n])

    def start_tick(k):
        nonlocal tokens, quota_left, free
        t0 = k * dt
        if k > 0:
            tokens = min(float(s.ec2_bucket), tokens + s.ec2_refill * dt)
        enis = {"a": 0, "b": 0}
        for n in names:
            lo = max(0, k - idle)
            kept_end[n] = max([provisioned.get(n, 0)] + peaks[n][lo:k])
            if legacy and SUBNETS[n]:
                nh = len(SUBNETS[n])
                for i, sn in enumerate(SUBNETS[n]):
                    envs = kept_end[n] // nh + (1 if i < kept_end[n] % nh else 0)
                    enis[sn] += math.ceil(envs / PER_ENI[n])
            created[n] = 0
            w = int(t0 // s.scale_period)
            if w != window[n]:
                window[n], budget[n] = w, s.scale_step
            # in flight at the tick's start: ends at or after t0 (an end at t0 departs
            # at t0, before any arrival of the tick, but counts in the tick's peak)
            live = [e for e in ends[n] if e >= t0]
            peaks[n][k] = len(live)
        free = {sn: BASE_FREE[sn] - enis[sn] for sn in enis}
        quota_left = s.legacy_eni_quota - sum(enis.values())

    for t, fi, i in events:
        k = int(t // dt)
        while tick < k:
            tick += 1
            start_tick(tick)
        n = names[fi]
        cur = {m: inflight(m, t) for m in names}
        in_pool = sum(cur[m] for m in names if m not in reserved)
        status, cold = out[n]
        if n in reserved and cur[n] >= reserved[n]:
            status[i] = "TooManyRequestsException"
            continue
        if n not in reserved and in_pool >= pool:
            status[i] = "TooManyRequestsException"
            continue
        lo = max(0, k - idle)
        kept = max([provisioned.get(n, 0)] + peaks[n][lo:k] + [peaks[n][k]])
        lat = 0.0
        if cur[n] >= kept:
            if budget[n] <= 0:
                status[i] = "TooManyRequestsException"
                continue
            slot = kept
            if legacy and SUBNETS[n]:
                nh = len(SUBNETS[n])
                if (slot // nh) % PER_ENI[n] == 0:
                    sn = SUBNETS[n][slot % nh]
                    if tokens < 1:
                        status[i] = "EC2ThrottledException"
                        continue
                    tokens -= 1
                    if quota_left <= 0:
                        status[i] = "ENILimitReachedException"
                        continue
                    if free[sn] <= 0:
                        status[i] = "SubnetIPAddressLimitReachedException"
                        continue
                    quota_left -= 1
                    free[sn] -= 1
                    lat += s.legacy_eni_latency
            lat += s.cold_start
            budget[n] -= 1
            cold[i] = True
        heapq.heappush(ends[n], t + float(fns[n].duration[i]) + lat)
        peaks[n][k] = max(peaks[n][k], cur[n] + 1)
    while tick < n_ticks - 1:
        tick += 1
        start_tick(tick)
    return out, peaks


@st.composite
def scenario(draw):
    names = draw(st.lists(st.sampled_from(["f0", "f1", "f2"]), min_size=1, max_size=3,
                          unique=True))
    tick = draw(st.sampled_from([0.5, 1.0]))
    duration = 12.0
    fns = {}
    for n in names:
        k = draw(st.integers(0, 40))
        a = np.sort(np.array(draw(st.lists(st.floats(0, duration - 1e-3), min_size=k,
                                           max_size=k))))
        # round to 1/8 s so that arrivals, departures and tick edges coincide often
        a = np.round(a * 8) / 8
        a = np.sort(a[a < duration])
        d = np.array(draw(st.lists(st.sampled_from([0.125, 0.25, 0.5, 1.0, 2.0, 3.5, 7.0]),
                                   min_size=len(a), max_size=len(a))))
        fns[n] = Invocations(a.astype(float), d.astype(float))
    s = Settings(tick=tick, account_concurrency=draw(st.integers(3, 30)),
                 scale_step=draw(st.integers(1, 12)),
                 scale_period=tick * draw(st.sampled_from([1, 2, 4])),
                 idle_reclaim=draw(st.sampled_from([0.5, 1.0, 2.0, 5.0])),
                 cold_start=draw(st.sampled_from([0.0, 0.25, 1.5])),
                 legacy_eni_latency=draw(st.sampled_from([0.0, 0.5, 3.0])),
                 legacy_eni_quota=draw(st.integers(1, 12)),
                 ec2_bucket=draw(st.integers(1, 6)), ec2_refill=draw(st.sampled_from([0.5, 2])))
    reserved = {n: draw(st.integers(1, 6)) for n in names if draw(st.booleans())}
    provisioned = {n: draw(st.integers(0, min(2, reserved.get(n, 2)))) for n in names}
    legacy = draw(st.booleans())
    return names, fns, s, duration, legacy, reserved, provisioned


def _simulate(names, fns, s, duration, legacy, reserved, provisioned, fast):
    from netemu.apps.scale.settings import FunctionSettings
    s = Settings(**{**s.__dict__, "functions": {
        n: FunctionSettings(reserved=reserved.get(n), provisioned=provisioned.get(n, 0))
        for n in names}})
    sim = Simulation(TOPO, names, fns, duration, s, LEGACY if legacy else "hyperplane",
                     fast=fast)
    return sim.run()


def _errors(result, names):
    ev = result.events
    out = {n: [] for n in names}
    for t, fn, code in zip(ev["t"], ev["function"], ev["code"], strict=True):
        error, _ = ev["names"][code]
        if fn >= 0 and error:
            out[names[fn]].append((round(float(t), 9), error))
    return {n: sorted(v) for n, v in out.items()}


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_tick_model_matches_per_invocation_oracle(case):
    names, fns, s, duration, legacy, reserved, provisioned = case
    s = Settings(**{**s.__dict__, "unreserved_minimum": 0,
                    "account_concurrency": s.account_concurrency + sum(reserved.values())})
    want, want_peaks = oracle(fns, s, duration, legacy, reserved, provisioned)
    for fast in (True, False):
        r = _simulate(names, fns, s, duration, legacy, reserved, provisioned, fast)
        got_err = _errors(r, names)
        for n in names:
            status, cold = want[n]
            expect = sorted((round(float(t), 9), e) for t, e in
                            zip(fns[n].arrival, status, strict=True) if e)
            assert got_err[n] == expect, (n, fast)
            n_ticks = len(r.timeline["t"])
            cold_per_tick = np.bincount((fns[n].arrival[np.array(cold, bool)] // s.tick)
                                        .astype(int), minlength=n_ticks)[:n_ticks]
            assert r.timeline[f"cold_starts:{n}"].tolist() == cold_per_tick.tolist(), n
            assert r.timeline[f"concurrency:{n}"].tolist() == want_peaks[n], n


def test_oracle_sees_a_binding_limit():
    """The comparison is not vacuous: this load throttles and runs ticks sequentially."""
    a = np.arange(0, 5, 0.125)
    fns = {"f0": Invocations(a, np.full(len(a), 3.0))}
    s = Settings(account_concurrency=105, scale_step=4, scale_period=2.0,
                 unreserved_minimum=0)
    want, _ = oracle(fns, s, 12.0, False, {}, {})
    assert "TooManyRequestsException" in want["f0"][0]
    r = _simulate(["f0"], fns, s, 12.0, False, {}, {}, True)
    assert r.sequential_ticks > 0
    assert r.summary["functions"]["f0"]["errors"]["TooManyRequestsException"] == \
        want["f0"][0].count("TooManyRequestsException")

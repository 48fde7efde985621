"""Load profiles: when invocations arrive and how long each runs, seeded.

A profile is `constant:RATE` (or a bare RATE), `steps:T=R,T=R,...` (rate R from second T),
`ramp:FROM,TO[,SECONDS]` (linear, then TO), `burst:BASE,PEAK,AT,LENGTH`, or the path of a
CSV file with the header `time,duration[,function]` (seconds from the start, sorted by
time). `FUNCTION=PROFILE` gives one function its own. Rates are invocations per second;
arrivals within a tick are Poisson (or evenly spaced with `even`). Durations are `0.2`,
`fixed:0.2`, `exp:MEAN`, `uniform:LO,HI` or `lognormal:MEDIAN,SIGMA`, clipped to Lambda's
900 s timeout."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netemu.errors import InputError

MAX_DURATION = 900.0          # Lambda's longest timeout
MIN_DURATION = 1e-3           # an invocation lasts at least a millisecond
MAX_INVOCATIONS = 50_000_000   # guard against a profile that would not fit in memory
_ASSIGN = re.compile(r"^([A-Za-z_][\w.-]*)=(.+)$")


@dataclass
class Invocations:
    """One function's invocations: arrival times (sorted) and durations, seconds."""
    arrival: np.ndarray
    duration: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival)


def _number(text: str, what: str, spec: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"load {spec!r}: {what} {text!r} is not a number") from None
    if not math.isfinite(v):
        raise InputError(f"load {spec!r}: {what} {text!r} is not a finite number")
    return v


def _rate(text: str, spec: str) -> float:
    v = _number(text, "rate", spec)
    if v < 0:
        raise InputError(f"load {spec!r}: negative rate {text}")
    return v


class Profile:
    """Invocations per second as a function of time."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        kind, sep, body = spec.partition(":")
        if not sep:
            kind, body = "constant", spec
        parts = [p.strip() for p in body.split(",") if p.strip()]
        self.kind = kind
        if kind == "constant" and len(parts) == 1:
            self.points = [(0.0, _rate(parts[0], spec))]
        elif kind == "steps" and parts:
            self.points = []
            for p in parts:
                t, eq, r = p.partition("=")
                if not eq:
                    raise InputError(f"load {spec!r}: step {p!r} is not TIME=RATE")
                at = _number(t, "time", spec)
                if at < 0:
                    raise InputError(f"load {spec!r}: negative time {t}")
                if self.points and at <= self.points[-1][0]:
                    raise InputError(f"load {spec!r}: step times must increase ({t} after "
                                     f"{self.points[-1][0]:g})")
                self.points.append((at, _rate(r, spec)))
        elif kind == "ramp" and len(parts) in (2, 3):
            self.start, self.end = _rate(parts[0], spec), _rate(parts[1], spec)
            self.length = _number(parts[2], "length", spec) if len(parts) == 3 else None
            if self.length is not None and self.length <= 0:
                raise InputError(f"load {spec!r}: ramp length must be positive")
        elif kind == "burst" and len(parts) == 4:
            self.base, self.peak = _rate(parts[0], spec), _rate(parts[1], spec)
            self.at = _number(parts[2], "time", spec)
            self.length = _number(parts[3], "length", spec)
            if self.at < 0 or self.length <= 0:
                raise InputError(f"load {spec!r}: burst time must be >= 0, length > 0")
        else:
            raise InputError(f"load {spec!r}: expected constant:RATE, steps:T=R,..., "
                             "ramp:FROM,TO[,SECONDS], burst:BASE,PEAK,AT,LENGTH or a CSV file")

    def expected(self, edges: np.ndarray, duration: float) -> np.ndarray:
        """Expected invocations in each interval [edges[i], edges[i+1]) (exact integral)."""
        return np.diff(self._cumulative(edges, duration))

    def _cumulative(self, t: np.ndarray, duration: float) -> np.ndarray:
        if self.kind in ("constant", "steps"):
            times = np.array([p[0] for p in self.points])
            rates = np.array([p[1] for p in self.points])
            # integral of a step function: area up to each breakpoint, then the rest
            area = np.concatenate(([0.0], np.cumsum(np.diff(times) * rates[:-1])))
            i = np.searchsorted(times, t, side="right") - 1
            inside = i >= 0
            j = np.maximum(i, 0)
            return np.where(inside, area[j] + (t - times[j]) * rates[j], 0.0)
        if self.kind == "ramp":
            length = self.length or duration
            tt = np.minimum(t, length)
            ramp = self.start * tt + (self.end - self.start) * tt * tt / (2 * length)
            return ramp + np.maximum(t - length, 0) * self.end
        inside = np.clip(t - self.at, 0, self.length)
        return self.base * t + (self.peak - self.base) * inside


class Durations:
    def __init__(self, spec: str) -> None:
        self.spec = spec
        kind, sep, body = spec.partition(":")
        if not sep:
            kind, body = "fixed", spec
        try:
            args = [float(x) for x in body.split(",")]
        except ValueError:
            raise InputError(f"duration {spec!r}: not a number") from None
        want = {"fixed": 1, "exp": 1, "uniform": 2, "lognormal": 2}
        if kind not in want or len(args) != want[kind]:
            raise InputError(f"duration {spec!r}: expected SECONDS, fixed:S, exp:MEAN, "
                             "uniform:LO,HI or lognormal:MEDIAN,SIGMA")
        if not all(math.isfinite(a) and a > 0 for a in args) or (
                kind == "uniform" and args[0] > args[1]):
            raise InputError(f"duration {spec!r}: values must be positive and finite"
                             + (" with LO <= HI" if kind == "uniform" else ""))
        self.kind, self.args = kind, args

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        a = self.args
        if self.kind == "fixed":
            d = np.full(n, a[0])
        elif self.kind == "exp":
            d = rng.exponential(a[0], n)
        elif self.kind == "uniform":
            d = rng.uniform(a[0], a[1], n)
        else:
            d = a[0] * np.exp(a[1] * rng.standard_normal(n))
        return np.clip(d, MIN_DURATION, MAX_DURATION)


def generate(profile: Profile, durations: Durations, duration: float, tick: float,
             rng: np.random.Generator, even: bool = False) -> Invocations:
    """Arrivals per tick: Poisson with the profile's expected count (or evenly spaced,
    the count following the cumulative expectation), uniform within the tick."""
    n_ticks = int(math.ceil(duration / tick))
    edges = np.minimum(np.arange(n_ticks + 1) * tick, duration)
    lam = profile.expected(edges, duration)
    if lam.sum() > MAX_INVOCATIONS:
        raise InputError(f"load {profile.spec!r}: about {lam.sum():,.0f} invocations; "
                         f"netemu simulates at most {MAX_INVOCATIONS:,}")
    if even:
        cum = np.floor(np.concatenate(([0.0], np.cumsum(lam))) + 1e-9)
        counts = np.diff(cum).astype(np.int64)
    else:
        counts = rng.poisson(lam)
    total = int(counts.sum())
    start = np.repeat(edges[:-1], counts)
    width = np.repeat(np.diff(edges), counts)
    if even:
        first = np.repeat(np.cumsum(counts) - counts, counts)
        j = np.arange(total) - first
        frac = (j + 0.5) / np.repeat(np.maximum(counts, 1), counts)
    else:
        frac = _sorted_within(rng.random(total), counts)
    arrival = start + frac * width
    return Invocations(arrival, durations.draw(rng, total))


def _sorted_within(u: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Uniform offsets sorted within each tick (one sort over tick index + offset)."""
    tick = np.repeat(np.arange(len(counts), dtype=np.float64), counts)
    return np.sort(tick + u * 0.999999) - tick


def read_csv(path: Path, functions: list[str]) -> dict[str, Invocations]:
    """`time,duration[,function]`, sorted by time; without a function column every row
    belongs to the only function named (several named: every function gets every row)."""
    name = str(path)
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise InputError(f"cannot read load profile: {e.strerror}", file=name) from None
    rows: dict[str, tuple[list, list]] = {fn: ([], []) for fn in functions}
    with f:
        reader = csv.reader(f)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise InputError("empty load profile: expected the header time,duration"
                             "[,function]", file=name, line=1) from None
        except (csv.Error, UnicodeDecodeError) as e:
            raise InputError(f"unreadable CSV: {e}", file=name, line=1) from None
        if header not in (["time", "duration"], ["time", "duration", "function"]):
            raise InputError(f"header {','.join(header)!r}: expected time,duration"
                             "[,function]", file=name, line=1)
        with_fn = len(header) == 3
        last = -math.inf
        try:
            for row in reader:
                line = reader.line_num
                if not row or not "".join(row).strip():
                    continue
                if len(row) != len(header):
                    raise InputError(f"{len(row)} fields, expected {len(header)}",
                                     file=name, line=line)
                t = _csv_number(row[0], "time", name, line)
                d = _csv_number(row[1], "duration", name, line)
                if t < 0:
                    raise InputError(f"negative time {row[0]}", file=name, line=line)
                if t < last:
                    raise InputError(f"time {row[0]} is before the previous row's {last:g}: "
                                     "the file must be sorted by time", file=name, line=line)
                if not MIN_DURATION <= d <= MAX_DURATION:
                    raise InputError(f"duration {row[1]} outside {MIN_DURATION:g}-"
                                     f"{MAX_DURATION:g} s (Lambda's timeout)", file=name,
                                     line=line)
                last = t
                targets = functions
                if with_fn:        # NAME or NAME:QUALIFIER (a version or alias, L2)
                    fn = row[2].strip().partition(":")[0]
                    if fn not in rows:
                        raise InputError(f"unknown function {fn!r} (simulating "
                                         f"{', '.join(functions)})", file=name, line=line)
                    targets = [fn]
                for fn in targets:
                    rows[fn][0].append(t)
                    rows[fn][1].append(d)
        except (csv.Error, UnicodeDecodeError) as e:
            raise InputError(f"unreadable CSV: {e}", file=name,
                             line=reader.line_num) from None
    return {fn: Invocations(np.asarray(a, np.float64), np.asarray(d, np.float64))
            for fn, (a, d) in rows.items()}


def _csv_number(text: str, what: str, file: str, line: int) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"{what} {text.strip()!r} is not a number", file=file,
                         line=line) from None
    if not math.isfinite(v):
        raise InputError(f"{what} {text.strip()!r} is not a finite number", file=file,
                         line=line)
    return v


def split_specs(specs: list[str], functions: list[str]) -> dict[str, str]:
    """`PROFILE` for every function, `FUNCTION=PROFILE` for one; one profile each."""
    out: dict[str, str] = {}
    shared = None
    for spec in specs:
        m = _ASSIGN.match(spec)
        if m and not Path(spec).exists() and not spec.startswith(("steps:", "ramp:")):
            fn, body = m.groups()
            if fn not in functions:
                raise InputError(f"load {spec!r}: unknown function {fn!r} (simulating "
                                 f"{', '.join(functions)})")
            out[fn] = body
        else:
            shared = spec
    for fn in functions:
        if fn not in out:
            if shared is None:
                raise InputError(f"no load profile for function {fn!r}")
            out[fn] = shared
    return out


def build(specs: list[str], functions: list[str], duration_spec: str,
          duration: float | None, tick: float, seed: int, even: bool = False
          ) -> tuple[dict[str, Invocations], float]:
    """Every function's invocations, and the simulated duration (given, or the end of the
    last CSV invocation, or 600 s)."""
    per_fn = split_specs(specs, functions)
    durations = Durations(duration_spec)
    out: dict[str, Invocations] = {}
    csvs: dict[str, dict[str, Invocations]] = {}
    for fn, spec in per_fn.items():
        if Path(spec).is_file() or spec.endswith(".csv"):
            if spec not in csvs:
                csvs[spec] = read_csv(Path(spec), [f for f in functions
                                                   if per_fn[f] == spec])
            out[fn] = csvs[spec][fn]
    if duration is None:
        ends = [float((inv.arrival + inv.duration).max()) for inv in out.values() if len(inv)]
        duration = math.ceil(max(ends)) if ends else 600.0
    if not (math.isfinite(duration) and duration > 0):
        raise InputError(f"--duration {duration}: must be a positive number of seconds")
    for i, fn in enumerate(functions):
        if fn in out:
            inv = out[fn]
            keep = inv.arrival < duration
            out[fn] = Invocations(inv.arrival[keep], inv.duration[keep])
            continue
        rng = np.random.default_rng([seed, i])
        out[fn] = generate(Profile(per_fn[fn]), durations, duration, tick, rng, even)
    return out, float(duration)

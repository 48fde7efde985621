"""What a run leaves in `--out DIR`: timeline.csv and timeline.json (one row per tick),
events.jsonl (every error and state change: time, function, subnet, error, reason,
count) and summary.json. Files are written to a temporary folder and moved in at the end,
so a failed run leaves nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from netemu.apps.scale.sim import Result


def _fmt(col: np.ndarray) -> list[str]:
    """Whole numbers without a decimal point, others to the microsecond."""
    if np.all(col == np.round(col)):
        return [str(v) for v in col.astype(np.int64).tolist()]
    return [f"{v:.6g}" for v in col.tolist()]


def write_timeline(result: Result, folder: Path) -> None:
    names = list(result.timeline)
    cols = [_fmt(result.timeline[n]) for n in names]
    with open(folder / "timeline.csv", "w", encoding="utf-8") as f:
        f.write(",".join(names) + "\n")
        f.writelines(",".join(row) + "\n" for row in zip(*cols, strict=True))
    doc = {"model": result.model, "tick": result.tick, "duration": result.duration,
           "functions": result.functions,
           "series": {n: result.timeline[n].tolist() for n in names}}
    (folder / "timeline.json").write_text(json.dumps(doc) + "\n", encoding="utf-8")


def event_lines(result: Result):
    ev = result.events
    names, fns, subs = ev["names"], ev["functions"], ev["subnets"]
    for t, fn, sub, code, count in zip(ev["t"].tolist(), ev["function"].tolist(),
                                       ev["subnet"].tolist(), ev["code"].tolist(),
                                       ev["count"].tolist(), strict=True):
        error, reason = names[code]
        obj = {"t": round(t, 6), "function": fns[fn] if fn >= 0 else None,
               "subnet": subs[sub] if sub >= 0 else None,
               "error": error or None, "reason": reason}
        if count != 1:
            obj["count"] = count
        yield json.dumps(obj)


def write_events(result: Result, folder: Path) -> None:
    with open(folder / "events.jsonl", "w", encoding="utf-8") as f:
        for line in event_lines(result):
            f.write(line + "\n")


def summary_json(result: Result) -> dict:
    out = dict(result.summary)
    if result.replay is not None:
        out["replay"] = result.replay
    return out

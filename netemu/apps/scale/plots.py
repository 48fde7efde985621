"""PNG plots of a run's timeline. matplotlib is imported here only (the `plots` extra),
with the Agg backend, so nothing else in netemu needs it or a display."""

from __future__ import annotations

from pathlib import Path

from netemu.apps.scale.sim import Result
from netemu.errors import InputError

PANELS = (
    ("concurrency", "Concurrency and environments", "executions",
     ("concurrency:", "environments:", "environments_az:")),
    ("errors", "Cold starts, throttles and errors per second", "per second",
     ("cold_starts:", "errors:", "connection_errors:")),
    ("addresses", "Subnet addresses and Lambda ENIs", "count",
     ("free_ips:", "enis:")),
    ("connections", "Connections against their limits", "connections",
     ("db_", "proxy_", "nat_ports:", "eni_connections:")),
)


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise InputError("plots need matplotlib: pip install 'netemu[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def figures(result: Result, label: str = "") -> dict:
    """One figure per panel that has data: name -> matplotlib Figure."""
    plt = _pyplot()
    t = result.timeline["t"]
    out = {}
    for name, title, ylabel, prefixes in PANELS:
        series = [(n, v) for n, v in result.timeline.items()
                  if n.startswith(prefixes) and v.any()]
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
        for n, v in series:
            ax.plot(t, v, label=n, drawstyle="steps-post", linewidth=1.2)
        ax.set_title(f"{title} ({label or result.model})")
        ax.set_xlabel("time (s)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        out[name] = fig
    return out


def comparison(results: list[Result]):
    """Hyperplane and legacy side by side for the same load: concurrency served, errors,
    and the addresses Lambda took from the subnets."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), dpi=100, sharex=True)
    rows = (("concurrency:", "Concurrency served", "executions"),
            ("errors:", "Errors per second", "per second"),
            ("enis:", "Lambda ENIs (addresses taken)", "ENIs"))
    for ax, (prefix, title, ylabel) in zip(axes, rows, strict=True):
        for r in results:
            t = r.timeline["t"]
            total = sum((v for n, v in r.timeline.items() if n.startswith(prefix)),
                        start=0 * t)
            ax.plot(t, total, label=r.model, drawstyle="steps-post")
        ax.set_title(title)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("Hyperplane vs legacy ENIs, same load")
    fig.tight_layout()
    return fig


def save(figs: dict, folder: Path) -> list[Path]:
    plt = _pyplot()
    paths = []
    for name, fig in figs.items():
        path = folder / f"{name}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths

"""netemu: a packet-level emulator of AWS Lambda networking.

    import netemu
    topo = netemu.load("topologies/lambda-nat-internet.yaml")
    print(netemu.trace(topo, "lambda:orders", "api.example.com", proto="tcp", port=443))
    print(netemu.replay(topo, ["capture.pcap"], mappings=["169.254.0.0/22=lambda:orders"]))
    batch = netemu.workload(topo, "orders", ["api.example.com"], out="w.pcap")

The names below are the public API; every module under netemu/ is private by convention.
They are imported when first used (module `__getattr__`), so `import netemu` costs
nothing and `netemu trace` does not load replay, scaling or the readers it does not need.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from netemu.apps.replay import Summary, replay
    from netemu.apps.trace import TraceResult, trace
    from netemu.dataplane.settings import Settings
    from netemu.errors import InputError
    from netemu.io.load import load
    from netemu.model.topology import Topology

__all__ = ["InputError", "Settings", "Summary", "Topology", "TraceResult", "load", "replay",
           "trace", "workload"]
__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY = {
    "load": "netemu.io.load",
    "trace": "netemu.apps.trace",
    "TraceResult": "netemu.apps.trace",
    "replay": "netemu.apps.replay",
    "Summary": "netemu.apps.replay",
    "Topology": "netemu.model.topology",
    "Settings": "netemu.dataplane.settings",
    "InputError": "netemu.errors",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'netemu' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value          # imported once; later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def workload(topology: Topology, function: str, destinations: list[str], *,
             concurrency: int = 1, connections: int = 1, duration: float = 10.0,
             out: str | Path | None = None, force: bool = True, **options: Any) -> np.ndarray:
    """Generate the traffic of `concurrency` execution environments of `function`, each
    opening `connections` connections to every destination (`NAME` or `NAME:PORT`) over
    `duration` seconds; with `out` (.pcap, .pcapng or .jsonl), also write it there.
    `options`: rate, seed, proto, port, hold, t0 (see `netemu workload --help`)."""
    from netemu.apps.workload import generate_workload, write_workload

    batch = generate_workload(topology, function, concurrency, connections,
                              list(destinations), duration, **options)
    if out is not None:
        write_workload(out, batch, force=force)
    return batch

"""netemu: a packet-level emulator of AWS Lambda networking.

    topo = netemu.load("topologies/lambda-nat-internet.yaml")
    result = netemu.trace(topo, "lambda:orders", "api.example.com", proto="tcp", port=443)
"""

from netemu.apps.trace import TraceResult, trace
from netemu.dataplane.pipeline import Dataplane, Settings
from netemu.errors import InputError
from netemu.io.load import load
from netemu.model.topology import Topology

__all__ = ["Dataplane", "InputError", "Settings", "Topology", "TraceResult", "load", "trace"]
__version__ = "0.1.0"

"""Every hop kind the graph builds, in the order their nodes are numbered. Adding a hop
kind is one module with one Element subclass (`nodes`, `build`, `process`, `table`, and
`route_targets`/`route_node` if routes lead to it) and one line here."""

from __future__ import annotations

from netemu.dataplane.elements.acl import AclOut
from netemu.dataplane.elements.base import Element
from netemu.dataplane.elements.eni import EniIn, SourceDestCheck
from netemu.dataplane.elements.gateways import (
    GatewayEndpoint,
    InternetGatewayOut,
    NatGatewayElement,
    PeeringElement,
    Unmodelled,
)
from netemu.dataplane.elements.lambda_service import HyperplaneNat, LambdaService
from netemu.dataplane.elements.nat_instance import NatInstance
from netemu.dataplane.elements.router import Router
from netemu.dataplane.elements.sinks import AmazonProvided, Internet, Sink

KINDS: tuple[type[Element], ...] = (
    Sink,                 # the internet's sinks; what owns a plain interface
    AmazonProvided,       # resolver, metadata, time sync (S6)
    Internet,
    LambdaService,        # execution environments (L1)
    EniIn,                # both sides of every interface (and EniOut), S1-S3
    AclOut,               # every subnet's router and both ACL sides (and AclIn), N1-N4
    Router,               # route tables (R1-R5)
    NatGatewayElement,    # G1-G5
    InternetGatewayOut,   # both sides of every internet gateway (and InternetGatewayIn), I1
    GatewayEndpoint,      # E1
    PeeringElement,
    Unmodelled,           # route targets not emulated
    SourceDestCheck,      # a route's target interface with the check on
    HyperplaneNat,        # behind Lambda ENIs (L3)
    NatInstance,          # behind interfaces with the check off
)

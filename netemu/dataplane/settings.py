"""Quotas and timeouts a dataplane is built with, each with AWS's documented default."""

from __future__ import annotations

from dataclasses import dataclass

from netemu.dataplane.state import Timeouts


@dataclass(frozen=True)
class Settings:
    """Quotas and timeouts, each with AWS's documented default."""
    timeouts: Timeouts = Timeouts()
    hyperplane_connections: int = 65_000      # L3
    nat_connections_per_destination: int = 55_000   # G3
    seed: int = 0

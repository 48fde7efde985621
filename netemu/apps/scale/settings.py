"""Every quota, rate and latency of the scaling model, each a setting with AWS's documented
default (the ids are those of AWS-SEMANTICS: L2, L3, L8-L11, G3) or, where AWS documents
none, a stated assumption (see docs/scale.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

HYPERPLANE, LEGACY = "hyperplane", "legacy"


@dataclass(frozen=True)
class FunctionSettings:
    """What the topology does not say about a function."""
    reserved: int | None = None       # reserved concurrency (None: the unreserved pool)
    provisioned: int = 0              # pre-warmed environments, never reclaimed
    new: bool = False                 # created (or VPC config changed) at t=0: Pending (L2)
    inactive: bool = False            # unused for weeks before t=0: Inactive (L9)


@dataclass(frozen=True)
class Target:
    """A downstream a function's environments connect to."""
    name: str
    ip: int
    port: int = 443
    per_invocation: bool = False      # False: opened per environment and reused
    connections: int = 1              # per environment (or per invocation)
    database: bool = False


@dataclass(frozen=True)
class Database:
    """An RDS instance (max_connections from its class, as RDS computes it) and, as an
    option, RDS Proxy in front of it."""
    target: str
    instance_class: str = "db.t3.medium"
    engine: str = "postgres"
    max_connections: int | None = None      # overrides the computed default
    proxy: bool = False
    proxy_max_connections_percent: int = 100    # MaxConnectionsPercent default
    proxy_borrow_timeout: float = 120.0         # ConnectionBorrowTimeout default, seconds
    busy_fraction: float = 1.0        # share of an invocation a borrowed connection is busy
    pinned_fraction: float = 0.0      # share of client connections pinned to one DB session


@dataclass(frozen=True)
class Settings:
    tick: float = 1.0                         # seconds per tick of the timeline
    account_concurrency: int = 1000           # L10
    unreserved_minimum: int = 100             # Lambda keeps 100 of it unreserved
    scale_step: int = 1000                    # L10: new environments per function ...
    scale_period: float = 10.0                # ... every 10 seconds
    idle_reclaim: float = 300.0               # assumption: idle environments kept 5 min
    cold_start: float = 0.25                  # assumption: init duration of a new environment
    eni_quota: int = 500                      # L8: Hyperplane ENIs per VPC
    eni_pending: float = 60.0                 # L2: ENI creation, "a minute or more"
    hyperplane_connections: int = 65_000      # L3
    nat_connections_per_destination: int = 55_000   # G3
    inactive_after: float = 14 * 86400.0      # L9: "consecutive weeks", ~14 days
    ec2_bucket: int = 50                      # EC2 API token bucket for ENI calls ...
    ec2_refill: float = 5.0                   # ... refilled per second (a setting)
    legacy_eni_latency: float = 10.0          # L11: ENI creation on the cold-start path
    legacy_eni_quota: int = 350               # L8: the regional ENI limit a seed quotes
    legacy_gb_per_eni: float = 3.0            # L11: addresses ~ concurrency x memory / 3 GB
    functions: dict[str, FunctionSettings] = field(default_factory=dict)
    targets: tuple[Target, ...] = ()
    databases: tuple[Database, ...] = ()
    trace_cap: int = 200_000                  # --emit-trace: connections written at most

    def check(self) -> None:
        """Refuse settings the model cannot run with (one line, exit 2)."""
        from netemu.errors import InputError
        positive = ("tick", "scale_period", "legacy_gb_per_eni", "hyperplane_connections",
                    "nat_connections_per_destination")
        for name in positive:
            v = getattr(self, name)
            if not (v > 0 and v < float("inf")):
                raise InputError(f"setting {name}={v}: must be a positive number")
        for name in ("account_concurrency", "unreserved_minimum", "scale_step",
                     "idle_reclaim", "cold_start", "eni_quota", "eni_pending",
                     "inactive_after", "ec2_bucket", "ec2_refill", "legacy_eni_latency",
                     "legacy_eni_quota", "trace_cap"):
            v = getattr(self, name)
            if not (v >= 0 and v < float("inf")):
                raise InputError(f"setting {name}={v}: must be a number >= 0")

    def function(self, name: str) -> FunctionSettings:
        return self.functions.get(name, FunctionSettings())

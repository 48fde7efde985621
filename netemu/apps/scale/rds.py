"""RDS max_connections as the default parameter groups compute it, and RDS Proxy's limit.

MySQL: `{DBInstanceClassMemory/12582880}`; PostgreSQL: `LEAST({DBInstanceClassMemory/
9531392},5000)` (RDS User Guide, "Maximum number of database connections").
DBInstanceClassMemory is the class's memory less what RDS reserves for the operating
system and its own processes; AWS does not publish the reservation, so netemu takes
0.98 x memory - 256 MiB, which gives the PostgreSQL defaults people report for db.t2.medium
(413, exact), db.t2.large (855 against 856) and db.r4.large (1655 against 1660)."""

from __future__ import annotations

from netemu.errors import InputError

GIB = 1024 ** 3
MIB = 1024 ** 2

# memory of common instance classes, GiB
_SIZES = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32,
          "4xlarge": 64, "8xlarge": 128, "12xlarge": 192, "16xlarge": 256}
_FAMILY_SCALE = {"t3": 1, "t4g": 1, "t2": 1, "m5": 1, "m6g": 1, "m6i": 1, "m7g": 1,
                 "r5": 2, "r6g": 2, "r6i": 2, "r7g": 2}
CLASS_MEMORY_GIB: dict[str, float] = {}
for _fam, _k in _FAMILY_SCALE.items():
    for _size, _gib in _SIZES.items():
        if _fam.startswith("t") and _size not in ("micro", "small", "medium", "large",
                                                  "xlarge", "2xlarge"):
            continue
        if not _fam.startswith("t") and _size in ("micro", "small", "medium"):
            continue
        CLASS_MEMORY_GIB[f"db.{_fam}.{_size}"] = _gib * _k
CLASS_MEMORY_GIB["db.r4.large"] = 15.25


def instance_class_memory(instance_class: str) -> int:
    """DBInstanceClassMemory in bytes (netemu's approximation, see the module doc)."""
    gib = CLASS_MEMORY_GIB.get(instance_class)
    if gib is None:
        families = sorted({c.split(".")[1] for c in CLASS_MEMORY_GIB})
        raise InputError(f"unknown DB instance class {instance_class!r} (netemu knows "
                         f"db.FAMILY.SIZE for {', '.join(families)}; or give "
                         "--db-max-connections)")
    return int(0.98 * gib * GIB - 256 * MIB)


def max_connections(instance_class: str, engine: str) -> int:
    mem = instance_class_memory(instance_class)
    if engine in ("mysql", "mariadb"):
        return mem // 12582880
    if engine in ("postgres", "postgresql"):
        return min(mem // 9531392, 5000)
    raise InputError(f"unknown DB engine {engine!r} (mysql, mariadb or postgres)")


def proxy_limit(max_conns: int, percent: int) -> int:
    """RDS Proxy opens at most MaxConnectionsPercent of max_connections to the DB."""
    if not 1 <= percent <= 100:
        raise InputError(f"proxy MaxConnectionsPercent {percent}: must be 1-100")
    return max_conns * percent // 100

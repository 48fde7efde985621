"""The hypothesis strategies the property tests share (issue 8): rules (rule tables over
the five header fields and packets aimed at their edges, prefixes, flow keys),
topologies (whole YAML documents with rules written as text) and batches (packets,
header columns, whole connections around every idle timeout).

`examples(n)` is how many examples a test asks for: n under the "ci" profile (the
default, derandomized), 20 n under "deep" (`make test-deep`); see tests/conftest.py."""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from netemu.dataplane.state import Timeouts
from netemu.packet import ACK, ICMP, SYN, TCP, UDP, from_columns
from netemu.rules import FIELD_MAX, FIELDS, RuleTable

GRE = 47           # a protocol with neither ports nor types: S5's "other"
EPS = 0.125        # exact in binary, so a silence of exactly a timeout stays exact


def examples(n: int) -> int:
    """`n` examples scaled by the loaded profile (the default profile draws 100)."""
    return max(1, n * settings.default.max_examples // 100)   # 100: hypothesis's default


# ---- rules: tables over the five header fields, and packets aimed at their edges -------

BITS = {"src": 32, "dst": 32, "sport": 16, "dport": 16, "proto": 8}


@st.composite
def field_range(draw, f: str) -> tuple[int, int]:
    """An inclusive range of field `f`: any, a prefix, a range, a point or an edge."""
    top = FIELD_MAX[f]
    kind = draw(st.sampled_from(["any", "prefix", "range", "point", "edge"]))
    if kind == "any":
        return (0, top)
    if kind == "prefix":
        n = draw(st.integers(0, BITS[f]))
        host = (1 << (BITS[f] - n)) - 1
        lo = draw(st.integers(0, top)) & ~host & top
        return (lo, lo | host)
    if kind == "point":
        v = draw(st.sampled_from([0, top, draw(st.integers(0, top))]))
        return (v, v)
    if kind == "edge":
        return draw(st.sampled_from([(0, 0), (top, top), (0, top - 1), (1, top)]))
    a, b = draw(st.integers(0, top)), draw(st.integers(0, top))
    return (min(a, b), max(a, b))


@st.composite
def rule_tables(draw, max_rows: int = 40, min_rows: int = 0) -> RuleTable:
    """`min_rows` to `max_rows` rules, and up to 3 copies nested inside earlier ones."""
    rows = draw(st.lists(st.fixed_dictionaries({f: field_range(f) for f in FIELDS}),
                         min_size=min_rows, max_size=max_rows))
    for r in list(rows[: draw(st.integers(0, 3))]):
        rows.append({f: (r[f][0], r[f][0] + (r[f][1] - r[f][0]) // 2) for f in FIELDS})
    return RuleTable.from_rows(rows)


@st.composite
def packets_for(draw, table: RuleTable, n: int = 60) -> dict[str, np.ndarray]:
    """`n` packets' header columns, each random or aimed at a rule's edges (lo, hi, one
    outside each, one inside)."""
    cols: dict[str, list[int]] = {f: [] for f in FIELDS}
    for _ in range(n):
        row = draw(st.integers(-1, len(table) - 1))
        for f in FIELDS:
            top = FIELD_MAX[f]
            if row < 0:
                v = draw(st.integers(0, top))
            else:
                lo, hi = int(table.lo[f][row]), int(table.hi[f][row])
                v = draw(st.sampled_from([lo, hi, max(lo - 1, 0), min(hi + 1, top),
                                          draw(st.integers(lo, hi))]))
            cols[f].append(v)
    return {f: np.array(cols[f], dtype=np.int64) for f in FIELDS}


# (address, prefix length, value) of a longest-prefix table, lengths often at the edges
prefixes = st.tuples(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 8, 16, 24, 31, 32])
                     | st.integers(0, 32), st.integers(0, 1000))

# (src, dst, sport, dport, proto, extra) flow keys from few values, so that keys repeat
_small = st.integers(0, 3)
flow_keys = st.tuples(_small, _small, st.sampled_from([0, 1, 2**32 - 1]),
                      st.sampled_from([0, 80, 65535]), st.sampled_from([0, 443, 65535]),
                      st.sampled_from([1, 6, 17]))


# ---- batches -------------------------------------------------------------------------

@st.composite
def batches(draw, src: list[int], dst: list[int], *, t0: float = 0.0, max_size: int = 40,
            gaps=(0.0, 0.5, 20.0, 400.0), sport=(40000, 40001, 40002, 40003),
            dport=(443, 53, 0), proto=(TCP, UDP, ICMP, GRE), flags=(SYN, ACK)) -> np.ndarray:
    """1 to `max_size` packets from `src` to `dst` in time order from `t0`, each field
    drawn from the choices given (few, so that packets share flows)."""
    n = draw(st.integers(1, max_size))
    pick = lambda xs: draw(st.lists(st.sampled_from(list(xs)), min_size=n,  # noqa: E731
                                    max_size=n))
    return from_columns(ts=t0 + np.cumsum(pick(gaps)), src=pick(src), dst=pick(dst),
                        sport=pick(sport), dport=pick(dport), proto=pick(proto),
                        flags=pick(flags))


# Header columns over the whole range of every field (what a capture file may hold):
# ms timestamps, any addresses and ports, common and odd protocols, any flag byte.
header_columns = st.integers(1, 40).flatmap(lambda n: st.fixed_dictionaries({
    "ts": st.lists(st.integers(0, 2**31 * 1000 - 1), min_size=n, max_size=n),
    "src": st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n),
    "dst": st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n),
    "sport": st.lists(st.integers(0, 65535), min_size=n, max_size=n),
    "dport": st.lists(st.integers(0, 65535), min_size=n, max_size=n),
    "proto": st.lists(st.sampled_from([1, 2, 6, 17, 47, 50, 132]), min_size=n, max_size=n),
    "flags": st.lists(st.integers(0, 255), min_size=n, max_size=n),
    "extra": st.lists(st.integers(0, 1400), min_size=n, max_size=n),
}))


def around_timeouts(timeouts: Timeouts = Timeouts()) -> list[float]:
    """Silences just below, at and just above each idle timeout (S5 and G4), but the
    five-day TCP one (a trace of weeks is no test of a few seconds)."""
    values = {t for t in (timeouts.udp, timeouts.udp_stream, timeouts.nat_gateway,
                          timeouts.other)}
    return sorted({0.0, EPS} | {v + d for v in values for d in (-EPS, 0.0, EPS)})


SERVICE_PORT = {TCP: 443, UDP: 53, ICMP: 0, GRE: 0}   # (PORTS below: a list)


@st.composite
def connections(draw, clients: list[int], servers: list[int], *, max_connections: int = 4,
                max_turns: int = 4, gaps: list[float] | None = None) -> np.ndarray:
    """A time-ordered trace of up to `max_connections` connections, each opened by one of
    `clients` to one of `servers` and made of up to `max_turns` turns: after a silence
    drawn from `gaps`, one side sends a run of packets (1 to 13, spaced 0, 1/8 or just
    under 30 s apart: a run of 13 of the last lasts past the NAT gateway's 350 s without
    ever being idle that long). TCP opens with SYN and SYN-ACK; a later client turn may
    start with a SYN again (a reopened flow). Ties in time keep generation order."""
    gaps = gaps if gaps is not None else around_timeouts()
    rows: list[tuple] = []
    for c in range(draw(st.integers(1, max_connections))):
        client, server = draw(st.sampled_from(clients)), draw(st.sampled_from(servers))
        proto = draw(st.sampled_from([TCP, TCP, UDP, ICMP, GRE]))
        sport = 40000 + c
        t = draw(st.sampled_from([0.0, EPS, 10.0, 340.0]))
        for turn in range(draw(st.integers(1, max_turns))):
            if turn:
                t += draw(st.sampled_from(gaps))
            reply = turn > 0 and draw(st.booleans())
            count = draw(st.sampled_from([1, 2, 3, 13]))
            spacing = draw(st.sampled_from([0.0, EPS, 30.0 - EPS]))
            syn = proto == TCP and (turn == 0 or (not reply and draw(st.booleans())))
            for k in range(count):
                flags = ((SYN | ACK if reply else SYN) if syn and k == 0 else ACK) \
                    if proto == TCP else 0
                rows.append((t + k * spacing, reply, client, server, sport, proto, flags))
            t += (count - 1) * spacing
    ts, reply, client, server, sport, proto, flags = (np.array(x) for x in zip(*rows,
                                                                             strict=True))
    order = np.argsort(ts, kind="stable")
    ts, reply, client, server, sport, proto, flags = (x[order] for x in (
        ts, reply, client, server, sport, proto, flags))
    port = np.array([SERVICE_PORT[int(p)] for p in proto])
    icmp = proto == ICMP
    # ICMP keeps its type in sport: echo request 8 out, echo reply 0 back
    ask_sport = np.where(icmp, 8, np.where(proto == GRE, 0, sport))
    ans_sport = np.where(icmp, 0, port)
    ans_dport = np.where(icmp | (proto == GRE), 0, sport)
    return from_columns(
        ts=ts, src=np.where(reply, server, client), dst=np.where(reply, client, server),
        sport=np.where(reply, ans_sport, ask_sport), dport=np.where(reply, ans_dport, port),
        proto=proto, flags=flags, length=np.where(reply, 400, 100))


# ---- topologies: whole YAML documents, rules written as text ---------------------------

VPC = "v"
PL_S3 = "pl-63a5400a"
INTERNET = {"inet-a": "203.0.113.10", "inet-b": "198.51.100.20", "s3-host": "52.216.0.10"}
EIP = "54.0.0.10"
PORTS = [0, 1, 22, 53, 80, 443, 1023, 1024, 5432, 32767, 32768, 49151, 49152, 60999,
         61000, 61001, 65534, 65535]
SPORTS = [1023, 1024, 32767, 32768, 40000, 49151, 49152, 61000, 61001, 65535]
PORT_RANGES = ["all", "443", "22", "53", "5432", "0-1023", "1024-65535", "32768-65535",
               "49152-65535", "32768-61000", "1-65535", "443-1024"]
ICMP_SPECS = ["", "type 8", "type 8 code 0", "type 0", "type 0 code 0", "type 3 code 4"]

BROAD = ["all {dir} 0.0.0.0/0", "tcp all {dir} 0.0.0.0/0", "all {dir} 10.0.0.0/16",
         "udp all {dir} 0.0.0.0/0", "icmp {dir} 0.0.0.0/0", "tcp 1024-65535 {dir} 0.0.0.0/0",
         "tcp 443 {dir} 0.0.0.0/0", "tcp 5432 {dir} 10.0.0.0/16"]


def rule_body(draw, peers: list[str], *, acl: bool) -> str:
    """A rule without its number or allow/deny, with `{dir}` for from/to. Half the time
    a broad one, so that enough flows get far enough to meet the next hop."""
    if draw(st.booleans()):
        return draw(st.sampled_from(BROAD))
    proto = draw(st.sampled_from(["tcp", "tcp", "udp", "icmp", "all", "47"]))
    body = proto
    if proto in ("tcp", "udp"):
        ports = draw(st.sampled_from(PORT_RANGES + ([] if acl else ["__none__"])))
        if ports != "__none__":
            body += " " + ports
    elif proto == "icmp":
        spec = draw(st.sampled_from(ICMP_SPECS))
        body += (" " + spec) if spec else ""
    return body + " {dir} " + draw(st.sampled_from(peers))


def random_acl(draw, peers: list[str], word: str) -> list[str]:
    numbers = draw(st.lists(st.sampled_from([1, 10, 50, 99, 100, 101, 110, 200, 32766]),
                            unique=True, max_size=5))
    return [f"{num} {draw(st.sampled_from(['allow', 'allow', 'allow', 'deny']))} "
            + rule_body(draw, peers, acl=True).format(dir=word) for num in numbers]


def classic_acl(draw, word: str) -> list[str]:
    """Service ports allowed, ephemeral ports maybe (N6), maybe a deny in front: the
    shape that drops replies."""
    out = []
    if draw(st.integers(0, 3)) == 0:
        out.append(f"50 deny {draw(st.sampled_from(['tcp 22', 'all', 'udp all']))} {word} "
                   + draw(st.sampled_from(["203.0.113.0/24", "198.51.100.20/32",
                                           "10.0.1.0/24"])))
    services = draw(st.lists(st.sampled_from(["tcp 443", "tcp 5432", "udp 53", "tcp 22",
                                              "icmp", "icmp type 8", "icmp type 0"]),
                             min_size=1, max_size=3, unique=True))
    for i, svc in enumerate(services):
        peer = draw(st.sampled_from(["0.0.0.0/0", "0.0.0.0/0", "10.0.0.0/16"]))
        out.append(f"{100 + 10 * i} allow {svc} {word} {peer}")
    if draw(st.booleans()):
        proto = draw(st.sampled_from(["tcp", "udp"]))
        ports = draw(st.sampled_from(["1024-65535", "32768-65535", "49152-65535",
                                      "32768-61000", "1025-65535"]))
        out.append(f"200 allow {proto} {ports} {word} 0.0.0.0/0")
    return out


@st.composite
def topologies(draw) -> dict:
    """A whole YAML topology document: 1 to 3 subnets whose default routes go to an
    internet gateway, a NAT gateway, a NAT instance, a blackhole or nowhere, maybe more
    specific routes and an S3 gateway endpoint, hosts (some public), security groups
    and network ACLs from rule_body, and one function in one or two subnets."""
    n_sub = draw(st.integers(1, 3))
    subnets = [f"s{i}" for i in range(n_sub)]
    cidrs = {s: f"10.0.{i}.0/24" for i, s in enumerate(subnets)}
    has_igw = draw(st.booleans()) or draw(st.booleans())
    has_nat = draw(st.booleans())
    nat_subnet = draw(st.sampled_from(subnets)) if has_nat else None
    has_vpce = draw(st.integers(0, 3)) == 0
    has_ni = draw(st.integers(0, 2)) == 0     # an instance some routes point to

    default_kinds = ["blackhole", "none"] + (["igw", "igw"] if has_igw else []) + \
        (["nat", "nat"] if has_nat else []) + (["ni", "ni"] if has_ni else [])
    kinds = {}
    for s in subnets:
        choices = [k for k in default_kinds if not (s == nat_subnet and k == "nat")]
        kinds[s] = draw(st.sampled_from(choices))
    targets = {"igw": "igw", "nat": "nat", "blackhole": "blackhole", "ni": "ni"}
    extra_targets = ["blackhole"] + (["igw"] if has_igw else []) + \
        (["nat"] if has_nat else []) + (["ni"] if has_ni else [])

    route_tables, subnet_body = {}, {}
    for i, s in enumerate(subnets):
        routes: dict = {}
        if kinds[s] != "none":
            routes["0.0.0.0/0"] = targets[kinds[s]]
        if draw(st.integers(0, 3)) == 0:      # a more specific route beside the default
            t = draw(st.sampled_from(extra_targets))
            if not (t == "nat" and s == nat_subnet):
                routes[draw(st.sampled_from(["203.0.113.0/24", "203.0.113.10/32",
                                             "198.51.100.0/24"]))] = t
        if has_vpce and draw(st.booleans()):
            routes["s3"] = "vpce-s3"
            if draw(st.booleans()):        # R4: a static CIDR route equal to a list entry
                t = draw(st.sampled_from(extra_targets))
                if not (t == "nat" and s == nat_subnet):
                    routes["52.216.0.0/15"] = t
        body = {"cidr": cidrs[s], "az": f"us-east-1{'abc'[i]}"}
        if routes or draw(st.booleans()):
            route_tables[f"rt-{s}"] = routes
            body["route_table"] = f"rt-{s}"
        subnet_body[s] = body

    hosts = {}
    n_hosts = draw(st.integers(1, 2))
    host_ips = []
    for j in range(n_hosts):
        s = draw(st.sampled_from(subnets))
        ip = f"10.0.{subnets.index(s)}.{10 + j}"
        host_ips.append(ip)
        hosts[f"h{j}"] = {"subnet": s, "ip": ip}
        if has_igw and draw(st.booleans()):
            hosts[f"h{j}"]["public_ip"] = f"54.0.1.{10 + j}"
    if has_ni:
        s = draw(st.sampled_from(subnets))
        hosts["ni"] = {"subnet": s, "ip": f"10.0.{subnets.index(s)}.30",
                       "source_dest_check": draw(st.booleans())}
        host_ips.append(hosts["ni"]["ip"])
        if has_igw and draw(st.integers(0, 3)):
            hosts["ni"]["public_ip"] = "54.0.1.30"

    sg_names = [f"sg{k}" for k in range(draw(st.integers(1, 3)))]
    all_sgs = sg_names + [f"{VPC}-default-sg"]
    peers = (["0.0.0.0/0", "0.0.0.0/0", "10.0.0.0/16", "203.0.113.0/24", "198.51.100.20/32"]
             + list(cidrs.values()) + [f"{ip}/32" for ip in host_ips])
    sg_peers = peers + [f"sg:{g}" for g in all_sgs] + [f"pl:{PL_S3}"]
    acl_peers = peers + ["52.216.0.0/15", "54.0.0.0/8"]

    security_groups = {}
    for g in sg_names:
        body = {}
        for direction, word in (("ingress", "from"), ("egress", "to")):
            if direction == "egress" and draw(st.booleans()):
                continue                    # S4: default outbound all
            n = draw(st.sampled_from([0, 1, 1, 2, 2, 3, 3]))
            body[direction] = [rule_body(draw, sg_peers, acl=False).format(dir=word)
                               for _ in range(n)]
        security_groups[g] = body

    network_acls = {}
    for a in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2]))):
        body = {}
        classic = draw(st.booleans())
        for direction, word in (("inbound", "from"), ("outbound", "to")):
            entries = (classic_acl(draw, word) if classic
                       else random_acl(draw, acl_peers, word))
            if draw(st.integers(0, 4)) == 0:
                entries.append(f"* deny all {word} 0.0.0.0/0")
            body[direction] = entries
        network_acls[f"acl{a}"] = body
    for s in subnets:
        if network_acls and draw(st.integers(0, 3)):
            subnet_body[s]["acl"] = draw(st.sampled_from(sorted(network_acls)))

    for h in hosts.values():
        h["security_groups"] = draw(st.lists(st.sampled_from(all_sgs), min_size=1,
                                             max_size=2, unique=True))
    fn_subnets = draw(st.lists(st.sampled_from(subnets), min_size=1, max_size=2, unique=True))
    fn_sgs = draw(st.lists(st.sampled_from(all_sgs), min_size=1, max_size=2, unique=True))

    doc = {"vpc": VPC, "cidr": "10.0.0.0/16"}
    if has_igw:
        doc["internet_gateway"] = "igw"
    doc["subnets"] = subnet_body
    if route_tables:
        doc["route_tables"] = route_tables
    if has_nat:
        doc["nat_gateways"] = {"nat": {"subnet": nat_subnet, "elastic_ip": EIP}}
    if has_vpce:
        doc["endpoints"] = {"vpce-s3": {"service": "s3", "policy": draw(
            st.sampled_from(["allow", "allow", "deny"]))}}
    if network_acls:
        doc["network_acls"] = network_acls
    doc["security_groups"] = security_groups
    doc["functions"] = {"fn": {"subnets": fn_subnets, "security_groups": fn_sgs}}
    doc["hosts"] = hosts
    doc["internet"] = dict(INTERNET)
    return doc

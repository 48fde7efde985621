"""Synthetic Lambda workloads: N concurrent invocations, each opening its own connections.

`generate_workload` builds the packets that N execution environments of one function
exchange with some destinations (L10: every environment opens its own connections, so N
environments x M connections x D destinations = N*M*D connections), as the environments
see them: client = the environment's address in the Lambda service range and a Linux
ephemeral port (N6: 32768-60999), server = the destination's address and port as the VPC
resolver answers that environment (D1-D3, E2). Feed the batch to the dataplane, or write it
with `write_workload` as a pcap or as JSON-lines flows.

Counting by hand
----------------
Connections are numbered env-major: connection (flow id)
``flow = (k * D + j) * M + c`` for environment k (0..N-1), destination j (0..D-1, in the
order given) and connection c (0..M-1); both directions of a connection carry its id.

A connection lasting T seconds (start to end of its data phase) makes
``d = exchanges(rate, T) = max(1, floor(rate * T / 2))`` request/response exchanges, and

- TCP: ``3 + 2*d + 3`` packets: SYN, SYN|ACK, ACK; d x (request PSH|ACK from the client,
  response PSH|ACK from the server); FIN|ACK from the client, FIN|ACK from the server,
  final ACK from the client. The client sends ``4 + d`` of them, the server ``2 + d``.
- UDP: ``2*d`` packets: d x (request, response); no handshake, no teardown.

With ``hold=H`` every connection lasts exactly H seconds (starts spread over
[0, duration - H]), so every connection has the same d = exchanges(rate, H) and a workload
has exactly ``N * M * D * (6 + 2*d)`` TCP packets (``N * M * D * 2*d`` UDP). Without `hold`
a connection starting at s ends at a random time in [s, duration), so T varies.

Timing within a connection starting at s, with round trip r (about 0.5 ms to an address in
a VPC, 20 ms to anything else, +-20 % per connection) and a client turnaround of 50 us:
SYN at s, SYN|ACK at s+r, ACK at s+r+50us; data packet i (0..2d-1) at
s + r + 100us + i/rate (requests and responses alternate at `rate` packets per second);
client FIN at s + r + 100us + 2d/rate, server FIN a round trip later, final ACK 50 us
after that. So the data phase lasts 2d/rate <= max(T, 2/rate), and the last packet is
before duration + 2/rate + 2r + 150us (the handshake, teardown and the minimum of one
exchange can run past `duration`; with `hold` >= 2/rate, by at most 2r + 150us).
UDP packet i is at s + i/rate.

Sizes (IP total length): handshake and teardown 40 bytes (no TCP options); requests
200-600, responses 200-1500, uniformly at random.
"""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path

import numpy as np

from netemu.apps.resolve import Endpoint, resolve_destination
from netemu.errors import InputError
from netemu.io.atomic import atomic_file
from netemu.io.jsonl_flows import write_jsonl_flows
from netemu.io.pcap_writer import write_pcap
from netemu.model import aws_services
from netemu.model.topology import Topology
from netemu.packet import ACK, FIN, PSH, SYN, TCP, UDP, empty

EPHEMERAL_LO, EPHEMERAL_HI = 32768, 60999      # Linux clients (N6), inclusive
EPHEMERAL_PORTS = EPHEMERAL_HI - EPHEMERAL_LO + 1
DEFAULT_PORTS = {"tcp": 443, "udp": 53}
TCP_CONTROL_PACKETS = 6                        # 3 handshake + 3 teardown
CONTROL_LEN = 40                               # IP 20 + TCP 20, no options
REQUEST_LEN = (200, 600)                       # IP total length, inclusive
RESPONSE_LEN = (200, 1500)
RTT_IN_VPC, RTT_OUTSIDE, RTT_JITTER = 0.0005, 0.020, 0.2
TURNAROUND = 50e-6                             # client's reaction time, seconds
MAX_PACKETS = 10_000_000                       # guard against runaway requests

_FLAGS_TCP = {"syn": SYN, "synack": SYN | ACK, "ack": ACK, "data": PSH | ACK, "fin": FIN | ACK}


def exchanges(rate: float, seconds: float | np.ndarray) -> np.ndarray:
    """Request/response exchanges of a connection lasting `seconds` at `rate` packets per
    second: max(1, floor(rate * seconds / 2)) (a hair of tolerance absorbs float error,
    so rate 10 over 2 s is exactly 10)."""
    d = np.floor(rate * np.asarray(seconds, np.float64) / 2 + 1e-9).astype(np.int64)
    return np.maximum(d, 1)


def packets_per_connection(proto: str, d: int | np.ndarray) -> int | np.ndarray:
    """Packets of one connection with d exchanges: 6 + 2d for TCP, 2d for UDP."""
    return 2 * d + (TCP_CONTROL_PACKETS if proto == "tcp" else 0)


def parse_destination(text: str, default_port: int) -> tuple[str, int]:
    """`NAME` or `NAME:PORT` (NAME: an IP, a DNS name, `lambda:FN`, ...) -> (NAME, port)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"bad destination {text!r}: give an address or a name")
    text = text.strip()
    head, sep, tail = text.rpartition(":")
    if sep and tail.isdigit():
        if not head:
            raise InputError(f"bad destination {text!r}: no name before the port")
        port = int(tail)
        if not 1 <= port <= 65535:
            raise InputError(f"bad destination {text!r}: port {port} is not in 1-65535")
        return head, port
    if sep and not tail:
        raise InputError(f"bad destination {text!r}: empty port")
    return text, default_port


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        top = f"-{hi}" if hi is not None else " or more"
        raise InputError(f"{name} {value} is out of range ({lo}{top})")
    return int(value)


def _check_float(name: str, value: object, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InputError(f"{name} must be a number, not {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise InputError(f"{name} must be a finite number {'above' if positive else 'of at least'}"
                         f" 0, not {value!r}")
    return v


def _env_endpoint(topo: Topology, function: str, k: int) -> Endpoint:
    env = topo.environment(function, k)
    sn = topo.subnets[env.subnet] if env.subnet else None
    where = f"in {env.subnet}" if env.subnet else "without VPC configuration"
    return Endpoint(f"lambda:{function}", env.ip,
                    f"Lambda function {function} environment {k} ({where})",
                    sn.vpc if sn else None, sn.az if sn else None, function)


def generate_workload(topo: Topology, function: str, concurrency: int, connections: int,
                      destinations: list[str], duration: float, rate: float = 10.0,
                      seed: int = 0, proto: str = "tcp", port: int | None = None, *,
                      hold: float | None = None, t0: float = 0.0) -> np.ndarray:
    """PacketBatch (sorted by `ts`, stably) of `concurrency` execution environments of
    `function` (k = 0..concurrency-1, `topo.environment(function, k)`), each opening
    `connections` connections to every destination, over `duration` seconds.

    destinations: `NAME` or `NAME:PORT`; the port defaults to `port`, else 443 for TCP and
    53 for UDP. Each name is resolved as the VPC resolver answers the environment (its VPC
    and AZ), so an interface endpoint's same-AZ address is picked per environment.
    Source ports: seeded, distinct within each environment (so across its destinations
    too) in 32768-60999. Starts: seeded, uniform over [0, duration) (with `hold`,
    [0, duration - hold]). `rate`: packets per second per connection in the data phase.
    `hold`: every connection's data phase lasts exactly this long (see the module
    docstring for the exact counts). `t0` shifts every timestamp (an epoch for pcaps).
    The same arguments and seed give the same bytes. Bad input raises InputError."""
    if not isinstance(function, str) or function not in topo.functions:
        known = ", ".join(sorted(topo.functions)) or "none"
        raise InputError(f"unknown Lambda function {function!r} (functions: {known})")
    limit = aws_services.ENVS_PER_FUNCTION
    if isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency > limit:
        raise InputError(f"concurrency {concurrency}: netemu emulates at most {limit} "
                         f"execution environments per function (ENVS_PER_FUNCTION)",
                         resource=function)
    n = _check_int("concurrency", concurrency, 1, limit)
    m = _check_int("connections", connections, 1)
    duration = _check_float("duration", duration)
    rate = _check_float("rate", rate)
    seed = _check_int("seed", seed, 0)
    t0 = _check_float("t0", t0, positive=False) if t0 else 0.0
    if hold is not None:
        hold = _check_float("hold", hold, positive=False)
        if hold > duration:
            raise InputError(f"hold {hold:g} s is longer than the duration {duration:g} s")
    if not isinstance(proto, str) or proto.lower() not in DEFAULT_PORTS:
        raise InputError(f"protocol {proto!r}: a workload is tcp or udp")
    proto = proto.lower()
    if port is not None:
        port = _check_int("port", port, 1, 65535)
    if isinstance(destinations, str) or not destinations:
        raise InputError("give at least one destination (a list of names or addresses)")
    default_port = port if port is not None else DEFAULT_PORTS[proto]
    parsed = [parse_destination(d, default_port) for d in destinations]
    dcount = len(parsed)
    if m * dcount > EPHEMERAL_PORTS:
        raise InputError(f"{m} connections x {dcount} destinations = {m * dcount} per "
                         f"environment: more than the {EPHEMERAL_PORTS} ephemeral ports "
                         f"{EPHEMERAL_LO}-{EPHEMERAL_HI} (N6)")

    # environments and what each destination resolves to from them (per subnet: VPC, AZ)
    envs = [_env_endpoint(topo, function, k) for k in range(n)]
    resolved: dict[tuple[str | None, str | None, str], Endpoint] = {}
    dst_ip = np.zeros((n, dcount), np.uint32)
    in_vpc = np.zeros((n, dcount), bool)
    for k, env in enumerate(envs):
        for j, (name, _) in enumerate(parsed):
            key = (env.vpc, env.az, name)
            if key not in resolved:
                ep = resolve_destination(topo, name, env)
                if not isinstance(ep.ip, ipaddress.IPv4Address):
                    raise InputError(f"{name!r} resolves to {ep.ip}: IPv4 only", resource=name)
                resolved[key] = ep
            dst_ip[k, j] = int(resolved[key].ip)
            in_vpc[k, j] = resolved[key].vpc is not None

    rng = np.random.default_rng(seed)
    # connection c of destination j of environment k is index (k * D + j) * M + c
    count = n * dcount * m
    src = np.repeat(np.array([int(e.ip) for e in envs], np.uint32), dcount * m)
    dst = np.repeat(dst_ip.ravel(), m)
    dport = np.tile(np.repeat(np.array([p for _, p in parsed], np.int64), m), n)
    sport = np.concatenate([rng.choice(EPHEMERAL_PORTS, m * dcount, replace=False)
                            for _ in range(n)]).astype(np.int64) + EPHEMERAL_LO
    if hold is None:
        start = rng.uniform(0.0, duration, count)
        length_s = rng.uniform(0.0, 1.0, count) * (duration - start)
    else:
        start = rng.uniform(0.0, 1.0, count) * (duration - hold)
        length_s = np.full(count, hold)
    rtt = np.where(np.repeat(in_vpc.ravel(), m), RTT_IN_VPC, RTT_OUTSIDE)
    rtt = rtt * rng.uniform(1 - RTT_JITTER, 1 + RTT_JITTER, count)
    d = exchanges(rate, length_s)
    per = packets_per_connection(proto, d)
    total = int(per.sum())
    if total > MAX_PACKETS:
        raise InputError(f"this workload has {total} packets; netemu generates at most "
                         f"{MAX_PACKETS} at once (lower concurrency, duration or rate)")

    conn = np.repeat(np.arange(count), per)
    first = np.zeros(count, np.int64)
    np.cumsum(per[:-1], out=first[1:])
    pos = np.arange(total) - first[conn]
    dd, s, r = d[conn], start[conn], rtt[conn]
    batch = empty(total)
    if proto == "tcp":
        hs = pos < 3
        i = pos - 3                                    # data index
        data = ~hs & (i < 2 * dd)
        q = i - 2 * dd                                 # teardown index 0..2
        td = ~hs & ~data
        data_t0 = s + r + 2 * TURNAROUND
        fin_t = data_t0 + 2 * dd / rate
        ts = np.select(
            [hs & (pos == 0), hs & (pos == 1), hs, data, q == 0, q == 1],
            [s, s + r, s + r + TURNAROUND, data_t0 + i / rate, fin_t, fin_t + r],
            fin_t + r + TURNAROUND)
        reply = (hs & (pos == 1)) | (data & (i % 2 == 1)) | (td & (q == 1))
        flags = np.select([hs & (pos == 0), hs & (pos == 1), hs, data],
                          [_FLAGS_TCP["syn"], _FLAGS_TCP["synack"], _FLAGS_TCP["ack"],
                           _FLAGS_TCP["data"]],
                          np.where(q == 2, _FLAGS_TCP["ack"], _FLAGS_TCP["fin"]))
        batch["proto"] = TCP
        batch["flags"] = flags
    else:
        i = pos
        data = np.ones(total, bool)
        reply = i % 2 == 1
        ts = s + i / rate
        batch["proto"] = UDP
    lengths = np.where(reply, rng.integers(RESPONSE_LEN[0], RESPONSE_LEN[1] + 1, total),
                       rng.integers(REQUEST_LEN[0], REQUEST_LEN[1] + 1, total))
    batch["length"] = np.where(data, lengths, CONTROL_LEN)
    batch["ts"] = ts + t0
    batch["src"] = np.where(reply, dst[conn], src[conn])
    batch["dst"] = np.where(reply, src[conn], dst[conn])
    batch["sport"] = np.where(reply, dport[conn], sport[conn])
    batch["dport"] = np.where(reply, sport[conn], dport[conn])
    batch["flow"] = conn
    return batch[np.argsort(batch["ts"], kind="stable")]


def client_mask(batch: np.ndarray) -> np.ndarray:
    """True for the packets the execution environments send (source in the Lambda service
    range): the packets to push through the dataplane, which makes their replies itself. (A
    destination that is itself a Lambda environment would count as a client too.)"""
    net = aws_services.LAMBDA_SERVICE_CIDR
    lo = int(net.network_address)
    return (batch["src"] >= lo) & (batch["src"] < lo + net.num_addresses)


def write_workload(path: str | Path, batch: np.ndarray, *, force: bool = True) -> int:
    """Write a workload by the file's extension: .pcap or .pcapng -> a capture (classic
    libpcap format either way; readers tell by the magic number), returns packets written;
    .jsonl -> JSON-lines flows (one line per flow id and direction), returns lines written.
    Any other extension raises InputError. The file is written under a temporary name
    beside it and renamed over it when whole (netemu.io.atomic); without `force` an
    existing non-empty file is refused."""
    suffix = Path(path).suffix.lower()
    if suffix in (".pcap", ".pcapng"):
        writer = write_pcap
    elif suffix == ".jsonl":
        writer = write_jsonl_flows
    else:
        raise InputError(f"cannot tell the output format from {suffix or 'no extension'!r}:"
                         " use .pcap, .pcapng or .jsonl", file=str(path))
    with atomic_file(Path(path), force=force) as tmp:
        return writer(tmp, batch)

"""The key property of reach (issue 9): on random small topologies, for random concrete
requests, reach's set and the concrete dataplane (trace: the request, then its reply,
checked to answer it) agree in both directions. A request reach calls `partial` (its
reply passes for some ports a translator may pick, not others) is left out: the
dataplane picks one port, so either verdict is right."""

from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import EIP, INTERNET, examples, topologies

from netemu.apps.reach.query import Reach, client_ports, in_set
from netemu.apps.resolve import Endpoint, resolve_destination, resolve_sources
from netemu.apps.trace_core import run_trace
from netemu.io.yaml_loader import load_yaml
from netemu.packet import ICMP, TCP, UDP

_TMP = Path(tempfile.mkdtemp(prefix="netemu-reach-"))
IP = ipaddress.IPv4Address


def load_text(text: str):
    path = _TMP / "topo.yaml"
    path.write_text(text)
    return load_yaml(path)


def sources(topo, doc) -> list[Endpoint]:
    out = resolve_sources(topo, "lambda:fn")
    out += [resolve_sources(topo, f"instance:{h}")[0] for h in sorted(doc["hosts"])]
    out += [Endpoint(n, IP(ip), "internet host", None) for n, ip in sorted(INTERNET.items())]
    return out


def destinations(topo, doc) -> list[str]:
    hosts = doc["hosts"].values()
    return ([h["ip"] for h in hosts] + [h["public_ip"] for h in hosts if "public_ip" in h]
            + list(INTERNET.values()) + [EIP, "10.0.0.2", "169.254.169.254", "52.216.7.7",
                                         "8.8.8.8", "10.0.2.99"]
            + [str(e.private_ip) for e in topo.enis.values()])


def agree(r: Reach, topo, src: Endpoint, dst_text: str, proto: int, port: int,
          sport: int) -> str | None:
    """None when they agree, else what differs."""
    dst = resolve_destination(topo, dst_text, src)
    span = [(int(src.ip), int(src.ip))]
    a = r.run(src, [(int(dst.ip), int(dst.ip))], [proto], (port, port), None, span)
    if proto == ICMP:
        sport, port = 8, 0
    full = in_set(a.boxes(), int(dst.ip), proto, sport, port)
    partial = in_set(a.boxes(partial=True), int(dst.ip), proto, sport, port)
    if partial:
        return None
    t = run_trace(topo, src, dst, proto, port, sport)
    concrete = t.ok and t.reply is not None
    if full != concrete:
        leg = t.failed
        return (f"{src.text} ({src.ip}) -> {dst_text} proto {proto} {sport}->{port}: reach "
                f"says {full}, the dataplane {concrete} "
                f"({leg.reason if leg else ''} at {leg.dropped_at if leg else ''})")
    return None


@settings(max_examples=examples(60), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), doc=topologies())
def test_item9_reach_agrees_with_the_dataplane_both_ways(data, doc):
    text = yaml.safe_dump(doc, sort_keys=False)
    topo = load_text(text)
    r = Reach(topo)
    srcs, dsts = sources(topo, doc), destinations(topo, doc)
    for _ in range(6):
        src = data.draw(st.sampled_from(srcs))
        dst = data.draw(st.sampled_from(dsts))
        proto = data.draw(st.sampled_from([TCP, TCP, UDP, ICMP]))
        port = data.draw(st.sampled_from([22, 53, 443, 5432, 80, 1024, 40000, 65535]))
        lo, hi = client_ports(topo, src)
        sport = data.draw(st.sampled_from([lo, hi, 40000, (lo + hi) // 2]))
        problem = agree(r, topo, src, dst, proto, port, sport)
        assert problem is None, problem + "\n" + text

"""Issue 8: one graph that names its nodes (`netemu graph`), hops as structured fields,
trace JSON where `resource` is what decided and absent values are null, and one reply
check shared by trace and replay, with no trace<->fix import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from typer.testing import CliRunner

from netemu.apps.trace import trace
from netemu.cli import app
from netemu.dataplane.elements.registry import KINDS
from netemu.dataplane.graph import Graph
from netemu.io.load import load
from netemu.packet import from_columns
from tests.conftest import ROOT

runner = CliRunner()
NAT_INTERNET = ROOT / "topologies/lambda-nat-internet.yaml"
NO_EPHEMERAL = ROOT / "topologies/lambda-nacl-no-ephemeral.yaml"


def _graph_text(path) -> dict[str, list[str]]:
    r = runner.invoke(app, ["graph", str(path)])
    assert r.exit_code == 0, r.stderr
    nodes: dict[str, list[str]] = {}
    last = ""
    for line in r.stdout.splitlines():
        if line.startswith("  "):
            nodes[last].append(line.strip())
        else:
            last = line
            nodes[last] = []
    return nodes


def test_item8_graph_cli_names_next_nodes():
    """Hand-checked on lambda-nat-internet.yaml: nat-a sits in public-a, so its next node
    is public-a's router (G1); private-a's default route reaches the NAT gateway
    through its ENI (no security groups there, G5); the internet gateway's egress side
    leads to the internet (I1); a Hyperplane NAT leads back to the Lambda service and
    out through its own ENI (L3)."""
    nodes = _graph_text(NAT_INTERNET)
    assert nodes["nat:nat-a  [nat-gateway nat-a]"] == ["router -> router:public-a"]
    assert "route 0.0.0.0/0 -> in:eni-nat-a" in nodes["router:private-a  [route-table private-a]"]
    assert "route 0.0.0.0/0 -> igw-out:igw" in nodes["router:public-a  [route-table public-a]"]
    assert nodes["igw-out:igw  [igw-egress igw]"] == ["internet -> internet"]
    assert nodes["in:eni-nat-a  [eni-ingress eni-nat-a]"] == ["owner -> nat:nat-a"]
    hp = [k for k in nodes if k.startswith("hp:")]
    assert len(hp) == 2                     # one Hyperplane ENI per subnet (L2)
    eni = hp[0].split()[0].split(":")[1]
    assert nodes[hp[0]] == ["lambda-service -> lambda", f"interface -> out:{eni}"]


def test_item8_graph_cli_dot_and_bad_input(tmp_path):
    r = runner.invoke(app, ["graph", str(NAT_INTERNET), "--dot"])
    assert r.exit_code == 0 and r.stdout.startswith("digraph netemu {")
    assert '"nat:nat-a" -> "router:public-a" [label="router"];' in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("vpc: v\ncidr: not-a-cidr\n")
    r = runner.invoke(app, ["graph", str(bad)])
    assert r.exit_code == 2 and r.stderr.startswith("netemu: error:") and not r.stdout


def test_item8_every_edge_name_is_declared_by_its_kind():
    """Next nodes are resolved by name: every edge the graph holds carries one of the
    names its element's class declares, and every named target exists (or is `via`)."""
    for path in sorted((ROOT / "topologies").glob("*.yaml")):
        g = Graph(load(path))
        for key, edges in g.edges.items():
            element = g.element(key)
            for name, target in edges:
                assert name in element.next_names or name.startswith("route "), (key, name)
                assert target in g.slots or target == ("*", "via"), (key, target)


def test_item8_registry_kinds_each_build_from_topology_and_graph():
    """A hop kind is one class with nodes/build (and table/process): no element takes
    the dataplane or the graph itself."""
    g = Graph(load(NAT_INTERNET))
    for e in g.elements:
        assert not any(isinstance(v, Graph) for v in vars(e).values()), e.name
    for kind in KINDS:
        assert "build" in vars(kind) and "table" in dir(kind), kind


def test_item8_hops_carry_what_decided_where_and_which_side():
    """The reply of lambda-nacl-no-ephemeral is dropped by ACL app's `*` rule entering
    private-a: the drop hop names the ACL (what decided), the subnet (where) and the
    side; a route hop names its route table, not the subnet; a forwarding hop without
    rule, reason or translation has them null."""
    t = trace(load(NO_EPHEMERAL), "lambda:billing", "api.example.com", fix=False)
    hops = t.to_json()["hops"]
    drop = hops[-1]
    assert (drop["resource"], drop["at"], drop["side"], drop["reason"]) == (
        "app", "private-a", "ingress", "SUBNET_ACL_RESTRICTION")
    acl_out = next(h for h in hops if h["kind"] == "acl-outbound")
    assert (acl_out["resource"], acl_out["at"], acl_out["side"]) == ("app", "private-a",
                                                                     "egress")
    route = next(h for h in hops if h["kind"] == "route-table")
    assert (route["resource"], route["at"]) == ("private", "private-a")
    sg = next(h for h in hops if h["kind"] == "eni-egress")
    assert sg["resource"] == "fn"           # the group whose rule allowed (S1)
    fwd = hops[0]
    assert (fwd["rule"], fwd["reason"], fwd["translation"]) == (None, None, None)


def test_item8_fix_reads_structured_hops_not_element_names():
    """An ingress security-group drop at a host with two groups: the drop is blamed on
    the ENI (neither group alone decided), and the fix goes to the ENI's first group,
    found from the hop's `at`, not by parsing its element name; its peer is the
    client's group (the client carries the VPC's default group, S4)."""
    doc = """
vpc: v
cidr: 10.0.0.0/16
subnets:
  a: {cidr: 10.0.1.0/24}
security_groups:
  web: {}
  ops: {}
hosts:
  db: {subnet: a, ip: 10.0.1.10, security_groups: [web, ops]}
  client: {subnet: a, ip: 10.0.1.11}
"""
    from tests.test_pipeline_reference import load_text
    topo = load_text(doc, "two-groups.yaml")
    t = trace(topo, "host:client", "10.0.1.10", "tcp", 5432)
    drop = t.to_json()["hops"][-1]
    eni = topo.hosts["db"].eni
    assert (drop["resource"], drop["at"], drop["side"]) == (eni, eni, "ingress")
    assert t.fixes == [
        'add ingress rule "tcp 5432 from sg:v-default-sg" to security group web']
    assert t.fix_verified


def _imports(path: Path) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module)
            mods.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
    return mods


def test_item8_no_trace_fix_cycle_and_fix_uses_no_oracle():
    """fix imports the trace core, never trace (at any level); the core imports no
    fix; fix uses the dataplane's own matchers, not a naive oracle of the tests."""
    apps = ROOT / "netemu/apps"
    fix, core = _imports(apps / "fix.py"), _imports(apps / "trace_core.py")
    assert "netemu.apps.trace" not in fix and "netemu.apps.trace_core" in fix
    assert not any(m.startswith("netemu.apps.fix") for m in core)
    assert not any("naive" in m for m in fix)


def test_item8_one_reply_source_check_for_trace_and_both_replays():
    """REPLY_SOURCE_CHANGED is decided in dataplane/run.py only: trace, replay and
    flow-log replay call it instead of carrying copies."""
    apps = ROOT / "netemu/apps"
    for name in ("replay.py", "flowlog_replay.py"):
        text = (apps / name).read_text()
        assert "REPLY_SOURCE_CHANGED" not in text and "refuse_changed(" in text, name
        assert "address_reply(" in text, name
    assert "source_changed(" in (apps / "trace_core.py").read_text()


def test_item8_reply_source_check_compares_ports_only_for_tcp_and_udp():
    """G1/I1: a reply from the right address but another port is no answer for TCP and
    UDP; ICMP and other protocols have no ports to compare."""
    from netemu.dataplane.run import source_changed
    from netemu.packet import DELIVERED, ICMP, TCP, UDP
    rep = from_columns(src=[7, 7, 7, 7, 8], sport=[99, 99, 99, 99, 5],
                       proto=[TCP, UDP, ICMP, 47, TCP], dst=1, dport=1, flags=0, length=60,
                       flow=0)
    rep["status"] = DELIVERED
    assert source_changed(rep, 7, 5).tolist() == [True, True, False, False, True]


def test_item8_a_new_hop_kind_is_one_class_and_one_registry_entry():
    """A transit gateway written here, with nothing else changed: given to the graph
    beside the registry's kinds, the route to it (172.16.0.0/12 -> tgw-1) leads to it
    instead of the unmodelled-target drop, and a packet from h gets there."""
    from netemu.dataplane.elements.base import Element, Node
    from netemu.dataplane.run import run
    from netemu.dataplane.table import Row
    from netemu.model.resources import TGW
    from netemu.packet import DELIVERED
    from tests.test_item8_element_tables import appliance

    class TransitGateway(Element):
        kind = "transit-gateway"
        route_targets = (TGW,)

        @classmethod
        def nodes(cls, topo, graph):
            return [Node(("tgw", "tgw-1"))]

        @classmethod
        def build(cls, topo, graph):
            return [(("tgw", "tgw-1"), cls("tgw-1"))]

        @classmethod
        def route_node(cls, topo, graph, target):
            return ("tgw", target)

        def table(self):
            return [Row(action="deliver")]

        def process(self, b, idx, rt):
            rt.deliver(b, idx, self)

    topo = appliance()
    assert ("unmodelled", "tgw-1") in Graph(topo).slots
    g = Graph(topo, kinds=KINDS + (TransitGateway,))
    assert ("unmodelled", "tgw-1") not in g.slots
    b = from_columns(src=0x0A00010A, dst=0xAC100005, sport=40000, dport=443, proto=6,
                     flags=2, length=60, flow=0)
    run(g, b)
    assert b["status"][0] == DELIVERED and g.elements[b["at"][0]].kind == "transit-gateway"

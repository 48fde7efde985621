"""issue 9: a fix says what it opens besides the pair it is for, and a fix that closes
what reached before is not verified. Expected sets are derived by hand from the YAML
and AWS-SEMANTICS.md (N1-N6: ACLs are stateless, replies come back to the client's
ephemeral port, 1024-65535 for Lambda)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace

from typer.testing import CliRunner

from netemu.addr import PRIVATE_NETS, net_range
from netemu.apps.fix_format import Change, FixText
from netemu.apps.reach.answers import Verdict, find_fix
from netemu.apps.reach.query import Reach, merge
from netemu.cli import app
from netemu.io.load import load
from netemu.model.resources import NaclEntry
from netemu.packet import TCP, UDP

runner = CliRunner()
API = "203.0.113.10"
NAT_EIP = "54.0.0.10"
LAMBDA_OWN_NAT = "3.208.0.10"        # Lambda's public egress (aws_services), not a server

# two functions in two private subnets sharing ACL `app`, which admits tcp 443 but not
# the ephemeral ports replies come back to; both groups send tcp 443 anywhere
SHARED_ACL = """
vpc: app
cidr: 10.0.0.0/16
internet_gateway: igw
subnets:
  public-a:  {cidr: 10.0.0.0/24,  az: us-east-1a, route_table: public}
  private-a: {cidr: 10.0.10.0/24, az: us-east-1a, route_table: private, acl: app}
  private-b: {cidr: 10.0.11.0/24, az: us-east-1a, route_table: private, acl: app}
route_tables:
  public:  {0.0.0.0/0: igw}
  private: {0.0.0.0/0: nat-a}
nat_gateways:
  nat-a: {subnet: public-a, elastic_ip: 54.0.0.10}
network_acls:
  app:
    inbound:  ["100 allow tcp 443 from 0.0.0.0/0", "120 allow udp 1024-65535 from 0.0.0.0/0"]
    outbound: ["100 allow tcp 443 to 0.0.0.0/0", "120 allow udp 53 to 0.0.0.0/0"]
security_groups:
  fn: {egress: ["tcp 443 to 0.0.0.0/0", "udp 53 to 0.0.0.0/0"]}
  rep: {egress: ["tcp 443 to 0.0.0.0/0"]}
functions:
  billing: {subnets: [private-a], security_groups: [fn]}
  reports: {subnets: [private-b], security_groups: [rep]}
internet:
  api.example.com: 203.0.113.10
"""

# the function's group sends only udp 53: the fix is an egress rule to the API's /32
NARROW = SHARED_ACL.replace('"120 allow udp 1024-65535 from 0.0.0.0/0"',
                            '"110 allow tcp 1024-65535 from 0.0.0.0/0", '
                            '"120 allow udp 1024-65535 from 0.0.0.0/0"') \
    .replace('fn: {egress: ["tcp 443 to 0.0.0.0/0", "udp 53 to 0.0.0.0/0"]}',
             'fn: {egress: ["udp 53 to 0.0.0.0/0"]}')


def _write(tmp_path, text: str):
    p = tmp_path / "t.yaml"
    p.write_text(text)
    return p


def _reach(path, *args):
    r = runner.invoke(app, ["reach", str(path), *args, "--json"])
    return r.exit_code, json.loads(r.stdout)


def _spans(text: str) -> set:
    """The addresses a `destinations` text names, as a set of (lo, hi) after merging."""
    base, _, rest = text.partition(" except ")
    nets = [ipaddress.ip_network(x.strip()) for x in base.split(",")]
    cut = [ipaddress.ip_network(x.strip()) for x in rest.split(",")] if rest else []
    return _minus(_merge(nets), _merge(cut))


def _merge(nets) -> list:
    return merge(net_range(n) for n in nets)


def _minus(spans, cut) -> set:
    out = []
    for lo, hi in spans:
        cur = [(lo, hi)]
        for a, b in cut:
            cur = [p for x, y in cur for p in ((x, min(y, a - 1)), (max(x, b + 1), y))
                   if p[0] <= p[1]]
        out += cur
    return set(merge(out))


def _internet(*but: str) -> set:
    """Every public address (outside the private and special ranges) but `but`."""
    cut = list(PRIVATE_NETS) + [ipaddress.ip_network(f"{b}/32") for b in but]
    return _minus([(0, 2**32 - 1)], _merge(cut))


def test_issue9_fix_opening_only_the_pair_reports_nothing_else(tmp_path):
    """billing's group sends udp 53 only: trace's fix is an egress rule "tcp 443 to
    203.0.113.10/32" on group fn; the ACL already admits the replies (110). That rule
    opens exactly billing -> 203.0.113.10 tcp 443: nothing else, nothing closed; and the
    check ran (sources were walked)."""
    code, doc = _reach(_write(tmp_path, NARROW), "--from", "lambda:billing", "--to",
                       "api.example.com", "--proto", "tcp", "--ports", "443")
    assert code == 1
    assert doc["fix"] == ['add egress rule "tcp 443 to 203.0.113.10/32" to security group fn']
    assert doc["fix_verified"] is True
    assert doc["fix_also_opens"] == [] and doc["fix_closes"] == []
    assert doc["fix_sources_checked"] >= 1          # billing itself, at least
    text = runner.invoke(app, ["reach", str(tmp_path / "t.yaml"), "--from", "lambda:billing",
                               "--to", "api.example.com", "--proto", "tcp", "--ports",
                               "443"]).stdout
    assert "nothing else opens" in text and "also opens" not in text


def test_issue9_fix_opening_more_lists_exactly_the_extra_set(tmp_path):
    """The fix for billing -> api is the ephemeral range from 0.0.0.0/0 inbound on ACL
    app (N6). By hand: the ACL is stateless and shared, so it lets in the replies of
    every tcp 443 request of both functions. billing then reaches tcp 443 on every
    internet address but the API (the pair), the NAT gateway's own EIP and Lambda's own
    egress address (neither serves); reports, whose requests left the same way, gets the
    same including the API. Its udp 53 answers came in by rule 120 already: no change."""
    code, doc = _reach(_write(tmp_path, SHARED_ACL), "--from", "lambda:billing", "--to",
                       "api.example.com", "--proto", "tcp", "--ports", "443")
    assert code == 1
    assert doc["fix"] == ['add inbound rule "130 allow tcp 1024-65535 from 0.0.0.0/0" to '
                          'network ACL app']
    assert doc["fix_verified"] is True and doc["fix_closes"] == []
    opens = {o["source"]: o["packets"] for o in doc["fix_also_opens"]}
    assert set(opens) == {"lambda:billing", "lambda:reports"}
    for src, but in (("lambda:billing", (API, NAT_EIP, LAMBDA_OWN_NAT)),
                     ("lambda:reports", (NAT_EIP, LAMBDA_OWN_NAT))):
        [row] = opens[src]
        assert (row["protocol"], row["ports"], row["client_ports"]) == ("tcp", "443",
                                                                        "1024-65535")
        assert _spans(row["destinations"]) == _internet(*but)
    text = runner.invoke(app, ["reach", str(tmp_path / "t.yaml"), "--from", "lambda:billing",
                               "--to", "api.example.com", "--proto", "tcp", "--ports",
                               "443"]).stdout
    assert "and it opens more (below)" in text
    assert "  also opens: lambda:reports -> tcp ports 443 to 0.0.0.0/0 except" in text


def test_issue9_fix_that_closes_something_is_not_verified(tmp_path, monkeypatch):
    """A constructed fix: the ephemeral tcp range in, but ACL app's udp rules replaced by
    it, so billing's udp 53 (answered through rule 120 before) no longer gets answers.
    The pair reaches, yet the fix closes udp 53 to every internet address for billing
    (reports never had udp): not verified, and the note says what it closes."""
    import netemu.apps.fix as fix

    def closing(topo, result, leg):
        acl = topo.network_acls["app"]
        entries = tuple(e for e in acl.entries if e.protocol != UDP) + (
            NaclEntry(110, False, True, TCP, ipaddress.ip_network("0.0.0.0/0"), 1024, 65535),)
        entries = tuple(sorted(entries, key=lambda e: (e.egress, e.number)))
        text = FixText("replace ACL app's udp entries by tcp 1024-65535 in",
                       Change("add-acl-entry", "app", entries[0]))
        return text, fix.with_resource(topo, "network_acls", replace(acl, entries=entries))

    monkeypatch.setattr(fix, "_change_for", closing)
    topo = load(_write(tmp_path, SHARED_ACL))
    r = Reach(topo)
    v = Verdict(r.reach("lambda:billing", "api.example.com", [TCP], (443, 443)))
    find_fix(topo, "lambda:billing", "api.example.com", v, [TCP], (443, 443), None, before=r)
    assert v.fix_verified is False
    [closed] = v.effects.closes
    assert closed["source"] == "lambda:billing"
    [row] = closed["packets"]
    assert (row["protocol"], row["ports"], row["client_ports"]) == ("udp", "53", "1024-65535")
    # udp answers come back from any internet address but the NAT's and Lambda's own
    assert _spans(row["destinations"]) == _internet(NAT_EIP, LAMBDA_OWN_NAT)
    assert "closes" in v.fix_note and "udp ports 53" in v.fix_note


def _changes(topo):
    """Changes of each kind the scope reasons about, on shipped topologies."""
    from netemu.model.resources import SgRule
    net = ipaddress.ip_network
    acl = topo.vpcs["app"].default_acl
    return [
        [Change("add-sg-rule", "fn", SgRule(True, TCP, 22, 22, "cidr", "10.0.20.0/24")),
         Change("add-sg-rule", "db", SgRule(False, TCP, 22, 22, "sg", "fn"))],
        [Change("add-acl-entry", acl, NaclEntry(90, False, False, TCP, net("10.0.11.0/24"),
                                                5432, 5432))],
        [Change("update-function-subnets", "orders", ["app-a"])],
        # the database's interface is not changed: only the changed group's peers (its
        # members' addresses) say where the function must look
        [Change("revoke-sg-rule", "fn", SgRule(True, TCP, 5432, 5432, "sg", "db"))],
    ]


def test_issue9_scope_walks_what_walking_everything_finds(monkeypatch):
    """The scoped walk (scope.py: only the requests a change can decide) finds the same
    opens and closes as walking every source to every destination, for group rules added
    and revoked, an ACL entry and a function moved (a route: the next test)."""
    import netemu.apps.reach.effects as fx
    from netemu.apps.lint.apply import apply_changes
    from netemu.apps.reach.scope import Scope
    from tests.conftest import ROOT

    before = load(ROOT / "topologies" / "lambda-rds-sg-reference.yaml")
    seen = 0
    for changes in _changes(before):
        after = apply_changes(before, changes)
        scoped = fx.effects(Reach(before), Reach(after), {})
        with monkeypatch.context() as m:
            m.setattr(fx, "scope", lambda a, b: Scope(everything=True))
            full = fx.effects(Reach(before), Reach(after), {})
        assert (scoped.opens, scoped.closes) == (full.opens, full.closes), changes
        assert scoped.sources <= full.sources
        seen += bool(full.opens or full.closes)
    # the rules open tcp 22 to the database, the deny closes 5432 from app-b (a function
    # reaches what it reaches from every subnet), the revoked rule closes 5432; app-a
    # alone reaches what both did
    assert seen == 3


def test_issue9_route_change_scope_matches_everything(tmp_path, monkeypatch):
    """The missing NAT route of private-b, added: the scoped walk and the full one agree
    (orders gains the internet from every subnet), and the scoped one walks fewer
    requests (only the route's prefix for the subnet's sources)."""
    import netemu.apps.reach.effects as fx
    from netemu.apps.lint.apply import apply_changes
    from netemu.apps.reach.scope import Scope
    from netemu.model.resources import NAT, Route
    from tests.conftest import ROOT

    before = load(ROOT / "topologies" / "lambda-two-az-missing-nat.yaml")
    after = apply_changes(before, [Change("add-route", "private-b", Route(
        ipaddress.ip_network("0.0.0.0/0"), "nat-b", NAT))])
    scoped = fx.effects(Reach(before), Reach(after), {})
    with monkeypatch.context() as m:
        m.setattr(fx, "scope", lambda a, b: Scope(everything=True))
        full = fx.effects(Reach(before), Reach(after), {})
    assert (scoped.opens, scoped.closes) == (full.opens, full.closes)
    [opened] = scoped.opens
    assert opened["source"] == "lambda:orders" and scoped.closes == []


SPLIT_PORTS = """
vpc: app
cidr: 10.0.0.0/16
subnets:
  app-a:  {cidr: 10.0.10.0/24, az: us-east-1a, acl: app}
  data-a: {cidr: 10.0.20.0/24, az: us-east-1a}
network_acls:
  app:
    inbound:  ["100 allow tcp 3000 from 10.0.20.0/24", "200 allow tcp 1024-65535 from 0.0.0.0/0"]
    outbound: ["100 allow tcp 5432 to 10.0.0.0/16"]
security_groups:
  fn: {egress: ["tcp 5432 to sg:db"]}
  db: {ingress: ["tcp 5432 from sg:fn"]}
functions:
  orders: {subnets: [app-a], security_groups: [fn]}
hosts:
  orders-db: {subnet: data-a, ip: 10.0.20.25, kind: rds, security_groups: [db]}
"""


def test_issue9_reply_to_a_translated_port_split_by_acl_rows_is_tracked(tmp_path):
    """The Hyperplane ENI translates the function's port to one it picks (1024-65535);
    on the way back, ACL app's rule 100 (port 3000 from data-a) splits that range
    before rule 200 admits all of it. The reply still answers what left the interface
    (S3: tracked), whichever port was picked: reach says delivered, as trace does. (It
    said SG_HAS_NO_RULES when a piece of the range no longer counted as the pick.)"""
    path = _write(tmp_path, SPLIT_PORTS)
    code, doc = _reach(path, "--from", "lambda:orders", "--to", "host:orders-db", "--proto",
                       "tcp", "--ports", "5432", "--no-fix")
    assert code == 0 and doc["reaches"] is True
    t = runner.invoke(app, ["trace", str(path), "--from", "lambda:orders", "--to",
                            "host:orders-db", "--proto", "tcp", "--port", "5432"])
    assert t.exit_code == 0


def _lint_verify(path, changes, paths_of: str | None):
    """lint's verify of `changes` for the finding of `paths_of`'s paths (its check then
    reports nothing): (status, note, finding)."""
    from netemu.apps.lint.context import Context, verify
    from netemu.apps.lint.registry import Finding
    ctx = Context(load(path))
    paths = [p for fn in ctx.vpc_functions() if fn.id == paths_of for p in ctx.paths(fn)]
    f = Finding("NETEMU-TEST", "error", "m", [paths_of or "app"], "e")
    status, note = verify(ctx, lambda c: [], ("NETEMU-TEST", paths_of or "app", ""),
                          changes, paths, finding=f)
    return status, note, f


def test_issue9_lint_fix_lists_the_other_path_it_opens(tmp_path):
    """lint's side of it, over the paths lint knows (each function -> the internet
    host, tcp 443): the ephemeral range on the shared ACL is for billing's path; it opens
    reports' path too, which got no reply before. Verified, and reports' path listed."""
    entry = NaclEntry(130, False, True, TCP, ipaddress.ip_network("0.0.0.0/0"), 1024, 65535)
    status, note, f = _lint_verify(_write(tmp_path, SHARED_ACL),
                                   [Change("add-acl-entry", "app", entry)], "billing")
    assert status == "verified" and "others open" in note
    assert f.fix_closes == []
    assert f.fix_also_opens == [{"source": "lambda:reports", "packets": [
        {"protocol": "tcp", "ports": "443", "client_ports": None,
         "destinations": "api.example.com"}]}]


def test_issue9_lint_fix_that_breaks_another_function_is_not_verified(tmp_path):
    """Deleting the ACL's tcp ephemeral entry (110) of NARROW: reports' calls to the API
    got their replies through it; the change takes them away, though reports is not the
    function the finding is about. Not verified, the note names what it closes."""
    topo = load(_write(tmp_path, NARROW))
    entry = next(e for e in topo.network_acls["app"].entries if e.number == 110)
    status, note, f = _lint_verify(tmp_path / "t.yaml",
                                   [Change("delete-acl-entry", "app", entry)], None)
    assert status == "unverified"
    assert "closes" in note and "lambda:reports -> tcp ports 443 to api.example.com" in note
    assert f.fix_closes == [{"source": "lambda:reports", "packets": [
        {"protocol": "tcp", "ports": "443", "client_ports": None,
         "destinations": "api.example.com"}]}]

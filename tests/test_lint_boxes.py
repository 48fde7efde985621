"""issue 9: the interval boxes behind the shadowed-rule and ephemeral-range checks are
exact: on a small field space every point is checked against the set difference, and an
ACL's allowed part of a box against first-match evaluation point by point."""

from __future__ import annotations

import ipaddress
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from netemu.apps.lint.boxes import acl_allowed, minus, subtract
from netemu.model.resources import NaclEntry

iv = st.tuples(st.integers(0, 5), st.integers(0, 5)).map(lambda t: (min(t), max(t)))
box = st.tuples(iv, iv, iv, iv)


def inside(p, b) -> bool:
    return all(lo <= x <= hi for x, (lo, hi) in zip(p, b, strict=True))


@settings(max_examples=150, deadline=None)
@given(box, st.lists(box, max_size=4))
def test_item9_box_difference_is_exact(a, others):
    rest = minus([a], others)
    for p in itertools.product(range(6), repeat=4):
        want = inside(p, a) and not any(inside(p, o) for o in others)
        assert sum(inside(p, r) for r in rest) == (1 if want else 0)   # disjoint pieces


def test_item9_box_subtract_disjoint_is_identity():
    a = ((0, 1), (0, 1), (0, 1), (0, 1))
    assert subtract(a, ((2, 3), (0, 1), (0, 1), (0, 1))) == [a]


rule = st.builds(lambda n, allow, lo, hi, net: NaclEntry(n, False, allow, 6,
                                                         ipaddress.IPv4Network(net),
                                                         min(lo, hi), max(lo, hi)),
                 st.integers(1, 50), st.booleans(), st.integers(0, 12), st.integers(0, 12),
                 st.sampled_from(["10.0.0.0/30", "10.0.0.2/31", "0.0.0.0/0", "10.0.0.1/32"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(rule, max_size=5, unique_by=lambda e: e.number))
def test_item9_acl_allowed_matches_first_match(entries):
    entries = tuple(sorted(entries, key=lambda e: e.number))
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    b = ((base, base + 3), (6, 6), (0, 0), (0, 12))
    allowed = acl_allowed(entries, b)
    for ip, port in itertools.product(range(base, base + 4), range(13)):
        first = next((e for e in entries if ipaddress.IPv4Address(ip) in e.cidr
                      and e.port_from <= port <= e.port_to), None)
        want = first is not None and first.allow
        assert any(inside((ip, 6, 0, port), a) for a in allowed) == want

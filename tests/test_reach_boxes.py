"""The set algebra under reach (issue 9): first-match splitting keeps boxes disjoint and
covering, and a reply's source is checked by identity, not by value."""

from __future__ import annotations

from netemu.apps.reach.boxes import O_DPORT, O_DST, O_SPORT, O_SRC, PROTO, Box, size, split
from netemu.apps.reach.walk import answer, answered
from netemu.packet import ICMP, TCP

LINK = (O_SRC, O_DST, O_SPORT, O_DPORT)


def box(dst=(0, 255), proto=(TCP, TCP), sport=(1024, 65535), dport=(0, 65535)) -> Box:
    return Box(((5, 5), dst, proto, sport, dport, (0, 0), (0, 0), (0, 0), (0, 0)), LINK)


def test_item9_split_is_the_row_part_and_a_disjoint_rest():
    b = box()
    hit, rest = split(b, {"dst": (10, 19), "dport": (443, 443)})
    assert hit.iv[O_DST] == (10, 19) and hit.iv[O_DPORT] == (443, 443)
    assert size([hit]) + size(rest) == size([b])          # nothing lost or counted twice
    assert all(split(r, {"dst": (10, 19), "dport": (443, 443)})[0] is None for r in rest)


def test_item9_a_translated_field_is_matched_on_its_own_value():
    b = box().write("src", (7, 7))
    assert split(b, {"src": (5, 5)})[0] is None           # the request's source is 5
    assert split(b, {"src": (7, 7)})[0] is not None


def test_item9_reply_swaps_fields_and_answers_by_identity():
    (r,) = answer(box())
    assert r.rep("src")[1] == O_DST and r.rep("dport")[1] == O_SPORT
    good, bad = answered(r)
    assert good == [r] and bad == []
    # a reply that comes back from a NAT's address answers only requests sent to it
    good, bad = answered(r.write("src", (9, 9)))
    assert [g.iv[O_DST] for g in good] == [(9, 9)]
    assert size(bad) == size([r]) - size(good)


def test_item9_echo_request_is_answered_by_an_echo_reply():
    b = box(proto=(ICMP, ICMP), sport=(8, 8), dport=(0, 0))
    (r,) = answer(b)
    assert r.get("sport") == (0, 0) and r.get("dport") == (0, 0)
    assert r.iv[PROTO] == (ICMP, ICMP)

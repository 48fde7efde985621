"""Rules as short strings in the words of the AWS console.

    network ACL:    "100 allow tcp 1024-65535 from 0.0.0.0/0", "* deny all to 0.0.0.0/0",
                    "110 allow icmp type 8 from 10.0.0.0/16", "120 deny 47 from 0.0.0.0/0"
    security group: "tcp 5432 from sg:fn", "all to 0.0.0.0/0", "tcp 443 to pl:s3",
                    "udp 53 to 10.0.0.2/32", "icmp type 8 code 0 from 0.0.0.0/0"
"""

from __future__ import annotations

import re

from netemu.addr import parse_network
from netemu.errors import InputError
from netemu.model.resources import NaclEntry, SgRule
from netemu.packet import ANY, ICMP, ICMPV6, PROTOCOL_NAMES, TCP, UDP


def parse_protocol(word: str) -> int:
    w = word.lower()
    if w in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[w]
    if w.isascii() and w.isdigit() and int(w) <= 255:
        return int(w)
    raise InputError(f"unknown protocol {word!r} (tcp, udp, icmp, icmpv6, all or 0-255)")


def parse_ports(word: str) -> tuple[int, int]:
    if word.lower() in ("all", "any", "*"):
        return 0, 65535
    lo, _, hi = word.partition("-")
    if not re.fullmatch(r"[0-9]+(-[0-9]+)?", word):
        raise InputError(f"invalid port or range {word!r}")
    a, b = int(lo), int(hi or lo)
    if not (0 <= a <= 65535 and 0 <= b <= 65535):
        raise InputError(f"port range {word!r} is outside 0-65535")
    if a > b:
        raise InputError(f"port range {word!r} is reversed")
    return a, b


def _icmp(words: list[str]) -> tuple[int, int, list[str]]:
    """Parse optional `type T [code C]`; -1 means any."""
    t = c = -1
    if words and words[0] == "type":
        t = _int(_word(words, 1, "an ICMP type after 'type'"), "ICMP type", 255)
        words = words[2:]
        if words and words[0] == "code":
            c = _int(_word(words, 1, "an ICMP code after 'code'"), "ICMP code", 255)
            words = words[2:]
    return t, c, words


def _word(words: list[str], i: int, what: str) -> str:
    if i >= len(words):
        raise InputError(f"expected {what}")
    return words[i]


def _int(word: str, what: str, top: int) -> int:
    if not re.fullmatch(r"-?[0-9]+", word):
        raise InputError(f"invalid {what} {word!r}")
    v = int(word)
    if not -1 <= v <= top:
        raise InputError(f"{what} {v} is outside -1-{top}")
    return v


def _direction(words: list[str], text: str, egress: bool | None) -> tuple[bool, str]:
    if len(words) != 2 or words[0] not in ("from", "to"):
        raise InputError(f"rule {text!r}: expected 'from PEER' or 'to PEER' at the end")
    is_egress = words[0] == "to"
    if egress is not None and is_egress != egress:
        want = "to" if egress else "from"
        raise InputError(f"rule {text!r}: an {'outbound' if egress else 'inbound'} rule "
                         f"names its peer with '{want}'")
    return is_egress, words[1]


def _ipv4(peer: str, text: str):
    net = parse_network(peer)
    if net.version != 4:
        raise InputError(f"rule {text!r}: IPv6 rules are not modelled (IPv4 CIDRs only)")
    return net


def parse_nacl_entry(text: str, egress: bool) -> NaclEntry:
    words = str(text).split()
    if len(words) < 5:
        raise InputError(f"rule {text!r}: expected 'NUMBER allow|deny PROTOCOL [PORTS] "
                         "from|to CIDR'")
    if words[0] != "*" and not re.fullmatch(r"[0-9]+", words[0]):
        raise InputError(f"rule {text!r}: invalid rule number {words[0]!r}")
    num = 32767 if words[0] == "*" else int(words[0])
    if not 1 <= num <= 32766 and words[0] != "*":
        raise InputError(f"rule {text!r}: rule number {num} is outside 1-32766")
    if words[1] not in ("allow", "deny"):
        raise InputError(f"rule {text!r}: expected allow or deny, not {words[1]!r}")
    proto = parse_protocol(words[2])
    rest = words[3:]
    lo, hi, t, c = 0, 65535, -1, -1
    if proto in (TCP, UDP) and rest and rest[0] not in ("from", "to"):
        lo, hi = parse_ports(rest[0])
        rest = rest[1:]
    elif proto in (ICMP, ICMPV6):
        t, c, rest = _icmp(rest)
    _, peer = _direction(rest, text, egress)
    cidr = _ipv4(peer, text)
    return NaclEntry(num, egress, words[1] == "allow", proto, cidr, lo, hi, t, c)


def parse_sg_rule(text: str, egress: bool | None = None) -> SgRule:
    words = str(text).split()
    if len(words) < 3:
        raise InputError(f"rule {text!r}: expected 'PROTOCOL [PORTS] from|to PEER'")
    proto = parse_protocol(words[0])
    rest = words[1:]
    lo, hi = -1, -1
    if proto in (TCP, UDP):
        lo, hi = (0, 65535)
        if rest and rest[0] not in ("from", "to"):
            lo, hi = parse_ports(rest[0])
            rest = rest[1:]
    elif proto in (ICMP, ICMPV6):
        lo, hi, rest = _icmp(rest)
    elif rest and rest[0] not in ("from", "to"):
        rest = rest[1:]   # S2: a port range on another protocol covers all ports anyway
    is_egress, peer = _direction(rest, text, egress)
    if peer.startswith("sg:"):
        return SgRule(is_egress, proto, lo, hi, "sg", peer[3:])
    if peer.startswith("pl:"):
        return SgRule(is_egress, proto, lo, hi, "prefix-list", peer[3:])
    net = _ipv4(peer, text)
    if proto == ANY:
        lo = hi = -1
    return SgRule(is_egress, proto, lo, hi, "cidr", str(net))

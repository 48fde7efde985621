"""The checks `netemu lint` runs, each under a stable code.

Codes are `NETEMU-` and the id of the AWS behaviour the check rests on (the ids of the
AWS semantics reference: L4, G2, N6 ...), with a suffix where two checks rest on the same
behaviour (`NETEMU-L8-QUOTA`, `NETEMU-L8-LIMITS`). A code never changes meaning; a new
check gets a new code."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

SEVERITIES = ("info", "warning", "error")        # ascending
SARIF_LEVEL = {"info": "note", "warning": "warning", "error": "error"}
DOCS = "https://github.com/netemu/netemu/blob/main/docs/lint.md"


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str                 # the default; a finding may raise or lower it
    title: str                    # one line: the mistake
    behaviour: tuple[str, ...]    # AWS behaviour ids it rests on

    @property
    def help_uri(self) -> str:
        return f"{DOCS}#{self.code.lower()}"


@dataclass
class Finding:
    code: str
    severity: str
    message: str                       # what is wrong, with ids and Name tags
    resources: list[str]               # ids, most specific first
    explanation: str                   # the AWS behaviour, by id
    fixes: list[str] = field(default_factory=list)    # FixText where structured
    fix_status: str = "none"           # verified | unverified | none
    fix_note: str = ""                 # how it was verified, or why it could not be
    line: int = 1                      # the YAML line of the first resource
    where: str = ""                    # which part of it: `inbound 110`, a route
    fix_also_opens: list = field(default_factory=list)   # reach: what else the fix opens
    fix_closes: list = field(default_factory=list)       # reach: what it closes (unverified)


@dataclass(frozen=True)
class Check:
    rule: Rule
    run: Callable[..., Iterable[Finding]]


RULES: dict[str, Rule] = {}
CHECKS: list[Check] = []


def check(code: str, severity: str, title: str, *behaviour: str):
    """Register fn(ctx) -> findings under `code`."""
    assert severity in SEVERITIES and code not in RULES
    rule = Rule(code, severity, title, behaviour)

    def wrap(fn):
        RULES[code] = rule
        CHECKS.append(Check(rule, fn))
        return fn
    return wrap


def at_least(severity: str, floor: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(floor)

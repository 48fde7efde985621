"""ClassBench filter sets and header traces, parsed whole-file at C speed.

Filters and traces are tens of thousands of lines; one regular expression over the file
(filters) or one numeric parse (traces) keeps loading well under a second. Only when the
fast parse disagrees with the line count do we walk lines one by one, to name the first
bad line."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from netemu import packet
from netemu.errors import InputError
from netemu.rules import FIELD_DTYPE, FIELDS, RuleTable

_IP = r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})"
_HEX = r"(0[xX][0-9a-fA-F]{1,8})"
_FILTER = re.compile(
    rf"^@{_IP}\s+{_IP}\s+(\d+)\s*:\s*(\d+)\s+(\d+)\s*:\s*(\d+)\s+{_HEX}/{_HEX}"
    rf"(?:\s+{_HEX}/{_HEX})?[ \t]*$", re.M)
_TRACE_LINE = re.compile(r"^[ \t]*(?:\d+[ \t]+){6}\d+[ \t]*\r?$", re.M)


def _lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, line) for every non-blank line."""
    return [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]


def _first_bad(path: Path, lines: list[tuple[int, str]], pattern: re.Pattern, what: str
               ) -> InputError:
    for num, ln in lines:
        if not pattern.match(ln):
            return InputError(f"malformed {what} line: {ln.strip()[:80]!r}", file=str(path),
                              line=num)
    return InputError(f"could not parse {what} file", file=str(path))


def _prefix(octets: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    addr = (octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3]
    host = (np.int64(1) << (32 - length)) - 1
    lo = addr & ~host
    return lo, lo | host


def load_filters(path: str | Path) -> RuleTable:
    """A ClassBench filter file as a RuleTable, rows in line (priority) order."""
    path = Path(path)
    text = path.read_text()
    lines = _lines(text)
    found = _FILTER.findall(text)
    if len(found) != len(lines):
        raise _first_bad(path, lines, _FILTER, "filter")
    if not found:
        return RuleTable.from_rows([])
    cols = np.array(found, dtype=object)
    dec = cols[:, :14].astype(np.int64)
    hexcols = np.vectorize(lambda s: int(s, 16) if s else 0, otypes=[np.int64])(cols[:, 14:16])
    checks = [
        (dec[:, [0, 1, 2, 3, 5, 6, 7, 8]] > 255, "address octet above 255"),
        (dec[:, [4, 9]] > 32, "prefix length above 32"),
        (dec[:, 10:14] > 0xFFFF, "port above 65535"),
        (dec[:, [10, 12]] > dec[:, [11, 13]], "port range with lo > hi"),
        (hexcols[:, 0] > 0xFF, "protocol above 0xFF"),
        (~np.isin(hexcols[:, 1], (0, 0xFF)), "protocol mask is neither 0x00 nor 0xFF"),
    ]
    for bad, problem in checks:
        rows = np.flatnonzero(bad.reshape(len(found), -1).any(axis=1))
        if rows.size:
            raise InputError(problem, file=str(path), line=lines[rows[0]][0])
    slo, shi = _prefix(dec[:, 0:4], dec[:, 4])
    dlo, dhi = _prefix(dec[:, 5:9], dec[:, 9])
    exact = hexcols[:, 1] == 0xFF
    plo = np.where(exact, hexcols[:, 0], 0)
    phi = np.where(exact, hexcols[:, 0], 0xFF)
    bounds = {"src": (slo, shi), "dst": (dlo, dhi), "sport": (dec[:, 10], dec[:, 11]),
              "dport": (dec[:, 12], dec[:, 13]), "proto": (plo, phi)}
    return RuleTable(lo={f: bounds[f][0].astype(FIELD_DTYPE[f]) for f in FIELDS},
                     hi={f: bounds[f][1].astype(FIELD_DTYPE[f]) for f in FIELDS},
                     rule=np.arange(len(found), dtype=np.int32))


def load_trace(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A ClassBench header trace: (PacketBatch of the headers, generating rule per header).

    The generating rule (last column, 0-based) is where the header was drawn from; the true
    first match is at or before it."""
    path = Path(path)
    text = path.read_text()
    nlines = sum(1 for ln in text.splitlines() if ln.strip())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            nums = np.fromstring(text, dtype=np.int64, sep=" ")
        except ValueError:
            nums = np.zeros(0, np.int64)
    if nums.size != 7 * nlines or len(_TRACE_LINE.findall(text)) != nlines:
        raise _first_bad(path, _lines(text), _TRACE_LINE, "trace")
    cols = nums.reshape(nlines, 7)
    limits = (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF, 0xFFFF, 0xFF)
    for i, (name, top) in enumerate(zip(FIELDS, limits, strict=True)):
        bad = np.flatnonzero((cols[:, i] < 0) | (cols[:, i] > top))
        if bad.size:
            raise InputError(f"{name} {cols[bad[0], i]} out of range", file=str(path),
                             line=_lines(text)[bad[0]][0])
    batch = packet.empty(nlines)
    for i, name in enumerate(FIELDS):
        batch[name] = cols[:, i]
    return batch, cols[:, 6].astype(np.int32)

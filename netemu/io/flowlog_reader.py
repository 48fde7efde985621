"""VPC Flow Logs reader: records as columns, and their expansion into packets.

Why two parsers: flow-log exports run to billions of lines, so no Python runs per line.
A block of clean lines goes through NumPy's C text reader (`np.loadtxt` into a structured
dtype: integers natively, addresses and strings as fixed-width bytes, "-" swapped for a
sentinel first), then addresses and strings are converted column-wise (dotted quads
through NumPy's C number parser, strings interned by 64-bit hash). Any block the fast
path is unsure of (tabs, blank lines, IPv6, garbled or over-long tokens) is re-parsed by
the exact parser: NumPy tokenising (separator masks, token offsets) and per-field digit
matrices, which names the line and field of a bad value. A test pins both to the same
output. Header lines (field names) may appear anywhere -- concatenated S3 objects repeat
them -- and switch the format for the lines after them; `fields=` gives the format of a
file without a header (a header later in the file still wins).

Kept out of the record batch, and counted in ReadStats: NODATA / SKIPDATA records,
IPv6 records ("ipv6"), records without both addresses ("missing address").

Expansion into packets (`records_to_packets`): a record of `packets` packets becomes that
many packets spread evenly over [start, end] (all at start when there is one), bytes
split evenly with the remainder on the first packets; every packet carries the record's
flow id (its 1-based line number in the file). A missing `packets` counts as 1, missing
`bytes` as 0, missing `end` as `start`. TCP flags: the record's `tcp-flags` is the OR of
what AWS saw (SYN 2, SYN-ACK 18, FIN 1, RST 4 -- AWS reports no plain ACK), so the first
packet gets SYN (SYN|ACK for SYN-ACK) when present, the last FIN|ACK and/or RST when
present, every other packet ACK; a one-packet record gets both. Without `tcp-flags`,
TCP packets carry ACK: a mid-connection view. ICMP records carry no type or code (AWS
logs ports 0 0), so their packets read as type 0 code 0. Output is sorted by time
(stable); `iter_packets` expands in slices of `batch_size` packets.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netemu.dataplane.packet import ACK, FIN, RST, SYN, TCP, empty
from netemu.errors import InputError
from netemu.io.pcap_reader import DEFAULT_BATCH, ReadStats

CHUNK_BYTES = 4 << 20
_PAD = 256                 # zero bytes after each block: token gathers never clip
_SENT = b"-999999999999999999"          # stands for "-" in the fast path
_SENT_INT = -999999999999999999
_FAST_DTYPE = {"int": "i8", "addr": "S48", "enum": "S24", "str": "S40"}

DEFAULT_FIELDS = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
                  "packets bytes start end action log-status").split()
INT_FIELDS = {"version", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end",
              "tcp-flags", "traffic-path", "packets-lost-no-route", "packets-lost-blackhole",
              "packets-lost-mtu-exceeded", "packets-lost-ttl-expired"}
ADDR_FIELDS = {"srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr"}
ENUM_FIELDS = {"action": {b"ACCEPT": 1, b"REJECT": 0},
               "log-status": {b"OK": 0, b"NODATA": 1, b"SKIPDATA": 2}}
STR_FIELDS = {"account-id", "interface-id", "vpc-id", "subnet-id", "instance-id", "type",
              "region", "az-id", "sublocation-type", "sublocation-id", "pkt-src-aws-service",
              "pkt-dst-aws-service", "flow-direction", "resource-type", "tgw-id",
              "tgw-attachment-id", "tgw-src-vpc-account-id", "tgw-dst-vpc-account-id",
              "tgw-src-vpc-id", "tgw-dst-vpc-id", "tgw-src-subnet-id", "tgw-dst-subnet-id",
              "tgw-src-eni", "tgw-dst-eni", "tgw-src-az-id", "tgw-dst-az-id",
              "tgw-pair-attachment-id"}
_ENUM_WORDS = {t: np.frombuffer(t.ljust(8, b"\0"), "<u8")[0]
               for values in ENUM_FIELDS.values() for t in values}
KNOWN_FIELDS = INT_FIELDS | ADDR_FIELDS | set(ENUM_FIELDS) | STR_FIELDS
OK, NODATA, SKIPDATA = 0, 1, 2
ACCEPT, REJECT = 1, 0

# field name -> record column; fields not listed are validated but not kept
_COLUMN = {"version": "version", "account-id": "account_id", "interface-id": "interface_id",
           "srcaddr": "src", "dstaddr": "dst", "srcport": "sport", "dstport": "dport",
           "protocol": "proto", "packets": "packets", "bytes": "bytes", "start": "start",
           "end": "end", "action": "action", "log-status": "log_status",
           "tcp-flags": "tcp_flags", "pkt-srcaddr": "pkt_src", "pkt-dstaddr": "pkt_dst",
           "vpc-id": "vpc_id", "subnet-id": "subnet_id", "instance-id": "instance_id",
           "type": "type", "region": "region", "az-id": "az_id",
           "sublocation-type": "sublocation_type", "sublocation-id": "sublocation_id",
           "pkt-src-aws-service": "pkt_src_aws_service",
           "pkt-dst-aws-service": "pkt_dst_aws_service", "flow-direction": "flow_direction",
           "traffic-path": "traffic_path"}

# -1 marks a missing value ("-") or a field absent from the format; string columns hold
# indices into FlowRecords.strings, addresses are IPv4 as integers
RECORD_DTYPE = np.dtype([
    ("line", "i8"), ("version", "i2"), ("account_id", "i4"), ("interface_id", "i4"),
    ("src", "i8"), ("dst", "i8"), ("sport", "i4"), ("dport", "i4"), ("proto", "i2"),
    ("packets", "i8"), ("bytes", "i8"), ("start", "i8"), ("end", "i8"), ("action", "i1"),
    ("log_status", "i1"), ("tcp_flags", "i2"), ("pkt_src", "i8"), ("pkt_dst", "i8"),
    ("vpc_id", "i4"), ("subnet_id", "i4"), ("instance_id", "i4"), ("type", "i4"),
    ("region", "i4"), ("az_id", "i4"), ("sublocation_type", "i4"), ("sublocation_id", "i4"),
    ("pkt_src_aws_service", "i4"), ("pkt_dst_aws_service", "i4"), ("flow_direction", "i4"),
    ("traffic_path", "i2"),
])


@dataclass
class FlowRecords:
    """A batch of flow-log records; string columns index `strings` (shared by batches)."""

    records: np.ndarray
    strings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def text(self, column: str) -> list[str | None]:
        """Decode a string column back to text (None where missing)."""
        return [self.strings[i] if i >= 0 else None for i in self.records[column].tolist()]


class _Strings:
    """Interning table: string -> stable index, shared by every batch of one read.

    Tokens are hashed as 64-bit words (sorting integers is far cheaper than sorting
    byte strings); every token is then compared with its hash representative, so a hash
    collision falls back to an exact byte-string unique instead of mixing strings."""

    def __init__(self) -> None:
        self.table: list[str] = []
        self.index: dict[bytes, int] = {}

    def ids(self, m: np.ndarray) -> np.ndarray:
        """Table indices of the tokens in the zero-padded byte matrix `m` (tokens hold no
        zero byte, so the padding tells where each ends)."""
        pad = -m.shape[1] % 8
        if pad:
            m = np.pad(m, ((0, 0), (0, pad)))
        m = np.ascontiguousarray(m)
        width = m.shape[1]
        words = m.view("<u8")
        h = words[:, 0].copy()
        for w in range(1, words.shape[1]):
            h = h * np.uint64(0x100000001B3) ^ words[:, w]
        uniq, rep, inverse = np.unique(h, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        if not np.array_equal(m, m[rep[inverse]]):
            _, rep, inverse = np.unique(m.view(f"S{width}").reshape(-1), return_index=True,
                                        return_inverse=True)
            inverse = inverse.reshape(-1)
        ids = np.empty(len(rep), np.int32)
        for i in np.argsort(rep).tolist():          # new strings in order of appearance
            v = m[rep[i]].tobytes().rstrip(b"\0")
            got = self.index.get(v)
            if got is None:
                got = self.index[v] = len(self.table)
                self.table.append(v.decode("utf-8", "replace"))
            ids[i] = got
        return ids[inverse]


def read_flow_logs(path: str | Path, *, fields: Sequence[str] | None = None,
                   batch_size: int = DEFAULT_BATCH,
                   stats: ReadStats | None = None) -> Iterator[FlowRecords]:
    """FlowRecords batches (at most `batch_size` records) from a flow-log file.

    `fields` and the file's readability are checked now; lines are parsed as the
    iterator is consumed."""
    stats = stats if stats is not None else ReadStats()
    name = str(path)
    if fields is not None:
        _check_fields(list(fields), name, None)
    try:
        open(path, "rb").close()
    except OSError as e:
        raise InputError(f"cannot read flow log: {e.strerror}", file=name) from None
    parser = _BlockParser(name, list(fields) if fields else list(DEFAULT_FIELDS), stats)
    return _read(path, parser, batch_size)


def _read(path: str | Path, parser: _BlockParser, batch_size: int) -> Iterator[FlowRecords]:
    pending: list[np.ndarray] = []
    count = 0
    with open(path, "rb") as f:
        carry = b""
        while True:
            data = f.read(CHUNK_BYTES)
            buf = carry + data if carry else data
            if not data:
                block, carry = buf, b""
                if block and not block.endswith(b"\n"):
                    block += b"\n"
            else:
                cut = buf.rfind(b"\n") + 1
                block, carry = buf[:cut], buf[cut:]
            if block:
                recs = parser.parse(block)
                while len(recs):
                    take = recs[: batch_size - count]
                    recs = recs[len(take):]
                    pending.append(take)
                    count += len(take)
                    if count == batch_size:
                        out = pending[0] if len(pending) == 1 else np.concatenate(pending)
                        yield FlowRecords(out, parser.strings.table)
                        pending, count = [], 0
            if not data:
                break
    if count:
        yield FlowRecords(np.concatenate(pending), parser.strings.table)


def _check_fields(names: list[str], file: str, line: int | None) -> None:
    for n in names:
        if n not in KNOWN_FIELDS:
            raise InputError(f"unknown flow-log field {n!r} in format", file=file, line=line)
    if len(set(names)) != len(names):
        raise InputError("flow-log format names a field twice", file=file, line=line)


def _is_name(tok: bytes) -> bool:
    return bool(tok) and tok[:1].islower() and all(c == 45 or 97 <= c <= 122 for c in tok)


class _BlockParser:
    """Parses blocks of whole lines, keeping the format and line count between blocks."""

    def __init__(self, file: str, fields: list[str], stats: ReadStats) -> None:
        self.file = file
        self.fields = fields
        self.stats = stats
        self.lines = 0
        self.strings = _Strings()
        self.names = np.array(sorted(KNOWN_FIELDS), dtype="S32")

    def parse(self, block: bytes) -> np.ndarray:
        """Records of a block of whole lines (header lines switch the format)."""
        a = np.frombuffer(block, np.uint8)
        nl = np.flatnonzero(a == 10)
        nlines = len(nl)
        ls = np.zeros(nlines, np.int64)
        ls[1:] = nl[:-1] + 1
        headers = self._headers(block, a, ls, nl)
        out = []
        lo = 0
        for h in headers + [nlines]:
            if h > lo:
                seg = block[ls[lo]:nl[h - 1] + 1]
                blank = bool(((nl[lo:h] - ls[lo:h]) <= 1).any())
                recs = None if blank else self._fast(seg, lo, h - lo)
                out.append(self._exact(seg, lo) if recs is None else self._account(recs))
            if h < nlines:
                names = block[ls[h]:nl[h]].decode("utf-8", "replace").split()
                _check_fields(names, self.file, self.lines + h + 1)
                self.fields = names
            lo = h + 1
        self.lines += nlines
        return np.concatenate(out) if out else np.zeros(0, RECORD_DTYPE)

    def _headers(self, block: bytes, a: np.ndarray, ls: np.ndarray, nl: np.ndarray) -> list[int]:
        """Header lines: the first token is a field name, or every token looks like one."""
        fb = a[np.minimum(ls, len(a) - 1)]
        cand = np.flatnonzero((fb >= 97) & (fb <= 122) & (ls < nl))
        if not len(cand):
            return []
        m = a[np.minimum(ls[cand, None] + np.arange(32), len(a) - 1)]
        sep = m <= 32
        tok_len = np.where(sep.any(axis=1), sep.argmax(axis=1), 32)
        m = m * (np.arange(32) < tok_len[:, None])
        known = np.isin(np.ascontiguousarray(m).view("S32").reshape(-1), self.names)
        found = cand[known].tolist()
        named = (((m >= 97) & (m <= 122)) | (m == 45) | (m == 0)).all(axis=1) & ~known
        for i in cand[named].tolist():
            toks = block[ls[i]:nl[i]].split()
            if all(_is_name(t) for t in toks) and any(t.decode() in KNOWN_FIELDS for t in toks):
                found.append(i)
        return sorted(found)

    def _fast(self, seg: bytes, lo: int, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Parse a clean segment with NumPy's C text reader; None when anything is unusual
        (tabs, signs, over-long or garbled tokens), leaving it to the exact parser."""
        if b"\t" in seg or b"+" in seg:
            return None
        a = np.frombuffer(seg, np.uint8)
        dash = np.flatnonzero(a == 45)
        text = seg
        if len(dash):                         # "-" tokens (missing values) -> sentinel
            before = np.ones(len(dash), bool)
            before[dash > 0] = a[dash[dash > 0] - 1] <= 32
            after = a[dash + 1] <= 32         # seg ends with a newline: dash + 1 exists
            if (before & ~after).any():
                return None                   # a token starting with "-" ("-0", "-x")
            solo = dash[before & after].tolist()
            if solo:
                cuts = zip([0] + [x + 1 for x in solo], solo + [len(seg)], strict=True)
                text = _SENT.join([seg[x:y] for x, y in cuts])
        dt = np.dtype([(f"f{j}", _FAST_DTYPE[_kind(f)]) for j, f in enumerate(self.fields)])
        try:
            x = np.loadtxt(io.BytesIO(text), dtype=dt, delimiter=None, comments=None,
                           encoding="latin1", ndmin=1)
        except ValueError:
            return None
        if len(x) != n:
            return None
        recs = np.full(n, -1, RECORD_DTYPE)
        recs["line"] = self.lines + lo + 1 + np.arange(n)
        ipv6 = np.zeros(n, bool)
        for j, fname in enumerate(self.fields):
            v = x[f"f{j}"]
            kind = _kind(fname)
            if kind == "int":
                missing = v == _SENT_INT
                if (v[~missing] < 0).any():
                    return None
                vals = v
            else:
                width = v.dtype.itemsize
                m = np.ascontiguousarray(v).view(np.uint8).reshape(n, width)
                if m[:, -1].any():
                    return None                               # token may be cut
                missing = m[:, 0] == 45                      # "-": only the sentinel
                if missing.any():
                    maybe = np.flatnonzero(missing)
                    if not (v[maybe] == _SENT).all():
                        return None
                if kind == "addr":
                    vals = _ipv4_fast(m, missing)
                    if vals is None:
                        return None
                elif kind == "enum":
                    word = np.ascontiguousarray(m[:, :8]).view("<u8").reshape(-1)
                    vals = np.full(n, -2, np.int64)
                    for text, code in ENUM_FIELDS[fname].items():
                        vals[word == _ENUM_WORDS[text]] = code
                    if (((vals == -2) | m[:, 8:].any(axis=1)) & ~missing).any():
                        return None
                else:
                    vals = self.strings.ids(m)
            col = _COLUMN.get(fname)
            if col is not None:
                recs[col] = np.where(missing, -1, vals)
        return recs, ipv6

    def _error(self, local_line: int, problem: str) -> InputError:
        return InputError(problem, file=self.file, line=self.lines + local_line + 1)

    def _exact(self, seg: bytes, lo: int) -> np.ndarray:
        """Token-by-token NumPy parse of a segment: slower, but names the line and the
        field of any bad value."""
        # a leading space and trailing zeros make every token start and end at an edge
        a = np.frombuffer(b" " + seg + bytes(_PAD), np.uint8)
        nl = np.flatnonzero(a == 10)
        word = a > 32                         # space, tab, CR, LF (and controls) separate
        edges = np.flatnonzero(word[1:] != word[:-1]) + 1
        starts, ends = edges[0::2], edges[1::2]
        first = np.zeros(len(nl) + 1, np.int64)
        first[1:] = np.searchsorted(starts, nl)
        cnt = np.diff(first)
        k = len(self.fields)
        wrong = np.flatnonzero((cnt != 0) & (cnt != k))
        if len(wrong):
            i = int(wrong[0])
            raise self._error(lo + i, f"expected {k} fields ({' '.join(self.fields)}), "
                                      f"found {int(cnt[i])}")
        rows = np.flatnonzero(cnt)
        n = len(rows)
        recs = np.full(n, -1, RECORD_DTYPE)
        recs["line"] = self.lines + lo + rows + 1
        ipv6 = np.zeros(n, bool)
        if n == 0:
            return self._account((recs, ipv6))
        tok = starts[first[rows][:, None] + np.arange(k)]
        ln = ends[first[rows][:, None] + np.arange(k)] - tok
        for j, fname in enumerate(self.fields):
            sj, lj = tok[:, j], ln[:, j]
            missing = (lj == 1) & (a[sj] == 45)
            kind = _kind(fname)
            if kind == "int":
                vals, bad = _parse_int(a, sj, lj)
            elif kind == "addr":
                vals, bad, v6 = _ipv4_matrix(_tokens(a, sj, np.minimum(lj, 40), 40), lj)
                ipv6 |= v6 & ~missing
                bad &= ~v6
            elif kind == "enum":
                raw = _word(a, sj, lj)
                vals = np.full(n, -2, np.int64)
                for text, code in ENUM_FIELDS[fname].items():
                    vals[raw == _ENUM_WORDS[text]] = code
                bad = vals == -2
            else:
                bad = lj > _PAD
                width = -(-int(min(lj.max(), _PAD)) // 8) * 8
                vals = self.strings.ids(_tokens(a, sj, np.minimum(lj, _PAD), width))
            bad &= ~missing
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                text = bytes(a[sj[i]:sj[i] + lj[i]]).decode("utf-8", "replace")
                raise self._error(lo + int(rows[i]), f"garbled {fname} value {text!r}")
            col = _COLUMN.get(fname)
            if col is not None:
                recs[col] = np.where(missing, -1, vals)
        return self._account((recs, ipv6))

    def _account(self, parsed: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Count records, NODATA/SKIPDATA and IPv6; keep the replayable ones."""
        recs, ipv6 = parsed
        st = self.stats
        st.records += len(recs)
        status = recs["log_status"]
        nodata, skipdata = status == NODATA, status == SKIPDATA
        st.nodata += int(nodata.sum())
        st.skipdata += int(skipdata.sum())
        ipv6 &= ~(nodata | skipdata)
        if ipv6.any():
            st.skip("ipv6", int(ipv6.sum()))
        noaddr = ~(nodata | skipdata | ipv6) & ((recs["src"] < 0) | (recs["dst"] < 0))
        if noaddr.any():
            st.skip("missing address", int(noaddr.sum()))
        drop = nodata | skipdata | ipv6 | noaddr
        return recs[~drop] if drop.any() else recs


def _kind(name: str) -> str:
    if name in INT_FIELDS:
        return "int"
    if name in ADDR_FIELDS:
        return "addr"
    return "enum" if name in ENUM_FIELDS else "str"


def _tokens(a: np.ndarray, s: np.ndarray, ln: np.ndarray, width: int) -> np.ndarray:
    """Tokens as an (n, width) zero-padded byte matrix; `a` ends with _PAD zero bytes."""
    cols = np.arange(width)
    return a[s[:, None] + cols] * (cols < ln[:, None])


def _word(a: np.ndarray, s: np.ndarray, ln: np.ndarray) -> np.ndarray:
    """Tokens of up to 8 bytes as one integer each (longer tokens get 0)."""
    return np.where(ln <= 8, _tokens(a, s, ln, 8).view("<u8").reshape(-1), 0)


def _parse_int(a: np.ndarray, s: np.ndarray, ln: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decimal tokens, right-aligned into a digit matrix and folded with powers of ten."""
    width = int(min(ln.max(), 18))
    cols = np.arange(width)
    d = a[(s + ln - width)[:, None] + cols] - np.uint8(48)      # wraps: non-digits > 9
    d *= cols >= (width - ln)[:, None]
    bad = (d > 9).any(axis=1) | (ln > 18)
    if width <= 15:       # float64 holds 15 digits exactly, and BLAS folds them fast
        pow10 = 10.0 ** np.arange(width - 1, -1, -1)
        return (d.astype(np.float64) @ pow10).astype(np.int64), bad
    return d.astype(np.int64) @ (10 ** np.arange(width - 1, -1, -1, dtype=np.int64)), bad


def _ipv4_fast(m: np.ndarray, missing: np.ndarray) -> np.ndarray | None:
    """Dotted quads of a clean column through NumPy's C number parser (dots made
    separators); None when any token is not a plain dotted quad (IPv6, garbled...)."""
    vals = np.full(len(m), -1, np.int64)
    sub = m[~missing, :16]
    if not len(sub):
        return vals
    dot = sub == 46
    digit = (sub >= 48) & (sub <= 57)
    if (m[~missing, 15:] != 0).any() or ((sub != 0) & ~dot & ~digit).any():
        return None
    after = sub[:, 1:]
    if (dot.sum(axis=1) != 3).any() or not digit[:, 0].all() or \
            (dot[:, :-1] & ((after == 46) | (after == 0))).any():
        return None
    octets = np.fromstring(np.where(digit, sub, 32).astype(np.uint8).tobytes(),
                           dtype=np.int64, sep=" ")
    if len(octets) != 4 * len(sub) or (octets > 255).any():
        return None
    o = octets.reshape(-1, 4)
    vals[~missing] = (o[:, 0] << 24) | (o[:, 1] << 16) | (o[:, 2] << 8) | o[:, 3]
    return vals


def _ipv4_matrix(m: np.ndarray, ln: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dotted quads (zero-padded byte matrix, lengths `ln`) to integers; also flags IPv6
    (a ':') and malformed tokens."""
    n = len(m)
    m = m[:, :16]
    mask = np.arange(m.shape[1]) < ln[:, None]
    isdot = (m == 46) & mask
    v6 = ((m == 58) & mask).any(axis=1)          # IPv6 has a ':' in its first 5 chars
    bad = (mask & ~isdot & ((m < 48) | (m > 57))).any(axis=1) | (ln > 15)
    bad |= isdot.sum(axis=1) != 3
    val = np.zeros(n, np.int64)
    good = np.flatnonzero(~bad)
    if len(good):
        mg = m[good].astype(np.int64) - 48
        dots = np.nonzero(isdot[good])[1].reshape(-1, 3)
        lo = np.column_stack([np.zeros(len(good), np.int64), dots + 1])
        hi = np.column_stack([dots, ln[good]])
        olen = hi - lo
        acc = np.zeros(len(good), np.int64)
        obad = ((olen < 1) | (olen > 3)).any(axis=1)
        rows = np.arange(len(good))
        for j in range(4):
            e, ol = hi[:, j], olen[:, j]
            v = mg[rows, np.maximum(e - 1, 0)]
            v = v + np.where(ol >= 2, mg[rows, np.maximum(e - 2, 0)] * 10, 0)
            v = v + np.where(ol >= 3, mg[rows, np.maximum(e - 3, 0)] * 100, 0)
            obad |= v > 255
            acc = acc * 256 + v
        val[good] = acc
        bad[good[obad]] = True
    return val, bad, v6


# ----------------------------------------------------------------------------- expansion

def expand_flows(*, start: np.ndarray, end: np.ndarray, packets: np.ndarray,
                 nbytes: np.ndarray, src: np.ndarray, dst: np.ndarray, sport: np.ndarray,
                 dport: np.ndarray, proto: np.ndarray, flow: np.ndarray,
                 tcp_flags: np.ndarray | None = None, skip: np.ndarray | None = None,
                 take: np.ndarray | None = None) -> np.ndarray:
    """Expand flows into a time-sorted PacketBatch (rules in the module docstring).

    `skip`/`take` select packets [skip, skip+take) of each flow, so one huge flow can be
    expanded in slices that together equal its whole expansion."""
    start = np.asarray(start, np.float64)
    end = np.maximum(np.asarray(end, np.float64), start)
    npk = np.maximum(np.asarray(packets, np.int64), 0)
    skip = np.zeros(len(npk), np.int64) if skip is None else np.asarray(skip, np.int64)
    take = npk - skip if take is None else np.asarray(take, np.int64)
    total = int(take.sum())
    rec = np.repeat(np.arange(len(npk)), take)
    base = np.zeros(len(npk), np.int64)
    np.cumsum(take[:-1], out=base[1:])
    k = np.arange(total) - base[rec] + skip[rec]       # packet index within its flow
    n = npk[rec]
    span = (end - start)[rec]
    out = empty(total)
    out["ts"] = start[rec] + np.where(n > 1, span * k / np.maximum(n - 1, 1), 0.0)
    b = np.maximum(np.asarray(nbytes, np.int64), 0)[rec]
    out["length"] = b // n + (k < b % n)
    for col, vals in (("src", src), ("dst", dst), ("sport", sport), ("dport", dport),
                      ("proto", proto), ("flow", flow)):
        out[col] = np.asarray(vals)[rec]
    tcp = out["proto"] == TCP
    flags = np.where(tcp, ACK, 0)
    if tcp_flags is not None:
        tf = np.asarray(tcp_flags, np.int64)[rec]
        known = tcp & (tf >= 0)
        first = known & (k == 0)
        last = known & (k == n - 1)
        synack = (tf & (SYN | ACK)) == (SYN | ACK)
        flags = np.where(first & synack, SYN | ACK,
                         np.where(first & ((tf & SYN) != 0), SYN, flags))
        fin = np.where((tf & FIN) != 0, FIN | ACK, 0) | np.where((tf & RST) != 0, RST, 0)
        end_flags = np.where(first & (n == 1), flags | fin, np.where(fin != 0, fin, flags))
        flags = np.where(last, end_flags, flags)
    out["flags"] = flags
    order = np.argsort(out["ts"], kind="stable")
    return out[order]


def _record_columns(r: np.ndarray) -> dict[str, np.ndarray]:
    start = np.where(r["start"] < 0, 0.0, r["start"].astype(np.float64))
    return dict(start=start, end=np.where(r["end"] < 0, start, r["end"].astype(np.float64)),
                packets=np.where(r["packets"] < 0, 1, np.maximum(r["packets"], 0)),
                nbytes=np.maximum(r["bytes"], 0), src=r["src"], dst=r["dst"],
                sport=np.maximum(r["sport"], 0), dport=np.maximum(r["dport"], 0),
                proto=np.maximum(r["proto"], 0), flow=r["line"], tcp_flags=r["tcp_flags"])


def records_to_packets(records: FlowRecords | np.ndarray) -> np.ndarray:
    """Expand flow-log records into their packets (see the module docstring)."""
    r = records.records if isinstance(records, FlowRecords) else records
    return expand_flows(**_record_columns(r))


def iter_packets(batches: Iterator[FlowRecords] | Iterator[np.ndarray],
                 batch_size: int = DEFAULT_BATCH) -> Iterator[np.ndarray]:
    """PacketBatches of at most `batch_size` packets: records are expanded a slice at a
    time, so a record of a billion packets never sits in memory whole."""
    for batch in batches:
        r = batch.records if isinstance(batch, FlowRecords) else batch
        yield from expand_sliced(_record_columns(r), batch_size)


def expand_sliced(cols: dict[str, np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """`expand_flows(**cols)` cut into PacketBatches of at most `batch_size` packets."""
    npk = cols["packets"]
    cum = np.cumsum(npk)
    done = 0                                  # packets emitted so far, over all flows
    total = int(cum[-1]) if len(cum) else 0
    while done < total:
        stop = min(done + batch_size, total)
        lo = int(np.searchsorted(cum, done, side="right"))
        hi = int(np.searchsorted(cum, stop, side="left")) + 1
        sl = slice(lo, hi)
        before = cum[sl] - npk[sl]            # packets of earlier flows
        skip = np.maximum(done - before, 0)
        take = np.minimum(npk[sl], stop - before) - skip
        part = {key: v[sl] for key, v in cols.items()}
        yield expand_flows(**part, skip=skip, take=take)
        done = stop

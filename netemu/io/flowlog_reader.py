"""VPC Flow Logs reader: records as columns, and their expansion into packets.

Why two parsers: flow-log exports run to billions of lines, so no Python runs per line.
A block of clean lines (one space between tokens, the format's field count on every
line) is parsed column-wise from one byte buffer (netemu.io.flowlog_parse): separator and
dot offsets come from one scan, numbers are read eight digits at a time from unaligned
64-bit word gathers, dotted quads octet by octet between their dots, enums as words,
strings interned by 64-bit hash. Any block the fast path is unsure of (tabs, blank lines,
garbled or over-long tokens) is re-parsed by the exact parser: NumPy tokenising
(separator masks, token offsets) and per-field digit matrices, which names the line and
field of a bad value. Tests pin both to the same records, strings, stats and errors.
Header lines (field names) may appear anywhere -- concatenated S3 objects repeat
them -- and switch the format for the lines after them; `fields=` gives the format of a
file without a header (a header later in the file still wins).

Kept out of the record batch, and counted in ReadStats: NODATA / SKIPDATA records,
IPv6 records ("ipv6"), records without both addresses ("missing address"), records of
0 packets ("0 packets": AWS logs a quiet interval as NODATA with '-' counts, so such a
record carries no traffic to replay).

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

import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netemu.errors import InputError
from netemu.io.batching import rebatch
from netemu.io.flowlog_parse import (
    LEAD,
    PAD,
    enum_words,
    has_colon,
    ipv4_exact,
    parse_int_exact,
    parse_ipv4,
    parse_uint,
    token_words,
    tokens,
    word,
    words,
)
from netemu.io.pcap_reader import DEFAULT_BATCH, ReadStats
from netemu.packet import ACK, FIN, RST, SYN, TCP, empty

CHUNK_BYTES = 4 << 20
_PAD = PAD                 # zero bytes after each block: token gathers never clip

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
        return self.ids_words(np.ascontiguousarray(m).view("<u8"))

    def ids_words(self, words: np.ndarray) -> np.ndarray:
        """`ids` of tokens given as an (n, w) matrix of zero-padded little-endian words."""
        words = np.ascontiguousarray(words)
        h = words[:, 0].copy()
        for w in range(1, words.shape[1]):
            h = h * np.uint64(0x100000001B3) ^ words[:, w]
        if len(h) and (h == h[0]).all():               # one string (account-id, often)
            rep, inverse = np.zeros(1, np.intp), np.zeros(len(h), np.intp)
        else:
            _, rep, inverse = np.unique(h, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
        if not np.array_equal(words, words[rep[inverse]]):
            _, rep, inverse = np.unique(words.view(f"S{8 * words.shape[1]}").reshape(-1),
                                        return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
        ids = np.empty(len(rep), np.int32)
        for i in np.argsort(rep).tolist():          # new strings in order of appearance
            v = words[rep[i]].tobytes().rstrip(b"\0")
            got = self.index.get(v)
            if got is None:
                got = self.index[v] = len(self.table)
                self.table.append(v.decode("utf-8", "replace"))
            ids[i] = got
        return ids[inverse]


def read_flow_logs(path: str | Path, *, fields: Sequence[str] | None = None,
                   batch_size: int = DEFAULT_BATCH, stats: ReadStats | None = None,
                   strings: _Strings | None = None) -> Iterator[FlowRecords]:
    """FlowRecords batches (at most `batch_size` records) from a flow-log file, plain or
    gzip-compressed (told by its magic, as S3 delivers `.log.gz` objects).

    `fields` and the file's readability are checked now; lines are parsed as the
    iterator is consumed. `strings`: an interning table shared with other files (the
    objects of one S3 export), so string indices mean the same in all of them."""
    stats = stats if stats is not None else ReadStats()
    name = str(path)
    if fields is not None:
        _check_fields(list(fields), name, None)
    try:
        open(path, "rb").close()
    except OSError as e:
        raise InputError(f"cannot read flow log: {e.strerror}", file=name) from None
    parser = _BlockParser(name, list(fields) if fields else list(DEFAULT_FIELDS), stats,
                          strings)
    return _read(path, parser, batch_size)


GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: str | Path) -> io.BufferedIOBase:
    """The file's bytes, through gzip when its first two bytes say so."""
    f = open(path, "rb")
    if f.read(2) == GZIP_MAGIC:
        f.seek(0)
        return gzip.GzipFile(fileobj=f, mode="rb")
    f.seek(0)
    return f


def _blocks(f: io.BufferedReader) -> Iterator[tuple[np.ndarray, int]]:
    """(buffer, length): blocks of whole lines read into one reused buffer, each at
    offset LEAD with at least _PAD addressable bytes after it (the last block gets a
    newline if the file lacks one). A block is only valid until the next is read."""
    buf = np.zeros(LEAD + CHUNK_BYTES + _PAD, np.uint8)
    have = 0                                  # bytes of a partial line, at LEAD
    while True:
        need = LEAD + have + CHUNK_BYTES + _PAD
        if len(buf) < need:                   # a line longer than a chunk
            bigger = np.zeros(max(need, 2 * len(buf)), np.uint8)
            bigger[:LEAD + have] = buf[:LEAD + have]
            buf = bigger
        got = 0
        view = memoryview(buf)[LEAD + have:LEAD + have + CHUNK_BYTES]
        while got < CHUNK_BYTES:
            k = f.readinto(view[got:])
            if not k:
                break
            got += k
        end = LEAD + have + got
        if not got:
            if have:
                if buf[end - 1] != 10:
                    buf[end] = 10
                    end += 1
                yield buf, end - LEAD
            return
        cut = 0
        tail = LEAD + have
        step = 1 << 16
        while tail < end:                     # find the last newline, from the end
            lo = max(end - step, tail)
            hits = np.flatnonzero(buf[lo:end] == 10)
            if len(hits):
                cut = lo + int(hits[-1]) + 1 - LEAD
                break
            end_search = lo
            if end_search == tail:
                break
            step *= 4
        if cut == 0 and have:                 # newline may lie in the carried bytes
            hits = np.flatnonzero(buf[LEAD:LEAD + have] == 10)
            cut = int(hits[-1]) + 1 if len(hits) else 0
        if cut:
            yield buf, cut
        have = have + got - cut
        if cut and have:
            buf[LEAD:LEAD + have] = buf[LEAD + cut:LEAD + cut + have].copy()


def _read(path: str | Path, parser: _BlockParser, batch_size: int) -> Iterator[FlowRecords]:
    with open_binary(path) as f:
        parsed = (parser.parse(buf, nbytes) for buf, nbytes in _checked_blocks(f, parser))
        for out in rebatch(parsed, batch_size):
            yield FlowRecords(out, parser.strings.table)


def _checked_blocks(f, parser: _BlockParser) -> Iterator[tuple[np.ndarray, int]]:
    """`_blocks`, with a damaged compressed stream reported as bad input."""
    it = _blocks(f)
    while True:
        try:
            block = next(it)
        except StopIteration:
            return
        except (EOFError, OSError, zlib.error) as e:
            raise InputError(f"damaged gzip stream after line {parser.lines}: "
                             f"{e.args[0] if e.args else type(e).__name__}",
                             file=parser.file) from None
        yield block


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

    def __init__(self, file: str, fields: list[str], stats: ReadStats,
                 strings: _Strings | None = None) -> None:
        self.file = file
        self.fields = fields
        self.stats = stats
        self.lines = 0
        self.strings = strings if strings is not None else _Strings()
        self.names = np.array(sorted(KNOWN_FIELDS), dtype="S32")
        self._buf = np.zeros(0, np.uint8)
        self._w = words(np.zeros(8, np.uint8))

    def parse(self, buf: np.ndarray, nbytes: int) -> np.ndarray:
        """Records of the block buf[LEAD:LEAD+nbytes] of whole lines (header lines switch
        the format); LEAD bytes before the block and _PAD after it must be addressable."""
        if buf is not self._buf:
            self._buf, self._w = buf, words(buf)
        a = buf[LEAD:LEAD + nbytes]
        # separator bytes (space, newline, tab...) and dots; dots split dotted quads
        marks = np.flatnonzero((a <= 32) | (a == 46))
        mc = a[marks]
        spi = np.flatnonzero(mc != 46)         # which marks separate tokens
        sep, sc = marks[spi], mc[spi]
        self._marks = marks + LEAD
        self._spi = np.concatenate(([-1], spi))   # a mark before the block, then spi
        nlpos = np.flatnonzero(sc == 10)       # which separators end lines
        nl = sep[nlpos]
        nlines = len(nl)
        ls = np.zeros(nlines, np.int64)
        ls[1:] = nl[:-1] + 1
        headers = self._headers(a, ls, nl)
        out = []
        lo = 0
        for h in headers + [nlines]:
            if h > lo:
                blank = bool(((nl[lo:h] - ls[lo:h]) <= 1).any())
                i0 = int(nlpos[lo - 1]) + 1 if lo else 0
                i1 = int(nlpos[h - 1]) + 1
                seg = (sep[i0:i1], sc[i0:i1], int(ls[lo]), i0)
                recs = None if blank else self._fast(seg, lo, h - lo)
                if recs is None:
                    recs = self._exact(a[ls[lo]:nl[h - 1] + 1].tobytes(), lo)
                out.append(recs)
            if h < nlines:
                names = a[ls[h]:nl[h]].tobytes().decode("utf-8", "replace").split()
                _check_fields(names, self.file, self.lines + h + 1)
                self.fields = names
            lo = h + 1
        self.lines += nlines
        if len(out) == 1:
            return out[0]
        return np.concatenate(out) if out else np.zeros(0, RECORD_DTYPE)

    def _headers(self, a: np.ndarray, ls: np.ndarray, nl: np.ndarray) -> list[int]:
        """Header lines: the first token is a field name, or every token looks like one."""
        if not len(ls):
            return []
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
            toks = a[ls[i]:nl[i]].tobytes().split()
            if all(_is_name(t) for t in toks) and any(t.decode() in KNOWN_FIELDS for t in toks):
                found.append(i)
        return sorted(found)

    def _fast(self, seg: tuple[np.ndarray, np.ndarray, int, int], lo: int,
              n: int) -> np.ndarray | None:
        """Records of `n` lines of clean tokens (one space between tokens, every line of
        the format's field count, every value well formed), parsed column-wise with word
        gathers; None when anything is unusual, leaving the lines to the exact parser.
        `seg`: the separators of the lines (offsets in the block, and their bytes), the
        offset of the first line and the index of its first separator in the block."""
        sep, sc, first, i0 = seg
        k = len(self.fields)
        if len(sep) != n * k:
            return None
        c = sc.reshape(n, k)
        if not (c[:, -1] == 10).all() or np.count_nonzero(sc == 32) != n * (k - 1):
            return None
        end = sep.reshape(n, k).T + LEAD                    # (field, line) token ends
        start = np.empty_like(end)
        start[0, 0] = first + LEAD
        start[0, 1:] = end[-1, :-1] + 1
        start[1:] = end[:-1] + 1
        ln = end - start
        if ln.min() < 1:                                    # doubled or edge spaces
            return None
        buf, w = self._buf, self._w
        cols: dict[str, np.ndarray] = {}
        ipv6 = np.zeros(n, bool)
        kinds = [_kind(f) for f in self.fields]
        ints = [j for j, kd in enumerate(kinds) if kd == "int"]
        if ints:
            e, ln_i = end[ints].reshape(-1), ln[ints].reshape(-1)
            vals, ok = parse_uint(w, e, ln_i)
            odd = np.flatnonzero(~ok)                       # "-" (missing) or bad
            if len(odd):
                if not ((ln_i[odd] == 1) & (buf[e[odd] - 1] == 45)).all():
                    return None
                vals[odd] = -1
            vals = vals.reshape(len(ints), n)
            for i, j in enumerate(ints):
                if self.fields[j] in _COLUMN:
                    cols[_COLUMN[self.fields[j]]] = vals[i]
        for j, (fname, kind) in enumerate(zip(self.fields, kinds, strict=True)):
            if kind == "int":
                continue
            s, lj = start[j], ln[j]
            if kind == "addr":
                # the marks between this token's separator and the one before: its dots
                t = i0 + j + k * np.arange(n)
                hi, lo_ = self._spi[t + 1], self._spi[t]
                ok = hi - lo_ == 4
                at = hi[:, None] + np.arange(-3, 0)
                if not ok.all():
                    at = np.clip(at, 0, len(self._marks) - 1)
                vals, quad = parse_ipv4(w, s, end[j], self._marks[at])
                ok &= quad
            elif kind == "enum":
                raw = enum_words(w, s, lj)
                vals = np.full(n, -2, np.int64)
                for text, code in ENUM_FIELDS[fname].items():
                    vals[raw == _ENUM_WORDS[text]] = code
                ok = vals != -2
            else:
                if lj.max() > _PAD:
                    return None
                vals = self.strings.ids_words(token_words(w, s, lj)).astype(np.int64)
                ok = lj != 1                                # only these can be "-"
            odd = np.flatnonzero(~ok)
            if len(odd):
                missing = (lj[odd] == 1) & (buf[s[odd]] == 45)
                if kind == "addr":                          # IPv6 reads, as in _exact
                    v6 = np.zeros(len(odd), bool)
                    v6[~missing] = has_colon(buf, s[odd[~missing]], lj[odd[~missing]])
                    ipv6[odd[v6]] = True
                    missing |= v6
                if not missing.all() and kind != "str":
                    return None
                vals[odd[missing & ~v6 if kind == "addr" else missing]] = -1
            if fname in _COLUMN:
                cols[_COLUMN[fname]] = vals
        line = self.lines + lo + 1 + np.arange(n)
        return self._assemble(cols, line, ipv6)

    def _error(self, local_line: int, problem: str) -> InputError:
        return InputError(problem, file=self.file, line=self.lines + local_line + 1)

    def _exact(self, seg: bytes, lo: int) -> np.ndarray:
        """Token-by-token NumPy parse of a segment: slower, but names the line and the
        field of any bad value."""
        # a leading space and trailing zeros make every token start and end at an edge
        a = np.frombuffer(b" " + seg + bytes(_PAD), np.uint8)
        nl = np.flatnonzero(a == 10)
        inword = a > 32                       # space, tab, CR, LF (and controls) separate
        edges = np.flatnonzero(inword[1:] != inword[:-1]) + 1
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
        line = self.lines + lo + rows + 1
        ipv6 = np.zeros(n, bool)
        cols: dict[str, np.ndarray] = {}
        if n == 0:
            return self._assemble(cols, line, ipv6)
        tok = starts[first[rows][:, None] + np.arange(k)]
        ln = ends[first[rows][:, None] + np.arange(k)] - tok
        for j, fname in enumerate(self.fields):
            sj, lj = tok[:, j], ln[:, j]
            missing = (lj == 1) & (a[sj] == 45)
            kind = _kind(fname)
            if kind == "int":
                vals, bad = parse_int_exact(a, sj, lj)
            elif kind == "addr":
                vals, bad, v6 = ipv4_exact(tokens(a, sj, np.minimum(lj, 40), 40), lj)
                ipv6 |= v6 & ~missing
                bad &= ~v6
            elif kind == "enum":
                raw = word(a, sj, lj)
                vals = np.full(n, -2, np.int64)
                for text, code in ENUM_FIELDS[fname].items():
                    vals[raw == _ENUM_WORDS[text]] = code
                bad = vals == -2
            else:
                bad = lj > _PAD
                width = -(-int(min(lj.max(), _PAD)) // 8) * 8
                vals = self.strings.ids(tokens(a, sj, np.minimum(lj, _PAD), width))
            bad &= ~missing
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                text = bytes(a[sj[i]:sj[i] + lj[i]]).decode("utf-8", "replace")
                raise self._error(lo + int(rows[i]), f"garbled {fname} value {text!r}")
            col = _COLUMN.get(fname)
            if col is not None:
                cols[col] = np.where(missing, -1, vals)
        return self._assemble(cols, line, ipv6)

    def _assemble(self, cols: dict[str, np.ndarray], line: np.ndarray,
                  ipv6: np.ndarray) -> np.ndarray:
        """Count records, NODATA/SKIPDATA and IPv6; the replayable ones as RECORD_DTYPE
        (-1 in every column the format lacks)."""
        n = len(line)
        st = self.stats
        st.records += n
        none = np.full(n, -1, np.int64)
        status = cols.get("log_status", none)
        nodata, skipdata = status == NODATA, status == SKIPDATA
        st.nodata += int(nodata.sum())
        st.skipdata += int(skipdata.sum())
        ipv6 &= ~(nodata | skipdata)
        if ipv6.any():
            st.skip("ipv6", int(ipv6.sum()))
        noaddr = ~(nodata | skipdata | ipv6) & ((cols.get("src", none) < 0) |
                                               (cols.get("dst", none) < 0))
        if noaddr.any():
            st.skip("missing address", int(noaddr.sum()))
        # a record of 0 packets says nothing happened: nothing to replay (AWS writes
        # "no traffic" as NODATA with '-' counts, so this is a damaged or synthetic line)
        zero = ~(nodata | skipdata | ipv6 | noaddr) & (cols.get("packets", none) == 0)
        if zero.any():
            st.skip("0 packets", int(zero.sum()))
        drop = nodata | skipdata | ipv6 | noaddr | zero
        keep = np.flatnonzero(~drop) if drop.any() else None
        recs = np.empty(n if keep is None else len(keep), RECORD_DTYPE)
        recs.view(np.uint8).fill(255)                 # -1 in every column
        recs["line"] = line if keep is None else line[keep]
        for col, v in cols.items():
            recs[col] = v if keep is None else v[keep]
        return recs


def _kind(name: str) -> str:
    if name in INT_FIELDS:
        return "int"
    if name in ADDR_FIELDS:
        return "addr"
    return "enum" if name in ENUM_FIELDS else "str"


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

"""`netemu replay --engine dask`: the same replay, cut into partitions that run on a
dask.distributed cluster, merged into the same outputs as the local engine.

A partition must hold all the state its verdicts depend on. Packets are cut by connection
(the normalised 5-tuple the Replayer keys connections by), and connections by the
destination their opener sent to (address, port, protocol; port 0 for protocols without
ports): every NAT mapping to one destination then lives in one partition, so a NAT
gateway's per-destination cap (G3) counts exactly, and so do the ports NATs choose (a
flow's candidates are seeded hashes of its key, and a candidate is taken only by a live
mapping to the same destination). What stays coupled across destinations is documented in
docs/dask.md: the Hyperplane ENI's 65,000 connections (L3) are counted per partition, and
the rare exact port pick of a nearly full destination draws from one seeded stream.

Flow-log sources are replayed record by record (their connections are learnt across
ENIs and records) in one partition of their own. Only this module imports dask."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netemu.apps import flowlog_replay
from netemu.apps.replay import Replayer, Summary, merge_records
from netemu.dataplane.flowkey import draw_hash, pack_keys, words
from netemu.dataplane.grouping import group_keys
from netemu.dataplane.pipeline import Settings
from netemu.errors import InputError
from netemu.io.atomic import atomic_folder, check_target
from netemu.io.flowlog_writer import HEADER, format_records
from netemu.io.pcap_writer import PcapStream
from netemu.io.trace_readers import open_records, open_trace
from netemu.model.topology import Topology
from netemu.packet import ICMP

ENGINES = ("local", "dask")
CONNECT_TIMEOUT = "5s"
PARTITION_SALT = 0x5EED


@dataclass
class _Part:
    """One partition's input: its packets in trace order, the global row of each, the
    trace file each came from (batches never span two files, as in the local engine)."""
    packets: np.ndarray
    rows: np.ndarray
    files: np.ndarray
    records: list = field(default_factory=list)      # flow-log record batches, in order
    # the number of each of its connections over the whole input, in its own order of
    # appearance; flow-log connections are numbered after all packet connections
    conn_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    flowlog_offset: int = 0


def partition_of(b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per packet, its partition (0..n-1) and its connection (numbered in order of first
    appearance, as the Replayer numbers them); per connection, its partition."""
    if len(b) == 0:
        z = np.zeros(0, np.int64)
        return z, z, z
    icmp = b["proto"] == ICMP
    sport = np.where(icmp, 0, b["sport"]).astype(np.int64)
    dport = np.where(icmp, 0, b["dport"]).astype(np.int64)
    src, dst = b["src"].astype(np.int64), b["dst"].astype(np.int64)
    low = (src < dst) | ((src == dst) & (sport <= dport))
    keys = pack_keys(0, np.where(low, src, dst), np.where(low, dst, src),
                     np.where(low, sport, dport), np.where(low, dport, sport), b["proto"])
    first, conn = group_keys(keys[:, 0], keys[:, 1])
    # the opener's destination, hashed (a fixed salt: runs repeat) so neighbours spread
    k0, k1 = words(0, dst[first], 0, dport[first], b["proto"][first])
    h = draw_hash(k0, k1, PARTITION_SALT)
    conn_part = ((h >> np.uint64(32)) % np.uint64(n)).astype(np.int64)
    return conn_part[conn], conn.astype(np.int64), conn_part


def _chunks(part: _Part, batch_size: int) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """The partition's packets in batches of at most batch_size, cut at file changes."""
    cuts = np.flatnonzero(np.diff(part.files)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(part.files)], strict=True):
        for s in range(lo, hi, batch_size):
            e = min(s + batch_size, hi)
            yield part.packets[s:e].copy(), part.rows[s:e]


def run_partition(topo: Topology, part: _Part, options: dict) -> dict:
    """One partition through an ordinary Replayer (on a worker): its partial results."""
    t0 = time.perf_counter()
    r = Replayer(topo, settings=options["settings"], mappings=options["mappings"],
                 captures=options["captures"], observing=options["observing"])
    caps: dict[str, tuple[list, list]] = {c: ([], []) for c in r.capture_points}
    for b, rows in _chunks(part, options["batch_size"]):
        observed = r.feed(b)
        if not options["observing"]:
            continue
        r.flow_log_records(observed)
        for name, (points, ip) in r.capture_points.items():
            for o in observed:
                keep = np.isin(o.point, points)
                if ip is not None:
                    keep &= (o.header["src"] == ip) | (o.header["dst"] == ip)
                if keep.any():
                    caps[name][0].append(rows[o.rows[keep]])
                    caps[name][1].append(o.header[keep])
    if part.records:
        rr = r.flow_logs = flowlog_replay.RecordReplay(r)
        for batch in part.records:
            rr.feed(batch)
    r.summary.flows = r.conns.count
    r.count_failed_connections()
    flowlog_replay.finish(r)
    ids, lines = [], []                 # verdicts.jsonl lines, numbered for the whole input
    if options["observing"]:
        # the replayer's own lines (built from columns when it can), each renumbered:
        # a line starts `{"flow": N, ` and N is the partition's numbering
        made = getattr(r, "verdict_lines", None)
        lines = list(made()) if made else [json.dumps(v) for v in r.verdicts()]
        if len(lines) != len(part.conn_ids):
            raise RuntimeError("a partition's connections differ from the partitioning's")
        ids = part.conn_ids.tolist()
        lines = [f'{{"flow": {i}, {line[line.index(", ") + 2:]}'
                 for i, line in zip(ids, lines, strict=True)]
        for v in flowlog_replay.verdicts(r):
            v["flow"] += part.flowlog_offset
            ids.append(v["flow"])
            lines.append(json.dumps(v))
    return {"summary": r.summary, "delivered": r.delivered, "records": r.records,
            "flow_ids": np.array(ids, np.int64), "lines": lines,
            "captures": caps, "packets": len(part.packets),
            "seconds": time.perf_counter() - t0}


def connect(scheduler):
    """A dask.distributed Client: to `scheduler` (an address or a Client), or to a
    LocalCluster of this machine's cores. An unreachable scheduler is refused input."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--engine dask needs dask.distributed: pip install "
                         "'netemu[dask]'") from None
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, ExitStack()
    stack = ExitStack()
    if scheduler is None:
        cluster = stack.enter_context(LocalCluster(threads_per_worker=1, host="127.0.0.1",
                                                   dashboard_address="127.0.0.1:0"))
        return stack.enter_context(Client(cluster)), stack
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there "
                         f"({type(e).__name__})") from None
    stack.callback(client.close)
    return client, stack


def _read(traces: list[Path], format, fields, batch_size, progress, summary: Summary):
    """Every input, read here: the packets of packet traces with their file numbers, and
    the record batches of flow-log sources."""
    packets, files, records = [], [], []
    for i, path in enumerate(traces):
        if flowlog_replay.is_flow_log(path, format):
            batches, stats = open_records(path, fields, batch_size)
            for batch in batches:
                records.append(batch)
                if progress:
                    progress(len(batch))
        else:
            batches, stats = open_trace(path, format, fields, batch_size)
            for b in batches:
                packets.append(b)
                files.append(np.full(len(b), i, np.int32))
                if progress:
                    progress(len(b))
        summary.records += stats.records
        for reason, n in stats.skipped.items():
            summary.skipped[reason] = summary.skipped.get(reason, 0) + n
        for reason, n in (("NODATA", stats.nodata), ("SKIPDATA", stats.skipdata)):
            if n:
                summary.skipped[reason] = summary.skipped.get(reason, 0) + n
    return packets, files, records


def replay_dask(topo: Topology, traces: list[Path], out: Path | None = None, *,
                scheduler=None, partitions: int | None = None,
                format: str | None = None, fields: list[str] | None = None,
                mappings: Iterable[str] = (), captures: Iterable[str] = (),
                settings: Settings | None = None, batch_size: int = 65_536,
                progress: Callable[[int], None] | None = None, force: bool = False,
                strict: bool = False,
                warn: Callable[[str], None] | None = None,
                timings: dict | None = None) -> Summary:
    """netemu.apps.replay.replay on a Dask cluster (`scheduler`: an address, a Client, or
    None for a LocalCluster here): the same outputs, the same Summary. `timings`, if
    given, receives the seconds of each phase and of each partition on its worker."""
    clock = {"start": time.perf_counter()}
    mappings, captures = list(mappings), list(captures)
    if captures and out is None:
        raise InputError("--capture needs --out DIR: the capture is written there")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"--batch {batch_size!r}: a batch holds at least 1 packet")
    if partitions is not None and (isinstance(partitions, bool) or partitions < 1):
        raise InputError(f"--partitions {partitions!r}: at least 1")
    if out is not None:            # an --out holding earlier outputs: refused before any work
        check_target(Path(out), force, folder=True, strict=strict)
    # here first: bad --map/--capture are refused before any cluster starts
    r0 = Replayer(topo, settings=settings, mappings=mappings, captures=captures,
                  observing=out is not None)
    summary = Summary()
    packets, files, records = _read(traces, format, fields, batch_size, progress, summary)
    b = np.concatenate(packets) if packets else None
    clock["read"] = time.perf_counter()
    client, closing = connect(scheduler)
    with closing:
        clock["connect"] = time.perf_counter()
        if partitions is None:
            partitions = max(1, sum(client.nthreads().values()))
        parts: list[_Part] = []
        conn_part = np.zeros(0, np.int64)
        if b is not None and len(b):
            part, _, conn_part = partition_of(b, partitions)
            file_of = np.concatenate(files)
            order = np.argsort(part, kind="stable")
            bounds = np.searchsorted(part[order], np.arange(partitions + 1))
            for p in range(partitions):
                rows = order[bounds[p]:bounds[p + 1]]
                if len(rows):
                    parts.append(_Part(b[rows], rows, file_of[rows],
                                       conn_ids=np.flatnonzero(conn_part == p)))
            if warn and len(conn_part) >= r0.dp.settings.hyperplane_connections \
                    and partitions > 1:
                warn(f"--engine dask: {len(conn_part):,} connections; a Hyperplane ENI's "
                     "65,000-connection limit (L3) is counted per partition (docs/dask.md)")
        if records:
            parts.append(_Part(b[:0] if b is not None else np.zeros(0), np.zeros(0, np.int64),
                               np.zeros(0, np.int32), records,
                               flowlog_offset=len(conn_part)))
        clock["partition"] = time.perf_counter()
        options = {"settings": settings, "mappings": mappings, "captures": captures,
                   "observing": out is not None, "batch_size": batch_size}
        [topo_f] = client.scatter([topo], broadcast=True)
        futures = [client.submit(run_partition, topo_f, client.scatter(p), options,
                                 pure=False) for p in parts]
        results = client.gather(futures)
        clock["compute"] = time.perf_counter()
    merged = _merge(r0, summary, results, out, force=force, strict=strict, clock=clock)
    clock["write"] = time.perf_counter()
    if timings is not None:
        names = list(clock)
        timings.update({n: clock[n] - clock[p] for p, n in zip(names, names[1:], strict=False)})
        timings["partitions"] = [{"packets": r["packets"], "seconds": r["seconds"]}
                                 for r in results]
    return merged


def _merge(r0: Replayer, summary: Summary, results: list[dict], out: Path | None, *,
           force: bool, strict: bool, clock: dict) -> Summary:
    """Partial results as one: counts added, connections renumbered in order of first
    appearance over the whole input, records merged, captures in trace order."""
    delivered = np.zeros(len(r0.dp.elements), np.int64)
    ids, lines, records = [], [], []
    caps: dict[str, tuple[list, list]] = {c: ([], []) for c in r0.capture_points}
    for res in results:
        s: Summary = res["summary"]
        for k in ("packets", "flows", "accepted", "rejected", "unplaced",
                  "nat_port_allocation_failures"):
            setattr(summary, k, getattr(summary, k) + getattr(s, k))
        for k in ("skipped", "drops", "drop_flows", "reasons"):
            mine = getattr(summary, k)
            for key, n in getattr(s, k).items():
                mine[key] = mine.get(key, 0) + n
        summary.complete &= s.complete
        if s.compared:
            summary.compared = s.compared
        delivered += res["delivered"]
        records += res["records"]
        ids.append(res["flow_ids"])
        lines += res["lines"]
        for name, (rows, hdrs) in res["captures"].items():
            caps[name][0].extend(rows)
            caps[name][1].extend(hdrs)
    for at in np.flatnonzero(delivered):
        e = r0.dp.elements[at]
        summary.delivered_to[f"{e.kind}:{e.resource}"] = int(delivered[at])
    order = np.argsort(np.concatenate(ids), kind="stable") if ids else []
    clock["merge"] = time.perf_counter()
    if out is None:
        return summary
    outputs = ExitStack()
    tmp = outputs.enter_context(atomic_folder(out, force=force, strict=strict))
    try:
        _write(r0, tmp, summary, [lines[i] for i in order], records, caps)
    except BaseException:
        outputs.__exit__(*sys.exc_info())
        raise
    outputs.close()
    return summary


def _write(r0: Replayer, folder: Path, summary: Summary, verdicts: list[str],
           records: list[np.ndarray], caps: dict) -> None:
    """The files netemu.apps.replay writes, byte for byte."""
    for name, (rows, hdrs) in caps.items():
        path = folder / "capture-{}.pcap".format(
            name.replace(":", "_").replace("/", "_").replace("@", "_"))
        with PcapStream(path) as pcap:
            if rows:
                packets = np.concatenate(hdrs)
                pcap.write(packets[np.argsort(np.concatenate(rows), kind="stable")])
    with open(folder / "verdicts.jsonl", "w") as f:
        f.writelines(v + "\n" for v in verdicts)
    logs = folder / "flowlogs"
    logs.mkdir()
    merged = merge_records(records) if records else None
    if merged is not None and len(merged):
        for point in np.unique(merged["interface_id"]):
            mine = merged[merged["interface_id"] == point]
            with open(logs / f"{r0.dp.points[int(point)]}.log", "w") as f:
                f.write(HEADER + "\n")
                for line in format_records(mine, r0.dp.points):
                    f.write(line + "\n")
    (folder / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n")

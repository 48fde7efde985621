"""`netemu scale` on the command line: bad load profiles refused in one line (exit 2, no
partial output), the summary table, the progress bar, and what --out DIR holds."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from netemu.cli import app

runner = CliRunner()

TOPO = """
vpc: app
cidr: 10.0.0.0/16
internet_gateway: igw
subnets:
  public-a: {cidr: 10.0.0.0/24, az: us-east-1a, route_table: public}
  app-a: {cidr: 10.0.1.0/24, az: us-east-1a, route_table: private}
  app-b: {cidr: 10.0.2.0/24, az: us-east-1b, route_table: private}
route_tables:
  public: {0.0.0.0/0: igw}
  private: {0.0.0.0/0: nat-a}
nat_gateways:
  nat-a: {subnet: public-a, elastic_ip: 54.0.0.10}
security_groups:
  fn: {egress: ["all to 0.0.0.0/0"]}
functions:
  orders: {subnets: [app-a, app-b], security_groups: [fn], memory: 1536}
internet:
  api.example.com: 203.0.113.10
"""


@pytest.fixture()
def topo(tmp_path):
    path = tmp_path / "topo.yaml"
    path.write_text(TOPO)
    return path


def scale(*args):
    r = runner.invoke(app, ["scale", *map(str, args)])
    return r.exit_code, r.stdout, r.stderr


def refused(topo, tmp_path, *args):
    out = tmp_path / "out"
    code, stdout, stderr = scale(topo, "--function", "orders", "--out", out, *args)
    assert code == 2, stderr
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netemu: error: "), stderr
    assert "Traceback" not in stderr
    assert not out.exists() or not any(out.iterdir())      # nothing half-written
    return lines[0]


def test_item_bad_profile_negative_rate(topo, tmp_path):
    line = refused(topo, tmp_path, "--load", "constant:-5")
    assert "negative rate -5" in line
    line = refused(topo, tmp_path, "--load", "steps:0=10,30=-1")
    assert "negative rate -1" in line


def test_item_bad_profile_nan_rate_and_duration(topo, tmp_path):
    assert "not a finite number" in refused(topo, tmp_path, "--load", "constant:nan")
    assert "positive and finite" in refused(topo, tmp_path, "--load", "constant:1",
                                            "--invocation-duration", "exp:nan")


def test_item_bad_profile_unsorted_csv(topo, tmp_path):
    path = tmp_path / "load.csv"
    path.write_text("time,duration\n0.5,1\n2.0,1\n1.0,1\n")
    line = refused(topo, tmp_path, "--load", path)
    assert f"{path}:4:" in line and "sorted by time" in line


def test_item_bad_profile_unknown_function_in_csv(topo, tmp_path):
    path = tmp_path / "load.csv"
    path.write_text("time,duration,function\n0.5,1,orders\n0.7,1,payments\n")
    line = refused(topo, tmp_path, "--load", path)
    assert f"{path}:3:" in line and "unknown function 'payments'" in line


def test_item_bad_profile_nan_in_csv_and_bad_header(topo, tmp_path):
    path = tmp_path / "load.csv"
    path.write_text("time,duration\n0.5,nan\n")
    line = refused(topo, tmp_path, "--load", path)
    assert f"{path}:2:" in line and "duration 'nan' is not a finite number" in line
    path.write_text("start,length\n0.5,1\n")
    assert f"{path}:1:" in refused(topo, tmp_path, "--load", path)


def test_item_bad_profile_unknown_function_and_fault(topo, tmp_path):
    assert "unknown function 'payments'" in refused(
        topo, tmp_path, "--load", "payments=constant:5")
    assert "no subnet in Availability Zone 'us-east-1z'" in refused(
        topo, tmp_path, "--load", "constant:5", "--fault", "az:us-east-1z@10")
    assert "--set 'eni_quota=-1'" in refused(topo, tmp_path, "--load", "constant:5",
                                              "--set", "eni_quota=-1")


def test_item_summary_table_and_out_dir(topo, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = scale(topo, "--function", "orders", "--load", "constant:20",
                                 "--duration", "30", "--target", "api.example.com",
                                 "--even", "--out", out)
    assert code == 0, stderr
    # 20 invocations/s for 30 s, all run
    assert "netemu scale: hyperplane ENIs, 30 s simulated" in stdout
    assert "│ orders   │         600 │ 600 │" in stdout
    assert {p.name for p in out.iterdir()} >= {"timeline.csv", "timeline.json",
                                               "events.jsonl", "summary.json",
                                               "concurrency.png", "addresses.png"}
    rows = list(csv.DictReader(open(out / "timeline.csv")))
    assert len(rows) == 30 and rows[0]["t"] == "0" and rows[29]["t"] == "29"
    assert sum(int(r["invocations:orders"]) for r in rows) == 600
    assert rows[5]["enis:app-a:available"] == "1"
    assert rows[5]["free_ips:app-a"] == "250"          # /24 - 5 - 1 ENI
    assert int(rows[5]["nat_ports:nat-a>api.example.com:443"]) == \
        int(rows[5]["environments:orders"])             # one connection per environment
    doc = json.loads((out / "timeline.json").read_text())
    assert doc["series"]["invocations:orders"] == [float(r["invocations:orders"])
                                                   for r in rows]
    events = [json.loads(line) for line in open(out / "events.jsonl")]
    assert all({"t", "function", "subnet", "error", "reason"} <= e.keys() for e in events)


def test_item_events_jsonl_every_throttle(topo, tmp_path):
    # 1,500 invocations in one second against the 1,000 account limit, 60 s each:
    # 500 TooManyRequestsException lines
    path = tmp_path / "load.csv"
    path.write_text("time,duration\n" + "".join(f"{i / 1500:.6f},60\n" for i in range(1500)))
    out = tmp_path / "run"
    code, _, stderr = scale(topo, "--function", "orders", "--load", path, "--out", out,
                            "--set", "scale_step=5000", "--no-plots", "-q")
    assert code == 0, stderr
    events = [json.loads(line) for line in open(out / "events.jsonl")]
    throttles = [e for e in events if e["error"] == "TooManyRequestsException"]
    assert len(throttles) == 500
    assert throttles[0]["reason"] == "ConcurrentInvocationLimitExceeded"
    assert throttles[0]["function"] == "orders"
    assert throttles[0]["t"] == pytest.approx(1000 / 1500, abs=1e-6)


def test_item_eni_model_both_side_by_side(topo, tmp_path):
    out = tmp_path / "both"
    code, stdout, stderr = scale(topo, "--function", "orders", "--load", "constant:5",
                                 "--duration", "20", "--eni-model", "both", "--out", out)
    assert code == 0, stderr
    assert "hyperplane ENIs" in stdout and "legacy ENIs" in stdout
    assert (out / "comparison.png").is_file()
    for m in ("hyperplane", "legacy"):
        assert (out / m / "timeline.csv").is_file()
    legacy = list(csv.DictReader(open(out / "legacy" / "timeline.csv")))
    assert "enis:app-a:in-use" in legacy[0]


def test_item_progress_bar_while_running():
    from netemu.apps.scale.command import _Progress

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    with _Progress(False, console) as advance:
        advance(50, 200)
        advance(200, 200)
    text = buf.getvalue()
    assert "simulating" in text and "200/200 ticks" in text


def test_item_bad_settings_and_too_long_runs(topo, tmp_path):
    assert "scale_period=0.0: must be a positive number" in refused(
        topo, tmp_path, "--load", "constant:5", "--set", "scale_period=0")
    assert "netemu simulates at most 2,000,000" in refused(
        topo, tmp_path, "--load", "constant:0", "--duration", "1e8")
    assert "--duration nan" in refused(topo, tmp_path, "--load", "constant:1",
                                       "--duration", "nan")


def test_item_csv_with_byte_order_mark_is_read(topo, tmp_path):
    path = tmp_path / "export.csv"          # spreadsheet exports start with a BOM
    path.write_bytes("\ufefftime,duration\r\n0.5,1\r\n1.5,1\r\n".encode())
    code, stdout, stderr = scale(topo, "--function", "orders", "--load", path, "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["functions"]["orders"]["ok"] == 2


def test_item_emit_trace_replays_through_the_dataplane(topo, tmp_path):
    # 40 environments (20 invocations/s of 1.5 s, +0.25 s cold start), 2 connections
    # each to the API through nat-a: the trace holds one flow per connection opened and
    # the dataplane delivers them all.
    trace = tmp_path / "conns.jsonl"
    code, stdout, stderr = scale(topo, "--function", "orders", "--load", "constant:20",
                                 "--invocation-duration", "1.5", "--duration", "10",
                                 "--even", "--target", "api.example.com:443",
                                 "--connections", "2", "--emit-trace", trace, "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    envs = doc["functions"]["orders"]["peak_environments"]
    lines = [json.loads(x) for x in trace.read_text().splitlines()]
    assert len(lines) == doc["replay"]["connections"] == 2 * envs
    assert doc["replay"]["failed"] == {}
    assert {x["dst"] for x in lines} == {"203.0.113.10"}
    assert len({(x["src"], x["sport"]) for x in lines}) == len(lines)


def test_item_L1_function_without_vpc_cannot_reach_a_private_target(tmp_path):
    # a function without VPC configuration runs (no ENI, no address) but each of its
    # environments' connections to a private database is refused
    from netemu.apps.scale import Settings, resolve_target, run
    from netemu.io.yaml_loader import load_yaml

    path = tmp_path / "t.yaml"
    path.write_text(TOPO.replace("functions:\n", "functions:\n  public-fn: {}\n") +
                    "hosts:\n  db1: {subnet: app-a, ip: 10.0.1.50}\n")
    topo = load_yaml(path)
    tgt = resolve_target(topo, "db1:5432", ["public-fn"])
    (r,) = run(topo, ["public-fn"], ["constant:2"], duration=5, even=True,
               settings=Settings(targets=(tgt,)))
    assert r.summary["functions"]["public-fn"]["ok"] == 10
    assert not any(k.startswith(("enis:", "free_ips:")) for k in r.timeline)
    assert (r.timeline["connection_errors:LAMBDA_NOT_IN_VPC"] ==
            r.timeline["environments:public-fn"]).all()

"""Issue 10 (`netemu scale`): every claim about scaling as a scenario with its numbers
derived by hand beside it (AWS-SEMANTICS ids L2, L3, L7-L11, G3)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from netemu.apps.scale import Database, FunctionSettings, Settings, parse_fault, run
from netemu.apps.scale import resolve_target as target_of
from netemu.apps.scale.rds import max_connections, proxy_limit
from netemu.io.yaml_loader import load_yaml

ONE_SUBNET = """
vpc: app
cidr: 10.0.0.0/16
internet_gateway: igw
subnets:
  public-a: {cidr: 10.0.0.0/24, az: us-east-1a, route_table: public}
  app-a: {cidr: 10.0.1.0/24, az: us-east-1a, route_table: private}
  app-b: {cidr: 10.0.2.0/24, az: us-east-1b, route_table: private}
  data-a: {cidr: 10.0.20.0/24, az: us-east-1a}
route_tables:
  public: {0.0.0.0/0: igw}
  private: {0.0.0.0/0: nat-a}
nat_gateways:
  nat-a: {subnet: public-a, elastic_ip: 54.0.0.10}
security_groups:
  fn: {egress: ["all to 0.0.0.0/0"]}
  fn2: {egress: ["all to 0.0.0.0/0"]}
  fn3: {egress: ["all to 0.0.0.0/0"]}
  db: {ingress: ["tcp 5432 from sg:fn"]}
functions:
  orders: {subnets: [app-a], security_groups: [fn], memory: 1536}
  big: {subnets: [app-a], security_groups: [fn], memory: 3008}
  wide: {subnets: [app-a, app-b], security_groups: [fn], memory: 3008}
  other: {subnets: [app-a], security_groups: [fn2]}
  third: {subnets: [app-a], security_groups: [fn3]}
hosts:
  orders-db: {subnet: data-a, ip: 10.0.20.25, kind: rds, security_groups: [db]}
internet:
  api.example.com: 203.0.113.10
"""


@pytest.fixture()
def topo(tmp_path):
    path = tmp_path / "topo.yaml"
    path.write_text(ONE_SUBNET)
    return load_yaml(path)


def _csv(tmp_path, rows, name="load.csv", header="time,duration,function"):
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return str(path)


def _with(s: Settings, **kw) -> Settings:
    return dataclasses.replace(s, **kw)


# ---- L2: one ENI per (subnet, SG set), shared by every version -----------------------------
SOLO = """
vpc: solo
cidr: 10.1.0.0/16
subnets:
  app: {cidr: 10.1.1.0/24, az: us-east-1a}
security_groups:
  fn: {egress: ["all to 0.0.0.0/0"]}
functions:
  orders: {subnets: [app], security_groups: [fn]}
"""


def test_item_L2_one_eni_one_address_for_1000_invocations_across_9_versions(tmp_path):
    # 1,000 invocations in the first second, 60 s each, spread over versions 1..9 of one
    # function in one subnet with one SG set: concurrency 1,000 (the account limit, so
    # none throttled; and 1,000 new environments is exactly one 10-second scaling step).
    (tmp_path / "solo.yaml").write_text(SOLO)
    topo = load_yaml(tmp_path / "solo.yaml")
    rows = [(i / 1000, 60, f"orders:{1 + i % 9}") for i in range(1000)]
    (r,) = run(topo, ["orders"], [_csv(tmp_path, rows)], duration=90)
    st = r.summary["functions"]["orders"]
    assert st["ok"] == 1000 and st["errors"] == {}
    assert st["peak_concurrency"] == 1000
    assert st["cold_starts"] == 1000
    # one Hyperplane ENI for app/fn, whatever the versions, every second of the run
    assert set(r.timeline["enis:app:available"]) == {1}
    # /24: 256 - 5 reserved - 1 ENI = 250 free, from first second to last
    assert set(r.timeline["free_ips:app"]) == {250}


def test_item_L2_functions_with_another_sg_set_get_their_own_eni(topo, tmp_path):
    # orders (fn) and other (fn2) in app-a: two (subnet, SG set) pairs, two ENIs
    rows = [(0.1 * i, 1, "orders" if i % 2 else "other") for i in range(20)]
    (r,) = run(topo, ["orders", "other"], [_csv(tmp_path, rows)], duration=5)
    # big and wide share orders' (app-a, fn): third has fn3 -> 3 ENIs in app-a in all
    assert set(r.timeline["enis:app-a:available"]) == {3}
    assert set(r.timeline["free_ips:app-a"]) == {256 - 5 - 3}


# ---- L10: concurrency and its limits ------------------------------------------------------
def test_item_L10_scaling_rate_1000_environments_per_10_seconds(topo, tmp_path):
    # 1,500 invocations at t<1.5 s lasting 100 s, account limit raised to 3,000:
    # the first 1,000 get environments, the next 500 are throttled (the function may add
    # no more environments until t=10 s). 500 more at t=10.x get new environments.
    rows = [(i / 1000, 100, "orders") for i in range(1500)] + \
        [(10 + i / 1000, 100, "orders") for i in range(500)]
    s = _with(Settings(), account_concurrency=3000)
    (r,) = run(topo, ["orders"], [_csv(tmp_path, rows)], duration=30, settings=s)
    st = r.summary["functions"]["orders"]
    assert st["errors"] == {"TooManyRequestsException": 500}
    assert st["ok"] == 1500 and st["peak_concurrency"] == 1500
    reasons = {n[1] for n in r.events["names"]}
    assert "ScalingRateExceeded" in reasons


def test_item_L10_account_limit_and_reserved_concurrency_throttle(topo, tmp_path):
    # 1,200 concurrent invocations against the 1,000 account limit: 200 throttled.
    rows = [(i / 2000, 60, "orders") for i in range(1200)]
    s = _with(Settings(), scale_step=5000)
    (r,) = run(topo, ["orders"], [_csv(tmp_path, rows)], duration=10, settings=s)
    assert r.summary["functions"]["orders"]["errors"] == {"TooManyRequestsException": 200}
    # reserved concurrency 300: 900 throttled with ReservedFunctionConcurrent...
    s2 = _with(s, functions={"orders": FunctionSettings(reserved=300)})
    (r2,) = run(topo, ["orders"], [_csv(tmp_path, rows)], duration=10, settings=s2)
    assert r2.summary["functions"]["orders"]["errors"] == {"TooManyRequestsException": 900}
    assert ("TooManyRequestsException", "ReservedFunctionConcurrentInvocationLimitExceeded") \
        in r2.events["names"]


def test_item_L10_provisioned_environments_start_warm(topo, tmp_path):
    # 50 provisioned environments: 80 concurrent invocations -> 30 cold starts only
    rows = [(i / 100, 30, "orders") for i in range(80)]
    s = _with(Settings(), functions={"orders": FunctionSettings(provisioned=50)})
    (r,) = run(topo, ["orders"], [_csv(tmp_path, rows)], duration=40, settings=s)
    assert r.summary["functions"]["orders"]["cold_starts"] == 30


def test_item_L10_idle_environments_reclaimed_after_setting(topo, tmp_path):
    # 10 invocations at t=0.0x, 20.0x and 55.0x, 1 s each; idle_reclaim 30 s. An
    # environment is kept while a tick it was busy in is among the last 30: the batch at
    # 20.0x runs into tick 21, so the 10 environments are kept after ticks 21..50 and are
    # gone after tick 51. At t=20 they are reused (no cold start), at t=55 made anew.
    rows = [(t + i / 100, 1, "orders") for t in (0, 20, 55) for i in range(10)]
    s = _with(Settings(), idle_reclaim=30)
    (r,) = run(topo, ["orders"], [_csv(tmp_path, rows)], duration=60, settings=s)
    cold = r.timeline["cold_starts:orders"]
    assert cold[0] == 10 and cold[20] == 0 and cold[55] == 10
    env = r.timeline["environments:orders"]
    assert env[50] == 10 and env[51] == 0 and env[55] == 10


# ---- L10: database connections and RDS Proxy ------------------------------------------------
def _db_run(topo, tmp_path, db: Database, durations=60, seconds=90):
    rows = [(i / 1000, durations, "orders") for i in range(1000)]
    tgt = target_of(topo, "orders-db", ["orders"], database=True)
    s = _with(Settings(), targets=(tgt,), databases=(db,))
    (r,) = run(topo, ["orders"], [_csv(tmp_path, rows)], duration=seconds, settings=s)
    return r


def test_item_L10_1000_environments_mean_1000_db_connections(topo, tmp_path):
    # db.r5.large (16 GiB), PostgreSQL: DBInstanceClassMemory ~ 0.98 x 16 GiB - 256 MiB
    # = 16,567,835,770 bytes; / 9,531,392 = 1,738.2 -> max_connections 1,738 (< 5,000).
    assert max_connections("db.r5.large", "postgres") == 1738
    r = _db_run(topo, tmp_path, Database("orders-db", "db.r5.large", "postgres"))
    # each of the 1,000 environments opens its own connection: 1,000 DB connections
    assert r.timeline["db_connections:orders-db"].max() == 1000
    assert r.timeline["db_max_connections:orders-db"][0] == 1738
    assert "connection_errors:TooManyConnections" not in r.timeline


def test_item_L10_1000_connections_overrun_a_small_instance(topo, tmp_path):
    # db.t3.medium (4 GiB) PostgreSQL: (0.98 x 4 GiB - 256 MiB) / 9,531,392 = 413.4 -> 413;
    # 1,000 environments want 1,000: 587 refused ("sorry, too many clients already")
    assert max_connections("db.t3.medium", "postgres") == 413
    r = _db_run(topo, tmp_path, Database("orders-db", "db.t3.medium", "postgres"))
    assert r.timeline["db_connections:orders-db"][0] == 413
    assert r.timeline["connection_errors:TooManyConnections"][0] == 587
    # MySQL on the same class: 3,940,632,494 / 12,582,880 = 313.2 -> 313
    assert max_connections("db.t3.medium", "mysql") == 313


def test_item_L10_rds_proxy_pools_1000_client_connections(topo, tmp_path):
    # RDS Proxy, MaxConnectionsPercent 100: at most 413 DB connections. Each invocation
    # holds its borrowed connection 10 % of its time: ceil(1,000 x 0.1) = 100 DB
    # connections for 1,000 client connections, nobody waits.
    assert proxy_limit(413, 100) == 413
    db = Database("orders-db", "db.t3.medium", "postgres", proxy=True, busy_fraction=0.1)
    r = _db_run(topo, tmp_path, db)
    assert r.timeline["proxy_client_connections:orders-db"][0] == 1000
    assert r.timeline["db_connections:orders-db"][0] == 100
    assert r.timeline["proxy_waiting:orders-db"].max() == 0


def test_item_L10_rds_proxy_borrow_timeout(topo, tmp_path):
    # Connections busy for the whole 200 s invocation: 413 borrowed, 587 wait; after the
    # 120 s ConnectionBorrowTimeout (from t=0), at the tick ending at t=121, they fail.
    db = Database("orders-db", "db.t3.medium", "postgres", proxy=True)
    r = _db_run(topo, tmp_path, db, durations=200, seconds=130)
    assert r.timeline["db_connections:orders-db"][0] == 413
    assert r.timeline["proxy_waiting:orders-db"][0] == 587
    fails = r.timeline["connection_errors:ProxyBorrowTimeout"]
    assert fails[:120].sum() == 0 and fails[120] == 587


# ---- L11: the legacy model -------------------------------------------------------------------
def test_item_L11_legacy_runs_a_24_out_of_addresses(topo, tmp_path):
    # memory 1,536 MB: an ENI per 3 GB / 1.5 GB = 2 environments. A /24 has 256 - 5 = 251
    # addresses -> 251 ENIs -> 502 environments. 10 invocations/s for 60 s lasting 900 s
    # are all concurrent: 600 want environments, 502 get one, the other 98 fail with
    # SubnetIPAddressLimitReachedException. (5 ENIs/s = the EC2 refill rate: no throttle.)
    # The EC2 API bucket is raised so that only addresses bind (see the next tests).
    s = _with(Settings(), ec2_bucket=10_000)
    (hp, legacy) = run(topo, ["orders"], ["steps:0=10,60=0"], durations="900", duration=120,
                       even=True, model="both", settings=s)
    st = legacy.summary["functions"]["orders"]
    assert st["ok"] == 502
    assert st["errors"] == {"SubnetIPAddressLimitReachedException": 98}
    assert legacy.timeline["enis:app-a:in-use"].max() == 251
    ev = legacy.events
    failed = [i for i, c in enumerate(ev["code"])
              if ev["names"][c][0] == "SubnetIPAddressLimitReachedException"]
    assert len(failed) == 98
    assert {ev["subnets"][ev["subnet"][i]] for i in failed} == {"app-a"}
    # the 503rd environment is asked for by the 503rd invocation, at (502 + 0.5) / 10 s
    assert ev["t"][failed[0]] == pytest.approx(50.25)
    assert legacy.timeline["free_ips:app-a"].min() == 0
    # the same load with Hyperplane ENIs: all 600 run on one ENI
    assert hp.summary["functions"]["orders"]["ok"] == 600
    assert set(hp.timeline["enis:app-a:available"]) == {3}     # app-a/fn, fn2, fn3
    # the ENI is made on the cold-start path: 10 s more for every other cold start
    assert legacy.summary["functions"]["orders"]["cold_start_seconds"] == pytest.approx(
        502 * 0.25 + 251 * 10.0)


def test_item_L8_eni_quota_throttles_vpc_function_invocations(topo, tmp_path):
    # legacy, memory 3,008 MB: one environment per ENI; two /24 subnets hold 502 but the
    # ENI quota (350, the regional figure a seed quotes) stops at 350 environments:
    # 5 invocations/s for 120 s lasting 900 s -> 600 want one, 250 get
    # ENILimitReachedException (each a failed CreateNetworkInterface call: 5/s, what the
    # EC2 API bucket refills, so none is throttled).
    (r,) = run(topo, ["wide"], ["steps:0=5,120=0"], durations="900", duration=130,
               even=True, model="legacy")
    st = r.summary["functions"]["wide"]
    assert st["ok"] == 350
    assert st["errors"] == {"ENILimitReachedException": 250}
    assert r.timeline["enis:app-a:in-use"].max() + r.timeline["enis:app-b:in-use"].max() \
        == 350


def test_item_L8_ec2_api_rate_throttles_eni_creation(topo, tmp_path):
    # legacy, 100 invocations in the first second: 100 ENIs wanted at once; the EC2 API
    # bucket holds 50 tokens: 50 created, 50 EC2ThrottledException.
    rows = [(i / 200, 30, "big") for i in range(100)]
    (r,) = run(topo, ["big"], [_csv(tmp_path, rows)], duration=40, model="legacy")
    assert r.summary["functions"]["big"]["errors"] == {"EC2ThrottledException": 50}


def test_item_L8_hyperplane_eni_quota_fails_a_new_function(topo, tmp_path):
    # quota 3: app-a already holds 3 ENIs (fn, fn2, fn3 sets); a function created now
    # with another SG set... third's set exists, so make `third` new after lowering the
    # quota to 2 with its ENI absent: its creation fails with ENILimitReachedException.
    s = _with(Settings(), eni_quota=2,
              functions={"third": FunctionSettings(new=True)})
    (r,) = run(topo, ["third", "orders"], ["constant:2"], duration=10, settings=s,
               even=True)
    assert r.summary["functions"]["third"]["errors"] == {"ENILimitReachedException": 20}
    assert r.summary["functions"]["orders"]["ok"] == 20


def test_item_L2_new_function_is_pending_until_its_eni_is_available(topo, tmp_path):
    # third (fn3) created at t=0: its ENI takes eni_pending = 60 s; 1 invocation/s:
    # the 60 arriving in [0, 60) fail with ResourceConflictException, the rest run.
    s = _with(Settings(), functions={"third": FunctionSettings(new=True)})
    (r,) = run(topo, ["third"], ["constant:1"], duration=100, settings=s, even=True)
    st = r.summary["functions"]["third"]
    assert st["errors"] == {"ResourceConflictException": 60}
    assert st["ok"] == 40


def test_item_L9_inactive_function_fails_until_enis_are_back(topo, tmp_path):
    # third is Inactive (its ENI reclaimed: nobody else has fn3): the first invocation
    # (t=0.5) fails with ResourceNotReadyException and starts re-creating the ENI, Pending
    # 60 s; invocations at 0.5..59.5 fail the same way (60), from t=60 on they run (40).
    s = _with(Settings(), functions={"third": FunctionSettings(inactive=True)})
    (r,) = run(topo, ["third"], ["constant:1"], duration=100, settings=s, even=True)
    st = r.summary["functions"]["third"]
    assert st["errors"] == {"ResourceNotReadyException": 60}
    assert st["ok"] == 40
    assert r.timeline["enis:app-a:available"][0] == 2       # fn and fn2 only
    assert r.timeline["enis:app-a:available"][60] == 3


# ---- L3 and G3: connections per ENI and per NAT destination, the dataplane agreeing ---------
def test_item_L3_G3_hyperplane_and_nat_limits_decided_by_the_dataplane(topo, tmp_path):
    # 1,000 environments in app-a, 70 connections each to api.example.com:443 through
    # nat-a: 70,000 connections on one Hyperplane ENI (65,000 max, L3): 5,000 fail there;
    # 65,000 reach nat-a, which has 55,000 ports per destination (G3): 10,000 more fail.
    rows = [(i / 1000, 60, "orders") for i in range(1000)]
    tgt = target_of(topo, "api.example.com", ["orders"], connections=70)
    s = _with(Settings(), targets=(tgt,))
    trace = tmp_path / "conns.jsonl"
    (r,) = run(topo, ["orders"], [_csv(tmp_path, rows)], duration=20, settings=s,
               emit_trace=trace)
    assert r.timeline["connection_errors:LAMBDA_ENI_CONNECTION_LIMIT"][0] == 5000
    assert r.timeline["nat_ports:nat-a>api.example.com:443"][0] == 55_000
    assert r.timeline["connection_errors:NGW_PORT_ALLOCATION"][0] == 10_000
    # The replay of the 70,000 connections through the dataplane fails as many (15,000)
    # but its Hyperplane NAT has one address's ports 1024-65535 = 64,512 to give, fewer
    # than L3's 65,000: 70,000 - 64,512 = 5,488 fail there, 64,512 - 55,000 = 9,512 at
    # nat-a.
    assert r.replay["connections"] == 70_000
    assert r.replay["failed"] == {"NGW_PORT_ALLOCATION": 9_512,
                                  "LAMBDA_ENI_CONNECTION_LIMIT": 5_488}
    first = json.loads(trace.read_text().splitlines()[0])
    assert first["dst"] == "203.0.113.10" and first["dport"] == 443
    # L3: Lambda adds ceil(70,000 / 65,000) - 1 = 1 ENI, Pending 60 s, then 2 carry them
    assert r.timeline["enis:app-a:pending"][0] == 1


# ---- L7: Availability Zone outage ------------------------------------------------------------
def test_item_L7_one_az_function_fails_while_two_az_function_degrades(topo, tmp_path):
    # orders (app-a only) and wide (app-a, app-b), 10 invocations/s each for 120 s, 2 s
    # each; us-east-1a lost at t=60. In flight at t=60: the 20 that arrived in
    # (58, 60) (earlier ones ended by 60 even with a 0.25 s cold start).
    # orders: those 20 lost + every one of the 600 arriving from t=60: 620
    #         ServiceException, 580 ok.
    # wide: invocations alternate app-a/app-b: 10 of its 20 in flight are lost; from t=60
    #       everything runs in app-b: 1,190 ok.
    faults = [parse_fault("az:us-east-1a@60", topo)]
    (r,) = run(topo, ["orders", "wide"], ["constant:10"], durations="2", duration=120,
               even=True, faults=faults)
    o, w = r.summary["functions"]["orders"], r.summary["functions"]["wide"]
    assert o["errors"] == {"ServiceException": 620} and o["ok"] == 1200 - 620
    assert w["errors"] == {"ServiceException": 10} and w["ok"] == 1200 - 10
    assert r.timeline["environments_az:us-east-1a"][60:].max() == 0
    assert r.timeline["environments_az:us-east-1b"][60:].min() > 0
    # wide makes new environments in app-b: cold starts right after the outage
    assert r.timeline["cold_starts:wide"][60] > 0


def test_item_G5_nat_gateway_lost_blackholes_connections(topo, tmp_path):
    # nat-a lost at t=5: each of orders' environments loses its connection to the API
    tgt = target_of(topo, "api.example.com", ["orders"])
    s = _with(Settings(), targets=(tgt,))
    (r,) = run(topo, ["orders"], ["constant:20"], durations="1", duration=10, even=True,
               settings=s, faults=[parse_fault("nat:nat-a@5", topo)])
    errs = r.timeline["connection_errors:BAD_STATE_ROUTE"]
    assert errs[:5].sum() == 0
    assert (errs[5:] == r.timeline["environments:orders"][5:]).all()


def test_item_fault_subnet_filled_by_other_workloads(topo, tmp_path):
    # app-a filled at t=10: its free addresses drop to 0, and legacy cold starts there
    # fail with SubnetIPAddressLimitReachedException from then on
    (r,) = run(topo, ["big"], ["constant:1"], durations="100", duration=20, even=True,
               model="legacy", faults=[parse_fault("fill:app-a@10", topo)])
    assert r.timeline["free_ips:app-a"][10:].max() == 0
    assert r.summary["functions"]["big"]["errors"] == {
        "SubnetIPAddressLimitReachedException": 10}
    assert r.summary["functions"]["big"]["ok"] == 10


def test_item_events_name_time_function_subnet_reason(topo, tmp_path):
    (r,) = run(topo, ["orders"], ["constant:10"], durations="2", duration=70, even=True,
               faults=[parse_fault("az:us-east-1a@60", topo)])
    ev = r.events
    names = [ev["names"][c] for c in ev["code"]]
    lost = [i for i, (e, why) in enumerate(names) if e == "ServiceException" and
            "lost with its environment" in why]
    assert lost and ev["subnets"][ev["subnet"][lost[0]]] == "app-a"
    assert ev["t"][lost[0]] == 60.0
    assert np.all(np.diff(ev["t"]) >= 0)


def test_item_L10_connections_per_invocation_follow_concurrency(topo, tmp_path):
    # opened per invocation instead of per environment: the database sees the
    # concurrency of each second, not the environments kept idle afterwards
    tgt = dataclasses.replace(target_of(topo, "orders-db", ["orders"], database=True),
                              per_invocation=True)
    s = _with(Settings(), targets=(tgt,),
              databases=(Database("orders-db", "db.r5.large", "postgres"),))
    (r,) = run(topo, ["orders"], ["steps:0=100,10=0"], durations="2", duration=20,
               even=True, settings=s)
    db = r.timeline["db_connections:orders-db"]
    assert (db == r.timeline["concurrency:orders"]).all()
    assert db[15] == 0 and r.timeline["environments:orders"][15] > 0

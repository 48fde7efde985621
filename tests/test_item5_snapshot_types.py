"""Snapshot files as people edit them by hand (issue 7, items 5 and 6): every field the
loader reads has the type AWS prints, or the file is refused in one line naming the
file, the line, the resource and the field; a substituted value anywhere never makes the
loader fail any other way."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

from netemu.errors import InputError
from netemu.io.load import load

PARTIAL = Path(__file__).resolve().parent / "data" / "snapshots" / "partial"
RT_APP = "rtb-0a1b2c3d4e5f60062"
ACL = "acl-0a1b2c3d4e5f60081"
SG_WEB = "sg-0a1b2c3d4e5f60073"
WEB_ENI = "eni-0a1b2c3d4e5f60092"


def edited(tmp_path: Path, file: str, path: tuple, value) -> Path:
    snap = tmp_path / "snap"
    shutil.copytree(PARTIAL, snap)
    doc = json.loads((snap / file).read_text())
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (snap / file).write_text(json.dumps(doc, indent=4))
    return snap


@pytest.mark.parametrize("file, path, value, resource, problem", [
    ("describe-route-tables.json", ("RouteTables", 1, "Routes"), "0.0.0.0/0 -> nat",
     RT_APP, "Routes must be a list, not a string"),
    ("describe-route-tables.json", ("RouteTables", 1, "Routes", 1, "NatGatewayId"),
     ["nat-1"], RT_APP, "Routes[1].NatGatewayId must be a string, not a list"),
    ("describe-network-acls.json", ("NetworkAcls", 0, "Entries", 0, "RuleNumber"), "100",
     ACL, "Entries[0].RuleNumber must be an integer, not a string"),
    ("describe-network-acls.json", ("NetworkAcls", 0, "Entries", 0, "Egress"), "false",
     ACL, "Entries[0].Egress must be true or false, not a string"),
    ("describe-security-groups.json", ("SecurityGroups", 2, "IpPermissions", 0, "FromPort"),
     None, SG_WEB, "IpPermissions[0].FromPort must be an integer, not null"),
    ("describe-network-interfaces.json", ("NetworkInterfaces", 1, "Groups", 0), None,
     WEB_ENI, "Groups[0] is null"),
    ("describe-network-interfaces.json", ("NetworkInterfaces", 1, "SourceDestCheck"), "no",
     WEB_ENI, "SourceDestCheck must be true or false, not a string"),
])
def test_item6_snapshot_field_of_the_wrong_type_is_one_clear_error(
        tmp_path, file, path, value, resource, problem):
    with pytest.raises(InputError) as err:
        load(edited(tmp_path, file, path, value))
    e = err.value
    assert e.file.endswith(file) and e.resource == resource and e.problem == problem
    assert e.line is not None


def test_item6_snapshot_nan_and_deep_nesting_are_refused(tmp_path):
    nan = tmp_path / "nan.json"
    nan.write_text('{"Functions": [{"FunctionName": "f", "MemorySize": NaN}]}')
    with pytest.raises(InputError, match="NaN is not JSON"):
        load(nan)
    deep = tmp_path / "deep.json"
    deep.write_text('{"Vpcs": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InputError, match="nested too deeply"):
        load(deep)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


FILES = sorted(p.name for p in PARTIAL.glob("*.json"))
JUNK = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=8)
                    | st.sampled_from(["10.20.1.0/24", "-1", "tcp", "subnet-0a1b2c3d4e5f60011"]),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


@settings(max_examples=examples(150), deadline=None)
@given(file=st.sampled_from(FILES), pick=st.integers(0, 10**6), value=JUNK)
def test_item6_snapshot_any_substituted_value_loads_or_is_refused(file, pick, value):
    doc = json.loads((PARTIAL / file).read_text())
    paths = list(_paths(doc))[1:]
    with tempfile.TemporaryDirectory() as tmp:
        snap = edited(Path(tmp), file, paths[pick % len(paths)], value)
        try:
            load(snap)
        except InputError as exc:
            assert "\n" not in exc.message

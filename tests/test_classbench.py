from pathlib import Path

import numpy as np
import pytest

from netemu.dataplane.classify.first_match import FirstMatch, first_match_scan
from netemu.errors import InputError
from netemu.io.classbench import load_filters, load_trace

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "classbench"
COLS = ("src", "dst", "sport", "dport", "proto")


@pytest.mark.parametrize("name,rules,headers", [("acl1_1k", 878, 8780), ("fw1_1k", 761, 7610)])
def test_first_match_exact_on_every_header(name, rules, headers):
    if not (DATA / name).exists():
        pytest.skip(f"ClassBench data not found at {DATA} (shared data folder absent)")
    table = load_filters(DATA / name)
    batch, gen = load_trace(DATA / f"{name}_trace")
    assert (len(table), len(batch)) == (rules, headers)
    args = [batch[c] for c in COLS]
    got = FirstMatch(table).match(*args)
    np.testing.assert_array_equal(got, first_match_scan(table, *args))
    assert ((got >= 0) & (got <= gen)).all()


def test_filter_parsing(tmp_path):
    f = tmp_path / "rules"
    f.write_text("@10.1.2.3/24\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\t\n"
                 "@1.2.3.4/32\t5.6.7.8/32\t1 : 2\t3 : 4\t0x00/0x00\t0x0000/0x0000\t\n")
    t = load_filters(f)
    assert t.lo["src"].tolist() == [0x0A010200, 0x01020304]
    assert t.hi["src"].tolist() == [0x0A0102FF, 0x01020304]
    assert (t.lo["dst"][0], t.hi["dst"][0]) == (0, 0xFFFFFFFF)
    assert (t.lo["proto"].tolist(), t.hi["proto"].tolist()) == ([6, 0], [6, 255])
    assert (t.lo["sport"][1], t.hi["sport"][1], t.lo["dport"][1], t.hi["dport"][1]) == (1, 2, 3, 4)


@pytest.mark.parametrize("bad", [
    "@10.1.2.3/24\t0.0.0.0/0\t0 : 65535\t80 80\t0x06/0xFF\t0x0000/0x0000\n",
    "@10.1.2.3/33\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\n",
    "@10.1.2.3/24\t0.0.0.0/0\t9 : 8\t80 : 80\t0x06/0xFF\t0x0000/0x0000\n",
    "@10.1.2.3/24\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0x0F\t0x0000/0x0000\n",
])
def test_malformed_filter_names_file_and_line(tmp_path, bad):
    good = "@1.2.3.4/32\t5.6.7.8/32\t1 : 2\t3 : 4\t0x00/0x00\t0x0000/0x0000\t\n"
    f = tmp_path / "rules"
    f.write_text(good + good + bad + good)
    with pytest.raises(InputError) as e:
        load_filters(f)
    assert e.value.file == str(f) and e.value.line == 3
    assert f"{f}:3" in str(e.value)


@pytest.mark.parametrize("bad", ["1 2 3 4 5 6\n", "1 2 3 4 x 6 7\n", "1 2 3 70000 6 0 1\n"])
def test_malformed_trace_names_file_and_line(tmp_path, bad):
    f = tmp_path / "trace"
    f.write_text("1\t2\t3\t4\t6\t0\t0\n" + bad + "1\t2\t3\t4\t6\t0\t0\n")
    with pytest.raises(InputError) as e:
        load_trace(f)
    assert e.value.line == 2


def test_trace_parsing(tmp_path):
    f = tmp_path / "trace"
    f.write_text("4294967295\t2\t65535\t4\t6\t4294967295\t7\n")
    batch, gen = load_trace(f)
    assert (int(batch["src"][0]), int(batch["sport"][0]), int(gen[0])) == (2**32 - 1, 65535, 7)

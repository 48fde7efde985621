"""issue 8, golden transcripts: every shipped topology's trace (text and --json) and
every `netemu` command README.md shows run here and are diffed against tests/golden/;
the output README.md shows under each command must be the program's real output (but
for its `...` elisions), so the README cannot drift from the program.

When a change of output is intended, regenerate README outputs and golden files with
one command and review the diff:

    NETEMU_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
    make golden                    # the same
"""

from __future__ import annotations

import difflib
import os

import golden_readme as g
import pytest

REGEN = os.environ.get("NETEMU_REGEN_GOLDEN") == "1"


_RUNS: g.LazyRuns | None = None


@pytest.fixture
def runs() -> g.LazyRuns:
    """Each command runs once, in-process, when a test first asks for it (so that a test
    fails for its own command, mutation testing included); with NETEMU_REGEN_GOLDEN=1
    README.md and tests/golden/ are first rewritten from real runs."""
    global _RUNS
    if _RUNS is None:
        if REGEN:
            for what in g.regenerate():
                print("updated", what)
        _RUNS = g.LazyRuns()
    return _RUNS


def _diff(want: str, got: str, name: str) -> str:
    return "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                        f"tests/golden/{name}", "real output"))


def test_golden_every_shipped_topology_has_a_flow():
    """A topology added to topologies/ without a representative flow fails here."""
    shipped = {p.name for p in (g.ROOT / "topologies").glob("*.yaml")}
    assert shipped == set(g.TOPOLOGY_FLOWS)


def test_golden_no_stale_files(runs):
    """Every committed transcript is one the tests still produce (a removed README
    command or topology leaves no orphan behind)."""
    wanted = set(g.all_commands())
    on_disk = {str(p.relative_to(g.GOLDEN)) for p in g.GOLDEN.rglob("*") if p.is_file()}
    assert on_disk == wanted, "run `make golden` to regenerate tests/golden/"


_NAMES = sorted(g.all_commands())


@pytest.mark.parametrize("name", _NAMES, ids=[n[:60] for n in _NAMES])
def test_golden_transcript(runs, name):
    path = g.GOLDEN / name
    assert path.exists(), f"no golden file {name}: run `make golden`"
    got = g.transcript(runs[name])
    want = path.read_text()
    assert got == want, "output changed (run `make golden` if intended):\n" + \
        _diff(want, got, name)


@pytest.mark.parametrize("name", sorted(n for n in g.topology_commands() if n.endswith(".json")))
def test_golden_json_transcripts_are_json(runs, name):
    """--json prints exactly one JSON object (stderr holds nothing for these)."""
    import json
    assert isinstance(json.loads(runs[name].output), dict), name


_README = g.readme_commands(g.README.read_text())


@pytest.mark.parametrize("i", range(len(_README)),
                         ids=[g.readme_golden_name(s.command)[7:67] for s in _README])
def test_golden_readme_shows_real_output(runs, i):
    """The block under each README command is what the command prints (elisions
    aside) and, where the README shows `echo $?`, exits with that status."""
    text = g.README.read_text()            # as it is now (`runs` may have rewritten it)
    shown = g.readme_commands(text)[i]
    real = runs[g.readme_golden_name(shown.command)]
    lines = text.splitlines()
    if not g.shown_is_real(shown, real, lines):
        want = "\n".join(shown.output) + "\n"
        pytest.fail(f"README.md line {shown.start} is stale for `{shown.command}` (exit "
                    f"{real.exit}); run `make golden` to rewrite it:\n"
                    + "".join(difflib.unified_diff(want.splitlines(True),
                                                   real.output.splitlines(True),
                                                   "README.md", "real output")))


def test_golden_readme_has_commands():
    """The parser finds the README's commands (an empty list would pass everything)."""
    assert any(s.command.startswith("netemu trace ") for s in _README)
    assert any(s.command.startswith("netemu replay ") for s in _README)


# The matcher itself: an elision stands for any lines, nothing else does.
@pytest.mark.parametrize(("shown", "real", "ok"), [
    (["a", "...", "d"], "a\nb\nc\nd\n", True),
    (["a", "...", "d"], "a\nd\n", True),
    (["a", "d"], "a\nb\nd\n", False),
    (["a", "...", "d"], "a\nb\nc\n", False),
    (["a   "], "a\n", True),                 # rich's padding of a centred title
    (["{", '  "x": [', '    "..."', "  ]", "}"], '{\n  "x": [\n    1,\n    2\n  ]\n}\n', True),
    (["a.b"], "axb\n", False),              # literal lines are literal
])
def test_golden_readme_matcher(shown, real, ok):
    assert g.matches(shown, real) is ok


def test_golden_readme_rewrite_keeps_elisions():
    """A stale block is rewritten from the real output, keeping its `...` where they
    still fit, and then matches."""
    real = "head\nx1\nx2\nmiddle NEW\ny\ntail NEW\nextra\n"
    shown = ["head", "...", "middle OLD", "...", "tail OLD"]
    new = g.rewrite(shown, real)
    assert g.matches(new, real)
    assert new.count("...") == 2 and new[0] == "head"

"""Golden transcripts: run netemu commands in-process and compare their output with
committed files (tests/golden/) and with the outputs README.md shows.

    .venv/bin/python tests/golden_readme.py          # rewrite README outputs + golden files
    NETEMU_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py   # the same
    make golden                                       # the same

A README code block holds commands (`$ netemu ...`, continued with a trailing `\\`),
each followed by the output it prints. A line `...` (or a JSON item `"..."`) stands for
any number of lines the README leaves out; every other line must be the program's own.
Paths under /tmp/ in a command are run in a fresh temporary folder and shown as /tmp/
again; `2>/dev/null` drops stderr (otherwise stderr follows stdout) and `| tail -N` and
`| head -N` are applied. `$ # ...` lines are comments. Inputs that are not in the
repository (the pcap a replay reads, a topology "without X") come from SETUP below."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GOLDEN = ROOT / "tests" / "golden"
ELISION = {"...", '"..."', '"...",'}


def _nat_check_on(tmp: Path) -> None:
    """`nat-check-on.yaml`: the NAT instance topology without `source_dest_check: false`
    (so AWS's default, on)."""
    text = (ROOT / "topologies" / "lambda-nat-instance.yaml").read_text()
    kept = [ln for ln in text.splitlines() if "source_dest_check" not in ln]
    (tmp / "nat-check-on.yaml").write_text("\n".join(kept) + "\n")


def _nacl_with_ephemeral(tmp: Path) -> None:
    """`nacl-with-ephemeral.yaml`: lambda-nacl-no-ephemeral.yaml with the inbound rule for
    the ephemeral ports (what billing-flowlogs.log was recorded under)."""
    text = (ROOT / "topologies" / "lambda-nacl-no-ephemeral.yaml").read_text()
    old = '"100 allow tcp 443 from 0.0.0.0/0"]'
    assert old in text
    (tmp / "nacl-with-ephemeral.yaml").write_text(text.replace(
        old, '"100 allow tcp 443 from 0.0.0.0/0", "110 allow tcp 1024-65535 from 0.0.0.0/0"]'))


# Files README commands read that no README command writes: name -> how to make it.
SETUP: dict[str, Callable[[Path], None]] = {"nat-check-on.yaml": _nat_check_on,
                                            "nacl-with-ephemeral.yaml": _nacl_with_ephemeral}


# ---- running one command in-process -------------------------------------------------

@dataclass
class Run:
    command: str      # as shown (with /tmp/ paths)
    exit: int
    output: str       # what the README shows: stdout (+ stderr unless 2>/dev/null), piped


def _fresh_console():
    """Pin the CLI's consoles to what a pipe gets (no colour, 160 columns), whatever
    terminal pytest runs in."""
    from rich.console import Console

    import netemu.cli as cli
    cli.console = Console(highlight=False, width=160, color_system=None,
                          force_terminal=False)
    cli.err = Console(stderr=True, highlight=False, width=1000, color_system=None,
                      force_terminal=False)


def run_netemu(command: str, tmp: Path) -> Run:
    """Run one `netemu ...` command line (as README shows it) with cwd at the repository
    root and /tmp/ mapped to `tmp`."""
    from netemu.cli import app
    from netemu.cli_run import run

    shown = command
    line = command.replace("/tmp/", f"{tmp}/")
    pipe = None
    if "|" in line:
        line, pipe = (s.strip() for s in line.split("|", 1))
    keep_err = "2>/dev/null" not in line
    line = line.replace("2>/dev/null", "")
    words = shlex.split(line)
    assert words[0] == "netemu", command
    for name, make in SETUP.items():     # inputs outside the repository live in tmp
        if name in words:
            if not (tmp / name).exists():
                make(tmp)
            words = [str(tmp / name) if w == name else w for w in words]
    _fresh_console()
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = run(app, words[1:])
    finally:
        os.chdir(cwd)
    text = out.getvalue() + (err.getvalue() if keep_err else "")
    text = normalise(text, tmp)
    if pipe:
        m = re.fullmatch(r"(tail|head) -n? ?(\d+)", pipe)
        assert m, f"unsupported pipe in README command: {pipe}"
        lines = text.splitlines()
        n = int(m.group(2))
        lines = lines[-n:] if m.group(1) == "tail" else lines[:n]
        text = "".join(ln + "\n" for ln in lines)
    return Run(shown, rc, text)


def normalise(text: str, tmp: Path) -> str:
    """What legitimately varies between runs: the temporary folder, timings."""
    text = text.replace(f"{tmp}/", "/tmp/").replace(str(tmp), "/tmp")
    text = re.sub(r"\.netemu-tmp-[A-Za-z0-9_]+", ".netemu-tmp-XXXX", text)
    text = re.sub(r"\b\d+(\.\d+)? ?(s|ms|seconds)\b(?= elapsed| wall|\))", "T s", text)
    return "\n".join(ln.rstrip() for ln in text.splitlines()) + ("\n" if text else "")


# ---- README blocks ----------------------------------------------------------------

@dataclass
class Shown:
    command: str          # one line, continuations joined
    start: int            # README line index of the output's first line
    end: int              # one past its last line
    output: list[str]
    exit_at: int | None = None   # README line index of the status a `$ echo $?` shows


def readme_commands(text: str) -> list[Shown]:
    """Every `$ netemu ...` in a ``` block of README.md with the output shown below it."""
    lines = text.splitlines()
    found: list[Shown] = []
    i, in_block, fence = 0, False, ""
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("```"):
            in_block, fence = (not in_block), ln[3:].strip()
            i += 1
            continue
        if in_block and fence in ("", "sh", "console", "text", "shell") \
                and re.match(r"\$ (netemu|#)", ln):
            cmd = ln[2:]
            while cmd.endswith("\\"):
                i += 1
                cmd = cmd[:-1].rstrip() + " " + lines[i].strip()
            i += 1
            start = i
            while i < len(lines) and not lines[i].startswith("$ ") \
                    and not lines[i].startswith("```"):
                i += 1
            if not cmd.startswith("#"):
                found.append(Shown(cmd, start, i, lines[start:i]))
                if i + 1 < len(lines) and lines[i] == "$ echo $?":
                    found[-1].exit_at = i + 1
            continue
        i += 1
    return found


def _pattern(shown: list[str]) -> re.Pattern:
    parts = []
    for ln in shown:
        parts.append(r"(?:[^\n]*\n)*?" if ln.strip() in ELISION
                     else re.escape(ln.rstrip()) + r"\n")
    return re.compile("".join(parts))


def matches(shown: list[str], real: str) -> bool:
    """The README's output is the real one, but for its elisions (and trailing blanks,
    which rich pads centred titles with and Markdown does not show)."""
    return _pattern(shown).fullmatch(real) is not None


def rewrite(shown: list[str], real: str) -> list[str]:
    """The README block made true again, keeping its elisions: each run of shown lines
    between elisions is replaced by the window of real lines (of the same length) most
    like it, in order; real lines between windows that no elision covers are kept. When
    that cannot hold, the whole real output."""
    if matches(shown, real):
        return shown
    real_lines = real.splitlines()
    runs: list[list[str]] = [[]]
    for ln in shown:
        if ln.strip() in ELISION:
            runs.append([ln])     # an elision opens a new run
        else:
            runs[-1].append(ln)
    out: list[str] = []
    pos = 0
    for k, run_ in enumerate(runs):
        elision, body = (run_[:1], run_[1:]) if k else ([], run_)
        out += elision
        n = len(body)
        if not n:
            continue
        last = max(pos, len(real_lines) - n)
        at = max(range(pos, last + 1), key=lambda s: (
            sum(a.rstrip() == b for a, b in zip(body, real_lines[s:s + n], strict=False)),
            -s))
        if not elision:
            out += real_lines[pos:at]      # nothing elides what comes before
        out += real_lines[at:at + n]
        pos = min(at + n, len(real_lines))
    if len(runs) == 1 or runs[-1][1:]:
        out += real_lines[pos:]            # nor what comes after
    return out if matches(out, real) else real_lines


def shown_is_real(shown: Shown, real: Run, lines: list[str]) -> bool:
    """The output and, where a `$ echo $?` follows, the exit status are the real ones."""
    return matches(shown.output, real.output) and (
        shown.exit_at is None or lines[shown.exit_at].strip() == str(real.exit))


def check_readme(*, fix: bool) -> list[tuple[Shown, Run]]:
    """Run every README command (one temporary folder for the whole README, since later
    commands read what earlier ones wrote) and return those whose shown output is not
    the real one; with `fix`, rewrite README.md so that none is."""
    text = README.read_text()
    lines = text.splitlines()
    stale = []
    with short_tmp() as tmp:
        for shown in readme_commands(text):
            real = run_netemu(shown.command, tmp)
            if not shown_is_real(shown, real, lines):
                stale.append((shown, real))
    if fix and stale:
        for shown, real in reversed(stale):     # bottom up: indices stay valid
            if shown.exit_at is not None:
                lines[shown.exit_at] = str(real.exit)
            lines[shown.start:shown.end] = rewrite(shown.output, real.output)
        README.write_text("\n".join(lines) + "\n")
    return stale


# ---- golden files -----------------------------------------------------------------

# A representative flow per shipped topology: what its header comment says it shows.
TOPOLOGY_FLOWS = {
    "lambda-nacl-no-ephemeral.yaml": "--from lambda:billing --to api.example.com",
    "lambda-nat-instance.yaml": "--from lambda:orders --to api.example.com",
    "lambda-nat-internet.yaml": "--from lambda:orders --to api.example.com",
    "lambda-no-vpc.yaml": "--from lambda:thumbnails --to 10.0.10.25 --port 5432",
    "lambda-public-subnet.yaml": "--from lambda:webhook --to api.example.com",
    "lambda-rds-sg-reference.yaml":
        "--from lambda:orders --to orders-db.c9akciq32.us-east-1.rds.amazonaws.com "
        "--port 5432",
    "lambda-s3-gateway-endpoint.yaml": "--from lambda:ingest --to s3.us-east-1.amazonaws.com",
    "lambda-secrets-interface-endpoint.yaml":
        "--from lambda:rotate --to secretsmanager.us-east-1.amazonaws.com",
    "lambda-two-az-missing-nat.yaml": "--from lambda:orders --to api.example.com",
}


def topology_commands() -> dict[str, str]:
    """golden file name -> command, text and --json for every shipped topology."""
    cmds = {}
    for name, args in TOPOLOGY_FLOWS.items():
        base = f"netemu trace topologies/{name} {args}"
        stem = name.removesuffix(".yaml")
        cmds[f"trace/{stem}.txt"] = base
        cmds[f"trace/{stem}.json"] = base + " --json"
    return cmds


def readme_golden_name(command: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", command.removeprefix("netemu ")).strip("-")
    return f"readme/{slug[:100]}.txt"


def transcript(run: Run) -> str:
    return f"$ {run.command}\n# exit {run.exit}\n{run.output}"


def all_commands() -> dict[str, str]:
    """golden file name -> command: every topology's trace, then every README command
    (in README order: a replay reads what the workload before it wrote)."""
    cmds = topology_commands()
    for shown in readme_commands(README.read_text()):
        cmds[readme_golden_name(shown.command)] = shown.command
    return cmds


class LazyRuns:
    """Runs made when a test first asks for them, so that each test runs (and is
    attributed) its own command: a README command runs after the README commands before
    it (whose files it may read), in one folder kept until exit."""

    def __init__(self) -> None:
        self.done: dict[str, Run] = {}
        self.tmp: Path | None = None
        self.readme = [s.command for s in readme_commands(README.read_text())]

    def __getitem__(self, name: str) -> Run:
        if name not in self.done:
            if self.tmp is None:
                import atexit
                import shutil
                import tempfile
                self.tmp = Path(tempfile.mkdtemp(prefix="ne", dir="/tmp"))
                atexit.register(shutil.rmtree, self.tmp, True)
            commands = topology_commands()
            if name in commands:
                self.done[name] = run_netemu(commands[name], self.tmp)
            else:
                for cmd in self.readme:      # in order, up to the one asked for
                    key = readme_golden_name(cmd)
                    if key not in self.done:
                        self.done[key] = run_netemu(cmd, self.tmp)
                    if key == name:
                        break
        return self.done[name]


def run_all() -> dict[str, Run]:
    """golden file name -> its run: topology traces in one folder, README commands in
    README order in another (later ones read what earlier ones wrote)."""
    runs = {}
    with short_tmp() as tmp:
        for name, cmd in all_commands().items():
            runs[name] = run_netemu(cmd, tmp)
    return runs


@contextlib.contextmanager
def short_tmp():
    """A fresh folder whose path is nearly as short as /tmp/, so that the console wraps
    lines naming it where it would wrap them naming /tmp/."""
    import shutil
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="ne", dir="/tmp" if Path("/tmp").is_dir() else None))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def regenerate() -> list[str]:
    """Rewrite README outputs, then every golden file (removing stale ones); returns
    what changed."""
    changed = [f"README.md: {s.command}" for s, _ in check_readme(fix=True)]
    wanted = all_commands()
    for sub in ("trace", "readme"):
        for old in (GOLDEN / sub).glob("*") if (GOLDEN / sub).exists() else []:
            if f"{sub}/{old.name}" not in wanted:
                old.unlink()
                changed.append(f"removed {old.relative_to(ROOT)}")
    for name, run_ in run_all().items():
        path = GOLDEN / name
        text = transcript(run_)
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(str(path.relative_to(ROOT)))
    return changed


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    for what in regenerate():
        print("updated", what)

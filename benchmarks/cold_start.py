"""Cold start of `netemu trace`: wall time of a whole process, median of N runs, beside
two anchors timed in the same run: `python -c pass` (the interpreter) and
`python -c "import numpy"` (the one library a trace cannot do without).

    python -m benchmarks.cold_start [--runs N] [--also DIR]

`--also DIR` times the same two trace commands on another checkout too, interleaved with
these (e.g. the tree before a change: `git archive HEAD | tar -x -C DIR`).

The command is the console script's own code (`from netemu.cli import main; main()`)
on topologies/lambda-nat-internet.yaml, lambda:orders to api.example.com port 443; runs
interleave so that a busy moment weighs on every figure alike. The environment is the
caller's minus OPENBLAS_NUM_THREADS/OMP_NUM_THREADS, so the anchors show what NumPy
costs with OpenBLAS's default threads (`import numpy, one BLAS thread` beside it).
CPU time (user + system, from the children's rusage) is reported beside the wall time:
on a shared machine it moves less with the load. OpenBLAS's idle threads spin, so their
cost shows as CPU as well as wall time. Results go to benchmarks/results/cold_start.json;
the target is 0.2 s of wall time.

Bytecode: the children cache compiled modules in a temporary PYTHONPYCACHEPREFIX, filled
by one untimed run of each command, as an installed package has its .pyc files (pip
compiles them; an editable install writes __pycache__ at its first run). A session with
PYTHONDONTWRITEBYTECODE=1 (as this repository's automation sets) would otherwise compile
every netemu module at every start: `netemu trace, compiling netemu` times that case
(PYTHONDONTWRITEBYTECODE=1, no prefix: the installed libraries' .pyc are read, netemu's
sources compiled, unless the tree has a __pycache__ of its own)."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import parser, write_result

ROOT = Path(__file__).resolve().parents[1]
TRACE = ["trace", "topologies/lambda-nat-internet.yaml", "--from", "lambda:orders",
         "--to", "api.example.com", "--port", "443"]
COMMANDS = {
    "netemu trace": ["-c", "import sys; from netemu.cli import main; sys.exit(main())",
                     *TRACE],
    "python -c pass": ["-c", "pass"],
    "import numpy": ["-c", "import numpy"],
    "import numpy, one BLAS thread": ["-c", "import os; os.environ['OPENBLAS_NUM_THREADS']"
                                      " = '1'; import numpy"],
}
COMPILING = "netemu trace, compiling netemu"      # the same command, netemu's .pyc not kept


def main(argv: list[str] | None = None) -> int:
    ap = parser("cold_start", __doc__)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--also", type=Path, help="another checkout to time beside this one")
    args = ap.parse_args(argv)
    base = {k: v for k, v in os.environ.items()
            if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "PYTHONDONTWRITEBYTECODE",
                         "PYTHONPYCACHEPREFIX")}
    pycache = tempfile.TemporaryDirectory(prefix="netemu-cold-start-")
    env = {**base, "PYTHONPYCACHEPREFIX": pycache.name}
    compiling = {**base, "PYTHONDONTWRITEBYTECODE": "1"}
    commands = {**{name: (cmd, env, ROOT) for name, cmd in COMMANDS.items()},
                COMPILING: (COMMANDS["netemu trace"], compiling, ROOT)}
    if args.also:
        also = args.also.resolve()
        for name, e in (("netemu trace", env), (COMPILING, compiling)):
            commands[f"{name} ({also})"] = (COMMANDS["netemu trace"],
                                            {**e, "PYTHONPATH": str(also)}, also)
    for name, (cmd, e, cwd) in commands.items():     # untimed: fills the bytecode cache
        _run(name, cmd, e, cwd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, (cmd, e, cwd) in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            _run(name, cmd, e, cwd)
            times[name].append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime
                             + after.ru_stime - before.ru_stime)
    pycache.cleanup()
    out = {name: {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts),
                  "cpu_median_s": statistics.median(cpu[name])}
           for name, ts in times.items()}
    write_result("cold_start", {"runs": args.runs, "command": "netemu " + " ".join(TRACE),
                                "target_s": 0.2, "bytecode": "cached (PYTHONPYCACHEPREFIX)",
                                "wall": out,
                                "load_average": os.getloadavg()[0]})
    for name, r in out.items():
        print(f"{name:40} median {r['median_s']:.3f} s (min {r['min_s']:.3f}, "
              f"max {r['max_s']:.3f}); CPU {r['cpu_median_s']:.3f} s")
    return 0


def _run(name: str, cmd: list[str], env: dict, cwd: Path) -> None:
    done = subprocess.run([sys.executable, *cmd], cwd=cwd, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise SystemExit(f"{name} exited {done.returncode}: {done.stderr.decode()}")


if __name__ == "__main__":
    raise SystemExit(main())

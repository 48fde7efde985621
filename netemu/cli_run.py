"""Run the command line so that every way it can end is one of the documented exits.

    0 delivered (or the command did its job)    2 refused input, usage errors included
    1 dropped                                   3 internal error (a bug: one line, no trace)
    130 interrupted (Ctrl-C)                    143 terminated (SIGTERM, SIGHUP)

Click's standalone mode prints usage errors in a box and lets unexpected exceptions out
as tracebacks (exit 1, which would read as "dropped"); here the app runs with
standalone_mode=False and each exception is turned into one line on stderr."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from netemu.cli_lazy import call_direct, lazy_module, parse_direct
from netemu.errors import InputError, Terminated

# imported at first use: a command line main() runs directly needs neither (issue #11)
typer = lazy_module("typer")
click = lazy_module("typer._click", "click")      # typer >= 0.20 vendors click

EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 3, 130, 143


BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def single_threaded_blas() -> None:
    """One BLAS thread unless the user set one: called before NumPy loads, since OpenBLAS
    reads these once, when NumPy imports it. netemu's NumPy work is comparisons, sorts and
    gathers, which never call BLAS, yet OpenBLAS starts a thread per core at import (tens
    of milliseconds of a 0.2 s `netemu trace`), and one process per core (replay
    partitions, Dask workers) each with a thread per core would oversubscribe the cores."""
    for var in BLAS_THREAD_VARS:
        os.environ.setdefault(var, "1")


def _say(line: str) -> None:
    sys.stderr.write(" ".join(line.split()) + "\n")   # one line, whatever the message
    sys.stderr.flush()


def _option_value(args: Sequence[str], opts: Sequence[str]) -> str | None:
    """The text given for an option on the command line (`--port abc`, `--port=abc`)."""
    for i, a in enumerate(args):
        for o in opts:
            if a == o and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(o + "="):
                return a[len(o) + 1:]
    return None


def usage_message(exc: click.exceptions.UsageError, args: Sequence[str]) -> str:
    """`--port: 'abc' is not a valid integer`: the option at fault, then what is wrong."""
    param = getattr(exc, "param", None)
    if isinstance(exc, click.exceptions.MissingParameter) and param is not None:
        if param.param_type_name == "argument":
            return f"missing argument {(param.metavar or param.name or '').upper()}"
        return f"missing option {param.opts[0]}"
    if isinstance(exc, click.exceptions.BadParameter) and param is not None:
        opts = list(param.opts)
        name = opts[0] if param.param_type_name == "option" and opts else \
            (param.metavar or param.name or "").upper()
        value = _option_value(args, opts) if param.param_type_name == "option" else None
        msg = exc.message
        low = msg.lower()
        if value is not None and ("integer" in low or "valid int" in low):   # typer < 0.29
            return f"{name}: {value!r} is not a valid integer"
        if value is not None and ("number" in low or "float" in low):
            return f"{name}: {value!r} is not a valid number"
        return f"{name}: {value!r}: {msg}" if value is not None else f"{name}: {msg}"
    return exc.format_message()


def run(app, args: Sequence[str] | None = None, direct: dict | None = None) -> int:
    """Run the Typer app on `args` (default: sys.argv[1:]) and return the exit code; a
    command line of a command in `direct` (name -> netemu.cli_lazy.Direct) that needs
    none of Typer's help or errors runs without building the app."""
    args = list(sys.argv[1:] if args is None else args)
    try:
        call = parse_direct(args, direct) if direct else None
        if call is not None:
            return call_direct(*call)
        rc = app(args=args, prog_name="netemu", standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except click.exceptions.NoArgsIsHelpError:      # the help is already printed
        return EXIT_USAGE
    except click.exceptions.UsageError as exc:
        try:
            msg = usage_message(exc, args)
        except Exception:              # click's internals differ between versions
            msg = exc.format_message()
        _say(f"netemu: error: {msg}")
        return EXIT_USAGE
    except typer.Exit as exc:
        return exc.exit_code
    except click.exceptions.ClickException as exc:
        _say(f"netemu: error: {exc.format_message()}")
        return EXIT_USAGE
    except InputError as exc:          # refused input a command did not catch itself
        _say(f"netemu: error: {exc.message}")
        return EXIT_USAGE
    except (typer.Abort, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    except Terminated:
        return EXIT_TERMINATED
    except BrokenPipeError:            # `netemu ... | head`: the reader left; say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:           # a bug: one line, never a traceback
        _say(f"netemu: internal error: {type(exc).__name__}: {exc}")
        return EXIT_INTERNAL

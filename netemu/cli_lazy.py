"""The `netemu` command without Typer's start-up cost on its hot path (issue #11).

Importing Typer (and Click) and building the app (inspecting every command's signature,
scale's 29 options included) took about a sixth of a cold `netemu trace`. Here:

- `lazy_module("typer")` stands for the module and imports it at the first attribute
  read, so the command modules can name `typer.Option`, `typer.Exit` as before;
- `LazyTyper` records `@app.command()` and builds the `typer.Typer` app the first time it
  is called or read (`from netemu.cli import app; run(app, ...)` and CliRunner work);
- `parse_direct` reads the command lines of a command declared as `Direct` (plain
  options, each at most once) and `call_direct` calls the command function itself, as
  Typer would have; any other command line (help, a typo, `--`, a value that is not
  plainly an integer, ...) gives None and goes to Typer, so usage errors and help read
  exactly as before."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


class _LazyModule:
    """A module imported at the first attribute read (the first of `names` that imports)."""

    def __init__(self, *names: str) -> None:
        self._names = names
        self._module = None

    def _load(self):
        if self._module is None:
            for name in self._names[:-1]:
                try:
                    self._module = importlib.import_module(name)
                    break
                except ImportError:          # pragma: no cover - older typer
                    continue
            else:
                self._module = importlib.import_module(self._names[-1])
        return self._module

    def __getattr__(self, attr: str):
        return getattr(self._load(), attr)


def lazy_module(*names: str):
    return _LazyModule(*names)


class LazyTyper:
    """`typer.Typer(**settings)`, built at first use with the commands recorded so far.
    `before_build` functions run first: they make the module-level annotations that need
    typer itself (`Annotated[Path, typer.Argument(...)]`)."""

    def __init__(self, **settings) -> None:
        self._settings = settings
        self._commands: list[tuple[tuple, dict, Callable]] = []
        self._before: list[Callable[[], None]] = []
        self._app = None

    def command(self, *args, **kwargs):
        def record(fn: Callable) -> Callable:
            if self._app is not None:
                self._app.command(*args, **kwargs)(fn)
            self._commands.append((args, kwargs, fn))
            return fn
        return record

    def before_build(self, fn: Callable[[], None]) -> Callable[[], None]:
        self._before.append(fn)
        return fn

    def build(self):
        if self._app is None:
            import typer
            for fn in self._before:
                fn()
            app = typer.Typer(**self._settings)
            for args, kwargs, fn in self._commands:
                app.command(*args, **kwargs)(fn)
            self._app = app
        return self._app

    def __call__(self, *args, **kwargs):
        return self.build()(*args, **kwargs)

    def __getattr__(self, attr: str):          # registered_commands, info, ... (CliRunner)
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self.build(), attr)


class Direct:
    """A command main() may run without Typer: its function, the name of its one
    argument (a Path), its options (flag -> (parameter, str, int or bool)) and the
    parameters without a default. (A plain class: a dataclass costs a cold start ~1 ms.)"""

    def __init__(self, fn: Callable[..., int], argument: str,
                 options: dict[str, tuple[str, type]], required: tuple[str, ...] = ()) -> None:
        self.fn, self.argument, self.options, self.required = fn, argument, options, required


def parse_direct(args: Sequence[str], commands: dict[str, Direct]) -> tuple | None:
    """(function, keyword arguments) for a command line Typer would take the same way
    and that needs none of its help or errors; None for any other."""
    if not args or args[0] not in commands or os.environ.get("_NETEMU_COMPLETE"):
        return None                       # shell completion is Typer's
    spec = commands[args[0]]
    kwargs: dict[str, object] = {}
    rest = list(args[1:])
    while rest:
        word = rest.pop(0)
        if not word.startswith("-"):
            if spec.argument in kwargs or not word:
                return None
            kwargs[spec.argument] = Path(word)
            continue
        name, eq, value = word.partition("=")
        opt = spec.options.get(name)
        if opt is None or opt[0] in kwargs:
            return None                   # unknown, --help, --, or given twice
        param, kind = opt
        if kind is bool:
            if eq:
                return None
            kwargs[param] = True
            continue
        if not eq:
            if not rest:
                return None
            value = rest.pop(0)
        if not value or value.startswith("-"):
            return None                   # Click would take it; the error wording is Typer's
        if kind is int:
            if not (value.isascii() and value.isdigit()):
                return None
            kwargs[param] = int(value)
        else:
            kwargs[param] = value
    if not {spec.argument, *spec.required} <= kwargs.keys():
        return None
    return spec.fn, kwargs


_direct = False          # main() is calling a command function without Typer


def exit_with(code: int) -> int:
    """A command's exit status: raised as typer.Exit under Typer (a standalone app and
    CliRunner ignore return values), returned when main() called the command directly."""
    if _direct:
        return code
    import typer
    raise typer.Exit(code)


def call_direct(fn: Callable[..., int], kwargs: dict) -> int:
    """Run a command function as Typer's main does (typer/core.py `_main`, with
    standalone_mode=False): the same exits for what the command raises."""
    global _direct
    try:
        _direct = True
        rc = fn(**kwargs)
    except EOFError as exc:
        import typer
        sys.stderr.write("\n")
        sys.stderr.flush()
        raise typer.Abort() from exc
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        import errno
        if exc.errno != errno.EPIPE:
            raise
        click = lazy_module("typer._click", "click")
        sys.stdout = click.utils.PacifyFlushWrapper(sys.stdout)
        sys.stderr = click.utils.PacifyFlushWrapper(sys.stderr)
        sys.exit(1)
    finally:
        _direct = False
    return rc if isinstance(rc, int) else 0

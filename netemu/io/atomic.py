"""Outputs that are whole or absent.

Everything is written under a temporary name beside the target (same folder, so the
final rename stays on one file system and is atomic) and renamed into place only when
complete. Until then SIGTERM and SIGHUP unwind like Ctrl-C (they raise `Terminated`), so
the temporary is removed on every exit Python sees; only SIGKILL or a power cut can leave
a `.NAME.netemu-tmp-*` behind, and never under the target's name.

An existing non-empty target is refused unless `force`, which replaces it whole: the
old folder is renamed aside, the new one renamed in, the old one deleted, so a new
summary never sits beside a stale capture from an earlier run. Two concurrent runs each
write their own temporary; the rename of the second onto a non-empty folder fails
(ENOTEMPTY) and it refuses, so their files never mix."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from netemu.errors import InputError, Terminated

TMP_TAG = ".netemu-tmp-"
# what replay writes; a folder holding only these (or nothing) is an earlier output
OUTPUT_NAMES = ("verdicts.jsonl", "summary.json", "flowlogs")
OUTPUT_PREFIXES = ("capture-",)


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


@contextmanager
def terminating_unwinds() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise Terminated (finally blocks run); outside,
    the handlers are what they were."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
            if s is not None]
    old = {s: signal.signal(s, _raise_terminated) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP over the few renames of a commit, so a kill lands
    before it (nothing written) or after it (all written), never between two renames."""
    sigs = {s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP"))
            if s is not None}
    if not hasattr(signal, "pthread_sigmask") or \
            threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def _is_output(name: str) -> bool:
    return name in OUTPUT_NAMES or name.startswith(OUTPUT_PREFIXES)


def check_target(target: Path, force: bool, *, folder: bool, strict: bool = True) -> None:
    """Refuse a target that exists and holds something, unless `force`.

    `strict=False` (the library's default for folders) takes any folder: the outputs of
    an earlier run in it are replaced as a set, other files (a caller's input trace) are
    left alone."""
    if not target.exists() and not target.is_symlink():
        return
    if folder and not target.is_dir():
        raise InputError("exists and is not a folder", file=str(target))
    if not folder and target.is_dir():
        raise InputError("is a folder; give a file name", file=str(target))
    if force:
        real, here = target.resolve(), Path.cwd().resolve()
        if folder and (real == here or real in here.parents or real == Path.home().resolve()):
            raise InputError("will not replace the current folder, one holding it or the "
                             "home folder; give a folder for the outputs", file=str(target))
        return
    if folder:
        if not any(target.iterdir()):
            return
        if not strict:
            return
        raise InputError("output folder is not empty (give --force to replace it whole)",
                         file=str(target))
    if target.stat().st_size:
        raise InputError("output file exists (give --force to replace it)", file=str(target))


def _tmp_beside(target: Path, folder: bool) -> Path:
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{target.name}{TMP_TAG}"
        umask = os.umask(0)
        os.umask(umask)
        if folder:      # mkdtemp/mkstemp make 0700/0600; the output gets the usual modes
            tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
            tmp.chmod(0o777 & ~umask)
            return tmp
        fd, name = tempfile.mkstemp(prefix=prefix, dir=parent)
        os.close(fd)
        os.chmod(name, 0o666 & ~umask)
        return Path(name)
    except OSError as exc:
        raise InputError(f"cannot write beside it: {exc.strerror}", file=str(target)) from None


def _commit_folder(tmp: Path, target: Path, force: bool, strict: bool) -> None:
    if target.is_dir() and any(target.iterdir()):
        if strict and not force:         # empty when checked: another run filled it since
            raise OSError(errno.ENOTEMPTY, "filled meanwhile", str(target))
        if not force:
            # strict=False: earlier outputs out (no stale capture stays), new ones in
            for old in target.iterdir():
                if _is_output(old.name):
                    _remove(old)
            for item in tmp.iterdir():
                os.replace(item, target / item.name)
            return
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}{TMP_TAG}old-", dir=target.parent))
        os.replace(target, aside / "old")        # the old folder leaves in one step
        try:
            os.rename(tmp, target)
        except OSError:
            os.replace(aside / "old", target)
            raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)
        return
    if target.exists() and not target.is_dir():       # force over a file
        target.unlink()
    os.rename(tmp, target)      # onto nothing or an empty folder: atomic on POSIX


@contextmanager
def atomic_folder(target: Path, *, force: bool = False, strict: bool = True
                  ) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; rename it to `target` when the block
    ends normally, remove it otherwise (exceptions, Ctrl-C, SIGTERM)."""
    target = Path(target)
    check_target(target, force, folder=True, strict=strict)
    with terminating_unwinds():
        tmp = _tmp_beside(target, folder=True)
        try:
            try:
                yield tmp
            except OSError as exc:     # a full disk, a quota: nothing is left half-written
                raise InputError(f"cannot write: {exc.strerror or exc}",
                                 file=str(target)) from None
            try:
                with _signals_held():
                    _commit_folder(tmp, target, force, strict)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise InputError("output folder was filled by another run meanwhile; "
                                     "nothing written", file=str(target)) from None
                raise InputError(f"cannot write: {exc.strerror}", file=str(target)) from None
        finally:
            _remove(tmp)


@contextmanager
def atomic_file(target: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary file name beside `target`; rename it over `target` when the
    block ends normally, remove it otherwise. A failed write (a full disk) is one
    InputError, and no truncated file is left under either name."""
    target = Path(target)
    check_target(target, force, folder=False)
    with terminating_unwinds():
        tmp = _tmp_beside(target, folder=False)
        try:
            try:
                yield tmp
                os.replace(tmp, target)
            except OSError as exc:
                raise InputError(f"cannot write: {exc.strerror or exc}",
                                 file=str(target)) from None
        finally:
            _remove(tmp)

"""Read an input file with bounded work: a regular file only, at most a size cap.

A topology or trace named on the command line can be anything: /dev/zero, a FIFO that
never ends, a terminal, a multi-gigabyte file. Checking the kind with `stat` before
opening (and reading at most `cap` + 1 bytes after) makes each of them one refusal
instead of a hang or an exhausted memory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from netemu.errors import InputError

MAX_TEXT_BYTES = 64 << 20      # a hand-written topology or one snapshot JSON file

PCAP_PREFIXES = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                 b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")


def require_regular(path: str | Path, what: str = "file") -> None:
    """Refuse anything but a regular file (after following symlinks)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", file=str(path)) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"is a folder, expected a {what}", file=str(path))
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device"
                if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise InputError(f"is {kind}, not a regular file", file=str(path))


def read_bytes_capped(path: str | Path, what: str = "file",
                      cap: int = MAX_TEXT_BYTES) -> bytes:
    """The whole file, refusing non-regular files and files over `cap` bytes."""
    require_regular(path, what)
    try:
        with open(path, "rb") as f:
            data = f.read(cap + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", file=str(path)) from None
    if len(data) > cap:
        raise InputError(f"larger than {cap >> 20} MiB: too big for a {what}",
                         file=str(path))
    return data


def decode_utf8(data: bytes, path: str | Path, what: str = "file") -> str:
    """UTF-8 text (a leading BOM dropped); the line of the first bad byte otherwise."""
    if data.startswith(PCAP_PREFIXES):
        raise InputError(f"is a packet capture, not a {what}", file=str(path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}", file=str(path), line=line) from None

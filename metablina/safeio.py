"""Read an input file of a review without trusting what stands at its path.

A review folder is cloned from colleagues and edited by hand, so a name in it may be a link to a
file elsewhere (``/etc/passwd``, ``/proc/self/status``), a device that never ends (``/dev/zero``) or a
named pipe that blocks until someone writes to it. Only a regular file is read, only when it lies
inside the folder it is confined to, and never more than its size cap: the cap is checked on the
bytes actually read, since a file in ``/proc`` reports size 0.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class InputRefused(Exception):
    """An input file that is not read; ``reason`` is one line that does not repeat the path."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_input(path: Path, limit: int, *, inside: Path | None) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    ``inside`` is the folder the file must lie in once every link is followed (None: anywhere, for a
    file named on the command line). The file's type is checked before it is opened, so a device is
    never opened and a named pipe cannot block; it is checked again on the open descriptor.
    Raises :class:`InputRefused` for anything else, including any ``OSError``.
    """
    try:
        real = Path(os.path.realpath(path, strict=True))
        if inside is not None and not real.is_relative_to(os.path.realpath(inside)):
            raise InputRefused(f"a link leading outside {inside}; only files inside it are read")
        _refuse_special(os.stat(real).st_mode)
        fd = os.open(real, _READ_FLAGS)
        try:
            _refuse_special(os.fstat(fd).st_mode)
            data = _read_at_most(fd, limit + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise InputRefused(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputRefused(f"larger than {_size(limit)}; not read")
    return data


def _refuse_special(mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise InputRefused(f"{kind}, not a regular file; only regular files are read")


def _read_at_most(fd: int, count: int) -> bytes:
    chunks, left = [], count
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _size(limit: int) -> str:
    """``1 << 20`` -> ``1 MiB``; ``1536`` -> ``1.5 KiB``."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= scale:
            return f"{limit / scale:g} {unit}"
    return f"{limit} bytes"

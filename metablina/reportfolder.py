"""The folder ``metablina report`` writes (``--out``): which folders it may replace, and replacing one so
that, whatever happens to the run, ``--out`` holds either the previous report or the complete new one.

* A folder is replaced only when it holds :data:`MARKER`, a file every report has, and no extracts; never
  the review folder, a folder inside it or one holding it, nor the current folder or one holding it.
* The report is written into a temporary folder beside ``--out``, ``<out>.tmp-<pid>-<random>``, which is
  then swapped in: in one step where the system can exchange two folders (Linux's renameat2), else by
  two renames, the old folder put back if the second fails (or is interrupted).
* A run that is killed (``kill -9``, a power cut) cannot clean up after itself: the next run removes the
  temporary folders of runs whose process is gone, and says so; if one was killed between its two
  renames, the next run first puts its old report back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from metablina.workers import running

MARKER = ".metablina-report"
MARKER_TEXT = (
    "metablina-report 1\n"
    "This folder was written by `metablina report`, which replaces all of it on its next run.\n"
)
NAME_MAX = 255  # bytes in a file name on the common filesystems
TMP_SUFFIX_MAX = 32  # ".tmp-<pid>-<8 hex digits>-old" is at most 25 bytes
_TMP_NAME = re.compile(r"\.tmp-(\d{1,7})-[A-Za-z0-9_]+(-old)?")
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


class OutFolderError(Exception):
    """``--out`` names a folder the report must not be written to; the message is one line."""


def is_report(folder: Path) -> bool:
    """Whether ``folder`` holds the marker every report of metablina has (a ``report.html`` alone is
    not enough: anyone's folder may hold one)."""
    marker = folder / MARKER
    if marker.is_symlink() or not marker.is_file():
        return False
    with marker.open("rb") as f:
        return f.readline(64).startswith(b"metablina-report ")


def check_out(out: Path, review: Path) -> Path:
    """The folder to write for ``--out``, resolved (the temporary folder goes beside it, on the same
    filesystem), or OutFolderError saying why ``out`` must not be written or replaced."""
    try:
        return _checked(out, review)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
        raise OutFolderError(f"--out {out}: {getattr(exc, 'strerror', None) or exc}") from None


def _checked(out: Path, review: Path) -> Path:
    if out.is_symlink() and not out.exists():
        raise OutFolderError(f"--out {out} is a symbolic link to {os.readlink(out)}, which does not exist")
    target, review = out.resolve(), review.resolve()
    if _within(target, review):
        raise OutFolderError(f"--out {out} is the review folder or lies in it; choose a folder of its own")
    if _within(review, target):
        raise OutFolderError(f"--out {out} holds the review folder {review}; choose a folder of its own")
    if _within(Path.cwd(), target):
        raise OutFolderError(
            f"--out {out} is the current folder or holds it; choose a folder of its own, e.g. --out outputs"
        )
    if len(os.fsencode(target.name)) > NAME_MAX - TMP_SUFFIX_MAX:
        raise OutFolderError(
            f"--out: the name {target.name[:40]}… is {len(os.fsencode(target.name))} bytes long; "
            f"at most {NAME_MAX - TMP_SUFFIX_MAX} (the temporary folder beside it needs the rest)"
        )
    ancestor = next(p for p in target.parents if p.exists())
    if not ancestor.is_dir():
        raise OutFolderError(f"--out {out}: {ancestor} is a file, not a folder")
    if not target.exists():
        return target
    if not target.is_dir():
        raise OutFolderError(f"--out {out} is a file, not a folder")
    extract = _an_extract_in(target)
    if extract is not None:
        raise OutFolderError(f"--out {out} holds study extracts ({extract.name}); not replacing it")
    if not is_report(target) and next(target.iterdir(), None) is not None:
        raise OutFolderError(
            f"--out {out} exists and is not a metablina report folder (no {MARKER} file); "
            "not replacing it: move it away or choose another --out"
        )
    return target


def _within(inner: Path, outer: Path) -> bool:
    """Whether the resolved path ``inner`` is ``outer`` or lies inside it: by name, and by identity
    for the folders that exist (a case-insensitive filesystem, a bind mount)."""
    if inner == outer or outer in inner.parents:
        return True
    try:
        folder = outer.stat()
    except OSError:
        return False
    for p in (inner, *inner.parents):
        with contextlib.suppress(OSError):
            if os.path.samestat(p.stat(), folder):
                return True
    return False


def _an_extract_in(folder: Path) -> Path | None:
    """The first plan or study extract (YAML with a top-level ``id:``) directly in ``folder``."""
    for p in sorted(folder.iterdir()):
        if p.suffix not in (".yaml", ".yml") or not p.is_file():
            continue
        if p.name == "analyses.yaml":
            return p
        with p.open("rb") as f:
            if re.search(rb"(?m)^id\s*:", f.read(1 << 16)):
                return p
    return None


# ------------------------------------------------------------------------------------------- cleaning


def clean_stale(out: Path) -> list[str]:
    """Remove the temporary folders beside ``out`` left by runs that were killed (their process is
    gone; a live run's folder is left alone); first put back the old report of a run killed between
    its two renames, if ``out`` is missing. Returns one line saying what was done, or none."""
    if os.name == "nt" or not out.parent.is_dir():  # nt: no way to tell a live run's folder there
        return []
    stale = []
    for p in sorted(out.parent.iterdir()):
        name = _TMP_NAME.fullmatch(p.name[len(out.name) :]) if p.name.startswith(out.name) else None
        if name and p.is_dir() and not p.is_symlink() and not running(int(name[1])):
            stale.append((p, bool(name[2])))
    lines = []
    for p, aside in stale:
        if aside and not out.exists() and is_report(p):
            os.rename(p, out)
            lines.append(f"note: put {out} back from {p.name}, left by a run killed while replacing it")
    removed = [p for p, _ in stale if p.exists()]
    for p in removed:
        discard(p)
    if removed:
        names = ", ".join(p.name for p in removed)
        lines.append(f"note: removed {len(removed)} temporary folder(s) left by killed runs: {names}")
    return lines


def discard(folder: Path) -> None:
    """Remove ``folder``, its marker first, so that a removal cut short never leaves a folder that
    passes for a report."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        (folder / MARKER).unlink()
    shutil.rmtree(folder, ignore_errors=True)


# -------------------------------------------------------------------------------------------- writing


@contextlib.contextmanager
def replacing(out: Path) -> Iterator[Path]:
    """A new folder, holding the marker, to write the report into; when the block ends without an
    exception the folder takes the place of ``out`` (a resolved path from :func:`check_out`). After
    any failure, at any step, ``out`` is as it was and the new folder is gone."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir()  # with the permissions of any new folder (a mkdtemp folder is the owner's only)
    try:
        (tmp / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        yield tmp
        swap(tmp, out)
    finally:
        discard(tmp)  # the new folder if it was not swapped in; the old one after an exchange


def swap(new: Path, out: Path) -> None:
    """Put the folder ``new`` in the place of ``out``. Where ``out`` exists its old contents end up at
    ``new`` (an exchange, for the caller to discard) or are removed here (two renames)."""
    if not out.exists():
        os.rename(new, out)
        return
    if exchange(new, out):
        return
    old = new.with_name(new.name + "-old")
    os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:  # Ctrl-C included
        _put_back(old, out)
        raise
    discard(old)


def _put_back(old: Path, out: Path) -> None:
    try:
        os.rename(old, out)
    except OSError as exc:
        raise OSError(
            f"{out} could not be put back ({exc.strerror}): the previous report is in {old.name}, "
            "which the next run puts back"
        ) from exc


def exchange(a: Path, b: Path) -> bool:
    """Swap the folders ``a`` and ``b`` in one step (Linux's renameat2 with RENAME_EXCHANGE); False
    where the system or the filesystem cannot, so that the caller renames twice instead."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without it (glibc before 2.28)
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # a kernel or filesystem without it
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))

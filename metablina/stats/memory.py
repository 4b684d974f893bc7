"""How much working memory one fit may take, so that a fit too large for the machine is refused up front.

A GLMM or a binomial–normal Bayesian fit holds arrays of (studies × likelihood points) floats: a GLMM of
a million studies would need about 7 GiB, a Bayesian one of 10,000 studies about 9 GiB. Without a check
such a fit runs for minutes and then dies with a MemoryError; with one it is refused at once, in one
line that says what to do instead. Each method estimates its own peak from the sizes it will allocate
(:func:`check_memory`), and that is compared with :func:`memory_budget`.

The budget is 2 GiB, or less when the machine has less to give: Linux's ``MemAvailable``, the room left
in the process's control group (a container's memory limit) and under its address-space limit
(``ulimit -v``). The fixed part makes the same fits refused on every machine with room to spare; the
rest keeps a small machine from running out.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from metablina.stats.errors import InputError

BUDGET = 2 << 30


def memory_budget() -> int:
    """Bytes one fit may allocate: :data:`BUDGET`, or less where the machine or the process has less."""
    limits = [BUDGET, _meminfo_available(), _cgroup_room(), _address_space_room()]
    return max(0, min(x for x in limits if x is not None))


def check_memory(need: int, what: str, instead: str) -> None:
    """Refuse (:class:`InputError`) a fit whose estimated working memory ``need`` exceeds the budget.

    ``what`` names the fit ("GLMM with k = 1000000 studies"), ``instead`` says what the user can do.
    """
    budget = memory_budget()
    if need > budget:
        raise InputError(
            f"{what} needs about {_gib(need)} of working memory, more than the {_gib(budget)} a fit may "
            f"use here; {instead}"
        )


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def _read(path: str) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return Path(path).read_text(encoding="ascii")
    return None


def _kib_field(text: str | None, name: str) -> int | None:
    """``name:  123 kB`` of /proc/meminfo or /proc/self/status, in bytes."""
    for line in (text or "").splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    return None


def _meminfo_available() -> int | None:
    return _kib_field(_read("/proc/meminfo"), "MemAvailable")


def _cgroup_room() -> int | None:
    """Limit minus use of this process's cgroup (v2), when it has a limit."""
    lines = (_read("/proc/self/cgroup") or "").splitlines()
    entry = next((line[3:] for line in lines if line.startswith("0::")), None)
    if entry is None:
        return None
    folder = "/sys/fs/cgroup" + entry.rstrip("/")
    limit, used = _read(folder + "/memory.max"), _read(folder + "/memory.current")
    if limit is None or used is None or not limit.strip().isdigit() or not used.strip().isdigit():
        return None
    return int(limit) - int(used)


def _address_space_room() -> int | None:
    """Address space left under ``RLIMIT_AS`` (``ulimit -v``), when one is set."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    used = _kib_field(_read("/proc/self/status"), "VmSize")
    return None if used is None else soft - used

"""PyTorch's intra-op threads, chosen from the cores this process may use.

PyTorch starts one OpenMP thread per physical core of the machine, whatever the process is
allowed to run on (``taskset``, a container's CPU set), and its threads spin while they wait
for each other, so on shared cores they burn the time the other work needs. Where torch
runs (training, Gatys, ``--runtime torch``), :func:`configure_torch_threads` sets, unless
the user set them:

- ``OMP_NUM_THREADS`` = the cores in ``os.sched_getaffinity(0)`` (:func:`usable_cores`);
- ``OMP_WAIT_POLICY`` = :data:`WAIT_POLICY`.

Both are read when torch's OpenMP runtime starts, so this runs before torch is imported
(the CLI calls it first thing); if torch is already in, the thread count is only lowered
to the usable cores (``torch.set_num_threads``), never raised over a host program's
choice. The choice was measured with ``benchmarks/bench_threads.py`` (quiet and beside 2
busy processes; docs/performance.md).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable

#: OpenMP's wait policy for torch's threads (measured: docs/performance.md).
WAIT_POLICY = "PASSIVE"


def usable_cores() -> int:
    """The number of CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows: no affinity mask
        return max(1, os.cpu_count() or 1)


#: What OpenMP (libgomp) takes as ``OMP_NUM_THREADS``: positive counts, one per nesting
#: level, ASCII digits; it prints a line of its own for anything else.
OMP_COUNTS = re.compile(r"\s*[1-9][0-9]*(\s*,\s*[1-9][0-9]*)*\s*", re.ASCII)
#: What it takes as ``OMP_WAIT_POLICY`` (case ignored).
OMP_POLICIES = ("ACTIVE", "PASSIVE")


def configure_torch_threads() -> int:
    """Set torch's intra-op threads (and OpenMP's wait policy, before torch starts) from
    the usable cores, unless ``OMP_NUM_THREADS`` / ``OMP_WAIT_POLICY`` are set; the count.
    A value OpenMP would refuse (``OMP_NUM_THREADS=0``, ``abc``) is replaced by ours with
    one note, before torch starts: libgomp would print its own lines and use its default."""
    threads = usable_cores()
    if "torch" not in sys.modules:
        _replace_invalid("OMP_NUM_THREADS", OMP_COUNTS.fullmatch, str(threads))
        _replace_invalid(
            "OMP_WAIT_POLICY", lambda v: v.strip().upper() in OMP_POLICIES, WAIT_POLICY
        )
        os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
        user_count = os.environ.get("OMP_NUM_THREADS", "").strip()
        if not user_count:
            os.environ["OMP_NUM_THREADS"] = str(threads)
        return _outer_count(user_count, threads)
    user_count = os.environ.get("OMP_NUM_THREADS", "").strip()
    if user_count:
        return _outer_count(user_count, threads)
    import torch

    # torch already running: its threads are lowered to the usable cores, never raised (a
    # host program that chose fewer, torch.set_num_threads(1), keeps its choice)
    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def _replace_invalid(name: str, valid: Callable[[str], object], ours: str) -> None:
    """``$name`` = ``ours`` with a note when it is set to a value OpenMP refuses."""
    value = os.environ.get(name)
    if value is None or not value.strip() or valid(value):  # empty: as unset
        return
    os.environ[name] = ours
    shown = ascii(value) if len(value) <= 40 else ascii(value[:40]) + "..."
    print(
        f"stylelab: note: {name}={shown} is not a value OpenMP takes; using {ours}", file=sys.stderr
    )


def _outer_count(value: str, fallback: int) -> int:
    """The threads of the outermost level that ``OMP_NUM_THREADS`` gives ("4,2": 4)."""
    return int(value.split(",")[0]) if OMP_COUNTS.fullmatch(value) else fallback

"""glibc malloc settings that keep PyTorch's large CPU tensors' memory between steps.

glibc serves a request above its mmap threshold (128 KiB at first, adapting up to 32 MiB)
with a fresh ``mmap`` and hands it back to the kernel on ``free``. A Gatys step allocates
and frees activations and gradients of 16 to 67 MB at 512 px (64 channels at full
resolution; four times that at 1024 px), so every step faults their pages in again and
the kernel zeroes them: memory-bound work on top of the convolutions.
:func:`configure_allocator` turns that off for this process with ``mallopt``:

- ``M_MMAP_MAX`` = 0: large blocks come from the heap, not from ``mmap``;
- ``M_TRIM_THRESHOLD`` = :data:`TRIM_THRESHOLD`: freed memory stays for the next step.

The price: the process keeps most of the memory it freed until it ends (as with jemalloc
or tcmalloc, which PyTorch's CPU performance guide preloads for the same reason), and a
run of varied sizes can peak higher. So the command line sets it only for the commands
that take gradient steps in their own process (``stylize``, ``compare``, ``demo``,
``train``, ``train-instant``, ``stereo`` by its Gatys method, ``instant --refine``: the
``gradient_steps`` default of their parsers), and each sweep worker;
:func:`stylelab.limits.available_memory_bytes` counts the kept memory as free
(:func:`kept_bytes`). In Python, call it yourself. Only the main thread's heap gains:
other threads' blocks over 64 MiB still come from ``mmap``. Measured with
``benchmarks/bench_allocator.py`` (docs/performance.md). Left alone where the user tuned
malloc (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_MMAP_MAX_``, ``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_TOP_PAD_``, ``MALLOC_ARENA_MAX``, ``glibc.malloc.*`` in ``GLIBC_TUNABLES``, any
``LD_PRELOAD``), with ``STYLELAB_ALLOCATOR=system``, and outside glibc.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Mapping

#: ``STYLELAB_ALLOCATOR=system`` keeps glibc's own settings.
ENV = "STYLELAB_ALLOCATOR"
#: Freed memory at the top of the heap is kept up to this size (the largest int mallopt takes).
TRIM_THRESHOLD = 2**31 - 1

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
# the variables that say the user chose malloc's settings or another allocator
_USER_SETTINGS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_MMAP_MAX_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_ARENA_MAX",
    "LD_PRELOAD",
)
#: Every variable that decides whether :func:`configure_allocator` acts (ours and the user's).
DECIDING_VARIABLES = (*_USER_SETTINGS, "GLIBC_TUNABLES", ENV)
_configured = False


#: glibc's ``struct mallinfo2`` (glibc 2.33 and later): all size_t, in this order.
_MALLINFO2 = (
    "arena",
    "ordblks",
    "smblks",
    "hblks",
    "hblkhd",
    "usmblks",
    "fsmblks",
    "uordblks",
    "fordblks",
    "keepcost",
)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def user_tuned(environ: Mapping[str, str] = os.environ) -> bool:
    """True where malloc's settings are the user's: ``STYLELAB_ALLOCATOR=system``, one of
    glibc's malloc variables, a ``glibc.malloc.`` tunable or ``LD_PRELOAD`` set."""
    if environ.get(ENV, "").strip().lower() == "system":
        return True
    if "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        return True
    return any(environ.get(name, "").strip() for name in _USER_SETTINGS)


def configure_allocator() -> bool:
    """Keep large blocks on the heap and freed memory in the process (module docstring);
    True when glibc took both settings, False where it was left alone."""
    global _configured
    libc = None if user_tuned() else _glibc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _configured = all(mallopt(parameter, value) == 1 for parameter, value in settings)
    return _configured


def heap_info() -> dict[str, int] | None:
    """glibc's ``mallinfo2()`` as a dict (``hblks``: blocks served by mmap, ``fordblks``:
    free bytes in the heaps, ...); None outside glibc 2.33+."""
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    mallinfo2 = libc.mallinfo2
    mallinfo2.argtypes, mallinfo2.restype = (), _MallInfo2
    info = mallinfo2()
    return {name: int(getattr(info, name)) for name in _MALLINFO2}


def kept_bytes() -> int:
    """Freed memory this process keeps for reuse since :func:`configure_allocator` (the
    heaps' free bytes); 0 before it, or where glibc cannot say."""
    info = heap_info() if _configured else None
    return 0 if info is None else info["fordblks"]


__all__ = [
    "DECIDING_VARIABLES",
    "ENV",
    "TRIM_THRESHOLD",
    "configure_allocator",
    "heap_info",
    "kept_bytes",
    "user_tuned",
]

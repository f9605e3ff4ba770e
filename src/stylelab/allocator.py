"""glibc malloc settings that keep PyTorch's large CPU tensors' memory between steps.

glibc serves a request above its mmap threshold (128 KiB at first, adapting up to 32 MiB)
with a fresh ``mmap`` and hands it back to the kernel on ``free``. A Gatys step at 512 px
allocates and frees activations of 16 to 67 MB (64 channels at full resolution, their
gradients), so every step faults all their pages in again and zeroes them: memory-bound
work on top of the convolutions. :func:`configure_allocator` turns that off for this
process with ``mallopt``:

- ``M_MMAP_MAX`` = 0: large blocks come from the heap, not from ``mmap``;
- ``M_TRIM_THRESHOLD`` = :data:`TRIM_THRESHOLD`: freed memory stays for the next step;
- ``M_TOP_PAD`` = :data:`TOP_PAD`: the heap grows in large pieces (address space only;
  pages count once touched).

The price: a process keeps most of the memory it freed until it ends (as with jemalloc or
tcmalloc, which PyTorch's CPU performance guide preloads for the same reason). Measured with
``benchmarks/bench_allocator.py`` (docs/performance.md). The command line (``serve``
included) and each sweep worker call this first thing; in Python, call it yourself. Left
alone where the user tuned malloc (``MALLOC_*_`` variables, ``GLIBC_TUNABLES``,
``LD_PRELOAD``), with ``STYLELAB_ALLOCATOR=system``, and outside glibc (macOS, Windows,
musl).
"""

from __future__ import annotations

import ctypes
import os
import platform

#: ``STYLELAB_ALLOCATOR=system`` keeps glibc's own settings.
ENV = "STYLELAB_ALLOCATOR"
#: Freed memory at the top of the heap is kept up to this size (the largest int mallopt takes).
TRIM_THRESHOLD = 2**31 - 1
#: Extra address space asked for whenever the heap grows.
TOP_PAD = 1 << 26

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4
# what says that the user chose an allocator or its settings
_USER_SETTINGS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_MMAP_MAX_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_ARENA_MAX",
    "GLIBC_TUNABLES",
    "LD_PRELOAD",
)


def user_tuned(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """True where malloc's settings are the user's: ``STYLELAB_ALLOCATOR=system`` or any
    of glibc's ``MALLOC_*`` variables, ``GLIBC_TUNABLES`` or ``LD_PRELOAD`` set."""
    if environ.get(ENV, "").strip().lower() == "system":
        return True
    return any(environ.get(name, "").strip() for name in _USER_SETTINGS)


def configure_allocator() -> bool:
    """Keep large blocks on the heap and freed memory in the process (module docstring);
    True when glibc took the three settings, False where it was left alone."""
    if user_tuned() or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD))
    return all(mallopt(parameter, value) == 1 for parameter, value in settings)


__all__ = ["ENV", "TOP_PAD", "TRIM_THRESHOLD", "configure_allocator", "user_tuned"]

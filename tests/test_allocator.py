"""stylelab.allocator: glibc keeps large blocks on the heap once the CLI has configured it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from stylelab import allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# After the settings (or not), a 64 MiB block is allocated and held; glibc's mallinfo2
# counts the blocks it serves with mmap (hblks). mallinfo2 exists from glibc 2.33.
_PROBE = """
import ctypes, sys
import numpy
from stylelab.allocator import configure_allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = MallInfo2
configured = configure_allocator()
before = mallinfo2().hblks
block = numpy.ones(1 << 23)  # 64 MiB, above glibc's largest mmap threshold (32 MiB)
print(configured, mallinfo2().hblks - before)
"""


def _probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in allocator._USER_SETTINGS}
    clean.pop(allocator.ENV, None)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt and mallinfo2")
def test_large_blocks_come_from_the_heap_once_configured() -> None:
    assert _probe() == ["True", "0"]
    configured, mapped = _probe(**{allocator.ENV: "system"})
    assert configured == "False" and int(mapped) >= 1  # glibc's own way: an mmap


def test_the_users_malloc_settings_are_left_alone() -> None:
    assert not allocator.user_tuned({})
    assert not allocator.user_tuned({allocator.ENV: "stylelab", "LD_PRELOAD": " "})
    assert allocator.user_tuned({allocator.ENV: " System "})
    assert allocator.user_tuned({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"})
    assert allocator.user_tuned({"MALLOC_ARENA_MAX": "2"})
    assert allocator.user_tuned({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1"})


def test_the_command_line_configures_the_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    from stylelab import cli

    calls: list[str] = []
    monkeypatch.setattr(cli, "configure_allocator", lambda: calls.append("configured"))
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert calls == ["configured"]

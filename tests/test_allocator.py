"""stylelab.allocator: glibc keeps large blocks on the heap once configured, and the
memory checks count what it keeps as free."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stylelab import allocator, limits

MALLINFO2 = allocator.heap_info() is not None  # glibc 2.33 or later

# After the settings (or not), a 64 MiB block is allocated, counted and freed: glibc's
# hblks counts the blocks it serves with mmap; kept_bytes what the heap keeps once freed.
_PROBE = """
import numpy
from stylelab.allocator import configure_allocator, heap_info, kept_bytes

configured = configure_allocator()
before = heap_info()["hblks"]
block = numpy.ones(1 << 23)  # 64 MiB, above glibc's largest mmap threshold (32 MiB)
mapped = heap_info()["hblks"] - before
del block
print(configured, mapped, kept_bytes() >= 1 << 26)
"""


def _probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in allocator.DECIDING_VARIABLES}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.skipif(not MALLINFO2, reason="glibc 2.33+ (mallopt, mallinfo2)")
def test_large_blocks_come_from_the_heap_and_stay_once_configured() -> None:
    assert _probe() == ["True", "0", "True"]
    # glibc's own way: an mmap, handed back on free
    assert _probe(**{allocator.ENV: "system"}) == ["False", "1", "False"]


def test_the_users_malloc_settings_are_left_alone() -> None:
    assert not allocator.user_tuned({})
    assert not allocator.user_tuned({allocator.ENV: "stylelab", "LD_PRELOAD": " "})
    assert not allocator.user_tuned({"GLIBC_TUNABLES": "glibc.pthread.rseq=0"})
    assert allocator.user_tuned({allocator.ENV: " System "})
    assert allocator.user_tuned({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"})
    assert allocator.user_tuned({"MALLOC_ARENA_MAX": "2"})
    assert allocator.user_tuned({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1"})


def test_kept_memory_counts_as_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "_meminfo_available", lambda: 1000)
    monkeypatch.setattr(limits, "_cgroup_room", lambda: None)
    monkeypatch.setattr(limits, "kept_bytes", lambda: 0)
    assert limits.available_memory_bytes() == 1000
    monkeypatch.setattr(limits, "kept_bytes", lambda: 234)
    assert limits.available_memory_bytes() == 1234
    monkeypatch.setattr(limits, "_cgroup_room", lambda: 500)  # the process's own is in it
    assert limits.available_memory_bytes() == 734


def test_commands_with_gradient_steps_configure_the_allocator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stylelab import cli

    calls: list[str] = []
    monkeypatch.setattr(cli, "configure_allocator", lambda: calls.append("configured"))
    missing = str(tmp_path / "missing.png")
    out = ["-o", str(tmp_path / "out.png")]
    assert cli.main(["stylize", missing, missing, *out]) == 2  # bad input, after parsing
    assert cli.main(["instant", missing, missing, "--refine", "3", *out]) == 2
    assert cli.main(["stereo", missing, missing, missing, *out]) == 2  # gatys: both views
    assert calls == ["configured"] * 3
    # one pass each: glibc as it is
    assert cli.main(["instant", missing, missing, *out]) == 2
    assert cli.main(["stereo", missing, missing, missing, "--method", "instant", *out]) == 2
    assert cli.main(["evaluate", missing, missing, missing]) == 2
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert calls == ["configured"] * 3

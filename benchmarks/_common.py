"""Shared helpers of the benchmark scripts: inputs, GEMM peak, interleaving, tables.

Benchmarks may import pastiche (the peer we compare with); ``src/stylelab`` never does.
Run them with the worktree's sources first on the path, e.g.
``PYTHONPATH=src python benchmarks/bench_step.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

EVAL_IMAGES = Path(os.environ.get("STYLELAB_EVAL_IMAGES", "/work/shared/eval-images"))
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu4_2",)
#: The public-domain training paintings (never the judging ones in EVAL_IMAGES).
TRAIN_STYLES = Path(__file__).resolve().parents[2] / "shared" / "train-styles"


def choice_inputs(doc: str) -> tuple[argparse.Namespace, list[Path]]:
    """The options (--workdir, made here; --styles) and the paintings of a script that
    chooses a setting on pairs that do not judge; no paintings: [] (the script skips)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument(
        "--styles", type=Path, default=TRAIN_STYLES, help=f"default: {TRAIN_STYLES}"
    )
    options = parser.parse_args()
    paintings = sorted(p for p in options.styles.glob("*") if p.suffix.lower() in (".jpg", ".png"))
    if not paintings:
        print(f"skipped: no paintings in {options.styles}", file=sys.stderr)
    else:
        options.workdir.mkdir(parents=True, exist_ok=True)
    return options, paintings


def inputs(workdir: Path | None = None) -> tuple[Path, Path]:
    """(content, style) as PNG/JPEG files both tools can read: example:chelsea, Starry Night.

    The style falls back to example:strokes when the evaluation paintings are absent.
    """
    from stylelab.images import load_image, save_image

    folder = workdir or Path(tempfile.mkdtemp(prefix="stylelab-bench-"))
    content = folder / "content.png"
    if not content.exists():
        save_image(load_image("example:chelsea"), content)
    style = EVAL_IMAGES / "starry_night.jpg"
    if not style.exists():
        style = folder / "style.png"
        save_image(load_image("example:strokes"), style)
    return content, style


def gemm_peak(
    dtype: torch.dtype, device: torch.device | None = None, max_n: int = 2048, repeats: int = 5
) -> tuple[float, int]:
    """Best GFLOP/s of an n x n x n matrix product (2 n^3 flops) in ``dtype`` on ``device``.

    n doubles from 256 up to ``max_n`` while one product takes under 0.25 s, so a CPU that
    only emulates bf16 (100x slower) is measured in seconds, not minutes. Returns (GFLOP/s, n).
    """
    n = 256
    while True:
        a = torch.randn(n, n, device=device).to(dtype)
        start = time.perf_counter()
        a @ a
        sync(device)
        if n >= max_n or time.perf_counter() - start > 0.25:
            break
        n *= 2
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ a
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9, n


def sync(device: torch.device | None) -> None:
    """Wait for queued CUDA work, so wall-clock timings include it."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def interleave(contenders: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Call each contender in turn (A, B, A, B, ...) ``repeats`` times; their timings."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            times[name].append(run())
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def cpu_model() -> str:
    """The CPU's model name, family and model numbers, and its bf16 features (Linux
    ``/proc/cpuinfo``): what tells a Zen 3 from a Zen 4, or a Xeon with AMX."""
    info: dict[str, str] = {}
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "flags":
                flags = set(value.split())
            elif key and key not in info:
                info[key] = value.strip()
    except OSError:
        return platform.processor() or platform.machine()
    bf16_flags = [f for f in ("avx512_bf16", "amx_bf16") if f in flags] or ["none"]
    return (
        f"{info.get('model name', '?')}, family {info.get('cpu family', '?')} model "
        f"{info.get('model', '?')}, {os.cpu_count()} CPUs; bf16 flags: {', '.join(bf16_flags)}"
    )


def machine() -> str:
    """:func:`cpu_model`, torch's version and threads, and the load average now."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {load}"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


#: A busy process ends by itself after this many seconds, even if the benchmark dies.
LOAD_MAX_SECONDS = 3600
BUSY_LOOP = (
    "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
)


@contextlib.contextmanager
def busy_load(count: int, max_seconds: float = LOAD_MAX_SECONDS) -> Iterator[None]:
    """``count`` busy processes (a pure-Python spin loop each, one core's worth of load)
    beside the block; each ends by itself after ``max_seconds``, and all are stopped (and
    waited for) when the block ends. ``count`` 0: nothing."""
    code = BUSY_LOOP.format(seconds=float(max_seconds))
    children = [
        subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)
        for _ in range(max(0, count))
    ]
    try:
        if children:
            time.sleep(0.5)  # let them start spinning
        yield
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def quiet_and_loaded(
    contenders: dict[str, Callable[[], float]], repeats: int, load: int
) -> dict[tuple[str, str], list[float]]:
    """Each contender timed with no added load and beside ``load`` busy processes,
    interleaved (quiet round, loaded round, ...), so both see the same machine:
    {(contender, "quiet" | "load N"): timings}."""
    loaded = f"load {load}"
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeats):
        for name, run in contenders.items():
            times.setdefault((name, "quiet"), []).append(run())
        if load:
            with busy_load(load):
                for name, run in contenders.items():
                    times.setdefault((name, loaded), []).append(run())
    return times

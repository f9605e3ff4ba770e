"""Seconds per L-BFGS iteration: stylelab against pastiche on the same objective.

Same network (VGG19 with the Caffe weights, cut after relu5_1), same layers (content
relu4_2, style relu1_1..relu5_1), L-BFGS with one evaluation per step, same image sizes
and the same number of steps. pastiche runs its own code (``pastiche.pastiche.PasticheArtist``
and its ``draw()``); stylelab runs its hot loop (``stylelab.optim.optimize`` on a
``GatysObjective``) with ``--precision auto`` and, where auto is not fp32, also fp32.
Contenders alternate (A, B, A, B, ...) so a shared machine slows both alike; the table
gives medians. Also: achieved GFLOP/s (flops of one iteration, counted by
``torch.utils.flop_counter``, over the median time) against the GEMM peak measured here.

Both contenders run in this one process with the threads the stylelab CLI sets
(``stylelab.threads.configure_torch_threads``: one per usable core, OpenMP's passive
waiting), so on shared cores neither spins through the other work's time slices.

``--quality`` adds the second figure, time to pastiche's quality: ``bench_quality.py``'s
protocol (each tool's own defaults as a command-line program, pastiche first; the
seconds each needs to reach pastiche's final style distance under ``stylelab.evaluate``)
at ``--quality-size`` px (default 512, both tools' default size) with
``--quality-pastiche-steps`` pastiche steps (default: pastiche's own, 1000).

    PYTHONPATH=src python benchmarks/bench_step.py            # 256, 512, 1024 px
    PYTHONPATH=src python benchmarks/bench_step.py --quick    # 128, 256 px, fewer steps
    PYTHONPATH=src python benchmarks/bench_step.py --sizes 256,512 --quality
    PYTHONPATH=src python benchmarks/bench_step.py --sizes 256 --quality --quality-size 256 \
        --quality-pastiche-steps 200   # the quick variant, about 3 minutes
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from stylelab.threads import configure_torch_threads

THREADS = configure_torch_threads()  # before torch starts: it reads OpenMP's settings once

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CONTENT_LAYERS,
    STYLE_LAYERS,
    gemm_peak,
    inputs,
    interleave,
    machine,
    median,
    sync,
    table,
)

from stylelab.config import StylizeConfig  # noqa: E402
from stylelab.images import load_image, resize_long_edge  # noqa: E402
from stylelab.objective import build_objective  # noqa: E402
from stylelab.optim import make_optimizer, optimize  # noqa: E402
from stylelab.precision import cpu_has_native_bf16, resolve_precision  # noqa: E402

HEADERS = [
    "px",
    "contender",
    "s/iteration",
    "speed-up vs pastiche",
    "GFLOP/it",
    "GFLOP/s",
    "% own-precision peak",
    "% bf16 peak",
]


def stylelab_contender(
    content: Path, style: Path, size: int, precision: str, steps: int, device: torch.device
) -> tuple[Callable[[], float], float]:
    """A timed run of ``steps`` iterations, and the flops of one iteration."""
    config = StylizeConfig(size=size, precision=precision, multiscale=False)
    network = build_objective(config, backbone="vgg19", weights="pretrained", device=device)
    image_c = resize_long_edge(load_image(content), size).to(device)
    image_s = resize_long_edge(load_image(style), size).to(device)
    objective = network.objective(image_c, [image_s], [1.0])
    image = image_c.clone().requires_grad_(True)
    optimizer = make_optimizer("lbfgs", [image])
    optimize(image, objective, optimizer, 1)  # warm-up
    with FlopCounterMode(display=False) as counter:
        total, _ = objective(image)
        total.backward()
    image.grad = None

    def run() -> float:
        start = time.perf_counter()
        optimize(image, objective, optimizer, steps)
        sync(device)
        return (time.perf_counter() - start) / steps

    return run, float(counter.get_total_flops())


def pastiche_contender(
    content: Path, style: Path, size: int, steps: int, device: torch.device
) -> Callable[[], float]:
    from pastiche.pastiche import PasticheArtist

    layer = {"relu4_2": "block4_relu2"} | {f"relu{i}_1": f"block{i}_relu1" for i in range(1, 6)}
    artist = PasticheArtist(
        str(content),
        [str(style)],
        device=str(device),
        size=size,
        content_layers=[layer[n] for n in CONTENT_LAYERS],
        style_layers=[layer[n] for n in STYLE_LAYERS],
    )
    artist.draw()  # warm-up

    def run() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            artist.draw()
        sync(device)
        return (time.perf_counter() - start) / steps

    return run


def step_summary(rows: list[list], auto: str) -> list[str]:
    """One line per size: stylelab's ``auto`` precision per step against pastiche."""
    lines = []
    for size in dict.fromkeys(row[0] for row in rows):
        ours = next(r for r in rows if r[0] == size and r[1] == f"stylelab {auto}")
        lines.append(
            f"STEP {size} px: stylelab {auto} {ours[2]:.3g} s/iteration, "
            f"{ours[3]:.2f}x pastiche 1.6.0 per step (target >= 2.5x)"
        )
    return lines


def quality_summary(size: int, pastiche_steps: int | None, every: int) -> str:
    """bench_quality's protocol at ``size`` px; one line with the time-to-quality ratio."""
    import bench_quality as Q

    work = Path(tempfile.mkdtemp(prefix="stylelab-step-quality-"))
    content, style = inputs(work)
    steps = "its default" if pastiche_steps is None else pastiche_steps
    print(f"time to quality at {size} px (pastiche {steps} steps), images in {work}")
    theirs = Q.run_pastiche(content, style, size, pastiche_steps, every, work)
    print(f"pastiche done, load average {os.getloadavg()}")
    ours = Q.run_stylelab(content, style, size, every, work, "stylelab")
    print(f"stylelab done, load average {os.getloadavg()}")
    target = theirs[-1]["style"]
    hit = Q.first_reaching(ours, target)
    if hit is None:
        return f"QUALITY {size} px: stylelab never reached pastiche's final style {target:.4f}"
    content_change = 100 * (hit["content"] / theirs[-1]["content"] - 1)
    return (
        f"QUALITY {size} px, pastiche {steps} steps: pastiche's final style distance "
        f"{target:.4f} after "
        f"{theirs[-1]['seconds']:.1f} s; stylelab there after {hit['seconds']:.1f} s: "
        f"{theirs[-1]['seconds'] / hit['seconds']:.2f}x sooner (target >= 5x), content "
        f"{content_change:+.1f} % against pastiche's final"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="128 and 256 px, few steps")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--steps", type=int, help="iterations per timed run")
    parser.add_argument("--repeats", type=int, help="timed runs per contender (interleaved)")
    parser.add_argument(
        "--precisions", default="auto,fp32", help="stylelab rows (default: auto,fp32)"
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda (default: cpu)")
    parser.add_argument("--quality", action="store_true", help="also time to pastiche's quality")
    parser.add_argument(
        "--quality-size", type=int, default=512, help="px (default 512, both tools' default)"
    )
    parser.add_argument(
        "--quality-pastiche-steps",
        type=int,
        default=None,
        help="pastiche's steps (default: its own, 1000; --quality-size 256 "
        "--quality-pastiche-steps 200 is the quick variant)",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    sizes = args.sizes or ([128, 256] if args.quick else [256, 512, 1024])
    steps = args.steps or (2 if args.quick else 5)
    repeats = args.repeats or (2 if args.quick else 3)
    wanted = args.precisions.split(",")
    precisions = list(dict.fromkeys(resolve_precision(p, device) for p in wanted))
    content, style = inputs()
    print(f"machine: {machine()}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}")
    measured = {
        "fp32": gemm_peak(torch.float32, device),
        "bf16": gemm_peak(torch.bfloat16, device),
    }
    if device.type == "cuda":
        measured["fp16"] = gemm_peak(torch.float16, device)
    peaks = {name: value for name, (value, _) in measured.items()}
    print(
        "GEMM peak (best of 5): "
        + ", ".join(f"{k} {v:.1f} GFLOP/s at n={n}" for k, (v, n) in measured.items())
        + f"; native CPU bf16: {cpu_has_native_bf16()}"
    )
    print(
        f"stylelab auto precision here: {resolve_precision('auto', device)}; "
        f"{steps} steps per timed run, {repeats} interleaved runs each\n"
    )
    rows = []
    for size in sizes:
        contenders: dict[str, Callable[[], float]] = {}
        flops: dict[str, float] = {}
        for precision in precisions:
            run, flops[precision] = stylelab_contender(
                content, style, size, precision, steps, device
            )
            contenders[f"stylelab {precision}"] = run
        contenders["pastiche"] = pastiche_contender(content, style, size, steps, device)
        times = interleave(contenders, repeats)
        base = median(times["pastiche"])
        for name, values in times.items():
            seconds = median(values)
            precision = name.split()[-1] if name.startswith("stylelab") else "fp32"
            gflop = flops.get(precision, flops.get("fp32", next(iter(flops.values())))) / 1e9
            achieved = gflop / seconds
            rows.append(
                [
                    size,
                    name,
                    seconds,
                    base / seconds,
                    gflop,
                    achieved,
                    f"{100 * achieved / peaks[precision]:.0f}%",
                    f"{100 * achieved / peaks['bf16']:.0f}%",
                ]
            )
        print(
            table(
                HEADERS,
                rows[-len(times) :],
            )
        )
        print(f"load average after {size} px: {machine().rsplit('load average ', 1)[1]}\n")
    print("all sizes")
    print(
        table(
            HEADERS,
            rows,
        )
    )
    auto = resolve_precision("auto", device)
    summary = step_summary(rows, auto) if f"stylelab {auto}" in {r[1] for r in rows} else []
    if args.quality:
        summary.append(quality_summary(args.quality_size, args.quality_pastiche_steps, every=10))
    print("\n" + "\n".join(summary))
    print(f"\nmachine at the end: {machine()}")


if __name__ == "__main__":
    main()

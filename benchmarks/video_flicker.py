"""Flicker before and after ``--deflicker``, on a synthetic clip, through the command line.

A 3-second clip (a moving square over a still gradient with Gaussian pixel noise of std
0.03, AAC sound) is stylized by ``stylelab video MODEL clip.mp4 -o out.mp4 --deflicker A``
for several A; the table gives each run's flicker figures from its JSON record
(flicker_ratio = mean |y_t - y_{t-1}| / mean |x_t - x_{t-1}|). The figure stacks one row of
pixels (the middle one) over time, top to bottom, for the input and each output: flicker is
horizontal streaking, the moving square a diagonal band that must stay sharp.

    PYTHONPATH=src python benchmarks/video_flicker.py --model m.safetensors \\
        --figure docs/video_flicker.jpg
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
from clips import synthetic_clip
from PIL import Image, ImageDraw

STRENGTHS = ("0", "0.5", "0.8", "1")


def middle_row_over_time(path: Path) -> np.ndarray:
    """(frames, width, 3) uint8: the middle row of every frame."""
    rows = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            picture = frame.to_ndarray(format="rgb24")
            rows.append(picture[picture.shape[0] // 2])
    return np.stack(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a .safetensors model or .onnx export")
    parser.add_argument("--style", default="0")
    parser.add_argument("--figure", default=None, help="write the x-t slices here (.jpg)")
    parser.add_argument("--size", type=int, default=256, help="clip width (default: 256)")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent / "src"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = synthetic_clip(
            folder / "clip.mp4",
            seconds=3.0,
            fps=24,
            width=args.size,
            height=args.size * 3 // 4,
            audio=True,
            noise=0.03,
        )
        slices = [("input", middle_row_over_time(clip))]
        print(f"model {args.model}, style {args.style}; clip {args.size} px wide, 72 frames")
        print("| --deflicker | flicker in | flicker out | ratio | frames/s |")
        print("| --- | --- | --- | --- | --- |")
        for strength in STRENGTHS:
            out = folder / f"out_{strength}.mp4"
            command = [
                sys.executable,
                "-m",
                "stylelab.cli",
                "video",
                args.model,
                str(clip),
                "-o",
                str(out),
                "--style",
                args.style,
                "--deflicker",
                strength,
                "--quiet",
            ]
            subprocess.run(command, check=True, env=env)
            record = json.loads(out.with_suffix(".json").read_text())
            print(
                f"| {strength} | {record['flicker_input']:.4f} | {record['flicker_output']:.4f} "
                f"| {record['flicker_ratio']:.2f} | {record['frames_per_s']:.1f} |"
            )
            if strength in ("0", "0.8"):
                slices.append((f"--deflicker {strength}", middle_row_over_time(out)))
        if args.figure:
            write_figure(slices, Path(args.figure))
            print(f"wrote {args.figure}")
    return 0


def write_figure(slices: list[tuple[str, np.ndarray]], path: Path) -> None:
    """The x-t slices side by side, each scaled 2x, with a caption strip."""
    gap, caption = 8, 18
    pictures = [
        Image.fromarray(s).resize((s.shape[1] * 2, s.shape[0] * 2), Image.NEAREST)
        for _, s in slices
    ]
    width = sum(p.width for p in pictures) + gap * (len(pictures) - 1)
    sheet = Image.new("RGB", (width, pictures[0].height + caption), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for (label, _), picture in zip(slices, pictures, strict=True):
        sheet.paste(picture, (x, caption))
        draw.text((x + 2, 3), label, fill="black")
        x += picture.width + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=90)


if __name__ == "__main__":
    raise SystemExit(main())

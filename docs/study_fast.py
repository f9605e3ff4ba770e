"""SWAG for fast networks (the section of docs/study.md): does softmax smoothing of a
random ResNet-50 loss network help a feed-forward model, as Wang, Li & Vasconcelos
(CVPR 2021) claim?

    OMP_NUM_THREADS=1 PYTHONPATH=src python docs/study_fast.py \
        --paintings ../shared/train-styles --work runs/study_fast --steps 200 --train-size 96

Trains three compact three-style models (three paintings of ../shared/train-styles; the
judging paintings of ../shared/eval-images are never trained on) with the same budget and
seed, whose loss networks differ: r-VGG19, r-ResNet-50, r-ResNet-50 + softmax (random
weights, stylelab's defaults otherwise). The training photos are the built-in ones
without astronaut, chelsea and coffee, which are held out: each model stylizes those
three photos in each of the three styles at 256 px (9 units), and both yardsticks score
every result against its photo and painting. Writes docs/study_fast.md (tables with
bootstrap intervals over the 9 units, win counts, the two comparisons),
docs/study_fast_scores.csv and docs/study_fast.jpg. Models already in --work are reused
(only with the same paintings, steps and size: --work/settings.json).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from stylelab.evaluate import evaluate
from stylelab.examples import training_photos
from stylelab.experiments.study import (
    bootstrap_indices,
    config_label,
    grouped_tables,
    same_settings,
)
from stylelab.fast import load
from stylelab.fast.config import TrainConfig, default_loss
from stylelab.fast.training import train
from stylelab.images import save_image
from stylelab.pixels import labelled_sheet, load_array

DOCS = Path(__file__).resolve().parent
CONFIGS = (("vgg19", "none"), ("resnet50", "none"), ("resnet50", "softmax"))
HELD_OUT = ("astronaut", "chelsea", "coffee")
PAINTINGS = ("udnie", "great_wave", "water_lilies")
YARDSTICKS = {"vgg": "VGG19 Gram", "texture": "texture (no CNN)"}
SIZE = 256


def training_folder(work: Path) -> Path:
    folder = work / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in training_photos(exclude=HELD_OUT):
        image.save(folder / f"{name}.png")
    return folder


def train_models(work: Path, paintings: list[str], steps: int, train_size: int) -> dict:
    """One model per loss configuration; the minutes each took."""
    data = training_folder(work)
    minutes = {}
    for backbone, smoothing in CONFIGS:
        model = work / f"{backbone}_{smoothing}.safetensors"
        if model.exists():
            continue
        loss = default_loss().replace(
            backbone=backbone, weights="random", smoothing=smoothing, seed=0, precision="fp32"
        )
        config = TrainConfig(
            styles=tuple(paintings),
            data=str(data),
            train_size=train_size,
            batch_size=4,
            steps=steps,
            loss=loss,
        )
        started = time.perf_counter()
        train(config, model, progress=True)
        minutes[(backbone, smoothing)] = (time.perf_counter() - started) / 60
        print(f"{config_label(backbone, smoothing)}: {minutes[(backbone, smoothing)]:.1f} min")
    return minutes


def score(work: Path, paintings: list[str]) -> list[dict]:
    rows = []
    for backbone, smoothing in CONFIGS:
        model = load(work / f"{backbone}_{smoothing}.safetensors", device="cpu", precision="fp32")
        for photo in HELD_OUT:
            for index, painting in enumerate(paintings):
                out = work / "outputs" / f"{backbone}_{smoothing}_{photo}_{index}.png"
                out.parent.mkdir(parents=True, exist_ok=True)
                image = model.stylize(f"example:{photo}", index, size=SIZE)
                save_image(image, out)
                row = {"backbone": backbone, "smoothing": smoothing, "photo": photo}
                row["painting"] = Path(painting).stem
                for yardstick in YARDSTICKS:
                    scores = evaluate(out, f"example:{photo}", painting, SIZE, yardstick=yardstick)
                    row[f"{yardstick}_style"] = scores["style_distance"]
                    row[f"{yardstick}_content"] = scores["content_distance"]
                row["output"] = str(out)
                rows.append(row)
    return rows


def tables(rows: list[dict], steps: int, train_size: int) -> str:
    units = len(HELD_OUT) * len(PAINTINGS)
    draws = bootstrap_indices(units)
    text = [
        f"{len(CONFIGS)} compact models, {steps} steps at {train_size} px, batch 4, seed 0; "
        f"{units} units (3 held-out photos x 3 paintings) at {SIZE} px. Style distance: mean "
        "[95 % bootstrap interval over the units]; wins: units where the model has the "
        "lowest style distance of the three; content distance: mean.\n\n"
    ]
    groups = {
        config_label(b, s): [r for r in rows if (r["backbone"], r["smoothing"]) == (b, s)]
        for b, s in CONFIGS
    }
    labels = [config_label(b, s) for b, s in CONFIGS]
    pairs = [(labels[0], labels[1]), (labels[2], labels[1])]
    text.append(grouped_tables("loss network", groups, pairs, YARDSTICKS, draws))
    return "".join(text)


def sheet(rows: list[dict], paintings: list[str]) -> None:
    """One row per held-out photo (with its painting on the diagonal), one column per model."""
    lines = []
    for index, photo in enumerate(HELD_OUT):
        painting = paintings[index]
        panels = [
            (photo, load_array(f"example:{photo}")),
            (Path(painting).stem, load_array(painting)),
        ]
        for backbone, smoothing in CONFIGS:
            out = next(
                r["output"]
                for r in rows
                if (r["backbone"], r["smoothing"], r["photo"]) == (backbone, smoothing, photo)
                and r["painting"] == Path(painting).stem
            )
            panels.append((config_label(backbone, smoothing), load_array(out)))
        lines.append(panels)
    labelled_sheet(lines, height=200).convert("RGB").save(DOCS / "study_fast.jpg", quality=88)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paintings", default="../shared/train-styles")
    parser.add_argument("--work", default="runs/study_fast")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--train-size", type=int, default=96)
    args = parser.parse_args()
    work = Path(args.work)
    paintings = [str(Path(args.paintings) / f"{name}.jpg") for name in PAINTINGS]
    same_settings(work, {"paintings": paintings, "steps": args.steps, "size": args.train_size})
    minutes = train_models(work, paintings, args.steps, args.train_size)
    rows = score(work, paintings)
    with open(DOCS / "study_fast_scores.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = tables(rows, args.steps, args.train_size)
    for (backbone, smoothing), value in minutes.items():
        text += f"\ntraining {config_label(backbone, smoothing)}: {value:.1f} min"
    (DOCS / "study_fast.md").write_text(text + "\n")
    sheet(rows, paintings)
    print(text)


if __name__ == "__main__":
    main()

"""Two instant-style designs at the same small training budget, scored on held-out pairs.

Trains a decoder of ``--design`` (adain3: VGG19 to relu3_1; adain4: to relu4_1) for
``--steps`` steps on the built-in photos (astronaut held out) and three of the training
paintings plus procedural ones, holding out two paintings of /work/shared/train-styles
(never /work/shared/eval-images); then scores astronaut x each held-out painting at
512 px with stylelab's evaluate (VGG and texture yardsticks) and times 1024 px runs.

    python benchmarks/instant_candidates.py --design adain3 --steps 150 --out /tmp/cand
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from stylelab.adain.modelfile import load_decoder
from stylelab.adain.trainconfig import InstantTrainConfig
from stylelab.adain.training import train_instant
from stylelab.adain.transfer import instant
from stylelab.evaluate import evaluate
from stylelab.images import save_image

PAINTINGS = Path("/work/shared/train-styles")
TRAIN = ("great_wave.jpg", "mona_lisa.png", "sakai_hoitsu_flowers.jpg")
HELD_OUT = ("udnie.jpg", "water_lilies.jpg")
PHOTO = "example:astronaut"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--design", required=True)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--out", default="/tmp/instant-candidates")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    styles = tuple(str(PAINTINGS / n) for n in TRAIN) + ("example:strokes", "example:mosaic")
    config = InstantTrainConfig(
        styles=styles,
        design=args.design,
        steps=args.steps,
        crop=96,
        batch_size=4,
        procedural=2,
        content_crops=96,
        style_variants=96,
        checkpoint_every=10_000,
    )
    model_path = out / f"{args.design}.safetensors"
    result = train_instant(config, model_path)
    model = load_decoder(model_path)
    scores = []
    for name in HELD_OUT:
        style = str(PAINTINGS / name)
        image = instant(PHOTO, style, model=model, size=512)
        target = out / f"{args.design}_{Path(name).stem}.png"
        save_image(image.tensor, target)
        vgg = evaluate(target, PHOTO, style)
        texture = evaluate(target, PHOTO, style, yardstick="texture")
        scores.append(
            {
                "style": name,
                "style_vgg": vgg["style_distance"],
                "content_vgg": vgg["content_distance"],
                "style_texture": texture["style_distance"],
                "content_texture": texture["content_distance"],
            }
        )
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        instant(PHOTO, str(PAINTINGS / HELD_OUT[0]), model=model, size=1024)
        timings.append(time.perf_counter() - began)
    record = {
        "design": args.design,
        "steps": result.step,
        "training_s": result.summary["training_time_s"],
        "final_losses": result.summary["final_losses"],
        "scores": scores,
        "mean": {k: sum(s[k] for s in scores) / len(scores) for k in scores[0] if k != "style"},
        "seconds_1024": min(timings),
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(record, indent=2))
    (out / f"{args.design}.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()

"""Train the shipped instant model from src/stylelab/adain/recipe.toml.

    PYTHONPATH=src nice -n 10 python scripts/train_instant_model.py [--work /tmp/instant-ship]
        [--max-minutes M] [--resume]

Trains in ``--work`` (records and checkpoints stay out of the package), measures the
model on the held-out built-in photo (astronaut) with every training painting under both
yardsticks of ``stylelab evaluate``, and writes the model with its card (data, steps,
minutes, machine, measured quality) to src/stylelab/adain/adain_default.safetensors.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import tomllib
import torch

from stylelab.adain.modelfile import SHIPPED, load_decoder, save_decoder
from stylelab.adain.trainconfig import InstantTrainConfig
from stylelab.adain.training import train_instant
from stylelab.adain.transfer import instant
from stylelab.cli.instant import expand_styles
from stylelab.evaluate import evaluate
from stylelab.images import save_image

RECIPE = Path(__file__).resolve().parents[1] / "src/stylelab/adain/recipe.toml"
HELD_OUT_PHOTO = "example:astronaut"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default="/tmp/instant-ship")
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    recipe = tomllib.loads(RECIPE.read_text())
    data, train = recipe["data"], dict(recipe["train"])
    if args.max_minutes is not None:
        train["max_minutes"] = args.max_minutes
    styles = tuple(expand_styles(list(data["styles"])))
    config = InstantTrainConfig(
        styles=styles, data=data["photos"], procedural=data["procedural"], **train
    )
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model_path = work / "adain_default.safetensors"
    began = time.time()
    result = train_instant(config, model_path, resume=args.resume, progress=True)
    model = load_decoder(model_path)
    quality = measure(model, styles, work)
    card = {
        "method": "AdaIN (Huang & Belongie 2017), decoder " + config.design,
        "recipe": "src/stylelab/adain/recipe.toml (scripts/train_instant_model.py)",
        "data": {
            "photos": "scikit-image built-in photos (stylelab.examples), astronaut held out",
            "paintings": [Path(s).name for s in styles],
            "procedural_paintings": config.procedural,
            "content_crops": config.content_crops,
            "style_variants": config.style_variants,
        },
        "steps": result.step,
        "status": result.status,
        "training_minutes": round(result.summary["training_time_s"] / 60, 1),
        "cache_minutes": round(result.summary["cache_time_s"] / 60, 1),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        "threads (2-core Xeon, Sapphire Rapids class, AMX bf16; shared with other work)",
        "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "started_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime(began)),
        "quality_held_out_photo": quality,
    }
    training = {**config.to_dict(), "steps_done": result.step}
    save_decoder(model.decoder, SHIPPED, training=training, card=card)
    print(f"wrote {SHIPPED} ({SHIPPED.stat().st_size / 1e6:.2f} MB): {card}")


def measure(model: object, styles: tuple[str, ...], work: Path) -> dict[str, float]:
    """Mean style/content distance of astronaut (held out) x each training painting, 512 px:
    the network alone (no palette, no band contrast), as the card says."""
    keys = ("style_vgg", "content_vgg", "style_texture", "content_texture")
    totals = dict.fromkeys(keys, 0.0)
    for style in styles:
        out = work / f"astronaut_{Path(style).stem}.png"
        alone = {"palette": 0.0, "band_contrast": 0.0}
        save_image(instant(HELD_OUT_PHOTO, style, model=model, size=512, **alone).tensor, out)
        vgg = evaluate(out, HELD_OUT_PHOTO, style)
        texture = evaluate(out, HELD_OUT_PHOTO, style, yardstick="texture")
        totals["style_vgg"] += vgg["style_distance"] / len(styles)
        totals["content_vgg"] += vgg["content_distance"] / len(styles)
        totals["style_texture"] += texture["style_distance"] / len(styles)
        totals["content_texture"] += texture["content_distance"] / len(styles)
    return {k: round(v, 4) for k, v in totals.items()}


if __name__ == "__main__":
    main()

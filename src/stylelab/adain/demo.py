"""The instant demo (``make demo``): a photo and a painting the shipped model never saw,
stylized in one forward pass, then refined by a few steps of the Gatys objective.

Photo: scikit-image's astronaut (held out of the model's training, ``recipe.toml``).
Painting: brush strokes drawn by :func:`stylelab.examples.brush_strokes` from seed
``PAINTING_SEED``, outside the seeds of every training painting (``example:strokes`` is
seed 1889, the recipe's procedural paintings seeds 100 and up, see
:func:`stylelab.adain.training.procedural_paintings`), so any fresh machine draws it.

Checks, with :func:`stylelab.evaluate` at the demo's size (VGG yardstick): the refined
image keeps the photo (content distance <= ``MAX_CONTENT``) and is at least twice as close
to the painting as the photo itself (style distance <= ``STYLE_FRACTION`` x the photo's).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

PHOTO = "example:astronaut"
PAINTING_SEED = 7
MAX_CONTENT = 1.0
STYLE_FRACTION = 0.5
SIZE = 256
STEPS = 15


def demo_painting(size: int = 512) -> Any:
    """The demo's painting as a PIL image: brush strokes from ``PAINTING_SEED``."""
    from stylelab.examples import brush_strokes

    return brush_strokes(size, seed=PAINTING_SEED)


def run_demo(sheet: Path, size: int = SIZE, steps: int = STEPS, progress: bool = False) -> dict:
    """Instant, then ``steps`` of refinement, at ``size`` px; write the labelled sheet
    (photo | painting | instant | refined) to ``sheet``; return the figures and checks."""
    from stylelab.adain.transfer import instant, refine_from
    from stylelab.evaluate import evaluate
    from stylelab.images import load_image, pil_to_tensor, resize_long_edge, save_image

    started = time.perf_counter()
    photo = resize_long_edge(load_image(PHOTO), size)
    painting = pil_to_tensor(demo_painting())
    first = instant(photo, painting, size=size, runtime="torch")  # refine needs torch anyway
    refined = refine_from(first, photo, [painting], first.config, steps, progress=progress)
    refine_seconds = refined.info["wall_time_s"]
    scores = {
        name: evaluate(image, photo, painting, size=size)
        for name, image in (
            ("photo", photo),
            ("instant", first.tensor),
            ("refined", refined.tensor),
        )
    }
    style = {k: v["style_distance"] for k, v in scores.items()}
    content = {k: v["content_distance"] for k, v in scores.items()}
    figures = {
        "photo": PHOTO,
        "painting": f"brush_strokes(seed={PAINTING_SEED})",
        "size": size,
        "refine_steps": int(refined.info.get("iterations", steps)),  # fewer when stopped
        "status": refined.status,
        "instant_s": first.info["seconds"],
        "refine_s": refine_seconds,
        "style_distance": style,
        "content_distance": content,
        "checks": {
            f"content distance <= {MAX_CONTENT:g}": content["refined"] <= MAX_CONTENT,
            f"style distance <= {STYLE_FRACTION:g} x the photo's": style["refined"]
            <= STYLE_FRACTION * style["photo"],
        },
    }
    save_image(_sheet(photo, painting, first.tensor, refined.tensor, figures), sheet)
    figures["seconds"] = round(time.perf_counter() - started, 2)
    return figures


def _sheet(photo: Any, painting: Any, first: Any, refined: Any, figures: dict) -> Any:
    """The four panels, labelled, with a second caption line of distances under each."""
    from stylelab.images import pil_to_tensor
    from stylelab.pixels import labelled_sheet

    style, content = figures["style_distance"], figures["content_distance"]
    panels = [
        ("photo (held out)", f"style {style['photo']:.2f}", photo),
        ("painting (never seen)", "the target", painting),
        (
            f"instant, {figures['instant_s']:.1f} s",
            f"style {style['instant']:.2f} content {content['instant']:.2f}",
            first,
        ),
        (
            f"+{figures['refine_steps']} steps, +{figures['refine_s']:.1f} s",
            f"style {style['refined']:.2f} content {content['refined']:.2f}",
            refined,
        ),
    ]
    row = [(f"{label}\n{note}", image.numpy()) for label, note, image in panels]
    return pil_to_tensor(labelled_sheet([row]))

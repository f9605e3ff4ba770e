"""The fast demo: a compact two-style model trained on the built-in photos, in minutes.

Styles: the built-in paintings ``example:strokes`` and ``example:mosaic``; photos:
scikit-image's, astronaut held out; the sheet shows the held-out astronaut, then each
style, at 256 px. Training runs at 128 px (a quarter of a 256 px step's cost) for
``minutes``; the network paints strokes of a fixed size in pixels, so the sheet is drawn
at twice the training size rather than at the photo's 512 px.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stylelab.fast.config import TrainConfig

STYLES = ("example:strokes", "example:mosaic")
PHOTO = "example:astronaut"
TRAIN_SIZE = 128
SHEET_SIZE = 256
MINUTES = 8.0


def run_demo(sheet: Path, minutes: float = MINUTES, progress: bool = False) -> dict[str, Any]:
    """Train, write ``<sheet stem>.safetensors`` and the sheet; return the training summary."""
    from stylelab.fast.apply import labelled_sheet, load
    from stylelab.fast.training import train
    from stylelab.images import load_image, resize_long_edge, save_image

    model_path = sheet.with_suffix(".safetensors")
    config = TrainConfig(
        styles=STYLES,
        data="example:photos",
        architecture="compact",
        train_size=TRAIN_SIZE,
        steps=100_000,
        max_minutes=minutes,
        checkpoint_every=500,
        sample_every=500,
    )
    result = train(config, model_path, progress=progress)
    model = load(model_path)
    photo = resize_long_edge(load_image(PHOTO), SHEET_SIZE)
    panels = [("astronaut (not trained on)", photo)]
    for index, name in enumerate(model.styles):
        panels.append((f"{index}: {name}", model.stylize(photo, index)))
    save_image(labelled_sheet([panels]), sheet)
    return {"model": str(model_path), "status": result.status, **result.summary}

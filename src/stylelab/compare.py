"""Compare backbones x weights x smoothings: one stylization each, same budget and seed.

The study we reproduce (Wang, Li & Vasconcelos, "Rethinking and Improving the Robustness of
Image Style Transfer", CVPR 2021) compares e.g. r-VGG19, r-ResNet-50 and r-ResNet-50 with
SWAG. :func:`compare` runs every combination with the same :class:`StylizeConfig` otherwise,
scores each output with the independent yardstick of :mod:`stylelab.evaluate` (Caffe VGG19
style and content distances), and writes a labelled image grid (rows: backbone; columns:
content, style, then weights x smoothing) and ``<grid>.csv``. A combination that fails
(e.g. pretrained weights missing) is recorded as an error and the others go on.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont

from stylelab.config import WEIGHT_KEYWORDS, StylizeConfig
from stylelab.errors import StylelabError
from stylelab.images import (
    ImageSource,
    check_output_path,
    encode_image,
    load_image,
    resize_long_edge,
    tensor_to_pil,
)
from stylelab.records import csv_text
from stylelab.safety import check_input_file, check_output_file, check_outputs, write_together

MAX_RUNS = 48  # more combinations than this need an explicit yes (compare --yes)
MAX_EVAL_SIZE = 2048

CSV_COLUMNS = (
    "backbone",
    "weights",
    "smoothing",
    "status",
    "error",
    "steps",
    "wall_time_s",
    "loss_total",
    "loss_content",
    "loss_style",
    "loss_tv",
    "style_distance",
    "content_distance",
    "weights_used",
)


@dataclass(frozen=True)
class Combination:
    backbone: str
    weights: str
    smoothing: str

    @property
    def column(self) -> str:
        return f"{self.weights} / {self.smoothing}"


@dataclass
class Outcome:
    """One combination's CSV row and its image (None when it failed)."""

    combination: Combination
    row: dict[str, Any]
    image: torch.Tensor | None = field(default=None, repr=False)


def combinations(
    backbones: Sequence[str], weights: Sequence[str], smoothings: Sequence[str]
) -> list[Combination]:
    """Every backbone x weights x smoothing, in that nesting order; a name given twice
    counts once (as a sweep's grid merges repeated values)."""
    for name, values in (("backbones", backbones), ("weights", weights), ("smoothing", smoothings)):
        if not values:
            raise StylelabError(f"--{name} is empty")
    lists = [list(dict.fromkeys(values)) for values in (backbones, weights, smoothings)]
    return [Combination(*c) for c in itertools.product(*lists)]


def run_one(
    content: ImageSource,
    style: ImageSource,
    combination: Combination,
    config: StylizeConfig,
    eval_size: int,
) -> Outcome:
    """Stylize and score one combination; a StylelabError becomes an ``error`` row."""
    from stylelab.evaluate import evaluate
    from stylelab.gatys import stylize

    row: dict[str, Any] = {
        "backbone": combination.backbone,
        "weights": combination.weights,
        "smoothing": combination.smoothing,
    }
    started = time.perf_counter()
    try:
        run_config = config.replace(
            backbone=combination.backbone,
            weights=combination.weights,
            smoothing=combination.smoothing,
        )
        result = stylize(content, style, run_config)
    except StylelabError as exc:
        row.update(
            status="error", error=str(exc), wall_time_s=_round(time.perf_counter() - started)
        )
        return Outcome(combination, row)
    final = result.info["final_losses"]
    scores = evaluate(result.tensor, content, style, size=eval_size)
    row.update(
        status=result.status,
        error=result.info.get("message") or "",
        steps=result.info["iterations"],
        wall_time_s=result.info["wall_time_s"],
        loss_total=_round(final.get("total")),
        loss_content=_round(final.get("content")),
        loss_style=_round(final.get("style")),
        loss_tv=_round(final.get("tv")),
        style_distance=_round(scores["style_distance"]),
        content_distance=_round(scores["content_distance"]),
        weights_used=result.info["resolved"]["weights_used"],
    )
    return Outcome(combination, row, result.tensor)


def compare(
    content: ImageSource,
    style: ImageSource,
    output: str | os.PathLike,
    backbones: Sequence[str],
    weights: Sequence[str] = ("random",),
    smoothings: Sequence[str] = ("none", "softmax"),
    config: StylizeConfig | None = None,
    eval_size: int = 256,
    on_done: Callable[[Outcome], None] | None = None,
    max_runs: int = MAX_RUNS,
) -> list[Outcome]:
    """Run every combination; write the grid at ``output`` and ``output.with_suffix('.csv')``
    together, once at the end (after Ctrl-C or SIGTERM: the combinations done so far).

    Refuses before any work: an output that is an input, more than ``max_runs``
    combinations, and a grid where every combination fails writes nothing.
    """
    out = check_output_path(output)
    table = check_output_file(out.with_suffix(".csv"))
    config = config or StylizeConfig()
    if not isinstance(config, StylizeConfig):
        raise StylelabError(f"config must be a StylizeConfig, got {type(config).__name__}")
    combos = combinations(backbones, weights, smoothings)
    if len(combos) > max_runs:
        raise StylelabError(
            f"{len(combos)} combinations is more than {max_runs}; add --yes to run them all"
        )
    files = [w for w in weights if w not in WEIGHT_KEYWORDS]
    check_outputs([out, table], [content, style, *files])
    from stylelab.backbones.registry import check_backbone

    for name in dict.fromkeys(backbones):  # names and files: fail before minutes of work
        check_backbone(name)
    for path in files:
        check_input_file(path, "weights file")
    for smoothing in smoothings:  # fail before minutes of work
        config.replace(smoothing=smoothing)
    if not isinstance(eval_size, int) or not 16 <= eval_size <= MAX_EVAL_SIZE:
        raise StylelabError(f"--eval-size must be from 16 to {MAX_EVAL_SIZE}, got {eval_size!r}")
    panels = [load_image(content), load_image(style)]
    outcomes = []
    for combination in combos:
        outcome = run_one(content, style, combination, config, eval_size)
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
        if outcome.row.get("status") == "interrupted":
            break
    if all(o.image is None for o in outcomes):
        first = outcomes[0].row["error"]
        raise StylelabError(
            f"all {len(outcomes)} combination(s) failed; nothing written (first: {first})"
        )
    grid = make_grid(outcomes, panels, list(dict.fromkeys(backbones)), config.size)
    with write_together([out, table]) as (grid_tmp, table_tmp):
        encode_image(grid, grid_tmp, out.suffix)
        table_tmp.write_text(csv_text([o.row for o in outcomes], CSV_COLUMNS))
    return outcomes


def make_grid(
    outcomes: Sequence[Outcome],
    panels: Sequence[torch.Tensor],
    backbones: Sequence[str],
    size: int,
    label_height: int = 22,
) -> Image.Image:
    """Labelled grid: one row per backbone; columns content, style, weights x smoothing.

    Each cell shows the style distance (d_s) and content distance (d_c) under its image.
    """
    columns = list(dict.fromkeys(o.combination.column for o in outcomes))
    first = next((o.image for o in outcomes if o.image is not None), None)
    height, width = (
        first.shape[-2:] if first is not None else resize_long_edge(panels[0], size).shape[-2:]
    )
    tile = (int(width), int(height))
    font = _font(max(10, label_height - 8))
    left = max(90, 8 * max(len(b) for b in backbones))
    cell_w, cell_h = tile[0] + 4, tile[1] + 2 * label_height
    heads = ["content", "style", *columns]
    canvas = Image.new(
        "RGB", (left + cell_w * len(heads), label_height + cell_h * len(backbones)), "white"
    )
    draw = ImageDraw.Draw(canvas)
    for j, head in enumerate(heads):
        draw.text((left + j * cell_w + 2, 4), head, fill="black", font=font)
    by_cell = {(o.combination.backbone, o.combination.column): o for o in outcomes}
    for i, backbone in enumerate(backbones):
        top = label_height + i * cell_h
        draw.text((4, top + tile[1] // 2), backbone, fill="black", font=font)
        for j, panel in enumerate(panels):
            canvas.paste(_fit(panel, tile), (left + j * cell_w, top))
        for j, column in enumerate(columns, start=2):
            x = left + j * cell_w
            outcome = by_cell.get((backbone, column))
            if outcome is None or outcome.image is None:
                draw.rectangle((x, top, x + tile[0] - 1, top + tile[1] - 1), fill=(200, 200, 200))
                draw.text((x + 4, top + tile[1] // 2), "error", fill="black", font=font)
                continue
            canvas.paste(_fit(outcome.image, tile), (x, top))
            row = outcome.row
            caption = f"ds {row['style_distance']:.3f}  dc {row['content_distance']:.3f}"
            draw.text((x + 2, top + tile[1] + 3), caption, fill="black", font=font)
    return canvas


def _fit(image: torch.Tensor, tile: tuple[int, int]) -> Image.Image:
    return tensor_to_pil(image).resize(tile, Image.Resampling.LANCZOS)


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed-size bitmap font
        return ImageFont.load_default()


def _round(value: Any, digits: int = 5) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return round(value, digits)
    return value

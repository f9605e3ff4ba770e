"""What a user chooses when applying a model, checked without torch: the style (an index,
a name, or a mix), strength, stroke scale and size. Shared by the PyTorch path
(:mod:`stylelab.fast.apply`) and the onnxruntime one (:mod:`stylelab.fast.runtime`), so
both accept and refuse exactly the same things.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from stylelab.errors import StylelabError
from stylelab.fast.designs import ARCHITECTURES
from stylelab.limits import MAX_WEIGHT, in_range, show

MAX_EDGE = 16384
#: The largest of the networks' total strides: every one runs on heights and widths that
#: are multiples of it (apply pads to it).
STRIDE_MULTIPLE = max(design.stride for design in ARCHITECTURES.values())
STROKE_SCALES = (0.25, 8.0)

StyleChoice = int | str | Sequence[float] | dict[str, float] | None


def style_weights(names: Sequence[str], style: StyleChoice) -> np.ndarray:
    """(1, S) float32 convex weights from an index, a name, S weights or {name: weight};
    anything else (a bool, a float, an index out of range, weights that are not finite
    numbers >= 0 with a positive sum) is a one-line StylelabError."""
    count = len(names)
    weights = np.zeros((1, count), dtype=np.float64)
    if style is None:
        style = 0
    if isinstance(style, bool):
        raise StylelabError(f"--style: expected an index or a name, got {show(style)}")
    if isinstance(style, numbers.Integral):
        index = int(style)
        if not 0 <= index < count:
            raise StylelabError(
                f"--style {show(style)}: this model has {count} style(s), indices 0 to {count - 1}"
            )
        weights[0, index] = 1
        return weights.astype(np.float32)
    if isinstance(style, str):
        if style not in names:
            raise StylelabError(
                f"--style {show(style)}: unknown; this model's styles: {describe_styles(names)}"
            )
        weights[0, list(names).index(style)] = 1
        return weights.astype(np.float32)
    if isinstance(style, dict):
        for name, value in style.items():
            if name not in names:
                raise StylelabError(
                    f"--style-mix: unknown style {show(name)}; this model's styles: "
                    f"{describe_styles(names)}"
                )
            weights[0, list(names).index(name)] += _mix_weight(value)
    elif isinstance(style, (list, tuple)):
        values = list(style)
        if len(values) != count:
            raise StylelabError(
                f"--style-mix has {len(values)} weights; this model has {count} styles "
                f"({describe_styles(names)})"
            )
        weights[0] = [_mix_weight(v) for v in values]
    else:
        raise StylelabError(
            "--style: expected an index, a name, a list of weights or {name: weight}, "
            f"got {show(style)}"
        )
    if not np.isfinite(weights).all() or (weights < 0).any() or float(weights.sum()) <= 0:
        raise StylelabError("--style-mix needs finite weights >= 0 with a positive sum")
    return (weights / weights.sum()).astype(np.float32)


def _mix_weight(value: object) -> float:
    if not in_range(value, 0.0, MAX_WEIGHT):
        raise StylelabError(
            f"--style-mix needs finite weights >= 0 (at most {MAX_WEIGHT:g}), got {show(value)}"
        )
    return float(value)  # type: ignore[arg-type]


def describe_styles(names: Sequence[str]) -> str:
    return ", ".join(f"{i}={n}" for i, n in enumerate(names))


def check_strength(strength: float) -> None:
    if not in_range(strength, 0.0, 1.0):
        raise StylelabError(f"--strength must be between 0 and 1, got {show(strength)}")


def check_stroke_scale(scale: float) -> None:
    low, high = STROKE_SCALES
    if not in_range(scale, low, high):
        raise StylelabError(f"--stroke-scale must be from {low} to {high}, got {show(scale)}")


def check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= MAX_EDGE:
        raise StylelabError(f"--size must be an integer from 16 to {MAX_EDGE}, got {show(size)}")


def check_apply_memory(shape: Sequence[int], what: str, device: object = None) -> None:
    """Refuse, in one line naming a --size that fits, a photo too large for memory
    (:data:`stylelab.limits.FAST_APPLY_BPP` bytes per pixel)."""
    import math

    from stylelab.limits import FAST_APPLY_BPP, check_bytes, memory_room

    height, width = shape[-2:]
    needed = FAST_APPLY_BPP * height * width
    room = memory_room(device)
    if needed <= room:
        return
    fit = int(max(height, width) * math.sqrt(room / needed))
    check_bytes(needed, f"{what} ({width}x{height})", f"--size {fit} or less would fit", device)


def stroke_source_shape(shape: Sequence[int], stroke_scale: float, multiple: int) -> tuple:
    """The (H, W) the network runs at for a photo of ``shape`` and strokes ``stroke_scale``
    times larger: the photo's longer edge divided by the scale (at least 2 x ``multiple``);
    a scale that shrinks the shorter side below ``multiple`` px is an error."""
    height, width = (int(v) for v in shape[-2:])
    if stroke_scale == 1.0:
        return height, width
    if min(height, width) / stroke_scale < multiple:  # reflection padding needs 8 px
        raise StylelabError(
            f"--stroke-scale {stroke_scale:g} shrinks this {width}x{height} photo below "
            f"{multiple} px; use --stroke-scale {min(height, width) / multiple:.3g} or less"
        )
    edge = max(multiple * 2, round(max(height, width) / stroke_scale))
    scale = edge / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))

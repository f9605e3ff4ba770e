"""Run a trained model on images: any size in, the same size out, in one forward pass.

- Any width and height: the photo is padded by reflection to a multiple of 8 (the
  network's total stride), stylized, and cropped back, so the output has exactly the
  input's size.
- Large photos (over :data:`BAND_PIXELS`) run band by band
  (:class:`stylelab.fast.nets.TransformerNet` with ``band_rows``): instance-norm
  statistics are those of the whole image, so there are no seams, and memory stays a few
  activation maps.
- Style: an index, a name, or a mix (weights over the styles, normalized to sum 1), which
  is a convex combination of the conditional instance norms' (gamma, beta).
- Strength s blends with the photo: s * T(x) + (1 - s) * x.
- Stroke scale k: the network runs on the photo resized by 1/k and its output is resized
  back, so brush strokes come out k times larger (k > 1) or smaller (k < 1); the network
  itself paints strokes of a fixed size in pixels, learnt at the training size.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from stylelab.config import DEVICES, PRECISIONS
from stylelab.errors import StylelabError
from stylelab.fast.modelfile import ModelRecord, load_model
from stylelab.fast.nets import STRIDE_MULTIPLE, TransformerNet, count_gflops, count_parameters
from stylelab.images import (
    ImageSource,
    load_image,
    resize_long_edge,
    resize_to,
    tensor_to_pil,
)
from stylelab.limits import MAX_WEIGHT, in_range, show

#: Above this many pixels the network runs band by band (exact, less memory).
BAND_PIXELS = 2048 * 2048
BAND_ROWS = 64
MAX_EDGE = 16384
STROKE_SCALES = (0.25, 8.0)

StyleChoice = int | str | Sequence[float] | dict[str, float] | None


def run_network(
    net: TransformerNet,
    image: torch.Tensor,
    style: torch.Tensor,
    *,
    device: torch.device | None = None,
    precision: str = "fp32",
    band_rows: int | None = None,
) -> torch.Tensor:
    """T(image, style) for a (1, 3, H, W) image of any size; output (1, 3, H, W) on the CPU.

    ``band_rows`` None picks band-by-band execution above :data:`BAND_PIXELS`.
    """
    from stylelab.precision import autocast

    device = device or torch.device("cpu")
    height, width = image.shape[-2:]
    pad_h = (-height) % STRIDE_MULTIPLE
    pad_w = (-width) % STRIDE_MULTIPLE
    x = image.to(device)
    if pad_h or pad_w:
        x = _pad_reflect(x, pad_h, pad_w)
    if band_rows is None and x.shape[-2] * x.shape[-1] > BAND_PIXELS:
        band_rows = BAND_ROWS
    with torch.inference_mode(), autocast(device, precision):
        y = net(x, style.to(device), band_rows=band_rows)
    return y[..., :height, :width].float().cpu()


def _pad_reflect(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Reflection padding at the bottom and right, repeated while the pad exceeds the image
    (only for images under 8 px a side)."""
    while pad_h or pad_w:
        step_h = min(pad_h, x.shape[-2] - 1)
        step_w = min(pad_w, x.shape[-1] - 1)
        x = F.pad(x, (0, step_w, 0, step_h), mode="reflect")
        pad_h, pad_w = pad_h - step_h, pad_w - step_w
    return x


@dataclass
class FastModel:
    """A trained model ready to stylize: ``stylelab.fast.load(path).stylize(photo)``."""

    record: ModelRecord
    device: torch.device
    precision: str

    @property
    def net(self) -> TransformerNet:
        return self.record.net

    @property
    def styles(self) -> list[str]:
        return self.record.styles

    @property
    def architecture(self) -> str:
        return self.record.architecture

    def style_weights(self, style: StyleChoice = None) -> torch.Tensor:
        """(1, S) weights for an index, a name, a list of S weights or {name: weight}."""
        return style_vector(self.styles, style)

    def stylize(
        self,
        image: ImageSource,
        style: StyleChoice = None,
        *,
        strength: float = 1.0,
        size: int | None = None,
        stroke_scale: float = 1.0,
    ) -> torch.Tensor:
        """The stylized image, (1, 3, H, W) in [0, 1], the photo's size (or ``size`` on
        the longer edge). ``style``: index, name, weights or {name: weight} (default 0)."""
        from stylelab.stylize import check_finite, check_source, label

        check_strength(strength)
        check_stroke_scale(stroke_scale)
        if size is not None:
            check_size(size)
        check_source(image, "photo")
        weights = self.style_weights(style)
        photo = check_finite(load_image(image), label(image, "photo"))
        if size is not None:
            photo = resize_long_edge(photo, size)
        shape = tuple(photo.shape[-2:])
        _check_apply_memory(shape, label(image, "photo"), self.device)
        source = photo
        if stroke_scale != 1.0:
            if min(shape) / stroke_scale < STRIDE_MULTIPLE:  # reflection padding needs 8 px
                raise StylelabError(
                    f"--stroke-scale {stroke_scale:g} shrinks this {shape[1]}x{shape[0]} photo "
                    f"below {STRIDE_MULTIPLE} px; use --stroke-scale "
                    f"{min(shape) / STRIDE_MULTIPLE:.3g} or less"
                )
            edge = max(STRIDE_MULTIPLE * 2, round(max(shape) / stroke_scale))
            source = resize_long_edge(photo, edge)
        out = run_network(self.net, source, weights, device=self.device, precision=self.precision)
        if tuple(out.shape[-2:]) != shape:
            out = resize_to(out, shape)
        if strength != 1.0:
            out = strength * out + (1 - strength) * photo
        return out.clamp(0, 1)

    def info(self) -> dict[str, Any]:
        """Architecture, styles, parameters, GFLOPs at 512 and 1024 px, training settings."""
        training = dict(self.record.training)
        return {
            "architecture": self.architecture,
            "styles": self.styles,
            "parameters": count_parameters(self.net),
            "gflops_512": round(count_gflops(self.net, 512, 512), 2),
            "gflops_1024": round(count_gflops(self.net, 1024, 1024), 2),
            "stylelab_version": self.record.stylelab_version,
            "training": training,
        }


def _check_apply_memory(shape: tuple[int, ...], what: str, device: Any) -> None:
    """Refuse, in one line naming a --size that fits, a photo too large for memory."""
    import math

    from stylelab.limits import FAST_APPLY_BPP, check_bytes, memory_room

    height, width = shape[-2:]
    needed = FAST_APPLY_BPP * height * width
    room = memory_room(device)
    if needed <= room:
        return
    fit = int(max(height, width) * math.sqrt(room / needed))
    check_bytes(needed, f"{what} ({width}x{height})", f"--size {fit} or less would fit", device)


def load(path: str | os.PathLike, device: str = "auto", precision: str = "auto") -> FastModel:
    """Load a model file for stylizing on ``device`` in ``precision`` (auto: bf16 where the
    CPU has it natively, as for ``stylize``)."""
    from stylelab.precision import resolve_device, resolve_precision

    if not isinstance(path, (str, os.PathLike)):
        raise StylelabError(f"model path must be a path, got {show(path)}")
    for name, value, choices in (
        ("device", device, DEVICES),
        ("precision", precision, PRECISIONS),
    ):
        if not isinstance(value, str) or value not in choices:
            raise StylelabError(f"unknown {name} {show(value)}; choose from: {', '.join(choices)}")
    record = load_model(path)
    target = resolve_device(device)
    resolved = resolve_precision(precision, target)
    record.net.to(target)
    return FastModel(record, target, resolved)


def style_vector(names: Sequence[str], style: StyleChoice) -> torch.Tensor:
    """(1, S) convex weights from an index, a name, S weights or {name: weight}; anything
    else (a bool, a float, an index out of range, weights that are not finite numbers
    >= 0 with a positive sum) is a one-line StylelabError."""
    count = len(names)
    weights = torch.zeros(1, count)
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
        return weights
    if isinstance(style, str):
        if style not in names:
            raise StylelabError(
                f"--style {show(style)}: unknown; this model's styles: {_list(names)}"
            )
        weights[0, list(names).index(style)] = 1
        return weights
    if isinstance(style, dict):
        for name, value in style.items():
            if name not in names:
                raise StylelabError(
                    f"--style-mix: unknown style {show(name)}; this model's styles: {_list(names)}"
                )
            weights[0, list(names).index(name)] += _mix_weight(value)
    elif isinstance(style, (list, tuple)):
        values = list(style)
        if len(values) != count:
            raise StylelabError(
                f"--style-mix has {len(values)} weights; this model has {count} styles "
                f"({_list(names)})"
            )
        weights[0] = torch.tensor([_mix_weight(v) for v in values])
    else:
        raise StylelabError(
            "--style: expected an index, a name, a list of weights or {name: weight}, "
            f"got {show(style)}"
        )
    if not torch.isfinite(weights).all() or (weights < 0).any() or float(weights.sum()) <= 0:
        raise StylelabError("--style-mix needs finite weights >= 0 with a positive sum")
    return weights / weights.sum()


def _mix_weight(value: object) -> float:
    if not in_range(value, 0.0, MAX_WEIGHT):
        raise StylelabError(
            f"--style-mix needs finite weights >= 0 (at most {MAX_WEIGHT:g}), got {show(value)}"
        )
    return float(value)  # type: ignore[arg-type]


def _list(names: Sequence[str]) -> str:
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


def labelled_sheet(
    rows: Sequence[Sequence[tuple[str, torch.Tensor]]], height: int = 0
) -> Image.Image:
    """A grid of labelled panels: each row a list of (label, image); panels scaled to one
    height (the first panel's, or ``height``), a white caption strip under each."""
    first = rows[0][0][1]
    panel_h = height or int(first.shape[-2])
    caption = max(14, panel_h // 14)
    pictures: list[list[tuple[str, Image.Image]]] = []
    for row in rows:
        line = []
        for label, tensor in row:
            width = max(1, round(tensor.shape[-1] * panel_h / tensor.shape[-2]))
            line.append((label, tensor_to_pil(resize_to(tensor, (panel_h, width)))))
        pictures.append(line)
    sheet_w = max(sum(p.width for _, p in line) for line in pictures)
    sheet = Image.new("RGB", (sheet_w, len(pictures) * (panel_h + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(10, caption - 4))
    for r, line in enumerate(pictures):
        x, y = 0, r * (panel_h + caption)
        for label, picture in line:
            sheet.paste(picture, (x, y))
            draw.text((x + 4, y + panel_h + 1), label, fill="black", font=font)
            x += picture.width
    return sheet


__all__ = ["FastModel", "labelled_sheet", "load", "run_network", "style_vector"]

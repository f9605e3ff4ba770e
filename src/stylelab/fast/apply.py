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

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stylelab.color import check_preserve_color, preserve_after
from stylelab.config import DEVICES, PRECISIONS
from stylelab.errors import StylelabError
from stylelab.fast.choices import (
    MAX_EDGE,
    STROKE_SCALES,
    StyleChoice,
    check_apply_memory,
    check_size,
    check_strength,
    check_stroke_scale,
    stroke_source_shape,
    style_weights,
)
from stylelab.fast.modelfile import ModelRecord, load_model
from stylelab.fast.nets import STRIDE_MULTIPLE, TransformerNet, count_gflops, count_parameters
from stylelab.images import (
    ImageSource,
    load_image,
    resize_long_edge,
    resize_to,
)
from stylelab.limits import show
from stylelab.pixels import labelled_sheet

#: Above this many pixels the network runs band by band (exact, less memory).
BAND_PIXELS = 2048 * 2048
BAND_ROWS = 64


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
        preserve_color: str = "none",
    ) -> torch.Tensor:
        """The stylized image, (1, 3, H, W) in [0, 1], the photo's size (or ``size`` on
        the longer edge). ``style``: index, name, weights or {name: weight} (default 0)."""
        from stylelab.images import check_finite, check_source
        from stylelab.pixels import label

        check_strength(strength)
        check_stroke_scale(stroke_scale)
        check_preserve_color(preserve_color)
        if size is not None:
            check_size(size)
        check_source(image, "photo")
        weights = self.style_weights(style)
        photo = check_finite(load_image(image), label(image, "photo"))
        if size is not None:
            photo = resize_long_edge(photo, size)
        shape = tuple(photo.shape[-2:])
        check_apply_memory(shape, label(image, "photo"), self.device)
        source_shape = stroke_source_shape(shape, stroke_scale, STRIDE_MULTIPLE)
        source = photo if source_shape == shape else resize_to(photo, source_shape)
        out = run_network(self.net, source, weights, device=self.device, precision=self.precision)
        if tuple(out.shape[-2:]) != shape:
            out = resize_to(out, shape)
        if preserve_color != "none":
            out = torch.from_numpy(preserve_after(out.numpy(), photo.numpy(), preserve_color))
        if strength != 1.0:
            out = strength * out + (1 - strength) * photo
        return out.clamp(0, 1)

    def stylize_array(self, photo: np.ndarray, style: StyleChoice = None, **options: Any):
        """:meth:`stylize` for a (1, 3, H, W) float32 array, returning an array."""
        return self.stylize(torch.from_numpy(photo), style, **options).numpy()

    def stylize_frames(
        self,
        frames: np.ndarray,
        weights: np.ndarray,
        strength: float = 1.0,
        preserve_color: str = "none",
    ) -> np.ndarray:
        """(B, H, W, 3) uint8 video frames -> stylized (B, H, W, 3) uint8, one batch."""
        from stylelab.fast.runtime import preserve_frames

        batch = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255)
        style = torch.from_numpy(np.asarray(weights, dtype=np.float32))
        out = run_network(self.net, batch, style, device=self.device, precision=self.precision)
        if preserve_color != "none":
            out = torch.from_numpy(preserve_frames(out.numpy(), batch.numpy(), preserve_color))
        if strength != 1.0:
            out = strength * out + (1 - strength) * batch
        # Not in place: run_network may return the inference tensor itself (fp32 on a CPU).
        pixels = out.clamp(0, 1).mul(255).round().to(torch.uint8)
        return pixels.permute(0, 2, 3, 1).contiguous().numpy()

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
    """(1, S) convex weights (see :func:`stylelab.fast.choices.style_weights`)."""
    return torch.from_numpy(style_weights(names, style))


__all__ = [
    "MAX_EDGE",
    "STROKE_SCALES",
    "FastModel",
    "check_size",
    "check_strength",
    "check_stroke_scale",
    "labelled_sheet",
    "load",
    "run_network",
    "style_vector",
]

"""A trained model on PyTorch: the backend of :mod:`stylelab.fast.pipeline` for
.safetensors files, and :func:`run_network`, its forward pass (also used by training).

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

from stylelab.config import DEVICES, PRECISIONS
from stylelab.errors import StylelabError
from stylelab.fast.choices import (
    MAX_EDGE,
    STRIDE_MULTIPLE,
    STROKE_SCALES,
    StyleChoice,
    check_size,
    check_strength,
    check_stroke_scale,
    style_weights,
)
from stylelab.fast.modelfile import ModelRecord, load_model
from stylelab.fast.nets import TransformerNet, count_gflops, count_parameters
from stylelab.fast.pipeline import stylize_array
from stylelab.images import ImageSource, load_image
from stylelab.limits import show
from stylelab.pixels import labelled_sheet
from stylelab.safety import one_line

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
    """A trained model on PyTorch: ``stylelab.fast.load(path).stylize(photo)``; also a
    :class:`stylelab.fast.pipeline.Backend` (``stylelab.fast.open_model`` wraps it)."""

    record: ModelRecord
    device: torch.device
    precision: str
    name: str = "model"
    runtime = "torch"

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

    def run(self, batch: np.ndarray, style_weights: np.ndarray) -> np.ndarray:
        """T(batch, style_weights) on this model's device and precision (the backend's
        one computation; :mod:`stylelab.fast.pipeline` does the rest)."""
        images, weights = torch.from_numpy(batch), torch.from_numpy(style_weights)
        out = run_network(self.net, images, weights, device=self.device, precision=self.precision)
        return out.numpy()

    def stylize(
        self, image: ImageSource, style: StyleChoice = None, **options: Any
    ) -> torch.Tensor:
        """The stylized image, (1, 3, H, W) in [0, 1], the photo's size (or ``size`` on
        the longer edge); ``image``: a path, PIL image, array or tensor; ``style``: index,
        name, weights or {name: weight} (default 0); the options of
        :func:`stylelab.fast.pipeline.stylize_array`."""
        from stylelab.images import check_finite, check_source
        from stylelab.pixels import label

        check_source(image, "photo")
        photo = check_finite(load_image(image), label(image, "photo"))
        return torch.from_numpy(stylize_array(self, photo.numpy(), style, **options))

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
    return FastModel(record, target, resolved, name=one_line(path))


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

"""Activation smoothing for style transfer (SWAG), as pure functions on (B, C, H, W) features.

Wang, Li & Vasconcelos, "Rethinking and Improving the Robustness of Image Style Transfer"
(CVPR 2021): the deep activations of residual networks are peaky (large maxima, low
entropy), which breaks Gram-based style transfer. SWAG passes the features of every loss
layer through a smoothing function sigma before the content and style losses:

- ``softmax`` (the paper's formula), over all C channels and M = H W positions of a layer,
  per image: sigma(F)_ik = exp(F_ik / T) / sum_mn exp(F_mn / T), with temperature T
  (T = 1 in the paper). The losses use it times the number of entries n = C M, i.e.
  exp(F_ik / T) / mean_mn exp(F_mn / T) (see "Sizes" below).
- ``channel-softmax``: a per-position softmax over channels (``nn.Softmax2d``), then times
  the scale A: sigma(F)_ik = A exp(F_ik / T) / sum_m exp(F_mk / T). This is what the
  authors' released code does (A = 0.001).
- ``scale``: sigma(F) = A F, "multiplying by a small constant (< 0.1)".
- ``nested-softmax``: the softmax above applied twice, sigma(F) = softmax(softmax(F / T)).
  In the losses each of the two is the per-entry softmax below; with the paper's scaling
  the outer softmax sees inputs of about 1/n and returns a nearly constant map.

Sizes: a softmax over all entries sums to 1, so its values scale as 1/n and the Gram
matrices of its output as 1/n^2. The content image, the style image and every stage of a
multi-scale run have different sizes, so the paper's formula compares Grams of different
scales (the paper's images all had one size); the optimizer then makes the image peakier
to make up the difference, which shows as colour noise. ``smoother(..., per_entry=True)``,
what the losses use, multiplies by n (the mean becomes 1): for one size this is the paper's
formula times a constant, which the normalized losses cancel; across sizes, a spatially
repeated map gives the same Gram.

Temperature: by default the losses take T relative to each layer's peak activation
(:func:`layer_temperature`), so that T = 1 is the paper's setting on activations of order
one, whatever the network's own scale; ``relative=False`` is the paper's formula as is.

Note: with stylelab's normalized losses (relative errors, the default), a constant factor
A cancels exactly: ``scale`` is then the identity and A does not change ``channel-softmax``.
A matters only with ``--no-normalize-losses``, where it shifts the balance between the
content loss (~A^2) and the style loss (~A^4), which is how the authors' code used it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

# The names and the check live in the light config module (validation needs no torch);
# both are re-exported here, where they belong.
from stylelab.config import SMOOTHINGS, check_smoothing  # noqa: F401

Smoother = Callable[[torch.Tensor], torch.Tensor]


def softmax(features: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """exp(F_ik / T) / sum over all channels and positions of one image."""
    batch = features.shape[0]
    flat = (features.float() / temperature).reshape(batch, -1)
    return torch.softmax(flat, dim=1).reshape(features.shape)


def channel_softmax(
    features: torch.Tensor, temperature: float = 1.0, scale: float = 1.0
) -> torch.Tensor:
    """A * exp(F_ik / T) / sum_m exp(F_mk / T): softmax over channels at each position."""
    return torch.softmax(features.float() / temperature, dim=1) * scale


def scale(features: torch.Tensor, factor: float) -> torch.Tensor:
    """A * F."""
    return features * factor


def per_entry_softmax(features: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """n * softmax(F / T) = exp(F_ik / T) / mean_mn exp(F_mn / T), n = C H W: mean 1 per
    image, so maps of different sizes are on one scale."""
    return softmax(features, temperature) * features[0].numel()


def layer_temperature(maps: Sequence[torch.Tensor], temperature: float, relative: bool) -> float:
    """The temperature of one layer: T as is, or ``relative``: T_l = T * max |F| over
    ``maps`` (the layer's features of the content and style images).

    The paper's T = 1 assumes activations of order 1. A random torchvision ResNet-50 peaks
    at about 130 in layer4, where exp(F) is one-hot and its gradient vanishes; pretrained
    VGG19 peaks in the thousands. In units of the peak, F / T_l lies in [-1/T, 1/T] for
    every network, so one T means the same smoothing everywhere. A layer of zeros keeps T.
    """
    if not relative:
        return temperature
    peak = max((float(m.detach().abs().max()) for m in maps), default=0.0)
    return temperature * peak if peak > 0 and math.isfinite(peak) else temperature


def smoother(
    method: str, temperature: float = 1.0, factor: float = 0.001, per_entry: bool = False
) -> Smoother:
    """The function sigma for ``method`` (one of :data:`SMOOTHINGS`).

    ``per_entry``: the softmaxes scaled by the number of entries (:func:`per_entry_softmax`),
    as the losses need them; without it, the paper's distributions (sum 1), as the
    activation statistics report them.
    """
    soft = per_entry_softmax if per_entry else softmax
    if method == "none":
        return lambda features: features
    if method == "softmax":
        return lambda features: soft(features, temperature)
    if method == "nested-softmax":  # softmax(softmax(F / T)), both over the whole layer
        return lambda features: soft(soft(features, temperature))
    if method == "channel-softmax":
        return lambda features: channel_softmax(features, temperature, factor)
    if method == "scale":
        return lambda features: scale(features, factor)
    raise ValueError(f"unknown smoothing {method!r}; choose from: {', '.join(SMOOTHINGS)}")

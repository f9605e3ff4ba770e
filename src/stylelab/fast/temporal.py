"""Temporal stability without video: the warp-consistency term of fast training.

For a batch of photos x, a small random affine warp W per item (shift, zoom, rotation)
and Gaussian noise n make a second frame x' = W(x) + n; the network T must commute with
the warp (Wang et al., "Consistent Video Style Transfer via Compound Regularization",
AAAI 2020; the noise term of Gupta et al., "Characterizing and Improving Stability in
Neural Style Transfer", ICCV 2017)::

    L_temp = lambda * sum_b mean_{valid p, c} (T(x'_b)(p) - W(T(x_b))(p))^2

over the pixels p whose warped source lies inside the frame (values in [0, 1] units).
W(image)(p) = image(A p + t) by ``affine_grid``/``grid_sample``, with A = zoom * rotation
and t a shift; each step's warps come from a generator seeded by (seed, step, rank), so a
resumed run draws the same ones. The resampling is bicubic (Keys' kernel, a = -0.75), not
bilinear: a bilinear warp of T(x) blurs its strokes most at half-pixel offsets, and the
network then met the term by painting softer strokes (style distance up) instead of
moving them; the sharper target keeps the style and lowers the warping error more
(docs/video.md, "A sharper target").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from stylelab.fast.data import batch_generator

MAX_SHIFT = 0.04  # of the crop size (10 px of 256, Wang et al.)
MAX_ZOOM = 0.05  # zoom in 1 +- 0.05
MAX_ROTATION_DEG = 2.0
NOISE_STD = 0.01  # of the [0, 1] range
STREAM = 0x7E3F  # keeps the warp draws apart from the batch's own draws
#: grid_sample's mode for W; recorded in the training record, so a resume of a checkpoint
#: trained with another one (before f814851: bilinear) is refused rather than mixed.
RESAMPLING = "bicubic"


@dataclass(frozen=True)
class WarpedPair:
    """One step's second frames: the warp, x' = W(x) + n, and where W sees inside x."""

    theta: torch.Tensor  # (B, 2, 3) affine_grid matrices (normalized coordinates)
    moved: torch.Tensor  # x', (B, 3, H, W)
    valid: torch.Tensor  # (B, 1, H, W) 1 where W(p) lies inside the frame, else 0


def random_theta(count: int, generator: torch.Generator) -> torch.Tensor:
    """(count, 2, 3) affine matrices: zoom 1 +- MAX_ZOOM, rotation +- MAX_ROTATION_DEG,
    shift +- MAX_SHIFT of the frame, uniform and independent."""
    draws = torch.rand(count, 4, generator=generator, dtype=torch.float64) * 2 - 1
    zoom = 1 + MAX_ZOOM * draws[:, 0]
    angle = math.radians(MAX_ROTATION_DEG) * draws[:, 1]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    shift_x, shift_y = 2 * MAX_SHIFT * draws[:, 2], 2 * MAX_SHIFT * draws[:, 3]
    rows = [torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)]
    return torch.stack(rows, 1).float()


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """W(images)(p) = images(A p + t), bicubic, zeros outside (the cubic kernel's negative
    lobes can overshoot [0, 1] a little at edges; not clamped, so a pointwise affine
    network still commutes with the warp). In fp32 whatever the images' dtype: a bf16
    sampling grid is off by up to a pixel at 256 px, more than the noise the term scores;
    the result is fp32."""
    grid = F.affine_grid(
        theta.to(images.device, torch.float32), list(images.shape), align_corners=False
    )
    with torch.autocast(images.device.type, enabled=False):
        return F.grid_sample(
            images.float(), grid, mode=RESAMPLING, padding_mode="zeros", align_corners=False
        )


def warped_pair(images: torch.Tensor, seed: int, step: int, rank: int = 0) -> WarpedPair:
    """The warps and second frames of batch ``step`` (a function of seed, step, rank)."""
    generator = batch_generator(seed ^ STREAM, step, rank)
    theta = random_theta(images.shape[0], generator)
    noise = torch.randn(images.shape, generator=generator) * NOISE_STD
    moved = (warp(images, theta) + noise.to(images.device)).to(images.dtype)
    # inside: every tap of the cubic kernel in the frame, where its weights sum to 1 (near
    # the edge the zeros outside push the sum below 1, or above it through negative taps);
    # in fp32 whatever the images' dtype, so the tolerance means the same
    ones = torch.ones(images.shape[0], 1, *images.shape[-2:], device=images.device)
    with torch.autocast(images.device.type, enabled=False):
        valid = ((warp(ones, theta.float()) - 1).abs() < 1e-3).to(images.dtype)
    return WarpedPair(theta.to(images.device), moved, valid)


def temporal_loss(
    network: Callable[[torch.Tensor], torch.Tensor],
    stylized: torch.Tensor,
    pair: WarpedPair,
) -> torch.Tensor:
    """sum_b mean over valid pixels and channels of (T(x'_b) - W(T(x_b)))^2; ``stylized``
    is T(x) (gradients flow through both sides)."""
    difference = network(pair.moved) - warp(stylized, pair.theta)
    squared = difference.float().square() * pair.valid
    counted = pair.valid.sum(dim=(1, 2, 3)).clamp_min(1) * difference.shape[1]
    return (squared.sum(dim=(1, 2, 3)) / counted).sum()

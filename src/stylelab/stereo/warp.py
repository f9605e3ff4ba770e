"""Warping one view into the other along a disparity, and how consistent two views are.

With the left view's disparity d_L (x_right = x_left - d_L, see :mod:`.disparity`), the
right view seen from the left is R(x - d_L(x), y); with the right view's d_R, the left seen
from the right is L(x + d_R(x), y). Both are :func:`shift_rows` (bilinear sampling by
``torch.nn.functional.grid_sample``, differentiable in the image).

Chen et al., "Stereoscopic Neural Style Transfer" (CVPR 2018), penalise
sum M_L |O_L(x) - O_R(x - d_L(x))|^2 + sum M_R |O_R(x) - O_L(x + d_R(x))|^2 over the pixels
each view shares with the other (M: the left-right check), which is :func:`consistency_loss`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from stylelab.stereo.disparity import PairDisparity


def shift_rows(image: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """out(x, y) = image(x + shift(x, y), y), bilinear; and where x + shift lies inside.

    ``image`` (B, C, H, W), ``shift`` (H, W) in pixels (NaN: unknown, treated as 0 and
    marked outside). Pixel centres are at integers (``align_corners=True``).
    """
    height, width = image.shape[-2:]
    known = torch.isfinite(shift)
    shift = torch.where(known, shift, torch.zeros_like(shift))
    columns = torch.arange(width, dtype=shift.dtype, device=shift.device)[None, :] + shift
    rows = torch.arange(height, dtype=shift.dtype, device=shift.device)[:, None].expand_as(shift)
    grid = torch.stack(
        (2 * columns / max(1, width - 1) - 1, 2 * rows / max(1, height - 1) - 1), dim=-1
    )
    grid = grid[None].expand(image.shape[0], -1, -1, -1).to(image.dtype)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)
    inside = known & (columns >= 0) & (columns <= width - 1)
    return out, inside


def right_seen_from_left(right: torch.Tensor, disparity: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """R(x - d_L(x), y) and where it is defined."""
    return shift_rows(right, -disparity)


def left_seen_from_right(left: torch.Tensor, disparity: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """L(x + d_R(x), y) and where it is defined."""
    return shift_rows(left, disparity)


class ConsistencyMaps:
    """A :class:`PairDisparity` as tensors at one size, with each view's mask M (seen in the
    other view and inside it), ready for :func:`consistency_loss`."""

    def __init__(self, disparity: PairDisparity, device: torch.device | str = "cpu") -> None:
        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(device)

        self.left = tensor(disparity.left)
        self.right = tensor(disparity.right)
        self.left_mask = tensor(disparity.left_visible)
        self.right_mask = tensor(disparity.right_visible)


def consistency_loss(
    left: torch.Tensor, right: torch.Tensor, maps: ConsistencyMaps
) -> torch.Tensor:
    """Mean over masked pixels (and channels) of |O_L(x) - O_R(x - d_L)|^2, plus the
    mirror term on the right view's masked pixels (Chen et al. 2018, both ways)."""
    seen, inside = right_seen_from_left(right, maps.left)
    mask = maps.left_mask * inside
    term = ((left - seen) ** 2 * mask).sum() / (mask.sum() * left.shape[1]).clamp_min(1)
    seen, inside = left_seen_from_right(left, maps.right)
    mask = maps.right_mask * inside
    term = term + ((right - seen) ** 2 * mask).sum() / (mask.sum() * left.shape[1]).clamp_min(1)
    return term


def consistency_error(left: torch.Tensor, right: torch.Tensor, disparity: np.ndarray) -> float:
    """The figure of the stereo issue: mean |O_L(x) - O_R(x - d(x))| over channels and the
    pixels where ``disparity`` (the left view's, at the images' size) is known and the
    match lies inside the right view. Equal to mean |O_R - warp(O_L, d)| measured in the
    left view's frame; 0 for perfectly consistent views."""
    with torch.no_grad():
        shift = torch.from_numpy(np.ascontiguousarray(disparity, dtype=np.float32))
        seen, inside = right_seen_from_left(right.float(), shift)
        error = (left.float() - seen).abs().mean(dim=1)[0]
        return float(error[inside].mean())

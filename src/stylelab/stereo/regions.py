"""Region masks (``--mask``/``--region-style``) for both views of a pair.

The user draws one mask, for the left view (at any size; read and resized as ``stylize``
reads it). The right view's mask is the left one seen from the right along the right
view's disparity, M_R(x, y) = M_L(x + d_R(x), y) (bilinear, so a region's edge may be soft),
with the right view's unknown disparities (occlusions: pixels the left view does not see)
filled from the farther row neighbour first, so an occluded strip takes the region of the
background beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from stylelab.config import StylizeConfig
from stylelab.images import ImageSource
from stylelab.masks import Regions
from stylelab.stereo.disparity import PairDisparity, fill_from_background
from stylelab.stereo.warp import left_seen_from_right


def view_regions(
    config: StylizeConfig,
    styles: Sequence[ImageSource],
    shape: tuple[int, int],
    disparity: PairDisparity,
) -> tuple[Regions, Regions] | None:
    """Each view's :class:`stylelab.masks.Regions` at ``shape`` (H, W) from ``config.mask``
    and ``config.region_style`` (see the module); None without a mask."""
    from stylelab.gatys import resolve_regions

    resolved = resolve_regions(config, None, shape, styles)
    if resolved is None:
        return None
    left = resolved.masks
    right = right_view_masks(left, disparity.resized(shape))
    return Regions(left.numpy(), resolved.styles), Regions(right.numpy(), resolved.styles)


def right_view_masks(left: torch.Tensor, disparity: PairDisparity) -> torch.Tensor:
    """Left-view masks (R, H, W) seen from the right view (see the module), in [0, 1]."""
    shift = torch.from_numpy(np.ascontiguousarray(fill_from_background(disparity.right)))
    seen, _ = left_seen_from_right(left[None].float(), shift)
    return seen[0].clamp(0, 1)

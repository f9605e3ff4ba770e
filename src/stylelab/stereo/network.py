"""A feed-forward network's two views of a pair, made consistent by warping and blending.

A fast network (:mod:`stylelab.fast`, a ``.safetensors`` model or its ``.onnx`` export) or
the instant (AdaIN) network (:func:`stylelab.adain.transfer.instant`, any painting)
stylizes each view on its own, and small changes of viewpoint change its strokes. Where a
pixel is seen in both views (the left-right check's masks M_L, M_R), each view becomes the
mean of its own output and the other view's warped to it:

    O_L' = O_L + w_L / 2 * (O_R(x - d_L) - O_L),   O_R' = O_R + w_R / 2 * (O_L(x + d_R) - O_R)

with w the mask softened by a 5 px box filter (no seam where occlusions begin); occluded
pixels keep the network's own output. Matched pixels then agree up to the bilinear
resampling, and no view is privileged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stylelab.config import StylizeConfig
from stylelab.images import ImageSource
from stylelab.masks import Regions
from stylelab.stereo.disparity import PairDisparity
from stylelab.stereo.warp import ConsistencyMaps, left_seen_from_right, right_seen_from_left

FEATHER_PX = 5


def stylize_views(model: Any, left: np.ndarray, right: np.ndarray, style: Any) -> list[np.ndarray]:
    """Each (1, 3, H, W) view through ``model`` (anything with ``stylize_array``)."""
    return [
        np.asarray(model.stylize_array(view, style), dtype=np.float32) for view in (left, right)
    ]


def instant_views(
    photos: Sequence[torch.Tensor],
    style: ImageSource | Sequence[ImageSource],
    config: StylizeConfig,
    regions: tuple[Regions, Regions] | None = None,
    **options: Any,
) -> tuple[list[torch.Tensor], dict[str, Any]]:
    """Each (1, 3, H, W) view through :func:`stylelab.adain.transfer.instant` with
    ``config``'s shared settings (size, style scale and blend, colour, precision), each
    view's ``regions`` and instant's own ``options`` (``model``, ``strength``,
    ``internal_size``); the outputs and the first run's ``info``."""
    from stylelab.adain.modelfile import InstantModel, load_decoder
    from stylelab.adain.options import SHARED
    from stylelab.adain.transfer import instant

    masks = ("mask", "region_style")  # given as each view's ``regions`` instead
    shared = {name: getattr(config, name) for name in SHARED if name not in masks}
    options.setdefault("precision", config.precision)
    model = options.pop("model", None)
    net = model if isinstance(model, InstantModel) else load_decoder(model)
    outputs: list[torch.Tensor] = []
    info: dict[str, Any] = {}
    for index, photo in enumerate(photos):
        region = None if regions is None else regions[index]
        result = instant(photo, style, model=net, regions=region, **options, **shared)
        outputs.append(result.tensor.float())
        info = info or result.info
    return outputs, info


def blend_consistent(
    left: torch.Tensor, right: torch.Tensor, disparity: PairDisparity
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both views averaged with the other's warp where seen in both (see the module)."""
    maps = ConsistencyMaps(disparity.resized((left.shape[-2], left.shape[-1])))
    seen_right, inside_left = right_seen_from_left(right, maps.left)
    seen_left, inside_right = left_seen_from_right(left, maps.right)
    weight_left = _feather(maps.left_mask * inside_left) / 2
    weight_right = _feather(maps.right_mask * inside_right) / 2
    new_left = left + weight_left * (seen_right - left)
    new_right = right + weight_right * (seen_left - right)
    return new_left.clamp(0, 1), new_right.clamp(0, 1)


def _feather(mask: torch.Tensor) -> torch.Tensor:
    """``mask`` (H, W) eroded by a box filter: 1 deep inside, falling to 0 at its edges."""
    kernel = torch.ones(1, 1, FEATHER_PX, FEATHER_PX) / FEATHER_PX**2
    smooth = F.conv2d(mask[None, None].float(), kernel, padding=FEATHER_PX // 2)
    return (smooth * mask)[0]

"""Posters larger than memory: the fine scales optimized tile by tile.

Gatys, Ecker, Bethge, Hertzmann & Shechtman (CVPR 2017, section 5) make large outputs
coarse to fine; at the sizes where one image no longer fits, stylelab optimizes the
image in overlapping tiles, one after another:

- **style targets are global**: each style layer's Gram is the whole style image's,
  accumulated over tiles of the style image, G = sum_t F_t F_t^T / sum_t M_t, where each
  tile is cut with a context margin and only its inner part's features are summed (so no
  position is counted twice and the zero padding of a tile's border never enters);
- **content targets are per tile**: the tile of the photo at that scale;
- each tile starts from the current canvas (the previous scale's result, upsampled, with
  the tiles done so far), is optimized, and is blended back with feathered weights: a
  linear ramp across the overlap on every side that borders another tile, so the seam
  between two tiles is a gradual cross-fade, never an edge.

Pure functions here (boxes, ramps, Gram accumulation); :mod:`stylelab.stages` runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from stylelab.errors import StylelabError

DEFAULT_TILE = 512
DEFAULT_OVERLAP = 64


@dataclass(frozen=True)
class Box:
    """Rows top..bottom and columns left..right (exclusive ends) of an image."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        return image[..., self.top : self.bottom, self.left : self.right]


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one axis: stride tile - overlap, the last tile flush with the end."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def tile_boxes(height: int, width: int, tile: int, overlap: int) -> list[Box]:
    """Tiles of at most ``tile`` px covering (height, width) in raster order, neighbours
    overlapping by at least ``overlap`` px."""
    if not 0 <= overlap < tile // 2:
        raise StylelabError(f"--tile-overlap {overlap} must be from 0 to half of --tile {tile}")
    return [
        Box(top, left, min(height, top + tile), min(width, left + tile))
        for top in _starts(height, tile, overlap)
        for left in _starts(width, tile, overlap)
    ]


def feather(box: Box, height: int, width: int, overlap: int) -> torch.Tensor:
    """(1, 1, h, w) blending weights of a tile: 1 inside, rising linearly from 0 across
    ``overlap`` px on each side that is not the image's border (where another tile is)."""
    rows = torch.ones(box.height)
    cols = torch.ones(box.width)
    if overlap > 0:
        ramp = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        if box.top > 0:
            rows[:overlap] = torch.minimum(rows[:overlap], ramp[: box.height])
        if box.bottom < height:
            rows[-overlap:] = torch.minimum(rows[-overlap:], ramp.flip(0)[-box.height :])
        if box.left > 0:
            cols[:overlap] = torch.minimum(cols[:overlap], ramp[: box.width])
        if box.right < width:
            cols[-overlap:] = torch.minimum(cols[-overlap:], ramp.flip(0)[-box.width :])
    return (rows[:, None] * cols[None, :])[None, None]


def blend_into(canvas: torch.Tensor, tile: torch.Tensor, box: Box, weights: torch.Tensor) -> None:
    """canvas[box] = (1 - w) canvas[box] + w tile, in place."""
    region = box.crop(canvas)
    region.mul_(1 - weights).add_(tile * weights)


def accumulate_grams(
    features: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    image: torch.Tensor,
    layers: tuple[str, ...],
    tile: int,
    margin: int,
) -> dict[str, torch.Tensor]:
    """Position-averaged Grams (1, N, N) of ``image`` computed tile by tile: each tile is
    cut with ``margin`` px of context, and only the features of its inner part (mapped to
    each layer's resolution) are summed, G = sum F F^T / sum M."""
    from stylelab.losses import gram_matrix

    height, width = image.shape[-2:]
    inner = max(1, tile - 2 * margin)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for top in range(0, height, inner):
        for left in range(0, width, inner):
            core = Box(top, left, min(height, top + inner), min(width, left + inner))
            outer = Box(
                max(0, core.top - margin),
                max(0, core.left - margin),
                min(height, core.bottom + margin),
                min(width, core.right + margin),
            )
            with torch.no_grad():
                found = features(outer.crop(image))
            for name in layers:
                feature = found[name]
                scale_h = feature.shape[-2] / outer.height
                scale_w = feature.shape[-1] / outer.width
                rows = slice(
                    round((core.top - outer.top) * scale_h),
                    round((core.bottom - outer.top) * scale_h),
                )
                cols = slice(
                    round((core.left - outer.left) * scale_w),
                    round((core.right - outer.left) * scale_w),
                )
                part = feature[..., rows, cols]
                positions = part.shape[-2] * part.shape[-1]
                if positions == 0:
                    continue
                gram = gram_matrix(part) * positions
                sums[name] = sums[name] + gram if name in sums else gram
                counts[name] = counts.get(name, 0) + positions
    return {name: sums[name] / counts[name] for name in layers}


def tile_setting(value: str) -> int | str:
    """``off`` | ``auto`` | N (tile size in px) from the config's string."""
    return value if value in ("off", "auto") else int(value)


def stage_tile(
    config: Any,
    stage_size: int,
    content_hw: Sequence[int],
    style_hws: Sequence[Sequence[int]],
    device: Any = None,
) -> int:
    """The tile size for a stage of ``stage_size`` px, or 0 to optimize it whole: with
    ``--tile N`` every stage larger than N; with ``--tile auto`` the stages whose whole-image
    estimate exceeds the memory available (tiles of :data:`DEFAULT_TILE`)."""
    from stylelab.limits import _Sized, estimate_stylize_bytes, memory_room

    setting = tile_setting(config.tile)
    if setting == "off":
        return 0
    if setting == "auto":
        if stage_size <= DEFAULT_TILE:
            return 0
        sized = _Sized(config, stage_size, config.optimizer)
        fits = estimate_stylize_bytes(sized, content_hw, style_hws) <= memory_room(device)
        return 0 if fits else DEFAULT_TILE
    assert isinstance(setting, int)
    return setting if stage_size > setting else 0


def estimate_tiled_bytes(
    config: Any, content_hw: Sequence[int], style_hws: Sequence[Sequence[int]]
) -> int:
    """Rough upper estimate of a tiled run's peak memory: one tile's optimization (or the
    largest stage left whole, at most one tile's size) plus the full-size canvas, photo,
    copies and styles, 12 bytes per pixel each (float32 RGB)."""
    from stylelab.limits import _Sized, estimate_stylize_bytes, long_edge_shape

    setting = tile_setting(config.tile)
    tile = DEFAULT_TILE if setting in ("auto", "off") else int(setting)
    sized = _Sized(config, min(config.size, tile), config.optimizer)
    per_tile = estimate_stylize_bytes(sized, content_hw, style_hws)
    height, width = long_edge_shape(content_hw, config.size)
    style_edge = max(16, round(config.size * config.style_scale))
    style_pixels = sum(h * w for h, w in (long_edge_shape(hw, style_edge) for hw in style_hws))
    return per_tile + 4 * 12 * height * width + 2 * 12 * style_pixels


def check_tile_memory(
    config: Any,
    content_hw: Sequence[int],
    style_hws: Sequence[Sequence[int]],
    device: Any = None,
) -> None:
    """Refuse in one line a tiled run that would not fit either
    (:func:`estimate_tiled_bytes`)."""
    from stylelab.limits import check_bytes

    check_bytes(
        estimate_tiled_bytes(config, content_hw, style_hws),
        f"--size {config.size} with --tile {config.tile}",
        "a smaller --size or --tile would fit",
        device,
    )


_FIELD_CACHE: dict[tuple[int, int, str], str | None] = {}  # -> the layer, or None if it fits


def check_receptive_field(extractor: Any, plan: Any, tile: int, device: Any) -> None:
    """Refuse a tile smaller than what the deepest loss layer sees: the input gradient of
    that layer's centre position (all channels, random input) must not reach both edges
    of a tile-sized input."""
    layers = tuple(dict.fromkeys(plan.content + plan.style))
    key = (id(extractor), tile, ",".join(layers))
    if key not in _FIELD_CACHE:
        probe = torch.rand(1, 3, tile, tile, device=device, requires_grad=True)
        with torch.enable_grad():
            found = extractor(probe)
            deepest = min(layers, key=lambda n: found[n].shape[-2] * found[n].shape[-1])
            feature = found[deepest]
            centre = feature[..., feature.shape[-2] // 2, feature.shape[-1] // 2]
            (grad,) = torch.autograd.grad(centre.float().sum(), probe)
        support = grad.abs().sum(dim=(0, 1, 3)).nonzero()
        reaches_both = bool(len(support)) and int(support[0]) == 0 and int(support[-1]) == tile - 1
        _FIELD_CACHE[key] = deepest if reaches_both else None
    too_small = _FIELD_CACHE[key]
    if too_small is not None:
        raise StylelabError(
            f"--tile {tile} is smaller than the receptive field of {too_small}, the deepest "
            f"loss layer (it sees more than {tile} px): use a larger --tile (default "
            f"{DEFAULT_TILE}) or shallower layers"
        )

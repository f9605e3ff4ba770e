"""Spatial control: a style per region, through guided Gram matrices.

Gatys, Ecker, Bethge, Hertzmann & Shechtman, "Controlling Perceptual Factors in Neural
Style Transfer" (CVPR 2017), section 4. A mask image names regions by its distinct
colours; ``--region-style "#ff0000=0,#00ff00=none"`` gives each region a style image (by
0-based index or path among the styles given) or ``none`` (the photo is kept there: only
the content loss acts). For region r with mask m_r, downsampled to every layer's feature
map (area average), the guided Gram of features F (C x M positions) is

    G_r(F) = (F * m_r)(F * m_r)^T / sum(m_r)

(position-averaged over the region, like :func:`stylelab.losses.gram_matrix`), and the style
loss is the sum over regions of E_l(G_r(F), A_r), where A_r is the Gram of the region's
style image (all of it, or the part its own mask selects when style masks are given).

Masks are arrays here: :func:`read_mask` turns an image file into (labels, colours), and the
Python API takes (R, H, W) float arrays directly.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from stylelab.errors import StylelabError
from stylelab.limits import show

MAX_REGIONS = 16
HEX = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Regions:
    """Region masks at the photo's size and the style of each: (R, H, W) float32 in [0, 1]
    and one style index (or None: no style there) per region."""

    masks: np.ndarray
    styles: tuple[int | None, ...]
    colors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Arrays and tensors become float32 arrays, lists of styles a tuple; anything else,
        or masks that are not one (H, W) map per style, is one line."""
        if not isinstance(self.styles, (tuple, list)):
            raise StylelabError(
                f"region styles must be a tuple of style indices (or None), got {show(self.styles)}"
            )
        for index in self.styles:
            if index is not None and (isinstance(index, bool) or not isinstance(index, Integral)):
                raise StylelabError(f"a region style is a style index or None, got {show(index)}")
        if not 1 <= len(self.styles) <= MAX_REGIONS:
            raise StylelabError(f"{len(self.styles)} regions; give 1 to {MAX_REGIONS}")
        masks = self.masks
        try:
            if hasattr(masks, "detach"):  # a torch tensor, read without importing torch
                masks = masks.detach().cpu().float().numpy()
            array = np.asarray(masks, dtype=np.float32)
        except (TypeError, ValueError, RuntimeError, NotImplementedError):
            raise StylelabError(f"region masks must be numbers, got {show(self.masks)}") from None
        if array.ndim != 3 or array.shape[0] != len(self.styles) or 0 in array.shape:
            raise StylelabError(
                f"masks of shape {array.shape} for {len(self.styles)} region styles: give "
                "(regions, H, W)"
            )
        object.__setattr__(self, "masks", array)
        styles = tuple(None if i is None else int(i) for i in self.styles)
        object.__setattr__(self, "styles", styles)


def hex_color(rgb: Sequence[int]) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb[:3])


def read_mask(path: str | os.PathLike, shape: Sequence[int]) -> tuple[np.ndarray, list[str]]:
    """A mask image as (labels (H, W) int, colours '#rrggbb' by label), resized to ``shape``
    (nearest neighbour: colours are never blended). Another aspect ratio is resized with a
    one-line warning; more than :data:`MAX_REGIONS` colours is an error."""
    from PIL import Image

    from stylelab.pixels import check_finite_array, decode_pil, same_aspect
    from stylelab.safety import check_input_file, one_line

    file = check_input_file(path, "mask")
    rgb = np.round(check_finite_array(decode_pil(file, str(file)), f"mask {file}") * 255)
    rgb = rgb.astype(np.uint8)
    height, width = (int(v) for v in shape[-2:])
    mask_h, mask_w = rgb.shape[:2]
    if not same_aspect(rgb.shape[:2], (height, width)):
        warnings.warn(
            one_line(
                f"{file}: the mask is {mask_w}x{mask_h} and the photo {width}x{height} "
                "(another aspect ratio); the mask was resized to the photo"
            ),
            stacklevel=2,
        )
    if (mask_h, mask_w) != (height, width):
        rgb = np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.NEAREST))
    flat = rgb.reshape(-1, 3)
    colours, labels = np.unique(flat, axis=0, return_inverse=True)
    if len(colours) > MAX_REGIONS:
        raise StylelabError(
            f"{one_line(str(file))}: {len(colours)} distinct colours; a mask names at most "
            f"{MAX_REGIONS} regions (flat colours, no anti-aliasing, e.g. a PNG, not a JPEG)"
        )
    return labels.reshape(height, width), [hex_color(c) for c in colours]


def parse_region_styles(
    text: str, style_names: Sequence[str], mask_colors: Sequence[str]
) -> dict[str, int | None]:
    """``"#rrggbb=STYLE,..."`` -> {colour: style index or None}; STYLE is a 0-based index,
    one of ``style_names`` (the paths given) or ``none``. Every colour must be in the mask;
    mask colours not named keep the photo (``none``)."""
    mapping: dict[str, int | None] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        colour, equals, style = part.partition("=")
        colour, style = colour.strip().lower(), style.strip()
        if not equals or not HEX.fullmatch(colour):
            raise StylelabError(
                f"--region-style {show(part)}: expected #rrggbb=STYLE (an index, a style path "
                "or none)"
            )
        if colour not in mask_colors:
            raise StylelabError(
                f"--region-style {colour}: the mask has no such colour; its colours: "
                + ", ".join(mask_colors)
            )
        if colour in mapping:
            raise StylelabError(f"--region-style {colour}: given twice")
        mapping[colour] = _style_index(style, style_names)
    if not mapping:
        raise StylelabError("--region-style is empty; give #rrggbb=STYLE,...")
    return mapping


def _style_index(style: str, names: Sequence[str]) -> int | None:
    if style.lower() == "none":
        return None
    if style.isdecimal() and style.isascii():
        index = int(style)
        if index >= len(names):
            raise StylelabError(
                f"--region-style: style {index} but {len(names)} style image(s) were given "
                f"(indices 0 to {len(names) - 1})"
            )
        return index
    if style in names:
        return list(names).index(style)
    raise StylelabError(
        f"--region-style: {show(style)} is neither an index, a style given ("
        + ", ".join(names)
        + ") nor none"
    )


def regions_from_labels(
    labels: np.ndarray, colors: Sequence[str], mapping: dict[str, int | None]
) -> Regions:
    """One binary mask per mask colour, in the mask's colour order; unnamed colours get
    no style (``none``)."""
    masks = np.stack([(labels == i).astype(np.float32) for i in range(len(colors))])
    styles = tuple(mapping.get(c) for c in colors)
    return Regions(masks, styles, tuple(colors))


def check_mask_values(masks: np.ndarray) -> None:
    """Region masks hold finite values in [0, 1] (checked before any resize, whose
    overshoot is clamped)."""
    if not np.isfinite(masks).all() or masks.min() < 0 or masks.max() > 1:
        raise StylelabError("region masks must hold finite values in [0, 1]")


def check_regions(regions: Regions, style_count: int, shape: Sequence[int]) -> None:
    """Masks of the photo's size, values in [0, 1], every style index among the styles."""
    height, width = (int(v) for v in shape[-2:])
    if regions.masks.shape[1:] != (height, width):
        raise StylelabError(
            f"region masks are {regions.masks.shape[2]}x{regions.masks.shape[1]}; the photo is "
            f"{width}x{height} at this size"
        )
    check_mask_values(regions.masks)
    for index in regions.styles:
        if index is not None and not 0 <= index < style_count:
            raise StylelabError(
                f"a region uses style {index} but {style_count} style image(s) were given"
            )
    if all(s is None for s in regions.styles):
        raise StylelabError("every region is 'none': there is no style to transfer")

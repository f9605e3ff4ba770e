"""A stereo pair in: two files, one side-by-side image (left | right), or an MPO file.

The pair must be *rectified* (epipolar lines horizontal: a point is on the same row in both
views), as a 3D camera's or Middlebury's pairs are; stylelab does not rectify. Views of
different sizes are refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from stylelab.errors import StylelabError
from stylelab.images import ImageSource, check_finite, load_image
from stylelab.pixels import label
from stylelab.safety import check_input_file, one_line

MPO_SUFFIX = ".mpo"


@dataclass(frozen=True)
class StereoPair:
    """The two views, (1, 3, H, W) each in [0, 1], and how they were read."""

    left: torch.Tensor
    right: torch.Tensor
    source: str

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.left.shape[-2]), int(self.left.shape[-1]))


def is_mpo(source: object) -> bool:
    """Whether ``source`` is a path named ``*.mpo`` (read as a two-frame MPO)."""
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == MPO_SUFFIX


def load_pair(left: ImageSource, right: ImageSource) -> StereoPair:
    """Two images of one rectified pair; one line when their sizes differ."""
    views = load_image(left), load_image(right)
    return _checked(views[0], views[1], f"{label(left, 'left')} + {label(right, 'right')}")


def load_side_by_side(source: ImageSource) -> StereoPair:
    """One image holding the left view in its left half and the right in its right half
    (parallel view, what 3D players take); one line for an odd width."""
    image = load_image(source)
    width = image.shape[-1]
    if width % 2:
        raise StylelabError(
            f"{label(source, 'side-by-side image')}: width {width} px is odd; a side-by-side "
            "image is two views of equal width"
        )
    half = width // 2
    return _checked(image[..., :half], image[..., half:], label(source, "side-by-side"))


def load_mpo(path: str | os.PathLike) -> StereoPair:
    """The first two frames of a Multi-Picture Object file (3D cameras: left, then right)."""
    name = one_line(path)
    check_input_file(path, "MPO file")
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            if frames < 2:
                raise StylelabError(
                    f"{name}: an MPO with {frames} frame; a stereo MPO holds two (left, right)"
                )
            views = []
            for index in (0, 1):
                image.seek(index)
                views.append(load_image(image.convert("RGB")))
    except StylelabError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the file's fault
        raise StylelabError(f"{name}: cannot read the MPO file ({one_line(exc)})") from None
    return _checked(views[0], views[1], f"MPO {name}")


def _checked(left: torch.Tensor, right: torch.Tensor, source: str) -> StereoPair:
    if left.shape != right.shape:
        raise StylelabError(
            f"{source}: the views are {left.shape[-1]}x{left.shape[-2]} and "
            f"{right.shape[-1]}x{right.shape[-2]} px; a rectified stereo pair has two views "
            "of one size"
        )
    check_finite(left, f"{source}, left view")
    check_finite(right, f"{source}, right view")
    return StereoPair(left.contiguous(), right.contiguous(), source)

"""Images in and out: load anything Pillow reads, resize, convert, save atomically.

Inside stylelab an image is a float32 tensor of shape (1, 3, H, W) with values in [0, 1],
RGB. Converting to float right after decoding keeps 16-bit gray sources at full precision
(Pillow decodes 16-bit colour to 8 bits).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Union  # noqa: UP035

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from stylelab import pixels
from stylelab.errors import StylelabError, checked_call
from stylelab.limits import MAX_LIST_LENGTH, show
from stylelab.safety import (
    IMAGE_FORMATS,
    atomic_path,
    check_input_file,
    check_output_file,
    one_line,
)

MIN_SIDE = pixels.MIN_SIDE
SAVE_FORMATS = IMAGE_FORMATS
EXAMPLE_PREFIX = pixels.EXAMPLE_PREFIX

ImageSource = Union[str, os.PathLike, Image.Image, torch.Tensor, np.ndarray]  # noqa: UP007


@checked_call
def load_image(source: ImageSource) -> torch.Tensor:
    """Load a path, ``example:NAME``, PIL image, array or tensor as a (1, 3, H, W) tensor.

    Applies EXIF orientation, converts every Pillow mode to RGB (alpha is composited over
    white; 16-bit gray keeps its precision), and refuses images under 16 px. Arrays are
    (H, W), (H, W, 1|3|4) or (1, 3, H, W); tensors (1|3, H, W) or (1, 1|3, H, W); either
    holds uint8 (0-255), uint16 (0-65535), bool or floats in [0, 1], and at most
    ``PIL.Image.MAX_IMAGE_PIXELS`` pixels, as files.
    """
    if isinstance(source, torch.Tensor):
        tensor = _tensor_to_batch(source)
    elif isinstance(source, np.ndarray):
        tensor = _array_to_tensor(source)
    elif isinstance(source, Image.Image):
        tensor = pil_to_tensor(source)
    elif isinstance(source, str) and source.startswith(EXAMPLE_PREFIX):
        from stylelab.examples import example_image

        tensor = pil_to_tensor(example_image(source[len(EXAMPLE_PREFIX) :]))
    elif isinstance(source, (str, os.PathLike)) and os.fspath(source):
        tensor = _load_path(source)
    else:
        raise StylelabError(
            f"cannot read an image from {_describe(source)}: give a path, example:NAME, "
            "a PIL image, an array or a tensor"
        )
    height, width = tensor.shape[-2:]
    if min(height, width) < MIN_SIDE:
        raise StylelabError(
            f"{_describe(source)}: image is {width}x{height} px; both sides must be at least "
            f"{MIN_SIDE} px"
        )
    return tensor


def _describe(source: ImageSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return one_line(os.fspath(source)) or "an empty path"
    return f"<{type(source).__name__}>"


def _load_path(source: str | os.PathLike) -> torch.Tensor:
    path = check_input_file(source, "image")
    return decode_image(path, str(path))


def decode_image(source: str | os.PathLike | IO[bytes], name: str) -> torch.Tensor:
    """Decode a file (path or binary stream) with Pillow: the first frame, as a tensor.
    Every decoder failure becomes one line naming ``name`` (:func:`stylelab.pixels.decode_pil`)."""
    return _array_to_tensor(pixels.decode_pil(source, name))


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image of any mode -> (1, 3, H, W) float32 RGB in [0, 1]."""
    return _array_to_tensor(pixels.pil_to_rgb(image))


def _array_to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.array_to_batch(array))


def _tensor_to_batch(tensor: torch.Tensor) -> torch.Tensor:
    """(3|1, H, W) or (1, 3|1, H, W), dtypes as :data:`stylelab.pixels.IMAGE_DTYPES` (a
    uint8 tensor, as ``torchvision.io.decode_image`` gives, is divided by 255)."""
    if tensor.is_meta:
        raise StylelabError("a tensor on the meta device holds no pixels")
    if tensor.is_nested:
        raise StylelabError("a nested tensor is no image: give one (3, H, W) tensor")
    if tensor.layout != torch.strided:
        raise StylelabError(f"a {tensor.layout} tensor is no image: give a dense one")
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 4 or tensor.shape[0] != 1 or tensor.shape[1] not in (1, 3):
        raise StylelabError(
            f"tensor of shape {tuple(tensor.shape)} is not a (3, H, W) or (1, 3, H, W) image"
        )
    pixels.check_pixel_count(tensor.shape[2], tensor.shape[3], "tensor")
    scale = pixels.pixel_scale(tensor.dtype, "tensor")
    tensor = tensor.detach().cpu().float()
    if scale != 1.0:
        tensor = tensor / scale
    if tensor.shape[1] == 1:
        tensor = tensor.expand(1, 3, *tensor.shape[2:])
    if not tensor.numel():
        raise StylelabError(f"tensor of shape {tuple(tensor.shape)} has no pixels")
    # the arrays' rule: clipped to [0, 1], NaN and inf kept for check_finite, far out refused
    return torch.from_numpy(np.ascontiguousarray(pixels.clip_unit(tensor.numpy())))


def resize_long_edge(image: torch.Tensor, long_edge: int) -> torch.Tensor:
    """Resize (1, 3, H, W) so that max(H, W) == long_edge, keeping the aspect ratio.

    Bicubic with antialiasing (a Pillow-like filter when shrinking), clamped to [0, 1].
    """
    height, width = image.shape[-2:]
    scale = long_edge / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if size == (height, width):
        return image
    return resize_to(image, size)


def resize_to(image: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Resize (B, 3, H, W) to exactly ``shape`` = (H', W'): bicubic with antialiasing,
    clamped to [0, 1]. Returns a copy even when the shape already matches."""
    if tuple(image.shape[-2:]) == tuple(shape):
        return image.clone()
    resized = F.interpolate(
        image, size=tuple(shape), mode="bicubic", antialias=True, align_corners=False
    )
    return resized.clamp(0, 1)


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] -> 8-bit RGB PIL image."""
    return pixels.array_to_pil(image.detach().float().cpu().numpy())


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early (before minutes of work) on an output image path that cannot be written."""
    return check_output_file(path, SAVE_FORMATS)


@checked_call
def save_image(image: torch.Tensor | Image.Image, path: str | os.PathLike) -> Path:
    """Save by extension (PNG, JPEG, TIFF, WebP), through a temp file and a rename.
    ``image``: a PIL image or a finite (3, H, W) / (1, 3, H, W) tensor in [0, 1]."""
    if not isinstance(image, Image.Image):
        if not isinstance(image, torch.Tensor):
            raise StylelabError(
                f"save_image needs a tensor or a PIL image, got {type(image).__name__}"
            )
        if not image.is_floating_point():
            raise StylelabError(f"save_image needs a float image in [0, 1], got {image.dtype}")
        image = _tensor_to_batch(image)  # one line for any other shape, device or range
        check_finite(image, "save_image")
    elif 0 in image.size:
        raise StylelabError(f"save_image: the image is {image.width}x{image.height} px")
    out = check_output_path(path)
    with atomic_path(out) as tmp:
        encode_image(image, tmp, out.suffix)
    return out


def encode_image(image: torch.Tensor | Image.Image, path: Path, suffix: str) -> None:
    """Write ``image`` to ``path`` in the format of ``suffix`` (``.png``, ``.jpg``, ...)."""
    pil = image if isinstance(image, Image.Image) else tensor_to_pil(image)
    pixels.encode_pil(pil, path, suffix)


def check_source(source: object, what: str) -> None:
    """One line for a value that is no image source (a path, ``example:NAME``, a PIL
    image, an array or a tensor)."""
    if isinstance(source, (str, os.PathLike, Image.Image, torch.Tensor, np.ndarray)):
        if isinstance(source, str) and (not source or "\0" in source):
            raise StylelabError(f"{what}: {show(source)} is not a path to an image")
        return
    raise StylelabError(
        f"{what} must be a path, example:NAME, a PIL image, an array or a tensor, "
        f"got {show(source)}"
    )


def style_sources(style: object) -> list[ImageSource]:
    """One style image or a non-empty list/tuple of them (at most MAX_LIST_LENGTH)."""
    styles: list[Any] = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise StylelabError("style needs at least one image, got an empty list")
    if len(styles) > MAX_LIST_LENGTH:
        raise StylelabError(f"{len(styles)} style images; at most {MAX_LIST_LENGTH}")
    for item in styles:
        check_source(item, "style")
    return styles


def check_finite(image: torch.Tensor, what: str) -> torch.Tensor:
    """``image``, or a StylelabError when any value is NaN or infinite (nothing finite
    could come of it: every loss, and so every step, would be NaN); the tensor form of
    :func:`stylelab.pixels.check_finite_array`."""
    if not bool(torch.isfinite(image).all()):
        raise StylelabError(f"{what}: the image has NaN or infinite values")
    return image

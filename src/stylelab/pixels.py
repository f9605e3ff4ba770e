"""Images as NumPy arrays, without torch: decode, resize, save, labelled sheets.

The torch-free half of :mod:`stylelab.images`, for paths that must not import torch (an
onnxruntime model applied by ``stylelab apply model.onnx``, video). An image here is a
float32 array of shape (1, 3, H, W) in [0, 1], RGB: the layout of stylelab's tensors, so
``np.asarray(tensor)`` and ``torch.from_numpy(array)`` go between the two for free.
Decoding rules are those of :mod:`stylelab.images` (which calls this module): EXIF
orientation applied, every Pillow mode to RGB, alpha (and a PNG's transparent colour) over
white, 16-bit gray kept (16-bit colour is 8-bit after Pillow's decoding), float pixels
in [0, 1] (a little outside is clipped; 0-255 floats are refused), 32-bit integers refused.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from stylelab.errors import StylelabError
from stylelab.limits import show
from stylelab.safety import (
    IMAGE_FORMATS,
    atomic_path,
    check_input_file,
    check_output_file,
    one_line,
)

MIN_SIDE = 16
EXAMPLE_PREFIX = "example:"


def decode_pil(source: str | os.PathLike | IO[bytes], name: str) -> np.ndarray:
    """Decode a file (path or binary stream) with Pillow: the first frame, as an (H, W, 3)
    float32 array in [0, 1]. Every decoder failure becomes one line naming ``name``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Corrupt EXIF data": the pixels still load
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=readable_formats()) as image:
                frames = int(getattr(image, "n_frames", 1))
                animated = bool(getattr(image, "is_animated", False))
                kind = image.format
                image.seek(0)  # first frame of animations
                image.load()
                pixels = pil_to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise StylelabError(
            f"{name}: refused as a possible decompression bomb (more than "
            f"{Image.MAX_IMAGE_PIXELS:,} pixels)"
        ) from None
    except UnidentifiedImageError:
        raise StylelabError(f"{name}: not an image file Pillow can read") from None
    except MemoryError:
        raise StylelabError(f"{name}: too large to decode in the memory available") from None
    except StylelabError as exc:  # the pixels' own rules (pil_to_rgb), named by the file
        raise StylelabError(f"{name}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the file's fault
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StylelabError(f"{name}: cannot decode image ({reason})") from None
    if animated and kind in ANIMATED_FORMATS:
        warnings.warn(one_line(f"{name}: {animation_note(kind, frames)}"), stacklevel=2)
    return pixels


#: Pillow's formats whose frames are moments (an MPO's second frame is a view, not a moment).
ANIMATED_FORMATS = ("GIF", "PNG", "WEBP")


def animation_note(kind: str, frames: int) -> str:
    """What a still-image command says of an animation it reads the first frame of."""
    what = "an animation (APNG)" if kind == "PNG" else "an animation"
    # ffmpeg reads GIF and APNG but no animated WebP (stylelab.video.io)
    video = "" if kind == "WEBP" else " ('stylelab video' stylizes them all)"
    return f"{what} of {frames} frames; its first is used{video}"


def readable_formats() -> list[str]:
    """Every format Pillow opens except those that hand the file to another program:
    EPS is PostScript, a program that Pillow runs through Ghostscript."""
    Image.init()
    return [name for name in Image.OPEN if name not in ("EPS", "WMF")]


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """PIL image of any mode -> (H, W, 3) float32 RGB in [0, 1].

    16-bit gray (``I;16*``) is divided by 65535, as is mode ``I`` when it holds unsigned
    16-bit values (:func:`_sixteen_bit`); any other mode ``I`` image (32-bit or signed
    integers) is refused, since its white level is unknown; ``F`` (float) must hold
    values in [0, 1] (:func:`clip_unit`). A PNG's transparent colour (tRNS) on a decoded
    gray or RGB file is composited like alpha; a colour key that a caller's own
    ``convert("RGB")`` carried over is not (it would erase opaque pixels of that colour)."""
    try:
        image.load()  # decoding errors are the caller's to see, not swallowed below
    except ValueError as exc:  # a closed image, for one
        raise StylelabError(f"cannot read the PIL image ({one_line(exc)})") from None
    if 0 in image.size:
        raise StylelabError(f"image is {image.width}x{image.height} px: it has no pixels")
    if image.mode == "I" and not _sixteen_bit(image):  # read before the transpose's copy
        raise StylelabError(
            "an integer image of Pillow mode I (32-bit or signed): its white level is "
            "unknown; save it as 8- or 16-bit unsigned"
        )
    keyed_png = image.format == "PNG" and "transparency" in image.info
    with suppress(Exception):  # a damaged EXIF block: keep the pixels as stored
        image = ImageOps.exif_transpose(image) or image
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        array = np.asarray(image).astype(np.float32)
        if mode != "F":
            array /= 65535.0
        return array_to_rgb(clip_unit(array))
    if (mode == "P" and "transparency" in image.info) or (mode in ("L", "RGB") and keyed_png):
        image = image.convert("RGBA")
    if mode == "La":  # premultiplied: Pillow converts La only to LA
        image = image.convert("LA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = image.convert("RGB")
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _sixteen_bit(image: Image.Image) -> bool:
    """Whether a mode ``I`` image holds unsigned 16-bit values: a PGM/PPM (Pillow scales
    its samples to 0-65535), a PNG (at most 16 bits; Pillow before 10.3 opened 16-bit gray
    as ``I``) or a TIFF of 16 unsigned bits per sample (SampleFormat 1 or absent)."""
    if image.format in ("PPM", "PNG"):
        return True
    tags = getattr(image, "tag_v2", None)
    if image.format != "TIFF" or tags is None:
        return False
    return tags.get(258) in (16, (16,)) and tags.get(339, 1) in (1, (1,))


IMAGE_DTYPES = "uint8 (0-255), uint16 (0-65535), bool, or floats in [0, 1]"
FLOAT_SLACK = 0.5  # float pixels this far outside [0, 1] are clipped (resampling overshoot)


def label(source: object, what: str) -> str:
    """``content`` for an in-memory image, ``content PATH`` for a file (in messages; a
    path with a line break or another unprintable character is quoted and escaped)."""
    if not isinstance(source, (str, os.PathLike)):
        return what
    path = os.fspath(source)
    return (
        f"{what} {path}" if isinstance(path, str) and path.isprintable() else f"{what} {show(path)}"
    )


def check_finite_array(batch: np.ndarray, what: str) -> np.ndarray:
    """``batch``, or one line when a value is NaN or infinite (a float TIFF or array may
    hold them); the rule :func:`stylelab.images.check_finite` applies to tensors."""
    if not np.isfinite(batch).all():
        raise StylelabError(f"{what}: the image has NaN or infinite values")
    return batch


def pixel_scale(dtype: object, what: str = "array") -> float:
    """What a pixel of ``dtype`` (a NumPy or torch dtype) is divided by to lie in [0, 1]:
    255 for uint8, 65535 for uint16, 1 for bool and floats. Any other dtype (signed
    integers, whose range is a guess; complex; strings; objects) is one line."""
    kind: str
    if isinstance(dtype, np.dtype):  # by kind and size: any byte order (>f4, >u2), float128
        kind, size = dtype.kind, dtype.itemsize
    else:  # a torch dtype, read without importing torch
        kind = "f" if getattr(dtype, "is_floating_point", False) else ""
        kind = kind or {"torch.uint8": "u", "torch.uint16": "u", "torch.bool": "b"}.get(
            str(dtype), ""
        )
        size = getattr(dtype, "itemsize", 0)
    if kind == "u" and size in (1, 2):
        return 255.0 if size == 1 else 65535.0
    if kind in ("f", "b"):
        return 1.0
    name = str(dtype).removeprefix("torch.")
    raise StylelabError(f"an image {what} of dtype {name}: give {IMAGE_DTYPES}")


def check_pixel_count(height: int, width: int, what: str = "array") -> None:
    """The bound Pillow puts on image files (``Image.MAX_IMAGE_PIXELS``), for in-memory
    images too: checked before any float copy is made (a 60000 x 60000 view of one pixel
    would otherwise ask for 40 GiB)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and height * width > limit:
        raise StylelabError(
            f"an image {what} of {width}x{height} pixels is over the limit of {limit:,} "
            "pixels (the bound Pillow puts on image files)"
        )


def array_to_rgb(array: np.ndarray) -> np.ndarray:
    """An (H, W), (H, W, 1|3|4) array (dtypes: :data:`IMAGE_DTYPES`) -> (H, W, 3) float32
    in [0, 1]; alpha is composited over white."""
    array = np.asarray(array)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise StylelabError(f"array of shape {array.shape} is not an H x W x {{1,3,4}} image")
    check_pixel_count(array.shape[0], array.shape[1])
    scale = pixel_scale(array.dtype)
    with np.errstate(over="ignore"):  # 1e300 becomes inf, which the finite check refuses
        array = array.astype(np.float32)
    if scale != 1.0:
        array /= scale
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.shape[2] == 4:
        alpha = array[..., 3:4]
        array = array[..., :3] * alpha + (1 - alpha)
    return clip_unit(np.ascontiguousarray(array, dtype=np.float32))


def clip_unit(array: np.ndarray) -> np.ndarray:
    """``array`` clipped to [0, 1], except NaN and infinities, which stay as they are: an
    image of +inf is no white image, and :func:`check_finite_array` (or stylize's
    ``check_finite``) must still see it to refuse it. Values more than
    :data:`FLOAT_SLACK` outside [0, 1] are refused (:func:`check_unit_range`)."""
    finite = np.isfinite(array)
    if not finite.all():
        return np.where(finite, np.clip(array, 0, 1), array)
    if array.size:
        check_unit_range(float(array.min()), float(array.max()))
    return np.clip(array, 0, 1)


def check_unit_range(low: float, high: float) -> None:
    """One line when an image's finite values reach more than :data:`FLOAT_SLACK` outside
    [0, 1]: such an image is on another scale (0-255 floats, say), and clipping it would
    give a white or black picture without a word."""
    if low < -FLOAT_SLACK or high > 1 + FLOAT_SLACK:
        looks_8_bit = 50 < high <= 256 and low > -1  # Pillow's convert("F") keeps 0-255
        hint = "; these look like 0-255 values (divide by 255)" if looks_8_bit else ""
        raise StylelabError(
            f"float pixel values in [{low:.4g}, {high:.4g}]: give values in [0, 1]{hint}"
        )


def array_to_batch(array: np.ndarray) -> np.ndarray:
    """An image array as (1, 3, H, W) float32 in [0, 1]: stylelab's own layout
    (1, 3, H, W), or any layout :func:`array_to_rgb` takes."""
    if array.ndim == 4 and array.shape[:2] == (1, 3):
        check_pixel_count(array.shape[2], array.shape[3])
        scale = pixel_scale(array.dtype)
        with np.errstate(over="ignore"):  # 1e300 becomes inf, which the finite check refuses
            return clip_unit(np.ascontiguousarray(array, dtype=np.float32) / scale)
    return to_batch(array_to_rgb(array))


def to_batch(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (1, 3, H, W), contiguous float32."""
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)


def load_array(source: str | os.PathLike | Image.Image | np.ndarray) -> np.ndarray:
    """A path, ``example:NAME``, PIL image or array as a (1, 3, H, W) float32 array, with
    the rules of :func:`stylelab.images.load_image` (16 px at least a side)."""
    if isinstance(source, np.ndarray):
        batch = array_to_batch(source)
    elif isinstance(source, Image.Image):
        batch = to_batch(pil_to_rgb(source))
    elif isinstance(source, str) and source.startswith(EXAMPLE_PREFIX):
        from stylelab.examples import example_image

        batch = to_batch(pil_to_rgb(example_image(source[len(EXAMPLE_PREFIX) :])))
    elif isinstance(source, (str, os.PathLike)) and os.fspath(source):
        path = check_input_file(source, "image")
        batch = to_batch(decode_pil(path, str(path)))
    else:
        raise StylelabError(f"cannot read an image from <{type(source).__name__}>")
    check_min_side(batch.shape[-2:], source)
    return batch


def same_aspect(shape: Sequence[int], target: Sequence[int]) -> bool:
    """Whether an image of ``shape`` (..., H, W) has the aspect ratio of ``target``
    (..., H, W) within 1 % and the 1.5 px that rounding a size to whole pixels costs: the
    rule for saying that one was stretched to the other (masks, evaluate)."""
    (height, width), (to_h, to_w) = (int(v) for v in shape[-2:]), (int(v) for v in target[-2:])
    tolerance = 0.01 + 1.5 / min(to_h, to_w)
    return abs(width / height - to_w / to_h) <= tolerance * (to_w / to_h)


def check_min_side(shape: Sequence[int], source: object) -> None:
    height, width = shape[-2:]
    if min(height, width) < MIN_SIDE:
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "image"
        raise StylelabError(
            f"{name}: image is {width}x{height} px; both sides must be at least {MIN_SIDE} px"
        )


def long_edge_shape(shape: Sequence[int], long_edge: int) -> tuple[int, int]:
    """(H', W') with max(H', W') == long_edge and the aspect ratio of (H, W) kept."""
    height, width = shape[-2:]
    scale = long_edge / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_array(batch: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Resize (1, 3, H, W) to (H', W'): Pillow's bicubic filter on float planes (antialiased
    when shrinking, as torch's ``antialias=True`` bicubic), clamped to [0, 1]."""
    height, width = (int(v) for v in shape)
    if tuple(batch.shape[-2:]) == (height, width):
        return batch.copy()
    planes = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F").resize(
                (width, height), Image.Resampling.BICUBIC
            )
        )
        for plane in batch[0]
    ]
    return np.clip(np.stack(planes)[None], 0, 1).astype(np.float32)


def array_to_pil(batch: Any) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) array (or CPU tensor) in [0, 1] -> 8-bit RGB PIL image."""
    array = np.asarray(batch, dtype=np.float32)
    if array.ndim == 4:
        array = array[0]
    scaled = np.clip(array, 0, 1)  # one copy, then in place: posters are 200 MB an image
    scaled *= 255
    np.round(scaled, out=scaled)
    return Image.fromarray(scaled.transpose(1, 2, 0).astype(np.uint8), mode="RGB")


def encode_pil(image: Image.Image, path: Path, suffix: str) -> None:
    """Write ``image`` to ``path`` in the format of ``suffix`` (``.png``, ``.jpg``, ...)."""
    fmt = IMAGE_FORMATS[suffix.lower()]
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    try:
        image.save(path, format=fmt, **options)
    except ValueError as exc:  # the format's own limits (WebP: 16383 px a side), a closed image
        reason = one_line(" ".join(str(exc).split()))  # Pillow's may span lines
        raise StylelabError(f"cannot write the image as {fmt} ({reason})") from None


def save_array(image: np.ndarray | Image.Image, path: str | os.PathLike) -> Path:
    """Save a (1, 3, H, W) array in [0, 1] or a PIL image by extension, atomically."""
    if not isinstance(image, Image.Image):
        if not np.isfinite(image).all():
            raise StylelabError("the image has NaN or infinite values")
        if image.size:  # the rule of clip_unit: no 0-255 floats clipped to a white picture
            check_unit_range(float(image.min()), float(image.max()))
        image = array_to_pil(image)
    out = check_output_file(path, IMAGE_FORMATS)
    with atomic_path(out) as tmp:
        encode_pil(image, tmp, out.suffix)
    return out


def labelled_sheet(rows: Sequence[Sequence[tuple[str, Any]]], height: int = 0) -> Image.Image:
    """A grid of labelled panels: each row a list of (label, image), the image a
    (1, 3, H, W) array or CPU tensor in [0, 1]; panels scaled to one height (the first
    panel's, or ``height``), a white caption strip under each. A label's lines after
    the first (``"title\nnote"``) are written under it in grey."""
    first = rows[0][0][1]
    panel_h = height or int(first.shape[-2])
    caption = max(14, panel_h // 14)
    lines = max(label.count("\n") + 1 for row in rows for label, _ in row)
    pictures: list[list[tuple[str, Image.Image]]] = []
    for row in rows:
        line = []
        for label, image in row:
            width = max(1, round(image.shape[-1] * panel_h / image.shape[-2]))
            array = np.asarray(image, dtype=np.float32)
            line.append((label, array_to_pil(resize_array(array, (panel_h, width)))))
        pictures.append(line)
    row_h = panel_h + lines * caption
    sheet_w = max(sum(p.width for _, p in line) for line in pictures)
    sheet = Image.new("RGB", (sheet_w, len(pictures) * row_h), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(10, caption - 4))
    for r, line in enumerate(pictures):
        x, y = 0, r * row_h
        for label, picture in line:
            sheet.paste(picture, (x, y))
            for i, text in enumerate(label.split("\n")):
                colour = "black" if i == 0 else "dimgray"
                draw.text((x + 4, y + panel_h + 1 + i * caption), text, fill=colour, font=font)
            x += picture.width
    return sheet

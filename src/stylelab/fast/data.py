"""Training photos: a folder searched recursively, or the built-in photos; crops and flips.

Batch k is a pure function of (seed, k, rank): which photos, which crops, which flips and
which style each item draws are all taken from a generator seeded with those numbers. A
resumed run therefore sees exactly the batches an uninterrupted run would have seen, with
no data-loader state to save. A file that cannot be decoded is skipped and counted (and
never drawn again), never a crash in the middle of training.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from stylelab.errors import StylelabError
from stylelab.fast.config import BUILTIN_PHOTOS as BUILTIN
from stylelab.images import pil_to_tensor, resize_long_edge

VALIDATION_PHOTO = "astronaut"
BOMBS = (Image.DecompressionBombError, Image.DecompressionBombWarning)
#: A photo that decodes to more than this many pixels per byte of its file, past
#: LARGE_PHOTO_PIXELS, is a decompression bomb in all but name (a 99 kB PNG of 9000 x 9000,
#: decoded whole at every draw, took 49 s and 3.9 GB for 3 steps): deflate packs at most
#: about 1000 pixels a byte (a flat image), photos take 2 to 10 (JPEG) or fewer (PNG).
MAX_PIXELS_PER_BYTE = 100
LARGE_PHOTO_PIXELS = 4096 * 4096
#: Crops cover this fraction range of the photo's area (RandomResizedCrop's ``scale``).
CROP_AREA = (0.3, 1.0)


@dataclass
class PhotoSet:
    """Training photos (paths or in-memory images) and what was skipped while reading."""

    sources: list[Path | Image.Image]
    names: list[str]
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason
    validation: Image.Image | Path | None = None
    validation_name: str = ""

    def __len__(self) -> int:
        return len(self.sources)

    def shard(self, rank: int, world: int) -> PhotoSet:
        """Every ``world``-th photo from ``rank`` on: each process of a distributed run
        trains on its own part of the data."""
        if world <= 1:
            return self
        if len(self.sources) < world:
            raise StylelabError(
                f"{len(self.sources)} training photos cannot be shared by {world} processes"
            )
        return PhotoSet(
            self.sources[rank::world],
            self.names[rank::world],
            self.skipped,
            self.validation,
            self.validation_name,
        )


def find_photos(data: str | os.PathLike) -> PhotoSet:
    """The photos of ``data``: a folder (recursive, every file Pillow identifies as an
    image, in sorted order) or ``example:photos`` (scikit-image's photos, astronaut held
    out for validation). A folder's first photo doubles as the validation photo."""
    if str(data) == BUILTIN:
        from stylelab.examples import example_image, training_photos

        photos = training_photos(exclude=(VALIDATION_PHOTO,))
        return PhotoSet(
            [image for _, image in photos],
            [name for name, _ in photos],
            validation=example_image(VALIDATION_PHOTO),
            validation_name=VALIDATION_PHOTO,
        )
    folder = Path(data)
    if not folder.exists():
        raise StylelabError(f"{folder}: no such folder (or use --data {BUILTIN})")
    if not folder.is_dir():
        raise StylelabError(f"{folder}: --data needs a folder of photos")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    sources: list[Path | Image.Image] = []
    names: list[str] = []
    skipped: dict[str, str] = {}
    for path in files:
        reason = _unreadable(path)
        if reason:
            skipped[str(path.relative_to(folder))] = reason
        else:
            sources.append(path)
            names.append(str(path.relative_to(folder)))
    if not sources:
        raise StylelabError(
            f"{folder}: no readable images in this folder"
            + (f" ({len(skipped)} files skipped)" if skipped else "")
        )
    return PhotoSet(sources, names, skipped, sources[0], names[0])


def _unreadable(path: Path) -> str:
    """Why ``path`` is no image Pillow reads ('' when it is one); reads the header only."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # as stylize
            with Image.open(path) as image:
                width, height = image.size
                image.verify()
        size = path.stat().st_size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return type(exc).__name__ if isinstance(exc, UnidentifiedImageError) else str(exc)[:80]
    except BOMBS:
        return "decompression bomb"
    if width * height > max(LARGE_PHOTO_PIXELS, MAX_PIXELS_PER_BYTE * size):
        return f"decompression bomb ({width}x{height} pixels from {size:,} bytes)"
    return ""


def decode(source: Path | Image.Image, min_edge: int) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1], shrunk so that the shorter edge is about ``2 * min_edge``
    at most (decoding and cropping full-size photos for 256 px crops wastes time)."""
    if isinstance(source, Image.Image):
        tensor = pil_to_tensor(source)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as opened:
                opened.draft("RGB", (2 * min_edge, 2 * min_edge))  # JPEG: decode smaller
                image: Image.Image = opened
                factor = min(image.size) // (2 * min_edge)
                if factor >= 2 and image.mode not in ("P", "1"):  # shrink before the float copy
                    image = image.reduce(factor)
                tensor = pil_to_tensor(image)
    if not bool(torch.isfinite(tensor).all()):  # a float TIFF: skipped, never trained on
        raise ValueError("NaN or infinite pixel values")
    short = min(tensor.shape[-2:])
    if short > 2 * min_edge:
        long_edge = round(max(tensor.shape[-2:]) * 2 * min_edge / short)
        tensor = resize_long_edge(tensor, long_edge)
    return tensor


def batch_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The generator of batch ``step`` on process ``rank``."""
    mixed = ((seed * 1_000_003 + rank) * 1_000_000_007 + step) % (2**63)
    return torch.Generator().manual_seed(mixed)


@dataclass
class Batch:
    images: torch.Tensor  # (B, 3, S, S)
    styles: torch.Tensor  # (B,) style index per item
    names: list[str]


class Sampler:
    """Draws batch k as a function of (seed, k, rank): photos, crops, flips, styles."""

    def __init__(
        self, photos: PhotoSet, size: int, batch_size: int, styles: int, seed: int, rank: int = 0
    ) -> None:
        self.photos = photos
        self.size = size
        self.batch_size = batch_size
        self.styles = styles
        self.seed = seed
        self.rank = rank
        self.bad: set[int] = set()

    def batch(self, step: int) -> Batch:
        generator = batch_generator(self.seed, step, self.rank)
        images: list[torch.Tensor] = []
        names: list[str] = []
        while len(images) < self.batch_size:
            index = int(torch.randint(len(self.photos), (1,), generator=generator))
            crop_draw = torch.rand(5, generator=generator)
            if index in self.bad:
                if len(self.bad) == len(self.photos):
                    raise StylelabError("every training photo failed to decode")
                continue
            try:
                photo = decode(self.photos.sources[index], self.size)
            except (OSError, SyntaxError, ValueError, *BOMBS) as exc:
                name = self.photos.names[index]
                self.photos.skipped[name] = str(exc)[:80] or type(exc).__name__
                self.bad.add(index)
                continue
            images.append(random_resized_crop(photo, self.size, crop_draw))
            names.append(self.photos.names[index])
        styles = torch.randint(self.styles, (self.batch_size,), generator=generator)
        return Batch(torch.cat(images), styles, names)


def random_resized_crop(image: torch.Tensor, size: int, draw: torch.Tensor) -> torch.Tensor:
    """A square crop of a random area fraction in :data:`CROP_AREA` at a random place,
    resized to ``size``, mirrored when ``draw[4] < 0.5``; ``draw`` holds 5 uniforms."""
    from torchvision.transforms.v2 import functional as TF

    height, width = image.shape[-2:]
    area = CROP_AREA[0] + (CROP_AREA[1] - CROP_AREA[0]) * float(draw[0])
    side = max(1, min(height, width, round((area * height * width) ** 0.5)))
    top = int(float(draw[1]) * (height - side + 1))
    left = int(float(draw[2]) * (width - side + 1))
    crop = TF.resized_crop(image, top, left, side, side, [size, size], antialias=True)
    if float(draw[4]) < 0.5:
        crop = crop.flip(-1)
    return crop.clamp(0, 1)


def load_styles(paths: Sequence[str], size: int) -> tuple[list[torch.Tensor], list[str]]:
    """Style images (paths or example:NAME) at a longer edge of ``size``, and their names."""
    from stylelab.images import load_image

    images = [resize_long_edge(load_image(p), size) for p in paths]
    names = [style_name(p) for p in paths]
    return images, names


def style_name(source: str) -> str:
    """'starry_night' for 'paintings/starry_night.jpg', 'strokes' for 'example:strokes'."""
    if source.startswith("example:"):
        return source[len("example:") :]
    return Path(source).stem

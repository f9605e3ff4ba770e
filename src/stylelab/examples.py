"""Built-in example images, usable anywhere a path is: ``example:chelsea``.

Photos are scikit-image's bundled CC0 images: only those its wheel ships, so loading
them never downloads. ``TRAINING_PHOTOS`` (every photo) is the built-in training set for
fast style transfer; ``astronaut`` is among them so it can be held out for validation.
``strokes`` and ``mosaic`` are painting-like images drawn here from fixed seeds, so the
demo and the tests need no image files and no network.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from stylelab.errors import StylelabError
from stylelab.safety import IMAGE_FORMATS, check_output_file, write_together

# Every natural photo (real scenes and textures) that scikit-image 0.26 ships in its
# wheel, by example name. Left out: the binary or synthetic images (horse, checkerboard,
# colorwheel, logo, text, page, shepp_logan_phantom), ``cat`` (the same picture as
# chelsea), and the photos that are poor training content: clock (blurred on purpose),
# cell (a flat microscope field), microaneurysms (102 px) and retina (a fundus image inside
# a black mask). brain, eagle, lily, skin and the other images that need a download are
# never used.
PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "motorcycle_left",
    "motorcycle_right",
    "immunohistochemistry",
    "camera",
    "moon",
    "coins",
    "grass",
    "gravel",
    "brick",
)
TRAINING_PHOTOS = PHOTOS
PAINTINGS = ("strokes", "mosaic")


def list_examples() -> tuple[str, ...]:
    return PHOTOS + PAINTINGS


def check_example(name: str) -> None:
    """One line for a ``name`` that is not a built-in example."""
    if name not in list_examples():
        raise StylelabError(f"unknown example {name!r}; choose from: {', '.join(list_examples())}")


def example_image(name: str) -> Image.Image:
    """Return the built-in example ``name`` as an RGB PIL image."""
    check_example(name)
    return _cached_example(name).copy()


def training_photos(exclude: Iterable[str] = ("astronaut",)) -> list[tuple[str, Image.Image]]:
    """The built-in training photos as (name, RGB image) pairs, in ``TRAINING_PHOTOS`` order.

    ``exclude`` names photos to hold out (by default astronaut, kept for validation); a
    name that is not a training photo is an error rather than silently ignored.
    """
    held_out = set(exclude)
    unknown = sorted(held_out - set(TRAINING_PHOTOS))
    if unknown:
        raise StylelabError(
            f"not training photos: {', '.join(unknown)}; choose from: {', '.join(TRAINING_PHOTOS)}"
        )
    return [(name, example_image(name)) for name in TRAINING_PHOTOS if name not in held_out]


def write_examples(
    folder: str | os.PathLike, names: Iterable[str], overwrite: bool = False
) -> list[Path]:
    """Write each named example as ``<folder>/<name>.png``; return the paths written.

    The folder must exist. Every name and every output is checked before anything is
    written: a file already there is refused unless ``overwrite`` (a training folder keeps
    its photos), and the images are written together (:func:`stylelab.safety.write_together`:
    a full disk leaves none of them).
    """
    out = Path(folder)
    if not out.is_dir():
        raise StylelabError(f"{out}: no such folder")
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        check_example(name)
    targets = [check_output_file(out / f"{name}.png", IMAGE_FORMATS) for name in wanted]
    existing = [t for t in targets if t.exists() or t.is_symlink()]
    if existing and not overwrite:
        others = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise StylelabError(
            f"{existing[0]}{others}: already there; pass --overwrite to replace them, or "
            "choose another folder"
        )
    with write_together(targets) as temporaries:
        for name, temporary in zip(wanted, temporaries, strict=True):
            example_image(name).save(temporary, format="PNG")
    return targets


@functools.cache
def _cached_example(name: str) -> Image.Image:
    if name == "strokes":
        return brush_strokes()
    if name == "mosaic":
        return mosaic()
    import skimage.data

    if name.startswith("motorcycle_"):
        left, right, _disparity = skimage.data.stereo_motorcycle()
        array = left if name == "motorcycle_left" else right
    else:
        array = getattr(skimage.data, name)()
    return Image.fromarray(array).convert("RGB")


def brush_strokes(size: int = 512, seed: int = 1889) -> Image.Image:
    """Swirling blue-and-yellow brush strokes: a stand-in painting drawn from a seed.

    Strokes follow the flow field angle(x, y) = 2*pi*(sin(3x + 2 sin 2y) + cos(2y - x))/2,
    with colours drawn from a night-sky palette, then a light blur to soften the edges.
    """
    rng = np.random.default_rng(seed)
    palette = np.array(
        [
            (22, 38, 92),
            (35, 72, 150),
            (60, 110, 190),
            (105, 150, 210),
            (230, 200, 60),
            (245, 225, 120),
            (200, 140, 40),
            (20, 30, 45),
        ],
        dtype=np.int64,
    )
    image = Image.new("RGB", (size, size), (25, 45, 100))
    draw = ImageDraw.Draw(image)
    for _ in range(2600):
        x, y = rng.uniform(0, size, 2)
        yellow = math.hypot(x - 0.72 * size, y - 0.25 * size) < 0.12 * size
        colour = palette[rng.integers(4, 7)] if yellow else palette[rng.integers(0, 4)]
        if rng.random() < 0.08:
            colour = palette[rng.integers(0, 8)]
        jitter = rng.integers(-18, 19, 3)
        fill = tuple(int(v) for v in np.clip(colour + jitter, 0, 255))
        width = int(rng.integers(3, 8))
        points = [(x, y)]
        for _ in range(int(rng.integers(6, 14))):
            u, v = x / size * 2 * math.pi, y / size * 2 * math.pi
            angle = math.pi * (math.sin(3 * u + 2 * math.sin(2 * v)) + math.cos(2 * v - u))
            x, y = x + 4 * math.cos(angle), y + 4 * math.sin(angle)
            points.append((x, y))
        draw.line(points, fill=fill, width=width, joint="curve")
    return image.filter(ImageFilter.GaussianBlur(0.8))


def mosaic(size: int = 512, seed: int = 1917, cells: int = 150) -> Image.Image:
    """A stained-glass mosaic: warm glass panes between dark lead lines, drawn from a seed.

    The panes are the Voronoi cells of ``cells`` random seed points (each pixel takes the
    colour of its nearest seed). Each pane gets a colour from a red / orange / ochre /
    dark-green palette, a linear shading across it in a random direction, and a little
    per-pixel grain, like hand-made glass. Cell borders, found where neighbouring pixels
    belong to different seeds, are widened to lead lines about 4 px wide, and a light
    blur softens the edges.
    """
    rng = np.random.default_rng(seed)
    palette = np.array(
        [
            (178, 34, 28),  # deep red
            (205, 70, 30),  # vermilion
            (230, 120, 35),  # orange
            (240, 165, 60),  # amber
            (200, 150, 50),  # ochre
            (160, 105, 40),  # raw sienna
            (40, 85, 45),  # dark green
            (70, 110, 55),  # olive green
            (235, 210, 150),  # pale cream
        ],
        dtype=np.float32,
    )
    weights = np.array([3, 3, 3, 2, 3, 2, 2, 2, 1], dtype=np.float64)
    seeds = rng.uniform(0, size, (cells, 2)).astype(np.float32)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    nearest = np.full((size, size), np.inf, dtype=np.float32)
    label = np.zeros((size, size), dtype=np.int64)
    for index, (sx, sy) in enumerate(seeds):
        distance = (x - sx) ** 2 + (y - sy) ** 2
        closer = distance < nearest
        nearest[closer] = distance[closer]
        label[closer] = index

    colours = palette[rng.choice(len(palette), cells, p=weights / weights.sum())]
    colours += rng.uniform(-15, 15, (cells, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi, cells).astype(np.float32)
    strength = rng.uniform(0.1, 0.35, cells).astype(np.float32)
    cos, sin = np.cos(angle)[label], np.sin(angle)[label]
    along = (x - seeds[label, 0]) * cos + (y - seeds[label, 1]) * sin
    shade = 1 + strength[label] * along / (0.6 * size / math.sqrt(cells))
    grain = rng.normal(0, 7, (size, size, 1)).astype(np.float32)
    rgb = colours[label] * shade[..., None] + grain

    border = np.zeros((size, size), dtype=bool)
    border[:, 1:] |= label[:, 1:] != label[:, :-1]
    border[1:, :] |= label[1:, :] != label[:-1, :]
    lead = Image.fromarray(border.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(5))
    rgb[np.asarray(lead) > 0] = (28, 22, 18)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(0.7))

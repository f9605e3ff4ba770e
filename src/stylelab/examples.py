"""Built-in example images, usable anywhere a path is: ``example:chelsea``.

Photos are scikit-image's bundled CC0 images. ``strokes`` is a painting-like image drawn
here from a fixed seed (swirling brush strokes along a smooth flow field), so the demo and
the tests need no image files and no network.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from stylelab.errors import StylelabError

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
PAINTINGS = ("strokes",)


def list_examples() -> tuple[str, ...]:
    return PHOTOS + PAINTINGS


def example_image(name: str) -> Image.Image:
    """Return the built-in example ``name`` as an RGB PIL image."""
    if name in list_examples():
        return _cached_example(name).copy()
    raise StylelabError(f"unknown example {name!r}; choose from: {', '.join(list_examples())}")


@functools.cache
def _cached_example(name: str) -> Image.Image:
    if name == "strokes":
        return brush_strokes()
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


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

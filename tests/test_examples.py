"""Built-in examples: training photos load offline, the mosaic painting, writing a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylelab import examples
from stylelab.errors import StylelabError
from stylelab.images import load_image


@pytest.mark.parametrize("name", examples.TRAINING_PHOTOS)
def test_training_photo_loads_as_rgb(name: str) -> None:
    image = examples.example_image(name)
    assert image.mode == "RGB"
    assert min(image.size) >= 64
    assert load_image(f"example:{name}").shape[:2] == (1, 3)


def test_training_photos_hold_out_astronaut_by_default() -> None:
    assert "astronaut" in examples.TRAINING_PHOTOS
    assert len(set(examples.TRAINING_PHOTOS)) == len(examples.TRAINING_PHOTOS)
    photos = examples.training_photos()
    names = [name for name, _ in photos]
    assert names == [n for n in examples.TRAINING_PHOTOS if n != "astronaut"]
    assert all(image.mode == "RGB" for _, image in photos)
    assert len(examples.training_photos(exclude=())) == len(examples.TRAINING_PHOTOS)
    with pytest.raises(StylelabError, match="not training photos"):
        examples.training_photos(exclude=("strokes",))


def test_stereo_views_are_two_different_images() -> None:
    left = np.asarray(examples.example_image("motorcycle_left"))
    right = np.asarray(examples.example_image("motorcycle_right"))
    assert left.shape == right.shape
    assert not np.array_equal(left, right)


def test_old_names_still_listed() -> None:
    for name in ("astronaut", "chelsea", "coffee", "rocket", "strokes", "mosaic"):
        assert name in examples.list_examples()


def test_mosaic_is_deterministic_and_unlike_strokes() -> None:
    first, second = examples.mosaic(), examples.mosaic()
    assert first.mode == "RGB" and first.size == (512, 512)
    assert np.array_equal(np.asarray(first), np.asarray(second))
    assert np.array_equal(np.asarray(first), np.asarray(examples.example_image("mosaic")))

    def red_minus_blue(image: Image.Image) -> float:
        rgb = np.asarray(image).astype(np.float64)
        return float((rgb[..., 0] - rgb[..., 2]).mean())

    # The mosaic is warm (red/orange/ochre, measured about +85), strokes is a blue night
    # sky (about -83): their mean red-minus-blue must differ by more than 100 levels.
    warm, cool = red_minus_blue(first), red_minus_blue(examples.example_image("strokes"))
    assert warm > 40 and cool < -40
    assert warm - cool > 100


def test_mosaic_has_dark_lead_lines() -> None:
    luma = np.asarray(examples.mosaic().convert("L"))
    assert 0.05 < float((luma < 45).mean()) < 0.3


def test_write_examples(tmp_path: Path) -> None:
    paths = examples.write_examples(tmp_path, ["mosaic", "chelsea"])
    assert paths == [tmp_path / "mosaic.png", tmp_path / "chelsea.png"]
    for path, name in zip(paths, ["mosaic", "chelsea"], strict=True):
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert np.array_equal(np.asarray(image), np.asarray(examples.example_image(name)))


def test_write_examples_errors(tmp_path: Path) -> None:
    with pytest.raises(StylelabError, match="unknown example"):
        examples.write_examples(tmp_path, ["chelsea", "mona_lisa"])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(StylelabError, match="no such folder"):
        examples.write_examples(tmp_path / "missing", ["chelsea"])


def test_unknown_example() -> None:
    with pytest.raises(StylelabError, match="unknown example"):
        examples.example_image("mona_lisa")
    with pytest.raises(StylelabError, match="unknown example"):
        load_image("example:cat")


def test_examples_command_writes_a_training_folder(tmp_path: Path) -> None:
    from stylelab.cli import main

    folder = tmp_path / "photos"
    assert main(["examples", "--write", str(folder), "--photos", "--exclude", "astronaut"]) == 0
    names = sorted(p.stem for p in folder.iterdir())
    assert "astronaut" not in names and "mosaic" not in names and "chelsea" in names
    assert main(["examples", "--exclude", "nope"]) == 2


def test_examples_command_writes_only_the_names_asked_for(tmp_path: Path) -> None:
    from stylelab.cli import main

    folder = tmp_path / "three"
    only = ["--only", "astronaut,chelsea,coffee"]
    assert main(["examples", "--write", str(folder), "--photos", *only, "--exclude", "coffee"]) == 0
    assert sorted(p.stem for p in folder.iterdir()) == ["astronaut", "chelsea"]


def test_write_examples_keeps_existing_files_unless_overwrite(tmp_path: Path) -> None:
    """Issue 27: --write into a training folder replaced its astronaut.png silently."""
    from stylelab.cli import main

    own = tmp_path / "chelsea.png"
    own.write_bytes(b"the user's own photo")
    with pytest.raises(StylelabError, match=r"chelsea\.png: already there; pass --overwrite"):
        examples.write_examples(tmp_path, ["mosaic", "chelsea"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chelsea.png"]
    assert own.read_bytes() == b"the user's own photo"
    assert main(["examples", "--write", str(tmp_path), "--photos", "--overwrite"]) == 0
    with Image.open(own) as image:
        assert np.array_equal(np.asarray(image), np.asarray(examples.example_image("chelsea")))

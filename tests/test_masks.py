"""Spatial control (Gatys et al. 2017, section 4): guided Grams, mask files, region styles,
and the issue's check that each region takes its own style."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab import losses, masks
from stylelab.errors import StylelabError


def two_colour_mask(path: Path, width: int, height: int) -> Path:
    """Left half red, right half green."""
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[:, : width // 2] = (255, 0, 0)
    rgb[:, width // 2 :] = (0, 255, 0)
    Image.fromarray(rgb).save(path)
    return path


def test_guided_gram_of_a_full_mask_is_the_gram_and_of_a_half_is_that_halfs() -> None:
    features = torch.randn(1, 5, 6, 8, dtype=torch.float64)
    ones = torch.ones(1, 1, 6, 8, dtype=torch.float64)
    assert torch.allclose(losses.guided_gram(features, ones), losses.gram_matrix(features))
    left = torch.zeros(1, 1, 6, 8, dtype=torch.float64)
    left[..., :3] = 1
    expected = losses.gram_matrix(features[..., :3])
    assert torch.allclose(losses.guided_gram(features, left), expected, atol=1e-12)


def test_read_mask_names_regions_by_colour_and_resizes_with_a_warning(tmp_path: Path) -> None:
    path = two_colour_mask(tmp_path / "m.png", 40, 20)
    labels, colors = masks.read_mask(path, (20, 40))
    assert colors == ["#00ff00", "#ff0000"]  # sorted by value
    assert (labels[:, :20] == 1).all() and (labels[:, 20:] == 0).all()
    with pytest.warns(UserWarning, match="another aspect ratio"):
        labels, _ = masks.read_mask(path, (30, 30))
    assert labels.shape == (30, 30)
    noisy = np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "noise.png")
    with pytest.raises(StylelabError, match="distinct colours; a mask names at most 16"):
        masks.read_mask(tmp_path / "noise.png", (20, 20))


def test_a_resized_mask_is_said_only_once_its_region_styles_parse(tmp_path: Path) -> None:
    """A bad --region-style is the run's one line: the mask's aspect-ratio warning, read
    first, waits until the styles parse (then it is said as before)."""
    import warnings

    from stylelab.config import StylizeConfig
    from stylelab.gatys import resolve_regions

    mask = str(two_colour_mask(tmp_path / "m.png", 20, 20))
    bad = StylizeConfig(mask=mask, region_style="#ff0000=0,#ff0000=1")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with pytest.raises(StylelabError, match="given twice"):
            resolve_regions(bad, None, (32, 48), ["a.png", "b.png"])
    assert said == []
    good = StylizeConfig(mask=mask, region_style="#ff0000=0,#00ff00=1")
    with pytest.warns(UserWarning, match="another aspect ratio"):
        regions = resolve_regions(good, None, (32, 48), ["a.png", "b.png"])
    assert regions is not None and tuple(regions.masks.shape) == (2, 32, 48)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#0000ff=0", "the mask has no such colour; its colours: #00ff00, #ff0000"),
        ("#ff0000=2", "style 2 but 2 style image"),
        ("#ff0000=starry.jpg", "neither an index, a style given"),
        ("red=0", "expected #rrggbb=STYLE"),
        ("#ff0000", "expected #rrggbb=STYLE"),
        ("#ff0000=0,#FF0000=1", "given twice"),
        (",", "--region-style is empty"),
    ],
)
def test_parse_region_styles_refuses(text: str, message: str) -> None:
    with pytest.raises(StylelabError, match=message):
        masks.parse_region_styles(text, ["a.png", "b.png"], ["#00ff00", "#ff0000"])


def test_parse_region_styles_by_index_path_and_none() -> None:
    mapping = masks.parse_region_styles(
        "#FF0000=b.png, #00ff00=none", ["a.png", "b.png"], ["#00ff00", "#ff0000"]
    )
    assert mapping == {"#ff0000": 1, "#00ff00": None}


def region_distances(image: np.ndarray, styles: list[str]) -> list[float]:
    """Style distance (stylelab.evaluate) of an (H, W, 3) crop to each style."""
    from stylelab.evaluate import evaluate

    return [float(evaluate(image, image, s, size=64)["style_distance"]) for s in styles]


def test_two_regions_take_their_own_styles_and_none_keeps_the_photo(tmp_path: Path) -> None:
    """The issue's check at 64 px: through a left/right mask, each half is closer (Gram
    distance) to its own style than to the other; a ``none`` half stays near the photo."""
    import stylelab

    styles = ["example:strokes", "example:mosaic"]
    options = {"size": 64, "steps": 60, "precision": "fp32", "device": "cpu"}
    mask = two_colour_mask(tmp_path / "mask.png", 96, 64)
    result = stylelab.stylize(
        "example:chelsea",
        styles,
        mask=str(mask),
        region_style="#ff0000=0,#00ff00=1",
        **options,
    )
    image = np.asarray(result.image, dtype=np.float32) / 255
    half = image.shape[1] // 2
    left, right = image[:, : half - 4], image[:, half + 4 :]
    left_to = region_distances(left, styles)
    right_to = region_distances(right, styles)
    assert left_to[0] < left_to[1] and right_to[1] < right_to[0], (left_to, right_to)

    kept = stylelab.stylize(
        "example:chelsea",
        styles[0],
        mask=str(mask),
        region_style="#ff0000=0,#00ff00=none",
        **options,
    )
    plain = stylelab.stylize("example:chelsea", styles[0], **options)
    from stylelab.images import load_image, resize_to

    photo = resize_to(load_image("example:chelsea"), plain.image.size[::-1])[0].permute(1, 2, 0)
    photo = photo.numpy()

    def change(result: stylelab.StylizeResult, side: slice) -> float:
        out = np.asarray(result.image, dtype=np.float32) / 255
        return float(np.abs(out[:, side] - photo[:, side]).mean())

    right_side = slice(photo.shape[1] // 2 + 4, None)
    assert change(kept, right_side) < 0.5 * change(plain, right_side)


def test_regions_as_arrays_are_the_mask_files_regions_resized(tmp_path: Path) -> None:
    """The Python API: (R, H, W) arrays in ``masks.Regions`` give the same region masks as
    a mask file naming the same regions, at any array size (resized to the output)."""
    from stylelab.config import StylizeConfig
    from stylelab.gatys import resolve_regions

    shape = (1, 3, 40, 48)
    file = two_colour_mask(tmp_path / "m.png", 48, 40)
    config = StylizeConfig(mask=str(file), region_style="#ff0000=0,#00ff00=none")
    from_file = resolve_regions(config, None, shape, ["a.png"])
    left = np.zeros((20, 24), dtype=np.float32)
    left[:, :12] = 1
    # np.unique sorts the colours: green (#00ff00) is region 0, red region 1.
    arrays = masks.Regions(np.stack([1 - left, left]), (None, 0))
    from_arrays = resolve_regions(StylizeConfig(), arrays, shape, ["a.png"])
    assert from_file is not None and from_arrays is not None
    assert from_file.styles == from_arrays.styles == (None, 0)
    assert torch.allclose(from_file.masks, from_arrays.masks.round())
    with pytest.raises(StylelabError, match="regions or --mask, not both"):
        resolve_regions(config, arrays, shape, ["a.png"])
    with pytest.raises(StylelabError, match=r"finite values in \[0, 1\]"):
        resolve_regions(StylizeConfig(), masks.Regions(2 * arrays.masks, (None, 0)), shape, ["a"])
    with pytest.raises(StylelabError, match="style 3 but 1 style image"):
        resolve_regions(StylizeConfig(), masks.Regions(arrays.masks, (None, 3)), shape, ["a"])
    with pytest.raises(StylelabError, match="regions must be a stylelab.masks.Regions"):
        resolve_regions(StylizeConfig(), np.ones((1, 4, 4)), shape, ["a"])  # type: ignore[arg-type]
    with pytest.raises(StylelabError, match="masks of shape"):
        masks.Regions(np.ones((4, 4), dtype=np.float32), (0,))


def test_masks_of_ones_at_another_size_stay_within_zero_and_one() -> None:
    """Bilinear upscaling of an all-ones mask gives 1 + 1e-7 here and there: clamped, not
    refused as out of [0, 1] (the values were checked before the resize)."""
    import torch.nn.functional as F

    from stylelab.config import StylizeConfig
    from stylelab.gatys import resolve_regions

    ones = np.ones((1, 3, 4), np.float32)
    overshoot = F.interpolate(torch.from_numpy(ones)[None], size=(41, 48), mode="bilinear")
    assert float(overshoot.max()) > 1.0  # the premise: these shapes overshoot
    regions = masks.Regions(ones, (0,))
    resolved = resolve_regions(StylizeConfig(), regions, (1, 3, 41, 48), ["a.png"])
    assert resolved is not None
    assert float(resolved.masks.max()) == 1.0  # clamped
    assert float(resolved.masks.min()) == pytest.approx(1.0, abs=1e-6)


def test_regions_take_tensors_lists_and_numpy_indices() -> None:
    from_tensor = masks.Regions(torch.ones(2, 4, 4), [np.int64(0), None])  # type: ignore[arg-type]
    assert from_tensor.masks.dtype == np.float32 and from_tensor.styles == (0, None)
    assert isinstance(from_tensor.styles[0], int)
    from_lists = masks.Regions([[[0.5] * 4] * 4], (1,))  # type: ignore[arg-type]
    assert from_lists.masks.shape == (1, 4, 4)

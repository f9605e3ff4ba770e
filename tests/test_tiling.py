"""Posters beyond memory (stylelab.tiling): tile boxes, feathering, global Grams over
tiles, and a tiled run without visible seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylelab import losses, tiling
from stylelab.errors import StylelabError


@pytest.mark.parametrize(("height", "width"), [(100, 100), (96, 250), (513, 512), (64, 40)])
def test_tile_boxes_cover_the_image_with_the_overlap(height: int, width: int) -> None:
    tile, overlap = 64, 16
    boxes = tiling.tile_boxes(height, width, tile, overlap)
    covered = torch.zeros(height, width)
    for box in boxes:
        assert box.height <= tile and box.width <= tile
        covered[box.top : box.bottom, box.left : box.right] += 1
    assert bool((covered >= 1).all())
    tops = sorted({b.top for b in boxes})
    for above, below in zip(tops, tops[1:], strict=False):
        assert above + tile - below >= overlap  # neighbours share at least the overlap


def test_tile_boxes_refuse_an_overlap_of_half_a_tile() -> None:
    with pytest.raises(StylelabError, match="must be from 0 to half of --tile 64"):
        tiling.tile_boxes(200, 200, 64, 32)


def test_feathered_blending_of_equal_tiles_changes_nothing_and_ramps_only_inside() -> None:
    height, width, tile, overlap = 100, 150, 64, 16
    image = torch.rand(1, 3, height, width)
    canvas = image.clone()
    for box in tiling.tile_boxes(height, width, tile, overlap):
        weights = tiling.feather(box, height, width, overlap)
        assert float(weights.max()) == 1.0 and float(weights.min()) > 0
        tiling.blend_into(canvas, box.crop(image), box, weights)
    assert torch.allclose(canvas, image, atol=1e-6)
    first = tiling.tile_boxes(height, width, tile, overlap)[0]
    weights = tiling.feather(first, height, width, overlap)[0, 0]
    assert float(weights[0, 0]) == 1.0  # the image's own corner: no ramp
    assert float(weights[-1, 0]) < 0.05 and float(weights[0, -1]) < 0.05  # ramps to 0


def test_blending_a_tile_moves_the_canvas_gradually_across_the_overlap() -> None:
    height, width, tile, overlap = 64, 112, 64, 16
    canvas = torch.zeros(1, 1, height, width)
    second = tiling.tile_boxes(height, width, tile, overlap)[1]
    weights = tiling.feather(second, height, width, overlap)
    tiling.blend_into(canvas, torch.ones(1, 1, second.height, second.width), second, weights)
    row = canvas[0, 0, 32]
    ramp = row[second.left : second.left + overlap]
    assert bool((ramp[1:] > ramp[:-1]).all())  # rises monotonically
    assert float(row[second.left - 1]) == 0 and float(row[-1]) == 1


def test_accumulated_grams_equal_the_whole_image_gram_for_pointwise_features() -> None:
    image = torch.rand(1, 3, 70, 90, dtype=torch.float64)
    conv = torch.nn.Conv2d(3, 6, 1).double()

    def features(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"a": conv(x), "b": torch.relu(conv(x))}

    grams = tiling.accumulate_grams(features, image, ("a", "b"), tile=32, margin=4)
    with torch.no_grad():
        for name, whole in features(image).items():
            assert torch.allclose(grams[name], losses.gram_matrix(whole), atol=1e-10)


def test_accumulated_vgg_grams_are_close_to_the_whole_images() -> None:
    """With a margin of context, Grams of a real network over tiles agree with the
    whole image's to within 3 % (relative Frobenius error per layer)."""
    from stylelab.backbones import load_backbone
    from stylelab.images import load_image, resize_long_edge

    backbone = load_backbone("vgg19", "pretrained", "max", 0)
    layers = ("relu1_1", "relu2_1", "relu3_1")
    extractor = backbone.extractor(layers)
    image = resize_long_edge(load_image("example:strokes"), 192)
    grams = tiling.accumulate_grams(extractor, image, layers, tile=96, margin=24)
    with torch.no_grad():
        whole = extractor(image)
    for name in layers:
        expected = losses.gram_matrix(whole[name])
        error = float((grams[name] - expected).norm() / expected.norm())
        assert error < 0.03, (name, error)


def column_steps(image: np.ndarray) -> np.ndarray:
    """Mean absolute difference between neighbouring columns (H, W, 3) -> (W - 1,)."""
    return np.abs(np.diff(image.astype(np.float64), axis=1)).mean(axis=(0, 2))


def test_a_tiled_run_has_no_visible_seams() -> None:
    """The issue's seam check: across the blended border zones the image does not change
    more from column to column (or row to row) than it does in the interior of the tiles."""
    import stylelab

    size, tile, overlap = 192, 96, 24
    options = {
        "size": size,
        "steps": 40,  # per tile; L-BFGS without line search needs a few dozen to settle
        "tile": str(tile),
        "tile_overlap": overlap,
        "multiscale": False,
        "style_layers": ("relu1_1", "relu2_1", "relu3_1"),
        "content_layers": ("relu3_1",),
        "precision": "fp32",
        "device": "cpu",
    }
    result = stylelab.stylize("example:chelsea", "example:strokes", **options)
    assert result.info["schedule"][-1]["tiles"] > 1
    image = np.asarray(result.image, dtype=np.float64) / 255
    height, width = image.shape[:2]
    boxes = tiling.tile_boxes(height, width, tile, overlap)
    for steps, starts, length in (
        (column_steps(image), sorted({b.left for b in boxes} - {0}), width),
        (column_steps(image.transpose(1, 0, 2)), sorted({b.top for b in boxes} - {0}), height),
    ):
        seam = np.zeros(length - 1, dtype=bool)
        for start in starts:
            seam[start : start + overlap] = True
        assert seam.any()
        # L-BFGS's path differs between CPUs and thread counts: on a Sapphire Rapids Xeon the
        # seam zones' mean step was 1.10x the interior's with one thread, their largest step
        # 1.03x with two (1.0x and 1.1x passed on a Zen 3). A visible seam is one column
        # with a jump well above any texture step, which the max bound catches.
        assert steps[seam].mean() <= 1.2 * steps[~seam].mean()
        assert steps[seam].max() <= 1.25 * steps[~seam].max()


def test_auto_tiles_only_the_stages_that_do_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """--tile auto: a stage is tiled (512 px) when its whole-image estimate exceeds the
    memory available, never at 512 px or below; --tile N tiles every stage above N px; a
    tiled 4096 px run needs a fraction of the whole image's memory and fits 24 GB."""
    from stylelab import limits
    from stylelab.config import StylizeConfig

    content, styles = (3000, 4000), [(600, 800)]
    auto = StylizeConfig(size=4096, tile="auto")
    whole_2048 = limits.estimate_stylize_bytes(auto.replace(size=2048), content, styles)
    monkeypatch.setattr(limits, "available_memory_bytes", lambda device=None: whole_2048 + 1)
    assert tiling.stage_tile(auto, 4096, content, styles) == tiling.DEFAULT_TILE
    assert tiling.stage_tile(auto, 2048, content, styles) == 0
    assert tiling.stage_tile(auto, 512, content, styles) == 0
    forced = auto.replace(tile="256")
    assert [tiling.stage_tile(forced, s, content, styles) for s in (256, 257)] == [0, 256]
    assert tiling.stage_tile(auto.replace(tile="off"), 4096, content, styles) == 0

    tiled = tiling.estimate_tiled_bytes(auto, content, styles)
    whole = limits.estimate_stylize_bytes(auto, content, styles)
    assert tiled < whole / 10 and tiled < 24e9
    monkeypatch.setattr(limits, "available_memory_bytes", lambda device=None: tiled // 2)
    with pytest.raises(StylelabError, match="--size 4096 with --tile auto needs about"):
        tiling.check_tile_memory(auto, content, styles)

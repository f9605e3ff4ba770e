"""stylelab stereo: --method instant, region masks in the joint run (each view its own,
the right one warped), and the joint run's memory check counting both views."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab import limits, losses
from stylelab.cli import main
from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError
from stylelab.objective import RegionMasks, build_objective
from stylelab.stereo import from_left, load_pair, stereo_stylize
from stylelab.stereo.regions import right_view_masks

TINY = ["--size", "32", "--steps", "2", "--no-multiscale", "--weights", "random"]
TINY += ["--precision", "fp32", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def motorcycle() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 64 px window of scikit-image's stereo_motorcycle and its ground truth."""
    from skimage import data

    left, right, truth = data.stereo_motorcycle()
    window = (slice(150, 214), slice(300, 364))
    truth = np.where(np.isfinite(truth), truth, np.nan).astype(np.float32)
    return left[window], right[window], truth[window]


def half_mask(folder: Path, size: int = 64) -> str:
    """Left half red, right half green."""
    rgb = np.zeros((size, size, 3), dtype=np.uint8)
    rgb[:, : size // 2] = (255, 0, 0)
    rgb[:, size // 2 :] = (0, 255, 0)
    Image.fromarray(rgb).save(folder / "m.png")
    return str(folder / "m.png")


# ------------------------------------------------------------------------ region masks


def test_a_per_item_guided_gram_divides_each_item_by_its_own_area() -> None:
    features = torch.rand(2, 4, 6, 8, dtype=torch.float64)
    masks = torch.zeros(2, 1, 6, 8, dtype=torch.float64)
    masks[0, :, :, :2] = 1  # a quarter of item 0
    masks[1, :, :, 4:] = 1  # half of item 1
    both = losses.guided_gram(features, masks)
    for item in (0, 1):
        alone = losses.guided_gram(features[item : item + 1], masks[item : item + 1])
        assert torch.allclose(both[item], alone[0], atol=1e-12)
    # analytic: the region's own Gram, G = F_r F_r^T / |r|
    region = features[1, :, :, 4:].reshape(4, -1)
    assert torch.allclose(both[1], region @ region.T / region.shape[1], atol=1e-12)


def test_per_view_region_masks_score_each_view_as_a_run_of_its_own() -> None:
    """The style loss of a batch of two views with masks (R, 2, H, W) equals the sum of
    each view's loss with its own masks (R, H, W)."""
    network = build_objective(
        StylizeConfig(size=32, weights="random", precision="fp32"), device="cpu"
    )
    generator = torch.Generator().manual_seed(0)
    views = torch.rand(2, 3, 32, 32, generator=generator)
    styles = [torch.rand(1, 3, 32, 32, generator=generator) for _ in range(2)]
    masks = torch.zeros(2, 2, 32, 32)
    masks[0, 0, :, :12], masks[1, 0, :, 12:] = 1, 1  # view 0: split at column 12
    masks[0, 1, :, :20], masks[1, 1, :, 20:] = 1, 1  # view 1: split at column 20
    joint = network.objective(views, styles, regions=RegionMasks(masks, (0, 1)))
    _, terms = joint(views)
    alone = 0.0
    for item in (0, 1):
        single = network.objective(
            views[item : item + 1], styles, regions=RegionMasks(masks[:, item], (0, 1))
        )
        alone += float(single(views[item : item + 1])[1]["style"])
    assert float(terms["style"]) == pytest.approx(alone, rel=1e-5)


def test_an_item_without_the_region_adds_nothing() -> None:
    network = build_objective(
        StylizeConfig(size=32, weights="random", precision="fp32"), device="cpu"
    )
    generator = torch.Generator().manual_seed(1)
    views = torch.rand(2, 3, 32, 32, generator=generator)
    style = [torch.rand(1, 3, 32, 32, generator=generator)]
    masks = torch.zeros(1, 2, 32, 32)
    masks[0, 0] = 1  # the region covers view 0 and is empty in view 1
    _, joint = network.objective(views, style, regions=RegionMasks(masks, (0,)))(views)
    single = network.objective(views[:1], style, regions=RegionMasks(masks[:, 0], (0,)))
    assert float(joint["style"]) == pytest.approx(float(single(views[:1])[1]["style"]), rel=1e-5)


def test_the_right_views_mask_is_the_left_one_shifted_by_the_disparity() -> None:
    left = torch.zeros(1, 8, 20)
    left[0, :, :10] = 1
    disparity = from_left(np.full((8, 20), 3.0, dtype=np.float32), "constant")
    right = right_view_masks(left, disparity)
    # M_R(x) = M_L(x + 3): the region's edge moves 3 px to the left
    assert torch.equal(right[0, :, :7], torch.ones(8, 7))
    assert torch.equal(right[0, :, 7:17], torch.zeros(8, 10))
    # the columns the left view does not see (x + 3 > 19) take their background's mask
    assert torch.equal(right[0, :, 17:], torch.zeros(8, 3))


def test_the_joint_run_gets_the_left_mask_and_its_warp(tmp_path: Path, motorcycle) -> None:
    from stylelab.images import resize_long_edge
    from stylelab.stereo.joint import _region_masks

    left, right, truth = motorcycle
    pair = load_pair(left, right)
    photos = resize_long_edge(torch.cat([pair.left, pair.right]), 32)
    config = StylizeConfig(size=32, mask=half_mask(tmp_path), region_style="#ff0000=0,#00ff00=1")
    disparity = from_left(truth, "gt")
    table = _region_masks(config, ["a.png", "b.png"], photos, disparity)
    assert table is not None and sorted(table.styles) == [0, 1]
    assert tuple(table.masks.shape) == (2, 2, 32, 32)
    red = table.masks[table.styles.index(0)]  # the red region, left half, style 0
    assert torch.equal(red[0, :, :16], torch.ones(32, 16))  # the left view's, as drawn
    expected = right_view_masks(table.masks[:, 0], disparity.resized((32, 32)))
    assert torch.allclose(table.masks[:, 1], expected)
    # d > 0: the region's edge moves left in the right view, M_R(x) = M_L(x + d)
    assert red[1].sum() < red[0].sum() - 32
    assert table.masks.sum(0).sub(1).abs().max() < 1e-5  # still a partition of each view


def test_cli_gatys_with_a_mask_warps_it_to_the_right_view(
    tmp_path: Path, motorcycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stylelab.stereo import joint

    made = []

    def recorded(*args: object) -> object:
        made.append(region_masks(*args))
        return made[-1]

    region_masks = joint._region_masks
    monkeypatch.setattr(joint, "_region_masks", recorded)
    left, right, truth = motorcycle
    Image.fromarray(left).save(tmp_path / "l.png")
    Image.fromarray(right).save(tmp_path / "r.png")
    Image.fromarray(np.full((64, 64, 3), (200, 30, 30), np.uint8)).save(tmp_path / "red.png")
    Image.fromarray(np.full((64, 64, 3), (30, 30, 200), np.uint8)).save(tmp_path / "blue.png")
    np.save(tmp_path / "d.npy", np.where(np.isfinite(truth), truth, np.inf))
    argv = ["stereo", str(tmp_path / "l.png"), str(tmp_path / "r.png")]
    argv += [str(tmp_path / "red.png"), str(tmp_path / "blue.png"), "-o", str(tmp_path / "o.png")]
    argv += ["--disparity", str(tmp_path / "d.npy"), "--mask", half_mask(tmp_path)]
    argv += ["--region-style", "#ff0000=0,#00ff00=1", *TINY]
    assert main(argv) == 0
    record = json.loads((tmp_path / "o.json").read_text())
    assert record["config"]["mask"].endswith("m.png")
    assert record["optimization"]["iterations"] == 2
    # the run's masks: the left view's as drawn, the right view's warped by the file's d
    (table,) = made
    red = table.masks[table.styles.index(0)]
    assert torch.equal(red[0, :, :16], torch.ones(32, 16))
    disparity = from_left(np.where(np.isfinite(truth), truth, np.inf), "file")
    expected = right_view_masks(table.masks[:, 0], disparity.resized((32, 32)))
    assert torch.allclose(table.masks[:, 1], expected) and red[1].sum() < red[0].sum() - 32


# ----------------------------------------------------------------------------- memory


def test_the_joint_runs_memory_check_counts_both_views(monkeypatch, motorcycle) -> None:
    from stylelab.stereo.joint import stylize_pair

    left, right, truth = motorcycle
    pair = load_pair(left, right)
    config = StylizeConfig(size=64, steps=1, multiscale=False, weights="random")
    one = limits.estimate_stylize_bytes(config, pair.shape, [(64, 64)])
    two = limits.estimate_stylize_bytes(config, pair.shape, [(64, 64)], batch=2)
    assert two > one
    monkeypatch.delenv("STYLELAB_NO_MEMORY_CHECK", raising=False)
    monkeypatch.setattr(limits, "available_memory_bytes", lambda device=None: (one + two) // 2)
    limits.check_memory(config, pair.shape, [(64, 64)])  # one view would fit
    style = np.zeros((64, 64, 3), dtype=np.float32)
    with pytest.raises(StylelabError, match="--size 64 needs") as caught:
        stylize_pair(pair, style, from_left(truth, "gt"), config)
    assert "--tile" not in str(caught.value)  # stereo offers no tiles


# ---------------------------------------------------------------------------- instant


def test_instant_views_keep_the_networks_own_output_where_occluded(motorcycle) -> None:
    """Where the other view does not see a pixel (blend weight 0), the stereo output is
    the instant network's own; where both see it, the views agree better than alone."""
    from stylelab.adain.transfer import instant
    from stylelab.images import resize_long_edge
    from stylelab.stereo.network import _feather
    from stylelab.stereo.warp import ConsistencyMaps, consistency_error

    left, right, truth = motorcycle
    pair = load_pair(left, right)
    config = StylizeConfig(size=64, precision="fp32")
    disparity = from_left(truth, "gt")
    result = stereo_stylize(pair, "example:strokes", config, method="instant")
    alone = [
        instant(resize_long_edge(v, 64), "example:strokes", precision="fp32", size=64).tensor
        for v in (pair.left, pair.right)
    ]
    record = result.record
    assert record["method"] == "instant" and record["instant"]["strength"] == 1.0
    # the disparity here is SGBM's: compare where its blend weight is zero
    sgbm = ConsistencyMaps(result.disparity)
    own = (_feather(sgbm.left_mask) == 0)[None].expand_as(alone[0])
    assert own.sum() > 3 * 50  # some pixels only the left view sees
    assert torch.allclose(result.left[own], alone[0][own], atol=1e-5)
    assert consistency_error(result.left, result.right, disparity.left) < consistency_error(
        alone[0], alone[1], disparity.left
    )


def test_cli_instant_with_strength_and_a_mask(tmp_path: Path, motorcycle) -> None:
    left, right, truth = motorcycle
    Image.fromarray(left).save(tmp_path / "l.png")
    Image.fromarray(right).save(tmp_path / "r.png")
    np.save(tmp_path / "d.npy", np.where(np.isfinite(truth), truth, np.inf))
    argv = ["stereo", str(tmp_path / "l.png"), str(tmp_path / "r.png"), "example:strokes"]
    argv += ["example:mosaic", "-o", str(tmp_path / "o.png"), "--method", "instant"]
    argv += ["--strength", "0.5", "--disparity", str(tmp_path / "d.npy"), "--size", "64"]
    argv += ["--mask", half_mask(tmp_path), "--region-style", "#ff0000=0,#00ff00=1"]
    assert main([*argv, "--precision", "fp32", "--quiet"]) == 0
    record = json.loads((tmp_path / "o.json").read_text())
    assert record["instant"]["strength"] == 0.5 and record["instant"]["precision"] == "fp32"
    assert record["config"]["region_style"] == "#ff0000=0,#00ff00=1"
    assert record["consistency"]["stylized"] < record["independent_consistency"]
    with Image.open(tmp_path / "o.png") as sbs:
        assert sbs.size == (128, 64)

"""stylelab.stereo: warps, disparity files, the left-right check, the anaglyph, pairs, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab.cli import main
from stylelab.errors import StylelabError
from stylelab.stereo import (
    anaglyph,
    consistency_error,
    from_left,
    load_mpo,
    load_pair,
    load_side_by_side,
    read_disparity,
    read_pfm,
    shift_rows,
    write_pfm,
    write_png16,
)
from stylelab.stereo.disparity import estimate_disparity, left_right_check, resize_nearest
from stylelab.stereo.network import blend_consistent
from stylelab.stereo.views import linear_to_srgb, srgb_to_linear
from stylelab.stereo.warp import ConsistencyMaps, consistency_loss

TINY = ["--size", "32", "--steps", "2", "--no-multiscale", "--weights", "random"]
TINY += ["--precision", "fp32", "--device", "cpu", "--quiet"]


def textured(height: int = 24, width: int = 40, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, height, width), generator=generator)


@pytest.fixture(scope="module")
def motorcycle() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-image's stereo_motorcycle (Middlebury 2014) with its ground truth."""
    from skimage import data

    left, right, truth = data.stereo_motorcycle()
    return left, right, np.where(np.isfinite(truth), truth, np.nan).astype(np.float32)


# ------------------------------------------------------------------------------ warping


def test_an_integer_shift_warps_back_exactly_on_interior_pixels() -> None:
    image = textured()
    shift = torch.full((24, 40), -3.0)  # out(x) = image(x - 3)
    out, inside = shift_rows(image, shift)
    assert torch.allclose(out[..., 3:], image[..., :-3], atol=1e-5)
    assert not inside[:, :3].any() and inside[:, 3:].all()


def test_a_fractional_shift_of_a_linear_ramp_is_exact() -> None:
    ramp = torch.arange(40, dtype=torch.float32).expand(1, 3, 10, 40) / 40
    out, inside = shift_rows(ramp, torch.full((10, 40), 2.25))
    expected = (torch.arange(40, dtype=torch.float32) + 2.25) / 40
    assert torch.allclose(out[0, 0, 0, :37], expected[:37], atol=1e-5)
    assert inside[:, :37].all() and not inside[:, 38:].any()


def test_consistency_error_is_zero_for_a_pair_that_is_a_pure_shift() -> None:
    left = textured(width=48)
    disparity = np.full((24, 48), 4.0, dtype=np.float32)
    right = torch.zeros_like(left)
    right[..., :-4] = left[..., 4:]  # x_right = x_left - 4
    assert consistency_error(left, right, disparity) < 1e-6
    assert consistency_error(left, right, disparity + 1) > 0.1  # a wrong disparity shows


def test_the_middlebury_convention_holds_on_the_motorcycle_photos(motorcycle) -> None:
    """x_right = x_left - d: the photos agree after the ground-truth warp, not after its
    mirror (scikit-image's docstring words it the other way round)."""
    from stylelab.images import load_image, resize_long_edge

    left, right, truth = motorcycle
    views = [resize_long_edge(load_image(v), 128) for v in (left, right)]
    shape = tuple(views[0].shape[-2:])
    gt = from_left(truth, "gt").resized(shape).left
    assert consistency_error(views[0], views[1], gt) < 0.05
    assert consistency_error(views[0], views[1], -gt) > 0.1


def test_the_consistency_loss_has_gradients_for_both_views() -> None:
    left = textured(width=32).requires_grad_(True)
    right = textured(width=32, seed=1).requires_grad_(True)
    disparity = from_left(np.full((24, 32), 2.0, dtype=np.float32), "constant")
    consistency_loss(left, right, ConsistencyMaps(disparity)).backward()
    assert left.grad is not None and float(left.grad.abs().sum()) > 0
    assert right.grad is not None and float(right.grad.abs().sum()) > 0


# ------------------------------------------------------------------------- disparity files


def test_pfm_round_trip_keeps_values_and_unknowns(tmp_path: Path) -> None:
    disparity = np.random.default_rng(0).uniform(0, 50, (7, 64)).astype(np.float32)
    disparity[2, 3] = np.nan
    write_pfm(disparity, tmp_path / "d.pfm")
    back = read_pfm(tmp_path / "d.pfm")
    assert np.isinf(back[2, 3])
    known = np.isfinite(disparity)
    np.testing.assert_array_equal(back[known], disparity[known])
    read = read_disparity(tmp_path / "d.pfm", (7, 64))
    assert np.isnan(read[2, 3]) and np.allclose(read[known], disparity[known])


def test_png16_round_trip_within_half_a_step(tmp_path: Path) -> None:
    disparity = np.random.default_rng(1).uniform(1, 200, (6, 256)).astype(np.float32)
    disparity[0, 0] = np.nan
    write_png16(disparity, tmp_path / "d.png")
    back = read_disparity(tmp_path / "d.png", (6, 256))
    assert np.isnan(back[0, 0])
    known = np.isfinite(disparity)
    assert np.abs(back[known] - disparity[known]).max() <= 0.5 / 256 + 1e-6


@pytest.mark.parametrize(
    ("array", "shape", "message"),
    [
        (np.ones((5, 6)), (5, 7), "disparity is 6x5 px, the pair 7x5"),
        (np.full((5, 6), np.nan), (5, 6), "NaN"),
        (-np.ones((5, 6)), (5, 6), "negative"),
        (np.full((5, 6), np.inf), (5, 6), "no pixel"),
        (np.ones((2, 5, 6)), (5, 6), r"\(H, W\) or one channel of it, got shape \(2, 5, 6\)"),
        (np.ones((5, 6, 3)), (5, 6), r"\(H, W\) or one channel"),
        (np.ones((1, 1, 5, 6)), (5, 6), r"\(H, W\) or one channel"),
    ],
)
def test_bad_disparity_arrays_are_refused(tmp_path: Path, array, shape, message) -> None:
    np.save(tmp_path / "d.npy", array)
    with pytest.raises(StylelabError, match=message):
        read_disparity(tmp_path / "d.npy", shape)


@pytest.mark.parametrize("shape", [(5, 6, 1), (1, 5, 6)])
def test_one_channel_disparity_arrays_are_read_as_the_map(tmp_path: Path, shape) -> None:
    disparity = np.arange(30, dtype=np.float32).reshape(5, 6) / 10
    np.save(tmp_path / "d.npy", disparity.reshape(shape))
    np.testing.assert_array_equal(read_disparity(tmp_path / "d.npy", (5, 6)), disparity)


def test_resize_scales_disparities_by_the_width_ratio() -> None:
    pair = from_left(np.full((8, 16), 6.0, dtype=np.float32), "constant")
    half = pair.resized((4, 8))
    assert half.shape == (4, 8) and np.allclose(half.left, 3.0)
    assert resize_nearest(np.arange(4.0)[None], (1, 2)).tolist() == [[1.0, 3.0]]


# ------------------------------------------------------------------ left-right check


def test_the_left_right_check_marks_the_band_a_foreground_hides() -> None:
    """Background at d = 2, a foreground block at d = 8 over x in [20, 30) of the left view:
    in the right view it covers x in [12, 22), hiding the background that the left view
    sees at x in [14, 20); and x < 2 falls outside the right view."""
    left = np.full((6, 48), 2.0, dtype=np.float32)
    left[:, 20:30] = 8.0
    pair = from_left(left, "synthetic")
    hidden = np.zeros(48, dtype=bool)
    hidden[14:20] = True
    hidden[:2] = True
    np.testing.assert_array_equal(pair.left_visible[0], ~hidden)
    assert (pair.left_visible == pair.left_visible[0]).all()


def test_the_left_right_check_rejects_disagreeing_maps() -> None:
    left = np.full((4, 20), 3.0, dtype=np.float32)
    right = np.full((4, 20), 3.0, dtype=np.float32)
    right[:, 5:8] = 9.0  # the right view disagrees where left x in [8, 11) lands
    left_ok, right_ok = left_right_check(left, right)
    assert not left_ok[:, 8:11].any() and left_ok[:, 11:].all()
    assert not right_ok[:, 5:8].any() and not right_ok[:, 17:].any()


def test_sgbm_matches_the_ground_truth_on_most_visible_pixels(motorcycle) -> None:
    from stylelab.images import load_image, resize_long_edge

    left, right, truth = motorcycle
    views = [
        resize_long_edge(load_image(v), 128)[0].permute(1, 2, 0).numpy() for v in (left, right)
    ]
    estimate = estimate_disparity(views[0], views[1])
    gt = from_left(truth, "gt").resized(views[0].shape[:2]).left
    trusted = estimate.left_visible & np.isfinite(gt)
    assert trusted.mean() > 0.3
    assert (np.abs(estimate.left - gt)[trusted] <= 1.0).mean() > 0.8


# ------------------------------------------------------------------------ views, blend


def test_dubois_keeps_a_gray_pair_gray_and_splits_a_lone_left_view() -> None:
    gray = np.full((1, 3, 4, 4), 0.5, dtype=np.float32)
    both = anaglyph(gray, gray)
    # rows of M_L + M_R sum to 0.999, 1.000, 1.000 in linear light
    expected = linear_to_srgb(srgb_to_linear(np.float32(0.5)) * np.array([0.999, 1.0, 1.0]))
    np.testing.assert_allclose(both[0, :, 0, 0], expected, atol=1e-4)
    lone = anaglyph(gray, np.zeros_like(gray))
    red = linear_to_srgb(srgb_to_linear(np.float32(0.5)) * 1.132)
    np.testing.assert_allclose(lone[0, :, 0, 0], [red, 0.0, 0.0], atol=1e-4)


def test_blending_makes_a_networks_views_agree_where_both_see() -> None:
    photo = textured(width=48)
    disparity = from_left(np.full((24, 48), 4.0, dtype=np.float32), "constant")
    left = photo + 0.1 * textured(width=48, seed=2)  # two views stylized "independently"
    right = torch.zeros_like(photo)
    right[..., :-4] = photo[..., 4:]
    right = right + 0.1 * textured(width=48, seed=3)
    before = consistency_error(left, right, disparity.left)
    new_left, new_right = blend_consistent(left.clamp(0, 1), right.clamp(0, 1), disparity)
    after = consistency_error(new_left, new_right, disparity.left)
    assert after < 0.2 * before
    # occluded columns (the right view's last 4: unseen by the left) keep their own output
    assert torch.equal(new_right[..., -4:], right.clamp(0, 1)[..., -4:])


# -------------------------------------------------------------------------------- pairs


def test_pairs_of_different_sizes_are_refused() -> None:
    with pytest.raises(StylelabError, match="40x24 and 41x24 px"):
        load_pair(textured(), textured(width=41))


def test_side_by_side_splits_in_halves_and_refuses_an_odd_width() -> None:
    image = textured(width=64)
    pair = load_side_by_side(image)
    assert torch.equal(pair.left, image[..., :32]) and torch.equal(pair.right, image[..., 32:])
    with pytest.raises(StylelabError, match="odd"):
        load_side_by_side(textured(width=65))


def test_mpo_gives_its_two_frames_and_refuses_one(tmp_path: Path) -> None:
    red, blue = Image.new("RGB", (40, 32), "red"), Image.new("RGB", (40, 32), "blue")
    red.save(tmp_path / "two.mpo", format="MPO", save_all=True, append_images=[blue])
    pair = load_mpo(tmp_path / "two.mpo")
    assert pair.left[0, 0].mean() > 0.9 and pair.right[0, 2].mean() > 0.9  # red, blue
    red.save(tmp_path / "one.mpo", format="MPO")
    with pytest.raises(StylelabError, match="1 frame"):
        load_mpo(tmp_path / "one.mpo")


# ---------------------------------------------------------------------------------- joint


def test_the_consistency_term_makes_jointly_optimized_views_agree(motorcycle) -> None:
    from stylelab.config import StylizeConfig
    from stylelab.stereo.joint import stylize_pair

    left, right, truth = motorcycle
    pair = load_pair(left[150:246, 300:396], right[150:246, 300:396])
    disparity = from_left(truth[150:246, 300:396], "gt")
    config = StylizeConfig(
        size=48, steps=6, multiscale=False, weights="random", precision="fp32", init="noise"
    )
    free = stylize_pair(pair, "example:strokes", disparity, config, consistency_weight=0.0)
    tied = stylize_pair(pair, "example:strokes", disparity, config, consistency_weight=1000.0)
    d = disparity.resized((48, 48)).left
    assert consistency_error(tied.left, tied.right, d) < 0.7 * consistency_error(
        free.left, free.right, d
    )
    assert tied.info["iterations"] == 6 and "consistency" in tied.history[-1]


# ------------------------------------------------------------------------------------ CLI


def crop_pair(folder: Path, motorcycle) -> tuple[str, str, str]:
    left, right, truth = motorcycle
    window = (slice(150, 214), slice(300, 364))
    Image.fromarray(left[window]).save(folder / "l.png")
    Image.fromarray(right[window]).save(folder / "r.png")
    np.save(folder / "d.npy", np.where(np.isfinite(truth[window]), truth[window], np.inf))
    return str(folder / "l.png"), str(folder / "r.png"), str(folder / "d.npy")


def test_cli_writes_every_output(tmp_path: Path, motorcycle) -> None:
    left, right, disparity = crop_pair(tmp_path, motorcycle)
    out = tmp_path / "out.png"
    argv = ["stereo", left, right, "example:strokes", "-o", str(out), "--disparity", disparity]
    argv += ["--save-disparity", "--wiggle", str(tmp_path / "w.gif"), *TINY]
    assert main(argv) == 0
    names = ["out.png", "out_left.png", "out_right.png", "out_anaglyph.png", "out.json"]
    names += ["out_disparity.png", "w.gif"]
    for name in names:
        assert (tmp_path / name).is_file(), name
    with Image.open(out) as sbs, Image.open(tmp_path / "w.gif") as wiggle:
        assert sbs.size == (64, 32)  # 32 x 32 views side by side
        assert wiggle.n_frames == 2
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["disparity"]["source"].startswith("file:")
    assert record["optimization"]["iterations"] == 2
    saved = read_disparity(tmp_path / "out_disparity.png", (32, 32))
    expected = from_left(read_disparity(disparity), "gt").resized((32, 32)).left
    known = np.isfinite(expected)
    assert np.abs(saved[known] - expected[known]).max() <= 1 / 256


def test_cli_with_a_fast_model_and_sgbm(tmp_path: Path, motorcycle, tiny_model: Path) -> None:
    left, right, _ = crop_pair(tmp_path, motorcycle)
    out = tmp_path / "m.png"
    argv = ["stereo", left, right, "mosaic", "--model", str(tiny_model), "-o", str(out)]
    assert main([*argv, "--size", "64", "--device", "cpu", "--quiet"]) == 0
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["method"] == "fast" and record["disparity"]["source"] == "sgbm"
    assert record["model_style"] == "mosaic"
    assert record["consistency"]["stylized"] <= record["independent_consistency"]


def test_holes_are_filled_from_the_farther_neighbour() -> None:
    from stylelab.stereo.disparity import fill_from_background

    row = np.array([[np.nan, 5, np.nan, np.nan, 2, np.nan]], dtype=np.float32)
    assert fill_from_background(row).tolist() == [[5, 5, 2, 2, 2, 2]]
    assert np.isnan(fill_from_background(np.full((1, 3), np.nan, np.float32))).all()


def test_cli_reads_a_side_by_side_image_and_writes_an_mp4_wiggle(
    tmp_path: Path, motorcycle, tiny_model: Path
) -> None:
    pytest.importorskip("av")
    left, right, _ = motorcycle
    window = (slice(150, 214), slice(300, 364))
    Image.fromarray(np.concatenate([left[window], right[window]], axis=1)).save(tmp_path / "p.png")
    argv = ["stereo", str(tmp_path / "p.png"), "--sbs", "--model", str(tiny_model)]
    argv += ["-o", str(tmp_path / "o.png"), "--wiggle", str(tmp_path / "w.mp4")]
    assert main([*argv, "--size", "64", "--device", "cpu", "--quiet"]) == 0
    record = json.loads((tmp_path / "o.json").read_text())
    assert record["pair"] == f"side-by-side {tmp_path / 'p.png'}" and record["size"] == [64, 64]
    import av

    with av.open(str(tmp_path / "w.mp4")) as video:
        assert "mp4" in video.format.name  # an H.264 MP4 (it was a GIF under the name)
        assert video.streams.video[0].codec_context.name == "h264"
        frames = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    assert len(frames) >= 2 and frames[0].shape == (64, 64, 3)
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).mean() > 1  # views alternate


def test_cli_reads_an_mpo(tmp_path: Path, motorcycle, tiny_model: Path) -> None:
    left, right, _ = motorcycle
    window = (slice(150, 214), slice(300, 364))
    first, second = Image.fromarray(left[window]), Image.fromarray(right[window])
    first.save(tmp_path / "p.mpo", format="MPO", save_all=True, append_images=[second])
    argv = ["stereo", str(tmp_path / "p.mpo"), "0", "--model", str(tiny_model)]
    argv += ["-o", str(tmp_path / "o.png"), "--size", "64", "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    assert json.loads((tmp_path / "o.json").read_text())["pair"].startswith("MPO")


def test_joint_luminance_mode_keeps_each_photos_colours(motorcycle) -> None:
    from stylelab.color import yiq
    from stylelab.config import StylizeConfig
    from stylelab.images import resize_long_edge
    from stylelab.stereo.joint import stylize_pair

    left, right, truth = motorcycle
    pair = load_pair(left[150:214, 300:364], right[150:214, 300:364])
    config = StylizeConfig(
        size=32,
        steps=2,
        multiscale=False,
        weights="random",
        precision="fp32",
        preserve_color="luminance",
    )
    result = stylize_pair(pair, "example:mosaic", from_left(truth[150:214, 300:364], "gt"), config)
    for view, photo in ((result.left, pair.left), (result.right, pair.right)):
        chroma = yiq(view.numpy())[..., 1:]
        expected = yiq(resize_long_edge(photo, 32).numpy())[..., 1:]
        assert np.abs(chroma - expected).mean() < 0.02

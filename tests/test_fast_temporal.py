"""The warp-consistency term of fast training (stylelab.fast.temporal): analytic warps,
an equivariant network scores only the noise, a conv net does not, and training with the
term off is the plain training exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from stylelab.errors import StylelabError
from stylelab.fast import temporal
from stylelab.fast.config import TrainConfig
from stylelab.fast.modelfile import load_model
from stylelab.fast.training import train, workdir_for
from tests.test_fast_train import _config

IDENTITY = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])


def _images(count: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_the_identity_warp_changes_nothing_and_a_shift_moves_whole_pixels() -> None:
    images = _images(1)
    assert torch.allclose(temporal.warp(images, IDENTITY), images, atol=1e-6)
    shift = IDENTITY.clone()
    shift[0, 0, 2] = 2 * 3 / 32  # sample 3 px to the right: out(x) = in(x + 3)
    moved = temporal.warp(images, shift)
    assert torch.allclose(moved[..., :29], images[..., 3:], atol=1e-5)
    assert float(moved[..., 29:].abs().max()) == 0.0  # outside the frame: zeros


def test_random_warps_stay_within_their_bounds_and_follow_the_seed() -> None:
    theta = temporal.random_theta(500, torch.Generator().manual_seed(1))
    linear = theta[:, :, :2].double()
    zoom = 1 / torch.sqrt(torch.linalg.det(linear))
    angle = torch.rad2deg(torch.atan2(linear[:, 1, 0], linear[:, 0, 0]))
    assert float((zoom - 1).abs().max()) <= temporal.MAX_ZOOM + 1e-6
    assert float(angle.abs().max()) <= temporal.MAX_ROTATION_DEG + 1e-6
    assert float(theta[:, :, 2].abs().max()) <= 2 * temporal.MAX_SHIFT + 1e-6
    assert float(angle.abs().max()) > 0.9 * temporal.MAX_ROTATION_DEG  # the range is used
    a = temporal.warped_pair(_images(), seed=3, step=5)
    b = temporal.warped_pair(_images(), seed=3, step=5)
    c = temporal.warped_pair(_images(), seed=3, step=6)
    assert torch.equal(a.theta, b.theta) and torch.equal(a.moved, b.moved)
    assert not torch.equal(a.theta, c.theta)


def test_the_valid_mask_of_a_shift_is_the_part_still_inside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    images = _images(1, 40)
    pair = temporal.warped_pair(images, seed=0, step=0)
    assert pair.valid.shape == (1, 1, 40, 40) and 0.6 < float(pair.valid.mean()) <= 1
    # a known warp: 4 px to the right leaves 36 of 40 columns inside; a fraction of a pixel
    # more, and the cubic kernel's 4 taps reach one column further
    for pixels, columns in ((4, 36), (4.5, 34)):
        shift = IDENTITY.clone()
        shift[0, 0, 2] = 2 * pixels / 40
        monkeypatch.setattr(temporal, "random_theta", lambda count, generator, s=shift: s)
        valid = temporal.warped_pair(images, seed=0, step=0).valid
        assert float(valid.mean()) == pytest.approx(columns / 40), pixels
        assert torch.equal(valid, temporal.warped_pair(images.bfloat16(), 0, 0).valid.float())


def test_a_pointwise_affine_network_scores_only_the_noise() -> None:
    """T(x) = a x + b commutes with bicubic warps inside the frame (weights sum to 1), so
    T(W(x) + n) - W(T(x)) = a n: the loss per item is a^2 sigma^2 (sigma = NOISE_STD)."""
    images = _images(4, 48)
    pair = temporal.warped_pair(images, seed=0, step=0)

    def affine(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x + 0.25

    loss = temporal.temporal_loss(affine, affine(images), pair)
    expected = 4 * 0.25 * temporal.NOISE_STD**2
    assert float(loss) == pytest.approx(expected, rel=0.05)


def test_a_random_conv_net_is_not_equivariant() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=2, padding=2),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 12, 3, padding=1),
        torch.nn.PixelShuffle(2),
    )
    images = _images(4, 48)
    pair = temporal.warped_pair(images, seed=0, step=0)
    with torch.no_grad():
        loss = temporal.temporal_loss(conv, conv(images), pair)
    assert float(loss) > 20 * 4 * temporal.NOISE_STD**2


@pytest.mark.parametrize("weight", [-1.0, math.nan, math.inf, 1e7, "60", True])
def test_bad_temporal_weights_are_one_line(weight: object) -> None:
    with pytest.raises(StylelabError, match="--temporal-weight must be a finite number"):
        TrainConfig(styles=("example:strokes",), temporal_weight=weight)  # type: ignore[arg-type]


def test_weight_zero_is_the_plain_training_and_a_weight_changes_it(
    tmp_path: Path, photo_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_term = train(_config(photo_folder, temporal_weight=50.0), tmp_path / "t.safetensors")
    rows = (workdir_for(tmp_path / "t.safetensors") / "train.csv").read_text().splitlines()
    assert rows[0].split(",")[-1] == "temporal" and float(rows[1].split(",")[-1]) > 0
    assert load_model(tmp_path / "t.safetensors").training["temporal_weight"] == 50.0

    def no_warps(*args: object, **kwargs: object) -> None:
        raise AssertionError("weight 0 must not draw warps")

    monkeypatch.setattr("stylelab.fast.training.warped_pair", no_warps)
    first = train(_config(photo_folder, temporal_weight=0.0), tmp_path / "a.safetensors")
    again = train(_config(photo_folder, temporal_weight=0), tmp_path / "b.safetensors")
    header = (workdir_for(tmp_path / "a.safetensors") / "train.csv").read_text().splitlines()[0]
    assert "temporal" not in header
    plain = first.summary["parameter_checksum"]
    assert plain == again.summary["parameter_checksum"]
    assert plain != with_term.summary["parameter_checksum"]


def test_resume_refuses_other_warps_and_warns_where_they_are_not_recorded(
    tmp_path: Path, photo_folder: Path
) -> None:
    """A checkpoint whose term warped bilinearly is refused (resuming with bicubic warps
    would not be one training); one that does not record its resampling (written before
    the field) is resumed with a warning, since it may be either."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    output = tmp_path / "t.safetensors"
    train(_config(photo_folder, steps=2, temporal_weight=5.0), output)
    checkpoint = workdir_for(output) / "checkpoint.safetensors"
    with safe_open(str(checkpoint), "pt") as opened:
        metadata = dict(opened.metadata())
    record = json.loads(metadata["training"])
    assert record["temporal_resampling"] == temporal.RESAMPLING == "bicubic"
    tensors = load_file(checkpoint)
    record["temporal_resampling"] = "bilinear"
    save_file(tensors, checkpoint, {**metadata, "training": json.dumps(record)})
    with pytest.raises(StylelabError, match="warped with 'bilinear' resampling.*bicubic"):
        train(_config(photo_folder, steps=3, temporal_weight=5.0), output, resume=True)
    del record["temporal_resampling"]  # as written before the field existed
    save_file(tensors, checkpoint, {**metadata, "training": json.dumps(record)})
    with pytest.warns(UserWarning, match="does not record its warps' resampling"):
        resumed = train(_config(photo_folder, steps=3, temporal_weight=5.0), output, resume=True)
    assert resumed.step == 3


def test_a_bf16_image_is_warped_on_an_fp32_grid() -> None:
    """The sampling grid stays fp32 for bf16 images (a bf16 grid is off by up to a pixel at
    256 px): the warp of a bf16 image differs from the fp32 one by bf16's rounding only."""
    ramp = torch.linspace(0, 1, 256)
    images = (ramp[None, :] * ramp[:, None]).expand(1, 3, 256, 256).contiguous()
    theta = temporal.random_theta(1, torch.Generator().manual_seed(4))
    exact = temporal.warp(images, theta)
    rounded = temporal.warp(images.bfloat16(), theta)
    assert rounded.dtype == torch.float32
    inside = temporal.warped_pair(images, seed=0, step=0).valid  # any mask of the frame's core
    assert float(((rounded - exact).abs() * inside).max()) < 0.01

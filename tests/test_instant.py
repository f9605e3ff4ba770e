"""Instant style (AdaIN): analytic checks of the statistics, the decoder, the model file,
the run's options (with a tiny random decoder), training, the CLI, and one short check of
the shipped model."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab.adain import modelfile
from stylelab.adain.nets import (
    DESIGNS,
    Decoder,
    adain,
    encoder,
    mean_std,
    regional_adain,
    wct,
)
from stylelab.adain.options import blend_stats
from stylelab.adain.transfer import instant, with_detail
from stylelab.errors import StylelabError
from stylelab.images import resize_long_edge
from stylelab.masks import Regions
from tests.conftest import gradient_image, stripes_image


def tiny_decoder() -> Decoder:
    """A random adain3 decoder (seed 0) whose outputs sit around mid-gray, varied but not
    clipped."""
    torch.manual_seed(0)
    decoder = Decoder("adain3")
    decoder.input_scale.fill_(50.0)
    with torch.no_grad():
        decoder.exit.weight.mul_(0.05)
        decoder.exit.bias.fill_(0.5)
    return decoder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> modelfile.InstantModel:
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    modelfile.save_decoder(
        tiny_decoder(), path, training={"steps_done": 0}, card={"note": "random"}
    )
    return modelfile.load_decoder(path)


@pytest.fixture
def photo() -> torch.Tensor:
    from stylelab.images import pil_to_tensor

    return pil_to_tensor(gradient_image(48, 40, seed=3))


@pytest.fixture
def painting() -> torch.Tensor:
    from stylelab.images import pil_to_tensor

    return pil_to_tensor(stripes_image(48))


# ------------------------------------------------------------------------ statistics


def test_mean_std_of_a_known_tensor() -> None:
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2).repeat(1, 2, 1, 1)
    x[:, 1] *= 2
    stats = mean_std(x)
    assert stats.shape == (1, 2, 2)
    torch.testing.assert_close(stats[0, 0], torch.tensor([2.5, 5.0]))
    torch.testing.assert_close(stats[0, 1], torch.tensor([1.25, 5.0]).add(1e-5).sqrt())


def test_masked_mean_std_counts_only_the_masked_pixels() -> None:
    x = torch.tensor([1.0, 3.0, 100.0, -50.0]).view(1, 1, 2, 2)
    mask = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 2, 2)
    stats = mean_std(x, mask)
    assert float(stats[0, 0, 0]) == pytest.approx(2.0)
    assert float(stats[0, 1, 0]) == pytest.approx((1.0 + 1e-5) ** 0.5)


def test_adain_gives_the_style_statistics() -> None:
    generator = torch.Generator().manual_seed(1)
    content = torch.randn(2, 8, 6, 7, generator=generator) * 3 + 1
    style = torch.stack([torch.rand(2, 8, generator=generator) + 0.5 for _ in range(2)])
    out = mean_std(adain(content, style))
    torch.testing.assert_close(out, style, atol=1e-4, rtol=1e-4)


def test_wct_gives_the_style_mean_and_full_covariance() -> None:
    """WCT (Li et al. 2017): the output's positions have the style's mean and covariance,
    off-diagonal terms included, which AdaIN leaves as the photo's correlations."""
    generator = torch.Generator().manual_seed(2)
    mixing = torch.randn(6, 6, generator=generator)
    content = (mixing @ torch.randn(6, 200, generator=generator)).reshape(1, 6, 10, 20)
    style = torch.randn(6, 6, generator=generator) @ torch.randn(6, 300, generator=generator)
    style = (style + torch.arange(6.0)[:, None]).reshape(1, 6, 15, 20)

    def mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = features[0].reshape(6, -1).double()
        return rows.mean(1), torch.cov(rows)

    mean_s, cov_s = mean_cov(style)
    mean_w, cov_w = mean_cov(wct(content, style))
    torch.testing.assert_close(mean_w, mean_s, atol=1e-4, rtol=0)
    torch.testing.assert_close(cov_w, cov_s, atol=1e-3, rtol=1e-4)
    _, cov_a = mean_cov(adain(content, mean_std(style)))
    off = ~torch.eye(6, dtype=torch.bool)
    assert float((cov_a - cov_s)[off].abs().max()) > 0.5  # AdaIN misses the correlations
    wide = wct(torch.randn(1, 64, 4, 4, generator=generator), style.repeat(1, 11, 1, 1)[:, :64])
    assert torch.isfinite(wide).all()  # more channels than positions: rank deficient, finite


def test_blend_is_a_convex_combination_of_statistics() -> None:
    a, b = torch.ones(1, 2, 3), torch.full((1, 2, 3), 4.0)
    torch.testing.assert_close(blend_stats([a, b], [1, 2]), torch.full((1, 2, 3), 3.0))
    torch.testing.assert_close(blend_stats([a, b], [1, 0]), a)
    arrays = blend_stats([a.numpy(), b.numpy()], [1, 2])  # the onnxruntime path's arrays
    assert isinstance(arrays, np.ndarray) and np.allclose(arrays, 3.0, atol=1e-6)


def test_regional_adain_takes_each_region_its_own_style() -> None:
    generator = torch.Generator().manual_seed(2)
    content = torch.randn(1, 4, 8, 8, generator=generator)
    left = torch.zeros(8, 8)
    left[:, :4] = 1
    masks = torch.stack([left, 1 - left])
    style = torch.tensor([[[5.0] * 4, [2.0] * 4]])
    out = regional_adain(content, masks, [style, None])
    stats_left = mean_std(out[..., :4])
    torch.testing.assert_close(stats_left[0, 0], torch.full((4,), 5.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(stats_left[0, 1], torch.full((4,), 2.0), atol=1e-3, rtol=0)
    torch.testing.assert_close(out[..., 4:], content[..., 4:])  # 'none' keeps the photo


# ------------------------------------------------------------------------- decoder


def test_the_light_config_names_every_design() -> None:
    """train-instant's choices come from adain.trainconfig (no torch); they must be the nets'."""
    from stylelab.adain.trainconfig import DESIGN_NAMES

    assert sorted(DESIGN_NAMES) == sorted(DESIGNS)


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_decoder_returns_an_image_of_the_encoder_input_size(design: str) -> None:
    spec = DESIGNS[design]
    decoder = Decoder(design)
    features = torch.rand(1, {3: 256, 4: 512}[spec.depth], 5, 6)
    assert decoder(features).shape == (1, 3, 5 * spec.stride, 6 * spec.stride)
    kinds = {type(m).__name__ for m in decoder.modules()}
    assert "ConvTranspose2d" not in kinds
    convs = [m for m in decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.padding_mode == "reflect" for c in convs)


# ----------------------------------------------------------------------- model file


def test_model_file_round_trip_in_fp16(tmp_path: Path, tiny_model) -> None:
    from safetensors import safe_open

    path = tmp_path / "m.safetensors"
    modelfile.save_decoder(tiny_model.decoder, path, training={"a": 1}, card={"steps": 3})
    with safe_open(str(path), framework="pt") as handle:
        assert handle.get_tensor("entry.weight").dtype == torch.float16
    again = modelfile.load_decoder(path)
    assert again.card == {"steps": 3} and again.design == "adain3"
    for key, value in tiny_model.decoder.state_dict().items():
        torch.testing.assert_close(again.decoder.state_dict()[key], value, atol=2e-3, rtol=1e-3)


def test_damaged_and_foreign_model_files_are_one_line(tmp_path: Path, tiny_model) -> None:
    from safetensors.torch import save_file

    good = tmp_path / "good.safetensors"
    modelfile.save_decoder(tiny_model.decoder, good, training={}, card={})
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(good.read_bytes()[:200])
    foreign = tmp_path / "fast.safetensors"
    save_file({"x": torch.zeros(1)}, str(foreign), metadata={"format": "stylelab-fast"})
    nan = tmp_path / "nan.safetensors"
    state = {k: v.clone() for k, v in tiny_model.decoder.state_dict().items()}
    state["exit.bias"][0] = float("nan")
    decoder = Decoder("adain3")
    decoder.load_state_dict(state)
    modelfile.save_decoder(decoder, nan, training={}, card={})
    for path, words in [
        (tmp_path / "missing.safetensors", "no such file"),
        (truncated, "not a readable"),
        (foreign, "stylelab apply"),
        (nan, "damaged"),
    ]:
        with pytest.raises(StylelabError, match=words):
            modelfile.load_decoder(path)


# --------------------------------------------------------------------------- the run


def test_instant_output_size_settings_and_seconds(tiny_model, photo, painting) -> None:
    result = instant(photo, painting, model=tiny_model, size=40, precision="fp32")
    assert result.tensor.shape == (1, 3, 33, 40)  # 48x40 at a long edge of 40
    assert float(result.tensor.min()) >= 0 and float(result.tensor.max()) <= 1
    assert result.info["model"]["design"] == "adain3"
    assert result.info["seconds"] > 0 and result.config.size == 40


def test_strength_is_alpha_in_feature_space(tiny_model, photo, painting) -> None:
    """strength 0 decodes the photo's own features, whatever the style."""
    zero = instant(photo, painting, model=tiny_model, size=48, strength=0.0, precision="fp32")
    other = instant(photo, photo, model=tiny_model, size=48, strength=0.0, precision="fp32")
    torch.testing.assert_close(zero.tensor, other.tensor)
    net = encoder(3)
    with torch.inference_mode():
        expected = tiny_model.decoder(net(photo)["relu3_1"]).clamp(0, 1)
    torch.testing.assert_close(zero.tensor, expected[..., :40, :48], atol=1e-4, rtol=1e-4)
    half = instant(photo, painting, model=tiny_model, size=48, strength=0.5, precision="fp32")
    full = instant(photo, painting, model=tiny_model, size=48, strength=1.0, precision="fp32")
    pixel_blend = 0.5 * zero.tensor + 0.5 * full.tensor
    assert not torch.allclose(half.tensor, pixel_blend, atol=1e-3)


def test_palette_moves_the_output_colours_to_the_paintings(tiny_model, photo, painting) -> None:
    """palette 1 (default) gives the painting's mean colour (no clipping at mid-gray);
    palette 0 is the network's own output; strength scales it (0: no palette)."""
    plain = instant(photo, painting, model=tiny_model, size=48, palette=0.0, precision="fp32")
    moved = instant(photo, painting, model=tiny_model, size=48, precision="fp32")
    style = resize_long_edge(painting, moved.info["instant"]["style_size"])
    target = style.mean(dim=(0, 2, 3))
    assert (moved.tensor.mean(dim=(0, 2, 3)) - target).abs().max() < 0.02
    assert (plain.tensor.mean(dim=(0, 2, 3)) - target).abs().max() > 0.05
    assert moved.info["instant"]["palette"] == 1.0 and plain.info["instant"]["palette"] == 0.0


def test_band_contrast_moves_each_scales_contrast_to_the_paintings(
    tiny_model, photo, painting
) -> None:
    """band_contrast 1 brings every band's deviation (stylelab.adain.bands) nearer the
    painting's than 0 does; the record says the amount applied, times strength."""
    from stylelab.adain.bands import band_stds

    run = {"model": tiny_model, "size": 96, "precision": "fp32"}
    off = instant(photo, painting, band_contrast=0.0, **run)
    full = instant(photo, painting, band_contrast=1.0, **run)
    style = resize_long_edge(painting, full.info["instant"]["style_size"]).numpy()
    wanted = band_stds(style)
    gap_off = np.abs(band_stds(off.tensor.numpy()) - wanted)
    gap_full = np.abs(band_stds(full.tensor.numpy()) - wanted)
    # the bands overlap (differences of Gaussians are not orthogonal), so one pass brings
    # each nearer, not exactly there: every gap smaller, their sum at least halved
    assert np.all(gap_full < gap_off), (gap_full, gap_off)
    assert gap_full.sum() < 0.5 * gap_off.sum(), (gap_full, gap_off)
    assert (off.info["instant"]["band_contrast"], full.info["instant"]["band_contrast"]) == (0, 1)
    half = instant(photo, painting, band_contrast=1.0, strength=0.5, **run)
    assert half.info["instant"]["band_contrast"] == 0.5


@pytest.mark.parametrize("mode", ["luminance", "histogram"])
def test_band_contrast_targets_the_painting_as_given_under_preserve_color(
    tiny_model, photo, painting, mode, monkeypatch
) -> None:
    """Under --preserve-color the encoder sees a recoloured painting (the photo's
    luminance spread, or its colours); the band targets are measured on the painting as
    given, at the style size, on both runtimes' shared step."""
    from stylelab.adain import bands

    measured = []
    original = bands.painting_targets
    monkeypatch.setattr(
        bands, "painting_targets", lambda ps, a: measured.append(ps) or original(ps, a)
    )
    result = instant(photo, painting, model=tiny_model, size=48, preserve_color=mode)
    style = resize_long_edge(painting, result.info["instant"]["style_size"]).numpy()
    assert len(measured) == 1 and np.array_equal(measured[0][0], style)


def test_style_blend_weights_mix_statistics(tiny_model, photo, painting) -> None:
    only_first = instant(photo, [painting, photo], model=tiny_model, size=48, style_blend=(1, 0))
    single = instant(photo, painting, model=tiny_model, size=48)
    torch.testing.assert_close(only_first.tensor, single.tensor)
    mixed = instant(photo, [painting, photo], model=tiny_model, size=48, style_blend=(1, 1))
    assert not torch.allclose(mixed.tensor, single.tensor)
    with pytest.raises(StylelabError, match="--style-blend"):
        instant(photo, [painting, photo], model=tiny_model, size=48, style_blend=(0, 0))


def test_preserve_color_luminance_keeps_the_photo_chroma(tiny_model, photo, painting) -> None:
    from stylelab.color import yiq

    kept = instant(photo, painting, model=tiny_model, size=48, preserve_color="luminance")
    plain = instant(photo, painting, model=tiny_model, size=48)
    want = yiq(photo.numpy())[..., 1:]
    kept_error = np.abs(yiq(kept.tensor.numpy())[..., 1:] - want).mean()
    plain_error = np.abs(yiq(plain.tensor.numpy())[..., 1:] - want).mean()
    assert kept_error < 0.02 < plain_error


def test_a_mask_region_of_style_zero_everywhere_is_the_plain_run(
    tiny_model, photo, painting
) -> None:
    everywhere = Regions(np.ones((1, 40, 48), dtype=np.float32), (0,))
    regional = instant(photo, painting, model=tiny_model, size=48, regions=everywhere)
    # regions: neither palette nor band contrast
    plain = instant(photo, painting, model=tiny_model, size=48, palette=0.0, band_contrast=0.0)
    assert regional.info["instant"]["palette"] == 0.0
    assert regional.info["instant"]["band_contrast"] == 0.0
    torch.testing.assert_close(regional.tensor, plain.tensor, atol=2e-3, rtol=0)
    half = np.zeros((2, 40, 48), dtype=np.float32)
    half[0, :, :24], half[1, :, 24:] = 1, 1
    split = instant(photo, painting, model=tiny_model, size=48, regions=Regions(half, (0, None)))
    assert not torch.allclose(split.tensor[..., 28:], plain.tensor[..., 28:], atol=1e-3)


def test_style_scale_sets_the_style_size(tiny_model, photo, painting) -> None:
    result = instant(photo, painting, model=tiny_model, size=48, style_scale=2.0)
    assert result.info["instant"]["style_size"] == 96


def test_detail_layer_gives_back_a_gray_photo_exactly() -> None:
    gray = torch.rand(1, 1, 40, 48).repeat(1, 3, 1, 1)
    from stylelab.images import resize_to

    small = resize_to(gray, (20, 24))
    torch.testing.assert_close(with_detail(small, gray), gray.clamp(0, 1), atol=1e-5, rtol=0)


def test_internal_size_keeps_the_full_output_size(tiny_model, photo, painting) -> None:
    result = instant(photo, painting, model=tiny_model, size=96, internal_size=64)
    assert result.tensor.shape == (1, 3, 80, 96)
    assert result.info["instant"]["internal_size"] == 64


def test_bf16_is_close_to_fp32(tiny_model, photo, painting) -> None:
    # the network's precision alone: the palette would stretch the tiny model's narrow
    # colours (and their bf16 noise) to the painting's spread
    fp32 = instant(photo, painting, model=tiny_model, size=48, precision="fp32", palette=0.0)
    bf16 = instant(photo, painting, model=tiny_model, size=48, precision="bf16", palette=0.0)
    assert float((fp32.tensor - bf16.tensor).abs().mean()) < 0.03


def test_refine_continues_with_stylize_from_the_instant_image(tiny_model, photo, painting) -> None:
    """The callbacks see the instant image (iteration 0), then stylize's iterations; a
    StopRequested from on_row ends the refinement with the current image (the web app's
    Stop)."""
    from stylelab.optim import StopRequested

    images: list[tuple[int, tuple[int, ...]]] = []
    rows: list[int] = []

    def on_row(row: dict) -> None:
        rows.append(int(row["iteration"]))
        if row["iteration"] >= 2:
            raise StopRequested("stopped")

    result = instant(
        photo,
        painting,
        model=tiny_model,
        size=32,
        refine=5,
        internal_size=64,
        callback=lambda i, image: images.append((i, tuple(image.shape))),
        on_row=on_row,
    )
    assert result.info["iterations"] == 2 and result.status == "interrupted"
    assert rows == [1, 2]
    assert images[0] == (0, tuple(result.tensor.shape))  # the instant image, first
    assert [i for i, _ in images[1:]] == [1]  # iteration 2's on_row stopped it before its image
    assert result.info["instant"]["refine"] == 5
    assert result.info["runtime"] == "torch"  # as the docs promise, refined or not
    assert result.config.init == "content"  # the instant image came in memory, not a file
    recorded = result.summary()["config"]  # the Gatys settings that ran, not a temporary path
    assert recorded["init"] == "the instant image" and recorded["steps"] == 5
    assert recorded["optimizer"] == result.config.optimizer


def test_the_record_shows_only_the_settings_instant_reads(tiny_model, photo, painting) -> None:
    """Without --refine no Gatys step runs: the record's config is the shared fields."""
    from stylelab.adain.options import SHARED

    result = instant(photo, painting, model=tiny_model, size=32, runtime="torch")
    assert list(result.summary()["config"]) == list(SHARED)
    assert result.summary()["config"]["size"] == 32


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"strength": float("nan")}, "--strength"),
        ({"strength": 1.5}, "--strength"),
        ({"refine": -1}, "--refine"),
        ({"refine": True}, "--refine"),
        ({"refine": 2.5}, "--refine"),
        ({"strength": True}, "--strength"),
        ({"callback": 3}, "callback must be callable"),
        ({"size": 0}, "--size"),
        ({"steps": 3}, "unknown option"),
        ({"precision": "fp16"}, "precision"),
    ],
)
def test_bad_arguments_are_one_line(tiny_model, photo, painting, options, words) -> None:
    with pytest.raises(StylelabError, match=words):
        instant(photo, painting, model=tiny_model, **options)


def test_narrow_images_run_down_to_the_encoders_limit(tiny_model, photo, painting) -> None:
    """A 48x16 photo at --size 32 (11 px high) and a painting 8 px across at the paintings'
    size run and give a finite image; 7 px is one line naming the image (3 px gave NaN)."""
    from stylelab.adain.options import MIN_ENCODED_SIDE
    from stylelab.images import pil_to_tensor

    assert MIN_ENCODED_SIDE == 8
    wide = pil_to_tensor(gradient_image(48, 16, seed=2))
    result = instant(wide, painting, model=tiny_model, size=32, precision="fp32", palette=0)
    assert tuple(result.tensor.shape[-2:]) == (11, 32) and torch.isfinite(result.tensor).all()
    thin = pil_to_tensor(gradient_image(16, 64, seed=4))  # 8 px across at 32 px
    result = instant(photo, thin, model=tiny_model, size=32, precision="fp32", palette=0)
    assert torch.isfinite(result.tensor).all()
    thinner = pil_to_tensor(gradient_image(16, 72, seed=4))  # 7 px across at 32 px
    with pytest.raises(StylelabError, match=r"^style: this 16x72 image is 7 px .* at least 8 px"):
        instant(photo, thinner, model=tiny_model, size=32, precision="fp32")


# -------------------------------------------------------------------------- training


def _tiny_training(folder: Path, photos: int) -> dict[str, Any]:
    """InstantTrainConfig's fields for a few-second run: one striped painting (s.png) and
    ``photos`` gradient photos (photos/), 64 px crops, fp32, a checkpoint every step."""
    stripes_image(64).save(folder / "s.png")
    (folder / "photos").mkdir()
    for k in range(photos):
        gradient_image(80, 72, seed=k).save(folder / "photos" / f"p{k}.png")
    return dict(
        styles=(str(folder / "s.png"),),
        data=str(folder / "photos"),
        crop=64,
        batch_size=2,
        content_crops=2,
        style_variants=2,
        precision="fp32",
        checkpoint_every=1,
    )


def test_training_writes_a_model_and_resumes(tmp_path: Path) -> None:
    from stylelab.adain.trainconfig import InstantTrainConfig
    from stylelab.adain.training import train_instant

    base = _tiny_training(tmp_path, photos=2)
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "m.safetensors"
    first = train_instant(InstantTrainConfig(steps=2, **base), out, card={"x": 1})
    assert first.step == 2 and first.summary["skipped_files"] == {
        "broken.jpg": "UnidentifiedImageError"
    }
    assert modelfile.load_decoder(out).card == {"x": 1}
    resumed = train_instant(InstantTrainConfig(steps=3, **base), out, resume=True)
    assert resumed.step == 3
    rows = (tmp_path / "m_train" / "train.csv").read_text().splitlines()
    assert len(rows) == 4  # header + 3 steps
    checkpoint = tmp_path / "m_train" / "checkpoint.safetensors"
    kept = checkpoint.read_bytes()
    with pytest.raises(StylelabError, match="at step 3, past --steps 2: give --steps 4"):
        train_instant(InstantTrainConfig(steps=2, **base), out, resume=True)
    assert checkpoint.read_bytes() == kept  # said so, not called damaged, and kept
    with pytest.raises(StylelabError, match="other settings"):
        train_instant(InstantTrainConfig(steps=4, **{**base, "lr": 0.5}), out, resume=True)
    log = tmp_path / "m_train" / "train.csv"
    log.write_text("step,loss\n1,not a number\n")  # a damaged log: one line, not a ValueError
    with pytest.raises(StylelabError, match="damaged checkpoint"):
        train_instant(InstantTrainConfig(steps=4, **base), out, resume=True)


def test_the_temporal_term_off_is_the_plain_training_and_on_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--temporal-weight 0 draws no warps and trains the model it always did; > 0 adds the
    term (a column of train.csv), changes the model, and a resumed run is the
    uninterrupted one (the warps are a function of seed and step)."""
    from stylelab.adain import training
    from stylelab.adain.trainconfig import InstantTrainConfig

    base = _tiny_training(tmp_path, photos=1)

    def weights(path: Path) -> dict[str, torch.Tensor]:
        return modelfile.load_decoder(path).decoder.state_dict()

    straight = tmp_path / "t.safetensors"
    training.train_instant(InstantTrainConfig(steps=3, temporal_weight=50.0, **base), straight)
    header = (tmp_path / "t_train" / "train.csv").read_text().splitlines()[0]
    assert header.split(",")[-1] == "temporal"
    split = tmp_path / "r.safetensors"
    training.train_instant(InstantTrainConfig(steps=2, temporal_weight=50.0, **base), split)
    training.train_instant(
        InstantTrainConfig(steps=3, temporal_weight=50.0, **base), split, resume=True
    )
    a, b = weights(straight), weights(split)
    assert all(torch.equal(a[name], b[name]) for name in a)
    with pytest.raises(StylelabError, match=r"other settings \(temporal_weight\)"):
        training.train_instant(InstantTrainConfig(steps=4, **base), split, resume=True)

    def no_warps(*args: object, **kwargs: object) -> None:
        raise AssertionError("weight 0 must not draw warps")

    monkeypatch.setattr(training, "warped_pair", no_warps)
    plain = tmp_path / "p.safetensors"
    training.train_instant(InstantTrainConfig(steps=3, **base), plain)
    assert "temporal" not in (tmp_path / "p_train" / "train.csv").read_text().splitlines()[0]
    c = weights(plain)
    assert not all(torch.equal(a[name], c[name]) for name in a)


# ------------------------------------------------------------------------------- CLI


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stylelab.cli", *args],
        input=stdin,
        capture_output=True,
        timeout=300,
    )


def test_cli_instant_file_folder_and_stdin(tmp_path: Path, tiny_model) -> None:
    gradient_image(48, 40, seed=1).save(tmp_path / "photo.png")
    stripes_image(48).save(tmp_path / "style.png")
    model = tiny_model.path
    run = _cli(
        "instant",
        str(tmp_path / "photo.png"),
        str(tmp_path / "style.png"),
        "-o",
        str(tmp_path / "out.png"),
        "--model",
        model,
        "--size",
        "40",
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["config"]["size"] == 40 and record["seconds"] > 0
    assert "steps" not in record["config"] and "optimizer" not in record["config"]
    assert record["model"]["path"] == model
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(2):
        gradient_image(40, 32, seed=k).save(folder / f"{k}.png")
    run = _cli(
        "instant",
        str(folder),
        str(tmp_path / "style.png"),
        "-o",
        str(tmp_path / "out"),
        "--model",
        model,
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["0.png", "1.png"]
    # an unreadable photo in the folder is skipped and said, as apply does: exit 1
    (folder / "2.png").write_bytes(b"")
    again = [str(folder), str(tmp_path / "style.png"), "-o", str(tmp_path / "out2")]
    run = _cli("instant", *again, "--model", model, "--quiet")
    assert run.returncode == 1, run.stderr
    assert sorted(p.name for p in (tmp_path / "out2").glob("*.png")) == ["0.png", "1.png"]
    lines = run.stderr.decode().strip().splitlines()
    assert lines[0].startswith("stylelab: skipped: ") and "2.png" in lines[0], lines
    assert lines[-1] == "stylelab: 1 of 3 photo(s) skipped" and "Traceback" not in lines
    assert lines[0].startswith(f"stylelab: skipped: content {folder / '2.png'}: ")
    # a painting that cannot be read fails every photo: one line, exit 2, nothing written
    (tmp_path / "bad.png").write_text("not an image")
    again = [str(folder), str(tmp_path / "bad.png"), "-o", str(tmp_path / "out3")]
    run = _cli("instant", *again, "--model", model, "--quiet")
    assert run.returncode == 2 and len(run.stderr.decode().strip().splitlines()) == 1
    assert not (tmp_path / "out3").exists()
    piped = _cli(
        "instant",
        "-",
        str(tmp_path / "style.png"),
        "-o",
        "-",
        "--model",
        model,
        "--quiet",
        stdin=(tmp_path / "photo.png").read_bytes(),
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith(b"\x89PNG")
    # the PyTorch runtime's result (a StylizeResult) goes to stdout the same way
    args = ["instant", "-", str(tmp_path / "style.png"), "-o", "-", "--model", model, "--quiet"]
    on_torch = _cli(
        *args,
        "--runtime",
        "torch",
        "--precision",
        "fp32",
        stdin=(tmp_path / "photo.png").read_bytes(),
    )
    assert on_torch.returncode == 0, on_torch.stderr
    with Image.open(io.BytesIO(piped.stdout)) as a, Image.open(io.BytesIO(on_torch.stdout)) as b:
        assert a.size == b.size
        # the same picture: fp32 on both runtimes, at most one 8-bit level apart (rounding)
        levels = np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16))
    assert levels.max() <= 1, levels.max()


def test_cli_instant_takes_an_example_as_the_photo(tmp_path: Path, tiny_model) -> None:
    stripes_image(48).save(tmp_path / "style.png")
    out = tmp_path / "out.png"
    argv = ["example:astronaut", str(tmp_path / "style.png"), "-o", str(out)]
    run = _cli("instant", *argv, "--model", tiny_model.path, "--size", "40", "--quiet")
    assert run.returncode == 0, run.stderr
    assert json.loads(out.with_suffix(".json").read_text())["input"] == "example:astronaut"
    with Image.open(out) as image:
        assert image.size == (40, 40)


def test_ctrl_c_in_a_folder_run_still_says_what_was_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stylelab import cli
    from stylelab.adain import runtime

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "0.png").write_bytes(b"")  # unreadable: skipped, its line held back
    gradient_image(40, 32, seed=1).save(folder / "1.png")
    stripes_image(48).save(tmp_path / "style.png")

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runtime, "choose_session", lambda *_, **__: object())
    monkeypatch.setattr(runtime, "instant_onnx", interrupted)
    argv = ["instant", str(folder), str(tmp_path / "style.png"), "-o", str(tmp_path / "out")]
    assert cli.main([*argv, "--quiet"]) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("stylelab: interrupted"), lines
    assert lines[0].startswith(f"stylelab: skipped: content {folder / '0.png'}: "), lines
    assert not (tmp_path / "out").exists()


def test_demo_painting_is_none_of_the_training_paintings() -> None:
    import tomllib

    from stylelab.adain.demo import demo_painting
    from stylelab.adain.training import procedural_paintings
    from stylelab.examples import brush_strokes, mosaic

    recipe = Path(modelfile.__file__).with_name("recipe.toml")
    count = tomllib.loads(recipe.read_text())["data"]["procedural"]
    trained = [p for _, p in procedural_paintings(max(count, 64), size=64)]
    trained += [brush_strokes(64), mosaic(64)]
    ours = np.asarray(demo_painting(64), dtype=np.float32)
    for painting in trained:
        assert np.abs(ours - np.asarray(painting, dtype=np.float32)).mean() > 5


def test_cli_train_instant(tmp_path: Path) -> None:
    stripes_image(64).save(tmp_path / "s.png")
    run = _cli(
        "train-instant",
        "--styles",
        str(tmp_path / "s.png"),
        "-o",
        str(tmp_path / "m.safetensors"),
        "--crop",
        "64",
        "--batch-size",
        "1",
        "--steps",
        "1",
        "--content-crops",
        "1",
        "--style-variants",
        "1",
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    assert modelfile.load_decoder(tmp_path / "m.safetensors").training["steps_done"] == 1


# ----------------------------------------------------------------- the shipped model


def test_the_shipped_model_moves_a_photo_towards_the_painting() -> None:
    """At 128 px the shipped model's output is closer in style to the painting than the
    photo is (VGG yardstick), and keeps more of the photo's content than the painting."""
    from stylelab.evaluate import evaluate
    from stylelab.examples import example_image

    assert modelfile.SHIPPED.is_file()
    model = modelfile.load_decoder()
    assert model.card.get("steps", 0) > 0
    photo, style = example_image("astronaut"), example_image("strokes")
    result = instant(photo, style, model=model, size=128)
    out = evaluate(result.tensor, photo, style, size=128)
    before = evaluate(photo, photo, style, size=128)
    painting = evaluate(style, photo, style, size=128)
    assert out["style_distance"] < 0.8 * before["style_distance"]
    assert out["content_distance"] < painting["content_distance"]


def test_the_encoder_gives_the_features_of_stylelabs_vgg19() -> None:
    from stylelab.backbones import load_backbone

    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    reference = load_backbone("vgg19", "pretrained").extractor(layers)
    image = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(4))
    ours = encoder(4, layers)(image)
    with torch.no_grad():
        theirs = reference(image)
    for layer in layers:
        torch.testing.assert_close(ours[layer], theirs[layer], atol=1e-2, rtol=1e-3)
    assert len(encoder(3).body) == 12  # stops at relu3_1: 5 convs, 5 ReLUs, 2 pools


def test_mask_file_and_region_styles_give_the_regions_run(
    tmp_path: Path, tiny_model, photo, painting
) -> None:
    from PIL import Image

    rgb = np.zeros((40, 48, 3), dtype=np.uint8)
    rgb[:, :24] = (255, 0, 0)
    rgb[:, 24:] = (0, 255, 0)
    Image.fromarray(rgb).save(tmp_path / "mask.png")
    by_file = instant(
        photo,
        painting,
        model=tiny_model,
        size=48,
        mask=str(tmp_path / "mask.png"),
        region_style="#ff0000=0,#00ff00=none",
    )
    masks = np.zeros((2, 40, 48), dtype=np.float32)
    masks[0, :, :24], masks[1, :, 24:] = 1, 1
    by_regions = instant(
        photo, painting, model=tiny_model, size=48, regions=Regions(masks, (0, None))
    )
    torch.testing.assert_close(by_file.tensor, by_regions.tensor)


def test_stylelab_instant_is_the_function_and_no_module_shares_its_name() -> None:
    """The package is stylelab.adain (the method), so importing it never hides the function
    (issue 26: no module shares a public function's name)."""
    import importlib.util
    import sys

    import stylelab
    import stylelab.adain.transfer  # noqa: F401

    assert stylelab.instant is sys.modules["stylelab.adain.transfer"].instant
    assert "instant" in stylelab.__all__
    assert importlib.util.find_spec("stylelab.instant") is None


def test_a_folder_run_that_meets_a_full_disk_leaves_no_empty_output_folder(
    tmp_path: Path, tiny_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from stylelab import cli
    from stylelab.gatys import StylizeResult
    from stylelab.safety import WriteFailed

    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(2):
        gradient_image(40, 32, seed=k).save(photos / f"{k}.png")
    stripes_image(48).save(tmp_path / "style.png")

    def full(self, path):
        raise WriteFailed(f"{path}: no space left on device; nothing was written", errno.ENOSPC)

    monkeypatch.setattr(StylizeResult, "save", full)
    out = tmp_path / "out"
    argv = ["instant", str(photos), str(tmp_path / "style.png"), "-o", str(out)]
    argv += ["--model", str(tiny_model.path), "--runtime", "torch", "--size", "40", "--quiet"]
    assert cli.main(argv) == 2
    assert not out.exists()


def test_a_library_call_leaves_the_callers_random_stream_alone(tiny_model, photo, painting) -> None:
    """A host program's seeded draws come out the same whether instant ran in between or
    not (the encoder's and decoder's initial weights, replaced by the file's, drew from it)."""
    from stylelab.adain import nets
    from stylelab.precision import cpu_bf16_is_faster

    nets.encoder.cache_clear()  # built afresh, as on a first call
    cpu_bf16_is_faster.cache_clear()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    instant(photo, painting, model=tiny_model.path, size=32, runtime="torch")
    assert torch.equal(torch.rand(3), expected)

"""Colour preservation (Gatys et al. 2017, section 5): analytic checks of the colour maps,
then the issue's check on real runs: the photo's chroma kept, the texture not lost."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2lab

from stylelab import color
from stylelab.errors import StylelabError
from stylelab.pixels import load_array


def random_image(height: int, width: int, low: float, high: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(3, 3)) * 0.3 + np.eye(3)  # correlated channels
    pixels = rng.uniform(size=(height * width, 3)) @ mix.T
    pixels = (pixels - pixels.min()) / (pixels.max() - pixels.min())
    image = low + (high - low) * pixels.reshape(height, width, 3)
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)


def moments(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = image[0].reshape(3, -1).T.astype(np.float64)
    return pixels.mean(axis=0), np.cov(pixels, rowvar=False)


def chroma_distance(image: np.ndarray, photo: np.ndarray) -> float:
    """Mean Euclidean distance of (a*, b*) in CIELAB, pixel by pixel."""
    a = rgb2lab(image[0].transpose(1, 2, 0))[..., 1:]
    b = rgb2lab(photo[0].transpose(1, 2, 0))[..., 1:]
    return float(np.sqrt(((a - b) ** 2).sum(axis=-1)).mean())


def test_match_colors_gives_the_targets_mean_and_covariance() -> None:
    source = random_image(40, 50, 0.35, 0.65, seed=1)  # narrow: no clipping after the map
    target = random_image(30, 20, 0.2, 0.8, seed=2)
    matched = color.match_colors(source, target)
    mean_m, cov_m = moments(matched)
    mean_t, cov_t = moments(target)
    assert np.abs(mean_m - mean_t).max() < 1e-5
    assert np.abs(cov_m - cov_t).max() < 1e-4
    assert matched.shape == source.shape and matched.dtype == np.float32


def test_match_colors_is_the_identity_on_its_target_and_survives_a_flat_image() -> None:
    image = random_image(24, 24, 0.2, 0.8, seed=3)
    assert np.abs(color.match_colors(image, image) - image).max() < 1e-4
    flat = np.full((1, 3, 16, 16), 0.5, dtype=np.float32)
    out = color.match_colors(flat, image)
    assert np.isfinite(out).all()
    assert np.abs(out - moments(image)[0][None, :, None, None]).max() < 1e-3


def test_match_moments_moves_to_the_blended_moments() -> None:
    source = random_image(40, 50, 0.4, 0.6, seed=6)  # narrow: no clipping after the map
    first = random_image(30, 20, 0.3, 0.7, seed=7)
    second = random_image(20, 30, 0.35, 0.75, seed=8)
    (mean_a, cov_a), (mean_b, cov_b) = moments(first), moments(second)
    full = color.match_moments(source, [first, second], [0.25, 0.75])
    mean_f, cov_f = moments(full)
    assert np.abs(mean_f - (0.25 * mean_a + 0.75 * mean_b)).max() < 1e-4
    assert np.abs(cov_f - (0.25 * cov_a + 0.75 * cov_b)).max() < 1e-4


def _axis_quantiles(image: np.ndarray, axes: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    projected = axes.T @ image[0].reshape(3, -1).astype(np.float64)
    return np.quantile(projected, probabilities, axis=1).T


def test_match_distribution_gives_each_principal_axis_the_barycentre_quantiles() -> None:
    """Along the eigenvectors of the blended covariance, the output's quantiles are
    w_1 F_1^-1 + w_2 F_2^-1 (the 1-D Wasserstein barycentre); a gamma-curved source
    (not an affine image of the target) checks that more than two moments moved."""
    source = random_image(60, 70, 0.0, 1.0, seed=12) ** 2.5
    first = random_image(50, 40, 0.2, 0.6, seed=13)
    second = random_image(40, 50, 0.4, 0.8, seed=14)
    blend = [0.3, 0.7]
    out = color.match_distribution(source, [first, second], blend)
    cov = 0.3 * moments(first)[1] + 0.7 * moments(second)[1]
    axes = np.linalg.eigh(cov)[1]
    probabilities = np.linspace(0.05, 0.95, 19)
    pairs = zip(blend, [first, second], strict=True)
    target = sum(w * _axis_quantiles(p, axes, probabilities) for w, p in pairs)
    got = _axis_quantiles(out, axes, probabilities)
    spread = target[:, -1] - target[:, 0]
    assert np.abs(got - target).max() < 0.02 * spread.min(), np.abs(got - target).max()
    before = _axis_quantiles(source, axes, probabilities)
    assert np.abs(before - target).max() > 0.2 * spread.min()  # it had far to go
    flat = np.full((1, 3, 16, 16), 0.5, dtype=np.float32)
    assert np.isfinite(color.match_distribution(flat, [first], [1.0])).all()


def test_match_palette_mixes_both_matches_and_is_linear_in_the_amount() -> None:
    source = random_image(40, 50, 0.4, 0.6, seed=6)
    first = random_image(30, 20, 0.3, 0.7, seed=7)
    second = random_image(20, 30, 0.35, 0.75, seed=8)
    paintings, blend = [first, second], [0.25, 0.75]
    full = color.match_palette(source, paintings, blend, 1.0)
    share = color.DISTRIBUTION_SHARE
    expected = (1 - share) * color.match_moments(source, paintings, blend)
    expected += share * color.match_distribution(source, paintings, blend)
    assert np.abs(full - expected).max() < 1e-6
    half = color.match_palette(source, paintings, blend, 0.5)
    assert np.abs(half - 0.5 * (source + full)).max() < 1e-5  # linear in the amount
    assert np.abs(color.match_palette(source, [first], [1.0], 0.0) - source).max() < 1e-6
    mean_f = moments(full)[0]
    assert np.abs(mean_f - (0.25 * moments(first)[0] + 0.75 * moments(second)[0])).max() < 0.01


def test_lookup_is_np_interp_at_its_table_points_and_close_between() -> None:
    xp = np.sort(np.random.default_rng(0).normal(size=64))
    fp = np.sort(np.random.default_rng(1).uniform(size=64))
    points = np.linspace(xp[0], xp[-1], 16384 + 1).astype(np.float32)[::97]
    assert np.abs(color._lookup(points, xp, fp) - np.interp(points, xp, fp)).max() < 1e-5
    values = np.random.default_rng(2).normal(size=5000).astype(np.float32) * 2
    assert np.abs(color._lookup(values, xp, fp) - np.interp(values, xp, fp)).max() < 0.01
    assert color._lookup(np.array([-50.0, 50.0], np.float32), xp, fp).tolist() == pytest.approx(
        [fp[0], fp[-1]], abs=1e-6
    )


def test_after_feed_forward_keeps_the_photos_colours_when_asked() -> None:
    output = random_image(16, 16, 0.3, 0.7, seed=9)
    photo = random_image(16, 16, 0.2, 0.8, seed=10)
    painting = random_image(16, 16, 0.1, 0.5, seed=11)
    kept, kept_amount = color.after_feed_forward(output, photo, [painting], [1.0], "histogram", 1.0)
    assert np.array_equal(kept, output)  # histogram: the inputs were matched, no palette
    assert kept_amount == 0.0  # and the record says none was applied
    lum, _ = color.after_feed_forward(output, photo, [painting], [1.0], "luminance", 1.0)
    assert np.abs(lum - color.with_chroma(output, photo)).max() < 1e-6
    moved, moved_amount = color.after_feed_forward(output, photo, [painting], [1.0], "none", 1.0)
    assert np.abs(moments(moved)[0] - moments(painting)[0]).max() < 1e-3
    assert moved_amount == 1.0


def test_gray_matches_the_luminance_mean_and_spread() -> None:
    style = random_image(32, 32, 0.4, 0.6, seed=4)
    photo = random_image(20, 28, 0.1, 0.9, seed=5)
    matched = color.gray(style, like=photo)
    y = color.yiq(matched)
    assert np.abs(y[..., 1:]).max() < 1e-6  # gray: no chroma
    target = color.yiq(photo)[..., 0]
    assert y[..., 0].mean() == pytest.approx(target.mean(), abs=1e-5)
    assert y[..., 0].std() == pytest.approx(target.std(), abs=1e-5)


def test_with_chroma_takes_luminance_from_one_and_chroma_from_the_other() -> None:
    photo = random_image(20, 20, 0.2, 0.8, seed=6)
    other = random_image(20, 20, 0.3, 0.7, seed=7)
    assert np.abs(color.with_chroma(color.gray(photo), photo) - photo).max() < 1e-5
    mixed = color.yiq(color.with_chroma(other, photo))
    assert np.abs(mixed[..., 0] - color.yiq(other)[..., 0]).max() < 1e-4
    assert np.abs(mixed[..., 1:] - color.yiq(photo)[..., 1:]).max() < 1e-4


def test_preserve_after_and_its_check() -> None:
    photo = random_image(16, 16, 0.2, 0.8, seed=8)
    out = random_image(16, 16, 0.3, 0.7, seed=9)
    assert np.array_equal(color.preserve_after(out, photo, "none"), out)
    for mode in ("luminance", "histogram"):
        kept = color.preserve_after(out, photo, mode)
        assert chroma_distance(kept, photo) < chroma_distance(out, photo)
    with pytest.raises(StylelabError, match="--preserve-color 'hue': choose from none"):
        color.check_preserve_color("hue")


def test_stylize_keeps_the_photos_chroma_and_the_texture() -> None:
    """The issue's check at 64 px: with either mode the output's (a*, b*) are closer to
    the photo's than without, while the style distance measured colour-blind stays within
    25 % of the unconstrained run's, by two judges: the VGG Gram distance on gray images
    (with the photo's luminance mean and spread: the texture that colour preservation
    promises to keep), and the CNN-free texture yardstick's luminance statistics."""
    import stylelab
    from stylelab.evaluate import evaluate
    from stylelab.pixels import pil_to_rgb, resize_array, to_batch

    options = {"size": 64, "steps": 40, "precision": "fp32", "device": "cpu"}
    outputs = {
        mode: to_batch(
            pil_to_rgb(
                stylelab.stylize(
                    "example:chelsea", "example:strokes", preserve_color=mode, **options
                ).image
            )
        )
        for mode in ("none", "luminance", "histogram")
    }
    photo = resize_array(load_array("example:chelsea"), outputs["none"].shape[-2:])
    painting = load_array("example:strokes")

    def hwc_gray(image: np.ndarray) -> np.ndarray:
        """Colour- and exposure-blind: luminance only, its mean and spread the photo's."""
        return color.gray(image, like=photo)[0].transpose(1, 2, 0)

    def texture(image: np.ndarray) -> float:
        scores = evaluate(hwc_gray(image), hwc_gray(photo), hwc_gray(painting), size=64)
        return float(scores["style_distance"])

    def statistics(image: np.ndarray) -> float:
        """The CNN-free yardstick's four luminance groups (Portilla-Simoncelli statistics;
        its fifth, colour, group left out): a judge independent of the VGG loss."""
        scores = evaluate(image, photo, painting, size=64, yardstick="texture")
        groups = scores["style_distance_per_group"]
        return float(np.mean([value for name, value in groups.items() if name != "color"]))

    plain_chroma, plain_texture = chroma_distance(outputs["none"], photo), texture(outputs["none"])
    plain_statistics = statistics(outputs["none"])
    for mode in ("luminance", "histogram"):
        assert chroma_distance(outputs[mode], photo) < 0.7 * plain_chroma, mode
        assert texture(outputs[mode]) <= 1.25 * plain_texture, mode
        assert statistics(outputs[mode]) <= 1.25 * plain_statistics, mode

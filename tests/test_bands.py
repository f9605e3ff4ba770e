"""The band-contrast step of instant (stylelab.adain.bands): analytic checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from stylelab import color
from stylelab.adain import bands
from stylelab.adain.options import blend_stats


def _image(shape=(40, 56), seed=0, amplitude=0.1) -> np.ndarray:
    """A (1, 3, H, W) image near mid-grey (nothing clips when its bands are doubled)."""
    rng = np.random.default_rng(seed)
    return (0.5 + amplitude * (rng.random((1, 3, *shape)) - 0.5)).astype(np.float32)


@pytest.mark.parametrize("shape", [(5, 7), (33, 20), (64, 48)])
@pytest.mark.parametrize("sigma", [1.0, 2.0, 4.0, 8.0])
def test_the_blur_is_scipys_gaussian_filter_with_mirrored_edges(shape, sigma) -> None:
    plane = np.random.default_rng(1).random(shape).astype(np.float32)
    expected = gaussian_filter(plane.astype(np.float64), sigma, mode="reflect")
    assert np.abs(bands.gaussian_blur(plane, sigma) - expected).max() < 1e-5


@pytest.mark.parametrize("shape", [(5, 7), (33, 20)])
@pytest.mark.parametrize("sigma", [1.0, 8.0])
def test_the_direct_convolution_for_long_sides_is_the_same_blur(shape, sigma, monkeypatch) -> None:
    """Past MATRIX_LIMIT px a side the blur is a sum of shifted copies: the same result
    (mirrored edges repeated where the kernel is longer than the side)."""
    plane = np.random.default_rng(2).random(shape).astype(np.float32)
    expected = gaussian_filter(plane.astype(np.float64), sigma, mode="reflect")
    monkeypatch.setattr(bands, "MATRIX_LIMIT", 4)
    assert np.abs(bands.gaussian_blur(plane, sigma) - expected).max() < 1e-5


def test_the_bands_and_the_rest_add_up_to_the_plane() -> None:
    plane = bands.luminance(_image(amplitude=1.0))
    layers, rest = bands.bands(plane)
    assert len(layers) == bands.LEVELS
    np.testing.assert_allclose(rest + sum(layers), plane, atol=1e-5)
    # band-pass: each layer has (almost) no mean, the rest keeps the plane's
    assert all(abs(float(layer.mean())) < 1e-3 for layer in layers)
    assert float(rest.mean()) == pytest.approx(float(plane.mean()), abs=1e-3)


def test_amount_zero_and_the_images_own_contrast_leave_it_as_it_is() -> None:
    image = _image()
    own = bands.band_stds(image)
    assert np.array_equal(bands.match_band_contrast(image, own * 2, 0.0), image)
    np.testing.assert_allclose(bands.match_band_contrast(image, own, 1.0), image, atol=1e-5)


@pytest.mark.parametrize(
    ("factor", "amount", "gain"),
    [(2.0, 1.0, 2.0), (2.25, 0.5, 1.5), (10.0, 1.0, 3.0), (0.1, 1.0, 0.5)],
)
def test_each_band_is_scaled_by_the_clipped_gain_to_the_power_of_the_amount(
    factor, amount, gain
) -> None:
    """Y' = G_L + sum_k clip(s_k / r_k, 1/2, 3)^a B_k, the same change in R, G and B."""
    image = _image(amplitude=0.05)
    y = bands.luminance(image)
    layers, rest = bands.bands(y)
    out = bands.match_band_contrast(image, bands.band_stds(image) * factor, amount)
    np.testing.assert_allclose(bands.luminance(out), rest + gain * sum(layers), atol=1e-5)
    change = out - image
    np.testing.assert_allclose(change[0, 0], change[0, 1], atol=1e-6)
    np.testing.assert_allclose(change[0, 0], change[0, 2], atol=1e-6)


def test_the_band_targets_blend_as_adain_statistics_do() -> None:
    """options.blend_stats, AdaIN's interpolation, on the paintings' (L,) band arrays."""
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([5.0, 6.0, 7.0, 8.0])
    np.testing.assert_allclose(blend_stats([a, b], [1.0, 3.0]), (a + 3 * b) / 4)


def test_an_image_larger_than_the_working_size_is_measured_there() -> None:
    """At twice the working edge the change is found at the working edge and upsampled:
    measured there again, the bands move most of the way to the target; a working edge at
    or above the image's is the plain run."""
    from stylelab.pixels import resize_array

    image = _image((64, 48), amplitude=0.05)
    before = bands.band_stds(resize_array(image, (32, 24)))
    target = 1.5 * before  # every gain inside [1/2, 3]
    plain = bands.match_band_contrast(image, target, 1.0)
    assert np.array_equal(bands.match_band_contrast(image, target, 1.0, 64), plain)
    moved = bands.match_band_contrast(image, target, 1.0, 32)
    after = bands.band_stds(resize_array(moved, (32, 24)))
    # at least 65 % of the way: the upsampling and the measuring resize soften the finest band
    assert np.all(np.abs(after - target) < 0.35 * np.abs(before - target))


def test_finish_records_the_amounts_and_keeps_the_photos_chroma_under_luminance() -> None:
    output, photo, painting = _image(seed=2), _image(seed=3), _image(seed=4, amplitude=0.3)
    look = ([1.0], "luminance", 1.0, 0.5, 512)
    image, amounts = bands.finish(output, photo, [painting], look, [bands.band_stds(painting)])
    assert amounts == {"palette": 0.0, "band_contrast": 0.5}
    _, off = bands.finish(output, photo, [painting], ([1.0], "none", -0.0, -0.0, 512), [])
    assert str(off) == "{'palette': 0.0, 'band_contrast': 0.0}"  # never -0.0 in a record
    # equal changes in R, G and B leave I and Q (rows summing to 0) as the photo's
    np.testing.assert_allclose(color.yiq(image)[..., 1:], color.yiq(photo)[..., 1:], atol=1e-5)
    moved = bands.band_stds(image)
    unmoved = bands.band_stds(color.with_chroma(output, photo))
    wanted = bands.band_stds(painting)
    assert np.all(np.abs(moved - wanted) < np.abs(unmoved - wanted))


def test_the_products_agree_on_torchs_threads_and_numpys_blas(monkeypatch) -> None:
    """detail.sandwich runs on torch where it is loaded, else on numpy's BLAS (the
    onnxruntime path): one result either way."""
    import sys

    import torch  # noqa: F401  (loaded: the torch path)

    from stylelab.adain.detail import sandwich

    rng = np.random.default_rng(5)
    rows, planes, cols = (
        rng.random(s).astype(np.float32) for s in ((30, 20), (3, 20, 24), (28, 24))
    )
    on_torch = sandwich(rows, planes, cols)
    monkeypatch.delitem(sys.modules, "torch")
    on_numpy = sandwich(rows, planes, cols)
    assert on_torch.shape == on_numpy.shape == (3, 30, 28)
    np.testing.assert_allclose(on_torch, on_numpy, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(on_numpy, rows @ planes @ cols.T, rtol=1e-5, atol=1e-5)

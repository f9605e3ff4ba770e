"""A second quality yardstick with no CNN in it: texture statistics, colour and structure.

The VGG yardstick (:mod:`stylelab.evaluate`) scores with the features of a network that
resembles the ones being studied, so it may favour images optimized through VGG-like
features. This one uses fixed filters only, after Portilla & Simoncelli, "A Parametric
Texture Model Based on Joint Statistics of Complex Wavelet Coefficients" (IJCV 2000).

Filter bank. The luminance Y (CIE L* / 100, in [0, 1]) is decomposed into a Gaussian
pyramid of ``SCALES`` levels (each half the size of the one before, Gaussian sigma 1
before subsampling); at each level a complex Gabor filter of frequency 1/4 cycle per
pixel (bandwidth one octave, ``skimage.filters.gabor_kernel``) at ``ORIENTATIONS``
orientations (0, 45, 90, 135 degrees) gives the subbands B_so; m_so = |B_so| is their
magnitude. The statistics, as in P&S (their Sec. 3), in five groups:

- ``marginal``: mean, standard deviation, skewness and kurtosis of the luminance at
  every pyramid level (4 x SCALES numbers);
- ``energy``: the mean magnitude E_so = mean(m_so) of every subband;
- ``magnitude_correlation``: Pearson correlations of the magnitudes between every pair
  of orientations at one scale, and between one orientation at neighbouring scales (the
  finer magnitude averaged 2 x 2 onto the coarser grid);
- ``autocorrelation``: the normalized auto-correlation a(d) = cov(v(p), v(p + d)) / var(v)
  for the lags 0 < |d|_inf <= ``LAGS`` of the luminance and of each subband magnitude, per
  scale (circular, through the FFT);
- ``color``: the sliced Wasserstein-1 distance between the CIE Lab pixels of the output
  and of the style (``PROJECTIONS`` random unit directions from a fixed seed; W1 in one
  dimension is the mean absolute difference of ``QUANTILES`` quantiles).

Distances. For the first four groups the distance is the relative error of the
statistic vector, d_g = ||v_g(x) - v_g(s)|| / ||v_g(s)||, the convention of the VGG
yardstick: 0 is a perfect match, 1 is as far as an all-zero statistic (no energy, no
correlation). The colour distance is relative too: SW1(x, s) / SW1(mean(s), s), where
mean(s) is a flat image of the style's mean Lab colour, so 1 is as far as the style's
average colour painted flat. Each group is thus a dimensionless number with the same
anchors, and ``style_distance`` is their plain mean (equal weights, five groups). With
several styles, the style statistics are the blend-weighted means of each style's, and
the colour distance the blend-weighted mean over styles.

``content_distance`` = 1 - SSIM(Y(x), Y(c)) (Wang, Bovik, Sheikh & Simoncelli 2004; a
Gaussian window of sigma 1.5, data range 1; ``skimage.metrics.structural_similarity``),
with the content image resized to the output's shape: 0 is the same structure.

Everything is deterministic (fixed projections, no sampling of pixels beyond a fixed
stride); a 256 px image is scored in well under a second on one core.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

SCALES = 4
ORIENTATIONS = 4
FREQUENCY = 0.25
LAGS = 3
PROJECTIONS = 64
QUANTILES = 128
COLOR_SEED = 0
MAX_COLOR_PIXELS = 16_384  # colour distances on a fixed stride of at most this many pixels
GROUPS = ("marginal", "energy", "magnitude_correlation", "autocorrelation", "color")
_EPS = 1e-12


def to_array(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) RGB in [0, 1] -> (H, W, 3) float64 array, clipped."""
    array = image.detach().float().cpu().squeeze(0).permute(1, 2, 0).numpy()
    return np.clip(array.astype(np.float64), 0.0, 1.0)


def lab(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    return np.asarray(rgb2lab(rgb), dtype=np.float64)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """CIE L* / 100 in [0, 1]."""
    return lab(rgb)[..., 0] / 100.0


@functools.lru_cache(maxsize=1)
def _kernels() -> tuple[np.ndarray, ...]:
    from skimage.filters import gabor_kernel

    return tuple(
        np.asarray(gabor_kernel(FREQUENCY, theta=math.pi * k / ORIENTATIONS))
        for k in range(ORIENTATIONS)
    )


def pyramid(y: np.ndarray, scales: int = SCALES) -> list[np.ndarray]:
    """Gaussian pyramid of ``y``: blur (sigma 1) and take every other pixel; stops early
    when a level would be smaller than 8 px."""
    from scipy.ndimage import gaussian_filter

    levels = [y]
    for _ in range(scales - 1):
        nxt = gaussian_filter(levels[-1], 1.0, mode="reflect")[::2, ::2]
        if min(nxt.shape) < 8:
            break
        levels.append(nxt)
    return levels


def subbands(level: np.ndarray) -> list[np.ndarray]:
    """Magnitudes of the complex Gabor responses of one level, one per orientation."""
    from scipy.signal import fftconvolve

    pad = max(k.shape[0] for k in _kernels()) // 2
    padded = np.pad(level - level.mean(), pad, mode="reflect")
    out = []
    for kernel in _kernels():
        response = fftconvolve(padded, kernel, mode="same")[pad:-pad, pad:-pad]
        out.append(np.abs(response))
    return out


def _moments(v: np.ndarray) -> list[float]:
    mean = float(v.mean())
    centred = v - mean
    var = float((centred**2).mean())
    std = math.sqrt(var)
    if std < 1e-8:
        return [mean, std, 0.0, 3.0]
    return [mean, std, float((centred**3).mean()) / std**3, float((centred**4).mean()) / var**2]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / denom if denom > _EPS else 0.0


def _autocorrelation(v: np.ndarray, lags: int = LAGS) -> list[float]:
    """a(d) for the (2 lags + 1)^2 - 1 lags around 0, circular, normalized by a(0)."""
    centred = v - v.mean()
    spectrum = np.fft.rfft2(centred)
    auto = np.fft.irfft2(spectrum * np.conj(spectrum), s=centred.shape)
    zero = auto[0, 0]
    if zero <= _EPS:
        return [0.0] * ((2 * lags + 1) ** 2 - 1)
    values = []
    for dy in range(-lags, lags + 1):
        for dx in range(-lags, lags + 1):
            if dy or dx:
                values.append(float(auto[dy % auto.shape[0], dx % auto.shape[1]] / zero))
    return values


def _pool2(v: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Mean over 2 x 2 blocks, cropped to ``shape`` (the next coarser level's)."""
    h, w = 2 * shape[0], 2 * shape[1]
    padded = np.pad(v, ((0, max(0, h - v.shape[0])), (0, max(0, w - v.shape[1]))), mode="edge")
    return padded[:h, :w].reshape(shape[0], 2, shape[1], 2).mean(axis=(1, 3))


def texture_statistics(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The four filter-bank statistic groups of an (H, W, 3) RGB image in [0, 1]."""
    levels = pyramid(luminance(rgb))
    bands = [subbands(level) for level in levels]
    marginal: list[float] = []
    energy: list[float] = []
    correlation: list[float] = []
    auto: list[float] = []
    for s, (level, mags) in enumerate(zip(levels, bands, strict=True)):
        marginal += _moments(level)
        energy += [float(m.mean()) for m in mags]
        for i in range(ORIENTATIONS):
            for j in range(i + 1, ORIENTATIONS):
                correlation.append(_corr(mags[i], mags[j]))
        if s > 0:
            for o in range(ORIENTATIONS):
                correlation.append(_corr(_pool2(bands[s - 1][o], mags[o].shape), mags[o]))
        auto += _autocorrelation(level)
        for m in mags:
            auto += _autocorrelation(m)
    return {
        "marginal": np.array(marginal),
        "energy": np.array(energy),
        "magnitude_correlation": np.array(correlation),
        "autocorrelation": np.array(auto),
    }


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.size, b.size)  # a tiny image may have fewer pyramid levels than the style
    a, b = a[:n], b[:n]
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(b)), _EPS))


def _color_pixels(rgb: np.ndarray) -> np.ndarray:
    pixels = lab(rgb).reshape(-1, 3)
    stride = max(1, math.ceil(pixels.shape[0] / MAX_COLOR_PIXELS))
    return pixels[::stride]


@functools.lru_cache(maxsize=1)
def _directions() -> np.ndarray:
    rng = np.random.default_rng(COLOR_SEED)
    d = rng.standard_normal((3, PROJECTIONS))
    return np.asarray(d / np.linalg.norm(d, axis=0, keepdims=True))


def sliced_wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """Sliced W1 between two point sets (N, 3) and (M, 3): the mean over fixed random
    directions of the mean absolute difference of ``QUANTILES`` quantiles."""
    return float(np.abs(_quantiles(a) - _quantiles(b)).mean())


def _quantiles(points: np.ndarray) -> np.ndarray:
    """(QUANTILES, PROJECTIONS): the (k + 1/2) / QUANTILES quantiles of each projection
    (nearest rank, from one sort)."""
    projected = np.sort(points @ _directions(), axis=0)
    ranks = ((np.arange(QUANTILES) + 0.5) / QUANTILES * projected.shape[0]).astype(int)
    return projected[np.minimum(ranks, projected.shape[0] - 1)]


def color_distance(output: np.ndarray, style: np.ndarray) -> float:
    """SW1(Lab(output), Lab(style)) / SW1(mean Lab of style, Lab(style)): 0 is the same
    palette, 1 as far as a flat image of the style's mean colour."""
    a, b = _color_pixels(output), _color_pixels(style)
    spread = sliced_wasserstein(np.broadcast_to(b.mean(axis=0), b.shape), b)
    return sliced_wasserstein(a, b) / max(spread, _EPS)


def structure_distance(output: np.ndarray, content: np.ndarray) -> float:
    """1 - SSIM of the luminances (same shape), Gaussian window sigma 1.5, data range 1."""
    from skimage.metrics import structural_similarity

    a, b = luminance(output), luminance(content)
    if min(a.shape) < 7:
        return float(np.abs(a - b).mean())  # too small for a window: a plain L1
    ssim = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5)
    return 1.0 - float(ssim)


def texture_distance(
    output: np.ndarray,
    styles: Sequence[np.ndarray],
    blend: Sequence[float] | None = None,
) -> dict[str, float]:
    """Per-group distances of ``output`` to the (blended) ``styles``, and their mean as
    ``style_distance`` (arrays (H, W, 3) in [0, 1])."""
    weights = list(blend) if blend is not None else [1.0 / len(styles)] * len(styles)
    stats = texture_statistics(output)
    targets: dict[str, np.ndarray] = {}
    for style, weight in zip(styles, weights, strict=True):
        for name, value in texture_statistics(style).items():
            n = min(value.size, targets[name].size) if name in targets else value.size
            targets[name] = (
                targets[name][:n] + weight * value[:n] if name in targets else (weight * value)
            )
    groups = {name: _relative(stats[name], targets[name]) for name in stats}
    groups["color"] = sum(
        w * color_distance(output, style) for style, w in zip(styles, weights, strict=True)
    )
    return {"style_distance": sum(groups.values()) / len(groups), **groups}


def score(
    output: torch.Tensor,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    blend: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The yardstick on tensors already at their scoring size (content at the output's
    shape): ``style_distance``, ``content_distance`` and ``style_distance_per_group``."""
    out = to_array(output)
    texture = texture_distance(out, [to_array(s) for s in styles], blend)
    return {
        "style_distance": texture.pop("style_distance"),
        "content_distance": structure_distance(out, to_array(content)),
        "style_distance_per_group": texture,
    }

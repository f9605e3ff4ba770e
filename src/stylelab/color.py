"""Colour preservation: keep the photo's colours, take only the painting's texture.

Gatys, Ecker, Bethge, Hertzmann & Shechtman, "Controlling Perceptual Factors in Neural
Style Transfer" (CVPR 2017), section 5, gives two methods:

- ``luminance``: style transfer on the luminance channel only. The style's luminance is
  first matched to the photo's mean and variance,
  L_s' = (sigma_c / sigma_s) (L_s - mu_s) + mu_c, both images become gray (Y replicated to
  RGB) for the optimization, and the result's luminance Y is combined with the photo's
  chroma (I, Q) in YIQ (scikit-image's ``rgb2yiq`` / ``yiq2rgb``, the paper's space).
- ``histogram``: the style image's colours are transformed before the transfer so that
  their mean and covariance are the photo's, p' = A (p - mu_s) + mu_c with
  A = Sigma_c^(1/2) Sigma_s^(-1/2) (symmetric square roots by eigendecomposition; the
  paper's "image analogies" variant; its Cholesky variant gives the same moments but
  rotates the colours). A linear map, not per-channel histogram matching
  (``skimage.exposure.match_histograms``): the linear map keeps the painting's colour
  correlations and cannot posterize, and matching the first two moments is what the
  paper measured.

For a trained fast network the style is baked in, so :func:`preserve_after` applies both
methods after the fact: ``luminance`` puts the photo's chroma under the output's
luminance; ``histogram`` moves the output's colours to the photo's mean and covariance.

Images are (1, 3, H, W) float32 NumPy arrays in [0, 1] (``np.asarray(tensor)`` works), so
this module serves the onnxruntime path without torch too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stylelab.config import PRESERVE_COLORS
from stylelab.errors import StylelabError
from stylelab.limits import show

EPS = 1e-5  # added to covariance eigenvalues: a flat image has no colour spread
#: The palette step's share that matches the paintings' whole colour distribution (the
#: rest matches mean and covariance only): chosen on non-judging pairs, see
#: docs/instant.md, "The palette".
DISTRIBUTION_SHARE = 0.75
QUANTILES = 256  # points of each quantile function
MAX_SAMPLES = 65536  # pixels a quantile function is estimated from (a fixed stride)


def check_preserve_color(mode: object) -> str:
    if not isinstance(mode, str) or mode not in PRESERVE_COLORS:
        raise StylelabError(
            f"--preserve-color {show(mode)}: choose from {', '.join(PRESERVE_COLORS)}"
        )
    return mode


def _hwc(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)[0].transpose(1, 2, 0)


def _batch(hwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(hwc, 0, 1).transpose(2, 0, 1)[None], dtype=np.float32)


def yiq(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) YIQ of a (1, 3, H, W) RGB image (scikit-image)."""
    from skimage.color import rgb2yiq

    return rgb2yiq(_hwc(image))


def gray(image: np.ndarray, like: np.ndarray | None = None) -> np.ndarray:
    """The luminance Y of ``image`` as a gray RGB image; with ``like``, Y's mean and
    standard deviation first matched to ``like``'s (the paper's luminance matching)."""
    luminance = yiq(image)[..., 0]
    if like is not None:
        target = yiq(like)[..., 0]
        spread = luminance.std()
        scale = target.std() / spread if spread > EPS else 0.0
        luminance = scale * (luminance - luminance.mean()) + target.mean()
    return _batch(np.repeat(luminance[..., None], 3, axis=2))


def with_chroma(luminance_from: np.ndarray, chroma_from: np.ndarray) -> np.ndarray:
    """RGB with the luminance Y of ``luminance_from`` and the chroma (I, Q) of
    ``chroma_from`` (same size), in YIQ."""
    from skimage.color import yiq2rgb

    if luminance_from.shape != chroma_from.shape:
        raise ValueError(f"shapes differ: {luminance_from.shape} and {chroma_from.shape}")
    combined = yiq(chroma_from)
    combined[..., 0] = yiq(luminance_from)[..., 0]
    return _batch(yiq2rgb(combined))


def _channels(image: np.ndarray) -> np.ndarray:
    """(3, H*W) pixels of a (1, 3, H, W) image, channel-first (a view where it can be)."""
    return np.asarray(image)[0].reshape(3, -1)


def moments(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (C,) and covariance (C, C) + EPS I of the N columns of (C, N) ``rows`` (pixels
    or feature-map positions), in float64 (one BLAS product)."""
    values = np.asarray(rows, dtype=np.float64)
    mean = values.mean(axis=1)
    centred = values - mean[:, None]
    cov = centred @ centred.T / max(values.shape[1] - 1, 1)
    return mean, cov + EPS * np.eye(len(mean))


def colouring(cov_from: np.ndarray, cov_to: np.ndarray) -> np.ndarray:
    """WCT's whitening then colouring matrix (Li et al., NeurIPS 2017), Sigma_to^(1/2)
    Sigma_from^(-1/2): x' = T (x - mu_from) + mu_to has covariance Sigma_to."""
    return _sqrt(cov_to, 0.5) @ _sqrt(cov_from, -0.5)


def _moments(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (3,) and covariance (3, 3) of the pixels."""
    return moments(_channels(image))


def _affine(image: np.ndarray, matrix: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """p' = matrix p + offset on every pixel p, clipped to [0, 1], as (1, 3, H, W) float32."""
    pixels = _channels(image).astype(np.float32, copy=False)
    moved = matrix.astype(np.float32) @ pixels + offset.astype(np.float32)[:, None]
    return np.clip(moved, 0, 1, out=moved).reshape(np.shape(image)).astype(np.float32)


def _sqrt(matrix: np.ndarray, power: float) -> np.ndarray:
    """matrix ** power for a symmetric positive definite matrix (eigenvalues floored at EPS)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.maximum(values, EPS) ** power) @ vectors.T


def match_colors(image: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``image`` with its pixels' mean and covariance moved to ``target``'s:
    p' = Sigma_t^(1/2) Sigma_i^(-1/2) (p - mu_i) + mu_t (clipped to [0, 1])."""
    return match_moments(image, [target], [1.0])


#: The paintings' blended mean (3,) and covariance (3, 3), and each painting's (3, N) pixels.
Blended = tuple[np.ndarray, np.ndarray, list[np.ndarray]]


def _blended_moments(paintings: Sequence[np.ndarray], blend: Sequence[float]) -> Blended:
    """mu_s = sum_k w_k mu_k and Sigma_s = sum_k w_k Sigma_k, and each painting's pixels."""
    moments = [_moments(p) for p in paintings]
    mean = sum(w * m for w, (m, _) in zip(blend, moments, strict=True))
    cov = sum(w * c for w, (_, c) in zip(blend, moments, strict=True))
    return np.asarray(mean), np.asarray(cov), [_channels(p) for p in paintings]


def match_moments(
    image: np.ndarray, paintings: Sequence[np.ndarray], blend: Sequence[float]
) -> np.ndarray:
    """The colouring transform of WCT (Li et al., NeurIPS 2017) on RGB pixels:
    p' = Sigma_s^(1/2) Sigma_i^(-1/2) (p - mu_i) + mu_s, with mu_s = sum_k w_k mu_k and
    Sigma_s = sum_k w_k Sigma_k over the paintings (clipped to [0, 1])."""
    return _by_moments(image, _blended_moments(paintings, blend))


def _by_moments(image: np.ndarray, target: Blended) -> np.ndarray:
    mean_i, cov_i = _moments(image)
    mean_s, cov_s, _ = target
    transform = colouring(cov_i, cov_s)
    return _affine(image, transform, mean_s - transform @ mean_i)


def _quantile_function(values: np.ndarray) -> np.ndarray:
    """QUANTILES quantiles of each row of (3, N) values, from at most MAX_SAMPLES of them."""
    stride = max(1, -(-values.shape[1] // MAX_SAMPLES))
    return np.quantile(values[:, ::stride], np.linspace(0.0, 1.0, QUANTILES), axis=1).T


def match_distribution(
    image: np.ndarray, paintings: Sequence[np.ndarray], blend: Sequence[float]
) -> np.ndarray:
    """The pixels' whole distribution moved to the paintings' along their principal colour
    axes (the eigenvectors V of Sigma_s): per axis, u = V^T (p - mu_s) is mapped through
    the image's quantile function onto the target's, F_s^-1(F_i(u)) (histogram matching
    in a decorrelated basis, as in Pitie, Kokaram & Dahyot, ICCV 2005, one rotation). With
    several paintings the target quantile function is sum_k w_k F_k^-1, the 1-D
    Wasserstein barycentre. Clipped to [0, 1]."""
    return _by_distribution(image, _blended_moments(paintings, blend), blend)


def _by_distribution(
    image: np.ndarray, target_moments: Blended, blend: Sequence[float]
) -> np.ndarray:
    mean_s, cov_s, pixels_s = target_moments
    _, axes = np.linalg.eigh(cov_s)
    target = np.sum(
        [
            w * _quantile_function(axes.T @ (p - mean_s[:, None]))
            for w, p in zip(blend, pixels_s, strict=True)
        ],
        axis=0,
    )
    rotation, centre = axes.T.astype(np.float32), mean_s.astype(np.float32)[:, None]
    projected = rotation @ (_channels(image).astype(np.float32) - centre)
    source = _quantile_function(projected)
    mapped = np.stack([_lookup(u, q, t) for u, q, t in zip(projected, source, target, strict=True)])
    moved = rotation.T @ mapped + centre
    return np.clip(moved, 0, 1, out=moved).reshape(np.shape(image))


def _lookup(values: np.ndarray, xp: np.ndarray, fp: np.ndarray, bins: int = 16384) -> np.ndarray:
    """``np.interp(values, xp, fp)`` (ends held) through a table of ``bins`` equal steps
    between xp's ends, exact at the table's points and linear between them (a fraction
    of a percent of fp's range from np.interp where knots crowd within one step), and
    several times faster than np.interp's binary search per pixel."""
    low, high = float(xp[0]), float(xp[-1])
    if high <= low:
        return np.full_like(values, float(np.mean(fp)))
    table = np.interp(np.linspace(low, high, bins + 1), xp, fp).astype(np.float32)
    position = (values - low) * np.float32(bins / (high - low))
    np.clip(position, 0, bins, out=position)
    index = np.minimum(position.astype(np.int32), bins - 1)
    position -= index
    below = table[index]
    return below + position * (table[index + 1] - below)


def match_palette(
    image: np.ndarray, paintings: Sequence[np.ndarray], blend: Sequence[float], amount: float
) -> np.ndarray:
    """``image`` moved towards the paintings' palette by ``amount`` a:
    p' = (1 - a) p + a ((1 - h) M(p) + h D(p)), M = :func:`match_moments` (mean and
    covariance), D = :func:`match_distribution` (the whole distribution),
    h = DISTRIBUTION_SHARE."""
    share, target = DISTRIBUTION_SHARE, _blended_moments(paintings, blend)  # once for both
    moved = (1.0 - share) * _by_moments(image, target)
    moved += share * _by_distribution(image, target, blend)
    pixels = np.asarray(image, dtype=np.float32)
    return np.clip((1.0 - amount) * pixels + amount * moved, 0, 1).astype(np.float32)


def applied_palette(preserve_color: str, palette: float) -> float:
    """The amount of :func:`match_palette` :func:`after_feed_forward` applies: none when
    the photo's colours are kept."""
    return palette if preserve_color == "none" else 0.0


def after_feed_forward(
    output: np.ndarray,
    photo: np.ndarray,
    paintings: Sequence[np.ndarray],
    blend: Sequence[float],
    preserve_color: str,
    palette: float,
) -> tuple[np.ndarray, float]:
    """A one-pass network's output, coloured, and the palette amount applied (for the
    record): ``luminance`` puts the photo's chroma back; with the photo's colours not kept
    (``none``), :func:`match_palette` by ``palette``."""
    amount = applied_palette(preserve_color, palette)
    if preserve_color == "luminance":
        return with_chroma(output, photo), amount
    if amount > 0:
        return match_palette(output, paintings, blend, amount), amount
    return output, amount


def colour_arrays(
    mode: str, photo: np.ndarray, styles: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The images an optimization or an encoder sees under ``--preserve-color``:
    luminance: gray photo, gray styles with the photo's luminance mean and variance;
    histogram: the styles' colours moved to the photo's mean and covariance."""
    if mode == "histogram":
        return photo, [match_colors(s, photo) for s in styles]
    if mode == "luminance":
        return gray(photo), [gray(s, like=photo) for s in styles]
    return photo, styles


def preserve_after(output: np.ndarray, photo: np.ndarray, mode: str) -> np.ndarray:
    """Colour preservation applied to a finished output of the photo's size (fast
    networks): ``luminance`` = output's Y with the photo's I, Q; ``histogram`` = the
    output's colours moved to the photo's mean and covariance."""
    check_preserve_color(mode)
    if mode == "luminance":
        return with_chroma(output, photo)
    if mode == "histogram":
        return match_colors(output, photo)
    return np.asarray(output, dtype=np.float32)

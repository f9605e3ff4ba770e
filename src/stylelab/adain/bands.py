"""Band contrast: the instant image's contrast at each scale moved to the painting's.

AdaIN matches the mean and standard deviation of the encoder's features at one layer; it
leaves how strongly each spatial frequency of the painting shows (its brush strokes'
contrast) to the decoder, which carries it only in part. This step measures it directly,
as Heeger & Bergen (SIGGRAPH 1995) match a texture's pyramid subbands: the luminance
Y (Rec. 601) is split into L band-pass layers by successive Gaussian blurs,

    G_0 = Y,  G_{k+1} = g_{2^k} * G_k,  B_k = G_k - G_{k+1}  (k = 0 .. L-1),  Y = G_L + sum B_k,

and each band is scaled so that its standard deviation becomes the paintings' (their
blend-weighted mean), the gain clipped to [1/2, 3] and raised to the ``amount`` a:

    Y' = G_L + sum_k clip(s_k / r_k, 1/2, 3)^a B_k,   out = clip(x + (Y' - Y), 0, 1),

with r_k, s_k the band's standard deviation in the image and in a painting as given (at
the size the encoder sees it, so the scales correspond; under ``--preserve-color`` the
painting as given, not recoloured). The change is added to all three channels, so colour
stays the palette's (the photo's under ``--preserve-color luminance``) except where a
channel is clipped at 0 or 1. An image larger than the network's working size
(``--size`` above ``--internal-size``) is measured at the working size, where its scales
match the painting's, and the change Y' - Y is upsampled (bicubic) to the image: the
photo's own finest detail is left as it is. NumPy only, shared by both runtimes; a
Gaussian blur is two products with a (n, n) matrix (a sum of shifted copies for long
sides), edges mirrored as ``scipy.ndimage``'s ``reflect`` mode (the tests compare both
with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from stylelab import color
from stylelab.adain.detail import REC601, bicubic, sandwich
from stylelab.adain.options import blend_stats

LEVELS = 4
GAIN_RANGE = (0.5, 3.0)
#: scipy.ndimage's default: the kernel reaches 4 sigma on each side.
TRUNCATE = 4.0


#: Planes up to this many pixels on a side are blurred by two matrix products (fast at
#: instant's working sizes); longer ones, e.g. a painting at a large --style-scale, by
#: direct separable convolution, whose cost grows with the side, not its cube.
MATRIX_LIMIT = 1024


def kernel(sigma: float) -> np.ndarray:
    """The 1-D Gaussian of standard deviation ``sigma``, radius round(TRUNCATE * sigma),
    weights normalised to 1 (``scipy.ndimage.gaussian_filter1d``'s)."""
    radius = int(TRUNCATE * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


@lru_cache(maxsize=16)
def blur_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size) matrix of the 1-D blur by :func:`kernel`, edges mirrored (d c b a | a
    b c d), as ``scipy.ndimage.gaussian_filter1d(mode="reflect")``."""
    weights = kernel(sigma)
    radius = weights.size // 2
    index = np.arange(size)[:, None] + np.arange(-radius, radius + 1)
    period = index % (2 * size)
    mirrored = np.where(period < size, period, 2 * size - 1 - period)
    matrix = np.zeros((size, size), dtype=np.float64)
    rows = np.repeat(np.arange(size), weights.size)
    np.add.at(matrix, (rows, mirrored.ravel()), np.tile(weights, size))
    return matrix.astype(np.float32)


def convolve_axis(plane: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """The blur by :func:`kernel` along one axis of a (H, W) plane as a sum of shifted
    copies, edges mirrored (``np.pad``'s ``symmetric``, repeated past a short side)."""
    weights = kernel(sigma)
    radius, length = weights.size // 2, plane.shape[axis]
    widths = [(radius, radius) if a == axis else (0, 0) for a in (0, 1)]
    padded = np.pad(np.asarray(plane, dtype=np.float32), widths, mode="symmetric")
    out = np.zeros(plane.shape, dtype=np.float32)
    for k, weight in enumerate(weights.astype(np.float32)):
        out += weight * (padded[k : k + length] if axis == 0 else padded[:, k : k + length])
    return out


def gaussian_blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """A (H, W) plane blurred by a Gaussian of standard deviation ``sigma`` px: two
    products with :func:`blur_matrix` up to MATRIX_LIMIT px a side, else
    :func:`convolve_axis` on each axis."""
    if max(plane.shape) > MATRIX_LIMIT:
        return convolve_axis(convolve_axis(plane, sigma, 0), sigma, 1)
    rows = blur_matrix(plane.shape[0], sigma)
    cols = blur_matrix(plane.shape[1], sigma)
    return sandwich(rows, plane, cols)


def luminance(image: np.ndarray) -> np.ndarray:
    """The (H, W) Rec. 601 luminance of a (1, 3, H, W) image."""
    return (np.asarray(image, dtype=np.float32) * REC601).sum(axis=(0, 1), dtype=np.float32)


def bands(plane: np.ndarray, levels: int = LEVELS) -> tuple[list[np.ndarray], np.ndarray]:
    """The band-pass layers B_0 .. B_{L-1} of a (H, W) plane and its low-pass rest G_L."""
    layers, current = [], plane
    for k in range(levels):
        blurred = gaussian_blur(current, 2.0**k)
        layers.append(current - blurred)
        current = blurred
    return layers, current


def band_stds(image: np.ndarray, levels: int = LEVELS) -> np.ndarray:
    """The standard deviation of each band of a (1, 3, H, W) image's luminance, (L,)."""
    layers, _ = bands(luminance(image), levels)
    return np.array([float(layer.std()) for layer in layers])


def match_band_contrast(
    image: np.ndarray, target: np.ndarray, amount: float, working_edge: int | None = None
) -> np.ndarray:
    """``image`` (1, 3, H, W) with each luminance band's contrast moved towards ``target``
    (the paintings' :func:`band_stds`, blended as AdaIN's statistics are: ``blend_stats``)
    by ``amount`` (the module's formula), measured at ``working_edge`` (long edge) when the
    image is larger; ``amount`` 0 returns the image as it is."""
    from stylelab.pixels import long_edge_shape, resize_array

    pixels = np.asarray(image, dtype=np.float32)
    if amount <= 0:
        return pixels
    y = luminance(pixels)
    small = y
    if working_edge is not None and max(y.shape) > working_edge:
        small = resize_array(y[None, None], long_edge_shape(y.shape, working_edge))[0, 0]
    layers, rest = bands(small, len(target))
    moved = rest.copy()
    for layer, wanted in zip(layers, target, strict=True):
        gain = np.clip(wanted / max(float(layer.std()), 1e-6), *GAIN_RANGE) ** amount
        moved += np.float32(gain) * layer
    change = moved - small
    if change.shape != y.shape:
        change = bicubic(change[None, None], y.shape)[0, 0]
    return np.clip(pixels + change, 0, 1).astype(np.float32)


def finish(
    output: np.ndarray,
    photo: np.ndarray,
    seen: Sequence[np.ndarray],
    look: tuple[Sequence[float], str, float, float, int],
    targets: Sequence[np.ndarray],
) -> tuple[np.ndarray, dict[str, float]]:
    """A network's output after the look steps of both runtimes, and the amounts applied
    (for the record). ``seen``: the paintings as the encoder saw them (recoloured under
    ``--preserve-color``); ``targets``: the :func:`band_stds` of the paintings as given,
    so that a recoloured painting (the photo's luminance spread, under ``luminance``) does
    not set the contrast; [] when the band amount is 0. ``look`` = (blend,
    preserve_color, palette amount, band-contrast amount, working edge), the amounts
    already scaled by ``strength`` (0 in region runs):
    :func:`stylelab.color.after_feed_forward` (colour), then :func:`match_band_contrast`."""
    blend, preserve_color, palette, band_contrast, working_edge = look
    image, palette_applied = color.after_feed_forward(
        output, photo, seen, blend, preserve_color, palette
    )
    band_contrast = max(band_contrast, 0.0) + 0.0  # never -0.0 in the record
    if band_contrast > 0:
        target = blend_stats(targets, blend)
        image = match_band_contrast(image, target, band_contrast, working_edge)
    return image, {"palette": palette_applied + 0.0, "band_contrast": band_contrast}


def painting_targets(paintings: Sequence[np.ndarray], amount: float) -> list[np.ndarray]:
    """The :func:`band_stds` of each (1, 3, H, W) painting as given, at the size the
    encoder sees it; [] when ``amount`` is 0 (nothing to measure)."""
    return [band_stds(p) for p in paintings] if amount > 0 else []

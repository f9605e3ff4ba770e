"""Temporal consistency of a stylized video: the flicker figures and the deflicker filter.

Flicker, measured on the frames at the output size in [0, 1] units over all pixels and
channels, with running sums (no frame kept beyond the previous one)::

    flicker_input  = mean_t mean |x_t - x_{t-1}|     (input frames x)
    flicker_output = mean_t mean |y_t - y_{t-1}|     (written frames y)
    flicker_ratio  = flicker_output / flicker_input  (None: one frame, or a still input)

A ratio near 1 means the style changes no more than the video does; a stylizer that
amplifies sensor noise gives a ratio well above 1.

Deflicker (strength ``a`` in [0, 1], 0 = off) is a change-aware blend with the previous
output frame::

    d_t = B3(max_c |x_t - x_{t-1}|)           per pixel; B3 = 3x3 box blur
    m_t = a * exp(-d_t / sigma)               sigma = DEFLICKER_SIGMA = 0.05
    y_t = (1 - m_t) * T(x_t) + m_t * y_{t-1}  T = the stylizer

Where the input is still (d_t ~ 0, or just noise), the output is a running temporal average
(less flicker); where it moves (d_t >> sigma, a tenth of the range gives m_t < 0.14 a),
the output follows the new frame (no ghosting). The blur spreads a moving edge's change one
pixel outward and evens out single-pixel noise. ``y_{t-1}`` is kept in floating point
before its rounding to 8 bits, so slow fades do not stall.

NumPy only (no PyAV, no torch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stylelab.errors import StylelabError
from stylelab.safety import one_line

DEFLICKER_SIGMA = 0.05  # change (in [0, 1] units) at which the blend weight falls to 1/e
STILL_INPUT = 1e-5  # mean change below this (a few pixels off by one level): a still input


def check_deflicker(strength: object) -> float:
    """``strength`` as a float if it is a number from 0 (off) to 1."""
    if (
        isinstance(strength, bool)
        or not isinstance(strength, (int, float))
        or not 0.0 <= float(strength) <= 1.0
    ):
        raise StylelabError(
            f"--deflicker must be a number from 0 (off) to 1, not {one_line(repr(strength))}"
        )
    return float(strength)


def flicker(frames_before: np.ndarray, frames_after: np.ndarray) -> float:
    """Mean |after - before| over all pixels and channels, in [0, 1] units: uint8 frames
    are divided by 255, float frames are taken as [0, 1] already. Pass two frames, or a
    clip's ``frames[:-1]`` and ``frames[1:]`` for its mean frame-to-frame change."""
    before, after = np.asarray(frames_before), np.asarray(frames_after)
    if before.shape != after.shape:
        raise StylelabError(f"flicker: frames of shapes {before.shape} and {after.shape}")
    if before.size == 0:
        return 0.0
    if before.dtype == np.uint8 and after.dtype == np.uint8:
        change = np.abs(after.astype(np.int16) - before.astype(np.int16))
        return float(change.mean(dtype=np.float64)) / 255.0
    change = np.abs(after.astype(np.float32) - before.astype(np.float32))
    return float(change.mean(dtype=np.float64))


@dataclass
class FrameChange:
    """Running mean of :func:`flicker` between consecutive frames; keeps one frame."""

    previous: np.ndarray | None = None
    total: float = 0.0
    pairs: int = 0

    def add(self, frame: np.ndarray) -> None:
        if self.previous is not None:
            self.total += flicker(self.previous, frame)
            self.pairs += 1
        self.previous = frame

    @property
    def mean(self) -> float | None:
        return self.total / self.pairs if self.pairs else None


def flicker_ratio(flicker_input: float | None, flicker_output: float | None) -> float | None:
    """flicker_output / flicker_input; None for one frame or an input that does not move."""
    if flicker_input is None or flicker_output is None or flicker_input < STILL_INPUT:
        return None
    return flicker_output / flicker_input


# ----------------------------------------------------------------------------- deflicker


def box_blur3(plane: np.ndarray) -> np.ndarray:
    """3x3 box blur of a 2-D array (edges repeated)."""
    padded = np.pad(plane, 1, mode="edge")
    height, width = plane.shape
    total = np.zeros_like(plane)
    for dy in range(3):
        for dx in range(3):
            total += padded[dy : dy + height, dx : dx + width]
    return total / 9.0


def blend_weights(
    previous_input: np.ndarray, current_input: np.ndarray, strength: float
) -> np.ndarray:
    """m_t = strength * exp(-d_t / sigma), d_t = box_blur3(max_c |x_t - x_{t-1}|), per
    pixel, for float frames in [0, 1]; shape (H, W)."""
    change = np.abs(current_input - previous_input).max(axis=2)
    return strength * np.exp(-box_blur3(change) / DEFLICKER_SIGMA)


@dataclass
class Deflicker:
    """Change-aware blend of each stylized frame with the previous output frame."""

    strength: float
    previous_input: np.ndarray | None = None
    previous_output: np.ndarray | None = None

    def apply(self, source: np.ndarray, styled: np.ndarray) -> np.ndarray:
        """y_t from the input frame x_t and the stylizer's T(x_t), both uint8 (H, W, 3)."""
        current_input = source.astype(np.float32) / 255.0
        output = styled.astype(np.float32)
        if self.previous_input is not None and self.previous_output is not None:
            weights = blend_weights(self.previous_input, current_input, self.strength)
            weights = weights[..., None].astype(np.float32)
            output = (1.0 - weights) * output + weights * self.previous_output
        self.previous_input, self.previous_output = current_input, output
        return np.clip(np.rint(output), 0, 255).astype(np.uint8)

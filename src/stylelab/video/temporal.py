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

The flow-warping error (Lai et al., "Learning Blind Video Temporal Consistency", ECCV 2018)
measures what flicker cannot tell from motion: each output frame against the previous one
carried along the input's optical flow, occlusions left out (:func:`flow_warping_errors`).

NumPy, and OpenCV for the flow (no PyAV, no torch).
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


# ------------------------------------------------------------------ flow-warping error
#
# E_warp = mean over valid pixels p and channels of |y_t(p) - y_{t-1}(p + F(p))|, [0, 1] units,
# F = the DIS optical flow from input frame x_t back to x_{t-1} (OpenCV; Kroeger et al. 2016),
# valid = p + F(p) inside the frame and the forward-backward check holds (Sundaram et al.
# 2010, as in Ruder et al. 2016 and Lai et al. 2018):
#     |F(p) + G(p + F(p))|^2 <= 0.01 (|F(p)|^2 + |G(p + F(p))|^2) + 0.5,
# G = the flow from x_{t-1} to x_t. The same error on the input frames gives the scale.

FB_RELATIVE = 0.01  # forward-backward check: relative tolerance on the squared flow lengths
FB_ABSOLUTE = 0.5  # ... and absolute tolerance, px^2


def _gray(frame: np.ndarray) -> np.ndarray:
    """uint8 (H, W) luma of an (H, W, 3) uint8 RGB frame, for the flow."""
    import cv2

    return np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))


def optical_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32 flow F with source(p) ~ target(p + F(p)) (x then y), by OpenCV's
    DIS optical flow (medium preset) on two uint8 RGB frames."""
    import cv2

    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    start = np.zeros((*source.shape[:2], 2), np.float32)  # not used as a guess (DIS default)
    return np.asarray(dis.calc(_gray(source), _gray(target), start), dtype=np.float32)


def sample_points(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points p + F(p) as float32 x and y maps (for cv2.remap)."""
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """image(p + F(p)), bilinear, float32, for an (H, W, C) or (H, W) array."""
    import cv2

    map_x, map_y = sample_points(flow)
    return cv2.remap(
        image.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def valid_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W) bool: where the backward flow F (frame t to t-1) lands inside frame t-1 and
    the forward flow G (t-1 to t) brings it back: not occluded, not disoccluded."""
    height, width = backward.shape[:2]
    map_x, map_y = sample_points(backward)
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    forward_there = warp(forward, backward)
    round_trip = np.square(backward + forward_there).sum(axis=2)
    lengths = np.square(backward).sum(axis=2) + np.square(forward_there).sum(axis=2)
    return inside & (round_trip <= FB_RELATIVE * lengths + FB_ABSOLUTE)


def warping_error(
    previous: np.ndarray, current: np.ndarray, backward: np.ndarray, valid: np.ndarray
) -> float:
    """mean |current(p) - previous(p + F(p))| over the valid pixels and every channel, in
    [0, 1] units for uint8 frames (0 when no pixel is valid)."""
    if not valid.any():
        return 0.0
    scale = 255.0 if current.dtype == np.uint8 else 1.0
    difference = np.abs(current.astype(np.float32) - warp(previous, backward)) / scale
    return float(difference[valid].mean(dtype=np.float64))


def flow_warping_errors(
    previous_input: np.ndarray,
    current_input: np.ndarray,
    previous_output: np.ndarray,
    current_output: np.ndarray,
) -> tuple[float, float]:
    """(output error, input error) of one pair of consecutive frames, all uint8 RGB of one
    size: the flow and its mask come from the input frames."""
    backward = optical_flow(current_input, previous_input)
    forward = optical_flow(previous_input, current_input)
    valid = valid_mask(backward, forward)
    return (
        warping_error(previous_output, current_output, backward, valid),
        warping_error(previous_input, current_input, backward, valid),
    )


@dataclass
class WarpingError:
    """Running means of :func:`flow_warping_errors` over a clip; keeps one frame pair."""

    previous_input: np.ndarray | None = None
    previous_output: np.ndarray | None = None
    total_output: float = 0.0
    total_input: float = 0.0
    pairs: int = 0

    def add(self, source: np.ndarray, output: np.ndarray) -> None:
        if self.previous_input is not None and self.previous_output is not None:
            errors = flow_warping_errors(self.previous_input, source, self.previous_output, output)
            self.total_output += errors[0]
            self.total_input += errors[1]
            self.pairs += 1
        self.previous_input, self.previous_output = source, output

    @property
    def output(self) -> float | None:
        return self.total_output / self.pairs if self.pairs else None

    @property
    def input(self) -> float | None:
        return self.total_input / self.pairs if self.pairs else None

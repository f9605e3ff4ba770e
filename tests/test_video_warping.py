"""The flow-warping error of stylelab.video.temporal: analytic flows, DIS on known motion,
the forward-backward occlusion check, and the figures in a video's record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stylelab.video import stylize_video
from stylelab.video.temporal import (
    flow_warping_errors,
    optical_flow,
    valid_mask,
    warp,
    warping_error,
)
from tests.test_video import invert, write_lossless

pytest.importorskip("cv2")


def textured(height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth random texture (blurred noise), uint8 RGB: DIS can lock onto it."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height // 4, width // 4, 3))
    big = np.kron(noise, np.ones((4, 4, 1)))
    kernel = np.ones(5) / 5
    for axis in (0, 1):
        big = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), axis, big)
    return np.clip(big * 255, 0, 255).astype(np.uint8)


def shifted(frame: np.ndarray, dx: int) -> np.ndarray:
    """frame moved dx px to the right, the left edge repeated: out(x) = frame(x - dx)."""
    out = np.roll(frame, dx, axis=1)
    out[:, :dx] = frame[:, :1]
    return out


def constant_flow(height: int, width: int, dx: float, dy: float = 0.0) -> np.ndarray:
    flow = np.zeros((height, width, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def test_a_shift_warped_by_its_true_flow_has_no_error() -> None:
    previous = textured()
    current = shifted(previous, 3)  # current(p) = previous(p - 3): backward flow (-3, 0)
    backward, forward = constant_flow(64, 96, -3.0), constant_flow(64, 96, 3.0)
    valid = valid_mask(backward, forward)
    assert not valid[:, :3].any() and valid[:, 3:].all()  # the left edge lands outside
    assert warping_error(previous, current, backward, valid) < 1e-6
    assert np.array_equal(warp(previous, backward)[:, 3:], current[:, 3:].astype(np.float32))
    # the wrong flow (none) sees the motion: about the mean change of a 3 px shift
    still = constant_flow(64, 96, 0.0)
    assert warping_error(previous, current, still, valid_mask(still, still)) > 0.01


def test_dis_finds_a_shift_and_the_error_is_near_zero() -> None:
    previous = textured(seed=1)
    current = shifted(previous, 2)
    flow = optical_flow(current, previous)
    assert np.median(flow[8:-8, 8:-8, 0]) == pytest.approx(-2.0, abs=0.2)
    assert np.abs(np.median(flow[8:-8, 8:-8, 1])) < 0.2
    output_error, input_error = flow_warping_errors(previous, current, previous, current)
    assert output_error == input_error  # the output is the input here
    change = np.abs(current.astype(float) - previous).mean() / 255
    assert input_error < 0.15 * change  # the flow explains the change


def test_a_different_frame_gives_a_large_error() -> None:
    previous, current = textured(seed=2), textured(seed=2)
    other = textured(seed=3)  # an output that jumps to an unrelated picture
    output_error, input_error = flow_warping_errors(previous, current, previous, other)
    assert input_error < 1e-6  # a still input: zero flow explains it exactly
    assert output_error == pytest.approx(np.abs(other.astype(float) - previous).mean() / 255)
    assert output_error > 0.05


def test_the_forward_backward_check_marks_a_disocclusion() -> None:
    """A 16 px square moves 5 px right over a still background. At frame t the strip it
    left (x = 20..24) was hidden at t-1: the backward flow there is 0, the forward flow
    at the same place +5, so the round trip fails; everything else is consistent."""
    height, width, left, size, step = 48, 64, 20, 16, 5
    backward = constant_flow(height, width, 0.0)
    backward[16:32, left + step : left + step + size, 0] = -step  # square at t came from -5
    forward = constant_flow(height, width, 0.0)
    forward[16:32, left : left + size, 0] = step  # square at t-1 goes +5
    valid = valid_mask(backward, forward)
    assert not valid[16:32, left : left + step].any()  # the uncovered strip
    assert valid[16:32, left + step : left + step + size].all()  # the square itself
    assert valid[:16].all() and valid[32:].all()  # the background
    assert (~valid).sum() == 16 * step


def test_the_video_record_holds_the_warping_errors(tmp_path: Path) -> None:
    base = textured(48, 64, seed=4)
    frames = np.stack([shifted(base, k + 1) if k else base for k in range(5)])
    source = write_lossless(tmp_path / "pan.mkv", frames)
    record = stylize_video(source, tmp_path / "out.mp4", invert, progress=False)
    assert 0 <= record["warping_error_input"] < 0.02
    # inverting is a pointwise map: it moves with the picture exactly as the input does
    assert record["warping_error_output"] == pytest.approx(record["warping_error_input"], abs=2e-3)
    calls: list[int] = []

    def every_other_inverted(batch: np.ndarray) -> np.ndarray:
        calls.append(1)
        return invert(batch) if len(calls) % 2 else batch

    jumpy = stylize_video(
        source, tmp_path / "jumpy.mp4", every_other_inverted, batch=1, progress=False
    )
    assert jumpy["warping_error_output"] > 10 * jumpy["warping_error_input"]
    assert jumpy["warping_error_ratio"] > 10

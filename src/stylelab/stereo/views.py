"""Ways to look at a stereo pair: side by side, a red-cyan anaglyph, a wiggle animation.

The anaglyph uses Dubois' least-squares matrices for red-cyan glasses (E. Dubois, "A
projection method to generate anaglyph stereo images", ICASSP 2001; the red-cyan values
from his web page), applied in linear light: a = clip(M_L l + M_R r), with l, r the views'
linear RGB. They keep colours far better than the naive channel swap (red from the left,
green and blue from the right); a gray pair stays gray (each row of M_L + M_R sums to
about 1).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DUBOIS_LEFT = np.array(
    [[0.456, 0.500, 0.176], [-0.040, -0.038, -0.016], [-0.015, -0.021, -0.005]],
    dtype=np.float32,
)
DUBOIS_RIGHT = np.array(
    [[-0.043, -0.088, -0.002], [0.378, 0.734, -0.018], [-0.072, -0.113, 1.226]],
    dtype=np.float32,
)
WIGGLE_SUFFIXES = (".gif", ".mp4")
WIGGLE_PERIOD_MS = 150  # each view's time on screen


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """(1, 3, H, 2W): left | right (parallel view)."""
    return np.concatenate([left, right], axis=-1)


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    values = np.clip(values, 0, 1)
    return np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1 / 2.4) - 0.055)


def anaglyph(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Dubois red-cyan anaglyph of two (1, 3, H, W) sRGB views in [0, 1]."""
    mixed = np.einsum("ij,bjhw->bihw", DUBOIS_LEFT, srgb_to_linear(left))
    mixed += np.einsum("ij,bjhw->bihw", DUBOIS_RIGHT, srgb_to_linear(right))
    return linear_to_srgb(mixed).astype(np.float32)


def write_wiggle(
    views: Sequence[np.ndarray], path: str | os.PathLike, suffix: str | None = None
) -> None:
    """The views alternating: an endless GIF (Pillow) or a 4 s MP4 (PyAV, H.264), by
    ``suffix`` (default: ``path``'s; a staged temporary file has none of its own)."""
    frames = [_pixels(view) for view in views]
    if (suffix if suffix is not None else Path(path).suffix).lower() == ".mp4":
        _write_mp4(frames, path)
        return
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=WIGGLE_PERIOD_MS,
        loop=0,
    )


def _pixels(view: np.ndarray) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W, 3) uint8."""
    return np.round(np.clip(view[0].transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8)


def _write_mp4(frames: Sequence[np.ndarray], path: str | os.PathLike) -> None:
    import av  # the video extra; checked by the caller before any work

    from stylelab.video.io import add_video_stream, tagged_frame

    height, width = frames[0].shape[:2]
    fps = round(1000 / WIGGLE_PERIOD_MS)
    with av.open(os.fspath(path), mode="w", format="mp4") as container:
        size = (width - width % 2, height - height % 2)
        stream = add_video_stream(container, "libx264", fps, {}, size)
        for index in range(4 * fps):
            frame = frames[index % len(frames)][: stream.height, : stream.width]
            for packet in stream.encode(tagged_frame(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

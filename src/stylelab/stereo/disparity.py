"""Disparity maps: files in and out, OpenCV's StereoSGBM, the left-right check.

Convention (Middlebury's): a disparity map belongs to the **left** view and is in pixels of
the map's own width; the left pixel (x, y) is seen in the right view at (x - d, y), so d >= 0
for a rectified pair. Unknown values are NaN in memory. In files:

- ``.npy``: float (H, W), or one channel of it, (H, W, 1) or (1, H, W); ``inf`` marks
  unknown pixels (NaN is refused: it is usually a bug).
- ``.pfm``: Middlebury's Portable Float Map, one channel, ``inf`` for unknown (as
  ``disp0GT.pfm``); rows are stored bottom to top, as the format says.
- ``.png``: 16-bit gray, d = value / 256, 0 for unknown (the KITTI convention); such a file
  holds disparities up to 255.99 px with a 1/256 px step.

The right view's disparity, where needed, follows the mirror convention: the right pixel
(x, y) is seen in the left view at (x + d_R, y).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stylelab.errors import StylelabError
from stylelab.safety import check_input_file, one_line

DISPARITY_SUFFIXES = (".npy", ".pfm", ".png")
PNG_SCALE = 256.0  # KITTI: a 16-bit PNG holds 256 * d, 0 = unknown
LR_TOLERANCE = 1.0  # px: the left-right check's allowed mismatch (Hirschmueller 2008)
MAX_PFM_BYTES = 1 << 31


@dataclass(frozen=True)
class PairDisparity:
    """Both views' disparities (H, W) float32, NaN where unknown, and where each view's
    pixels are seen in the other (known and passing the left-right check)."""

    left: np.ndarray
    right: np.ndarray
    left_visible: np.ndarray
    right_visible: np.ndarray
    source: str

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.left.shape[0]), int(self.left.shape[1]))

    def resized(self, shape: tuple[int, int]) -> PairDisparity:
        """The maps at ``shape`` (H, W): nearest neighbour, values times the width ratio."""
        if tuple(shape) == self.shape:
            return self
        ratio = shape[1] / self.shape[1]
        return replace(
            self,
            left=resize_nearest(self.left, shape) * np.float32(ratio),
            right=resize_nearest(self.right, shape) * np.float32(ratio),
            left_visible=resize_nearest(self.left_visible, shape),
            right_visible=resize_nearest(self.right_visible, shape),
        )


def resize_nearest(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resampling of an (H, W) map to ``shape`` (pixel centres)."""
    height, width = array.shape
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * height / shape[0]).astype(int), height - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * width / shape[1]).astype(int), width - 1)
    return array[rows[:, None], cols[None, :]]


# ----------------------------------------------------------------------------- files


def read_disparity(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """The left view's disparity in ``path`` (see the module's conventions), NaN where
    unknown; one line for a file that is unreadable, of the wrong shape (``shape``: the
    pair's (H, W)), with NaN or negative values, or with no known pixel."""
    source = check_input_file(path, "disparity file")
    suffix = source.suffix.lower()
    name = one_line(source)
    if suffix == ".npy":
        disparity = _read_npy(source, name)
    elif suffix == ".pfm":
        disparity = read_pfm(source)
    elif suffix == ".png":
        disparity = _read_png16(source, name)
    else:
        raise StylelabError(
            f"{name}: unknown disparity format {source.suffix!r}; use one of "
            + ", ".join(DISPARITY_SUFFIXES)
        )
    if disparity.ndim == 3 and 1 in (disparity.shape[0], disparity.shape[2]):
        disparity = disparity.reshape(
            [n for axis, n in enumerate(disparity.shape) if axis == 1 or n != 1]
        )  # one channel, last (OpenCV's, image libraries') or first (PyTorch's)
    if disparity.ndim != 2:
        raise StylelabError(
            f"{name}: a disparity map is (H, W) or one channel of it, got shape {disparity.shape}"
        )
    if shape is not None and tuple(disparity.shape) != tuple(shape):
        raise StylelabError(
            f"{name}: disparity is {disparity.shape[1]}x{disparity.shape[0]} px, the pair "
            f"{shape[1]}x{shape[0]}: give the left view's map at the pair's size"
        )
    if np.isnan(disparity).any():
        raise StylelabError(
            f"{name}: {int(np.isnan(disparity).sum())} NaN values; mark unknown pixels with inf"
        )
    known = np.isfinite(disparity)
    if not known.any():
        raise StylelabError(f"{name}: no pixel has a known disparity")
    if (disparity[known] < 0).any():
        raise StylelabError(
            f"{name}: negative disparities; the left view's map has x_right = x_left - d >= 0"
        )
    width = disparity.shape[1]
    largest = float(disparity[known].max())
    if largest >= width:  # x_right = x_left - d would lie left of the right view
        raise StylelabError(
            f"{name}: a disparity of {largest:.4g} px in a map {width} px wide; a known "
            f"pixel's disparity is less than the width (mark unknown pixels with inf)"
        )
    return np.where(known, disparity, np.nan).astype(np.float32)


def _read_npy(source: Path, name: str) -> np.ndarray:
    try:
        array = np.load(source, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise StylelabError(f"{name}: not a NumPy array file ({one_line(exc)})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise StylelabError(f"{name}: a disparity map holds numbers, got {array.dtype}")
    return array.astype(np.float32)


def _read_png16(source: Path, name: str) -> np.ndarray:
    try:
        with Image.open(source, formats=["PNG"]) as image:
            image.load()
            if image.mode not in ("I;16", "I;16B", "I"):
                raise StylelabError(
                    f"{name}: a disparity PNG is 16-bit gray (d * {PNG_SCALE:g}), got mode "
                    f"{image.mode}"
                )
            values = np.asarray(image, dtype=np.float32)
    except StylelabError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the file's fault
        raise StylelabError(f"{name}: cannot read the PNG ({one_line(exc)})") from None
    return np.where(values > 0, values / PNG_SCALE, np.inf).astype(np.float32)


def read_pfm(path: str | os.PathLike) -> np.ndarray:
    """A one-channel PFM (``Pf``) as (H, W) float32, top row first."""
    name = one_line(path)
    with open(path, "rb") as handle:
        header = b""
        while header.count(b"\n") < 3 and len(header) < 256:
            byte = handle.read(1)
            if not byte:
                break
            header += byte
        match = re.fullmatch(rb"(P[fF])\s+(\d+)\s+(\d+)\s+([-+0-9.eE]+)\s", header)
        if match is None:
            raise StylelabError(f"{name}: not a PFM file (no 'Pf W H SCALE' header)")
        kind, width, height, scale = match.groups()
        if kind == b"PF":
            raise StylelabError(f"{name}: a colour PFM; a disparity map has one channel")
        width_px, height_px = int(width), int(height)
        count = width_px * height_px
        if count == 0 or count * 4 > MAX_PFM_BYTES:
            raise StylelabError(f"{name}: PFM of {width_px}x{height_px} px refused")
        order = "<" if float(scale) < 0 else ">"
        raw = handle.read(count * 4)
        data = np.frombuffer(raw[: len(raw) - len(raw) % 4], dtype=f"{order}f4")
    if data.size != count:
        raise StylelabError(f"{name}: PFM truncated ({data.size} of {count} values)")
    return np.flipud(data.reshape(height_px, width_px)).astype(np.float32)


def write_pfm(disparity: np.ndarray, path: str | os.PathLike) -> None:
    """``disparity`` (H, W) as a little-endian one-channel PFM, unknown (NaN) as inf."""
    values = np.where(np.isnan(disparity), np.inf, disparity).astype("<f4")
    height, width = values.shape
    with open(path, "wb") as handle:
        handle.write(f"Pf\n{width} {height}\n-1.0\n".encode())
        handle.write(np.flipud(values).tobytes())


def write_png16(disparity: np.ndarray, path: str | os.PathLike) -> None:
    """``disparity`` as a 16-bit PNG, 256 * d rounded, 0 for unknown (and d < 1/512)."""
    scaled = np.nan_to_num(disparity, nan=0.0, posinf=0.0) * PNG_SCALE
    values = np.clip(np.round(scaled), 0, 65535).astype(np.uint16)
    Image.fromarray(values).save(path, format="PNG")


# ----------------------------------------------------------------------------- estimation


def estimate_disparity(left: np.ndarray, right: np.ndarray) -> PairDisparity:
    """Both views' disparities by semi-global matching (Hirschmueller 2008, OpenCV's
    StereoSGBM; no learned weights), each view's occlusions by the left-right check.

    ``left``/``right``: (H, W, 3) float arrays in [0, 1]. The search range is a quarter of
    the width (rounded up to 16); the right view's map is SGBM on the mirrored pair. Holes
    (pixels SGBM leaves unmatched) are filled from the background
    (:func:`fill_from_background`) before the check, which then keeps only the fills that
    both views agree on.
    """
    cv2 = _cv2()
    gray = [_gray_u8(view) for view in (left, right)]
    width = gray[0].shape[1]
    levels = 16 * max(1, -(-width // 64))
    block = 5
    if width <= levels + block // 2:  # SGBM needs columns beyond its search range
        raise StylelabError(
            f"the views are {width} px wide; estimating their disparity needs at least "
            f"{levels + block // 2 + 1} px: raise --size, or give --disparity FILE"
        )
    matcher = cv2.StereoSGBM_create(
        minDisparity=0,
        numDisparities=levels,
        blockSize=block,
        P1=8 * block * block,
        P2=32 * block * block,
        disp12MaxDiff=-1,
        uniquenessRatio=10,
        speckleWindowSize=100,
        speckleRange=2,
        mode=cv2.STEREO_SGBM_MODE_HH,
    )
    left_d = fill_from_background(_sgbm(matcher, gray[0], gray[1]))
    mirrored = _sgbm(matcher, gray[1][:, ::-1].copy(), gray[0][:, ::-1].copy())
    right_d = fill_from_background(mirrored[:, ::-1])
    left_visible, right_visible = left_right_check(left_d, right_d)
    return PairDisparity(left_d, np.ascontiguousarray(right_d), left_visible, right_visible, "sgbm")


def fill_from_background(disparity: np.ndarray) -> np.ndarray:
    """Each unknown pixel takes the smaller (farther) of the nearest known disparities to
    its left and right on its row: occlusions and textureless holes belong to the
    background far more often than to the foreground. Rows with no known pixel stay NaN."""
    height, width = disparity.shape
    known = np.isfinite(disparity)
    columns = np.broadcast_to(np.arange(width), disparity.shape)
    before = np.maximum.accumulate(np.where(known, columns, -1), axis=1)
    after = np.minimum.accumulate(np.where(known, columns, width)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(height)[:, None]
    from_before = np.where(before >= 0, disparity[rows, np.clip(before, 0, width - 1)], np.inf)
    from_after = np.where(after < width, disparity[rows, np.clip(after, 0, width - 1)], np.inf)
    nearest = np.minimum(from_before, from_after)
    filled = np.where(known, disparity, nearest)
    return np.where(np.isfinite(filled), filled, np.nan).astype(np.float32)


def _sgbm(matcher: Any, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    raw = matcher.compute(first, second).astype(np.float32) / 16.0
    return np.where(raw >= 0, raw, np.nan).astype(np.float32)


def _gray_u8(rgb: np.ndarray) -> np.ndarray:
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(np.round(luma * 255), 0, 255).astype(np.uint8)


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise StylelabError(
            "estimating a disparity needs OpenCV: pip install 'stylelab[stereo]' "
            "(opencv-python-headless), or give --disparity FILE"
        ) from None
    return cv2


def left_right_check(
    left: np.ndarray, right: np.ndarray, tolerance: float = LR_TOLERANCE
) -> tuple[np.ndarray, np.ndarray]:
    """Which pixels of each view are seen in the other: the left pixel x is when its match
    x - d_L(x) is inside the right view and d_R there agrees, |d_L(x) - d_R(x - d_L(x))| <=
    ``tolerance`` px; the mirror for the right view. NaN fails."""
    return _consistent(left, right, -1, tolerance), _consistent(right, left, +1, tolerance)


def _consistent(own: np.ndarray, other: np.ndarray, sign: int, tolerance: float) -> np.ndarray:
    height, width = own.shape
    known = np.isfinite(own)
    columns = np.arange(width)[None, :] + sign * np.where(known, own, 0)
    target = np.round(columns).astype(int)
    inside = known & (target >= 0) & (target < width)
    rows = np.broadcast_to(np.arange(height)[:, None], own.shape)
    seen = other[rows, np.clip(target, 0, width - 1)]
    with np.errstate(invalid="ignore"):
        agree = np.abs(own - seen) <= tolerance
    return inside & agree


def from_left(left: np.ndarray, source: str) -> PairDisparity:
    """Both views from the left view's map alone (e.g. ground truth): the right view's map
    by forward splatting, the nearer surface (larger d) winning where two land on one
    pixel; then the left-right check marks each view's occlusions."""
    height, width = left.shape
    known = np.isfinite(left)
    rows, cols = np.nonzero(known)
    values = left[rows, cols]
    targets = np.round(cols - values).astype(int)
    inside = (targets >= 0) & (targets < width)
    right = np.full(left.shape, -np.inf, dtype=np.float32)
    np.maximum.at(right, (rows[inside], targets[inside]), values[inside])
    right = np.where(np.isfinite(right), right, np.nan).astype(np.float32)
    left_visible, right_visible = left_right_check(left, right)
    return PairDisparity(left.astype(np.float32), right, left_visible, right_visible, source)

"""One pipeline for every feed-forward style model, whatever runs its network (no torch here).

A *backend* runs the network (:class:`Backend`): the PyTorch one
(:class:`stylelab.fast.apply.FastModel`) and the onnxruntime one
(:class:`stylelab.fast.runtime.OnnxModel`). Everything around the network is done once,
here, in NumPy, for both (and for any later backend):

1. the style choice becomes (1, S) convex weights w (:func:`stylelab.fast.choices.style_weights`);
   conditional instance norm mixes (gamma, beta) = sum_s w_s (gamma_s, beta_s)
   (Dumoulin et al. 2017) inside the backend;
2. the photo is resized for the stroke scale k (the network paints strokes of a fixed size
   in pixels, so running it at 1/k size makes them k times larger);
3. it is padded by reflection at the bottom and right to a multiple of
   :data:`STRIDE_MULTIPLE` (the network's total stride), run, and cropped back;
4. what the network returned is checked (:func:`checked_output`): a (N, 3, H, W) array of
   finite floats, or one line naming the model, so a damaged model never writes garbage;
5. colour preservation (:func:`stylelab.color.preserve_after`), then the strength blend
   s * T(x) + (1 - s) * x, then clipping to [0, 1].

Images are decoded once, at the edge (the CLI, the web app, :meth:`StyleModel.stylize`),
into (1, 3, H, W) float32 arrays in [0, 1]; video frames arrive as (B, H, W, 3) uint8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from stylelab.color import check_preserve_color, preserve_after
from stylelab.errors import StylelabError
from stylelab.fast.choices import (
    STRIDE_MULTIPLE,
    StyleChoice,
    check_apply_memory,
    check_size,
    check_strength,
    check_stroke_scale,
    stroke_source_shape,
    style_weights,
)
from stylelab.pixels import (
    check_finite_array,
    check_min_side,
    load_array,
    long_edge_shape,
    resize_array,
)


class Backend(Protocol):
    """What the pipeline needs from whatever runs a style network.

    ``run(batch, style_weights)`` is the only computation: ``batch`` is (N, 3, H, W)
    float32 in [0, 1] with H and W multiples of :data:`STRIDE_MULTIPLE` (the pipeline pads
    and crops), ``style_weights`` is (1, S) float32, convex, S = ``len(styles)``. It
    returns T(batch) as an array-like of shape (N, 3, H, W) in [0, 1]; the pipeline checks
    that (shape, float dtype, finite values) before anything is used, so a backend may hand
    back what its engine gave. Engine errors should be :class:`StylelabError` lines.

    ``name`` names the model in error lines (its file); ``device`` is a torch device for a
    PyTorch backend, else the engine's name for it (``"cpu"``, ``"cuda"``); both it and
    ``precision`` are reported in records (``precision`` may be set before a run, e.g. fp32
    for video). ``info()`` is the model's description for ``stylelab apply --info``.

    A new model family (e.g. an instant, arbitrary-style model) becomes a third backend by
    giving these members; it gets sizes, stroke scale, strength, colour, the output checks,
    video and the web app for free.
    """

    precision: str

    @property
    def name(self) -> str: ...

    @property
    def styles(self) -> list[str]: ...

    @property
    def device(self) -> Any: ...

    def run(self, batch: np.ndarray, style_weights: np.ndarray) -> Any: ...

    def info(self) -> dict[str, Any]: ...


def pad_reflect(batch: np.ndarray, multiple: int = STRIDE_MULTIPLE) -> np.ndarray:
    """``batch`` padded by reflection at the bottom and right to a multiple of ``multiple``
    (the input itself when it is one already)."""
    pad_h = (-batch.shape[-2]) % multiple
    pad_w = (-batch.shape[-1]) % multiple
    if not pad_h and not pad_w:
        return batch
    return np.pad(batch, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode="reflect")


def checked_output(output: object, shape: tuple[int, ...], name: str) -> np.ndarray:
    """What a network returned for a batch of ``shape``, as float32, if it is an array of
    that shape holding finite floats; else one line naming the model ``name``."""
    array = np.asarray(output) if isinstance(output, np.ndarray) else _as_array(output, name)
    if array.shape != tuple(shape):
        expected = "x".join(str(v) for v in shape)
        got = "x".join(str(v) for v in array.shape) or "a scalar"
        raise StylelabError(
            f"{name}: the network returned {got} for a batch of {expected} (it must return "
            "N x 3 x H x W images of the input's size); a damaged or foreign model"
        )
    if array.dtype.kind != "f":
        raise StylelabError(
            f"{name}: the network returned {array.dtype} values, not floating-point pixels; "
            "a damaged or foreign model"
        )
    if not np.isfinite(array).all():
        raise StylelabError(
            f"{name}: the network returned NaN or infinite values (a damaged or diverged "
            "model); nothing was written"
        )
    return np.asarray(array, dtype=np.float32)


def _as_array(output: object, name: str) -> np.ndarray:
    try:
        return np.asarray(output)
    except (TypeError, ValueError):
        raise StylelabError(
            f"{name}: the network returned {type(output).__name__}, not an image array"
        ) from None


def run_backend(backend: Backend, batch: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """T(batch) for (N, 3, H, W) float32 of any H, W: padded, run, checked, cropped."""
    height, width = batch.shape[-2:]
    padded = pad_reflect(np.ascontiguousarray(batch, dtype=np.float32))
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    out = checked_output(backend.run(padded, weights), padded.shape, backend.name)
    return out[..., :height, :width]


def torch_device(backend: Backend) -> Any:
    """The backend's device if it is a torch device (its memory is then checked by
    torch), else None: an engine's device name (onnxruntime's ``"cuda"``) is checked
    against the host's memory, so that path never imports torch."""
    return None if isinstance(backend.device, str) else backend.device


def checked_photo(photo: object) -> np.ndarray:
    """``photo`` if it is what the edge decodes to: a (1, 3, H, W) float array of finite
    values, both sides 16 px at least (as float32)."""
    if (
        not isinstance(photo, np.ndarray)
        or photo.ndim != 4
        or photo.shape[:2] != (1, 3)
        or photo.dtype.kind != "f"
    ):
        raise StylelabError(
            "stylize_array takes a (1, 3, H, W) float array in [0, 1] "
            "(stylelab.pixels.load_array makes one from a file, a PIL image or an array)"
        )
    check_min_side(photo.shape, "photo")
    return check_finite_array(np.asarray(photo, dtype=np.float32), "photo")


def stylize_array(
    backend: Backend,
    photo: np.ndarray,
    style: StyleChoice = None,
    *,
    strength: float = 1.0,
    size: int | None = None,
    stroke_scale: float = 1.0,
    preserve_color: str = "none",
) -> np.ndarray:
    """The stylized photo, (1, 3, H, W) float32 in [0, 1], the photo's size (or ``size`` on
    the longer edge). ``style``: index, name, weights or {name: weight} (default 0)."""
    check_strength(strength)
    check_stroke_scale(stroke_scale)
    check_preserve_color(preserve_color)
    if size is not None:
        check_size(size)
    weights = style_weights(backend.styles, style)
    photo = checked_photo(photo)
    if size is not None:
        photo = resize_array(photo, long_edge_shape(photo.shape, size))
    shape = tuple(photo.shape[-2:])
    check_apply_memory(shape, "photo", torch_device(backend))
    source_shape = stroke_source_shape(shape, stroke_scale, STRIDE_MULTIPLE)
    source = photo if source_shape == shape else resize_array(photo, source_shape)
    out = run_backend(backend, source, weights)
    if tuple(out.shape[-2:]) != shape:
        out = resize_array(out, shape)
    return finish(out, photo, strength, preserve_color)


def stylize_frames(
    backend: Backend,
    frames: np.ndarray,
    weights: np.ndarray,
    strength: float = 1.0,
    preserve_color: str = "none",
) -> np.ndarray:
    """(B, H, W, 3) uint8 video frames -> stylized (B, H, W, 3) uint8, one batch, with
    (1, S) style ``weights`` (:func:`stylelab.fast.choices.style_weights`)."""
    batch = frames.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    out = finish(run_backend(backend, batch, weights), batch, strength, preserve_color)
    return np.round(out * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def finish(out: np.ndarray, photos: np.ndarray, strength: float, preserve_color: str) -> np.ndarray:
    """Colour preservation on each (output, photo) pair, then s * T(x) + (1 - s) * x,
    clipped to [0, 1]."""
    if preserve_color != "none":
        pairs = zip(out, photos, strict=True)
        out = np.concatenate([preserve_after(o[None], p[None], preserve_color) for o, p in pairs])
    if strength != 1.0:
        out = strength * out + (1 - strength) * photos
    return np.clip(out, 0, 1).astype(np.float32, copy=False)


@dataclass
class StyleModel:
    """A style model ready to use, whatever its backend: ``open_model(path).stylize(photo)``.

    Images are (1, 3, H, W) float32 arrays in [0, 1] (:meth:`stylize` also takes a path,
    a PIL image or an image array and decodes it)."""

    backend: Backend

    @property
    def styles(self) -> list[str]:
        return self.backend.styles

    @property
    def device(self) -> Any:
        return self.backend.device

    @property
    def precision(self) -> str:
        return self.backend.precision

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def runtime(self) -> str:
        """What runs the network: ``"torch"``, ``"onnx"``, or the backend's own name."""
        return str(getattr(self.backend, "runtime", type(self.backend).__name__))

    def style_weights(self, style: StyleChoice = None) -> np.ndarray:
        """(1, S) convex weights for an index, a name, S weights or {name: weight}."""
        return style_weights(self.styles, style)

    def stylize_array(self, photo: np.ndarray, style: StyleChoice = None, **options: Any):
        """:func:`stylize_array` with this model's backend."""
        return stylize_array(self.backend, photo, style, **options)

    def stylize(self, image: Any, style: StyleChoice = None, **options: Any) -> np.ndarray:
        """:meth:`stylize_array` for a path, ``example:NAME``, PIL image or image array."""
        return self.stylize_array(load_array(image), style, **options)

    def stylize_frames(
        self,
        frames: np.ndarray,
        weights: np.ndarray,
        strength: float = 1.0,
        preserve_color: str = "none",
    ) -> np.ndarray:
        """:func:`stylize_frames` with this model's backend."""
        return stylize_frames(self.backend, frames, weights, strength, preserve_color)

    def info(self) -> dict[str, Any]:
        return self.backend.info()

""":func:`stylelab.instant` on onnxruntime, without torch.

The graph is the one ``stylelab export`` writes (:mod:`stylelab.adain.export`): the
painting's statistics (mu_s, sigma_s) and the decoded image come from one file, one
branch at a time. Around it, in NumPy, the same steps as the PyTorch run
(:mod:`stylelab.adain.transfer`): sizes and resizing (:mod:`stylelab.pixels`, the
antialiased bicubic of :func:`stylelab.images.resize_to`), colour
(:func:`stylelab.color.colour_arrays`, :func:`stylelab.color.with_chroma`), the blend
(mu, sigma) = sum_i w_i (mu_i, sigma_i), reflection padding to the encoder's stride, and
the detail layer (:mod:`stylelab.adain.detail`), the palette and the band contrast
(:func:`stylelab.adain.bands.finish`). ``stylelab instant --runtime auto`` runs
here through the export cached once (:mod:`stylelab.fast.cache`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylelab import color
from stylelab.adain.bands import finish, painting_targets
from stylelab.adain.detail import with_detail
from stylelab.adain.options import (
    DEFAULT_BAND_CONTRAST,
    DEFAULT_INTERNAL_SIZE,
    blend_stats,
    check_settings,
    check_sources_fit,
    run_record,
    shared_settings,
    torch_only,
    working_edges,
)
from stylelab.errors import StylelabError
from stylelab.exportformats import INSTANT_FORMAT as ONNX_FORMAT
from stylelab.limits import show
from stylelab.safety import one_line

INPUTS = {"image", "style_stats", "strength", "want_stats"}
#: Encoder depths an export may name (relu1_1 .. relu4_1; the keys of
#: stylelab.adain.nets.ENCODER_CHANNELS, written here so that this path imports no torch).
DEPTHS = (1, 2, 3, 4)
PAINTINGS_REMEMBERED = 8


@dataclass
class InstantSession:
    """An exported instant model on onnxruntime."""

    session: Any
    label: str
    path: Path
    design: str
    depth: int
    channels: int
    card: dict[str, Any] = field(default_factory=dict)
    runtime = "onnx"
    #: statistics of the last paintings seen, by their pixels: a folder of photos with one
    #: painting encodes it once (a third of a 512 px run), not once per photo
    _seen: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def stride(self) -> int:
        return int(2 ** (self.depth - 1))

    def _run(self, image: np.ndarray, stats: np.ndarray, strength: float, want: bool) -> Any:
        feeds = {
            "image": np.ascontiguousarray(image, dtype=np.float32),
            "style_stats": np.ascontiguousarray(stats, dtype=np.float32),
            "strength": np.array([strength], dtype=np.float32),
            "want_stats": np.array(want),
        }
        try:
            (out,) = self.session.run(["output"], feeds)
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are long
            text = str(exc).strip().splitlines()
            raise StylelabError(
                f"{self.label}: onnxruntime failed ({one_line(text[0] if text else exc)[:200]})"
            ) from None
        return _checked(out, self.label)

    def statistics(self, image: np.ndarray) -> np.ndarray:
        """(1, 2, C) = (mu, sigma) per channel of E(image) at relu{depth}_1; an image seen
        among the last few (the same pixels) is not encoded again."""
        pixels = np.ascontiguousarray(image, dtype=np.float32)
        key = (pixels.shape, hashlib.blake2b(pixels.tobytes(), digest_size=16).digest())
        if key not in self._seen:
            zeros = np.zeros((1, 2, self.channels), dtype=np.float32)
            out = self._run(pixels, zeros, 1.0, True)
            if out.shape != (1, 2, self.channels, 1):
                raise StylelabError(
                    f"{self.label}: damaged export (statistics of shape {out.shape})"
                )
            while len(self._seen) >= PAINTINGS_REMEMBERED:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = out[..., 0]
        return self._seen[key].copy()

    def decode(self, padded: np.ndarray, stats: np.ndarray, strength: float) -> np.ndarray:
        """clamp(D(alpha AdaIN(E(padded), stats) + (1 - alpha) E(padded)), 0, 1)."""
        out = self._run(padded, stats, strength, False)
        if out.shape != padded.shape:
            raise StylelabError(f"{self.label}: damaged export (an image of shape {out.shape})")
        return out


def _checked(out: object, label: str) -> np.ndarray:
    array = np.asarray(out)
    if array.dtype.kind != "f" or not np.isfinite(array).all():
        raise StylelabError(f"{label}: the network returned NaN, infinite or non-float values")
    return array.astype(np.float32, copy=False)


def instant_session(
    source: str | bytes, label: str, path: Path, device: str = "cpu", precision: str = "auto"
) -> InstantSession:
    """An onnxruntime session on ``source`` (a file name or the graph's bytes), checked
    to be an instant export; anything else is one line naming ``label``."""
    from stylelab.fast.runtime import check_export_metadata, open_session

    session, _ = open_session(source, label, path, device, precision)
    meta = dict(session.get_modelmeta().custom_metadata_map)
    check_export_metadata(meta, label, ONNX_FORMAT, "an instant export")
    inputs = {i.name for i in session.get_inputs()}
    depth, channels = meta.get("depth", ""), meta.get("channels", "")
    numbers = depth.isdigit() and channels.isdigit() and int(channels) > 0
    if inputs != INPUTS or not numbers or int(depth) not in DEPTHS:
        raise StylelabError(f"{label}: damaged export (inputs {sorted(inputs)}, depth {depth!r})")
    try:
        card = json.loads(meta.get("card", "{}"))
    except (ValueError, RecursionError):
        raise StylelabError(f"{label}: damaged metadata (card is not JSON)") from None
    return InstantSession(
        session,
        label,
        path,
        str(meta.get("design", "?")),
        int(depth),
        int(channels),
        card if isinstance(card, dict) else {},
    )


def open_instant(
    model: str | os.PathLike | None, runtime: str, quiet: bool = False
) -> InstantSession | None:
    """The onnxruntime model for ``--model`` (None: the shipped one): an .onnx export
    directly, a .safetensors model through the export cache; None when ``runtime="auto"``
    should run PyTorch (no onnxruntime, a cache that cannot be written, a failed export)."""
    from stylelab.adain import SHIPPED
    from stylelab.fast.cache import open_cached
    from stylelab.safety import check_input_file

    if model is not None and Path(model).suffix.lower() == ".onnx":
        file = check_input_file(model, "model file")
        return instant_session(str(file), one_line(file), file)
    source = SHIPPED if model is None else model
    return open_cached(source, "cpu", "auto", runtime, quiet=quiet, kind="instant")


@dataclass
class ArrayResult:
    """An instant image as a (1, 3, H, W) float32 array, its settings and record."""

    array: np.ndarray
    config: Any
    info: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return {"config": shared_settings(self.config), **self.info}

    def save(self, path: str | os.PathLike) -> Path:
        """The image, ``<stem>.csv`` (no iterations) and ``<stem>.json``, written together."""
        from stylelab.records import write_result
        from stylelab.safety import IMAGE_FORMATS, check_output_file

        out = check_output_file(path, IMAGE_FORMATS)
        write_result(self.array, out, [], self.summary())
        return out


def instant_onnx(
    content: Any,
    style: Any,
    *,
    model: InstantSession,
    strength: float = 1.0,
    internal_size: int = DEFAULT_INTERNAL_SIZE,
    palette: float = 1.0,
    band_contrast: float = DEFAULT_BAND_CONTRAST,
    **options: Any,
) -> ArrayResult:
    """:func:`stylelab.instant` on onnxruntime for the options it serves (not regions,
    refine or bf16: those are PyTorch's); the same checks, steps and record."""
    from stylelab.config import blend_weights
    from stylelab.pixels import check_finite_array, label, load_array, long_edge_shape, resize_array

    started = time.perf_counter()
    config = check_settings(options, strength, 0, internal_size, palette, band_contrast)
    reason = torch_only(config, None, 0, "auto")
    if reason is not None:
        raise StylelabError(f"--runtime onnx cannot serve this run: {reason}")
    styles_in = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles_in:
        raise StylelabError("style needs at least one image, got an empty list")
    blend = blend_weights(config.style_blend, len(styles_in))
    photo = check_finite_array(load_array(_array(content)), label(content, "content"))
    paintings = [check_finite_array(load_array(_array(s)), label(s, "style")) for s in styles_in]
    working_edge, style_edge = working_edges(config.size, internal_size, config.style_scale)
    check_sources_fit(content, styles_in, [photo, *paintings], (working_edge, style_edge))
    photo = resize_array(photo, long_edge_shape(photo.shape, config.size))
    paintings = [resize_array(p, long_edge_shape(p.shape, style_edge)) for p in paintings]
    scale = float(strength)
    look = (blend, config.preserve_color, float(palette) * scale, float(band_contrast) * scale)
    targets = painting_targets(paintings, look[3])  # the paintings as given
    photo_in, seen = color.colour_arrays(config.preserve_color, photo, paintings)
    output = stylize_arrays(model, photo_in, seen, blend, strength, working_edge)
    output, amounts = finish(output, photo, seen, (*look, working_edge), targets)
    seconds = time.perf_counter() - started
    described = {
        "path": model.label,
        "onnx_file": str(model.path),
        "design": model.design,
        "card": model.card,
    }
    settings = (strength, working_edge, style_edge, "fp32", blend)
    info = run_record(described, settings, "onnx", seconds, amounts)
    return ArrayResult(np.asarray(output, dtype=np.float32), config, info)


def _array(source: Any) -> Any:
    """A torch tensor as its array (this module never imports torch); anything else as is."""
    if type(source).__module__.startswith("torch"):
        return source.detach().float().cpu().numpy()
    return source


def stylize_arrays(
    model: InstantSession,
    photo: np.ndarray,
    paintings: Sequence[np.ndarray],
    blend: Sequence[float],
    strength: float,
    working_edge: int,
) -> np.ndarray:
    """Steps 1-3 of :mod:`stylelab.adain.transfer` on (1, 3, H, W) arrays."""
    from stylelab.pixels import long_edge_shape, resize_array

    working = photo
    if max(photo.shape[-2:]) > working_edge:
        working = resize_array(photo, long_edge_shape(photo.shape, working_edge))
    stats = [model.statistics(p) for p in paintings]
    target = blend_stats(stats, blend)
    height, width = working.shape[-2:]
    image = model.decode(pad_to(working, model.stride), np.asarray(target), strength)
    image = image[..., :height, :width]
    if tuple(image.shape[-2:]) != tuple(photo.shape[-2:]):
        image = with_detail(image, photo)
    return np.ascontiguousarray(image, dtype=np.float32)


def pad_to(image: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad height and width up to a multiple of ``multiple`` (replicate where the
    image is too small to reflect), as :func:`stylelab.adain.transfer._pad_to`."""
    height, width = image.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if not pad_h and not pad_w:
        return image
    mode: Any = "reflect" if pad_h < height and pad_w < width else "edge"
    return np.pad(image, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode=mode)


def torch_is_faster(precision: str) -> str | None:
    """Why PyTorch beats onnxruntime in this process, or None: once torch is imported
    (the Python API, the web app; never the torch-free CLI path) its start-up is paid,
    and where ``--precision auto`` resolves to bf16 (native and measured faster,
    :func:`stylelab.precision.resolve_precision`) its bf16 network outruns onnxruntime's
    fp32 one (``benchmarks/bench_instant_runtime.py``)."""
    if precision != "auto" or "torch" not in sys.modules:
        return None
    import torch

    from stylelab.precision import resolve_precision

    if resolve_precision("auto", torch.device("cpu")) != "bf16":
        return None
    return "torch is loaded and runs bf16 natively here (faster than onnxruntime's fp32)"


def choose_session(
    runtime: str,
    model: object,
    config: Any,
    torch_options: tuple[Any, int, str],
    quiet: bool = False,
) -> InstantSession | str:
    """The onnxruntime model to run, or why PyTorch runs instead (a string for the record:
    ``--runtime torch``, an option only PyTorch serves, no onnxruntime, no export).
    ``torch_options`` = (regions, refine, precision). Under ``runtime="onnx"``, or with an
    .onnx ``model``, every reason not to run on onnxruntime is a one-line error."""
    from stylelab.fast.cache import onnx_unusable

    name = str(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else None
    is_path = name is not None
    is_onnx = name is not None and name.lower().endswith(".onnx")
    if runtime == "torch":
        if is_onnx:
            raise StylelabError(
                f"{show(name)}: an ONNX export runs on onnxruntime; --runtime "
                "torch takes the .safetensors model"
            )
        return "--runtime torch"
    reason = torch_only(config, *torch_options)
    if reason is None and not (is_path or model is None):
        reason = "a loaded InstantModel (give its file to run on onnxruntime)"
    if reason is None and runtime == "auto" and not is_onnx:
        reason = torch_is_faster(torch_options[2])
    if reason is None:
        reason = onnx_unusable("cpu", "auto")
    if reason is not None:
        if runtime == "onnx" or is_onnx:
            raise StylelabError(f"--runtime onnx cannot serve this run: {reason}")
        return reason
    session = open_instant(model, runtime, quiet)  # type: ignore[arg-type]
    if session is None:
        return "the ONNX export could not be made or kept (see the note on stderr)"
    return session

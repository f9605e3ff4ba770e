"""Deploy a trained model: ONNX (onnxruntime, and through it browsers and phones) or
TorchScript (LibTorch: C++, mobile), each checked against PyTorch before it is written.

The exported graph is :class:`Deployable`: it takes any photo size, not only multiples
of 8, and the style as a weight vector, so what ``stylelab apply`` does around the
network travels with it:

    image  (N, 3, H, W) float32 in [0, 1], H, W >= 16 (dynamic N, H, W)
    style  (1, S) float32 weights >= 0 (normalized to sum 1 inside the graph)
    -> stylized (N, 3, H, W) = crop(T(reflect_pad8(image), style / sum(style)))

ONNX goes through ``torch.onnx.export(dynamo=True)``, the exporter PyTorch maintains
(``torch.export`` + onnxscript): the padding amounts ``(-H) mod 8`` stay symbolic, so
height and width are truly dynamic. Opset 18: the lowest opset that exporter emits
natively, and run by onnxruntime >= 1.14, onnxruntime-web and the mobile converters.
TorchScript traces the same module with the padding and crop scripted, so they too
follow the input's size. Style names and training settings go in the ONNX metadata
(``metadata_props``) and in the TorchScript file's ``stylelab.json`` extra file.

Self-check: the exported model and PyTorch stylize a photo of odd size (the built-in
astronaut at 203 x 157, so the padding is exercised) with every style and an even mix; the
largest absolute difference on [0, 1] images is reported, and above :data:`TOLERANCE`
the export fails and nothing is written.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylelab.errors import StylelabError
from stylelab.exportformats import FAST_FORMAT as ONNX_FORMAT
from stylelab.exportformats import FAST_FORMAT_VERSION as ONNX_FORMAT_VERSION
from stylelab.fast.choices import STRIDE_MULTIPLE
from stylelab.fast.modelfile import ModelRecord, load_model
from stylelab.fast.nets import TransformerNet
from stylelab.safety import atomic_path, check_output_file

OPSET = 18
TOLERANCE = 1e-3
EXPORT_SUFFIXES = {".onnx": "onnx", ".pt": "torchscript"}
CHECK_SIZE = (157, 203)  # (H, W): neither a multiple of 8
ONNX_EXTRA = "pip install 'stylelab[onnx]'"


def _pad_to_multiple(image: torch.Tensor) -> torch.Tensor:
    """Reflection padding at the bottom and right to a multiple of 8 (H, W >= 8)."""
    multiple = 8  # STRIDE_MULTIPLE (TorchScript cannot read a global)
    height, width = image.shape[-2], image.shape[-1]
    pad_h = (multiple - height % multiple) % multiple
    pad_w = (multiple - width % multiple) % multiple
    return F.pad(image, [0, pad_w, 0, pad_h], mode="reflect")


def _crop_like(stylized: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return stylized[:, :, : image.shape[-2], : image.shape[-1]]


assert STRIDE_MULTIPLE == 8, "update _pad_to_multiple"


class Deployable(nn.Module):
    """What is exported: pad to x8, normalize the style weights, the network, crop."""

    def __init__(self, net: TransformerNet, scripted_shapes: bool = False) -> None:
        super().__init__()
        self.net = net
        self.pad: Any = _pad_to_multiple
        self.crop: Any = _crop_like
        if scripted_shapes:  # TorchScript tracing would freeze the sizes otherwise
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated
                self.pad = torch.jit.script(_pad_to_multiple)
                self.crop = torch.jit.script(_crop_like)

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        weights = style / style.sum(dim=1, keepdim=True)
        return self.crop(self.net(self.pad(image), weights), image)


@dataclass
class ExportReport:
    """What :func:`export_model` wrote and how closely it matches PyTorch."""

    path: Path
    format: str
    max_abs_difference: float
    seconds: float
    opset: int | None
    styles: list[str]
    tolerance: float = TOLERANCE  # the self-check's bound this export passed

    def as_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.path),
            "format": self.format,
            "max_abs_difference": self.max_abs_difference,
            "tolerance": self.tolerance,
            "seconds": round(self.seconds, 2),
            "opset": self.opset,
            "styles": self.styles,
        }


def check_export_output(path: str | os.PathLike) -> Path:
    """The output path, or a one-line error: a folder, an unknown extension, no room."""
    out = Path(path)
    if out.is_dir():
        raise StylelabError(f"{out}: is a directory; give a file name ending in .onnx or .pt")
    if out.suffix.lower() not in EXPORT_SUFFIXES:
        raise StylelabError(
            f"{out}: unknown export extension {out.suffix!r}; use .onnx (ONNX, onnxruntime) "
            "or .pt (TorchScript)"
        )
    return check_output_file(out, EXPORT_SUFFIXES)


def export_model(
    model: str | os.PathLike | ModelRecord,
    output: str | os.PathLike,
    *,
    opset: int = OPSET,
    tolerance: float = TOLERANCE,
) -> ExportReport:
    """Export a ``.safetensors`` model (or a loaded record) to ``output`` (.onnx or .pt),
    verified against PyTorch first; nothing is written if the check fails."""
    out = check_export_output(output)
    record = model if isinstance(model, ModelRecord) else load_model(model)
    kind = EXPORT_SUFFIXES[out.suffix.lower()]
    if kind == "onnx":
        _require_onnx()
    started = time.perf_counter()
    net = record.net.float().cpu().eval()
    image, styles = _check_inputs(len(record.styles))
    with torch.inference_mode():
        expected = [_crop_like(net(_pad_to_multiple(image), s / s.sum()), image) for s in styles]
    if kind == "onnx":
        data = _onnx_bytes(record, opset)
        produced = _run_onnx(data, image, styles)
    else:
        data = _torchscript_bytes(record)
        produced = _run_torchscript(data, image, styles)
    difference = max(float((e - p).abs().max()) for e, p in zip(expected, produced, strict=True))
    write_checked(out, data, difference, tolerance)
    return ExportReport(
        out,
        kind,
        difference,
        time.perf_counter() - started,
        opset if kind == "onnx" else None,
        list(record.styles),
        tolerance,
    )


def write_checked(out: Path, data: bytes, difference: float, tolerance: float) -> None:
    """Write an export's bytes to ``out`` atomically if its self-check ``difference``
    from PyTorch is within ``tolerance`` (a NaN is not); else one line, nothing written."""
    if not difference <= tolerance:  # also catches NaN
        raise StylelabError(
            f"{out}: the exported model differs from PyTorch by {difference:.3g} (more than "
            f"{tolerance:.3g}) on a test image; nothing was written"
        )
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)


def exporter_failure(exc: BaseException) -> StylelabError:
    """One line for a failure inside ``torch.onnx.export`` (fast and instant models): the
    innermost cause's first line, which names the reason (the outer one says only which
    step failed), without terminal colour codes; no usable temporary folder is named."""
    cause = exc
    for _ in range(10):  # the chain of causes, as a traceback would show it
        inner = cause.__cause__ or cause.__context__
        if inner is None:
            break
        cause = inner
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(cause)).strip()
    if isinstance(cause, FileNotFoundError) and "temporary directory" in text:
        return StylelabError(
            "ONNX export failed: no usable temporary folder (the exporter writes there); "
            "set TMPDIR to a writable folder"
        )
    reason = text.splitlines()[0] if text else type(cause).__name__
    return StylelabError(f"ONNX export failed ({reason})")


def _require_onnx() -> None:
    missing = []
    for module in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise StylelabError(
            f"ONNX export needs {', '.join(missing)}: {ONNX_EXTRA} (or pip install "
            f"{' '.join(missing)})"
        )


def _check_inputs(count: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The test photo (astronaut at 203 x 157) and style vectors: each style, and an even
    mix (unnormalized, so the graph's normalization is checked too)."""
    from stylelab.images import load_image, resize_to

    image = resize_to(load_image("example:astronaut"), CHECK_SIZE)
    styles = [torch.eye(count)[i : i + 1] for i in range(count)]
    if count > 1:
        styles.append(torch.full((1, count), 2.0))
    return image, styles


def metadata(record: ModelRecord, difference: float | None = None) -> dict[str, str]:
    """String metadata for the exported file: what stylelab needs to apply it."""
    from stylelab import __version__

    return {
        "format": ONNX_FORMAT,
        "format_version": ONNX_FORMAT_VERSION,
        "architecture": record.architecture,
        "styles": json.dumps(record.styles),
        "training": json.dumps(record.training, default=str),
        "stylelab_version": __version__,
        "inputs": "image: (N, 3, H, W) float32 RGB in [0, 1], H and W >= 16; "
        "style: (1, S) float32 weights >= 0, normalized inside",
        "outputs": "stylized: (N, 3, H, W) float32 RGB in [0, 1]",
    }


def _onnx_bytes(record: ModelRecord, opset: int) -> bytes:
    """The serialized ONNX model with dynamic N, H, W and stylelab's metadata."""
    import onnx

    module = Deployable(record.net).eval()
    image = torch.rand(2, 3, 64, 72)
    style = torch.full((1, len(record.styles)), 1.0)
    batch = torch.export.Dim("batch", min=1, max=1024)
    height = torch.export.Dim("height", min=16, max=65536)
    width = torch.export.Dim("width", min=16, max=65536)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                (image, style),
                dynamo=True,
                verbose=False,
                opset_version=opset,
                input_names=["image", "style"],
                output_names=["stylized"],
                dynamic_shapes={"image": {0: batch, 2: height, 3: width}, "style": None},
            )
    except Exception as exc:  # noqa: BLE001 - an exporter failure is one line
        raise exporter_failure(exc) from None
    assert program is not None
    proto = program.model_proto
    onnx.helper.set_model_props(proto, metadata(record))
    proto.producer_name = "stylelab"
    proto.doc_string = (
        f"stylelab fast style transfer ({record.architecture}); styles: " + ", ".join(record.styles)
    )
    return proto.SerializeToString()


def _run_onnx(data: bytes, image: torch.Tensor, styles: list[torch.Tensor]) -> list[torch.Tensor]:
    from stylelab.fast.runtime import quiet_onnxruntime

    session = quiet_onnxruntime().InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = [{"image": image.numpy(), "style": s.numpy()} for s in styles]
    return [torch.from_numpy(np.asarray(session.run(None, f)[0])) for f in feeds]


def _torchscript_bytes(record: ModelRecord) -> bytes:
    """The traced and frozen module, with the metadata as the extra file stylelab.json."""
    module = Deployable(record.net, scripted_shapes=True).eval()
    example = (torch.rand(1, 3, 64, 72), torch.full((1, len(record.styles)), 1.0))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit is deprecated; TracerWarnings
        traced = torch.jit.freeze(torch.jit.trace(module, example, check_trace=False))
        buffer = io.BytesIO()
        extra = {"stylelab.json": json.dumps(metadata(record))}
        torch.jit.save(traced, buffer, _extra_files=extra)
    return buffer.getvalue()


def _run_torchscript(
    data: bytes, image: torch.Tensor, styles: list[torch.Tensor]
) -> list[torch.Tensor]:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(io.BytesIO(data))
        return [loaded(image, s) for s in styles]

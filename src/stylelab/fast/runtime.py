"""Apply an exported model with onnxruntime, without torch.

``stylelab apply model.onnx`` lands here: onnxruntime runs the graph that
:mod:`stylelab.fast.export` wrote (padding and style normalization are inside it) as a
backend of the one pipeline (:mod:`stylelab.fast.pipeline`: sizes, stroke scale, strength,
colour and the output checks, in NumPy), and :mod:`stylelab.pixels` reads and writes the
images, so nothing on this path imports torch.

Install with ``pip install 'stylelab[onnx]'``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylelab.errors import StylelabError
from stylelab.exportformats import EXPORT_KINDS, VERSIONS
from stylelab.exportformats import FAST_FORMAT as ONNX_FORMAT
from stylelab.fast.metadata import check_onnx_metadata_size, style_names
from stylelab.limits import show
from stylelab.safety import check_input_file, one_line

ONNX_EXTRA = "pip install 'stylelab[onnx]'"


@dataclass
class OnnxModel:
    """An exported model on onnxruntime: a :class:`stylelab.fast.pipeline.Backend`
    (``stylelab.fast.open_model(path)`` wraps it in the one pipeline)."""

    path: Path
    session: Any
    styles: list[str]
    architecture: str
    training: dict[str, Any] = field(default_factory=dict)
    stylelab_version: str = ""
    device: str = "cpu"
    precision: str = "fp32"
    label: str = ""  # how errors name the model: the file given (default: ``path``)
    runtime = "onnx"

    @property
    def name(self) -> str:
        return self.label or one_line(self.path)

    def run(self, batch: np.ndarray, style_weights: np.ndarray) -> Any:
        """T(batch, style_weights) as onnxruntime returns it (the pipeline checks it)."""
        feeds = {
            "image": np.ascontiguousarray(batch, dtype=np.float32),
            "style": np.ascontiguousarray(style_weights, dtype=np.float32),
        }
        try:
            (out,) = self.session.run(["stylized"], feeds)
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are long
            raise StylelabError(f"{self.name}: onnxruntime failed ({_first_line(exc)})") from None
        return out

    def info(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "styles": self.styles,
            "format": "onnx",
            "runtime": self.runtime,
            "onnx_file": str(self.path),
            "opset": _opset(self.path),
            "providers": list(self.session.get_providers()),
            "stylelab_version": self.stylelab_version,
            "training": self.training,
        }


def load_onnx(path: str | os.PathLike, device: str = "auto", precision: str = "auto") -> OnnxModel:
    """Open an ONNX file written by ``stylelab export``; anything else is a one-line error.

    ``device``: auto (CUDA when onnxruntime has it, else CPU), cpu or cuda; ``precision``:
    the exported graph is float32, so auto or fp32."""
    if not isinstance(path, (str, os.PathLike)):
        raise StylelabError(f"model path must be a path, got {show(path)}")
    check_onnx_options(device, precision)
    file = check_input_file(path, "model file")
    return session_model(str(file), one_line(file), file, device, precision)


def check_onnx_options(device: object, precision: object) -> None:
    if device not in ("auto", "cpu", "cuda"):
        raise StylelabError(f"--device {show(device)}: an ONNX model runs on auto, cpu or cuda")
    if precision not in ("auto", "fp32"):
        raise StylelabError(
            f"--precision {show(precision)}: an exported ONNX model is float32 (auto or fp32)"
        )


def quiet_onnxruntime() -> Any:
    """onnxruntime, imported by every stylelab path that uses it. Without telemetry, unless
    the user set ``ORT_DISABLE_TELEMETRY`` themselves: since 1.29 it sends usage events
    from Linux too, and under an unwritable $HOME its import printed a coloured warning
    line (it could not save a device ID) before a command's one line. Its process-wide
    logger is set to errors only."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    return ort


def open_session(
    source: str | bytes, label: str, path: Path, device: str = "auto", precision: str = "auto"
) -> tuple[Any, bool]:
    """(an onnxruntime session on ``source``, whether it runs on CUDA); any file that
    onnxruntime cannot load, or whose metadata is out of bounds, is one line."""
    check_onnx_options(device, precision)
    try:
        ort = quiet_onnxruntime()
    except ImportError:
        raise StylelabError(
            f"{label}: running an ONNX model needs onnxruntime: {ONNX_EXTRA}"
        ) from None
    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise StylelabError("--device cuda: this onnxruntime has no CUDA provider")
    use_cuda = device in ("cuda", "auto") and "CUDAExecutionProvider" in available
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else None
    graph = source if isinstance(source, bytes) else None
    check_onnx_metadata_size(path, graph)  # bounded before onnxruntime parses it
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: warnings would break the one-line rule
    try:
        session = ort.InferenceSession(
            source, sess_options=options, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as exc:  # noqa: BLE001 - any loader failure is the file's fault
        raise StylelabError(f"{label}: not a readable ONNX model ({_first_line(exc)})") from None
    return session, use_cuda


def check_export_metadata(meta: dict[str, str], label: str, expected: str, what: str) -> None:
    """One line unless ``meta`` is that of an export of format ``expected``, in the version
    of it this stylelab reads (:data:`stylelab.exportformats.VERSIONS`)."""
    version = VERSIONS[expected]
    found = meta.get("format")
    if found != expected and found in EXPORT_KINDS:
        kind, command = EXPORT_KINDS[str(found)]
        raise StylelabError(f"{label}: the export of {kind}; run it with {command}")
    if found != expected:
        raise StylelabError(
            f"{label}: an ONNX model, but not {what} (no '{expected}' metadata); make one "
            "with 'stylelab export MODEL.safetensors -o MODEL.onnx'"
        )
    if meta.get("format_version") != version:
        raise StylelabError(
            f"{label}: export format version {show(meta.get('format_version'))}; "
            f"this stylelab reads version {version}"
        )


def session_model(
    source: str | bytes, label: str, path: Path, device: str = "auto", precision: str = "auto"
) -> OnnxModel:
    """An onnxruntime session on ``source`` (a file name, or the graph's bytes), checked to
    be a stylelab export; ``label`` names the model in errors, ``path`` is the graph's file."""
    session, use_cuda = open_session(source, label, path, device, precision)
    meta = dict(session.get_modelmeta().custom_metadata_map)
    check_export_metadata(meta, label, ONNX_FORMAT, "a stylelab export")
    styles = style_names(meta.get("styles"), label)
    inputs = {i.name: i.shape for i in session.get_inputs()}
    if set(inputs) != {"image", "style"} or [o.name for o in session.get_outputs()] != ["stylized"]:
        raise StylelabError(
            f"{label}: damaged export (inputs {sorted(inputs)}; expected image, style)"
        )
    if inputs["style"][-1] != len(styles):
        raise StylelabError(
            f"{label}: damaged export ({len(styles)} style names for a style input "
            f"of {inputs['style'][-1]})"
        )
    training = _json(meta.get("training", "{}"), label)
    return OnnxModel(
        path=path,
        session=session,
        styles=styles,
        architecture=str(meta.get("architecture", "?")),
        training=training if isinstance(training, dict) else {},
        stylelab_version=str(meta.get("stylelab_version", "")),
        device="cuda" if use_cuda else "cpu",
        label=label,
    )


def _json(text: object, label: str) -> Any:
    try:
        return json.loads(str(text))
    except (ValueError, RecursionError):
        raise StylelabError(f"{label}: damaged metadata (not JSON)") from None


def _opset(path: Path) -> int | None:
    """The default-domain opset of the model, when onnx is installed."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - onnx is optional here; the figure is informative
        return None
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return one_line(text.splitlines()[0] if text else type(exc).__name__)[:300]

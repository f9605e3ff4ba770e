"""The fastest runtime by default: a .safetensors model runs through its ONNX export,
made once and kept in a cache (no torch import when the cache holds it).

``stylelab apply m.safetensors`` (and ``video``, ``serve``, :func:`stylelab.fast.open_model`)
with ``runtime="auto"`` looks here first. An entry is the export that ``stylelab export``
writes (the same self-check against PyTorch: above 1e-3 on [0, 1] nothing is kept) plus a
manifest:

    <cache>/onnx/<key>.onnx     the graph (opset :data:`OPSET`)
    <cache>/onnx/<key>.json     {"onnx_sha256", "model_sha256", "stylelab_version", ...}

``key`` = SHA-256 of (the model file's bytes, stylelab's version, the opset), so a changed
model, a new stylelab or another opset never meets an old export. An entry is used only if
the SHA-256 of the graph's bytes equals the manifest's and onnxruntime opens those very
bytes (read once, hashed, handed over: nothing can change between the check and the use);
otherwise it is damaged and rebuilt. Both files are written atomically, the manifest last.

The cache folder: ``$STYLELAB_CACHE``, else ``$XDG_CACHE_HOME/stylelab``, else
``~/.cache/stylelab``; never beside the user's model. A folder that cannot be written,
or none (no home folder), makes ``auto`` run on PyTorch with a one-line note, never fail.

Only a miss imports torch (to export); the hit path is hashlib, json and onnxruntime.
Two kinds of model share it (:data:`KINDS`): fast models (``stylelab apply``) and
instant models (``stylelab instant``, :mod:`stylelab.adain.runtime`); each names how it is
loaded, exported (with its self-check) and opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any, NamedTuple

from stylelab.errors import StylelabError
from stylelab.safety import atomic_path, check_input_file, one_line

CACHE_ENV = "STYLELAB_CACHE"
OPSET = 18  # stylelab.fast.export.OPSET (a test keeps the two equal; that module imports torch)
RUNTIMES = ("auto", "onnx", "torch")
ONNX_DEVICES = ("auto", "cpu", "cuda")
ONNX_PRECISIONS = ("auto", "fp32")
CHUNK = 1 << 20
MANIFEST_BYTES = 10_000


class KindSteps(NamedTuple):
    """How a model kind is loaded (the .safetensors), exported (checked) and opened (the
    graph's bytes), each as "module:function"; only a miss imports the first two (torch)."""

    load: str
    export: str
    open: str


KINDS = {
    "fast": KindSteps(
        "stylelab.fast.modelfile:load_model",
        "stylelab.fast.export:export_model",
        "stylelab.fast.runtime:session_model",
    ),
    "instant": KindSteps(
        "stylelab.adain.modelfile:load_decoder",
        "stylelab.adain.export:export_instant",
        "stylelab.adain.runtime:instant_session",
    ),
}


def kind_function(kind: str, step: str) -> Callable[..., Any]:
    """The ``step`` (a field of :class:`KindSteps`) of a model ``kind`` of :data:`KINDS`."""
    module, name = getattr(KINDS[kind], step).split(":")
    return getattr(import_module(module), name)


def cache_folder() -> Path | None:
    """``$STYLELAB_CACHE``, else ``$XDG_CACHE_HOME/stylelab`` (absolute, as the XDG spec
    says), else ``~/.cache/stylelab``; None when the home folder is unknown (a container
    user without a passwd entry and no $HOME: ``~`` stayed ``~`` and a folder of that name
    was made in the working folder)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "stylelab"
    home = os.path.expanduser("~")
    return Path(home) / ".cache" / "stylelab" if os.path.isabs(home) else None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def entry_key(model_sha256: str, version: str | None = None, opset: int = OPSET) -> str:
    """The entry's name: SHA-256 of (model bytes' hash, stylelab version, opset)."""
    if version is None:
        from stylelab import __version__ as version
    text = f"stylelab-onnx-cache|{model_sha256}|{version}|{opset}"
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def entry_paths(model_sha256: str, folder: Path) -> tuple[Path, Path]:
    """(graph, manifest) of the model whose bytes hash to ``model_sha256`` in ``folder``
    (:func:`cache_folder`)."""
    where = folder / "onnx"
    key = entry_key(model_sha256)
    return where / f"{key}.onnx", where / f"{key}.json"


def read_entry(graph: Path, manifest: Path, model_sha256: str) -> bytes | None:
    """The graph's bytes if the entry is whole (manifest names this model, the bytes hash
    to the manifest's digest); None for a miss or a damaged entry (a FIFO or a folder in
    its place included: it is never opened, so it cannot block)."""
    try:
        if not (manifest.is_file() and graph.is_file()):  # may raise: a folder we cannot search
            return None
        with open(manifest, encoding="utf-8") as handle:
            record = json.loads(handle.read(MANIFEST_BYTES))  # a long one is not ours
        data = graph.read_bytes()
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("model_sha256") != model_sha256:
        return None
    if hashlib.sha256(data).hexdigest() != record.get("onnx_sha256"):
        return None
    return data


def writable(folder: Path) -> bool:
    """True if ``folder`` exists (or can be made) and a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def build_entry(
    record: Any, model: Path, model_sha256: str, graph: Path, manifest: Path, kind: str = "fast"
) -> bytes:
    """Export ``record`` (the loaded ``model``; torch, the export's self-check) to
    ``graph``, then write the manifest."""
    export_model = kind_function(kind, "export")
    for stale in (manifest, graph):  # a damaged entry is replaced, never reused
        with contextlib.suppress(OSError):
            stale.unlink()
    report = export_model(record, graph, opset=OPSET)
    data = graph.read_bytes()
    record = {
        "model_sha256": model_sha256,
        "onnx_sha256": hashlib.sha256(data).hexdigest(),
        "stylelab_version": _version(),
        "opset": OPSET,
        "max_abs_difference": report.max_abs_difference,
        "model": str(model),
        "kind": kind,
    }
    with atomic_path(manifest) as tmp:
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return data


def export_in_memory(model: Any, kind: str = "fast") -> bytes:
    """The checked export of ``model`` (a loaded record) without keeping it (the cache
    cannot be written)."""
    export_model = kind_function(kind, "export")
    with tempfile.TemporaryDirectory(prefix="stylelab-onnx-") as work:
        out = Path(work) / "model.onnx"
        export_model(model, out, opset=OPSET)
        return out.read_bytes()


def _version() -> str:
    from stylelab import __version__

    return __version__


def onnx_unusable(device: str, precision: str) -> str | None:
    """Why ``runtime=auto`` should run PyTorch for these settings, or None: onnxruntime
    missing, a device or precision only PyTorch has, or a GPU that only torch can use."""
    if device not in ONNX_DEVICES:
        return f"--device {device}"
    if precision not in ONNX_PRECISIONS:
        return f"--precision {precision}"
    try:
        from stylelab.fast.runtime import quiet_onnxruntime

        ort = quiet_onnxruntime()
    except ImportError:
        return "onnxruntime is not installed"
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        return "this onnxruntime has no CUDA provider"
    if device == "auto" and not has_cuda and os.path.exists("/proc/driver/nvidia/version"):
        return "an NVIDIA GPU that only PyTorch can use here"
    return None


def check_runtime(runtime: object) -> str:
    if not isinstance(runtime, str) or runtime not in RUNTIMES:
        raise StylelabError(
            f"--runtime {one_line(repr(runtime))[:60]}: choose from {', '.join(RUNTIMES)}"
        )
    return runtime


def open_cached(
    path: str | os.PathLike,
    device: str,
    precision: str,
    runtime: str = "auto",
    quiet: bool = False,
    kind: str = "fast",
) -> Any | None:
    """The model of a .safetensors file on onnxruntime through its cached export (made on
    a miss), or None when ``runtime="auto"`` should run PyTorch instead; with
    ``runtime="onnx"`` every reason not to is a one-line error. Notes (an export being
    made, a fallback) go to stderr unless ``quiet``."""
    from stylelab.fast.runtime import ONNX_EXTRA

    session_model = kind_function(kind, "open")

    def note(text: str) -> None:
        if not quiet:
            print(f"stylelab: note: {one_line(text)}", file=sys.stderr)

    required = runtime == "onnx"
    why_not = onnx_unusable(device, precision)
    if why_not is not None:
        if required:
            extra = f": {ONNX_EXTRA}" if "installed" in why_not else ""
            raise StylelabError(f"--runtime onnx: {why_not}{extra}")
        return None
    model = check_input_file(path, "model file")
    digest = file_sha256(model)
    folder = cache_folder()
    if folder is not None:
        graph, manifest = entry_paths(digest, folder)
        data = read_entry(graph, manifest, digest)
        if data is not None:
            with contextlib.suppress(StylelabError):  # opened only if whole; else rebuilt
                return session_model(data, one_line(model), graph, device, precision)
    # a file that is no model is the user's one-line error
    record = kind_function(kind, "load")(model)
    if folder is None or not writable(graph.parent):
        where = (
            "no cache folder ($HOME is unknown)"
            if folder is None
            else f"cache folder {one_line(graph.parent)} is not writable"
        )
        if not required:
            note(f"{where}: running on PyTorch (set {CACHE_ENV})")
            return None
        note(f"{where}: the ONNX export is not kept")
        data = export_in_memory(record, kind)
        # the record's onnx_file: where it would have been kept, or that it never was
        kept_as = Path(f"{model} (exported in memory)") if folder is None else graph
        return session_model(data, one_line(model), kept_as, device, precision)
    note(f"{one_line(model)}: exporting to ONNX once, kept in {one_line(graph.parent)}")
    try:
        data = build_entry(record, model, digest, graph, manifest, kind)
    except StylelabError as exc:
        if required:
            raise
        note(f"{exc}; running on PyTorch")
        return None
    return session_model(data, one_line(model), graph, device, precision)

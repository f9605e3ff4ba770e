"""Fast style transfer: feed-forward networks trained once per style set, applied in one
forward pass (Johnson et al. 2016; Ulyanov et al. 2017; Dumoulin et al. 2017).

    import stylelab.fast
    model = stylelab.fast.load("m.safetensors")
    image = model.stylize("photo.jpg", style="starry_night")
    model = stylelab.fast.open_model("m.onnx")   # its ONNX export, on onnxruntime (no torch)

Modules: ``nets`` (architectures, conditional instance norm), ``data`` (photos, crops),
``training`` (the loop), ``modelfile`` (safetensors in and out), ``pipeline`` (the one way
a model is applied, any size in, same size out, over a backend: ``apply`` for PyTorch,
``runtime`` for onnxruntime).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylelab.errors import StylelabError
from stylelab.safety import one_line

if TYPE_CHECKING:
    from stylelab.fast.apply import FastModel, load
    from stylelab.fast.config import TrainConfig
    from stylelab.fast.pipeline import StyleModel
    from stylelab.fast.training import train

__all__ = ["FastModel", "StyleModel", "TrainConfig", "load", "open_model", "train"]


def open_model(
    path: str | os.PathLike,
    device: str = "auto",
    precision: str = "auto",
    runtime: str = "auto",
    *,
    quiet: bool = False,
) -> StyleModel:
    """The model of a file in the one pipeline.

    An .onnx export runs on onnxruntime, without torch
    (:class:`stylelab.fast.runtime.OnnxModel`). A .safetensors model runs, with
    ``runtime``: ``auto`` on onnxruntime through its export cached once
    (:mod:`stylelab.fast.cache`; no torch import on a hit) when onnxruntime is installed
    and ``device``/``precision`` are ones it has, else on PyTorch; ``onnx`` always through
    the export; ``torch`` on PyTorch (:class:`stylelab.fast.apply.FastModel`), with the
    intra-op threads of :func:`stylelab.threads.configure_torch_threads`. ``quiet``: no
    notes on stderr (an export being made, a fallback to PyTorch)."""
    from stylelab.fast.cache import check_runtime
    from stylelab.fast.pipeline import StyleModel

    check_runtime(runtime)
    suffix = Path(path).suffix.lower() if isinstance(path, (str, os.PathLike)) else ""
    if suffix == ".onnx":
        if runtime == "torch":
            raise StylelabError(
                f"{one_line(path)}: an ONNX export runs on onnxruntime; --runtime torch takes "
                "the .safetensors model"
            )
        from stylelab.fast.runtime import load_onnx

        return StyleModel(load_onnx(path, device=device, precision=precision))
    if suffix == ".pt":
        raise StylelabError(
            f"{one_line(path)}: a TorchScript export is for LibTorch (C++, mobile); stylelab "
            "applies the .safetensors model or its .onnx export"
        )
    if runtime != "torch" and isinstance(path, (str, os.PathLike)):
        from stylelab.fast.cache import open_cached

        cached = open_cached(path, device, precision, runtime, quiet=quiet)
        if cached is not None:
            return StyleModel(cached)
    from stylelab.threads import configure_torch_threads

    configure_torch_threads()
    from stylelab.fast import apply as fast

    return StyleModel(fast.load(path, device=device, precision=precision))


def __getattr__(name: str) -> Any:
    if name in ("FastModel", "load"):
        from stylelab.fast import apply

        return getattr(apply, name)
    if name == "StyleModel":
        from stylelab.fast.pipeline import StyleModel

        return StyleModel
    if name == "TrainConfig":
        from stylelab.fast.config import TrainConfig

        return TrainConfig
    if name == "train":
        from stylelab.fast.training import train

        return train
    raise AttributeError(f"module 'stylelab.fast' has no attribute {name!r}")

"""Fast style transfer: feed-forward networks trained once per style set, applied in one
forward pass (Johnson et al. 2016; Ulyanov et al. 2017; Dumoulin et al. 2017).

    import stylelab.fast
    model = stylelab.fast.load("m.safetensors")
    image = model.stylize("photo.jpg", style="starry_night")

Modules: ``nets`` (architectures, conditional instance norm), ``data`` (photos, crops),
``training`` (the loop), ``modelfile`` (safetensors in and out), ``apply`` (any size in,
same size out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stylelab.fast.apply import FastModel, load
    from stylelab.fast.config import TrainConfig
    from stylelab.fast.training import train

__all__ = ["FastModel", "TrainConfig", "load", "train"]


def __getattr__(name: str) -> Any:
    if name in ("FastModel", "load"):
        from stylelab.fast import apply

        return getattr(apply, name)
    if name == "TrainConfig":
        from stylelab.fast.config import TrainConfig

        return TrainConfig
    if name == "train":
        from stylelab.fast.training import train

        return train
    raise AttributeError(f"module 'stylelab.fast' has no attribute {name!r}")

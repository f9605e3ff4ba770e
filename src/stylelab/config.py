"""The one description of a stylization: a frozen dataclass that the CLI flags derive from.

Every field's ``metadata["help"]`` is its CLI help; tuple fields are comma-separated on
the command line. Validation that needs no network happens here, at construction.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from stylelab.errors import StylelabError

INITS = ("content", "noise", "style")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _opt(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class StylizeConfig:
    """Settings of one Gatys-style optimization (defaults give a good image at 256-512 px)."""

    size: int = _opt(512, "longer edge of the output, in pixels")
    style_scale: float = _opt(1.0, "style image size relative to --size")
    backbone: str = _opt("vgg19", "feature network (see 'stylelab layers')")
    weights: str = _opt("pretrained", "pretrained | torchvision | random | PATH to a state dict")
    pooling: str = _opt("max", "max | avg pooling in VGG")
    content_layers: tuple[str, ...] | None = _opt(
        None, "comma-separated content layers (default: the backbone's, relu4_2 for VGG)"
    )
    style_layers: tuple[str, ...] | None = _opt(
        None, "comma-separated style layers (default: the backbone's, relu1_1..relu5_1 for VGG)"
    )
    style_layer_weights: tuple[float, ...] | None = _opt(
        None, "comma-separated weight per style layer (default 1/|L| each)"
    )
    content_weight: float = _opt(1.0, "alpha, weight of the content loss")
    style_weight: float = _opt(30.0, "beta, weight of the style loss")
    tv_weight: float = _opt(0.0, "gamma, weight of the total variation (mean over pixels)")
    normalize_losses: bool = _opt(
        True, "divide each layer's loss by its target's own size, so weights carry over"
    )
    smoothing: str = _opt(
        "none",
        "SWAG activation smoothing before the losses: none | softmax | channel-softmax | "
        "scale | nested-softmax (Wang, Li & Vasconcelos 2021)",
    )
    temperature: float = _opt(1.0, "softmax temperature T of the smoothing, exp(F / T)")
    relative_temperature: bool = _opt(
        True,
        "T in units of each smoothed layer's peak activation over the content and style "
        "images, exp(F / (T max|F|)); --no-relative-temperature takes T as is (the paper's)",
    )
    smoothing_scale: float = _opt(
        0.001, "factor A of 'scale' and 'channel-softmax' (cancels with normalized losses)"
    )
    smoothing_layers: tuple[str, ...] | None = _opt(
        None, "comma-separated layers to smooth (default: all loss layers)"
    )
    style_blend: tuple[float, ...] | None = _opt(
        None, "blend weights of several style images, e.g. 0.7,0.3 (default equal)"
    )
    optimizer: str = _opt("lbfgs", "lbfgs | adam | sgd | adagrad | adadelta | rmsprop")
    lr: float | None = _opt(None, "learning rate (default: the optimizer's, see README)")
    init: str = _opt("content", "content | noise | style | PATH to an image")
    steps: int = _opt(300, "iterations (for L-BFGS: loss evaluations)")
    seed: int = _opt(0, "seed for random weights and noise")
    device: str = _opt("auto", "auto | cpu | cuda | mps")
    precision: str = _opt(
        "auto",
        "auto | fp32 | bf16 | fp16: autocast of the backbone (auto: bf16/fp16 on CUDA, "
        "bf16 on CPUs with native bf16, else fp32)",
    )
    multiscale: bool = _opt(
        True, "coarse to fine: optimize at smaller sizes first, upsample, refine (--no-multiscale)"
    )
    scales: tuple[float, ...] | None = _opt(
        None,
        "comma-separated fractions of --size, increasing, ending at 1 "
        "(default: halve down to 128 px, at most 3 sizes, e.g. 0.25,0.5,1 at 512)",
    )

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> StylizeConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }


def validate(config: StylizeConfig) -> None:
    """Refuse values that can never work; each error names the option."""
    from stylelab.optim import list_optimizers
    from stylelab.precision import PRECISIONS
    from stylelab.schedule import check_scales

    for name in ("content_weight", "style_weight", "tv_weight", "style_scale"):
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise StylelabError(f"--{_flag(name)} must be a finite number >= 0, got {value!r}")
    if config.style_scale <= 0:
        raise StylelabError(f"--style-scale must be > 0, got {config.style_scale}")
    for name in ("style_layer_weights", "style_blend"):
        values = getattr(config, name)
        if values is not None and (
            not values or any(not math.isfinite(v) or v < 0 for v in values) or sum(values) <= 0
        ):
            raise StylelabError(
                f"--{_flag(name)} needs finite non-negative numbers with a positive sum, "
                f"got {values!r}"
            )
    if not isinstance(config.steps, int) or config.steps <= 0:
        raise StylelabError(f"--steps must be a positive integer, got {config.steps!r}")
    if not isinstance(config.size, int) or config.size < 16:
        raise StylelabError(f"--size must be an integer >= 16, got {config.size!r}")
    if config.lr is not None and (not math.isfinite(config.lr) or config.lr <= 0):
        raise StylelabError(f"--lr must be a finite number > 0, got {config.lr!r}")
    if config.optimizer not in list_optimizers():
        raise StylelabError(
            f"unknown optimizer {config.optimizer!r}; choose from: {', '.join(list_optimizers())}"
        )
    if config.device not in DEVICES:
        raise StylelabError(f"unknown device {config.device!r}; choose from: {', '.join(DEVICES)}")
    if config.precision not in PRECISIONS:
        raise StylelabError(
            f"unknown precision {config.precision!r}; choose from: {', '.join(PRECISIONS)}"
        )
    if config.scales is not None:
        check_scales(config.scales)
    from stylelab.backbones.registry import check_pooling
    from stylelab.smoothing import check_smoothing

    check_pooling(config.backbone, config.pooling)
    check_smoothing(config.smoothing, config.temperature, config.smoothing_scale)
    for name in ("content_layers", "style_layers", "smoothing_layers"):
        layers = getattr(config, name)
        if layers is not None and not layers:
            raise StylelabError(f"--{_flag(name)} is empty")
    if (
        config.style_layers is not None
        and config.style_layer_weights is not None
        and len(config.style_layers) != len(config.style_layer_weights)
    ):
        raise StylelabError(
            f"--style-layer-weights has {len(config.style_layer_weights)} values for "
            f"{len(config.style_layers)} style layers"
        )


def _flag(name: str) -> str:
    return name.replace("_", "-")

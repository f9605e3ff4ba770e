"""What to train and for how long: :class:`TrainConfig`, validated at construction.

Light on purpose (no torch import), so that the command line builds its parser fast.
The loss is a :class:`stylelab.config.StylizeConfig`, of which :data:`LOSS_FIELDS` count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError
from stylelab.fast.designs import ARCHITECTURES
from stylelab.limits import MAX_LIST_LENGTH, MAX_LR, in_range, show

BUILTIN_PHOTOS = "example:photos"
ARCHITECTURE_NAMES = tuple(sorted(ARCHITECTURES))
MAX_TRAIN_STEPS = 10**9

DEFAULT_LR = 2e-3
#: lambda of the warp-consistency term (stylelab.fast.temporal); chosen by
#: benchmarks/bench_temporal.py (docs/video.md). 0 turns it off.
DEFAULT_TEMPORAL_WEIGHT = 20.0
MAX_TEMPORAL_WEIGHT = 1e6
#: The loss of training differs from stylize's in one default: beta = 5, not 30 (a network
#: trained from scratch for a few hundred steps keeps no content under beta = 30; docs/fast.md).
LOSS_DEFAULTS: dict[str, Any] = {"style_weight": 5.0}


def default_loss() -> StylizeConfig:
    """stylize's settings with :data:`LOSS_DEFAULTS` (built on call, when needed)."""
    return StylizeConfig(**LOSS_DEFAULTS)


#: StylizeConfig fields that mean something for training (the loss); the others do not.
LOSS_FIELDS = (
    "style_scale",
    "backbone",
    "weights",
    "pooling",
    "content_layers",
    "style_layers",
    "style_layer_weights",
    "content_weight",
    "style_weight",
    "tv_weight",
    "normalize_losses",
    "smoothing",
    "temperature",
    "relative_temperature",
    "smoothing_scale",
    "smoothing_layers",
    "seed",
    "device",
    "precision",
)
MAX_TRAIN_SIZE = 2048
MAX_BATCH = 256
#: A year: a time limit beyond it is no limit (and stays far from float overflow).
MAX_MINUTES = 525_600


@dataclass(frozen=True)
class TrainConfig:
    """What to train and for how long; the loss is a :class:`StylizeConfig`."""

    styles: tuple[str, ...]
    data: str = BUILTIN_PHOTOS
    architecture: str = "compact"
    train_size: int = 256
    batch_size: int = 4
    steps: int = 2000
    lr: float = DEFAULT_LR
    max_minutes: float | None = None
    checkpoint_every: int = 100
    sample_every: int = 100
    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT
    loss: StylizeConfig = field(default_factory=default_loss)

    def __post_init__(self) -> None:
        if isinstance(self.styles, list):
            object.__setattr__(self, "styles", tuple(self.styles))
        if not isinstance(self.styles, tuple):
            raise StylelabError(f"styles must be a tuple of style images, got {show(self.styles)}")
        if not self.styles:
            raise StylelabError("train needs at least one style image")
        if len(self.styles) > MAX_LIST_LENGTH:
            raise StylelabError(
                f"train takes at most {MAX_LIST_LENGTH} style images, got {len(self.styles)}"
            )
        for style in self.styles:
            if not isinstance(style, str) or not style or "\0" in style:
                raise StylelabError(
                    f"a style image must be a path or example:NAME, got {show(style)}"
                )
        if not isinstance(self.data, str) or not self.data or "\0" in self.data:
            raise StylelabError(f"--data must be a folder or example:NAME, got {show(self.data)}")
        if not isinstance(self.loss, StylizeConfig):
            raise StylelabError(f"loss must be a StylizeConfig, got {show(self.loss)}")
        if not isinstance(self.architecture, str) or self.architecture not in ARCHITECTURE_NAMES:
            raise StylelabError(
                f"unknown architecture {show(self.architecture)}; choose from: "
                f"{', '.join(ARCHITECTURE_NAMES)}"
            )
        _int_in("train-size", self.train_size, 32, MAX_TRAIN_SIZE)
        stride = ARCHITECTURES[self.architecture].stride
        if self.train_size % stride:  # the crops go through the network unpadded
            lower = self.train_size - self.train_size % stride
            raise StylelabError(
                f"--train-size must be a multiple of {stride} for --arch {self.architecture} "
                f"(its total stride), got {self.train_size}: use {max(lower, 32)} or "
                f"{lower + stride}"
            )
        _int_in("batch-size", self.batch_size, 1, MAX_BATCH)
        _int_in("steps", self.steps, 1, MAX_TRAIN_STEPS)
        _int_in("checkpoint-every", self.checkpoint_every, 1, 10**9)
        _int_in("sample-every", self.sample_every, 1, 10**9)
        if not in_range(self.lr, 0.0, MAX_LR, open_low=True):
            raise StylelabError(
                f"--lr must be a finite number > 0 (at most {MAX_LR:g}), got {show(self.lr)}"
            )
        if not in_range(self.temporal_weight, 0.0, MAX_TEMPORAL_WEIGHT):
            raise StylelabError(
                "--temporal-weight must be a finite number from 0 (off) to "
                f"{MAX_TEMPORAL_WEIGHT:g}, got {show(self.temporal_weight)}"
            )
        if self.max_minutes is not None and not in_range(
            self.max_minutes, 0.0, MAX_MINUTES, open_low=True
        ):
            raise StylelabError(
                f"--max-minutes must be a finite number > 0 (at most {MAX_MINUTES}), "
                f"got {show(self.max_minutes)}"
            )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["styles"] = list(self.styles)
        out["loss"] = {k: v for k, v in self.loss.to_dict().items() if k in LOSS_FIELDS}
        return out


def _int_in(flag: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise StylelabError(f"--{flag} must be an integer from {low} to {high}, got {show(value)}")

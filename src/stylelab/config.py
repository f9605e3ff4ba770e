"""The one description of a stylization: a frozen dataclass that the CLI flags derive from.

Every field's ``metadata["help"]`` is its CLI help; tuple fields are comma-separated on
the command line. Validation that needs no network happens here, at construction.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stylelab.errors import StylelabError
from stylelab.limits import (
    MAX_LIST_LENGTH,
    MAX_LR,
    MAX_SCALES,
    MAX_SEED,
    MAX_SIZE,
    MAX_SMOOTHING_SCALE,
    MAX_STEPS,
    MAX_STYLE_SCALE,
    MAX_TEMPERATURE,
    MAX_TEXT_LENGTH,
    MAX_WEIGHT,
    MIN_SIZE,
    MIN_SMOOTHING_SCALE,
    MIN_TEMPERATURE,
    as_float,
    in_range,
    is_real,
    show,
)
from stylelab.schedule import check_scales

INITS = ("content", "noise", "style")
DEVICES = ("auto", "cpu", "cuda", "mps")
POOLINGS = ("max", "avg")
#: The names of :data:`stylelab.optim.OPTIMIZERS`, :data:`stylelab.precision.PRECISIONS`
#: and the smoothings, spelled out here so that validating needs no torch (a test checks
#: that they agree).
OPTIMIZER_NAMES = ("lbfgs", "adam", "sgd", "adagrad", "adadelta", "rmsprop")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SMOOTHINGS = ("none", "softmax", "channel-softmax", "scale", "nested-softmax")
PRESERVE_COLORS = ("none", "luminance", "histogram")  # see stylelab.color
MIN_TILE = 64


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
    lr: float | None = _opt(None, "learning rate (default: the optimizer's, see docs/stylize.md)")
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
    preserve_color: str = _opt(
        "none",
        "keep the photo's colours (Gatys et al. 2017): none | luminance (transfer on "
        "luminance, then the photo's chroma) | histogram (the style's colours matched to the "
        "photo's mean and covariance first)",
    )
    mask: str = _opt(
        "",
        "an image whose flat colours name regions of the photo (with --region-style; "
        "Gatys et al. 2017 guided Grams)",
    )
    region_style: str = _opt(
        "",
        "a style per mask colour: #rrggbb=STYLE,... with STYLE a 0-based index or path of "
        "the styles given, or none (the photo is kept there)",
    )
    tile: str = _opt(
        "off",
        "posters beyond memory: off | auto (the scales that do not fit are optimized in "
        "512 px tiles) | N (tiles of N px at every scale larger than N); style Grams stay "
        "global, tiles are blended with feathered overlaps",
    )
    tile_overlap: int = _opt(64, "overlap of neighbouring tiles in px (feathered)")

    def __new__(cls, *args: Any, **kwargs: Any) -> StylizeConfig:
        # Runs before the generated __init__: unknown or doubled names are a StylelabError
        # naming the option (with the close one), not Python's TypeError.
        check_field_names(kwargs, "StylizeConfig()")
        names = field_names()
        if len(args) > len(names):
            raise StylelabError(
                f"StylizeConfig() takes at most {len(names)} positional values, got {len(args)}"
            )
        doubled = [name for name in names[: len(args)] if name in kwargs]
        if doubled:
            raise StylelabError(f"StylizeConfig() got two values for {doubled[0]!r}")
        return super().__new__(cls)

    def __post_init__(self) -> None:
        for name, value in _normalized(self).items():
            object.__setattr__(self, name, value)
        validate(self)

    def replace(self, **changes: Any) -> StylizeConfig:
        """A copy with ``changes`` (field names; a StylelabError for any other name)."""
        check_field_names(changes, "StylizeConfig.replace()")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> StylizeConfig:
        """A config from ``{field: value}`` (e.g. :meth:`to_dict`'s output; lists become
        tuples); unknown names are a StylelabError naming the close one."""
        if not isinstance(values, Mapping):
            raise StylelabError(f"expected a dict of StylizeConfig fields, got {show(values)}")
        bad = [key for key in values if not isinstance(key, str)]
        if bad:
            raise StylelabError(f"StylizeConfig fields are named by strings, got {show(bad[0])}")
        return cls(**values)


@functools.lru_cache(maxsize=1)
def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(StylizeConfig))


def check_field_names(names: Iterable[str], where: str = "stylize()") -> None:
    """A one-line StylelabError for the first name that is not a StylizeConfig field,
    with the closest field (difflib) as a suggestion."""
    known = field_names()
    for name in names:
        if name in known:
            continue
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; options: {', '.join(known)}"
        raise StylelabError(f"{where} got an unknown option {show(name)}{hint}")


# Field kinds, for the type checks (the annotations, spelled out: no typing at run time).
BOOL_FIELDS = ("normalize_losses", "relative_temperature", "multiscale")
INT_FIELDS = ("size", "steps", "seed", "tile_overlap")
FLOAT_FIELDS = (
    "style_scale",
    "content_weight",
    "style_weight",
    "tv_weight",
    "temperature",
    "smoothing_scale",
    "lr",
)
STR_FIELDS = (
    "backbone",
    "weights",
    "pooling",
    "smoothing",
    "optimizer",
    "init",
    "device",
    "precision",
    "preserve_color",
    "mask",
    "region_style",
    "tile",
)
NAME_TUPLE_FIELDS = ("content_layers", "style_layers", "smoothing_layers")
NUMBER_TUPLE_FIELDS = ("style_layer_weights", "style_blend", "scales")


def _normalized(config: StylizeConfig) -> dict[str, Any]:
    """Lossless conversions of friendly values: lists to tuples for the tuple fields, and
    numpy scalars to Python's int and float (so the config stays hashable and JSON-able)."""
    changes: dict[str, Any] = {}
    for name in NAME_TUPLE_FIELDS + NUMBER_TUPLE_FIELDS:
        value = getattr(config, name)
        if isinstance(value, list):
            value = changes[name] = tuple(value)
        if name in NUMBER_TUPLE_FIELDS and isinstance(value, tuple):
            exotic = [type(v) not in (int, float) and is_real(v) for v in value]
            if any(exotic) and all(as_float(v) is not None for v in value):
                changes[name] = tuple(
                    as_float(v) if odd else v for v, odd in zip(value, exotic, strict=True)
                )
    for name in INT_FIELDS:
        value = getattr(config, name)
        if type(value) is not int and isinstance(value, numbers.Integral) and not _is_bool(value):
            changes[name] = int(value)
    for name in FLOAT_FIELDS:
        value = getattr(config, name)
        if type(value) not in (int, float) and is_real(value) and not _is_bool(value):
            number = as_float(value)
            if number is not None:
                changes[name] = number
    return changes


def _is_bool(value: object) -> bool:
    return isinstance(value, bool) or type(value).__name__ in ("bool_", "bool")


def validate(config: StylizeConfig) -> None:
    """Refuse values that can never work, each in one line that names the flag, the value
    and the bound (see :mod:`stylelab.limits`). Light: no torch import."""
    for name in BOOL_FIELDS:
        value = getattr(config, name)
        if not isinstance(value, bool):
            raise StylelabError(f"--{_flag(name)} must be True or False, got {show(value)}")
    for name in STR_FIELDS:
        value = getattr(config, name)
        if not isinstance(value, str):
            raise StylelabError(f"--{_flag(name)} must be a string, got {show(value)}")
        if len(value) > MAX_TEXT_LENGTH:
            raise StylelabError(
                f"--{_flag(name)} is {len(value)} characters long; at most {MAX_TEXT_LENGTH}"
            )
        if "\0" in value:
            raise StylelabError(f"--{_flag(name)} contains a NUL character: {show(value)}")
    _check_int("size", config.size, MIN_SIZE, MAX_SIZE)
    if not _is_int(config.steps) or not 1 <= config.steps <= MAX_STEPS:
        raise StylelabError(
            f"--steps must be a positive integer (at most {MAX_STEPS}), got {show(config.steps)}"
        )
    _check_int("seed", config.seed, 0, MAX_SEED, f"0 to {MAX_SEED} (2**63 - 1)")
    for name in ("content_weight", "style_weight", "tv_weight"):
        _check_weight(name, getattr(config, name))
    scale = config.style_scale
    if not in_range(scale, 0.0, MAX_STYLE_SCALE, open_low=True):
        raise StylelabError(
            f"--style-scale must be a finite number > 0 (at most {MAX_STYLE_SCALE:g}), "
            f"got {show(scale)}"
        )
    style_edge = round(config.size * scale)
    if style_edge > MAX_SIZE:
        raise StylelabError(
            f"--style-scale {scale:g} at --size {config.size} makes the style {style_edge} px; "
            f"the largest is {MAX_SIZE} (lower --style-scale or --size)"
        )
    if config.lr is not None and not in_range(config.lr, 0.0, MAX_LR, open_low=True):
        raise StylelabError(
            f"--lr must be a finite number > 0 (at most {MAX_LR:g}), got {show(config.lr)}"
        )
    check_smoothing(config.smoothing, config.temperature, config.smoothing_scale)
    _check_choice("optimizer", config.optimizer, OPTIMIZER_NAMES)
    _check_choice("device", config.device, DEVICES)
    _check_choice("precision", config.precision, PRECISIONS)
    _check_choice("pooling", config.pooling, POOLINGS)
    _check_choice("--preserve-color", config.preserve_color, PRESERVE_COLORS)
    _check_tile(config.tile, config.tile_overlap)
    if bool(config.mask) != bool(config.region_style):
        given, missing = (
            ("--mask", "--region-style") if config.mask else ("--region-style", "--mask")
        )
        raise StylelabError(f"{given} needs {missing} too")
    if not config.backbone.isprintable() or not config.backbone.strip():
        raise StylelabError(
            f"--backbone {show(config.backbone)} is not a backbone name; "
            "see 'stylelab layers' for the choices"
        )
    if not config.weights:
        raise StylelabError("empty --weights; use pretrained, torchvision, random or a PATH")
    if not config.init:
        raise StylelabError(f"empty --init; choose from: {', '.join(INITS)}, or a PATH to an image")
    for name in NAME_TUPLE_FIELDS:
        layers = _check_tuple(name, getattr(config, name), "layer names")
        if layers is not None:
            for layer in layers:
                if not isinstance(layer, str) or not layer or len(layer) > MAX_TEXT_LENGTH:
                    raise StylelabError(
                        f"--{_flag(name)} needs layer names (strings), got {show(layer)}"
                    )
    for name in ("style_layer_weights", "style_blend"):
        values = _check_tuple(name, getattr(config, name), "numbers")
        if values is not None and (
            not all(in_range(v, 0.0, MAX_WEIGHT) for v in values) or sum(values) <= 0
        ):
            raise StylelabError(
                f"--{_flag(name)} needs finite non-negative numbers (at most {MAX_WEIGHT:g}) "
                f"with a positive sum, got {show(values)}"
            )
    scales = _check_tuple("scales", config.scales, "numbers", MAX_SCALES)
    if scales is not None:
        check_scales(scales)
    if (
        config.style_layers is not None
        and config.style_layer_weights is not None
        and len(config.style_layers) != len(config.style_layer_weights)
    ):
        raise StylelabError(
            f"--style-layer-weights has {len(config.style_layer_weights)} values for "
            f"{len(config.style_layers)} style layers"
        )
    if config.pooling == "avg":  # only then: the registry knows which backbones have it
        from stylelab.backbones.registry import check_pooling

        check_pooling(config.backbone, config.pooling)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(name: str, value: object, low: int, high: int, bounds: str = "") -> None:
    if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
        raise StylelabError(
            f"--{_flag(name)} must be an integer from {bounds or f'{low} to {high}'}, "
            f"got {show(value)}"
        )


def _number(value: object) -> float | None:
    """value as a float, +-inf standing for an int too large for one; None for anything
    that is not a real number, and for a float NaN or inf."""
    number = as_float(value)
    if number is None or math.isnan(number) or (math.isinf(number) and isinstance(value, float)):
        return None
    return number


def _check_weight(name: str, value: object) -> None:
    number = _number(value)
    if number is None or number < 0:
        raise StylelabError(f"--{_flag(name)} must be a finite number >= 0, got {show(value)}")
    if number > MAX_WEIGHT:
        raise StylelabError(f"--{_flag(name)} must be at most {MAX_WEIGHT:g}, got {show(value)}")


def _check_tile(tile: str, overlap: object) -> None:
    """``--tile`` off | auto | N (64..MAX_SIZE) and an overlap under half a tile."""
    sized = tile.isdecimal() and tile.isascii() and MIN_TILE <= int(tile) <= MAX_SIZE
    if tile not in ("off", "auto") and not sized:
        raise StylelabError(
            f"--tile must be off, auto or a tile size from {MIN_TILE} to {MAX_SIZE} px, "
            f"got {show(tile)}"
        )
    _check_int("tile_overlap", overlap, 0, MAX_SIZE // 2)
    if tile not in ("off", "auto") and 2 * int(overlap) >= int(tile):  # type: ignore[call-overload]
        raise StylelabError(f"--tile-overlap {overlap} must be under half of --tile {tile}")


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise StylelabError(f"unknown {name} {show(value)}; choose from: {', '.join(choices)}")


def _check_tuple(
    name: str, value: object, what: str, longest: int = MAX_LIST_LENGTH
) -> tuple[Any, ...] | None:
    """None, or a non-empty tuple of at most ``longest`` items (their kind checked by the
    caller)."""
    if value is None:
        return None
    if not isinstance(value, tuple):
        raise StylelabError(
            f"--{_flag(name)} must be a tuple (or list) of {what}, got {show(value)}"
        )
    if not value:
        raise StylelabError(f"--{_flag(name)} is empty")
    if len(value) > longest:
        raise StylelabError(f"--{_flag(name)} has {len(value)} values; at most {longest}")
    if what == "numbers" and not all(is_real(v) for v in value):
        raise StylelabError(f"--{_flag(name)} needs numbers, got {show(value)}")
    return value


def check_smoothing(method: str = "none", temperature: float = 1.0, factor: float = 0.001) -> None:
    """A one-line error for an unknown method, or a temperature or scale that is not a
    finite number > 0 within its bounds (named by their CLI flags)."""
    if not isinstance(method, str) or method not in SMOOTHINGS:
        raise StylelabError(
            f"unknown smoothing {show(method)}; choose from: {', '.join(SMOOTHINGS)}"
        )
    bounds = (
        ("temperature", temperature, MIN_TEMPERATURE, MAX_TEMPERATURE),
        ("smoothing-scale", factor, MIN_SMOOTHING_SCALE, MAX_SMOOTHING_SCALE),
    )
    for flag, value, low, high in bounds:
        number = _number(value)
        if number is None or number <= 0:
            raise StylelabError(f"--{flag} must be a finite number > 0, got {show(value)}")
        if not low <= number <= high:
            raise StylelabError(f"--{flag} must be from {low:g} to {high:g}, got {show(value)}")


def _flag(name: str) -> str:
    return name.replace("_", "-")

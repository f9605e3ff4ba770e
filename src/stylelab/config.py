"""The one description of a stylization: a frozen dataclass whose fields carry their rules.

Each field is one line: its type, its default, its help and its rules (:func:`option`:
choices, bounds, whether it may name a file). :func:`field_specs` reads them as
:class:`FieldSpec`s, and that table is all that the CLI flags (``cli.common``), the web
page's form (``serve.options``), a sweep's TOML values (``experiments.values``) and
:func:`validate` know of a field. Tuple fields are comma-separated on the command line.
Validation needs no network and no torch, and happens at construction.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stylelab.errors import StylelabError, unknown_option
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
    WEIGHT_KEYWORDS,
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
KINDS = (bool, int, float, str)


@dataclass(frozen=True)
class FieldSpec:
    """One StylizeConfig field as every layer reads it: its ``--flag`` and help (the CLI),
    kind and choices (the web page), TOML type (a sweep) and bounds (:func:`validate`).
    ``name``, ``kind``, ``default``, ``help``, ``many`` and ``optional`` come from the
    field itself; the rest from :func:`option`."""

    name: str
    kind: type  # bool, int, float or str: of the value, or of each item when ``many``
    default: Any
    help: str
    many: bool = False  # a tuple: comma-separated on the command line, a list in TOML
    optional: bool = False  # None is a value (it stands for "the backbone's", ...)
    choices: tuple[str, ...] = ()  # the only values; with ``path``: the names besides a PATH
    low: float | None = None  # bounds (both included) of a number, or of each item
    high: float | None = None
    above_zero: bool = False  # a number must also be > 0
    path: bool = False  # may name a file: the web app takes only ``choices`` or the default
    longest: int = MAX_LIST_LENGTH  # the most items of a tuple
    items: str = ""  # what a tuple holds, for messages (default: names or numbers)
    check: Callable[[str, Any], None] | None = None  # a rule of its own: (flag, value)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


#: What :func:`option` sets; the other attributes come from the field itself.
_FROM_THE_FIELD = ("name", "kind", "default", "help", "many", "optional")
_RULES = frozenset(f.name for f in dataclasses.fields(FieldSpec)) - set(_FROM_THE_FIELD)


def option(default: Any, help: str, **rules: Any) -> Any:
    """A StylizeConfig field: its default, its help and its :class:`FieldSpec` rules
    (``choices``, ``low``, ``high``, ``above_zero``, ``path``, ``longest``, ``items``,
    ``check``); its kind is its annotation."""
    unknown = set(rules) - _RULES
    if unknown:
        raise TypeError(f"option() got unknown rules {sorted(unknown)}; known: {sorted(_RULES)}")
    return field(default=default, metadata={"help": help, "rules": rules})


def _check_backbone(flag: str, name: str) -> None:
    if not name.isprintable() or not name.strip():
        raise StylelabError(
            f"{flag} {show(name)} is not a backbone name; see 'stylelab layers' for the choices"
        )


def _check_weight_sum(flag: str, weights: tuple[float, ...]) -> None:
    if sum(weights) <= 0:
        raise StylelabError(f"{flag} needs weights with a positive sum, got {show(weights)}")


#: The rules of a list of weights: finite, >= 0, with a positive sum.
WEIGHT_LIST: dict[str, Any] = {"low": 0.0, "high": MAX_WEIGHT, "check": _check_weight_sum}


def _check_scales(flag: str, scales: tuple[float, ...]) -> None:
    check_scales(scales)


def _check_tile(flag: str, tile: str) -> None:
    """``--tile`` off | auto | N (MIN_TILE..MAX_SIZE); the overlap is checked with it later."""
    sized = tile.isdecimal() and tile.isascii() and MIN_TILE <= int(tile) <= MAX_SIZE
    if tile not in ("off", "auto") and not sized:
        raise StylelabError(
            f"{flag} must be off, auto or a tile size from {MIN_TILE} to {MAX_SIZE} px, "
            f"got {show(tile)}"
        )


@dataclass(frozen=True)
class StylizeConfig:
    """Settings of one Gatys-style optimization (defaults give a good image at 256-512 px)."""

    size: int = option(512, "longer edge of the output, in pixels", low=MIN_SIZE, high=MAX_SIZE)
    style_scale: float = option(
        1.0, "style image size relative to --size", low=0.0, high=MAX_STYLE_SCALE, above_zero=True
    )
    backbone: str = option(
        "vgg19", "feature network (see 'stylelab layers')", check=_check_backbone
    )
    weights: str = option(
        "pretrained",
        "pretrained | torchvision | random | PATH to a state dict",
        choices=WEIGHT_KEYWORDS,
        path=True,
    )
    pooling: str = option("max", "max | avg pooling in VGG", choices=POOLINGS)
    content_layers: tuple[str, ...] | None = option(
        None,
        "comma-separated content layers (default: the backbone's, relu4_2 for VGG)",
        items="layer names",
    )
    style_layers: tuple[str, ...] | None = option(
        None,
        "comma-separated style layers (default: the backbone's, relu1_1..relu5_1 for VGG)",
        items="layer names",
    )
    style_layer_weights: tuple[float, ...] | None = option(
        None, "comma-separated weight per style layer (default 1/|L| each)", **WEIGHT_LIST
    )
    content_weight: float = option(
        1.0, "alpha, weight of the content loss", low=0.0, high=MAX_WEIGHT
    )
    style_weight: float = option(30.0, "beta, weight of the style loss", low=0.0, high=MAX_WEIGHT)
    tv_weight: float = option(
        0.0, "gamma, weight of the total variation (mean over pixels)", low=0.0, high=MAX_WEIGHT
    )
    normalize_losses: bool = option(
        True, "divide each layer's loss by its target's own size, so weights carry over"
    )
    smoothing: str = option(
        "none",
        "SWAG activation smoothing before the losses: none | softmax | channel-softmax | "
        "scale | nested-softmax (Wang, Li & Vasconcelos 2021)",
        choices=SMOOTHINGS,
    )
    temperature: float = option(
        1.0,
        "softmax temperature T of the smoothing, exp(F / T)",
        low=MIN_TEMPERATURE,
        high=MAX_TEMPERATURE,
        above_zero=True,
    )
    relative_temperature: bool = option(
        True,
        "T in units of each smoothed layer's peak activation over the content and style "
        "images, exp(F / (T max|F|)); --no-relative-temperature takes T as is (the paper's)",
    )
    smoothing_scale: float = option(
        0.001,
        "factor A of 'scale' and 'channel-softmax' (cancels with normalized losses)",
        low=MIN_SMOOTHING_SCALE,
        high=MAX_SMOOTHING_SCALE,
        above_zero=True,
    )
    smoothing_layers: tuple[str, ...] | None = option(
        None, "comma-separated layers to smooth (default: all loss layers)", items="layer names"
    )
    style_blend: tuple[float, ...] | None = option(
        None, "blend weights of several style images, e.g. 0.7,0.3 (default equal)", **WEIGHT_LIST
    )
    optimizer: str = option(
        "lbfgs", "lbfgs | adam | sgd | adagrad | adadelta | rmsprop", choices=OPTIMIZER_NAMES
    )
    lr: float | None = option(
        None,
        "learning rate (default: the optimizer's, see docs/stylize.md)",
        low=0.0,
        high=MAX_LR,
        above_zero=True,
    )
    init: str = option(
        "content", "content | noise | style | PATH to an image", choices=INITS, path=True
    )
    steps: int = option(300, "iterations (for L-BFGS: loss evaluations)", low=1, high=MAX_STEPS)
    seed: int = option(0, "seed for random weights and noise", low=0, high=MAX_SEED)
    device: str = option("auto", "auto | cpu | cuda | mps", choices=DEVICES)
    precision: str = option(
        "auto",
        "auto | fp32 | bf16 | fp16: autocast of the backbone (auto: bf16/fp16 on CUDA, "
        "bf16 on CPUs with native bf16, else fp32)",
        choices=PRECISIONS,
    )
    multiscale: bool = option(
        True, "coarse to fine: optimize at smaller sizes first, upsample, refine (--no-multiscale)"
    )
    scales: tuple[float, ...] | None = option(
        None,
        "comma-separated fractions of --size, increasing, ending at 1 "
        "(default: halve down to 128 px, at most 3 sizes, e.g. 0.25,0.5,1 at 512)",
        longest=MAX_SCALES,
        check=_check_scales,
    )
    preserve_color: str = option(
        "none",
        "keep the photo's colours (Gatys et al. 2017): none | luminance (transfer on "
        "luminance, then the photo's chroma) | histogram (the style's colours matched to the "
        "photo's mean and covariance first)",
        choices=PRESERVE_COLORS,
    )
    mask: str = option(
        "",
        "an image whose flat colours name regions of the photo (with --region-style; "
        "Gatys et al. 2017 guided Grams)",
        path=True,
    )
    region_style: str = option(
        "",
        "a style per mask colour: #rrggbb=STYLE,... with STYLE a 0-based index or path of "
        "the styles given, or none (the photo is kept there)",
        path=True,
    )
    tile: str = option(
        "off",
        "posters beyond memory: off | auto (the scales that do not fit are optimized in "
        "512 px tiles) | N (tiles of N px at every scale larger than N); style Grams stay "
        "global, tiles are blended with feathered overlaps",
        check=_check_tile,
    )
    tile_overlap: int = option(
        64, "overlap of neighbouring tiles in px (feathered)", low=0, high=MAX_SIZE // 2
    )

    def __new__(cls, *args: Any, **kwargs: Any) -> StylizeConfig:
        # Runs before the generated __init__: unknown or doubled names are a StylelabError
        # naming the option (with the close one), not Python's TypeError.
        where = f"{cls.__name__}()"
        check_field_names(kwargs, where, cls)
        names = field_names(cls)
        if len(args) > len(names):
            raise StylelabError(
                f"{where} takes at most {len(names)} positional values, got {len(args)}"
            )
        doubled = [name for name in names[: len(args)] if name in kwargs]
        if doubled:
            raise StylelabError(f"{where} got two values for {doubled[0]!r}")
        return super().__new__(cls)

    def __post_init__(self) -> None:
        for name, value in _normalized(self).items():
            object.__setattr__(self, name, value)
        validate(self)

    def replace(self, **changes: Any) -> StylizeConfig:
        """A copy with ``changes`` (field names; a StylelabError for any other name)."""
        check_field_names(changes, f"{type(self).__name__}.replace()", type(self))
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


# ------------------------------------------------------------------------ the table


def field_specs(cls: type | None = None) -> tuple[FieldSpec, ...]:
    """The :class:`FieldSpec` of every field of ``cls`` (default StylizeConfig), in order."""
    return _specs(cls or StylizeConfig)


def field_spec(name: str, cls: type | None = None) -> FieldSpec:
    """The :class:`FieldSpec` of one field (a KeyError for any other name)."""
    return _by_name(cls or StylizeConfig)[name]


def field_names(cls: type | None = None) -> tuple[str, ...]:
    return tuple(_by_name(cls or StylizeConfig))


@functools.cache
def _specs(cls: type) -> tuple[FieldSpec, ...]:
    hints = typing.get_type_hints(cls)
    return tuple(_spec(item, hints[item.name]) for item in dataclasses.fields(cls))


@functools.cache
def _by_name(cls: type) -> dict[str, FieldSpec]:
    return {spec.name: spec for spec in _specs(cls)}


def _spec(item: dataclasses.Field[Any], hint: Any) -> FieldSpec:
    """A field's FieldSpec: its annotation (``T``, ``T | None``, ``tuple[T, ...]``, with T
    one of :data:`KINDS`), its default, and the help and rules of :func:`option`."""
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next(a for a in args if a is not type(None)) if optional else hint
    many = typing.get_origin(base) is tuple
    kind = typing.get_args(base)[0] if many else base
    rules = item.metadata.get("rules", {})
    numeric = kind in (int, float) and not many
    if kind not in KINDS or (numeric and (rules.get("low") is None or rules.get("high") is None)):
        raise TypeError(
            f"{item.name}: a field is bool, int, float, str, T | None or tuple[T, ...], and a "
            f"number has low and high bounds; got {hint} with {rules}"
        )
    return FieldSpec(item.name, kind, item.default, item.metadata["help"], many, optional, **rules)


def check_field_names(
    names: Iterable[str],
    where: str = "stylize()",
    cls: type | None = None,
    keywords: Sequence[str] = (),
) -> None:
    """A one-line StylelabError for the first name that is not a StylizeConfig field,
    with the closest field or ``keywords`` (the calling function's own: ``progress``,
    ``callback``, ...) as a suggestion (difflib)."""
    known = field_names(cls)
    for name in names:
        if name not in known:
            raise unknown_option(where, name, [*known, *keywords])


# ---------------------------------------------------------------------- validation


def _normalized(config: StylizeConfig) -> dict[str, Any]:
    """Lossless conversions of friendly values: lists to tuples for the tuple fields,
    numpy scalars to Python's int and float, and paths (``pathlib.Path``) to their text
    (so the config stays hashable and JSON-able)."""
    changes: dict[str, Any] = {}
    for spec in field_specs(type(config)):
        value = getattr(config, spec.name)
        if spec.many:
            if isinstance(value, list):
                value = changes[spec.name] = tuple(value)
            if spec.kind is not str and isinstance(value, tuple):
                exotic = [type(v) not in (int, float) and is_real(v) for v in value]
                if any(exotic) and all(as_float(v) is not None for v in value):
                    changes[spec.name] = tuple(
                        as_float(v) if odd else v for v, odd in zip(value, exotic, strict=True)
                    )
        elif type(value) in (bool, int, float, str) or _is_bool(value):
            continue
        elif spec.path and isinstance(value, os.PathLike):
            path = os.fspath(value)  # a pathlib.Path: its text (bytes are refused below)
            if isinstance(path, str):
                changes[spec.name] = path
        elif spec.kind is int and isinstance(value, numbers.Integral):
            changes[spec.name] = int(value)
        elif spec.kind is float and is_real(value) and (number := as_float(value)) is not None:
            changes[spec.name] = number
    return changes


def _is_bool(value: object) -> bool:
    return isinstance(value, bool) or type(value).__name__ in ("bool_", "bool")


def validate(config: StylizeConfig) -> None:
    """Refuse values that can never work, each in one line that names the flag, the value
    and the bound (see :mod:`stylelab.limits`): every field by its :class:`FieldSpec`,
    then the rules between fields. Light: no torch import."""
    for spec in field_specs(type(config)):
        check_value(spec, getattr(config, spec.name))
    style_edge = round(config.size * config.style_scale)
    if style_edge > MAX_SIZE:
        raise StylelabError(
            f"--style-scale {config.style_scale:g} at --size {config.size} makes the style "
            f"{style_edge} px; the largest is {MAX_SIZE} (lower --style-scale or --size)"
        )
    if config.tile not in ("off", "auto") and 2 * config.tile_overlap >= int(config.tile):
        raise StylelabError(
            f"--tile-overlap {config.tile_overlap} must be under half of --tile {config.tile}"
        )
    if bool(config.mask) != bool(config.region_style):
        given, missing = (
            ("--mask", "--region-style") if config.mask else ("--region-style", "--mask")
        )
        raise StylelabError(f"{given} needs {missing} too")
    layers, weights = config.style_layers, config.style_layer_weights
    if layers is not None and weights is not None and len(layers) != len(weights):
        raise StylelabError(
            f"--style-layer-weights has {len(weights)} values for {len(layers)} style layers"
        )
    if config.pooling == "avg":  # only then: the registry knows which backbones have it
        from stylelab.backbones.registry import check_pooling

        check_pooling(config.backbone, config.pooling)


def check_value(spec: FieldSpec, value: object) -> None:
    """One field's value against its :class:`FieldSpec`: kind, bounds, choices, own rule."""
    if value is None and spec.optional:
        return
    if spec.many:
        _check_items(spec, value)
    elif spec.kind is bool:
        if not isinstance(value, bool):
            raise StylelabError(f"{spec.flag} must be True or False, got {show(value)}")
    elif spec.kind is str:
        _check_text(spec, value)
    elif spec.kind is int:
        _check_int(spec, value)
    else:
        _check_number(spec, value)
    if spec.check is not None:
        spec.check(spec.flag, value)


def _check_text(spec: FieldSpec, value: object) -> None:
    flag = spec.flag
    if not isinstance(value, str):
        raise StylelabError(f"{flag} must be a string, got {show(value)}")
    if len(value) > MAX_TEXT_LENGTH:
        raise StylelabError(f"{flag} is {len(value)} characters long; at most {MAX_TEXT_LENGTH}")
    if "\0" in value:
        raise StylelabError(f"{flag} contains a NUL character: {show(value)}")
    if spec.path and not value and spec.default:
        raise StylelabError(f"empty {flag}; choose from: {', '.join(spec.choices)}, or a PATH")
    if spec.choices and not spec.path and value not in spec.choices:
        what = spec.name if spec.name.isalpha() else flag  # optimizer; --preserve-color
        raise StylelabError(f"unknown {what} {show(value)}; choose from: {', '.join(spec.choices)}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(spec: FieldSpec, value: object) -> None:
    low, high = spec.low, spec.high
    if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
        span = (
            f"a positive integer (at most {high})"
            if low == 1
            else f"an integer from {low} to {high}"
        )
        raise StylelabError(f"{spec.flag} must be {span}, got {show(value)}")


def _number(value: object) -> float | None:
    """value as a float, +-inf standing for an int too large for one; None for anything
    that is not a real number, and for a float NaN or inf."""
    number = as_float(value)
    if number is None or math.isnan(number) or (math.isinf(number) and isinstance(value, float)):
        return None
    return number


def _check_number(spec: FieldSpec, value: object) -> None:
    """A finite number (> 0 with ``above_zero``, else >= 0 where ``low`` is), in bounds."""
    low, high = typing.cast(float, spec.low), typing.cast(float, spec.high)
    number = _number(value)
    whole = spec.above_zero and low == 0  # (0, high]: one message tells the whole range
    floor = " > 0" if spec.above_zero else " >= 0" if low >= 0 else ""
    floor += f" (at most {high:g})" if whole else ""
    if (
        number is None
        or low >= 0 > number
        or (spec.above_zero and number <= 0)
        or (whole and number > high)
    ):
        raise StylelabError(f"{spec.flag} must be a finite number{floor}, got {show(value)}")
    if not low <= number <= high:
        span = f"at most {high:g}" if low == 0 else f"from {low:g} to {high:g}"
        raise StylelabError(f"{spec.flag} must be {span}, got {show(value)}")


def _check_items(spec: FieldSpec, value: object) -> None:
    """A non-empty tuple of at most ``longest`` items, each of the field's kind (and in
    its bounds)."""
    flag, items = spec.flag, spec.items or ("names" if spec.kind is str else "numbers")
    if not isinstance(value, tuple):
        raise StylelabError(f"{flag} must be a tuple (or list) of {items}, got {show(value)}")
    if not value:
        raise StylelabError(f"{flag} is empty")
    if len(value) > spec.longest:
        raise StylelabError(f"{flag} has {len(value)} values; at most {spec.longest}")
    if spec.kind is str:
        for item in value:
            if not isinstance(item, str) or not item or len(item) > MAX_TEXT_LENGTH:
                raise StylelabError(f"{flag} needs {items} (strings), got {show(item)}")
        return
    if not all(is_real(v) for v in value):
        raise StylelabError(f"{flag} needs numbers, got {show(value)}")
    low, high = spec.low, spec.high
    if low is not None and high is not None and not all(in_range(v, low, high) for v in value):
        raise StylelabError(
            f"{flag} needs finite numbers from {spec.low:g} to {spec.high:g}, got {show(value)}"
        )


def check_smoothing(method: str = "none", temperature: float = 1.0, factor: float = 0.001) -> None:
    """A one-line error for an unknown method, or a temperature or scale that is not a
    finite number > 0 within its bounds (named by their CLI flags)."""
    values = {"smoothing": method, "temperature": temperature, "smoothing_scale": factor}
    for name, value in values.items():
        check_value(field_spec(name), value)


def blend_weights(blend: Sequence[float] | None, count: int) -> tuple[float, ...]:
    """The style images' weights w_i / Σ w (equal when none are given), for ``count`` styles."""
    if blend is None:
        return tuple(1.0 / count for _ in range(count))
    if len(blend) != count:
        raise StylelabError(f"--style-blend has {len(blend)} weights for {count} style images")
    total = sum(blend)
    return tuple(w / total for w in blend)

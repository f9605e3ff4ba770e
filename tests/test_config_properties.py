"""Property tests of the config layer: any value for any StylizeConfig field either
validates or raises StylelabError with a one-line message; never another exception type,
never a hang (each example has a deadline).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stylelab import limits
from stylelab.config import (
    OPTIMIZER_NAMES,
    PRECISIONS,
    SMOOTHINGS,
    StylizeConfig,
    field_names,
)
from stylelab.errors import StylelabError

FIELDS = [f.name for f in dataclasses.fields(StylizeConfig)]
# Validating pooling="avg" asks the backbone registry (it imports torchvision and the
# backbone families once): done here, so that a one-off import is not counted against an
# example's deadline.
StylizeConfig(pooling="avg")
PROPERTY = settings(
    max_examples=150,
    deadline=500,  # ms per example: validation is microseconds; a hang is not
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every run: a failure reproduces
)

# Values a user (or a TOML file, or a fuzzer) might pass: every scalar kind, the edge
# numbers, text with newlines and unicode, names and numbers that are nearly right.
NEARLY_RIGHT = st.sampled_from(
    [
        "vgg19",
        "resnet50",
        "avg",
        "max",
        "lbfgs",
        "adam",
        "softmax",
        "channel-softmax",
        "cpu",
        "fp32",
        "content",
        "noise",
        "random",
        "relu1_1",
        "relu4_2",
        "layer4.2",
        "example:chelsea",
        "",
        " ",
        "a\nb",
        "\u2028",
        "\x00",
        16,
        15,
        8192,
        8193,
        limits.MAX_SEED,
        limits.MAX_SEED + 1,
        -1,
        0,
        1,
        10**24,
        -(10**400),
        0.5,
        1.0,
        -0.0,
        5e-324,
        1e-6,
        1e6,
        1e12,
        1.0000001e12,
        1e308,
        Fraction(1, 3),
        complex(1, 1),
        b"vgg19",
        bytearray(b"x"),
        object(),
        ...,
    ]
)
# An int past Python's 4300-digit limit for str(int) (made on the fly: hypothesis reprs
# its strategies' constants).
HUGE_INT = st.integers(min_value=4400, max_value=6000).map(lambda digits: 10**digits)
LONG_TEXT = st.integers(min_value=4000, max_value=5000).map(lambda n: "x" * n)
SCALARS = st.one_of(
    HUGE_INT,
    LONG_TEXT,
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.floats(min_value=0.0, max_value=2.0),
    st.text(max_size=20),
    st.binary(max_size=8),
    NEARLY_RIGHT,
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(st.text(max_size=5), children, max_size=3),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=8,
)
# Tuples of the right element kind, with the lengths that matter (0, 1, many, 65).
TUPLES = st.one_of(
    st.lists(st.sampled_from(["relu1_1", "relu2_1", "relu4_2", "pool1", "x"]), max_size=6).map(
        tuple
    ),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6).map(tuple),
    st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=4).map(
        lambda xs: tuple(sorted(set(xs))) + (1.0,)
    ),
    st.just(("relu1_1",) * 65),
    st.just(tuple(range(1, 66))),
)
ANY_VALUE = st.one_of(VALUES, TUPLES)
# Per field, values of the right kind around the bounds, so that both outcomes are tried.
_NUMBERS = st.one_of(
    st.integers(min_value=-10, max_value=10**13),
    st.floats(min_value=-1.0, max_value=2e12, allow_subnormal=True),
    st.floats(min_value=1e-8, max_value=1e-4),
)
_CHOICES = {
    "backbone": ["vgg19", "vgg16", "resnet50", "densenet121", "no such net", "vgg19\n"],
    "weights": ["pretrained", "torchvision", "random", "/no/such/file.pt", ""],
    "pooling": ["max", "avg", "min"],
    "smoothing": list(SMOOTHINGS) + ["fuzzy"],
    "optimizer": list(OPTIMIZER_NAMES) + ["newton"],
    "init": ["content", "noise", "style", "example:chelsea", "sketch", ""],
    "device": ["auto", "cpu", "cuda", "mps", "tpu"],
    "precision": list(PRECISIONS) + ["fp64"],
}
NEAR: dict[str, st.SearchStrategy[Any]] = {
    "size": st.integers(min_value=0, max_value=10_000),
    "steps": st.integers(min_value=-1, max_value=200_000),
    "seed": st.integers(min_value=-5, max_value=2**64),
    "normalize_losses": st.booleans(),
    "relative_temperature": st.booleans(),
    "multiscale": st.booleans(),
    **{name: st.sampled_from(choices) for name, choices in _CHOICES.items()},
    **{name: TUPLES for name in ("content_layers", "style_layers", "smoothing_layers")},
    **{name: TUPLES for name in ("style_layer_weights", "style_blend", "scales")},
}


def _outcome(build: Any) -> StylizeConfig | None:
    """The config, or None after checking the StylelabError's message is one line."""
    try:
        config = build()
    except StylelabError as exc:
        message = str(exc)
        assert message, "an empty message"
        assert "\n" not in message and len(message.splitlines()) == 1, repr(message)
        assert len(message) < 1000, f"a {len(message)}-character message"
        return None
    assert isinstance(config, StylizeConfig)
    return config


def _valid_is_usable(config: StylizeConfig) -> None:
    """What a config that validates promises: hashable, JSON without NaN, round-trips,
    and within the documented bounds."""
    hash(config)
    text = json.dumps(config.to_dict(), allow_nan=False)
    again = StylizeConfig.from_dict(json.loads(text))
    assert again == config
    assert limits.MIN_SIZE <= config.size <= limits.MAX_SIZE
    assert 1 <= config.steps <= limits.MAX_STEPS and 0 <= config.seed <= limits.MAX_SEED
    assert 0 < config.style_scale * config.size <= limits.MAX_SIZE + 0.5
    for name in ("content_weight", "style_weight", "tv_weight"):
        assert 0 <= getattr(config, name) <= limits.MAX_WEIGHT
    assert config.lr is None or 0 < config.lr <= limits.MAX_LR
    assert math.isfinite(config.temperature) and math.isfinite(config.smoothing_scale)
    for name in ("content_layers", "style_layers", "smoothing_layers", "scales"):
        value = getattr(config, name)
        assert value is None or (isinstance(value, tuple) and 0 < len(value) <= 64)


@pytest.mark.parametrize("name", FIELDS)
@PROPERTY
@given(data=st.data())
def test_any_value_of_one_field_validates_or_is_one_line(name: str, data: Any) -> None:
    value = data.draw(st.one_of(ANY_VALUE, NEAR.get(name, _NUMBERS)), label=name)
    config = _outcome(lambda: StylizeConfig(**{name: value}))
    if config is not None:
        _valid_is_usable(config)


@PROPERTY
@given(
    changes=st.dictionaries(
        st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), ANY_VALUE, max_size=6
    )
)
def test_several_fields_at_once(changes: dict[str, Any]) -> None:
    config = _outcome(lambda: StylizeConfig(**changes))
    if config is not None:
        _valid_is_usable(config)


BASE = StylizeConfig(size=256, style_layers=("relu1_1", "relu2_1"), smoothing="softmax")


@PROPERTY
@given(
    changes=st.dictionaries(
        st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), ANY_VALUE, max_size=6
    )
)
def test_replace_keeps_the_promise(changes: dict[str, Any]) -> None:
    config = _outcome(lambda: BASE.replace(**changes))
    if config is not None:
        _valid_is_usable(config)


@PROPERTY
@given(
    values=st.one_of(
        VALUES,
        st.dictionaries(
            st.one_of(st.sampled_from(FIELDS), st.text(max_size=8), st.integers(), st.none()),
            ANY_VALUE,
            max_size=4,
        ),
    )
)
def test_from_dict_keeps_the_promise(values: Any) -> None:
    config = _outcome(lambda: StylizeConfig.from_dict(values))
    if config is not None:
        _valid_is_usable(config)


@PROPERTY
@given(value=ANY_VALUE)
def test_the_message_shows_a_value_on_one_line(value: Any) -> None:
    shown = limits.show(value)
    assert shown.isprintable() and len(shown) <= 80


def test_every_field_has_a_kind() -> None:
    """Each field has one FieldSpec: a kind the CLI, the page and sweeps know, and bounds
    where it is a number (so validate checks it)."""
    from stylelab.config import KINDS, field_specs

    specs = field_specs()
    assert [spec.name for spec in specs] == FIELDS == list(field_names())
    for spec in specs:
        assert spec.kind in KINDS, spec.name
        if spec.kind in (int, float) and not spec.many:
            assert spec.low is not None and spec.high is not None, spec.name
    kinds = {spec.name: (spec.kind, spec.many, spec.optional) for spec in specs}
    assert kinds["size"] == (int, False, False) and kinds["lr"] == (float, False, True)
    assert kinds["style_layers"] == (str, True, True) and kinds["scales"] == (float, True, True)
    assert kinds["multiscale"] == (bool, False, False) and kinds["tile"] == (str, False, False)


def test_a_field_the_table_cannot_describe_is_refused_at_once() -> None:
    """A rule option() does not know, a kind outside KINDS, a number without bounds: a
    TypeError when the table is read (a programming error, not a user's)."""
    from stylelab.config import field_specs, option

    with pytest.raises(TypeError, match="unknown rules"):
        option(1.0, "help", hihg=2.0)

    @dataclasses.dataclass(frozen=True)
    class Unbounded(StylizeConfig):
        blur: float = option(0.0, "radius of a blur")

    @dataclasses.dataclass(frozen=True)
    class Complex(StylizeConfig):
        phase: complex = option(0j, "a phase", low=0, high=1)

    for cls in (Unbounded, Complex):
        with pytest.raises(TypeError, match="low and high bounds"):
            field_specs(cls)


def test_the_light_name_lists_match_the_modules_that_use_them() -> None:
    from stylelab.optim import list_optimizers
    from stylelab.precision import PRECISIONS as REAL_PRECISIONS
    from stylelab.smoothing import SMOOTHINGS as REAL_SMOOTHINGS

    assert tuple(list_optimizers()) == OPTIMIZER_NAMES
    assert tuple(REAL_PRECISIONS) == PRECISIONS and tuple(REAL_SMOOTHINGS) == SMOOTHINGS


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": 10**24}, "--size must be an integer from 16 to 8192, got 1" + "0" * 24),
        ({"size": 100000}, "--size must be an integer from 16 to 8192, got 100000"),
        ({"seed": 10**24}, "--seed must be an integer from 0 to 9223372036854775807"),
        ({"size": 10**5000}, "got an integer of 16610 bits"),
        ({"backbone": "a\nb"}, "--backbone 'a\\nb' is not a backbone name"),
        ({"init": "x" * 5000}, "--init is 5000 characters long; at most 4096"),
        ({"style_layers": ("a\nb",)}, None),  # valid here; the backbone refuses it later
    ],
)
def test_examples_of_the_bounds(changes: dict[str, Any], message: str | None) -> None:
    if message is None:
        StylizeConfig(**changes)
        return
    with pytest.raises(StylelabError) as caught:
        StylizeConfig(**changes)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_new_field_is_one_line_in_one_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line (a field and its option()) makes an option of the CLI, the web page,
    sweeps and validation: nothing else names it (issue 26)."""
    import tomllib

    from stylelab import cli, config
    from stylelab.cli import common
    from stylelab.experiments import config as sweeps
    from stylelab.serve import options as web

    @dataclasses.dataclass(frozen=True)
    class WithBlur(StylizeConfig):
        blur: float = config.option(0.0, "radius of a final blur, in px", low=0.0, high=10.0)

    for module in (config, common, sweeps, web):  # the class is now this one everywhere
        monkeypatch.setattr(module, "StylizeConfig", WithBlur)

    # validation: the bounds, in the usual one line
    assert WithBlur(blur=2).blur == 2
    for value, message in ((11, "--blur must be at most 10, got 11"), (-1, ">= 0, got -1")):
        with pytest.raises(StylelabError, match=message):
            WithBlur(blur=value)

    # the CLI: a typed flag with its help, parsed into the config and checked by it
    parser = cli.build_parser()
    argv = ["stylize", "c.png", "s.png", "-o", "o.png", "--blur"]
    assert common.config_from_args(parser.parse_args([*argv, "2.5"])).blur == 2.5
    with pytest.raises(StylelabError, match="--blur must be at most 10"):
        common.config_from_args(parser.parse_args([*argv, "12"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["stylize", "--help"])
    assert "--blur BLUR" in capsys.readouterr().out

    # the web page: listed with its kind, default and help; a page's value is checked
    entry = {f["name"]: f for f in web.option_schema()["fields"]}["blur"]
    assert entry["kind"] == "float" and entry["default"] == 0.0 and entry["choices"] is None
    assert entry["help"] == "radius of a final blur, in px" and not entry["optional"]
    assert web.check_options({"blur": 3}).blur == 3
    with pytest.raises(StylelabError, match="--blur must be a finite number >= 0"):
        web.check_options({"blur": -0.5})

    # a sweep: a TOML integer is a number, a grid of it varies, a string is refused
    text = '[base]\ncontent = "example:chelsea"\nstyle = "example:strokes"\nsize = 32\n'
    sweep = sweeps.parse_sweep(tomllib.loads(text + "[grid]\nblur = [1, 2.5]\n"))
    assert [run.config.blur for run in sweep.runs] == [1.0, 2.5] and sweep.varied == ("blur",)
    with pytest.raises(StylelabError, match=r"\[grid\] blur: expected a number, got \"wide\""):
        sweeps.parse_sweep(tomllib.loads(text + '[grid]\nblur = ["wide"]\n'))
    with pytest.raises(StylelabError, match="--blur must be at most 10"):
        sweeps.parse_sweep(tomllib.loads(text + "[grid]\nblur = [20]\n"))


@pytest.mark.parametrize(
    ("command", "settings", "renamed"),
    [
        ("train", "stylelab.fast.config:TrainConfig", {"architecture": "arch"}),
        ("train-instant", "stylelab.adain.trainconfig:InstantTrainConfig", {}),
    ],
)
def test_training_commands_take_their_defaults_from_the_settings(
    command: str, settings: str, renamed: dict[str, str]
) -> None:
    """Each flag of train/train-instant that names a settings field defaults to that field's
    default (written once, in the dataclass), and --help shows the same value."""
    import importlib

    from stylelab import cli
    from stylelab.cli.common import defaults_of

    module, name = settings.split(":")
    defaults = defaults_of(getattr(importlib.import_module(module), name))
    parser = cli.build_parser()
    argv = [command, "-o", "m.safetensors"] + (["s.png"] if command == "train" else [])
    args = vars(parser.parse_args(argv))
    compared = {
        field: renamed.get(field, field) for field in defaults if renamed.get(field, field) in args
    }
    assert len(compared) >= 8, compared
    for field, dest in compared.items():
        assert args[dest] == defaults[field], (command, field)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    help_text = " ".join(sub.choices[command].format_help().split())
    assert f"(default: {defaults['steps']})" in help_text


def test_instant_flags_take_their_defaults_and_help_from_the_field_table() -> None:
    """--strength, --refine, --palette, --band-contrast, --internal-size: InstantOptions'
    kind, default and help (the web form reads the same table); video leaves them unset
    ("not given")."""
    from stylelab import cli
    from stylelab.adain.options import InstantOptions
    from stylelab.config import field_specs

    parser = cli.build_parser()
    args = vars(parser.parse_args(["instant", "p.png", "s.png", "-o", "o.png"]))
    video = vars(parser.parse_args(["video", "instant", "in.mp4", "-o", "o.mp4"]))
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    help_text = " ".join(sub.choices["instant"].format_help().split())
    specs = field_specs(InstantOptions)
    assert {s.name for s in specs} == {
        "strength",
        "refine",
        "palette",
        "band_contrast",
        "internal_size",
    }
    for spec in specs:
        assert args[spec.name] == spec.default and type(args[spec.name]) is spec.kind
        assert " ".join(spec.help.split()[:6]) in help_text, spec.name
        if spec.name in ("palette", "band_contrast", "internal_size"):
            assert video[spec.name] is None

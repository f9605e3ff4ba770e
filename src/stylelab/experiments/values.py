"""A sweep as data, and its TOML values: the :class:`Sweep`, :class:`Run` and
:class:`SweepSettings` records; how a TOML value becomes an option value (through the
field table, :func:`stylelab.config.field_specs`), and how messages show it.

:mod:`.config` reads a sweep file into these; :mod:`.inputs` checks what the runs read.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylelab.config import StylizeConfig, field_names, field_spec
from stylelab.errors import StylelabError, closest
from stylelab.safety import one_line

IMAGE_KEYS = ("content", "style")


@dataclass(frozen=True)
class SweepSettings:
    """The ``[sweep]`` table: how runs are executed and scored (not what they compute)."""

    name: str = ""
    evaluate: bool = True
    evaluate_size: int = 512
    yardsticks: tuple[str, ...] = ("vgg",)  # stylelab.evaluate's: vgg, texture
    timeout_s: float = 0.0  # 0: no limit
    threads: int = 0  # torch threads per run; 0: automatic
    cpus_per_run: float = 1.0  # Ray resources per task
    gpus_per_run: float = 0.0


@dataclass(frozen=True)
class Run:
    """One run: its id, its position, the options given for it and its resolved config."""

    run_id: str
    index: int
    params: dict[str, Any]  # as given (content, style and the explicit options), JSON-able
    config: StylizeConfig = field(repr=False)

    def label(self, keys: typing.Sequence[str]) -> str:
        return ", ".join(f"{k}={format_value(self.params.get(k))}" for k in keys) or self.run_id


@dataclass(frozen=True)
class Sweep:
    settings: SweepSettings
    runs: tuple[Run, ...]
    varied: tuple[str, ...]  # parameters that differ between runs
    source: str  # the TOML text
    base_dir: Path  # relative image paths are resolved against the TOML's folder
    # (height, width) of every image source, as read by the checks
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False, compare=False)
    where: str = "sweep"  # the sweep file, as messages name it

    def fingerprint(self) -> str:
        """Identity of the sweep: its runs and how they are scored."""
        payload: dict[str, Any] = {
            "runs": sorted(r.run_id for r in self.runs),
            "evaluate": self.settings.evaluate,
            "evaluate_size": self.settings.evaluate_size,
        }
        if self.settings.yardsticks != ("vgg",):  # older sweeps keep their fingerprint
            payload["yardsticks"] = list(self.settings.yardsticks)
        return _digest(payload, 16)


def option_names() -> tuple[str, ...]:
    return IMAGE_KEYS + field_names()


def format_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    if value is None:
        return ""
    return str(value)


def run_id_for(params: dict[str, Any]) -> str:
    """Deterministic id: a hash of the run's parameters (order of keys does not matter)."""
    return _digest(params, 12)


def _digest(payload: Any, length: int) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def describe(choice: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_clip(one_line(format_value(v)))}" for k, v in choice.items())


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_context(where: str, run: Run, keys: typing.Sequence[str]) -> str:
    """``FILE: run 3 (optimizer=adam, lr=0.1)``: the run's number and its ``keys``."""
    options = describe({k: run.params.get(k) for k in keys})
    if len(options) > 120:
        options = options[:117] + "..."
    return f"{where}: run {run.index + 1}" + (f" ({options})" if options else "")


def as_toml(value: Any, limit: int = 60, depth: int = 0) -> str:
    """``value`` as it would be written in TOML (quoted strings, true/false, dates), one
    line, clipped: how messages show what the file holds."""
    if depth > 4 and isinstance(value, (list, dict)):
        return "[...]" if isinstance(value, list) else "{...}"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float) and not math.isfinite(value):
        text = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    elif isinstance(value, float):
        text = repr(value) if abs(value) < 1e30 else f"{value:.3g}"
    elif isinstance(value, int):
        digits = str(abs(value))
        sign = "-" if value < 0 else ""
        text = str(value) if len(digits) <= 30 else f"{sign}{digits[0]}e{len(digits) - 1}"
    elif isinstance(value, (datetime.date, datetime.time)):  # datetime is a date too
        text = value.isoformat()
    elif isinstance(value, list):
        text = "[" + ", ".join(as_toml(v, limit, depth + 1) for v in value[:8])
        text += ", ..." * (len(value) > 8)
        text += "]"
    elif isinstance(value, dict):
        items = list(value.items())
        text = "{" + ", ".join(
            f"{key_name(k)} = {as_toml(v, limit, depth + 1)}" for k, v in items[:8]
        )
        text += ", ...}" if len(items) > 8 else "}"
    else:
        text = repr(value)
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kind_of(value: Any) -> str:
    """What a TOML value is, in words: ``a string``, ``a date``, ``a table``..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, datetime.datetime):
        return "a date-time"
    for kind, name in (
        (datetime.date, "a date"),
        (datetime.time, "a time"),
        (str, "a string"),
        (int, "an integer"),
        (float, "a float"),
        (list, "a list"),
        (dict, "a table"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def got(value: Any) -> str:
    return f"got {as_toml(value)} ({kind_of(value)})"


def key_name(key: Any) -> str:
    """A TOML key for a message: bare if it is a plain name, else quoted and escaped."""
    text = str(key)
    if text and all(ch.isalnum() or ch in "_-" for ch in text) and text.isascii():
        return text if len(text) <= 60 else text[:57] + "..."
    return as_toml(text)


def suggest(key: Any, known: typing.Sequence[str]) -> str:
    """`` (did you mean NAME?)`` after a TOML key, or nothing (:func:`errors.closest`)."""
    close = closest(key, known)
    return f" (did you mean {close[0]}?)" if close else ""


def kind_name(kind: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        kind, str(kind)
    )


def coerce(key: str, value: Any, where: str) -> Any:
    """Check a TOML value against the option's type; return a JSON-able canonical value.
    ``where`` (file, table and key) starts the message."""
    if key in IMAGE_KEYS:
        if _is_path_text(value):
            return value
        if key == "style" and isinstance(value, list) and value:
            if all(_is_path_text(v) for v in value):
                return list(value)
            raise StylelabError(
                f"{where}: a blend of styles is a list of image paths or example:NAMEs, "
                f"{got(value)}"
            )
        what = "an image path or example:NAME" + (
            " (or, for a blend, a list of them)" if key == "style" else " (one image)"
        )
        raise StylelabError(f"{where}: expected {what}, {got(value)}")
    spec = field_spec(key)
    if spec.many:
        items = [p.strip() for p in value.split(",")] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise StylelabError(
                f"{where}: expected a non-empty list of {_PLURALS[spec.kind]} "
                f"(or a comma-separated string), {got(value)}"
            )
        return [_scalar(spec.kind, item, where) for item in items]
    return _scalar(spec.kind, value, where)


_PLURALS = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}


def _is_path_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and "\0" not in value


def _scalar(kind: Any, value: Any, where: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif isinstance(value, str):  # kind is str, the last of stylelab.config.KINDS
        return value
    hint = ""
    if kind is int and isinstance(value, float) and value.is_integer():
        hint = f" (write {int(value)}, without the decimal point)"
    elif kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        hint = f" (write {value.lower()}, without quotes)"
    elif kind in (int, float) and isinstance(value, str):
        hint = " (write the number without quotes)"
    return _refuse(f"{where}: expected {kind_name(kind)}, {got(value)}{hint}")


def _refuse(message: str) -> typing.NoReturn:
    raise StylelabError(message)

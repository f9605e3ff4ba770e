"""Sweep files: TOML with ``[sweep]`` settings, ``[base]`` options, a ``[grid]`` and ``[[runs]]``.

    [sweep]                       # optional settings of the sweep itself
    evaluate_size = 256           # size of the independent yardstick (stylelab.evaluate)
    yardsticks = ["vgg", "texture"]   # which yardsticks score each run (default ["vgg"])
    [base]                        # stylize options shared by every run
    content = "example:chelsea"
    style = "example:strokes"
    size = 128
    [grid]                        # lists; the runs are their Cartesian product
    optimizer = ["lbfgs", "adam"]
    [[runs]]                      # optional explicit runs (base options apply)
    optimizer = "sgd"
    lr = 0.01

The options are the fields of :class:`stylelab.StylizeConfig`, plus ``content`` and
``style`` (a path, ``example:NAME``, or a list of styles to blend). Everything is checked
before anything runs: an unknown key (with the closest known one as a suggestion), a
value of the wrong TOML type, a value out of :mod:`stylelab.limits`, an image or weights
file that cannot be read, raise a one-line ``StylelabError`` naming the file and the key.
The number of runs is counted before any run is built, so a huge grid is refused at once.
A run's id is a hash of its parameters, so it is the same in every invocation.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import hashlib
import itertools
import json
import math
import os
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylelab.config import INITS, WEIGHT_KEYWORDS, StylizeConfig, field_names, field_spec
from stylelab.errors import StylelabError
from stylelab.limits import MAX_SIZE, MIN_SIZE
from stylelab.safety import check_input_file, describe_os_error, one_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

IMAGE_KEYS = ("content", "style")
MAX_RUNS = 200  # more runs than this need an explicit yes (sweep --yes)
MAX_RUNS_WITH_YES = 100_000  # even with --yes: a grid this large is a typo
#: A sweep file is a few hundred lines; 1 MiB already holds a grid far past MAX_RUNS_WITH_YES.
MAX_SWEEP_BYTES = 1 << 20
#: [sweep] threads: torch threads per run; no machine has more cores than this.
MAX_THREADS = 1024
#: [sweep] timeout_s: 1e7 s is 115 days; longer is a typo (and past ~9e9 s the timer
#: itself overflows).
MAX_TIMEOUT_S = 1e7
#: [sweep] cpus_per_run, gpus_per_run: Ray resources of one task; no node has more.
MAX_RESOURCES_PER_RUN = 1024.0
#: [sweep] name: a title, shown in index.html and in messages.
MAX_NAME_LENGTH = 200
TOP_LEVEL = ("sweep", "base", "grid", "runs")


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


def load_sweep(path: str | Path, max_runs: int = MAX_RUNS) -> Sweep:
    """Read and check a sweep file; every run's config is built here, before any runs.
    More than ``max_runs`` runs is refused (the CLI's ``--yes`` raises it)."""
    path = check_input_file(path, "sweep file")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SWEEP_BYTES + 1)
    except OSError as exc:
        raise StylelabError(describe_os_error(exc, path)) from None
    if len(data) > MAX_SWEEP_BYTES:
        raise StylelabError(
            f"{path}: too large for a sweep file (over {MAX_SWEEP_BYTES // 1024} KiB); "
            "a sweep file lists options, not data"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StylelabError(f"{path}: not UTF-8 text (byte {exc.start}); TOML is UTF-8") from None
    text = text.removeprefix("\ufeff")  # a byte order mark, as some editors write
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StylelabError(f"{path}: not valid TOML ({one_line(exc)})") from None
    except ValueError:  # an integer past Python's 4300-digit limit for int(str)
        raise StylelabError(f"{path}: not valid TOML (a number too long to read)") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise StylelabError(
            f"{path}: arrays or tables nested too deeply for a sweep file"
        ) from None
    return parse_sweep(
        table, text=text, base_dir=path.resolve().parent, where=str(path), max_runs=max_runs
    )


def parse_sweep(
    data: dict[str, Any],
    *,
    text: str = "",
    base_dir: Path | None = None,
    where: str = "sweep",
    max_runs: int = MAX_RUNS,
) -> Sweep:
    """Check parsed TOML and build its runs; ``where`` (the file) starts every message."""
    if not isinstance(data, dict):
        raise StylelabError(f"{where}: expected a TOML document (a table), got {_toml(data)}")
    for key in data:
        if key not in TOP_LEVEL:
            kind = "table" if isinstance(data[key], dict) else "key"
            raise StylelabError(
                f"{where}: unknown top-level {kind} {_name(key)}{_suggest(key, TOP_LEVEL)}; "
                f"expected [sweep], [base], [grid] or [[runs]]"
            )
    settings = _settings(data.get("sweep", {}), where)
    base = _table(data.get("base", {}), "[base]", where)
    grid = _table(data.get("grid", {}), "[grid]", where)
    explicit = data.get("runs", [])
    if not isinstance(explicit, list) or not all(isinstance(r, dict) for r in explicit):
        raise StylelabError(
            f"{where}: runs must be an array of tables ([[runs]] sections), got {_toml(explicit)}"
        )
    tables = [_table(run, f"[[runs]] #{n}", where) for n, run in enumerate(explicit, start=1)]

    base_params = {k: _coerce(k, v, f"{where}: [base] {k}") for k, v in base.items()}
    axes: list[tuple[str, list[Any]]] = []
    for key, values in grid.items():
        at = f"{where}: [grid] {key}"
        if not isinstance(values, list):
            example = f" (e.g. {key} = [{_toml(values)}])" if not isinstance(values, dict) else ""
            raise StylelabError(f"{at} must be a list of values{example}, {_got(values)}")
        if not values:
            raise StylelabError(f"{at} is an empty list, which makes no runs; give it values")
        axes.append((key, [_coerce(key, v, at) for v in values]))

    # Counted before anything is built: a grid of millions is refused at once.
    count = math.prod(len(values) for _, values in axes) if axes or not explicit else 0
    count += len(explicit)
    if count > max_runs:
        if max_runs < MAX_RUNS_WITH_YES:
            raise StylelabError(
                f"{where}: {count:,} runs is more than {max_runs:,}; check the [grid], "
                "or pass --yes to run them all"
            )
        raise StylelabError(
            f"{where}: {count:,} runs is more than {max_runs:,}, the most one sweep may have "
            "(even with --yes); split the [grid] into several sweeps"
        )
    combos: list[tuple[str, dict[str, Any]]] = []
    if axes or not explicit:
        keys = [k for k, _ in axes]
        for values in itertools.product(*(vals for _, vals in axes)):
            choice = dict(zip(keys, values, strict=True))
            combos.append((f"{where}: run ({_describe(choice)})", {**base_params, **choice}))
    for number, table in enumerate(tables, start=1):
        at = f"{where}: [[runs]] #{number}"
        changes = {k: _coerce(k, v, f"{at} {k}") for k, v in table.items()}
        combos.append((at, {**base_params, **changes}))

    base_dir = base_dir or Path.cwd()
    runs: list[Run] = []
    seen: set[str] = set()
    for context, params in combos:
        for key in IMAGE_KEYS:
            if key not in params:
                raise StylelabError(f"{where}: no {key!r} image; set {key} in [base] or [grid]")
        config = build_config(params, context=context)
        run_id = run_id_for(params)
        if run_id in seen:  # the same parameters twice (grid and [[runs]]): run it once
            continue
        seen.add(run_id)
        runs.append(Run(run_id, len(runs), params, config))
    present = {key for run in runs for key in run.params}
    varied = tuple(
        key
        for key in option_names()
        if key in present and len({_hashable(r.params.get(key)) for r in runs}) > 1
    )
    _check_blends(runs, where, varied)
    shapes = _check_images(runs, base_dir, where)
    _check_layers(runs, base_dir, where)
    return Sweep(settings, tuple(runs), varied, text, base_dir, shapes, where)


def run_id_for(params: dict[str, Any]) -> str:
    """Deterministic id: a hash of the run's parameters (order of keys does not matter)."""
    return _digest(params, 12)


def _digest(payload: Any, length: int) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def build_config(params: dict[str, Any], context: str = "") -> StylizeConfig:
    """StylizeConfig from sweep parameters (content/style are left out)."""
    options = {k: _to_field(k, v) for k, v in params.items() if k not in IMAGE_KEYS}
    try:
        return StylizeConfig(**options)
    except StylelabError as exc:
        raise StylelabError(f"{context}: {exc}" if context else str(exc)) from None


def _describe(choice: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_clip(one_line(format_value(v)))}" for k, v in choice.items())


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _run_context(where: str, run: Run, keys: typing.Sequence[str]) -> str:
    """``FILE: run 3 (optimizer=adam, lr=0.1)``: the run's number and its ``keys``."""
    options = _describe({k: run.params.get(k) for k in keys})
    if len(options) > 120:
        options = options[:117] + "..."
    return f"{where}: run {run.index + 1}" + (f" ({options})" if options else "")


def _toml(value: Any, limit: int = 60, depth: int = 0) -> str:
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
        text = "[" + ", ".join(_toml(v, limit, depth + 1) for v in value[:8])
        text += ", ..." * (len(value) > 8)
        text += "]"
    elif isinstance(value, dict):
        items = list(value.items())
        text = "{" + ", ".join(f"{_name(k)} = {_toml(v, limit, depth + 1)}" for k, v in items[:8])
        text += ", ...}" if len(items) > 8 else "}"
    else:
        text = repr(value)
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind_of(value: Any) -> str:
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


def _got(value: Any) -> str:
    return f"got {_toml(value)} ({_kind_of(value)})"


def _name(key: Any) -> str:
    """A TOML key for a message: bare if it is a plain name, else quoted and escaped."""
    text = str(key)
    if text and all(ch.isalnum() or ch in "_-" for ch in text) and text.isascii():
        return text if len(text) <= 60 else text[:57] + "..."
    return _toml(text)


def _suggest(key: Any, known: typing.Sequence[str]) -> str:
    close = difflib.get_close_matches(str(key).lower(), known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _settings(table: Any, where: str) -> SweepSettings:
    if not isinstance(table, dict):
        raise StylelabError(f"{where}: [sweep] must be a table, {_got(table)}")
    known = {f.name: f for f in dataclasses.fields(SweepSettings)}
    hints = typing.get_type_hints(SweepSettings)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise StylelabError(
                f"{where}: unknown [sweep] setting {_name(key)}{_suggest(key, list(known))}; "
                f"known: {', '.join(known)}"
            )
        if key == "yardsticks":
            values[key] = _yardsticks(value, where)
            continue
        kind = hints[key]
        ok = (
            isinstance(value, bool)
            if kind is bool
            else isinstance(value, kind) and not isinstance(value, bool)
            if kind in (int, str)
            else isinstance(value, (int, float)) and not isinstance(value, bool)
        )
        low, high = _SETTING_RANGES.get(key, (None, None))
        if ok and low is not None and not low <= value <= high:
            ok = False
        if not ok:
            bounds = f" from {low:g} to {high:g}" if low is not None else ""
            raise StylelabError(
                f"{where}: [sweep] {key} must be {_kind_name(kind)}{bounds}, {_got(value)}"
            )
        values[key] = float(value) if kind is float else value
    name = values.get("name", "")
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise StylelabError(
            f"{where}: [sweep] name must be one line of at most {MAX_NAME_LENGTH} characters, "
            f"{_got(name)}"
        )
    return SweepSettings(**values)


def _yardsticks(value: Any, where: str) -> tuple[str, ...]:
    """``[sweep] yardsticks``: a non-empty list of distinct names of stylelab.evaluate's."""
    from stylelab.evaluate import YARDSTICKS

    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v in YARDSTICKS for v in value)
        or len(set(value)) != len(value)
    ):
        raise StylelabError(
            f"{where}: [sweep] yardsticks must be a list of distinct names from "
            f'{", ".join(YARDSTICKS)} (e.g. yardsticks = ["vgg", "texture"]), {_got(value)}'
        )
    return tuple(value)


#: The bounds of the numeric [sweep] settings (both ends included); each says why above.
_SETTING_RANGES: dict[str, tuple[float, float]] = {
    "evaluate_size": (MIN_SIZE, MAX_SIZE),
    "timeout_s": (0.0, MAX_TIMEOUT_S),
    "threads": (0, MAX_THREADS),
    "cpus_per_run": (0.0, MAX_RESOURCES_PER_RUN),
    "gpus_per_run": (0.0, MAX_RESOURCES_PER_RUN),
}


def _table(table: Any, name: str, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise StylelabError(f"{where}: {name} must be a table, {_got(table)}")
    known = option_names()
    for key in table:
        if key not in known:
            raise StylelabError(
                f"{where}: unknown option {_name(key)} in {name}{_suggest(key, known)}; "
                "the options are content, style and the fields of stylelab.StylizeConfig "
                "(see stylelab stylize --help)"
            )
    return dict(table)


def _kind_name(kind: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        kind, str(kind)
    )


def _hashable(value: Any) -> Any:
    """A JSON-able value as a hashable one (lists become tuples; 1 and 1.0 stay apart)."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return (type(value).__name__, value)


def _coerce(key: str, value: Any, where: str) -> Any:
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
                f"{_got(value)}"
            )
        what = "an image path or example:NAME" + (
            " (or, for a blend, a list of them)" if key == "style" else " (one image)"
        )
        raise StylelabError(f"{where}: expected {what}, {_got(value)}")
    spec = field_spec(key)
    if spec.many:
        items = [p.strip() for p in value.split(",")] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise StylelabError(
                f"{where}: expected a non-empty list of {_PLURALS[spec.kind]} "
                f"(or a comma-separated string), {_got(value)}"
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
    return _refuse(f"{where}: expected {_kind_name(kind)}, {_got(value)}{hint}")


def _refuse(message: str) -> typing.NoReturn:
    raise StylelabError(message)


def _to_field(key: str, value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def resolve_image(source: str, base_dir: Path) -> str:
    """``example:NAME`` as is; a relative path against the sweep file's folder."""
    if source.startswith("example:"):
        return source
    try:
        path = Path(source).expanduser()
    except RuntimeError:  # ~user of no such user: a name like any other
        path = Path(source)
    if path.is_absolute():
        return str(path)
    try:
        return str((base_dir / path).resolve())
    except (OSError, RuntimeError):  # a loop of links: reading it will say so
        return str(base_dir / path)


def resolve_paths(params: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """The run's parameters with relative image, mask and weight paths made absolute; a
    style path in ``region_style`` is resolved as the style list is, so the two match."""
    out = dict(params)
    for key in ("content", "init", "weights", "mask"):
        value = out.get(key)
        if isinstance(value, str) and (
            key == "content"
            or (key == "init" and value not in INITS)
            or (key == "weights" and value not in WEIGHT_KEYWORDS)
            or (key == "mask" and value)
        ):
            out[key] = resolve_image(value, base_dir)
    style = out["style"]
    out["style"] = (
        [resolve_image(s, base_dir) for s in style]
        if isinstance(style, list)
        else resolve_image(style, base_dir)
    )
    if isinstance(out.get("region_style"), str):
        out["region_style"] = _resolve_region_styles(out["region_style"], base_dir)
    return out


def _resolve_region_styles(text: str, base_dir: Path) -> str:
    """``#rrggbb=STYLE,...`` with each STYLE that is a path (not an index or ``none``)
    resolved against the sweep file's folder; a malformed part is left for the run's
    own one-line check."""
    parts = []
    for part in text.split(","):
        colour, equals, style = part.partition("=")
        name = style.strip()
        if equals and name and not name.isdecimal() and name.lower() != "none":
            part = f"{colour}={resolve_image(name, base_dir)}"
        parts.append(part)
    return ",".join(parts)


def input_files(sweep: Sweep) -> list[str]:
    """Every file the runs read (images, weights), resolved: what no output may be."""
    found: set[str] = set()
    for run in sweep.runs:
        resolved = resolve_paths({**run.params, "weights": run.config.weights}, sweep.base_dir)
        styles = resolved["style"] if isinstance(resolved["style"], list) else [resolved["style"]]
        sources = (resolved["content"], *styles, resolved.get("init"), resolved["weights"])
        for source in (*sources, resolved.get("mask")):
            if isinstance(source, str) and os.path.isabs(source):
                found.add(source)
        if run.config.init not in INITS:
            found.add(resolve_image(run.config.init, sweep.base_dir))
    return sorted(found)


def _styles(run: Run) -> list[str]:
    style = run.params["style"]
    return list(style) if isinstance(style, list) else [style]


def _check_blends(runs: list[Run], where: str, varied: typing.Sequence[str]) -> None:
    """``style_blend`` has one weight per style image (cheap: before reading any image)."""
    for run in runs:
        blend = run.config.style_blend
        if blend is not None and len(blend) != len(_styles(run)):
            raise StylelabError(
                f"{_run_context(where, run, varied)}: style_blend has {len(blend)} "
                f"weights for {len(_styles(run))} style images; give one weight per style"
            )


def _image_sources(run: Run) -> list[tuple[str, str]]:
    """(key, source) of every image a run reads."""
    sources = [("content", run.params["content"])] + [("style", s) for s in _styles(run)]
    if run.config.init not in INITS:
        sources.append(("init", run.config.init))
    return sources


def _check_images(runs: list[Run], base_dir: Path, where: str) -> dict[str, tuple[int, int]]:
    """Read every image once (examples by name); ``{source: (height, width)}``."""
    from stylelab.examples import list_examples
    from stylelab.images import load_image
    from stylelab.stylize import check_finite

    shapes: dict[str, tuple[int, int]] = {}
    masks_read: set[str] = set()
    for run in runs:
        for key, source in _image_sources(run):
            if source in shapes:
                continue
            if source.startswith("example:") and source[len("example:") :] not in list_examples():
                raise StylelabError(
                    f"{where}: {key}: unknown example {_toml(source)}; choose from: "
                    + ", ".join(f"example:{n}" for n in list_examples())
                )
            try:
                image = check_finite(load_image(resolve_image(source, base_dir)), "image")
            except StylelabError as exc:
                raise StylelabError(f"{where}: {key}: {exc}") from None
            shapes[source] = (int(image.shape[-2]), int(image.shape[-1]))
        if run.config.mask and run.config.mask not in masks_read:
            _check_mask(run.config.mask, shapes[run.params["content"]], base_dir, where)
            masks_read.add(run.config.mask)
    return shapes


def _check_mask(mask: str, photo_hw: tuple[int, int], base_dir: Path, where: str) -> None:
    """Read ``mask`` as each run will (:func:`stylelab.masks.read_mask`: any size, at most
    MAX_REGIONS colours), so a bad mask stops the sweep before any run."""
    import warnings

    from stylelab.masks import read_mask

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # another aspect ratio: each run says so
            read_mask(resolve_image(mask, base_dir), photo_hw)
    except StylelabError as exc:
        raise StylelabError(f"{where}: mask: {exc}") from None


def _check_layers(runs: list[Run], base_dir: Path, where: str) -> None:
    """Backbone names, weights files and layer names, once per distinct combination.

    A weights file given by path is read here (safely: :func:`stylelab.backbones.weights.
    read_state_dict` never runs code from a file), so that a missing, damaged or foreign
    file stops the sweep before any run; ``pretrained`` and ``torchvision`` are read by
    each run (where they are missing, those runs are recorded as failed). Layer names are
    resolved on a network built once per backbone.
    """
    from stylelab.backbones import load_backbone
    from stylelab.backbones.registry import check_pooling

    built: dict[tuple[str, str, str], Any] = {}
    for run in runs:
        cfg = run.config
        try:
            check_pooling(cfg.backbone, cfg.pooling)
        except StylelabError as exc:
            raise StylelabError(f"{where}: {exc}") from None
        weights = cfg.weights
        if weights not in WEIGHT_KEYWORDS:
            weights = resolve_image(weights, base_dir)
            if not Path(weights).exists():
                hint = _suggest(cfg.weights, WEIGHT_KEYWORDS)
                raise StylelabError(
                    f"{where}: weights {_toml(cfg.weights)}: no such file{hint}; use "
                    f"{' | '.join(WEIGHT_KEYWORDS)} or a PATH to a state dict"
                )
        layers = (
            (cfg.content_layers or ()) + (cfg.style_layers or ()) + (cfg.smoothing_layers or ())
        )
        file_weights = weights not in WEIGHT_KEYWORDS
        if not layers and not file_weights:
            continue
        key = (cfg.backbone, cfg.pooling, weights if file_weights else "random")
        if key not in built:
            try:
                built[key] = load_backbone(cfg.backbone, key[2], cfg.pooling)
            except StylelabError as exc:
                raise StylelabError(
                    f"{where}: weights: {exc}" if file_weights else f"{where}: {exc}"
                ) from None
        for layer in layers:
            try:
                built[key].resolve(layer)
            except StylelabError as exc:
                raise StylelabError(f"{where}: {exc}") from None


def check_runs_fit(sweep: Sweep) -> None:
    """For runs on this machine: their devices exist, their precisions apply there, and
    each run's memory estimate fits (one line saying what would fit, else)."""
    from stylelab.limits import check_evaluate_memory, check_memory, long_edge_shape
    from stylelab.precision import resolve_device, resolve_precision

    where = sweep.where
    shapes = sweep.shapes or _check_images(list(sweep.runs), sweep.base_dir, where)
    devices: dict[str, Any] = {}
    for run in sweep.runs:
        cfg = run.config
        context = _run_context(where, run, sweep.varied)
        try:
            if cfg.device not in devices:
                devices[cfg.device] = resolve_device(cfg.device)
            device = devices[cfg.device]
            resolve_precision(cfg.precision, device)
            content_hw = shapes[run.params["content"]]
            check_memory(cfg, content_hw, [shapes[s] for s in _styles(run)], device)
            if sweep.settings.evaluate:
                check_evaluate_memory(
                    sweep.settings.evaluate_size, long_edge_shape(content_hw, cfg.size)
                )
        except StylelabError as exc:
            raise StylelabError(f"{context}: {exc}") from None

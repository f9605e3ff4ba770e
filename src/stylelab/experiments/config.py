"""Sweep files: TOML with ``[sweep]`` settings, ``[base]`` options, a ``[grid]`` and ``[[runs]]``.

    [sweep]                       # optional settings of the sweep itself
    evaluate_size = 256           # size of the independent yardstick (stylelab.evaluate)
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
before anything runs: an unknown key or a bad value raises a ``StylelabError`` naming it.
A run's id is a hash of its parameters, so it is the same in every invocation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError
from stylelab.safety import check_input_file, describe_os_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

IMAGE_KEYS = ("content", "style")
MAX_RUNS = 200  # more runs than this need an explicit yes (sweep --yes)
MAX_RUNS_WITH_YES = 100_000  # even with --yes: a grid this large is a typo
MAX_SWEEP_BYTES = 1 << 20
TOP_LEVEL = ("sweep", "base", "grid", "runs")
WEIGHT_KEYWORDS = ("pretrained", "torchvision", "random")


@dataclass(frozen=True)
class SweepSettings:
    """The ``[sweep]`` table: how runs are executed and scored (not what they compute)."""

    name: str = ""
    evaluate: bool = True
    evaluate_size: int = 512
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

    def fingerprint(self) -> str:
        """Identity of the sweep: its runs and how they are scored."""
        payload = {
            "runs": sorted(r.run_id for r in self.runs),
            "evaluate": self.settings.evaluate,
            "evaluate_size": self.settings.evaluate_size,
        }
        return _digest(payload, 16)


def option_names() -> tuple[str, ...]:
    return IMAGE_KEYS + tuple(f.name for f in dataclasses.fields(StylizeConfig))


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
    if path.stat().st_size > MAX_SWEEP_BYTES:
        raise StylelabError(f"{path}: {path.stat().st_size:,} bytes is too large for a sweep file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StylelabError(f"{path}: not UTF-8 text (byte {exc.start}); TOML is UTF-8") from None
    except OSError as exc:
        raise StylelabError(describe_os_error(exc, path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StylelabError(f"{path}: not valid TOML ({exc})") from None
    return parse_sweep(
        data, text=text, base_dir=path.resolve().parent, where=str(path), max_runs=max_runs
    )


def parse_sweep(
    data: dict[str, Any],
    *,
    text: str = "",
    base_dir: Path | None = None,
    where: str = "sweep",
    max_runs: int = MAX_RUNS,
) -> Sweep:
    unknown = [k for k in data if k not in TOP_LEVEL]
    if unknown:
        raise StylelabError(
            f"{where}: unknown table {unknown[0]!r}; expected: {', '.join(TOP_LEVEL)}"
        )
    settings = _settings(data.get("sweep", {}), where)
    base = _table(data.get("base", {}), "[base]", where)
    grid = _table(data.get("grid", {}), "[grid]", where)
    explicit = data.get("runs", [])
    if not isinstance(explicit, list) or not all(isinstance(r, dict) for r in explicit):
        raise StylelabError(f"{where}: 'runs' must be an array of tables ([[runs]])")

    base_params = {k: _coerce(k, v, f"[base] {k}") for k, v in base.items()}
    axes: list[tuple[str, list[Any]]] = []
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise StylelabError(f"{where}: [grid] {key} must be a non-empty list of values")
        axes.append((key, [_coerce(key, v, f"[grid] {key}", in_grid=True) for v in values]))

    count = math.prod(len(values) for _, values in axes) if axes or not explicit else 0
    count += len(explicit)
    if count > max_runs:
        more = " (add --yes to run them all)" if max_runs < MAX_RUNS_WITH_YES else ""
        raise StylelabError(f"{where}: {count:,} runs is more than {max_runs:,}{more}")
    combos: list[dict[str, Any]] = []
    if axes or not explicit:
        for values in itertools.product(*(vals for _, vals in axes)):
            combos.append({**base_params, **dict(zip((k for k, _ in axes), values, strict=True))})
    for number, run in enumerate(explicit, start=1):
        table = _table(run, f"[[runs]] #{number}", where)
        changes = {k: _coerce(k, v, f"[[runs]] #{number} {k}") for k, v in table.items()}
        combos.append({**base_params, **changes})

    base_dir = base_dir or Path.cwd()
    runs: list[Run] = []
    seen: set[str] = set()
    for params in combos:
        for key in IMAGE_KEYS:
            if key not in params:
                raise StylelabError(f"{where}: no {key!r} image; set it in [base] or [grid]")
        config = build_config(params, context=f"{where}: run {_describe(params, axes)}")
        run_id = run_id_for(params)
        if run_id in seen:  # the same parameters twice (grid and [[runs]]): run it once
            continue
        seen.add(run_id)
        runs.append(Run(run_id, len(runs), params, config))
    if not runs:
        raise StylelabError(f"{where}: no runs (give a [grid], [[runs]] or at least [base])")
    _check_images(runs, base_dir, where)
    _check_layers(runs, base_dir, where)
    varied = tuple(
        key
        for key in option_names()
        if len({json.dumps(r.params.get(key), sort_keys=True) for r in runs}) > 1
    )
    return Sweep(settings, tuple(runs), varied, text, base_dir)


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


def _describe(params: dict[str, Any], axes: list[tuple[str, list[Any]]]) -> str:
    keys = [k for k, _ in axes] or [k for k in params if k not in IMAGE_KEYS]
    return "(" + ", ".join(f"{k}={format_value(params.get(k))}" for k in keys) + ")"


def _settings(table: Any, where: str) -> SweepSettings:
    if not isinstance(table, dict):
        raise StylelabError(f"{where}: [sweep] must be a table")
    known = {f.name: f for f in dataclasses.fields(SweepSettings)}
    hints = typing.get_type_hints(SweepSettings)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise StylelabError(
                f"{where}: unknown [sweep] setting {key!r}; known: {', '.join(known)}"
            )
        kind = hints[key]
        ok = (
            isinstance(value, bool)
            if kind is bool
            else isinstance(value, kind) and not isinstance(value, bool)
            if kind in (int, str)
            else isinstance(value, (int, float)) and not isinstance(value, bool)
        )
        if not ok or (kind in (int, float) and (not math.isfinite(value) or value < 0)):
            raise StylelabError(
                f"{where}: [sweep] {key} must be {_kind_name(kind)}"
                f"{' >= 0' if kind in (int, float) else ''}, got {value!r}"
            )
        values[key] = float(value) if kind is float else value
    settings = SweepSettings(**values)
    if settings.evaluate_size < 16:
        raise StylelabError(f"{where}: [sweep] evaluate_size must be >= 16")
    return settings


def _table(table: Any, name: str, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise StylelabError(f"{where}: {name} must be a table")
    known = option_names()
    for key in table:
        if key not in known:
            close = [k for k in known if k.startswith(key[:4])]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise StylelabError(f"{where}: unknown option {key!r} in {name}{hint}")
    return dict(table)


def _kind_name(kind: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        kind, str(kind)
    )


def _field_kind(key: str) -> Any:
    hint = typing.get_type_hints(StylizeConfig)[key]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = args[0] if len(args) == 1 else hint
    return hint


def _coerce(key: str, value: Any, where: str, in_grid: bool = False) -> Any:
    """Check a TOML value against the option's type; return a JSON-able canonical value."""
    if key in IMAGE_KEYS:
        if isinstance(value, str) and value:
            return value
        if (
            key == "style"
            and isinstance(value, list)
            and value
            and all(isinstance(v, str) and v for v in value)
        ):
            return list(value)
        raise StylelabError(f"{where}: expected an image path or example:NAME, got {value!r}")
    kind = _field_kind(key)
    origin = typing.get_origin(kind)
    if origin is tuple:
        inner = typing.get_args(kind)[0]
        items = [p.strip() for p in value.split(",")] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise StylelabError(f"{where}: expected a list (or comma-separated string)")
        return [_scalar(inner, item, where) for item in items]
    return _scalar(kind, value, where)


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
    elif kind is str:
        if isinstance(value, str):
            return value
    else:  # a type this module does not know: pass it through, StylizeConfig decides
        return value
    raise StylelabError(f"{where}: expected {_kind_name(kind)}, got {value!r}")


def _to_field(key: str, value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def resolve_image(source: str, base_dir: Path) -> str:
    """``example:NAME`` as is; a relative path against the sweep file's folder."""
    if source.startswith("example:"):
        return source
    path = Path(source).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def resolve_paths(params: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """The run's parameters with relative image and weight paths made absolute."""
    out = dict(params)
    for key in ("content", "init", "weights"):
        value = out.get(key)
        if isinstance(value, str) and (
            key == "content"
            or (key == "init" and value not in ("content", "noise", "style"))
            or (key == "weights" and value not in WEIGHT_KEYWORDS)
        ):
            out[key] = resolve_image(value, base_dir)
    style = out["style"]
    out["style"] = (
        [resolve_image(s, base_dir) for s in style]
        if isinstance(style, list)
        else resolve_image(style, base_dir)
    )
    return out


def _check_images(runs: list[Run], base_dir: Path, where: str) -> None:
    from stylelab.examples import list_examples
    from stylelab.images import load_image

    sources: set[str] = set()
    for run in runs:
        styles = run.params["style"]
        sources.add(run.params["content"])
        sources.update(styles if isinstance(styles, list) else [styles])
        init = run.params.get("init", "content")
        if init not in ("content", "noise", "style"):
            sources.add(init)
    for source in sorted(sources):
        if source.startswith("example:"):
            if source[len("example:") :] not in list_examples():
                raise StylelabError(
                    f"{where}: unknown example {source!r}; choose from: "
                    + ", ".join(f"example:{n}" for n in list_examples())
                )
            continue
        try:
            load_image(resolve_image(source, base_dir))
        except StylelabError as exc:
            raise StylelabError(f"{where}: {exc}") from None


def _check_layers(runs: list[Run], base_dir: Path, where: str) -> None:
    """Backbone names and layer names, on randomly initialized backbones (no weights read)."""
    from stylelab.backbones import list_backbones, load_backbone

    names = list_backbones()
    built: dict[tuple[str, str], Any] = {}
    for run in runs:
        cfg = run.config
        weights = resolve_image(cfg.weights, base_dir)
        if cfg.weights not in WEIGHT_KEYWORDS and not Path(weights).exists():
            raise StylelabError(
                f"{where}: weights {cfg.weights!r}: no such file; use "
                f"{' | '.join(WEIGHT_KEYWORDS)} or a PATH to a state dict"
            )
        if cfg.backbone not in names:
            raise StylelabError(
                f"{where}: unknown backbone {cfg.backbone!r}; choose from: {', '.join(names)}"
            )
        layers = (cfg.content_layers or ()) + (cfg.style_layers or ())
        if not layers:
            continue
        key = (cfg.backbone, cfg.pooling)
        if key not in built:
            built[key] = load_backbone(cfg.backbone, "random", cfg.pooling)
        for layer in layers:
            try:
                built[key].resolve(layer)
            except StylelabError as exc:
                raise StylelabError(f"{where}: {exc}") from None

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
import itertools
import math
import sys
import typing
from pathlib import Path
from typing import Any

from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError
from stylelab.experiments.inputs import (
    check_blends,
    check_images,
    check_layers,
    check_min_edges,
)
from stylelab.experiments.values import (
    IMAGE_KEYS,
    Run,
    Sweep,
    SweepSettings,
    as_toml,
    coerce,
    describe,
    got,
    key_name,
    kind_name,
    option_names,
    run_id_for,
    suggest,
)
from stylelab.limits import MAX_SIZE, MIN_SIZE
from stylelab.safety import check_input_file, describe_os_error, one_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

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
        raise StylelabError(f"{where}: expected a TOML document (a table), got {as_toml(data)}")
    for key in data:
        if key not in TOP_LEVEL:
            kind = "table" if isinstance(data[key], dict) else "key"
            raise StylelabError(
                f"{where}: unknown top-level {kind} {key_name(key)}{suggest(key, TOP_LEVEL)}; "
                f"expected [sweep], [base], [grid] or [[runs]]"
            )
    settings = _settings(data.get("sweep", {}), where)
    base = _table(data.get("base", {}), "[base]", where)
    grid = _table(data.get("grid", {}), "[grid]", where)
    explicit = data.get("runs", [])
    if not isinstance(explicit, list) or not all(isinstance(r, dict) for r in explicit):
        raise StylelabError(
            f"{where}: runs must be an array of tables ([[runs]] sections), got {as_toml(explicit)}"
        )
    tables = [_table(run, f"[[runs]] #{n}", where) for n, run in enumerate(explicit, start=1)]

    base_params = {k: coerce(k, v, f"{where}: [base] {k}") for k, v in base.items()}
    axes: list[tuple[str, list[Any]]] = []
    for key, values in grid.items():
        at = f"{where}: [grid] {key}"
        if not isinstance(values, list):
            example = f" (e.g. {key} = [{as_toml(values)}])" if not isinstance(values, dict) else ""
            raise StylelabError(f"{at} must be a list of values{example}, {got(values)}")
        if not values:
            raise StylelabError(f"{at} is an empty list, which makes no runs; give it values")
        axes.append((key, [coerce(key, v, at) for v in values]))

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
            combos.append((f"{where}: run ({describe(choice)})", {**base_params, **choice}))
    for number, table in enumerate(tables, start=1):
        at = f"{where}: [[runs]] #{number}"
        changes = {k: coerce(k, v, f"{at} {k}") for k, v in table.items()}
        combos.append((at, {**base_params, **changes}))

    base_dir = base_dir or Path.cwd()
    runs = _build_runs(combos, where)
    present = {key for run in runs for key in run.params}
    varied = tuple(
        key
        for key in option_names()
        if key in present and len({_hashable(r.params.get(key)) for r in runs}) > 1
    )
    check_blends(runs, where, varied)
    shapes = check_images(runs, base_dir, where)
    check_layers(runs, base_dir, where)  # an unknown backbone is named before a size
    check_min_edges(runs, shapes, where, varied)
    return Sweep(settings, tuple(runs), varied, text, base_dir, shapes, where)


def _build_runs(combos: list[tuple[str, dict[str, Any]]], where: str) -> list[Run]:
    """One Run per distinct ``(context, params)``: its config built (and so checked)."""
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
    return runs


def build_config(params: dict[str, Any], context: str = "") -> StylizeConfig:
    """StylizeConfig from sweep parameters (content/style are left out)."""
    options = {k: _to_field(k, v) for k, v in params.items() if k not in IMAGE_KEYS}
    try:
        return StylizeConfig(**options)
    except StylelabError as exc:
        raise StylelabError(f"{context}: {exc}" if context else str(exc)) from None


def _settings(table: Any, where: str) -> SweepSettings:
    if not isinstance(table, dict):
        raise StylelabError(f"{where}: [sweep] must be a table, {got(table)}")
    known = {f.name: f for f in dataclasses.fields(SweepSettings)}
    hints = typing.get_type_hints(SweepSettings)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise StylelabError(
                f"{where}: unknown [sweep] setting {key_name(key)}{suggest(key, list(known))}; "
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
                f"{where}: [sweep] {key} must be {kind_name(kind)}{bounds}, {got(value)}"
            )
        values[key] = float(value) if kind is float else value
    name = values.get("name", "")
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise StylelabError(
            f"{where}: [sweep] name must be one line of at most {MAX_NAME_LENGTH} characters, "
            f"{got(name)}"
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
            f'{", ".join(YARDSTICKS)} (e.g. yardsticks = ["vgg", "texture"]), {got(value)}'
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
        raise StylelabError(f"{where}: {name} must be a table, {got(table)}")
    known = option_names()
    for key in table:
        if key not in known:
            raise StylelabError(
                f"{where}: unknown option {key_name(key)} in {name}{suggest(key, known)}; "
                "the options are content, style and the fields of stylelab.StylizeConfig "
                "(see stylelab stylize --help)"
            )
    return dict(table)


def _hashable(value: Any) -> Any:
    """A JSON-able value as a hashable one (lists become tuples; 1 and 1.0 stay apart)."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return (type(value).__name__, value)


def _to_field(key: str, value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value

"""The robustness study's statistics: a sweep of backbone x smoothing over (pair, seed) units,
scored by two yardsticks, summarized with bootstrap intervals, win counts and verdicts.

``stylelab report RUNDIR --study OUTDIR`` reads a finished sweep (``examples/study.toml``),
scores every output that has no score yet with each yardstick (:func:`stylelab.evaluate.
evaluate`, ``vgg`` and ``texture``; one process, so each reference is loaded once) and
writes into OUTDIR:

- ``study_scores.csv``: one row per run, its configuration, unit and four distances
  (read back on the next call, so a run is scored once);
- ``study_tables.md``: per configuration (backbone x smoothing) and yardstick the mean
  style distance with a 95 % bootstrap interval, the number of units (photo, painting,
  seed) where it is the best of all configurations, the mean content distance; then the
  paper's claims, each as paired comparisons with their verdicts;
- ``study_ranking.png``: the configurations ranked by mean style distance, one panel per
  yardstick, with the intervals.

Statistics. A unit u is one (photo, painting, seed); each configuration has one distance
d_c(u) per unit. The interval of a mean is the 2.5 and 97.5 percentiles of the means over
``resamples`` bootstrap resamples of the units (drawn with replacement from a fixed seed;
the same draws for every configuration). A comparison "A better than B" is on the paired
differences d_B(u) - d_A(u) (> 0: A is better): their mean, its bootstrap interval, and
the number of units where A wins. Verdict: ``holds`` when the whole interval is above 0,
``reversed`` when it is below 0, else ``unresolved`` with the sign of the mean; with
fewer than ``MIN_UNITS`` units, ``too few units`` with that sign.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stylelab.errors import StylelabError
from stylelab.limits import show

#: The yardsticks and their summary.csv columns (style, content).
COLUMNS = {
    "vgg": ("style_distance", "content_distance"),
    "texture": ("texture_style", "texture_content"),
}
NAMES = {"vgg": "VGG19 Gram", "texture": "texture (no CNN)"}
SCORES = "study_scores.csv"
TABLES = "study_tables.md"
RANKING = "study_ranking.png"
STUDY_FILES = (SCORES, TABLES, RANKING)
SCORE_COLUMNS = (
    "run_id",
    "backbone",
    "smoothing",
    "content",
    "style",
    "seed",
    *COLUMNS["vgg"],
    *COLUMNS["texture"],
)
RESAMPLES = 2000
#: Fewer (pair, seed) units than this give no verdict: a bootstrap of 1-4 values is no
#: interval (a single unit's is a point).
MIN_UNITS = 5
MAX_RESAMPLES = 100_000  # x units x configurations floats: past this, memory, not precision
BOOTSTRAP_SEED = 0
LABELS = {
    "vgg19": "VGG19",
    "noresnet50": "NoResNet-50",
    "pseudo_vgg": "pseudo-VGG",
    "pseudo_resvgg": "pseudo-ResVGG",
    "resnet50": "ResNet-50",
    "wide_resnet50_2": "Wide-ResNet-50-2",
    "googlenet": "GoogLeNet",
    "inception_v3": "Inception v3",
    "densenet121": "DenseNet-121",
}


def config_label(backbone: str, smoothing: str) -> str:
    name = "r-" + LABELS.get(backbone, backbone)
    return name if smoothing == "none" else f"{name} + {smoothing}"


# ---------------------------------------------------------------- statistics


def bootstrap_indices(
    units: int, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> np.ndarray:
    """(resamples, units) indices drawn with replacement from a fixed seed."""
    return np.random.default_rng(seed).integers(0, units, size=(resamples, units))


def mean_interval(
    values: Sequence[float] | np.ndarray, draws: np.ndarray
) -> tuple[float, float, float]:
    """Mean and 95 % percentile-bootstrap interval of ``values`` over the ``draws``."""
    v = np.asarray(values, dtype=np.float64)
    means = v[draws].mean(axis=1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


@dataclass(frozen=True)
class Comparison:
    """A better than B on paired units: mean of d_B - d_A, its interval, A's wins."""

    better: str
    worse: str
    mean: float
    low: float
    high: float
    wins: int
    units: int

    @property
    def verdict(self) -> str:
        if self.units < MIN_UNITS:
            return f"too few units ({self.units}; leans " + ("yes" if self.mean > 0 else "no") + ")"
        if self.low > 0:
            return "holds"
        if self.high < 0:
            return "reversed"
        return "unresolved (leans " + ("yes" if self.mean > 0 else "no") + ")"


def compare(table: dict[str, np.ndarray], better: str, worse: str, draws: np.ndarray) -> Comparison:
    diff = table[worse] - table[better]
    mean, low, high = mean_interval(diff, draws)
    return Comparison(better, worse, mean, low, high, int((diff > 0).sum()), len(diff))


def unit_table(
    scores: Sequence[dict[str, Any]], column: str
) -> tuple[dict[str, np.ndarray], list[tuple[str, str, str]]]:
    """``{config: distances in unit order}`` on the units that every configuration has a
    score on (an unfinished sweep: its complete units only), and those units."""
    values: dict[str, dict[tuple[str, str, str], float]] = {}
    for row in scores:
        value = _float(row.get(column))
        if not math.isnan(value):
            unit = (row["content"], row["style"], str(row["seed"]))
            values.setdefault(config_key(row["backbone"], row["smoothing"]), {})[unit] = value
    if not values:
        return {}, []
    shared = set.intersection(*(set(v) for v in values.values()))
    units = sorted(shared)
    return {k: np.array([v[u] for u in units]) for k, v in values.items()}, units


def config_key(backbone: str, smoothing: str) -> str:
    return f"{backbone}/{smoothing}"


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


# ---------------------------------------------------------------- claims

#: The paper's claims as (name, list of "A better than B" comparisons on the style
#: distance of configurations backbone/smoothing).
NONE = "none"


def claims(table: dict[str, np.ndarray], draws: np.ndarray) -> list[dict[str, Any]]:
    """The four claims of the paper, each with its comparisons and a verdict: ``holds``
    if every comparison holds, ``fails`` if one is reversed, else ``unresolved``."""

    def key(backbone: str, smoothing: str = NONE) -> str:
        return config_key(backbone, smoothing)

    def have(*keys: str) -> bool:
        return all(k in table for k in keys)

    out: list[dict[str, Any]] = []

    def add(name: str, pairs: list[tuple[str, str]]) -> None:
        found = [compare(table, a, b, draws) for a, b in pairs if have(a, b)]
        if not found:
            return
        verdicts = [c.verdict for c in found]
        overall = (
            "too few units"
            if any(v.startswith("too few") for v in verdicts)
            else "holds"
            if all(v == "holds" for v in verdicts) and len(found) == len(pairs)
            else "fails"
            if any(v == "reversed" for v in verdicts)
            else "unresolved"
        )
        out.append({"claim": name, "comparisons": found, "verdict": overall})

    add("(a) r-VGG better than r-ResNet", [(key("vgg19"), key("resnet50"))])
    add(
        "(b) without residuals (NoResNet, pseudo-VGG) ResNet comes close to VGG",
        [(key("noresnet50"), key("resnet50")), (key("pseudo_vgg"), key("resnet50"))],
    )
    others = [
        k
        for k in table
        if k.endswith("/" + NONE) and k != key("pseudo_resvgg") and k.split("/")[0] in LABELS
    ]
    add("(c) pseudo-ResVGG is the worst", [(k, key("pseudo_resvgg")) for k in others])
    add(
        "(d) SWAG (softmax) improves ResNet, Wide-ResNet and Inception",
        [
            (key(b, "softmax"), key(b))
            for b in ("resnet50", "wide_resnet50_2", "googlenet", "inception_v3")
        ],
    )
    return out


# ---------------------------------------------------------------- scoring


def score_runs(
    rundir: str | os.PathLike,
    yardsticks: Sequence[str] = ("vgg", "texture"),
    size: int | None = None,
    cached: dict[str, dict[str, str]] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """One score row per finished run of the sweep in ``rundir``: the summary's own
    distances where it has them, the ``cached`` rows next, else ``output.png`` scored
    now with each yardstick at ``size`` (default: the run's own size)."""
    from tqdm import tqdm

    from stylelab.evaluate import evaluate
    from stylelab.experiments.rundir import RUNS, read_summary
    from stylelab.images import load_image
    from stylelab.records import read_json

    root = Path(rundir)
    rows = [r for r in read_summary(root) if r.get("status") == "done"]
    out: list[dict[str, Any]] = []
    images: dict[str, Any] = {}  # each photo and painting read once

    def image(source: str) -> Any:
        if source not in images:
            images[source] = load_image(source)
        return images[source]

    for row in tqdm(rows, desc="score", unit="run", disable=not progress):
        score: dict[str, Any] = {k: row.get(k, "") for k in SCORE_COLUMNS}
        old = (cached or {}).get(row["run_id"], {})
        for yardstick in yardsticks:
            for column in COLUMNS[yardstick]:
                if math.isnan(_float(score[column])):
                    score[column] = old.get(column, "")
            if all(not math.isnan(_float(score[c])) for c in COLUMNS[yardstick]):
                continue
            folder = root / RUNS / row["run_id"]
            spec = read_json(folder / "run.json")
            if spec is None:
                raise StylelabError(f"{folder}: no run.json; is this a sweep's run folder?")
            styles = spec["style"] if isinstance(spec["style"], list) else [spec["style"]]
            result = evaluate(
                folder / "output.png",
                image(spec["content"]),
                [image(s) for s in styles],
                size=size or int(row.get("size") or 512),
                yardstick=yardstick,
            )
            style_column, content_column = COLUMNS[yardstick]
            score[style_column] = result["style_distance"]
            score[content_column] = result["content_distance"]
        out.append(score)
    return out


def read_scores(path: Path) -> dict[str, dict[str, str]]:
    """A previous ``study_scores.csv`` by run id ({} if there is none)."""
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["run_id"]: row for row in csv.DictReader(handle) if row.get("run_id")}


# ---------------------------------------------------------------- output


def _fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def summary_rows(
    scores: Sequence[dict[str, Any]], yardsticks: Sequence[str], draws_for: Callable[[int], Any]
) -> list[dict[str, Any]]:
    """Per configuration and yardstick: mean, interval and wins of the style distance,
    mean content distance."""
    rows: dict[str, dict[str, Any]] = {}
    for yardstick in yardsticks:
        style_column, content_column = COLUMNS[yardstick]
        table, units = unit_table(scores, style_column)
        contents, _ = unit_table(scores, content_column)
        if not table:
            continue
        draws = draws_for(len(units))
        keys = list(table)
        stacked = np.stack([table[k] for k in keys])
        best = np.argmin(stacked, axis=0)
        for i, key in enumerate(keys):
            mean, low, high = mean_interval(table[key], draws)
            row = rows.setdefault(key, {"config": key, "units": len(units)})
            row[yardstick] = (mean, low, high, int((best == i).sum()))
            if key in contents:
                row[f"{yardstick}_content"] = float(contents[key].mean())
    return list(rows.values())


def markdown(
    scores: Sequence[dict[str, Any]],
    yardsticks: Sequence[str] = ("vgg", "texture"),
    resamples: int = RESAMPLES,
) -> str:
    """The tables of the study (configurations, then claims) as Markdown."""

    def draws_for(n: int) -> np.ndarray:
        return bootstrap_indices(n, resamples)

    summary = summary_rows(scores, yardsticks, draws_for)
    order = _config_order([r["config"] for r in summary])
    by_key = {r["config"]: r for r in summary}
    units = max((r["units"] for r in summary), default=0)
    text = io.StringIO()
    head = ["configuration"]
    for y in yardsticks:
        head += [f"{NAMES[y]} style: mean [95 % CI]", "wins", f"{NAMES[y]} content"]
    text.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
    for key in order:
        row = by_key[key]
        cells = [config_label(*key.split("/"))]
        for y in yardsticks:
            if y in row:
                mean, low, high, wins = row[y]
                cells += [f"{_fmt(mean)} [{_fmt(low)}, {_fmt(high)}]", str(wins)]
                cells.append(_fmt(row.get(f"{y}_content", math.nan)))
            else:
                cells += ["", "", ""]
        text.write("| " + " | ".join(cells) + " |\n")
    text.write(
        f"\n{units} units (photo x painting x seed); wins: units where the configuration "
        "has the lowest style distance of all; intervals: percentile bootstrap over the "
        f"units, {resamples} resamples, seed {BOOTSTRAP_SEED}.\n"
    )
    for y in yardsticks:
        table, found = unit_table(scores, COLUMNS[y][0])
        if not table:
            continue
        text.write(
            f"\n**Claims under the {NAMES[y]} yardstick** (style distance; "
            "difference = worse - better, > 0 supports the claim)\n\n"
        )
        text.write("| claim | comparison | difference [95 % CI] | wins | verdict |\n")
        text.write("|---|---|---|---|---|\n")
        for claim in claims(table, bootstrap_indices(len(found), resamples)):
            for n, c in enumerate(claim["comparisons"]):
                name = f"{claim['claim']}: **{claim['verdict']}**" if n == 0 else ""
                text.write(
                    f"| {name} | {config_label(*c.better.split('/'))} < "
                    f"{config_label(*c.worse.split('/'))} | {c.mean:+.3f} "
                    f"[{c.low:+.3f}, {c.high:+.3f}] | {c.wins}/{c.units} | {c.verdict} |\n"
                )
    return text.getvalue()


def same_settings(work: Path, settings: dict[str, Any]) -> None:
    """Let a docs study reuse the models or images in ``work`` only if they were made with
    these ``settings`` (kept in ``work/settings.json``); otherwise one line."""
    record = work / "settings.json"
    if record.exists():
        found = json.loads(record.read_text())
        if found != settings:
            raise StylelabError(f"{work}: made with {found}, not {settings}; give another --work")
        return
    work.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(settings, indent=1) + "\n")


def distances_by_label(
    groups: Mapping[str, Sequence[Mapping[str, Any]]], yardsticks: Sequence[str]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, float]]]:
    """For :func:`distance_rows` and :func:`comparison_rows`: from score rows grouped by
    label (each row with ``<yardstick>_style`` and ``<yardstick>_content``, the groups in the
    same unit order), the style distances ``{yardstick: {label: array}}`` and the mean
    content distances ``{yardstick: {label: mean}}``."""
    style: dict[str, dict[str, np.ndarray]] = {y: {} for y in yardsticks}
    content: dict[str, dict[str, float]] = {y: {} for y in yardsticks}
    for label, rows in groups.items():
        for y in yardsticks:
            style[y][label] = np.array([float(r[f"{y}_style"]) for r in rows])
            content[y][label] = float(np.mean([float(r[f"{y}_content"]) for r in rows]))
    return style, content


def grouped_tables(
    first: str,
    groups: Mapping[str, Sequence[Mapping[str, Any]]],
    pairs: Sequence[tuple[str, str]],
    names: Mapping[str, str],
    draws: np.ndarray,
) -> str:
    """The docs studies' two tables for score rows grouped by label
    (:func:`distances_by_label`): :func:`distance_rows` headed ``first``, then
    :func:`comparison_rows` of ``pairs``, under each yardstick of ``names``."""
    style, content = distances_by_label(groups, list(names))
    return (
        distance_rows(first, style, content, names, draws)
        + "\n"
        + comparison_rows(style, pairs, names, draws)
    )


def distance_rows(
    first: str,
    style: Mapping[str, Mapping[str, np.ndarray]],
    content: Mapping[str, Mapping[str, float]],
    names: Mapping[str, str],
    draws: np.ndarray,
) -> str:
    """A markdown table: per row label (``first`` heads the column) and yardstick
    (``names``: key -> heading) the mean style distance over the units with its bootstrap
    interval, the units where the label is the best of the rows, the mean content distance.
    ``style[yardstick][label]`` holds the distances in unit order, ``content`` the means."""
    labels = list(next(iter(style.values())))
    head = f"| {first} |" + "".join(f" {n} style | wins | {n} content |" for n in names.values())
    lines = [head, "|---|" + "---|---|---|" * len(names)]
    best = {key: np.stack([style[key][label] for label in labels]).argmin(axis=0) for key in names}
    for index, label in enumerate(labels):
        line = f"| {label} |"
        for key in names:
            mean, low, high = mean_interval(style[key][label], draws)
            wins = int((best[key] == index).sum())
            line += f" {mean:.3f} [{low:.3f}, {high:.3f}] | {wins} | {content[key][label]:.3f} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def comparison_rows(
    style: Mapping[str, Mapping[str, np.ndarray]],
    pairs: Sequence[tuple[str, str]],
    names: Mapping[str, str],
    draws: np.ndarray,
) -> str:
    """A markdown table of "A better than B" comparisons (:func:`compare`) per yardstick."""
    lines = [
        "| comparison | yardstick | difference [95 % CI] (> 0: the first is better) | wins "
        "| verdict |",
        "|---|---|---|---|---|",
    ]
    for better, worse in pairs:
        for key, name in names.items():
            c = compare(dict(style[key]), better, worse, draws)
            lines.append(
                f"| {better} < {worse} | {name} | {c.mean:+.3f} [{c.low:+.3f}, {c.high:+.3f}] "
                f"| {c.wins}/{c.units} | {c.verdict} |"
            )
    return "\n".join(lines) + "\n"


def _config_order(keys: Sequence[str]) -> list[str]:
    known = list(LABELS)
    return sorted(
        keys,
        key=lambda k: (
            known.index(k.split("/")[0]) if k.split("/")[0] in known else len(known),
            k.split("/")[0],
            k.split("/")[1] != NONE,
            k,
        ),
    )


def plot_ranking(
    scores: Sequence[dict[str, Any]],
    path: str | os.PathLike,
    yardsticks: Sequence[str] = ("vgg", "texture"),
    resamples: int = RESAMPLES,
) -> None:
    """Configurations ranked by mean style distance, one panel per yardstick, with the
    95 % intervals; smoothed configurations in orange."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summary_rows(scores, yardsticks, lambda n: bootstrap_indices(n, resamples))
    panels = [y for y in yardsticks if any(y in r for r in summary)]
    fig, axes = plt.subplots(
        1, max(1, len(panels)), figsize=(6.2 * max(1, len(panels)), 6.5), constrained_layout=True
    )
    axes = np.atleast_1d(axes)
    for axis, y in zip(axes, panels, strict=False):
        rows = sorted((r for r in summary if y in r), key=lambda r: r[y][0])
        names = [config_label(*r["config"].split("/")) for r in rows]
        means = np.array([r[y][0] for r in rows])
        lows = means - np.array([r[y][1] for r in rows])
        highs = np.array([r[y][2] for r in rows]) - means
        colours = ["tab:orange" if r["config"].endswith("/softmax") else "tab:blue" for r in rows]
        positions = np.arange(len(rows))[::-1]
        axis.errorbar(means, positions, xerr=[lows, highs], fmt="none", ecolor="0.4", capsize=3)
        axis.scatter(means, positions, c=colours, zorder=3, s=36)
        axis.set_yticks(positions, names, fontsize=9)
        axis.set_xlabel("mean style distance (lower is better), 95 % CI")
        axis.set_title(f"{NAMES[y]} yardstick: best at the top")
        axis.grid(axis="x", alpha=0.3)
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=c, label=t)
        for c, t in (("tab:blue", "no smoothing"), ("tab:orange", "softmax (SWAG)"))
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2)
    try:
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)


def study_report(
    rundir: str | os.PathLike,
    outdir: str | os.PathLike,
    yardsticks: Sequence[str] = ("vgg", "texture"),
    size: int | None = None,
    resamples: int = RESAMPLES,
    progress: bool = False,
) -> list[Path]:
    """Score the sweep in ``rundir`` and write :data:`STUDY_FILES` into ``outdir``
    (together, or none); return their paths."""
    from stylelab.evaluate import check_yardstick
    from stylelab.records import csv_text
    from stylelab.safety import check_new_folder, check_output_file, write_together

    if not yardsticks:
        raise StylelabError("--yardsticks: none given; choose vgg, texture or both")
    for y in yardsticks:
        check_yardstick(y)
    if (
        isinstance(resamples, bool)
        or not isinstance(resamples, int)
        or not 100 <= resamples <= MAX_RESAMPLES
    ):
        raise StylelabError(
            f"--resamples must be an integer from 100 to {MAX_RESAMPLES}, got {show(resamples)}"
        )
    folder = check_new_folder(outdir)
    targets = [folder / name for name in STUDY_FILES]
    for target in targets:
        if target.exists() or target.is_symlink():
            check_output_file(target)
    scores = score_runs(rundir, yardsticks, size, read_scores(targets[0]), progress)
    if not scores:
        raise StylelabError(f"{rundir}: no finished runs to study")
    folder.mkdir(parents=True, exist_ok=True)
    with write_together(targets) as (scores_tmp, tables_tmp, plot_tmp):
        scores_tmp.write_text(csv_text(scores, SCORE_COLUMNS))
        tables_tmp.write_text(markdown(scores, yardsticks, resamples))
        plot_ranking(scores, plot_tmp, yardsticks, resamples)
    return targets

"""Figures and a page for a sweep's RUNDIR (matplotlib, Agg backend; no display needed).

- ``loss_curves.png``: total loss against iteration and against wall time, one row of two
  panels per varied parameter, one colour per value (the study's "optimizer results").
- ``contact_sheet.jpg``: every output, labelled with its varied parameters and status.
- ``bars.png``: wall time, style distance and content distance per run.
- ``index.html``: the three figures and the summary table.
"""

from __future__ import annotations

import csv
import html
import io
import math
import os
import warnings
from pathlib import Path
from typing import Any

from stylelab.errors import StylelabError
from stylelab.experiments.rundir import RUN_ID, RUNS, existing_sweep, read_summary
from stylelab.experiments.values import option_names
from stylelab.limits import MAX_SIZE
from stylelab.safety import atomic_path, check_output_file, write_together

LOSS_FIGURE = "loss_curves.png"
CONTACT_SHEET = "contact_sheet.jpg"
BARS_FIGURE = "bars.png"
INDEX = "index.html"
REPORT_FILES = (LOSS_FIGURE, CONTACT_SHEET, BARS_FIGURE, INDEX)
#: The figures show the first runs (by index) only; the table on the page shows them all.
#: A contact sheet of 100 outputs is already 25 rows of thumbnails.
MAX_FIGURE_RUNS = 100
#: A loss history (output.csv) larger than this is not a run's: it is left out.
MAX_HISTORY_BYTES = 64 << 20
#: |values| past this are not plotted (a damaged or edited summary; matplotlib overflows).
MAX_PLOTTED = 1e100
THUMBNAIL = 384  # px: the longer edge of an output on the contact sheet


def make_report(rundir: str | os.PathLike) -> Path:
    """Write the figures and ``index.html`` into ``rundir``; return the page's path.

    ``rundir`` must be a sweep's folder (``summary.csv`` and ``sweep.json``, as ``stylelab
    sweep`` writes them): the report writes only there, only its own four files, all of
    them together (temporaries renamed at the end) or none. A run whose files are missing
    or damaged is shown without them ("no image", no curve); a summary that is not one is
    refused in one line.
    """
    root = Path(rundir)
    rows = read_summary(root)
    meta = existing_sweep(root)
    if not meta:
        raise StylelabError(
            f"{root}: no sweep.json here, so it is not a folder made by stylelab sweep; "
            "report writes only into those"
        )
    if not rows:
        raise StylelabError(f"{root}: no runs recorded yet in summary.csv")
    targets = [root / name for name in REPORT_FILES]
    for target in targets:
        try:
            check_output_file(target)
        except StylelabError as exc:
            raise StylelabError(f"cannot write the report: {exc}") from None
    rows.sort(key=_index)
    for row in rows:  # a run_id that is not one never names a file to read
        if not RUN_ID.fullmatch(row["run_id"]):
            row["run_id"] = row["run_id"] or "?"
    varied = varied_parameters(rows)
    shown = rows[:MAX_FIGURE_RUNS]
    histories = {r["run_id"]: read_history(_run_file(root, r, "output.csv")) for r in shown}

    import matplotlib

    matplotlib.use("Agg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a damaged run's numbers: left out, never a warning
        with write_together(targets) as (losses, sheet, bars, index):
            plot_losses(shown, histories, varied, losses, fmt="png")
            contact_sheet(shown, root, varied, sheet, fmt="jpeg")
            plot_bars(shown, varied, bars, fmt="png")
            index.write_text(render_index(rows, varied, meta, len(shown)), encoding="utf-8")
    return root / INDEX


def _index(row: dict[str, str]) -> int:
    text = row.get("index", "")
    return int(text) if text.isdecimal() and len(text) <= 18 else 10**18


def _run_file(root: Path, row: dict[str, str], name: str) -> Path | None:
    """``RUNDIR/runs/<id>/<name>`` for a row whose run_id is a run's id, else None."""
    run_id = row.get("run_id", "")
    return root / RUNS / run_id / name if RUN_ID.fullmatch(run_id) else None


def varied_parameters(rows: list[dict[str, str]]) -> list[str]:
    return [k for k in option_names() if len({r.get(k, "") for r in rows}) > 1]


def label(row: dict[str, str], varied: list[str]) -> str:
    text = ", ".join(f"{k}={row.get(k, '')}" for k in varied) or row["run_id"]
    return text if len(text) <= 80 else text[:77] + "..."


def read_history(path: Path | None) -> list[dict[str, float]]:
    """A run's loss history (``output.csv``): the rows with a finite ``iteration`` and a
    finite positive ``total``; ``[]`` for a missing, damaged or foreign file."""
    if path is None or not path.is_file() or path.stat().st_size > MAX_HISTORY_BYTES:
        return []
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
        out = []
        for row in csv.DictReader(io.StringIO(text, newline="")):
            values = {}
            for key, cell in row.items():
                number = _number(cell if isinstance(cell, str) else None)
                if isinstance(key, str) and not math.isnan(number):
                    values[key] = number
            if "iteration" in values and values.get("total", 0) > 0:
                out.append(values)
        return out
    except (OSError, csv.Error):
        return []


def _number(text: str | None) -> float:
    """The finite number in ``text`` (within MAX_PLOTTED), else NaN."""
    try:
        value = float(text) if text else math.nan
    except (ValueError, OverflowError):
        return math.nan
    return value if math.isfinite(value) and abs(value) <= MAX_PLOTTED else math.nan


def _save(fig: Any, path: Path, fmt: str | None = None, **options: Any) -> None:
    """Save ``fig``: straight into ``path`` when ``fmt`` is given (a temporary of
    :func:`make_report`), else through a temporary renamed to ``path``."""
    import matplotlib.pyplot as plt

    try:
        if fmt is not None:
            fig.savefig(path, format=fmt, **options)
        else:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=path.suffix.lstrip(".").replace("jpg", "jpeg"), **options)
    finally:
        plt.close(fig)


def plot_losses(
    rows: list[dict[str, str]],
    histories: dict[str, list[dict[str, float]]],
    varied: list[str],
    path: Path,
    fmt: str | None = None,
) -> None:
    """Total loss per iteration and per second; a row per varied parameter."""
    import matplotlib.pyplot as plt

    groups = varied or ["run_id"]
    fig, axes = plt.subplots(
        len(groups), 2, figsize=(11, 3.6 * len(groups)), squeeze=False, layout="constrained"
    )
    cmap = plt.get_cmap("tab10")
    for (left, right), key in zip(axes, groups, strict=True):
        values = list(dict.fromkeys(r.get(key, "") for r in rows))
        for row in rows:
            history = histories.get(row["run_id"], [])
            if not history:
                continue
            colour = cmap(values.index(row.get(key, "")) % 10)
            name = f"{key}={row.get(key, '')}" if len(groups) == 1 or key != "run_id" else ""
            if len(varied) > 1:  # several runs share a value: label each value once
                name = name if row is _first_with(rows, key, row.get(key, "")) else "_"
            its = [h["iteration"] for h in history]
            secs = [h.get("elapsed_s", math.nan) for h in history]
            loss = [h["total"] for h in history]
            left.plot(its, loss, color=colour, label=name, lw=1.4)
            right.plot(secs, loss, color=colour, lw=1.4)
        for ax, xlabel in ((left, "iteration"), (right, "wall time (s)")):
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("total loss")
            ax.grid(True, which="both", alpha=0.25)
        left.set_title(f"loss by iteration, per {key}")
        right.set_title(f"loss by wall time, per {key}")
        if left.get_legend_handles_labels()[0]:
            left.legend(fontsize=8, loc="upper right")
    _save(fig, path, fmt, dpi=90)


def _first_with(rows: list[dict[str, str]], key: str, value: str) -> dict[str, str]:
    return next(r for r in rows if r.get(key, "") == value)


def contact_sheet(
    rows: list[dict[str, str]], root: Path, varied: list[str], path: Path, fmt: str | None = None
) -> None:
    """All outputs in a grid, each titled with its varied parameters and its status."""
    import matplotlib.pyplot as plt

    count = len(rows)
    cols = min(count, 4 if count != 6 else 3)
    nrows = math.ceil(count / cols)
    images = [_thumbnail(_run_file(root, row, "output.png")) for row in rows]
    aspect = 1.0  # height / width of the outputs, so that rows hug the images
    for image in images:
        if not isinstance(image, str):
            aspect = image.height / image.width
            break
    title_lines = max(1, len(varied)) + 1
    fig, axes = plt.subplots(
        nrows,
        cols,
        figsize=(
            3.2 * cols,
            (3.2 * min(max(aspect, 0.25), 4.0) + 0.18 * title_lines + 0.1) * nrows,
        ),
        squeeze=False,
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, row, image in zip(axes.flat, rows, images, strict=False):
        if isinstance(image, str):
            ax.text(0.5, 0.5, image, ha="center", va="center", color="grey")
        else:
            ax.imshow(image)
        title = "\n".join(_clip(f"{k}={row.get(k, '')}") for k in varied) or row["run_id"]
        status = row.get("status", "")
        if status != "done":
            title += f"\n[{_clip(status)}]"
        ax.set_title(title, fontsize=8, color="black" if status == "done" else "firebrick")
    fig.tight_layout()
    _save(fig, path, fmt, dpi=80, pil_kwargs={"quality": 85})


def _clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _thumbnail(path: Path | None) -> Any:
    """A run's output as a small RGB image, or why there is none (a string)."""
    from PIL import Image

    if path is None or not path.is_file():
        return "no image"
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_SIZE * MAX_SIZE:
                return "image too large"
            image.draft("RGB", (THUMBNAIL, THUMBNAIL))
            image.thumbnail((THUMBNAIL, THUMBNAIL))
            return image.convert("RGB")
    except Exception:  # noqa: BLE001 - whatever Pillow says of a damaged file
        return "unreadable image"


def plot_bars(
    rows: list[dict[str, str]], varied: list[str], path: Path, fmt: str | None = None
) -> None:
    """Wall time and the independent style/content distances, one bar per run."""
    import matplotlib.pyplot as plt

    names = [label(r, varied) for r in rows]
    metrics = (
        ("wall_time_s", "wall time (s)"),
        ("style_distance", "style distance (lower is better)"),
        ("content_distance", "content distance (lower is better)"),
    )
    height = max(2.5, 0.28 * len(rows) + 1.2)
    fig, axes = plt.subplots(1, 3, figsize=(13, height), sharey=True, layout="constrained")
    positions = list(range(len(rows)))
    for ax, (key, title) in zip(axes, metrics, strict=True):
        values = [_number(r.get(key)) for r in rows]
        ax.barh(positions, [0 if math.isnan(v) else v for v in values], color="steelblue")
        for pos, value in zip(positions, values, strict=True):
            if not math.isnan(value):
                ax.text(value, pos, f" {value:.3g}", va="center", fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.grid(True, axis="x", alpha=0.25)
    axes[0].set_yticks(positions, names, fontsize=7)
    axes[0].invert_yaxis()
    _save(fig, path, fmt, dpi=90)


def render_index(
    rows: list[dict[str, str]], varied: list[str], meta: dict[str, Any], plotted: int = 0
) -> str:
    """The page: title, what varied, the figures and the summary table."""
    shown = [
        "run_id",
        *varied,
        "lr_used",
        "loss_total",
        "style_distance",
        "content_distance",
        "wall_time_s",
        "iterations",
        "peak_rss_mb",
        "status",
        "error",
    ]
    shown = list(dict.fromkeys(shown))
    name = meta.get("name")
    title = html.escape(name if isinstance(name, str) and name else "stylelab sweep")

    def cell(row: dict[str, str], key: str) -> str:
        text = row.get(key, "")
        value = _number(text)
        if key not in varied and not math.isnan(value) and key != "run_id" and "." in text:
            text = f"{value:.4g}"
        if key == "run_id" and RUN_ID.fullmatch(text):
            return f'<a href="runs/{text}/output.png">{text}</a>'
        return html.escape(text)

    head = "".join(f"<th>{html.escape(k)}</th>" for k in shown)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{cell(r, k)}</td>" for k in shown) + "</tr>" for r in rows
    )
    command = meta.get("command")
    command = html.escape(command if isinstance(command, str) else "")
    plotted = plotted or len(rows)
    note = f" The figures show the first {plotted} runs." if plotted < len(rows) else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{title}</h1>
<p>{len(rows)} runs; varied: {html.escape(", ".join(varied) or "nothing")}.
Full table: <a href="summary.csv">summary.csv</a>. Command: <code>{command}</code>{note}</p>
<h2>Loss curves</h2><img src="{LOSS_FIGURE}" alt="loss curves">
<h2>Outputs</h2><img src="{CONTACT_SHEET}" alt="contact sheet">
<h2>Time and distances</h2><img src="{BARS_FIGURE}" alt="time and distances">
<h2>Summary</h2>
<table><tr>{head}</tr>
{body}
</table>
</body></html>
"""

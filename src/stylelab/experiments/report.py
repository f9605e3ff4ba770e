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
import math
import os
from pathlib import Path
from typing import Any

from stylelab.errors import StylelabError
from stylelab.experiments.config import option_names
from stylelab.images import atomic_path

LOSS_FIGURE = "loss_curves.png"
CONTACT_SHEET = "contact_sheet.jpg"
BARS_FIGURE = "bars.png"
INDEX = "index.html"


def make_report(rundir: str | os.PathLike) -> Path:
    """Write the figures and ``index.html`` into ``rundir``; return the page's path."""
    import matplotlib

    matplotlib.use("Agg")
    from stylelab.experiments.runner import read_summary, read_sweep_json

    root = Path(rundir)
    rows = read_summary(root)
    if not rows:
        raise StylelabError(f"{root}: no runs recorded yet in summary.csv")
    rows.sort(key=lambda r: int(r["index"]) if str(r.get("index", "")).isdecimal() else 0)
    varied = varied_parameters(rows)
    meta = read_sweep_json(root)
    histories = {
        r["run_id"]: read_history(root / "runs" / r["run_id"] / "output.csv") for r in rows
    }
    plot_losses(rows, histories, varied, root / LOSS_FIGURE)
    contact_sheet(rows, root, varied, root / CONTACT_SHEET)
    plot_bars(rows, varied, root / BARS_FIGURE)
    page = render_index(rows, varied, meta)
    with atomic_path(root / INDEX) as tmp:
        tmp.write_text(page)
    return root / INDEX


def varied_parameters(rows: list[dict[str, str]]) -> list[str]:
    return [k for k in option_names() if len({r.get(k, "") for r in rows}) > 1]


def label(row: dict[str, str], varied: list[str]) -> str:
    return ", ".join(f"{k}={row.get(k, '')}" for k in varied) or row["run_id"]


def read_history(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        out = []
        for row in csv.DictReader(handle):
            try:
                out.append({k: float(v) for k, v in row.items() if v not in ("", None)})
            except ValueError:
                continue
        return out


def _number(text: str | None) -> float:
    try:
        return float(text) if text else math.nan
    except ValueError:
        return math.nan


def _save(fig: Any, path: Path, **options: Any) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").replace("jpg", "jpeg"), **options)
    plt.close(fig)


def plot_losses(
    rows: list[dict[str, str]],
    histories: dict[str, list[dict[str, float]]],
    varied: list[str],
    path: Path,
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
            history = [h for h in histories[row["run_id"]] if h.get("total", 0) > 0]
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
    _save(fig, path, dpi=90)


def _first_with(rows: list[dict[str, str]], key: str, value: str) -> dict[str, str]:
    return next(r for r in rows if r.get(key, "") == value)


def contact_sheet(rows: list[dict[str, str]], root: Path, varied: list[str], path: Path) -> None:
    """All outputs in a grid, each titled with its varied parameters and its status."""
    import matplotlib.pyplot as plt
    from PIL import Image

    count = len(rows)
    cols = min(count, 4 if count != 6 else 3)
    nrows = math.ceil(count / cols)
    aspect = 1.0  # height / width of the outputs, so that rows hug the images
    for row in rows:
        first = root / "runs" / row["run_id"] / "output.png"
        if first.is_file():
            with Image.open(first) as image:
                aspect = image.height / image.width
            break
    title_lines = max(1, len(varied)) + 1
    fig, axes = plt.subplots(
        nrows,
        cols,
        figsize=(3.2 * cols, (3.2 * aspect + 0.18 * title_lines + 0.1) * nrows),
        squeeze=False,
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows, strict=False):
        image_path = root / "runs" / row["run_id"] / "output.png"
        if image_path.is_file():
            with Image.open(image_path) as image:
                ax.imshow(image.convert("RGB"))
        else:
            ax.text(0.5, 0.5, "no image", ha="center", va="center", color="grey")
        title = "\n".join(f"{k}={row.get(k, '')}" for k in varied) or row["run_id"]
        status = row.get("status", "")
        if status != "done":
            title += f"\n[{status}]"
        ax.set_title(title, fontsize=8, color="black" if status == "done" else "firebrick")
    fig.tight_layout()
    _save(fig, path, dpi=80, pil_kwargs={"quality": 85})


def plot_bars(rows: list[dict[str, str]], varied: list[str], path: Path) -> None:
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
    _save(fig, path, dpi=90)


def render_index(rows: list[dict[str, str]], varied: list[str], meta: dict[str, Any]) -> str:
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
    title = html.escape(meta.get("name") or "stylelab sweep")

    def cell(row: dict[str, str], key: str) -> str:
        text = row.get(key, "")
        value = _number(text)
        if key not in varied and not math.isnan(value) and key != "run_id" and "." in text:
            text = f"{value:.4g}"
        if key == "run_id":
            return f'<a href="runs/{html.escape(text)}/output.png">{html.escape(text)}</a>'
        return html.escape(text)

    head = "".join(f"<th>{html.escape(k)}</th>" for k in shown)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{cell(r, k)}</td>" for k in shown) + "</tr>" for r in rows
    )
    command = html.escape(meta.get("command", ""))
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
Full table: <a href="summary.csv">summary.csv</a>. Command: <code>{command}</code></p>
<h2>Loss curves</h2><img src="{LOSS_FIGURE}" alt="loss curves">
<h2>Outputs</h2><img src="{CONTACT_SHEET}" alt="contact sheet">
<h2>Time and distances</h2><img src="{BARS_FIGURE}" alt="time and distances">
<h2>Summary</h2>
<table><tr>{head}</tr>
{body}
</table>
</body></html>
"""

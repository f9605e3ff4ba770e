"""The sweep report, on a RUNDIR made by hand (no stylization): figures and index.html."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from PIL import Image

from stylelab.cli import main
from stylelab.experiments.report import (
    BARS_FIGURE,
    CONTACT_SHEET,
    INDEX,
    LOSS_FIGURE,
    make_report,
    varied_parameters,
)
from stylelab.experiments.runner import SUMMARY, summary_columns


def fake_rundir(root: Path, optimizers: list[str], failed: str = "") -> Path:
    rows = []
    for index, name in enumerate(optimizers):
        run_id = f"{index:012x}"
        folder = root / "runs" / run_id
        folder.mkdir(parents=True)
        status = "failed" if name == failed else "done"
        if status == "done":
            Image.new("RGB", (40, 32), (40 * index, 90, 160)).save(folder / "output.png")
            with open(folder / "output.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["iteration", "elapsed_s", "content", "style", "tv", "total"])
                for it in range(1, 11):
                    total = 100 * math.exp(-it / (index + 2))
                    writer.writerow([it, it * 0.1 * (index + 1), 1, total - 1, 0, total])
        row = {c: "" for c in summary_columns()}
        row.update(
            run_id=run_id,
            index=str(index),
            content="example:chelsea",
            style="example:strokes",
            optimizer=name,
            size="32",
            loss_total="1.5",
            style_distance="0.4",
            content_distance="0.3",
            wall_time_s=str(1.0 + index),
            status=status,
            error="ValueError: <boom>" if status == "failed" else "",
        )
        rows.append(row)
    with open(root / SUMMARY, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=summary_columns())
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_report_writes_figures_and_a_page(tmp_path: Path) -> None:
    names = ["lbfgs", "adam", "sgd", "adagrad", "adadelta", "rmsprop"]
    root = fake_rundir(tmp_path, names, failed="sgd")
    index = make_report(root)
    assert index == root / INDEX
    for name in (LOSS_FIGURE, CONTACT_SHEET, BARS_FIGURE):
        with Image.open(root / name) as image:
            assert image.width > 200 and image.height > 100
    page = index.read_text()
    assert page.count("<tr>") == 1 + len(names)
    assert all(f">{n}<" in page for n in names)
    assert "&lt;boom&gt;" in page and "<boom>" not in page  # escaped
    for name in (LOSS_FIGURE, CONTACT_SHEET, BARS_FIGURE):
        assert f'src="{name}"' in page


def test_varied_parameters_are_the_columns_that_differ(tmp_path: Path) -> None:
    rows = [{"optimizer": "adam", "size": "32"}, {"optimizer": "sgd", "size": "32"}]
    assert varied_parameters(rows) == ["optimizer"]


def test_report_cli_refuses_a_folder_without_a_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stylelab: error:") and "summary.csv" in err
    assert len(err.strip().splitlines()) == 1


def test_report_cli_on_a_sweep(tmp_path: Path) -> None:
    root = fake_rundir(tmp_path, ["lbfgs", "adam"])
    assert main(["report", str(root)]) == 0
    assert (root / INDEX).is_file()

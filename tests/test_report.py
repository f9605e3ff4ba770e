"""The sweep report, on a RUNDIR made by hand (no stylization): figures and index.html."""

from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path

import pytest
from PIL import Image

from stylelab.cli import main
from stylelab.errors import StylelabError
from stylelab.experiments.report import (
    BARS_FIGURE,
    CONTACT_SHEET,
    INDEX,
    LOSS_FIGURE,
    make_report,
    varied_parameters,
)
from stylelab.experiments.runner import SUMMARY, SWEEP_JSON, summary_columns


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
    (root / SWEEP_JSON).write_text(json.dumps({"fingerprint": "0" * 16, "name": "fake"}))
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


# --- hostile RUNDIRs: one line and nothing written, or a report without the damage ------


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG header that claims ``width`` x ``height`` pixels (a decompression bomb's)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def _broken_summary(root: Path, kind: str) -> None:
    path = root / SUMMARY
    header = ",".join(summary_columns()) + "\n"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "header only":
        path.write_text(header)
    elif kind == "not UTF-8":
        path.write_bytes(header.encode() + b"\xff\xfe,1,done\n")
    elif kind == "wrong columns":
        path.write_text("name,score\nalice,3\n")
    elif kind == "a folder":
        path.unlink()
        path.mkdir()
    elif kind == "a FIFO":
        path.unlink()
        os.mkfifo(path)
    elif kind == "no sweep.json":
        (root / SWEEP_JSON).unlink()
    elif kind == "damaged sweep.json":
        (root / SWEEP_JSON).write_text("[1, 2")
    elif kind == "index.html is a folder":
        (root / INDEX).mkdir()
    elif kind == "bars.png is a device":
        (root / BARS_FIGURE).symlink_to("/dev/null")


REFUSED = [
    ("empty", r"summary.csv: empty; not a sweep summary"),
    ("header only", r"no runs recorded yet"),
    ("not UTF-8", r"summary.csv: not UTF-8 text \(byte \d+\)"),
    ("wrong columns", r"not a sweep summary \(its header has no run_id, index, status columns\)"),
    ("a folder", r"summary.csv: is a directory"),
    ("a FIFO", r"summary.csv: not a regular file"),
    ("no sweep.json", r"no sweep.json here, so it is not a folder made by stylelab sweep"),
    ("damaged sweep.json", r"sweep.json: damaged"),
    ("index.html is a folder", r"cannot write the report: .*index.html: is a folder"),
    ("bars.png is a device", r"cannot write the report: .*bars.png: not a regular file"),
]


@pytest.mark.parametrize(("kind", "pattern"), REFUSED, ids=[k for k, _ in REFUSED])
def test_report_refuses_a_damaged_rundir_in_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, pattern: str
) -> None:
    root = fake_rundir(tmp_path, ["lbfgs", "adam"])
    _broken_summary(root, kind)
    before = sorted(p.name for p in root.iterdir())
    assert main(["report", str(root)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("stylelab: error: "), err
    assert re.search(pattern, err), err
    assert sorted(p.name for p in root.iterdir()) == before


@pytest.mark.parametrize(
    ("where", "pattern"),
    [("missing", r"no such folder"), ("file", r"not a folder"), ("empty", r"no summary.csv here")],
)
def test_report_on_something_that_is_no_rundir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, pattern: str
) -> None:
    target = tmp_path / where
    if where == "file":
        target.write_text("x")
    elif where == "empty":
        target.mkdir()
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and re.search(pattern, err), err


def test_report_survives_nonsense_values_and_damaged_run_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["lbfgs", "adam", "sgd", "adagrad", "adadelta", "rmsprop", "extra"]
    root = fake_rundir(tmp_path, names)
    with open(root / SUMMARY, newline="") as handle:
        rows = list(csv.DictReader(handle))
    nonsense = ["fast", "nan", "inf", "-inf", "1e999", "9" * 5000, "-5"]
    for row, value in zip(rows, nonsense, strict=True):
        for key in ("wall_time_s", "style_distance", "content_distance", "loss_total"):
            row[key] = value
        row["index"] = value
        row["steps"] = value
    rows[0]["run_id"] = "../../victim"
    rows[1]["error"] = "two\nlines <b>"
    with open(root / SUMMARY, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=summary_columns())
        writer.writeheader()
        writer.writerows(rows)
    with open(root / SUMMARY, "a") as handle:
        handle.write("0123456789ab,9,example:chel")  # a torn last line
    runs = [root / "runs" / r["run_id"] for r in rows[1:]]
    (runs[0] / "output.png").write_bytes(b"")
    (runs[1] / "output.png").write_bytes((runs[1] / "output.png").read_bytes()[:60])
    (runs[2] / "output.png").write_bytes(_png_claiming(100_000, 100_000))
    (runs[3] / "output.png").unlink()
    os.mkfifo(runs[3] / "output.png")
    (runs[4] / "output.png").unlink()
    (runs[4] / "output.png").symlink_to("/dev/zero")
    (runs[0] / "output.csv").write_bytes(b"\xff\xfe\x00iteration\n")
    (runs[1] / "output.csv").write_text("iteration,total\n1,nan\n2,inf\n3,-5\nx,y\n4,1e999\n")
    (runs[2] / "output.csv").write_text("foo,bar\n1,2\n")
    (runs[5] / "output.csv").write_text("total\n5\n")
    torn = (root / SUMMARY).read_bytes()

    assert main(["report", str(root)]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == [f"wrote {root / INDEX}"]
    page = (root / INDEX).read_text()
    assert page.count("<tr>") == 1 + len(rows)
    assert "victim" in page and 'href="runs/../' not in page
    assert "&lt;b&gt;" in page
    for name in (LOSS_FIGURE, CONTACT_SHEET, BARS_FIGURE):
        with Image.open(root / name) as image:
            assert image.width > 100
    assert (root / SUMMARY).read_bytes() == torn  # report never writes the summary


def test_report_writes_all_its_files_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stylelab.experiments import report

    root = fake_rundir(tmp_path, ["lbfgs", "adam"])
    make_report(root)
    old = {name: (root / name).read_bytes() for name in report.REPORT_FILES}

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "plot_bars", boom)
    with pytest.raises(StylelabError, match="no space left on device; nothing was written"):
        make_report(root)
    assert {name: (root / name).read_bytes() for name in report.REPORT_FILES} == old
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".")) == []


def test_report_figures_show_at_most_a_hundred_runs(tmp_path: Path) -> None:
    from stylelab.experiments.report import MAX_FIGURE_RUNS

    root = fake_rundir(tmp_path, [f"opt{i}" for i in range(MAX_FIGURE_RUNS + 5)])
    page = make_report(root).read_text()
    assert f"The figures show the first {MAX_FIGURE_RUNS} runs." in page
    assert page.count("<tr>") == 1 + MAX_FIGURE_RUNS + 5

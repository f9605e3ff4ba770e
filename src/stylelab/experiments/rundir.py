"""A sweep's RUNDIR: the names of its files and how they are read (nothing is written here).

    RUNDIR/sweep.json          the sweep's identity (fingerprint), settings and runs
    RUNDIR/sweep.toml          the sweep file as given
    RUNDIR/summary.csv         one row per finished run
    RUNDIR/runs/<id>/          one folder per run

:mod:`.runner` writes them and :mod:`.report` and :mod:`.study` read them; both import
this module, and neither the other.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

from stylelab.errors import StylelabError
from stylelab.records import read_json
from stylelab.safety import check_input_file, describe_os_error, one_line

SUMMARY = "summary.csv"
SWEEP_JSON = "sweep.json"
SWEEP_TOML = "sweep.toml"
RUNS = "runs"
RECORD = "record.json"
LOCK = ".lock"
RUN_ID = re.compile(r"[0-9a-f]{12}")  # a run's id: the first 12 hex digits of a sha256
REQUIRED_COLUMNS = ("run_id", "index", "status")


def read_header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        raise StylelabError(f"{path}: not a sweep summary (no CSV header)") from None


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a summary, each ``{column: text}`` (missing cells are ``""``), or one
    line saying why it is no summary: not a regular file, not UTF-8, no ``run_id``,
    ``index`` and ``status`` columns. A torn last line (a crash in the middle of an
    append) is left out; nothing is written."""
    check_input_file(path, "sweep summary")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StylelabError(describe_os_error(exc, path)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StylelabError(
            f"{path}: not UTF-8 text (byte {exc.start}); not a sweep summary"
        ) from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    if not text.strip():
        raise StylelabError(f"{path}: empty; not a sweep summary (no CSV header)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1  # the line where the record being read begins (the reader's line_num lags)
    try:
        header: list[str] = []
        while not header:  # blank lines before the header are passed over, as csv's are
            start = reader.line_num + 1
            header = next(reader, [])
            if reader.line_num < start:  # the end: no header at all
                break
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise StylelabError(
                f"{path}: not a sweep summary (its header has no {', '.join(missing)} "
                f"column{'s' * (len(missing) > 1)})"
            )
        rows = []
        while True:
            start = reader.line_num + 1
            cells = next(reader, None)
            if cells is None:
                break
            if not cells:  # a blank line
                continue
            # cells past the header are dropped; missing ones are ""
            rows.append(dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False)))
    except csv.Error as exc:
        raise StylelabError(f"{path}: line {start}: not readable CSV ({one_line(exc)})") from None
    return rows


def read_summary(rundir: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of ``RUNDIR/summary.csv``, or one line saying why there are none."""
    root = Path(rundir)
    if not root.exists():
        raise StylelabError(f"{root}: no such folder")
    if not root.is_dir():
        raise StylelabError(f"{root}: not a folder; give a sweep's output folder (RUNDIR)")
    path = root / SUMMARY
    if not path.exists() and not path.is_symlink():
        raise StylelabError(f"{root}: no {SUMMARY} here; is it a sweep's output folder?")
    return read_rows(path)


def existing_sweep(root: Path) -> dict[str, Any]:
    """The sweep.json of the sweep in ``root`` (``{}`` if none); one line if it is damaged."""
    path = root / SWEEP_JSON
    if not path.exists() and not path.is_symlink():
        return {}
    check_input_file(path, "sweep record")
    data = read_json(path)
    if data is None or not isinstance(data.get("fingerprint"), str):
        raise StylelabError(
            f"{path}: damaged (not the JSON record that stylelab sweep writes), so the "
            "sweep in this folder cannot be identified"
        )
    return data

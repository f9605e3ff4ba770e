"""Run a sweep into RUNDIR: one folder per run, one summary row per run, resumable.

    RUNDIR/sweep.json          the sweep's identity (fingerprint), settings and runs
    RUNDIR/sweep.toml          the sweep file as given
    RUNDIR/summary.csv         one row per finished run (appended, flushed, fsynced)
    RUNDIR/runs/<id>/          output.png/.csv/.json, run.json, worker.log, record.json

Exactly once, even under SIGKILL: a run counts as finished when ``record.json`` lands in
its folder (temp file + rename); its row is then appended as one ``write`` and fsynced.
On ``--resume``, a run with a row is skipped; a finished run without a row gets its row
from ``record.json``; any other run folder is a leftover and is run again from scratch.
``--retry-failed`` (with ``--resume``) first forgets the runs whose row is not ``done``:
their folders go, then their rows (one atomic rewrite), so a kill in between only means
the same runs are retried next time.
A torn last line (a crash in the middle of the append) is cut off before anything else.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from stylelab.errors import StylelabError
from stylelab.experiments.config import (
    Run,
    Sweep,
    format_value,
    option_names,
    resolve_paths,
)
from stylelab.experiments.executors import Completed, Task, run_local, run_ray
from stylelab.images import atomic_path
from stylelab.records import read_json, write_json

SUMMARY = "summary.csv"
SWEEP_JSON = "sweep.json"
SWEEP_TOML = "sweep.toml"
RUNS = "runs"
RECORD = "record.json"
LOCK = ".lock"
LOSS_TERMS = ("content", "style", "tv", "total")
RESULT_COLUMNS = (
    "lr_used",
    *(f"loss_{t}" for t in LOSS_TERMS),
    "style_distance",
    "content_distance",
    "wall_time_s",
    "iterations",
    "seconds_per_iteration",
    "peak_rss_mb",
    "status",
    "error",
)


def summary_columns() -> list[str]:
    """run_id, index, every parameter (content, style, each StylizeConfig field), results."""
    return ["run_id", "index", *option_names(), *RESULT_COLUMNS]


@dataclass
class SweepOutcome:
    rundir: Path
    total: int
    ran: int
    skipped: int
    statuses: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return set(self.statuses) <= {"done"}


def run_sweep(
    sweep: Sweep,
    rundir: str | os.PathLike,
    *,
    resume: bool = False,
    retry_failed: bool = False,
    jobs: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    progress: bool = False,
    report: bool = True,
) -> SweepOutcome:
    """Run every run of ``sweep`` not yet in ``RUNDIR/summary.csv``; then write the report."""
    if executor not in ("local", "ray"):
        raise StylelabError(f"unknown executor {executor!r}; choose from: local, ray")
    if jobs < 1:
        raise StylelabError(f"--jobs must be >= 1, got {jobs}")
    if retry_failed and not resume:
        raise StylelabError("--retry-failed needs --resume")
    root = Path(rundir)
    with _locked(root, sweep, resume):
        summary = root / SUMMARY
        recorded = recorded_ids(summary)
        if retry_failed:
            recorded = forget_unfinished(root, recorded)
        outcome = SweepOutcome(root, len(sweep.runs), 0, 0)
        for status in recorded.values():
            outcome.statuses[status] += 1
        tasks: list[Task] = []
        by_id = {run.run_id: run for run in sweep.runs}
        threads = _threads(sweep, jobs, executor)
        for run in sweep.runs:
            folder = root / RUNS / run.run_id
            if run.run_id in recorded:
                outcome.skipped += 1
                continue
            record = read_json(folder / RECORD)
            if record is not None:  # finished, killed before its row was written
                append_row(summary, summary_row(run, record))
                outcome.statuses[record.get("status", "")] += 1
                outcome.skipped += 1
                continue
            if folder.exists():  # a leftover of a killed run: start it again
                shutil.rmtree(folder)
            tasks.append(Task(run.run_id, _worker_spec(run, sweep, threads), folder))

        bar = tqdm(
            total=len(sweep.runs),
            initial=len(sweep.runs) - len(tasks),
            desc="sweep",
            unit="run",
            disable=not progress,
            dynamic_ncols=True,
        )
        try:
            for completed in _execute(tasks, sweep, jobs, executor, ray_address):
                run = by_id[completed.task.run_id]
                if completed.record.get("status") == "interrupted":
                    # Ctrl-C reached the run: not finished, so no row; --resume reruns it
                    outcome.statuses["interrupted"] += 1
                    continue
                record = _finish(completed)
                append_row(summary, summary_row(run, record))
                outcome.ran += 1
                outcome.statuses[record.get("status", "")] += 1
                bar.update(1)
                bar.set_postfix_str(f"{run.run_id} {record.get('status')}", refresh=True)
        finally:
            bar.close()
    if report:
        from stylelab.experiments.report import make_report

        make_report(root)
    return outcome


def _execute(
    tasks: list[Task], sweep: Sweep, jobs: int, executor: str, address: str | None
) -> Iterator[Completed]:
    settings = sweep.settings
    if not tasks:
        return iter(())
    if executor == "ray":
        return run_ray(
            tasks, address, settings.timeout_s, settings.cpus_per_run, settings.gpus_per_run
        )
    return run_local(tasks, jobs, settings.timeout_s)


def _threads(sweep: Sweep, jobs: int, executor: str) -> int:
    if sweep.settings.threads:
        return sweep.settings.threads
    if executor == "ray":
        return max(1, int(sweep.settings.cpus_per_run))
    if jobs > 1:
        return max(1, (os.cpu_count() or 1) // jobs)
    return 0  # torch's default (honours OMP_NUM_THREADS)


def _worker_spec(run: Run, sweep: Sweep, threads: int) -> dict[str, Any]:
    resolved = resolve_paths(run.params, sweep.base_dir)
    return {
        "run_id": run.run_id,
        "params": resolved,
        "content": resolved["content"],
        "style": resolved["style"],
        "evaluate": sweep.settings.evaluate,
        "evaluate_size": sweep.settings.evaluate_size,
        "threads": threads,
    }


def _finish(completed: Completed) -> dict[str, Any]:
    """Put a run's files in its folder, then ``record.json``: the mark of a finished run."""
    folder = completed.task.folder
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (completed.files or {}).items():
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
    record = {**completed.record, "run_id": completed.task.run_id}
    write_json(record, folder / RECORD)
    return record


def summary_row(run: Run, record: dict[str, Any]) -> dict[str, str]:
    row: dict[str, Any] = {"run_id": run.run_id, "index": run.index}
    config = run.config.to_dict()
    for name in option_names():
        row[name] = format_value(run.params[name] if name in run.params else config.get(name))
    losses = record.get("final_losses") or {}
    for term in LOSS_TERMS:
        row[f"loss_{term}"] = losses.get(term)
    for name in RESULT_COLUMNS:
        if name not in row or row[name] is None:
            row[name] = record.get(name)
    return {k: "" if v is None else str(v) for k, v in row.items()}


def append_row(path: Path, row: dict[str, str]) -> None:
    """Append one CSV line with a single write, then fsync: a row is whole or absent."""
    header = _header(path)
    buffer = io.StringIO()
    csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore", lineterminator="\n").writerow(
        row
    )
    data = buffer.getvalue().encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        raise StylelabError(f"{path}: not a sweep summary (no CSV header)") from None


def recorded_ids(path: Path) -> dict[str, str]:
    """``{run_id: status}`` of the rows in the summary, after cutting a torn last line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with atomic_path(path) as tmp:
            tmp.write_bytes(data[: data.rfind(b"\n") + 1])
    return {row.get("run_id", ""): row.get("status", "") for row in _csv_rows(path)}


def forget_unfinished(root: Path, recorded: dict[str, str]) -> dict[str, str]:
    """Remove the folders, then the summary rows, of the runs not ``done``; the rest."""
    retry = {run_id for run_id, status in recorded.items() if status != "done"}
    if not retry:
        return recorded
    for run_id in retry:
        shutil.rmtree(root / RUNS / run_id, ignore_errors=True)
    path = root / SUMMARY
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        kept = [row for row in reader if row["run_id"] not in retry]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
    return {run_id: status for run_id, status in recorded.items() if run_id not in retry}


def read_summary(rundir: str | os.PathLike) -> list[dict[str, str]]:
    path = Path(rundir) / SUMMARY
    if not path.is_file():
        raise StylelabError(f"{rundir}: no {SUMMARY} here; is it a sweep's output folder?")
    return _csv_rows(path)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a summary CSV, or one clear error if it is not UTF-8 CSV."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except UnicodeDecodeError as exc:
        raise StylelabError(
            f"{path}: not UTF-8 text (byte {exc.start}); not a sweep summary"
        ) from None
    except csv.Error as exc:
        raise StylelabError(f"{path}: not a readable CSV ({exc})") from None


def read_sweep_json(rundir: str | os.PathLike) -> dict[str, Any]:
    data = read_json(Path(rundir) / SWEEP_JSON)
    return data or {}


def _fresh(root: Path) -> bool:
    """Empty, or what a sweep killed before writing sweep.json leaves (no runs yet)."""
    for path in root.iterdir():
        if path.name == RUNS and path.is_dir() and not any(path.iterdir()):
            continue
        if path.name not in (LOCK, SUMMARY, SWEEP_TOML):
            return False
    return True


@contextmanager
def _locked(root: Path, sweep: Sweep, resume: bool) -> Iterator[None]:
    """Check that RUNDIR is new, or holds this same sweep and we resume; hold a lock."""
    if root.exists() and not root.is_dir():
        raise StylelabError(f"{root}: exists and is not a directory")
    existing = read_sweep_json(root) if root.is_dir() else {}
    if existing:
        if existing.get("fingerprint") != sweep.fingerprint():
            raise StylelabError(
                f"{root}: holds a different sweep ({existing.get('name') or 'other runs'}); "
                "choose another -o folder"
            )
        if not resume:
            raise StylelabError(
                f"{root}: already holds this sweep; pass --resume to finish it, "
                "or choose another -o folder"
            )
    elif root.is_dir() and not _fresh(root):
        raise StylelabError(f"{root}: not empty and holds no sweep; choose another -o folder")
    (root / RUNS).mkdir(parents=True, exist_ok=True)
    lock = open(root / LOCK, "w")  # noqa: SIM115 - held for the whole sweep
    try:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows
            pass
        except OSError:
            raise StylelabError(f"{root}: another sweep is running in this folder") from None
        if not (root / SUMMARY).exists():
            with atomic_path(root / SUMMARY) as tmp:
                tmp.write_text(",".join(summary_columns()) + "\n")
        if not existing:
            (root / SWEEP_TOML).write_text(sweep.source)
            write_json(
                {
                    "fingerprint": sweep.fingerprint(),
                    "name": sweep.settings.name,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "command": " ".join(sys.argv),
                    "settings": sweep.settings.__dict__,
                    "varied": list(sweep.varied),
                    "runs": [{"run_id": r.run_id, "params": r.params} for r in sweep.runs],
                },
                root / SWEEP_JSON,
            )
        yield
    finally:
        lock.close()

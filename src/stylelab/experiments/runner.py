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

Nothing of the user's is written over: RUNDIR must be new, empty, or hold this same sweep
(sweep.json, written together with summary.csv and sweep.toml, marks it), and only the
folders of this sweep's runs, named by their ids, are ever removed. Ctrl-C, SIGTERM and
SIGHUP end the runs in flight (they are not recorded) and keep every recorded row whole.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from stylelab.errors import StylelabError
from stylelab.experiments.executors import Completed, Task, run_local, run_ray
from stylelab.experiments.inputs import check_runs_fit, resolve_paths
from stylelab.experiments.rundir import (
    LOCK,
    RECORD,
    RUN_ID,
    RUNS,
    SUMMARY,
    SWEEP_JSON,
    SWEEP_TOML,
    existing_sweep,
    read_header,
    read_rows,
)
from stylelab.experiments.values import Run, Sweep, format_value, option_names
from stylelab.limits import show
from stylelab.records import read_json, write_json
from stylelab.safety import (
    Made,
    atomic_path,
    check_new_folder,
    check_output_file,
    describe_os_error,
    lock_or_refuse,
    open_lock,
    undone_on_failure,
    write_together,
)

MAX_JOBS = 256  # --jobs: each run is a process with torch loaded (~0.3-1 GB)
LOSS_TERMS = ("content", "style", "tv", "total")
RESULT_COLUMNS = (
    "lr_used",
    *(f"loss_{t}" for t in LOSS_TERMS),
    "style_distance",
    "content_distance",
    "texture_style",
    "texture_content",
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


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP stopped a sweep: what was recorded is whole (runs in
    flight were ended and are not recorded), and ``--resume`` finishes it."""

    def __init__(self, outcome: SweepOutcome) -> None:
        super().__init__("sweep interrupted")
        self.outcome = outcome


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
    """Run every run of ``sweep`` not yet in ``RUNDIR/summary.csv``; then write the report.

    Everything that can be checked is checked before RUNDIR is touched (the options, the
    folder, a Ray connection, for local runs the devices and each run's memory estimate).
    Ctrl-C, SIGTERM and SIGHUP end the runs in flight and raise :class:`SweepInterrupted`.
    """
    if executor not in ("local", "ray"):
        raise StylelabError(f"unknown executor {show(executor)}; choose from: local, ray")
    check_jobs(jobs)
    if retry_failed and not resume:
        raise StylelabError(
            "--retry-failed needs --resume (it runs again the failed runs of the sweep "
            "already in RUNDIR)"
        )
    root = Path(rundir)
    check_new_folder(root)
    if report:  # the report's files can be written at the end (not a folder, a device...)
        from stylelab.experiments.report import REPORT_FILES

        for name in REPORT_FILES:
            if (root / name).exists() or (root / name).is_symlink():
                check_output_file(root / name)
    if executor == "local":
        check_runs_fit(sweep)
    with ExitStack() as stack:
        if executor == "ray":  # connected before anything is written
            from stylelab.experiments.executors import ray_session

            stack.enter_context(ray_session(ray_address))
        stack.enter_context(_locked(root, sweep, resume))
        outcome = _run(sweep, root, retry_failed, jobs, executor, ray_address, progress)
    if report:
        from stylelab.experiments.report import make_report

        try:
            make_report(root)
        except KeyboardInterrupt as exc:  # every run is recorded; the report is not written
            raise SweepInterrupted(outcome) from exc
    return outcome


def check_jobs(jobs: object) -> int:
    """``--jobs``: an integer from 1 to MAX_JOBS."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise StylelabError(f"--jobs must be an integer from 1 to {MAX_JOBS}, got {show(jobs)}")
    return jobs


def _run(
    sweep: Sweep,
    root: Path,
    retry_failed: bool,
    jobs: int,
    executor: str,
    ray_address: str | None,
    progress: bool,
) -> SweepOutcome:
    summary = root / SUMMARY
    by_id = {run.run_id: run for run in sweep.runs}
    recorded = recorded_ids(summary, set(by_id))
    if retry_failed:
        recorded = forget_unfinished(root, recorded)
    outcome = SweepOutcome(root, len(sweep.runs), 0, 0)
    for status in recorded.values():
        outcome.statuses[status] += 1
    tasks: list[Task] = []
    threads = _threads(sweep, jobs, executor)
    try:
        for run in sweep.runs:
            folder = root / RUNS / run.run_id
            if run.run_id in recorded:
                outcome.skipped += 1
                continue
            record = _finished_record(folder)
            if record is not None:  # finished, killed before its row was written
                append_row(summary, summary_row(run, record))
                outcome.statuses[record["status"]] += 1
                outcome.skipped += 1
                continue
            if folder.is_symlink() or folder.exists():  # a killed run's leftover: again
                _remove(folder)
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
                outcome.statuses[record["status"]] += 1
                bar.update(1)
                bar.set_postfix_str(f"{run.run_id} {record['status']}", refresh=True)
        finally:
            bar.close()
    except KeyboardInterrupt as exc:
        raise SweepInterrupted(outcome) from exc
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
        "yardsticks": list(sweep.settings.yardsticks),
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
    if not isinstance(record.get("status"), str) or not record["status"]:
        record["status"] = "crashed"
    write_json(record, folder / RECORD)
    return record


def _finished_record(folder: Path) -> dict[str, Any] | None:
    """The run's ``record.json`` if it marks a finished run (else: run it again)."""
    if folder.is_symlink():
        return None
    record = read_json(folder / RECORD)
    if record is None:
        return None
    status = record.get("status")
    if not isinstance(status, str) or not status or status == "interrupted":
        return None
    return record


def _remove(folder: Path) -> None:
    """A run's folder (a link is unlinked, never followed)."""
    if folder.is_symlink() or not folder.is_dir():
        folder.unlink(missing_ok=True)
    else:
        shutil.rmtree(folder)


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
    header = read_header(path)
    buffer = io.StringIO()
    csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore", lineterminator="\n").writerow(
        row
    )
    data = buffer.getvalue().encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NONBLOCK", 0))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:  # a full disk: the run's folder is whole, --resume records it
        raise StylelabError(
            f"{describe_os_error(exc, path)}; the run {row.get('run_id', '')} finished and "
            "--resume will record it"
        ) from None


def recorded_ids(path: Path, run_ids: Collection[str] | None = None) -> dict[str, str]:
    """``{run_id: status}`` of the rows in the summary (a torn last line left out; read
    only). With ``run_ids`` (the sweep's), a row of another run is refused: the file was
    edited or damaged, and such a row must never name a folder to remove."""
    recorded: dict[str, str] = {}
    for number, row in enumerate(read_rows(path), start=2):
        run_id = row.get("run_id", "")
        if run_ids is not None and run_id not in run_ids:
            raise StylelabError(
                f"{path}: row {number}: run_id {show(run_id)} is not a run of this sweep "
                "(the file was edited or damaged); remove that row to go on"
            )
        recorded[run_id] = row.get("status", "")
    return recorded


def _cut_torn_line(path: Path) -> None:
    """Cut a torn last line (a crash in the middle of an append) off the summary."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StylelabError(describe_os_error(exc, path)) from None
    if data and not data.endswith(b"\n"):
        with atomic_path(path) as tmp:
            tmp.write_bytes(data[: data.rfind(b"\n") + 1])


def forget_unfinished(root: Path, recorded: dict[str, str]) -> dict[str, str]:
    """Remove the folders, then the summary rows, of the runs not ``done``; the rest."""
    retry = {run_id for run_id, status in recorded.items() if status != "done"}
    if not retry:
        return recorded
    for run_id in retry:
        if RUN_ID.fullmatch(run_id):  # never a path: a run's folder, by its id
            folder = root / RUNS / run_id
            if folder.is_symlink() or folder.exists():
                _remove(folder)
    path = root / SUMMARY
    header = read_header(path)
    kept = [row for row in read_rows(path) if row.get("run_id") not in retry]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=header, lineterminator="\n", extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(kept)
    return {run_id: status for run_id, status in recorded.items() if run_id not in retry}


def _fresh(root: Path) -> bool:
    """Empty, or what a sweep killed before writing sweep.json leaves: its lock file, an
    empty runs/, and (written together with sweep.json, never before its lock file)
    summary.csv and sweep.toml. A user's own summary.csv or sweep.toml is not fresh."""
    names = {path.name: path for path in root.iterdir()}
    lock = names.get(LOCK)
    ours = lock is not None and lock.is_file() and not lock.is_symlink()
    for name, path in names.items():
        if name == LOCK and ours:
            continue
        if name == RUNS and path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            continue
        if name in (SUMMARY, SWEEP_TOML) and ours and path.is_file() and not path.is_symlink():
            continue
        return False
    return True


def _check_folder(root: Path, sweep: Sweep, resume: bool) -> dict[str, Any]:
    """RUNDIR is new, empty, or holds this same sweep and we resume; its sweep.json."""
    if root.is_symlink() and not root.exists():
        raise StylelabError(f"{root}: a broken symbolic link; choose another -o folder")
    if root.exists() and not root.is_dir():
        raise StylelabError(f"{root}: exists and is not a folder")
    existing = existing_sweep(root) if root.is_dir() else {}
    if existing:
        if existing.get("fingerprint") != sweep.fingerprint():
            name = existing.get("name")
            raise StylelabError(
                f"{root}: holds a different sweep"
                f"{f' ({show(name)})' if isinstance(name, str) and name else ''}; "
                "choose another -o folder"
            )
        if not resume:
            raise StylelabError(
                f"{root}: already holds this sweep; pass --resume to finish it, "
                "or choose another -o folder"
            )
        summary = root / SUMMARY
        if summary.exists() or summary.is_symlink():  # a summary of this sweep's runs
            recorded_ids(summary, {run.run_id for run in sweep.runs})
    elif root.is_dir() and not _fresh(root):
        raise StylelabError(f"{root}: not empty and holds no sweep; choose another -o folder")
    return existing


@contextmanager
def _locked(root: Path, sweep: Sweep, resume: bool) -> Iterator[None]:
    """Check that RUNDIR is new, or holds this same sweep and we resume; hold a lock."""
    _check_folder(root, sweep, resume)  # before anything is written
    with undone_on_failure() as made:  # a sweep that cannot start leaves nothing behind
        lock = _begin(root, sweep, resume, made)
    try:
        yield
    finally:
        os.close(lock)


def _begin(root: Path, sweep: Sweep, resume: bool, made: Made) -> int:
    """RUNDIR, its lock (held) and its records: the lock's descriptor; what it made is
    listed in ``made``, and the lock is closed again on any failure."""
    made.folder(root)
    if not (root / LOCK).exists() and not (root / LOCK).is_symlink():
        made.file(root / LOCK)
    lock = open_lock(root / LOCK, "the sweep")
    try:
        lock_or_refuse(lock, f"{root}: another sweep is running in this folder")
        existing = _check_folder(root, sweep, resume)  # again: it may have changed meanwhile
        made.folder(root / RUNS)
        if not existing:
            record = {
                "fingerprint": sweep.fingerprint(),
                "name": sweep.settings.name,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": " ".join(sys.argv),
                "settings": sweep.settings.__dict__,
                "varied": list(sweep.varied),
                "runs": [{"run_id": r.run_id, "params": r.params} for r in sweep.runs],
            }
            # sweep.json last: it marks the folder as this sweep's
            targets = [root / SUMMARY, root / SWEEP_TOML, root / SWEEP_JSON]
            with write_together(targets) as (summary, source, marker):
                summary.write_text(",".join(summary_columns()) + "\n", encoding="utf-8")
                source.write_text(sweep.source, encoding="utf-8")
                marker.write_text(json.dumps(record, indent=2, default=str) + "\n")
        elif not (root / SUMMARY).exists():
            with atomic_path(root / SUMMARY) as tmp:
                tmp.write_text(",".join(summary_columns()) + "\n", encoding="utf-8")
        else:
            _cut_torn_line(root / SUMMARY)  # checked by _check_folder to be a summary
    except BaseException:
        os.close(lock)
        raise
    return lock

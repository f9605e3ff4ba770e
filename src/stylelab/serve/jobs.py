"""The web app's jobs: a bounded queue, worker threads, one folder per job, state on disk.

A job is one :func:`stylelab.gatys.stylize` run, or (``method`` "instant") one
:func:`stylelab.adain.transfer.instant` run with the shipped model, whose image is the
first preview and which then refines with stylize's loop through the same callbacks. Its
folder ``WORKDIR/jobs/<id>/`` holds ``job.json`` (its state, rewritten atomically at each
change) and, once it ends, the files ``stylize`` writes (``image.png``, ``image.csv``,
``image.json``) and ``thumbnail.png``.
Ids are server-made (``uuid4().hex``); nothing a client sends becomes a path.

Jobs run in worker threads (default one: a CPU has no room for two); the per-step
callbacks keep the loss history and, every few steps, a small PNG preview in memory for
the page's event stream. Stop raises :class:`stylelab.optim.StopRequested` from the
callback, so the run ends with the current image, saved like any other. A server that
restarts lists the jobs it finds on disk; those that were queued or running when it
stopped are marked ``interrupted``.

Uploads live in ``WORKDIR/uploads/<id>.upload`` within a byte budget: when a new one would
pass it, the oldest that no waiting or running job reads are deleted first (the page then
asks for that image again), and when that is not enough the upload is refused.
"""

from __future__ import annotations

import io
import queue
import re
import sys
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError
from stylelab.records import read_json, write_json
from stylelab.safety import atomic_path, disk_full, one_line, os_reason

JOB_ID = re.compile(r"[0-9a-f]{32}")
#: The files of a job a client may fetch: URL name -> (file name, media type).
JOB_FILES = {
    "image.png": ("image.png", "image/png"),
    "image.csv": ("image.csv", "text/csv"),
    "image.json": ("image.json", "application/json"),
    "thumbnail.png": ("thumbnail.png", "image/png"),
}
ACTIVE = ("queued", "running")
#: Longest edge of the previews pushed to the page and of the history's thumbnails.
PREVIEW_EDGE = 512
THUMBNAIL_EDGE = 160
#: Previews per job, roughly (one every steps // PREVIEWS steps, at least every step), but
#: at least one a second and at most one per PREVIEW_MIN_S.
PREVIEWS = 40
PREVIEW_MIN_S = 0.2
PREVIEW_MAX_S = 1.0
KEPT_PREVIEWS = 8
#: At most this many loss points per job are kept for the curve (every other one beyond).
MAX_CURVE_POINTS = 2000


#: Default budget of the uploads folder, in bytes.
UPLOADS_BUDGET = 1024 * 1024 * 1024


class QueueFull(StylelabError):
    """More jobs waiting than the queue holds (HTTP 429)."""


class UploadsFull(StylelabError):
    """The uploads that waiting or running jobs read already fill the budget (HTTP 507)."""


class StorageFull(StylelabError):
    """The disk under the work folder is full (HTTP 507); no path in the message."""


class StorageFailed(StylelabError):
    """The work folder could not be written for another reason: the server's fault
    (HTTP 500); no path in the message."""


def storage_error(exc: OSError | StylelabError, what: str) -> StylelabError:
    """The one line a client sees for ``what`` (an upload, a result) that the server could
    not write: a full disk, or the reason, never the server's own paths (the work folder
    is the server's business; its log has the whole line)."""
    print(f"stylelab serve: warning: {one_line(exc)}", file=sys.stderr)
    if disk_full(exc):
        return StorageFull(f"the server's storage is full: {what} was not kept; try again later")
    reason = os_reason(exc) if isinstance(exc, OSError) else "it could not be written"
    return StorageFailed(f"the server could not store {what} ({reason})")


@dataclass
class Job:
    """One stylization: its settings, its state and what the page watches while it runs."""

    id: str
    folder: Path
    config: dict[str, Any]
    content: str
    style: str
    status: str = "queued"
    message: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    iterations: int = 0
    # In memory only: the live view.
    curve: list[tuple[int, float]] = field(default_factory=list)
    preview: bytes | None = None
    preview_count: int = 0
    version: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    stopped_by_user: bool = False
    sources: tuple[str, str] = ("", "")  # what stylize reads: upload paths or example:NAME
    instant: dict[str, Any] | None = None  # an instant job's own fields and model

    @property
    def method(self) -> str:
        """``instant`` when the job has instant fields, else ``gatys``: one fact, not two."""
        return "gatys" if self.instant is None else "instant"

    @property
    def steps(self) -> int:
        if self.instant is not None:
            return int(self.instant.get("refine", 0))
        return int(self.config.get("steps", 0))

    def public(self) -> dict[str, Any]:
        """What the API shows (and job.json keeps)."""
        return {
            "id": self.id,
            "method": self.method,
            **({"instant": self.instant} if self.instant is not None else {}),
            "status": self.status,
            "message": self.message,
            "content": self.content,
            "style": self.style,
            "config": self.config,
            "steps": self.steps,
            "iterations": self.iterations,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "files": [n for n, (f, _) in JOB_FILES.items() if (self.folder / f).is_file()]
            if self.status not in ACTIVE
            else [],
        }


class JobStore:
    """The jobs of one workdir: submit, stop, look up; ``workers`` threads run them."""

    def __init__(
        self,
        workdir: Path,
        workers: int = 1,
        max_queued: int = 32,
        uploads_budget: int = UPLOADS_BUDGET,
    ) -> None:
        self.workdir = workdir
        self.folder = workdir / "jobs"
        self.uploads = workdir / "uploads"
        self.workers = workers
        self.max_queued = max_queued
        self.uploads_budget = uploads_budget
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.pending: queue.Queue[Job | None] = queue.Queue()
        self.threads: list[threading.Thread] = []
        self.closing = False

    # ----------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.load()
        for index in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"stylelab-job-{index}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def close(self, timeout: float = 10.0) -> None:
        """Stop: queued jobs are marked interrupted, running ones stop and save their image."""
        self.closing = True
        with self.lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            job.stop.set()
        for _ in self.threads:
            self.pending.put(None)
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for job in jobs:
            if job.status == "queued":
                self._finish(job, "interrupted", "the server stopped before this job ran")

    def load(self) -> None:
        """The jobs on disk, newest last; those left queued or running are interrupted."""
        found = []
        for path in self.folder.iterdir():
            job = _job_on_disk(path)
            if job is None:
                continue
            if job.status in ACTIVE:
                job.status = "interrupted"
                job.message = "the server stopped before this job finished"
                self._save(job)
            found.append(job)
        found.sort(key=lambda j: j.created)
        with self.lock:
            self.jobs.update({job.id: job for job in found})

    # --------------------------------------------------------------------------- API

    def submit(
        self,
        content: str,
        style: str,
        config: StylizeConfig,
        labels: tuple[str, str],
        instant: Any = None,
    ) -> Job:
        """Queue a job (content and style are sources :func:`stylize` reads); with
        ``instant`` (:class:`~stylelab.adain.options.InstantOptions`) an instant job,
        which keeps only the options instant shares with stylize."""
        with self.lock:
            self._check_room()
            for source in (content, style):  # an upload may have made room since it was named
                if not source.startswith("example:") and not Path(source).is_file():
                    raise StylelabError("no such upload (upload the image again)")
            job_id = uuid.uuid4().hex
            job = Job(job_id, self.folder / job_id, config.to_dict(), labels[0], labels[1])
            job.sources = (content, style)
            if instant is not None:
                _make_instant(job, instant)
            try:
                job.folder.mkdir(parents=True)  # the work folder may have been removed
            except OSError as exc:
                raise storage_error(exc, "the job") from None
            self._save(job)
            self.jobs[job_id] = job
        self.pending.put(job)
        return job

    def check_room(self) -> None:
        """QueueFull when the server is closing or ``max_queued`` jobs wait: before a
        request's costlier checks (:meth:`submit` checks again)."""
        with self.lock:
            self._check_room()

    def _check_room(self) -> None:
        waiting = sum(1 for j in self.jobs.values() if j.status == "queued")
        if self.closing:
            raise QueueFull("the server is shutting down")
        if waiting >= self.max_queued:
            raise QueueFull(
                f"queue full: {waiting} jobs are waiting (at most {self.max_queued}); "
                "try again when one has finished"
            )

    def save_upload(self, data: bytes) -> str:
        """Store an upload under a new id and return the id. Within ``uploads_budget``
        bytes: the oldest uploads that no waiting or running job reads make room first;
        :class:`UploadsFull` when they cannot."""
        with self.lock:
            in_use = {s for j in self.jobs.values() if j.status in ACTIVE for s in j.sources}
            stored = []
            for path in self.uploads.glob("*.upload"):
                try:
                    info = path.stat()
                except OSError:  # deleted meanwhile
                    continue
                stored.append((info.st_mtime, info.st_size, path))
            stored.sort()
            total = sum(size for _, size, _ in stored)
            for _, size, path in stored:  # oldest first
                if total + len(data) <= self.uploads_budget:
                    break
                if str(path) in in_use:
                    continue
                path.unlink(missing_ok=True)
                total -= size
            if total + len(data) > self.uploads_budget:
                mb = 1024 * 1024
                raise UploadsFull(
                    f"uploads full: waiting and running jobs read {total / mb:.0f} MB of "
                    f"uploads (at most {self.uploads_budget / mb:.0f} MB); "
                    "try again when they have finished"
                )
            upload_id = uuid.uuid4().hex
            try:
                self.uploads.mkdir(parents=True, exist_ok=True)  # removed while running
                with atomic_path(self.uploads / f"{upload_id}.upload") as tmp:
                    tmp.write_bytes(data)
            except (OSError, StylelabError) as exc:
                raise storage_error(exc, "the upload") from None
        return upload_id

    def get(self, job_id: str) -> Job | None:
        if not JOB_ID.fullmatch(job_id):
            return None
        with self.lock:
            return self.jobs.get(job_id)

    def list(self) -> list[Job]:
        with self.lock:
            return sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)

    def request_stop(self, job: Job) -> None:
        job.stopped_by_user = True
        job.stop.set()
        if job.status == "queued":
            self._finish(job, "stopped", "stopped before it started")

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in self.list():
            counts[job.status] = counts.get(job.status, 0) + 1
        return counts

    # ------------------------------------------------------------------------ workers

    def _work(self) -> None:
        while True:
            job = self.pending.get()
            if job is None:
                return
            if job.status != "queued":  # stopped while it waited
                continue
            try:
                self._run(job)
            except Exception as exc:  # noqa: BLE001 - a job's failure never ends the worker
                self._finish(job, "failed", _reason(exc))

    def _run(self, job: Job) -> None:
        from stylelab.optim import StopRequested

        every = max(1, job.steps // PREVIEWS)
        job.status, job.started = "running", time.time()
        self._save(job)

        def on_row(row: dict[str, Any]) -> None:
            iteration = int(row["iteration"])
            job.iterations = iteration
            if len(job.curve) < MAX_CURVE_POINTS or iteration % 2 == 0:
                job.curve.append((iteration, float(row.get("total", float("nan")))))
            job.version += 1
            if job.stop.is_set():
                raise StopRequested(f"stopped after {iteration} iterations")

        shown = {"iteration": 0, "time": 0.0}

        def on_image(iteration: int, image: Any) -> None:
            # Every few steps: at least every `every` steps or every second, never more
            # often than PREVIEW_MIN_S (PNG encoding is not free at 512 px).
            now = time.monotonic()
            since = now - shown["time"]
            due = iteration - shown["iteration"] >= every or since >= PREVIEW_MAX_S
            if since >= PREVIEW_MIN_S and due:
                job.preview = _png(image, PREVIEW_EDGE)
                job.preview_count += 1
                job.version += 1
                shown.update(iteration=iteration, time=now)

        try:
            result = _compute(job, on_image, on_row)
        except StylelabError as exc:
            self._finish(job, "failed", str(exc))
            return
        except MemoryError:
            self._finish(job, "failed", "out of memory: try a smaller size")
            return
        try:
            job.folder.mkdir(parents=True, exist_ok=True)  # removed while it ran
            result.save(job.folder / "image.png")
            with atomic_path(job.folder / "thumbnail.png") as tmp:
                tmp.write_bytes(_png(result.tensor, THUMBNAIL_EDGE))
        except (OSError, StylelabError) as exc:  # full, read-only, not writable: the server's
            self._finish(job, "failed", str(storage_error(exc, "the result")))
            return
        job.preview = _png(result.tensor, PREVIEW_EDGE)
        job.preview_count += 1
        job.iterations = int(result.info.get("iterations", job.iterations))
        if result.status == "done":
            self._finish(job, "done", _summary(job, result.info))
        elif result.status == "interrupted":
            if self.closing and not job.stopped_by_user:
                self._finish(job, "interrupted", "the server stopped; kept the current image")
            else:
                self._finish(job, "stopped", str(result.info.get("message", "stopped")))
        else:
            self._finish(job, result.status, str(result.info.get("message", "")))

    def _finish(self, job: Job, status: str, message: str) -> None:
        job.status, job.message, job.finished = status, one_line(message), time.time()
        job.version += 1
        self._save(job)
        self._forget_old_previews()

    def _forget_old_previews(self) -> None:
        """Memory stays bounded: only the latest KEPT_PREVIEWS ended jobs keep their last
        preview in memory (the page shows image.png for the others)."""
        ended = [j for j in self.list() if j.status not in ACTIVE and j.preview is not None]
        ended.sort(key=lambda j: j.finished or 0.0, reverse=True)
        for job in ended[KEPT_PREVIEWS:]:
            job.preview = None

    def _save(self, job: Job) -> None:
        try:
            write_json(job.public(), job.folder / "job.json")
        except (StylelabError, OSError) as exc:  # the disk filled up: the job lives on in memory
            print(f"stylelab serve: warning: {one_line(exc)}", file=sys.stderr)


def _make_instant(job: Job, options: Any) -> None:
    """``job`` becomes an instant job: its config keeps the fields instant shares with
    stylize, ``job.instant`` holds instant's own fields (:class:`InstantOptions`) and the
    model (the shipped one)."""
    from stylelab.adain.modelfile import SHIPPED
    from stylelab.adain.options import SHARED

    job.config = {name: value for name, value in job.config.items() if name in SHARED}
    job.instant = {**asdict(options), "model": {"file": SHIPPED.name, "shipped": True}}


def _compute(job: Job, on_image: Any, on_row: Any) -> Any:
    """The job's run: stylize, or instant (the model's design goes into its record)."""
    content, style = job.sources
    if job.instant is None:
        from stylelab.gatys import stylize

        config = StylizeConfig.from_dict(job.config)
        return stylize(content, style, config, callback=on_image, on_row=on_row)
    from stylelab.adain.options import InstantOptions
    from stylelab.adain.transfer import instant
    from stylelab.config import field_names

    settings = {k: v for k, v in job.instant.items() if k in field_names(InstantOptions)}
    result = instant(content, style, **settings, callback=on_image, on_row=on_row, **job.config)
    job.instant["model"] = {**job.instant["model"], "design": result.info["model"]["design"]}
    return result


def _summary(job: Job, info: dict[str, Any]) -> str:
    """The message of a finished job: its iterations, or what instant took."""
    if job.instant is None:
        return f"{job.iterations} iterations"
    seconds = float(info.get("instant", {}).get("seconds", info.get("seconds", 0.0)))
    refined = f", then {job.iterations} refine iterations" if job.instant["refine"] else ""
    return f"instant in {seconds:.2f} s{refined}"


def _job_on_disk(path: Path) -> Job | None:
    """The job whose folder is ``path``, or None for anything else (a stray folder, a
    damaged or foreign job.json: skipped, never fatal)."""
    record = path / "job.json"
    if not JOB_ID.fullmatch(path.name) or not path.is_dir() or not record.is_file():
        return None
    data = read_json(record)
    if data is None or data.get("id") != path.name:
        return None
    try:
        job = Job(
            id=path.name,
            folder=path,
            config=dict(data.get("config") or {}),
            content=str(data.get("content", "")),
            style=str(data.get("style", "")),
            status=str(data.get("status", "failed")),
            message=str(data.get("message", "")),
            created=float(data.get("created") or 0.0),
            started=_seconds(data.get("started")),
            finished=_seconds(data.get("finished")),
            iterations=int(data.get("iterations") or 0),
            instant=dict(data["instant"]) if isinstance(data.get("instant"), dict) else None,
        )
    except (TypeError, ValueError):
        return None
    job.curve = _curve_from_csv(path / "image.csv")
    return job


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _png(image: Any, edge: int) -> bytes:
    """A (1, 3, H, W) tensor as PNG bytes, its longer edge at most ``edge``."""
    from stylelab.images import tensor_to_pil

    picture = tensor_to_pil(image.detach().cpu())
    picture.thumbnail((edge, edge))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _curve_from_csv(path: Path) -> list[tuple[int, float]]:
    """(iteration, total) from a finished job's CSV, for a page opened after a restart."""
    import csv

    points: list[tuple[int, float]] = []
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                points.append((int(row["iteration"]), float(row["total"])))
    except (OSError, ValueError, KeyError, TypeError, csv.Error):
        return points
    return points[-MAX_CURVE_POINTS:]


def _reason(exc: BaseException) -> str:
    traceback.print_exc(file=sys.stderr)
    text = str(exc).strip().splitlines()
    return f"internal error: {type(exc).__name__}: {text[0] if text else ''}"

"""Where runs execute: local subprocesses (``--jobs N`` at a time) or tasks on a Ray cluster.

Every run is a fresh ``python -m stylelab.experiments.worker RUN.json`` process, so a crash
or an out-of-memory kill ends that run only; its peak memory is the child's max RSS as
reported by ``wait4``. Executors yield :class:`Completed` runs as they finish; the runner
alone writes the summary.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylelab.errors import StylelabError
from stylelab.experiments.worker import OUTPUT, RESULT
from stylelab.records import read_json
from stylelab.safety import one_line

RUN_SPEC = "run.json"
LOG = "worker.log"
RUN_FILES = (OUTPUT, "output.csv", "output.json", LOG)
# On Linux the worker asks to be SIGKILLed when its parent dies (PR_SET_PDEATHSIG) before
# it imports torch, so a sweep killed with SIGKILL leaves no run writing on behind it.
_BOOT = """import ctypes, os, sys
try:
    ctypes.CDLL(None).prctl(1, 9)
except Exception:
    pass
if os.getppid() != int(sys.argv[2]):
    os._exit(3)
from stylelab.experiments.worker import main
sys.exit(main(sys.argv[1:2]))
"""


def worker_command(spec_path: Path) -> list[str]:
    if sys.platform.startswith("linux"):
        return [sys.executable, "-c", _BOOT, str(spec_path), str(os.getpid())]
    return [sys.executable, "-m", "stylelab.experiments.worker", str(spec_path)]


@dataclass
class Task:
    run_id: str
    spec: dict[str, Any]  # what the worker reads (JSON-able)
    folder: Path  # the run's folder in RUNDIR


@dataclass
class Completed:
    task: Task
    record: dict[str, Any]
    files: dict[str, bytes] | None = None  # set when the run's files were made elsewhere


class Children:
    """The worker processes running now, so that an interruption (Ctrl-C, SIGTERM) can end
    them at once instead of waiting for them: a run cut short is not recorded, and
    ``--resume`` runs it again from scratch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self._stopping = False

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)
            if self._stopping:
                _kill(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def stop(self) -> None:
        """Kill every worker running now and every one started from now on."""
        with self._lock:
            self._stopping = True
            for proc in self._procs:
                _kill(proc)


def _kill(proc: subprocess.Popen) -> None:
    with suppress(OSError):  # already gone
        proc.kill()


def run_in_subprocess(
    spec: dict[str, Any],
    folder: Path,
    timeout_s: float = 0.0,
    children: Children | None = None,
) -> dict:
    """Run one worker process into ``folder``; its record, with peak memory and exit code.

    An exception while waiting (Ctrl-C, SIGTERM as :class:`stylelab.safety.Terminated`)
    kills the worker and reaps it before it propagates."""
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = folder / RUN_SPEC
    spec_path.write_text(json.dumps({**spec, "parent_pid": os.getpid()}, indent=2) + "\n")
    (folder / RESULT).unlink(missing_ok=True)
    with open(folder / LOG, "wb") as log:
        proc = subprocess.Popen(
            worker_command(spec_path),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if children is not None:
        children.add(proc)
    try:
        return _wait_for(proc, spec, folder, timeout_s)
    except BaseException:
        _kill(proc)
        proc.wait()
        raise
    finally:
        if children is not None:
            children.discard(proc)


def _wait_for(proc: subprocess.Popen, spec: dict[str, Any], folder: Path, timeout_s: float) -> dict:
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout_s, kill) if timeout_s > 0 else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    peak_mb: float | None = None
    try:
        if hasattr(os, "wait4"):
            _, status, usage = os.wait4(proc.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            proc.returncode = code  # reaped here; keep Popen from waiting again
            scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes vs KiB
            peak_mb = round(usage.ru_maxrss / scale, 1)
        else:  # pragma: no cover - Windows
            code = proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
    record = read_json(folder / RESULT)
    if record is None or timed_out.is_set():
        record = {"run_id": spec["run_id"], "status": "failed", "error": ""}
        if timed_out.is_set():
            record.update(status="timeout", error=f"killed after the {timeout_s:g} s time limit")
        elif code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            record.update(status="crashed", error=f"worker killed by {name}{hint}")
        else:
            record.update(
                status="crashed", error=f"worker exited with {code}: {_last_line(folder / LOG)}"
            )
    record["peak_rss_mb"] = peak_mb
    record["exit_code"] = code
    return record


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def run_local(tasks: Iterable[Task], jobs: int = 1, timeout_s: float = 0.0) -> Iterator[Completed]:
    """Run tasks as local subprocesses, ``jobs`` at a time, yielding each as it finishes."""
    if jobs < 1:
        raise StylelabError(f"--jobs must be >= 1, got {jobs}")
    queue = list(tasks)
    if jobs == 1:
        for task in queue:
            yield Completed(task, run_in_subprocess(task.spec, task.folder, timeout_s))
        return
    children = Children()
    pool = ThreadPoolExecutor(max_workers=min(jobs, max(1, len(queue))))
    try:
        running: dict[Future, Task] = {}
        while queue or running:
            while queue and len(running) < jobs:
                task = queue.pop(0)
                future = pool.submit(run_in_subprocess, task.spec, task.folder, timeout_s, children)
                running[future] = task
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield Completed(running.pop(future), future.result())
    finally:
        if queue or running:  # stopped early (Ctrl-C, SIGTERM, an error): end the runs now
            children.stop()
        pool.shutdown(wait=True, cancel_futures=True)


def _ray_task(spec: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Inside a Ray worker: run the worker process in a scratch folder, return its files."""
    scratch = Path(tempfile.mkdtemp(prefix="stylelab-run-"))
    try:
        record = run_in_subprocess(spec, scratch, timeout_s)
        files = {n: (scratch / n).read_bytes() for n in RUN_FILES if (scratch / n).is_file()}
        return record, files
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_ray(
    tasks: Iterable[Task],
    address: str | None = None,
    timeout_s: float = 0.0,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
) -> Iterator[Completed]:
    """Submit every task to Ray (``cpus_per_run``/``gpus_per_run`` each); yield as they finish.

    Uses the Ray instance already initialized in this process, else connects to
    ``address`` (``auto``, ``ray://host:10001``, ...), else starts a local one. The files
    come back with the result, so the cluster needs no shared file system.
    """
    with ray_session(address) as ray:
        remote = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)(_ray_task)
        pending = {remote.remote(task.spec, timeout_s): task for task in tasks}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    task = pending.pop(ref)
                    try:
                        record, files = ray.get(ref)
                    except Exception as exc:  # the task or its node died: record, go on
                        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                        record = {"run_id": task.run_id, "status": "crashed", "error": message}
                        files = {}
                    yield Completed(task, record, files)
        finally:
            for ref in pending:  # stopped early: the runs still queued or running end
                with suppress(Exception):  # best effort on the way out
                    ray.cancel(ref, force=True)


@contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """The ``ray`` module, connected: the instance already initialized in this process,
    else ``address``, else a new local one (shut down at the end). One line if Ray is
    missing or cannot be reached, before anything is written."""
    try:
        import ray
    except ImportError:
        raise StylelabError(
            "--executor ray needs Ray: pip install 'stylelab[ray]' (or pip install ray)"
        ) from None
    if ray.is_initialized():
        yield ray
        return
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    except Exception as exc:  # noqa: BLE001 - ConnectionError, ValueError, RuntimeError...
        reason = one_line(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise StylelabError(
            f"cannot connect to Ray at {one_line(address or 'a new local instance')}: "
            f"{reason or type(exc).__name__}"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()

"""Every case of the hostile-input table (tests/hostile/cases.py) keeps stylelab's promise:
exit status 2, one ``stylelab: error:`` line, no traceback, no file created or changed, no
code run from a file. Odd but valid images stylize; a report skips a run's damaged files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from stylelab import cli
from tests.hostile.cases import (
    CASES,
    DAMAGED_RUN_FILES,
    MARKER,
    MODEL,
    ODD_BUT_VALID_IMAGES,
    ONE_RUN,
    ONNX_MODEL,
    SERVE_JOBS,
    STYLIZE_FAST,
    Case,
    ShellMarker,
    TouchMarker,
    images,
    rundir,
    torch_payload,
)

TIMEOUT_S = 60
# Control characters that would garble or rewrite a terminal line (tab and newline allowed).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
TEMP_NAME = re.compile(r"\.tmp\b")
# shell redirections: close a stream, or feed a device
CLOSE = {"stdin": "0<&-", "stdout": "1>&-", "stdin-zero": "0</dev/zero"}
# Address space of a subprocess case (KiB): a run that is not refused fails to allocate
# instead of waking the OOM killer on a shared machine.
MEMORY_LIMIT_KB = 8 << 20


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder``, hidden ones too: a hash for files, the target for links.

    Never opens anything but regular files (a FIFO would block) and never follows links."""
    out: dict[str, str] = {}
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(root) / name
            key = str(path.relative_to(folder))
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                out[key] = "-> " + os.readlink(path)
            elif stat.S_ISDIR(info.st_mode):
                out[key] = "<dir>"
            elif stat.S_ISREG(info.st_mode):
                out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[key] = f"<special {stat.S_IFMT(info.st_mode):o}>"
    return out


def difference(before: dict[str, str], after: dict[str, str]) -> str:
    created = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"created {created}, removed {removed}, changed {changed}"


def run_inprocess(
    case: Case, argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys
) -> tuple[int, str, str]:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if case.stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(case.stdin)))
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # a bug too, but report it as the exit status it gives
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_subprocess(case: Case, argv: list[str], folder: Path) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STYLELAB_DEBUG"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # a CUDA context would not fit in MEMORY_LIMIT_KB
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no cache files written by the interpreter
    env.update(case.env)
    closing = " ".join(CLOSE[name] for name in case.closed)
    disk = "trap '' XFSZ; ulimit -f 1 && " if case.full_disk else ""
    script = f'{disk}ulimit -v {MEMORY_LIMIT_KB} && exec "$@" {closing}'
    command = ["/bin/sh", "-c", script, "sh", sys.executable, "-m", "stylelab.cli", *argv]
    try:
        proc = subprocess.run(
            command,
            cwd=folder,
            env=env,
            input=case.stdin,
            stdin=None if case.stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        err = (exc.stderr or b"").decode("utf-8", "replace")
        pytest.fail(f"no answer in {TIMEOUT_S} s (a hang or a run that was not refused): {err}")
    decode = lambda data: data.decode("utf-8", "replace")  # noqa: E731
    return proc.returncode, decode(proc.stdout), decode(proc.stderr)


def broken_promises(case: Case, code: int, out: str, err: str) -> list[str]:
    """What the run did that the promise rules out (empty: it kept the promise)."""
    problems = []
    lines = err.splitlines()
    if code != 2:
        problems.append(f"exit status {code}")
    if "Traceback" in err:
        problems.append("a traceback")
    if len(lines) != 1 or not lines[0].strip():
        problems.append(f"{len(lines)} lines on stderr")
    elif not lines[0].startswith("stylelab: error: "):
        problems.append("the line does not start with 'stylelab: error: '")
    if CONTROL.search(err.removesuffix("\n")):
        problems.append("control characters on stderr")
    if TEMP_NAME.search(err):
        problems.append("names a temporary file")
    if case.message and not (lines and re.search(case.message, lines[-1])):
        problems.append(f"the last line does not match {case.message!r}")
    if out:
        problems.append(f"stdout: {out[:200]!r}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_keeps_the_promise(
    case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.delenv("STYLELAB_DEBUG", raising=False)
    if case.needs_model:
        shutil.copy(request.getfixturevalue("tiny_model"), tmp_path / MODEL)
    if case.needs_onnx:
        shutil.copy(request.getfixturevalue("onnx_model"), tmp_path / ONNX_MODEL)
    argv = case.make(tmp_path)
    before = snapshot(tmp_path)
    if case.mode == "subprocess":
        code, out, err = run_subprocess(case, argv, tmp_path)
    else:
        monkeypatch.chdir(tmp_path)
        code, out, err = run_inprocess(case, argv, monkeypatch, capsys)
    problems = broken_promises(case, code, out, err)
    if (tmp_path / MARKER).exists():
        problems.append("code from a file ran")
    after = snapshot(tmp_path)
    if after != before:
        problems.append(difference(before, after))
    assert not problems, f"{'; '.join(problems)}\nstderr: {err!r}"


def test_table_size() -> None:
    assert len(CASES) >= 60


def test_case_ids_are_unique_and_modes_known() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert {case.mode for case in CASES} <= {"inprocess", "subprocess"}
    assert all(case.mode == "subprocess" for case in CASES if case.closed or case.full_disk)


@pytest.mark.parametrize("kind", ["pickle", "shell", "torch.save"])
def test_the_pickle_payloads_would_run_code(kind: str, tmp_path: Path) -> None:
    """The payload cases mean something: loading them unsafely does create the marker."""
    import torch

    marker = tmp_path / MARKER
    if kind == "torch.save":
        torch.load(tmp_path / torch_payload(tmp_path, "evil.pt"), weights_only=False)
    else:
        boom = ShellMarker(marker) if kind == "shell" else TouchMarker(marker)
        pickle.loads(pickle.dumps({"weights": boom}))  # noqa: S301
    assert marker.exists()


@pytest.mark.parametrize("name", sorted(ODD_BUT_VALID_IMAGES))
def test_odd_but_valid_images_stylize(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("STYLELAB_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    images(tmp_path)
    ODD_BUT_VALID_IMAGES[name](tmp_path / name)
    flags = [*STYLIZE_FAST, "--steps", "1"]
    code = cli.main(["stylize", name, "s.png", "-o", "out.png", *flags])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
    assert (tmp_path / "out.png").is_file()


@pytest.mark.parametrize("damage", sorted(DAMAGED_RUN_FILES))
def test_report_shows_a_damaged_run_without_its_file(damage: str, tmp_path: Path) -> None:
    """Not bad input: a run's damaged file is left out of the figures (a real process, with a
    timeout: a FIFO must not be opened)."""
    name = damage.split()[0]
    argv = rundir(tmp_path, ONE_RUN, {name: DAMAGED_RUN_FILES[damage]})
    proc = subprocess.run(
        [sys.executable, "-m", "stylelab.cli", *argv],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "r" / "index.html").is_file()


@pytest.fixture(scope="module")
def serve_client(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("starlette")
    pytest.importorskip("httpx2")  # what starlette.testclient imports
    from starlette.testclient import TestClient

    from stylelab.serve.app import Settings, create_app

    workdir = tmp_path_factory.mktemp("serve-hostile")
    with pytest.MonkeyPatch.context() as patch:  # no torchvision weights, on any machine
        patch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("empty-torch-home")))
        with TestClient(create_app(Settings(workdir=workdir))) as client:
            yield client


@pytest.mark.parametrize("name", sorted(SERVE_JOBS))
def test_bad_web_jobs_are_one_line_4xx(
    name: str, serve_client, capfd: pytest.CaptureFixture[str]
) -> None:
    """The web app's promise for a bad job request: a JSON error of one line with a 4xx
    status, no traceback on the server's stderr, and no job queued."""
    changes, status, message = SERVE_JOBS[name]
    body = {"content": "example:chelsea", "style": "example:strokes", **changes}
    raw = json.dumps(body)  # NaN and Infinity as Python's json writes them (httpx refuses)
    response = serve_client.post(
        "/api/jobs", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert "\n" not in error and re.search(message, error), error
    assert "Traceback" not in capfd.readouterr().err
    assert serve_client.get("/api/jobs").json()["jobs"] == []

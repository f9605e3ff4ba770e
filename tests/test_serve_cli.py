"""``stylelab serve`` as a process: it answers within 5 seconds, prints its URL, makes up
a token when bound beyond loopback, and stops on SIGTERM. (Bad flags: tests/hostile.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")

SRC = Path(__file__).resolve().parents[1] / "src"
START_LIMIT_S = 5.0


@contextmanager
def serving(*flags: str) -> Iterator[tuple[subprocess.Popen, str, float]]:
    """``stylelab serve --port 0 FLAGS``: the process, its printed URL, and the seconds
    from launch until /api/health answered."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    began = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "stylelab.cli", "serve", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("stylelab serve: http://"), (line, process.stderr.read())
        url = line.removeprefix("stylelab serve: ")
        base = url.split("?")[0].rstrip("/").replace("0.0.0.0", "127.0.0.1")
        token = url.split("?token=")[1] if "?token=" in url else ""
        health = base + "/api/health" + (f"?token={token}" if token else "")
        while True:
            try:
                with urllib.request.urlopen(health, timeout=5) as response:
                    assert response.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() - began > 60 or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield process, url, time.monotonic() - began
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_serve_starts_within_five_seconds_and_stops_on_sigterm(tmp_path: Path) -> None:
    with serving("--workdir", str(tmp_path / "work")) as (process, url, seconds):
        print(f"stylelab serve answered /api/health {seconds:.2f} s after launch")
        assert url.startswith("http://127.0.0.1:") and "token" not in url
        assert seconds < START_LIMIT_S
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 143
    assert (tmp_path / "work" / "jobs").is_dir() and (tmp_path / "work" / "uploads").is_dir()


def test_a_public_host_gets_a_generated_token(tmp_path: Path) -> None:
    with serving("--host", "0.0.0.0", "--workdir", str(tmp_path / "w")) as (_, url, _s):
        assert "?token=" in url
        base = url.split("?")[0].replace("0.0.0.0", "127.0.0.1").rstrip("/")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "/api/health", timeout=5)
        assert refused.value.code == 401
        assert b"token" in refused.value.read()
        refused.value.close()


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )


def test_help_imports_neither_the_web_stack_nor_torch() -> None:
    done = run_python(
        "import sys; from stylelab.cli import build_parser; build_parser().format_help(); "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'torch') if m in sys.modules))"
    )
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_serve_without_uvicorn_says_which_extra_in_one_line(tmp_path: Path) -> None:
    done = run_python(
        "import sys; sys.modules['uvicorn'] = None; from stylelab.cli import main; "
        f"sys.exit(main(['serve', '--workdir', {str(tmp_path / 'w')!r}]))"
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "stylelab: error: stylelab serve needs Starlette and uvicorn (uvicorn is missing): "
        "pip install 'stylelab[serve]'"
    ]
    assert not (tmp_path / "w").exists()

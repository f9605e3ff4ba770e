"""What the web app's tests share: tiny job options, images as bytes, a real server on
127.0.0.1 in a thread, and waiting for a job to end."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from PIL import Image

from tests.conftest import gradient_image, stripes_image

# A job that takes a second or two on a CPU.
TINY = {
    "size": 32,
    "steps": 3,
    "weights": "random",
    "multiscale": False,
    "precision": "fp32",
    "device": "cpu",
}


def png_bytes(image: Image.Image | None = None) -> bytes:
    buffer = io.BytesIO()
    (image or gradient_image()).save(buffer, format="PNG")
    return buffer.getvalue()


def style_bytes() -> bytes:
    return png_bytes(stripes_image())


def wait_for(
    read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    """Poll ``read()`` until ``done(value)``; the last value (an AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting; last: {value}")
        time.sleep(0.1)


def ended(job: dict[str, Any]) -> bool:
    return job["status"] not in ("queued", "running")


@contextmanager
def live_server(settings: Any) -> Iterator[str]:
    """``stylelab.serve`` under uvicorn on 127.0.0.1 (a free port), in a thread; yields
    the base URL and stops the server (and its jobs) on exit."""
    import uvicorn

    from stylelab.serve.app import create_app

    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    config.timeout_graceful_shutdown = 3
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()

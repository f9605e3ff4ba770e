"""The web app under load, on 127.0.0.1 only and bounded in count and time: 20 clients
submit tiny jobs at once; every job finishes or is refused with a message, none is lost,
memory stays bounded; a client that leaves mid-stream leaves the server healthy."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx2")
pytest.importorskip("uvicorn")

from stylelab.serve.app import Settings  # noqa: E402
from tests.serve_helpers import (  # noqa: E402
    TINY,
    ended,
    live_server,
    png_bytes,
    style_bytes,
    wait_for,
)

CLIENTS = 20
MAX_QUEUED = 6
TIME_LIMIT_S = 120
RSS_GROWTH_LIMIT = 400 * 2**20


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def upload(client, data: bytes) -> str:
    response = client.post("/api/uploads", content=data, headers={"Content-Type": "image/png"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_twenty_clients_at_once_lose_no_job(tmp_path: Path) -> None:
    settings = Settings(workdir=tmp_path / "work", max_queued=MAX_QUEUED)
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        content, style = upload(client, png_bytes()), upload(client, style_bytes())
        body = {"content": content, "style": style, "options": TINY}
        warm = client.post("/api/jobs", json=body).json()  # torch and the backbone, once
        wait_for(lambda: client.get(f"/api/jobs/{warm['id']}").json(), ended, TIME_LIMIT_S)
        before = rss_bytes()
        began = time.monotonic()
        answers: list[tuple[int, dict]] = []
        barrier = threading.Barrier(CLIENTS)

        def one_client(index: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as own:
                barrier.wait()
                options = {**TINY, "seed": index}
                response = own.post("/api/jobs", json={**body, "options": options})
                answers.append((response.status_code, response.json()))

        threads = [threading.Thread(target=one_client, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIME_LIMIT_S)
        assert len(answers) == CLIENTS
        accepted = [job for status, job in answers if status == 201]
        refusals = [job for status, job in answers if status != 201]
        assert {status for status, _ in answers} <= {201, 429}
        assert all("queue full" in job["error"] for job in refusals)
        assert MAX_QUEUED <= len(accepted) <= MAX_QUEUED + 1  # the worker takes one at once
        left = TIME_LIMIT_S - (time.monotonic() - began)
        for job in accepted:
            final = wait_for(
                lambda job=job: client.get(f"/api/jobs/{job['id']}").json(), ended, left
            )
            assert final["status"] == "done", final
            assert "image.png" in final["files"]
        listed = {job["id"] for job in client.get("/api/jobs").json()["jobs"]}
        assert {job["id"] for job in accepted} <= listed
        seconds = time.monotonic() - began
        growth = rss_bytes() - before
        print(
            f"load: {CLIENTS} clients, {len(accepted)} done, {len(refusals)} refused (queue "
            f"full), 0 lost, {seconds:.1f} s, RSS {before / 2**20:.0f} -> "
            f"{(before + growth) / 2**20:.0f} MiB"
        )
        assert seconds < TIME_LIMIT_S
        assert growth < RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.0f} MiB"


def test_a_client_that_leaves_mid_stream_leaves_the_server_healthy(tmp_path: Path) -> None:
    settings = Settings(workdir=tmp_path / "work")
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        content, style = upload(client, png_bytes()), upload(client, style_bytes())
        options = {**TINY, "steps": 6}
        job = client.post(
            "/api/jobs", json={"content": content, "style": style, "options": options}
        ).json()
        with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: progress"):
                    break  # and hang up
        assert client.get("/api/health").json()["ok"]
        final = wait_for(lambda: client.get(f"/api/jobs/{job['id']}").json(), ended, 120)
        assert final["status"] == "done" and final["iterations"] == 6
        assert client.get("/api/health").json()["ok"]

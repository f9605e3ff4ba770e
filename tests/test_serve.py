"""The web app's API through Starlette's test client: every endpoint and every bad input
(issue 17): oversized uploads, text named .png, a decompression bomb, a negative weight,
path traversal, a missing token. Each refusal is JSON with one line, and the server goes on."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")  # what starlette.testclient imports

from starlette.testclient import TestClient  # noqa: E402

from stylelab.config import OPTIMIZER_NAMES, StylizeConfig  # noqa: E402
from stylelab.serve.app import Settings, create_app  # noqa: E402
from tests.hostile.cases import BAD_OUTPUTS, bomb_bytes, onnx_with_output  # noqa: E402
from tests.serve_helpers import TINY, ended, png_bytes, style_bytes, wait_for  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve") / "work"


@pytest.fixture(scope="module")
def client(workdir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(workdir=workdir))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def uploads(client: TestClient) -> dict[str, str]:
    ids = {}
    for role, data in (("content", png_bytes()), ("style", style_bytes())):
        response = client.post(
            "/api/uploads",
            content=data,
            headers={"Content-Type": "image/png", "X-Filename": f"{role}%20photo.png"},
        )
        assert response.status_code == 201, response.text
        ids[role] = response.json()["id"]
    return ids


def submit(client: TestClient, uploads: dict[str, str], **options) -> dict:
    body = {"content": uploads["content"], "style": uploads["style"], "options": options}
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def job_of(client: TestClient, job_id: str) -> dict:
    return client.get(f"/api/jobs/{job_id}").json()


@pytest.fixture(scope="module")
def finished(client: TestClient, uploads: dict[str, str]) -> dict:
    job = submit(client, uploads, **TINY)
    return wait_for(lambda: job_of(client, job["id"]), ended, 120)


def refused(response, status: int, pattern: str) -> str:
    """The response is a 4xx JSON error of one line matching ``pattern``."""
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert "\n" not in message and message.strip()
    assert pattern.lower() in message.lower(), message
    return message


# ----------------------------------------------------------------------------- the page


def test_page_inlines_its_script_and_style(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script>" in page.text and "EventSource" in page.text and "--accent" in page.text
    assert client.get("/static/app.js").status_code == 200
    refused(client.get("/static/../serve/app.py"), 404, "not found")
    refused(client.get("/static/jobs.py"), 404, "no such file")
    assert client.get("/api/health").json()["ok"] is True


def test_options_come_from_stylize_config(client: TestClient) -> None:
    fields = {f["name"]: f for f in client.get("/api/options").json()["fields"]}
    assert set(fields) == {f.name for f in dataclasses.fields(StylizeConfig)}
    assert fields["size"]["default"] == 512 and fields["size"]["kind"] == "int"
    assert fields["optimizer"]["choices"] == list(OPTIMIZER_NAMES)
    assert fields["weights"]["choices"] == ["pretrained", "torchvision", "random"]
    assert "vgg19" in fields["backbone"]["suggestions"]
    assert fields["style_weight"]["main"] and not fields["scales"]["main"]


#: Fields whose help mentions paths or images but that never read a file.
REVIEWED_FIELDS = ("style_scale", "style_blend", "relative_temperature")


def test_every_option_that_could_name_a_file_is_reviewed() -> None:
    """A new StylizeConfig field that speaks of a path or an image must be classified:
    ``path=True`` in its option() (the web app restricts its values), or reviewed here as
    never a file."""
    from stylelab.serve.options import path_fields

    paths = path_fields()
    assert paths == {
        "weights": ("pretrained", "torchvision", "random"),
        "init": ("content", "noise", "style"),
        "mask": ("",),
        "region_style": ("",),
    }
    for item in dataclasses.fields(StylizeConfig):
        text = item.metadata["help"].lower()
        if "path" in text or "image" in text or "file" in text:
            assert item.name in paths or item.name in REVIEWED_FIELDS, item.name


def test_examples_are_listed_and_served(client: TestClient) -> None:
    names = client.get("/api/examples").json()["examples"]
    assert "chelsea" in names and "strokes" in names
    image = client.get("/api/examples/strokes.png")
    assert image.status_code == 200 and image.content.startswith(PNG)
    refused(client.get("/api/examples/nope.png"), 404, "no such example")


# ------------------------------------------------------------------------------ uploads


def test_upload_returns_an_id_and_keeps_the_name_out_of_paths(
    client: TestClient, uploads: dict[str, str], workdir: Path
) -> None:
    response = client.post(
        "/api/uploads",
        content=png_bytes(),
        headers={"Content-Type": "image/png", "X-Filename": "..%2F..%2Fevil.png"},
    )
    assert response.status_code == 201
    assert response.json()["name"] == "../../evil.png"  # shown, never used as a path
    stored = sorted(p.name for p in (workdir / "uploads").iterdir())
    assert all(name.endswith(".upload") and len(name) == 32 + 7 for name in stored)
    assert not (workdir.parent / "evil.png").exists()


def test_a_30_mb_upload_is_refused(client: TestClient) -> None:
    big = b"\0" * (30 * 1024 * 1024)
    refused(
        client.post("/api/uploads", content=big, headers={"Content-Type": "image/png"}),
        413,
        "too large",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        for _ in range(30):
            yield b"\0" * (1024 * 1024)

    refused(
        client.post("/api/uploads", content=chunks(), headers={"Content-Type": "image/png"}),
        413,
        "too large",
    )
    assert client.get("/api/health").json()["ok"]


@pytest.mark.parametrize(
    ("data", "kind", "status", "message"),
    [
        (b"just some text\n", "image/png", 400, "not an image"),
        (bomb_bytes(30000, 30000), "image/png", 400, "decompression bomb"),
        (png_bytes(), "text/plain", 415, "not an image"),
        (png_bytes(), "", 415, "not an image"),
        (b"", "image/png", 400, "empty upload"),
    ],
    ids=["text named .png", "bomb", "text/plain", "untyped", "empty"],
)
def test_bad_uploads_are_refused(
    client: TestClient, data: bytes, kind: str, status: int, message: str
) -> None:
    headers = {"Content-Type": kind} if kind else {}
    refused(client.post("/api/uploads", content=data, headers=headers), status, message)


def test_an_image_under_16_px_is_refused(client: TestClient) -> None:
    from PIL import Image

    tiny = png_bytes(Image.new("RGB", (8, 40)))
    refused(
        client.post("/api/uploads", content=tiny, headers={"Content-Type": "image/png"}),
        400,
        "16 px",
    )


# --------------------------------------------------------------------------------- jobs


def test_a_job_runs_and_writes_what_stylize_writes(client: TestClient, finished: dict) -> None:
    assert finished["status"] == "done", finished
    assert set(finished["files"]) == {"image.png", "image.csv", "image.json", "thumbnail.png"}
    base = f"/api/jobs/{finished['id']}/files"
    image = client.get(f"{base}/image.png?download=1")
    assert image.content.startswith(PNG)
    assert image.headers["content-disposition"].startswith("attachment")
    assert client.get(f"{base}/image.csv").text.startswith("iteration,")
    record = client.get(f"{base}/image.json").json()
    assert record["config"]["size"] == 32 and record["status"] == "done"
    assert client.get(f"{base}/thumbnail.png").content.startswith(PNG)
    assert client.get(f"{base}/preview.png").content.startswith(PNG)
    listed = client.get("/api/jobs").json()["jobs"]
    assert finished["id"] in [job["id"] for job in listed]


def test_events_stream_previews_the_curve_and_the_end(client: TestClient, finished: dict) -> None:
    with client.stream("GET", f"/api/jobs/{finished['id']}/events") as stream:
        text = "".join(stream.iter_text())
    events = [block for block in text.split("\n\n") if block.startswith("event:")]
    names = [block.split("\n")[0].removeprefix("event: ") for block in events]
    assert names[0] == "progress" and names[-1] == "end" and "preview" in names
    progress = json.loads(events[0].split("data: ", 1)[1])
    assert progress["reset"] and len(progress["points"]) == 3


def submit_instant(client: TestClient, uploads: dict[str, str], **instant) -> dict:
    body = {
        "content": uploads["content"],
        "style": uploads["style"],
        "method": "instant",
        "instant": instant,
        "options": {"size": 64, "preserve_color": "histogram"},
    }
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def stream_events(client: TestClient, job_id: str) -> list[tuple[str, dict]]:
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        text = "".join(stream.iter_text())
    blocks = [block for block in text.split("\n\n") if block.startswith("event:")]
    return [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("data: ", 1)[1]))
        for block in blocks
    ]


def test_an_instant_job_says_instant_and_its_model(
    client: TestClient, uploads: dict[str, str]
) -> None:
    """The shipped AdaIN model, no refinement: the image is the job's preview and result;
    job.json and image.json say instant and which model; only instant's options kept."""
    job = submit_instant(
        client, uploads, strength=0.8, palette=0.5, internal_size=96, band_contrast=0.25
    )
    assert job["method"] == "instant" and job["steps"] == 0
    assert job["instant"]["strength"] == 0.8 and job["instant"]["refine"] == 0
    assert job["instant"]["palette"] == 0.5  # every field of the form reaches the run
    assert job["instant"]["band_contrast"] == 0.25
    assert job["instant"]["internal_size"] == 96
    assert job["config"] == {
        "size": 64,
        "style_scale": 1.0,
        "style_blend": None,
        "preserve_color": "histogram",
        "mask": "",
        "region_style": "",
    }
    done = wait_for(lambda: job_of(client, job["id"]), ended, 120)
    assert done["status"] == "done", done
    assert done["message"].startswith("instant in ") and "refine" not in done["message"]
    assert done["instant"]["model"] == {
        "file": "adain_default.safetensors",
        "shipped": True,
        "design": "adain3",
    }
    assert set(done["files"]) == {"image.png", "image.csv", "image.json", "thumbnail.png"}
    base = f"/api/jobs/{job['id']}/files"
    record = client.get(f"{base}/image.json").json()
    assert record["method"].startswith("instant") and record["status"] == "done"
    assert record["model"]["design"] == "adain3" and record["instant"]["strength"] == 0.8
    assert record["instant"]["palette"] == 0.0  # asked 0.5, but histogram keeps the photo's
    assert record["instant"]["band_contrast"] == pytest.approx(0.2)  # 0.25 times strength
    assert record["config"]["size"] == 64
    from PIL import Image

    with Image.open(io.BytesIO(client.get(f"{base}/image.png").content)) as image:
        assert max(image.size) == 64
    names = [name for name, _ in stream_events(client, job["id"])]
    assert names[0] == "progress" and "preview" in names and names[-1] == "end"
    from stylelab.serve.jobs import _job_on_disk

    again = _job_on_disk(client.app.state.store.get(job["id"]).folder)  # as after a restart
    assert again is not None and again.public() == done


def test_an_instant_job_refines_live_with_the_gatys_loop(
    client: TestClient, uploads: dict[str, str]
) -> None:
    """refine N: the instant image first (iteration 0), then N iterations of stylize whose
    losses stream as a Gatys job's do."""
    job = submit_instant(client, uploads, refine=2)
    assert job["steps"] == 2
    done = wait_for(lambda: job_of(client, job["id"]), ended, 180)
    assert done["status"] == "done" and done["iterations"] == 2, done
    assert done["message"].endswith("then 2 refine iterations"), done["message"]
    events = stream_events(client, job["id"])
    points = [p for name, data in events if name == "progress" for p in data["points"]]
    assert [p[0] for p in points] == [1, 2]
    record = client.get(f"/api/jobs/{job['id']}/files/image.json").json()
    assert record["method"] == "instant + refine (Gatys objective)"
    assert record["instant"]["refine"] == 2 and record["iterations"] == 2
    csv = client.get(f"/api/jobs/{job['id']}/files/image.csv").text
    assert len(csv.strip().splitlines()) == 3  # the header and two iterations


def test_the_instant_form_comes_from_its_field_table(client: TestClient) -> None:
    from stylelab.adain.options import DEFAULT_BAND_CONTRAST, DEFAULT_INTERNAL_SIZE, SHARED

    schema = client.get("/api/options").json()["instant"]
    fields = {f["name"]: f for f in schema["fields"]}
    assert set(fields) == {"strength", "refine", "internal_size", "palette", "band_contrast"}
    assert fields["band_contrast"]["default"] == DEFAULT_BAND_CONTRAST
    assert fields["strength"]["kind"] == "float" and fields["strength"]["default"] == 1.0
    assert fields["internal_size"]["default"] == DEFAULT_INTERNAL_SIZE
    assert fields["refine"]["kind"] == "int" and fields["refine"]["default"] == 0
    assert fields["refine"]["help"].startswith("then N steps of stylize's Gatys objective")
    assert schema["shared"] == list(SHARED)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"style_weight": -1}, "--style-weight must be a finite number >= 0, got -1"),
        ({"size": "big"}, "--size"),
        ({"stepz": 3}, "did you mean 'steps'"),
        ({"weights": "/etc/passwd"}, "no file paths"),
        ({"init": "/etc/hostname"}, "no file paths"),
        ({"backbone": "nosuchnet"}, "nosuchnet"),
        ({"optimizer": "magic"}, "unknown optimizer"),
        ([1, 2], "options must be an object"),
    ],
)
def test_bad_options_are_stylize_config_messages(
    client: TestClient, uploads: dict[str, str], options, message: str
) -> None:
    body = {"content": uploads["content"], "style": uploads["style"], "options": options}
    refused(client.post("/api/jobs", json=body), 400, message)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "cuda"}, "--device cuda: no CUDA device"),
        ({"device": "mps"}, "--device mps: no MPS device"),
    ],
)
def test_a_device_this_machine_lacks_is_refused_as_the_cli_refuses_it(
    client: TestClient, uploads: dict[str, str], options: dict, message: str
) -> None:
    """Issue 27: {"device": "cuda"} on a machine without CUDA was accepted (201) and failed
    later; the API validates as the CLI does, before the job is queued."""
    import torch

    if options["device"] == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if options["device"] == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    before = len(client.get("/api/jobs").json()["jobs"])
    body = {"content": uploads["content"], "style": uploads["style"], "options": options}
    refused(client.post("/api/jobs", json=body), 400, message)
    assert len(client.get("/api/jobs").json()["jobs"]) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"content": "example:chelsea"}, "style: choose an image"),
        ({"content": "/etc/passwd", "style": "example:strokes"}, "neither upload"),
        ({"content": "upload:" + "0" * 32, "style": "example:strokes"}, "no such upload"),
        ({"content": "upload:../../etc/passwd", "style": "example:strokes"}, "neither upload"),
        ({"content": "example:../../x", "style": "example:strokes"}, "neither upload"),
    ],
)
def test_bad_sources_are_refused(client: TestClient, body: dict, message: str) -> None:
    refused(client.post("/api/jobs", json=body), 400, message)


def test_the_network_check_loads_each_backbone_once_and_retries_failures(monkeypatch) -> None:
    """The web app's pre-queue check: one load per (backbone, weights, pooling), the layer
    plan checked on its table for every job; a load that failed is tried again."""
    import stylelab.backbones as backbones
    from stylelab.config import StylizeConfig
    from stylelab.errors import StylelabError
    from stylelab.serve import options

    real, calls = backbones.load_backbone, []

    def counted(name: str, weights: str, pooling: str) -> object:
        calls.append((name, weights, pooling))
        if weights == "torchvision":
            raise StylelabError("not in the local torch cache")
        return real(name, weights, pooling)

    monkeypatch.setattr(backbones, "load_backbone", counted)
    options._layer_table.cache_clear()
    random = StylizeConfig(weights="random")
    options.check_network(random)
    options.check_network(random.replace(style_layers=("relu1_1", "relu2_1")))
    with pytest.raises(StylelabError, match="unknown layer 'nope'"):
        options.check_network(random.replace(content_layers=("nope",)))
    with pytest.raises(StylelabError, match="has 2 values for 5 style layers"):
        options.check_network(random.replace(style_layer_weights=(1.0, 2.0)))
    assert calls == [("vgg19", "random", "max")]
    for _ in range(2):
        with pytest.raises(StylelabError, match="torch cache"):
            options.check_network(StylizeConfig(weights="torchvision"))
    assert calls[1:] == [("vgg19", "torchvision", "max")] * 2
    options._layer_table.cache_clear()


def test_bodies_that_are_not_json_objects_are_refused(client: TestClient) -> None:
    refused(client.post("/api/jobs", content=b"{nope"), 400, "not JSON")
    refused(client.post("/api/jobs", content=b"[1]"), 400, "JSON object")
    refused(client.post("/api/jobs", content=b" " * 70_000), 413, "too large")
    refused(client.post("/api/jobs", content=b"[" * 60_000), 400, "nests too deep")


@pytest.mark.parametrize(
    "path",
    [
        "/api/jobs/../../etc/passwd",
        "/api/jobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/jobs/{id}/files/../../../../etc/passwd",
        "/api/jobs/{id}/files/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/jobs/{id}/files/%2e%2e%2fjob.json",
        "/api/jobs/{id}/files/job.json",
        "/api/jobs/{id}/files/%2Fetc%2Fpasswd",
        "/api/jobs/" + "f" * 32 + "/files/image.png",
        "/api/jobs/..%2F..%2Fetc/files/image.png",
    ],
)
def test_downloads_only_from_job_folders(client: TestClient, finished: dict, path: str) -> None:
    response = client.get(path.replace("{id}", finished["id"]))
    assert response.status_code in (400, 404), response.text
    assert "root:" not in response.text and "error" in response.json()


def test_a_link_in_a_job_folder_is_not_followed_out(
    client: TestClient, finished: dict, workdir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("iteration,secret\n")
    csv = workdir / "jobs" / finished["id"] / "image.csv"
    kept = csv.read_bytes()
    csv.unlink()
    csv.symlink_to(outside)
    try:
        refused(client.get(f"/api/jobs/{finished['id']}/files/image.csv"), 404, "not a file")
    finally:
        csv.unlink()
        csv.write_bytes(kept)


def test_stop_keeps_the_current_image(client: TestClient, uploads: dict[str, str]) -> None:
    job = submit(client, uploads, **{**TINY, "steps": 2000})
    wait_for(lambda: job_of(client, job["id"]), lambda j: j["iterations"] >= 2, 120)
    assert client.post(f"/api/jobs/{job['id']}/stop").status_code == 202
    done = wait_for(lambda: job_of(client, job["id"]), ended, 60)
    assert done["status"] == "stopped" and "stopped after" in done["message"]
    assert 2 <= done["iterations"] < 2000 and "image.png" in done["files"]
    record = client.get(f"/api/jobs/{job['id']}/files/image.json").json()
    assert record["status"] == "interrupted"


def test_a_full_queue_refuses_with_429(workdir: Path, uploads: dict[str, str]) -> None:
    settings = Settings(workdir=workdir.parent / "queue", max_queued=1)
    with TestClient(create_app(settings)) as small:
        ids = {}
        for role, data in (("content", png_bytes()), ("style", style_bytes())):
            headers = {"Content-Type": "image/png"}
            ids[role] = small.post("/api/uploads", content=data, headers=headers).json()["id"]
        first = submit(small, ids, **{**TINY, "steps": 2000})
        wait_for(lambda: job_of(small, first["id"]), lambda j: j["status"] == "running", 120)
        second = submit(small, ids, **TINY)
        body = {"content": ids["content"], "style": ids["style"], "options": TINY}
        refused(small.post("/api/jobs", json=body), 429, "queue full")
        small.post(f"/api/jobs/{second['id']}/stop")  # a queued job: stopped before it starts
        assert job_of(small, second["id"])["status"] == "stopped"
        small.post(f"/api/jobs/{first['id']}/stop")
        wait_for(lambda: job_of(small, first["id"]), ended, 60)


def test_uploads_stay_within_their_budget_and_spare_what_jobs_read(workdir: Path) -> None:
    """The uploads folder never passes its budget: the oldest uploads make room unless a
    waiting or running job reads them; then the upload is refused (507) in one line."""
    content, style = png_bytes(), style_bytes()
    budget = len(content) + len(style) + len(content) // 2  # room for two, not three
    folder = workdir.parent / "budget"
    with TestClient(create_app(Settings(workdir=folder, uploads_budget=budget))) as small:

        def upload(data: bytes):
            return small.post("/api/uploads", content=data, headers={"Content-Type": "image/png"})

        def stored() -> int:
            return sum(p.stat().st_size for p in (folder / "uploads").iterdir())

        old = upload(content).json()["id"]
        ids = {"content": upload(content).json()["id"], "style": upload(style).json()["id"]}
        assert stored() <= budget
        body = {"content": old, "style": ids["style"], "options": TINY}
        refused(small.post("/api/jobs", json=body), 400, "no such upload (upload the image again)")

        running = submit(small, ids, **{**TINY, "steps": 2000})
        wait_for(lambda: job_of(small, running["id"]), lambda j: j["status"] == "running", 120)
        refused(upload(content), 507, "uploads full")  # both stored uploads are in use
        assert stored() <= budget and small.get("/api/health").json()["ok"]

        small.post(f"/api/jobs/{running['id']}/stop")
        wait_for(lambda: job_of(small, running["id"]), ended, 60)
        assert upload(content).status_code == 201  # no job reads the old ones now
        assert stored() <= budget and len(list((folder / "uploads").iterdir())) <= 2


def test_a_full_disk_is_507_and_a_removed_work_folder_is_made_again(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk under the work folder fills, or the folder is removed while the server
    runs: one line, no server path in it, and jobs go on once there is room."""
    import errno
    import shutil
    from contextlib import contextmanager

    from stylelab.safety import WriteFailed
    from stylelab.serve import jobs

    folder = workdir.parent / "disk"
    with TestClient(create_app(Settings(workdir=folder))) as app:
        real = jobs.atomic_path

        @contextmanager
        def full(path):
            raise WriteFailed(f"{path}: no space left on device; nothing was written", errno.ENOSPC)
            yield  # pragma: no cover - a generator for contextmanager

        monkeypatch.setattr(jobs, "atomic_path", full)
        headers = {"Content-Type": "image/png"}
        response = app.post("/api/uploads", content=png_bytes(), headers=headers)
        message = refused(response, 507, "the server's storage is full")
        assert str(folder) not in message and "upload" in message
        monkeypatch.setattr(jobs, "atomic_path", real)

        shutil.rmtree(folder)  # the work folder removed under the running server
        ids = {}
        for role, data in (("content", png_bytes()), ("style", style_bytes())):
            response = app.post("/api/uploads", content=data, headers=headers)
            assert response.status_code == 201, response.text
            ids[role] = response.json()["id"]
        job_id = submit(app, ids, **TINY)["id"]
        job = wait_for(lambda: job_of(app, job_id), ended, 120)
        assert job["status"] == "done", job
        shutil.rmtree(folder / "jobs" / job["id"])
        gone = app.get(f"/api/jobs/{job['id']}/files/image.png")
        refused(gone, 404, "no longer on the server")

        from stylelab.errors import StylelabError
        from stylelab.gatys import StylizeResult

        def unwritable(self, path):
            raise StylelabError(f"{path.parent}: output folder is not writable")

        monkeypatch.setattr(StylizeResult, "save", unwritable)  # read-only, no inodes, ...
        failing = submit(app, ids, **TINY)["id"]
        failed = wait_for(lambda: job_of(app, failing), ended, 120)
        assert failed["status"] == "failed"
        assert "could not store the result" in failed["message"]
        assert str(folder) not in failed["message"], failed["message"]


def test_a_restart_keeps_finished_jobs_and_marks_running_ones(
    workdir: Path, finished: dict
) -> None:
    ghost = workdir / "jobs" / ("a" * 32)
    ghost.mkdir()
    record = {**finished, "id": "a" * 32, "status": "running", "files": []}
    (ghost / "job.json").write_text(json.dumps(record))
    (workdir / "jobs" / "not-a-job").mkdir()
    damaged = workdir / "jobs" / ("b" * 32)
    damaged.mkdir()
    (damaged / "job.json").write_text(json.dumps({"id": "b" * 32, "created": "yesterday"}))
    with TestClient(create_app(Settings(workdir=workdir))) as again:
        jobs = {job["id"]: job for job in again.get("/api/jobs").json()["jobs"]}
        assert jobs[finished["id"]]["status"] == "done"
        assert jobs[finished["id"]]["files"] == finished["files"]
        assert jobs["a" * 32]["status"] == "interrupted"
        assert "b" * 32 not in jobs  # damaged: skipped, not fatal
        assert again.get(f"/api/jobs/{finished['id']}/files/image.png").status_code == 200
    assert json.loads((ghost / "job.json").read_text())["status"] == "interrupted"


# ------------------------------------------------------------------------ token, origin


def test_a_token_is_required_on_every_request(tmp_path: Path) -> None:
    token = "s3cret-token-123"
    with TestClient(create_app(Settings(workdir=tmp_path / "w", token=token))) as guarded:
        for path in ("/", "/api/health", "/api/jobs", "/static/app.js", "/nope"):
            refused(guarded.get(path), 401, "needs a token")
        refused(guarded.get("/api/health?token=wrong"), 401, "wrong token")
        refused(guarded.get("/api/health", headers={"Authorization": "Bearer x"}), 401, "wrong")
        refused(guarded.post("/api/uploads", content=png_bytes()), 401, "token")
        assert guarded.get(f"/?token={token}").status_code == 200
        auth = {"Authorization": f"Bearer {token}"}
        assert guarded.get("/api/health", headers=auth).json()["ok"]


def test_other_hosts_and_cross_origin_writes_are_refused(tmp_path: Path) -> None:
    settings = Settings(workdir=tmp_path / "w", allowed_hosts=("testserver",))
    with TestClient(create_app(settings)) as local:
        assert local.get("/api/health").status_code == 200
        refused(local.get("/api/health", headers={"Host": "evil.example"}), 400, "unknown Host")
        refused(
            local.post(
                "/api/jobs/" + "0" * 32 + "/stop", headers={"Origin": "http://evil.example"}
            ),
            403,
            "cross-origin",
        )


def test_unknown_routes_and_methods_are_json(client: TestClient) -> None:
    refused(client.get("/etc/passwd"), 404, "not found")
    assert client.delete("/api/jobs").status_code == 405
    assert "error" in client.delete("/api/jobs").json()


# ----------------------------------------------------------------------------- fast tab


def test_fast_models_are_listed_and_applied(
    tmp_path: Path, tiny_model: Path, onnx_model: Path
) -> None:
    import shutil

    import numpy as np
    from PIL import Image

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(tiny_model, models / "tiny.safetensors")
    shutil.copy(onnx_model, models / "tiny.onnx")
    (models / "broken.safetensors").write_bytes(b"nope")
    (models / "broken.onnx").write_bytes(b"nope")
    (models / "notes.txt").write_text("not a model")
    with TestClient(create_app(Settings(workdir=tmp_path / "w", models=models))) as app:
        listed = {m["name"]: m for m in app.get("/api/models").json()["models"]}
        assert set(listed) == {"tiny.safetensors", "tiny.onnx", "broken.safetensors", "broken.onnx"}
        assert listed["tiny.safetensors"]["styles"] == ["strokes", "mosaic"]
        assert listed["tiny.onnx"]["styles"] == ["strokes", "mosaic"]
        assert listed["broken.safetensors"]["error"] and listed["broken.onnx"]["error"]
        body = {"model": "tiny.safetensors", "image": "example:chelsea", "weights": [1, 3]}
        image = app.post("/api/fast", json={**body, "size": 64})
        assert image.status_code == 200 and image.content.startswith(PNG)
        exported = app.post("/api/fast", json={**body, "model": "tiny.onnx", "size": 64})
        assert exported.status_code == 200, exported.text
        pixels = [
            np.asarray(Image.open(io.BytesIO(r.content)), np.int16) for r in (image, exported)
        ]
        assert pixels[0].shape == pixels[1].shape == (43, 64, 3)
        assert np.abs(pixels[0] - pixels[1]).max() <= 1  # onnxruntime gives PyTorch's image
        refused(app.post("/api/fast", json={**body, "weights": [-1, 1]}), 400, "style-mix")
        escape = {**body, "model": "../tiny.safetensors"}
        refused(app.post("/api/fast", json=escape), 400, "no such model")
        refused(app.post("/api/fast", json={**body, "size": 100000}), 400, "size")
        for field in ("model", "image"):  # a lone surrogate, echoed escaped: still UTF-8
            raw = json.dumps({**body, field: "\ud800"}).encode()
            surrogate = app.post("/api/fast", content=raw)
            refused(surrogate, 400, r"\ud800")


def test_a_model_whose_network_returns_no_image_is_a_400_not_a_500(
    tmp_path: Path, onnx_model: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Issue 27: an export whose graph returns a scalar (or NaN, a wrong shape...) was an
    HTTP 500 "internal error: IndexError" with a traceback on the server's stderr."""
    models = tmp_path / "models"
    models.mkdir()
    for kind in BAD_OUTPUTS:
        onnx_with_output(onnx_model, models / f"{kind}.onnx", kind)
    with TestClient(create_app(Settings(workdir=tmp_path / "w", models=models))) as app:
        for kind in BAD_OUTPUTS:
            body = {"model": f"{kind}.onnx", "image": "example:chelsea", "size": 32}
            message = refused(app.post("/api/fast", json=body), 400, "the network returned")
            assert message.startswith(f"{kind}.onnx: ") or f"/{kind}.onnx: " in message
    assert "Traceback" not in capfd.readouterr().err


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def test_a_model_of_five_million_style_names_leaves_the_server_up_and_small(
    tmp_path: Path, tiny_model: Path, onnx_model: Path
) -> None:
    """Issue 27: a fast model whose metadata lists 5,000,000 style names grew the server to
    22.7 GB (then the kernel killed it). Now /api/models lists it with a one-line error,
    /api/fast refuses it with a 400, memory stays bounded and the next request is answered."""
    from tests.hostile.cases import MANY_STYLES, many_styles_model, onnx_with_metadata

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(tiny_model, models / "tiny.safetensors")
    many_styles_model(models, str(tiny_model))
    onnx_with_metadata(models, str(onnx_model), "styles", MANY_STYLES, "many.onnx")
    with TestClient(create_app(Settings(workdir=tmp_path / "w", models=models))) as app:
        before = _rss_bytes()
        listed = {m["name"]: m for m in app.get("/api/models").json()["models"]}
        for name in ("many.safetensors", "many.onnx"):
            assert listed[name]["styles"] == []
            assert "damaged metadata" in listed[name]["error"], listed[name]
            assert "\n" not in listed[name]["error"]
            body = {"model": name, "image": "example:chelsea", "size": 64}
            refused(app.post("/api/fast", json=body), 400, "damaged metadata")
        growth = _rss_bytes() - before
        assert growth < 300 * 2**20, f"RSS grew by {growth / 2**20:.0f} MiB"
        body = {"model": "tiny.safetensors", "image": "example:chelsea", "size": 64}
        answer = app.post("/api/fast", json=body)
        assert answer.status_code == 200 and answer.content.startswith(PNG)
        assert listed["tiny.safetensors"]["styles"] == ["strokes", "mosaic"]


def test_only_the_latest_ended_jobs_keep_a_preview_in_memory(tmp_path: Path) -> None:
    from stylelab.serve.jobs import KEPT_PREVIEWS, Job, JobStore

    store = JobStore(tmp_path)
    for index in range(KEPT_PREVIEWS + 3):
        job = Job(f"{index:032x}", tmp_path / str(index), {}, "c", "s", status="done")
        job.preview, job.finished = b"png", float(index)
        store.jobs[job.id] = job
    running = Job("f" * 32, tmp_path / "r", {}, "c", "s", status="running")
    running.preview = b"png"
    store.jobs[running.id] = running
    store._forget_old_previews()
    kept = sorted(int(j.id, 16) for j in store.jobs.values() if j.preview and j is not running)
    assert kept == list(range(3, KEPT_PREVIEWS + 3)) and running.preview

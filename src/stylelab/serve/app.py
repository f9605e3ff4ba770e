"""The web app's routes: a thin layer over the job queue, StylizeConfig and stylelab.fast.

Starlette (the ASGI toolkit FastAPI is built on) with uvicorn: few dependencies, no
build step, server-sent events as a plain streaming response. Every refusal is JSON,
``{"error": "<one line>"}`` with a 4xx status (507 when the uploads fill their budget or
the disk under the work folder is full),
which the page shows as it is.

Endpoints (all under the token when one is set):

- ``GET /``, ``GET /static/{app.js,style.css}``: the page.
- ``GET /api/health``; ``GET /api/options``: StylizeConfig's fields, defaults, choices, help.
- ``GET /api/examples``, ``GET /api/examples/{name}.png``: the built-in images.
- ``POST /api/uploads``: an image as the request body (at most ``upload_limit`` bytes; the
  oldest unused uploads make room when the folder would pass ``uploads_budget``).
- ``POST /api/jobs`` (``{"content", "style", "options"}``, and ``"method": "instant"`` with
  ``"instant": {"strength", "refine"}`` for an instant job), ``GET /api/jobs``,
  ``GET /api/jobs/{id}``, ``POST /api/jobs/{id}/stop``,
  ``GET /api/jobs/{id}/events`` (server-sent events), ``GET /api/jobs/{id}/files/{name}``.
- ``GET /api/models``, ``POST /api/fast``: trained fast models, applied at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hmac
import io
import json
import os
import re
import threading
import time
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from stylelab.errors import StylelabError
from stylelab.safety import is_inside, one_line
from stylelab.serve.jobs import (
    ACTIVE,
    JOB_FILES,
    UPLOADS_BUDGET,
    Job,
    JobStore,
    QueueFull,
    StorageFailed,
    StorageFull,
    UploadsFull,
)
from stylelab.serve.options import check_job, option_schema

UPLOAD_LIMIT = 25 * 1024 * 1024
JSON_LIMIT = 64 * 1024
STATIC = {"app.js": "text/javascript", "style.css": "text/css", "index.html": "text/html"}
UPLOAD = re.compile(r"upload:([0-9a-f]{32})")
SSE_POLL_S = 0.2
SSE_PING_S = 15.0


@dataclasses.dataclass
class Settings:
    """What ``stylelab serve`` decides at start: folders, limits, the token."""

    workdir: Path
    models: Path | None = None
    token: str | None = None
    workers: int = 1
    max_queued: int = 32
    upload_limit: int = UPLOAD_LIMIT
    uploads_budget: int = UPLOADS_BUDGET
    allowed_hosts: tuple[str, ...] | None = None  # Host header names; None: any


def fail(status: int, message: object) -> HTTPException:
    return HTTPException(status, one_line(message))


def create_app(settings: Settings) -> Guard:
    """The ASGI app over ``settings.workdir`` (its jobs start with the app's lifespan).
    The handlers below read what they share from ``request.app.state``."""
    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    state = app.state
    state.settings = settings
    state.store = JobStore(
        settings.workdir, settings.workers, settings.max_queued, settings.uploads_budget
    )
    state.fast = FastModels(settings.models)
    state.decode_lock = threading.Lock()  # one image decoded at a time: memory stays bounded
    state.static = {name: _static_text(name) for name in STATIC}
    state.page = inline_page(state.static)
    return Guard(app, settings.token, settings.allowed_hosts)


# ---------------------------------------------------------------------------- routes


async def page(request: Request) -> Response:
    page_html = request.app.state.page
    return Response(page_html, media_type="text/html", headers={"Cache-Control": "no-cache"})


async def static_file(request: Request) -> Response:
    static = request.app.state.static
    name = request.path_params["name"]
    if name not in STATIC:
        raise fail(404, f"no such file: {name}")
    return Response(static[name], media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


async def health(request: Request) -> Response:
    store = request.app.state.store
    return JSONResponse({"ok": True, "jobs": store.counts(), "workers": store.workers})


async def options(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(option_schema))


async def examples(request: Request) -> Response:
    from stylelab.examples import list_examples

    return JSONResponse({"examples": list(list_examples())})


async def example_image(request: Request) -> Response:
    name = request.path_params["name"]
    data = await run_in_threadpool(_example_png, name)
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


async def upload(request: Request) -> Response:
    settings, store = request.app.state.settings, request.app.state.store
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not kind.startswith("image/"):
        raise fail(415, f"not an image: the upload is {kind or 'untyped'}; send an image file")
    limit = settings.upload_limit
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise fail(413, f"upload too large: {int(declared):,} bytes; at most {limit:,}")
    buffer = io.BytesIO()
    async for chunk in request.stream():
        if buffer.tell() + len(chunk) > limit:
            raise fail(413, f"upload too large: more than {limit:,} bytes")
        buffer.write(chunk)
    if not buffer.tell():
        raise fail(400, "empty upload: send an image file")
    name = one_line(unquote(request.headers.get("x-filename", "")) or "upload")[:100]
    data = buffer.getvalue()
    del buffer
    shape = await run_in_threadpool(_check_image, data, name, request.app.state.decode_lock)
    try:
        upload_id = await run_in_threadpool(store.save_upload, data)
    except (UploadsFull, StorageFull) as exc:
        raise fail(507, exc) from None
    except StorageFailed as exc:
        raise fail(500, exc) from None
    return JSONResponse(
        {"id": f"upload:{upload_id}", "name": name, "width": shape[1], "height": shape[0]},
        status_code=201,
    )


async def submit(request: Request) -> Response:
    store = request.app.state.store
    body = await _json_body(request)
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise fail(400, "options must be an object of StylizeConfig fields")
    content, content_label = _source(store, body.get("content"), "content")
    style, style_label = _source(store, body.get("style"), "style")
    method, instant = body.get("method", "gatys"), body.get("instant")
    try:
        store.check_room()  # a full queue answers before the network is checked
        config, checked = await run_in_threadpool(check_job, method, options, instant)
        job = store.submit(content, style, config, (content_label, style_label), checked)
    except QueueFull as exc:
        raise fail(429, exc) from None
    except StorageFull as exc:
        raise fail(507, exc) from None
    except StorageFailed as exc:
        raise fail(500, exc) from None
    except StylelabError as exc:
        raise fail(400, exc) from None
    return JSONResponse(job.public(), status_code=201)


async def jobs(request: Request) -> Response:
    store = request.app.state.store
    return JSONResponse({"jobs": [job.public() for job in store.list()]})


def job_of(request: Request) -> Job:
    store = request.app.state.store
    job = store.get(request.path_params["job_id"])
    if job is None:
        raise fail(404, "no such job")
    return job


async def job_info(request: Request) -> Response:
    return JSONResponse(job_of(request).public())


async def stop(request: Request) -> Response:
    store = request.app.state.store
    job = job_of(request)
    if job.status in ACTIVE:
        store.request_stop(job)
    return JSONResponse(job.public(), status_code=202)


async def job_file(request: Request) -> Response:
    job = job_of(request)
    name = request.path_params["name"]
    if name == "preview.png":
        if job.preview is None:
            raise fail(404, "no preview yet")
        return Response(job.preview, media_type="image/png")
    if name not in JOB_FILES:
        raise fail(404, f"no such file: {name}; a job has {', '.join(JOB_FILES)}")
    filename, media = JOB_FILES[name]
    path = job.folder / filename
    if job.status in ACTIVE or (not path.is_file() and job.status != "done"):
        raise fail(404, f"{name}: not written yet (job {job.status})")
    if not path.is_file():
        raise fail(404, f"{name}: no longer on the server (its work folder was cleared)")
    if not is_inside(path, job.folder):  # a link planted in the folder: never followed out
        raise fail(404, f"{name}: not a file of this job")
    disposition = "attachment" if request.query_params.get("download") else "inline"
    return FileResponse(
        path,
        media_type=media,
        filename=f"stylelab-{job.id[:8]}-{name}",
        content_disposition_type=disposition,
    )


async def events(request: Request) -> Response:
    job = job_of(request)
    return StreamingResponse(
        _event_stream(job),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def models(request: Request) -> Response:
    fast = request.app.state.fast
    return JSONResponse({"models": await run_in_threadpool(fast.describe)})


async def apply_fast(request: Request) -> Response:
    store, fast = request.app.state.store, request.app.state.fast
    body = await _json_body(request)
    image, _ = _source(store, body.get("image"), "image")
    try:
        data = await run_in_threadpool(
            fast.apply, body.get("model"), image, body.get("weights"), body.get("size", 256)
        )
    except StylelabError as exc:
        raise fail(400, exc) from None
    return Response(data, media_type="image/png")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    store = app.state.store
    store.start()
    threading.Thread(target=_warm_up, name="stylelab-warm-up", daemon=True).start()
    try:
        yield
    finally:
        await run_in_threadpool(store.close)


ROUTES = [
    Route("/", page),
    Route("/static/{name}", static_file),
    Route("/api/health", health),
    Route("/api/options", options),
    Route("/api/examples", examples),
    Route("/api/examples/{name}.png", example_image),
    Route("/api/uploads", upload, methods=["POST"]),
    Route("/api/jobs", jobs),
    Route("/api/jobs", submit, methods=["POST"]),
    Route("/api/jobs/{job_id}", job_info),
    Route("/api/jobs/{job_id}/stop", stop, methods=["POST"]),
    Route("/api/jobs/{job_id}/events", events),
    Route("/api/jobs/{job_id}/files/{name}", job_file),
    Route("/api/models", models),
    Route("/api/fast", apply_fast, methods=["POST"]),
]


# ------------------------------------------------------------------------------ checks


def _source(store: JobStore, value: object, what: str) -> tuple[str, str]:
    """What stylize reads for ``upload:<id>`` or ``example:NAME``, and a label for it."""
    from stylelab.examples import list_examples

    if not isinstance(value, str) or not value:
        raise fail(400, f"{what}: choose an image (upload one or pick an example)")
    match = UPLOAD.fullmatch(value)
    if match:
        path = store.uploads / f"{match.group(1)}.upload"
        if not path.is_file():
            raise fail(400, f"{what}: no such upload (upload the image again)")
        return str(path), value
    if value.startswith("example:") and value[len("example:") :] in list_examples():
        return value, value
    raise fail(400, f"{what}: {one_line(value)[:80]} is neither upload:ID nor example:NAME")


def _check_image(data: bytes, name: str, lock: threading.Lock) -> tuple[int, int]:
    """(height, width) of an image the stylize decoder reads (Pillow's bomb guard on);
    a 400 for anything else."""
    from stylelab.pixels import MIN_SIDE, decode_pil

    with lock:
        try:
            array = decode_pil(io.BytesIO(data), name)
        except StylelabError as exc:
            text = str(exc)
            if "not an image file" in text:
                text = f"{name}: not an image (Pillow cannot read it)"
            raise fail(400, text) from None
    height, width = array.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise fail(400, f"{name}: image is {width}x{height} px; both sides need {MIN_SIDE} px")
    return height, width


def _example_png(name: str) -> bytes:
    from stylelab.examples import example_image, list_examples

    if name not in list_examples():
        raise fail(404, f"no such example: {one_line(name)[:80]}")
    picture = example_image(name)
    picture.thumbnail((256, 256))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


async def _json_body(request: Request) -> dict[str, Any]:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > JSON_LIMIT:
            raise fail(413, f"request too large: at most {JSON_LIMIT:,} bytes of JSON")
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise fail(400, "the request body is not JSON") from None
    except RecursionError:  # "[[[[..." within the size limit
        raise fail(400, "the request body nests too deep to be read") from None
    if not isinstance(body, dict):
        raise fail(400, "the request body must be a JSON object")
    return body


def _static_text(name: str) -> bytes:
    return (resources.files("stylelab.serve") / "static" / name).read_bytes()


def inline_page(static: dict[str, bytes]) -> bytes:
    """index.html with its stylesheet and script inside: one request, the only one that
    needs the token in its URL (the script sends it with every other)."""
    page = static["index.html"]
    page = page.replace(
        b'<link rel="stylesheet" href="static/style.css">',
        b"<style>\n" + static["style.css"] + b"</style>",
    )
    return page.replace(
        b'<script src="static/app.js"></script>', b"<script>\n" + static["app.js"] + b"</script>"
    )


def _warm_up() -> None:
    """Import torch and stylize while the first page loads, not when the first job starts."""
    with contextlib.suppress(Exception):
        import stylelab.gatys  # noqa: F401


# ------------------------------------------------------------------------- live events


async def _event_stream(job: Job) -> AsyncIterator[str]:
    """``progress`` (status and new loss points), ``preview`` (a PNG data URL) and ``end``
    events for one job, polled from its in-memory state; ends after the job does."""
    sent_points, sent_preview, version = 0, -1, -1
    last_ping = time.monotonic()
    yield "retry: 2000\n\n"
    while True:
        if job.version != version:
            version = job.version
            points = job.curve[sent_points:]
            payload = {
                "reset": sent_points == 0,
                "status": job.status,
                "message": job.message,
                "iterations": job.iterations,
                "steps": job.steps,
                "points": [[i, v if v == v else None] for i, v in points],
            }
            sent_points += len(points)
            yield _event("progress", payload)
            if job.preview is not None and job.preview_count != sent_preview:
                sent_preview = job.preview_count
                data = base64.b64encode(job.preview).decode("ascii")
                yield _event(
                    "preview", {"count": sent_preview, "src": f"data:image/png;base64,{data}"}
                )
            if job.status not in ACTIVE:
                yield _event("end", job.public())
                return
        if time.monotonic() - last_ping > SSE_PING_S:
            last_ping = time.monotonic()
            yield ": ping\n\n"
        await asyncio.sleep(SSE_POLL_S)


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


# --------------------------------------------------------------------------- fast tab


#: The fast models the fast tab lists: trained ones and their ONNX exports.
MODEL_SUFFIXES = (".safetensors", ".onnx")


class FastModels:
    """The trained models in a folder: listed by file name, loaded once, applied at once."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.loaded: dict[str, tuple[float, Any]] = {}
        self.lock = threading.Lock()

    def names(self) -> list[str]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(
            entry.name
            for entry in os.scandir(self.folder)
            if entry.name.endswith(MODEL_SUFFIXES) and entry.is_file()
        )

    def model(self, name: object) -> Any:
        """A .safetensors model (through its cached ONNX export, or PyTorch) or an .onnx export
        (onnxruntime), loaded once."""
        from stylelab.fast import open_model

        if not isinstance(name, str) or name not in self.names():
            raise StylelabError(f"no such model: {one_line(name)[:80]}; see the list")
        assert self.folder is not None
        path = self.folder / name  # a name from the folder's own listing
        stamp = path.stat().st_mtime
        with self.lock:
            cached = self.loaded.get(name)
            if cached is None or cached[0] != stamp:
                cached = (stamp, open_model(path, device="cpu", precision="fp32"))
                self.loaded[name] = cached
            return cached[1]

    def describe(self) -> list[dict[str, Any]]:
        found = []
        for name in self.names():
            try:
                found.append({"name": name, "styles": list(self.model(name).styles)})
            except StylelabError as exc:
                found.append({"name": name, "styles": [], "error": one_line(exc)})
        return found

    def apply(self, name: object, image: str, weights: object, size: object) -> bytes:
        from stylelab.pixels import array_to_pil, load_array

        model = self.model(name)
        if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= 1024:
            raise StylelabError(f"size must be an integer from 16 to 1024, got {one_line(size)}")
        style = weights if isinstance(weights, list) else None
        photo = load_array(image)
        with self.lock:
            out = model.stylize_array(photo, style, size=size)
        buffer = io.BytesIO()
        array_to_pil(out).save(buffer, format="PNG")
        return buffer.getvalue()


# ------------------------------------------------------------------- errors and guard


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else None
    if message is None:
        message = f"not found: {one_line(request.url.path)[:120]}"
    return JSONResponse({"error": one_line(message)}, status_code=exc.status_code)


async def _server_error(request: Request, exc: Exception) -> Response:
    text = str(exc).strip().splitlines()
    reason = f"{type(exc).__name__}: {text[0] if text else ''}"
    return JSONResponse({"error": one_line(f"internal error: {reason}")}, status_code=500)


class Guard:
    """Every request: the token (``Authorization: Bearer T`` or ``?token=T``) when one is
    set, compared in constant time; the Host header against ``allowed_hosts`` (a page on
    another site cannot reach 127.0.0.1 by DNS rebinding); and no cross-origin writes."""

    def __init__(self, app: Starlette, token: str | None, hosts: tuple[str, ...] | None) -> None:
        self.app: ASGIApp = app
        self.state = app.state  # the store and settings, for tests and the CLI
        self.token = token
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                status, message = refusal
                await JSONResponse({"error": message}, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.hosts is not None and _host_name(host) not in self.hosts:
            return (
                400,
                f"unknown Host {one_line(host)[:80]}; open the address stylelab serve printed",
            )
        origin = headers.get("origin")
        cross = origin is not None and origin.split("://", 1)[-1] != host
        if scope["method"] not in ("GET", "HEAD") and cross:
            return 403, "cross-origin request refused"
        if self.token is not None:
            given = ""
            auth = headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            else:
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                given = (query.get("token") or [""])[0]
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                what = "wrong token" if given else "this server needs a token"
                return 401, f"{what}: open the URL with ?token= that stylelab serve printed"
        return None


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host

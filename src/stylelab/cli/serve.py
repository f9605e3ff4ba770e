"""``stylelab serve``: the local web app (:mod:`stylelab.serve`), started from the CLI.

Everything is checked before the server starts or a folder is made: the port, the token,
the workdir and the models folder; a port already in use is one line too. Starlette and
uvicorn are imported only here, inside the command.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

from stylelab.errors import StylelabError
from stylelab.safety import one_line

DEFAULT_WORKDIR = "runs/web"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


def add_commands(sub: Any) -> None:
    """Register ``serve`` on the CLI's subparsers."""
    serve = sub.add_parser(
        "serve",
        help="a local web app: live preview, stop, history, downloads, fast models",
        description="Serve one page where you pick a content and a style image, start a "
        "stylization, watch it form live (preview and loss curve), stop it, download PNG, "
        "CSV and JSON, and compare past jobs; trained fast models apply at once. Jobs run "
        "one at a time (--workers), each in its own folder under --workdir, and outlive the "
        "browser tab and a restart. Binds to 127.0.0.1; another --host needs a token "
        "(--token, or one is generated and printed).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=8000, help="port, 0 for any free one (default: 8000)"
    )
    serve.add_argument(
        "--workdir",
        default=DEFAULT_WORKDIR,
        metavar="DIR",
        help=f"folder of jobs and uploads, created if missing (default: {DEFAULT_WORKDIR})",
    )
    serve.add_argument(
        "--models",
        default=None,
        metavar="DIR",
        help="folder of trained fast models for the fast tab, .safetensors or their .onnx "
        "exports (default: WORKDIR/models)",
    )
    serve.add_argument(
        "--token",
        default=None,
        help="require this token on every request (generated when --host is not loopback)",
    )
    serve.add_argument(
        "--workers", type=int, default=1, help="jobs that run at once, 1 to 16 (default: 1)"
    )
    serve.add_argument(
        "--max-queued", type=int, default=32, help="jobs that may wait, 1 to 1000 (default: 32)"
    )
    serve.add_argument(
        "--upload-limit-mb",
        type=int,
        default=25,
        metavar="MB",
        help="largest image upload in MB, 1 to 1024 (default: 25)",
    )
    serve.add_argument(
        "--uploads-mb",
        type=int,
        default=1024,
        metavar="MB",
        help="disk kept for uploads in MB; the oldest that no waiting or running job reads "
        "are deleted to make room (default: 1024; at least --upload-limit-mb)",
    )
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    token = check_token(args.token)
    _check_range("--port", args.port, 0, 65535)
    _check_range("--workers", args.workers, 1, 16)
    _check_range("--max-queued", args.max_queued, 1, 1000)
    _check_range("--upload-limit-mb", args.upload_limit_mb, 1, 1024)
    _check_range("--uploads-mb", args.uploads_mb, args.upload_limit_mb, 1024 * 1024)
    host = check_host(args.host)
    workdir = check_workdir(args.workdir)
    models = check_models(args.models) if args.models is not None else None
    loopback = is_loopback(host)
    if token is None and not loopback:
        token = secrets.token_urlsafe(24)
    try:
        import uvicorn

        from stylelab.serve.app import Settings, create_app
    except ImportError as exc:
        raise StylelabError(
            f"stylelab serve needs Starlette and uvicorn ({exc.name} is missing): "
            "pip install 'stylelab[serve]'"
        ) from None
    sock = listen(host, args.port)
    workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        workdir=workdir,
        models=models if models is not None else workdir / "models",
        token=token,
        workers=args.workers,
        max_queued=args.max_queued,
        upload_limit=args.upload_limit_mb * 1024 * 1024,
        uploads_budget=args.uploads_mb * 1024 * 1024,
        allowed_hosts=(*LOOPBACK_NAMES, host) if loopback else None,
    )
    app = create_app(settings)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"stylelab serve: {url}", flush=True)
    print(
        f"stylelab serve: workdir {workdir}, {args.workers} worker(s); Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    if token is not None and args.token is None:
        print(f"stylelab serve: token {token} (every request needs it)", file=sys.stderr)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def check_token(token: str | None) -> str | None:
    if token is None:
        return None
    if not 8 <= len(token) <= 256 or not token.isprintable() or any(c.isspace() for c in token):
        raise StylelabError(
            "--token must be 8 to 256 printable characters without spaces"
            f" (got {len(token)} characters)"
        )
    return token


def check_host(host: str) -> str:
    if not host or not host.isprintable() or any(c.isspace() for c in host) or len(host) > 253:
        raise StylelabError(f"--host {one_line(host)!r}: not a host name or address")
    return host


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_workdir(path: str) -> Path:
    """The workdir: an existing writable folder, or a new one under a writable folder."""
    if not path or "\0" in path:
        raise StylelabError(f"--workdir {one_line(path)!r}: not a folder name")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise StylelabError(f"--workdir {one_line(folder)}: is a file, not a folder")
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise StylelabError(f"--workdir {one_line(folder)}: {one_line(existing)} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StylelabError(f"--workdir {one_line(folder)}: {one_line(existing)} is not writable")
    for name in ("jobs", "uploads"):
        inner = folder / name
        if inner.exists() and not inner.is_dir():
            raise StylelabError(f"--workdir {one_line(folder)}: {name} is a file, not a folder")
    return folder


def check_models(path: str) -> Path:
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise StylelabError(f"--models {one_line(folder)}: is a file, not a folder")
    if not folder.is_dir():
        raise StylelabError(f"--models {one_line(folder)}: no such folder")
    return folder


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or one line saying why not."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise StylelabError(f"--host {one_line(host)}: cannot resolve ({exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise StylelabError(
            f"cannot listen on {one_line(host)}:{port}: {exc.strerror or exc}"
        ) from None
    sock.set_inheritable(True)
    return sock


def _check_range(flag: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise StylelabError(f"{flag} must be from {low} to {high}, got {value}")

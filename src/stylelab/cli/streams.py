"""The command line's standard streams while a command runs.

- **stdout carries results** (``evaluate``, ``layers``, ``-o -``): a write that fails is
  one line naming stdout (``stdout: no space left on device``), and a closed stdout
  (``>&-``) refuses the first result written to it instead of dropping it; a reader that
  left (``| head``) stays a ``BrokenPipeError`` for the CLI's SIGPIPE exit.
- **stderr carries messages**: one that cannot be written (a log on a full disk) is
  dropped, so that it never changes the exit status (0 for a result written, 2 for bad
  input).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from stylelab.errors import StylelabError
from stylelab.safety import os_reason

CLOSED = "stdout is closed: this command's results would be lost (give it a file or a pipe)"


class ResultStream:
    """``sys.stdout`` for a command: failures become one line naming stdout."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    @property
    def stream(self) -> TextIO | None:
        """The process's own stdout (None: closed)."""
        return self._stream

    def write(self, text: str) -> int:
        return int(self._call("write", text))

    def flush(self) -> None:
        self._call("flush")

    @property
    def buffer(self) -> Any:
        """The binary stream under it (``-o -`` writes a PNG there)."""
        return self._open().buffer

    def _open(self) -> TextIO:
        if self._stream is None:
            raise StylelabError(CLOSED)
        return self._stream

    def _call(self, name: str, *args: Any) -> Any:
        stream = self._open()
        try:
            return getattr(stream, name)(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StylelabError(f"stdout: {os_reason(exc)}") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._open(), name)


class MessageStream:
    """``sys.stderr`` for a command: a message that cannot be written is dropped."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):  # a full disk, a closed file: the message is lost
            return len(text)

    def flush(self) -> None:
        with suppress(OSError, ValueError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def command_streams() -> Iterator[None]:
    """stdout and stderr as above for the block; the process's own ones after it."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = ResultStream(stdout)
    if stderr is not None:
        sys.stderr = MessageStream(stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def stdout_closed() -> bool:
    """Whether the command's stdout was closed when it started (``>&-``)."""
    return sys.stdout is None or (
        isinstance(sys.stdout, ResultStream) and sys.stdout.stream is None
    )


def write_binary(data: bytes) -> None:
    """``data`` to stdout's binary stream, whole: a reader that left part-way (CPython's
    buffered write then returns a short count without raising) is a ``BrokenPipeError``,
    and any other failure one line naming stdout."""
    out = sys.stdout.buffer
    try:
        written = out.write(data)
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise StylelabError(f"stdout: {os_reason(exc)}") from None
    if written is not None and written < len(data):
        raise BrokenPipeError(32, "stdout's reader left before the image was written")

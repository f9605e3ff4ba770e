"""Folder runs of the commands that turn photos one by one (``apply``, ``instant``).

:func:`plan_jobs` pairs each input (a file, the files of a folder, or - for stdin) with
its output and checks them all before any work; :func:`read_photo` reads one (stdin
included); :func:`write_result` writes one (stdout included); :class:`Skipped` holds the
inputs that could not be read, run or written, and says them once one succeeds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from stylelab.cli.common import EXIT_PARTIAL
from stylelab.errors import StylelabError
from stylelab.safety import (
    Made,
    check_input_file,
    check_new_folder,
    check_outputs,
    disk_full,
    is_inside,
    one_line,
)

MAX_STDIN_BYTES = 256 << 20  # an image piped in; a device or an endless pipe is refused


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif")


def plan_jobs(inputs: Sequence[str], output: str, sheet: bool) -> Iterator[tuple[str, str]]:
    """(source, target) pairs; checks every target up front, before any work."""
    from stylelab.cli.streams import CLOSED, stdout_closed
    from stylelab.safety import IMAGE_FORMATS as SAVE_FORMATS
    from stylelab.safety import check_output_file

    if any(not item for item in inputs):
        raise StylelabError("'': an empty input name")
    if not output:
        raise StylelabError("'': an empty output name (-o)")
    if output == "-" and stdout_closed():
        raise StylelabError(f"-o -: {CLOSED}")
    single = len(inputs) == 1 and (inputs[0] == "-" or not Path(inputs[0]).is_dir())
    if sheet and not single:
        raise StylelabError("--sheet takes one input image")
    if single:
        source = inputs[0]
        if source != "-":
            check_input_file(source, "image")
        if output == "-":
            yield source, "-"
            return
        target = Path(output)
        if target.is_dir():
            raise StylelabError(
                f"{target}: is a directory; give an image file name for one input "
                "(a folder is for several inputs)"
            )
        check_output_file(target, SAVE_FORMATS)
        if source != "-":
            check_outputs([target], [source])
        yield source, str(target)
        return
    if "-" in inputs:
        raise StylelabError("- (stdin) can only be the only input")
    if output == "-":
        raise StylelabError("-o - (stdout) takes one input image")
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise StylelabError(f"{folder}: not a folder; several inputs need -o FOLDER")
    if folder.suffix.lower() in SAVE_FORMATS and not folder.exists():
        raise StylelabError(f"{folder}: several inputs need -o FOLDER, not an image file name")
    check_new_folder(folder)
    pairs: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            if folder.exists() and os.path.samefile(path, folder):
                raise StylelabError(f"{folder}: is an input folder; refusing to write over it")
            if is_inside(folder, path):
                raise StylelabError(
                    f"{folder}: is inside the input folder {path}; its results would become "
                    "inputs of the next run: write them elsewhere"
                )
            for file in sorted(path.rglob("*")):
                if file.suffix.lower() in IMAGE_SUFFIXES and not file.is_dir():  # said if unread
                    pairs.append((file, folder / file.relative_to(path)))
        else:
            check_input_file(path, "image")
            pairs.append((path, folder / path.name))
    if not pairs:
        raise StylelabError(f"no images found in {', '.join(inputs)}")
    targets: dict[Path, Path] = {}
    for photo, written in pairs:
        if written.suffix.lower() not in SAVE_FORMATS:
            written = written.with_suffix(".png")
        if written in targets:
            raise StylelabError(f"{targets[written]} and {photo} would both write {written}")
        targets[written] = photo
    check_outputs(list(targets), [str(photo) for photo, _ in pairs])
    for written, photo in targets.items():
        yield str(photo), str(written)


class Skipped:
    """The inputs of a folder run that could not be read, run or written (``apply``,
    ``instant``). Their ``stylelab: skipped:`` lines wait until an input succeeds, so that
    a run in which none does ends with one error line naming the first reason (bad input:
    one line, exit 2) instead of a line per input. Used as a context manager around the
    run, it shows the held lines when Ctrl-C or a signal ends the run before that."""

    def __init__(self, noun: str) -> None:
        self.noun = noun
        self.reasons: list[str] = []
        self.shown = False

    def __enter__(self) -> Skipped:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            self.succeeded()  # the run is over: what was skipped is said, not lost

    def add(self, reason: object) -> None:
        self.reasons.append(str(reason))
        if self.shown:
            print(f"stylelab: skipped: {reason}", file=sys.stderr)

    def succeeded(self) -> None:
        """An input went through: the lines held back so far are shown, later ones at once."""
        if not self.shown:
            self.shown = True
            for reason in self.reasons:
                print(f"stylelab: skipped: {reason}", file=sys.stderr)

    def check_any_done(self, total: int) -> None:
        """One StylelabError when every one of ``total`` inputs was skipped."""
        if self.reasons and not self.shown:
            raise StylelabError(
                f"none of the {total} {self.noun} could be read or run; the first: "
                f"{self.reasons[0]}"
            )

    def closing(self, total: int) -> int:
        """The count line when some were skipped, and the exit status."""
        if not self.reasons:
            return 0
        print(f"stylelab: {len(self.reasons)} of {total} {self.noun} skipped", file=sys.stderr)
        return EXIT_PARTIAL


def read_photo(source: str, size: int | None, usage: str = "stylelab apply MODEL -") -> Any:
    """The photo of ``source`` (a path or - for stdin) as a (1, 3, H, W) array, resized to
    ``size`` if given; ``usage``: the command a message about stdin names."""
    from stylelab.pixels import MIN_SIDE, load_array, long_edge_shape, resize_array

    photo = _read_stdin(usage) if source == "-" else load_array(source)
    if size is None:
        return photo
    resized = resize_array(photo, long_edge_shape(photo.shape, size))
    if min(resized.shape[-2:]) < MIN_SIDE:
        height, width = photo.shape[-2:]
        raise StylelabError(
            f"{one_line(source)}: --size {size} shrinks this {width}x{height} photo below "
            f"{MIN_SIDE} px on its short side; raise --size"
        )
    return resized


def ends_the_run(exc: BaseException) -> bool:
    """Whether writing a result failed for the disk's reason (full, read-only, failing),
    not the photo's: a folder run stops there instead of skipping photo after photo."""
    return disk_full(exc) or getattr(exc, "errno", None) in (errno.EROFS, errno.EIO)


def write_result(result: Any, target: str, made: Made) -> list[int]:
    """Save ``result`` (array or PIL image) to ``target`` or stdout; its [width, height].
    The folders it makes are listed in ``made`` (a failed run takes the empty ones away)."""
    from stylelab.pixels import save_array

    if target == "-":
        _write_stdout(result)
    else:
        made.folder(Path(target).parent)
        save_array(result, target)
    if hasattr(result, "shape"):
        return [int(result.shape[-1]), int(result.shape[-2])]
    return list(result.size)


def _read_stdin(usage: str) -> Any:
    import io

    from stylelab.pixels import check_min_side, decode_pil, to_batch

    if sys.stdin is None:
        raise StylelabError(f"stdin: closed (pipe an image into '{usage}')")
    import stat

    with contextlib.suppress(OSError, ValueError):
        mode = os.fstat(sys.stdin.fileno()).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            raise StylelabError("stdin: not a file or a pipe (a device or a folder)")
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise StylelabError(f"stdin: more than {MAX_STDIN_BYTES >> 20} MB; not an image")
    if not data:
        raise StylelabError(f"stdin: no data (pipe an image into '{usage}')")
    photo = to_batch(decode_pil(io.BytesIO(data), "stdin"))
    check_min_side(photo.shape, "stdin")
    return photo


def _write_stdout(result: Any) -> None:
    import io

    from stylelab.cli.streams import write_binary
    from stylelab.pixels import array_to_pil

    picture = result if not hasattr(result, "shape") else array_to_pil(result)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    write_binary(buffer.getvalue())

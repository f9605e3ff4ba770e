"""The promise every command keeps, in one place.

- **Inputs are never outputs**: :func:`check_outputs` refuses, before any work, an output
  that is one of the inputs (same device and inode, so links count) or a folder that would
  be written inside an input folder.
- **Outputs are checked up front and written as one transaction**: :func:`check_output_file`
  (known extension, an existing writable folder, not a folder itself) and
  :func:`write_together`, which writes every file of one result to an anonymous temporary
  (``O_TMPFILE``: a SIGKILL leaves nothing behind) and gives them their names only when all
  are complete. A failure leaves the old set whole and no new file, and its message names
  the user's path, never a temporary.
- **Inputs are regular files**: :func:`check_input_file` refuses FIFOs and devices (which
  would hang or never end) before anything opens them.
- **SIGTERM and SIGHUP behave like Ctrl-C**: :func:`signals_as_interrupts` turns them into
  :class:`Terminated` (a ``KeyboardInterrupt``), so the current result is written whole,
  and :func:`interrupted_exit_code` gives 143 / 129 (130 for Ctrl-C).
- **Messages are one line**: :func:`one_line` escapes newlines and control characters, and
  :func:`describe_os_error` turns an ``OSError`` into one sentence about the user's file.

No torch here: the CLI imports this module on every start.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

from stylelab.errors import StylelabError

PathLike = str | os.PathLike

EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention
IMAGE_FORMATS = {  # output extension -> Pillow format
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
_CONTROL = (
    {i: f"\\x{i:02x}" for i in (*range(32), *range(127, 160))}
    | {
        10: "\\n",
        13: "\\r",
        9: " ",
        0x2028: "\\u2028",  # line and paragraph separators: str.splitlines() breaks on them
        0x2029: "\\u2029",
    }
    | {  # bidirectional controls: a name could reorder the rest of the line on a terminal
        i: f"\\u{i:04x}"
        for i in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    }
    | {i: f"\\u{i:04x}" for i in range(0xD800, 0xE000)}  # lone surrogates: no UTF-8 has them
)


def one_line(text: object) -> str:
    """``text`` with newlines, control characters, bidirectional controls and lone
    surrogates escaped: a message is one line, shown as written, and encodes as UTF-8."""
    return str(text).translate(_CONTROL)


# ----------------------------------------------------------------------------- inputs


def as_path(path: object, what: str = "file") -> Path:
    """``path`` (a str or an ``os.PathLike`` naming a str) as a Path; one line for
    anything else: another type, a bytes path (``__fspath__`` may return bytes), or a NUL
    character, which no file name holds (the OS call would raise a ValueError)."""
    if not isinstance(path, (str, os.PathLike)):
        raise StylelabError(f"the {what} path must be a str or a path, got {type(path).__name__}")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise StylelabError(f"the {what} path must be a str, got {type(text).__name__}")
    if "\0" in text:
        raise StylelabError(f"{one_line(text)}: a file name cannot hold a NUL character")
    return Path(text)


def check_input_file(path: PathLike, what: str = "file") -> Path:
    """``path`` if it is a readable regular file (links followed); else one clear error.

    FIFOs, sockets and devices are refused before anything opens them: reading one would
    hang (a FIFO with no writer) or never end (``/dev/zero``).
    """
    source = as_path(path, what)
    try:
        info = os.stat(source)
    except FileNotFoundError:
        raise StylelabError(f"{source}: no such file") from None
    except OSError as exc:
        raise StylelabError(describe_os_error(exc, source)) from None
    if stat.S_ISDIR(info.st_mode):
        article = "an" if what[:1] in "aeiou" else "a"
        raise StylelabError(f"{source}: is a directory, not {article} {what}")
    if not stat.S_ISREG(info.st_mode):
        raise StylelabError(
            f"{source}: not a regular file (a FIFO, device or socket); stylelab reads files only"
        )
    if not os.access(source, os.R_OK):
        raise StylelabError(f"{source}: not readable (permission denied)")
    return source


def input_paths(sources: Sequence[object]) -> list[Path]:
    """The sources that are files on disk (leaves out ``example:NAME``, ``-`` and objects)."""
    paths = []
    for source in sources:
        if isinstance(source, (str, os.PathLike)):
            text = os.fspath(source)
            if text and text != "-" and not str(text).startswith("example:"):
                paths.append(Path(text))
    return paths


# ----------------------------------------------------------------------------- outputs


def check_output_file(path: PathLike, suffixes: Collection[str] | None = None) -> Path:
    """``path`` if a file can be written there: a known extension (``suffixes``, lower
    case with the dot), not a folder or a device, in an existing writable folder."""
    out = check_file_name(path)
    if suffixes is not None:
        check_extension(out, suffixes)
    if out.is_dir():
        raise StylelabError(f"{out}: is a folder; give a file name")
    if out.exists() and not out.is_file():
        raise StylelabError(f"{out}: not a regular file; stylelab writes files only")
    check_writable_folder(out.parent)
    check_replaceable(out)
    return out


def check_replaceable(out: Path) -> None:
    """One line, before any work, for an existing ``out`` this user may not replace: in a
    sticky folder (as /tmp) only the file's owner, the folder's owner and root may."""
    try:
        found = os.stat(out, follow_symlinks=False)
        folder = os.stat(out.parent if str(out.parent) else ".")
    except (OSError, ValueError):
        return  # not there yet: nothing to replace
    user = os.geteuid()
    if folder.st_mode & stat.S_ISVTX and user not in (0, found.st_uid, folder.st_uid):
        raise StylelabError(
            f"{out}: belongs to another user, in a folder where only its owner may replace "
            "it (sticky, as /tmp); choose another name"
        )


def check_file_name(path: PathLike) -> Path:
    """``path`` if it names a file: not empty, not a folder's spelling ("", ".", "/", "x/")."""
    out = as_path(path)
    if not os.fspath(path) or not out.name or os.fspath(path).endswith(os.sep):
        raise StylelabError(f"{os.fspath(path)!r}: not a file name")
    return out


def check_extension(path: PathLike, suffixes: Collection[str]) -> Path:
    """``path`` if its extension is one of ``suffixes`` (lower case, with the dot)."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        known = ", ".join(sorted(suffixes))
        raise StylelabError(f"{out}: unknown output extension {out.suffix!r}; use one of {known}")
    return out


def check_writable_folder(folder: PathLike) -> Path:
    """``folder`` if it exists, is a folder, and this user may create files in it."""
    where = Path(folder) if str(folder) else Path(".")
    if not where.exists():
        raise StylelabError(f"{where}: output folder does not exist")
    if not where.is_dir():
        raise StylelabError(f"{where}: output folder is not a directory")
    if is_system_folder(where):
        raise StylelabError(
            f"{where}: a system folder (devices or kernel files), not a place for results"
        )
    if not os.access(where, os.W_OK | os.X_OK):
        raise StylelabError(f"{where}: output folder is not writable")
    try:  # a real probe: root passes os.access, yet /proc or a read-only mount refuse
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as exc:
        raise StylelabError(f"{where}: output folder is not writable ({os_reason(exc)})") from None
    return where


#: Folders of devices and kernel files: root may create files there, which then shadow or
#: pose as devices (``-o /dev/null.png`` as root wrote a regular file into /dev).
SYSTEM_FOLDERS = ("/dev", "/proc", "/sys")


def is_system_folder(folder: PathLike) -> bool:
    """Whether ``folder`` (links resolved) is or lies under one of :data:`SYSTEM_FOLDERS`."""
    real = os.path.realpath(folder)
    return any(real == top or real.startswith(top + os.sep) for top in SYSTEM_FOLDERS)


def check_new_folder(folder: PathLike) -> Path:
    """``folder`` if it is a folder or can be created: its nearest existing ancestor is a
    writable folder, and nothing on the way is a file."""
    target = Path(folder)
    if not os.fspath(folder):
        raise StylelabError("'': an empty folder name")
    if target.exists():
        if not target.is_dir():
            raise StylelabError(f"{target}: exists and is not a folder")
        return check_writable_folder(target)
    for parent in target.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise StylelabError(f"{target}: {parent} is a file, not a folder")
            check_writable_folder(parent)
            break
    return target


def file_identities(paths: Sequence[PathLike]) -> dict[tuple[int, int], Path]:
    """(device, inode) -> path for every path that exists (links followed)."""
    identities = {}
    for path in paths:
        try:
            found = os.stat(path)
        except (OSError, ValueError):
            continue
        identities[(found.st_dev, found.st_ino)] = Path(path)
    return identities


def check_outputs(
    outputs: Sequence[PathLike],
    inputs: Sequence[object],
    folders: Sequence[PathLike] = (),
) -> None:
    """Refuse outputs that are inputs, before any work.

    ``outputs`` are files this command will write; an existing one that is (links followed:
    same device and inode) one of ``inputs`` is refused. ``folders`` are folders this command
    will write into; one that is an input file, or inside or equal to a folder given as an
    input, is refused too. Inputs that are not paths (``example:``, ``-``, tensors) are ignored.
    """
    sources = input_paths(inputs)
    identities = file_identities(sources)
    for output in outputs:
        try:
            found = os.stat(output)
        except (OSError, ValueError):
            continue
        source = identities.get((found.st_dev, found.st_ino))
        if source is not None:
            raise StylelabError(
                f"{one_line(output)}: is an input ({one_line(source)}); refusing to write over it"
            )
    input_folders = [s for s in sources if s.is_dir()]
    for folder in folders:
        for source in input_folders:
            if is_inside(Path(folder), source):
                raise StylelabError(
                    f"{one_line(folder)}: is inside the input folder {one_line(source)}; "
                    "write the results elsewhere"
                )
        check_outputs([folder], inputs)


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or under it, links resolved; the same folder reached
    by another path (a bind mount, a host folder mounted twice in a container) counts, by
    device and inode of each existing folder on the way up."""
    try:
        resolved = path.resolve()
        if resolved.is_relative_to(folder.resolve()):
            return True
        found = os.stat(folder)
    except (OSError, ValueError, RuntimeError):  # a link loop, a NUL: no folder to be in
        return False
    for ancestor in (resolved, *resolved.parents):
        try:
            seen = os.stat(ancestor)
        except (OSError, ValueError):
            continue  # not made yet
        if (seen.st_dev, seen.st_ino) == (found.st_dev, found.st_ino):
            return True
    return False


# ----------------------------------------------------------------------------- locks


def open_lock(path: Path, what: str) -> int:
    """The lock file ``path`` (made if missing), opened without following a link or
    truncating anything; ``what`` names whose lock it is in the one-line errors."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StylelabError(
                f"{path}: a symbolic link, not {what}'s lock file; remove it"
            ) from None
        raise StylelabError(describe_os_error(exc, path)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StylelabError(f"{path}: not a regular file, so it cannot lock {what}")
    return fd


def lock_or_refuse(fd: int, busy: str) -> None:
    """Take the exclusive lock (``flock``) on ``fd`` now, or raise ``busy``: another
    process holds it. No-op where there is no ``fcntl`` (Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise StylelabError(busy) from None


# ----------------------------------------------------------------------------- writing


class Made:
    """What one command created on its way to its first result (folders, a lock file), so
    that a failure can take it away again: see :func:`undone_on_failure`."""

    def __init__(self) -> None:
        self.folders: list[Path] = []
        self.files: list[Path] = []

    def folder(self, path: PathLike) -> Path:
        """``mkdir -p path``, remembering each folder it made; an error is one line."""
        target = Path(path)
        missing = [p for p in (target, *target.parents) if not p.exists() and not p.is_symlink()]
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StylelabError(describe_os_error(exc, target)) from None
        self.folders.extend(reversed(missing))  # parents first, as made
        return target

    def file(self, path: PathLike) -> Path:
        """Remember a file this command created (not one it found)."""
        self.files.append(Path(path))
        return Path(path)

    def undo(self) -> None:
        """Remove the files, then the folders (only while empty: never a user's file),
        newest first."""
        for file in reversed(self.files):
            with suppress(OSError):
                file.unlink()
        for folder in reversed(self.folders):
            with suppress(OSError):
                folder.rmdir()
        self.files.clear()
        self.folders.clear()


@contextmanager
def undone_on_failure() -> Iterator[Made]:
    """A :class:`Made` whose folders and files are removed again if the block fails (a full
    disk, Ctrl-C, a refusal): a command that wrote nothing leaves nothing behind."""
    made = Made()
    try:
        yield made
    except BaseException:
        made.undo()
        raise


@contextmanager
def write_together(targets: Sequence[PathLike]) -> Iterator[list[Path]]:
    """Yield one temporary path per target; when the block ends normally, every temporary
    gets its target's name (an atomic rename each); on any error none does and no file is
    left. The temporaries are anonymous files where the system allows (Linux ``O_TMPFILE``),
    so even a SIGKILL leaves no partial file. A rename that fails after others succeeded
    (a target another user owns in a sticky folder, an immutable file) undoes them
    (:func:`_commit_all`). A signal during the renames acts after them
    (:func:`_signals_held`).
    An ``OSError`` becomes a :class:`StylelabError` naming the user's file.
    """
    finals = [Path(t) for t in targets]
    staged: list[_Staged] = []
    try:
        try:
            for final in finals:
                try:
                    staged.append(_Staged(final))
                except OSError as exc:  # no temporary can be made in its folder
                    reason = describe_os_error(exc, final)
                    raise WriteFailed(f"{reason}; nothing was written", exc.errno) from None
            yield [s.writable_path for s in staged]
            with _signals_held():  # hidden names given and renamed, or none: no stray file
                for item in staged:
                    item.prepare()
                _commit_all(staged)
        except OSError as exc:
            undone = getattr(exc, "stylelab_undone", None)
            said = "; ".join(undone) if undone else "nothing was written"
            raise WriteFailed(f"{_describe_write_error(exc, staged)}; {said}", exc.errno) from None
    finally:
        for item in staged:
            item.discard()


#: errno values of a disk with no room left (full, or the user's quota).
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (an ``OSError`` or :class:`WriteFailed`) failed for want of room."""
    return getattr(exc, "errno", None) in DISK_FULL


class WriteFailed(StylelabError):
    """:func:`write_together` could not write its files; ``errno`` says why (a server
    tells a full disk, ``ENOSPC``, from its own faults)."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


#: :meth:`_Staged.keep_old` for an old file that exists but could not be kept.
UNKEPT = Path("<not kept>")


def _commit_all(staged: Sequence[_Staged]) -> None:
    """Rename every staged file to its target, or none. One rename is its own
    transaction. With several, each old target is kept first (a hard link, else a copy;
    a symbolic link as a link), so that a failure part-way puts back the ones renamed so
    far; a target whose old file could not be kept is renamed last and never removed.
    Signals wait until the renames are done (:func:`_signals_held`, around it)."""
    if len(staged) == 1:
        staged[0].commit()
        return
    kept = [item.keep_old() for item in staged]
    order = sorted(range(len(staged)), key=lambda i: kept[i] is UNKEPT)  # stable: unkept last
    done: list[int] = []
    try:
        try:
            for index in order:
                staged[index].commit()
                done.append(index)
        except BaseException as exc:
            exc.stylelab_undone = _undo(staged, kept, done)  # type: ignore[attr-defined]
            raise
    finally:
        for old in kept:
            if old is not None and old is not UNKEPT:
                with suppress(OSError):
                    old.unlink()


def _undo(staged: Sequence[_Staged], kept: list[Path | None], done: list[int]) -> list[str]:
    """Put back the targets renamed so far; what could not be put back, in words."""
    notes = []
    for index in reversed(done):
        final, old = staged[index].final, kept[index]
        try:
            if old is None:  # there was none: the new one goes
                final.unlink()
            elif old is UNKEPT:
                notes.append(f"{final} was replaced (its old file could not be kept aside)")
            else:
                os.replace(old, final)
                kept[index] = None
        except OSError:
            if old is not None and old is not UNKEPT:
                notes.append(f"the old {final.name} is kept as {old}")
                kept[index] = None  # the only copy: never removed
            else:
                notes.append(f"{final} could not be removed again")
    return notes


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP held back for the block: in the main thread (where
    Python runs every signal handler, whichever thread the signal reached) their handlers
    only note the signal, which is raised again, to the handlers that were there, right
    after the block, so that it acts on a whole set of files. Elsewhere (a worker thread)
    a signal interrupts the main thread, not the block."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = {signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)}
    noted: list[int] = []
    before = {number: signal.getsignal(number) for number in names}
    for number in names:
        signal.signal(number, lambda number, frame: noted.append(number))
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        for number in dict.fromkeys(noted):
            signal.raise_signal(number)


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """One file of :func:`write_together`: a temporary path renamed to ``path`` on success."""
    with write_together([path]) as (tmp,):
        yield tmp


class _Staged:
    """One output on its way: an anonymous file (or a hidden temp file) in its folder."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.folder = final.parent if str(final.parent) else Path(".")
        self.fd: int | None = None
        self.named: Path | None = None
        try:
            self.fd = os.open(self.folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666)
            self.writable_path = Path(f"/proc/self/fd/{self.fd}")
            if not self.writable_path.exists():  # no /proc (a chroot, a sandbox)
                raise OSError(errno.ENOENT, "no /proc/self/fd")
        except (AttributeError, OSError):  # no O_TMPFILE here: a hidden named temp file
            if self.fd is not None:
                os.close(self.fd)
            self.fd = None
            self.named = hidden_temporary(self.folder)
            os.chmod(self.named, 0o666 & ~_umask())
            self.writable_path = self.named

    def prepare(self) -> None:
        """Give the anonymous file a hidden name next to its target (nanoseconds)."""
        if self.fd is None:
            return
        name = hidden_temporary(self.folder)
        os.unlink(name)
        _link_anonymous(self.fd, str(name))
        self.named = name

    def keep_old(self) -> Path | None:
        """The file the commit will replace, kept aside under a hidden name: a hard link,
        else a copy (file systems without links, another user's file under
        ``protected_hardlinks``), a symbolic link as a link. None: there is none;
        :data:`UNKEPT`: it could not be kept."""
        final = self.final
        if not final.is_symlink() and not final.exists():
            return None
        try:
            old = hidden_temporary(self.folder)
        except OSError:
            return UNKEPT
        try:
            os.unlink(old)
            if final.is_symlink():
                os.symlink(os.readlink(final), old)
            else:
                try:
                    os.link(final, old)
                except OSError:
                    shutil.copy2(final, old)
        except OSError:
            with suppress(OSError):
                old.unlink()
            return UNKEPT
        return old

    def commit(self) -> None:
        assert self.named is not None
        os.replace(self.named, self.final)
        self.named = None

    def discard(self) -> None:
        if self.named is not None:
            self.named.unlink(missing_ok=True)
            self.named = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def hidden_temporary(folder: Path) -> Path:
    """A new empty hidden file in ``folder``; its name has a fixed length, so a target
    name of up to the system's limit still gets a temporary beside it."""
    handle, name = tempfile.mkstemp(prefix=".stylelab-", suffix=".tmp", dir=folder)
    os.close(handle)
    return Path(name)


def _link_anonymous(fd: int, name: str) -> None:
    """Give the ``O_TMPFILE`` file open as ``fd`` the name ``name``.

    ``linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH)`` first (Linux; the only way that works
    in some sandboxes), then the documented ``/proc/self/fd`` link, and as a last resort a
    copy into ``name`` (then a SIGKILL in this instant could leave that hidden copy).
    """
    import ctypes

    at_fdcwd, at_empty_path = -100, 0x1000
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.linkat(fd, b"", at_fdcwd, os.fsencode(name), at_empty_path) == 0:
            return
    except (OSError, AttributeError):
        pass
    try:
        os.link(f"/proc/self/fd/{fd}", name, follow_symlinks=True)
        return
    except OSError:
        pass
    with open(name, "xb") as copy:
        os.lseek(fd, 0, os.SEEK_SET)
        while chunk := os.read(fd, 1 << 20):
            copy.write(chunk)
    os.chmod(name, 0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _describe_write_error(exc: OSError, staged: Sequence[_Staged]) -> str:
    """The error with the user's path in place of a temporary one."""
    names = {str(s.writable_path): s.final for s in staged}
    names.update({str(s.named): s.final for s in staged if s.named is not None})
    filename = exc.filename
    if filename is not None:
        return describe_os_error(exc, names.get(str(filename), Path(filename)))
    others = ", ".join(s.final.name for s in staged[1:])
    return describe_os_error(exc, f"{staged[0].final}" + (f" (with {others})" if others else ""))


def describe_os_error(exc: OSError, path: PathLike | None = None) -> str:
    """One sentence: ``PATH: what went wrong`` (e.g. ``out.png: no space left on device``)."""
    where = path if path is not None else exc.filename
    reason = os_reason(exc)
    return one_line(f"{where}: {reason}" if where is not None else reason)


def os_reason(exc: OSError) -> str:
    """What went wrong, in a few lower-case words (``no space left on device``)."""
    reasons = {
        errno.ENOSPC: "no space left on device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.ENOENT: "no such file or folder",
        errno.EISDIR: "is a folder",
        errno.ENOTDIR: "a part of the path is not a folder",
        errno.ENAMETOOLONG: "file name too long",
        errno.EFBIG: "file too large",
        errno.EIO: "input/output error",
    }
    return reasons.get(exc.errno or 0) or (exc.strerror or str(exc) or type(exc).__name__).lower()


# ----------------------------------------------------------------------------- signals


class Terminated(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP, raised as a KeyboardInterrupt: the run stops and writes
    its result."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []


GRACE_S = 10.0  # after the first signal, more signals are ignored this long (the save)
_first_at: list[float] = []


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    """The first signal stops the run; a second one in the next GRACE_S seconds (a wrapper
    forwarding Ctrl-C, an impatient double press) must not interrupt writing the result."""
    import time

    now = time.monotonic()
    if _first_at and now - _first_at[0] < GRACE_S:
        return
    _first_at[:] = [now]
    _received.append(signum)
    raise Terminated(signum)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP raise :class:`Terminated` (a KeyboardInterrupt) while the
    block runs (main thread only); the first one counts, repeats within GRACE_S are ignored."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    _first_at.clear()
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, _raise_terminated) for s in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():  # after a signal, repeats stay ignored
            signal.signal(signum, _after_grace(handler) if _received else handler)
        if _received:
            import atexit

            atexit.unregister(_ignore_at_exit)
            atexit.register(_ignore_at_exit)


def _ignore_at_exit() -> None:
    """The process is exiting with 128 + n after a signal: ignore repeats while Python
    shuts down (it would otherwise reset their handlers to the default, which kills)."""
    if _received:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)


def _after_grace(handler: object) -> Callable[[int, FrameType | None], None]:
    """A handler that ignores a signal within GRACE_S of the first one (the result is being
    written, or the process is exiting with 128 + n), then gives way to ``handler``: two
    Ctrl-C 0.2 s apart, the second after the run had ended, killed the process by SIGINT."""

    def handle(signum: int, frame: FrameType | None) -> None:
        import time

        if _first_at and time.monotonic() - _first_at[0] < GRACE_S:
            return
        signal.signal(signum, handler)  # type: ignore[arg-type]
        if callable(handler):
            handler(signum, frame)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), signum)

    return handle


def interruption() -> str:
    """What stopped the run: ``SIGTERM``, ``SIGHUP`` or ``Ctrl-C``."""
    if not _received or _received[0] == signal.SIGINT:
        return "Ctrl-C"
    return signal.Signals(_received[0]).name


def interrupted_exit_code() -> int:
    """128 + the signal that stopped the run: 143 (SIGTERM), 129 (SIGHUP), 130 (Ctrl-C)."""
    return 128 + _received[0] if _received else EXIT_INTERRUPTED

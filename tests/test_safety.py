"""The promise in stylelab.safety: inputs are never outputs, outputs are whole or absent,
SIGTERM/SIGHUP write the current result, every message is one line.

The signal and full-disk cases run the real CLI in a process of its own.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from stylelab import cli, safety
from stylelab.errors import StylelabError
from tests.conftest import gradient_image, stripes_image

# 48 px, random weights: an iteration takes milliseconds; --steps sets how long a run lasts
SLOW = ["--size", "48", "--no-multiscale", "--weights", "random", "--device", "cpu", "--quiet"]


def snapshot(folder: Path) -> dict[str, bytes | str]:
    return {
        str(p.relative_to(folder)): ("<dir>" if p.is_dir() else p.read_bytes())
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    gradient_image(64, 48).save(content)
    stripes_image(48).save(style)
    return content, style


# ----------------------------------------------------------------------------- one line


@pytest.mark.parametrize("text", ["a\nb", "a\rb", "tab\there", "bell\x07", "ok"])
def test_one_line_leaves_no_line_break_or_control_character(text: str) -> None:
    line = safety.one_line(text)
    assert "\n" not in line and "\r" not in line
    assert all(ord(ch) >= 32 for ch in line)
    assert line == text or "\\" in line or " " in line


def test_a_name_with_a_newline_is_still_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["stylize", str(tmp_path / "two\nlines.png"), "x.png", "-o", "o.png"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "two\\nlines.png" in err


# ----------------------------------------------------------------------------- inputs


def test_fifos_and_devices_are_refused_before_they_are_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(StylelabError, match="not a regular file"):
            safety.check_input_file(path)  # would block forever on the FIFO if opened


def test_outputs_that_are_inputs_are_refused_through_links(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"x")
    (tmp_path / "soft.png").symlink_to(photo)
    os.link(photo, tmp_path / "hard.png")
    for name in ("photo.png", "soft.png", "hard.png"):
        with pytest.raises(StylelabError, match=r"is an input \(.*photo\.png\)"):
            safety.check_outputs([tmp_path / name], [str(photo)])
    safety.check_outputs([tmp_path / "new.png"], [str(photo), "example:chelsea", "-"])


def test_a_folder_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(StylelabError, match="inside the input folder"):
        safety.check_outputs([], [str(tmp_path / "photos")], folders=[tmp_path / "photos/out"])


def test_an_input_folder_reached_through_a_bind_mount_is_still_an_input(tmp_path: Path) -> None:
    photos, alias = tmp_path / "photos", tmp_path / "alias"
    photos.mkdir()
    alias.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(photos), str(alias)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("bind mounts need root here")
    try:
        assert safety.is_inside(alias / "out" / "deeper", photos)
        with pytest.raises(StylelabError, match="inside the input folder"):
            safety.check_outputs([], [str(photos)], folders=[alias / "out"])
        assert not safety.is_inside(tmp_path / "elsewhere", photos)
    finally:
        subprocess.run(["umount", str(alias)], check=True)


# ----------------------------------------------------------------------------- writing


def test_write_together_renames_all_or_nothing(tmp_path: Path) -> None:
    targets = [tmp_path / "a.png", tmp_path / "a.csv", tmp_path / "a.json"]
    for target in targets:
        target.write_text("old")
    full = pytest.raises(StylelabError, match=r"a\.png \(with a\.csv, a\.json\): no space left")
    with full, safety.write_together(targets) as temporaries:
        temporaries[0].write_text("new")
        temporaries[1].write_text("new")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert [t.read_text() for t in targets] == ["old"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "a.json", "a.png"]
    with safety.write_together(targets) as temporaries:
        for tmp in temporaries:
            tmp.write_text("new")
    assert [t.read_text() for t in targets] == ["new"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "a.json", "a.png"]
    assert oct(targets[0].stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _refuse_commit_of(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    commit = safety._Staged.commit

    def refused(self: safety._Staged) -> None:
        if self.final.name == name:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(self.named))
        commit(self)

    monkeypatch.setattr(safety._Staged, "commit", refused)


@pytest.mark.parametrize("failing", ["a.csv", "a.json"])
def test_a_rename_that_fails_late_undoes_the_renames_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """An old a.json that cannot be replaced (another user's, in a sticky folder; an
    immutable file) after a.png was: the old a.png is back, the new a.csv gone."""
    targets = [tmp_path / "a.png", tmp_path / "a.csv", tmp_path / "a.json"]
    targets[0].write_text("old png")
    targets[2].write_text("old json")
    _refuse_commit_of(monkeypatch, failing)
    said = rf"{failing.replace('.', '[.]')}: operation not permitted; nothing was written"
    with pytest.raises(StylelabError, match=said), safety.write_together(targets) as temporaries:
        for tmp in temporaries:
            tmp.write_text("new")
    assert targets[0].read_text() == "old png" and targets[2].read_text() == "old json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.png"]  # nothing hidden


def test_without_hard_links_the_old_files_are_kept_as_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAT, some FUSE mounts, another user's file under protected_hardlinks: no link, so
    the old a.png is copied aside, and put back when a.json cannot be replaced."""
    targets = [tmp_path / "a.png", tmp_path / "a.json"]
    targets[0].write_text("old png")
    (tmp_path / "elsewhere.png").write_text("linked")
    link = tmp_path / "b.png"
    link.symlink_to(tmp_path / "elsewhere.png")  # a symbolic link comes back as one
    targets.insert(1, link)

    def no_link(*_: object, **__: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    _refuse_commit_of(monkeypatch, "a.json")
    refused = pytest.raises(StylelabError, match="nothing was written")
    with refused, safety.write_together(targets) as temporaries:
        for tmp in temporaries:
            tmp.write_text("new")
    assert targets[0].read_text() == "old png" and not targets[2].exists()
    assert link.is_symlink() and link.read_text() == "linked"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "elsewhere.png"]
    staged = safety._Staged(targets[0])
    kept = staged.keep_old()  # the copy itself, not only the outcome
    staged.discard()
    assert kept is not None and kept is not safety.UNKEPT and kept.read_text() == "old png"
    kept.unlink()


def test_an_old_file_that_cannot_be_kept_is_replaced_last_and_never_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = [tmp_path / "a.png", tmp_path / "a.json"]
    for target in targets:
        target.write_text("old")
    real_keep = safety._Staged.keep_old
    monkeypatch.setattr(
        safety._Staged,
        "keep_old",
        lambda self: safety.UNKEPT if self.final.name == "a.png" else real_keep(self),
    )
    _refuse_commit_of(monkeypatch, "a.json")  # renamed first, so a.png is never touched
    refused = pytest.raises(StylelabError, match="nothing was written")
    with refused, safety.write_together(targets) as temporaries:
        for tmp in temporaries:
            tmp.write_text("new")
    assert [t.read_text() for t in targets] == ["old", "old"]


def test_an_old_file_that_cannot_be_put_back_stays_aside_and_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = [tmp_path / "a.png", tmp_path / "a.json"]
    targets[0].write_text("old png")
    real_replace = os.replace

    def replace(source: object, target: object) -> None:
        if str(source).endswith(".tmp") and Path(str(target)) == targets[0] and restoring:
            raise OSError(errno.EIO, "Input/output error")
        real_replace(source, target)  # type: ignore[arg-type]

    restoring = False
    commit = safety._Staged.commit

    def refused(self: safety._Staged) -> None:
        nonlocal restoring
        if self.final.name == "a.json":
            restoring = True
            raise PermissionError(errno.EPERM, "Operation not permitted", str(self.named))
        commit(self)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(safety._Staged, "commit", refused)
    kept_aside = pytest.raises(StylelabError, match=r"the old a\.png is kept as .*\.stylelab-")
    with kept_aside as said, safety.write_together(targets) as temporaries:
        for tmp in temporaries:
            tmp.write_text("new")
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(".stylelab-")]
    assert len(aside) == 1 and aside[0].read_text() == "old png"
    assert str(aside[0]) in str(said.value)


def test_a_signal_during_the_renames_acts_after_them_on_a_whole_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C between two renames (a library caller's, with Python's own handler): the
    set is renamed whole, then KeyboardInterrupt comes; no hidden file is left."""
    targets = [tmp_path / "a.png", tmp_path / "a.csv", tmp_path / "a.json"]
    for target in targets:
        target.write_text("old")
    commit = safety._Staged.commit

    def interrupted(self: safety._Staged) -> None:
        commit(self)
        if self.final.name == "a.png":
            signal.raise_signal(signal.SIGINT)  # handled in this (main) thread, now

    monkeypatch.setattr(safety._Staged, "commit", interrupted)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt), safety.write_together(targets) as temporaries:
        for tmp in temporaries:
            tmp.write_text("new")
    assert [t.read_text() for t in targets] == ["new"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "a.json", "a.png"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_another_users_file_in_a_sticky_folder_is_refused_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "out.json").write_text("theirs")  # owned by this (root) user, as the folder
    safety.check_output_file(shared / "out.json")  # its owner may replace it
    monkeypatch.setattr(os, "geteuid", lambda: 4242)  # another user
    with pytest.raises(StylelabError, match="out.json: belongs to another user"):
        safety.check_output_file(shared / "out.json")
    safety.check_output_file(shared / "new.json")  # a new name is fine
    shared.chmod(0o777)  # not sticky: anyone who may write the folder may replace it
    safety.check_output_file(shared / "out.json")


def test_temporaries_fit_beside_a_name_of_the_longest_length(tmp_path: Path) -> None:
    target = tmp_path / ("c" * 251 + ".png")  # 255 bytes: the limit of most file systems
    with safety.write_together([target]) as (tmp,):
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_without_proc_the_temporaries_are_named_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O_TMPFILE works but /proc is not mounted (a chroot): the writes still land."""
    real_exists = Path.exists
    monkeypatch.setattr(
        Path, "exists", lambda self: False if str(self).startswith("/proc/") else real_exists(self)
    )
    target = tmp_path / "a.png"
    with safety.write_together([target]) as (tmp,):
        assert not str(tmp).startswith("/proc/")
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _cli(*args: str, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stylelab.cli", *args],
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def test_a_full_disk_keeps_the_old_result_whole(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    """A file-size limit makes every write past 2 kB fail as a full disk would (EFBIG)."""
    content, style = pair
    out = tmp_path / "out.png"
    for suffix in (".png", ".csv", ".json"):
        out.with_suffix(suffix).write_bytes(b"old " + suffix.encode())
    before = snapshot(tmp_path)

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    process = subprocess.run(
        [sys.executable, "-m", "stylelab.cli", "stylize", str(content), str(style), "-o"]
        + [str(out), "--steps", "3", *SLOW],
        capture_output=True,
        text=True,
        preexec_fn=small_disk,
        timeout=300,
    )
    lines = process.stderr.strip().splitlines()
    assert process.returncode == 2, process.stderr
    assert len(lines) == 1 and lines[0].startswith("stylelab: error: "), process.stderr
    assert "out.png" in lines[0] and "file too large" in lines[0]
    assert "/proc" not in lines[0] and ".tmp" not in lines[0]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_write_the_current_image_whole(
    tmp_path: Path, pair: tuple[Path, Path], signum: int, code: int
) -> None:
    content, style = pair
    out = tmp_path / "out.png"
    process = _cli(
        *["stylize", str(content), str(style), "-o", str(out), "--save-every", "1"],
        *["--steps", "100000", *SLOW],
    )
    _wait_for(tmp_path / "out_00002.png", process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert err.strip().splitlines()[-1].startswith(f"stylelab: {signal.Signals(signum).name}:")
    with Image.open(out) as image:
        image.load()  # whole: decodes to the end
        assert image.size == (48, 36)
    record = (tmp_path / "out.json").read_text()
    assert '"status": "interrupted"' in record
    assert (tmp_path / "out.csv").read_text().count("\n") >= 3


def test_sigkill_leaves_no_partial_file(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    """Killed while it writes an image every iteration: every file there decodes whole,
    the old output is untouched, and no temporary is left behind."""
    content, style = pair
    out = tmp_path / "out.png"
    gradient_image(20, 20, seed=3).save(out)
    old = out.read_bytes()
    process = _cli(
        *["stylize", str(content), str(style), "-o", str(out), "--save-every", "1"],
        *["--steps", "100000", *SLOW],
    )
    _wait_for(tmp_path / "out_00005.png", process)
    process.kill()
    process.communicate(timeout=60)
    assert out.read_bytes() == old
    names = [p.name for p in tmp_path.iterdir()]
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")], names
    for path in tmp_path.glob("out_*.png"):
        with Image.open(path) as image:
            image.load()


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


# ----------------------------------------------------------------------------- the CLI net


def test_an_unexpected_exception_is_one_line_and_exit_70(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import stylelab.cli.stylize as commands

    def broken(args: object) -> int:
        raise RuntimeError("deep inside\nsecond line")

    monkeypatch.setattr(commands, "cmd_layers", broken)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    assert cli.main(["layers"]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: deep inside" in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.png")
    assert cli.main(["--debug", "stylize", missing, missing, "-o", "o.png"]) == 2
    assert "Traceback" in capsys.readouterr().err
    assert cli.main(["stylize", missing, missing, "-o", "o.png", "--debug"]) == 2  # at the end
    assert "Traceback" in capsys.readouterr().err
    assert cli.debug_first(["stylize", "--", "--debug"]) == ["stylize", "--", "--debug"]  # a name
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    assert cli.main(["stylize", missing, missing, "-o", "o.png"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("stylelab: error:")


def test_version_is_printed_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    import stylelab

    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"stylelab {stylelab.__version__}"


def test_an_unwritable_home_adds_no_matplotlib_lines() -> None:
    """matplotlib's notes about its config folder (report, sweep, stats figures) under an
    unwritable $HOME stay out of a command's stderr."""
    code = (
        "import contextlib\nfrom stylelab import cli\n"
        "with contextlib.suppress(SystemExit):\n    cli.main(['--version'])\n"
        "import matplotlib.pyplot"
    )
    env = {**os.environ, "HOME": "/dev/null"}
    env.pop("MPLCONFIGDIR", None)
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and run.stderr == "", run.stderr


def test_a_second_signal_does_not_interrupt_writing_the_result() -> None:
    """A wrapper forwarding Ctrl-C, or a double press: the first signal stops the run,
    the next ones (within the grace period) are ignored and the first one's code stands."""
    with safety.signals_as_interrupts():
        with pytest.raises(safety.Terminated):
            safety._raise_terminated(signal.SIGTERM, None)
        safety._raise_terminated(signal.SIGINT, None)  # ignored: no exception
        safety._raise_terminated(signal.SIGHUP, None)
        assert safety.interrupted_exit_code() == 143
        assert safety.interruption() == "SIGTERM"


def test_closed_stderr_still_writes_the_result(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    content, style = pair
    out = tmp_path / "out.png"
    command = [sys.executable, "-m", "stylelab.cli", "stylize", str(content), str(style)]
    command += ["-o", str(out), "--steps", "2", *SLOW[:-1]]  # with the progress bar
    process = subprocess.run(
        command,
        stderr=subprocess.DEVNULL,
        timeout=300,
        close_fds=True,
        preexec_fn=lambda: os.close(2),
    )
    assert process.returncode == 0
    with Image.open(out) as image:
        image.load()


def test_undone_on_failure_removes_only_what_it_made(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "own.txt").write_text("the user's")
    with pytest.raises(KeyboardInterrupt), safety.undone_on_failure() as made:
        made.folder(tmp_path / "a" / "b" / "c")
        made.folder(tmp_path / "kept")  # existed: never removed
        made.file(tmp_path / "a" / "b" / ".lock").write_text("")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    with pytest.raises(OSError), safety.undone_on_failure() as made:
        made.folder(tmp_path / "d")
        (tmp_path / "d" / "user-made.txt").write_text("not ours")
        raise OSError("boom")
    assert (tmp_path / "d" / "user-made.txt").is_file()  # a folder is removed only if empty
    with safety.undone_on_failure() as made:
        made.folder(tmp_path / "e")
    assert (tmp_path / "e").is_dir()  # success: everything stays


@pytest.mark.parametrize("more", ["one 0.05 s later", "many while it exits"])
def test_repeated_ctrl_c_write_the_image_whole_and_exit_130(
    tmp_path: Path, pair: tuple[Path, Path], more: str
) -> None:
    """Issue 27: two SIGINTs a moment apart wrote the image whole, but a second one that came
    after the run had ended (while Python shut down) killed the process by the signal
    instead of letting it exit 130."""
    content, style = pair
    out = tmp_path / "out.png"
    process = _cli(
        *["stylize", str(content), str(style), "-o", str(out), "--save-every", "1"],
        *["--steps", "100000", *SLOW],
    )
    _wait_for(tmp_path / "out_00002.png", process)
    process.send_signal(signal.SIGINT)
    lines = ""
    if more == "one 0.05 s later":
        time.sleep(0.05)
        process.send_signal(signal.SIGINT)
    else:
        assert process.stderr is not None
        lines = process.stderr.readline()  # the closing line: the run has ended
        assert "wrote" in lines, lines
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            process.send_signal(signal.SIGINT)  # an impatient user, all through the exit
            time.sleep(0.05)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, lines + err
    with Image.open(out) as image:
        image.load()
        assert image.size == (48, 36)

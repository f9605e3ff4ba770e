"""The command line: every bad input is one line and exit 2; outputs; Ctrl-C; NaN."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from stylelab import cli
from stylelab.objective import GatysObjective
from tests.conftest import gradient_image

FAST = ["--size", "32", "--steps", "3", "--weights", "random", "--quiet"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("out"))


def _bad_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"bad_{kind}.jpg"
    if kind == "text":
        path.write_text("hello, I am not an image")
    elif kind == "truncated":
        gradient_image(64, 64).save(path)
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "tiny":
        gradient_image(12, 12).save(path)
    return path


BAD_INPUTS = {
    "missing file": (lambda t, c, s: [str(t / "nope.jpg"), s], "no such file"),
    "directory": (lambda t, c, s: [str(t), s], "is a directory"),
    "non-image": (lambda t, c, s: [str(_bad_file(t, "text")), s], "not an image"),
    "truncated": (lambda t, c, s: [c, str(_bad_file(t, "truncated"))], "cannot decode"),
    "under 16 px": (lambda t, c, s: [c, str(_bad_file(t, "tiny"))], "at least 16 px"),
    "unknown backbone": (
        lambda t, c, s: [c, s, "--backbone", "vgg99"],
        "unknown backbone 'vgg99'; choose from: .*vgg19",
    ),
    "avg pooling on a ResNet": (
        lambda t, c, s: [c, s, "--backbone", "resnet18", "--weights", "random", "--pooling", "avg"],
        "--pooling avg applies to vgg16, vgg19, not resnet18",
    ),
    "unknown optimizer": (
        lambda t, c, s: [c, s, "--optimizer", "newton"],
        "unknown optimizer 'newton'; choose from: lbfgs, adam",
    ),
    "unknown layer": (
        lambda t, c, s: [c, s, "--style-layers", "relu1_1,relu9_9"],
        "unknown layer 'relu9_9'.*valid layers: conv1_1",
    ),
    "unknown init": (
        lambda t, c, s: [c, s, "--init", "sketch"],
        "unknown init 'sketch'; choose from: content, noise, style",
    ),
    "negative weight": (
        lambda t, c, s: [c, s, "--style-weight", "-5"],
        "--style-weight must be a finite number >= 0",
    ),
    "nan weight": (
        lambda t, c, s: [c, s, "--content-weight", "nan"],
        "--content-weight must be a finite number",
    ),
    "inf weight": (lambda t, c, s: [c, s, "--tv-weight", "inf"], "--tv-weight must be a finite"),
    "zero steps": (lambda t, c, s: [c, s, "--steps", "0"], "--steps must be a positive integer"),
    "negative steps": (lambda t, c, s: [c, s, "--steps", "-3"], "--steps must be a positive"),
    "non-integer steps": (lambda t, c, s: [c, s, "--steps", "ten"], "invalid int value"),
    "unknown extension": (
        lambda t, c, s: [c, s, "-o", str(t / "out.bmpx")],
        "unknown output extension '.bmpx'",
    ),
    "missing output folder": (
        lambda t, c, s: [c, s, "-o", str(t / "no" / "out.png")],
        "output folder does not exist",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(
    case: str,
    tmp_path: Path,
    content_path: Path,
    style_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make, message = BAD_INPUTS[case]
    args = make(tmp_path, str(content_path), str(style_path))
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.png")]
    code, _, err = run(["stylize", *FAST, *args], capsys)  # the case's flags win
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stylelab: error: "), err
    assert __import__("re").search(message, lines[0]), lines[0]
    assert _outputs(tmp_path) == []


def test_unwritable_output_folder(
    tmp_path: Path,
    content_path: Path,
    style_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # Tests may run as root, for whom chmod does not lock; simulate the permission check.
    monkeypatch.setattr(
        os, "access", lambda p, m: False if Path(p) == locked else real_access(p, m)
    )
    code, _, err = run(
        ["stylize", str(content_path), str(style_path), "-o", str(locked / "out.png"), *FAST],
        capsys,
    )
    assert code == 2 and err.strip() == f"stylelab: error: {locked}: output folder is not writable"


def test_decompression_bomb(
    tmp_path: Path,
    content_path: Path,
    style_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    code, _, err = run(
        ["stylize", str(content_path), str(style_path), "-o", str(tmp_path / "out.png"), *FAST],
        capsys,
    )
    assert code == 2 and "decompression bomb" in err and len(err.strip().splitlines()) == 1
    assert _outputs(tmp_path) == []


def test_pretrained_weights_not_found_say_how_to_provide_them(
    tmp_path: Path,
    content_path: Path,
    style_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    code, _, err = run(
        [
            "stylize",
            str(content_path),
            str(style_path),
            "-o",
            str(tmp_path / "out.png"),
            "--backbone",
            "vgg16",
            "--size",
            "32",
            "--steps",
            "2",
            "--quiet",
        ],
        capsys,
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "not in the local torch cache" in err and "--weights PATH" in err
    assert _outputs(tmp_path) == []


def test_a_real_process_prints_no_traceback(tmp_path: Path, style_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "stylelab.cli",
            "stylize",
            str(tmp_path / "missing.png"),
            str(style_path),
            "-o",
            str(tmp_path / "out.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"stylelab: error: {tmp_path / 'missing.png'}: no such file"


def test_stylize_writes_image_csv_json_and_snapshots(
    tmp_path: Path, content_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.png"
    code, _, err = run(
        [
            "stylize",
            str(content_path),
            str(style_path),
            "-o",
            str(out),
            "--size",
            "32",
            "--steps",
            "4",
            "--weights",
            "random",
            "--save-every",
            "2",
            "--optimizer",
            "adam",
            "--lr",
            "0.03",
        ],
        capsys,
    )
    assert code == 0, err
    assert _outputs(tmp_path) == [
        "out.csv",
        "out.json",
        "out.png",
        "out_00002.png",
        "out_00004.png",
    ]
    with open(tmp_path / "out.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
    assert {"elapsed_s", "content", "style", "tv", "total", "style_relu3_1"} <= set(rows[0])
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["config"]["optimizer"] == "adam" and summary["config"]["lr"] == 0.03
    assert summary["resolved"]["weights_used"].startswith("random")
    assert summary["environment"]["threads"] >= 1 and summary["wall_time_s"] > 0
    assert "wrote" in err


def test_several_styles_are_blended(
    tmp_path: Path, content_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        [
            "stylize",
            str(content_path),
            str(style_path),
            "example:strokes",
            "--style-blend",
            "0.7,0.3",
            "-o",
            str(tmp_path / "out.png"),
            *FAST,
        ],
        capsys,
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["resolved"]["style_blend"] == pytest.approx([0.7, 0.3])


def spoil_evaluations(
    monkeypatch: pytest.MonkeyPatch, spoiled: Callable[[int], bool], how: str
) -> None:
    """The Gatys objective's k-th evaluation (from 1, over the whole process) raises Ctrl-C
    (``how="interrupt"``) or gives a NaN loss (``"nan"``) where ``spoiled(k)``."""
    original = GatysObjective.__call__
    calls = 0

    def spoiled_call(self, image):
        nonlocal calls
        calls += 1
        if spoiled(calls) and how == "interrupt":
            raise KeyboardInterrupt
        total, terms = original(self, image)
        return (total * float("nan") if spoiled(calls) else total), terms

    monkeypatch.setattr(GatysObjective, "__call__", spoiled_call)


def test_ctrl_c_keeps_the_current_image_and_log(
    tmp_path: Path,
    content_path: Path,
    style_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spoil_evaluations(monkeypatch, lambda k: k == 3, "interrupt")
    code, _, err = run(
        [
            "stylize",
            str(content_path),
            str(style_path),
            "-o",
            str(tmp_path / "out.png"),
            *FAST[:2],
            "--steps",
            "10",
            *FAST[4:],
        ],
        capsys,
    )
    assert code == 130 and "interrupted after 2 iterations" in err
    assert _outputs(tmp_path) == ["out.csv", "out.json", "out.png"]
    assert json.loads((tmp_path / "out.json").read_text())["status"] == "interrupted"


def test_ctrl_c_in_instant_refine_exits_130_with_the_current_image(
    tmp_path: Path,
    content_path: Path,
    style_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A held-out probe: an interrupted --refine ended with exit 0 and "wrote OUT", as if
    it had finished; now as stylize: the line says so, exit 130, the image is kept."""
    spoil_evaluations(monkeypatch, lambda k: k == 3, "interrupt")
    out = tmp_path / "out.png"
    args = [str(content_path), str(style_path), "-o", str(out), "--size", "32"]
    code, _, err = run(["instant", *args, "--refine", "10"], capsys)
    assert code == 130 and "interrupted after 2 iterations" in err, err
    assert out.exists()
    assert json.loads(out.with_suffix(".json").read_text())["status"] == "interrupted"


def test_nonfinite_loss_is_reported_and_the_image_kept(
    tmp_path: Path,
    content_path: Path,
    style_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spoil_evaluations(monkeypatch, lambda k: k > 2, "nan")
    code, _, err = run(
        ["stylize", str(content_path), str(style_path), "-o", str(tmp_path / "out.png"), *FAST],
        capsys,
    )
    assert code == 1 and "kept the last finite image" in err
    assert (tmp_path / "out.png").exists()


def test_instant_refine_over_a_folder_goes_on_after_a_non_finite_loss(
    tmp_path: Path,
    content_path: Path,
    style_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A review: the first photo's refinement whose loss turns NaN ended the whole folder
    run; it is said (its last finite image kept) and the next photo still runs; exit 1."""
    import shutil

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(content_path, photos / name)
    spoil_evaluations(monkeypatch, lambda k: k == 3, "nan")  # the first photo's only
    out = tmp_path / "out"
    args = [str(photos), str(style_path), "-o", str(out), "--size", "32", "--refine", "4"]
    code, _, err = run(["instant", *args], capsys)
    assert code == 1 and "kept the last finite image" in err, err
    assert (out / "a.png").exists() and (out / "b.png").exists()
    assert json.loads((out / "b.json").read_text())["status"] == "done"


def test_layers_lists_names_channels_and_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["layers", "--backbone", "vgg19"], capsys)
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("relu4_2 "))
    assert row.split()[1:4] == ["relu", "512", "content"] and "block4_conv2" in row
    assert len([line for line in out.splitlines()[1:] if line.strip()]) == 37


def test_demo_sheet_instant_then_refined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo" / "demo.png"
    code, _, err = run(["demo", "-o", str(out), "--size", "32", "--steps", "1", "--quiet"], capsys)
    assert code == 0, err
    assert {p.name for p in out.parent.iterdir()} == {"demo.png", "demo.json"}
    with Image.open(out) as sheet:  # photo | painting | instant | refined, two caption lines
        assert sheet.size == (4 * 32, 32 + 2 * 14)
    figures = json.loads(out.with_suffix(".json").read_text())
    assert figures["refine_steps"] == 1 and figures["size"] == 32
    style, content = figures["style_distance"], figures["content_distance"]
    assert set(style) == set(content) == {"photo", "instant", "refined"}
    assert content["photo"] == pytest.approx(0.0, abs=1e-6) and style["photo"] > 0
    checks = figures["checks"]
    assert checks["content distance <= 1"] == (content["refined"] <= 1.0)
    assert checks["style distance <= 0.5 x the photo's"] == (
        style["refined"] <= 0.5 * style["photo"]
    )
    assert "style distance <= 0.5 x the photo's" in err and "instant" in err


def test_ctrl_c_in_the_demo_exits_130_and_says_how_far_it_got(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A held-out probe: Ctrl-C (SIGTERM, SIGHUP) in the instant demo's refinement exited 0
    and its figures claimed every step; now exit 130, and the record says where it stopped."""
    spoil_evaluations(monkeypatch, lambda k: k == 3, "interrupt")
    out = tmp_path / "demo.png"
    code, _, err = run(["demo", "-o", str(out), "--size", "32", "--steps", "10"], capsys)
    assert code == 130 and "interrupted after 2 of 10 refine steps" in err, err
    figures = json.loads(out.with_suffix(".json").read_text())
    assert figures["status"] == "interrupted" and figures["refine_steps"] == 2


def test_demo_plain_and_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo" / "demo.png"
    argv = ["demo", "--plain", "-o", str(out), "--size", "32", "--steps", "2", "--quiet"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert {p.name for p in out.parent.iterdir()} >= {
        "demo.png",
        "demo.csv",
        "demo.json",
        "demo_triptych.png",
    }
    code, out_text, err = run(
        ["evaluate", str(out), "example:chelsea", "example:strokes", "--size", "32", "--json"],
        capsys,
    )
    assert code == 0, err
    scores = json.loads(out_text)
    assert scores["style_distance"] > 0 and scores["content_distance"] > 0


def test_help_lists_the_config_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["stylize", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--style-weight", "--optimizer", "--style-layers", "--init", "--save-every"):
        assert flag in text


@pytest.mark.slow
def test_issue_acceptance_run_at_256px(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """256 px, 100 steps: a stylized image that keeps its content; loss falls > 90 %."""
    from stylelab.evaluate import evaluate

    out = tmp_path / "out.png"
    code, _, err = run(
        [
            "stylize",
            "example:chelsea",
            "example:strokes",
            "-o",
            str(out),
            "--size",
            "256",
            "--steps",
            "100",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    with open(tmp_path / "out.csv", newline="") as handle:
        totals = [float(r["total"]) for r in csv.DictReader(handle)]
    assert totals[-1] < 0.1 * totals[0]
    result = evaluate(out, "example:chelsea", "example:strokes", size=256)
    photo = evaluate("example:chelsea", "example:chelsea", "example:strokes", size=256)
    with pytest.warns(UserWarning, match="another aspect ratio"):  # the square painting
        painting = evaluate("example:strokes", "example:chelsea", "example:strokes", size=256)
    # Closer to the painting's style than the photo is, closer to the photo than the painting.
    assert result["style_distance"] < 0.5 * photo["style_distance"]
    assert result["content_distance"] < 0.8 * painting["content_distance"]


def test_a_reader_gone_before_the_buffered_result_is_flushed_is_sigpipe() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    env.pop("PYTHONUNBUFFERED", None)
    command = f"{sys.executable} -m stylelab.cli examples | true; echo ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "141" and done.stderr == "", done.stderr


def test_a_reader_that_leaves_ends_the_command_silently() -> None:
    """``stylelab layers | head``: stdout's reader gone is no error of the user's; exit as
    SIGPIPE would (141), with nothing on stderr, as cat and ls do."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylelab.cli", "layers", "--backbone", "resnet50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes a line: its first write finds no reader
    with proc.stderr:
        stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and stderr == ""


def test_an_image_on_stdout_whose_reader_leaves_part_way_exits_as_sigpipe() -> None:
    """``instant ... -o - | head -c1``: CPython's buffered write returned a short count
    without raising, and the command exited 0; the PNG is larger than a pipe's buffer."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    command = (
        f"{sys.executable} -m stylelab.cli instant example:astronaut example:strokes -o - "
        "--size 256 --quiet | head -c1 >/dev/null; echo ${PIPESTATUS[0]}"
    )
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "141", done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("redirect", "code", "said"),
    [
        (">&-", 2, "stylelab: error: stdout is closed: this command's results would be lost"),
        (">/dev/full", 2, "stylelab: error: stdout: no space left on device"),
        ("2>/dev/full", 0, ""),  # a log that cannot be written changes no exit status
        ("--json >&-", 2, "stylelab: error: --json: stdout is closed"),  # before any work
    ],
)
@pytest.mark.parametrize("buffered", [True, False])
def test_results_on_stdout_are_never_dropped_and_messages_never_change_the_status(
    redirect: str, code: int, said: str, buffered: bool
) -> None:
    """With stdout buffered (no PYTHONUNBUFFERED) a short result stays in the buffer until
    the command ends: its flush is checked too, or Python's exit would fail with 120."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    env.pop("PYTHONUNBUFFERED", None) if buffered else env.update(PYTHONUNBUFFERED="1")
    command = f"{sys.executable} -m stylelab.cli examples {redirect}"
    if redirect.startswith("--json"):
        command = f"{sys.executable} -m stylelab.cli export no.safetensors -o x.onnx {redirect}"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env)
    assert done.returncode == code, done.stderr
    assert done.stderr.strip().startswith(said) and (said or not done.stderr)


@pytest.mark.parametrize("module", ["stylelab", "stylelab.cli"])
def test_python_dash_m_runs_the_command_line(module: str) -> None:
    """``python -m stylelab`` and ``python -m stylelab.cli`` are the ``stylelab`` script."""
    from stylelab import __version__

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    run = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert __version__ in run.stdout.decode()


def test_the_size_check_sizes_images_as_the_coarsest_stage_does() -> None:
    """A review: paintings were scaled from their full size (13 px here) although the
    coarsest stage encodes them at style_edge(128, 0.1) = 16 px; the photo keeps its
    ratio at the stage's edge (20 / 256 * 128 = 10 px: refused)."""
    from stylelab.errors import StylelabError
    from stylelab.gatys import check_min_edge
    from stylelab.schedule import plan_schedule

    stages = plan_schedule(256, 4)
    assert min(stage.size for stage in stages) == 128
    check_min_edge("vgg19", 16, stages, 0.1, [("content", (256, 192)), ("style", (26, 26))])
    with pytest.raises(StylelabError, match=r"content: vgg19 needs .* has 10 px"):
        check_min_edge("vgg19", 16, stages, 1.0, [("content", (256, 20)), ("style", (64, 64))])

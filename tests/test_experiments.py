"""Sweeps: the TOML is checked up front, runs are isolated, and SIGKILL + --resume loses
and duplicates nothing. Runs are tiny (32 px, 3 steps, random weights)."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylelab.cli import main
from stylelab.errors import StylelabError
from stylelab.experiments.config import MAX_RUNS, MAX_RUNS_WITH_YES, load_sweep, parse_sweep
from stylelab.experiments.inputs import input_files
from stylelab.experiments.runner import SUMMARY, recorded_ids, run_sweep, summary_columns

TINY = """
[sweep]
evaluate = {evaluate}
evaluate_size = 32
[base]
content = "example:chelsea"
style = "example:strokes"
size = 32
steps = 3
weights = "random"
"""


def write(tmp_path: Path, body: str, evaluate: str = "false", name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(TINY.format(evaluate=evaluate) + body)
    return path


def rows(rundir: Path) -> list[dict[str, str]]:
    with open(rundir / SUMMARY, newline="") as handle:
        return list(csv.DictReader(handle))


# --- the sweep file ---------------------------------------------------------------------


def test_grid_is_a_product_plus_runs_with_stable_ids(tmp_path: Path) -> None:
    body = '[grid]\noptimizer = ["lbfgs", "adam"]\nseed = [0, 1]\n[[runs]]\noptimizer = "sgd"\n'
    sweep = load_sweep(write(tmp_path, body))
    assert len(sweep.runs) == 5
    assert sweep.varied == ("optimizer", "seed")
    again = load_sweep(write(tmp_path, body, name="t.toml"))
    assert [r.run_id for r in sweep.runs] == [r.run_id for r in again.runs]
    assert sweep.fingerprint() == again.fingerprint()
    assert len({r.run_id for r in sweep.runs}) == 5
    assert sweep.runs[4].config.optimizer == "sgd" and sweep.runs[4].config.steps == 3


def test_duplicate_runs_run_once_and_tuple_options_parse() -> None:
    data = {
        "base": {"content": "example:chelsea", "style": "example:strokes", "weights": "random"},
        "grid": {"content_layers": ["relu4_2", ["block5_conv2"]], "lr": [1, 1.0]},
    }
    sweep = parse_sweep(data)
    assert [r.config.content_layers for r in sweep.runs] == [("relu4_2",), ("block5_conv2",)]
    assert sweep.runs[0].config.lr == 1.0


BASE = {"content": "example:chelsea", "style": "example:strokes", "weights": "random"}


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"base": {**BASE, "stepz": 3}}, "stepz"),
        ({"base": BASE, "grid": {"steps": ["many"]}}, "[grid] steps"),
        ({"base": BASE, "grid": {"steps": 3}}, "[grid] steps"),
        ({"base": BASE, "grid": {"optimizer": ["lbfgs", "newton"]}}, "newton"),
        ({"base": BASE, "grid": {"size": [8]}}, "--size"),
        ({"base": BASE, "grid": {"content_layers": ["relu9_9"]}}, "relu9_9"),
        ({"base": BASE, "grid": {"style": ["missing.png"]}}, "missing.png"),
        ({"base": BASE, "grid": {"content": ["example:nope"]}}, "example:nope"),
        ({"base": BASE, "grid": {"backbone": ["vgg99"]}}, "vgg99"),
        ({"base": BASE, "sweep": {"jobs": 2}}, "jobs"),
        ({"base": BASE, "sweep": {"evaluate_size": "big"}}, "evaluate_size"),
        ({"base": BASE, "extra": {"x": 1}}, "extra"),
        ({"base": BASE, "runs": [{"steps": 0}]}, "--steps"),
        ({"base": BASE, "grid": {"weights": ["nothere.pt"]}}, "nothere.pt"),
        ({"grid": {"seed": [1]}}, "'content'"),
    ],
)
def test_bad_keys_and_values_are_refused_by_name(data: dict, named: str) -> None:
    with pytest.raises(StylelabError, match=named.replace("[", r"\[").replace("]", r"\]")):
        parse_sweep(data)


def test_cli_refuses_a_bad_file_in_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[grid]\nlearning_rate = [0.1]\n")
    assert main(["sweep", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylelab: error:") and "learning_rate" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


# --- running ----------------------------------------------------------------------------


def test_failures_are_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    # an image that was whole when the sweep was checked, damaged before its run
    Image.new("RGB", (40, 32), (200, 40, 40)).save(tmp_path / "late.png")
    body = '[grid]\ninit = ["content", "late.png"]\n'
    sweep = load_sweep(write(tmp_path, body, evaluate="true"))
    (tmp_path / "late.png").write_bytes(b"damaged")
    rundir = tmp_path / "run"
    outcome = run_sweep(sweep, rundir, report=False)
    assert outcome.ran == 2 and not outcome.ok
    table = {r["init"]: r for r in rows(rundir)}
    good, bad = table["content"], table["late.png"]
    assert good["status"] == "done" and not good["error"]
    assert float(good["style_distance"]) > 0 and float(good["content_distance"]) > 0
    assert float(good["loss_total"]) > 0 and good["iterations"] == "3"
    assert float(good["peak_rss_mb"]) > 50 and float(good["wall_time_s"]) > 0
    folder = rundir / "runs" / good["run_id"]
    for name in ("output.png", "output.csv", "output.json", "record.json"):
        assert (folder / name).is_file()
    assert bad["status"] == "failed" and "late.png" in bad["error"]

    # the same folder: refused without --resume, refused for another sweep
    with pytest.raises(StylelabError, match="--resume"):
        run_sweep(sweep, rundir, report=False)
    other = load_sweep(write(tmp_path, "[grid]\nseed = [5, 6]\n", name="o.toml"))
    with pytest.raises(StylelabError, match="different sweep"):
        run_sweep(other, rundir, resume=True, report=False)
    # resume of a finished sweep runs nothing
    assert run_sweep(sweep, rundir, resume=True, report=False).ran == 0
    assert len(rows(rundir)) == 2
    # killed after record.json landed but before its row: the row comes from record.json
    lines = (rundir / SUMMARY).read_text().splitlines(keepends=True)
    (rundir / SUMMARY).write_text("".join(lines[:-1]))
    again = run_sweep(sweep, rundir, resume=True, report=False)
    assert again.ran == 0 and again.skipped == 2
    assert sorted(r["run_id"] for r in rows(rundir)) == sorted(r.run_id for r in sweep.runs)

    # --retry-failed: the failed run goes again (and fails again), the done one is kept
    with pytest.raises(StylelabError, match="needs --resume"):
        run_sweep(sweep, rundir, retry_failed=True, report=False)
    done_record = (rundir / "runs" / good["run_id"] / "record.json").read_text()
    retried = run_sweep(sweep, rundir, resume=True, retry_failed=True, report=False)
    assert retried.ran == 1 and retried.skipped == 1
    assert (rundir / "runs" / good["run_id"] / "record.json").read_text() == done_record
    after = rows(rundir)
    assert sorted(r["run_id"] for r in after) == sorted(r.run_id for r in sweep.runs)
    assert [r["status"] for r in after if r["init"] == "late.png"] == ["failed"]
    assert b"\r" not in (rundir / SUMMARY).read_bytes()


def test_control_options_reach_the_summary_and_every_record(tmp_path: Path) -> None:
    """--preserve-color, --mask with --region-style and --tile as a sweep sets them: each
    run's summary row and output.json carry its values; a relative mask, and a style path
    in --region-style, are read from the sweep file's folder as content and style are (the
    mask was read from the working folder, and the style path then matched no style);
    the luminance run keeps the photo's chroma much closer than a plain one."""
    mask = Image.new("RGB", (40, 32), (255, 0, 0))
    mask.paste((0, 0, 255), (20, 0, 40, 32))
    mask.save(tmp_path / "mask.png")
    Image.new("RGB", (40, 32), (30, 160, 60)).save(tmp_path / "paint.png")
    body = (
        '[[runs]]\npreserve_color = "luminance"\n'
        '[[runs]]\nstyle = ["example:strokes", "paint.png"]\nmask = "mask.png"\n'
        'region_style = "#ff0000=paint.png,#0000ff=0"\n'
        '[[runs]]\ntile = "auto"\ntile_overlap = 16\n'
    )
    sweep = load_sweep(write(tmp_path, body))
    # a 2x1 half-and-half mask is a mask (read_mask resizes it), not a photo under 16 px
    Image.frombytes("RGB", (2, 1), bytes([255, 0, 0, 0, 0, 255])).save(tmp_path / "two.png")
    load_sweep(write(tmp_path, body.replace('"mask.png"', '"two.png"'), name="two.toml"))
    rundir = tmp_path / "run"
    assert run_sweep(sweep, rundir, report=False).ok
    table = rows(rundir)
    assert len(table) == 3 and all(r["status"] == "done" for r in table), table
    kept, regions, tiled = sorted(
        table, key=lambda r: (r["preserve_color"] != "luminance", r["tile"] == "auto")
    )
    assert (kept["preserve_color"], kept["mask"], kept["tile"]) == ("luminance", "", "off")
    assert (regions["mask"], regions["region_style"]) == ("mask.png", "#ff0000=paint.png,#0000ff=0")
    assert (tiled["preserve_color"], tiled["tile"]) == ("none", "auto")
    for row in table:
        text = json.dumps(json.loads((rundir / "runs" / row["run_id"] / "output.json").read_text()))
        assert f'"preserve_color": "{row["preserve_color"]}"' in text
        assert f'"tile": "{row["tile"]}"' in text
    text = (rundir / "runs" / regions["run_id"] / "output.json").read_text()
    assert json.dumps(str(tmp_path / "mask.png")) in text
    assert f"#ff0000={tmp_path / 'paint.png'}" in text

    photo = np.asarray(_example("example:chelsea").resize((32, 21)))

    def chroma_gap(row: dict[str, str]) -> float:
        from skimage.color import rgb2lab

        out = np.asarray(Image.open(rundir / "runs" / row["run_id"] / "output.png"))
        assert out.shape == photo.shape
        return float(np.abs(rgb2lab(out)[..., 1:] - rgb2lab(photo)[..., 1:]).mean())

    assert chroma_gap(kept) < 0.5 * chroma_gap(tiled)


def _example(source: str) -> Image.Image:
    from stylelab.examples import example_image

    return example_image(source.removeprefix("example:")).convert("RGB")


def test_a_run_over_its_time_limit_is_killed_and_recorded(tmp_path: Path) -> None:
    body = "[grid]\nseed = [0]\n"
    path = write(tmp_path, body)
    path.write_text(path.read_text().replace("[sweep]\n", "[sweep]\ntimeout_s = 0.2\n"))
    outcome = run_sweep(load_sweep(path), tmp_path / "run", report=False)
    (row,) = rows(tmp_path / "run")
    assert outcome.statuses["timeout"] == 1
    assert row["status"] == "timeout" and "time limit" in row["error"]


def _workers_in(rundir: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "stylelab.experiments.worker" in text and str(rundir / "runs") in text:
            found.append(text)
    return found


def test_sigkill_then_resume_gives_each_run_exactly_once(tmp_path: Path) -> None:
    body = '[grid]\noptimizer = ["lbfgs", "adam", "sgd"]\nseed = [0, 1]\n'
    config = write(tmp_path, body)
    sweep = load_sweep(config)
    rundir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "stylelab.cli", "sweep", str(config), "-o", str(rundir)]
    proc = subprocess.Popen([*command, "--quiet", "--no-report", "--jobs", "2"], env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (rundir / SUMMARY).is_file() and len(recorded_ids(rundir / SUMMARY)) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if sys.platform.startswith("linux"):  # the runs in flight die with the sweep
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _workers_in(rundir):
            time.sleep(0.1)
        assert not _workers_in(rundir)
    before = rows(rundir)
    assert 2 <= len(before) < 6
    # a row torn in the middle of its write must not survive either
    with open(rundir / SUMMARY, "ab") as handle:
        handle.write(b"0123456789ab,3,example:chel")

    assert main(["sweep", str(config), "-o", str(rundir), "--quiet"]) == 2  # needs --resume
    assert main(["sweep", str(config), "-o", str(rundir), "--resume", "--quiet"]) == 0
    after = rows(rundir)
    ids = [r["run_id"] for r in after]
    assert len(ids) == 6 and sorted(ids) == sorted(r.run_id for r in sweep.runs)
    assert after[: len(before)] == before  # nothing already written was lost or changed
    assert all(r["status"] == "done" for r in after)
    assert (rundir / "index.html").is_file()


# --- the example sweeps -----------------------------------------------------------------

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.toml"))
PENDING = ("resnet50", "smoothing")  # arrive with the backbone zoo and SWAG branches


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_sweeps_are_valid_and_small(path: Path) -> None:
    study = path.stem.startswith("study")
    if study and not (path.parent.parent.parent / "shared/eval-images").is_dir():
        pytest.skip("the study's paintings are read from ../shared/eval-images beside the clone")
    try:
        sweep = load_sweep(path, max_runs=MAX_RUNS_WITH_YES if study else MAX_RUNS)
    except StylelabError as exc:
        if any(name in str(exc) for name in PENDING):
            pytest.skip(f"{path.name} needs a feature not in this build: {exc}")
        raise
    largest = 192 if path.stem == "study_budget" else 128  # the spot check runs larger
    assert all(run.config.size <= largest for run in sweep.runs)
    assert sweep.settings.name
    if path.stem == "optimizers":
        from stylelab.optim import list_optimizers

        assert sorted(r.config.optimizer for r in sweep.runs) == sorted(list_optimizers())


# --- hostile input: every bad sweep is one line, exit 2, and no RUNDIR -----------------

BASE_LINES = {
    "content": '"example:chelsea"',
    "style": '"example:strokes"',
    "size": "32",
    "steps": "2",
    "weights": '"random"',
    "precision": '"fp32"',
    "device": '"cpu"',
    "multiscale": "false",
}


def tiny(rest: str = "", sweep: str = "", base: str = "", top: str = "") -> str:
    """A valid tiny sweep with lines added to (or replacing lines of) [sweep] and [base],
    and lines at the top and the end."""
    lines = dict(BASE_LINES)
    for line in base.splitlines():
        key, _, value = line.partition("=")
        lines[key.strip()] = value.strip()
    body = "".join(f"{key} = {value}\n" for key, value in lines.items())
    return f"{top}[sweep]\nevaluate = false\n{sweep}\n[base]\n{body}{rest}"


class _Pickled:
    """Unpickling this runs code: it creates the file named by MARKER."""

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {os.environ.get('STYLELAB_TEST_MARKER', '/dev/null')}",))


def hostile_files(folder: Path) -> None:
    """The files the hostile cases name: images, non-images, special files, weights."""
    import pickle

    import torch

    Image.new("RGB", (40, 32), (10, 200, 10)).save(folder / "ok.png")
    (folder / "sub").mkdir()
    Image.new("RGB", (40, 32), (10, 10, 200)).save(folder / "sub" / "rel.png")
    (folder / "adir").mkdir()
    noisy = np.random.default_rng(0).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(folder / "noisy_mask.png")  # hundreds of colours
    (folder / "text.png").write_text("not an image\n")
    (folder / "zero.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes((folder / "ok.png").read_bytes()[:60])
    os.mkfifo(folder / "fifo")
    with open(folder / "evil.pt", "wb") as handle:
        pickle.dump(_Pickled(), handle)
    torch.save({"features.0.weight": _Pickled()}, folder / "evil_torch.pt")
    torch.save({"fc.weight": torch.zeros(2, 2)}, folder / "other_model.pt")
    (folder / "text.pt").write_text("weights = 1\n")


MILLION = "[grid]\n" + "".join(
    f"{key} = [{', '.join(str(v) for v in range(1, 101))}]\n"
    for key in ("seed", "steps", "content_weight")
)

HOSTILE_TOML = [
    # the file itself
    ("malformed", "[grid\nseed = [1]\n", r"not valid TOML \(.*line 1"),
    ("unclosed string", tiny('[grid]\nseed = "1\n'), r"not valid TOML"),
    ("nul byte", 'a = "\0"\n', r"not valid TOML"),
    ("nested 100000 deep", "a = " + "[" * 100_000 + "]" * 100_000 + "\n", r"nested too deeply"),
    ("tables nested deep", "a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n", r"nested too deeply"),
    (
        "a 5000-digit integer",
        tiny(base="seed = 1" + "0" * 5000),
        r"not valid TOML \(a number too long",
    ),
    (
        "grid as an array of tables",
        tiny("[[grid]]\nseed = [1]\n"),
        r"\[grid\] must be a table, got \[\{seed = \[1\]\}\] \(a list\)",
    ),
    ("runs as one table", tiny("[runs]\nseed = 1\n"), r"runs must be an array of tables"),
    (
        "nested 100 deep in the grid",
        tiny("[grid]\nsize = " + "[" * 100 + "1" + "]" * 100 + "\n"),
        r"got \[\[\[\[\[\[\.\.\.\]\]\]\]\]\] \(a list\)",
    ),
    (
        "a 100-digit integer for a string",
        tiny("[grid]\noptimizer = [1" + "0" * 100 + "]\n"),
        r"expected a string, got 1e100 \(an integer\)",
    ),
    ("twice the same table", tiny("[sweep]\nname = 'x'\n"), r"not valid TOML"),
    ("empty file", "", r"no 'content' image; set content in \[base\] or \[grid\]"),
    # unknown tables and keys, with a suggestion
    (
        "unknown table",
        tiny("[gird]\nseed = [1]\n"),
        r"unknown top-level table gird \(did you mean grid\?\)",
    ),
    (
        "unknown top-level key",
        tiny(top="run = 1\n"),
        r"unknown top-level key run \(did you mean runs\?\)",
    ),
    (
        "unknown [sweep] key",
        tiny(sweep="evaluat = true"),
        r"unknown \[sweep\] setting evaluat \(did you mean evaluate\?\)",
    ),
    (
        "unknown [base] key",
        tiny(base="stepz = 3"),
        r"unknown option stepz in \[base\] \(did you mean steps\?\)",
    ),
    (
        "unknown [grid] key",
        tiny("[grid]\nlearning_rate = [0.1]\n"),
        r"unknown option learning_rate in \[grid\]",
    ),
    (
        "unknown [[runs]] key",
        tiny("[[runs]]\noptimiser = 'adam'\n"),
        r"unknown option optimiser in \[\[runs\]\] #1 \(did you mean optimizer\?\)",
    ),
    ("quoted odd key", tiny(base='"a\\nb" = 1'), r'unknown option "a\\nb" in \[base\]'),
    # wrong types everywhere
    (
        "string for size",
        tiny('[grid]\nsize = ["32"]\n'),
        r'\[grid\] size: expected an integer, got "32" \(a string\) \(write the number without',
    ),
    (
        "table for grid values",
        tiny("[grid]\nsize = {a = 1}\n"),
        r"\[grid\] size must be a list of values, got \{a = 1\} \(a table\)",
    ),
    (
        "scalar for grid values",
        tiny("[grid]\nseed = 3\n"),
        r"\[grid\] seed must be a list of values \(e.g. seed = \[3\]\)",
    ),
    (
        "table in a grid list",
        tiny("[grid]\nsize = [{a = 1}]\n"),
        r"\[grid\] size: expected an integer, got \{a = 1\} \(a table\)",
    ),
    (
        "list for content",
        tiny('[grid]\ncontent = [["a.png", "b.png"]]\n'),
        r"\[grid\] content: expected an image path or example:NAME \(one image\)",
    ),
    ("number for style", tiny(base="style = 3"), r"\[base\] style: expected an image path"),
    ("empty content", tiny(base='content = ""'), r"\[base\] content: expected an image path"),
    (
        "blend with a number",
        tiny(base='style = ["example:strokes", 3]'),
        r"a blend of styles is a list",
    ),
    (
        "boolean for an int",
        tiny("[grid]\nsteps = [true]\n"),
        r"\[grid\] steps: expected an integer, got true \(a boolean\)",
    ),
    ("float for an int", tiny("[grid]\nsteps = [2.0]\n"), r"write 2, without the decimal point"),
    ("string for a boolean", tiny(base='multiscale = "false"'), r"write false, without quotes"),
    (
        "nested arrays",
        tiny("[grid]\nseed = [[1]]\n"),
        r"\[grid\] seed: expected an integer, got \[1\] \(a list\)",
    ),
    ("a date", tiny("[grid]\nseed = [1979-05-27]\n"), r"got 1979-05-27 \(a date\)"),
    ("a date-time", tiny("[grid]\nlr = [1979-05-27T07:32:00Z]\n"), r"\(a date-time\)"),
    ("a time", tiny(base="steps = 07:32:00"), r"got 07:32:00 \(a time\)"),
    (
        "empty layer list",
        tiny("[grid]\ncontent_layers = [[]]\n"),
        r"expected a non-empty list of strings",
    ),
    (
        "number in a layer list",
        tiny("[grid]\ncontent_layers = [[1]]\n"),
        r"expected a string, got 1 \(an integer\)",
    ),
    ("nan", tiny("[grid]\nlr = [nan]\n"), r"run \(lr=nan\): --lr must be a finite number"),
    ("inf as text", tiny('[grid]\nlr = ["inf"]\n'), r"--lr must be a finite number"),
    ("huge size", tiny("[grid]\nsize = [100000]\n"), r"--size must be an integer from 16 to 8192"),
    ("negative seed", tiny("[grid]\nseed = [-1]\n"), r"--seed must be an integer from 0"),
    (
        "blend of the wrong length",
        tiny("[grid]\nstyle_blend = [[1, 2]]\n"),
        r"run 1: style_blend has 2 weights for 1 style images",
    ),
    ("unknown optimizer", tiny("[grid]\noptimizer = ['lbfgs', 'newton']\n"), r"newton"),
    ("unknown backbone", tiny(base='backbone = "vgg99"'), r"unknown backbone 'vgg99'"),
    ("unknown layer", tiny("[grid]\ncontent_layers = ['relu9_9']\n"), r"relu9_9"),
    # [sweep] settings
    ("sweep is not a table", "sweep = 3\n", r"\[sweep\] must be a table, got 3 \(an integer\)"),
    ("runs is not an array of tables", tiny(top="runs = 3\n"), r"runs must be an array of tables"),
    (
        "boolean for a number",
        tiny(sweep="cpus_per_run = true"),
        r"\[sweep\] cpus_per_run must be a number from 0 to 1024, got true",
    ),
    (
        "evaluate_size too large",
        tiny(sweep="evaluate_size = 100000"),
        r"\[sweep\] evaluate_size must be an integer from 16 to 8192",
    ),
    (
        "yardsticks unknown",
        tiny(sweep='yardsticks = ["vgg", "lpips"]'),
        r"\[sweep\] yardsticks must be a list of distinct names from vgg, texture",
    ),
    ("yardsticks empty", tiny(sweep="yardsticks = []"), r"\[sweep\] yardsticks must be a list"),
    (
        "yardsticks a string",
        tiny(sweep='yardsticks = "texture"'),
        r"\[sweep\] yardsticks must be a list .*got \"texture\" \(a string\)",
    ),
    (
        "yardsticks twice the same",
        tiny(sweep='yardsticks = ["vgg", "vgg"]'),
        r"\[sweep\] yardsticks must be a list of distinct names",
    ),
    (
        "threads too many",
        tiny(sweep="threads = 100000000000"),
        r"\[sweep\] threads must be an integer from 0 to 1024",
    ),
    (
        "timeout overflows a timer",
        tiny(sweep="timeout_s = 1e300"),
        r"\[sweep\] timeout_s must be a number from 0 to 1e\+07",
    ),
    ("timeout inf", tiny(sweep="timeout_s = inf"), r"\[sweep\] timeout_s must be a number"),
    (
        "name over two lines",
        tiny(sweep='name = "a\\nb"'),
        r'\[sweep\] name must be one line .*got "a\\nb"',
    ),
    # how many runs
    (
        "empty grid list",
        tiny("[grid]\nseed = []\n"),
        r"\[grid\] seed is an empty list, which makes no runs",
    ),
    ("a million runs", tiny(MILLION), r"1,000,000 runs is more than 200; .*pass --yes"),
    (
        "201 runs",
        tiny("[grid]\nseed = [" + ", ".join(map(str, range(201))) + "]\n"),
        r"201 runs is more than 200",
    ),
    # images
    (
        "missing image",
        tiny(base='content = "nothere.png"'),
        r"content: .*/nothere.png: no such file",
    ),
    (
        "relative to the sweep file",
        tiny(base='content = "rel.png"'),
        r"content: .*/cases/rel.png: no such file",
    ),
    (
        "missing mask, before any run",
        tiny(base='mask = "nomask.png"\nregion_style = "#ff0000=0"'),
        r"mask: .*/cases/nomask.png: no such file",
    ),
    (
        "mask of hundreds of colours, before any run",
        tiny(base='mask = "noisy_mask.png"\nregion_style = "#ff0000=0"'),
        r"mask: .*noisy_mask.png: \d+ distinct colours; a mask names at most 16",
    ),
    (
        "image is a folder",
        tiny(base='content = "adir"'),
        r"content: .*adir: is a directory, not an image",
    ),
    ("image is a FIFO", tiny(base='style = "fifo"'), r"style: .*fifo: not a regular file"),
    (
        "image is /dev/zero",
        tiny(base='style = "/dev/zero"'),
        r"style: /dev/zero: not a regular file",
    ),
    ("image is text", tiny(base='style = "text.png"'), r"style: .*text.png: not an image"),
    ("image is empty", tiny(base='style = "zero.png"'), r"style: .*zero.png: "),
    ("image is truncated", tiny(base='content = "truncated.png"'), r"content: .*truncated.png: "),
    ("init is a FIFO", tiny("[grid]\ninit = ['fifo']\n"), r"init: .*fifo: not a regular file"),
    (
        "unknown example",
        tiny(base='content = "example:nope"'),
        r"content: unknown example \"example:nope\"",
    ),
    # weights
    ("weights missing", tiny(base='weights = "nothere.pt"'), r'weights "nothere.pt": no such file'),
    (
        "weights typo",
        tiny(base='weights = "pretrianed"'),
        r"no such file \(did you mean pretrained\?\)",
    ),
    (
        "weights a folder",
        tiny(base='weights = "adir"'),
        r"weights: .*adir: is a folder, not a weights file",
    ),
    ("weights a FIFO", tiny(base='weights = "fifo"'), r"weights: .*fifo: is a FIFO"),
    ("weights /dev/zero", tiny(base='weights = "/dev/zero"'), r"weights: /dev/zero: is a device"),
    (
        "weights text",
        tiny(base='weights = "text.pt"'),
        r"weights: .*text.pt: not a weights file \(a text file\)",
    ),
    (
        "weights a pickle",
        tiny(base='weights = "evil.pt"'),
        r"evil.pt: not a PyTorch weights file \(it is a plain Python pickle",
    ),
    (
        "weights a pickle in torch.save",
        tiny(base='weights = "evil_torch.pt"'),
        r"evil_torch.pt: not a PyTorch weights file \(it holds pickled Python objects",
    ),
    (
        "weights of another model",
        tiny(base='weights = "other_model.pt"'),
        r"other_model.pt: weights for another network",
    ),
]


@pytest.fixture(scope="module")
def cases_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile") / "cases"
    folder.mkdir()
    hostile_files(folder)
    return folder


@pytest.mark.parametrize(
    ("text", "pattern"), [c[1:] for c in HOSTILE_TOML], ids=[c[0] for c in HOSTILE_TOML]
)
def test_a_hostile_sweep_file_is_one_line_and_no_rundir(
    cases_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    pattern: str,
) -> None:
    marker = tmp_path / "code-ran"
    monkeypatch.setenv("STYLELAB_TEST_MARKER", str(marker))
    config = cases_dir / f"case-{abs(hash(text))}.toml"
    config.write_text(text)
    rundir = tmp_path / "out"
    started = time.monotonic()
    assert main(["sweep", str(config), "-o", str(rundir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("stylelab: error: "), err
    assert re.search(pattern, err), err
    assert not rundir.exists()
    assert not marker.exists()  # no code from a file ran
    assert time.monotonic() - started < 30


def test_a_byte_order_mark_is_read_and_non_utf8_or_huge_files_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + tiny().encode())
    assert len(load_sweep(bom).runs) == 1
    latin = tmp_path / "latin.toml"
    latin.write_bytes(tiny(sweep='name = "caf\xe9"').encode("latin-1"))
    huge = tmp_path / "huge.toml"
    huge.write_bytes(tiny().encode() + b"# " + b"x" * 10_000_000 + b"\n")
    for path, pattern in (
        (latin, r"latin.toml: not UTF-8 text \(byte \d+\); TOML is UTF-8"),
        (huge, r"huge.toml: too large for a sweep file \(over 1024 KiB\)"),
        (tmp_path, r"is a directory, not a sweep file"),
        (Path("/dev/zero"), r"/dev/zero: not a regular file"),
        (tmp_path / "none.toml", r"none.toml: no such file"),
    ):
        assert main(["sweep", str(path), "-o", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and re.search(pattern, err), err
        assert not (tmp_path / "out").exists()


def test_a_grid_of_millions_is_counted_before_it_is_built(tmp_path: Path) -> None:
    body = "[grid]\n" + "".join(
        f"{key} = [{', '.join(str(v) for v in range(1, 1001))}]\n"
        for key in ("seed", "steps", "content_weight")
    )
    path = write(tmp_path, body)
    for max_runs, pattern in ((200, "--yes"), (100_000, "even with --yes")):
        started = time.monotonic()
        with pytest.raises(StylelabError, match=pattern):
            load_sweep(path, max_runs)
        assert time.monotonic() - started < 2


def test_duplicate_runs_run_once(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, "[grid]\nseed = [1, 1]\n[[runs]]\nseed = 1\n"))
    assert len(sweep.runs) == 1


def test_relative_paths_are_relative_to_the_sweep_file(cases_dir: Path, tmp_path: Path) -> None:
    config = cases_dir / "sub" / "relative.toml"
    config.write_text(tiny(base='content = "rel.png"\ninit = "../ok.png"'))
    sweep = load_sweep(config)
    assert sweep.runs[0].params["content"] == "rel.png"
    assert str(cases_dir / "sub" / "rel.png") in input_files(sweep)
    assert str(cases_dir / "ok.png") in input_files(sweep)


# --- hostile RUNDIRs and flags: refused before anything is written -------------------


def snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(folder.rglob("*"))
        if not p.is_fifo()
    }


def test_hostile_rundirs_and_flags_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Image.new("RGB", (40, 32), (10, 200, 10)).save(tmp_path / "photo.png")
    config = tmp_path / "s.toml"
    config.write_text(tiny(base='content = "photo.png"'))
    sweep = load_sweep(config)

    def sweep_folder(name: str, fingerprint: str, summary: str | None = None) -> Path:
        folder = tmp_path / name
        (folder / "runs").mkdir(parents=True)
        (folder / "sweep.json").write_text(json.dumps({"fingerprint": fingerprint}))
        header = ",".join(summary_columns()) + "\n"
        (folder / SUMMARY).write_text(header if summary is None else summary)
        return folder

    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / SUMMARY).write_text("name,score\nalice,3\n")
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "sweep.toml").write_text(config.read_text())
    Image.new("RGB", (40, 32)).save(tmp_path / "here" / "photo.png")
    (tmp_path / "inside" / "runs").mkdir(parents=True)
    (tmp_path / "inside" / "runs" / "s.toml").write_text(config.read_text())
    Image.new("RGB", (40, 32)).save(tmp_path / "inside" / "runs" / "photo.png")
    other = sweep_folder("other", "0" * 16)
    damaged = sweep_folder("damaged", sweep.fingerprint())
    (damaged / "sweep.json").write_text("[1, 2")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    row = {c: "" for c in summary_columns()} | {"run_id": "../../victim", "status": "failed"}
    text = ",".join(summary_columns()) + "\n" + ",".join(row.values()) + "\n"
    tampered = sweep_folder("tampered", sweep.fingerprint(), text)
    foreign = sweep_folder("foreign", sweep.fingerprint(), "a,b\n1,2\n")
    latin = sweep_folder("latin", sweep.fingerprint())
    (latin / SUMMARY).write_bytes(b"run_id,index,status\n\xff\xfe,1,done\n")
    fifo = sweep_folder("fifo", sweep.fingerprint())
    (fifo / SUMMARY).unlink()
    os.mkfifo(fifo / SUMMARY)
    (tmp_path / "loop").symlink_to("loop")
    report_dir = sweep_folder("report_dir", sweep.fingerprint())
    (report_dir / "index.html").mkdir()
    locked = sweep_folder("locked", sweep.fingerprint())
    (locked / ".lock").symlink_to(tmp_path / "afile")

    s = str(config)
    cases = [
        (["-o", s], r"s.toml: exists and is not a folder"),
        (["-o", str(tmp_path / "photo.png")], r"photo.png: exists and is not a folder"),
        (["-o", str(tmp_path / "afile")], r"afile: exists and is not a folder"),
        (["-o", str(tmp_path / "afile" / "x")], r"afile is a file, not a folder"),
        (["-o", ""], r"an empty folder name"),
        (["-o", str(tmp_path / "plain")], r"plain: not empty and holds no sweep"),
        (["-o", str(tmp_path / "mine")], r"mine: not empty and holds no sweep"),
        (["-o", str(tmp_path / "plain"), "--resume"], r"plain: not empty and holds no sweep"),
        (["-o", str(other)], r"other: holds a different sweep"),
        (["-o", str(tmp_path / "loop")], r"loop: a broken symbolic link"),
        (["-o", str(report_dir), "--resume"], r"index.html: is a folder"),
        (["-o", str(other), "--resume"], r"other: holds a different sweep"),
        (["-o", str(damaged), "--resume"], r"sweep.json: damaged"),
        (
            ["-o", str(tampered), "--resume", "--retry-failed"],
            r"run_id '../../victim' is not a run of this sweep",
        ),
        (
            ["-o", str(foreign), "--resume"],
            r"not a sweep summary \(its header has no run_id, index, status columns\)",
        ),
        (["-o", str(latin), "--resume"], r"summary.csv: not UTF-8 text"),
        (["-o", str(fifo), "--resume"], r"summary.csv: not a regular file"),
        (["-o", str(locked), "--resume"], r".lock: a symbolic link"),
        (
            ["-o", str(sweep_folder("same", sweep.fingerprint()))],
            r"already holds this sweep; pass --resume",
        ),
        (["-o", str(tmp_path / "new"), "--retry-failed"], r"--retry-failed needs --resume"),
        (
            ["-o", str(tmp_path / "new"), "--jobs", "0"],
            r"--jobs must be an integer from 1 to 256, got 0",
        ),
        (["-o", str(tmp_path / "new"), "--jobs", "-1"], r"--jobs must be an integer from 1 to 256"),
        (
            ["-o", str(tmp_path / "new"), "--jobs", str(10**30)],
            r"--jobs must be an integer from 1 to 256",
        ),
        (["-o", str(tmp_path / "new"), "--executor", "ray", "--ray-address", "bogus"], r"Ray"),
    ]
    here = str(tmp_path / "here" / "sweep.toml")
    inside = str(tmp_path / "inside" / "runs" / "s.toml")
    before = snapshot(tmp_path)
    for args, pattern in [
        *((["sweep", s, *a], p) for a, p in cases),
        (["sweep", here, "-o", str(tmp_path / "here")], r"sweep.toml: is an input"),
        (
            ["sweep", inside, "-o", str(tmp_path / "inside")],
            r"is inside .*runs, where the sweep replaces",
        ),
    ]:
        assert main([*args, "--quiet"]) == 2, args
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and err.startswith("stylelab: error: "), (args, err)
        assert re.search(pattern, err), (args, err)
        assert snapshot(tmp_path) == before, args  # nothing created, changed or removed
    assert not (tmp_path / "new").exists()
    assert (victim / "keep.txt").read_text() == "precious"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_place_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path, "")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        assert main(["sweep", str(config), "-o", str(tmp_path / "ro" / "out")]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_devices_and_memory_are_checked_before_the_rundir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    cases = [("size = [8192]\nsteps = [1]", r"run 1: --size 8192 needs about \d+ GB")]
    if not torch.cuda.is_available():
        cases.append(("device = ['cpu', 'cuda']", r"run 2 \(device=cuda\): --device cuda: no CUDA"))
    for grid, pattern in cases:
        config = write(tmp_path, f"[grid]\n{grid}\n")
        assert main(["sweep", str(config), "-o", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and re.search(pattern, err), err
        assert not (tmp_path / "out").exists()


def test_sigterm_stops_like_ctrl_c_and_resume_finishes(tmp_path: Path) -> None:
    config = write(tmp_path, "[grid]\nseed = [0, 1, 2]\n")
    sweep = load_sweep(config)
    rundir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "stylelab.cli", "sweep", str(config), "-o", str(rundir)]
    proc = subprocess.Popen(
        [*command, "--quiet", "--no-report", "--jobs", "2"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (rundir / SUMMARY).is_file() and len(recorded_ids(rundir / SUMMARY)) >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)  # the runs in flight are ended, not awaited
    assert proc.returncode == 143
    assert len(err.splitlines()) == 1, err
    assert re.match(r"stylelab: interrupted \(SIGTERM\): \d of 3 runs recorded in .*--resume", err)
    if sys.platform.startswith("linux"):
        assert not _workers_in(rundir)
    before = rows(rundir)
    assert 1 <= len(before) < 3 and all(r["status"] == "done" for r in before)
    assert main(["sweep", str(config), "-o", str(rundir), "--resume", "--quiet"]) == 0
    after = rows(rundir)
    assert sorted(r["run_id"] for r in after) == sorted(r.run_id for r in sweep.runs)
    assert after[: len(before)] == before

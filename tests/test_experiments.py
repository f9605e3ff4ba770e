"""Sweeps: the TOML is checked up front, runs are isolated, and SIGKILL + --resume loses
and duplicates nothing. Runs are tiny (32 px, 3 steps, random weights)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stylelab.cli import main
from stylelab.errors import StylelabError
from stylelab.experiments.config import load_sweep, parse_sweep
from stylelab.experiments.runner import SUMMARY, recorded_ids, run_sweep

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
        ({"base": {**BASE, "stepz": 3}}, "'stepz'"),
        ({"base": BASE, "grid": {"steps": ["many"]}}, "[grid] steps"),
        ({"base": BASE, "grid": {"steps": 3}}, "[grid] steps"),
        ({"base": BASE, "grid": {"optimizer": ["lbfgs", "newton"]}}, "newton"),
        ({"base": BASE, "grid": {"size": [8]}}, "--size"),
        ({"base": BASE, "grid": {"content_layers": ["relu9_9"]}}, "relu9_9"),
        ({"base": BASE, "grid": {"style": ["missing.png"]}}, "missing.png"),
        ({"base": BASE, "grid": {"content": ["example:nope"]}}, "example:nope"),
        ({"base": BASE, "grid": {"backbone": ["vgg99"]}}, "vgg99"),
        ({"base": BASE, "sweep": {"jobs": 2}}, "'jobs'"),
        ({"base": BASE, "sweep": {"evaluate_size": "big"}}, "evaluate_size"),
        ({"base": BASE, "extra": {"x": 1}}, "'extra'"),
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
    (tmp_path / "bad.pt").write_bytes(b"not a state dict")
    body = '[grid]\nweights = ["random", "bad.pt"]\n'
    sweep = load_sweep(write(tmp_path, body, evaluate="true"))
    rundir = tmp_path / "run"
    outcome = run_sweep(sweep, rundir, report=False)
    assert outcome.ran == 2 and not outcome.ok
    table = {r["weights"]: r for r in rows(rundir)}
    good, bad = table["random"], table["bad.pt"]
    assert good["status"] == "done" and not good["error"]
    assert float(good["style_distance"]) > 0 and float(good["content_distance"]) > 0
    assert float(good["loss_total"]) > 0 and good["iterations"] == "3"
    assert float(good["peak_rss_mb"]) > 50 and float(good["wall_time_s"]) > 0
    folder = rundir / "runs" / good["run_id"]
    for name in ("output.png", "output.csv", "output.json", "record.json"):
        assert (folder / name).is_file()
    assert bad["status"] == "failed" and "bad.pt" in bad["error"]

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
    assert [r["status"] for r in after if r["weights"] == "bad.pt"] == ["failed"]
    assert b"\r" not in (rundir / SUMMARY).read_bytes()


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
    try:
        sweep = load_sweep(path)
    except StylelabError as exc:
        if any(name in str(exc) for name in PENDING):
            pytest.skip(f"{path.name} needs a feature not in this build: {exc}")
        raise
    assert all(run.config.size <= 128 for run in sweep.runs)
    assert sweep.settings.name
    if path.stem == "optimizers":
        from stylelab.optim import list_optimizers

        assert sorted(r.config.optimizer for r in sweep.runs) == sorted(list_optimizers())

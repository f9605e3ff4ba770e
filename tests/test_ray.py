"""The Ray executor: a local Ray instance (2 CPUs) runs a 4-run sweep into one summary."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from stylelab.experiments.config import load_sweep
from stylelab.experiments.runner import SUMMARY, run_sweep

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'stylelab[ray]')")

SWEEP = """
[sweep]
evaluate_size = 32
[base]
content = "example:chelsea"
style = "example:strokes"
size = 32
steps = 3
weights = "random"
[grid]
optimizer = ["lbfgs", "adam"]
seed = [0, 1]
"""


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_a_sweep_runs_on_ray_and_resumes(tmp_path: Path, local_ray: None) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    sweep = load_sweep(path)
    rundir = tmp_path / "run"
    outcome = run_sweep(sweep, rundir, executor="ray", report=False)
    assert outcome.ran == 4 and outcome.ok
    with open(rundir / SUMMARY, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["run_id"] for r in rows) == sorted(r.run_id for r in sweep.runs)
    for row in rows:
        assert row["status"] == "done", row["error"]
        assert float(row["style_distance"]) > 0 and float(row["peak_rss_mb"]) > 0
        folder = rundir / "runs" / row["run_id"]
        for name in ("output.png", "output.csv", "output.json", "record.json"):
            assert (folder / name).is_file(), name
    again = run_sweep(sweep, rundir, executor="ray", resume=True, report=False)
    assert again.ran == 0 and again.skipped == 4

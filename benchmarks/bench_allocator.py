"""glibc's malloc as it comes against stylelab's settings (:mod:`stylelab.allocator`), on
the command line, whole process, rounds interleaved (default, settings, default, ...):

- ``stylelab stylize PHOTO PAINTING`` (its defaults: 300 L-BFGS steps, 128/256/512 px);
- ``stylelab instant PHOTO PAINTING --refine 25`` (PyTorch, 25 full-size steps).

    PYTHONPATH=src python benchmarks/bench_allocator.py [--repeats 2] [--steps 300] [--size 512]

"glibc default" runs with ``STYLELAB_ALLOCATOR=system``. Prints wall seconds, the run's
own seconds (OUT.json) and peak RSS of each, and the ratios (settings / default).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_model, inputs, interleave, median, table  # noqa: E402
from bench_fast import REPO, command, load_average, run_process  # noqa: E402

from stylelab.allocator import _USER_SETTINGS, ENV  # noqa: E402

CONTENDERS = {"glibc default": "system", "stylelab's settings": ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="rounds (default 2)")
    parser.add_argument("--steps", type=int, default=300, help="stylize's steps (default 300)")
    parser.add_argument("--size", type=int, default=512, help="longer edge, px (default 512)")
    args = parser.parse_args()
    if not 1 <= args.repeats <= 20 or not 1 <= args.steps <= 3000 or not 64 <= args.size <= 4096:
        raise SystemExit("bench_allocator: --repeats 1..20, --steps 1..3000, --size 64..4096")
    with tempfile.TemporaryDirectory(prefix="stylelab-bench-allocator-") as work:
        run(args, Path(work))


def run(args: argparse.Namespace, work: Path) -> None:
    photo, painting = inputs(work)
    cli = command("stylelab")
    # neither contender inherits the user's malloc settings (they would turn ours off)
    tuned = (*_USER_SETTINGS, "GLIBC_TUNABLES", ENV)
    base = {k: v for k, v in os.environ.items() if k not in tuned}
    base["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src")] + ([base["PYTHONPATH"]] if base.get("PYTHONPATH") else [])
    )
    workloads = {
        f"stylize ({args.steps} steps)": ["stylize", "--steps", str(args.steps)],
        "instant --refine 25": ["instant", "--refine", "25", "--runtime", "torch"],
    }
    size = ["--size", str(args.size)]
    print(f"CPU: {cpu_model()}; load average at start {load_average()}", flush=True)
    rows = []
    for workload, options in workloads.items():
        records: dict[str, list[dict[str, float]]] = {name: [] for name in CONTENDERS}

        def contender(
            name: str, value: str, options: list[str] = options, records: dict = records
        ) -> Callable[[], float]:
            env = dict(base, **({ENV: value} if value else {}))
            out = work / f"{options[0]}_{value or 'stylelab'}.png"

            def call() -> float:
                for suffix in (".png", ".json", ".csv"):
                    out.with_suffix(suffix).unlink(missing_ok=True)
                argv = [cli, options[0], str(photo), str(painting), *options[1:], *size]
                wall = run_process([*argv, "-o", str(out), "--quiet"], env)
                info = json.loads(out.with_suffix(".json").read_text())
                seconds = info.get("seconds", info.get("wall_time_s"))
                records[name].append({"seconds": seconds, "rss": info["peak_rss_mb"]})
                return wall

            return call

        contenders = {name: contender(name, value) for name, value in CONTENDERS.items()}
        walls = interleave(contenders, args.repeats)
        default = next(iter(CONTENDERS))
        for name in CONTENDERS:
            seconds = median([r["seconds"] for r in records[name]])
            rss = median([r["rss"] for r in records[name]])
            reference = median([r["seconds"] for r in records[default]])
            rows.append([workload, name, median(walls[name]), seconds, seconds / reference, rss])
        print(f"done: {workload} (load average {load_average()})", flush=True)
    print()
    print(
        f"whole process, {args.size} px, medians of {args.repeats} interleaved rounds; "
        f"photo {photo.name}, painting {painting.name}"
    )
    print()
    header = ["run", "malloc", "wall s", "run s (OUT.json)", "run s / default's", "peak RSS MB"]
    print(table(header, rows))
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()

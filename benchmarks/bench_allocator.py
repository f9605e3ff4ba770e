"""glibc's malloc as it comes against stylelab's settings (:mod:`stylelab.allocator`), on
the command line, whole process, rounds interleaved (default, settings, default, ...):

- ``stylelab stylize PHOTO PAINTING`` (its defaults: 300 L-BFGS steps, 128/256/512 px);
- ``stylelab instant PHOTO PAINTING --refine 25`` (PyTorch, 25 full-size steps).

    PYTHONPATH=src python benchmarks/bench_allocator.py [--repeats 2] [--steps 300] [--size 512]
        [--load N]

"glibc default" runs with ``STYLELAB_ALLOCATOR=system``. With ``--load N`` each round runs
again beside N busy processes (``_common.busy_load``). Prints wall seconds, the run's own
seconds (OUT.json) and peak RSS of each, and the ratios (settings / default).
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
from _common import cpu_model, inputs, median, quiet_and_loaded, table  # noqa: E402
from bench_fast import REPO, command, load_average, run_process  # noqa: E402

from stylelab.allocator import DECIDING_VARIABLES, ENV  # noqa: E402

CONTENDERS = {"glibc default": "system", "stylelab's settings": ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="rounds (default 2)")
    parser.add_argument("--steps", type=int, default=300, help="stylize's steps (default 300)")
    parser.add_argument("--size", type=int, default=512, help="longer edge, px (default 512)")
    parser.add_argument("--load", type=int, default=0, help="busy processes beside (default 0)")
    args = parser.parse_args()
    if not 1 <= args.repeats <= 20 or not 1 <= args.steps <= 3000 or not 64 <= args.size <= 4096:
        raise SystemExit("bench_allocator: --repeats 1..20, --steps 1..3000, --size 64..4096")
    if not 0 <= args.load <= 16:
        raise SystemExit("bench_allocator: --load must be from 0 to 16")
    with tempfile.TemporaryDirectory(prefix="stylelab-bench-allocator-") as work:
        run(args, Path(work))


def run(args: argparse.Namespace, work: Path) -> None:
    photo, painting = inputs(work)
    cli = command("stylelab")
    # neither contender inherits the user's malloc settings (they would turn ours off)
    base = {k: v for k, v in os.environ.items() if k not in DECIDING_VARIABLES}
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
        walls = quiet_and_loaded(contenders, args.repeats, args.load)
        # each round calls every contender quiet, then (with --load) loaded: their records
        # alternate in that order
        phases = ["quiet"] + ([f"load {args.load}"] if args.load else [])
        default = next(iter(CONTENDERS))
        for index, phase in enumerate(phases):
            kept = {n: r[index :: len(phases)] for n, r in records.items()}
            reference = median([r["seconds"] for r in kept[default]])
            for name in CONTENDERS:
                seconds = median([r["seconds"] for r in kept[name]])
                rss = median([r["rss"] for r in kept[name]])
                wall = median(walls[(name, phase)])
                rows.append([workload, phase, name, wall, seconds, seconds / reference, rss])
        print(f"done: {workload} (load average {load_average()})", flush=True)
    print()
    print(
        f"whole process, {args.size} px, medians of {args.repeats} interleaved rounds; "
        f"photo {photo.name}, painting {painting.name}"
    )
    print()
    header = ["run", "added load", "malloc", "wall s", "run s (OUT.json)", "run s / default's"]
    header += ["peak RSS MB"]
    print(table(header, rows))
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()

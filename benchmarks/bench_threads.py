"""PyTorch's threads under contention: ``stylelab apply --runtime torch`` on a folder, whole
process, with 1 or 2 intra-op threads and OpenMP's ACTIVE or PASSIVE wait policy, quiet and
beside ``--load N`` busy processes, interleaved (quiet round, loaded round, ...).

    PYTHONPATH=src python benchmarks/bench_threads.py --load 2 [--images 6] [--repeats 2]

This decides :data:`stylelab.threads.WAIT_POLICY` and the thread count of
:func:`stylelab.threads.configure_torch_threads` (docs/performance.md). "quiet" means no
added load: the machine may still be shared (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_model, median, quiet_and_loaded, table  # noqa: E402
from bench_fast import (  # noqa: E402
    REPO,
    command,
    fresh_model,
    load_average,
    run_process,
    write_folder,
)

VARIANTS = {  # name -> (OMP_NUM_THREADS, OMP_WAIT_POLICY)
    "2 threads, active wait": ("2", "ACTIVE"),
    "2 threads, passive wait": ("2", "PASSIVE"),
    "1 thread, active wait": ("1", "ACTIVE"),
    "1 thread, passive wait": ("1", "PASSIVE"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", type=int, default=2, help="busy processes (default 2)")
    parser.add_argument("--images", type=int, default=6, help="photos at 1024 px (default 6)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds (default 2)")
    args = parser.parse_args()
    if not 0 <= args.load <= 16:
        raise SystemExit("bench_threads: --load must be from 0 to 16")
    work = Path(tempfile.mkdtemp(prefix="stylelab-bench-threads-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    model = fresh_model("compact", ["style_0", "style_1"], work)
    folder = work / "folder"
    write_folder(folder, args.images, 1024)
    cli = command("stylelab")
    base = dict(os.environ)
    base["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), base.get("PYTHONPATH", "")])

    def contender(threads: str, policy: str):
        env = dict(base, OMP_NUM_THREADS=threads, OMP_WAIT_POLICY=policy)
        out = work / f"out_{threads}_{policy}"

        def call() -> float:
            shutil.rmtree(out, ignore_errors=True)
            argv = [cli, "apply", str(model), str(folder), "-o", str(out), "--runtime", "torch"]
            return run_process([*argv, "--style", "0", "--quiet"], env)

        return call

    contenders = {name: contender(*setting) for name, setting in VARIANTS.items()}
    print(f"CPU: {cpu_model()}; load average at start {load_average()}", flush=True)
    times = quiet_and_loaded(contenders, args.repeats, args.load)
    loaded = f"load {args.load}"
    rows = []
    for name in VARIANTS:
        quiet, busy = times[(name, "quiet")], times.get((name, loaded), [float("nan")])
        rows.append([name, min(quiet), median(quiet), min(busy), median(busy)])
    print()
    print(
        f"`stylelab apply --runtime torch` (compact, {args.images} photos at 1024 px, whole "
        f"process, precision auto), best and median of {args.repeats} interleaved rounds; "
        f"'quiet' = no added load on a shared machine, '{loaded}' = {args.load} busy processes "
        "beside it"
    )
    print()
    print(
        table(
            ["variant", "quiet best s", "quiet median s", f"{loaded} best s", f"{loaded} median s"],
            rows,
        )
    )
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()

"""``stylelab sweep`` and ``stylelab report``: thin layers over the runner and the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from stylelab.cli.common import csv_of
from stylelab.errors import StylelabError
from stylelab.safety import one_line


def add_commands(sub: Any) -> None:
    """Register the sweep and report subcommands on the CLI's subparsers."""
    sweep = sub.add_parser(
        "sweep",
        help="run a grid of stylizations from a TOML file (resumable; summary.csv, report)",
        description="Run every combination in CONFIG.toml ([base], [grid], [[runs]], [sweep]) "
        "into RUNDIR: one folder per run, one row per run in RUNDIR/summary.csv, then "
        "RUNDIR/index.html. Each run is its own process; a failing run is recorded and the "
        "sweep goes on.",
    )
    sweep.add_argument("config", metavar="CONFIG.toml", help="sweep file")
    sweep.add_argument("-o", "--output", required=True, metavar="RUNDIR", help="output folder")
    sweep.add_argument(
        "--resume", action="store_true", help="continue a sweep in RUNDIR; skip finished runs"
    )
    sweep.add_argument(
        "--retry-failed",
        action="store_true",
        help="with --resume: run again the runs recorded as failed (or not done)",
    )
    sweep.add_argument("--jobs", type=int, default=1, metavar="N", help="parallel local runs")
    sweep.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="default: local"
    )
    sweep.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Ray cluster to use (e.g. auto, ray://host:10001); default: a local Ray instance",
    )
    sweep.add_argument("--no-report", action="store_true", help="skip the figures at the end")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--yes", action="store_true", help="run sweeps of more than 200 runs too")
    sweep.set_defaults(handler=cmd_sweep)

    report = sub.add_parser(
        "report",
        help="figures and index.html for a sweep's RUNDIR",
        description="Loss curves (per iteration and per second), a contact sheet of the "
        "outputs, bars of time and distances, and index.html with the summary table.",
    )
    report.add_argument("rundir", metavar="RUNDIR", help="a folder written by 'stylelab sweep'")
    report.add_argument(
        "--study",
        metavar="OUTDIR",
        help="instead: the robustness study's tables (bootstrap intervals, win counts, the "
        "paper's claims) and ranking plot of a backbone x smoothing sweep, every output "
        "scored by each --yardsticks, into OUTDIR (study_scores.csv, study_tables.md, "
        "study_ranking.png)",
    )
    report.add_argument(
        "--yardsticks",
        type=csv_of(str),
        default=None,
        metavar="A,B",
        help="with --study: vgg, texture (default: both)",
    )
    report.add_argument(
        "--eval-size",
        type=int,
        default=None,
        help="with --study: size of the scoring (default: each run's own size)",
    )
    report.add_argument(
        "--resamples",
        type=int,
        default=None,
        help="with --study: bootstrap resamples (default: 2000)",
    )
    report.add_argument("--quiet", action="store_true", help="with --study: no progress bar")
    report.set_defaults(handler=cmd_report)


def cmd_sweep(args: argparse.Namespace) -> int:
    from stylelab.experiments.config import MAX_RUNS, MAX_RUNS_WITH_YES, load_sweep
    from stylelab.experiments.runner import SweepInterrupted, check_jobs, run_sweep
    from stylelab.safety import check_new_folder, interrupted_exit_code, interruption

    check_jobs(args.jobs)
    if args.ray_address is not None and args.executor != "ray":
        raise StylelabError("--ray-address goes with --executor ray")
    if args.retry_failed and not args.resume:
        raise StylelabError(
            "--retry-failed needs --resume (it runs again the failed runs of the sweep "
            "already in RUNDIR)"
        )
    check_new_folder(args.output)
    sweep = load_sweep(args.config, MAX_RUNS_WITH_YES if args.yes else MAX_RUNS)
    check_inputs_are_not_outputs(args.config, sweep, args.output)
    try:
        outcome = run_sweep(
            sweep,
            args.output,
            resume=args.resume,
            retry_failed=args.retry_failed,
            jobs=args.jobs,
            executor=args.executor,
            ray_address=args.ray_address,
            progress=not args.quiet,
            report=not args.no_report,
        )
    except SweepInterrupted as stop:
        done = stop.outcome.ran + stop.outcome.skipped
        print(
            one_line(
                f"stylelab: interrupted ({interruption()}): {done} of {stop.outcome.total} "
                f"runs recorded in {stop.outcome.rundir}/summary.csv, the runs in flight "
                "were stopped; add --resume to the same command to finish"
            ),
            file=sys.stderr,
        )
        return interrupted_exit_code()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.statuses.items()))
    where = f"{outcome.rundir}/summary.csv"
    if not args.no_report:
        where += f" and {outcome.rundir}/index.html"
    print(
        one_line(
            f"sweep: {outcome.total} runs ({counts}; {outcome.ran} ran now, "
            f"{outcome.skipped} already finished); see {where}"
        ),
        file=sys.stderr,
    )
    return 0 if outcome.ok else 1


def check_inputs_are_not_outputs(config: str, sweep: Any, rundir: str) -> None:
    """Before RUNDIR is touched: none of the files the sweep writes there (its records, its
    report) is the sweep file or a file the runs read, and no input lies in RUNDIR/runs
    (where a run's leftovers are removed)."""
    from stylelab.experiments.inputs import input_files
    from stylelab.experiments.report import REPORT_FILES
    from stylelab.experiments.rundir import RUNS, SUMMARY, SWEEP_JSON, SWEEP_TOML
    from stylelab.safety import check_outputs, is_inside

    root = Path(rundir)
    for parent in root.absolute().parents:
        if (parent / SWEEP_JSON).is_file():
            raise StylelabError(
                f"{one_line(rundir)}: is inside the sweep folder {one_line(parent)}; "
                "choose a folder outside it"
            )
    inputs = [config, *input_files(sweep)]
    ours = [root / name for name in (SUMMARY, SWEEP_TOML, SWEEP_JSON, *REPORT_FILES)]
    check_outputs(ours, inputs, folders=[root])
    for source in inputs:
        if is_inside(Path(source), root / RUNS):
            raise StylelabError(
                f"{one_line(source)}: is inside {one_line(root / RUNS)}, where the sweep "
                "replaces its runs' files; copy it elsewhere first"
            )


def cmd_report(args: argparse.Namespace) -> int:
    from stylelab.experiments.report import make_report

    if not args.rundir:  # Path("") would read as "."
        raise StylelabError("RUNDIR is empty; give a sweep's output folder")
    study_only = {"--yardsticks": args.yardsticks, "--eval-size": args.eval_size}
    study_only["--resamples"] = args.resamples
    study_only["--quiet"] = args.quiet or None
    given = [flag for flag, value in study_only.items() if value is not None]
    if args.study is None and given:
        raise StylelabError(f"{', '.join(given)}: with --study OUTDIR only (the study's tables)")
    if args.study is not None:
        from stylelab.experiments.study import study_report
        from stylelab.limits import MAX_SIZE, MIN_SIZE

        if args.eval_size is not None and not MIN_SIZE <= args.eval_size <= MAX_SIZE:
            raise StylelabError(
                f"--eval-size must be from {MIN_SIZE} to {MAX_SIZE}, got {args.eval_size}"
            )
        chosen = {"yardsticks": args.yardsticks, "resamples": args.resamples}
        written = study_report(
            args.rundir,
            args.study,
            size=args.eval_size,
            progress=not args.quiet,
            **{name: value for name, value in chosen.items() if value is not None},
        )
        print(one_line("wrote " + ", ".join(map(str, written))), file=sys.stderr)
        return 0
    index = make_report(args.rundir)
    print(one_line(f"wrote {index}"), file=sys.stderr)
    return 0

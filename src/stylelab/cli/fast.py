"""``stylelab train``: fast (feed-forward) style transfer, the training side.

A thin layer over :mod:`stylelab.fast.training`: the loss flags come from
:class:`StylizeConfig`, like ``stylize``'s. Applying a model is :mod:`stylelab.cli.apply`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stylelab.cli.common import add_config_arguments, config_from_args, interrupted_exit_code
from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError
from stylelab.safety import (
    WriteFailed,
    check_outputs,
    disk_full,
    is_inside,
    lock_or_refuse,
    open_lock,
    undone_on_failure,
)

MODEL_SUFFIX = ".safetensors"


def add_commands(sub: Any) -> None:
    """Register ``train`` on the CLI's subparsers."""
    from stylelab.cli.common import defaults_of
    from stylelab.fast.config import ARCHITECTURE_NAMES, LOSS_DEFAULTS, LOSS_FIELDS, TrainConfig

    given = defaults_of(TrainConfig)

    train = sub.add_parser(
        "train",
        help="train a fast style network (one or several styles) on a folder of photos",
        description="Train a feed-forward network so that one forward pass stylizes a photo "
        "(Johnson et al. 2016, instance norm; several styles through conditional instance "
        "norm, Dumoulin et al. 2017). The loss is stylize's Gatys objective. Writes MODEL "
        "(.safetensors) and MODEL_train/: train.csv (every step), train.json, samples/ "
        "(held-out photo x every style), checkpoint.safetensors.",
    )
    train.add_argument("styles", nargs="+", metavar="STYLE", help="style image(s) or example:NAME")
    train.add_argument(
        "--data",
        default=given["data"],
        metavar="DIR",
        help="folder of training photos, searched recursively; example:photos = the built-in "
        f"photos, astronaut held out (default: {given['data']})",
    )
    train.add_argument("-o", "--output", required=True, metavar="MODEL", help="model.safetensors")
    train.add_argument(
        "--arch",
        choices=ARCHITECTURE_NAMES,
        default=given["architecture"],
        help="compact: phone-sized, ~30x cheaper; compact4: compact on a 4 px grid, about 3x its "
        f"time, steadier on video; johnson: the paper's (default: {given['architecture']})",
    )
    for name, kind, metavar, text in (
        ("train_size", int, "PX", "crop size"),
        ("batch_size", int, "N", "photos per step"),
        ("steps", int, "N", "training steps"),
        ("lr", float, "LR", "Adam's learning rate"),
    ):
        train.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=given[name],
            metavar=metavar,
            help=f"{text} (default: {given[name]})",
        )
    train.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        metavar="M",
        help="stop after M minutes of training with a finished model (whichever of --steps "
        "and --max-minutes comes first)",
    )
    train.add_argument(
        "--temporal-weight",
        type=float,
        default=given["temporal_weight"],
        metavar="W",
        help="weight of the warp-consistency term that makes video stable: the output of a "
        "slightly warped, noisy photo must equal the warped output (Wang et al. 2020); "
        f"0 turns it off (default: {given['temporal_weight']:g})",
    )
    for name in ("checkpoint_every", "sample_every"):
        train.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=given[name],
            metavar="N",
            help=f"default: {given[name]} steps",
        )
    train.add_argument(
        "--resume", action="store_true", help="continue from MODEL_train/checkpoint.safetensors"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    skip = [f.name for f in dataclasses.fields(StylizeConfig) if f.name not in LOSS_FIELDS]
    add_config_arguments(train, skip=skip, defaults=LOSS_DEFAULTS)
    train.set_defaults(handler=cmd_train, gradient_steps=True)


# ---------------------------------------------------------------------------------- train


def cmd_train(args: argparse.Namespace) -> int:
    from stylelab.fast.config import TrainConfig, default_loss
    from stylelab.fast.training import train, workdir_for

    loss = config_from_args(args, base=default_loss())
    config = TrainConfig(
        styles=tuple(args.styles),
        data=args.data,
        architecture=args.arch,
        train_size=args.train_size,
        batch_size=args.batch_size,
        steps=args.steps,
        lr=args.lr,
        max_minutes=args.max_minutes,
        checkpoint_every=args.checkpoint_every,
        sample_every=args.sample_every,
        temporal_weight=args.temporal_weight,
        loss=loss,
    )
    _check_training_memory(config)
    output = check_model_output(args.output)
    inputs = [Path(s) for s in args.styles if not s.startswith("example:")]
    check_outputs([output], inputs)
    check_records_outside_data(output, workdir_for(output), args.data)
    workdir = workdir_for(output)
    if workdir.exists() and not workdir.is_dir():
        raise StylelabError(f"{workdir}: exists and is not a folder (training records go there)")
    if (workdir / "samples").exists() and not (workdir / "samples").is_dir():
        raise StylelabError(f"{workdir / 'samples'}: exists and is not a folder")
    record_files = [workdir / n for n in ("train.csv", "train.json", "checkpoint.safetensors")]
    check_outputs(record_files, inputs)
    for path in record_files:
        if path.is_dir():
            raise StylelabError(f"{path}: is a folder; training writes a file there")
    with training_records(workdir, args.resume):
        result = train(config, output, resume=args.resume, progress=not args.quiet)
    summary = result.summary
    if result.model_path is None:  # a rank other than 0 of a distributed run
        return 0
    rate = f", {summary['images_per_s']:.2f} images/s"
    return report_training(result, output, workdir, rate, args.quiet)


#: The lock file in MODEL_train/ that one training run holds.
TRAINING_LOCK = ".lock"


@contextmanager
def training_records(workdir: Path, resume: bool) -> Iterator[None]:
    """The block runs holding ``workdir``'s lock, so that a second run with the same ``-o``
    is refused rather than overwrite the first's model and checkpoint; under it, a
    checkpoint of an earlier run needs ``--resume``. A run that fails leaves no folder or
    lock file it made (the lock file is removed while still held). In a distributed run
    rank 0 holds it; when rank 0 is refused, the other ranks wait for it until torch's
    rendezvous times out (torchrun then ends them)."""
    from stylelab.fast.training import training_rank

    path = workdir / TRAINING_LOCK
    with undone_on_failure() as made:
        lock, ours = None, False
        if training_rank() == 0:
            made.folder(workdir)
            new = not path.exists() and not path.is_symlink()
            lock = open_lock(path, "the training run")
        try:
            if lock is not None:
                busy = f"{workdir}: another training run is writing this model (the same -o)"
                lock_or_refuse(lock, busy)
                ours = new
            if not resume and (workdir / "checkpoint.safetensors").exists():
                raise StylelabError(
                    f"{workdir}: holds a checkpoint of an earlier run: add --resume to "
                    "continue it, or choose another -o"
                )
            try:
                yield
            except WriteFailed as exc:  # a full disk mid-run: what was saved before stays
                if not disk_full(exc) or not (workdir / "checkpoint.safetensors").is_file():
                    raise
                raise WriteFailed(
                    f"{exc}; the last checkpoint in {workdir} is whole: run the same command "
                    "with --resume when there is room",
                    exc.errno,
                ) from None
        except BaseException:
            if ours:
                path.unlink(missing_ok=True)  # before the lock is let go: never another's
            raise
        finally:
            if lock is not None:
                os.close(lock)


def report_training(result: Any, output: Path, workdir: Path, extra: str, quiet: bool) -> int:
    """The closing lines of a training run (skipped files, what was written) and its exit
    status; ``result`` has ``status``, ``step`` and ``summary``."""
    summary = result.summary
    skipped = summary["skipped_files"]
    if skipped:
        print(
            f"stylelab: skipped {len(skipped)} unreadable file(s): see {workdir}/train.json",
            file=sys.stderr,
        )
    message = (
        f"wrote {output} ({result.step} steps, {summary['training_time_s']:.0f} s{extra}; "
        f"records in {workdir})"
    )
    if result.status == "interrupted":
        print(f"stylelab: interrupted; {message}", file=sys.stderr)
        return interrupted_exit_code()
    if not quiet:
        note = " (time limit)" if result.status == "time limit" else ""
        print(message + note, file=sys.stderr)
    return 0


def _check_training_memory(config: Any) -> None:
    import math

    from stylelab.limits import FAST_TRAIN_BPP, check_bytes, memory_room

    def needed(batch: int, crop: int) -> float:
        return 1e9 + FAST_TRAIN_BPP * batch * crop * crop

    batch, crop = config.batch_size, config.train_size
    room = memory_room()
    fit_batch = max(0, int((room - 1e9) / (FAST_TRAIN_BPP * crop * crop)))
    fit_crop = math.isqrt(max(0, int((room - 1e9) / (FAST_TRAIN_BPP * batch))))
    advice = (
        f"--batch-size {fit_batch} or --train-size {fit_crop - fit_crop % 16} would fit"
        if fit_batch >= 1 and fit_crop >= 32
        else "use smaller --train-size and --batch-size"
    )
    check_bytes(needed(batch, crop), f"--train-size {crop} with --batch-size {batch}", advice)


def check_records_outside_data(
    output: Path, records: Path, data: str, flag: str = "--data", what: str = "photos"
) -> None:
    """One line if the model ``output`` or its ``records`` folder would lie inside the
    ``data`` folder (``flag``'s): its samples would become training ``what`` of the next run."""
    folder = Path(data)
    inside = [output.parent, records, output]
    if folder.is_dir() and any(is_inside(path, folder) for path in inside):
        raise StylelabError(
            f"{output}: its records ({records}) would be inside the {flag} folder {folder} "
            f"and its samples would become training {what}: write the model elsewhere"
        )


def check_model_output(path: str) -> Path:
    from stylelab.safety import check_writable_folder

    out = Path(path)
    if out.is_dir():
        raise StylelabError(f"{out}: is a directory; give a file name ending in {MODEL_SUFFIX}")
    if out.suffix.lower() != MODEL_SUFFIX:
        raise StylelabError(f"{out}: a model file ends in {MODEL_SUFFIX}")
    check_writable_folder(out.parent)
    return out

"""``stylelab instant`` and ``stylelab train-instant``: any painting in one forward pass.

Thin layers over :mod:`stylelab.adain`. The options that mean what they mean for
``stylize`` (--size, --style-scale, --style-blend, --preserve-color, --mask,
--region-style) are derived from :class:`StylizeConfig`, like stylize's own flags.
``instant`` runs on onnxruntime without importing torch when it can (--runtime auto,
:func:`stylelab.adain.runtime.choose_session`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from stylelab.adain.options import SHARED, InstantOptions
from stylelab.cli.apply import add_runtime_argument
from stylelab.cli.common import add_config_arguments
from stylelab.config import StylizeConfig, field_spec
from stylelab.errors import StylelabError


def add_commands(sub: Any) -> None:
    """Register ``instant`` and ``train-instant`` on the CLI's subparsers."""
    run = sub.add_parser(
        "instant",
        help="stylize with any painting in one forward pass (AdaIN, shipped model)",
        description="Arbitrary style transfer in one forward pass (AdaIN, Huang & Belongie "
        "2017) with the model shipped in the package (or --model). CONTENT is an image, a "
        "folder, or - (stdin); OUT is an image (with OUT.csv and OUT.json: settings, model, "
        "seconds), - (stdout), or a folder for a folder of photos.",
    )
    run.add_argument(
        "content", metavar="CONTENT", help="photo, example:NAME, folder of photos, or -"
    )
    run.add_argument("styles", nargs="+", metavar="STYLE", help="painting(s) or example:NAME")
    run.add_argument("-o", "--output", required=True, metavar="OUT", help="image, folder or -")
    add_instant_argument(run, "strength", "A", shown=True)
    run.add_argument(
        "--model", default=None, metavar="FILE", help="an instant model (default: the shipped one)"
    )
    add_instant_argument(run, "refine", "N", shown=True)
    add_look_arguments(run, shown=True)
    run.add_argument(
        "--precision", default="auto", choices=("auto", "fp32", "bf16"), help="default: auto"
    )
    add_runtime_argument(
        run,
        "the options (--mask/--region-style, --refine, --precision bf16 run on PyTorch, "
        "and OUT.json says so; --model FILE.onnx runs on onnxruntime)",
    )
    run.add_argument("--quiet", action="store_true", help="no summary line")
    skip = [f.name for f in dataclasses.fields(StylizeConfig) if f.name not in SHARED]
    helps = {
        "style_scale": "painting size relative to the network's working size, the smaller of "
        "--size and --internal-size (larger: bigger strokes)"
    }
    add_config_arguments(run, skip=skip, helps=helps)
    # only --refine takes gradient steps (the allocator settings: stylelab.cli.main)
    run.set_defaults(handler=cmd_instant, gradient_steps=lambda args: args.refine > 0)
    _add_train_command(sub)


def add_look_arguments(parser: argparse.ArgumentParser, shown: bool, only: str = "") -> None:
    """--palette, --band-contrast and --internal-size, for ``instant`` and for ``video``
    with an instant model (``only``: what the help adds, e.g. that a fast model takes
    none of them)."""
    add_instant_argument(parser, "palette", "A", shown, only)
    add_instant_argument(parser, "band_contrast", "A", shown, only)
    add_instant_argument(parser, "internal_size", "PX", shown, only)


def add_instant_argument(
    parser: argparse.ArgumentParser, name: str, metavar: str, shown: bool, only: str = ""
) -> None:
    """``--NAME`` from :class:`InstantOptions`' field ``name``: its kind, help and default
    (the parser's default when ``shown``, else None: "not given", e.g. for ``video``,
    whose fast models take none of them)."""
    spec = field_spec(name, InstantOptions)
    parser.add_argument(
        spec.flag,
        type=spec.kind,
        default=spec.default if shown else None,
        metavar=metavar,
        help=f"{only}{spec.help} (default: {spec.default:g})",
    )


def _add_train_command(sub: Any) -> None:
    from stylelab.adain.trainconfig import DESIGN_NAMES, InstantTrainConfig
    from stylelab.cli.common import defaults_of

    train = sub.add_parser(
        "train-instant",
        help="train an instant-style (AdaIN) decoder on photos and paintings",
        description="Train the decoder of 'stylelab instant' (AdaIN loss, Huang & Belongie "
        "2017) on cached encoder features of fixed photo crops and style variants. Writes "
        "MODEL (.safetensors) and MODEL_train/: train.csv, train.json, samples/, "
        "checkpoint.safetensors.",
    )
    given = defaults_of(InstantTrainConfig)
    train.add_argument(
        "--data",
        default=given["data"],
        metavar="DIR",
        help=f"photos (default: {given['data']})",
    )
    train.add_argument(
        "--styles",
        nargs="*",
        default=[],
        metavar="PAINTING",
        help="paintings: files, folders of images, or example:NAME",
    )
    train.add_argument("-o", "--output", required=True, metavar="MODEL", help="model.safetensors")
    train.add_argument(
        "--design",
        choices=DESIGN_NAMES,
        default=given["design"],
        help=f"the decoder (default: {given['design']})",
    )
    for name, kind, metavar, text in (
        ("crop", int, "PX", "crop size"),
        ("batch_size", int, "N", "photos per step"),
        ("steps", int, "N", "training steps"),
        ("lr", float, "LR", "Adam's learning rate"),
        ("style_weight", float, "LAMBDA", "the style term's weight"),
        (
            "temporal_weight",
            float,
            "LAMBDA",
            "weight of the warp-consistency term against flicker in video "
            "(stylelab.fast.temporal, as train's): 0 turns it off",
        ),
        ("content_crops", int, "N", "photo crops cached"),
        ("style_variants", int, "N", "style variants cached"),
        ("procedural", int, "N", "add N drawn paintings"),
        ("seed", int, "N", "seed of the crops, variants and batches"),
        ("max_minutes", float, "M", "stop after M minutes of training"),
        ("checkpoint_every", int, "N", "steps between checkpoints"),
    ):
        default = given[name]
        train.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=default,
            metavar=metavar,
            help=f"{text} (default: {'none' if default is None else default})",
        )
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=cmd_train_instant, gradient_steps=True)


# ---------------------------------------------------------------------------- instant


def cmd_instant(args: argparse.Namespace) -> int:
    from stylelab.adain.options import check_settings
    from stylelab.adain.runtime import choose_session, instant_onnx
    from stylelab.cli.common import check_image_with_records, report_result
    from stylelab.cli.folders import Skipped, plan_jobs, read_photo, write_result
    from stylelab.safety import check_outputs, one_line, undone_on_failure

    options = {k: getattr(args, k) for k in SHARED if getattr(args, k, None) is not None}
    internal_size = args.internal_size
    # every shared option checked before any work
    look = (args.palette, args.band_contrast)
    config = check_settings(options, args.strength, args.refine, internal_size, *look)
    _check_styles(args.styles)
    extra = [args.mask] if args.mask else []
    extra += [args.model] if args.model else []
    jobs = plan_example(args.content, args.output) or list(
        plan_jobs([args.content], args.output, sheet=False)
    )
    for source, target in jobs:
        inputs = [i for i in (source, *args.styles, *extra) if i != "-"]
        if target != "-" and Path(target).parent.is_dir():
            check_image_with_records(target, inputs)
        elif target != "-":  # a folder still to be made: plan_jobs checked it and the images
            check_outputs([Path(target).with_suffix(s) for s in (".csv", ".json")], inputs)
    session = choose_session(
        args.runtime, args.model, config, (None, args.refine, args.precision), args.quiet
    )
    model = _torch_model(args.model) if isinstance(session, str) else session
    settings = {"strength": args.strength, "internal_size": internal_size, **options}
    settings["palette"], settings["band_contrast"] = look
    nonfinite = 0
    with Skipped("photo(s)") as skipped, undone_on_failure() as made:
        for source, target in jobs:
            try:
                photo = read_photo(source, None, "stylelab instant - STYLE")
                if isinstance(session, str):
                    result = _torch_run(photo, args, model, session, settings)
                else:
                    result = instant_onnx(photo, args.styles, model=session, **settings)
            except (StylelabError, OSError) as exc:
                named = _named(exc, source)
                # a folder: a photo that cannot be read or run is skipped, as apply skips it;
                # anything else (a painting, the model) would fail every photo: it stops the run
                if len(jobs) == 1 or not str(named).startswith(f"content {one_line(source)}:"):
                    raise named from None
                skipped.add(named)
                continue
            result.info["input"] = source
            if target == "-":
                write_result(result.array, "-", made)
            else:
                made.folder(Path(target).parent)  # a run that fails leaves no empty folder
                result.save(target)
            skipped.succeeded()
            status = result.info.get("status", "done")
            if status != "done":
                # a refinement stopped by a signal ends the run; one whose loss went non-finite
                # is said (its last finite image kept) and the next photo goes on
                shown = Path("stdout" if target == "-" else target)
                code = report_result(result, shown, args.quiet)
                if status == "interrupted":
                    return code
                nonfinite = code
                continue
            if not args.quiet and target != "-":
                print(f"wrote {target} ({result.info['seconds']:.2f} s)", file=sys.stderr)
    skipped.check_any_done(len(jobs))
    return skipped.closing(len(jobs)) or nonfinite


def _named(exc: Exception, source: str) -> StylelabError:
    """``exc`` as one line that starts "content PATH: " when it is the photo's (the runs
    see the photo as an array, so their messages say only "content: ...")."""
    from stylelab.safety import describe_os_error, one_line

    shown = "content (stdin)" if source == "-" else f"content {one_line(source)}"
    if isinstance(exc, OSError):
        return StylelabError(f"content {describe_os_error(exc, source)}")
    message = one_line(exc)
    if message.startswith("content: "):
        message = f"{shown}: {message.removeprefix('content: ')}"
    elif message.startswith(f"{one_line(source)}: "):  # the reader names the file itself
        message = f"content {message}"
    return StylelabError(message)


def plan_example(content: str, output: str) -> list[tuple[str, str]]:
    """[(example:NAME, OUT)] when CONTENT is a built-in example (its name and OUT checked
    before any work, as plan_jobs checks a file); [] for any other CONTENT."""
    from stylelab.examples import check_example
    from stylelab.safety import IMAGE_FORMATS, check_output_file

    if not content.startswith("example:"):
        return []
    check_example(content[len("example:") :])
    if output == "-":
        return [(content, "-")]
    check_output_file(Path(output), IMAGE_FORMATS)
    return [(content, output)]


def _torch_model(path: str | None) -> Any:
    from stylelab.adain.modelfile import load_decoder

    return load_decoder(path)


def _torch_run(photo: Any, args: argparse.Namespace, model: Any, why: str, settings: dict) -> Any:
    """The PyTorch run; ``why`` (not onnxruntime) goes in the record."""
    from stylelab.adain.transfer import instant

    result = instant(
        photo,
        args.styles,
        model=model,
        refine=args.refine,
        precision=args.precision,
        progress=not args.quiet and args.refine > 0,
        runtime="torch",
        **settings,
    )
    if why != "--runtime torch":
        result.info["runtime_fallback"] = why
    return result


def _check_styles(styles: list[str]) -> None:
    from stylelab.safety import check_input_file

    for style in styles:
        if style == "-":
            raise StylelabError("-: a style is a file or example:NAME (stdin is for CONTENT)")
        if not style.startswith("example:"):
            check_input_file(style, "image")


# ---------------------------------------------------------------------- train-instant


def cmd_train_instant(args: argparse.Namespace) -> int:
    from stylelab.adain.trainconfig import InstantTrainConfig
    from stylelab.adain.training import train_instant, workdir_for
    from stylelab.cli.fast import (
        check_model_output,
        check_records_outside_data,
        report_training,
        training_records,
    )
    from stylelab.safety import check_outputs

    config = InstantTrainConfig(
        styles=tuple(expand_styles(args.styles)),
        data=args.data,
        design=args.design,
        crop=args.crop,
        batch_size=args.batch_size,
        steps=args.steps,
        lr=args.lr,
        style_weight=args.style_weight,
        temporal_weight=args.temporal_weight,
        content_crops=args.content_crops,
        style_variants=args.style_variants,
        procedural=args.procedural,
        seed=args.seed,
        max_minutes=args.max_minutes,
        checkpoint_every=args.checkpoint_every,
    )
    output = check_model_output(args.output)
    workdir = workdir_for(output)
    check_records_outside_data(output, workdir, config.data)
    for style in args.styles:  # a folder of paintings is read again by the next run too
        check_records_outside_data(output, workdir, style, "--styles", "paintings")
    records = [workdir / n for n in ("train.csv", "train.json", "checkpoint.safetensors")]
    inputs = [s for s in config.styles if not s.startswith("example:")]
    check_outputs([output, *records], inputs)
    if workdir.exists() and not workdir.is_dir():
        raise StylelabError(f"{workdir}: exists and is not a folder (training records go there)")
    with training_records(workdir, args.resume):
        result = train_instant(config, output, resume=args.resume, progress=not args.quiet)
    return report_training(result, output, workdir, "", args.quiet)


def expand_styles(styles: list[str]) -> list[str]:
    """Paintings as given, folders replaced by their image files (sorted, recursive)."""
    from stylelab.cli.folders import IMAGE_SUFFIXES

    out: list[str] = []
    for style in styles:
        if not style:  # Path("") is the current folder
            raise StylelabError("'': an empty painting name (a file, a folder or example:NAME)")
        path = Path(style)
        if not style.startswith("example:") and path.is_dir():
            found = sorted(
                str(p)
                for p in path.rglob("*")
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
            if not found:
                raise StylelabError(f"{path}: no images in this folder")
            out.extend(found)
        else:
            out.append(style)
    return out

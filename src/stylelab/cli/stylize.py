"""``stylelab stylize``, ``demo``, ``layers``, ``evaluate`` and ``examples``: one image at a time.

The heavy modules (torch, stylelab.gatys, ...) are imported inside the commands.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from stylelab.adain.demo import SIZE as DEMO_SIZE
from stylelab.cli.common import (
    add_config_arguments,
    check_image_with_records,
    config_from_args,
    config_inputs,
    interrupted_exit_code,
    report_result,
)
from stylelab.errors import StylelabError
from stylelab.fast.demo import MINUTES as FAST_DEMO_MINUTES
from stylelab.limits import MAX_STEPS
from stylelab.safety import (
    IMAGE_FORMATS,
    check_extension,
    check_new_folder,
    check_output_file,
    undone_on_failure,
)


def add_commands(sub: Any) -> None:
    """Register stylize, layers, demo and evaluate on the CLI's subparsers."""
    run = sub.add_parser(
        "stylize",
        help="stylize a content image with one or more styles",
        description="Optimize an image so that its features match CONTENT and "
        "its Gram matrices match STYLE (Gatys et al. 2015).",
    )
    run.add_argument("content", help="content image (path or example:NAME)")
    run.add_argument("style", nargs="+", help="style image(s); several are blended")
    run.add_argument(
        "-o",
        "--output",
        required=True,
        help="output image (.png .jpg .tif .webp); OUT.csv and OUT.json beside it",
    )
    run.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="also write OUT_NNNNN.png every N iterations",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_arguments(run)
    run.set_defaults(handler=cmd_stylize, gradient_steps=True)

    layers = sub.add_parser(
        "layers",
        help="list a backbone's layer names and channels",
        description="List a backbone's layers in depth order: name (what --content-layers, "
        "--style-layers and --smoothing-layers take), kind, channels, whether stylize uses it "
        "by default, and its Keras-style aliases.",
    )
    layers.add_argument("--backbone", default="vgg19", help="backbone name (default: vgg19)")
    layers.set_defaults(handler=cmd_layers)

    demo = sub.add_parser(
        "demo",
        help="offline demo: a held-out photo and an unseen painting, instant then refined",
        description="Stylize scikit-image's astronaut (held out of the instant model's "
        "training) with a painting drawn from a seed no training painting used: one forward "
        "pass of the shipped instant model, then --steps of the Gatys objective from it. "
        "Writes OUT (a sheet: photo | painting | instant | refined, with seconds and "
        "distances) and OUT.json (the figures and the checks). --plain: the Gatys-only demo "
        "(example:chelsea in the style of example:strokes, OUT and OUT_triptych.png).",
    )
    demo.add_argument(
        "-o",
        "--output",
        default=None,
        help="default: out/demo.png (with --fast: out/demo_fast.png, the sheet)",
    )
    demo.add_argument(
        "--plain", action="store_true", help="stylize example:chelsea with example:strokes only"
    )
    demo.add_argument(
        "--fast",
        action="store_true",
        help="train a compact two-style fast model on the built-in photos (about "
        f"{FAST_DEMO_MINUTES:g} minutes on 2 CPU cores) and write a sheet on a photo it did "
        "not train on",
    )
    demo.add_argument(
        "--minutes",
        type=float,
        default=None,
        help=f"with --fast: minutes of training (default: {FAST_DEMO_MINUTES:g})",
    )
    demo.add_argument(
        "--size",
        type=int,
        default=None,
        help=f"the instant and --plain demos' size (default: {DEMO_SIZE})",
    )
    demo.add_argument(
        "--steps",
        type=int,
        default=None,
        help="refine steps after the instant image (default: 15); with --plain, stylize's "
        "steps (default: 150)",
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=cmd_demo, gradient_steps=True)

    score = sub.add_parser(
        "evaluate",
        help="score an output: style and content distances under a fixed reference network",
        description="Relative Gram distance (relu1_1..relu5_1) and feature distance (relu4_2) "
        "of OUTPUT to STYLE and CONTENT, on the Caffe VGG19 at a fixed size; or, with "
        "--yardstick texture, filter-bank texture statistics and a colour distance to STYLE "
        "and 1 - SSIM to CONTENT, with no CNN (Portilla & Simoncelli 2000).",
    )
    score.add_argument("output", help="stylized image")
    score.add_argument("content", help="content image")
    score.add_argument("style", nargs="+", help="style image(s)")
    score.add_argument("--size", type=int, default=512, help="reference size (default: 512)")
    score.add_argument("--json", action="store_true", help="print JSON instead of a table")
    score.add_argument(
        "--yardstick",
        default="vgg",
        help="vgg (Caffe VGG19 Gram distance, the default) or texture (no CNN: texture "
        "statistics, colour and SSIM)",
    )
    score.set_defaults(handler=cmd_evaluate)


def add_examples_command(sub: Any) -> None:
    """Register examples (apart from add_commands: ``--help`` has always listed it after stats)."""
    examples = sub.add_parser(
        "examples",
        help="list the built-in example images",
        description="List the built-in example images (scikit-image's photos and stylelab's "
        "procedural paintings), which every command takes as example:NAME; --write saves "
        "them as PNG files.",
    )
    examples.add_argument(
        "--write",
        metavar="DIR",
        help="write the examples as DIR/NAME.png (DIR is created)",
    )
    examples.add_argument(
        "--photos",
        action="store_true",
        help="only the photos (with --write: a training folder for 'stylelab train')",
    )
    examples.add_argument(
        "--exclude",
        default="",
        metavar="A,B,...",
        help="names to leave out, e.g. astronaut to keep it unseen for validation",
    )
    examples.add_argument(
        "--only",
        default=None,
        metavar="A,B,...",
        help="just these names, e.g. astronaut,chelsea,coffee (default: all)",
    )
    examples.add_argument(
        "--overwrite",
        action="store_true",
        help="with --write: replace files of the same names (otherwise refused)",
    )
    examples.set_defaults(handler=cmd_examples)


def cmd_stylize(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if not 0 <= args.save_every <= MAX_STEPS:
        raise StylelabError(f"--save-every must be from 0 to {MAX_STEPS}, got {args.save_every}")
    output = check_output_file(args.output, IMAGE_FORMATS)
    snapshots = [
        output.with_name(f"{output.stem}_{i:05d}{output.suffix}")
        for i in range(args.save_every, config.steps + 1, args.save_every or config.steps + 1)
    ]
    inputs = [args.content, *args.style, *config_inputs(config)]
    output = check_image_with_records(args.output, inputs, snapshots)

    from stylelab.gatys import stylize
    from stylelab.images import save_image

    def snapshot(iteration: int, image: Any) -> None:
        if args.save_every and iteration % args.save_every == 0:
            save_image(image, output.with_name(f"{output.stem}_{iteration:05d}{output.suffix}"))

    result = stylize(
        args.content,
        args.style,
        config,
        progress=not args.quiet,
        callback=snapshot if args.save_every else None,
    )
    result.save(output)
    return report_result(result, output, args.quiet)


def cmd_layers(args: argparse.Namespace) -> int:
    from stylelab.backbones import load_backbone

    backbone = load_backbone(args.backbone, weights="random")
    aliases: dict[str, list[str]] = {}
    for alias, name in backbone.aliases.items():
        aliases.setdefault(name, []).append(alias)
    defaults = {n: "content" for n in backbone.default_content_layers}
    for n in backbone.default_style_layers:
        defaults[n] = "style" if n not in defaults else "content+style"
    width = max(len(layer.name) for layer in backbone.layers)
    print(f"{'layer':<{width}}  {'kind':<6} {'channels':>8}  default   aliases")
    for layer in backbone.layers:
        print(
            f"{layer.name:<{width}}  {layer.kind:<6} {layer.channels:>8}  "
            f"{defaults.get(layer.name, ''):<8}  {', '.join(aliases.get(layer.name, []))}"
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.plain and args.fast:
        raise StylelabError("--plain and --fast are two different demos: choose one")
    if args.minutes is None:
        args.minutes = FAST_DEMO_MINUTES
    elif not args.fast:
        raise StylelabError("--minutes is the --fast demo's training time: add --fast")
    if not (math.isfinite(args.minutes) and 0 < args.minutes <= 600):
        raise StylelabError(f"--minutes must be from 0 to 600, got {args.minutes}")
    for flag, value in (("--steps", args.steps), ("--size", args.size)):
        if args.fast and value is not None:
            raise StylelabError(f"{flag} is for the instant and --plain demos, not --fast")
    if args.size is None:
        args.size = DEMO_SIZE
    output = Path(args.output or ("out/demo_fast.png" if args.fast else "out/demo.png"))
    check_extension(output, IMAGE_FORMATS)  # before any folder is made
    check_new_folder(output.parent)
    with undone_on_failure() as made:  # a folder made for a run that wrote nothing: removed
        made.folder(output.parent)
        if args.fast:
            return _demo_fast(output, args)
        return _demo(output, args) if args.plain else _demo_instant(output, args)


def _demo(output: Path, args: argparse.Namespace) -> int:
    triptych = output.with_name(f"{output.stem}_triptych.png")
    check_image_with_records(str(output), [], [triptych])
    from stylelab.gatys import stylize

    result = stylize(
        "example:chelsea",
        "example:strokes",
        size=args.size,
        steps=150 if args.steps is None else args.steps,
        progress=not args.quiet,
    )
    result.save(output)
    _save_triptych(result, triptych)
    return report_result(result, output, args.quiet)


def _demo_instant(output: Path, args: argparse.Namespace) -> int:
    import json

    from stylelab.adain.demo import STEPS, run_demo
    from stylelab.config import StylizeConfig
    from stylelab.safety import atomic_path

    steps = STEPS if args.steps is None else args.steps
    StylizeConfig(size=args.size, steps=steps)  # --size and --steps checked before any work
    record = output.with_suffix(".json")
    check_output_file(output, IMAGE_FORMATS)
    check_output_file(record)
    figures = run_demo(output, size=args.size, steps=steps, progress=not args.quiet)
    with atomic_path(record) as path:
        path.write_text(json.dumps(figures, indent=2) + "\n")
    style, content = figures["style_distance"], figures["content_distance"]
    lines = [
        f"{figures['photo']} x {figures['painting']} at {figures['size']} px, in "
        f"{figures['seconds']:.1f} s",
        f"  instant      {figures['instant_s']:6.2f} s  style {style['instant']:.3f}  "
        f"content {content['instant']:.3f}",
        f"  +{figures['refine_steps']:<4} steps {figures['refine_s']:6.2f} s  "
        f"style {style['refined']:.3f}  "
        f"content {content['refined']:.3f}",
        f"  the photo itself    style {style['photo']:.3f}",
        *(f"  {'ok    ' if ok else 'MISSED'} {name}" for name, ok in figures["checks"].items()),
        f"wrote {output} and {record}",
    ]
    stopped = figures["status"] == "interrupted"  # Ctrl-C or a signal during the refinement
    if stopped:
        lines[-1] = (
            f"interrupted after {figures['refine_steps']} of {steps} refine steps; " + lines[-1]
        )
    print("\n".join(lines), file=sys.stderr)
    return interrupted_exit_code() if stopped else 0


def _demo_fast(output: Path, args: argparse.Namespace) -> int:
    from stylelab.fast.demo import run_demo

    check_output_file(output, IMAGE_FORMATS)
    summary = run_demo(output, minutes=args.minutes, progress=not args.quiet)
    if not args.quiet:
        print(
            f"wrote {output} and {summary['model']} ({summary['steps']} steps in "
            f"{summary['training_time_s']:.0f} s)",
            file=sys.stderr,
        )
    return interrupted_exit_code() if summary["status"] == "interrupted" else 0


def _save_triptych(result: Any, path: Path) -> None:
    """Content | style | result side by side, for a person to look at."""
    import torch

    from stylelab.images import load_image, resize_to, save_image

    height = result.tensor.shape[-2]
    panels = [load_image("example:chelsea"), load_image("example:strokes"), result.tensor]
    scaled = [resize_to(p, (height, round(p.shape[-1] * height / p.shape[-2]))) for p in panels]
    save_image(torch.cat(scaled, dim=-1), path)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from stylelab.evaluate import evaluate

    if args.size < 16:
        raise StylelabError(f"--size must be >= 16, got {args.size}")
    scores = evaluate(
        args.output, args.content, args.style, size=args.size, yardstick=args.yardstick
    )
    if args.json:
        print(json.dumps(scores, indent=2))
        return 0
    print(f"style distance    {scores['style_distance']:.4f}")
    print(f"content distance  {scores['content_distance']:.4f}")
    parts = scores.get("style_distance_per_layer") or scores.get("style_distance_per_group", {})
    for layer, value in parts.items():
        print(f"  style {layer:<9} {value:.4f}")
    return 0


def cmd_examples(args: argparse.Namespace) -> int:
    from stylelab.examples import PHOTOS, list_examples, write_examples

    def named(flag: str, text: str) -> set[str]:
        chosen = {n.strip() for n in text.split(",") if n.strip()}
        unknown = sorted(chosen - set(list_examples()))
        if unknown:
            raise StylelabError(f"{flag}: unknown example(s) {', '.join(unknown)}")
        return chosen

    if args.overwrite and args.write is None:
        raise StylelabError("--overwrite goes with --write FOLDER (listing overwrites nothing)")
    exclude, only = named("--exclude", args.exclude), named("--only", args.only or "")
    if args.only is not None and not only:
        raise StylelabError("--only: no names given; e.g. --only astronaut,chelsea")
    names = [n for n in (PHOTOS if args.photos else list_examples()) if n not in exclude]
    names = [n for n in names if n in only] if only else names
    if not names:
        given = " with ".join(
            f"{flag} {value}"
            for flag, value, used in (
                ("--only", args.only, only),
                ("--exclude", args.exclude, exclude),
            )
            if used
        )
        raise StylelabError(
            f"{given}: no example left" + (" (--photos keeps photos only)" if args.photos else "")
        )
    if args.write is None:
        for name in names:
            print(f"example:{name}")
        return 0
    folder = check_new_folder(args.write)
    with undone_on_failure() as made:  # a folder made for nothing is taken away again
        written = write_examples(made.folder(folder), names, overwrite=args.overwrite)
    print(f"wrote {len(written)} image(s) to {folder}", file=sys.stderr)
    return 0

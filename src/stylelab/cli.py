"""Command line: thin subcommands over the Python API; stylize flags come from StylizeConfig.

Every user error is one line on stderr (``stylelab: error: ...``) and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError

EXIT_USAGE = 2
EXIT_NONFINITE = 1
EXIT_INTERRUPTED = 130


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise StylelabError(f"{self.prog}: {message}")


def _csv_of(kind: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    def parse(text: str) -> tuple[Any, ...]:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            return tuple(kind(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a comma-separated list: {text!r}") from None

    parse.__name__ = f"comma-separated {kind.__name__}"
    return parse


def add_config_arguments(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """One ``--flag`` per StylizeConfig field, typed from its annotation, help from metadata."""
    hints = typing.get_type_hints(StylizeConfig)
    for item in dataclasses.fields(StylizeConfig):
        if item.name in skip:
            continue
        flag = "--" + item.name.replace("_", "-")
        hint = hints[item.name]
        args = typing.get_args(hint)
        base = next((a for a in args if a is not type(None)), hint) if args else hint
        help_text = f"{item.metadata['help']} (default: {item.default})"
        if base is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
            continue
        if typing.get_origin(base) is tuple:
            inner = typing.get_args(base)[0]
            kind: Callable[[str], Any] = _csv_of(inner)
            metavar = "A,B,..."
        else:
            kind, metavar = base, item.name.split("_")[-1].upper()
        parser.add_argument(flag, type=kind, default=None, metavar=metavar, help=help_text)


def config_from_args(args: argparse.Namespace, base: StylizeConfig | None = None) -> StylizeConfig:
    changes = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(StylizeConfig)
        if getattr(args, f.name, None) is not None
    }
    return (base or StylizeConfig()).replace(**changes)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="stylelab",
        description="Neural style transfer: Gatys optimization on VGG and friends.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True

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
    run.set_defaults(handler=cmd_stylize)

    layers = sub.add_parser("layers", help="list a backbone's layer names and channels")
    layers.add_argument("--backbone", default="vgg19", help="backbone name (default: vgg19)")
    layers.set_defaults(handler=cmd_layers)

    demo = sub.add_parser(
        "demo",
        help="stylize a built-in example offline (example:chelsea in the style of example:strokes)",
    )
    demo.add_argument("-o", "--output", default="out/demo.png", help="default: out/demo.png")
    demo.add_argument("--size", type=int, default=256, help="default: 256")
    demo.add_argument("--steps", type=int, default=150, help="default: 150")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=cmd_demo)

    score = sub.add_parser(
        "evaluate",
        help="score an output: style and content distances under a fixed reference network",
        description="Relative Gram distance (relu1_1..relu5_1) and feature distance (relu4_2) "
        "of OUTPUT to STYLE and CONTENT, on the Caffe VGG19 at a fixed size.",
    )
    score.add_argument("output", help="stylized image")
    score.add_argument("content", help="content image")
    score.add_argument("style", nargs="+", help="style image(s)")
    score.add_argument("--size", type=int, default=512, help="reference size (default: 512)")
    score.add_argument("--json", action="store_true", help="print JSON instead of a table")
    score.set_defaults(handler=cmd_evaluate)

    add_compare_parser(sub)
    add_stats_parser(sub)

    examples = sub.add_parser("examples", help="list the built-in example images")
    examples.set_defaults(handler=cmd_examples)

    from stylelab.experiments.commands import add_commands

    add_commands(sub)
    return parser


def cmd_stylize(args: argparse.Namespace) -> int:
    from stylelab.images import check_output_path, save_image
    from stylelab.stylize import stylize

    config = config_from_args(args)
    output = check_output_path(args.output)
    if args.save_every < 0:
        raise StylelabError(f"--save-every must be >= 0, got {args.save_every}")

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
    return _report(result, output, args.quiet)


def _report(result: Any, output: Path, quiet: bool) -> int:
    info = result.info
    if result.status == "nonfinite":
        print(f"stylelab: warning: {info['message']}; wrote {output}", file=sys.stderr)
        return EXIT_NONFINITE
    if result.status == "interrupted":
        print(f"stylelab: {info['message']}; wrote {output}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not quiet:
        final = info["final_losses"]
        print(
            f"wrote {output} ({info['iterations']} iterations, {info['wall_time_s']:.1f} s, "
            f"total loss {final.get('total', float('nan')):.4g})",
            file=sys.stderr,
        )
    return 0


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
    from stylelab.images import check_output_path
    from stylelab.stylize import stylize

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    check_output_path(output)
    result = stylize(
        "example:chelsea",
        "example:strokes",
        size=args.size,
        steps=args.steps,
        progress=not args.quiet,
    )
    result.save(output)
    _save_triptych(result, output.with_name(f"{output.stem}_triptych.png"))
    return _report(result, output, args.quiet)


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
    scores = evaluate(args.output, args.content, args.style, size=args.size)
    if args.json:
        print(json.dumps(scores, indent=2))
        return 0
    print(f"style distance    {scores['style_distance']:.4f}")
    print(f"content distance  {scores['content_distance']:.4f}")
    for layer, value in scores["style_distance_per_layer"].items():
        print(f"  style {layer:<9} {value:.4f}")
    return 0


def add_compare_parser(sub: Any) -> None:
    compare = sub.add_parser(
        "compare",
        help="stylize with every backbone x weights x smoothing; labelled grid + CSV",
        description="One stylization per combination with the same budget and seed; writes "
        "a labelled image grid (rows: backbone, columns: content, style, weights x smoothing) "
        "and OUT.csv with final losses, style/content distances, wall time and steps.",
    )
    compare.add_argument("content", help="content image (path or example:NAME)")
    compare.add_argument("style", help="style image (path or example:NAME)")
    compare.add_argument("-o", "--output", required=True, help="grid image; OUT.csv beside it")
    compare.add_argument(
        "--backbones",
        type=_csv_of(str),
        default=("vgg19", "resnet50"),
        metavar="A,B,...",
        help="backbones, one grid row each (default: vgg19,resnet50)",
    )
    compare.add_argument(
        "--weights",
        dest="weight_sets",
        type=_csv_of(str),
        default=("random",),
        metavar="A,B,...",
        help="weights: random, pretrained, torchvision or PATHs (default: random)",
    )
    compare.add_argument(
        "--smoothing",
        dest="smoothings",
        type=_csv_of(str),
        default=("none", "softmax"),
        metavar="A,B,...",
        help="smoothings (default: none,softmax)",
    )
    compare.add_argument(
        "--eval-size", type=int, default=256, help="size of the independent scoring (default: 256)"
    )
    compare.add_argument("--quiet", action="store_true", help="no per-run lines")
    add_config_arguments(compare, skip=("backbone", "weights", "smoothing"))
    compare.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from stylelab.compare import compare

    def report(outcome: Any) -> None:
        if args.quiet:
            return
        row = outcome.row
        detail = (
            f"style distance {row['style_distance']:.4f}, content distance "
            f"{row['content_distance']:.4f}, {row['wall_time_s']:.1f} s"
            if outcome.image is not None
            else f"error: {row['error']}"
        )
        combo = outcome.combination
        print(f"{combo.backbone} {combo.weights} {combo.smoothing}: {detail}", file=sys.stderr)

    outcomes = compare(
        args.content,
        args.style,
        args.output,
        args.backbones,
        args.weight_sets,
        args.smoothings,
        config=config_from_args(args),
        eval_size=args.eval_size,
        on_done=report,
    )
    failed = sum(o.image is None for o in outcomes)
    if not args.quiet:
        print(f"wrote {args.output} and {Path(args.output).with_suffix('.csv')}", file=sys.stderr)
    return 0 if failed < len(outcomes) else EXIT_USAGE


def add_stats_parser(sub: Any) -> None:
    stats = sub.add_parser(
        "stats",
        help="per-layer activation statistics (max, normalized entropy) of backbones",
        description="Max activation, normalized activation entropy, max Gram entry and Gram "
        "entropy per layer, mean and std over IMAGEs, for every backbone x weights x smoothing "
        "(Wang, Li & Vasconcelos, CVPR 2021). Writes a CSV and a four-panel plot.",
    )
    stats.add_argument("images", nargs="+", help="images (paths or example:NAME)")
    stats.add_argument("-o", "--output", default="stats.csv", help="CSV (default: stats.csv)")
    stats.add_argument("--plot", help="also draw the four panels into this PNG/PDF/SVG")
    stats.add_argument(
        "--backbones",
        type=_csv_of(str),
        default=("vgg19", "resnet50"),
        metavar="A,B,...",
        help="backbones (default: vgg19,resnet50)",
    )
    stats.add_argument(
        "--weights",
        type=_csv_of(str),
        default=("random",),
        metavar="A,B,...",
        help="random, pretrained, torchvision or PATHs (default: random)",
    )
    stats.add_argument(
        "--smoothing",
        type=_csv_of(str),
        default=("none",),
        metavar="A,B,...",
        help="smoothings, e.g. none,softmax (default: none)",
    )
    stats.add_argument(
        "--layers",
        type=_csv_of(str),
        default=None,
        metavar="A,B,...",
        help="layers (default: each backbone's stage ends)",
    )
    stats.add_argument("--size", type=int, default=256, help="longer edge (default: 256)")
    stats.add_argument(
        "--temperature", type=float, default=1.0, help="softmax temperature T (default: 1)"
    )
    stats.add_argument(
        "--relative-temperature",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="T in units of each layer's peak activation per image, as in the losses; "
        "--no-relative-temperature takes T as is, the paper's formula (default: relative)",
    )
    stats.add_argument(
        "--smoothing-scale",
        type=float,
        default=0.001,
        help="factor A of scale/channel-softmax (default: 0.001)",
    )
    stats.add_argument("--seed", type=int, default=0, help="seed of random weights")
    stats.add_argument("--quiet", action="store_true", help="no progress bar")
    stats.set_defaults(handler=cmd_stats)


def cmd_stats(args: argparse.Namespace) -> int:
    from stylelab.analysis import CSV_COLUMNS, plot_stats, stats_grid
    from stylelab.images import check_writable_folder
    from stylelab.records import write_csv

    if args.size < 16:
        raise StylelabError(f"--size must be >= 16, got {args.size}")
    output = Path(args.output)
    if output.suffix.lower() != ".csv":
        raise StylelabError(f"{output}: the statistics are written as .csv")
    check_writable_folder(output.parent)
    if args.plot:
        plot = Path(args.plot)
        if plot.suffix.lower() not in (".png", ".pdf", ".svg", ".jpg"):
            raise StylelabError(f"{plot}: unknown plot extension; use .png, .pdf, .svg or .jpg")
        check_writable_folder(plot.parent)
    rows = stats_grid(
        args.images,
        args.backbones,
        args.weights,
        args.smoothing,
        args.layers,
        progress=not args.quiet,
        size=args.size,
        seed=args.seed,
        temperature=args.temperature,
        smoothing_scale=args.smoothing_scale,
        relative_temperature=args.relative_temperature,
    )
    write_csv(rows, output, CSV_COLUMNS)
    if args.plot:
        plot_stats(rows, args.plot)
    if not args.quiet:
        print(f"wrote {output}" + (f" and {args.plot}" if args.plot else ""), file=sys.stderr)
    return 0


def cmd_examples(args: argparse.Namespace) -> int:
    from stylelab.examples import list_examples

    for name in list_examples():
        print(f"example:{name}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.handler(args))
    except StylelabError as exc:
        print(f"stylelab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("stylelab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # e.g. the output folder vanished or filled up mid-run
        print(
            f"stylelab: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

"""``stylelab compare`` and ``stylelab stats``: backbones x weights x smoothing side by side.

The heavy modules (stylelab.compare, stylelab.analysis, ...) are imported inside the commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from stylelab.cli.common import EXIT_PARTIAL, add_config_arguments, config_from_args, csv_of
from stylelab.config import WEIGHT_KEYWORDS
from stylelab.errors import StylelabError
from stylelab.safety import interrupted_exit_code

MAX_HARD_LIMIT = 10_000  # even with --yes: a grid this large is a typo
MAX_STATS_SIZE = 4096


def add_commands(sub: Any) -> None:
    """Register compare and stats on the CLI's subparsers."""
    add_compare_parser(sub)
    add_stats_parser(sub)


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
        type=csv_of(str),
        default=("vgg19", "resnet50"),
        metavar="A,B,...",
        help="backbones, one grid row each (default: vgg19,resnet50)",
    )
    compare.add_argument(
        "--weights",
        dest="weight_sets",
        type=csv_of(str),
        default=("random",),
        metavar="A,B,...",
        help="weights: random, pretrained, torchvision or PATHs (default: random)",
    )
    compare.add_argument(
        "--smoothing",
        dest="smoothings",
        type=csv_of(str),
        default=("none", "softmax"),
        metavar="A,B,...",
        help="smoothings (default: none,softmax)",
    )
    compare.add_argument(
        "--eval-size", type=int, default=256, help="size of the independent scoring (default: 256)"
    )
    compare.add_argument("--quiet", action="store_true", help="no per-run lines")
    compare.add_argument(
        "--yes", action="store_true", help="run grids of more than 48 combinations too"
    )
    add_config_arguments(compare, skip=("backbone", "weights", "smoothing"))
    compare.set_defaults(handler=cmd_compare, gradient_steps=True)


def cmd_compare(args: argparse.Namespace) -> int:
    from stylelab.compare import MAX_RUNS, compare

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
        max_runs=MAX_HARD_LIMIT if args.yes else MAX_RUNS,
    )
    if any(o.row.get("status") == "interrupted" for o in outcomes):
        print(f"stylelab: interrupted; wrote {args.output} with the runs done", file=sys.stderr)
        return interrupted_exit_code()
    failed = sum(o.image is None for o in outcomes)
    if not args.quiet:
        print(f"wrote {args.output} and {Path(args.output).with_suffix('.csv')}", file=sys.stderr)
    return EXIT_PARTIAL if failed else 0


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
        type=csv_of(str),
        default=("vgg19", "resnet50"),
        metavar="A,B,...",
        help="backbones (default: vgg19,resnet50)",
    )
    stats.add_argument(
        "--weights",
        type=csv_of(str),
        default=("random",),
        metavar="A,B,...",
        help="random, pretrained, torchvision or PATHs (default: random)",
    )
    stats.add_argument(
        "--smoothing",
        type=csv_of(str),
        default=("none",),
        metavar="A,B,...",
        help="smoothings, e.g. none,softmax (default: none)",
    )
    stats.add_argument(
        "--layers",
        type=csv_of(str),
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
    stats.add_argument(
        "--entropy",
        default="positive",
        help="normalized entropy of the positive mass, p = max(F, 0) / sum (positive, the "
        "default), or of p = softmax(F) over all entries (softmax), as the paper plots it",
    )
    stats.add_argument("--seed", type=int, default=0, help="seed of random weights")
    stats.add_argument("--quiet", action="store_true", help="no progress bar")
    stats.set_defaults(handler=cmd_stats)


def cmd_stats(args: argparse.Namespace) -> int:
    from stylelab.analysis import (
        CSV_COLUMNS,
        PLOT_FORMATS,
        check_entropy,
        plot_stats,
        stats_grid,
    )
    from stylelab.limits import MAX_SEED
    from stylelab.records import csv_text
    from stylelab.safety import (
        check_extension,
        check_input_file,
        check_output_file,
        check_outputs,
        write_together,
    )

    if not 16 <= args.size <= MAX_STATS_SIZE:
        raise StylelabError(f"--size must be from 16 to {MAX_STATS_SIZE}, got {args.size}")
    if not 0 <= args.seed <= MAX_SEED:
        raise StylelabError(f"--seed must be an integer from 0 to 2**63-1, got {args.seed}")
    check_entropy(args.entropy)
    output = check_output_file(check_extension(args.output, (".csv",)))
    targets = [output]
    if args.plot:
        targets.append(check_output_file(check_extension(args.plot, PLOT_FORMATS)))
        if len({t.absolute() for t in targets}) == 1:
            raise StylelabError(f"{args.plot}: the plot and the CSV need different names")
    files = [w for w in args.weights if w not in WEIGHT_KEYWORDS]
    check_outputs(targets, [*args.images, *files])
    for image in args.images:  # a missing photo is one line before any network is built
        if not image.startswith("example:"):
            check_input_file(image, "image")
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
        entropy=args.entropy,
    )
    with write_together(targets) as temporaries:
        temporaries[0].write_text(csv_text(rows, CSV_COLUMNS))
        if args.plot:
            plot_stats(rows, temporaries[1], suffix=targets[1].suffix)
    if not args.quiet:
        print(f"wrote {output}" + (f" and {args.plot}" if args.plot else ""), file=sys.stderr)
    return 0

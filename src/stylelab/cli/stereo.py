"""``stylelab stereo``: a rectified stereo pair stylized consistently (Chen et al. 2018).

The heavy modules (torch, stylelab.stereo, ...) are imported inside the command.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from stylelab.cli.apply import add_runtime_argument
from stylelab.cli.common import (
    add_config_arguments,
    config_from_args,
    config_inputs,
    report_result,
)
from stylelab.cli.instant import add_instant_argument
from stylelab.errors import StylelabError
from stylelab.safety import IMAGE_FORMATS, check_output_file, check_outputs, one_line


def add_commands(sub: Any) -> None:
    """Register ``stereo`` on the CLI's subparsers."""
    run = sub.add_parser(
        "stereo",
        help="stylize a stereo pair consistently (side by side, anaglyph, wiggle)",
        description="Stylize both views of a rectified stereo pair so that they agree where "
        "they see the same point: the Gatys objective of both views plus a disparity-"
        "consistency term (Chen et al., CVPR 2018), or a fast model's or the instant (AdaIN) "
        "network's views warped and blended. Writes OUT (left | right), OUT_left, OUT_right, "
        "OUT_anaglyph (Dubois red-cyan) and OUT.json. The pair must be rectified (a point "
        "on the same row in both views); views of different sizes are refused.",
    )
    run.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="LEFT RIGHT STYLE [STYLE ...]; with --sbs or an .mpo file: PAIR STYLE [STYLE ...]; "
        "with --method fast, STYLE is optional: the model's style name or index",
    )
    run.add_argument(
        "-o", "--output", required=True, help="OUT.png (.jpg .tif .webp): left | right"
    )
    run.add_argument(
        "--sbs", action="store_true", help="the pair is one side-by-side image (left | right)"
    )
    run.add_argument(
        "--method",
        choices=("gatys", "fast", "instant"),
        default=None,
        help="gatys: both views optimized together (default); fast: a --model's views "
        "warped and blended (the default with --model); instant: any painting through the "
        "instant (AdaIN) network, the views warped and blended",
    )
    run.add_argument(
        "--model",
        default=None,
        help="a fast model (.safetensors or .onnx); with --method instant, an instant model "
        "(.safetensors; default: the shipped one)",
    )
    add_instant_argument(run, "strength", "A", shown=False, only="instant: ")
    add_instant_argument(run, "internal_size", "PX", shown=False, only="instant: ")
    add_runtime_argument(run)
    run.add_argument(
        "--disparity",
        default=None,
        metavar="FILE",
        help="the left view's disparity at the pair's size (.npy/.pfm: inf = unknown; 16-bit "
        ".png: d * 256, 0 = unknown), x_right = x_left - d; default: estimated (StereoSGBM)",
    )
    run.add_argument(
        "--save-disparity",
        action="store_true",
        help="also write OUT_disparity.png (the disparity used, 16-bit, d * 256)",
    )
    run.add_argument(
        "--consistency-weight",
        type=float,
        default=None,
        metavar="WEIGHT",
        help="lambda of the consistency term (gatys; default: 1000)",
    )
    run.add_argument(
        "--wiggle",
        default=None,
        metavar="OUT.gif",
        help="also write the views alternating (.gif, or .mp4 with the video extra)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_arguments(run)
    run.set_defaults(handler=cmd_stereo, gradient_steps=lambda args: chosen_method(args) == "gatys")


def split_inputs(args: argparse.Namespace, method: str) -> tuple[list[str], list[str]]:
    """(pair inputs, styles) from the positional arguments (``method`` from
    :func:`check_options`: a fast model takes at most its style's name or index)."""
    from stylelab.stereo.pair import is_mpo

    single = args.sbs or is_mpo(args.inputs[0])
    count = 1 if single else 2
    pair, styles = args.inputs[:count], args.inputs[count:]
    if len(pair) < count:
        raise StylelabError("stereo: give LEFT RIGHT STYLE (or PAIR STYLE with --sbs or an .mpo)")
    fast = method == "fast"
    if not fast and not styles:
        raise StylelabError("stereo: no style image; give at least one STYLE after the pair")
    if fast and len(styles) > 1:
        raise StylelabError("stereo --model: at most one STYLE, the model's style name or index")
    return pair, styles


def chosen_method(args: argparse.Namespace) -> str:
    """--method, or its default: fast with --model, else gatys."""
    return str(args.method or ("fast" if args.model else "gatys"))


def check_options(args: argparse.Namespace) -> str:
    """The method, after one-line checks of the stereo options."""
    method = chosen_method(args)
    if method == "fast" and args.model is None:
        raise StylelabError("--method fast needs --model FAST.safetensors|.onnx")
    if method == "gatys" and args.model is not None:
        raise StylelabError("--model goes with --method fast or instant, not gatys")
    if method != "instant":
        for flag, value in (("--strength", args.strength), ("--internal-size", args.internal_size)):
            if value is not None:
                raise StylelabError(f"{flag} goes with --method instant")
    elif args.precision == "fp16":
        raise StylelabError("--method instant runs in fp32 or bf16: --precision auto, fp32 or bf16")
    if method == "instant" and args.model and Path(args.model).suffix.lower() == ".onnx":
        raise StylelabError(
            f"--model {one_line(args.model)}: stereo's instant method runs on PyTorch and takes "
            "the .safetensors model from train-instant, not its ONNX export"
        )
    if method == "fast" and (args.mask or args.region_style):
        raise StylelabError("--mask/--region-style go with --method gatys or instant, not fast")
    if method != "gatys":  # the joint optimization's settings would be ignored: refused
        from stylelab.config import field_names, field_spec
        from stylelab.stereo.run import network_fields

        taken = network_fields(method)
        given = [n for n in field_names() if getattr(args, n, None) is not None]
        ignored = [n for n in given if n not in taken]
        if ignored:
            flags = ", ".join(field_spec(n).flag for n in taken)
            raise StylelabError(
                f"{field_spec(ignored[0]).flag} goes with --method gatys; --method {method} "
                f"takes {flags}"
            )
    weight = args.consistency_weight
    if weight is not None and not (math.isfinite(weight) and 0 <= weight <= 1e9):
        raise StylelabError(f"--consistency-weight must be from 0 to 1e9, got {weight}")
    if weight is not None and method != "gatys":
        raise StylelabError("--consistency-weight is for --method gatys")
    from stylelab.stereo.disparity import DISPARITY_SUFFIXES
    from stylelab.stereo.views import WIGGLE_SUFFIXES

    if args.disparity is not None and Path(args.disparity).suffix.lower() not in DISPARITY_SUFFIXES:
        raise StylelabError(
            f"--disparity {one_line(args.disparity)}: unknown format; use "
            + ", ".join(DISPARITY_SUFFIXES)
        )
    if args.wiggle is not None:
        check_output_file(args.wiggle, WIGGLE_SUFFIXES)
        if Path(args.wiggle).suffix.lower() == ".mp4":
            try:
                import av  # noqa: F401
            except ImportError:
                raise StylelabError(
                    "--wiggle .mp4 needs PyAV: pip install 'stylelab[video]'"
                ) from None
    return method


def cmd_stereo(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    method = check_options(args)
    pair_inputs, styles = split_inputs(args, method)
    from stylelab.stereo.run import output_paths

    outputs = output_paths(args.output, args.save_disparity, args.wiggle)
    check_output_file(args.output, IMAGE_FORMATS)
    for path in outputs[1:]:
        check_output_file(path)
    extra = [p for p in (args.disparity, args.model) if p is not None]
    inputs = [*pair_inputs, *styles, *extra, *config_inputs(config)]
    check_outputs(outputs, inputs)
    if len({p.resolve() for p in outputs}) < len(outputs):
        raise StylelabError(f"{args.wiggle}: --wiggle is one of the other outputs")
    if method == "gatys":
        from stylelab.stereo.joint import check_joint_config

        check_joint_config(config)
    return _run(args, config, method, pair_inputs, styles, outputs)


def _run(
    args: argparse.Namespace,
    config: Any,
    method: str,
    pair_inputs: list[str],
    styles: list[str],
    outputs: list[Path],
) -> int:
    from tqdm import tqdm

    from stylelab.stereo import load_mpo, load_pair, load_side_by_side, stereo_stylize
    from stylelab.stereo.pair import is_mpo

    model: Any = None
    model_style = None
    if method == "instant":
        from stylelab.adain.modelfile import load_decoder

        model = load_decoder(args.model)
    if method == "fast":
        from stylelab.fast import open_model

        try:
            model = open_model(
                args.model, config.device, config.precision, args.runtime, quiet=args.quiet
            )
        except StylelabError as exc:
            if args.method is None and _is_instant_model(args.model):
                raise StylelabError(f"{exc}: an instant model; add --method instant") from None
            raise
        model_style = _style_choice(styles[0]) if styles else None
    if args.sbs:
        pair = load_side_by_side(pair_inputs[0])
    elif is_mpo(pair_inputs[0]):
        pair = load_mpo(pair_inputs[0])
    else:
        pair = load_pair(pair_inputs[0], pair_inputs[1])
    bar = tqdm(total=config.steps, disable=args.quiet or method != "gatys", desc="stereo")
    try:
        result = stereo_stylize(
            pair,
            styles,
            config,
            method=method,
            model=model,
            model_style=model_style,
            disparity_file=args.disparity,
            consistency_weight=args.consistency_weight,
            on_step=lambda *_: bar.update(1),
            instant_options=_instant_options(args) if method == "instant" else None,
        )
    finally:
        bar.close()
    if args.model is not None:
        result.record["model"] = args.model
    result.save(args.output, args.save_disparity, args.wiggle)
    return _report(result.record, outputs, args.quiet)


def _is_instant_model(path: str) -> bool:
    """Whether ``path`` is a readable safetensors file with the instant model's metadata."""
    from stylelab.adain.modelfile import FORMAT
    from stylelab.fast.metadata import safetensors_metadata

    try:
        return safetensors_metadata(Path(path), "model").get("format") == FORMAT
    except (StylelabError, OSError):
        return False


def _instant_options(args: argparse.Namespace) -> dict[str, Any]:
    """``instant``'s own settings given on the command line (its defaults otherwise)."""
    named = {"strength": args.strength, "internal_size": args.internal_size}
    return {name: value for name, value in named.items() if value is not None}


def _style_choice(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _report(record: dict[str, Any], outputs: list[Path], quiet: bool) -> int:
    """``stylize``'s closing line (and exit status) for an optimization, then the figures."""
    from types import SimpleNamespace

    optimization = record.get("optimization")
    if optimization is not None:
        result = SimpleNamespace(status=optimization["status"], info=optimization)
        code = report_result(result, outputs[0], quiet)
        if code:
            return code
    if not quiet:
        figures = record["consistency"]
        print(
            f"wrote {outputs[0]} and {len(outputs) - 1} more: the views differ by "
            f"{figures['stylized']:.4f} after the disparity warp, the photos by "
            f"{figures['photos']:.4f}",
            file=sys.stderr,
        )
    return 0

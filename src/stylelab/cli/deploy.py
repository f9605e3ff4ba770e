"""``stylelab export`` and ``stylelab video``: trained fast models where people use them.

Thin layers over :mod:`stylelab.fast.export` and :mod:`stylelab.video`; a fast model is
opened by :func:`stylelab.fast.open_model`, so ``video`` takes a .safetensors model
(PyTorch) or its .onnx export (onnxruntime, no torch) like ``apply``; an instant model
(or ``instant``, the shipped one) turns the frames through :mod:`stylelab.adain.frames`
with the painting of ``--style``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stylelab.cli.apply import add_model_options, style_choice
from stylelab.cli.common import interrupted_exit_code
from stylelab.cli.instant import add_look_arguments
from stylelab.errors import StylelabError
from stylelab.fast import open_model
from stylelab.safety import check_input_file, check_outputs, one_line


def add_commands(sub: Any) -> None:
    """Register ``export`` and ``video`` on the CLI's subparsers."""
    export = sub.add_parser(
        "export",
        help="export a trained fast or instant model to ONNX (onnxruntime) or TorchScript",
        description="Write MODEL (.safetensors from 'stylelab train') as OUT.onnx (ONNX opset "
        "18, for onnxruntime: 'stylelab apply OUT.onnx' runs without torch) or OUT.pt "
        "(TorchScript, for LibTorch). The exported graph takes any height and width, a batch "
        "of images, and the style mix as an input (image: N x 3 x H x W in [0, 1]; style: "
        "1 x S weights). Before writing, the export is run on a test photo with every style "
        "and compared with PyTorch; above 1e-3 it fails and nothing is written. An instant "
        "model (from 'stylelab train-instant') exports to ONNX only, the painting's feature "
        "statistics as an input ('stylelab instant --model OUT.onnx'); its check: within "
        "1/255 of PyTorch fp32.",
    )
    export.add_argument("model", metavar="MODEL", help="a .safetensors model (fast or instant)")
    export.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.onnx or OUT.pt")
    export.add_argument("--opset", type=int, default=18, help="ONNX opset, 18 to 21 (default: 18)")
    export.add_argument("--json", action="store_true", help="print the report as JSON")
    export.set_defaults(handler=cmd_export)

    video = sub.add_parser(
        "video",
        help="stylize a video with a trained fast model or an instant one (audio kept)",
        description="Stylize every frame of INPUT with MODEL (.safetensors or .onnx), in "
        "batches, and write OUT (.mp4, .mkv, .mov: H.264; .webm: VP9) with the input's frame "
        "rate, timing and audio, and OUT.json (settings, speed and the flicker figure: mean "
        "change between consecutive output frames over the same for the input, and the "
        "flow-warping error). With an instant model ('instant': the shipped one) any painting "
        "is the style: 'stylelab video instant clip.mp4 --style painting.jpg -o out.mp4'.",
    )
    video.add_argument(
        "model",
        metavar="MODEL",
        help="a fast model (.safetensors or its .onnx export), an instant model "
        "(.safetensors), or 'instant': the shipped instant model, with --style PAINTING",
    )
    video.add_argument("input", metavar="INPUT", help="a video file ffmpeg reads")
    video.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.mp4 and OUT.json")
    add_model_options(
        video,
        "a fast model's style: index (0 = first) or name; an instant model's: the painting "
        "(an image or example:NAME)",
        "0..1: a fast model blends with the input; an instant model's is AdaIN's alpha, "
        "the photo's features at 0 (default: 1)",
    )
    add_look_arguments(video, shown=False, only="instant models: ")
    video.add_argument(
        "--style-scale",
        type=float,
        default=None,
        metavar="SCALE",
        help="instant models: the painting's size relative to the frames' working size; "
        "larger = bigger strokes (default: 1)",
    )
    video.add_argument("--batch", type=int, default=4, help="frames per forward pass (default: 4)")
    video.add_argument(
        "--deflicker",
        type=float,
        default=0.0,
        metavar="A",
        help="0..1: blend each output frame with the previous one where the input did not "
        "change (less flicker, no ghosts on motion); 0 = off (default: 0)",
    )
    video.add_argument("--no-audio", action="store_true", help="drop the audio stream")
    video.add_argument("--json", action="store_true", help="print the record as JSON (stdout)")
    video.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    video.set_defaults(handler=cmd_video)


def cmd_export(args: argparse.Namespace) -> int:
    from stylelab.fast.export import check_export_output, export_model

    if not 18 <= args.opset <= 21:
        raise StylelabError(f"--opset must be from 18 to 21, got {args.opset}")
    source = check_input_file(args.model, "model file")
    if source.suffix.lower() != ".safetensors":
        raise StylelabError(
            f"{one_line(source)}: export takes a .safetensors model from 'stylelab train' or "
            "'stylelab train-instant'"
        )
    output = check_export_output(args.output)
    check_outputs([output], [source])
    if _is_instant(source):
        from stylelab.adain.export import export_instant

        report = export_instant(source, output, opset=args.opset)
    else:
        report = export_model(source, output, opset=args.opset)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        opset = f", opset {report.opset}" if report.opset else ""
        styles = f"{len(report.styles)} style(s)" if report.styles else "instant: any painting"
        print(
            f"wrote {one_line(output)} ({report.format}{opset}, {styles}; "
            f"max difference from PyTorch {report.max_abs_difference:.2g} on [0, 1], "
            f"{report.seconds:.1f} s)",
            file=sys.stderr,
        )
    return 0


def _is_instant(source: Path) -> bool:
    """True for an instant model (``format = stylelab-instant`` in the file's metadata)."""
    from stylelab.adain.modelfile import FORMAT
    from stylelab.fast.metadata import safetensors_metadata

    return safetensors_metadata(source, "stylelab model (.safetensors)").get("format") == FORMAT


#: ``stylelab video instant INPUT --style PAINTING``: the shipped instant model.
INSTANT_MODEL = "instant"


def _is_instant_model(model: str) -> bool:
    """MODEL names an instant model: the word ``instant`` or an instant .safetensors file
    (anything else, damaged files included, is left to the fast model's checks)."""
    if model == INSTANT_MODEL:
        return True
    path = Path(model)
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return False
    try:
        return _is_instant(path)
    except StylelabError:
        return False


def _fast_stylizer(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The frame stylizer of a fast model and its settings for OUT.json."""
    model = open_model(args.model, args.device, args.precision, args.runtime, quiet=args.quiet)
    # after: an instant export says so
    for flag in ("palette", "band_contrast", "internal_size", "style_scale"):
        if getattr(args, flag) is not None:
            raise StylelabError(
                f"--{flag.replace('_', '-')} goes with an instant model, not a fast one"
            )
    if args.precision == "auto" and str(model.device) == "cpu" and model.precision != "fp32":
        # bf16 on a CPU doubles the flicker of a trained model and gains nothing here
        # (benchmarks/RESULTS.md, video at 480p): video defaults to fp32 on CPUs.
        model.backend.precision = "fp32"
    weights = model.style_weights(style_choice(args.style, args.style_mix, model.styles))
    strength = args.strength

    def stylize_frames(frames: Any) -> Any:
        return model.stylize_frames(frames, weights, strength, args.preserve_color)

    settings = {
        "model": str(Path(args.model)),
        "style": dict(zip(model.styles, [round(float(w), 4) for w in weights[0]], strict=True)),
        "strength": strength,
        "preserve_color": args.preserve_color,
        "device": str(model.device),
        "precision": model.precision,
        "runtime": model.runtime,
    }
    return stylize_frames, settings


def _instant_stylizer(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The frame stylizer of an instant model (:mod:`stylelab.adain.frames`, PyTorch on
    the CPU) with the painting of --style, and its settings for OUT.json."""
    if args.style is None:
        raise StylelabError("an instant model needs the painting: --style PAINTING")
    if args.style_mix is not None:
        raise StylelabError("--style-mix goes with a multi-style fast model, not an instant one")
    if args.runtime == "onnx":
        raise StylelabError("video runs an instant model on PyTorch: --runtime auto or torch")
    if args.device not in ("auto", "cpu"):
        raise StylelabError("video runs an instant model on the CPU: --device auto or cpu")
    if args.precision not in ("auto", "fp32", "bf16"):
        raise StylelabError("an instant model runs in fp32 or bf16: --precision auto, fp32, bf16")
    from stylelab.adain.frames import instant_frames

    model = None if args.model == INSTANT_MODEL else args.model
    look = {name: getattr(args, name) for name in ("palette", "band_contrast", "internal_size")}
    look["style_scale"] = args.style_scale
    frames = instant_frames(
        model,
        [args.style],
        strength=args.strength,
        **{name: value for name, value in look.items() if value is not None},
        # auto is instant's own rule (bf16 where the CPU has it natively): unlike a fast
        # model's, an instant model's flicker barely moves in bf16 (docs/video.md)
        precision=args.precision,
        preserve_color=args.preserve_color,
    )
    settings = {
        "model": "shipped instant model" if model is None else str(Path(args.model)),
        "style": args.style,
        "preserve_color": args.preserve_color,
        "device": "cpu",
        "runtime": "torch",
        **frames.record(),
    }

    def stylize_frames(batch: Any) -> Any:
        styled = frames(batch)
        settings.update(frames.record())  # the working edge, known once frames come
        return styled

    return stylize_frames, settings


def cmd_video(args: argparse.Namespace) -> int:
    from stylelab.fast.choices import check_size, check_strength

    try:
        import av  # noqa: F401 - PyAV, the optional video dependency
    except ImportError:
        raise StylelabError(
            "stylelab video needs PyAV: pip install 'stylelab[video]' (or pip install av)"
        ) from None
    try:
        import cv2  # noqa: F401 - OpenCV, for the flow-warping error
    except ImportError:
        raise StylelabError(
            "stylelab video needs OpenCV for its flow-warping error: pip install "
            "'stylelab[video]' (or pip install opencv-python-headless)"
        ) from None
    from stylelab.video import check_video_output, probe_video, stylize_video

    check_strength(args.strength)
    if args.size is not None:
        check_size(args.size)
    output = check_video_output(args.output)
    record_file = output.with_suffix(".json")
    instant = _is_instant_model(args.model)
    inputs = [args.input] + ([] if args.model == INSTANT_MODEL else [args.model])
    inputs += [args.style] if instant and args.style and Path(args.style).exists() else []
    check_outputs([output, record_file], inputs)
    probe_video(args.input)
    if instant:
        stylize_frames, settings = _instant_stylizer(args)
    else:
        stylize_frames, settings = _fast_stylizer(args)
    settings["size"] = args.size
    record = stylize_video(
        args.input,
        output,
        stylize_frames,
        size=args.size,
        batch=args.batch,
        deflicker=args.deflicker,
        audio=not args.no_audio,
        progress=not args.quiet,
        settings=settings,
    )
    if args.json:
        print(json.dumps(record, indent=2))
    if record.get("status") == "interrupted":
        print(
            f"stylelab: interrupted after {record['frames']} frames; wrote {one_line(output)}",
            file=sys.stderr,
        )
        return interrupted_exit_code()
    if not args.quiet:
        ratio = record.get("flicker_ratio")
        flicker = f"flicker {ratio:.2f}x the input's" if ratio is not None else "static input"
        warped = record.get("warping_error_output")
        if warped is not None:
            flicker += f", warping error {warped:.4f} (input {record['warping_error_input']:.4f})"
        print(
            f"wrote {one_line(output)} ({record['frames']} frames, "
            f"{record['frames_per_s']:.1f} frames/s, {flicker}) and {one_line(record_file)}",
            file=sys.stderr,
        )
    return 0

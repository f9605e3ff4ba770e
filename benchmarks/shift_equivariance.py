"""Where a fast model's video flicker comes from: moves, noise and brightness of a frame.

For frames x of the real clip, each model T is run on x and on a changed x, and the mean
absolute difference on [0, 1] is printed (lower is steadier):

- ``shift k``: |T(x moved k px) - (T(x) moved k px)| (crops compared where both exist);
  0 for a shift-equivariant network. The compact network subsamples three times (1/8), so
  a move of 8 px keeps every pixel's phase and a move of 1-4 px does not;
- ``noise s``: |T(x + n) - T(x)|, n Gaussian with standard deviation s;
- ``bright``: |T(1.02 x) - T(x)|.

A temporally trained model (``--temporal-weight``) should lose most where the plain one
is worst. docs/video.md ("Where the flicker comes from") gives a run of it.

``--seconds ARCH,ARCH``: what a finer grid costs: seconds per 1024x768 image of fresh
networks of those designs (``run_network``, bf16 where native), contenders alternating,
with no added load and beside ``--load`` busy processes, median of 5 after a warm-up.

    PYTHONPATH=src python benchmarks/shift_equivariance.py MODEL.safetensors [MODEL ...] \\
        [--clip ../shared/eval-video/big_buck_bunny_cut.mp4]
    PYTHONPATH=src python benchmarks/shift_equivariance.py --seconds compact,compact4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

from stylelab.fast.apply import run_network
from stylelab.fast.modelfile import load_model
from stylelab.fast.nets import TransformerNet
from stylelab.precision import resolve_precision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_model, median, quiet_and_loaded, table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT.parent / "shared" / "eval-video" / "big_buck_bunny_cut.mp4"
SHIFTS = (1, 2, 4, 8, 16)
NOISE = (0.0025, 0.01)
MARGIN = 8  # px left out at every edge (reflection padding differs there)


def clip_frames(path: Path, count: int, every: int, height: int, width: int) -> torch.Tensor:
    """``count`` frames, one in ``every``, as (count, 3, height, width) in [0, 1]."""
    frames = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % every == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
    return F.interpolate(x, size=(height, width), mode="area")


def shift_error(net: torch.nn.Module, x: torch.Tensor, style: torch.Tensor, k: int) -> float:
    """mean |T(x[..., k:]) - T(x)[..., k:]| over a window of width W - 24 (a multiple of 8)."""
    width = x.shape[-1] - 24
    base = net(x[..., :, 4 : 4 + width], style)
    moved = net(x[..., :, 4 + k : 4 + k + width], style)
    inner = (slice(None), slice(None), slice(MARGIN, -MARGIN))
    return float(
        (moved[inner][..., MARGIN : -MARGIN - k] - base[inner][..., MARGIN + k : -MARGIN])
        .abs()
        .mean()
    )


def measure(path: Path, x: torch.Tensor) -> dict[str, float]:
    net = load_model(path).net
    style = torch.zeros(x.shape[0], net.styles)
    style[:, 0] = 1
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        plain = net(x, style)
        row = {f"shift {k}": shift_error(net, x, style, k) for k in SHIFTS}
        for sigma in NOISE:
            noisy = (x + sigma * torch.randn(x.shape, generator=generator)).clamp(0, 1)
            row[f"noise {sigma}"] = float((net(noisy, style) - plain).abs().mean())
        row["bright"] = float((net((1.02 * x).clamp(0, 1), style) - plain).abs().mean())
    return row


def seconds_per_image(architectures: list[str], load: int) -> str:
    """Median seconds per 1024x768 image of each design, quiet and beside ``load`` busy
    processes (a table)."""
    photo, style = torch.rand(1, 3, 768, 1024), torch.ones(1, 1)
    precision = resolve_precision("auto", torch.device("cpu"))
    nets = {name: TransformerNet(name, 1).eval() for name in architectures}

    def timed(net: TransformerNet) -> float:
        start = time.perf_counter()
        run_network(net, photo, style, precision=precision)
        return time.perf_counter() - start

    for net in nets.values():
        timed(net)  # warm-up
    times = quiet_and_loaded({n: (lambda net=net: timed(net)) for n, net in nets.items()}, 5, load)
    first = architectures[0]
    rows = [
        [name, when, f"{median(t):.3f}", f"{median(t) / median(times[first, when]):.2f}"]
        for (name, when), t in sorted(times.items(), key=lambda item: item[0][1])
    ]
    header = ["design", "added load", f"s per image ({precision})", f"vs {first}"]
    return table(header, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--clip", type=Path, default=CLIP, help=f"default: {CLIP}")
    parser.add_argument("--frames", type=int, default=6, help="frames (default 6)")
    parser.add_argument("--every", type=int, default=12, help="one frame in N (default 12)")
    parser.add_argument("--seconds", help="comma-separated designs to time at 1024x768")
    parser.add_argument("--load", type=int, default=2, help="busy processes (default 2)")
    options = parser.parse_args()
    if options.seconds:
        print(cpu_model())
        print(seconds_per_image(options.seconds.split(","), options.load))
    if not options.models:
        return 0
    if not options.clip.exists():
        print(f"skipped: no clip at {options.clip}", file=sys.stderr)
        return 0
    x = clip_frames(options.clip, options.frames, options.every, 184, 328)
    rows = {f"{path.parent.name}/{path.name}": measure(path, x) for path in options.models}
    columns = list(next(iter(rows.values())))
    frames = f"{x.shape[0]} frames of {options.clip.name} at {x.shape[-1]}x{x.shape[-2]} px"
    print(f"{frames}; {cpu_model()}")
    cells = [[name] + [f"{row[c]:.4f}" for c in columns] for name, row in rows.items()]
    print(table(["model", *columns], cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

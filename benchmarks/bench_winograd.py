"""Would Winograd convolutions make a VGG19 step faster here? Direct (oneDNN) against F(4x4, 3x3).

Winograd's minimal filtering (Lavin & Gray, "Fast Algorithms for Convolutional Neural
Networks", CVPR 2016) computes a 4x4 output tile of a 3x3 convolution with 36 instead of
144 multiplications: Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A. Per layer, the element-wise product
summed over input channels becomes 36 matrix products (tiles x C) @ (C x K), and the
transforms Bᵀ d B and Aᵀ m A are cheap in flops but each reads and writes the whole
activation. Both VGG19 passes of an L-BFGS step are made of such convolutions (the input
gradient of a 3x3 stride-1 convolution is another one, with the weights transposed and
flipped), so the forward ratio below is the ratio a step would get on its convolutions.

This script times each VGG19 convolution up to conv5_1 at the layer's own size for an
image of ``--size`` px: oneDNN's direct convolution (channels_last, what stylelab runs) and
a Winograd F(4x4, 3x3) written with torch operations (transforms as slices and sums, the
36 products as one ``torch.bmm``), with its largest error relative to the direct result.
``--compile`` fuses the transforms with ``torch.compile`` (compile time reported apart).

    PYTHONPATH=src python benchmarks/bench_winograd.py --size 512
    PYTHONPATH=src python benchmarks/bench_winograd.py --size 512 --compile
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median, table  # noqa: E402

# F(4x4, 3x3) with interpolation points 0, ±1, ±2, ∞ (Lavin & Gray 2016, section 4.2).
B_T = (
    (4, 0, -5, 0, 1, 0),
    (0, -4, -4, 1, 1, 0),
    (0, 4, -4, -1, 1, 0),
    (0, -2, -1, 2, 1, 0),
    (0, 2, -1, -2, 1, 0),
    (0, 4, 0, -5, 0, 1),
)
A_T = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
G = (
    (1 / 4, 0, 0),
    (-1 / 6, -1 / 6, -1 / 6),
    (-1 / 6, 1 / 6, -1 / 6),
    (1 / 24, 1 / 12, 1 / 6),
    (1 / 24, -1 / 12, 1 / 6),
    (0, 0, 1),
)
# (in channels, out channels, downsampling factor) of VGG19's convolutions up to conv5_1.
VGG19_CONVS = {
    "conv1_1": (3, 64, 1),
    "conv1_2": (64, 64, 1),
    "conv2_1": (64, 128, 2),
    "conv2_2": (128, 128, 2),
    "conv3_1": (128, 256, 4),
    "conv3_2": (256, 256, 4),
    "conv3_3": (256, 256, 4),
    "conv3_4": (256, 256, 4),
    "conv4_1": (256, 512, 8),
    "conv4_2": (512, 512, 8),
    "conv4_3": (512, 512, 8),
    "conv4_4": (512, 512, 8),
    "conv5_1": (512, 512, 16),
}


def combine(coefficients: Sequence[float], parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ_i c_i · parts[i], skipping zero coefficients (one row of a transform matrix)."""
    terms = [p if c == 1 else p * c for c, p in zip(coefficients, parts, strict=True) if c != 0]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def input_transform(padded: torch.Tensor, tiles_h: int, tiles_w: int) -> torch.Tensor:
    """Bᵀ d B for every 6x6 tile (stride 4) of an NHWC image: (36, N, tiles_h, tiles_w, C)."""
    rows = [padded[:, i : i + 4 * tiles_h : 4] for i in range(6)]
    by_rows = [combine(B_T[a], rows) for a in range(6)]
    out: list[torch.Tensor] = []
    for a in range(6):
        cols = [by_rows[a][:, :, j : j + 4 * tiles_w : 4] for j in range(6)]
        out.extend(combine(B_T[b], cols) for b in range(6))
    return torch.stack(out)


def output_transform(products: torch.Tensor) -> torch.Tensor:
    """Aᵀ m A for (6, 6, N, th, tw, K) products: (N, th, 4, tw, 4, K) output tiles."""
    by_rows = [combine(A_T[i], [products[a] for a in range(6)]) for i in range(4)]
    tiles = [
        torch.stack([combine(A_T[j], [row[b] for b in range(6)]) for j in range(4)], dim=3)
        for row in by_rows
    ]
    return torch.stack(tiles, dim=2)


def weight_transform(weight: torch.Tensor) -> torch.Tensor:
    """G g Gᵀ of a (K, C, 3, 3) weight, laid out (36, C, K) for the batched product."""
    g = torch.tensor(G, dtype=weight.dtype)
    out_channels, in_channels = weight.shape[:2]
    u = g @ weight @ g.T
    return u.reshape(out_channels, in_channels, 36).permute(2, 1, 0).contiguous()


def winograd_conv(
    image: torch.Tensor,
    transformed_weight: torch.Tensor,
    transforms: tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]],
) -> torch.Tensor:
    """3x3, stride 1, padding 1 convolution of an NHWC image by F(4x4, 3x3); NHWC out."""
    n, h, w, c = image.shape
    k = transformed_weight.shape[-1]
    th, tw = -(-h // 4), -(-w // 4)
    padded = F.pad(image, (0, 0, 1, 4 * tw - w + 1, 1, 4 * th - h + 1))
    inputs = transforms[0](padded, th, tw).reshape(36, n * th * tw, c)
    products = torch.bmm(inputs, transformed_weight).view(6, 6, n, th, tw, k)
    out = transforms[1](products).reshape(n, 4 * th, 4 * tw, k)
    return out[:, :h, :w]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image size in px (default 512)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per layer (median)")
    parser.add_argument(
        "--compile", action="store_true", help="fuse the transforms with torch.compile"
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    transforms: tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]] = (
        input_transform,
        output_transform,
    )
    if args.compile:
        transforms = (
            torch.compile(input_transform, dynamic=False),
            torch.compile(output_transform, dynamic=False),
        )
    print(f"# bench_winograd: {args.size} px, {'compiled' if args.compile else 'eager'} transforms")
    print(f"# {machine()}")
    rows, total_direct, total_best, compile_s = [], 0.0, 0.0, 0.0
    for name, (c, k, down) in VGG19_CONVS.items():
        px = args.size // down
        weight = torch.randn(k, c, 3, 3) * (2 / (9 * c)) ** 0.5
        image = torch.randn(1, c, px, px).contiguous(memory_format=torch.channels_last)
        nhwc = image.permute(0, 2, 3, 1)
        u = weight_transform(weight)
        start = time.perf_counter()
        fast = winograd_conv(nhwc, u, transforms).permute(0, 3, 1, 2)
        compile_s += time.perf_counter() - start
        direct = F.conv2d(image, weight, padding=1)
        error = ((fast - direct).abs().max() / direct.abs().max()).item()
        t_direct = best_time(functools.partial(F.conv2d, image, weight, padding=1), args.repeats)
        t_wino = best_time(functools.partial(winograd_conv, nhwc, u, transforms), args.repeats)
        total_direct += t_direct
        total_best += min(t_direct, t_wino)
        rows.append(
            [name, f"{c}→{k}", px, t_direct * 1e3, t_wino * 1e3, t_direct / t_wino, f"{error:.1e}"]
        )
    print(
        table(
            ["layer", "channels", "px", "direct ms", "winograd ms", "speed-up", "max rel error"],
            rows,
        )
    )
    print(
        f"\nall convolutions: direct {total_direct * 1e3:.0f} ms; each layer with its faster "
        f"algorithm {total_best * 1e3:.0f} ms: {total_direct / total_best:.2f}x "
        f"(Winograd's multiplication count alone would allow up to 4x)"
    )
    if args.compile:
        print(f"first calls, compilation included: {compile_s:.1f} s")


if __name__ == "__main__":
    main()

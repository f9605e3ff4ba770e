"""Loss terms of Gatys et al., "A Neural Algorithm of Artistic Style" (2015), as pure functions.

Features are tensors of shape (B, N, H, W): N channels (filters), M = H * W positions.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Position-averaged Gram matrix G_ij = (1/M) sum_k F_ik F_jk, shape (B, N, N).

    Dividing by M makes targets from a style image of another size comparable; for equal
    sizes the style loss below is exactly Gatys' E_l. Computed in float32 (float64 stays
    float64) whatever the features' dtype; the gradient comes back in the features' dtype.

    Hot-loop form (see :class:`_Gram`): reads channels_last features without a copy and
    uses the symmetry of G in the backward pass, dF = (dG + dG^T) F / M, one matrix
    product instead of two.
    """
    return _Gram.apply(features)


def guided_gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gram over a region (Gatys et al. 2017, section 4): G = (F m)(F m)^T / sum(m), for
    features (B, N, H, W) and a mask (1, 1, H, W) in [0, 1], or (B, 1, H, W), one per item
    (each item divided by its own area); a mask of ones gives :func:`gram_matrix`. An empty
    mask gives zeros."""
    height, width = features.shape[-2:]
    area = mask.flatten(1).sum(1).clamp_min(1e-8).view(-1, 1, 1)
    return gram_matrix(features * mask.to(features.dtype)) * (height * width / area)


def _positions_by_channels(features: torch.Tensor) -> torch.Tensor:
    """(B, N, H, W) -> (B, M, N), at least float32; a view for channels_last float32 input."""
    batch, channels, height, width = features.shape
    flat = features.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
    return flat if flat.dtype in (torch.float32, torch.float64) else flat.float()


class _Gram(torch.autograd.Function):
    """G = X^T X / M with X = F as (B, M, N); backward dX = X (dG + dG^T) / M."""

    @staticmethod
    def forward(ctx: Any, features: torch.Tensor) -> torch.Tensor:
        flat = _positions_by_channels(features)
        ctx.save_for_backward(flat)
        ctx.shape = features.shape
        ctx.dtype = features.dtype
        with bf16_products(features):
            return torch.bmm(flat.transpose(1, 2), flat) / flat.shape[1]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        batch, channels, height, width = ctx.shape
        symmetric = (grad + grad.transpose(1, 2)) / flat.shape[1]
        with bf16_products(flat, ctx.dtype):
            dflat = torch.bmm(flat, symmetric)  # (B, M, N)
        return dflat.reshape(batch, height, width, channels).permute(0, 3, 1, 2).to(ctx.dtype)


@contextlib.contextmanager
def bf16_products(tensor: torch.Tensor, dtype: torch.dtype | None = None) -> Iterator[None]:
    """On CPU, for features that are bf16 (``dtype``, default ``tensor.dtype``): let oneDNN
    run float32 matrix products on bf16 units (AMX, AVX512-BF16), accumulating and writing
    float32 (``torch.backends.mkldnn.matmul.fp32_precision = "bf16"``); elsewhere nothing.

    The Gram's operands are bf16 values upcast, which bf16 holds exactly, so G = X^T X / M
    is the float32 product of the same numbers, about 5x faster than the IEEE float32
    product (1e-6 relative, like it). In the backward pass dG is rounded to bf16 before
    dF = X (dG + dG^T) / M, which is rounded to bf16 after: one more rounding of the same
    size on a gradient that is bf16 anyway. The setting is process-wide while it lasts;
    overlapping uses (threads, nesting) are counted, and the last one out restores it.
    """
    low = tensor.dtype if dtype is None else dtype
    settings = getattr(torch.backends.mkldnn, "matmul", None)
    if low != torch.bfloat16 or tensor.device.type != "cpu" or settings is None:
        yield
        return
    with _BF16_USE.lock:
        if _BF16_USE.count == 0:
            _BF16_USE.before = settings.fp32_precision
            settings.fp32_precision = "bf16"
        _BF16_USE.count += 1
    try:
        yield
    finally:
        with _BF16_USE.lock:
            _BF16_USE.count -= 1
            if _BF16_USE.count == 0:
                settings.fp32_precision = _BF16_USE.before


class _Bf16Use:
    """Who is inside :func:`bf16_products` now, and the setting to restore after the last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.before = "none"


_BF16_USE = _Bf16Use()


def style_loss(gram: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """E_l = 1/(4 N^2) sum_ij (G_ij - A_ij)^2 with position-averaged Grams.

    With raw Grams F F^T this is Gatys' E_l = 1/(4 N^2 M^2) sum_ij (G_ij - A_ij)^2.
    Summed over the batch.
    """
    channels = gram.shape[-1]
    return (gram - target_gram).pow(2).sum() / (4 * channels**2)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gatys' content loss 1/2 sum (F - P)^2, in float32."""
    return 0.5 * (features.float() - target.float()).pow(2).sum()


def total_variation(image: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """Anisotropic total variation: sum of |x[i+1,j] - x[i,j]| + |x[i,j+1] - x[i,j]|.

    ``reduction="mean"`` divides by the number of pixel values (B * C * H * W) so that
    the same weight suits every image size.
    """
    vertical = (image[..., 1:, :] - image[..., :-1, :]).abs().sum()
    horizontal = (image[..., :, 1:] - image[..., :, :-1]).abs().sum()
    total = vertical + horizontal
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / image.numel()
    raise ValueError(f"unknown reduction {reduction!r}")

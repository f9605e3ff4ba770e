"""Loss terms of Gatys et al., "A Neural Algorithm of Artistic Style" (2015), as pure functions.

Features are tensors of shape (B, N, H, W): N channels (filters), M = H * W positions.
"""

from __future__ import annotations

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Position-averaged Gram matrix G_ij = (1/M) sum_k F_ik F_jk, shape (B, N, N).

    Dividing by M makes targets from a style image of another size comparable; for equal
    sizes the style loss below is exactly Gatys' E_l. Computed in float32.
    """
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width).float()
    return torch.bmm(flat, flat.transpose(1, 2)) / (height * width)


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

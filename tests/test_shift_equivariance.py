"""benchmarks/shift_equivariance.py: its shift error on networks with known answers."""

from __future__ import annotations

import torch

from benchmarks.shift_equivariance import shift_error


class Pointwise(torch.nn.Module):
    """A per-pixel map: exactly shift-equivariant."""

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(3 * x - 1)


class GridPattern(torch.nn.Module):
    """x times a fixed pattern of period 8 anchored to the frame: equivariant to moves
    of 8 pixels only (the failure the benchmark looks for)."""

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        columns = torch.arange(x.shape[-1], dtype=x.dtype)
        return x * (1 + 0.5 * torch.cos(2 * torch.pi * columns / 8))


def test_shift_error_is_zero_for_a_pointwise_map_and_periodic_for_a_grid() -> None:
    x = torch.rand(2, 3, 32, 64, generator=torch.Generator().manual_seed(0))
    style = torch.ones(2, 1)
    for k in (1, 2, 4, 8, 16):
        assert shift_error(Pointwise(), x, style, k) < 1e-6
    grid = GridPattern()
    assert shift_error(grid, x, style, 8) < 1e-6
    assert shift_error(grid, x, style, 16) < 1e-6
    # a move of half a period turns 1 + 0.5 cos into 1 - 0.5 cos: |diff| = |x cos|, whose
    # mean is E[x] * mean_n |cos(2 pi n / 8)| = 0.5 * (2 + 4 / sqrt(2)) / 8 (x uniform on [0, 1])
    expected = 0.5 * (2 + 4 / 2**0.5) / 8
    assert abs(shift_error(grid, x, style, 4) - expected) < 0.01
    assert shift_error(grid, x, style, 1) > 0.05

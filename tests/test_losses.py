"""Analytic checks of the loss terms against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylelab import losses


def test_gram_of_known_tensor() -> None:
    # F has 2 channels over M = 2 positions: rows (1, 2) and (3, 4).
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 2  # F F^T / M
    assert torch.allclose(losses.gram_matrix(features)[0], expected, atol=0, rtol=0)


def test_gram_is_symmetric_and_batched() -> None:
    features = torch.randn(3, 4, 5, 6)
    gram = losses.gram_matrix(features)
    assert gram.shape == (3, 4, 4)
    assert torch.allclose(gram, gram.transpose(1, 2))
    flat = features[1].reshape(4, 30)
    assert torch.allclose(gram[1], flat @ flat.T / 30, atol=1e-5)


def test_style_loss_equals_gatys_formula_for_equal_sizes() -> None:
    rng = np.random.default_rng(1)
    n, h, w = 3, 4, 5
    m = h * w
    f = rng.normal(size=(n, m))
    p = rng.normal(size=(n, m))
    # Gatys et al. (2015), eq. 4: E = 1/(4 N^2 M^2) sum_ij (G_ij - A_ij)^2 with raw Grams.
    gatys = ((f @ f.T - p @ p.T) ** 2).sum() / (4 * n**2 * m**2)
    ours = losses.style_loss(
        losses.gram_matrix(torch.tensor(f).reshape(1, n, h, w)),
        losses.gram_matrix(torch.tensor(p).reshape(1, n, h, w)),
    )
    assert float(ours) == pytest.approx(gatys, rel=1e-6)


def test_style_loss_zero_for_identical_features_and_positive_otherwise() -> None:
    features = torch.randn(1, 8, 6, 6)
    gram = losses.gram_matrix(features)
    assert float(losses.style_loss(gram, gram)) == 0.0
    assert float(losses.style_loss(gram, losses.gram_matrix(features * 1.1))) > 0.0


def test_content_loss_is_half_sum_of_squares() -> None:
    features = torch.tensor([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    target = torch.tensor([0.0, 0.0, 1.0]).reshape(1, 3, 1, 1)
    assert float(losses.content_loss(features, target)) == pytest.approx(0.5 * (1 + 4 + 4))


@pytest.mark.parametrize("n", [2, 5, 8])
def test_total_variation_of_checkerboard(n: int) -> None:
    board = torch.tensor(np.indices((n, n)).sum(axis=0) % 2, dtype=torch.float32)
    image = board.expand(1, 3, n, n)
    # Every neighbouring pair differs by 1: n(n-1) vertical + n(n-1) horizontal, per channel.
    expected = 3 * 2 * n * (n - 1)
    assert float(losses.total_variation(image)) == pytest.approx(expected)
    assert float(losses.total_variation(image, reduction="mean")) == pytest.approx(
        expected / (3 * n * n)
    )


def test_total_variation_of_constant_and_ramp() -> None:
    assert float(losses.total_variation(torch.full((1, 3, 7, 9), 0.3))) == 0.0
    ramp = torch.arange(5, dtype=torch.float32).expand(1, 1, 4, 5)  # +1 per column
    assert float(losses.total_variation(ramp)) == pytest.approx(4 * 4)
    with pytest.raises(ValueError):
        losses.total_variation(ramp, reduction="max")

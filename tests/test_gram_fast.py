"""The hot-loop Gram matrix: same values and gradients as F F^T / M, any memory layout."""

from __future__ import annotations

import pytest
import torch

from stylelab.losses import bf16_products, gram_matrix


def reference(features: torch.Tensor) -> torch.Tensor:
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def test_gram_of_a_known_tensor() -> None:
    # Two channels over M = 2 positions: F = [[1, 2], [3, 4]] -> F F^T / 2.
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 2
    torch.testing.assert_close(gram_matrix(features), expected, rtol=0, atol=0)


def test_gradcheck_in_float64() -> None:
    features = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gram_matrix, (features,), eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_matches_reference_values_and_gradients(layout: torch.memory_format) -> None:
    torch.manual_seed(0)
    base = torch.randn(2, 6, 5, 7)
    weight = torch.randn(2, 6, 6)  # not symmetric: the backward must symmetrize dG itself
    ours = base.clone().contiguous(memory_format=layout).requires_grad_(True)
    theirs = base.clone().requires_grad_(True)
    (gram_matrix(ours) * weight).sum().backward()
    (reference(theirs) * weight).sum().backward()
    torch.testing.assert_close(gram_matrix(ours), reference(theirs), rtol=1e-6, atol=1e-6)
    assert ours.grad is not None and theirs.grad is not None
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-5, atol=1e-6)


def test_bf16_features_give_fp32_gram_and_bf16_gradient() -> None:
    features = torch.randn(1, 4, 3, 3).to(torch.bfloat16).requires_grad_(True)
    gram = gram_matrix(features)
    assert gram.dtype == torch.float32
    gram.sum().backward()
    assert features.grad is not None and features.grad.dtype == torch.bfloat16


def test_bf16_features_of_many_positions_give_the_exact_gram_and_a_close_gradient() -> None:
    # Large enough (M = 4096, N = 64) for oneDNN's matrix product, which runs on bf16
    # units here: the operands are bf16 values, so G must be their float32 product.
    torch.manual_seed(0)
    features = torch.randn(1, 64, 64, 64).to(torch.bfloat16)
    features = features.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    weight = torch.randn(1, 64, 64, dtype=torch.float64)
    before = torch.backends.mkldnn.matmul.fp32_precision
    gram = gram_matrix(features)
    (gram.double() * weight).sum().backward()
    assert torch.backends.mkldnn.matmul.fp32_precision == before  # restored
    exact = features.detach().double().requires_grad_(True)
    expected = reference(exact)
    (expected * weight).sum().backward()
    scale = float(expected.detach().abs().max())
    torch.testing.assert_close(gram.detach().double(), expected.detach(), rtol=0, atol=2e-6 * scale)
    assert features.grad is not None and exact.grad is not None
    error = (features.grad.double() - exact.grad).norm() / exact.grad.norm()
    assert float(error) < 2**-7  # dG and dF each rounded to bf16 (2^-9 relative) once


def test_overlapping_bf16_products_restore_the_setting_after_the_last() -> None:
    """Two overlapping uses (two threads of the web app) leaving out of order: the product
    setting stays bf16 while either is inside, and the first value comes back at the end."""
    settings = getattr(torch.backends.mkldnn, "matmul", None)
    if settings is None:
        pytest.skip("this torch has no mkldnn matmul precision setting")
    before = settings.fp32_precision
    bf16 = torch.zeros(2, 2, dtype=torch.bfloat16)
    first, second = bf16_products(bf16), bf16_products(bf16)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first one out is not the last
    assert settings.fp32_precision == "bf16"
    second.__exit__(None, None, None)
    assert settings.fp32_precision == before

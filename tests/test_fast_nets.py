"""Transformer networks: shapes, exact equivalences, conditional instance norm, costs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stylelab.fast.nets import (
    ARCHITECTURES,
    ConditionalInstanceNorm2d,
    Conv,
    TransformerNet,
    count_gflops,
    count_parameters,
)


def _randomized(architecture: str, styles: int = 2) -> TransformerNet:
    """A network whose norms are not the identity (gamma ~ 1 +- 0.3, beta ~ 0 +- 0.3)."""
    net = TransformerNet(architecture, styles).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, ConditionalInstanceNorm2d):
                module.gamma.copy_(1 + 0.3 * torch.randn(module.gamma.shape, generator=generator))
                module.beta.copy_(0.3 * torch.randn(module.beta.shape, generator=generator))
    return net


def test_upsampling_conv_equals_nearest_upsample_reflect_pad_conv() -> None:
    """The phase-kernel form computes exactly interpolate(x2) -> reflect pad -> conv."""
    conv = Conv(5, 4, 3, upsample=True)
    x = torch.rand(2, 5, 7, 9, generator=torch.Generator().manual_seed(0))
    upsampled = F.interpolate(x, scale_factor=2, mode="nearest")
    expected = conv.conv(F.pad(upsampled, (1, 1, 1, 1), mode="reflect"))
    assert torch.allclose(conv(x), expected, atol=1e-5)
    assert torch.allclose(conv(x, band_rows=4), expected, atol=1e-5)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_banded_forward_equals_the_whole_forward(architecture: str) -> None:
    """Band-by-band convolutions and whole-image instance norms give the same image: no
    seams, the same statistics."""
    net = _randomized(architecture)
    x = torch.rand(1, 3, 96, 80, generator=torch.Generator().manual_seed(2))
    style = torch.tensor([[0.3, 0.7]])
    with torch.no_grad():
        whole = net(x, style)
        banded = net(x.clone(), style, band_rows=5)
    assert whole.shape == x.shape
    assert torch.allclose(whole, banded, atol=1e-5)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_the_stride_is_the_smallest_multiple_that_keeps_the_size(architecture: str) -> None:
    """Architecture.stride, which --train-size is checked against: sides that are odd
    multiples of it keep their size; odd multiples of half of it do not."""
    net = TransformerNet(architecture, 1).eval()
    stride = ARCHITECTURES[architecture].stride
    with torch.no_grad():
        kept = net(torch.rand(1, 3, 9 * stride, 7 * stride), torch.ones(1, 1))
        changed = net(torch.rand(1, 3, 9 * stride // 2, 7 * stride), torch.ones(1, 1))
    assert kept.shape[-2:] == (9 * stride, 7 * stride)
    assert changed.shape[-2] != 9 * stride // 2


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_output_is_an_image_of_the_input_size(architecture: str) -> None:
    net = _randomized(architecture, styles=3)
    x = torch.rand(2, 3, 64, 48)
    y = net(x, torch.eye(3)[:2])
    assert y.shape == x.shape
    assert float(y.detach().min()) >= 0 and float(y.detach().max()) <= 1
    y.mean().backward()  # trainable end to end
    assert all(p.grad is not None for p in net.parameters())


def test_conditional_instance_norm_mixes_gamma_and_beta_convexly() -> None:
    """z = (w . gamma) (x - mu) / sigma + (w . beta) (Dumoulin et al. 2017)."""
    norm = ConditionalInstanceNorm2d(4, 2)
    with torch.no_grad():
        norm.gamma.copy_(torch.tensor([[1.0, 2, 3, 4], [-1, 0, 1, 0.5]]))
        norm.beta.copy_(torch.tensor([[0.0, 1, 0, 1], [2, 2, -2, 0]]))
    x = torch.rand(1, 4, 6, 5, generator=torch.Generator().manual_seed(3))
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = (x.var(dim=(2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    normed = (x - mean) / std
    w = 0.25
    gamma = w * norm.gamma[0] + (1 - w) * norm.gamma[1]
    beta = w * norm.beta[0] + (1 - w) * norm.beta[1]
    expected = normed * gamma.view(1, 4, 1, 1) + beta.view(1, 4, 1, 1)
    assert torch.allclose(norm(x, torch.tensor([[w, 1 - w]])), expected, atol=1e-5)
    # A one-hot weight is that style alone.
    alone = normed * norm.gamma[1].view(1, 4, 1, 1) + norm.beta[1].view(1, 4, 1, 1)
    assert torch.allclose(norm(x, torch.tensor([[0.0, 1.0]])), alone, atol=1e-5)


def test_a_mix_differs_from_both_pure_styles() -> None:
    net = _randomized("compact")
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        a, b, mix = (net(x, torch.tensor([w])) for w in ([1.0, 0.0], [0.0, 1.0], [0.5, 0.5]))
    assert float((mix - a).abs().mean()) > 1e-3
    assert float((mix - b).abs().mean()) > 1e-3


def test_uniform_photo_gives_uniform_output_no_border_band() -> None:
    """Reflection padding + instance norm: a constant photo stays constant up to the edge.
    With zero padding the border rows would see zeros and differ (checked below)."""
    net = _randomized("johnson")
    gray = torch.full((1, 3, 64, 64), 0.5)
    with torch.no_grad():
        out = net(gray, torch.tensor([[1.0, 0.0]]))
    # Not exactly 0: instance norm of a constant map divides float rounding by sqrt(eps).
    assert float(out.std(dim=(2, 3)).max()) < 2e-3
    with torch.no_grad():
        zero_padded = F.conv2d(gray, net.down[0].conv.conv.weight, padding=4)
    assert float(zero_padded.std()) > 1e-2  # what reflection padding avoids


def _conv_macs(cin: int, cout: int, kernel: int, pixels: float, groups: int = 1) -> float:
    return cin // groups * kernel * kernel * cout * pixels


def test_gflops_match_the_architecture_by_hand() -> None:
    """johnson at 256 x 256: 9x9 3->32, 3x3/2 32->64, 3x3/2 64->128, 10 x 3x3 128->128,
    up 128->64, up 64->32, 9x9 32->3."""
    p = 256 * 256
    macs = (
        _conv_macs(3, 32, 9, p)
        + _conv_macs(32, 64, 3, p / 4)
        + _conv_macs(64, 128, 3, p / 16)
        + 10 * _conv_macs(128, 128, 3, p / 16)
        + _conv_macs(128, 64, 3, p / 4)
        + _conv_macs(64, 32, 3, p)
        + _conv_macs(32, 3, 9, p)
    )
    net = TransformerNet("johnson", 1)
    assert count_gflops(net, 256, 256) == pytest.approx(2 * macs / 1e9, rel=1e-9)


def test_compact4_gflops_by_hand() -> None:
    """compact4 at 256 x 256: 9x9/2 3->16, 3x3/2 16->32, 3x3 32->64 (stays at 1/4),
    5 x 2 x (depthwise 3x3 + pointwise 1x1) of 64, 3x3 64->32 (no upsampling),
    up 32->16, up 16->3 (each upsampling convolution counted at its output size)."""
    p = 256 * 256
    residual = _conv_macs(64, 64, 3, p / 16, groups=64) + _conv_macs(64, 64, 1, p / 16)
    macs = (
        _conv_macs(3, 16, 9, p / 4)
        + _conv_macs(16, 32, 3, p / 16)
        + _conv_macs(32, 64, 3, p / 16)
        + 10 * residual
        + _conv_macs(64, 32, 3, p / 16)
        + _conv_macs(32, 16, 3, p / 4)
        + _conv_macs(16, 3, 3, p)
    )
    net = TransformerNet("compact4", 1)
    assert count_gflops(net, 256, 256) == pytest.approx(2 * macs / 1e9, rel=1e-9)
    assert count_parameters(net) == count_parameters(TransformerNet("compact", 1))


@pytest.mark.parametrize(("architecture", "cell"), [("compact", 8), ("compact4", 4)])
def test_a_move_of_a_whole_grid_cell_keeps_the_output(architecture: str, cell: int) -> None:
    """A network's output is tied to the grid of its coarsest level: moving the photo by
    a whole cell moves the output with it (up to instance-norm statistics and borders),
    moving it by half a cell does not. compact's cell is 8 px, compact4's 4 px."""
    from benchmarks.shift_equivariance import shift_error

    net = _randomized(architecture, styles=1)
    small = torch.rand(1, 3, 24, 40, generator=torch.Generator().manual_seed(5))
    x = F.interpolate(small, size=(96, 160), mode="bilinear", align_corners=False)
    with torch.no_grad():
        whole = shift_error(net, x, torch.ones(1, 1), cell)
        half = shift_error(net, x, torch.ones(1, 1), cell // 2)
    assert whole < 0.5 * half


def test_compact_is_several_times_cheaper_and_small() -> None:
    johnson, compact = TransformerNet("johnson", 2), TransformerNet("compact", 2)
    for size in (512, 1024):
        assert count_gflops(compact, size, size) * 5 < count_gflops(johnson, size, size)
    assert count_parameters(compact) * 4 < 2_000_000  # fp32 bytes: under 2 MB
    assert count_parameters(compact) * 10 < count_parameters(johnson)


def test_network_refuses_what_it_cannot_be() -> None:
    with pytest.raises(ValueError):
        TransformerNet("nope", 1)
    with pytest.raises(ValueError):
        TransformerNet("compact", 0)


def test_the_light_config_names_every_architecture() -> None:
    """The CLI's choices come from fast.config (no torch import); they must be the nets'."""
    from stylelab.fast.config import ARCHITECTURE_NAMES

    assert sorted(ARCHITECTURE_NAMES) == sorted(ARCHITECTURES)

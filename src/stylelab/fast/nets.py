"""Image transformation networks for fast style transfer, with conditional instance norm.

- ``johnson``: Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer
  and Super-Resolution" (ECCV 2016), with instance norm (Ulyanov, Vedaldi & Lempitsky
  2017): 9x9 conv 32 -> 3x3/2 conv 64 -> 3x3/2 conv 128 -> 5 residual blocks of 128 ->
  2 x (nearest upsample x2 + 3x3 conv) to 64 and 32 -> 9x9 conv to 3.
- ``compact``: the same plan (3 convolutions, 5 residual blocks, 3 "upsampling" stages
  each followed by a convolution) made cheap for phones and CPUs: the first convolution
  already has stride 2, so the network works at 1/2, 1/4 and 1/8 of the input size and
  upsamples three times; 16/32/64 channels; residual blocks of depthwise-separable
  convolutions (MobileNet, Howard et al. 2017). About 30x fewer FLOPs than ``johnson``.
- ``compact4``: ``compact`` whose coarsest level is 1/4, not 1/8 (the third convolution
  keeps the size and the first upsampling is dropped): 1.6x its FLOPs. A network draws
  its strokes anchored to the grid of its coarsest level, so a move of part of a cell
  redraws them; on video (docs/video.md) a 4 px grid flickers less than an 8 px one.

Every convolution pads by reflection (no dark border band) and upsampling is nearest
neighbour followed by a convolution, never a transposed convolution (the checkerboard of
Odena, Dumoulin & Olah, Distill 2016). Every norm but the output's is a conditional
instance norm (Dumoulin, Shlens & Kudlur, ICLR 2017):

    z = gamma_s * (x - mu(x)) / sigma(x) + beta_s,

one (gamma_s, beta_s) per style s. A network takes its style as a weight vector w over
the styles; (gamma, beta) = sum_s w_s (gamma_s, beta_s), so a one-hot w is one style and
a convex combination mixes styles at run time. The output is (tanh(y) + 1) / 2 in [0, 1]
(Johnson's scaled tanh), for inputs in [0, 1].

Large images: :meth:`TransformerNet.forward` with ``band_rows`` runs every convolution
over bands of output rows and every instance norm over the whole tensor in place, so
the result equals the plain forward pass (same statistics over the whole image, no
seams) while no temporary is larger than one band; peak memory is about two of the
network's activation maps instead of a dozen.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from stylelab.fast.designs import ARCHITECTURES

INSTANCE_NORM_EPS = 1e-5


RESIDUAL_BLOCKS = 5


class ConditionalInstanceNorm2d(nn.Module):
    """Instance norm with one (gamma, beta) per style, mixed by a weight vector.

    ``forward(x, style)``: ``style`` is (B, S) weights; gamma = style @ gamma_table.
    """

    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(styles, channels))
        self.beta = nn.Parameter(torch.zeros(styles, channels))

    def affine(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, 1, 1) gamma and beta for per-item style weights (B, S)."""
        gamma = style.to(self.gamma.dtype) @ self.gamma
        beta = style.to(self.beta.dtype) @ self.beta
        return gamma[:, :, None, None], beta[:, :, None, None]

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.affine(style)
        normed = F.instance_norm(x.float(), eps=INSTANCE_NORM_EPS)
        return (normed * gamma + beta).to(x.dtype)

    def forward_inplace_(self, x: torch.Tensor, style: torch.Tensor, relu: bool) -> None:
        """The same in place on a large tensor, channel by channel (whole-image stats)."""
        gamma, beta = self.affine(style)
        for b in range(x.shape[0]):
            for c in range(x.shape[1]):
                plane = x[b, c]
                var, mean = torch.var_mean(plane.float(), unbiased=False)
                scale = gamma[b, c, 0, 0] / torch.sqrt(var + INSTANCE_NORM_EPS)
                plane.sub_(mean.to(plane.dtype)).mul_(scale.to(plane.dtype))
                plane.add_(beta[b, c, 0, 0].to(plane.dtype))
                if relu:
                    plane.relu_()


class Conv(nn.Module):
    """Reflection padding and a convolution; or, with ``upsample``, nearest x2 upsampling
    followed by a reflection-padded 3x3 convolution.

    The upsampling form is computed without building the upsampled map: output pixel
    (2y + a, 2x + b) reads only source rows y - 1..y + 1 and columns x - 1..x + 1, so it is
    a 3x3 convolution at the source resolution with 4 phase kernels (the 3x3 kernel's taps
    summed where they land on the same source pixel), then a pixel shuffle (Shi et al.
    2016). Reflection padding of the upsampled map equals edge replication of the source.
    The result is the same as interpolate-pad-conv (tested) at about a quarter of the
    memory traffic.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int = 1,
        upsample: bool = False,
        groups: int = 1,
    ) -> None:
        super().__init__()
        if upsample and (kernel != 3 or stride != 1 or groups != 1):
            raise ValueError("upsampling convolutions are 3x3, stride 1, dense")
        self.pad = kernel // 2
        self.upsample = upsample
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, groups=groups)

    def forward(self, x: torch.Tensor, band_rows: int | None = None) -> torch.Tensor:
        if band_rows is not None:
            return self._banded(x, band_rows)
        if self.upsample:
            weight, bias = self._phase_kernels()
            x = F.pad(x, (1, 1, 1, 1), mode="replicate")
            return F.pixel_shuffle(F.conv2d(x, weight, bias), 2)
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="reflect")
        return self.conv(x)

    def _phase_kernels(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(4 cout, cin, 3, 3) kernels, output channel c * 4 + 2 a + b for phase (a, b)."""
        weight = self.conv.weight
        taps = _PHASE_TAPS.to(weight.device, weight.dtype)
        phases = torch.einsum("api,bqj,ocij->oabcpq", taps, taps, weight)
        cout, cin = weight.shape[:2]
        bias = self.conv.bias
        return (
            phases.reshape(cout * 4, cin, 3, 3),
            None if bias is None else bias.repeat_interleave(4),
        )

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        if self.upsample:
            return 2 * height, 2 * width
        stride, kernel = self.conv.stride[0], self.conv.kernel_size[0]
        h = (height + 2 * self.pad - kernel) // stride + 1
        w = (width + 2 * self.pad - kernel) // stride + 1
        return h, w

    def _banded(self, x: torch.Tensor, band_rows: int) -> torch.Tensor:
        """The same convolution computed about ``band_rows`` output rows at a time."""
        batch, _, height, width = x.shape
        out_h, out_w = self.output_size(height, width)
        out = x.new_empty((batch, self.conv.out_channels, out_h, out_w))
        if self.upsample:
            weight, bias = self._phase_kernels()
            for start, stop in _bands(height, max(1, band_rows // 2)):
                rows = (torch.arange(start - 1, stop + 1, device=x.device)).clamp(0, height - 1)
                band = F.pad(x.index_select(2, rows), (1, 1, 0, 0), mode="replicate")
                out[:, :, 2 * start : 2 * stop] = F.pixel_shuffle(F.conv2d(band, weight, bias), 2)
            return out
        stride, kernel = self.conv.stride[0], self.conv.kernel_size[0]
        for start, stop in _bands(out_h, band_rows):
            # Rows of the padded input that this band of output rows reads.
            first, last = start * stride, (stop - 1) * stride + kernel
            rows = _reflect(torch.arange(first, last, device=x.device) - self.pad, height)
            band = x.index_select(2, rows)
            if self.pad:
                band = F.pad(band, (self.pad, self.pad, 0, 0), mode="reflect")
            out[:, :, start:stop] = self.conv(band)
        return out


def _phase_taps() -> torch.Tensor:
    """taps[a, p, i] = 1 where tap i of a 3x3 kernel on the x2-upsampled map, for output
    phase a, reads source offset p - 1 (p in 0..2)."""
    taps = torch.zeros(2, 3, 3)
    for a in range(2):
        for i in range(3):
            taps[a, (a + i - 1) // 2 + 1, i] = 1
    return taps


_PHASE_TAPS = _phase_taps()


def _bands(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(total, start + size)


def _reflect(index: torch.Tensor, length: int) -> torch.Tensor:
    """Reflection padding's index map (edge not repeated), for |overhang| < length."""
    index = torch.where(index < 0, -index, index)
    return torch.where(index >= length, 2 * (length - 1) - index, index)


class ConvNormReLU(nn.Module):
    """Conv -> conditional instance norm -> ReLU (the ReLU optional)."""

    def __init__(self, conv: Conv, styles: int, relu: bool = True) -> None:
        super().__init__()
        self.conv = conv
        self.norm = ConditionalInstanceNorm2d(conv.conv.out_channels, styles)
        self.relu = relu

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, band_rows: int | None = None
    ) -> torch.Tensor:
        y = self.conv(x, band_rows)
        if band_rows is not None:
            self.norm.forward_inplace_(y, style, self.relu)
            return y
        y = self.norm(y, style)
        return F.relu(y) if self.relu else y


class ResidualBlock(nn.Module):
    """x + norm(conv(relu(norm(conv(x))))); separable: each conv is depthwise 3x3 then
    pointwise 1x1 (the norm after the pointwise one)."""

    def __init__(self, channels: int, styles: int, separable: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for relu in (True, False):
            if separable:
                layers.append(Conv(channels, channels, 3, groups=channels))
            pointwise = Conv(channels, channels, 1 if separable else 3)
            layers.append(ConvNormReLU(pointwise, styles, relu))
        self.layers = nn.ModuleList(layers)

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, band_rows: int | None = None
    ) -> torch.Tensor:
        y = x
        for layer in self.layers:
            if isinstance(layer, ConvNormReLU):
                y = layer(y, style, band_rows)
            else:
                y = layer(y, band_rows)
        if band_rows is not None:
            return y.add_(x)
        return x + y


class TransformerNet(nn.Module):
    """photo (B, 3, H, W) in [0, 1] + style weights (B, S) -> stylized (B, 3, H, W).

    H and W must be multiples of :data:`STRIDE_MULTIPLE` (see
    :func:`stylelab.fast.apply.run_network` for any size).
    """

    def __init__(self, architecture: str, styles: int) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {architecture!r}")
        if styles < 1:
            raise ValueError("a network needs at least one style")
        arch = ARCHITECTURES[architecture]
        self.architecture = architecture
        self.styles = styles
        c1, c2, c3 = arch.channels
        self.down = nn.ModuleList(
            [
                ConvNormReLU(Conv(3, c1, arch.first_kernel, arch.first_stride), styles),
                ConvNormReLU(Conv(c1, c2, 3, 2), styles),
                ConvNormReLU(Conv(c2, c3, 3, arch.third_stride), styles),
            ]
        )
        self.residuals = nn.ModuleList(
            ResidualBlock(c3, styles, arch.separable_residuals) for _ in range(RESIDUAL_BLOCKS)
        )
        self.up = nn.ModuleList(
            [
                ConvNormReLU(Conv(c3, c2, 3, upsample=arch.third_stride == 2), styles),
                ConvNormReLU(Conv(c2, c1, 3, upsample=True), styles),
            ]
        )
        self.out = Conv(c1, 3, arch.last_kernel, upsample=arch.upsample_last)

    def forward(
        self, image: torch.Tensor, style: torch.Tensor, band_rows: int | None = None
    ) -> torch.Tensor:
        """``band_rows``: compute each convolution that many output rows at a time
        (inference only, for images larger than memory allows in one piece)."""
        x = image
        for block in self.down:
            x = block(x, style, band_rows)
        for residual in self.residuals:
            x = residual(x, style, band_rows)
        for block in self.up:
            x = block(x, style, band_rows)
        y = self.out(x, band_rows)
        if band_rows is not None:
            return y.tanh_().add_(1).mul_(0.5)
        return (torch.tanh(y) + 1) * 0.5


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def count_gflops(net: TransformerNet, height: int, width: int) -> float:
    """Multiply-adds of every convolution at an input of ``height`` x ``width``, times 2
    (GFLOP; norms, activations and padding are not counted). Runs a copy on meta tensors."""
    meta = copy.deepcopy(net).to("meta")
    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        conv = module.conv
        assert isinstance(conv, nn.Conv2d)
        per_output = (conv.in_channels // conv.groups) * conv.kernel_size[0] * conv.kernel_size[1]
        total += output.numel() * per_output

    for module in meta.modules():
        if isinstance(module, Conv):
            module.register_forward_hook(count)
    with torch.no_grad():
        style = torch.zeros(1, net.styles, device="meta")
        meta(torch.zeros(1, 3, height, width, device="meta"), style)
    return 2 * total / 1e9

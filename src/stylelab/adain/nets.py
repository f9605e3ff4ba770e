"""Instant (arbitrary) style transfer by adaptive instance normalization.

Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
Normalization" (ICCV 2017): an encoder E (the Caffe VGG19 that stylelab reads, up to
``relu{depth}_1``) maps the photo and the painting to features f_c and f_s; per channel,

    AdaIN(f_c, f_s) = sigma(f_s) * (f_c - mu(f_c)) / sigma(f_c) + mu(f_s),

and a decoder D, trained for it, turns t = alpha * AdaIN(f_c, f_s) + (1 - alpha) * f_c
back into an image. Several styles mix in feature statistics: (mu, sigma) =
sum_i w_i (mu_i, sigma_i). Regions take statistics per region (masked means).

The decoder here is a narrow mirror of the encoder (fewer channels, one convolution
per level fewer than the paper's), with reflection padding and nearest-neighbour
upsampling followed by a convolution (never a transposed convolution). Its input is
divided by a fixed ``input_scale`` (the Caffe features are in the hundreds).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5
#: Layers whose mean/std the training loss matches (relu1_1 .. relu4_1), as in the paper.
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


@dataclass(frozen=True)
class Design:
    """One decoder design: the encoder depth and the channels it climbs back through."""

    name: str
    depth: int  # encoder output relu{depth}_1
    channels: tuple[int, ...]  # decoder widths, coarse to fine (after each upsampling)

    @property
    def layer(self) -> str:
        return f"relu{self.depth}_1"

    @property
    def stride(self) -> int:
        return 2 ** (self.depth - 1)


DESIGNS = {
    "adain3": Design("adain3", 3, (128, 64, 32)),
    "adain4": Design("adain4", 4, (256, 128, 64, 32)),
}
ENCODER_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512}


def mean_std(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-channel (mean, std) of (B, C, H, W) features as (B, 2, C), in fp32; with a
    (B, 1, H, W) ``mask`` of weights, the weighted mean and std of the masked pixels."""
    x = features.float()
    if mask is None:
        var, mean = torch.var_mean(x, dim=(2, 3), unbiased=False)
    else:
        weight = mask.float()
        total = weight.sum(dim=(2, 3)).clamp_min(EPS)
        mean = (x * weight).sum(dim=(2, 3)) / total
        var = ((x - mean[:, :, None, None]) ** 2 * weight).sum(dim=(2, 3)) / total
    return torch.stack([mean, (var + EPS).sqrt()], dim=1)


def adain(content: torch.Tensor, style_stats: torch.Tensor) -> torch.Tensor:
    """sigma_s * (f_c - mu_c) / sigma_c + mu_s per channel; ``style_stats`` is (B, 2, C)."""
    stats = mean_std(content)
    normed = (content.float() - stats[:, 0, :, None, None]) / stats[:, 1, :, None, None]
    return normed * style_stats[:, 1, :, None, None] + style_stats[:, 0, :, None, None]


def wct(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Whitening and colouring transform of (1, C, H, W) features (Li et al., "Universal
    Style Transfer via Feature Transforms", NeurIPS 2017): with each map's positions as
    samples, f' = Sigma_s^(1/2) Sigma_c^(-1/2) (f_c - mu_c) + mu_s, so f' has the style's
    mean and full covariance where AdaIN matches the mean and the diagonal only. The same
    transform as :func:`stylelab.color.match_moments` on pixels; computed in float64."""
    from stylelab.color import colouring, moments

    def rows(features: torch.Tensor) -> np.ndarray:
        return features.detach()[0].reshape(features.shape[1], -1).double().cpu().numpy()

    found = rows(content)
    mean_c, cov_c = moments(found)
    mean_s, cov_s = moments(rows(style))
    moved = colouring(cov_c, cov_s) @ (found - mean_c[:, None]) + mean_s[:, None]
    return torch.from_numpy(moved).to(content.device, torch.float32).reshape(content.shape)


def regional_adain(
    content: torch.Tensor, masks: torch.Tensor, style_stats: Sequence[torch.Tensor | None]
) -> torch.Tensor:
    """AdaIN region by region: ``masks`` (R, H, W) at the feature size; region r takes the
    content statistics of its own pixels and ``style_stats[r]`` (None: the photo's features
    stay). Overlapping soft masks are normalised to sum to one where they cover."""
    out = torch.zeros_like(content, dtype=torch.float32)
    cover = masks.sum(0, keepdim=True).clamp_min(1.0)
    weights = masks / cover
    for weight, stats in zip(weights, style_stats, strict=True):
        w = weight[None, None]
        if float(w.sum()) <= 0:
            continue
        if stats is None:
            out += w * content.float()
            continue
        local = mean_std(content, w)
        normed = (content.float() - local[:, 0, :, None, None]) / local[:, 1, :, None, None]
        out += w * (normed * stats[:, 1, :, None, None] + stats[:, 0, :, None, None])
    rest = (1.0 - weights.sum(0))[None, None].clamp_min(0)
    return out + rest * content.float()


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    """A reflection-padded 3x3 convolution (no dark border band)."""
    return nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect")


class Decoder(nn.Module):
    """relu{depth}_1 features -> RGB image (clamped to [0, 1] outside training).

    A 3x3 convolution from the encoder's channels to the first width, then per level a
    nearest x2 upsampling and two 3x3 convolutions, and a 3x3 convolution to RGB. Dense
    narrow convolutions rather than depthwise-separable ones: with AMX bf16 and
    channels-last memory they measured faster on this CPU (depthwise convolutions are
    bound by memory traffic).
    """

    input_scale: torch.Tensor

    def __init__(self, design: str) -> None:
        super().__init__()
        if design not in DESIGNS:
            raise ValueError(f"unknown design {design!r}")
        self.design = DESIGNS[design]
        widths = self.design.channels
        self.register_buffer("input_scale", torch.ones(()))
        self.entry = conv3x3(ENCODER_CHANNELS[self.design.depth], widths[0])
        self.levels = nn.ModuleList(
            nn.Sequential(
                conv3x3(cin, cout),
                nn.ReLU(inplace=True),
                conv3x3(cout, cout),
                nn.ReLU(inplace=True),
            )
            for cin, cout in zip(widths[:-1], widths[1:], strict=True)
        )
        self.exit = conv3x3(widths[-1], 3)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.entry(features / self.input_scale), inplace=True)
        for level in self.levels:
            x = level(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.exit(x)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


#: VGG19's convolutions per block (Simonyan & Zisserman 2015, configuration E).
VGG19_BLOCKS = (2, 2, 4, 4)


class CaffeEncoder(nn.Module):
    """The Caffe VGG19 up to the deepest of ``layers`` (canonical names, e.g. relu3_1),
    built from :func:`stylelab.backbones.weights.caffe_vgg19_convs` alone: the same
    features as stylelab's ``pretrained`` vgg19 backbone (tested), without building the
    whole network or importing torchvision. Input RGB in [0, 1]; Caffe preprocessing
    (BGR, 0-255, minus the ImageNet BGR means)."""

    mean: torch.Tensor

    def __init__(self, layers: Sequence[str]) -> None:
        super().__init__()
        from stylelab.backbones import weights

        convs = weights.caffe_vgg19_convs()
        self.register_buffer("mean", torch.tensor(weights.CAFFE_MEAN_BGR).view(1, 3, 1, 1))
        self.wanted = tuple(layers)
        deepest = max(self.wanted, key=_layer_order)
        self.names: list[str] = []
        modules: list[nn.Module] = []
        for block, count in enumerate(VGG19_BLOCKS, start=1):
            if block > 1:
                modules.append(nn.MaxPool2d(2, 2))
                self.names.append(f"pool{block - 1}")
            for index in range(1, count + 1):
                weight, bias = convs[f"block{block}_conv{index}"]
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
                conv.weight = nn.Parameter(weight.clone(), requires_grad=False)
                conv.bias = nn.Parameter(bias.clone(), requires_grad=False)
                modules += [conv, nn.ReLU(inplace=True)]
                self.names += [f"conv{block}_{index}", f"relu{block}_{index}"]
                if self.names[-1] == deepest:
                    break
            if self.names[-1] == deepest:
                break
        self.body = nn.Sequential(*modules)
        self.eval().requires_grad_(False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = image.flip(1) * 255.0 - self.mean.to(image.dtype)
        out: dict[str, torch.Tensor] = {}
        for name, module in zip(self.names, self.body, strict=True):
            x = module(x)
            if name in self.wanted:
                out[name] = x
        return out


def _layer_order(name: str) -> tuple[int, int]:
    block, index = name.removeprefix("relu").split("_")
    return int(block), int(index)


@functools.lru_cache(maxsize=4)
def encoder(depth: int, layers: tuple[str, ...] = ()) -> nn.Module:
    """The Caffe VGG19 returning a dict of ``layers`` (default: relu{depth}_1 only);
    frozen, eval mode, channels-last, built once per process."""
    from stylelab.backbones.weights import untouched_rng

    with untouched_rng():  # the Caffe weights replace the initial ones
        module = CaffeEncoder(list(layers) or [f"relu{depth}_1"])
    return module.to(memory_format=torch.channels_last)

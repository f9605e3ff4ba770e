"""ResNets (He et al. 2016) and the modified architectures of the robustness study.

Wang, Li & Vasconcelos, "Rethinking and Improving the Robustness of Image Style Transfer"
(CVPR 2021) compare VGG19 with ResNet-50 and with variants that isolate the residual
connections. All variants here are torchvision's ``ResNet`` with a replaced block class, so
they keep torchvision's parameter names and a ResNet state dict loads strictly where the
shapes allow:

- ``resnet18/34/50/101/152``, ``wide_resnet50_2``: torchvision's architectures.
- ``noresnet50``: ResNet-50 with every residual addition removed,
  h = relu(bn3(conv3(...))) instead of relu(bn3(conv3(...)) + x). The ``downsample``
  parameters are kept (unused), so a ResNet-50 state dict loads strictly.
- ``resnet50_preact_skip``: the skip path carries the *pre-activation* sum:
  s_{k+1} = s_k + F(relu(s_k)) (identity mapping as in He et al., "Identity Mappings in
  Deep Residual Networks", 2016); the block's output (layer name ``layerS.B``) is s_{k+1},
  before any ReLU. Same parameters as ResNet-50.
- ``pseudo_vgg``: a 3x3 stride-1 stem instead of the 7x7 stride-2 one, ResNet-34's basic
  blocks without residuals, every convolution stride 1 and a 2x2 max-pooling at the start
  of stages 2-4 (overall stride 16, like VGG's conv5).
- ``pseudo_resvgg``: pseudo_vgg with the residuals back (1x1 stride-1 projections where
  the channel count changes).

Layer names: ``conv1, bn1, stem`` (the stem ReLU), ``maxpool``, then per block
``layerS.B.conv1, .bn1, .relu1, .conv2, .bn2, .relu2[, .conv3, .bn3][, .downsample.0,
.downsample.1]`` and ``layerS.B`` (the block's output). Keras/Caffe names are aliases:
``conv1``, ``bn_conv1``, and ``res{S+1}{b}_branch2a|2b|2c`` / ``bn{S+1}{b}_branch2a|2b|2c``
for conv/bn 1|2|3 of block b (a, b, c, ... = 0, 1, 2, ...), ``..._branch1`` for the
downsample conv/bn.
"""

from __future__ import annotations

import functools
import string
import warnings
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import nn
from torchvision.models import resnet as tv
from torchvision.models.feature_extraction import create_feature_extractor

from stylelab.backbones import weights as W
from stylelab.backbones.registry import (
    Backbone,
    LayerInfo,
    register,
    small_image_is_a_user_error,
)
from stylelab.backbones.vgg import ImageNetNormalize
from stylelab.errors import StylelabError


class Bottleneck(tv.Bottleneck):
    """torchvision's Bottleneck with one ReLU module per use (no parameters, same names).

    ``residual=False`` drops the addition (NoResNet); ``preact_skip=True`` makes the block
    take and return the pre-activation sum s: out = s + F(relu(s)).
    """

    residual = True
    preact_skip = False
    entry_relu = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        if self.entry_relu:
            self.relu0 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu0(x) if self.entry_relu else x
        out = self.relu1(self.bn1(self.conv1(h)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            identity = self.downsample(h) if self.downsample is not None else x
            out = out + identity
        if self.preact_skip:
            return out
        return self.relu3(out)


class BasicBlock(tv.BasicBlock):
    """torchvision's BasicBlock with separate ReLUs; optional residual and leading pool."""

    residual = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.pool: nn.Module | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = self.pool(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (self.downsample(x) if self.downsample is not None else x)
        return self.relu2(out)


class PlainBottleneck(Bottleneck):
    residual = False


class PreactSkipBottleneck(Bottleneck):
    preact_skip = True
    entry_relu = True


class PlainBasicBlock(BasicBlock):
    residual = False


# Blocks per stage.
DEPTHS = {
    18: [2, 2, 2, 2],
    34: [3, 4, 6, 3],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
}


def _stem_relu_out_of_place(model: tv.ResNet) -> None:
    model.relu = nn.ReLU()


def make_resnet(block: Any, depth: int, width_per_group: int = 64) -> tv.ResNet:
    """torchvision's ResNet (default init) with ``block`` as its block class."""
    model = tv.ResNet(block, DEPTHS[depth], width_per_group=width_per_group)
    _stem_relu_out_of_place(model)
    return model


def make_pseudo_vgg(residual: bool) -> tv.ResNet:
    """3x3 stride-1 stem, ResNet-34 basic blocks at stride 1, max-pool before stages 2-4."""
    model = make_resnet(BasicBlock if residual else PlainBasicBlock, 34)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    for stage in (model.layer2, model.layer3, model.layer4):
        first = stage[0]
        first.conv1.stride = (1, 1)
        first.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        if residual:
            first.downsample[0].stride = (1, 1)
        else:
            first.downsample = None
    return model


def stages(model: tv.ResNet) -> list[tuple[str, nn.Sequential]]:
    return [(f"layer{i}", getattr(model, f"layer{i}")) for i in range(1, 5)]


def resnet_layers(model: tv.ResNet) -> tuple[list[LayerInfo], dict[str, str]]:
    """Canonical layers in depth order, and ``{canonical name: fx node name}``."""
    layers = [
        LayerInfo("conv1", model.conv1.out_channels, "conv"),
        LayerInfo("bn1", model.bn1.num_features, "bn"),
        LayerInfo("stem", model.bn1.num_features, "relu"),
        LayerInfo("maxpool", model.bn1.num_features, "pool"),
    ]
    nodes = {"stem": "relu"}
    for stage_name, stage in stages(model):
        for index, block in enumerate(stage):
            block = cast(Any, block)
            prefix = f"{stage_name}.{index}"
            if getattr(block, "pool", None) is not None:
                layers.append(LayerInfo(f"{prefix}.pool", block.conv1.in_channels, "pool"))
            convs = [c for c in ("conv1", "conv2", "conv3") if hasattr(block, c)]
            for number, conv in enumerate(convs, start=1):
                channels = getattr(block, conv).out_channels
                layers.append(LayerInfo(f"{prefix}.conv{number}", channels, "conv"))
                layers.append(LayerInfo(f"{prefix}.bn{number}", channels, "bn"))
                if number < len(convs):
                    layers.append(LayerInfo(f"{prefix}.relu{number}", channels, "relu"))
            if block.downsample is not None and block.residual:
                channels = block.downsample[0].out_channels
                layers.append(LayerInfo(f"{prefix}.downsample.0", channels, "conv"))
                layers.append(LayerInfo(f"{prefix}.downsample.1", channels, "bn"))
            out = getattr(block, convs[-1]).out_channels
            kind = "add" if getattr(block, "preact_skip", False) else "block"
            layers.append(LayerInfo(prefix, out, kind))
    return layers, nodes


def block_letters(count: int) -> list[str]:
    """Caffe/Keras block letters: a, b, c, ...; past 26 blocks a, b1, b2, ... (ResNet-152)."""
    if count <= len(string.ascii_lowercase):
        return list(string.ascii_lowercase[:count])
    return ["a"] + [f"b{i}" for i in range(1, count)]


def keras_aliases(model: tv.ResNet, layers: Sequence[LayerInfo]) -> dict[str, str]:
    """Keras/Caffe ResNet names -> canonical names (stage 2-5 = layer1-4)."""
    names = {layer.name for layer in layers}
    aliases = {"bn_conv1": "bn1"}
    branches = {"2a": "1", "2b": "2", "2c": "3"}
    for number, (stage_name, stage) in enumerate(stages(model), start=2):
        for index, letter in enumerate(block_letters(len(stage))):
            prefix = f"{stage_name}.{index}"
            for branch, conv in branches.items():
                if f"{prefix}.conv{conv}" in names:
                    aliases[f"res{number}{letter}_branch{branch}"] = f"{prefix}.conv{conv}"
                    aliases[f"bn{number}{letter}_branch{branch}"] = f"{prefix}.bn{conv}"
            if f"{prefix}.downsample.0" in names:
                aliases[f"res{number}{letter}_branch1"] = f"{prefix}.downsample.0"
                aliases[f"bn{number}{letter}_branch1"] = f"{prefix}.downsample.1"
    return aliases


def stage_end_defaults(model: tv.ResNet) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(content, style): style = stem ReLU and the last block of each stage; content = the
    last block of layer3. For ResNet-50 this is the authors' choice: style = stem,
    layer1[2], layer2[3], layer3[5], layer4[2]; content = layer3[5]."""
    ends = tuple(f"{name}.{len(stage) - 1}" for name, stage in stages(model))
    return (ends[2],), ("stem", *ends)


def load_weights(
    model: nn.Module, name: str, weights: str, tv_weights: object | None, seed: int
) -> str:
    """Apply ``weights`` to ``model`` (already built under ``seeded(seed)``); describe it."""
    if not weights:
        raise StylelabError("empty --weights; use pretrained, torchvision, random or a PATH")
    if weights == "random":
        return f"random (torchvision init, seed {seed})"
    if weights in ("pretrained", "torchvision"):
        if tv_weights is None:
            raise StylelabError(
                f"{name} has no published pretrained weights; use --weights random or "
                "--weights PATH to a compatible state dict (a torchvision ResNet one, for "
                "the ResNet-50 variants)"
            )
        state = W.load_cached_torchvision(tv_weights, name)
        W.load_into(model, state, W.cached_label(tv_weights), name)
        return f"torchvision {tv_weights}"
    W.load_into(model, W.load_state_dict_file(weights), W.shown(weights), name)
    return f"file {weights}"


def fx_extractor_factory(
    model: nn.Module, preprocess: nn.Module, nodes: dict[str, str]
) -> Callable[[Sequence[str]], nn.Module]:
    """Extractors through torchvision's FX feature extraction, pruned after the deepest node."""

    def make(wanted: Sequence[str]) -> nn.Module:
        model.eval()
        returns = {nodes.get(name, name): name for name in wanted}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="NOTE: The nodes obtained by tracing")
            body = create_feature_extractor(model, return_nodes=returns)
        return FeatureExtractor(preprocess, body, deepest=wanted[-1])

    return make


class FeatureExtractor(nn.Module):
    """preprocess, then an FX feature extractor returning ``{layer: features}``."""

    def __init__(self, preprocess: nn.Module, body: nn.Module, deepest: str = "") -> None:
        super().__init__()
        self.preprocess = preprocess
        self.body = body
        self.deepest = deepest  # the deepest layer returned, for the too-small message

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        with small_image_is_a_user_error(image, self.deepest or "requested"):
            # forward(), not __call__: an FX GraphModule's __call__ prints the generated code
            # of a failing line to stderr before re-raising.
            return dict(self.body.forward(self.preprocess(image)))


def build_resnet_backbone(
    name: str,
    make: Callable[[], tv.ResNet],
    tv_weights: object | None,
    *,
    weights: str,
    seed: int,
) -> Backbone:
    with W.seeded(seed):
        model = make()
    used = load_weights(model, name, weights, tv_weights, seed)
    model.eval()
    layers, nodes = resnet_layers(model)
    content, style = stage_end_defaults(model)
    return Backbone(
        name=name,
        layers=tuple(layers),
        make_extractor=fx_extractor_factory(model, ImageNetNormalize(), nodes),
        default_content_layers=content,
        default_style_layers=style,
        aliases=keras_aliases(model, layers),
        weights=used,
        preprocessing="imagenet",
    )


def _register(
    name: str, make: Callable[[], tv.ResNet], tv_weights: object | None, doc: str
) -> None:
    def builder(*, weights: str = "pretrained", pooling: str = "max", seed: int = 0) -> Backbone:
        return build_resnet_backbone(name, make, tv_weights, weights=weights, seed=seed)

    builder.__doc__ = doc
    builder.__name__ = name
    register(name)(builder)


for _depth, _block, _enum in (
    (18, BasicBlock, tv.ResNet18_Weights.IMAGENET1K_V1),
    (34, BasicBlock, tv.ResNet34_Weights.IMAGENET1K_V1),
    (50, Bottleneck, tv.ResNet50_Weights.IMAGENET1K_V1),
    (101, Bottleneck, tv.ResNet101_Weights.IMAGENET1K_V1),
    (152, Bottleneck, tv.ResNet152_Weights.IMAGENET1K_V1),
):
    _register(
        f"resnet{_depth}",
        functools.partial(make_resnet, _block, _depth),
        _enum,
        f"ResNet-{_depth}; pretrained = torchvision {_enum} from the local torch cache.",
    )

_register(
    "wide_resnet50_2",
    lambda: make_resnet(Bottleneck, 50, width_per_group=128),
    tv.Wide_ResNet50_2_Weights.IMAGENET1K_V1,
    "Wide ResNet-50-2 (Zagoruyko & Komodakis 2016).",
)
_register(
    "noresnet50",
    lambda: make_resnet(PlainBottleneck, 50),
    None,
    "ResNet-50 without residual additions (a ResNet-50 state dict loads strictly).",
)
_register(
    "resnet50_preact_skip",
    lambda: make_resnet(PreactSkipBottleneck, 50),
    None,
    "ResNet-50 whose skip path carries the pre-activation sum: s + F(relu(s)).",
)
_register(
    "pseudo_vgg",
    lambda: make_pseudo_vgg(residual=False),
    None,
    "3x3 stem, ResNet-34 basic blocks without residuals, max-pool between stages.",
)
_register(
    "pseudo_resvgg",
    lambda: make_pseudo_vgg(residual=True),
    None,
    "pseudo_vgg with the residual connections back.",
)

"""VGG16 and VGG19 (Simonyan & Zisserman 2015) with Gatys-style layer names.

Canonical names: ``conv1_1, relu1_1, conv1_2, relu1_2, pool1, ..., relu5_4, pool5``.
Keras names from the study we reproduce are aliases: a Keras ``blockB_convC`` layer
includes its ReLU, so ``block4_conv2`` -> ``relu4_2``; ``blockB_pool`` -> ``poolB``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models import VGG16_Weights, VGG19_Weights
from torchvision.models.vgg import cfgs, make_layers

from stylelab.backbones import weights as W
from stylelab.backbones.registry import (
    Backbone,
    LayerInfo,
    register,
    small_image_is_a_user_error,
)
from stylelab.errors import StylelabError

GATYS_CONTENT_LAYERS = ("relu4_2",)
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


class CaffePreprocess(nn.Module):
    """RGB [0, 1] -> Caffe input: BGR order, 0-255, minus the BGR means of ImageNet."""

    mean: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(W.CAFFE_MEAN_BGR).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image.flip(1) * 255.0 - self.mean


class ImageNetNormalize(nn.Module):
    """RGB [0, 1] -> (x - mean) / std with torchvision's ImageNet statistics."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(W.IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(W.IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.mean) / self.std


class SequentialExtractor(nn.Module):
    """Run ``preprocess`` then ``body`` in order, collecting the outputs at ``taps``."""

    def __init__(self, preprocess: nn.Module, body: nn.Sequential, taps: dict[int, str]):
        super().__init__()
        self.preprocess = preprocess
        self.body = body
        self.taps = dict(taps)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.preprocess(image)
        features: dict[str, torch.Tensor] = {}
        with small_image_is_a_user_error(image, self.taps[max(self.taps)]):
            for index, module in enumerate(self.body):
                x = module(x)
                name = self.taps.get(index)
                if name is not None:
                    features[name] = x
        return features


def vgg_layer_names(features: nn.Sequential) -> list[LayerInfo]:
    """Name each module of a torchvision VGG ``features`` stack (conv/relu/pool, block-wise)."""
    infos: list[LayerInfo] = []
    block, index, channels = 1, 1, 3
    for module in features:
        if isinstance(module, nn.Conv2d):
            channels = module.out_channels
            infos.append(LayerInfo(f"conv{block}_{index}", channels, "conv"))
        elif isinstance(module, nn.ReLU):
            infos.append(LayerInfo(f"relu{block}_{index}", channels, "relu"))
            index += 1
        else:
            infos.append(LayerInfo(f"pool{block}", channels, "pool"))
            block, index = block + 1, 1
    return infos


def keras_aliases(layers: Sequence[LayerInfo]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for layer in layers:
        if layer.kind == "relu":
            block, index = layer.name[len("relu") :].split("_")
            aliases[f"block{block}_conv{index}"] = layer.name
        elif layer.kind == "pool":
            aliases[f"block{layer.name[len('pool') :]}_pool"] = layer.name
    return aliases


def _vgg_features(config: str, pooling: str, *, initialize: bool = True) -> nn.Sequential:
    """torchvision's VGG feature stack (no classifier), ReLUs made out-of-place; without
    ``initialize`` its parameters are left uninitialized (built on the meta device), for
    a caller that overwrites every one of them."""
    if initialize:
        features = make_layers(cfgs[config], batch_norm=False)
    else:
        with torch.device("meta"):
            features = make_layers(cfgs[config], batch_norm=False)
        features = features.to_empty(device="cpu")
    for index, module in enumerate(features):
        if isinstance(module, nn.ReLU):
            features[index] = nn.ReLU(inplace=False)
        elif isinstance(module, nn.MaxPool2d) and pooling == "avg":
            features[index] = nn.AvgPool2d(kernel_size=2, stride=2)
    return features


def _init_like_torchvision(features: nn.Sequential) -> None:
    """torchvision VGG's initialization rule for convolutions (kaiming normal, fan_out)."""
    for module in features:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.constant_(module.bias, 0)


def _load_caffe(features: nn.Sequential, layers: Sequence[LayerInfo]) -> None:
    """Every convolution's weight and bias from the Caffe VGG19 (all 16 of them)."""
    convs = W.caffe_vgg19_convs()
    loaded = 0
    with torch.no_grad():
        for module, info in zip(features, layers, strict=True):
            if isinstance(module, nn.Conv2d) and module.bias is not None:
                block, index = info.name[len("conv") :].split("_")
                weight, bias = convs[f"block{block}_conv{index}"]
                module.weight.copy_(weight)
                module.bias.copy_(bias)
                loaded += 1
    if loaded != len(convs):
        raise RuntimeError(f"the Caffe VGG19 has {len(convs)} convolutions; {loaded} loaded")


def build_vgg(
    name: str, config: str, tv_weights: object, *, weights: str, pooling: str, seed: int
) -> Backbone:
    caffe = weights == "pretrained" and name == "vgg19"
    if caffe:  # every parameter is overwritten: no random initialization to pay for
        features = _vgg_features(config, pooling, initialize=False)
    else:
        with W.seeded(seed):
            features = _vgg_features(config, pooling)
            _init_like_torchvision(features)
    layers = vgg_layer_names(features)
    preprocess: nn.Module = ImageNetNormalize()
    preprocessing = "imagenet"
    if caffe:
        _load_caffe(features, layers)
        preprocess, preprocessing = CaffePreprocess(), "caffe"
        used = f"caffe-vgg19 ({W.caffe_vgg19_path().name})"
    elif weights in ("pretrained", "torchvision"):
        # A full torchvision VGG state dict (``features.N.*``) or a features-only one.
        state = W.load_cached_torchvision(tv_weights, name)
        W.load_into(features, state, W.cached_label(tv_weights), name, prefix="features.")
        used = f"torchvision {tv_weights}"
    elif weights == "random":
        used = f"random (torchvision init, seed {seed})"
    else:
        state = W.load_state_dict_file(weights)
        W.load_into(features, state, W.shown(weights), name, prefix="features.")
        used = f"file {weights}"

    def make_extractor(wanted: Sequence[str]) -> nn.Module:
        names = [info.name for info in layers]
        indices = {names.index(layer): layer for layer in wanted}
        body = nn.Sequential(*list(features)[: max(indices) + 1])
        return SequentialExtractor(preprocess, body, indices)

    return Backbone(
        name=name,
        layers=tuple(layers),
        make_extractor=make_extractor,
        default_content_layers=GATYS_CONTENT_LAYERS,
        default_style_layers=GATYS_STYLE_LAYERS,
        aliases=keras_aliases(layers),
        stage_ends=tuple(
            layers[i - 1].name for i, info in enumerate(layers) if info.kind == "pool"
        ),
        weights=used,
        preprocessing=preprocessing,
    )


def _check_weights_name(weights: str) -> None:
    if not weights:
        raise StylelabError("empty --weights; use pretrained, torchvision, random or a PATH")


@register("vgg19", avg_pooling=True)
def vgg19(*, weights: str = "pretrained", pooling: str = "max", seed: int = 0) -> Backbone:
    """VGG19; ``pretrained`` = the original Caffe weights (Caffe preprocessing)."""
    _check_weights_name(weights)
    return build_vgg(
        "vgg19", "E", VGG19_Weights.IMAGENET1K_V1, weights=weights, pooling=pooling, seed=seed
    )


@register("vgg16", avg_pooling=True)
def vgg16(*, weights: str = "pretrained", pooling: str = "max", seed: int = 0) -> Backbone:
    """VGG16; ``pretrained`` = torchvision IMAGENET1K_V1 from the local torch cache."""
    _check_weights_name(weights)
    return build_vgg(
        "vgg16", "D", VGG16_Weights.IMAGENET1K_V1, weights=weights, pooling=pooling, seed=seed
    )

"""Any torchvision classification network as a backbone, through FX feature extraction.

Layer names are torchvision's graph node names (``torchvision.models.feature_extraction.
get_graph_node_names``, eval mode) whose outputs are feature maps (B, C, H, W) with more
than one position. Channels and strides come from one probe forward pass at
``PROBE_SIZE`` px. Default layers are the *stage ends*: declared by hand for the named
networks (``DEFAULT_LAYERS``); for any other network, the last node at each nominal stride
2^k (style: up to the five deepest strides; content: the stride-16 end, or the
second-deepest), a heuristic.

``googlenet``, ``inception_v3`` and ``densenet121`` are registered by name; every other
classifier in ``torchvision.models.list_models(module=torchvision.models)`` is reachable
by name through :func:`build_zoo_backbone` (``load_backbone`` falls back to it).
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from stylelab.backbones import weights as W
from stylelab.backbones.registry import Backbone, LayerInfo, register
from stylelab.backbones.resnet import fx_extractor_factory, load_weights
from stylelab.backbones.vgg import ImageNetNormalize
from stylelab.errors import StylelabError

PROBE_SIZE = 224
# (content, style) stage ends of the named networks.
DEFAULT_LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "googlenet": (
        ("inception4e.cat",),
        ("conv1.relu", "conv3.relu", "inception3b.cat", "inception4e.cat", "inception5b.cat"),
    ),
    "inception_v3": (
        ("Mixed_6e.cat",),
        (
            "Conv2d_2b_3x3.relu",
            "Conv2d_4a_3x3.relu",
            "Mixed_5d.cat",
            "Mixed_6e.cat",
            "Mixed_7c.cat_2",
        ),
    ),
    "densenet121": (
        ("features.denseblock3.cat",),
        (
            "features.relu0",
            "features.denseblock1.cat",
            "features.denseblock2.cat",
            "features.denseblock3.cat",
            "relu",
        ),
    ),
}
# Extra constructor arguments: explicit init (silences torchvision's FutureWarning) and the
# input transform that the pretrained GoogLeNet/Inception weights expect.
EXTRA_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"init_weights": True},
    "inception_v3": {"init_weights": True},
}
# Smallest input the network accepts (torchvision documents 75 px for Inception v3).
MIN_SIZES = {"inception_v3": 75}


@functools.lru_cache(maxsize=1)
def classification_models() -> tuple[str, ...]:
    """torchvision's classification model names (no detection, segmentation, video...)."""
    return tuple(torchvision.models.list_models(module=torchvision.models))


def is_torchvision_classifier(name: str) -> bool:
    return name in classification_models()


def probe_layers(model: nn.Module, size: int = PROBE_SIZE) -> list[tuple[str, int, int]]:
    """``[(node, channels, stride)]`` for every node whose output is a spatial feature map."""
    model.eval()
    with quiet_tracing():
        _, nodes = get_graph_node_names(model)
        candidates = [n for n in nodes if n != "x"]
        body = create_feature_extractor(model, return_nodes=candidates)
    with torch.no_grad():
        outputs = body(torch.zeros(1, 3, size, size))
    found = []
    for node in candidates:
        out = outputs.get(node)
        if isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[-1] * out.shape[-2] > 1:
            stride = 2 ** round(math.log2(max(1.0, size / out.shape[-1])))
            found.append((node, int(out.shape[1]), stride))
    return found


@contextlib.contextmanager
def quiet_tracing() -> Iterator[None]:
    """Silence torchvision's note that eval-mode nodes are a subsequence of train-mode ones."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="NOTE: The nodes obtained by tracing")
        yield


def stage_ends(layers: list[tuple[str, int, int]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(content, style) defaults: the last node at each stride."""
    ends: dict[int, str] = {}
    for node, _, stride in layers:
        ends[stride] = node  # later nodes overwrite: the last one at that stride wins
    ordered = [ends[s] for s in sorted(ends)]
    style = tuple(ordered[-5:])
    content = ends.get(16) or (ordered[-2] if len(ordered) > 1 else ordered[-1])
    return (content,), style


def _kind(node: str) -> str:
    last = node.rsplit(".", 1)[-1].rstrip("_0123456789")
    for kind in ("conv", "bn", "relu", "pool", "add", "cat"):
        if kind in last.lower():
            return kind
    return "node"


def build_zoo_backbone(name: str, *, weights: str = "pretrained", seed: int = 0) -> Backbone:
    """torchvision classifier ``name`` with FX-named layers and ImageNet preprocessing."""
    if not is_torchvision_classifier(name):
        raise StylelabError(f"{name!r} is not a torchvision classification model")
    kwargs = dict(EXTRA_KWARGS.get(name, {}))
    tv_weights = None
    with contextlib.suppress(ValueError, AttributeError):
        tv_weights = torchvision.models.get_model_weights(name).DEFAULT
    if weights in ("pretrained", "torchvision") and name in ("googlenet", "inception_v3"):
        kwargs["transform_input"] = True  # as torchvision does for its pretrained weights
    with W.seeded(seed):
        model = torchvision.models.get_model(name, weights=None, **kwargs)
    used = load_weights(model, name, weights, tv_weights, seed)
    model.eval()
    _relu_out_of_place(model)
    try:
        probed = probe_layers(model, max(PROBE_SIZE, MIN_SIZES.get(name, 0)))
    except Exception as exc:  # e.g. transformers that need a fixed input size
        raise StylelabError(f"{name}: cannot extract convolutional features ({exc})") from None
    if not probed:
        raise StylelabError(f"{name}: no spatial feature maps to use as layers")
    content, style = DEFAULT_LAYERS.get(name) or stage_ends(probed)
    layers = tuple(LayerInfo(node, channels, _kind(node)) for node, channels, _ in probed)
    return Backbone(
        name=name,
        layers=layers,
        make_extractor=fx_extractor_factory(model, ImageNetNormalize(), {}),
        default_content_layers=content,
        default_style_layers=style,
        aliases={},
        weights=used,
        preprocessing="imagenet",
        min_size=MIN_SIZES.get(name, 16),
    )


def _relu_out_of_place(model: nn.Module) -> None:
    """In-place ReLUs would overwrite a returned pre-activation feature map."""
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False


def _register(name: str) -> None:
    def builder(*, weights: str = "pretrained", pooling: str = "max", seed: int = 0) -> Backbone:
        return build_zoo_backbone(name, weights=weights, seed=seed)

    builder.__doc__ = f"torchvision {name} through FX feature extraction."
    register(name)(builder)


for _name in ("googlenet", "inception_v3", "densenet121"):
    _register(_name)

"""Any torchvision classification network as a backbone, through FX feature extraction.

Layer names are torchvision's graph node names (``torchvision.models.feature_extraction.
get_graph_node_names``, eval mode) whose outputs are feature maps (B, C, H, W) with more
than one position. Channels and strides come from one probe forward pass at
``PROBE_SIZE`` px. Default layers are the *stage ends*: declared by hand for the named
networks (``DEFAULT_LAYERS``); for any other network, the last node at each nominal stride
2^k (style: up to the five deepest strides; content: the stride-16 end, or the
second-deepest), a heuristic.

``googlenet``, ``inception_v3`` and ``densenet121`` are registered by name; every other
convolutional classifier in ``torchvision.models.list_models(module=torchvision.models)``
is reachable by name through :func:`build_zoo_backbone` (``load_backbone`` falls back to
it). Refused up front, in one line (:func:`refusal`): the transformers (ViT, Swin, MaxViT:
no convolutional feature maps to take Gram matrices of, and ViT/MaxViT accept one input
size only) and torchvision's detection, segmentation, video, optical-flow and quantized
models (not image classifiers; the message names the classifier to use instead).

A node is a layer only if its output is a (B, C, H, W) feature map: the probe runs the
network at two sizes and keeps the nodes whose channels stay and whose H, W follow the
input. That drops channels-last tensors (ConvNeXt's permuted blocks) and fixed-size ones
(adaptive pooling to 7x7), and the smaller size, the smallest that runs, is the
backbone's ``min_size``.
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
# Sizes tried, smallest first, for the second probe: the first that runs is ``min_size``.
SMALL_SIZES = (16, 24, 32, 48, 64, 96, 128, 160)
# Transformers among torchvision's classifiers: name prefix -> why they cannot be used.
TRANSFORMERS = {
    "vit_": "a vision transformer: its layers are sequences of patch tokens, not "
    "convolutional feature maps to take Gram matrices of, and it accepts 224 px images only",
    "swin_": "a Swin transformer: its layers are channels-last windows of tokens, not "
    "convolutional feature maps to take Gram matrices of",
    "maxvit_": "a MaxViT transformer: its attention windows need a fixed input size (224 px) "
    "and its layers are token grids, not convolutional feature maps to take Gram matrices of",
}
# torchvision's other model families (their module under torchvision.models).
OTHER_TASKS = {
    "detection": "a torchvision detection model",
    "segmentation": "a torchvision segmentation model",
    "video": "a torchvision video model (it takes clips, not images)",
    "optical_flow": "a torchvision optical-flow model (it takes pairs of frames)",
    "quantization": "a torchvision quantized model (int8, inference only: no gradient "
    "reaches the image)",
}
SUGGESTED = "e.g. vgg19, resnet50, convnext_tiny or efficientnet_b0"


@functools.lru_cache(maxsize=1)
def classification_models() -> tuple[str, ...]:
    """torchvision's classification model names (no detection, segmentation, video...)."""
    return tuple(torchvision.models.list_models(module=torchvision.models))


def is_torchvision_classifier(name: str) -> bool:
    """A torchvision classification model, transformers included (see :func:`refusal`)."""
    return name in classification_models()


def usable_models() -> tuple[str, ...]:
    """The torchvision classifiers that can be backbones: every one but the transformers."""
    return tuple(name for name in classification_models() if refusal(name) is None)


def refusal(name: str) -> str | None:
    """Why torchvision model ``name`` cannot be a backbone (one line), or None.

    None also for names torchvision does not have (the registry says those are unknown).
    """
    for prefix, why in TRANSFORMERS.items():
        if name.startswith(prefix) and is_torchvision_classifier(name):
            return f"backbone {name} is {why}; choose a convolutional network ({SUGGESTED})"
    if is_torchvision_classifier(name):
        return None
    task = _other_task(name)
    if task is None:
        return None
    why = OTHER_TASKS.get(task, f"a torchvision {task} model")
    base = _base_classifier(name)
    instead = f"use its classifier backbone, {base}" if base else f"choose one ({SUGGESTED})"
    return (
        f"backbone {name} is {why}, not an image classifier; "
        f"stylelab takes features from classifiers: {instead}"
    )


def _other_task(name: str) -> str | None:
    """torchvision's family of model ``name`` (detection, segmentation, ...), or None."""
    try:
        builder = torchvision.models.get_model_builder(name)
    except ValueError:
        return None
    module = builder.__module__.split(".")
    return module[2] if len(module) > 3 and module[:2] == ["torchvision", "models"] else None


def _base_classifier(name: str) -> str | None:
    """The usable classifier inside a composite name: quantized_resnet18 -> resnet18."""
    found = [c for c in classification_models() if c in name and refusal(c) is None]
    return max(found, key=len) if found else None


def probe_layers(
    model: nn.Module, size: int = PROBE_SIZE, min_size: int = 16
) -> tuple[list[tuple[str, int, int]], int | None]:
    """``([(node, channels, stride)], smallest size)`` of the nodes that are feature maps.

    Two forward passes: at ``size``, and at the smallest of ``SMALL_SIZES`` (from
    ``min_size``) that runs. A node is a feature map if it is (B, C, H, W) with more than
    one position at ``size`` and, at the smaller size, has the same C and another H, W: a
    channels-last (B, H, W, C) tensor changes its second dimension, a fixed-size one (an
    adaptive pooling) keeps its H, W. The smallest size is None when no smaller one runs.
    """
    model.eval()
    with quiet_tracing():
        _, nodes = get_graph_node_names(model)
        candidates = [n for n in nodes if n != "x"]
        body = create_feature_extractor(model, return_nodes=candidates)
    with torch.no_grad():
        # forward(), not __call__, which prints generated code to stderr on a failure.
        outputs = body.forward(torch.zeros(1, 3, size, size))
        shapes = {
            node: tuple(out.shape)
            for node, out in outputs.items()
            if isinstance(out, torch.Tensor)
            and out.dim() == 4
            and out.shape[-1] * out.shape[-2] > 1
        }
        del outputs
        small: dict[str, Any] = {}
        smallest = None
        for trial in sorted({min_size, *(s for s in SMALL_SIZES if s > min_size)}):
            if trial >= size:
                break
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    small = dict(body.forward(torch.zeros(1, 3, trial, trial)))
            except Exception:  # too small for this network: try the next size
                continue
            smallest = trial
            break
    found = []
    for node in candidates:
        shape = shapes.get(node)
        other = small.get(node)
        if shape is None or not isinstance(other, torch.Tensor) or other.dim() != 4:
            continue
        if tuple(other.shape[:2]) != shape[:2] or tuple(other.shape[-2:]) == shape[-2:]:
            continue
        stride = 2 ** round(math.log2(max(1.0, size / shape[-1])))
        found.append((node, int(shape[1]), stride))
    return found, smallest


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
    reason = refusal(name)
    if reason:
        raise StylelabError(reason)
    kwargs = dict(EXTRA_KWARGS.get(name, {}))
    tv_weights = None
    with contextlib.suppress(ValueError, AttributeError):
        tv_weights = torchvision.models.get_model_weights(name).DEFAULT
    if weights in ("pretrained", "torchvision") and name in ("googlenet", "inception_v3"):
        kwargs["transform_input"] = True  # as torchvision does for its pretrained weights
    with W.seeded(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constructor notes (init, aux heads) are not for users
        model = torchvision.models.get_model(name, weights=None, **kwargs)
    used = load_weights(model, name, weights, tv_weights, seed)
    model.eval()
    _relu_out_of_place(model)
    size = max(PROBE_SIZE, MIN_SIZES.get(name, 0))
    try:
        probed, smallest = probe_layers(model, size, MIN_SIZES.get(name, SMALL_SIZES[0]))
    except Exception as exc:  # a network FX cannot trace, or that needs another input
        raise StylelabError(
            f"backbone {name}: cannot extract convolutional features from it "
            f"({type(exc).__name__}{W.one_line(str(exc))}); choose another ({SUGGESTED})"
        ) from None
    if smallest is None:
        raise StylelabError(
            f"backbone {name} runs on {size} px images only, not on smaller ones; "
            f"choose another ({SUGGESTED})"
        )
    if not probed:
        raise StylelabError(
            f"backbone {name}: no convolutional feature maps to use as layers; "
            f"choose another ({SUGGESTED})"
        )
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
        min_size=smallest,
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

"""Backbone registry: name -> builder; a Backbone knows its layers and makes extractors.

An *extractor* is an ``nn.Module`` that takes an RGB image in [0, 1] of shape (B, 3, H, W),
applies the backbone's own preprocessing, runs the network only as deep as the deepest
requested layer, and returns ``{canonical_layer_name: features}``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from stylelab.errors import StylelabError


@dataclass(frozen=True)
class LayerInfo:
    """One addressable layer: its canonical name, output channels and module type."""

    name: str
    channels: int
    kind: str


ExtractorFactory = Callable[[Sequence[str]], nn.Module]


@dataclass
class Backbone:
    """A frozen feature network with named layers, ordered by depth."""

    name: str
    layers: tuple[LayerInfo, ...]
    make_extractor: ExtractorFactory = field(repr=False)
    default_content_layers: tuple[str, ...]
    default_style_layers: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    weights: str = "random"
    preprocessing: str = "imagenet"
    min_size: int = 16  # smallest input edge the network accepts
    # Outputs of each stage, by depth (for activation statistics); empty: the style layers.
    stage_ends: tuple[str, ...] = ()

    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def resolve(self, name: str) -> str:
        """Canonical name for ``name`` (a canonical name or an alias), or a clear error."""
        names = self.layer_names()
        if name in names:
            return name
        if name in self.aliases:
            return self.aliases[name]
        preview = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise StylelabError(
            f"unknown layer {name!r} for backbone {self.name}; valid layers: {preview} "
            f"(see 'stylelab layers --backbone {self.name}')"
        )

    def depth(self, name: str) -> int:
        return self.layer_names().index(self.resolve(name))

    def channels(self, name: str) -> int:
        return self.layers[self.depth(name)].channels

    def extractor(self, layers: Sequence[str]) -> nn.Module:
        """Frozen, eval-mode module returning the features of ``layers`` (canonical names)."""
        canonical = list(dict.fromkeys(self.resolve(name) for name in layers))
        if not canonical:
            raise StylelabError("no layers requested")
        module = self.make_extractor(sorted(canonical, key=self.depth))
        module.eval()
        module.requires_grad_(False)
        return module


Builder = Callable[..., Backbone]
_REGISTRY: dict[str, Builder] = {}
_AVG_POOLING: set[str] = set()


def register(name: str, avg_pooling: bool = False) -> Callable[[Builder], Builder]:
    """Decorator: make ``builder(weights=..., pooling=..., seed=...)`` available as ``name``.

    ``avg_pooling``: the builder honours ``pooling="avg"`` (Gatys et al. 2016 replace VGG's
    max-pooling by average pooling); other backbones accept only ``"max"``.
    """

    def decorate(builder: Builder) -> Builder:
        _REGISTRY[name] = builder
        if avg_pooling:
            _AVG_POOLING.add(name)
        return builder

    return decorate


def list_backbones(pattern: str = "*") -> list[str]:
    """Registered backbone names matching a shell-style ``pattern``."""
    _ensure_loaded()
    return sorted(name for name in _REGISTRY if fnmatch.fnmatch(name, pattern))


def load_backbone(
    name: str, weights: str = "pretrained", pooling: str = "max", seed: int = 0
) -> Backbone:
    """Build backbone ``name`` with ``weights`` (pretrained | torchvision | random | PATH)."""
    _ensure_loaded()
    from stylelab.backbones import zoo

    if name not in _REGISTRY and not zoo.is_torchvision_classifier(name):
        raise StylelabError(
            f"unknown backbone {name!r}; choose from: {', '.join(list_backbones())}, "
            "or any torchvision classification model (torchvision.models.list_models())"
        )
    check_pooling(name, pooling)
    with torch.inference_mode(False):
        if name not in _REGISTRY:
            return zoo.build_zoo_backbone(name, weights=weights, seed=seed)
        return _REGISTRY[name](weights=weights, pooling=pooling, seed=seed)


def check_pooling(name: str, pooling: str) -> None:
    """A one-line error for an unknown pooling, or ``avg`` on a backbone without it."""
    _ensure_loaded()
    if pooling not in ("max", "avg"):
        raise StylelabError(f"unknown pooling {pooling!r}; choose from: max, avg")
    if pooling == "avg" and name not in _AVG_POOLING:
        raise StylelabError(
            f"--pooling avg applies to {', '.join(sorted(_AVG_POOLING))}, not {name}"
        )


def _ensure_loaded() -> None:
    # Importing the family modules registers their builders.
    from stylelab.backbones import resnet, vgg, zoo  # noqa: F401

"""Backbone registry: name -> builder; a Backbone knows its layers and makes extractors.

An *extractor* is an ``nn.Module`` that takes an RGB image in [0, 1] of shape (B, 3, H, W),
applies the backbone's own preprocessing, runs the network only as deep as the deepest
requested layer, and returns ``{canonical_layer_name: features}``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from stylelab.errors import StylelabError, checked_call, closest
from stylelab.limits import show


@dataclass(frozen=True)
class LayerInfo:
    """One addressable layer: its canonical name, output channels and module type."""

    name: str
    channels: int
    kind: str


ExtractorFactory = Callable[[Sequence[str]], nn.Module]
#: The smallest input edge of the built-in backbones (a zoo model probes its own, never
#: smaller): a sweep checks every run's images against it before any run starts.
MIN_INPUT_EDGE = 16


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
    min_size: int = MIN_INPUT_EDGE  # smallest input edge the network accepts
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


# What torch says when an image has shrunk below a layer's window on its way down.
_TOO_SMALL = (
    "Output size is too small",
    "Kernel size can't be greater than actual input size",
    "Calculated padded input size per channel",
)


@contextmanager
def small_image_is_a_user_error(image: torch.Tensor, deepest: str) -> Iterator[None]:
    """Turn torch's error for an image too small for the requested layers into one line."""
    try:
        yield
    except RuntimeError as exc:
        if not any(text in str(exc) for text in _TOO_SMALL):
            raise
        height, width = image.shape[-2:]
        raise StylelabError(
            f"a {width}x{height} px image is too small for layer {deepest}: the network "
            "shrinks it to nothing before that layer; raise --size (or use --no-multiscale) "
            "or choose shallower layers"
        ) from None


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


@checked_call
def load_backbone(
    name: str, weights: str = "pretrained", pooling: str = "max", seed: int = 0
) -> Backbone:
    """Build backbone ``name`` with ``weights`` (pretrained | torchvision | random | PATH)."""
    check_pooling(name, pooling)  # checks the name first
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise StylelabError(
            f"weights must be pretrained, torchvision, random or a PATH, got {weights!r}"
        )
    if not isinstance(seed, int) or isinstance(seed, bool) or not -(2**63) <= seed < 2**64:
        raise StylelabError(f"seed must be an integer from -2**63 to 2**64-1, got {seed!r}")
    from stylelab.backbones import zoo

    with torch.inference_mode(False):
        if name not in _REGISTRY:
            return zoo.build_zoo_backbone(name, weights=weights, seed=seed)
        return _REGISTRY[name](weights=weights, pooling=pooling, seed=seed)


def check_backbone(name: str) -> None:
    """One line if ``name`` is no backbone: unknown (with the closest names), or a
    torchvision model that cannot be one (a transformer, a detection model...)."""
    _ensure_loaded()
    from stylelab.backbones import zoo

    if not isinstance(name, str) or not name:
        raise StylelabError(f"backbone must be a name, got {name!r}")
    if name in _REGISTRY:
        return
    reason = zoo.refusal(name)
    if reason:
        raise StylelabError(reason)
    if zoo.is_torchvision_classifier(name):
        return
    known = list_backbones()
    others = [n for n in zoo.usable_models() if n not in _REGISTRY]
    close = closest(name, known + others, n=3)
    hint = ""
    if close:
        options = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
        hint = f"; did you mean {options}?"
    raise StylelabError(
        f"unknown backbone {show(name, 60)}; choose from: {', '.join(known)}, or any "
        f"convolutional torchvision classifier ({', '.join(_families(others))}){hint}"
    )


def _families(names: Sequence[str]) -> list[str]:
    """``alexnet, convnext_*, ...``: one entry per torchvision family."""
    families: dict[str, list[str]] = {}
    for name in names:
        families.setdefault(name.split("_")[0].rstrip("0123456789"), []).append(name)
    return [group[0] if len(group) == 1 else f"{prefix}*" for prefix, group in families.items()]


def check_pooling(name: str, pooling: str) -> None:
    """One line for an unknown backbone or pooling, or ``avg`` on a backbone without it."""
    check_backbone(name)
    if pooling not in ("max", "avg"):
        raise StylelabError(f"unknown pooling {pooling!r}; choose from: max, avg")
    if pooling == "avg" and name not in _AVG_POOLING:
        raise StylelabError(
            f"--pooling avg applies to {', '.join(sorted(_AVG_POOLING))}, not {name}"
        )


def _ensure_loaded() -> None:
    # Importing the family modules registers their builders.
    from stylelab.backbones import resnet, vgg, zoo  # noqa: F401

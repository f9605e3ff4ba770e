"""Feature networks with named layers: a registry of builders and offline weights."""

from stylelab.backbones.registry import Backbone, LayerInfo, list_backbones, load_backbone

__all__ = ["Backbone", "LayerInfo", "list_backbones", "load_backbone"]

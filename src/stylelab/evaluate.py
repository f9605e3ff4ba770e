"""A quality yardstick that does not depend on the settings that made the image.

Reference network: the Caffe VGG19 (pretrained, max pooling, fp32), whatever backbone or
weights produced the image. Every image is resized so its longer edge is ``size``
(default 512, bicubic with antialiasing); the content image is resized to the output's
exact shape.

- style distance = mean over l in relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 of
  ||G_l(x) - G_l(s)||_F / ||G_l(s)||_F, with position-averaged Grams G = F F^T / M
  (so the style image may have another size); with several styles, G(s) is their blend.
- content distance = ||F(x) - F(c)||_F / ||F(c)||_F at relu4_2.

Both are relative errors: 0 is a perfect match, 1 is as far as all-zero features.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from stylelab.images import ImageSource, load_image, resize_long_edge, resize_to
from stylelab.losses import gram_matrix

REFERENCE_SIZE = 512
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"


@functools.lru_cache(maxsize=1)
def reference_extractor() -> nn.Module:
    from stylelab.backbones import load_backbone

    backbone = load_backbone("vgg19", weights="pretrained", pooling="max")
    return backbone.extractor((*STYLE_LAYERS, CONTENT_LAYER)).float()


def evaluate(
    output: ImageSource,
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    size: int = REFERENCE_SIZE,
    style_blend: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Score ``output`` against ``content`` and ``style``: ``{"style_distance", ...}``."""
    extractor = reference_extractor()
    styles: list[Any] = list(style) if isinstance(style, (list, tuple)) else [style]
    blend = list(style_blend) if style_blend else [1.0] * len(styles)
    blend = [w / sum(blend) for w in blend]
    image = resize_long_edge(load_image(output), size)
    reference = resize_to(load_image(content), (image.shape[-2], image.shape[-1]))
    with torch.no_grad():
        features = extractor(image)
        content_features = extractor(reference)
        targets: dict[str, torch.Tensor] = {}
        for source, weight in zip(styles, blend, strict=True):
            style_features = extractor(resize_long_edge(load_image(source), size))
            for name in STYLE_LAYERS:
                gram = gram_matrix(style_features[name]) * weight
                targets[name] = targets[name] + gram if name in targets else gram
        per_layer = {
            name: float(
                torch.linalg.norm(gram_matrix(features[name]) - targets[name])
                / torch.linalg.norm(targets[name]).clamp_min(1e-12)
            )
            for name in STYLE_LAYERS
        }
        difference = features[CONTENT_LAYER] - content_features[CONTENT_LAYER]
        content_distance = float(
            torch.linalg.norm(difference)
            / torch.linalg.norm(content_features[CONTENT_LAYER]).clamp_min(1e-12)
        )
    return {
        "style_distance": sum(per_layer.values()) / len(per_layer),
        "content_distance": content_distance,
        "style_distance_per_layer": per_layer,
        "size": size,
    }

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

``yardstick="texture"`` scores the same resized images with :mod:`stylelab.texture`
instead, which has no CNN in it (filter-bank texture statistics after Portilla &
Simoncelli 2000, a sliced Wasserstein colour distance, 1 - SSIM for content); it returns
the same two keys, with ``style_distance_per_group`` in place of the per-layer values.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from stylelab.errors import StylelabError, checked_call
from stylelab.images import ImageSource, load_image, resize_long_edge, resize_to
from stylelab.limits import (
    MAX_SIZE,
    MAX_WEIGHT,
    MIN_SIZE,
    check_evaluate_memory,
    in_range,
    show,
)
from stylelab.losses import gram_matrix

REFERENCE_SIZE = 512
YARDSTICKS = ("vgg", "texture")
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"


@functools.lru_cache(maxsize=1)
def reference_extractor() -> nn.Module:
    from stylelab.backbones import load_backbone

    backbone = load_backbone("vgg19", weights="pretrained", pooling="max")
    return backbone.extractor((*STYLE_LAYERS, CONTENT_LAYER)).float()


@checked_call
def evaluate(
    output: ImageSource,
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    size: int = REFERENCE_SIZE,
    style_blend: Sequence[float] | None = None,
    yardstick: str = "vgg",
) -> dict[str, Any]:
    """Score ``output`` against ``content`` and ``style``: ``{"style_distance", ...}``.

    ``yardstick``: ``vgg`` (the Caffe VGG19, the default) or ``texture`` (no CNN, see
    :mod:`stylelab.texture`); both give ``style_distance`` and ``content_distance``.

    Bad arguments (a ``size`` outside 16..MAX_SIZE, blend weights that are not finite and
    >= 0 with a positive sum or do not match the styles, values that are no images, images
    with NaN, a ``size`` whose memory estimate exceeds what the machine has, see
    :func:`stylelab.limits.check_evaluate_memory`) raise :class:`StylelabError` with a
    one-line message, before any work.
    """
    from stylelab.images import check_finite, check_source, style_sources
    from stylelab.pixels import label

    if (
        isinstance(size, bool)
        or not isinstance(size, numbers.Integral)  # numpy integers too, as stylize takes
        or not MIN_SIZE <= size <= MAX_SIZE
    ):
        raise StylelabError(
            f"--size must be an integer from {MIN_SIZE} to {MAX_SIZE}, got {show(size)}"
        )
    size = int(size)
    check_yardstick(yardstick)
    check_source(output, "output")
    check_source(content, "content")
    styles: list[Any] = style_sources(style)
    blend = _blend(style_blend, len(styles))
    loaded = check_finite(load_image(output), label(output, "output"))
    check_evaluate_memory(size, loaded.shape[-2:])
    image = resize_long_edge(loaded, size)
    photo = check_finite(load_image(content), label(content, "content"))
    warn_if_stretched(photo.shape[-2:], loaded.shape[-2:], label(content, "content"))
    reference = resize_to(photo, (image.shape[-2], image.shape[-1]))
    if yardstick == "texture":
        from stylelab import texture

        style_images = [
            resize_long_edge(check_finite(load_image(s), label(s, "style")), size) for s in styles
        ]
        return {**texture.score(image, reference, style_images, blend), "size": size}
    extractor = reference_extractor()
    check_deep_enough(image, label(output, "output"), size)
    with torch.no_grad():
        features = extractor(image)
        content_features = extractor(reference)
        targets: dict[str, torch.Tensor] = {}
        for source, weight in zip(styles, blend, strict=True):
            style_image = check_finite(load_image(source), label(source, "style"))
            resized = resize_long_edge(style_image, size)
            check_deep_enough(resized, label(source, "style"), size)
            style_features = extractor(resized)
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


def warn_if_stretched(content: Sequence[int], output: Sequence[int], name: str) -> None:
    """A one-line warning when the content's aspect ratio is not the output's
    (:func:`stylelab.pixels.same_aspect`): it is resized to the output's shape, so the content
    distance then measures the stretch too."""
    from stylelab.pixels import same_aspect

    (ch, cw), (oh, ow) = (int(v) for v in content), (int(v) for v in output)
    if not same_aspect(content, output):
        warnings.warn(
            f"{name} is {cw}x{ch} and the output {ow}x{oh} (another aspect ratio): the "
            "content was stretched to the output's shape, and the content distance counts "
            "the stretch",
            stacklevel=3,
        )


def check_deep_enough(image: torch.Tensor, name: str, size: int) -> None:
    """One line if ``image`` (resized to ``size``) is too narrow for relu5_1 (after four
    poolings of 2, at least 16 px on each side), naming the image and the remedies."""
    from stylelab.pixels import MIN_SIDE

    height, width = image.shape[-2:]
    if min(height, width) < MIN_SIDE:
        raise StylelabError(
            f"{name}: {width}x{height} px at --size {size}; the VGG yardstick needs at least "
            f"{MIN_SIDE} px on each side (relu5_1): raise --size, or use --yardstick texture"
        )


def check_yardstick(yardstick: object) -> str:
    """``vgg`` or ``texture``, else a one-line StylelabError."""
    if not isinstance(yardstick, str) or yardstick not in YARDSTICKS:
        raise StylelabError(
            f"--yardstick must be one of {', '.join(YARDSTICKS)}, got {show(yardstick)}"
        )
    return yardstick


def _blend(weights: object, count: int) -> list[float]:
    """Normalized blend weights (equal when None), or a one-line StylelabError."""
    if weights is None:
        return [1.0 / count] * count
    values = list(weights) if isinstance(weights, (list, tuple)) else None
    if (
        values is None
        or len(values) != count
        or not all(in_range(v, 0.0, MAX_WEIGHT) for v in values)
        or sum(float(v) for v in values) <= 0
    ):
        raise StylelabError(
            f"--style-blend needs {count} finite weights >= 0 (at most {MAX_WEIGHT:g}) with a "
            f"positive sum, one per style image, got {show(weights)}"
        )
    total = sum(float(v) for v in values)
    return [float(v) / total for v in values]

"""The Gatys objective: layer plan, loss network, one small term per loss, region masks.

L = alpha * sum_l content_l + beta * sum_l w_l E_l + gamma * TV   (Gatys et al. 2015)

Built as pystiche's encode -> represent -> score: :class:`LayerFeatures` encodes an image
with the backbone's extractor and represents each layer (SWAG smoothing sigma, a constant
scale); each term (:class:`ContentTerm`, :class:`StyleTerm`, :class:`TotalVariationTerm`)
holds its target and scores features against it, like the tiny loss modules of
crowsonkb/style-transfer-pytorch; :class:`GatysObjective` weighs and sums them.

With ``normalize_losses`` (the default) each term is divided by the same term evaluated
at a featureless map, content_l = ||F - P||^2 / ||sigma(0) - P||^2 and
E_l = ||G - A||^2 / ||G(sigma(0)) - A||^2: a constant per-layer weight, so one set of
user-facing weights works across backbones, weight sets and image sizes.

:func:`build_objective` resolves backbone -> layer plan -> extractor once, for
:func:`stylelab.gatys.stylize`, :func:`stylelab.fast.training.train` and any other
method that scores images with a backbone's features.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stylelab import losses, smoothing
from stylelab.backbones import Backbone, load_backbone
from stylelab.config import StylizeConfig, check_field_names
from stylelab.errors import StylelabError
from stylelab.limits import show
from stylelab.precision import (
    MixedPrecisionExtractor,
    prepare_extractor,
    resolve_device,
    resolve_precision,
)

Features = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LayerPlan:
    """Resolved loss layers (canonical names) and the weight w_l of each style layer."""

    content: tuple[str, ...]
    style: tuple[str, ...]
    style_weights: tuple[float, ...]
    smoothed: tuple[str, ...] = ()


def plan_layers(backbone: Backbone, config: StylizeConfig) -> LayerPlan:
    """The config's layers (or the backbone's defaults) by canonical name; w_l = 1/L
    unless given; the smoothed layers (default: every loss layer) under SWAG."""
    content = tuple(
        backbone.resolve(n) for n in config.content_layers or backbone.default_content_layers
    )
    style = tuple(backbone.resolve(n) for n in config.style_layers or backbone.default_style_layers)
    if config.style_layer_weights is None:
        weights = tuple(1.0 / len(style) for _ in style)
    elif len(config.style_layer_weights) != len(style):
        raise StylelabError(
            f"--style-layer-weights has {len(config.style_layer_weights)} values for "
            f"{len(style)} style layers ({', '.join(style)})"
        )
    else:
        weights = tuple(float(w) for w in config.style_layer_weights)
    smoothed: tuple[str, ...] = ()
    if config.smoothing != "none":
        loss_layers = tuple(dict.fromkeys(content + style))
        smoothed = tuple(backbone.resolve(n) for n in config.smoothing_layers or loss_layers)
        stray = [n for n in smoothed if n not in loss_layers]
        if stray:
            raise StylelabError(
                f"--smoothing-layers {', '.join(stray)} not among the loss layers "
                f"({', '.join(loss_layers)})"
            )
    return LayerPlan(content, style, weights, smoothed)


def resolve_config(
    config: StylizeConfig | Mapping[str, Any] | None,
    options: Mapping[str, Any],
    keywords: Sequence[str] = (),
) -> StylizeConfig:
    """The run's config: ``config`` (a StylizeConfig, a dict of its fields or None for the
    defaults) with ``options`` on top; a StylelabError for anything else (a misspelt
    option is matched against the fields and the caller's ``keywords``)."""
    check_field_names(options, keywords=keywords)
    if config is None:
        return StylizeConfig(**options)
    if isinstance(config, Mapping):
        return StylizeConfig.from_dict({**config, **options})
    if not isinstance(config, StylizeConfig):
        raise StylelabError(
            f"config must be a StylizeConfig or a dict of its fields, got {show(config)}"
        )
    return config.replace(**options) if options else config


class RegionMasks:
    """Region masks at full size and their style indices (None: no style), with each
    layer's area-averaged copy cached by map size (multi-scale stages included). The masks
    are (R, H, W), shared by every item of the batch, or (R, B, H, W), one set per item
    (e.g. the two views of a stereo pair)."""

    def __init__(self, masks: torch.Tensor, styles: Sequence[int | None]) -> None:
        self.masks = masks.float()
        self.styles = tuple(styles)
        self._sized: dict[tuple[int, int], torch.Tensor] = {}

    def at(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """(R, B, h, w) masks for a feature map of ``shape`` (h, w); B = 1 when shared."""
        key = (int(shape[0]), int(shape[1]))
        if key not in self._sized:
            table = self.masks if self.masks.dim() == 4 else self.masks[:, None]
            self._sized[key] = F.adaptive_avg_pool2d(table, key).to(device)
        return self._sized[key]


class LayerFeatures:
    """Encode and represent: F_l = c_l * sigma_l(phi_l(x)) for each loss layer l.

    phi_l is the extractor's output, sigma_l the layer's SWAG smoothing (identity on layers
    not in ``sigmas``; Wang, Li & Vasconcelos, CVPR 2021) and c_l a constant per layer
    (``scale``, default 1), which every normalized term cancels exactly.
    """

    def __init__(
        self,
        extractor: Callable[[torch.Tensor], Features],
        sigmas: Mapping[str, smoothing.Smoother],
        device: torch.device,
    ) -> None:
        self.extractor = extractor
        self.sigmas = dict(sigmas)
        self.device = device
        self.scale: dict[str, float] = {}

    def __call__(self, image: torch.Tensor) -> Features:
        return self.represent(self.extractor(image))

    def represent(self, raw: Features, unscaled: Collection[str] = ()) -> Features:
        """sigma_l, then c_l, on each layer of ``raw``; c_l left out on the ``unscaled``
        layers (their terms apply it themselves, see :meth:`gram_scale`)."""
        features = {n: self.sigmas[n](f) if n in self.sigmas else f for n, f in raw.items()}
        if self.scale:
            features = {
                n: f if n in unscaled else f * self.scale.get(n, 1.0) for n, f in features.items()
            }
        return features

    def gram_scale(self, name: str) -> float | None:
        """c_l^2, by which a Gram of layer ``name``'s unscaled features becomes the Gram of
        its scaled ones (G(c F) = c^2 G(F): an N x N product instead of an M x N one, and
        none in the backward pass); None where c_l is extreme (features below 1e-8 or above
        1e8, whose products could leave float32's range unscaled)."""
        scale = self.scale.get(name, 1.0)
        return scale * scale if 1e-8 <= scale <= 1e8 else None

    def blank(self, name: str, shape: Sequence[int]) -> torch.Tensor:
        """Layer ``name``'s features of a featureless map (phi = 0): c_l sigma_l(0); zero
        without smoothing, c_l for the per-entry softmax."""
        zeros = torch.zeros(tuple(shape), device=self.device)
        return self.represent({name: zeros})[name]


def reference(value: torch.Tensor, normalize: bool) -> float:
    """A term's divisor: its value at a featureless map when normalizing, else 1. Smoothed
    features can be tiny (channel-softmax times A = 0.001 over 512 channels: Gram entries
    ~1e-12), so only an exact zero (all-zero target) falls back to 1."""
    if not normalize:
        return 1.0
    found = float(value)
    return found if found > 0 and math.isfinite(found) else 1.0


class ContentTerm(nn.Module):
    """content_l = 1/2 ||F_b - P_b||^2 / ref_b per batch item b (Gatys et al. 2015, eq. 1),
    ref_b = 1/2 ||F_blank - P_b||^2 when normalizing (else 1)."""

    def __init__(
        self, layer: str, target: torch.Tensor, encoder: LayerFeatures, normalize: bool
    ) -> None:
        super().__init__()
        self.layer = layer
        self.encoder = encoder
        self.normalize = normalize
        self.set_target(target)

    def set_target(self, target: torch.Tensor) -> None:
        """New targets P (B, C, H, W) and their references."""
        self.target = target.detach()
        self.scale = torch.tensor(
            [
                reference(
                    losses.content_loss(self.encoder.blank(self.layer, item.shape), item),
                    self.normalize,
                )
                for item in self.target.split(1)
            ]
        )

    def items(self, features: Features) -> Iterator[torch.Tensor]:
        """Each item's normalized loss, in batch order."""
        pairs = zip(
            features[self.layer].split(1), self.target.split(1), self.scale.tolist(), strict=True
        )
        for feature, item, scale in pairs:
            yield losses.content_loss(feature, item) / scale

    def forward(self, features: Features) -> torch.Tensor:
        total = torch.zeros((), device=features[self.layer].device)
        for value in self.items(features):
            total = total + value
        return total


class StyleTerm(nn.Module):
    """E_l = 1/(4 N^2) ||G(F_b) - A_b||^2 / ref_b (Gatys et al. 2015, eq. 4, with
    position-averaged Grams), A_b = sum_s w_bs G_s the blend of the styles' Grams G_s.

    ``grams`` (S, N, N) holds each style's Gram; ``blend`` (1, S) the default weights, and
    per-item weights (B, S) may be given per call (one network, many styles). With region
    masks (Gatys et al. 2017, section 4) each region r scores its guided Gram against its
    own style: sum_r E_l(G_r(F), G_s(r)) / ref_s(r).
    """

    def __init__(
        self,
        layer: str,
        grams: torch.Tensor,
        blend: torch.Tensor,
        encoder: LayerFeatures,
        normalize: bool,
        regions: RegionMasks | None = None,
    ) -> None:
        super().__init__()
        self.layer = layer
        self.encoder = encoder
        self.normalize = normalize
        self.blend = blend
        self.regions = regions
        self._blank_gram: torch.Tensor | None = None
        self.set_grams(grams)

    def set_grams(self, grams: torch.Tensor) -> None:
        """New style Grams (S, N, N), and the blended target and references built on them."""
        self.grams = grams
        self.target = self.blended(self.blend)
        self.scale = float(self.references(self.target))
        self.region_scale = self.references(self.grams).tolist()  # each style's, for regions

    def blended(self, weights: torch.Tensor) -> torch.Tensor:
        """Targets A_b = sum_s w_bs G_s for style weights (B, S): (B, N, N)."""
        return torch.einsum("bs,sij->bij", weights.to(self.grams.dtype), self.grams)

    def references(self, targets: torch.Tensor) -> torch.Tensor:
        """Per item (B,): the loss of a featureless map against its target. Every sigma maps
        a constant map to a constant map, whose position-averaged Gram does not depend on
        the size: a 1 x 1 map stands for the style's blank map."""
        if self._blank_gram is None:
            shape = (1, targets.shape[-1], 1, 1)
            self._blank_gram = losses.gram_matrix(self.encoder.blank(self.layer, shape))
        blank = self._blank_gram
        return torch.tensor(
            [reference(losses.style_loss(blank, a), self.normalize) for a in targets.split(1)]
        )

    def forward(
        self,
        features: Features,
        style_weights: torch.Tensor | None = None,
        gram_scale: float = 1.0,
    ) -> torch.Tensor:
        """E_l of ``features``; ``gram_scale`` multiplies their Grams (c_l^2 when the
        features come without the layer's constant c_l)."""
        feature = features[self.layer]
        if self.regions is not None:
            return self._regions(feature, gram_scale)
        if style_weights is None:
            targets, scales = self.target, [self.scale]
        else:
            targets = self.blended(style_weights)
            scales = self.references(targets).tolist()
        batch = feature.shape[0]
        if len(scales) == 1 and batch > 1:
            targets, scales = targets.expand(batch, -1, -1), scales * batch
        total = torch.zeros((), device=feature.device)
        grams = losses.gram_matrix(feature)
        if gram_scale != 1.0:
            grams = grams * gram_scale
        for gram, target, scale in zip(grams.split(1), targets.split(1), scales, strict=True):
            total = total + losses.style_loss(gram, target) / scale
        return total

    def _regions(self, feature: torch.Tensor, gram_scale: float) -> torch.Tensor:
        """sum_r E_l(G_r(F), A_s(r)) / ref_s(r) over the regions that have a style, with
        the region masks area-averaged to this layer's map."""
        assert self.regions is not None
        sized = self.regions.at(tuple(feature.shape[-2:]), feature.device)
        total = torch.zeros((), device=feature.device)
        for mask, index in zip(sized.split(1), self.regions.styles, strict=True):
            mask = mask.transpose(0, 1)  # (B or 1, 1, h, w): each item's own mask
            present = mask.flatten(1).sum(1) >= 1e-3
            if index is None or not bool(present.any()):
                continue
            gram = losses.guided_gram(feature, mask) * gram_scale
            if mask.shape[0] > 1:  # an item whose region is empty scores nothing there
                gram = gram[present]
            target = self.grams[index : index + 1]
            total = total + losses.style_loss(gram, target) / self.region_scale[index]
        return total


class TotalVariationTerm(nn.Module):
    """Mean anisotropic total variation of each item, summed over the batch (B * mean)."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.weight == 0:  # exactly 0 * TV; skips two image-sized passes each way
            return torch.zeros((), device=image.device)
        return losses.total_variation(image, reduction="mean") * self.weight * image.shape[0]


def layer_smoothers(
    extractor: Callable[[torch.Tensor], Features],
    plan: LayerPlan,
    config: StylizeConfig,
    images: Sequence[torch.Tensor],
) -> dict[str, smoothing.Smoother]:
    """sigma of each smoothed layer, its temperature from the layer's peak over ``images``
    when relative (one extra forward pass per image, a map at a time)."""
    peaks: dict[str, list[torch.Tensor]] = {n: [] for n in plan.smoothed}
    if config.relative_temperature and peaks:
        for image in images:
            features = extractor(image)
            for name, found in peaks.items():
                found.append(features[name].abs().max())
    return {
        name: smoothing.smoother(
            config.smoothing,
            smoothing.layer_temperature(found, config.temperature, config.relative_temperature),
            config.smoothing_scale,
            per_entry=True,
        )
        for name, found in peaks.items()
    }


class GatysObjective:
    """alpha * content + beta * sum_l w_l E_l + gamma * TV against fixed targets.

    Targets (content features, style Grams) are computed once, at construction; a batch
    of content images gives each item its own content target, and :meth:`set_content`
    replaces them (fast-network training: a new batch of photos per step). Each style
    image's Grams are kept, G_s; an item's target is the blend A = sum_s w_s G_s, with
    ``blend`` by default and per-item weights (B, S) when ``__call__`` is given them.
    With ``config.smoothing`` (SWAG, Wang, Li & Vasconcelos, CVPR 2021) the features of the
    ``plan.smoothed`` layers pass through sigma (see :mod:`stylelab.smoothing`) for the
    image and for the targets alike: content_l = 1/2 ||sigma(F) - sigma(P)||^2 and
    E_l = 1/(4 N^2) ||G(sigma(F)) - G(sigma(S))||^2. Each layer's sigma is fixed here, its
    temperature from the content and style features (see
    :func:`stylelab.smoothing.layer_temperature`).
    When normalizing, each item's term is divided by its value at a featureless map,
    F = 0, which passes through sigma like any other: sigma(0) is 0 without smoothing (so
    the terms are relative errors) and the constant 1 for the softmax (so 1 means "no
    better than a blank map" there too, not "no better than zero", which a softmax never
    outputs). Returns the total and the weighted terms (``content``, ``style``, ``tv``,
    ``total`` and ``style_<layer>``), summed over the batch, so that total = content +
    style + tv.
    """

    def __init__(
        self,
        extractor: Callable[[torch.Tensor], Features],
        plan: LayerPlan,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        blend: Sequence[float],
        config: StylizeConfig,
        regions: RegionMasks | None = None,
    ) -> None:
        self.extractor = extractor
        self.plan = plan
        self.config = config
        self.device = content.device
        self._regions = regions
        normalize = config.normalize_losses
        with torch.no_grad():
            sigmas = layer_smoothers(extractor, plan, config, [content, *styles])
            self.encoder = LayerFeatures(extractor, sigmas, self.device)
            content_features = self.encoder(content)
            if normalize:
                # A constant factor per layer cancels exactly in the normalized losses; dividing
                # by the content's peak keeps tiny features (softmax outputs, vanishing random
                # activations) away from float32 underflow in the squared terms.
                peaks = {n: float(f.abs().max()) for n, f in content_features.items()}
                self.encoder.scale = {
                    n: 1.0 / p for n, p in peaks.items() if p > 0 and math.isfinite(p)
                }
                content_features = {
                    n: f * self.encoder.scale.get(n, 1.0) for n, f in content_features.items()
                }
            self.content_terms = [
                ContentTerm(n, content_features[n], self.encoder, normalize) for n in plan.content
            ]
            per_style = [self.encoder(style) for style in styles]
            self.blend = torch.tensor([list(blend)], dtype=torch.float32, device=self.device)
            self.style_terms = [
                StyleTerm(
                    name,
                    torch.cat([losses.gram_matrix(f[name]) for f in per_style]),
                    self.blend,
                    self.encoder,
                    normalize,
                    regions,
                )
                for name in plan.style
            ]
        self.tv_term = TotalVariationTerm(config.tv_weight)
        #: c_l^2 per style-only layer, fixed once c_l is: read by every evaluation
        self.gram_scales = self._gram_scales()

    def _gram_scales(self) -> dict[str, float]:
        """c_l^2 of the style-only layers whose constant is applied to their Grams rather
        than to their features (see :meth:`LayerFeatures.gram_scale`)."""
        content = set(self.plan.content)
        found = {n: self.encoder.gram_scale(n) for n in self.plan.style if n not in content}
        return {n: scale for n, scale in found.items() if scale is not None}

    @property
    def regions(self) -> RegionMasks | None:
        return self._regions

    @regions.setter
    def regions(self, regions: RegionMasks | None) -> None:
        """Other masks for the same styles (a tile's crop of the run's masks)."""
        self._regions = regions
        for term in self.style_terms:
            term.regions = regions

    @property
    def content_targets(self) -> Features:
        return {t.layer: t.target for t in self.content_terms}

    @property
    def content_scale(self) -> dict[str, torch.Tensor]:
        return {t.layer: t.scale for t in self.content_terms}

    @property
    def style_targets(self) -> Features:
        return {t.layer: t.target for t in self.style_terms}

    @property
    def style_scale(self) -> dict[str, float]:
        return {t.layer: t.scale for t in self.style_terms}

    def set_style_grams(self, grams: Mapping[str, torch.Tensor]) -> None:
        """Replace each style layer's Grams (S, N, N) (e.g. accumulated over tiles of a
        style image too large for one pass) and the targets and references built on them."""
        with torch.no_grad():
            for term in self.style_terms:
                term.set_grams(grams[term.layer].to(self.device))

    def set_content(self, content: torch.Tensor) -> None:
        """New content targets (and their references) for a batch of images."""
        with torch.no_grad():
            features = self.features(content)
            for term in self.content_terms:
                term.set_target(features[term.layer])

    def features(self, image: torch.Tensor) -> Features:
        """Extractor outputs, with SWAG smoothing sigma(F) on ``plan.smoothed`` layers, times
        the per-layer constant of :class:`LayerFeatures` (which the normalized losses cancel)."""
        return self.encoder(image)

    def __call__(
        self, image: torch.Tensor, style_weights: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of ``image`` (B, 3, H, W), item b against content target b and the style
        blend ``style_weights[b]`` (default: the ``blend`` given at construction)."""
        cfg = self.config
        gram_scales = self.gram_scales
        features = self.encoder.represent(self.extractor(image), unscaled=gram_scales)
        content = torch.zeros((), device=image.device)
        for content_term in self.content_terms:
            for value in content_term.items(features):
                content = content + value
        content = content * cfg.content_weight
        terms: dict[str, torch.Tensor] = {}
        style = torch.zeros((), device=image.device)
        for term, weight in zip(self.style_terms, self.plan.style_weights, strict=True):
            scaled = term(features, style_weights, gram_scales.get(term.layer, 1.0))
            layer = scaled * (weight * cfg.style_weight)
            terms[f"style_{term.layer}"] = layer.detach()
            style = style + layer
        tv = self.tv_term(image)
        total = content + style + tv
        head = {
            "content": content.detach(),
            "style": style.detach(),
            "tv": tv.detach(),
            "total": total.detach(),
        }
        return total, {**head, **terms}


@dataclass(frozen=True)
class LossNetwork:
    """What :func:`build_objective` resolves once: the backbone, its layer plan, the
    plan's extractor prepared for the precision on the device, and the loss settings.
    :meth:`objective` then builds a :class:`GatysObjective` for given targets (one per
    multi-scale stage, one per training run)."""

    backbone: Backbone
    plan: LayerPlan
    extractor: MixedPrecisionExtractor
    config: StylizeConfig
    device: torch.device

    @property
    def precision(self) -> str:
        return self.extractor.precision

    def objective(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        blend: Sequence[float] | None = None,
        regions: RegionMasks | None = None,
    ) -> GatysObjective:
        """The objective against ``content`` (B, 3, H, W), the ``styles`` and their blend
        weights (default: equal), moved to the device."""
        weights = [1.0 / len(styles)] * len(styles) if blend is None else blend
        return GatysObjective(
            self.extractor,
            self.plan,
            content.to(self.device),
            [s.to(self.device) for s in styles],
            weights,
            self.config,
            regions,
        )


def build_objective(
    config: StylizeConfig | Mapping[str, Any] | None = None,
    *,
    device: torch.device | str | None = None,
    precision: str | None = None,
    **options: Any,
) -> LossNetwork:
    """Backbone -> layer plan -> extractor, once, from :class:`StylizeConfig` fields.

    The fields that count: ``backbone``, ``weights``, ``pooling``, ``seed`` (random
    weights), ``content_layers``, ``style_layers``, ``style_layer_weights``,
    ``smoothing`` (and ``smoothing_layers``, ``temperature``, ...), the loss weights,
    ``normalize_losses``, ``precision`` and ``device``. ``options`` override ``config``,
    as in :func:`stylelab.gatys.stylize`; ``device`` and ``precision`` given here
    (already resolved) win over the config's. E.g.
    ``build_objective(backbone="vgg19", style_layers=("relu1_1", "relu2_1"))``, then
    ``network.extractor(image)`` for raw features or ``network.objective(photo, [style])``
    for the Gatys loss.
    """
    config = resolve_config(config, options)
    if device is None or isinstance(device, str):
        device = resolve_device(config.device if device is None else device)
    precision = resolve_precision(precision or config.precision, device)
    backbone = load_backbone(config.backbone, config.weights, config.pooling, config.seed)
    plan = plan_layers(backbone, config)
    extractor = prepare_extractor(backbone.extractor(plan.content + plan.style), device, precision)
    return LossNetwork(backbone, plan, extractor, config, device)


__all__ = [
    "ContentTerm",
    "GatysObjective",
    "LayerFeatures",
    "LayerPlan",
    "LossNetwork",
    "RegionMasks",
    "StyleTerm",
    "TotalVariationTerm",
    "build_objective",
    "plan_layers",
]

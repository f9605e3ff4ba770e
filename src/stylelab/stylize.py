"""Gatys-style optimization: images -> features -> targets -> losses -> optimizer -> image.

L = alpha * sum_l content_l + beta * sum_l w_l E_l + gamma * TV   (Gatys et al. 2015)

With ``normalize_losses`` (the default) each layer's term is divided by the same term
evaluated at zero features, i.e. content_l = ||F - P||^2 / ||P||^2 and
E_l = ||G - A||^2 / ||A||^2: a constant per-layer weight, so one set of user-facing weights
works across backbones, weight sets and image sizes. With smoothing sigma, the reference
is sigma(0) rather than 0 (see :class:`GatysObjective`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm import tqdm

from stylelab import color, losses, masks, smoothing, tiling
from stylelab.backbones import Backbone, load_backbone
from stylelab.backbones.registry import check_pooling
from stylelab.config import INITS, StylizeConfig, check_field_names
from stylelab.errors import StylelabError
from stylelab.images import (
    ImageSource,
    check_output_path,
    load_image,
    resize_long_edge,
    resize_to,
    tensor_to_pil,
)
from stylelab.limits import MAX_LIST_LENGTH, check_memory, show
from stylelab.optim import Outcome, default_lr, make_optimizer, optimize
from stylelab.pixels import label
from stylelab.precision import (
    MixedPrecisionExtractor,
    environment,
    prepare_extractor,
    resolve_device,
    resolve_precision,
)
from stylelab.records import write_result
from stylelab.schedule import Stage, plan_schedule

ImageCallback = Callable[[int, torch.Tensor], None]
RowCallback = Callable[[dict[str, Any]], None]


@dataclass
class StylizeResult:
    """The stylized image, its per-iteration loss history and the resolved settings."""

    tensor: torch.Tensor
    history: list[dict[str, float]]
    config: StylizeConfig
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def image(self) -> Image.Image:
        return tensor_to_pil(self.tensor)

    @property
    def status(self) -> str:
        return str(self.info.get("status", "done"))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the image, ``<stem>.csv`` (one row per iteration) and ``<stem>.json``, as
        one transaction: all three appear together or none does."""
        out = check_output_path(path)
        write_result(self.tensor, out, self.history, self.summary())
        return out

    def summary(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), **self.info}


@dataclass(frozen=True)
class LayerPlan:
    """Resolved loss layers (canonical names) and the weight w_l of each style layer."""

    content: tuple[str, ...]
    style: tuple[str, ...]
    style_weights: tuple[float, ...]
    smoothed: tuple[str, ...] = ()


def plan_layers(backbone: Backbone, config: StylizeConfig) -> LayerPlan:
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
        extractor: nn.Module,
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
        self.regions = regions
        self.device = content.device
        self.feature_scale: dict[str, float] = {}
        self._blank_grams: dict[str, torch.Tensor] = {}  # per layer, built once
        with torch.no_grad():
            self.sigmas = self._smoothers([content, *styles])
            content_features = self.features(content)
            if config.normalize_losses:
                # A constant factor per layer cancels exactly in the normalized losses; dividing
                # by the content's peak keeps tiny features (softmax outputs, vanishing random
                # activations) away from float32 underflow in the squared terms.
                peaks = {n: float(f.abs().max()) for n, f in content_features.items()}
                self.feature_scale = {
                    n: 1.0 / p for n, p in peaks.items() if p > 0 and math.isfinite(p)
                }
                content_features = {
                    n: f * self.feature_scale.get(n, 1.0) for n, f in content_features.items()
                }
            self._set_content_features(content_features)
            per_style = [self.features(style) for style in styles]
            self.style_grams = {
                name: torch.cat([losses.gram_matrix(f[name]) for f in per_style])
                for name in plan.style
            }
            self.blend = torch.tensor([list(blend)], dtype=torch.float32, device=self.device)
            self.style_targets = {n: self._blended(n, self.blend) for n in plan.style}
            self.style_scale = {
                n: float(self._style_reference(n, a)) for n, a in self.style_targets.items()
            }
            if regions is not None:  # each style's own reference, for its regions
                self.region_scale = {
                    n: self._style_reference(n, self.style_grams[n]).tolist() for n in plan.style
                }

    def set_style_grams(self, grams: dict[str, torch.Tensor]) -> None:
        """Replace each style layer's Grams (S, N, N) (e.g. accumulated over tiles of a
        style image too large for one pass) and the targets and references built on them."""
        with torch.no_grad():
            self.style_grams = {n: grams[n].to(self.device) for n in self.plan.style}
            self.style_targets = {n: self._blended(n, self.blend) for n in self.plan.style}
            self.style_scale = {
                n: float(self._style_reference(n, a)) for n, a in self.style_targets.items()
            }
            if self.regions is not None:
                self.region_scale = {
                    n: self._style_reference(n, self.style_grams[n]).tolist()
                    for n in self.plan.style
                }

    def set_content(self, content: torch.Tensor) -> None:
        """New content targets (and their references) for a batch of images."""
        with torch.no_grad():
            self._set_content_features(self.features(content))

    def _set_content_features(self, features: dict[str, torch.Tensor]) -> None:
        self.content_targets = {n: features[n].detach() for n in self.plan.content}
        # Per item: the loss of a featureless map against the item's target.
        self.content_scale = {
            n: torch.tensor(
                [
                    self._reference(losses.content_loss(self._blank(n, item.shape), item))
                    for item in t.split(1)
                ]
            )
            for n, t in self.content_targets.items()
        }

    def _blended(self, name: str, weights: torch.Tensor) -> torch.Tensor:
        """Targets A_b = sum_s w_bs G_s for style weights (B, S): (B, N, N)."""
        grams = self.style_grams[name]
        return torch.einsum("bs,sij->bij", weights.to(grams.dtype), grams)

    def _style_reference(self, name: str, targets: torch.Tensor) -> torch.Tensor:
        """Per item (B,): the style loss of a featureless map against its target. Every
        sigma maps a constant map to a constant map, whose position-averaged Gram does not
        depend on the size: a 1 x 1 map stands for the style's blank map."""
        if name not in self._blank_grams:
            shape = (1, targets.shape[-1], 1, 1)
            self._blank_grams[name] = losses.gram_matrix(self._blank(name, shape))
        blank = self._blank_grams[name]
        return torch.tensor(
            [self._reference(losses.style_loss(blank, a)) for a in targets.split(1)]
        )

    def _smoothers(self, images: Sequence[torch.Tensor]) -> dict[str, smoothing.Smoother]:
        """sigma of each smoothed layer, its temperature from the layer's peak over
        ``images`` when relative (one extra forward pass per image, a map at a time)."""
        config = self.config
        peaks: dict[str, list[torch.Tensor]] = {n: [] for n in self.plan.smoothed}
        if config.relative_temperature and peaks:
            for image in images:
                features = self.extractor(image)
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

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Extractor outputs, with SWAG smoothing sigma(F) on ``plan.smoothed`` layers, times
        the per-layer constant ``feature_scale`` (which the normalized losses cancel)."""
        return self._transform(self.extractor(image))

    def _transform(self, raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        features = {n: self.sigmas[n](f) if n in self.sigmas else f for n, f in raw.items()}
        if self.feature_scale:
            features = {n: f * self.feature_scale.get(n, 1.0) for n, f in features.items()}
        return features

    def _blank(self, name: str, shape: Sequence[int]) -> torch.Tensor:
        """Layer ``name``'s loss features of a featureless map (F = 0): sigma(0) times the
        layer's constant; zero without smoothing, 1 for the per-entry softmax."""
        zeros = torch.zeros(tuple(shape), device=self.device)
        return self._transform({name: zeros})[name]

    def _reference(self, value: torch.Tensor) -> float:
        if not self.config.normalize_losses:
            return 1.0
        # Smoothed features can be tiny (channel-softmax times A = 0.001 over 512 channels:
        # Gram entries ~1e-12), so only an exact zero (all-zero target) falls back to 1.
        reference = float(value)
        return reference if reference > 0 and math.isfinite(reference) else 1.0

    def __call__(
        self, image: torch.Tensor, style_weights: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of ``image`` (B, 3, H, W), item b against content target b and the style
        blend ``style_weights[b]`` (default: the ``blend`` given at construction)."""
        cfg = self.config
        features = self.features(image)
        zero = torch.zeros((), device=image.device)
        content = zero
        for name, target in self.content_targets.items():
            for feature, item, scale in zip(
                features[name].split(1),
                target.split(1),
                self.content_scale[name].tolist(),
                strict=True,
            ):
                content = content + losses.content_loss(feature, item) / scale
        content = content * cfg.content_weight
        terms: dict[str, torch.Tensor] = {}
        style = zero
        for name, weight in zip(self.plan.style, self.plan.style_weights, strict=True):
            if style_weights is None:
                targets, scales = self.style_targets[name], [self.style_scale[name]]
            else:
                targets = self._blended(name, style_weights)
                scales = self._style_reference(name, targets).tolist()
            if len(scales) == 1 and image.shape[0] > 1:
                targets, scales = targets.expand(image.shape[0], -1, -1), scales * image.shape[0]
            layer = zero
            if self.regions is not None:
                layer = self._region_style(name, features[name])
            else:
                grams = losses.gram_matrix(features[name])
                pairs = zip(grams.split(1), targets.split(1), scales, strict=True)
                for gram, target, scale in pairs:
                    layer = layer + losses.style_loss(gram, target) / scale
            layer = layer * (weight * cfg.style_weight)
            terms[f"style_{name}"] = layer.detach()
            style = style + layer
        tv = losses.total_variation(image, reduction="mean") * cfg.tv_weight * image.shape[0]
        total = content + style + tv
        head = {
            "content": content.detach(),
            "style": style.detach(),
            "tv": tv.detach(),
            "total": total.detach(),
        }
        return total, {**head, **terms}

    def _region_style(self, name: str, features: torch.Tensor) -> torch.Tensor:
        """sum_r E_l(G_r(F), A_s(r)) / ref_s(r) over the regions that have a style, with
        the region masks area-averaged to this layer's map."""
        assert self.regions is not None
        sized = self.regions.at(tuple(features.shape[-2:]), features.device)
        total = torch.zeros((), device=features.device)
        for mask, index in zip(sized.split(1), self.regions.styles, strict=True):
            if index is None or float(mask.sum()) < 1e-3:
                continue
            gram = losses.guided_gram(features, mask)
            target = self.style_grams[name][index : index + 1]
            total = total + losses.style_loss(gram, target) / self.region_scale[name][index]
        return total


class RegionMasks:
    """Region masks at full size (R, H, W) and their style indices (None: no style), with
    each layer's area-averaged copy cached by map size (multi-scale stages included)."""

    def __init__(self, masks: torch.Tensor, styles: Sequence[int | None]) -> None:
        self.masks = masks.float()
        self.styles = tuple(styles)
        self._sized: dict[tuple[int, int], torch.Tensor] = {}

    def at(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """(R, 1, h, w) masks for a feature map of ``shape`` (h, w)."""
        key = (int(shape[0]), int(shape[1]))
        if key not in self._sized:
            sized = F.adaptive_avg_pool2d(self.masks[:, None], key)
            self._sized[key] = sized.to(device)
        return self._sized[key]


def initial_image(init: str, content: torch.Tensor, style: torch.Tensor, seed: int) -> torch.Tensor:
    """content | noise (uniform, seeded) | style (resized to the content's shape) | PATH."""
    size = content.shape[-2:]
    if init == "content":
        return content.clone()
    if init == "noise":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=generator)
    if init == "style":
        source = style
    else:
        check_init(init)
        source = check_finite(load_image(init), label(init, "--init"))
    return resize_to(source, size)


def check_init(init: str) -> None:
    """One line for an --init that is neither a mode, ``example:NAME`` nor an existing path."""
    if init in INITS or init.startswith("example:") or os.path.exists(init):
        return
    raise StylelabError(
        f"unknown init {init!r}; choose from: {', '.join(INITS)}, or a PATH to an image"
    )


def check_finite(image: torch.Tensor, what: str) -> torch.Tensor:
    """``image``, or a StylelabError when any value is NaN or infinite (nothing finite
    could come of it: every loss, and so every step, would be NaN)."""
    if not bool(torch.isfinite(image).all()):
        raise StylelabError(f"{what}: the image has NaN or infinite values")
    return image


@dataclass(frozen=True)
class Problem:
    """What every stage of one run optimizes against: the full-size sources, the style
    blend, the feature extractor, its layer plan, the settings and the device."""

    content: torch.Tensor
    styles: Sequence[torch.Tensor]
    blend: Sequence[float]
    extractor: MixedPrecisionExtractor
    plan: LayerPlan
    config: StylizeConfig
    device: torch.device
    regions: RegionMasks | None = None


@dataclass
class _Run:
    """What the stages of one run share: the history, the progress bar and the clock."""

    history: list[dict[str, Any]]
    bar: Any
    callback: ImageCallback | None
    clock_start: float
    on_row: RowCallback | None = None
    iterations: int = 0

    def optimize(
        self, image: torch.Tensor, objective: Any, optimizer: Any, steps: int, on_step: Any
    ) -> Outcome:
        """:func:`stylelab.optim.optimize` continuing this run's iteration count and clock."""
        outcome = optimize(
            image,
            objective,
            optimizer,
            steps,
            on_step,
            start_iteration=self.iterations,
            clock_start=self.clock_start,
        )
        self.iterations += outcome.iterations
        return outcome

    def record(self, iteration: int, elapsed: float, terms: dict[str, float], **extra: Any) -> None:
        """One row of the history (iteration, seconds, ``extra``, loss terms) and a tick."""
        row = {"iteration": iteration, "elapsed_s": round(elapsed, 4), **extra, **terms}
        self.history.append(row)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{terms['total']:.4g}", **extra, refresh=False)
        if self.on_row is not None:
            self.on_row(dict(row))


def run_stage(
    stage: Stage, start: torch.Tensor | None, problem: Problem, run: _Run
) -> tuple[torch.Tensor, Outcome, dict[str, Any]]:
    """Optimize at one size: resize the sources, build targets once, start from ``start``.

    ``start`` (the previous stage's result, or None for the first) is upsampled bicubically
    to this stage's shape. Returns the image, how the optimization ended and a schedule row.
    """
    config, device = problem.config, problem.device
    content = resize_long_edge(problem.content, stage.size)
    style_edge = max(16, round(stage.size * config.style_scale))
    styles = [resize_long_edge(s, style_edge) for s in problem.styles]
    if start is None:
        init = initial_image(config.init, content, styles[0], config.seed)
    else:
        init = resize_to(start.detach(), tuple(content.shape[-2:]))  # on the device
    objective = GatysObjective(
        problem.extractor,
        problem.plan,
        content.to(device),
        [s.to(device) for s in styles],
        problem.blend,
        config,
        problem.regions,
    )
    image = init.to(device).contiguous().requires_grad_(True)
    optimizer = make_optimizer(config.optimizer, [image], config.lr)
    extra = {"scale": stage.scale, "size": stage.size}

    def on_step(iteration: int, elapsed: float, terms: dict[str, float], x: torch.Tensor) -> None:
        run.record(iteration, elapsed, terms, **extra)
        if run.callback is not None:
            run.callback(iteration, x.detach())

    began = time.perf_counter()
    outcome = run.optimize(image, objective, optimizer, stage.steps, on_step)
    seconds = time.perf_counter() - began
    row = {
        **extra,
        "shape": list(content.shape[-2:]),
        "style_sizes": [list(s.shape[-2:]) for s in styles],
        "steps": stage.steps,
        "iterations": outcome.iterations,
        "seconds": round(seconds, 3),
        "seconds_per_iteration": round(seconds / max(1, outcome.iterations), 5),
    }
    return image.detach(), outcome, row


def run_tiled_stage(
    stage: Stage, start: torch.Tensor | None, problem: Problem, run: _Run, tile: int
) -> tuple[torch.Tensor, Outcome, dict[str, Any]]:
    """One stage optimized tile by tile (:mod:`stylelab.tiling`): global style Grams,
    per-tile content targets, feathered blending into a canvas kept on the CPU."""
    config, device = problem.config, problem.device
    overlap = config.tile_overlap
    content = resize_long_edge(problem.content, stage.size)
    style_edge = max(16, round(stage.size * config.style_scale))
    styles = [resize_long_edge(s, style_edge) for s in problem.styles]
    if start is None:
        canvas = initial_image(config.init, content, styles[0], config.seed).cpu()
    else:
        canvas = resize_to(start.detach().cpu(), tuple(content.shape[-2:]))
    tiling.check_receptive_field(problem.extractor, problem.plan, tile, device)
    # One objective for the stage, built at tile size; its style Grams are then replaced
    # by the whole style images' (accumulated tile by tile) and its content target by
    # each tile's in turn.
    objective = GatysObjective(
        problem.extractor,
        problem.plan,
        resize_long_edge(content, tile).to(device),
        [resize_long_edge(s, tile).to(device) for s in styles],
        problem.blend,
        config,
        problem.regions,
    )
    per_style = [
        tiling.accumulate_grams(
            objective.features, s.to(device), problem.plan.style, tile, tile // 4
        )
        for s in styles
    ]
    objective.set_style_grams(
        {n: torch.cat([grams[n] for grams in per_style]) for n in problem.plan.style}
    )
    stage_masks = None
    if problem.regions is not None:
        stage_masks = F.interpolate(
            problem.regions.masks[None], size=tuple(content.shape[-2:]), mode="bilinear"
        )[0]
    height, width = content.shape[-2:]
    boxes = tiling.tile_boxes(height, width, tile, overlap)
    run.bar.total = (run.bar.total or 0) + stage.steps * (len(boxes) - 1)
    began = time.perf_counter()
    outcome = Outcome("done", 0)
    iterations = 0
    for number, box in enumerate(boxes):
        objective.set_content(box.crop(content).to(device))
        if stage_masks is not None and problem.regions is not None:
            objective.regions = RegionMasks(box.crop(stage_masks), problem.regions.styles)
        outcome = _optimize_tile(objective, canvas, box, number, stage, config, run, overlap)
        iterations += outcome.iterations
        if outcome.status != "done":
            break
    seconds = time.perf_counter() - began
    row = {
        "scale": stage.scale,
        "size": stage.size,
        "shape": [int(height), int(width)],
        "style_sizes": [list(s.shape[-2:]) for s in styles],
        "steps": stage.steps,
        "tiles": len(boxes),
        "tile": tile,
        "tile_overlap": overlap,
        "iterations": iterations,
        "seconds": round(seconds, 3),
        "seconds_per_iteration": round(seconds / max(1, iterations), 5),
    }
    return canvas, Outcome(outcome.status, iterations, outcome.message), row


def _optimize_tile(
    objective: GatysObjective,
    canvas: torch.Tensor,
    box: tiling.Box,
    number: int,
    stage: Stage,
    config: StylizeConfig,
    run: _Run,
    overlap: int,
) -> Outcome:
    """Optimize one tile of ``canvas`` from its current pixels and blend it back."""
    height, width = canvas.shape[-2:]
    device = objective.device
    image = box.crop(canvas).clone().to(device).contiguous().requires_grad_(True)
    weights = tiling.feather(box, height, width, overlap)
    extra = {"scale": stage.scale, "size": stage.size, "tile": number}

    def on_step(iteration: int, elapsed: float, terms: dict[str, float], x: torch.Tensor) -> None:
        run.record(iteration, elapsed, terms, **extra)
        if run.callback is not None:
            composite = canvas.clone()
            tiling.blend_into(composite, x.detach().float().cpu(), box, weights)
            run.callback(iteration, composite)

    optimizer = make_optimizer(config.optimizer, [image], config.lr)
    outcome = run.optimize(image, objective, optimizer, stage.steps, on_step)
    tiling.blend_into(canvas, image.detach().float().cpu(), box, weights)
    return outcome


def stylize(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    config: StylizeConfig | Mapping[str, Any] | None = None,
    *,
    progress: bool = False,
    callback: ImageCallback | None = None,
    regions: masks.Regions | None = None,
    on_row: RowCallback | None = None,
    **options: Any,
) -> StylizeResult:
    """Stylize ``content`` with ``style`` (one image or several to blend).

    Images may be paths, ``example:NAME``, PIL images, arrays or tensors. ``config`` is a
    :class:`StylizeConfig` or a dict of its fields; options are its fields too (e.g.
    ``size=256, steps=100, optimizer="adam"``) and override it. ``callback(iteration,
    image)`` is called after every iteration (coarse stages of a multi-scale run pass
    their smaller images); ``on_row(row)`` after every iteration with its row of the
    history (iteration, elapsed_s, scale, size and the loss terms). Either callback may
    raise :class:`stylelab.optim.StopRequested` to end the run with the current image
    (status ``interrupted``). The run goes through the stages of
    :func:`stylelab.schedule.plan_schedule`, each starting from the previous result.

    Every bad argument raises :class:`StylelabError` with a one-line message before any
    work: unknown options, wrong types, values out of :mod:`stylelab.limits`, images with
    NaN, and a run whose memory estimate exceeds what the machine has. So does a run in
    which no image ever had a finite loss (there is no image to return).
    """
    config = resolve_config(config, options)
    if not isinstance(progress, bool):
        raise StylelabError(f"progress must be True or False, got {show(progress)}")
    if callback is not None and not callable(callback):
        raise StylelabError(f"callback must be callable(iteration, image), got {show(callback)}")
    if on_row is not None and not callable(on_row):
        raise StylelabError(f"on_row must be callable(row), got {show(on_row)}")
    check_source(content, "content")
    styles_in = style_sources(style)
    blend = _blend_weights(config.style_blend, len(styles_in))
    check_init(config.init)
    stages = plan_schedule(config.size, config.steps, config.scales, config.multiscale)
    check_pooling(config.backbone, config.pooling)  # the registry's one-line name check too
    started = time.perf_counter()
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    content_source = check_finite(load_image(content), label(content, "content"))
    style_sources_full = [check_finite(load_image(s), label(s, "style")) for s in styles_in]
    if config.init not in INITS:  # an image: refuse a bad one now, not after the backbone
        check_finite(load_image(config.init), label(config.init, "--init"))
    style_hw = [tuple(s.shape[-2:]) for s in style_sources_full]
    if config.tile == "off":
        check_memory(config, content_source.shape[-2:], style_hw, device)
    else:
        tiling.check_tile_memory(config, content_source.shape[-2:], style_hw, device)
    content_full = resize_long_edge(content_source, config.size)
    style_edge = max(16, round(config.size * config.style_scale))
    styles_full = [resize_long_edge(s, style_edge) for s in style_sources_full]
    del content_source, style_sources_full
    photo_full = content_full
    content_full, styles_full = colour_inputs(config.preserve_color, content_full, styles_full)
    if config.preserve_color == "luminance" and callback is not None:
        callback = recoloured(callback, photo_full)
    backbone = load_backbone(config.backbone, config.weights, config.pooling, config.seed)
    plan = plan_layers(backbone, config)
    extractor = prepare_extractor(backbone.extractor(plan.content + plan.style), device, precision)
    coarsest = min(stage.size for stage in stages) / config.size
    named = [(label(content, "content"), content_full)]
    named += [(label(s, "style"), im) for s, im in zip(styles_in, styles_full, strict=True)]
    smallest, which = min((round(min(im.shape[-2:]) * coarsest), n) for n, im in named)
    if smallest < backbone.min_size:
        raise StylelabError(
            f"{which}: {backbone.name} needs images of at least {backbone.min_size} px per "
            f"edge, this one has {smallest} px at the coarsest scale: "
            + ("raise --size (or --no-multiscale)" if len(stages) > 1 else "raise --size")
        )
    region_masks = resolve_regions(config, regions, content_full.shape, styles_in)
    problem = Problem(
        content_full, styles_full, blend, extractor, plan, config, device, region_masks
    )
    bar = tqdm(total=config.steps, disable=not progress, desc="stylize", unit="it", leave=False)
    run = _Run([], bar, callback, time.perf_counter(), on_row=on_row)
    image: torch.Tensor | None = None
    schedule: list[dict[str, Any]] = []
    outcome = Outcome("done", 0)
    try:
        for stage in stages:
            tile = tiling.stage_tile(config, stage.size, content_full.shape, style_hw, device)
            if tile:
                image, outcome, row = run_tiled_stage(stage, image, problem, run, tile)
            else:
                image, outcome, row = run_stage(stage, image, problem, run)
            schedule.append(row)
            if outcome.status != "done":
                break
    finally:
        bar.close()
    assert image is not None
    if outcome.status == "nonfinite" and run.iterations == 0:
        # Not one evaluation had a finite loss: there is no image to return, so say so
        # rather than hand back the starting image as if it were a result.
        raise StylelabError(
            f"no image: the loss was not finite from the first iteration "
            f"({outcome.message.removeprefix('stopped: ').split(';')[0]}); check --weights, "
            "the loss weights and the images"
        )
    if tuple(image.shape[-2:]) != tuple(content_full.shape[-2:]):  # stopped at a coarse stage
        image = resize_to(image.cpu(), tuple(content_full.shape[-2:]))
    if config.preserve_color == "luminance":
        image = torch.from_numpy(color.with_chroma(image.cpu().numpy(), photo_full.numpy()))
    info = _summary(run, outcome, schedule, started, problem, backbone)
    info["resolved"]["output_size"] = list(content_full.shape[-2:])
    info["environment"] = environment(device)
    info["peak_rss_mb"] = peak_rss_mb()
    return StylizeResult(image.cpu(), run.history, config, info)


def resolve_regions(
    config: StylizeConfig,
    regions: masks.Regions | None,
    shape: Sequence[int],
    styles: Sequence[ImageSource],
) -> RegionMasks | None:
    """The run's region masks at the output size: from ``regions`` (arrays, resized) or
    from ``config.mask`` and ``config.region_style``; None without spatial control."""
    if regions is not None and config.mask:
        raise StylelabError("give regions or --mask, not both")
    height, width = (int(v) for v in shape[-2:])
    if config.mask:
        labels, colors = masks.read_mask(config.mask, (height, width))
        names = [os.fspath(s) if isinstance(s, (str, os.PathLike)) else "" for s in styles]
        mapping = masks.parse_region_styles(config.region_style, names, colors)
        regions = masks.regions_from_labels(labels, colors, mapping)
    if regions is None:
        return None
    if not isinstance(regions, masks.Regions):
        raise StylelabError(f"regions must be a stylelab.masks.Regions, got {show(regions)}")
    table = torch.from_numpy(np.ascontiguousarray(regions.masks, dtype=np.float32))
    if tuple(table.shape[1:]) != (height, width):
        table = F.interpolate(table[None], size=(height, width), mode="bilinear")[0]
    masks.check_regions(masks.Regions(table.numpy(), regions.styles), len(styles), shape)
    return RegionMasks(table, regions.styles)


def colour_inputs(
    mode: str, content: torch.Tensor, styles: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The images the optimization sees under ``--preserve-color`` (:mod:`stylelab.color`):
    luminance: gray photo, gray styles with the photo's luminance mean and variance;
    histogram: the styles' colours moved to the photo's mean and covariance."""
    if mode == "histogram":
        photo = content.numpy()
        return content, [torch.from_numpy(color.match_colors(s.numpy(), photo)) for s in styles]
    if mode == "luminance":
        photo = content.numpy()
        grays = [torch.from_numpy(color.gray(s.numpy(), like=photo)) for s in styles]
        return torch.from_numpy(color.gray(photo)), grays
    return content, styles


def recoloured(callback: ImageCallback, photo: torch.Tensor) -> ImageCallback:
    """``callback`` seeing intermediate images with the photo's chroma (luminance mode)."""
    sized: dict[tuple[int, ...], torch.Tensor] = {}

    def call(iteration: int, image: torch.Tensor) -> None:
        shape = tuple(image.shape[-2:])
        if shape not in sized:
            sized[shape] = resize_to(photo, shape) if shape != tuple(photo.shape[-2:]) else photo
        chroma = sized[shape].numpy()
        callback(
            iteration, torch.from_numpy(color.with_chroma(image.float().cpu().numpy(), chroma))
        )

    return call


def peak_rss_mb() -> float | None:
    """The process's peak resident memory so far, in MB (Linux: ru_maxrss in KiB)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def resolve_config(
    config: StylizeConfig | Mapping[str, Any] | None, options: Mapping[str, Any]
) -> StylizeConfig:
    """The run's config: ``config`` (a StylizeConfig, a dict of its fields or None for the
    defaults) with ``options`` on top; a StylelabError for anything else."""
    check_field_names(options)
    if config is None:
        return StylizeConfig(**options)
    if isinstance(config, Mapping):
        return StylizeConfig.from_dict({**config, **options})
    if not isinstance(config, StylizeConfig):
        raise StylelabError(
            f"config must be a StylizeConfig or a dict of its fields, got {show(config)}"
        )
    return config.replace(**options) if options else config




def check_source(source: object, what: str) -> None:
    """One line for a value that is no image source (a path, ``example:NAME``, a PIL
    image, an array or a tensor)."""
    if isinstance(source, (str, os.PathLike, Image.Image, torch.Tensor, np.ndarray)):
        if isinstance(source, str) and (not source or "\0" in source):
            raise StylelabError(f"{what}: {show(source)} is not a path to an image")
        return
    raise StylelabError(
        f"{what} must be a path, example:NAME, a PIL image, an array or a tensor, "
        f"got {show(source)}"
    )


def style_sources(style: object) -> list[ImageSource]:
    """One style image or a non-empty list/tuple of them (at most MAX_LIST_LENGTH)."""
    styles: list[Any] = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise StylelabError("style needs at least one image, got an empty list")
    if len(styles) > MAX_LIST_LENGTH:
        raise StylelabError(f"{len(styles)} style images; at most {MAX_LIST_LENGTH}")
    for item in styles:
        check_source(item, "style")
    return styles


def _summary(
    run: _Run,
    outcome: Outcome,
    schedule: list[dict[str, Any]],
    started: float,
    problem: Problem,
    backbone: Backbone,
) -> dict[str, Any]:
    config, plan, extractor = problem.config, problem.plan, problem.extractor
    skip = ("iteration", "elapsed_s", "scale", "size")
    final = {k: v for k, v in run.history[-1].items() if k not in skip} if run.history else {}
    loop_time = sum(row["seconds"] for row in schedule)
    return {
        "status": outcome.status,
        "message": outcome.message,
        "iterations": run.iterations,
        "final_losses": final,
        "wall_time_s": round(time.perf_counter() - started, 3),
        "optimization_time_s": round(loop_time, 3),
        "seconds_per_iteration": round(loop_time / max(1, run.iterations), 5),
        "schedule": schedule,
        "resolved": {
            "content_layers": list(plan.content),
            "style_layers": list(plan.style),
            "style_layer_weights": list(plan.style_weights),
            "smoothed_layers": list(plan.smoothed),
            "style_blend": list(problem.blend),
            "lr": config.lr if config.lr is not None else default_lr(config.optimizer),
            "precision": extractor.precision,
            "channels_last": extractor.channels_last,
            "weights_used": backbone.weights,
            "preprocessing": backbone.preprocessing,
            "style_sizes": schedule[-1]["style_sizes"] if schedule else [],
        },
    }


def _blend_weights(blend: Sequence[float] | None, count: int) -> tuple[float, ...]:
    if blend is None:
        return tuple(1.0 / count for _ in range(count))
    if len(blend) != count:
        raise StylelabError(f"--style-blend has {len(blend)} weights for {count} style images")
    total = sum(blend)
    return tuple(w / total for w in blend)


__all__ = ["GatysObjective", "StylizeResult", "stylize"]

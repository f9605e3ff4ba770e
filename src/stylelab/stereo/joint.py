"""Both views of a pair optimized together: Gatys plus a disparity-consistency term.

L = sum_v L_Gatys(O_v; C_v, S) + lambda * (mean_M_L |O_L(x) - O_R(x - d_L)|^2
                                           + mean_M_R |O_R(x) - O_L(x + d_R)|^2)

(Chen et al., "Stereoscopic Neural Style Transfer", CVPR 2018, with the per-pixel squared
error averaged over each view's shared pixels M so that lambda does not depend on the size).
The optimized image is a batch of the two views; the Gatys objective gives each its own
content target and both the same style targets. Multi-scale stages, colour preservation,
every backbone/weights/smoothing/optimizer and precision setting work as in ``stylize``,
and so do region masks: the left view's mask, warped to the right view
(:mod:`stylelab.stereo.regions`), each view's guided Grams against its own masks. Tiles do
not (refused in one line).

This module is the one place in :mod:`stylelab.stereo` that reaches into the Gatys driver.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stylelab import color
from stylelab.backbones.registry import check_pooling
from stylelab.config import StylizeConfig, blend_weights
from stylelab.errors import StylelabError
from stylelab.gatys import colour_inputs
from stylelab.images import (
    ImageSource,
    check_finite,
    load_image,
    resize_long_edge,
    resize_to,
    style_sources,
)
from stylelab.limits import check_memory
from stylelab.objective import RegionMasks, build_objective
from stylelab.optim import Objective, Outcome, make_optimizer, optimize
from stylelab.pixels import label
from stylelab.precision import resolve_device, resolve_precision
from stylelab.schedule import plan_schedule
from stylelab.stages import check_init, initial_image, style_edge
from stylelab.stereo.disparity import PairDisparity
from stylelab.stereo.pair import StereoPair
from stylelab.stereo.regions import view_regions
from stylelab.stereo.warp import ConsistencyMaps, consistency_loss

DEFAULT_CONSISTENCY_WEIGHT = 1000.0

StepCallback = Callable[[int, dict[str, float]], None]


@dataclass
class PairStylization:
    """The stylized views (1, 3, H, W) each, the per-iteration history and a summary."""

    left: torch.Tensor
    right: torch.Tensor
    history: list[dict[str, float]]
    info: dict[str, Any]


def check_joint_config(config: StylizeConfig) -> None:
    """One line for the ``stylize`` settings the joint optimization does not support."""
    if config.tile != "off":
        raise StylelabError(
            "--tile is not supported by stylelab stereo (both views are optimized whole); "
            "use --tile off, and a smaller --size or --optimizer adam if memory is short"
        )


def stylize_pair(
    pair: StereoPair,
    style: ImageSource | Sequence[ImageSource],
    disparity: PairDisparity,
    config: StylizeConfig,
    consistency_weight: float = DEFAULT_CONSISTENCY_WEIGHT,
    on_step: StepCallback | None = None,
) -> PairStylization:
    """Stylize both views of ``pair`` together (see the module); ``disparity`` at any
    size (it is resized to each stage's). ``on_step(iteration, terms)`` after each step."""
    check_joint_config(config)
    styles_in = style_sources(style)
    blend = blend_weights(config.style_blend, len(styles_in))
    check_init(config.init)
    stages = plan_schedule(config.size, config.steps, config.scales, config.multiscale)
    check_pooling(config.backbone, config.pooling)  # an unknown backbone: before any work
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    styles_full = [check_finite(load_image(s), label(s, "style")) for s in styles_in]
    style_hws = [tuple(s.shape[-2:]) for s in styles_full]
    check_memory(config, pair.shape, style_hws, device, batch=2, tiles=False)  # two views
    started = time.perf_counter()
    photos = resize_long_edge(torch.cat([pair.left, pair.right]), config.size)
    region_masks = _region_masks(config, styles_in, photos, disparity)
    styles_sized = [
        resize_long_edge(s, style_edge(config.size, config.style_scale)) for s in styles_full
    ]
    content, styles_seen = _colour_inputs(config.preserve_color, photos, styles_sized)
    network = build_objective(config, device=device, precision=precision)
    history: list[dict[str, float]] = []
    image: torch.Tensor | None = None
    outcome = Outcome("done", 0)
    done = 0
    for stage in stages:
        views = resize_long_edge(content, stage.size)
        stage_styles = [
            resize_long_edge(s, style_edge(stage.size, config.style_scale)) for s in styles_seen
        ]
        if image is None:
            start = initial_image(config.init, views, stage_styles[0], config.seed)
        else:
            start = resize_to(image, tuple(views.shape[-2:]))
        objective = network.objective(views, stage_styles, blend, region_masks)
        shape = (int(views.shape[-2]), int(views.shape[-1]))
        maps = ConsistencyMaps(disparity.resized(shape), device)
        loss = joint_objective(objective, maps, consistency_weight)
        x = start.expand(2, -1, -1, -1).to(device).contiguous().requires_grad_(True)

        def step(iteration: int, elapsed: float, terms: dict[str, float], _x: Any) -> None:
            row = {"iteration": iteration, "elapsed_s": round(elapsed, 4), **terms}
            history.append(row)
            if on_step is not None:
                on_step(iteration, terms)

        optimizer = make_optimizer(config.optimizer, [x], config.lr)
        outcome = optimize(x, loss, optimizer, stage.steps, step, done, started)
        done += outcome.iterations
        image = x.detach()
        if outcome.status != "done":
            break
    assert image is not None
    if done == 0:
        raise StylelabError(f"no image: {outcome.message or 'no step was taken'}")
    image = resize_to(image.float().cpu(), tuple(photos.shape[-2:]))
    if config.preserve_color == "luminance":
        image = _with_chroma(image, photos)
    info = {
        "status": outcome.status,
        "message": outcome.message,
        "iterations": done,
        "final_losses": {
            k: v for k, v in history[-1].items() if k not in ("iteration", "elapsed_s")
        },
        "wall_time_s": round(time.perf_counter() - started, 3),
        "consistency_weight": consistency_weight,
        "precision": network.extractor.precision,
        "stages": [[s.size, s.steps] for s in stages],
    }
    return PairStylization(image[:1], image[1:], history, info)


def joint_objective(objective: Objective, maps: ConsistencyMaps, weight: float) -> Objective:
    """The Gatys objective of a (2, 3, H, W) batch of views plus ``weight`` times the
    consistency term; its terms gain ``consistency`` and a new ``total``."""

    def loss(batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total, terms = objective(batch)
        extra = weight * consistency_loss(batch[:1], batch[1:], maps)
        total = total + extra
        return total, {**terms, "consistency": extra.detach(), "total": total.detach()}

    return loss


def _region_masks(
    config: StylizeConfig,
    styles: Sequence[ImageSource],
    photos: torch.Tensor,
    disparity: PairDisparity,
) -> RegionMasks | None:
    """Both views' masks (R, 2, H, W) at the output size (:mod:`stylelab.stereo.regions`)."""
    shape = (int(photos.shape[-2]), int(photos.shape[-1]))
    regions = view_regions(config, styles, shape, disparity)
    if regions is None:
        return None
    table = np.stack([regions[0].masks, regions[1].masks], axis=1)
    return RegionMasks(torch.from_numpy(table), regions[0].styles)


def _colour_inputs(
    mode: str, photos: torch.Tensor, styles: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``stylize``'s colour handling, with the pair seen as one side-by-side image (one
    set of colour statistics for both views)."""
    width = photos.shape[-1]
    joined = torch.cat([photos[:1], photos[1:]], dim=-1)
    content, styles = colour_inputs(mode, joined, styles)
    return torch.cat([content[..., :width], content[..., width:]]), styles


def _with_chroma(image: torch.Tensor, photos: torch.Tensor) -> torch.Tensor:
    views = [color.with_chroma(image[i : i + 1].numpy(), photos[i : i + 1].numpy()) for i in (0, 1)]
    return torch.from_numpy(np.concatenate(views))

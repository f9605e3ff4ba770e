"""Gatys et al.'s method: optimize an image's pixels against the objective, stage by stage.

images -> features -> targets -> losses -> optimizer -> image. :func:`stylize` checks
its arguments and loads the images, builds the loss network once
(:func:`stylelab.objective.build_objective`) and goes through the stages of
:func:`stylelab.schedule.plan_schedule` (coarse to fine), each optimized whole or tile by
tile (:mod:`stylelab.tiling`) with :func:`stylelab.optim.optimize`, against a
:class:`stylelab.objective.GatysObjective` built for the stage's size:

L = alpha * sum_l content_l + beta * sum_l w_l E_l + gamma * TV   (Gatys et al. 2015)

The module is named for the method, beside :mod:`stylelab.fast` (Johnson et al. 2016):
``stylelab.stylize`` is the function.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from stylelab import color, masks, tiling
from stylelab.backbones.registry import check_pooling
from stylelab.config import INITS, StylizeConfig, blend_weights
from stylelab.errors import StylelabError, checked_call, keyword_names
from stylelab.images import (
    ImageSource,
    check_finite,
    check_output_path,
    check_source,
    load_image,
    resize_long_edge,
    resize_to,
    style_sources,
    tensor_to_pil,
)
from stylelab.limits import check_memory, show
from stylelab.objective import (
    LossNetwork,
    RegionMasks,
    build_objective,
    resolve_config,
)
from stylelab.optim import Outcome, default_lr
from stylelab.pixels import label
from stylelab.precision import environment, resolve_device, resolve_precision
from stylelab.records import write_result
from stylelab.schedule import Stage, plan_schedule
from stylelab.stages import (
    ImageCallback,
    Problem,
    RowCallback,
    Run,
    check_init,
    run_stages,
    style_edge,
)


@dataclass
class StylizeResult:
    """The stylized image, its per-iteration loss history and the resolved settings."""

    tensor: torch.Tensor
    history: list[dict[str, float]]
    config: StylizeConfig
    info: dict[str, Any] = field(default_factory=dict)
    #: the settings the record shows, when a method reads only some of ``config``'s
    #: fields (instant); None: all of them
    settings: dict[str, Any] | None = None

    @property
    def image(self) -> Image.Image:
        return tensor_to_pil(self.tensor)

    @property
    def array(self) -> np.ndarray:
        """The image as a (1, 3, H, W) float32 array (as instant's onnxruntime result)."""
        return self.tensor.detach().float().cpu().numpy().copy()  # never the tensor's memory

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
        settings = self.config.to_dict() if self.settings is None else self.settings
        return {"config": settings, **self.info}


P = ParamSpec("P")
R = TypeVar("R")


def _with_gradients(func: Callable[P, R]) -> Callable[P, R]:
    """``func`` with autograd on, whatever the caller's mode: the optimization needs the
    image's gradient, and under ``torch.inference_mode()`` (or ``no_grad``) it had none."""
    import functools

    @functools.wraps(func)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        with torch.inference_mode(False), torch.enable_grad():
            return func(*args, **kwargs)

    return call


@checked_call
@_with_gradients
def stylize(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    config: StylizeConfig | Mapping[str, Any] | None = None,
    *,
    progress: bool = False,
    callback: ImageCallback | None = None,
    regions: masks.Regions | None = None,
    on_row: RowCallback | None = None,
    init_image: ImageSource | None = None,
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
    (status ``interrupted``); so does Ctrl-C during the optimization (the
    ``KeyboardInterrupt`` is not raised again: a loop over many calls checks
    ``result.status``). The run goes through the stages of
    :func:`stylelab.schedule.plan_schedule`, each starting from the previous result; the
    first from ``init_image`` if given (any image, resized: e.g. instant's result, handed
    over in memory), else from ``config.init``.

    Every bad argument raises :class:`StylelabError` with a one-line message before any
    work: unknown options, wrong types, values out of :mod:`stylelab.limits`, images with
    NaN, and a run whose memory estimate exceeds what the machine has. So does a run in
    which no image ever had a finite loss (there is no image to return).
    """
    config = resolve_config(config, options, keyword_names(stylize))
    check_callbacks(progress, callback, on_row)
    check_source(content, "content")
    styles_in = style_sources(style)
    blend = blend_weights(config.style_blend, len(styles_in))
    check_init(config.init)
    if init_image is not None:
        check_source(init_image, "init_image")
    stages = plan_schedule(config.size, config.steps, config.scales, config.multiscale)
    check_pooling(config.backbone, config.pooling)  # the registry's one-line name check too
    started = time.perf_counter()
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    content_full, styles_full, style_hw = load_sources(config, content, styles_in, device)
    start = None
    if init_image is not None:
        start = check_finite(load_image(init_image), label(init_image, "init_image"))
    photo_full = content_full
    content_full, styles_full = colour_inputs(config.preserve_color, content_full, styles_full)
    if config.preserve_color == "luminance" and callback is not None:
        callback = recoloured(callback, photo_full)
    network = build_objective(config, device=device, precision=precision)
    named = [(label(content, "content"), content_full)]
    named += [(label(s, "style"), im) for s, im in zip(styles_in, styles_full, strict=True)]
    check_min_size(network, stages, named)
    region_masks = resolve_regions(config, regions, content_full.shape, styles_in)
    problem = Problem(content_full, styles_full, blend, network, region_masks)
    bar = tqdm(total=config.steps, disable=not progress, desc="stylize", unit="it", leave=False)
    run = Run([], bar, callback, time.perf_counter(), on_row=on_row)
    try:
        image, outcome, schedule = run_stages(stages, problem, run, style_hw, start)
    finally:
        bar.close()
    if tuple(image.shape[-2:]) != tuple(content_full.shape[-2:]):  # stopped at a coarse stage
        image = resize_to(image.cpu(), tuple(content_full.shape[-2:]))
    if config.preserve_color == "luminance":
        image = torch.from_numpy(color.with_chroma(image.cpu().numpy(), photo_full.numpy()))
    info = _summary(run, outcome, schedule, started, problem)
    info["resolved"]["output_size"] = list(content_full.shape[-2:])
    info["environment"] = environment(device)
    info["peak_rss_mb"] = peak_rss_mb()
    return StylizeResult(image.cpu(), run.history, config, info)


def check_callbacks(progress: object, callback: object, on_row: object) -> None:
    """One line for a ``progress`` that is no bool or a callback that is not callable."""
    if not isinstance(progress, bool):
        raise StylelabError(f"progress must be True or False, got {show(progress)}")
    if callback is not None and not callable(callback):
        raise StylelabError(f"callback must be callable(iteration, image), got {show(callback)}")
    if on_row is not None and not callable(on_row):
        raise StylelabError(f"on_row must be callable(row), got {show(on_row)}")


def load_sources(
    config: StylizeConfig,
    content: ImageSource,
    styles: Sequence[ImageSource],
    device: torch.device,
) -> tuple[torch.Tensor, list[torch.Tensor], list[tuple[int, ...]]]:
    """The content at ``size``, the styles at ``style_scale`` times it and the styles'
    source shapes, after the checks that need the images: finite values (an ``--init``
    image's too) and the memory estimate of the run (whole or tiled) at their shapes."""
    content_source = check_finite(load_image(content), label(content, "content"))
    style_images = [check_finite(load_image(s), label(s, "style")) for s in styles]
    if config.init not in INITS:  # an image: refuse a bad one now, not after the backbone
        check_finite(load_image(config.init), label(config.init, "--init"))
    style_hw = [tuple(s.shape[-2:]) for s in style_images]
    if config.tile == "off":
        check_memory(config, content_source.shape[-2:], style_hw, device)
    else:
        tiling.check_tile_memory(config, content_source.shape[-2:], style_hw, device)
    edge = style_edge(config.size, config.style_scale)
    return (
        resize_long_edge(content_source, config.size),
        [resize_long_edge(s, edge) for s in style_images],
        style_hw,
    )


def check_min_size(
    network: LossNetwork, stages: Sequence[Stage], named: Sequence[tuple[str, torch.Tensor]]
) -> None:
    """One line when an image (``named``: label, full-size image; the photo first) would
    be smaller than the backbone's minimum at the coarsest stage (:func:`check_min_edge`)."""
    backbone, config = network.backbone, network.config
    shapes = [(name, tuple(image.shape[-2:])) for name, image in named]
    check_min_edge(backbone.name, backbone.min_size, stages, config.style_scale, shapes)


def check_min_edge(
    backbone: str,
    min_size: int,
    stages: Sequence[Stage],
    style_scale: float,
    named: Sequence[tuple[str, Sequence[int]]],
) -> None:
    """One line when an image (``named``: label, (H, W); the photo first, then the
    paintings) would have a side under ``min_size`` px at the coarsest of ``stages``,
    sized as :func:`stylelab.stages.stage_inputs` sizes it there (the photo at the stage's
    edge, the paintings at :func:`stylelab.stages.style_edge` of it). A sweep checks its
    runs with this before any starts."""
    from stylelab.limits import long_edge_shape

    coarsest = min(stage.size for stage in stages)
    edges = [coarsest] + [style_edge(coarsest, style_scale)] * (len(named) - 1)
    smallest, which = min(
        (min(long_edge_shape(shape, edge)), name)
        for (name, shape), edge in zip(named, edges, strict=True)
    )
    if smallest < min_size:
        raise StylelabError(
            f"{which}: {backbone} needs images of at least {min_size} px per "
            f"edge, this one has {smallest} px at the coarsest scale: "
            + ("raise --size (or --no-multiscale)" if len(stages) > 1 else "raise --size")
        )


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
        with warnings.catch_warnings(record=True) as said:  # said once the styles parse:
            warnings.simplefilter("always")  # a bad --region-style is then the only line
            labels, colors = masks.read_mask(config.mask, (height, width))
        names = [os.fspath(s) if isinstance(s, (str, os.PathLike)) else "" for s in styles]
        mapping = masks.parse_region_styles(config.region_style, names, colors)
        for warning in said:
            warnings.warn(warning.message, stacklevel=2)
        regions = masks.regions_from_labels(labels, colors, mapping)
    if regions is None:
        return None
    if not isinstance(regions, masks.Regions):
        raise StylelabError(f"regions must be a stylelab.masks.Regions, got {show(regions)}")
    masks.check_mask_values(regions.masks)
    table = torch.from_numpy(np.ascontiguousarray(regions.masks, dtype=np.float32))
    if tuple(table.shape[1:]) != (height, width):
        table = F.interpolate(table[None], size=(height, width), mode="bilinear")[0].clamp(0, 1)
    masks.check_regions(masks.Regions(table.numpy(), regions.styles), len(styles), shape)
    return RegionMasks(table, regions.styles)


def colour_inputs(
    mode: str, content: torch.Tensor, styles: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The images the optimization sees under ``--preserve-color`` (:mod:`stylelab.color`):
    luminance: gray photo, gray styles with the photo's luminance mean and variance;
    histogram: the styles' colours moved to the photo's mean and covariance."""
    if mode not in ("histogram", "luminance"):
        return content, styles
    photo, seen = color.colour_arrays(mode, content.numpy(), [s.numpy() for s in styles])
    return torch.from_numpy(photo), [torch.from_numpy(s) for s in seen]


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


def _summary(
    run: Run,
    outcome: Outcome,
    schedule: list[dict[str, Any]],
    started: float,
    problem: Problem,
) -> dict[str, Any]:
    config, backbone = problem.config, problem.network.backbone
    plan, extractor = problem.network.plan, problem.network.extractor
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


__all__ = ["StylizeResult", "stylize"]

"""One stage of a Gatys run: the image optimized at one size, whole or tile by tile.

A stage (:class:`stylelab.schedule.Stage`) resizes the run's sources to its size
(:func:`stage_inputs`), builds the objective's targets once
(:class:`stylelab.objective.GatysObjective`) and runs :func:`stylelab.optim.optimize`
from the previous stage's result, upsampled. Tiled (:mod:`stylelab.tiling`): the style
Grams of the whole style images, each tile's own content target, feathered blending into
a canvas kept on the CPU. :func:`run_stages` goes through the stages of one run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from stylelab import tiling
from stylelab.config import INITS, StylizeConfig
from stylelab.errors import StylelabError
from stylelab.images import check_finite, load_image, resize_long_edge, resize_to
from stylelab.objective import GatysObjective, LossNetwork, RegionMasks
from stylelab.optim import Outcome, make_optimizer, optimize
from stylelab.pixels import label
from stylelab.schedule import Stage

ImageCallback = Callable[[int, torch.Tensor], None]
RowCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Problem:
    """What every stage of one run optimizes against: the full-size sources, the style
    blend, the loss network (backbone, layer plan, extractor, settings, device) and the
    region masks."""

    content: torch.Tensor
    styles: Sequence[torch.Tensor]
    blend: Sequence[float]
    network: LossNetwork
    regions: RegionMasks | None = None

    @property
    def config(self) -> StylizeConfig:
        return self.network.config

    @property
    def device(self) -> torch.device:
        return self.network.device

    def objective(self, content: torch.Tensor, styles: Sequence[torch.Tensor]) -> GatysObjective:
        """The objective against these (stage- or tile-sized) targets."""
        return self.network.objective(content, styles, self.blend, self.regions)


@dataclass(frozen=True)
class StageInputs:
    """One stage's sources at its size and the image it starts from."""

    content: torch.Tensor
    styles: list[torch.Tensor]
    start: torch.Tensor


def stage_inputs(stage: Stage, start: torch.Tensor | None, problem: Problem) -> StageInputs:
    """The content at the stage's size, the styles at ``style_scale`` times it (16 px at
    least), and the start: ``init`` for the first stage, else the previous stage's result
    upsampled bicubically (where it is: device or CPU)."""
    config = problem.config
    content = resize_long_edge(problem.content, stage.size)
    edge = style_edge(stage.size, config.style_scale)
    styles = [resize_long_edge(s, edge) for s in problem.styles]
    if start is None:
        first = initial_image(config.init, content, styles[0], config.seed)
    else:
        first = resize_to(start.detach(), tuple(content.shape[-2:]))
    return StageInputs(content, styles, first)


def style_edge(size: int, style_scale: float) -> int:
    """The style images' long edge for a content edge ``size``: ``style_scale`` times it,
    16 px at least."""
    return max(16, round(size * style_scale))


def schedule_row(
    stage: Stage, inputs: StageInputs, iterations: int, seconds: float, **extra: Any
) -> dict[str, Any]:
    """The stage's row of ``info["schedule"]``."""
    return {
        "scale": stage.scale,
        "size": stage.size,
        "shape": [int(v) for v in inputs.content.shape[-2:]],
        "style_sizes": [list(s.shape[-2:]) for s in inputs.styles],
        "steps": stage.steps,
        **extra,
        "iterations": iterations,
        "seconds": round(seconds, 3),
        "seconds_per_iteration": round(seconds / max(1, iterations), 5),
    }


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


@dataclass
class Run:
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
    stage: Stage, start: torch.Tensor | None, problem: Problem, run: Run
) -> tuple[torch.Tensor, Outcome, dict[str, Any]]:
    """Optimize at one size: resize the sources, build targets once, start from ``start``.

    ``start`` (the previous stage's result, or None for the first) is upsampled bicubically
    to this stage's shape. Returns the image, how the optimization ended and a schedule row.
    """
    config, device = problem.config, problem.device
    inputs = stage_inputs(stage, start, problem)  # the start stays on the device
    objective = problem.objective(inputs.content, inputs.styles)
    image = inputs.start.to(device).contiguous().requires_grad_(True)
    optimizer = make_optimizer(config.optimizer, [image], config.lr)
    extra = {"scale": stage.scale, "size": stage.size}

    def on_step(iteration: int, elapsed: float, terms: dict[str, float], x: torch.Tensor) -> None:
        run.record(iteration, elapsed, terms, **extra)
        if run.callback is not None:
            run.callback(iteration, x.detach())

    began = time.perf_counter()
    outcome = run.optimize(image, objective, optimizer, stage.steps, on_step)
    seconds = time.perf_counter() - began
    return image.detach(), outcome, schedule_row(stage, inputs, outcome.iterations, seconds)


def run_tiled_stage(
    stage: Stage, start: torch.Tensor | None, problem: Problem, run: Run, tile: int
) -> tuple[torch.Tensor, Outcome, dict[str, Any]]:
    """One stage optimized tile by tile (:mod:`stylelab.tiling`): global style Grams,
    per-tile content targets, feathered blending into a canvas kept on the CPU."""
    config, device = problem.config, problem.device
    inputs = stage_inputs(stage, None if start is None else start.detach().cpu(), problem)
    content, styles, canvas = inputs.content, inputs.styles, inputs.start.cpu()
    objective = tiled_objective(problem, content, styles, tile)
    stage_masks = None
    if problem.regions is not None:
        stage_masks = F.interpolate(
            problem.regions.masks[None], size=tuple(content.shape[-2:]), mode="bilinear"
        )[0]
    height, width = content.shape[-2:]
    boxes = tiling.tile_boxes(height, width, tile, config.tile_overlap)
    run.bar.total = (run.bar.total or 0) + stage.steps * (len(boxes) - 1)
    began = time.perf_counter()
    outcome = Outcome("done", 0)
    iterations = 0
    for number, box in enumerate(boxes):
        objective.set_content(box.crop(content).to(device))
        if stage_masks is not None and problem.regions is not None:
            objective.regions = RegionMasks(box.crop(stage_masks), problem.regions.styles)
        outcome = _optimize_tile(objective, canvas, box, number, stage, config, run)
        iterations += outcome.iterations
        if outcome.status != "done":
            break
    seconds = time.perf_counter() - began
    tiles = {"tiles": len(boxes), "tile": tile, "tile_overlap": config.tile_overlap}
    row = schedule_row(stage, inputs, iterations, seconds, **tiles)
    return canvas, Outcome(outcome.status, iterations, outcome.message), row


def tiled_objective(
    problem: Problem, content: torch.Tensor, styles: Sequence[torch.Tensor], tile: int
) -> GatysObjective:
    """One objective for a tiled stage, built at tile size; its style Grams are then
    replaced by the whole style images' (accumulated tile by tile), and its content
    target is set for each tile in turn."""
    device, plan = problem.device, problem.network.plan
    tiling.check_receptive_field(problem.network.extractor, plan, tile, device)
    objective = problem.objective(
        resize_long_edge(content, tile), [resize_long_edge(s, tile) for s in styles]
    )
    per_style = [
        tiling.accumulate_grams(objective.features, s.to(device), plan.style, tile, tile // 4)
        for s in styles
    ]
    objective.set_style_grams({n: torch.cat([grams[n] for grams in per_style]) for n in plan.style})
    return objective


def _optimize_tile(
    objective: GatysObjective,
    canvas: torch.Tensor,
    box: tiling.Box,
    number: int,
    stage: Stage,
    config: StylizeConfig,
    run: Run,
) -> Outcome:
    """Optimize one tile of ``canvas`` from its current pixels and blend it back."""
    height, width = canvas.shape[-2:]
    device = objective.device
    image = box.crop(canvas).clone().to(device).contiguous().requires_grad_(True)
    weights = tiling.feather(box, height, width, config.tile_overlap)
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


def run_stages(
    stages: Sequence[Stage],
    problem: Problem,
    run: Run,
    style_hw: Sequence[tuple[int, ...]],
    start: torch.Tensor | None = None,
) -> tuple[torch.Tensor, Outcome, list[dict[str, Any]]]:
    """Each stage from the previous one's result, whole or tiled (:func:`stylelab.tiling.
    stage_tile` decides, from the styles' source shapes ``style_hw``), until the last or
    one that does not end ``done``; the first from ``start`` (resized) if given, else
    from ``config.init``. A run in which not one evaluation had a finite loss has no image
    to return: one line says so."""
    config, device = problem.config, problem.device
    image: torch.Tensor | None = start
    schedule: list[dict[str, Any]] = []
    outcome = Outcome("done", 0)
    for stage in stages:
        tile = tiling.stage_tile(config, stage.size, problem.content.shape, style_hw, device)
        if tile:
            image, outcome, row = run_tiled_stage(stage, image, problem, run, tile)
        else:
            image, outcome, row = run_stage(stage, image, problem, run)
        schedule.append(row)
        if outcome.status != "done":
            break
    assert image is not None
    if outcome.status == "nonfinite" and run.iterations == 0:
        # Not one evaluation had a finite loss: there is no image to return, so say so
        # rather than hand back the starting image as if it were a result.
        raise StylelabError(
            f"no image: the loss was not finite from the first iteration "
            f"({outcome.message.removeprefix('stopped: ').split(';')[0]}); check --weights, "
            "the loss weights and the images"
        )
    return image, outcome, schedule

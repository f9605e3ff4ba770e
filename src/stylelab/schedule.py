"""Coarse-to-fine schedule: which sizes to optimize at, and how many steps at each.

Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer" (CVPR 2017),
section 5: optimize at a low resolution first, upsample the result and use it as the
initialization at the next, higher resolution. The coarse stages place the large
structures cheaply (one step at scale s costs about s^2 of a full-size step); the last
stage only refines.

Default scales: halve the size down to ``MIN_EDGE`` pixels, at most ``MAX_STAGES`` stages,
e.g. 512 -> (0.25, 0.5, 1.0), 256 -> (0.5, 1.0), 128 -> (1.0,).
Steps: stage i gets a share proportional to s_i^(-1/2) of the total ``steps`` (more steps
where they are cheap, enough at full size to refine), at least ``MIN_STAGE_STEPS`` each
while the budget allows; the total is exactly ``steps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stylelab.errors import StylelabError
from stylelab.limits import show

MIN_EDGE = 128
MAX_STAGES = 3
MIN_STAGE_STEPS = 10
MIN_STAGE_EDGE = 32  # smaller inputs leave nothing at relu5_1 (stride 16) of VGG


@dataclass(frozen=True)
class Stage:
    """One size of the coarse-to-fine run: ``scale`` of the full ``size``, ``steps`` there."""

    scale: float
    size: int
    steps: int


def default_scales(size: int) -> tuple[float, ...]:
    """1/2^k for k = K-1 .. 0, with size / 2^(K-1) >= MIN_EDGE and K <= MAX_STAGES."""
    scales = [1.0]
    while len(scales) < MAX_STAGES and size * scales[0] / 2 >= MIN_EDGE:
        scales.insert(0, scales[0] / 2)
    return tuple(scales)


def check_scales(scales: Sequence[float]) -> None:
    """One line for scales that are not fractions in (0, 1], increasing, ending at 1."""
    if not scales:
        raise StylelabError("--scales is empty")
    if any(not 0 < s <= 1 for s in scales):
        raise StylelabError(
            f"--scales must be fractions of --size in (0, 1], got {show(tuple(scales))}"
        )
    if list(scales) != sorted(set(scales)) or scales[-1] != 1:
        raise StylelabError(
            "--scales must increase strictly and end at 1 (the full size), "
            f"got {show(tuple(scales))}"
        )


def split_steps(scales: Sequence[float], steps: int) -> list[int]:
    """Steps per scale, proportional to s^(-1/2), each >= MIN_STAGE_STEPS when possible."""
    weights = [s**-0.5 for s in scales]
    total = sum(weights)
    counts = [int(steps * w / total) for w in weights]
    counts[-1] += steps - sum(counts)
    floor = min(MIN_STAGE_STEPS, steps // len(scales))
    for index, count in enumerate(counts):
        if count < floor:
            largest = max(range(len(counts)), key=counts.__getitem__)
            counts[largest] -= floor - count
            counts[index] = floor
    return counts


def plan_schedule(
    size: int, steps: int, scales: Sequence[float] | None = None, multiscale: bool = True
) -> list[Stage]:
    """The stages of one run; a single full-size stage when ``multiscale`` is off."""
    if not multiscale:
        return [Stage(1.0, size, steps)]
    chosen = tuple(scales) if scales is not None else default_scales(size)
    check_scales(chosen)
    sizes = [round(size * s) for s in chosen]
    if len(sizes) > 1 and sizes[0] < MIN_STAGE_EDGE:
        raise StylelabError(
            f"--scales {chosen[0]} of --size {size} is {sizes[0]} px; coarse stages need "
            f">= {MIN_STAGE_EDGE} px"
        )
    counts = split_steps(chosen, steps)
    return [
        Stage(scale, edge, count)
        for scale, edge, count in zip(chosen, sizes, counts, strict=True)
        if count > 0
    ]

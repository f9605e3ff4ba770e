"""What :func:`stylelab.instant` accepts and which runtime can serve it (no torch here).

Both runtimes (:mod:`stylelab.adain.transfer` on PyTorch, :mod:`stylelab.adain.runtime`
on onnxruntime) check their arguments here, so a bad value reads the same on either.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stylelab.errors import StylelabError
from stylelab.limits import show

DEFAULT_INTERNAL_SIZE = 512
MAX_REFINE = 10_000
PRECISIONS = ("auto", "fp32", "bf16")
#: The settings shared with stylize, validated by :class:`stylelab.config.StylizeConfig`.
SHARED = ("size", "style_scale", "style_blend", "preserve_color", "mask", "region_style")


def check_settings(
    options: dict[str, Any], strength: object, refine: object, internal_size: object
) -> Any:
    """The :class:`StylizeConfig` of ``options`` after every check of instant's own
    arguments; one line for the first bad one."""
    from stylelab.config import StylizeConfig

    unknown = sorted(set(options) - set(SHARED))
    if unknown:
        raise StylelabError(f"instant: unknown option {unknown[0]!r}; options: {', '.join(SHARED)}")
    config = StylizeConfig(**options)
    check_number("strength", strength, 0.0, 1.0)
    check_int("refine", refine, 0, MAX_REFINE)
    check_int("internal_size", internal_size, 64, 4096)
    return config


def torch_only(config: Any, regions: object, refine: int, precision: str) -> str | None:
    """The first option only the PyTorch runtime serves, as the user wrote it, or None."""
    if config.mask or config.region_style or regions is not None:
        return "--mask/--region-style (regions)"
    if refine:
        return "--refine (Gatys steps run on PyTorch)"
    if precision == "bf16":
        return "--precision bf16"
    return None


def run_record(
    model: dict[str, Any],
    settings: tuple[float, int, int, str, Any],
    runtime: str,
    seconds: float,
) -> dict[str, Any]:
    """The ``info`` of a run (OUT.json): the model, the instant settings
    (strength, internal size, style size, precision, blend), which runtime ran, seconds."""
    strength, working_edge, style_edge, precision, blend = settings
    return {
        "status": "done",
        "method": "instant (AdaIN, Huang & Belongie 2017)",
        "model": model,
        "instant": {
            "strength": strength,
            "internal_size": working_edge,
            "style_size": style_edge,
            "precision": precision,
            "style_blend": blend,
        },
        "runtime": runtime,
        "seconds": round(seconds, 4),
        "wall_time_s": round(seconds, 4),
    }


def check_number(name: str, value: object, low: float, high: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise StylelabError(
            f"--{name.replace('_', '-')} must be a number from {low:g} to {high:g}, "
            f"got {show(value)}"
        )


def check_int(name: str, value: object, low: int, high: int) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not low <= int(value) <= high
    ):
        raise StylelabError(
            f"--{name.replace('_', '-')} must be an integer from {low} to {high}, got {show(value)}"
        )

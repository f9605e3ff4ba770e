"""Optimizers over the pixels of an image, and the one loop that drives them.

The image lives in [0, 1] RGB; it is clamped back into that box after every step.
One *step* is one evaluation of the loss and its gradient, for every optimizer: L-BFGS
runs with ``max_iter=1`` and no line search, so ``steps`` counts function evaluations.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from stylelab.errors import StylelabError

Objective = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]
StepCallback = Callable[[int, float, dict[str, float], torch.Tensor], None]


@dataclass(frozen=True)
class OptimizerSpec:
    factory: Any  # an optimizer class taking (params, lr=..., **extra)
    default_lr: float
    extra: tuple[tuple[str, object], ...] = ()


# Default learning rates suit [0, 1] pixels under stylelab's default (normalized) losses.
OPTIMIZERS: dict[str, OptimizerSpec] = {
    "lbfgs": OptimizerSpec(torch.optim.LBFGS, 1.0, (("max_iter", 1), ("history_size", 50))),
    "adam": OptimizerSpec(torch.optim.Adam, 0.05),
    "sgd": OptimizerSpec(torch.optim.SGD, 0.02, (("momentum", 0.9),)),
    "adagrad": OptimizerSpec(torch.optim.Adagrad, 0.05),
    "adadelta": OptimizerSpec(torch.optim.Adadelta, 20.0),
    "rmsprop": OptimizerSpec(torch.optim.RMSprop, 0.005),
}


def list_optimizers() -> list[str]:
    return list(OPTIMIZERS)


def default_lr(name: str) -> float:
    return _spec(name).default_lr


def _spec(name: str) -> OptimizerSpec:
    if name not in OPTIMIZERS:
        raise StylelabError(f"unknown optimizer {name!r}; choose from: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def make_optimizer(
    name: str, params: Iterable[torch.Tensor], lr: float | None = None
) -> torch.optim.Optimizer:
    """Optimizer ``name`` over ``params`` with the documented default ``lr`` unless given."""
    spec = _spec(name)
    options: dict[str, Any] = dict(spec.extra)
    return spec.factory(list(params), lr=spec.default_lr if lr is None else lr, **options)


@dataclass
class Outcome:
    """How a run ended: ``done``, ``nonfinite`` (loss became NaN/inf) or ``interrupted``."""

    status: str
    iterations: int
    message: str = ""


class _NonFinite(Exception):
    pass


class StopRequested(Exception):
    """Raise from a step callback to end the run cleanly with the current image, as Ctrl-C
    does but from any thread (the web app's Stop button): the outcome is ``interrupted``,
    with this exception's message when it has one."""


def optimize(
    image: torch.Tensor,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    steps: int,
    on_step: StepCallback | None = None,
    start_iteration: int = 0,
    clock_start: float | None = None,
) -> Outcome:
    """Minimize ``objective(image)`` in place for ``steps`` evaluations.

    ``on_step(iteration, elapsed_s, terms, image)`` is called after each evaluation with
    the loss terms as floats. On a non-finite loss the image is restored to the last one
    whose loss was finite (the starting image when none was: ``iterations`` is then 0,
    and :func:`stylelab.gatys.stylize` refuses to return it) and the run stops; Ctrl-C
    (or :class:`StopRequested` raised by ``on_step``) stops cleanly with the current image.
    """
    start = time.perf_counter() if clock_start is None else clock_start
    last_finite = image.detach().clone()
    done = 0

    def closure() -> torch.Tensor:
        nonlocal done
        optimizer.zero_grad(set_to_none=True)
        total, terms = objective(image)
        if not torch.isfinite(total):
            raise _NonFinite(f"loss became {total.item()} at iteration {start_iteration + done}")
        total.backward()
        last_finite.copy_(image.detach())
        done += 1
        if on_step is not None:
            values = {key: float(value) for key, value in terms.items()}
            on_step(start_iteration + done, time.perf_counter() - start, values, image)
        return total

    try:
        while done < steps:
            optimizer.step(closure)  # type: ignore[arg-type]
            with torch.no_grad():
                image.clamp_(0, 1)
    except _NonFinite as exc:
        with torch.no_grad():
            image.copy_(last_finite)
        kept = "kept the last finite image" if done else "no step had a finite loss"
        return Outcome("nonfinite", done, f"stopped: {exc}; {kept}")
    except KeyboardInterrupt:
        return Outcome("interrupted", done, f"interrupted after {done} iterations")
    except StopRequested as exc:
        return Outcome("interrupted", done, str(exc) or f"stopped after {done} iterations")
    return Outcome("done", done)

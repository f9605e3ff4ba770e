"""The optimizer registry and the loop: every optimizer lowers the loss; NaN and Ctrl-C."""

from __future__ import annotations

import pytest
import torch

from stylelab import optim
from stylelab.errors import StylelabError
from stylelab.gatys import stylize


@pytest.mark.parametrize("name", optim.list_optimizers())
def test_every_optimizer_lowers_the_loss_at_64px(name: str) -> None:
    result = stylize("example:chelsea", "example:strokes", size=64, steps=15, optimizer=name)
    totals = [row["total"] for row in result.history]
    assert len(totals) == 15
    assert totals[-1] < 0.8 * totals[0], (name, totals[0], totals[-1])
    assert result.info["resolved"]["lr"] == optim.default_lr(name)


def _quadratic(target: torch.Tensor):
    def objective(x: torch.Tensor):
        total = ((x - target) ** 2).sum()
        return total, {"total": total.detach()}

    return objective


@pytest.mark.parametrize("name", optim.list_optimizers())
def test_optimizers_converge_on_a_quadratic(name: str) -> None:
    target = torch.full((1, 3, 4, 4), 0.25)
    image = torch.full((1, 3, 4, 4), 0.75, requires_grad=True)
    lr = {
        "lbfgs": 1.0,
        "adam": 0.05,
        "sgd": 0.05,
        "adagrad": 0.1,
        "adadelta": 50.0,
        "rmsprop": 0.01,
    }[name]
    optimizer = optim.make_optimizer(name, [image], lr=lr)
    outcome = optim.optimize(image, _quadratic(target), optimizer, steps=200)
    assert outcome.status == "done" and outcome.iterations == 200
    assert torch.allclose(image.detach(), target, atol=0.05), name


def test_image_is_kept_in_the_unit_box() -> None:
    image = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    optimizer = optim.make_optimizer("sgd", [image], lr=1.0)
    optim.optimize(image, _quadratic(torch.full((1, 3, 4, 4), 3.0)), optimizer, steps=5)
    assert float(image.detach().max()) == 1.0


def test_nonfinite_loss_stops_and_keeps_the_last_finite_image() -> None:
    seen: list[torch.Tensor] = []

    def objective(x: torch.Tensor):
        seen.append(x.detach().clone())
        total = (x**2).sum() * (float("nan") if len(seen) == 4 else 1.0)
        return total, {"total": total.detach()}

    image = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    outcome = optim.optimize(image, objective, optim.make_optimizer("adam", [image]), steps=10)
    assert outcome.status == "nonfinite" and outcome.iterations == 3
    assert "nan" in outcome.message and "last finite image" in outcome.message
    assert torch.equal(image.detach(), seen[2])  # the third image had a finite loss


def test_ctrl_c_stops_cleanly() -> None:
    calls = 0

    def objective(x: torch.Tensor):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        total = (x**2).sum()
        return total, {"total": total.detach()}

    image = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    outcome = optim.optimize(image, objective, optim.make_optimizer("adam", [image]), steps=10)
    assert outcome.status == "interrupted" and outcome.iterations == 2


def test_lbfgs_step_is_one_evaluation() -> None:
    calls = 0
    base = _quadratic(torch.zeros(1, 3, 4, 4))

    def objective(x: torch.Tensor):
        nonlocal calls
        calls += 1
        return base(x)

    image = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    optim.optimize(image, objective, optim.make_optimizer("lbfgs", [image]), steps=7)
    assert calls == 7


def test_unknown_optimizer_lists_the_valid_ones() -> None:
    with pytest.raises(StylelabError, match="unknown optimizer 'newton'.*lbfgs.*rmsprop"):
        optim.make_optimizer("newton", [torch.zeros(1, requires_grad=True)])


def test_no_finite_loss_at_all_keeps_the_start_and_says_so() -> None:
    def objective(x: torch.Tensor):
        total = (x**2).sum() * float("nan")
        return total, {"total": total.detach()}

    image = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    outcome = optim.optimize(image, objective, optim.make_optimizer("lbfgs", [image]), steps=5)
    assert outcome.status == "nonfinite" and outcome.iterations == 0
    assert "no step had a finite loss" in outcome.message
    assert torch.equal(image.detach(), torch.full((1, 3, 4, 4), 0.5))


def test_the_light_optimizer_names_are_the_registry() -> None:
    from stylelab.config import OPTIMIZER_NAMES

    assert tuple(optim.list_optimizers()) == OPTIMIZER_NAMES


def test_stop_requested_from_the_callback_keeps_the_current_image() -> None:
    def objective(x: torch.Tensor):
        total = (x**2).sum()
        return total, {"total": total.detach()}

    def on_step(iteration: int, elapsed: float, terms: dict, x: torch.Tensor) -> None:
        if iteration == 3:
            raise optim.StopRequested("stopped from the page")

    image = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    outcome = optim.optimize(
        image, objective, optim.make_optimizer("adam", [image]), steps=10, on_step=on_step
    )
    assert outcome.status == "interrupted" and outcome.iterations == 3
    assert outcome.message == "stopped from the page"
    assert float(image.detach().max()) < 0.5  # three steps were taken and kept

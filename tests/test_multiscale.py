"""Coarse-to-fine schedule: sizes, step split, one continuous history, CLI flags."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stylelab import StylelabError, StylizeConfig, stylize
from stylelab.cli import main
from stylelab.images import resize_to
from stylelab.objective import GatysObjective
from stylelab.schedule import Stage, default_scales, plan_schedule, split_steps


def photo(size: int = 48) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    return torch.stack([x, y, 1 - x]).unsqueeze(0)


def stripes(size: int = 48, period: int = 6) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    band = (((x + y) // period) % 2).float()
    return torch.stack([band, 0.2 * band, 1 - band]).unsqueeze(0)


@pytest.mark.parametrize(
    ("size", "expected"),
    [(512, (0.25, 0.5, 1.0)), (1024, (0.25, 0.5, 1.0)), (256, (0.5, 1.0)), (255, (1.0,))],
)
def test_default_scales_halve_down_to_128_px(size: int, expected: tuple[float, ...]) -> None:
    assert default_scales(size) == expected


def test_steps_split_as_inverse_square_root_of_scale() -> None:
    # weights 2, sqrt 2, 1 over 3 + sqrt 2: 300 -> 135.9, 96.1, 67.9 (floors, rest to the last)
    assert split_steps((0.25, 0.5, 1.0), 300) == [135, 96, 69]
    assert sum(split_steps((0.25, 0.5, 1.0), 301)) == 301


def test_every_stage_gets_a_minimum_and_tiny_budgets_drop_coarse_stages() -> None:
    counts = split_steps((0.01, 1.0), 40)  # weights 10 : 1 would leave 3 at full size
    assert counts == [30, 10]
    assert [s.scale for s in plan_schedule(512, 2)] == [1.0]
    assert sum(s.steps for s in plan_schedule(512, 2)) == 2


def test_single_stage_without_multiscale() -> None:
    assert plan_schedule(512, 300, (0.5, 1.0), multiscale=False) == [Stage(1.0, 512, 300)]
    assert plan_schedule(512, 300, (0.5, 1.0)) == [Stage(0.5, 256, 175), Stage(1.0, 512, 125)]


@pytest.mark.parametrize("scales", [(0.5, 0.25, 1.0), (0.5,), (0.0, 1.0), (0.5, 1.5), ()])
def test_bad_scales_are_refused(scales: tuple[float, ...]) -> None:
    with pytest.raises(StylelabError, match="scales"):
        StylizeConfig(scales=scales)


def test_upsampling_keeps_a_constant_image_constant() -> None:
    image = torch.full((1, 3, 8, 12), 0.3)
    up = resize_to(image, (16, 24))
    assert up.shape == (1, 3, 16, 24)
    torch.testing.assert_close(up, torch.full_like(up, 0.3), rtol=0, atol=1e-6)


def test_one_continuous_history_and_targets_once_per_scale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[tuple[int, ...]] = []
    original = GatysObjective.__init__

    def counting(self, extractor, plan, content, styles, blend, config, *regions):  # type: ignore[no-untyped-def]
        built.append(tuple(content.shape[-2:]))
        original(self, extractor, plan, content, styles, blend, config, *regions)

    monkeypatch.setattr(GatysObjective, "__init__", counting)
    seen: list[tuple[int, tuple[int, ...]]] = []
    result = stylize(
        photo(64),
        stripes(64),
        size=64,
        steps=8,
        scales=(0.5, 1.0),
        weights="random",
        callback=lambda i, x: seen.append((i, tuple(x.shape[-2:]))),
    )
    assert built == [(32, 32), (64, 64)]
    assert [row["iteration"] for row in result.history] == list(range(1, 9))
    sizes = [row["size"] for row in result.history]
    assert sizes == sorted(sizes) and set(sizes) == {32, 64}
    assert seen[0][1] == (32, 32) and seen[-1] == (8, (64, 64))
    schedule = result.info["schedule"]
    assert [row["size"] for row in schedule] == [32, 64]
    assert sum(row["iterations"] for row in schedule) == result.info["iterations"] == 8
    assert result.tensor.shape == (1, 3, 64, 64)
    assert result.config.multiscale is True


def test_cli_flags_and_json_schedule(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    code = main(
        ["stylize", "example:chelsea", "example:strokes", "-o", str(out), "--size", "64",
         "--steps", "4", "--scales", "0.5,1", "--weights", "random", "--quiet"]
    )  # fmt: skip
    assert code == 0
    import json

    summary = json.loads(out.with_suffix(".json").read_text())
    assert [row["size"] for row in summary["schedule"]] == [32, 64]
    assert summary["config"]["scales"] == [0.5, 1.0]
    assert "scale" in out.with_suffix(".csv").read_text().splitlines()[0]
    code = main(
        ["stylize", "example:chelsea", "example:strokes", "-o", str(out), "--size", "64",
         "--steps", "2", "--no-multiscale", "--weights", "random", "--quiet"]
    )  # fmt: skip
    assert code == 0
    assert len(json.loads(out.with_suffix(".json").read_text())["schedule"]) == 1


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--scales", "1,0.5"], "scales"), (["--precision", "fp8"], "unknown precision")],
)
def test_cli_bad_values_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    code = main(["stylize", "example:chelsea", "example:strokes", "-o", str(tmp_path / "o.png")]
                + flags)  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_too_small_coarse_stage_is_refused() -> None:
    with pytest.raises(StylelabError, match="coarse stages need"):
        plan_schedule(48, 10, (0.25, 1.0))

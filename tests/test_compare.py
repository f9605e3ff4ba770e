"""stylelab compare: combinations, labelled grid, CSV, failures recorded, CLI."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from PIL import Image

from stylelab import StylelabError, StylizeConfig
from stylelab.cli import main
from stylelab.compare import CSV_COLUMNS, combinations, compare

torch.set_num_threads(1)


def _images(tmp_path):
    from stylelab.images import save_image

    content = tmp_path / "content.png"
    style = tmp_path / "style.png"
    generator = torch.Generator().manual_seed(0)
    save_image(torch.rand(1, 3, 32, 40, generator=generator), content)
    save_image(torch.rand(1, 3, 40, 32, generator=generator), style)
    return content, style


def _read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_combinations_nest_backbone_weights_smoothing() -> None:
    combos = combinations(["a", "b"], ["random", "pretrained"], ["none", "softmax"])
    assert len(combos) == 8
    assert (combos[0].backbone, combos[0].weights, combos[0].smoothing) == ("a", "random", "none")
    assert combos[1].smoothing == "softmax" and combos[2].weights == "pretrained"
    assert combos[-1].column == "pretrained / softmax"
    with pytest.raises(StylelabError, match="--weights is empty"):
        combinations(["a"], [], ["none"])
    # a name given twice counts once, in its first place (a held-out probe: stats and
    # compare ran it twice)
    twice = combinations(["b", "a", "b"], ["random", "random"], ["none"])
    assert [(c.backbone, c.weights) for c in twice] == [("b", "random"), ("a", "random")]


def test_compare_writes_grid_and_csv_and_records_failures(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-cache"))
    content, style = _images(tmp_path)
    output = tmp_path / "grid.png"
    config = StylizeConfig(size=32, steps=2, device="cpu", optimizer="adam", seed=3)
    outcomes = compare(
        content,
        style,
        output,
        ["resnet18", "vgg16"],
        ["random", "pretrained"],
        ["none", "softmax"],
        config=config,
        eval_size=32,
    )
    assert len(outcomes) == 8
    rows = _read(output.with_suffix(".csv"))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len(rows) == 8
    done = [r for r in rows if r["weights"] == "random"]
    failed = [r for r in rows if r["weights"] == "pretrained"]
    assert all(r["status"] == "done" for r in done)
    for row in done:
        assert int(row["steps"]) == 2
        for key in ("loss_total", "style_distance", "content_distance", "wall_time_s"):
            assert math.isfinite(float(row[key])), key
    assert all(r["status"] == "error" and "torch cache" in r["error"] for r in failed)
    # The smoothing changed the run: different final style losses for the same seed.
    by = {(r["backbone"], r["smoothing"]): float(r["loss_style"]) for r in done}
    assert by[("resnet18", "none")] != by[("resnet18", "softmax")]
    grid = Image.open(output)
    # 2 rows of tiles under a header, content + style + 4 result columns.
    tile_w, tile_h = 40, 32
    assert grid.width >= 6 * tile_w and grid.height >= 2 * tile_h
    assert grid.getpixel((2, 2)) == (255, 255, 255)  # white label area


def test_cli_compare_runs_and_bad_input_is_one_line(tmp_path, capsys) -> None:
    content, style = _images(tmp_path)
    output = tmp_path / "g.jpg"
    args = [
        "compare",
        str(content),
        str(style),
        "--backbones",
        "resnet18",
        "--weights",
        "random",
        "--smoothing",
        "none,channel-softmax",
        "--size",
        "32",
        "--steps",
        "2",
        "--optimizer",
        "adam",
        "--device",
        "cpu",
        "--eval-size",
        "32",
        "-o",
        str(output),
    ]
    assert main(args) == 0
    rows = _read(output.with_suffix(".csv"))
    assert [r["smoothing"] for r in rows] == ["none", "channel-softmax"]
    assert all(r["weights"] == "random" and r["backbone"] == "resnet18" for r in rows)
    capsys.readouterr()
    bad = list(args)
    bad[bad.index("none,channel-softmax")] = "none,fuzzy"
    assert main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown smoothing 'fuzzy'; choose from:" in err
    assert main([*args, "--temperature", "-2"]) == 2
    assert "--temperature must be a finite number > 0" in capsys.readouterr().err

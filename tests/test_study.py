"""The robustness study (Wang, Li & Vasconcelos, CVPR 2021) on a small scale: the CNN-free
yardstick's validation, the study's statistics, and one test per claim of the paper under
each yardstick, xfail(strict=True) with the measured values where the claim does not hold
here (so the suite says when that changes). The full experiment is examples/study.toml,
reported in docs/study.md.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest

from stylelab import StylizeConfig, stylize
from stylelab.evaluate import evaluate
from stylelab.experiments import study

# The small experiment: one pair, one seed, random weights, one scale, L-BFGS.
CONTENT = "example:astronaut"  # square: 96 px keeps Inception v3's 75 px minimum
STYLE = "example:strokes"
SIZE = 96
STEPS = 15
YARDSTICKS = ("vgg", "texture")


@functools.cache
def style_distance(backbone: str, smoothing: str = "none") -> dict[str, float]:
    """Style distance of the small experiment's output under each yardstick, on one thread:
    with two, the order of the sums changes from run to run and 15 L-BFGS steps turn that
    into about +-0.01, enough to flip claim (d)'s closest cell (Inception v3: 1.38 against
    1.36) in about one run in five."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _style_distance(backbone, smoothing)
    finally:
        torch.set_num_threads(threads)


def _style_distance(backbone: str, smoothing: str) -> dict[str, float]:
    config = StylizeConfig(
        backbone=backbone,
        weights="random",
        smoothing=smoothing,
        size=SIZE,
        steps=STEPS,
        multiscale=False,
        seed=0,
        device="cpu",
        precision="fp32",
    )
    result = stylize(CONTENT, STYLE, config)
    return {
        y: evaluate(result.tensor, CONTENT, STYLE, size=SIZE, yardstick=y)["style_distance"]
        for y in YARDSTICKS
    }


# --- the study's statistics ---------------------------------------------------------------


def _scores(effects: dict[tuple[str, str], float], units: int = 12) -> list[dict[str, Any]]:
    """Synthetic score rows: each config's distance is its effect plus unit noise."""
    import numpy as np

    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.05, size=units)
    rows = []
    for (backbone, smoothing), effect in effects.items():
        for u in range(units):
            jitter = float(rng.normal(0, 0.005))
            value = effect + noise[u] + jitter
            rows.append(
                {
                    "run_id": f"{backbone}{smoothing}{u}",
                    "backbone": backbone,
                    "smoothing": smoothing,
                    "content": f"c{u % 3}",
                    "style": f"s{u // 3}",
                    "seed": "0",
                    "style_distance": value,
                    "content_distance": 1.0,
                    "texture_style": value,
                    "texture_content": 0.5,
                }
            )
    return rows


def test_bootstrap_interval_is_seeded_and_covers_the_mean() -> None:
    from stylelab.experiments.study import bootstrap_indices, mean_interval

    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    draws = bootstrap_indices(len(values), 2000)
    mean, low, high = mean_interval(values, draws)
    assert mean == pytest.approx(0.35)
    assert low < mean < high
    assert (low, high) == mean_interval(values, bootstrap_indices(len(values), 2000))[1:]
    assert mean_interval([0.3] * 5, bootstrap_indices(5))[1:] == (0.3, 0.3)


def test_claims_verdicts_on_a_synthetic_study() -> None:
    from stylelab.experiments.study import bootstrap_indices, claims, unit_table

    effects = {
        ("vgg19", "none"): 0.5,
        ("resnet50", "none"): 0.7,
        ("resnet50", "softmax"): 0.6,
        ("noresnet50", "none"): 0.55,
        ("pseudo_vgg", "none"): 0.8,  # worse than ResNet: (b) fails
        ("pseudo_resvgg", "none"): 0.9,  # the worst: (c) holds
        ("wide_resnet50_2", "none"): 0.6,
        ("wide_resnet50_2", "softmax"): 0.6,  # no change: (d) unresolved
        ("googlenet", "none"): 0.6,
        ("googlenet", "softmax"): 0.5,
        ("inception_v3", "none"): 0.6,
        ("inception_v3", "softmax"): 0.5,
    }
    table, units = unit_table(_scores(effects), "style_distance")
    assert len(units) == 12 and len(table) == len(effects)
    verdicts = {c["claim"][:3]: c for c in claims(table, bootstrap_indices(len(units)))}
    assert verdicts["(a)"]["verdict"] == "holds"
    assert verdicts["(a)"]["comparisons"][0].wins == 12
    assert verdicts["(b)"]["verdict"] == "fails"
    assert verdicts["(c)"]["verdict"] == "holds"
    assert verdicts["(d)"]["verdict"] == "unresolved"


def test_too_few_units_give_no_verdict() -> None:
    from stylelab.experiments.study import bootstrap_indices, claims, unit_table

    rows = _scores({("vgg19", "none"): 0.5, ("resnet50", "none"): 0.7}, units=3)
    table, units = unit_table(rows, "style_distance")
    (found,) = claims(table, bootstrap_indices(len(units)))
    assert found["verdict"] == "too few units"
    assert found["comparisons"][0].verdict == "too few units (3; leans yes)"


def test_unit_table_keeps_the_units_every_config_has() -> None:
    from stylelab.experiments.study import unit_table

    rows = _scores({("vgg19", "none"): 0.5, ("resnet50", "none"): 0.7}, units=6)
    rows = [r for r in rows if not (r["backbone"] == "resnet50" and r["content"] == "c0")]
    table, units = unit_table(rows, "style_distance")
    assert len(units) == 4 and all(len(v) == 4 for v in table.values())


def test_distance_and_comparison_tables_of_the_docs_studies() -> None:
    """The tables docs/study_fast.py and docs/study_instant.py write: A is best on two of
    three units under one yardstick (by 0.1 each), on none under the other."""
    import numpy as np

    from stylelab.experiments.study import bootstrap_indices, comparison_rows, distance_rows

    style = {
        "v": {"A": np.array([0.1, 0.2, 0.9]), "B": np.array([0.2, 0.3, 0.5])},
        "t": {"A": np.array([0.5, 0.5, 0.5]), "B": np.array([0.4, 0.4, 0.4])},
    }
    content = {"v": {"A": 1.0, "B": 2.0}, "t": {"A": 0.25, "B": 0.5}}
    names = {"v": "V", "t": "T"}
    draws = bootstrap_indices(3, resamples=200)
    lines = distance_rows("net", style, content, names, draws).splitlines()
    assert lines[0] == "| net | V style | wins | V content | T style | wins | T content |"
    assert lines[2].startswith("| A | 0.400 [") and lines[2].endswith(
        "| 2 | 1.000 | 0.500 [0.500, 0.500] | 0 | 0.250 |"
    )
    assert lines[3].endswith("| 1 | 2.000 | 0.400 [0.400, 0.400] | 3 | 0.500 |")
    rows = comparison_rows(style, [("A", "B")], names, draws).splitlines()
    assert rows[2].startswith("| A < B | V | -0.067 [") and "| 2/3 | too few units" in rows[2]
    assert rows[3].startswith("| A < B | T | -0.100 [-0.100, -0.100] | 0/3 |")


def test_a_docs_study_reuses_a_work_folder_only_with_its_settings(tmp_path: Any) -> None:
    from stylelab.errors import StylelabError
    from stylelab.experiments.study import same_settings

    work = tmp_path / "work"
    same_settings(work, {"paintings": ["a.jpg"], "steps": 200})
    same_settings(work, {"paintings": ["a.jpg"], "steps": 200})  # the same: reused
    with pytest.raises(StylelabError, match="made with .*'steps': 200.*give another --work"):
        same_settings(work, {"paintings": ["a.jpg"], "steps": 300})


def test_markdown_and_plot(tmp_path: Any) -> None:
    from stylelab.experiments.study import markdown, plot_ranking

    rows = _scores(
        {("vgg19", "none"): 0.5, ("resnet50", "none"): 0.7, ("resnet50", "softmax"): 0.6}
    )
    text = markdown(rows, resamples=200)
    assert "| r-VGG19 | 0.5" in text and "r-ResNet-50 + softmax" in text
    assert "(a) r-VGG better than r-ResNet: **holds**" in text
    plot_ranking(rows, tmp_path / "rank.png", resamples=200)
    assert (tmp_path / "rank.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_sweep_records_both_yardsticks_and_report_study_reads_them(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv

    from stylelab import cli

    config = tmp_path / "s.toml"
    config.write_text(
        '[sweep]\nevaluate_size = 48\nyardsticks = ["vgg", "texture"]\n'
        '[base]\ncontent = "example:chelsea"\nstyle = "example:strokes"\nsize = 48\n'
        'steps = 2\nweights = "random"\nmultiscale = false\ndevice = "cpu"\n'
        '[grid]\nbackbone = ["vgg19", "pseudo_vgg"]\n'
    )
    rundir = tmp_path / "run"
    assert cli.main(["sweep", str(config), "-o", str(rundir), "--quiet", "--no-report"]) == 0
    with open(rundir / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for column in ("style_distance", "content_distance", "texture_style", "texture_content"):
            assert float(row[column]) >= 0, (column, row)
    out = tmp_path / "study"
    assert cli.main(["report", str(rundir), "--study", str(out), "--quiet"]) == 0
    assert "r-pseudo-VGG" in (out / "study_tables.md").read_text()
    with open(out / "study_scores.csv", newline="") as handle:
        scored = list(csv.DictReader(handle))
    assert {r["texture_style"] for r in scored} == {r["texture_style"] for r in rows}
    assert (out / "study_ranking.png").exists()
    capsys.readouterr()
    assert cli.main(["report", str(rundir), "--study", str(out), "--yardsticks", "ssim"]) == 2
    assert "--yardstick must be one of" in capsys.readouterr().err


# --- the paper's claims on the small experiment ------------------------------------------
# One pair (astronaut / strokes), seed 0, 96 px, 15 L-BFGS evaluations; style distances
# under each yardstick. Where a claim does not hold here, its test is xfail(strict=True)
# with the measured values, so the suite says when that changes.

NOT_HOLDING: dict[tuple[str, str], str] = {
    ("a", "vgg"): "measured: r-VGG19 0.952 against r-ResNet-50 0.914",
    ("b", "vgg"): "measured: r-NoResNet-50 1.008 (worse) and r-pseudo-VGG 0.873 against "
    "r-ResNet-50 0.914",
    ("b", "texture"): "measured: r-NoResNet-50 0.978 and r-pseudo-VGG 1.034, both worse than "
    "r-ResNet-50 0.858",
    ("c", "texture"): "measured: r-pseudo-ResVGG 1.000, but r-pseudo-VGG 1.034 is worse "
    "(r-VGG19 0.823, r-NoResNet-50 0.978, r-ResNet-50 0.858)",
    ("d", "vgg"): "measured: Inception v3 + softmax 1.380 against 1.359 without (ResNet-50 "
    "0.825 < 0.914, Wide-ResNet-50-2 0.816 < 0.972 and GoogLeNet 1.081 < 1.212 hold)",
}


def claim(name: str) -> list[Any]:
    """The yardsticks as parameters, xfail(strict=True) where ``name`` does not hold."""
    return [
        pytest.param(
            y,
            marks=pytest.mark.xfail(strict=True, reason=NOT_HOLDING[name, y])
            if (name, y) in NOT_HOLDING
            else (),
        )
        for y in YARDSTICKS
    ]


@pytest.mark.slow
@pytest.mark.parametrize("yardstick", claim("a"))
def test_claim_a_random_vgg_beats_random_resnet(yardstick: str) -> None:
    assert style_distance("vgg19")[yardstick] < style_distance("resnet50")[yardstick]


@pytest.mark.slow
@pytest.mark.parametrize("yardstick", claim("b"))
def test_claim_b_removing_the_residuals_brings_resnet_close_to_vgg(yardstick: str) -> None:
    resnet = style_distance("resnet50")[yardstick]
    assert style_distance("noresnet50")[yardstick] < resnet
    assert style_distance("pseudo_vgg")[yardstick] < resnet


@pytest.mark.slow
@pytest.mark.parametrize("yardstick", claim("c"))
def test_claim_c_pseudo_resvgg_is_the_worst(yardstick: str) -> None:
    worst = style_distance("pseudo_resvgg")[yardstick]
    for backbone in ("vgg19", "noresnet50", "pseudo_vgg", "resnet50"):
        assert style_distance(backbone)[yardstick] < worst, backbone


@pytest.mark.slow
@pytest.mark.parametrize("yardstick", claim("d"))
def test_claim_d_softmax_improves_resnet_wide_resnet_and_inception(yardstick: str) -> None:
    for backbone in ("resnet50", "wide_resnet50_2", "googlenet", "inception_v3"):
        plain = style_distance(backbone)[yardstick]
        assert style_distance(backbone, "softmax")[yardstick] < plain, backbone


# --- the published study: its tables and verdicts follow from the published scores ---

REPO = Path(__file__).resolve().parent.parent


def published_verdicts() -> dict[tuple[str, str], str]:
    """{(claim letter, yardstick): verdict} recomputed from docs/study_scores.csv."""
    scores = list(study.read_scores(REPO / "docs" / "study_scores.csv").values())
    verdicts = {}
    for yardstick in YARDSTICKS:
        table, units = study.unit_table(scores, study.COLUMNS[yardstick][0])
        for found in study.claims(table, study.bootstrap_indices(len(units), study.RESAMPLES)):
            verdicts[found["claim"][1], yardstick] = found["verdict"]
    return verdicts


def test_the_published_tables_are_what_the_code_makes_of_the_published_scores() -> None:
    """docs/study_tables.md is exactly ``report --study``'s Markdown for the 486 scored runs
    in docs/study_scores.csv: a change to the statistics that moves a number or a verdict
    fails here. (The one-pair 96 px claims above pin the small version instead; three of
    their eight cells differ from the full study: (a), (c) and (d) under the VGG judge.)"""
    scores = list(study.read_scores(REPO / "docs" / "study_scores.csv").values())
    assert len(scores) == 486
    assert study.markdown(scores) == (REPO / "docs" / "study_tables.md").read_text()


def test_the_study_page_states_the_published_verdicts() -> None:
    """Each claim row of the Study page's table (docs/research.md, formerly the README's)
    opens, per yardstick, with the verdict recomputed from the published scores."""
    verdicts = published_verdicts()
    assert set(verdicts) == {(c, y) for c in "abcd" for y in YARDSTICKS}
    rows = {
        line.split("|")[1].strip()[1]: [cell.strip() for cell in line.split("|")[2:4]]
        for line in (REPO / "docs" / "research.md").read_text().splitlines()
        if re.match(r"\| \([abcd]\) ", line)
    }
    assert sorted(rows) == list("abcd")
    for (letter, yardstick), verdict in verdicts.items():
        cell = rows[letter][YARDSTICKS.index(yardstick)]
        assert cell.split()[0].rstrip(":") == verdict, (letter, yardstick, cell)


def _docs_script(name: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "docs" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fast_network_tables_are_what_the_script_makes_of_its_scores() -> None:
    """docs/study_fast.md (and the copy on the Study page) is docs/study_fast.py's text for
    the scores in docs/study_fast_scores.csv, trained on training paintings only."""
    import csv

    script = _docs_script("study_fast")
    with open(REPO / "docs" / "study_fast_scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["painting"] for r in rows} == set(script.PAINTINGS)
    eval_images = REPO.parent / "shared" / "eval-images"
    if eval_images.is_dir():  # the judging paintings are never trained on
        assert not {p.stem for p in eval_images.iterdir()} & set(script.PAINTINGS)
    tables = script.tables(rows, 200, 96)
    assert (REPO / "docs" / "study_fast.md").read_text().startswith(tables)
    assert tables.split("\n\n", 1)[1] in (REPO / "docs" / "study.md").read_text()


def test_the_one_pass_tables_are_what_the_script_makes_of_its_scores() -> None:
    """docs/study_instant.md (and its copy on the Study page) is docs/study_instant.py's
    text for the scores in docs/study_instant_scores.csv: every encoder and transform on
    every unit, and the photo itself."""
    import csv

    script = _docs_script("study_instant")
    with open(REPO / "docs" / "study_instant_scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    units = len(script.PHOTOS) * len(script.PAINTINGS)
    assert len(rows) == (len(script.ENCODERS) * len(script.METHODS) + 1) * units
    tables = script.tables(rows, 100)
    assert (REPO / "docs" / "study_instant.md").read_text() == tables
    assert tables.split("\n\n", 1)[1] in (REPO / "docs" / "study.md").read_text()

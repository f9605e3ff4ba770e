"""Activation statistics: analytic entropy checks, the CSV and plot, the study's orderings."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from stylelab import cli
from stylelab.analysis import (
    CSV_COLUMNS,
    activation_stats,
    feature_stats,
    normalized_entropy,
    stage_layers,
)
from stylelab.backbones import load_backbone
from stylelab.errors import StylelabError
from tests.conftest import gradient_image, stripes_image

# Small generated images with fixed seeds: two noisy gradients and two stripe patterns.
IMAGES = [gradient_image(96, 96, seed=s) for s in (0, 1)] + [stripes_image(96, p) for p in (5, 9)]


def test_normalized_entropy_analytic_values() -> None:
    assert normalized_entropy(torch.ones(10)) == pytest.approx(1.0, abs=1e-12)
    assert normalized_entropy(torch.tensor([0.0, 0.0, 5.0, 0.0])) == 0.0
    # Two equal masses among four entries: H = log 2, normalized by log 4 -> 1/2.
    assert normalized_entropy(torch.tensor([1.0, 1.0, 0.0, 0.0])) == pytest.approx(0.5)
    p = torch.tensor([0.5, 0.25, 0.25])
    expected = -(p * p.log()).sum().item() / math.log(3)
    assert normalized_entropy(p * 7) == pytest.approx(expected)  # scale-invariant
    # Negative values carry no mass: [-3, 1, 1] is [0, 1, 1].
    assert normalized_entropy(torch.tensor([-3.0, 1.0, 1.0])) == pytest.approx(
        math.log(2) / math.log(3)
    )
    assert normalized_entropy(torch.tensor([-1.0, -2.0])) == 0.0


def test_feature_stats_of_a_known_tensor() -> None:
    features = torch.tensor([[1.0, 3.0], [0.0, 2.0]]).reshape(1, 2, 1, 2)
    stats = feature_stats(features)
    assert stats["act_max"] == 3.0
    # G = F F^T / M = [[10, 6], [6, 4]] / 2.
    assert stats["gram_max"] == pytest.approx(5.0)
    gram = torch.tensor([5.0, 3.0, 3.0, 2.0])
    assert stats["gram_entropy"] == pytest.approx(normalized_entropy(gram))


def test_stage_layers_by_depth() -> None:
    assert stage_layers(load_backbone("vgg19", weights="random")) == (
        "relu1_2",
        "relu2_2",
        "relu3_4",
        "relu4_4",
        "relu5_4",
    )
    resnet = load_backbone("resnet50", weights="random")
    assert stage_layers(resnet) == ("stem", "layer1.2", "layer2.3", "layer3.5", "layer4.2")


def test_rows_have_mean_std_and_shapes() -> None:
    rows = activation_stats(IMAGES[:2], "vgg19", "random", "none", ["relu1_1", "relu3_1"], size=64)
    assert [r["layer"] for r in rows] == ["relu1_1", "relu3_1"]
    assert rows[1]["channels"] == 256 and (rows[1]["height"], rows[1]["width"]) == (16, 16)
    assert 0 < rows[0]["depth"] < rows[1]["depth"] < 1
    single = activation_stats(IMAGES[:1], "vgg19", "random", "none", ["relu1_1"], size=64)
    assert single[0]["act_max_std"] == 0.0
    assert rows[0]["act_max_std"] > 0
    for row in rows:
        assert 0 <= row["act_entropy"] <= 1 and 0 <= row["gram_entropy"] <= 1


def test_softmax_smoothed_features_are_a_distribution() -> None:
    rows = activation_stats(IMAGES[:1], "vgg19", "random", "softmax", ["relu2_1"], size=64)
    channels, height, width = rows[0]["channels"], rows[0]["height"], rows[0]["width"]
    assert rows[0]["act_max"] <= 1.0
    assert rows[0]["act_max"] >= 1.0 / (channels * height * width)


@pytest.fixture(scope="module")
def study() -> dict[tuple[str, str], list[dict]]:
    """Random-weight statistics on the generated images, as in the study (Sec. 3)."""
    runs = {}
    for backbone, smoothing in [
        ("resnet50", "none"),
        ("resnet50", "softmax"),
        ("vgg19", "none"),
        ("noresnet50", "none"),
    ]:
        runs[backbone, smoothing] = activation_stats(IMAGES, backbone, "random", smoothing, size=96)
    return runs


def test_resnet50_deep_activations_are_peaky(study) -> None:
    rows = {r["layer"]: r for r in study["resnet50", "none"]}
    first, deepest = rows["layer1.2"], rows["layer4.2"]
    assert deepest["act_max"] > 10 * first["act_max"]
    assert deepest["act_entropy"] < first["act_entropy"]


# The claim below is the paper's. With torchvision's default random initialization
# (BatchNorm in eval mode with identity statistics) and the entropy defined on the positive
# mass, it does not hold here; the test keeps the claim and says what was measured.
MEASURED = (
    "measured at 96 px on generated images: deepest activation entropy r-ResNet-50 "
    "0.931, r-VGG19 0.894, r-NoResNet-50 0.898. See docs/research.md, 'Activation statistics'."
)


@pytest.mark.xfail(strict=True, reason=MEASURED)
def test_vgg_like_networks_keep_a_higher_deep_entropy(study) -> None:
    resnet = study["resnet50", "none"][-1]["act_entropy"]
    assert study["vgg19", "none"][-1]["act_entropy"] > resnet
    assert study["noresnet50", "none"][-1]["act_entropy"] > resnet


def test_softmax_raises_resnet50_deep_gram_entropy(study) -> None:
    """With T relative to each layer's peak (the default, as in the losses)."""
    plain = study["resnet50", "none"][-1]["gram_entropy"]
    assert study["resnet50", "softmax"][-1]["gram_entropy"] > plain


def test_the_papers_absolute_temperature_collapses_the_deep_softmax(study) -> None:
    """T = 1 as is on r-ResNet-50's layer4.2 (peaks ~100): nearly one-hot, the opposite
    of smoothing; a temperature of the order of the activations (100) smooths again."""
    plain = study["resnet50", "none"][-1]["gram_entropy"]

    def deepest(temperature: float) -> float:
        rows = activation_stats(
            IMAGES,
            "resnet50",
            "random",
            "softmax",
            ["layer4.2"],
            size=96,
            temperature=temperature,
            relative_temperature=False,
        )
        return rows[0]["gram_entropy"]

    assert deepest(1.0) < 0.1 < plain
    assert deepest(100.0) > plain


def test_stats_cli_writes_csv_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = []
    for index, image in enumerate(IMAGES[:2]):
        paths.append(tmp_path / f"img{index}.png")
        image.save(paths[-1])
    out, plot = tmp_path / "stats.csv", tmp_path / "stats.png"
    code = cli.main(
        [
            "stats",
            *map(str, paths),
            "--backbones",
            "vgg19,resnet18",
            "--smoothing",
            "none,softmax",
            "--size",
            "64",
            "-o",
            str(out),
            "--plot",
            str(plot),
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2 * (5 + 5)  # two smoothings x (5 VGG stage ends + 5 ResNet stages)
    assert {r["backbone"] for r in rows} == {"vgg19", "resnet18"}
    assert plot.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--smoothing", "blur"], "unknown smoothing 'blur'"),
        (["--backbones", "vgg99"], "unknown backbone 'vgg99'"),
        (["--temperature", "0"], "--temperature must be a finite number > 0"),
        (["-o", "stats.txt"], "use one of .csv"),
        (["--layers", "relu9_9"], "unknown layer 'relu9_9'"),
    ],
)
def test_stats_cli_bad_input(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "img.png"
    IMAGES[0].save(image)
    args = [
        "stats",
        str(image),
        "--backbones",
        "vgg19",
        "--size",
        "32",
        "--quiet",
        "-o",
        str(tmp_path / "stats.csv"),
        *argv,
    ]
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "stats.csv").exists()


def test_no_images_is_an_error() -> None:
    with pytest.raises(StylelabError, match="no images"):
        activation_stats([], "vgg19")


def test_stats_cli_passes_the_temperature_unit(tmp_path: Path) -> None:
    image = tmp_path / "img.png"
    IMAGES[0].save(image)

    def deepest_gram_entropy(*flags: str) -> float:
        out = tmp_path / "stats.csv"
        argv = ["stats", str(image), "--backbones", "resnet18", "--smoothing", "softmax"]
        assert cli.main([*argv, "--size", "64", "--quiet", "-o", str(out), *flags]) == 0
        with open(out, newline="") as handle:
            return float(list(csv.DictReader(handle))[-1]["gram_entropy"])

    relative = deepest_gram_entropy()
    assert deepest_gram_entropy("--relative-temperature") == relative
    assert deepest_gram_entropy("--no-relative-temperature") != pytest.approx(relative, abs=1e-3)


def test_softmax_entropy_analytic_values() -> None:
    import torch

    from stylelab.analysis import feature_stats, softmax_entropy

    assert softmax_entropy(torch.zeros(1000)) == pytest.approx(1.0, abs=1e-12)
    assert softmax_entropy(torch.full((7,), -3.0)) == pytest.approx(1.0, abs=1e-12)
    peaked = torch.zeros(1000)
    peaked[3] = 1000.0
    assert softmax_entropy(peaked) == pytest.approx(0.0, abs=1e-9)
    # Two entries of equal weight among four: p = (1/2, 1/2, 0, 0) -> 1/2.
    assert softmax_entropy(torch.tensor([0.0, 0.0, -1e4, -1e4])) == pytest.approx(0.5)
    stats = feature_stats(peaked.reshape(1, 10, 10, 10), entropy="softmax")
    assert stats["act_entropy"] < 1e-6


def test_stats_cli_entropy_softmax(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import csv

    from stylelab import cli

    out = tmp_path / "stats.csv"
    argv = ["stats", "example:astronaut", "--backbones", "resnet18", "--size", "64", "--quiet"]
    assert cli.main([*argv, "-o", str(out), "--entropy", "softmax"]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["entropy"] for r in rows} == {"softmax"}
    assert all(0 <= float(r["act_entropy"]) <= 1 for r in rows)
    assert cli.main([*argv, "-o", str(out), "--entropy", "gibbs"]) == 2
    assert "--entropy must be one of positive, softmax" in capsys.readouterr().err


def test_softmax_entropy_reproduces_the_papers_fig4() -> None:
    """On p = softmax(F) (the paper's reading), r-ResNet-50's deepest entropy is near 0 and
    VGG-like networks' near 1: the claim that fails with the positive-mass entropy above."""

    def deepest(backbone: str) -> float:
        rows = activation_stats(IMAGES[:2], backbone, "random", size=96, entropy="softmax")
        return rows[-1]["act_entropy"]

    resnet = deepest("resnet50")
    assert resnet < 0.3
    assert deepest("vgg19") > 0.9 > resnet
    assert deepest("noresnet50") > 0.9

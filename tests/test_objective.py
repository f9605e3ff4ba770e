"""The objective's terms against their functional forms, computed by hand in float64.

Each term (content, style, region style, total variation) and the whole objective on a
fixed input, against Gatys et al. (2015) eq. 1 and 4 and the normalization by a blank
map, with explicit tolerances; and :func:`build_objective`, the one builder of
backbone -> layer plan -> extractor.
"""

from __future__ import annotations

import pytest
import torch

from stylelab import StylelabError, StylizeConfig, losses
from stylelab.backbones import load_backbone
from stylelab.objective import (
    ContentTerm,
    GatysObjective,
    LayerFeatures,
    LayerPlan,
    RegionMasks,
    StyleTerm,
    TotalVariationTerm,
    build_objective,
    plan_layers,
)

CPU = torch.device("cpu")


def _rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _identity() -> LayerFeatures:
    """An encoder whose one layer "x" is the image itself, unsmoothed, unscaled."""
    return LayerFeatures(lambda image: {"x": image}, {}, CPU)


def _gram64(features: torch.Tensor) -> torch.Tensor:
    """G = F F^T / M per item, in float64."""
    flat = features.double().flatten(2)
    return flat @ flat.transpose(1, 2) / flat.shape[-1]


def _style64(gram: torch.Tensor, target: torch.Tensor) -> float:
    """E = 1/(4 N^2) ||G - A||^2 (position-averaged Grams), in float64."""
    return float((gram - target).pow(2).sum() / (4 * gram.shape[-1] ** 2))


@pytest.mark.parametrize("normalize", [False, True])
def test_content_term_is_half_the_squared_error_over_its_blank_map(normalize: bool) -> None:
    target, features = _rand(2, 3, 5, 4, seed=1), _rand(2, 3, 5, 4, seed=2)
    term = ContentTerm("x", target, _identity(), normalize)
    per_item = []
    for f, p in zip(features.double(), target.double(), strict=True):
        reference = 0.5 * float(p.pow(2).sum()) if normalize else 1.0  # F_blank = 0
        per_item.append(0.5 * float((f - p).pow(2).sum()) / reference)
    assert [float(v) for v in term.items({"x": features})] == pytest.approx(per_item, rel=1e-6)
    assert float(term({"x": features})) == pytest.approx(sum(per_item), rel=1e-6, abs=0)
    assert float(term({"x": target})) == 0.0


@pytest.mark.parametrize("normalize", [False, True])
def test_style_term_scores_the_blend_of_grams(normalize: bool) -> None:
    styles = [_rand(1, 4, 6, 5, seed=3), _rand(1, 4, 3, 7, seed=4)]
    grams = torch.cat([losses.gram_matrix(s) for s in styles])
    blend = torch.tensor([[0.25, 0.75]])
    term = StyleTerm("x", grams, blend, _identity(), normalize)
    features = _rand(2, 4, 5, 5, seed=5)
    target = 0.25 * _gram64(styles[0]) + 0.75 * _gram64(styles[1])
    reference = _style64(torch.zeros_like(target), target) if normalize else 1.0
    expected = sum(_style64(_gram64(f[None]), target) / reference for f in features)
    assert float(term({"x": features})) == pytest.approx(expected, rel=1e-5, abs=0)
    # Per-item weights (B, S): item b against its own blend and its own reference.
    weights = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    expected = 0.0
    for f, w in zip(features, weights.double(), strict=True):
        a = w[0] * _gram64(styles[0]) + w[1] * _gram64(styles[1])
        ref = _style64(torch.zeros_like(a), a) if normalize else 1.0
        expected += _style64(_gram64(f[None]), a) / ref
    assert float(term({"x": features}, weights)) == pytest.approx(expected, rel=1e-5, abs=0)


def test_region_style_term_scores_each_region_against_its_style() -> None:
    """sum_r E(G_r(F), G_s(r)) / ref_s(r), G_r = (F m)(F m)^T / sum(m) (Gatys et al.
    2017, section 4); a region without a style costs nothing."""
    styles = [_rand(1, 3, 6, 6, seed=6), _rand(1, 3, 6, 6, seed=7)]
    grams = torch.cat([losses.gram_matrix(s) for s in styles])
    masks = torch.zeros(3, 6, 6)
    masks[0, :3], masks[1, 3:], masks[2, :, :2] = 1.0, 1.0, 1.0
    regions = RegionMasks(masks, (1, 0, None))
    term = StyleTerm("x", grams, torch.tensor([[0.5, 0.5]]), _identity(), True, regions)
    features = _rand(1, 3, 6, 6, seed=8).double()
    expected = 0.0
    for mask, index in ((masks[0], 1), (masks[1], 0)):
        m = mask.double()
        flat = (features * m).flatten(2)
        guided = flat @ flat.transpose(1, 2) / float(m.sum())
        a = _gram64(styles[index])
        expected += _style64(guided, a) / _style64(torch.zeros_like(a), a)
    assert float(term({"x": features.float()})) == pytest.approx(expected, rel=1e-5, abs=0)


def test_total_variation_term_is_weight_times_batch_times_mean_tv() -> None:
    image = _rand(2, 3, 4, 5, seed=9).double()
    tv = (image[..., 1:, :] - image[..., :-1, :]).abs().sum()
    tv = tv + (image[..., :, 1:] - image[..., :, :-1]).abs().sum()
    expected = 0.5 * 2 * float(tv) / image.numel()
    got = float(TotalVariationTerm(0.5)(image.float()))
    assert got == pytest.approx(expected, rel=1e-6, abs=0)


def test_the_objective_on_a_fixed_input_is_the_functional_form() -> None:
    """alpha sum_l content_l + beta sum_l w_l E_l + gamma TV of a random VGG's features,
    each normalized by its blank map, against losses.py's functions in float64; the
    per-layer constant the objective scales features by cancels."""
    config = StylizeConfig(
        weights="random",
        content_layers=("relu2_1", "relu3_1"),
        style_layers=("relu1_1", "relu2_1", "relu3_1"),
        style_layer_weights=(0.5, 0.3, 0.2),
        content_weight=2.0,
        style_weight=7.0,
        tv_weight=0.25,
    )
    backbone = load_backbone("vgg19", weights="random", seed=0)
    plan = plan_layers(backbone, config)
    extractor = backbone.extractor(plan.content + plan.style)
    content, style = _rand(1, 3, 32, 28, seed=10), _rand(1, 3, 24, 36, seed=11)
    image = _rand(1, 3, 32, 28, seed=12)
    objective = GatysObjective(extractor, plan, content, [style], [1.0], config)
    total, terms = objective(image)
    with torch.no_grad():
        f, p, s = (
            {k: v.double() for k, v in extractor(x).items()} for x in (image, content, style)
        )
    content_expected = sum(
        float(losses.content_loss(f[n], p[n]) / losses.content_loss(torch.zeros_like(p[n]), p[n]))
        for n in plan.content
    )
    style_expected = {}
    for name, weight in zip(plan.style, plan.style_weights, strict=True):
        a = _gram64(s[name])
        e = _style64(_gram64(f[name]), a) / _style64(torch.zeros_like(a), a)
        style_expected[name] = 7.0 * weight * e
    tv_expected = 0.25 * float(losses.total_variation(image.double(), reduction="mean"))
    assert float(terms["content"]) == pytest.approx(2.0 * content_expected, rel=1e-4)
    for name, value in style_expected.items():
        assert float(terms[f"style_{name}"]) == pytest.approx(value, rel=1e-4)
    assert float(terms["style"]) == pytest.approx(sum(style_expected.values()), rel=1e-4)
    assert float(terms["tv"]) == pytest.approx(tv_expected, rel=1e-6)
    everything = 2.0 * content_expected + sum(style_expected.values()) + tv_expected
    assert float(total) == pytest.approx(everything, rel=1e-4)
    assert float(terms["total"]) == float(total)


def test_build_objective_resolves_backbone_plan_and_extractor_once() -> None:
    network = build_objective(
        backbone="vgg16",
        weights="random",
        style_layers=("relu1_1", "block2_conv1"),
        content_layers=("relu3_2",),
        smoothing="softmax",
        precision="fp32",
        device="cpu",
    )
    assert network.backbone.name == "vgg16" and network.backbone.weights.startswith("random")
    assert network.plan == LayerPlan(
        ("relu3_2",), ("relu1_1", "relu2_1"), (0.5, 0.5), ("relu3_2", "relu1_1", "relu2_1")
    )
    assert network.precision == "fp32" and network.device == CPU
    content, style = _rand(1, 3, 32, 32, seed=13), _rand(1, 3, 32, 32, seed=14)
    features = network.extractor(content)
    assert set(features) == {"relu3_2", "relu1_1", "relu2_1"}
    # The network's objective is the objective built by hand from the same parts.
    built = network.objective(content, [style])
    by_hand = GatysObjective(
        network.extractor, network.plan, content, [style], [1.0], network.config
    )
    image = _rand(1, 3, 32, 32, seed=15)
    assert torch.equal(built(image)[0], by_hand(image)[0])
    # A config object and options on top, as stylize takes them.
    config = StylizeConfig(weights="random", precision="fp32", device="cpu")
    assert build_objective(config, style_layers=("relu1_1",)).plan.style == ("relu1_1",)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"weigths": "random"}, "weigths"),
        ({"weights": "random", "style_layers": ("nope",)}, "nope"),
        ({"weights": "random", "style_layer_weights": (1.0, 2.0)}, "--style-layer-weights"),
    ],
)
def test_build_objective_refuses_bad_settings_in_one_line(options, message) -> None:
    with pytest.raises(StylelabError) as caught:
        build_objective(device="cpu", precision="fp32", **options)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_constants_applied_to_grams_give_the_scaled_features_value_and_gradient() -> None:
    """The objective scales style-only layers' Grams by c_l^2 instead of their features
    by c_l; value and image gradient equal those of the scaled features' terms."""
    config = StylizeConfig(weights="random", content_layers=("relu2_1",))
    backbone = load_backbone("vgg19", weights="random", seed=0)
    plan = plan_layers(backbone, config)
    extractor = backbone.extractor(plan.content + plan.style)
    content, style = _rand(1, 3, 32, 32, seed=13), _rand(1, 3, 32, 32, seed=14)
    objective = GatysObjective(extractor, plan, content, [style], [1.0], config)
    assert set(objective._gram_scales()) == set(plan.style) - {"relu2_1"}
    image = _rand(1, 3, 32, 32, seed=15).requires_grad_(True)
    total, _ = objective(image)
    (ours,) = torch.autograd.grad(total, image)
    features = objective.features(image)  # c_l F on every layer
    expected = sum(t(features) for t in objective.content_terms) * config.content_weight
    for term, weight in zip(objective.style_terms, plan.style_weights, strict=True):
        expected = expected + term(features) * weight * config.style_weight
    (theirs,) = torch.autograd.grad(expected, image)
    assert float(total.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6 * float(theirs.abs().max()))


@pytest.mark.parametrize("scale, folded", [(1e-3, True), (1e9, False), (1e-9, False)])
def test_extreme_constants_stay_on_the_features(scale: float, folded: bool) -> None:
    encoder = _identity()
    encoder.scale = {"x": scale}
    assert (encoder.gram_scale("x") is not None) is folded


def test_zero_tv_weight_costs_nothing_and_adds_nothing() -> None:
    image = _rand(1, 3, 8, 8, seed=16).requires_grad_(True)
    value = TotalVariationTerm(0.0)(image)
    assert float(value) == 0.0 and not value.requires_grad

"""Mixed precision: the backbone autocasts, Grams and losses stay fp32, quality holds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stylelab import StylelabError, StylizeConfig, stylize
from stylelab import precision as P
from stylelab.evaluate import evaluate
from stylelab.losses import content_loss, gram_matrix

CPU = torch.device("cpu")


def photo(size: int = 40) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    return torch.stack([x, y, 1 - x]).unsqueeze(0).clamp(0, 1)


def stripes(size: int = 40, period: int = 6) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    band = (((x + y) // period) % 2).float()
    red, blue = torch.tensor([0.86, 0.16, 0.12]), torch.tensor([0.12, 0.24, 0.78])
    image = band[..., None] * red + (1 - band[..., None]) * blue
    return image.permute(2, 0, 1).unsqueeze(0)


def test_resolve_explicit_and_auto_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert P.resolve_precision("fp32", CPU) == "fp32"
    assert P.resolve_precision("bf16", CPU) == "bf16"
    monkeypatch.setattr(P, "cpu_bf16_is_faster", lambda: False)
    assert P.resolve_precision("auto", CPU) == "fp32"
    monkeypatch.setattr(P, "cpu_bf16_is_faster", lambda: True)
    assert P.resolve_precision("auto", CPU) == "bf16"


def test_bf16_is_never_auto_without_native_support(monkeypatch: pytest.MonkeyPatch) -> None:
    P.cpu_bf16_is_faster.cache_clear()
    monkeypatch.setattr(P, "cpu_has_native_bf16", lambda: False)
    assert P.cpu_bf16_is_faster() is False
    P.cpu_bf16_is_faster.cache_clear()


@pytest.mark.parametrize("name", ["fp64", "half", ""])
def test_unknown_precision_is_a_clear_error(name: str) -> None:
    with pytest.raises(StylelabError, match="unknown precision"):
        StylizeConfig(precision=name)
    with pytest.raises(StylelabError, match="unknown precision"):
        P.resolve_precision(name, CPU)


def test_reduced_precision_is_refused_on_mps() -> None:
    with pytest.raises(StylelabError, match="not mps"):
        P.resolve_precision("fp16", torch.device("mps"))
    assert P.resolve_precision("auto", torch.device("mps")) == "fp32"


def test_extractor_autocasts_but_gram_and_losses_stay_fp32() -> None:
    torch.manual_seed(0)

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"a": torch.relu(self.conv(x))}

    wrapped = P.prepare_extractor(Tiny().requires_grad_(False), CPU, "bf16")
    image = photo(16).requires_grad_(True)
    features = wrapped(image)["a"]
    assert features.dtype == torch.bfloat16
    gram = gram_matrix(features)
    assert gram.dtype == torch.float32
    # Computed from the bf16 values in fp32: equal to the fp32 Gram of the upcast features.
    flat = features.detach().float().reshape(1, 8, -1)
    torch.testing.assert_close(gram.detach(), flat @ flat.transpose(1, 2) / 256, rtol=1e-6, atol=0)
    loss = content_loss(features, torch.zeros_like(features)) + gram.sum()
    assert loss.dtype == torch.float32
    loss.backward()
    assert image.grad is not None and image.grad.dtype == torch.float32


def test_bf16_gram_of_many_positions_is_accumulated_in_fp32() -> None:
    # 1/M sum_k F_ik F_jk of M = 4096 values 1 + 2^-7: bf16 accumulation would drift,
    # fp32 gives (1 + 2^-7)^2 to 1e-6.
    features = torch.full((1, 2, 64, 64), 1 + 2**-7, dtype=torch.bfloat16)
    expected = torch.full((1, 2, 2), (1 + 2**-7) ** 2)
    torch.testing.assert_close(gram_matrix(features), expected, rtol=1e-6, atol=0)


def test_channels_last_only_where_measured_faster() -> None:
    assert P.use_channels_last(CPU, "fp32")
    assert P.use_channels_last(torch.device("cuda"), "bf16")
    assert not P.use_channels_last(torch.device("cuda"), "fp32")
    assert not P.use_channels_last(torch.device("mps"), "fp32")


def test_resolved_precision_is_reported() -> None:
    result = stylize(photo(), stripes(), size=32, steps=2, precision="fp32", multiscale=False)
    assert result.info["resolved"]["precision"] == "fp32"
    assert result.tensor.dtype == torch.float32


@pytest.mark.slow
def test_bf16_matches_fp32_quality_on_the_same_seed() -> None:
    """The independent distances of bf16 and fp32 runs differ by less than 5 %."""
    scores = {}
    for name in ("fp32", "bf16"):
        result = stylize(
            photo(48), stripes(48), size=48, steps=20, precision=name, multiscale=False, seed=0
        )
        assert result.info["resolved"]["precision"] == name
        scores[name] = evaluate(result.tensor, photo(48), stripes(48), size=64)
    for key in ("style_distance", "content_distance"):
        a, b = scores["fp32"][key], scores["bf16"][key]
        print(key, a, b)
        assert abs(a - b) / a < 0.05, (key, a, b)
    # And the run did something: style distance well below that of the content image.
    start = evaluate(photo(48), photo(48), stripes(48), size=64)["style_distance"]
    assert scores["fp32"]["style_distance"] < 0.8 * start


def test_reduced_precision_stores_conv_weights_once_with_the_same_features() -> None:
    # autocast recasts frozen weights on every call; the extractor keeps them in bf16.
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()).requires_grad_(False)
    image = photo(16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = conv(image)
    wrapped = P.prepare_extractor(conv, CPU, "bf16")
    assert conv[0].weight.dtype == torch.bfloat16 and conv[0].bias.dtype == torch.bfloat16
    torch.testing.assert_close(wrapped(image), expected, rtol=0, atol=0)
    kept = P.prepare_extractor(nn.Conv2d(3, 8, 3).requires_grad_(False), CPU, "fp32")
    assert kept.extractor.weight.dtype == torch.float32

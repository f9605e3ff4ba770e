"""The CNN-free yardstick (stylelab.texture): its three validation tests, the scale of its
groups, and the evaluate dispatch."""

from __future__ import annotations

from typing import Any

import pytest

from stylelab import StylizeConfig, stylize
from stylelab.evaluate import evaluate

CONTENT = "example:astronaut"
STYLE = "example:strokes"


TEXTURES = ("strokes", "mosaic", "grass", "gravel", "brick")
PHOTOS = ("chelsea", "astronaut", "coffee")


def _array(source: Any, size: int = 128) -> Any:
    from stylelab.images import load_image, resize_long_edge
    from stylelab.texture import to_array

    image = load_image(source) if isinstance(source, str) else source
    return to_array(resize_long_edge(image, size))


def _half(name: str, side: int) -> Any:
    from stylelab.images import load_image

    image = load_image(f"example:{name}")
    width = image.shape[-1]
    return image[..., : width // 2] if side == 0 else image[..., width // 2 :]


def _centre(name: str) -> Any:
    from stylelab.images import load_image

    image = load_image(f"example:{name}")
    h, w = image.shape[-2:]
    return image[..., h // 5 : 4 * h // 5, w // 5 : 4 * w // 5]


def _texture(output: Any, style: Any) -> float:
    from stylelab.texture import texture_distance

    return texture_distance(_array(output), [_array(style)])["style_distance"]


def test_two_halves_of_one_painting_are_closer_than_halves_of_two() -> None:
    """For each texture, its right half is nearer its left half than any other's is."""
    for a in TEXTURES:
        same = _texture(_half(a, 0), _half(a, 1))
        others = {b: _texture(_half(a, 0), _half(b, 1)) for b in TEXTURES if b != a}
        assert same < min(others.values()), (a, same, others)


@pytest.mark.parametrize("photo", PHOTOS)
def test_a_photo_is_farther_from_a_painting_than_its_crop(photo: str) -> None:
    for name in TEXTURES:
        crop = _texture(_centre(name), f"example:{name}")
        assert _texture(f"example:{photo}", f"example:{name}") > crop, name


@pytest.mark.slow
def test_a_gatys_result_is_closer_to_its_style_than_its_photo() -> None:
    content, style = "example:chelsea", "example:strokes"
    config = StylizeConfig(size=96, steps=40, multiscale=False, device="cpu", precision="fp32")
    result = stylize(content, style, config)
    before = evaluate(content, content, style, size=96, yardstick="texture")
    after = evaluate(result.tensor, content, style, size=96, yardstick="texture")
    assert after["style_distance"] < 0.8 * before["style_distance"]
    assert before["content_distance"] == pytest.approx(0.0, abs=1e-9)
    assert 0 < after["content_distance"] < 1
    assert set(after) >= {"style_distance", "content_distance", "style_distance_per_group"}


def test_texture_yardstick_is_deterministic_scale_free_and_fast() -> None:
    import time

    from stylelab.texture import GROUPS, color_distance, texture_distance

    a, b = _array("example:chelsea", 256), _array("example:strokes", 256)
    first = texture_distance(a, [b])
    assert texture_distance(a, [b]) == first
    assert set(first) == {"style_distance", *GROUPS}
    assert texture_distance(b, [b])["style_distance"] == pytest.approx(0.0, abs=1e-12)
    # A flat image of the style's mean colour is at colour distance 1 (the anchor).
    flat = b * 0 + b.reshape(-1, 3).mean(axis=0)
    assert 0.9 < color_distance(flat, b) < 1.1
    started = time.process_time()  # CPU time: the machine may be busy
    texture_distance(a, [b])
    assert time.process_time() - started < 1.5  # two 256 px images; ~0.4 s on one core


def test_structure_distance_is_one_minus_ssim() -> None:
    from stylelab.texture import structure_distance

    a = _array("example:chelsea", 96)
    assert structure_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    noisy = (a + 0.3 * (a[::-1, ::-1] - 0.5)).clip(0, 1)
    assert 0.05 < structure_distance(noisy, a) < 1.5


def test_evaluate_dispatches_and_refuses_an_unknown_yardstick() -> None:
    from stylelab.errors import StylelabError

    scores = evaluate(STYLE, CONTENT, STYLE, size=64, yardstick="texture")
    assert scores["style_distance"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(StylelabError, match="--yardstick must be one of vgg, texture"):
        evaluate(STYLE, CONTENT, STYLE, size=64, yardstick="lpips")


def test_evaluate_cli_texture_json(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from stylelab import cli

    code = cli.main(
        ["evaluate", CONTENT, CONTENT, STYLE, "--size", "64", "--yardstick", "texture", "--json"]
    )
    assert code == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["content_distance"] == pytest.approx(0.0, abs=1e-9)
    assert scores["style_distance"] > 0.1

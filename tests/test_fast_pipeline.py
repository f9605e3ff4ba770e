"""stylelab.fast.pipeline: the one way a model is applied, on NumPy stand-in backends.

The real backends (PyTorch, onnxruntime) are tested against each other in
test_fast_export.py; here the pipeline's own arithmetic is checked exactly.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stylelab.errors import StylelabError
from stylelab.fast.pipeline import (
    StyleModel,
    checked_output,
    pad_reflect,
    stylize_array,
    stylize_frames,
    torch_device,
)

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Stand:
    """A backend whose network is ``network(batch, weights)``; records the shapes it saw."""

    network: Any = staticmethod(lambda batch, weights: batch)
    name: str = "stand.model"
    styles: list[str] = field(default_factory=lambda: ["a", "b"])
    device: Any = "cpu"
    precision: str = "fp32"
    seen: list[tuple[int, ...]] = field(default_factory=list)

    def run(self, batch: np.ndarray, style_weights: np.ndarray) -> Any:
        self.seen.append(batch.shape)
        return self.network(batch, style_weights)

    def info(self) -> dict[str, Any]:
        return {"styles": self.styles}


def photo(height: int = 29, width: int = 37, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, 3, height, width), dtype=np.float32)


def test_reflection_padding_mirrors_without_repeating_the_edge() -> None:
    row = np.arange(6, dtype=np.float32).reshape(1, 1, 1, 6)
    padded = pad_reflect(row, multiple=8)
    assert padded[0, 0, 0].tolist() == [0, 1, 2, 3, 4, 5, 4, 3]
    assert padded.shape == (1, 1, 8, 8)  # one row mirrored 7 times over itself
    assert pad_reflect(np.zeros((1, 3, 16, 24), np.float32)).shape == (1, 3, 16, 24)


def test_the_network_sees_multiples_of_8_and_the_output_is_cropped_back() -> None:
    stand = Stand()
    image = photo(29, 37)
    out = stylize_array(stand, image)
    assert stand.seen == [(1, 3, 32, 40)]
    np.testing.assert_array_equal(out, image)  # identity network: the photo itself


def test_strength_blends_the_network_output_with_the_photo() -> None:
    stand = Stand(network=lambda batch, weights: np.full_like(batch, 0.25))
    image = photo()
    out = stylize_array(stand, image, strength=0.4)
    np.testing.assert_allclose(out, 0.4 * 0.25 + 0.6 * image, atol=1e-6)


def test_the_style_mix_reaches_the_backend_normalized() -> None:
    got: list[np.ndarray] = []

    def network(batch: np.ndarray, weights: np.ndarray) -> np.ndarray:
        got.append(weights)
        return batch

    stylize_array(Stand(network=network), photo(), {"a": 1.0, "b": 3.0})
    np.testing.assert_allclose(got[0], [[0.25, 0.75]])
    assert got[0].dtype == np.float32


def test_frames_go_through_as_uint8_with_the_same_shape() -> None:
    frames = np.random.default_rng(1).integers(0, 256, (3, 18, 22, 3), dtype=np.uint8)
    stand = Stand()
    out = stylize_frames(stand, frames, np.asarray([[1.0, 0.0]], np.float32))
    assert stand.seen == [(3, 3, 24, 24)]
    np.testing.assert_array_equal(out, frames)
    inverted = stylize_frames(Stand(network=lambda b, w: 1 - b), frames, np.eye(1, 2))
    np.testing.assert_array_equal(inverted, 255 - frames)


@pytest.mark.parametrize(
    ("network", "words"),
    [
        (lambda b, w: np.float32(0.5), "returned a scalar for a batch of 1x3x32x40"),
        (lambda b, w: np.concatenate([b, b], axis=1), "returned 1x6x32x40 for a batch of 1x3x"),
        (lambda b, w: b[..., ::2, :], "returned 1x3x16x40 for a batch of 1x3x32x40"),
        (lambda b, w: b[0], "returned 3x32x40 for a batch of 1x3x32x40"),
        (lambda b, w: (b * 255).astype(np.uint8), "returned uint8 values, not floating-point"),
        (lambda b, w: b * np.nan, "returned NaN or infinite values"),
        (lambda b, w: b + np.inf, "returned NaN or infinite values"),
        (lambda b, w: b - np.where(np.arange(b.shape[-1]) == 3, np.inf, 0), "NaN or infinite"),
        (lambda b, w: None, "returned a scalar"),
        (lambda b, w: [[1], [2, 3]], "returned list, not an image array"),
    ],
    ids=[
        "scalar",
        "6 channels",
        "half height",
        "no batch axis",
        "uint8",
        "nan",
        "+inf",
        "-inf",
        "None",
        "ragged list",
    ],
)
def test_what_a_network_returns_is_checked_in_one_line_naming_the_model(
    network: Any, words: str
) -> None:
    model = StyleModel(Stand(network=network))
    with pytest.raises(StylelabError) as caught:
        model.stylize_array(photo())
    assert str(caught.value).startswith("stand.model: the network returned ")
    assert words in str(caught.value) and "\n" not in str(caught.value)
    frames = np.zeros((2, 29, 37, 3), np.uint8)
    with pytest.raises(StylelabError, match="^stand.model: the network returned "):
        model.stylize_frames(frames, model.style_weights(0))


def test_a_float16_output_is_accepted_as_float32() -> None:
    out = checked_output(np.zeros((1, 3, 8, 8), np.float16), (1, 3, 8, 8), "m")
    assert out.dtype == np.float32


def test_only_a_torch_device_has_its_memory_checked_by_torch() -> None:
    assert torch_device(Stand(device="cuda")) is None  # onnxruntime's name for its GPU
    marker = object()
    assert torch_device(Stand(device=marker)) is marker


def test_an_engine_on_cuda_never_imports_torch() -> None:
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np\n"
        "from stylelab.fast.pipeline import stylize_array\n"
        "class Stand:\n"
        "    name, styles, device, precision = 'm', ['a'], 'cuda', 'fp32'\n"
        "    def run(self, batch, weights): return batch\n"
        "out = stylize_array(Stand(), np.zeros((1, 3, 20, 20), np.float32))\n"
        "print(out.shape, 'torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 3, 20, 20) False"


@pytest.mark.parametrize(
    "bad",
    [np.zeros((3, 32, 32), np.float32), np.zeros((1, 3, 32, 32), np.uint8), [[0.5]], None],
    ids=["no batch axis", "uint8", "list", "None"],
)
def test_stylize_array_takes_only_a_decoded_photo(bad: Any) -> None:
    with pytest.raises(StylelabError, match=r"takes a \(1, 3, H, W\) float array"):
        stylize_array(Stand(), bad)


def test_stylize_decodes_at_the_edge_then_runs_the_same_pipeline() -> None:
    rgb = (np.random.default_rng(2).random((20, 24, 3)) * 255).astype(np.uint8)
    model = StyleModel(Stand())
    np.testing.assert_allclose(model.stylize(rgb)[0].transpose(1, 2, 0), rgb / 255, atol=1e-6)
    with pytest.raises(StylelabError, match="photo: the image has NaN"):
        model.stylize(np.full((20, 24, 3), np.nan, np.float32))

"""Export (ONNX, TorchScript) and the onnxruntime apply path: the same images as PyTorch."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab.cli import main
from stylelab.errors import StylelabError
from stylelab.fast import open_model
from stylelab.fast.apply import load, run_network
from stylelab.fast.export import TOLERANCE, export_model
from stylelab.fast.runtime import load_onnx
from tests.conftest import APPLY_FAST, TRAIN_FAST, gradient_image

REPO = Path(__file__).resolve().parent.parent
SIZES = [(16, 16), (37, 61), (64, 48), (101, 30)]

# Runs a command with some modules made unimportable, as in a venv that lacks them.
BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked for the test: {name}")
sys.meta_path.insert(0, Block())
from stylelab.cli import main
code = main(ARGS)
print("TORCH-MODULES", sorted(m for m in sys.modules if m.split(".")[0] == "torch"))
sys.exit(code)
"""


def run_blocked(blocked: set[str], args: list[str]) -> subprocess.CompletedProcess:
    script = f"BLOCKED = {sorted(blocked)!r}\nARGS = {args!r}\n" + BLOCKER
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )


def photo_array(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = np.asarray(gradient_image(width, height, seed=seed), dtype=np.float32) / 255
    noisy = np.clip(smooth + rng.normal(0, 0.05, smooth.shape), 0, 1)
    return np.ascontiguousarray(noisy.transpose(2, 0, 1)[None], dtype=np.float32)


def test_onnx_export_gives_pytorch_images_at_any_size_batch_and_mix(
    tiny_model: Path, onnx_model: Path
) -> None:
    torch_model = load(tiny_model, device="cpu", precision="fp32")
    session = load_onnx(onnx_model)
    assert session.styles == torch_model.styles
    for (height, width), mix in zip(SIZES, ([1, 0], [0, 1], [0.5, 0.5], [3, 1]), strict=True):
        photos = np.concatenate([photo_array(height, width, s) for s in range(2)])
        weights = np.asarray([mix], dtype=np.float32)
        expected = run_network(
            torch_model.net, torch.from_numpy(photos), torch.from_numpy(weights / sum(mix))
        ).numpy()
        got = session.run(photos, weights)  # normalized inside the graph
        assert got.shape == photos.shape
        assert np.abs(got - expected).max() <= TOLERANCE


def test_onnx_and_safetensors_apply_agree_with_every_option(
    tiny_model: Path, onnx_model: Path
) -> None:
    torch_model = open_model(tiny_model, device="cpu", precision="fp32")
    onnx = open_model(onnx_model)
    photo = photo_array(45, 70)
    options = [
        {},
        {"strength": 0.4},
        {"stroke_scale": 2.0},
        {"size": 96},
    ]
    for style in (0, "mosaic", [0.3, 0.7], {"strokes": 1.0}):
        for option in options:
            a = torch_model.stylize_array(photo, style, **option)
            b = onnx.stylize_array(photo, style, **option)
            assert a.shape == b.shape
            assert np.abs(a - b).max() <= TOLERANCE, (style, option)


@pytest.mark.parametrize(
    ("photo", "words"),
    [
        (np.full((32, 32, 3), np.nan, np.float32), "photo: the image has NaN or infinite"),
        (np.full((32, 32, 3), np.inf, np.float32), "photo: the image has NaN or infinite"),
        (np.zeros((32, 32, 3), np.int64), "an image array of dtype int64: give uint8"),
        (np.zeros((32, 32, 3), np.complex64), "an image array of dtype complex64"),
        (np.zeros((1, 32, 32, 3), np.float32), "is not an H x W x {1,3,4} image"),
        (
            np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (60000, 60000, 3)),
            "an image array of 60000x60000 pixels is over the limit",
        ),
    ],
    ids=["nan", "inf", "int64", "complex", "1xHxWx3", "60000²"],
)
def test_onnx_and_safetensors_refuse_the_same_photos_in_one_line(
    tiny_model: Path, onnx_model: Path, photo: np.ndarray, words: str
) -> None:
    for model in (load(tiny_model, device="cpu", precision="fp32"), open_model(onnx_model)):
        with pytest.raises(StylelabError) as caught:
            model.stylize(photo)
        assert "\n" not in str(caught.value) and words in str(caught.value), type(model)


def test_onnx_style_mix_differs_from_both_pure_styles(onnx_model: Path) -> None:
    model = open_model(onnx_model)
    photo = photo_array(48, 64)
    pure = [model.stylize(photo, i) for i in range(2)]
    mixed = model.stylize(photo, [0.5, 0.5])
    gap = np.abs(pure[0] - pure[1]).mean()
    assert gap > 0.01  # the two styles differ to begin with
    for image in pure:
        assert np.abs(mixed - image).mean() > 0.1 * gap


def test_train_export_apply_through_the_cli_without_torch(
    tmp_path: Path, photo_folder: Path
) -> None:
    """The issue's check: a model from ``stylelab train``, exported, applied by onnxruntime
    in a process where torch cannot be imported, gives the .safetensors path's image."""
    model = tmp_path / "m.safetensors"
    styles = ["example:strokes", "example:mosaic"]
    assert main(["train", *styles, "--data", str(photo_folder), "-o", str(model), *TRAIN_FAST]) == 0
    exported = tmp_path / "m.onnx"
    assert main(["export", str(model), "-o", str(exported)]) == 0
    photo = tmp_path / "photo.png"
    gradient_image(75, 50, seed=3).save(photo)
    by_torch = tmp_path / "torch.png"
    args = ["--style-mix", "0.5,0.5", "--quiet"]
    assert main(["apply", str(model), str(photo), "-o", str(by_torch), *args, *APPLY_FAST]) == 0
    by_onnx = tmp_path / "onnx.png"
    result = run_blocked(
        {"torch", "torchvision"}, ["apply", str(exported), str(photo), "-o", str(by_onnx), *args]
    )
    assert result.returncode == 0, result.stderr
    assert "TORCH-MODULES []" in result.stdout
    a = np.asarray(Image.open(by_torch), dtype=np.int16)
    b = np.asarray(Image.open(by_onnx), dtype=np.int16)
    assert a.shape == b.shape == (50, 75, 3)
    assert np.abs(a - b).max() <= 1  # 8-bit rounding of values within 1e-3


def test_onnx_apply_without_onnxruntime_names_the_extra(onnx_model: Path, tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    gradient_image(32, 32).save(photo)
    result = run_blocked(
        {"onnxruntime"}, ["apply", str(onnx_model), str(photo), "-o", str(tmp_path / "o.png")]
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "stylelab[onnx]" in lines[0], result.stderr
    assert not (tmp_path / "o.png").exists()


def test_onnx_metadata_carries_styles_and_training(onnx_model: Path, tiny_model: Path) -> None:
    import onnx

    model = onnx.load(str(onnx_model))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["format"] == "stylelab-fast-onnx"
    assert json.loads(meta["styles"]) == ["strokes", "mosaic"]
    assert json.loads(meta["training"])["train_size"] == 32
    assert {o.domain: o.version for o in model.opset_import}[""] == 18
    shape = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert shape[1] == 3 and all(isinstance(d, str) for d in (shape[0], shape[2], shape[3]))


def test_torchscript_export_matches_pytorch_at_any_size(tiny_model: Path, tmp_path: Path) -> None:
    output = tmp_path / "m.pt"
    report = export_model(tiny_model, output)
    assert report.format == "torchscript" and report.max_abs_difference <= TOLERANCE
    extra = {"stylelab.json": ""}
    with pytest.warns(FutureWarning, match="deprecated"):  # torch.jit, in PyTorch 2.14
        scripted = torch.jit.load(str(output), _extra_files=extra)
    assert json.loads(extra["stylelab.json"])["styles"] == '["strokes", "mosaic"]'
    net = load(tiny_model, device="cpu", precision="fp32").net
    for height, width in SIZES:
        photo = torch.from_numpy(photo_array(height, width))
        weights = torch.tensor([[0.25, 0.75]])
        with torch.no_grad():
            got = scripted(photo, weights * 4)
        assert got.shape == photo.shape
        assert (got - run_network(net, photo, weights)).abs().max() <= TOLERANCE
    assert zipfile.is_zipfile(io.BytesIO(output.read_bytes()))


def test_export_that_fails_its_check_writes_nothing(tiny_model: Path, tmp_path: Path) -> None:
    output = tmp_path / "m.onnx"
    with pytest.raises(StylelabError, match=r"differs from PyTorch by .*nothing was written"):
        export_model(tiny_model, output, tolerance=-1.0)  # any difference fails
    assert list(tmp_path.iterdir()) == []


def test_an_exporter_failure_names_its_innermost_cause_in_one_line() -> None:
    from stylelab.fast.export import exporter_failure

    def failure(inner: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except BaseException as exc:
                raise RuntimeError(
                    "Failed to export the model with torch.export. \x1b[96mThis is step 1/3\x1b[0m"
                ) from exc
        except RuntimeError as outer:
            return outer

    plain = exporter_failure(failure(ValueError("\x1b[1mshape 3 is not 4\x1b[0m\nmore")))
    assert str(plain) == "ONNX export failed (shape 3 is not 4)"
    no_tmp = FileNotFoundError(2, "No usable temporary directory found in ['/tmp', '/var/tmp']")
    assert "set TMPDIR to a writable folder" in str(exporter_failure(failure(no_tmp)))
    assert str(exporter_failure(RuntimeError())) == "ONNX export failed (RuntimeError)"

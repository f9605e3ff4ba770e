"""Shared fixtures: tiny generated images, so the suite needs no files and no network."""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on two cores: one thread each (and in the
    # processes the tests start), so they share the cores instead of oversubscribing them.
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

# The ONNX cache of `apply`/`video`/`serve` (stylelab.fast.cache): one folder per test
# session, never the user's ~/.cache. Set at import, so the processes tests start inherit it.
_CACHE = Path(tempfile.mkdtemp(prefix="stylelab-test-cache-"))
os.environ["STYLELAB_CACHE"] = str(_CACHE)


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache_folder() -> object:
    """Remove this session's ONNX cache at the end."""
    import shutil

    yield _CACHE
    shutil.rmtree(_CACHE, ignore_errors=True)


def gradient_image(width: int = 48, height: int = 40, seed: int = 0) -> Image.Image:
    """A smooth colour gradient with a little seeded noise: a stand-in photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width, y / height, 1 - x / width], axis=2)
    rgb = np.clip(rgb + rng.normal(0, 0.05, rgb.shape), 0, 1)
    return Image.fromarray((rgb * 255).astype(np.uint8), mode="RGB")


def stripes_image(size: int = 48, period: int = 6) -> Image.Image:
    """Diagonal red/blue stripes: a stand-in painting with a strong texture."""
    y, x = np.mgrid[0:size, 0:size]
    band = ((x + y) // period) % 2
    rgb = np.where(band[..., None] == 1, [220, 40, 30], [30, 60, 200]).astype(np.uint8)
    return Image.fromarray(rgb, mode="RGB")


def late_failing_png(path: Path, width: int = 48, height: int = 40) -> Path:
    """A PNG whose header and checksums are fine (Image.verify passes) but whose pixel
    data does not inflate: it fails only when decoded."""
    gradient_image(width, height, seed=5).save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT")
    length = struct.unpack(">I", data[start - 4 : start])[0]
    for k in range(start + 14, start + length):
        data[k] ^= 0x5A
    crc = zlib.crc32(bytes(data[start : start + 4 + length]))
    data[start + 4 + length : start + 8 + length] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


# Command-line flags that make train and apply take a second or less (fast-model tests).
TRAIN_FAST = [
    "--train-size",
    "32",
    "--batch-size",
    "2",
    "--steps",
    "2",
    "--precision",
    "fp32",
    "--quiet",
]
APPLY_FAST = ["--device", "cpu", "--precision", "fp32", "--quiet"]


@pytest.fixture
def content_path(tmp_path: Path) -> Path:
    path = tmp_path / "content.png"
    gradient_image().save(path)
    return path


@pytest.fixture
def style_path(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    stripes_image().save(path)
    return path


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four small stand-in photos in a folder, for training tests."""
    folder = tmp_path_factory.mktemp("photos")
    for seed in range(4):
        gradient_image(56 + 8 * seed, 48, seed=seed).save(folder / f"photo{seed}.png")
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, photo_folder: Path) -> Path:
    """A two-style compact model trained for a few steps at 32 px (strokes, mosaic)."""
    from stylelab.config import StylizeConfig
    from stylelab.fast.training import TrainConfig, train

    output = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    config = TrainConfig(
        styles=("example:strokes", "example:mosaic"),
        data=str(photo_folder),
        train_size=32,
        batch_size=2,
        steps=8,
        lr=1e-2,
        loss=StylizeConfig(precision="fp32"),
    )
    train(config, output)
    return output


@pytest.fixture(scope="session")
def onnx_model(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """``tiny_model`` exported to ONNX (checked against PyTorch by the export itself)."""
    from stylelab.fast.export import export_model

    output = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_model(tiny_model, output)
    return output

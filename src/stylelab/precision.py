"""Mixed precision for the backbone: autocast its forward, keep everything else in fp32.

Only the feature network runs in reduced precision (``torch.autocast``); the image being
optimized, the Gram matrices G = F F^T / M and the loss sums stay float32, because
``losses.gram_matrix`` and ``losses.content_loss`` upcast the features before reducing
(Micikevicius et al., "Mixed Precision Training", ICLR 2018: low-precision products,
fp32 accumulation of the quantities that are summed).

``auto`` picks:

- CUDA: bf16 where the GPU supports it, else fp16;
- CPU: bf16 only where the processor has native bf16 arithmetic (oneDNN reports it,
  e.g. AVX512-BF16 / AMX) *and* a small timed matrix product shows bf16 faster than
  fp32; otherwise fp32 (emulated bf16 is several times slower than fp32);
- MPS and anything else: fp32.

channels_last (NHWC) memory layout is used where it was measured faster: on CPU
(oneDNN convolutions run NHWC natively) and on CUDA in fp16/bf16 (tensor cores).
"""

from __future__ import annotations

import contextlib
import functools
import platform
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from stylelab.errors import StylelabError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """True when oneDNN reports native bf16 support on this CPU (AVX512-BF16, AMX)."""
    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):
        return False


@functools.lru_cache(maxsize=1)
def cpu_bf16_is_faster(size: int = 512, repeats: int = 3) -> bool:
    """Time a ``size``-square matrix product in bf16 and fp32; True if bf16 wins by 20 %."""
    if not cpu_has_native_bf16():
        return False
    timings = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(size, size, generator=torch.Generator().manual_seed(0)).to(dtype)
        best = float("inf")
        for _ in range(repeats + 1):
            start = time.perf_counter()
            a @ a
            best = min(best, time.perf_counter() - start)
        timings[dtype] = best
    return timings[torch.bfloat16] * 1.2 < timings[torch.float32]


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> the fastest precision that keeps quality on ``device``; checks the rest."""
    if name not in PRECISIONS:
        raise StylelabError(f"unknown precision {name!r}; choose from: {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        if name == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if name == "bf16" and not torch.cuda.is_bf16_supported():
            raise StylelabError("--precision bf16: this GPU does not support bfloat16")
        return name
    if device.type == "cpu":
        if name == "auto":
            return "bf16" if cpu_bf16_is_faster() else "fp32"
        return name
    if name == "auto":
        return "fp32"
    if name != "fp32":
        raise StylelabError(f"--precision {name} is supported on cpu and cuda, not {device.type}")
    return name


def use_channels_last(device: torch.device, precision: str) -> bool:
    """NHWC where measured faster: CPU (any precision), CUDA with fp16/bf16."""
    return device.type == "cpu" or (device.type == "cuda" and precision != "fp32")


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """``torch.autocast`` to ``precision`` on ``device``; a no-op for fp32."""
    if precision == "fp32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=DTYPES[precision]):
        yield


class MixedPrecisionExtractor(nn.Module):
    """Wrap an extractor: NHWC input if asked, forward under autocast, features as they come.

    The features may be bf16/fp16; the losses upcast them to fp32 before reducing.
    """

    def __init__(
        self, extractor: nn.Module, device: torch.device, precision: str, channels_last: bool
    ) -> None:
        super().__init__()
        self.extractor = extractor
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        if channels_last:
            self.extractor.to(memory_format=torch.channels_last)
        if precision != "fp32":
            cast_autocast_weights(self.extractor, DTYPES[precision])

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.precision):
            features: dict[str, torch.Tensor] = self.extractor(image)
        return features


#: Layers whose weights autocast casts to the reduced dtype on every call.
AUTOCAST_CAST_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def cast_autocast_weights(module: nn.Module, dtype: torch.dtype) -> None:
    """Store the weights and biases of ``module``'s convolutions and linear layers in
    ``dtype``, once, in place.

    ``torch.autocast`` casts them to ``dtype`` anyway, but caches the cast only for leaf
    tensors that require grad: a frozen loss network's weights were cast again on every
    forward (20 M values for VGG19 to relu5_1, each Gatys step). The numbers the
    convolutions see are the same (round to nearest even, as autocast does).
    """
    for layer in module.modules():
        if isinstance(layer, AUTOCAST_CAST_LAYERS) and not any(
            p.requires_grad for p in layer.parameters(recurse=False)
        ):
            layer.to(dtype)


def prepare_extractor(
    extractor: nn.Module, device: torch.device, precision: str
) -> MixedPrecisionExtractor:
    """Move ``extractor`` to ``device`` and wrap it for ``precision`` (already resolved).

    In place: the module itself moves, turns channels-last and, below fp32, stores its
    frozen convolution weights in the reduced dtype (:func:`cast_autocast_weights`), so
    give it a module of its own (``Backbone.extractor`` builds one per call; its layers
    are the backbone's, so that backbone is not for another precision afterwards)."""
    return MixedPrecisionExtractor(
        extractor.to(device), device, precision, use_channels_last(device, precision)
    )


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise StylelabError("--device cuda: no CUDA device is available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise StylelabError("--device mps: no MPS device is available")
    return torch.device(name)


def check_device(device: str, precision: str) -> None:
    """Refuse, before any work, a device this machine lacks or a precision it cannot run
    there: the checks a run makes first, for callers that start it later (the web app)."""
    resolve_precision(precision, resolve_device(device))


def environment(device: torch.device) -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }

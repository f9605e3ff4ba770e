"""Documented bounds on what one run may ask for, and a memory estimate, checked before work.

Light on purpose (no torch import at module level): :mod:`stylelab.config` validates every
:class:`~stylelab.config.StylizeConfig` against these bounds at construction, and the
command line builds its parser without torch.

Memory: :func:`estimate_stylize_bytes` is a rough upper estimate of the extra memory one
``stylize`` run takes (on top of the Python process with torch loaded),

    bytes = SAFETY * (MODEL_BYTES[f] + P_c * (ACTIVATION_BPP[f] + OPTIMIZER_BPP[o])
                      + P_s * STYLE_BPP[f])

with P_c the pixels of the content at ``--size`` (the last, largest stage; times the batch
when several images are optimized together, e.g. the two views of a stereo pair), P_s the pixels
of all style images at ``--size * --style-scale``, f the backbone's family and o the
optimizer. The factors were measured for vgg19 and resnet50 (see :data:`MEASURED`).
L-BFGS keeps ``history_size`` = 50 pairs of image-sized vectors, 2 x 50 x 3 x 4 B =
1200 B per pixel, half the activations' cost again. :func:`check_memory` refuses a run
whose estimate exceeds :func:`available_memory_bytes` in one line naming the largest
``--size`` that would fit; :func:`check_evaluate_memory` does the same for ``evaluate``
(EVALUATE_BPP per output pixel). ``STYLELAB_NO_MEMORY_CHECK=1`` skips both checks.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stylelab.allocator import kept_bytes
from stylelab.errors import StylelabError

# --- bounds (each: the value and the reason) ------------------------------------------

#: Smallest edge: the backbones need 16 px at their input (VGG's relu5_1 has stride 16).
MIN_SIZE = 16
#: Longest edge of a stylize run: one VGG19 conv1 map at 8192^2 is 64 x 8192^2 x 4 B =
#: 17 GB, and a forward+backward pass needs ~40 of them (~170 GB), more than any one
#: GPU or workstation holds; beyond it no machine could run even one step.
MAX_SIZE = 8192
#: The style image's edge is round(size * style_scale), which must also stay <= MAX_SIZE;
#: a style 16 times the output's size already paints strokes smaller than a pixel.
MAX_STYLE_SCALE = 16.0
#: 100000 evaluations is hours even at 128 px; the documented runs (docs/) use 300-1000.
MAX_STEPS = 100_000
#: 0 <= seed < 2**63: fits a signed 64-bit integer (TOML, JSON readers, numpy) and lies
#: in torch.manual_seed's accepted range [-2**63, 2**64 - 1] (torch 2.14).
MAX_SEED = 2**63 - 1
#: Loss weights (alpha, beta, gamma, per-layer and blend weights) are relative: the
#: normalized terms are O(1), so 1e12 keeps weight x loss and the L-BFGS curvature
#: products (~ squared gradients) far below float32's overflow at 3.4e38.
MAX_WEIGHT = 1e12
#: Learning rates: pixels live in [0, 1] (the defaults are 0.005 to 20); a step of 1e6
#: already saturates every pixel, and larger ones only risk inf in the optimizer state.
MAX_LR = 1e6
#: Softmax temperature T: exp(F / T) is one-hot below 1e-6 and flat above 1e6 (both
#: leave no gradient), and F / T stays finite in float32 inside these bounds.
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-6, 1e6
#: Smoothing factor A: without normalized losses the content loss scales as A^2 and the
#: style loss as A^4, which underflow (A < 1e-6) or overflow (A > 1e3) float32 outside.
MIN_SMOOTHING_SCALE, MAX_SMOOTHING_SCALE = 1e-6, 1e3
#: Comma-separated lists (layers, weights, blends): no backbone has 64 loss layers worth
#: naming, and 64 style images is already far past a useful blend.
MAX_LIST_LENGTH = 64
#: Coarse-to-fine stages: halving from MAX_SIZE down to 32 px is 9 stages.
MAX_SCALES = 10
#: Strings (backbone names, paths for --weights/--init): PATH_MAX on Linux.
MAX_TEXT_LENGTH = 4096
#: ``--weights`` by name (anything else is a PATH to a state dict): here, below both
#: :mod:`stylelab.config` and :mod:`stylelab.backbones.weights`, so neither imports the other.
WEIGHT_KEYWORDS = ("pretrained", "torchvision", "random")

# --- memory ----------------------------------------------------------------------------

GB = 1e9

#: Measured extra peak RSS, in MB = 2**20, of one fp32 CPU run (Adam, 2 steps,
#: --no-multiscale, random weights; AMD EPYC, torch 2.14, 2 threads) over the process after
#: importing torch and building the backbone: ``{(family, content px, style px): MB}``.
MEASURED: dict[tuple[str, int, int], int] = {
    ("vgg", 256, 256): 276,
    ("vgg", 512, 512): 738,
    ("vgg", 768, 768): 1561,
    ("vgg", 256, 512): 353,
    ("vgg", 512, 128): 722,
    ("resnet", 256, 256): 353,
    ("resnet", 512, 512): 869,
    ("resnet", 768, 768): 1580,
    ("resnet", 256, 512): 411,
    ("resnet", 512, 128): 879,
}
#: With L-BFGS's history full (60 steps) at vgg 256/256: 383 MB (the estimate: 572 MB).
#: Least squares of MB = I + a P_c + b P_s over MEASURED gives, for vgg (vgg19), I = 130 MB,
#: a = 2293 B/px, b = 244 B/px; for resnet (resnet50), I = 250 MB, a = 2448 B/px, b ~ 0
#: (the style's forward pass is freed before the content's backward), within 13 %.
#: Bytes per content pixel: the activations kept for the backward pass and their gradients.
ACTIVATION_BPP = {"vgg": 2300, "resnet": 2500, "other": 4000}
#: Bytes per style pixel: the style's features at the loss layers, kept until its Grams.
STYLE_BPP = {"vgg": 300, "resnet": 300, "other": 600}
#: Fixed cost (weights, allocator and thread workspaces): the fits' intercepts, rounded up.
MODEL_BYTES = {"vgg": 200 * 2**20, "resnet": 300 * 2**20, "other": 1024 * 2**20}
#: Optimizer state per image pixel: L-BFGS keeps 50 (s, y) pairs of 3-channel float32
#: vectors plus ~4 work vectors; the others keep at most two moment buffers and the grad.
OPTIMIZER_BPP = {"lbfgs": (2 * 50 + 4) * 12, "other": 4 * 12}
#: evaluate(): bytes per output pixel, measured as above for the reference VGG19 (1824
#: and 1833 B/px between 256, 512 and 1024 px, no intercept), rounded up.
EVALUATE_BPP = 2000
#: Over the fits' worst error (13 %), allocator fragmentation and thread buffers.
SAFETY = 1.25

#: Backbones whose factors were measured (vgg19, resnet50) or are bounded by them (vgg16
#: is VGG19 with fewer layers; the ResNets up to 50 layers have resnet50's widths or less).
#: Every other network (deeper ResNets, wide ones, the torchvision zoo) gets "other".
FAMILIES = {
    "vgg19": "vgg",
    "vgg16": "vgg",
    "resnet18": "resnet",
    "resnet34": "resnet",
    "resnet50": "resnet",
    "noresnet50": "resnet",
    "resnet50_preact_skip": "resnet",
}


def backbone_family(name: str) -> str:
    """``vgg``, ``resnet`` or ``other`` (unmeasured networks get the largest factors)."""
    return FAMILIES.get(name, "other")


def long_edge_shape(shape: Sequence[int], long_edge: int) -> tuple[int, int]:
    """(H, W) after :func:`stylelab.images.resize_long_edge` to ``long_edge``, no pixels moved."""
    height, width = int(shape[-2]), int(shape[-1])
    scale = long_edge / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def estimate_stylize_bytes(
    config: Any, content_hw: Sequence[int], style_hws: Sequence[Sequence[int]], batch: int = 1
) -> int:
    """Rough upper estimate of the extra peak memory of one run (see the module docstring).

    ``content_hw`` and ``style_hws`` are the shapes of the sources as given; they are
    resized to ``config.size`` and ``config.size * config.style_scale`` here. ``batch``
    images of the content's shape are optimized together (activations and optimizer state
    per image; the model and the style targets once).
    """
    family = backbone_family(config.backbone)
    height, width = long_edge_shape(content_hw, config.size)
    style_edge = max(MIN_SIZE, round(config.size * config.style_scale))
    style_pixels = 0
    for hw in style_hws:
        style_height, style_width = long_edge_shape(hw, style_edge)
        style_pixels += style_height * style_width
    per_pixel = ACTIVATION_BPP[family] + OPTIMIZER_BPP.get(config.optimizer, OPTIMIZER_BPP["other"])
    content_pixels = batch * height * width
    total = MODEL_BYTES[family] + content_pixels * per_pixel + style_pixels * STYLE_BPP[family]
    return int(SAFETY * total)


def available_memory_bytes(device: Any = None) -> int | None:
    """Memory a run may still take: free memory of a CUDA ``device`` (torch.cuda.mem_get_info),
    else MemAvailable from /proc/meminfo (capped by a cgroup v2 memory.max), else
    os.sysconf's available pages, plus the freed memory this process keeps
    (:func:`stylelab.allocator.kept_bytes`); None when none of them is known."""
    if getattr(device, "type", device) == "cuda":
        import torch

        try:
            free, _ = torch.cuda.mem_get_info(device)
            # plus what torch's caching allocator holds but no tensor uses
            cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
            return int(free + max(0, cached))
        except (RuntimeError, AssertionError, ValueError):
            return None
    found = _meminfo_available()
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    # freed memory this process keeps for its next steps (stylelab.allocator) is ours too
    kept = kept_bytes()
    limit = _cgroup_room()
    return found + kept if limit is None else min(found, limit) + kept


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """memory.max minus the working set (memory.current less the reclaimable
    inactive_file cache) of a cgroup v2 with a limit; None when unlimited or unknown."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((root / "memory.current").read_text().strip())
        for line in (root / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "inactive_file":
                used -= int(value)
        return max(0, int(limit) - max(0, used))
    except (OSError, ValueError):
        return None


def check_memory(
    config: Any,
    content_hw: Sequence[int],
    style_hws: Sequence[Sequence[int]],
    device: Any = None,
    *,
    batch: int = 1,
    tiles: bool = True,
) -> None:
    """Refuse, in one line that says what would fit, a run whose estimate exceeds what the
    machine (or the CUDA device) has available. Unknown availability passes. ``batch``:
    images of the content's shape optimized together; ``tiles``: whether the caller
    offers ``--tile`` (the refusal names it)."""

    def estimate(size: int, optimizer: str = config.optimizer) -> int:
        sized = _Sized(config, size, optimizer)
        return estimate_stylize_bytes(sized, content_hw, style_hws, batch)

    hint = ""
    if config.optimizer == "lbfgs":
        hint = " (or --optimizer adam, which keeps no 50-image history)"
    try:
        _check_fits(
            config.size, estimate, device, lambda size, room: estimate(size, "adam") <= room, hint
        )
    except StylelabError as exc:  # name the way to keep the size: tiles
        if not tiles:
            raise
        raise StylelabError(
            f"{exc}; or keep --size {config.size} with --tile auto (the large scales "
            "optimized tile by tile)"
        ) from None


def estimate_evaluate_bytes(size: int, output_hw: Sequence[int]) -> int:
    """Rough upper estimate of the extra peak memory of :func:`stylelab.evaluate.evaluate`:
    SAFETY * EVALUATE_BPP * pixels of the output at ``size`` (no gradients: the features of
    the output and the content are kept, the rest of a forward pass is transient)."""
    height, width = long_edge_shape(output_hw, size)
    return int(SAFETY * EVALUATE_BPP * height * width)


def check_evaluate_memory(size: int, output_hw: Sequence[int]) -> None:
    """:func:`check_memory` for evaluate's reference network (on the CPU)."""
    _check_fits(size, lambda edge: estimate_evaluate_bytes(edge, output_hw), None)


def _check_fits(
    size: int,
    estimate: Callable[[int], int],
    device: Any,
    alternative: Callable[[int, int], bool] | None = None,
    hint: str = "",
) -> None:
    """The one-line refusal when ``estimate(size)`` exceeds the available memory: the
    largest --size that fits, and ``hint`` when ``alternative(size, available)`` holds."""
    if os.environ.get("STYLELAB_NO_MEMORY_CHECK", "") not in ("", "0"):
        return
    available = available_memory_bytes(device)
    if available is None:
        return
    needed = estimate(size)
    if needed <= available:
        return
    where = "this GPU has" if getattr(device, "type", device) == "cuda" else "this machine has"
    fit = largest_fitting_size(estimate, size, available)
    if fit is None:
        advice = f"even --size {MIN_SIZE} would not fit"
    else:
        advice = f"--size {fit} or less would fit"
        if alternative is not None and alternative(size, available):
            advice += hint
    raise StylelabError(
        f"--size {size} needs about {format_bytes(needed)}; {where} "
        f"{format_bytes(available)} available: {advice}"
    )


#: Fast networks: extra bytes per pixel of one stylized image (banded inference keeps
#: whole-image norms; a 4096 px photo stays under 2.5 GB RSS, tests/test_fast_apply.py).
FAST_APPLY_BPP = 200
#: Fast training: bytes per training pixel (batch x crop^2): the loss network's forward and
#: backward plus the transformer's; 256 px x batch 4 peaks at 2.1 GB RSS on this machine.
FAST_TRAIN_BPP = 5000


def check_bytes(needed: float, what: str, advice: str, device: Any = None) -> None:
    """Refuse in one line when ``needed`` bytes exceed the memory available:
    ``WHAT needs about 40 GB; this machine has 21 GB available: ADVICE``."""
    if os.environ.get("STYLELAB_NO_MEMORY_CHECK", "") not in ("", "0"):
        return
    available = available_memory_bytes(device)
    if available is None or needed <= available:
        return
    where = "this GPU has" if getattr(device, "type", device) == "cuda" else "this machine has"
    raise StylelabError(
        f"{what} needs about {format_bytes(needed)}; {where} {format_bytes(available)} "
        f"available: {advice}"
    )


def memory_room(device: Any = None) -> float:
    """The bytes available (infinite when unknown or the check is off)."""
    if os.environ.get("STYLELAB_NO_MEMORY_CHECK", "") not in ("", "0"):
        return math.inf
    available = available_memory_bytes(device)
    return math.inf if available is None else float(available)


def largest_fitting_size(estimate: Callable[[int], int], size: int, available: int) -> int | None:
    """The largest --size below ``size`` (a multiple of 16 from 64 px on) whose
    ``estimate`` fits in ``available`` bytes, or None (the estimate grows with the size)."""
    if estimate(MIN_SIZE) > available:
        return None
    low, high = MIN_SIZE, size  # fits at low, not at high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if estimate(middle) <= available else (low, middle)
    return low - low % 16 if low >= 64 else low


class _Sized:
    """``config`` with another size and optimizer (no validation: read by the estimate)."""

    def __init__(self, config: Any, size: int, optimizer: str) -> None:
        self._config, self.size, self.optimizer = config, size, optimizer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._config, name)


def format_bytes(count: float) -> str:
    """``95 GB``, ``2.5 GB``, ``0.3 GB``, ``48 MB``, ``10 kB`` (decimal units, as free/df -H
    print them): gigabytes from 0.1 GB, smaller counts in MB or kB, never ``0.0 GB``."""
    value = count / GB
    if value >= 0.1:
        return f"{value:.0f} GB" if value >= 10 else f"{value:.1f} GB"
    if count >= 1e6:
        return f"{count / 1e6:.0f} MB"
    return f"{max(count / 1e3, 1):.0f} kB"


# --- one-line values in messages --------------------------------------------------------


def show(value: object, limit: int = 80) -> str:
    """repr(value) for a one-line message: never a line break (repr escapes them in
    strings; other reprs are escaped here), never over ``limit`` characters, never an
    exception (an int past Python's 4300-digit str limit is described by its size)."""
    try:
        text = repr(value)
    except ValueError:  # an int past the digit limit (alone or inside a container)
        text = (
            f"an integer of {value.bit_length()} bits"
            if isinstance(value, int)
            else f"<{type(value).__name__}>"
        )
    except Exception:  # a user object with a broken __repr__
        text = f"<{type(value).__name__}>"
    if not text.isprintable():
        text = "".join(
            c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
        )
    if len(text) > limit:
        text = f"{text[: limit - 3]}..."
    return text


def is_real(value: object) -> bool:
    """An int or float (or numpy's, or a Fraction), not a bool: what numeric options take."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def as_float(value: object) -> float | None:
    """float(value) for a real number (huge ints included: they become inf), else None."""
    if not is_real(value):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int (or Fraction) beyond float's range
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]
    except (TypeError, ValueError):
        return None


def in_range(value: object, low: float, high: float, *, open_low: bool = False) -> bool:
    """A finite real number within [low, high] (or (low, high] with ``open_low``)."""
    number = as_float(value)
    if number is None or not math.isfinite(number):
        return False
    return (low < number if open_low else low <= number) and number <= high

"""The settings of ``stylelab train-instant`` (no torch here: the CLI reads its defaults).

:class:`InstantTrainConfig` is what :func:`stylelab.adain.training.train_instant` takes;
its field defaults are the command's defaults, written once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from stylelab.errors import StylelabError
from stylelab.fast.config import BUILTIN_PHOTOS, MAX_TEMPORAL_WEIGHT
from stylelab.limits import MAX_SEED, in_range, show

MAX_STEPS = 10_000_000
#: The decoder designs (:data:`stylelab.adain.nets.DESIGNS` has their layers).
DESIGN_NAMES = ("adain3", "adain4")


@dataclass(frozen=True)
class InstantTrainConfig:
    """What to train on and for how long."""

    styles: tuple[str, ...]
    data: str = BUILTIN_PHOTOS
    design: str = "adain3"
    crop: int = 128
    batch_size: int = 8
    steps: int = 2000
    lr: float = 1e-3
    style_weight: float = 2.0
    temporal_weight: float = 0.0  # lambda of the warp-consistency term (fast.temporal); 0: off
    content_crops: int = 256
    style_variants: int = 256
    procedural: int = 0
    style_edge: int = 512
    seed: int = 0
    max_minutes: float | None = None
    checkpoint_every: int = 100
    precision: str = "bf16"

    def __post_init__(self) -> None:
        checks = [
            (self.design in DESIGN_NAMES, f"--design: choose from {', '.join(DESIGN_NAMES)}"),
            (64 <= self.crop <= 1024, "--crop must be 64..1024"),
            (1 <= self.batch_size <= 256, "--batch-size must be 1..256"),
            (
                1 <= self.steps <= MAX_STEPS,
                f"--steps must be 1..{MAX_STEPS}, got {show(self.steps)}",
            ),
            (0 <= self.seed <= MAX_SEED, f"--seed must be 0..2**63-1, got {show(self.seed)}"),
            (math.isfinite(self.lr) and 0 < self.lr <= 1, "--lr must be in (0, 1]"),
            (
                math.isfinite(self.style_weight) and 0 <= self.style_weight <= 1e6,
                "--style-weight must be finite, 0..1e6",
            ),
            (
                in_range(self.temporal_weight, 0.0, MAX_TEMPORAL_WEIGHT),
                "--temporal-weight must be a finite number from 0 (off) to "
                f"{MAX_TEMPORAL_WEIGHT:g}, got {show(self.temporal_weight)}",
            ),
            (1 <= self.content_crops <= 100_000, "--content-crops must be 1..100000"),
            (1 <= self.style_variants <= 100_000, "--style-variants must be 1..100000"),
            (0 <= self.procedural <= 1000, "--procedural must be 0..1000"),
            (64 <= self.style_edge <= 4096, "--style-edge must be 64..4096"),
            (self.precision in ("fp32", "bf16"), "--precision: fp32 or bf16"),
            (
                self.max_minutes is None
                or (math.isfinite(self.max_minutes) and self.max_minutes > 0),
                "--max-minutes must be a positive number",
            ),
            (self.checkpoint_every >= 1, "--checkpoint-every must be at least 1"),
            (bool(self.styles) or self.procedural > 0, "give at least one style (or --procedural)"),
        ]
        for ok, message in checks:
            if not ok:
                raise StylelabError(message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

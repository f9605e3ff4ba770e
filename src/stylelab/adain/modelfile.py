"""Instant-style model files: a decoder's weights in safetensors (fp16) with metadata.

Metadata: ``format = "stylelab-instant"``, ``format_version``, ``design`` (a key of
:data:`stylelab.adain.nets.DESIGNS`), ``training`` (JSON of the settings) and ``card``
(JSON: data, steps, minutes, machine, measured quality). Reading goes through
:func:`stylelab.fast.modelfile.read_safetensors`, so nothing is ever unpickled, and every
problem (missing, damaged, another kind of model, NaN weights) is one line.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from stylelab.adain import SHIPPED
from stylelab.adain.nets import DESIGNS, Decoder
from stylelab.adain.trainconfig import MAX_STEPS
from stylelab.errors import StylelabError
from stylelab.fast.modelfile import (
    check_resumable_step,
    read_rows,
    read_safetensors,
    restore_checkpoint,
)
from stylelab.safety import as_path, atomic_path

FORMAT = "stylelab-instant"
FORMAT_VERSION = "1"
CHECKPOINT_FORMAT = "stylelab-instant-checkpoint"


@dataclass
class InstantModel:
    """A decoder and what is known about it."""

    decoder: Decoder
    path: str
    training: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def design(self) -> str:
        return self.decoder.design.name


def _version() -> str:
    from stylelab import __version__

    return __version__


def save_decoder(
    decoder: Decoder,
    path: str | os.PathLike,
    *,
    training: dict[str, Any],
    card: dict[str, Any],
) -> Path:
    """Write the decoder (fp16 weights, fp32 input scale) and its metadata atomically."""
    from safetensors.torch import save

    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "design": decoder.design.name,
        "training": json.dumps(training, default=str),
        "card": json.dumps(card, default=str),
        "stylelab_version": _version(),
    }
    tensors = {
        name: value.detach()
        .cpu()
        .to(torch.float32 if name == "input_scale" else torch.float16)
        .contiguous()
        for name, value in decoder.state_dict().items()
    }
    out = Path(path)
    with atomic_path(out) as tmp:
        tmp.write_bytes(save(tensors, metadata=metadata))
    return out


def load_decoder(path: str | os.PathLike | None = None) -> InstantModel:
    """Read a model written by :func:`save_decoder` (default: the shipped one)."""
    source = SHIPPED if path is None else as_path(path, "model")
    if path is None and not SHIPPED.is_file():
        raise StylelabError(f"the shipped instant model is missing ({SHIPPED}); reinstall stylelab")
    tensors, metadata = read_safetensors(source, "stylelab instant model (.safetensors)")
    kind = metadata.get("format")
    if kind != FORMAT:
        other = (
            " (a fast model of 'stylelab train': use 'stylelab apply')"
            if kind == "stylelab-fast"
            else ""
        )
        raise StylelabError(f"{source}: not a stylelab instant model{other}")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise StylelabError(
            f"{source}: instant model format version {metadata.get('format_version')!r}; this "
            f"stylelab reads version {FORMAT_VERSION}"
        )
    design = metadata.get("design", "")
    if design not in DESIGNS:
        raise StylelabError(f"{source}: unknown instant design {design!r}")
    try:
        training = json.loads(metadata.get("training", "{}"))
        card = json.loads(metadata.get("card", "{}"))
    except (ValueError, RecursionError):
        raise StylelabError(f"{source}: damaged metadata (training or card)") from None
    from stylelab.backbones.weights import untouched_rng

    with untouched_rng():  # the file's weights replace the initial ones
        decoder = Decoder(design)
    expected = decoder.state_dict()
    wrong = sorted(set(expected) ^ set(tensors)) or [
        k for k in expected if tensors[k].shape != expected[k].shape
    ]
    if wrong:
        raise StylelabError(f"{source}: weights do not fit the {design} decoder (e.g. {wrong[0]})")
    for name, value in tensors.items():
        if not value.is_floating_point() or not bool(value.float().isfinite().all()):
            raise StylelabError(
                f"{source}: weight tensor {name} is damaged (NaN, inf or not float)"
            )
    if float(tensors["input_scale"]) <= 0:
        raise StylelabError(f"{source}: damaged input scale")
    decoder.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    decoder.eval().requires_grad_(False)
    return InstantModel(
        decoder,
        str(source),
        training if isinstance(training, dict) else {},
        card if isinstance(card, dict) else {},
    )


#: Settings a resumed run must share with the run it continues.
RESUME_KEYS = (
    "styles",
    "data",
    "design",
    "crop",
    "batch_size",
    "lr",
    "style_weight",
    "temporal_weight",
    "seed",
    "content_crops",
    "style_variants",
    "procedural",
    "style_edge",
    "precision",
)


def load_checkpoint(
    path: Path, decoder: Decoder, optimizer: torch.optim.Optimizer, config: Any
) -> tuple[int, float, list[dict[str, Any]]]:
    """Restore a checkpoint (:func:`stylelab.fast.modelfile.save_checkpoint`) into
    ``decoder`` and ``optimizer``; its step, elapsed time and the rows of ``train.csv`` beside
    it up to that step. Any damage is one line."""
    if not path.exists():
        raise StylelabError(f"--resume: no checkpoint at {path} (train without --resume first)")
    tensors, metadata = read_safetensors(path, "stylelab instant training checkpoint")
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise StylelabError(f"{path}: not a stylelab instant training checkpoint")
    try:
        saved = json.loads(metadata.get("training", "{}"))
        if not isinstance(saved, dict):
            raise ValueError("training settings are not a table")
        mine = json.loads(json.dumps(config.to_dict(), default=str))
        saved.setdefault("temporal_weight", 0.0)  # from before the term: trained without
        different = [k for k in RESUME_KEYS if saved.get(k) != mine.get(k)]
        if different:
            raise StylelabError(
                f"--resume: the checkpoint was trained with other settings ({', '.join(different)})"
            )
        step, elapsed = restore_checkpoint(decoder, optimizer, tensors, metadata)
        check_resumable_step(step, config.steps, MAX_STEPS)
        for group in optimizer.param_groups:
            if not 0 < float(group["lr"]) <= 1e6 or not math.isfinite(float(group["eps"])):
                raise ValueError("optimizer settings out of range")
        rows = read_rows(path.parent / "train.csv", step)
    except StylelabError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, RecursionError, RuntimeError) as exc:
        raise StylelabError(
            f"{path}: damaged checkpoint ({type(exc).__name__}); remove it to start again"
        ) from None
    if not 0 <= step <= config.steps or not math.isfinite(elapsed) or elapsed < 0:
        raise StylelabError(f"{path}: damaged checkpoint (step {step}, time {elapsed})")
    return step, elapsed, rows

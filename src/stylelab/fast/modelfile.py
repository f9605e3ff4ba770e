"""Model files: safetensors weights plus metadata; reading one never unpickles anything.

A stylelab fast model is a ``.safetensors`` file whose string metadata holds
``format = "stylelab-fast"``, ``format_version``, ``architecture``, ``styles`` (JSON list
of names, in the order given to ``train``), ``training`` (JSON of the settings) and
``stylelab_version``. Training checkpoints are safetensors files too (network, optimizer
moments, step), so no file that stylelab writes or reads for fast models is a pickle.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from stylelab.errors import StylelabError
from stylelab.fast.metadata import safetensors_metadata, style_names
from stylelab.fast.nets import ARCHITECTURES, TransformerNet
from stylelab.safety import atomic_path, check_input_file

FORMAT = "stylelab-fast"
FORMAT_VERSION = "1"
CHECKPOINT_FORMAT = "stylelab-fast-checkpoint"


@dataclass
class ModelRecord:
    """A network and what is known about it: architecture, style names, training settings."""

    net: TransformerNet
    styles: list[str]
    training: dict[str, Any] = field(default_factory=dict)
    stylelab_version: str = ""

    @property
    def architecture(self) -> str:
        return self.net.architecture


def _version() -> str:
    from stylelab import __version__

    return __version__


def save_model(
    net: TransformerNet, styles: list[str], training: dict[str, Any], path: str | os.PathLike
) -> Path:
    """Write ``net`` (fp32 weights) and its metadata to ``path`` atomically."""
    from safetensors.torch import save

    if len(styles) != net.styles:
        raise ValueError(f"{len(styles)} style names for a network of {net.styles} styles")
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": net.architecture,
        "styles": json.dumps(styles),
        "training": json.dumps(training, default=str),
        "stylelab_version": _version(),
    }
    tensors = {k: v.detach().float().contiguous().cpu() for k, v in net.state_dict().items()}
    out = Path(path)
    with atomic_path(out) as tmp:
        tmp.write_bytes(save(tensors, metadata=metadata))
    return out


def read_safetensors(path: str | os.PathLike, what: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and metadata of a safetensors file, or a one-line error naming ``what``
    was expected (a pickle, a truncated file or any other format is refused unread)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = check_input_file(path, "model file")
    metadata = safetensors_metadata(file, what)  # bounded before anything parses it
    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StylelabError(f"{file}: not a readable {what} ({reason})") from None
    return tensors, metadata


def load_model(path: str | os.PathLike) -> ModelRecord:
    """Read a model file written by :func:`save_model`; anything else is a one-line error."""
    tensors, metadata = read_safetensors(path, "stylelab model (.safetensors)")
    if metadata.get("format") != FORMAT:
        raise StylelabError(
            f"{path}: a safetensors file, but not a stylelab fast model (no '{FORMAT}' metadata)"
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise StylelabError(
            f"{path}: model format version {metadata.get('format_version')!r}; this stylelab "
            f"reads version {FORMAT_VERSION}"
        )
    architecture = metadata.get("architecture", "")
    if architecture not in ARCHITECTURES:
        raise StylelabError(f"{path}: unknown architecture {architecture!r}")
    styles = style_names(metadata.get("styles"), path)
    try:
        training = json.loads(metadata.get("training", "{}"))
    except (ValueError, RecursionError):
        raise StylelabError(f"{path}: damaged metadata (styles or training)") from None
    net = TransformerNet(architecture, len(styles))
    expected = net.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    reshaped = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    if missing or unexpected or reshaped:
        problems = [
            f"{len(keys)} {what} (e.g. {keys[0]})"
            for keys, what in (
                (missing, "tensors missing"),
                (unexpected, "unexpected tensors"),
                (reshaped, "tensors of another shape"),
            )
            if keys
        ]
        raise StylelabError(
            f"{path}: weights do not fit a {architecture} model of {len(styles)} styles: "
            + ", ".join(problems)
        )
    odd = [
        k
        for k, v in tensors.items()
        if v.dtype not in (torch.float32, torch.float16, torch.bfloat16)
    ]
    if odd:
        raise StylelabError(
            f"{path}: weight tensor {odd[0]} is {tensors[odd[0]].dtype}, not floating point; "
            "the model is damaged"
        )
    broken = [k for k, v in tensors.items() if not v.isfinite().all()]
    if broken:
        raise StylelabError(
            f"{path}: {len(broken)} weight tensors hold NaN or infinite values (e.g. "
            f"{broken[0]}); the model is damaged"
        )
    net.load_state_dict(tensors, strict=True)
    net.eval().requires_grad_(False)
    return ModelRecord(
        net,
        styles,
        training if isinstance(training, dict) else {},
        metadata.get("stylelab_version", ""),
    )


def save_checkpoint(
    path: str | os.PathLike,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    elapsed: float,
    training: dict[str, Any],
    kind: str = CHECKPOINT_FORMAT,
) -> None:
    """A training checkpoint (``net.*`` weights, ``opt.*`` optimizer moments, step, time,
    settings) as one safetensors file, written atomically; ``kind`` is its format name."""
    from safetensors.torch import save

    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    state = optimizer.state_dict()
    for index, entry in state["state"].items():
        for key, value in entry.items():
            tensors[f"opt.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    metadata = {
        "format": kind,
        "step": str(step),
        "elapsed_s": repr(elapsed),
        "param_groups": json.dumps(state["param_groups"]),
        "training": json.dumps(training, default=str),
    }
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(save(tensors, metadata=metadata))


def check_resumable_step(step: int, steps: int, max_steps: int) -> None:
    """One line when a checkpoint is already past ``--steps`` but within what ``--steps``
    may be (``max_steps``: beyond it the checkpoint is damaged, which the caller says)."""
    if steps < step <= max_steps:
        raise StylelabError(
            f"--resume: the checkpoint is at step {step}, past --steps {steps}: give --steps "
            f"{step + 1} or more to train on from it (it is kept)"
        )


def restore_checkpoint(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    metadata: dict[str, str],
) -> tuple[int, float]:
    """Load a checkpoint's weights and optimizer state (from :func:`read_safetensors`);
    its step and elapsed seconds. Damage raises ValueError, KeyError or RuntimeError."""
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    state: dict[str, Any] = {"state": {}, "param_groups": json.loads(metadata["param_groups"])}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            state["state"].setdefault(int(index), {})[name] = value
    _check_moments(optimizer, state["state"], tensors)
    optimizer.load_state_dict(state)
    return int(metadata["step"]), float(metadata["elapsed_s"])


def _check_moments(
    optimizer: torch.optim.Optimizer,
    moments: dict[int, dict[str, torch.Tensor]],
    tensors: dict[str, torch.Tensor],
) -> None:
    """Every saved tensor finite, and every moment of parameter i shaped like it (a
    mismatch would fail only at the next step, deep inside Adam)."""
    broken = [k for k, v in tensors.items() if v.is_floating_point() and not v.isfinite().all()]
    if broken:
        raise ValueError(f"{broken[0]} holds NaN or infinite values")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, saved in moments.items():
        if not 0 <= index < len(params):
            raise ValueError(f"optimizer state for parameter {index} of {len(params)}")
        for name, value in saved.items():
            if value.ndim and value.shape != params[index].shape:
                raise ValueError(
                    f"optimizer state opt.{index}.{name} of shape {tuple(value.shape)} for a "
                    f"parameter of shape {tuple(params[index].shape)}"
                )


def read_rows(path: str | os.PathLike, step: int) -> list[dict[str, Any]]:
    """The rows of a training log (train.csv) up to ``step``: a resumed run appends to them."""
    import csv

    if not os.path.exists(path):
        return []
    with open(path, newline="") as handle:
        rows: list[dict[str, Any]] = [
            {k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)
        ]
    for row in rows:
        row["step"] = int(row["step"])
    return [row for row in rows if row["step"] <= step]

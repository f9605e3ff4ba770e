"""Train a transformer network so that one forward pass stylizes (Johnson et al. 2016).

For each step k: a batch of photo crops x (see :mod:`stylelab.fast.data`), each item with
a style s drawn from the styles given, goes through the network, y = T(x, s), and the
loss is the Gatys objective stylelab optimizes pixels with (built by
:func:`stylelab.objective.build_objective`: the same layers, weights, normalization and
SWAG smoothing), with x as y's content target and the style s's Grams as its style
target, averaged over the batch:

    L = 1/B sum_b [alpha content(y_b, x_b) + beta sum_l w_l E_l(y_b, s_b) + gamma TV(y_b)]
        + 1/B L_temp,

L_temp = lambda sum_b mean (T(W(x_b) + n) - W(T(x_b)))^2 for a small random warp W and noise
n (:mod:`stylelab.fast.temporal`; Wang et al. 2020), lambda = ``temporal_weight``.

Adam on the network's weights. Style Grams are computed once per style. Every
``checkpoint_every`` steps, on Ctrl-C and at the end, the model file and a checkpoint
(network, optimizer moments, step, elapsed time) are written atomically; ``resume``
continues from the checkpoint and gives the same model as a run that was never stopped,
because batch k is a function of (seed, k, rank) alone.

Distributed: under ``torchrun`` (``WORLD_SIZE`` > 1) the network is wrapped in
DistributedDataParallel (gloo on CPU, NCCL on CUDA), each rank draws its batches from its
own shard of the photos, and rank 0 alone writes files.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from stylelab.errors import StylelabError
from stylelab.fast import data as fastdata
from stylelab.fast.config import MAX_TRAIN_STEPS, TrainConfig
from stylelab.fast.modelfile import (
    CHECKPOINT_FORMAT,
    check_resumable_step,
    read_rows,
    read_safetensors,
    restore_checkpoint,
    save_checkpoint,
    save_model,
)
from stylelab.fast.nets import TransformerNet, count_parameters
from stylelab.fast.temporal import RESAMPLING, temporal_loss, warped_pair
from stylelab.images import resize_long_edge, save_image
from stylelab.limits import show
from stylelab.records import write_csv, write_json

if TYPE_CHECKING:
    from stylelab.objective import GatysObjective


@dataclass
class TrainResult:
    status: str  # done | time limit | interrupted
    step: int
    model_path: Path | None
    workdir: Path | None
    summary: dict[str, Any]


def workdir_for(output: Path) -> Path:
    """Where a model's training records go: ``<stem>_train/`` beside the model file."""
    return output.with_name(f"{output.stem}_train")


def _env_int(name: str, default: int, low: int, high: int = 999_999) -> int:
    """An integer environment variable (torchrun's), or one line saying it is not one."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdecimal()) or len(text) > 6 or not low <= int(text) <= high:
        raise StylelabError(
            f"${name}={text!r} is not an integer from {low} to {high} (set by torchrun)"
        )
    return int(text)


def training_rank() -> int:
    """This process's rank in a distributed run (torchrun's $RANK), 0 for one process."""
    return _env_int("RANK", 0, 0)


class Distributed:
    """Rank and world size from torchrun's environment; a no-op for one process."""

    def __init__(self, device: torch.device) -> None:
        self.world = _env_int("WORLD_SIZE", 1, 1)
        self.rank = training_rank()
        self.device = device
        if self.rank >= self.world:
            raise StylelabError(f"$RANK={self.rank} is not below $WORLD_SIZE={self.world}")
        if self.world > 1:
            import torch.distributed as dist

            missing = [n for n in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(n)]
            if missing:
                raise StylelabError(
                    f"$WORLD_SIZE={self.world} but ${missing[0]} is not set: start several "
                    "processes with torchrun (torchrun --nproc-per-node N -m stylelab.cli "
                    "train ...), or unset WORLD_SIZE"
                )
            _env_int("MASTER_PORT", 0, 0, 65535)  # torch's own error is an internal one
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, net: nn.Module) -> nn.Module:
        if self.world == 1:
            return net
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(net, device_ids=ids)

    def gather(self, value: Any) -> list[Any]:
        if self.world == 1:
            return [value]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, value)
        return out

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on one (stop together)."""
        if self.world == 1:
            return flag
        import torch.distributed as dist

        tensor = torch.tensor([1 if flag else 0], device=self.device)
        dist.all_reduce(tensor)
        return bool(tensor.item())

    def close(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


@dataclass
class _Session:
    """What one training run works with: its settings, where it writes, the photos, the
    loss, the network and its optimizer."""

    config: TrainConfig
    output: Path
    workdir: Path
    device: torch.device
    dist: Distributed
    every_photo: fastdata.PhotoSet
    photos: fastdata.PhotoSet  # this rank's shard
    style_names: list[str]
    objective: GatysObjective
    sampler: fastdata.Sampler
    net: TransformerNet
    model: nn.Module  # the network, wrapped for DDP under torchrun
    optimizer: torch.optim.Optimizer
    training: dict[str, Any]  # the settings written into the model file and train.json

    @property
    def checkpoint(self) -> Path:
        return self.workdir / "checkpoint.safetensors"


@dataclass
class _Progress:
    """Where the run is: steps done, training time before this process, rows so far."""

    step: int = 0
    elapsed_before: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    status: str = "done"


def train(
    config: TrainConfig,
    output: str | os.PathLike,
    *,
    resume: bool = False,
    progress: bool = False,
) -> TrainResult:
    """Train a model for ``config.styles`` on ``config.data`` and write it to ``output``."""
    started = time.perf_counter()
    session = _start(config, Path(output))
    state = _Progress()
    if resume:
        state.step, state.elapsed_before, state.rows = _load_checkpoint(
            session.checkpoint, session.net, session.optimizer, config, session.workdir
        )
    validation = _validation_image(session.every_photo, config.train_size)
    if session.dist.main:
        session.workdir.mkdir(exist_ok=True)
    _run_steps(session, state, validation, progress)
    return _finish(session, state, validation, started)


def _start(config: TrainConfig, out: Path) -> _Session:
    """Devices and ranks, the photos and styles, the loss and a freshly seeded network."""
    from stylelab.backbones.weights import seeded
    from stylelab.precision import resolve_device, resolve_precision

    loss_cfg = config.loss
    device = resolve_device(loss_cfg.device)
    dist = Distributed(device)
    if device.type == "cuda" and dist.world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        dist.device = device
    precision = resolve_precision(loss_cfg.precision, device)
    every_photo = fastdata.find_photos(config.data)
    photos = every_photo.shard(dist.rank, dist.world)
    style_edge = max(32, round(config.train_size * loss_cfg.style_scale))
    style_images, style_names = fastdata.load_styles(config.styles, style_edge)
    style_names = _unique(style_names)
    sampler = fastdata.Sampler(
        photos, config.train_size, config.batch_size, len(style_names), loss_cfg.seed, dist.rank
    )
    objective = _objective(config, every_photo, style_images, device, precision)
    with seeded(loss_cfg.seed):
        net = TransformerNet(config.architecture, len(style_names)).to(device)
    model = dist.wrap(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    training = {
        **config.to_dict(),
        "style_names": style_names,
        "parameters": count_parameters(net),
        "precision": precision,
        "photos": len(photos) * dist.world,
        "world_size": dist.world,
        "temporal_resampling": temporal_resampling(config.temporal_weight),
    }
    return _Session(
        config,
        out,
        workdir_for(out),
        device,
        dist,
        every_photo,
        photos,
        style_names,
        objective,
        sampler,
        net,
        model,
        optimizer,
        training,
    )


def _check_resampling(saved: dict[str, Any], weight: float) -> None:
    """A checkpoint whose temporal term resampled otherwise is refused; one that does not
    record it (written before 5a934f0: bicubic since f814851, bilinear before) is resumed
    with a warning, since its resampling cannot be known."""
    if weight > 0 and "temporal_resampling" not in saved:
        warnings.warn(
            f"--resume: the checkpoint does not record its warps' resampling; resuming with "
            f"{RESAMPLING} warps (a checkpoint trained before f814851 warped bilinearly: train "
            "that one again without --resume)",
            stacklevel=3,
        )
    elif saved.get("temporal_resampling") != temporal_resampling(weight):
        raise StylelabError(
            "--resume: the checkpoint's temporal term warped with "
            f"{show(saved.get('temporal_resampling'))} resampling, this version's with "
            f"{RESAMPLING} (docs/video.md, 'A sharper target'); the runs would not be one "
            "training: train again without --resume"
        )


def temporal_resampling(weight: float) -> str | None:
    """The warp's resampling as the training record keeps it: None without the term."""
    return RESAMPLING if weight > 0 else None


def _objective(
    config: TrainConfig,
    every_photo: fastdata.PhotoSet,
    style_images: list[torch.Tensor],
    device: torch.device,
    precision: str,
) -> GatysObjective:
    """The Gatys objective against the styles, equal blend. Temperatures and feature
    scales come from batch 0 of all the photos (not of this rank's shard), so every rank
    and every resume optimizes the same loss."""
    from stylelab.objective import build_objective

    network = build_objective(config.loss, device=device, precision=precision)
    backbone = network.backbone
    if config.train_size < backbone.min_size:
        raise StylelabError(
            f"{backbone.name} needs images of at least {backbone.min_size} px: raise --train-size"
        )
    first = fastdata.Sampler(every_photo, config.train_size, config.batch_size, 1, config.loss.seed)
    return network.objective(first.batch(0).images, style_images)


def _run_steps(
    session: _Session, state: _Progress, validation: torch.Tensor, progress: bool
) -> None:
    """Steps until ``config.steps``, the time limit or Ctrl-C (``state.status`` says
    which), with samples and checkpoints on rank 0 as configured."""
    config, dist = session.config, session.dist
    bar = tqdm(
        total=config.steps,
        initial=state.step,
        disable=not (progress and dist.main),
        desc="train",
        unit="step",
    )
    clock = time.perf_counter()
    deadline = None if config.max_minutes is None else config.max_minutes * 60
    try:
        while state.step < config.steps:
            terms = _train_step(session, state.step, state.seen)
            state.step += 1
            elapsed = state.elapsed_before + time.perf_counter() - clock
            row = {"step": state.step, "elapsed_s": round(elapsed, 3)}
            row.update({k: float(v) / config.batch_size for k, v in terms.items()})
            state.rows.append(row)
            _show(bar, row, config.batch_size * dist.world * state.step / max(elapsed, 1e-9))
            if not math.isfinite(row["total"]):
                raise StylelabError(
                    f"the loss became {row['total']} at step {state.step}: lower --lr "
                    f"(now {config.lr})"
                )
            _write_progress(session, state, validation, elapsed)
            if dist.any(deadline is not None and elapsed >= deadline):
                state.status = "time limit"
                break
    except KeyboardInterrupt:
        state.status = "interrupted"
    finally:
        bar.close()
    state.elapsed_before = state.elapsed_before + time.perf_counter() - clock


def _train_step(session: _Session, step: int, seen: set[str]) -> dict[str, torch.Tensor]:
    """One Adam step on batch ``step``: y = T(x, s), L(y; x, s) averaged over the batch,
    plus the warp-consistency term L_temp when ``temporal_weight`` > 0."""
    batch = session.sampler.batch(step)
    seen.update(batch.names)
    images = batch.images.to(session.device)
    count = len(session.style_names)
    weights = nn.functional.one_hot(batch.styles, count).float().to(session.device)
    session.objective.set_content(images)
    stylized = session.model(images, weights)
    total, terms = session.objective(stylized, weights)
    temporal_weight = session.config.temporal_weight
    if temporal_weight > 0:  # L_temp (stylelab.fast.temporal); 0 = the plain step exactly
        pair = warped_pair(images, session.config.loss.seed, step, session.dist.rank)
        temporal = temporal_weight * temporal_loss(
            lambda moved: session.model(moved, weights), stylized, pair
        )
        total = total + temporal
        terms = {**terms, "temporal": temporal.detach(), "total": total.detach()}
    session.optimizer.zero_grad(set_to_none=True)
    (total / session.config.batch_size).backward()
    session.optimizer.step()
    return terms


def _show(bar: Any, row: dict[str, Any], images_per_s: float) -> None:
    bar.update(1)
    bar.set_postfix(loss=f"{row['total']:.4g}", img_s=f"{images_per_s:.2f}", refresh=False)


def _write_progress(
    session: _Session, state: _Progress, validation: torch.Tensor, elapsed: float
) -> None:
    """Rank 0, on schedule: a sample sheet every ``sample_every`` steps, the model, the
    checkpoint and train.csv every ``checkpoint_every`` (the last step writes them anyway)."""
    config, step = session.config, state.step
    if not session.dist.main:
        return
    if step % config.sample_every == 0:
        _sample(session, validation, step)
    if step % config.checkpoint_every == 0 and step < config.steps:
        _checkpoint(session, state, elapsed)


def _checkpoint(session: _Session, state: _Progress, elapsed: float) -> None:
    """The model file, the checkpoint and train.csv as of ``state.step``."""
    _save_all(
        session.net,
        session.optimizer,
        session.style_names,
        session.training,
        session.output,
        session.checkpoint,
        state.step,
        elapsed,
    )
    write_csv(state.rows, session.workdir / "train.csv")


def _sample(session: _Session, validation: torch.Tensor, step: int) -> None:
    """The validation photo and its stylizations, as ``samples/step_<step>.png``."""
    folder = session.workdir / "samples"
    _write_sheet(session.net, validation, session.style_names, folder, step, session.device)


def _finish(
    session: _Session, state: _Progress, validation: torch.Tensor, started: float
) -> TrainResult:
    """The run's summary; on rank 0 the model, checkpoint, train.csv, a last sample sheet
    and train.json."""
    from stylelab.precision import environment

    dist, rows, elapsed = session.dist, state.rows, state.elapsed_before
    batch = session.config.batch_size
    summary: dict[str, Any] = {
        "status": state.status,
        "steps": state.step,
        "training_time_s": round(elapsed, 3),
        "wall_time_s": round(time.perf_counter() - started, 3),
        "images_per_s": round(batch * dist.world * len(rows) / max(1e-9, rows[-1]["elapsed_s"]), 3)
        if rows
        else 0.0,
        "final_losses": rows[-1] if rows else {},
        "skipped_files": dict(sorted(session.photos.skipped.items())),
        "training": session.training,
        "environment": environment(session.device),
    }
    seen_by_rank = dist.gather(state.seen)
    checksums = dist.gather(_checksum(session.net))
    if dist.world > 1:
        summary["distributed"] = {
            "world_size": dist.world,
            "photos_seen_by_rank": [sorted(s) for s in seen_by_rank],
            "parameter_checksum_by_rank": checksums,
        }
    if dist.main:
        summary["parameter_checksum"] = checksums[0]
        _checkpoint(session, state, elapsed)
        _sample(session, validation, state.step)
        write_json(summary, session.workdir / "train.json")
    dist.close()
    return TrainResult(
        state.status, state.step, session.output if dist.main else None, session.workdir, summary
    )


def _unique(names: list[str]) -> list[str]:
    """Style names as given, with _2, _3 ... appended to repeats."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _checksum(net: nn.Module) -> float:
    """Sum of every parameter, in float64: equal on every rank of a synchronized run."""
    return float(sum(p.detach().double().sum() for p in net.parameters()))


def _validation_image(photos: fastdata.PhotoSet, size: int) -> torch.Tensor:
    """The held-out photo (or the first photo that decodes), at ``size`` on the long edge;
    photos that fail to decode are recorded as skipped."""
    candidates = [(photos.validation_name, photos.validation)] if photos.validation else []
    candidates += list(zip(photos.names, photos.sources, strict=True))
    for name, source in candidates:
        if source is None:
            continue
        try:
            return resize_long_edge(fastdata.decode(source, size), size)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            photos.skipped[name] = str(exc)[:80] or type(exc).__name__
    raise StylelabError("no training photo could be decoded")


def _write_sheet(
    net: TransformerNet,
    photo: torch.Tensor,
    styles: list[str],
    folder: Path,
    step: int,
    device: torch.device,
) -> None:
    """The validation photo, then the network's output for each style, labelled."""
    from stylelab.fast.apply import labelled_sheet, run_network

    was_training = net.training
    net.eval()
    panels = [("photo", photo)]
    with torch.no_grad():
        for index, name in enumerate(styles):
            weights = torch.zeros(1, len(styles))
            weights[0, index] = 1
            panels.append((name, run_network(net, photo, weights, device=device)))
    net.train(was_training)
    folder.mkdir(parents=True, exist_ok=True)
    save_image(labelled_sheet([panels]), folder / f"step_{step:06d}.png")


def _save_all(
    net: TransformerNet,
    optimizer: torch.optim.Optimizer,
    styles: list[str],
    training: dict[str, Any],
    output: Path,
    checkpoint: Path,
    step: int,
    elapsed: float,
) -> None:
    """The model file and the checkpoint, each written whole or not at all."""
    save_model(net, styles, {**training, "steps_done": step}, output)
    _save_checkpoint(checkpoint, net, optimizer, step, elapsed, training)


def _save_checkpoint(
    path: Path,
    net: TransformerNet,
    optimizer: torch.optim.Optimizer,
    step: int,
    elapsed: float,
    training: dict[str, Any],
) -> None:
    save_checkpoint(path, net, optimizer, step, elapsed, training)


def _load_checkpoint(
    path: Path,
    net: TransformerNet,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    workdir: Path,
) -> tuple[int, float, list[dict[str, Any]]]:
    if not path.exists():
        raise StylelabError(f"--resume: no checkpoint at {path} (train without --resume first)")
    tensors, metadata = read_safetensors(path, "stylelab training checkpoint")
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise StylelabError(f"{path}: not a stylelab training checkpoint")
    try:
        return _restore(config, net, optimizer, tensors, metadata, workdir)
    except StylelabError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, RecursionError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        raise StylelabError(
            f"{path}: damaged checkpoint ({type(exc).__name__}: {reason}); remove it to start again"
        ) from None


def _restore(
    config: TrainConfig,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    metadata: dict[str, str],
    workdir: Path,
) -> tuple[int, float, list[dict[str, Any]]]:
    """Load a checkpoint's network and optimizer state; its step, time and rows so far."""
    saved = json.loads(metadata.get("training", "{}"))
    if not isinstance(saved, dict):
        raise ValueError("its training record is not an object")
    mine = config.to_dict()
    saved.setdefault("temporal_weight", 0.0)  # checkpoints from before the term: trained without
    compared = ("architecture", "styles", "train_size", "batch_size", "lr", "loss", "data")
    different = [k for k in (*compared, "temporal_weight") if saved.get(k) != mine.get(k)]
    if different:
        raise StylelabError(
            f"--resume: the checkpoint was trained with other settings ({', '.join(different)}); "
            "give the same styles and options as the first run"
        )
    _check_resampling(saved, float(config.temporal_weight))
    step, elapsed = restore_checkpoint(net, optimizer, tensors, metadata)
    check_resumable_step(step, config.steps, MAX_TRAIN_STEPS)
    if not 0 <= step <= config.steps or not math.isfinite(elapsed) or elapsed < 0:
        raise ValueError(f"step {step} or time {elapsed} out of range")
    for group in optimizer.param_groups:
        if not 0 < float(group["lr"]) <= 1e6 or not math.isfinite(float(group.get("eps", 0))):
            raise ValueError("optimizer settings out of range")
    rows = read_rows(workdir / "train.csv", step)
    return step, elapsed, rows

"""Train a transformer network so that one forward pass stylizes (Johnson et al. 2016).

For each step k: a batch of photo crops x (see :mod:`stylelab.fast.data`), each item with
a style s drawn from the styles given, goes through the network, y = T(x, s), and the
loss is the Gatys objective stylelab optimizes pixels with (:class:`GatysObjective`, the
same layers, weights, normalization and SWAG smoothing), with x as y's content target
and the style s's Grams as its style target, averaged over the batch:

    L = 1/B sum_b [alpha content(y_b, x_b) + beta sum_l w_l E_l(y_b, s_b) + gamma TV(y_b)].

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from stylelab.errors import StylelabError
from stylelab.fast import data as fastdata
from stylelab.fast.config import TrainConfig
from stylelab.fast.modelfile import (
    CHECKPOINT_FORMAT,
    read_rows,
    read_safetensors,
    restore_checkpoint,
    save_checkpoint,
    save_model,
)
from stylelab.fast.nets import TransformerNet, count_parameters
from stylelab.images import resize_long_edge, save_image
from stylelab.records import write_csv, write_json


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


def _env_int(name: str, default: int, low: int) -> int:
    """An integer environment variable (torchrun's), or one line saying it is not one."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdecimal()) or len(text) > 6 or int(text) < low:
        raise StylelabError(f"${name}={text!r} is not an integer >= {low} (set by torchrun)")
    return int(text)


class Distributed:
    """Rank and world size from torchrun's environment; a no-op for one process."""

    def __init__(self, device: torch.device) -> None:
        self.world = _env_int("WORLD_SIZE", 1, 1)
        self.rank = _env_int("RANK", 0, 0)
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


def train(
    config: TrainConfig,
    output: str | os.PathLike,
    *,
    resume: bool = False,
    progress: bool = False,
) -> TrainResult:
    """Train a model for ``config.styles`` on ``config.data`` and write it to ``output``."""
    from stylelab.backbones import load_backbone
    from stylelab.precision import environment, prepare_extractor, resolve_device, resolve_precision
    from stylelab.stylize import GatysObjective, plan_layers

    started = time.perf_counter()
    out = Path(output)
    workdir = workdir_for(out)
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

    backbone = load_backbone(loss_cfg.backbone, loss_cfg.weights, loss_cfg.pooling, loss_cfg.seed)
    if config.train_size < backbone.min_size:
        raise StylelabError(
            f"{backbone.name} needs images of at least {backbone.min_size} px: raise --train-size"
        )
    plan = plan_layers(backbone, loss_cfg)
    extractor = prepare_extractor(backbone.extractor(plan.content + plan.style), device, precision)
    sampler = fastdata.Sampler(
        photos, config.train_size, config.batch_size, len(style_names), loss_cfg.seed, dist.rank
    )
    # Temperatures and feature scales come from batch 0 of all the photos (not of this rank's
    # shard), so every rank and every resume optimizes the same loss.
    first = fastdata.Sampler(every_photo, config.train_size, config.batch_size, 1, loss_cfg.seed)
    objective = GatysObjective(
        extractor,
        plan,
        first.batch(0).images.to(device),
        [s.to(device) for s in style_images],
        [1.0 / len(style_images)] * len(style_images),
        loss_cfg,
    )

    from stylelab.backbones.weights import seeded

    with seeded(loss_cfg.seed):
        net = TransformerNet(config.architecture, len(style_names)).to(device)
    model = dist.wrap(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    step, elapsed_before = 0, 0.0
    rows: list[dict[str, Any]] = []
    checkpoint = workdir / "checkpoint.safetensors"
    if resume:
        step, elapsed_before, rows = _load_checkpoint(checkpoint, net, optimizer, config, workdir)
    validation = _validation_image(every_photo, config.train_size)
    if dist.main:
        workdir.mkdir(exist_ok=True)
    training = {
        **config.to_dict(),
        "style_names": style_names,
        "parameters": count_parameters(net),
        "precision": precision,
        "photos": len(photos) * dist.world,
        "world_size": dist.world,
    }
    seen: set[str] = set()
    status = "done"
    bar = tqdm(
        total=config.steps,
        initial=step,
        disable=not (progress and dist.main),
        desc="train",
        unit="step",
    )
    clock = time.perf_counter()
    deadline = None if config.max_minutes is None else config.max_minutes * 60
    try:
        while step < config.steps:
            batch = sampler.batch(step)
            seen.update(batch.names)
            images = batch.images.to(device)
            weights = nn.functional.one_hot(batch.styles, len(style_names)).float().to(device)
            objective.set_content(images)
            stylized = model(images, weights)
            total, terms = objective(stylized, weights)
            optimizer.zero_grad(set_to_none=True)
            (total / config.batch_size).backward()
            optimizer.step()
            step += 1
            elapsed = elapsed_before + time.perf_counter() - clock
            row = {"step": step, "elapsed_s": round(elapsed, 3)}
            row.update({k: float(v) / config.batch_size for k, v in terms.items()})
            rows.append(row)
            bar.update(1)
            bar.set_postfix(
                loss=f"{row['total']:.4g}",
                img_s=f"{config.batch_size * dist.world * step / max(elapsed, 1e-9):.2f}",
                refresh=False,
            )
            if not math.isfinite(row["total"]):
                raise StylelabError(
                    f"the loss became {row['total']} at step {step}: lower --lr (now {config.lr})"
                )
            if dist.main and step % config.sample_every == 0:
                _write_sheet(net, validation, style_names, workdir / "samples", step, device)
            if dist.main and step % config.checkpoint_every == 0 and step < config.steps:
                _save_all(net, optimizer, style_names, training, out, checkpoint, step, elapsed)
                write_csv(rows, workdir / "train.csv")
            if dist.any(deadline is not None and elapsed >= deadline):
                status = "time limit"
                break
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        bar.close()
    elapsed = elapsed_before + time.perf_counter() - clock
    summary: dict[str, Any] = {
        "status": status,
        "steps": step,
        "training_time_s": round(elapsed, 3),
        "wall_time_s": round(time.perf_counter() - started, 3),
        "images_per_s": round(
            config.batch_size * dist.world * len(rows) / max(1e-9, rows[-1]["elapsed_s"]), 3
        )
        if rows
        else 0.0,
        "final_losses": rows[-1] if rows else {},
        "skipped_files": dict(sorted(photos.skipped.items())),
        "training": training,
        "environment": environment(device),
    }
    seen_by_rank = dist.gather(seen)
    checksums = dist.gather(_checksum(net))
    if dist.world > 1:
        summary["distributed"] = {
            "world_size": dist.world,
            "photos_seen_by_rank": [sorted(s) for s in seen_by_rank],
            "parameter_checksum_by_rank": checksums,
        }
    if dist.main:
        summary["parameter_checksum"] = checksums[0]
        _save_all(net, optimizer, style_names, training, out, checkpoint, step, elapsed)
        write_csv(rows, workdir / "train.csv")
        _write_sheet(net, validation, style_names, workdir / "samples", step, device)
        write_json(summary, workdir / "train.json")
    dist.close()
    return TrainResult(status, step, out if dist.main else None, workdir, summary)


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
    different = [
        k
        for k in ("architecture", "styles", "train_size", "batch_size", "lr", "loss", "data")
        if saved.get(k) != mine.get(k)
    ]
    if different:
        raise StylelabError(
            f"--resume: the checkpoint was trained with other settings ({', '.join(different)}); "
            "give the same styles and options as the first run"
        )
    step, elapsed = restore_checkpoint(net, optimizer, tensors, metadata)
    if not 0 <= step <= config.steps or not math.isfinite(elapsed) or elapsed < 0:
        raise ValueError(f"step {step} or time {elapsed} out of range")
    for group in optimizer.param_groups:
        if not 0 < float(group["lr"]) <= 1e6 or not math.isfinite(float(group.get("eps", 0))):
            raise ValueError("optimizer settings out of range")
    rows = read_rows(workdir / "train.csv", step)
    return step, elapsed, rows

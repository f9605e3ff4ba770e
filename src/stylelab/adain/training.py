"""Train an instant-style decoder (AdaIN, Huang & Belongie 2017) on photos and paintings.

Loss for a batch of photo crops c and style variants s, t = AdaIN(E(c), E(s)):

    L = ||E(D(t)) - t||^2 / ||t||^2
        + lambda * sum_{l in relu1_1..relu4_1} (||mu_l(D(t)) - mu_l(s)||^2
                                              + ||sigma_l(D(t)) - sigma_l(s)||^2) / m_l,

with m_l = mean(mu_l(s)^2 + sigma_l(s)^2) over the style variants (each term a relative
error, so one lambda fits every layer). The paper's lambda is 10 on raw features; on
relative errors 10 let the style term dominate a short CPU training, so the default is 2.
With ``temporal_weight`` mu > 0, mu * L_temp / B joins it: fast training's
warp-consistency term (:mod:`stylelab.fast.temporal`) for the instant network
x -> D(AdaIN(E(x), s)), each crop x against a warped, noisy copy x' with the same style,
so that D(AdaIN(E(x'), s)) = W(D(AdaIN(E(x), s))) where W sees inside.

CPU training is made feasible by a cache built once at the start, a function of the seed
alone: the encoder's features of ``content_crops`` fixed photo crops (drawn as in
:mod:`stylelab.fast.data`: crops, flips, unreadable files skipped and counted) and the
per-layer statistics of ``style_variants`` fixed style variants (each style image at a
random scale, a random crop, and for all but the originals a random hue rotation). A
step then costs one decoder pass and one encoder pass with their gradients. Batch k is a
function of (seed, k), so ``resume`` gives the model an uninterrupted run gives.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from stylelab.adain import modelfile
from stylelab.adain.nets import DESIGNS, STYLE_LAYERS, Decoder, adain, encoder, mean_std
from stylelab.adain.trainconfig import InstantTrainConfig
from stylelab.errors import StylelabError
from stylelab.fast import data as fastdata
from stylelab.fast.modelfile import save_checkpoint
from stylelab.fast.temporal import temporal_loss, warped_pair
from stylelab.images import pil_to_tensor, resize_long_edge
from stylelab.records import write_csv, write_json

PROCEDURAL_SIZE = 512


@dataclass
class Cache:
    """Fixed training material: content features, style statistics, names, skipped files."""

    content: torch.Tensor  # (N, C, h, w) bf16 encoder features of the photo crops
    styles: dict[str, torch.Tensor]  # layer -> (M, 2, C) statistics of the style variants
    style_names: list[str]
    skipped: dict[str, str]
    validation: torch.Tensor  # a held-out photo for sample sheets
    seconds: float
    crops: torch.Tensor | None = None  # (N, 3, h, w) fp16 pixels: the temporal term warps them


def procedural_paintings(count: int, size: int = PROCEDURAL_SIZE) -> list[tuple[str, Any]]:
    """``count`` paintings drawn from seeds by :mod:`stylelab.examples` (brush strokes and
    mosaics in turn, with other seeds and cell counts than the built-in two)."""
    from stylelab.examples import brush_strokes, mosaic

    out = []
    for k in range(count):
        if k % 2 == 0:
            out.append((f"strokes-{k}", brush_strokes(size, seed=100 + k)))
        else:
            out.append((f"mosaic-{k}", mosaic(size, seed=200 + k, cells=40 + 37 * k % 300)))
    return out


def hue_rotated(image: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate the chroma (I, Q) of a (1, 3, H, W) image by ``angle`` radians in YIQ."""
    from skimage.color import rgb2yiq, yiq2rgb

    yiq = rgb2yiq(image[0].permute(1, 2, 0).numpy())
    c, s = math.cos(angle), math.sin(angle)
    i, q = yiq[..., 1].copy(), yiq[..., 2].copy()
    yiq[..., 1], yiq[..., 2] = c * i - s * q, s * i + c * q
    rgb = np.clip(yiq2rgb(yiq), 0, 1).astype(np.float32)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()


def load_style_images(config: InstantTrainConfig) -> tuple[list[torch.Tensor], list[str]]:
    images, names = fastdata.load_styles(list(config.styles), config.style_edge)
    for name, picture in procedural_paintings(config.procedural):
        images.append(resize_long_edge(pil_to_tensor(picture), config.style_edge))
        names.append(name)
    return images, names


def style_variant(image: torch.Tensor, index: int, originals: int, seed: int) -> torch.Tensor:
    """Variant ``index`` of a style image: a scale of 0.6-1.2 of its edge, a random square
    crop of up to 256 px, and (beyond the first ``originals`` variants) a hue rotation."""
    generator = fastdata.batch_generator(seed + 7919, index)
    draw = torch.rand(5, generator=generator)
    scale = 0.6 + 0.6 * float(draw[0])
    edge = max(64, round(max(image.shape[-2:]) * scale))
    picture = resize_long_edge(image, edge)
    height, width = picture.shape[-2:]
    side = min(256, height, width)
    top = int(float(draw[1]) * (height - side + 1))
    left = int(float(draw[2]) * (width - side + 1))
    crop = picture[..., top : top + side, left : left + side]
    if index >= originals and float(draw[3]) < 0.5:
        crop = hue_rotated(crop, (float(draw[4]) - 0.5) * 2 * math.pi)
    return crop


def build_cache(config: InstantTrainConfig, progress: bool) -> Cache:
    """Encode the fixed content crops and style variants once (see the module's note)."""
    started = time.perf_counter()
    design = DESIGNS[config.design]
    photos = fastdata.find_photos(config.data)
    sampler = fastdata.Sampler(photos, config.crop, 1, 1, config.seed)
    layers = sorted(set(STYLE_LAYERS) | {design.layer})
    net = encoder(design.depth, tuple(layers))
    style_images, style_names = load_style_images(config)
    if not style_images:
        raise StylelabError("no style images to train on")
    bar = tqdm(
        total=config.content_crops + config.style_variants,
        disable=not progress,
        desc="cache",
        unit="img",
        leave=False,
    )
    content, crops = [], []
    stats: dict[str, list[torch.Tensor]] = {layer: [] for layer in STYLE_LAYERS}
    with torch.inference_mode(), _autocast(config.precision):
        for k in range(config.content_crops):
            crop = sampler.batch(k).images
            content.append(net(crop)[design.layer].to(torch.bfloat16).contiguous())
            if config.temporal_weight > 0:
                crops.append(crop.to(torch.float16))
            bar.update(1)
        for k in range(config.style_variants):
            image = style_images[k % len(style_images)]
            variant = style_variant(image, k, len(style_images), config.seed)
            features = net(variant)
            for layer in STYLE_LAYERS:
                stats[layer].append(mean_std(features[layer]))
            bar.update(1)
    bar.close()
    validation = fastdata.decode(photos.validation or photos.sources[0], 256)
    return Cache(
        content=torch.cat(content),
        styles={layer: torch.cat(values) for layer, values in stats.items()},
        style_names=style_names,
        skipped=dict(sorted(photos.skipped.items())),
        validation=resize_long_edge(validation, 256),
        seconds=time.perf_counter() - started,
        crops=torch.cat(crops) if crops else None,
    )


def _autocast(precision: str) -> Any:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


class Objective:
    """The loss of the module's note, on cached content features and style statistics."""

    def __init__(self, cache: Cache, config: InstantTrainConfig) -> None:
        design = DESIGNS[config.design]
        self.layer = design.layer
        self.cache = cache
        self.config = config
        self.encoder = encoder(design.depth, tuple(sorted(set(STYLE_LAYERS) | {self.layer})))
        self.style_scale = {layer: float((s**2).mean()) for layer, s in cache.styles.items()}

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = fastdata.batch_generator(self.config.seed, step)
        size = self.config.batch_size
        photos = torch.randint(len(self.cache.content), (size,), generator=generator)
        styles = torch.randint(
            len(self.cache.styles[STYLE_LAYERS[0]]), (size,), generator=generator
        )
        return photos, styles

    def __call__(self, decoder: Decoder, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        photos, styles = self.batch(step)
        content = self.cache.content[photos].float()
        target = adain(content, self.cache.styles[self.layer][styles])
        with _autocast(self.config.precision):
            image = decoder(target.contiguous(memory_format=torch.channels_last))
            features = self.encoder(image)
        content_term = ((features[self.layer].float() - target) ** 2).mean() / (target**2).mean()
        style_term = torch.zeros(())
        for layer in STYLE_LAYERS:
            got = mean_std(features[layer])
            want = self.cache.styles[layer][styles]
            style_term = style_term + ((got - want) ** 2).mean() / self.style_scale[layer]
        total = content_term + self.config.style_weight * style_term
        terms = {
            "total": 0.0,
            "content": float(content_term.detach()),
            "style": float(style_term.detach()),
        }
        if self.config.temporal_weight > 0:  # 0: the plain step exactly (no draws)
            temporal = self.temporal(decoder, step, photos, styles, image)
            total = total + self.config.temporal_weight * temporal
            terms["temporal"] = float(self.config.temporal_weight * temporal.detach())
        terms["total"] = float(total.detach())
        return total, terms

    def temporal(
        self,
        decoder: Decoder,
        step: int,
        photos: torch.Tensor,
        styles: torch.Tensor,
        image: torch.Tensor,
    ) -> torch.Tensor:
        """L_temp / B for the batch's crops (:func:`stylelab.fast.temporal.temporal_loss`):
        the network x' -> D(AdaIN(E(x'), s)) with each crop's own style statistics."""
        assert self.cache.crops is not None  # kept when the term is on
        pair = warped_pair(self.cache.crops[photos].float(), self.config.seed, step)
        statistics = self.cache.styles[self.layer][styles]

        def network(moved: torch.Tensor) -> torch.Tensor:
            with torch.no_grad(), _autocast(self.config.precision):
                features = self.encoder(moved)[self.layer].float()  # the same convolutions
            target = adain(features, statistics)  # as for the crop itself, in fp32
            with _autocast(self.config.precision):
                return decoder(target.contiguous(memory_format=torch.channels_last))

        return temporal_loss(network, image, pair) / len(photos)


def input_scale(cache: Cache) -> float:
    """The decoder's fixed input divisor: the mean per-channel std of the content features."""
    return float(cache.content[:64].float().std(dim=(2, 3)).mean().clamp_min(1e-3))


@dataclass
class InstantTrainResult:
    status: str  # done | time limit | interrupted
    step: int
    model_path: Path
    workdir: Path
    summary: dict[str, Any]


def workdir_for(output: Path) -> Path:
    return output.with_name(f"{output.stem}_train")


def train_instant(
    config: InstantTrainConfig,
    output: str | Path,
    *,
    resume: bool = False,
    progress: bool = False,
    card: dict[str, Any] | None = None,
) -> InstantTrainResult:
    """Train a decoder for ``config`` and write the model file ``output`` (and its records
    in ``<stem>_train/``: train.csv, train.json, checkpoint.safetensors, samples/)."""
    started = time.perf_counter()
    out = Path(output)
    workdir = workdir_for(out)
    checkpoint = workdir / "checkpoint.safetensors"
    torch.manual_seed(config.seed)
    decoder = Decoder(config.design)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=config.lr)
    step, elapsed_before = 0, 0.0
    rows: list[dict[str, Any]] = []
    if resume:
        step, elapsed_before, rows = modelfile.load_checkpoint(
            checkpoint, decoder, optimizer, config
        )
    cache = build_cache(config, progress)
    if not resume:
        decoder.input_scale.fill_(input_scale(cache))
    decoder.to(memory_format=torch.channels_last)
    objective = Objective(cache, config)
    workdir.mkdir(exist_ok=True)
    status = "done"
    bar = tqdm(total=config.steps, initial=step, disable=not progress, desc="train", unit="step")
    clock = time.perf_counter()
    deadline = None if config.max_minutes is None else config.max_minutes * 60

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - clock

    try:
        while step < config.steps:
            total, terms = objective(decoder, step)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            step += 1
            rows.append({"step": step, "elapsed_s": round(elapsed(), 3), **terms})
            bar.update(1)
            bar.set_postfix(loss=f"{terms['total']:.4g}", refresh=False)
            if not math.isfinite(terms["total"]):
                raise StylelabError(f"the loss became {terms['total']} at step {step}: lower --lr")
            if step % config.checkpoint_every == 0 and step < config.steps:
                _save(decoder, optimizer, config, cache, out, checkpoint, step, elapsed(), card)
                write_csv(rows, workdir / "train.csv")
            if deadline is not None and elapsed() >= deadline:
                status = "time limit"
                break
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        bar.close()
    seconds = elapsed()
    _save(decoder, optimizer, config, cache, out, checkpoint, step, seconds, card)
    write_csv(rows, workdir / "train.csv")
    _write_sample(decoder, cache, workdir / "samples" / f"step_{step:06d}.png")
    summary = {
        "status": status,
        "steps": step,
        "training_time_s": round(seconds, 3),
        "cache_time_s": round(cache.seconds, 3),
        "wall_time_s": round(time.perf_counter() - started, 3),
        "final_losses": rows[-1] if rows else {},
        "skipped_files": cache.skipped,
        "training": config.to_dict(),
        "style_names": cache.style_names,
    }
    write_json(summary, workdir / "train.json")
    return InstantTrainResult(status, step, out, workdir, summary)


def _save(
    decoder: Decoder,
    optimizer: torch.optim.Optimizer,
    config: InstantTrainConfig,
    cache: Cache,
    output: Path,
    checkpoint: Path,
    step: int,
    seconds: float,
    card: dict[str, Any] | None,
) -> None:
    training = {
        **config.to_dict(),
        "steps_done": step,
        "training_minutes": round(seconds / 60, 2),
        "style_names": cache.style_names,
        "photos_skipped": len(cache.skipped),
    }
    modelfile.save_decoder(decoder, output, training=training, card=card or {})
    save_checkpoint(
        checkpoint, decoder, optimizer, step, seconds, config.to_dict(), modelfile.CHECKPOINT_FORMAT
    )


def _write_sample(decoder: Decoder, cache: Cache, path: Path) -> None:
    """The held-out photo decoded with four cached style variants, side by side."""
    from stylelab.images import save_image

    decoder.eval()
    net = encoder(decoder.design.depth)
    panels = [cache.validation]
    with torch.inference_mode():
        features = net(cache.validation)[decoder.design.layer]
        count = len(cache.styles[decoder.design.layer])
        for k in range(min(4, count)):
            stats = cache.styles[decoder.design.layer][k : k + 1]
            panels.append(decoder(adain(features, stats)).clamp(0, 1))
    decoder.train()
    height = min(p.shape[-2] for p in panels)
    sheet = torch.cat([p[..., :height, :] for p in panels], dim=-1)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(sheet, path)

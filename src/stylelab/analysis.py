"""Activation statistics per layer: why residual networks stylize badly, and what SWAG does.

Wang, Li & Vasconcelos, "Rethinking and Improving the Robustness of Image Style Transfer"
(CVPR 2021), Sec. 3: in residual networks the maximum activation grows with depth and the
normalized entropy of the activations collapses towards 0 in deep layers (peaky features),
while VGG-like networks keep it high; softmax smoothing lifts it back up.

For each layer and image we measure, on the (optionally smoothed) features F (C x M):

- ``act_max``: max_ik F_ik;
- ``act_entropy``: normalized entropy of F (below);
- ``gram_max``: max_ij G_ij with the position-averaged Gram G = F F^T / M (as in the losses);
- ``gram_entropy``: normalized entropy of the C x C entries of G.

Normalized entropy of values v_1..v_n: negative values are set to 0 (the mass a ReLU would
pass; stage outputs of the networks studied are post-ReLU, so this only matters for layers
taken before a ReLU), p = v / sum(v), H = -sum p log p (0 log 0 = 0), reported as H / log n
in [0, 1], where n counts every entry, zeros included (so sparsity lowers it). If no value
is positive the entropy is 0. Smoothed features (softmax) are positive and already sum to
one, so p is the smoothed map itself. Each statistic is averaged over the images (mean and
population standard deviation).

``entropy="softmax"`` measures both entropies on p = softmax(v) = exp(v) / sum exp(v) over
all n entries instead (no temperature: the activations as they are), H / log n as above.
That is the distribution the paper's softmax smoothing makes, so a map whose peak is a few
units above the rest already has an entropy near 0, and a flat map has 1, whatever its
sign. ``positive`` (the default) is the mass reading above.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from stylelab.backbones import Backbone, load_backbone
from stylelab.errors import StylelabError
from stylelab.images import ImageSource, load_image, resize_long_edge
from stylelab.limits import show
from stylelab.safety import atomic_path
from stylelab.smoothing import check_smoothing, layer_temperature, smoother

ENTROPIES = ("positive", "softmax")
STATISTICS = ("act_max", "act_entropy", "gram_max", "gram_entropy")
CSV_COLUMNS = (
    "backbone",
    "weights",
    "smoothing",
    "entropy",
    "layer",
    "depth",
    "channels",
    "height",
    "width",
    "act_max",
    "act_max_std",
    "act_entropy",
    "act_entropy_std",
    "gram_max",
    "gram_max_std",
    "gram_entropy",
    "gram_entropy_std",
)


def normalized_entropy(values: torch.Tensor) -> float:
    """H(p) / log(n) with p = max(v, 0) / sum(max(v, 0)) over all n entries of ``values``."""
    mass = values.detach().flatten().double().clamp_min(0)
    count, total = mass.numel(), float(mass.sum())
    if count <= 1 or total <= 0:
        return 0.0
    p = mass[mass > 0] / total
    return float(-(p * p.log()).sum()) / math.log(count)


def softmax_entropy(values: torch.Tensor) -> float:
    """H(p) / log(n) with p = softmax(v) over all n entries of ``values`` (1 = uniform)."""
    flat = values.detach().flatten().double()
    count = flat.numel()
    if count <= 1:
        return 0.0
    log_p = torch.log_softmax(flat, dim=0)
    return min(1.0, max(0.0, float(-(log_p.exp() * log_p).sum()) / math.log(count)))


def check_entropy(entropy: object) -> str:
    if not isinstance(entropy, str) or entropy not in ENTROPIES:
        raise StylelabError(f"--entropy must be one of {', '.join(ENTROPIES)}, got {show(entropy)}")
    return entropy


def feature_stats(features: torch.Tensor, entropy: str = "positive") -> dict[str, float]:
    """The four statistics of one image's features, shape (1, C, H, W); ``entropy``:
    ``positive`` (:func:`normalized_entropy`) or ``softmax`` (:func:`softmax_entropy`)."""
    measure = softmax_entropy if check_entropy(entropy) == "softmax" else normalized_entropy
    flat = features.detach().double().reshape(features.shape[1], -1)
    gram = flat @ flat.T / flat.shape[1]
    return {
        "act_max": float(flat.max()),
        "act_entropy": measure(flat),
        "gram_max": float(gram.max()),
        "gram_entropy": measure(gram),
    }


def stage_layers(backbone: Backbone) -> tuple[str, ...]:
    """The backbone's stage ends by depth (VGG: relu1_2 ... relu5_4), or else its default
    style layers (for ResNets: the stem and the last block of each stage)."""
    chosen = backbone.stage_ends or backbone.default_style_layers
    return tuple(sorted(chosen, key=backbone.depth))


def activation_stats(
    images: Sequence[ImageSource],
    backbone: str = "resnet50",
    weights: str = "random",
    smoothing: str = "none",
    layers: Sequence[str] | None = None,
    *,
    size: int = 256,
    seed: int = 0,
    temperature: float = 1.0,
    smoothing_scale: float = 0.001,
    relative_temperature: bool = True,
    entropy: str = "positive",
) -> list[dict[str, Any]]:
    """One row per layer with the mean and std over ``images`` of each statistic.

    Images are resized so their longer edge is ``size``; ``depth`` is the layer's position
    in the whole network, from 0 (input side) to 1 (deepest layer it declares).
    ``relative_temperature``: T in units of each layer's peak activation on each image, as
    in the stylization losses (:func:`stylelab.smoothing.layer_temperature`); False takes
    T as is (the paper's formula). ``entropy``: ``positive`` or ``softmax`` (see the
    module's docstring).
    """
    if not images:
        raise StylelabError("no images given")
    check_entropy(entropy)
    check_smoothing(smoothing, temperature, smoothing_scale)
    net = load_backbone(backbone, weights=weights, seed=seed)
    names = tuple(net.resolve(n) for n in layers) if layers else stage_layers(net)
    names = tuple(sorted(dict.fromkeys(names), key=net.depth))
    extractor = net.extractor(names)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    shapes: dict[str, tuple[int, ...]] = {}
    with torch.no_grad():
        for source in images:
            image = resize_long_edge(load_image(source), size)
            features = extractor(image)
            for name in names:
                layer = features[name].float()
                t = layer_temperature([layer], temperature, relative_temperature)
                smoothed = smoother(smoothing, t, smoothing_scale)(layer)
                samples[name].append(feature_stats(smoothed, entropy))
                shapes[name] = tuple(features[name].shape[1:])
    last = max(1, len(net.layers) - 1)
    rows = []
    for name in names:
        channels, height, width = shapes[name]
        row: dict[str, Any] = {
            "backbone": backbone,
            "weights": weights,
            "smoothing": smoothing,
            "entropy": entropy,
            "layer": name,
            "depth": round(net.depth(name) / last, 4),
            "channels": channels,
            "height": height,
            "width": width,
        }
        for stat in STATISTICS:
            values = torch.tensor([s[stat] for s in samples[name]], dtype=torch.float64)
            row[stat] = float(values.mean())
            row[f"{stat}_std"] = float(values.std(unbiased=False))
        rows.append(row)
    return rows


def stats_grid(
    images: Sequence[ImageSource],
    backbones: Sequence[str],
    weights: Sequence[str] = ("random",),
    smoothings: Sequence[str] = ("none",),
    layers: Sequence[str] | None = None,
    progress: bool = False,
    **options: Any,
) -> list[dict[str, Any]]:
    """:func:`activation_stats` for every backbone x weights x smoothing, rows concatenated
    (:func:`stylelab.compare.combinations`: an empty list is one line)."""
    from stylelab.compare import combinations

    combos = [
        (c.backbone, c.weights, c.smoothing) for c in combinations(backbones, weights, smoothings)
    ]
    for method in smoothings:
        check_smoothing(
            method, options.get("temperature", 1.0), options.get("smoothing_scale", 0.001)
        )
    rows: list[dict[str, Any]] = []
    for backbone, weight, method in tqdm(combos, desc="stats", unit="net", disable=not progress):
        rows += activation_stats(images, backbone, weight, method, layers, **options)
    return rows


PLOT_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg", ".jpg": "jpeg", ".jpeg": "jpeg"}


def plot_stats(
    rows: Sequence[dict[str, Any]], path: str | os.PathLike, suffix: str | None = None
) -> None:
    """Four panels against relative depth, one line per backbone/weights/smoothing, ± std.

    Written to ``path`` through a temp file and a rename; ``suffix`` (``.png``, ``.pdf``,
    ``.svg``, ``.jpg``) gives the format when ``path`` is already a temporary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind = "softmax, " if any(r.get("entropy") == "softmax" for r in rows) else ""
    titles = {
        "act_max": "max activation",
        "act_entropy": f"activation entropy ({kind}normalized)",
        "gram_max": "max Gram entry",
        "gram_entropy": f"Gram entropy ({kind}normalized)",
    }
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["backbone"], row["weights"], row["smoothing"]), []).append(row)
    several_weights = len({key[1] for key in groups}) > 1
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    for axis, stat in zip(axes.flat, STATISTICS, strict=True):
        for (backbone, weight, method), group in groups.items():
            group = sorted(group, key=lambda r: r["depth"])
            depth = [r["depth"] for r in group]
            mean = torch.tensor([r[stat] for r in group])
            std = torch.tensor([r[f"{stat}_std"] for r in group])
            label = "p-" if weight == "pretrained" else "r-" if weight == "random" else ""
            label = f"{label}{backbone}" + ("" if method == "none" else f" + {method}")
            if several_weights and not label.startswith(("p-", "r-")):
                label += f" ({weight})"
            (line,) = axis.plot(
                depth,
                mean.tolist(),
                marker="o",
                markersize=3,
                label=label,
                linestyle="--" if method != "none" else "-",
            )
            lower = (mean - std).clamp_min(1e-30) if stat.endswith("max") else mean - std
            axis.fill_between(
                depth, lower.tolist(), (mean + std).tolist(), color=line.get_color(), alpha=0.15
            )
        axis.set_title(titles[stat])
        axis.set_xlabel("relative depth")
        if stat.endswith("max"):
            axis.set_yscale("log")
        else:
            axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(5, len(labels)), fontsize=8)
    fmt = PLOT_FORMATS[(suffix or Path(path).suffix).lower()]
    try:
        if suffix is not None:
            fig.savefig(path, format=fmt, dpi=110)
        else:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=110)
    finally:
        plt.close(fig)

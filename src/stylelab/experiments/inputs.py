"""What a sweep's runs read, checked before any run: image, mask and weights paths are
resolved against the sweep file's folder, every image is read once, every weights file
and layer name is checked once per backbone, and (for local runs) each run's device,
precision and memory estimate.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any

from stylelab.config import INITS, WEIGHT_KEYWORDS
from stylelab.errors import StylelabError
from stylelab.experiments.values import Run, Sweep, as_toml, run_context, suggest


def resolve_image(source: str, base_dir: Path) -> str:
    """``example:NAME`` as is; a relative path against the sweep file's folder."""
    if source.startswith("example:"):
        return source
    try:
        path = Path(source).expanduser()
    except RuntimeError:  # ~user of no such user: a name like any other
        path = Path(source)
    if path.is_absolute():
        return str(path)
    try:
        return str((base_dir / path).resolve())
    except (OSError, RuntimeError):  # a loop of links: reading it will say so
        return str(base_dir / path)


def resolve_paths(params: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """The run's parameters with relative image, mask and weight paths made absolute; a
    style path in ``region_style`` is resolved as the style list is, so the two match."""
    out = dict(params)
    for key in ("content", "init", "weights", "mask"):
        value = out.get(key)
        if isinstance(value, str) and (
            key == "content"
            or (key == "init" and value not in INITS)
            or (key == "weights" and value not in WEIGHT_KEYWORDS)
            or (key == "mask" and value)
        ):
            out[key] = resolve_image(value, base_dir)
    style = out["style"]
    out["style"] = (
        [resolve_image(s, base_dir) for s in style]
        if isinstance(style, list)
        else resolve_image(style, base_dir)
    )
    if isinstance(out.get("region_style"), str):
        out["region_style"] = _resolve_region_styles(out["region_style"], base_dir)
    return out


def _resolve_region_styles(text: str, base_dir: Path) -> str:
    """``#rrggbb=STYLE,...`` with each STYLE that is a path (not an index or ``none``)
    resolved against the sweep file's folder; a malformed part is left for the run's
    own one-line check."""
    parts = []
    for part in text.split(","):
        colour, equals, style = part.partition("=")
        name = style.strip()
        if equals and name and not name.isdecimal() and name.lower() != "none":
            part = f"{colour}={resolve_image(name, base_dir)}"
        parts.append(part)
    return ",".join(parts)


def input_files(sweep: Sweep) -> list[str]:
    """Every file the runs read (images, weights), resolved: what no output may be."""
    found: set[str] = set()
    for run in sweep.runs:
        resolved = resolve_paths({**run.params, "weights": run.config.weights}, sweep.base_dir)
        styles = resolved["style"] if isinstance(resolved["style"], list) else [resolved["style"]]
        sources = (resolved["content"], *styles, resolved.get("init"), resolved["weights"])
        for source in (*sources, resolved.get("mask")):
            if isinstance(source, str) and os.path.isabs(source):
                found.add(source)
        if run.config.init not in INITS:
            found.add(resolve_image(run.config.init, sweep.base_dir))
    return sorted(found)


def _styles(run: Run) -> list[str]:
    style = run.params["style"]
    return list(style) if isinstance(style, list) else [style]


def check_blends(runs: list[Run], where: str, varied: typing.Sequence[str]) -> None:
    """``style_blend`` has one weight per style image (cheap: before reading any image)."""
    for run in runs:
        blend = run.config.style_blend
        if blend is not None and len(blend) != len(_styles(run)):
            raise StylelabError(
                f"{run_context(where, run, varied)}: style_blend has {len(blend)} "
                f"weights for {len(_styles(run))} style images; give one weight per style"
            )


def _image_sources(run: Run) -> list[tuple[str, str]]:
    """(key, source) of every image a run reads."""
    sources = [("content", run.params["content"])] + [("style", s) for s in _styles(run)]
    if run.config.init not in INITS:
        sources.append(("init", run.config.init))
    return sources


def check_images(runs: list[Run], base_dir: Path, where: str) -> dict[str, tuple[int, int]]:
    """Read every image once (examples by name); ``{source: (height, width)}``."""
    from stylelab.examples import list_examples
    from stylelab.images import check_finite, load_image

    shapes: dict[str, tuple[int, int]] = {}
    masks_read: set[str] = set()
    for run in runs:
        for key, source in _image_sources(run):
            if source in shapes:
                continue
            if source.startswith("example:") and source[len("example:") :] not in list_examples():
                raise StylelabError(
                    f"{where}: {key}: unknown example {as_toml(source)}; choose from: "
                    + ", ".join(f"example:{n}" for n in list_examples())
                )
            try:
                image = check_finite(load_image(resolve_image(source, base_dir)), "image")
            except StylelabError as exc:
                raise StylelabError(f"{where}: {key}: {exc}") from None
            shapes[source] = (int(image.shape[-2]), int(image.shape[-1]))
        if run.config.mask and run.config.mask not in masks_read:
            _check_mask(run.config.mask, shapes[run.params["content"]], base_dir, where)
            masks_read.add(run.config.mask)
    return shapes


def check_min_edges(
    runs: list[Run], shapes: dict[str, tuple[int, int]], where: str, varied: tuple[str, ...]
) -> None:
    """Every run's photo and paintings at its size keep MIN_INPUT_EDGE px a side at its
    coarsest stage (:func:`stylelab.gatys.check_min_edge`), as stylize checks them: an
    image too narrow stops the sweep before RUNDIR exists, not each run after."""
    from stylelab.backbones.registry import MIN_INPUT_EDGE
    from stylelab.gatys import check_min_edge
    from stylelab.schedule import plan_schedule

    for run in runs:
        cfg = run.config
        stages = plan_schedule(cfg.size, cfg.steps, cfg.scales, cfg.multiscale)
        content = run.params["content"]
        named = [(f"content {content}", shapes[content])]
        named += [(f"style {s}", shapes[s]) for s in _styles(run)]
        try:
            check_min_edge(cfg.backbone, MIN_INPUT_EDGE, stages, cfg.style_scale, named)
        except StylelabError as exc:
            raise StylelabError(f"{run_context(where, run, varied)}: {exc}") from None


def _check_mask(mask: str, photo_hw: tuple[int, int], base_dir: Path, where: str) -> None:
    """Read ``mask`` as each run will (:func:`stylelab.masks.read_mask`: any size, at most
    MAX_REGIONS colours), so a bad mask stops the sweep before any run."""
    import warnings

    from stylelab.masks import read_mask

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # another aspect ratio: each run says so
            read_mask(resolve_image(mask, base_dir), photo_hw)
    except StylelabError as exc:
        raise StylelabError(f"{where}: mask: {exc}") from None


def check_layers(runs: list[Run], base_dir: Path, where: str) -> None:
    """Backbone names, weights files and layer names, once per distinct combination.

    A weights file given by path is read here (safely: :func:`stylelab.backbones.weights.
    read_state_dict` never runs code from a file), so that a missing, damaged or foreign
    file stops the sweep before any run; ``pretrained`` and ``torchvision`` are read by
    each run (where they are missing, those runs are recorded as failed). Layer names are
    resolved on a network built once per backbone.
    """
    from stylelab.backbones import load_backbone
    from stylelab.backbones.registry import check_pooling

    built: dict[tuple[str, str, str], Any] = {}
    for run in runs:
        cfg = run.config
        try:
            check_pooling(cfg.backbone, cfg.pooling)
        except StylelabError as exc:
            raise StylelabError(f"{where}: {exc}") from None
        weights = cfg.weights
        if weights not in WEIGHT_KEYWORDS:
            weights = resolve_image(weights, base_dir)
            if not Path(weights).exists():
                hint = suggest(cfg.weights, WEIGHT_KEYWORDS)
                raise StylelabError(
                    f"{where}: weights {as_toml(cfg.weights)}: no such file{hint}; use "
                    f"{' | '.join(WEIGHT_KEYWORDS)} or a PATH to a state dict"
                )
        layers = (
            (cfg.content_layers or ()) + (cfg.style_layers or ()) + (cfg.smoothing_layers or ())
        )
        file_weights = weights not in WEIGHT_KEYWORDS
        if not layers and not file_weights:
            continue
        key = (cfg.backbone, cfg.pooling, weights if file_weights else "random")
        if key not in built:
            try:
                built[key] = load_backbone(cfg.backbone, key[2], cfg.pooling)
            except StylelabError as exc:
                raise StylelabError(
                    f"{where}: weights: {exc}" if file_weights else f"{where}: {exc}"
                ) from None
        for layer in layers:
            try:
                built[key].resolve(layer)
            except StylelabError as exc:
                raise StylelabError(f"{where}: {exc}") from None


def check_runs_fit(sweep: Sweep) -> None:
    """For runs on this machine: their devices exist, their precisions apply there, and
    each run's memory estimate fits (one line saying what would fit, else)."""
    from stylelab.limits import check_evaluate_memory, check_memory, long_edge_shape
    from stylelab.precision import resolve_device, resolve_precision

    where = sweep.where
    shapes = sweep.shapes or check_images(list(sweep.runs), sweep.base_dir, where)
    devices: dict[str, Any] = {}
    for run in sweep.runs:
        cfg = run.config
        context = run_context(where, run, sweep.varied)
        try:
            if cfg.device not in devices:
                devices[cfg.device] = resolve_device(cfg.device)
            device = devices[cfg.device]
            resolve_precision(cfg.precision, device)
            content_hw = shapes[run.params["content"]]
            check_memory(cfg, content_hw, [shapes[s] for s in _styles(run)], device)
            if sweep.settings.evaluate:
                check_evaluate_memory(
                    sweep.settings.evaluate_size, long_edge_shape(content_hw, cfg.size)
                )
        except StylelabError as exc:
            raise StylelabError(f"{context}: {exc}") from None

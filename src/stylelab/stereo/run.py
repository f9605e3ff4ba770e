"""One stereo run: a pair, its disparity, a method, and the files it leaves.

``OUT.png`` (left | right), ``OUT_left.png``, ``OUT_right.png``, ``OUT_anaglyph.png``,
``OUT.json`` (settings, disparity source, consistency figures), and on request
``OUT_disparity.png`` (the left view's disparity as used, 16-bit, d * 256, 0 = unknown:
readable back with ``--disparity``) and a wiggle animation; all written as one transaction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import stylelab.stereo.disparity as disparities
import stylelab.stereo.views as views
from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError
from stylelab.images import ImageSource, encode_image, resize_long_edge, style_sources
from stylelab.pixels import check_min_side
from stylelab.safety import check_file_name, write_together
from stylelab.stereo.pair import StereoPair
from stylelab.stereo.warp import consistency_error

METHODS = ("gatys", "fast", "instant")


@dataclass
class StereoResult:
    """Both stylized views (1, 3, H, W), the disparity used (at their size) and the record."""

    left: torch.Tensor
    right: torch.Tensor
    disparity: disparities.PairDisparity
    record: dict[str, Any] = field(default_factory=dict)

    def paths(
        self, output: str | os.PathLike, save_disparity: bool = False, wiggle: str | None = None
    ) -> list[Path]:
        return output_paths(output, save_disparity, wiggle)

    def save(
        self, output: str | os.PathLike, save_disparity: bool = False, wiggle: str | None = None
    ) -> list[Path]:
        """Write every output (see the module) together; returns their paths."""
        targets = output_paths(output, save_disparity, wiggle)
        left, right = self.left.numpy(), self.right.numpy()
        suffix = Path(output).suffix
        images = [views.side_by_side(left, right), left, right, views.anaglyph(left, right)]
        with write_together(targets) as temporaries:
            for image, tmp in zip(images, temporaries, strict=False):
                encode_image(torch.from_numpy(np.ascontiguousarray(image)), tmp, suffix)
            text = json.dumps(self.record, indent=2, default=str) + "\n"
            temporaries[4].write_text(text)
            rest = temporaries[5:]
            if save_disparity:
                disparities.write_png16(self.disparity.left, rest.pop(0))
            if wiggle is not None:
                views.write_wiggle([left, right], rest.pop(0), Path(wiggle).suffix)
        return targets


def output_paths(
    output: str | os.PathLike, save_disparity: bool = False, wiggle: str | None = None
) -> list[Path]:
    """OUT.png, OUT_left, OUT_right, OUT_anaglyph, OUT.json [, OUT_disparity.png, wiggle]."""
    out = check_file_name(output)
    named = [out.with_name(f"{out.stem}_{part}{out.suffix}") for part in ("left", "right")]
    paths = [out, *named, out.with_name(f"{out.stem}_anaglyph{out.suffix}")]
    paths.append(out.with_suffix(".json"))
    if save_disparity:
        paths.append(out.with_name(f"{out.stem}_disparity.png"))
    if wiggle is not None:
        paths.append(Path(wiggle))
    return paths


def pair_disparity(
    photos: Sequence[torch.Tensor], pair: StereoPair, disparity_file: str | None
) -> disparities.PairDisparity:
    """The disparity at the photos' size: from ``disparity_file`` (the left view's, at the
    pair's full size; the right view's by splatting) or estimated by SGBM on the photos."""
    shape = (int(photos[0].shape[-2]), int(photos[0].shape[-1]))
    if disparity_file is not None:
        left = disparities.read_disparity(disparity_file, pair.shape)
        return disparities.from_left(left, f"file:{disparity_file}").resized(shape)
    arrays = [p[0].permute(1, 2, 0).numpy() for p in photos]
    return disparities.estimate_disparity(arrays[0], arrays[1])


def stereo_stylize(
    pair: StereoPair,
    style: ImageSource | Sequence[ImageSource],
    config: StylizeConfig,
    *,
    method: str = "gatys",
    model: Any = None,
    model_style: Any = None,
    disparity_file: str | None = None,
    consistency_weight: float | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    instant_options: Mapping[str, Any] | None = None,
) -> StereoResult:
    """Stylize ``pair`` consistently (``gatys``: joint optimization; ``fast``: ``model`` on
    each view; ``instant``: :func:`stylelab.adain.transfer.instant` on each view with
    ``style``, ``model`` an instant model (default: the shipped one) and
    ``instant_options`` its ``strength``/``internal_size``/``precision``; both network
    methods then :func:`stylelab.stereo.network.blend_consistent`)."""
    if method not in METHODS:
        raise StylelabError(f"--method {method!r}: choose from {', '.join(METHODS)}")
    if method == "fast" and (config.mask or config.region_style):
        raise StylelabError("--mask/--region-style go with --method gatys or instant, not fast")
    photos = [resize_long_edge(view, config.size) for view in (pair.left, pair.right)]
    # one line naming the pair, before any method runs (instant's named a tensor)
    check_min_side(photos[0].shape, f"{pair.source} at --size {config.size}")
    disparity = pair_disparity(photos, pair, disparity_file)
    record: dict[str, Any] = {"method": method, "pair": pair.source, "size": list(disparity.shape)}
    if method == "gatys":
        from stylelab.stereo.joint import DEFAULT_CONSISTENCY_WEIGHT, stylize_pair

        weight = DEFAULT_CONSISTENCY_WEIGHT if consistency_weight is None else consistency_weight
        joint = stylize_pair(pair, style, disparity, config, weight, on_step)
        left, right = joint.left, joint.right
        record["config"] = config.to_dict()
        record["optimization"] = joint.info
    else:
        from stylelab.stereo.network import blend_consistent

        options = {"model": model, **(instant_options or {})}
        raw = _network_views(method, photos, style, config, disparity, model_style, options, record)
        left, right = blend_consistent(raw[0], raw[1], disparity)
        record["independent_consistency"] = consistency_error(raw[0], raw[1], disparity.left)
    record["disparity"] = _disparity_record(disparity)
    record["consistency"] = {
        "figure": "mean |O_L(x) - O_R(x - d(x))| over pixels with a known disparity d",
        "photos": consistency_error(photos[0], photos[1], disparity.left),
        "stylized": consistency_error(left, right, disparity.left),
    }
    return StereoResult(left, right, disparity, record)


def _network_views(
    method: str,
    photos: Sequence[torch.Tensor],
    style: ImageSource | Sequence[ImageSource],
    config: StylizeConfig,
    disparity: disparities.PairDisparity,
    model_style: Any,
    options: dict[str, Any],
    record: dict[str, Any],
) -> list[torch.Tensor]:
    """Each view through the fast ``options["model"]`` or the instant network (its
    settings into ``record``), before the blend."""
    from stylelab.stereo.network import instant_views, stylize_views

    fields = network_fields(method)  # the stylize settings the network reads
    record["config"] = {k: v for k, v in config.to_dict().items() if k in fields}
    if method == "fast":
        record["model_style"] = model_style
        raw = stylize_views(options["model"], photos[0].numpy(), photos[1].numpy(), model_style)
        return [torch.from_numpy(view) for view in raw]
    from stylelab.stereo.regions import view_regions

    styles = style_sources(style)
    shape = (int(photos[0].shape[-2]), int(photos[0].shape[-1]))
    regions = view_regions(config, styles, shape, disparity)
    views, info = instant_views(photos, styles, config, regions, **options)
    record["instant"] = {**info["instant"], "model": info["model"]}
    return views


def network_fields(method: str) -> tuple[str, ...]:
    """The :class:`StylizeConfig` fields that the ``fast`` or ``instant`` method reads (the
    rest are the joint optimization's): the size, the precision and the fast model's device;
    for instant the settings it shares with stylize (:data:`stylelab.adain.options.SHARED`)."""
    if method == "fast":
        return ("size", "device", "precision")
    from stylelab.adain.options import SHARED

    return (*SHARED, "precision")


def _disparity_record(disparity: disparities.PairDisparity) -> dict[str, Any]:
    known = np.isfinite(disparity.left)
    return {
        "source": disparity.source,
        "convention": "left view's, x_right = x_left - d, in pixels of the output",
        "known_fraction": round(float(known.mean()), 4),
        "left_visible_fraction": round(float(disparity.left_visible.mean()), 4),
        "range": [float(disparity.left[known].min()), float(disparity.left[known].max())]
        if known.any()
        else None,
    }

"""``instant``: any painting in one forward pass of the shipped AdaIN decoder.

1. The photo at ``size`` and, when ``size`` exceeds ``internal_size``, a working copy at
   ``internal_size`` on the long edge (the encoder and decoder cost grows with area).
2. f_c = E(photo), f_s = E(style at round(internal_size * style_scale)) at relu{depth}_1
   of the Caffe VGG19; t = AdaIN(f_c, blend of the styles' statistics) (per region with a
   mask), then t <- alpha t + (1 - alpha) f_c (``strength``, in feature space).
3. y = D(t); when the working copy was smaller, y is upsampled (bicubic) and the photo's
   high-frequency luminance, Y - up(down(Y)), is added back, so full-size detail comes
   from the photo and colour and texture from the decoder (a detail layer, as in
   Laplacian pyramid upsampling).
4. Colour: ``histogram`` moves each style's colours to the photo's before encoding;
   ``luminance`` runs on gray images and puts the photo's chroma back (:mod:`stylelab.color`).
5. ``refine`` N: N more steps of stylize's Gatys objective from y (the public
   :func:`stylelab.stylize` with y as ``init``). ``callback(0, y)`` sees the instant image
   first; then ``callback`` and ``on_row`` follow stylize's iterations, as in stylize.

``strength`` and ``refine`` are checked by :class:`InstantOptions`, a field table like
:class:`StylizeConfig`'s (the web form shows it).

The result is a :class:`stylelab.stylize.StylizeResult` (image, settings, ``info`` with
the model, its card, the seconds spent), saved like stylize's.
"""

from __future__ import annotations

import numbers
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stylelab import color
from stylelab.adain.modelfile import InstantModel, load_decoder
from stylelab.adain.nets import adain, blend_stats, encoder, mean_std, regional_adain
from stylelab.config import StylizeConfig, check_field_names, check_value, field_specs, option
from stylelab.errors import StylelabError
from stylelab.images import ImageSource, load_image, resize_long_edge, resize_to
from stylelab.limits import show
from stylelab.precision import resolve_precision

DEFAULT_INTERNAL_SIZE = 512
MAX_REFINE = 10_000
#: The settings shared with stylize, validated by :class:`StylizeConfig`.
#: Region masks (R, H, W) at the photo's size and each region's style index (None: photo).
Regional = tuple[torch.Tensor, tuple[int | None, ...]]
SHARED = ("size", "style_scale", "style_blend", "preserve_color", "mask", "region_style")
#: callback(iteration, image) and on_row(row), as stylize takes them.
ImageCallback = Callable[[int, torch.Tensor], None]
RowCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class InstantOptions:
    """instant's own settings as a field table (:func:`stylelab.config.field_specs` reads
    it, as StylizeConfig's): what :func:`instant` checks and the web form shows."""

    strength: float = option(
        1.0,
        "AdaIN's alpha: 0 = the photo's features, 1 = the style's statistics",
        low=0.0,
        high=1.0,
    )
    refine: int = option(
        0,
        "then N steps of stylize's Gatys objective from the instant image (0: none)",
        low=0,
        high=MAX_REFINE,
    )

    def __post_init__(self) -> None:
        for spec in field_specs(type(self)):
            value = getattr(self, spec.name)
            integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            if spec.kind is int and integral:
                value = int(value)  # numpy's too
            check_value(spec, value)
            object.__setattr__(self, spec.name, float(value) if spec.kind is float else value)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> InstantOptions:
        """From ``{field: value}``; an unknown name is a StylelabError naming the close one."""
        if not isinstance(values, Mapping) or not all(isinstance(k, str) for k in values):
            raise StylelabError(f"instant options are a dict of fields, got {show(values)}")
        check_field_names(values, "instant()", cls)
        return cls(**values)


def instant(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    *,
    model: str | os.PathLike | InstantModel | None = None,
    strength: float = 1.0,
    refine: int = 0,
    internal_size: int = DEFAULT_INTERNAL_SIZE,
    precision: str = "auto",
    regions: Any = None,
    progress: bool = False,
    callback: ImageCallback | None = None,
    on_row: RowCallback | None = None,
    **options: Any,
) -> Any:
    """Stylize ``content`` with any painting(s) ``style`` in one forward pass.

    ``options`` are stylize's fields that mean the same here: ``size`` (default as
    stylize), ``style_scale``, ``style_blend``, ``preserve_color``, ``mask`` and
    ``region_style`` (or ``regions``, a :class:`stylelab.masks.Regions`). ``strength``
    (alpha in [0, 1]) blends the AdaIN features with the photo's; ``refine`` adds that many
    steps of :func:`stylelab.stylize` from the result, which ``callback`` and ``on_row``
    follow as in stylize (``callback(0, image)`` first gets the instant image; either may
    raise :class:`stylelab.optim.StopRequested` to end the refinement). Bad arguments raise
    :class:`StylelabError` with one line before any work. Returns a ``StylizeResult``.
    """
    from stylelab.gatys import StylizeResult, blend_weights, check_callbacks, colour_inputs
    from stylelab.images import check_finite, check_source, style_sources
    from stylelab.pixels import label

    started = time.perf_counter()
    unknown = sorted(set(options) - set(SHARED))
    if unknown:
        raise StylelabError(f"instant: unknown option {unknown[0]!r}; options: {', '.join(SHARED)}")
    config = StylizeConfig(**options)
    checked = InstantOptions(strength=strength, refine=refine)
    strength, refine = checked.strength, checked.refine
    check_callbacks(progress, callback, on_row)
    _check_int("internal_size", internal_size, 64, 4096)
    if precision not in ("auto", "fp32", "bf16"):
        raise StylelabError(f"precision must be auto, fp32 or bf16, got {show(precision)}")
    check_source(content, "content")
    styles_in = style_sources(style)
    blend = blend_weights(config.style_blend, len(styles_in))
    net = model if isinstance(model, InstantModel) else load_decoder(model)
    photo = check_finite(load_image(content), label(content, "content"))
    paintings = [check_finite(load_image(s), label(s, "style")) for s in styles_in]
    photo = resize_long_edge(photo, config.size)
    working_edge = min(config.size, internal_size)
    style_edge = max(32, round(working_edge * config.style_scale))
    paintings = [resize_long_edge(p, style_edge) for p in paintings]
    photo_in, paintings = colour_inputs(config.preserve_color, photo, paintings)
    regional = _regions(config, regions, photo.shape, styles_in)
    use_bf16 = resolve_precision(precision, torch.device("cpu")) == "bf16"  # stylize's rule
    with torch.inference_mode():
        output = run(net, photo_in, paintings, blend, strength, working_edge, regional, use_bf16)
    if config.preserve_color == "luminance":
        output = torch.from_numpy(color.with_chroma(output.numpy(), photo.numpy()))
    seconds = time.perf_counter() - started
    info: dict[str, Any] = {
        "status": "done",
        "method": "instant (AdaIN, Huang & Belongie 2017)",
        "model": {"path": net.path, "design": net.design, "card": net.card},
        "instant": {
            "strength": strength,
            "internal_size": working_edge,
            "style_size": style_edge,
            "precision": "bf16" if use_bf16 else "fp32",
            "style_blend": blend,
        },
        "seconds": round(seconds, 4),
        "wall_time_s": round(seconds, 4),
    }
    result = StylizeResult(output, [], config, info)
    if callback is not None:
        callback(0, output)
    if refine:
        result = refine_from(
            result, content, styles_in, config, refine, regions, progress, callback, on_row
        )
        result.info["seconds"] = round(time.perf_counter() - started, 4)
    return result


def run(
    net: InstantModel,
    photo: torch.Tensor,
    paintings: Sequence[torch.Tensor],
    blend: Sequence[float],
    strength: float,
    working_edge: int,
    regional: Regional | None,
    use_bf16: bool,
) -> torch.Tensor:
    """Steps 1-3 of the module's note on (1, 3, H, W) tensors; the output has the photo's size."""
    design = net.decoder.design
    extract = encoder(design.depth)
    decoder = net.decoder.to(memory_format=torch.channels_last)
    working = (
        resize_long_edge(photo, working_edge) if max(photo.shape[-2:]) > working_edge else photo
    )
    padded, crop = _pad_to(working, design.stride)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
        features = extract(_nhwc(padded))[design.layer]
        stats = [mean_std(extract(_nhwc(p))[design.layer]) for p in paintings]
        if regional is None:
            target = adain(features, blend_stats(stats, blend))
        else:
            masks, indices = regional
            masks = resize_to(masks[None], tuple(working.shape[-2:]))
            masks = F.adaptive_avg_pool2d(_pad_to(masks, design.stride)[0], features.shape[-2:])
            per_region = [None if i is None else stats[i] for i in indices]
            target = regional_adain(features, masks[0], per_region)
        target = strength * target + (1.0 - strength) * features.float()
        image = decoder(_nhwc(target)).float()
    image = image[..., : crop[0], : crop[1]].clamp(0, 1).contiguous()
    if tuple(image.shape[-2:]) != tuple(photo.shape[-2:]):
        image = with_detail(image, photo)
    return image.contiguous()


def with_detail(small: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """``small`` upsampled to the photo's size plus the photo's high-frequency luminance
    Y - up(down(Y)) (Rec. 601 weights, down/up through ``small``'s size)."""
    size = tuple(photo.shape[-2:])
    up = F.interpolate(small, size=size, mode="bicubic", align_corners=False)
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    luminance = (photo * weights).sum(1, keepdim=True)
    blurred = F.interpolate(
        resize_to(luminance, tuple(small.shape[-2:])),
        size=size,
        mode="bicubic",
        align_corners=False,
    )
    return (up + (luminance - blurred)).clamp(0, 1)


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def _pad_to(image: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad height and width up to a multiple of the encoder's stride."""
    height, width = image.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        image = F.pad(image, (0, pad_w, 0, pad_h), mode=mode)
    return image, (height, width)


def _regions(
    config: StylizeConfig, regions: Any, shape: Sequence[int], styles: Sequence[ImageSource]
) -> Regional | None:
    """Region masks (R, H, W) at the photo's size and their style indices, through
    stylize's own resolution of ``--mask``/``--region-style`` or ``regions``."""
    from stylelab.gatys import resolve_regions

    resolved = resolve_regions(config, regions, shape, styles)
    if resolved is None:
        return None
    return resolved.masks.float(), tuple(resolved.styles)


def refine_from(
    result: Any,
    content: ImageSource,
    styles: Sequence[ImageSource],
    config: StylizeConfig,
    steps: int,
    regions: Any = None,
    progress: bool = False,
    callback: ImageCallback | None = None,
    on_row: RowCallback | None = None,
) -> Any:
    """``steps`` iterations of :func:`stylelab.stylize` (``config``'s settings) starting
    from the instant ``result``'s image; ``progress``, ``callback`` and ``on_row`` as
    stylize takes them. Returns the refined ``StylizeResult``."""
    from stylelab.gatys import stylize
    from stylelab.images import save_image

    with tempfile.TemporaryDirectory(prefix="stylelab-instant-") as folder:
        start = Path(folder) / "instant.png"
        save_image(result.tensor, start)
        refined = stylize(
            content,
            list(styles),
            config.replace(steps=steps, init=str(start), multiscale=False),
            regions=regions,
            progress=progress,
            callback=callback,
            on_row=on_row,
        )
    refined.info["method"] = "instant + refine (Gatys objective)"
    refined.info["model"] = result.info["model"]
    refined.info["instant"] = {
        **result.info["instant"],
        "seconds": result.info["seconds"],
        "refine": steps,
    }
    return refined


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not low <= int(value) <= high
    ):
        raise StylelabError(
            f"--{name.replace('_', '-')} must be an integer from {low} to {high}, got {show(value)}"
        )

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
   ``luminance`` runs on gray images and puts the photo's chroma back (:mod:`stylelab.color`);
   else ``palette`` moves the colours to the painting's. Then ``band_contrast`` moves the
   contrast of each scale to the painting's (:mod:`stylelab.adain.bands`).
5. ``refine`` N: N more steps of stylize's Gatys objective from y (the public
   :func:`stylelab.stylize` with y as ``init``). ``callback(0, y)`` sees the instant image
   first; then ``callback`` and ``on_row`` follow stylize's iterations, as in stylize.

``strength``, ``refine``, ``internal_size``, ``palette`` and ``band_contrast`` are checked by
:class:`InstantOptions`, a field table like :class:`StylizeConfig`'s (the web form and the
command line's flags are made from it).

The result is a :class:`stylelab.stylize.StylizeResult` (image, settings, ``info`` with
the model, its card, the seconds spent), saved like stylize's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from stylelab.adain import bands, detail
from stylelab.adain.modelfile import InstantModel, load_decoder
from stylelab.adain.nets import adain, encoder, mean_std, regional_adain
from stylelab.adain.options import (
    DEFAULT_BAND_CONTRAST,
    DEFAULT_INTERNAL_SIZE,
    PRECISIONS,
    blend_stats,
    check_settings,
    check_sources_fit,
    run_record,
    shared_settings,
    working_edges,
)
from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError, checked_call, keyword_names
from stylelab.images import ImageSource, load_image, resize_long_edge, resize_to
from stylelab.limits import show
from stylelab.precision import resolve_precision

#: Region masks (R, H, W) at the photo's size and each region's style index (None: photo).
Regional = tuple[torch.Tensor, tuple[int | None, ...]]
#: callback(iteration, image) and on_row(row), as stylize takes them.
ImageCallback = Callable[[int, torch.Tensor], None]
RowCallback = Callable[[dict[str, Any]], None]


@checked_call
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
    runtime: str = "auto",
    palette: float = 1.0,
    band_contrast: float = DEFAULT_BAND_CONTRAST,
    **options: Any,
) -> Any:
    """Stylize ``content`` with any painting(s) ``style`` in one forward pass.

    ``options`` are stylize's fields that mean the same here: ``size`` (default as
    stylize), ``style_scale``, ``style_blend``, ``preserve_color``, ``mask`` and
    ``region_style`` (or ``regions``, a :class:`stylelab.masks.Regions`). ``strength``
    (alpha in [0, 1]) blends the AdaIN features with the photo's; ``refine`` adds that many
    steps of :func:`stylelab.stylize` from the result, which ``callback`` and ``on_row``
    follow as in stylize (``callback(0, image)`` first gets the instant image; either may
    raise :class:`stylelab.optim.StopRequested` to end the refinement). ``palette`` and
    ``band_contrast`` (in [0, 1], times ``strength``) move the result's colours and its
    contrast at each scale towards the painting's (step 4). ``runtime``:
    ``auto`` runs on onnxruntime through the model's export cached once
    (:mod:`stylelab.adain.runtime`) when it is installed and the options allow (not regions,
    refine or bf16), else on PyTorch; ``onnx`` or ``torch`` insist (``info["runtime"]`` says
    which ran, and why not onnx). Bad arguments raise :class:`StylelabError` with one line
    before any work. Returns a ``StylizeResult``.
    """
    from stylelab.adain.runtime import instant_onnx
    from stylelab.config import blend_weights
    from stylelab.fast.cache import check_runtime
    from stylelab.gatys import StylizeResult, check_callbacks
    from stylelab.images import check_finite, check_source, style_sources
    from stylelab.pixels import label

    started = time.perf_counter()
    config = check_settings(
        options, strength, refine, internal_size, palette, band_contrast, keyword_names(instant)
    )
    strength, refine, palette = float(strength), int(refine), float(palette)  # checked
    band_contrast = float(band_contrast)
    check_callbacks(progress, callback, on_row)
    if precision not in PRECISIONS:
        raise StylelabError(f"precision must be auto, fp32 or bf16, got {show(precision)}")
    check_source(content, "content")  # every input checked before an export is built
    styles_in = style_sources(style)
    fallback = _try_onnx(
        check_runtime(runtime),
        model,
        config,
        (regions, refine, precision),
        lambda session: instant_onnx(
            content,
            style,
            model=session,
            strength=strength,
            internal_size=internal_size,
            palette=palette,
            band_contrast=band_contrast,
            **options,
        ),
    )
    if not isinstance(fallback, str):
        if callback is not None:
            callback(0, fallback.tensor)
        return fallback
    blend = blend_weights(config.style_blend, len(styles_in))
    net = model if isinstance(model, InstantModel) else load_decoder(model)
    photo = check_finite(load_image(content), label(content, "content"))
    paintings = [check_finite(load_image(s), label(s, "style")) for s in styles_in]
    working_edge, style_edge = working_edges(config.size, internal_size, config.style_scale)
    check_sources_fit(content, styles_in, [photo, *paintings], (working_edge, style_edge))
    photo = resize_long_edge(photo, config.size)
    paintings = [resize_long_edge(p, style_edge) for p in paintings]
    regional = _regions(config, regions, photo.shape, styles_in)
    use_bf16 = resolve_precision(precision, torch.device("cpu")) == "bf16"  # stylize's rule
    look = Look(
        blend, strength, working_edge, config.preserve_color, palette, band_contrast, use_bf16
    )
    output, amounts = stylize_photo(net, photo, paintings, look, regional)
    seconds = time.perf_counter() - started
    described = {"path": net.path, "design": net.design, "card": net.card}
    settings = (strength, working_edge, style_edge, "bf16" if use_bf16 else "fp32", blend)
    info = run_record(described, settings, "torch", seconds, amounts)
    if fallback != "--runtime torch":
        info["runtime_fallback"] = fallback
    result = StylizeResult(output, [], config, info, shared_settings(config))
    if callback is not None:
        callback(0, output)
    if refine:
        result = refine_from(
            result, content, styles_in, config, refine, regions, progress, callback, on_row
        )
        result.info["seconds"] = round(time.perf_counter() - started, 4)
    return result


def _try_onnx(
    runtime: str,
    model: Any,
    config: StylizeConfig,
    torch_options: tuple[Any, int, str],
    run_onnx: Any,
) -> Any:
    """The result on onnxruntime (:func:`stylelab.adain.runtime.choose_session`), or why
    PyTorch runs instead (a string for the record)."""
    from stylelab.adain.runtime import choose_session
    from stylelab.gatys import StylizeResult

    session = choose_session(runtime, model, config, torch_options)
    if isinstance(session, str):
        return session
    result = run_onnx(session)
    return StylizeResult(
        torch.from_numpy(result.array), [], config, result.info, shared_settings(config)
    )


@dataclass(frozen=True)
class Look:
    """How one photo is turned: the styles' blend, AdaIN's alpha, the network's working
    edge, ``--preserve-color``, the palette and band-contrast amounts (before
    ``strength``), bf16 or not."""

    blend: tuple[float, ...]
    strength: float
    working_edge: int
    preserve_color: str
    palette: float
    band_contrast: float
    use_bf16: bool


def stylize_photo(
    net: InstantModel,
    photo: torch.Tensor,
    paintings: Sequence[torch.Tensor],
    look: Look,
    regional: Regional | None = None,
    statistics: Sequence[Any] | None = None,
    band_targets: Sequence[Any] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Steps 1-4 of the module's note for a (1, 3, H, W) photo already at its output size
    and paintings at the style size: the image and the amounts applied
    (:func:`stylelab.adain.bands.finish`). ``statistics``: :func:`painting_statistics` of
    ``paintings`` (used where the colour mode leaves the paintings as they are) and
    ``band_targets``: :func:`stylelab.adain.bands.painting_targets`, computed once by a
    caller that turns many photos with them."""
    from stylelab.gatys import colour_inputs

    photo_in, seen = colour_inputs(look.preserve_color, photo, list(paintings))
    if statistics is None or look.preserve_color != "none":
        statistics = painting_statistics(net, seen, look.use_bf16)
    with torch.inference_mode():
        output = run(
            net,
            photo_in,
            statistics,
            look.blend,
            look.strength,
            look.working_edge,
            regional,
            look.use_bf16,
        )
    # no palette or band contrast in region runs (each region has its own painting); no
    # palette where the photo's colours are kept
    scale = look.strength if regional is None else 0.0
    if band_targets is None:  # the paintings as given, not as recoloured
        amount = look.band_contrast * scale
        band_targets = bands.painting_targets([p.numpy() for p in paintings], amount)
    finished, amounts = bands.finish(
        output.numpy(),
        photo.numpy(),
        [p.numpy() for p in seen],
        (
            look.blend,
            look.preserve_color,
            look.palette * scale,
            look.band_contrast * scale,
            look.working_edge,
        ),
        band_targets,
    )
    return torch.from_numpy(finished), amounts


def painting_statistics(
    net: InstantModel, paintings: Sequence[torch.Tensor], use_bf16: bool
) -> list[Any]:
    """(mean, std) of each painting's features at the network's layer (its AdaIN target)."""
    design = net.decoder.design
    extract = encoder(design.depth)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
        return [mean_std(extract(_nhwc(p))[design.layer]) for p in paintings]


def run(
    net: InstantModel,
    photo: torch.Tensor,
    statistics: Sequence[Any],
    blend: Sequence[float],
    strength: float,
    working_edge: int,
    regional: Regional | None,
    use_bf16: bool,
) -> torch.Tensor:
    """Steps 1-3 of the module's note on a (1, 3, H, W) photo and the paintings'
    :func:`painting_statistics`; the output has the photo's size."""
    design = net.decoder.design
    extract = encoder(design.depth)
    decoder = net.decoder.to(memory_format=torch.channels_last)
    working = (
        resize_long_edge(photo, working_edge) if max(photo.shape[-2:]) > working_edge else photo
    )
    padded, crop = _pad_to(working, design.stride)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
        features = extract(_nhwc(padded))[design.layer]
        if regional is None:
            target = adain(features, blend_stats(statistics, blend))
        else:
            masks, indices = regional
            masks = resize_to(masks[None], tuple(working.shape[-2:]))
            masks = F.adaptive_avg_pool2d(_pad_to(masks, design.stride)[0], features.shape[-2:])
            per_region = [None if i is None else statistics[i] for i in indices]
            target = regional_adain(features, masks[0], per_region)
        target = strength * target + (1.0 - strength) * features.float()
        image = decoder(_nhwc(target)).float()
    image = image[..., : crop[0], : crop[1]].clamp(0, 1).contiguous()
    if tuple(image.shape[-2:]) != tuple(photo.shape[-2:]):
        image = with_detail(image, photo)
    return image.contiguous()


def with_detail(small: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """:func:`stylelab.adain.detail.with_detail` on tensors (one source for both runtimes)."""
    return torch.from_numpy(detail.with_detail(small.float().numpy(), photo.float().numpy()))


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def _pad_to(image: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad height and width up to a multiple of the encoder's stride
    (:func:`stylelab.adain.runtime.pad_to`, one source for both runtimes)."""
    from stylelab.adain.runtime import pad_to

    return torch.from_numpy(pad_to(image.numpy(), multiple)), tuple(image.shape[-2:])  # type: ignore[return-value]


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

    refined = stylize(
        content,
        list(styles),
        config.replace(steps=steps, multiscale=False),
        regions=regions,
        progress=progress,
        callback=callback,
        on_row=on_row,
        init_image=result.tensor,
    )
    refined.settings = {**refined.config.to_dict(), "init": "the instant image"}
    refined.info["method"] = "instant + refine (Gatys objective)"
    refined.info["model"] = result.info["model"]
    for key in ("runtime", "runtime_fallback"):  # which runtime ran the instant pass, and why
        if key in result.info:
            refined.info[key] = result.info[key]
    refined.info["instant"] = {
        **result.info["instant"],
        "seconds": result.info["seconds"],
        "refine": steps,
    }
    return refined

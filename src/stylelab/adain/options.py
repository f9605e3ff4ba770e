"""What :func:`stylelab.instant` accepts and which runtime can serve it (no torch here).

Both runtimes (:mod:`stylelab.adain.transfer` on PyTorch, :mod:`stylelab.adain.runtime`
on onnxruntime) check their arguments here, so a bad value reads the same on either.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stylelab.config import check_field_names, check_value, field_specs, option
from stylelab.errors import StylelabError, unknown_option
from stylelab.limits import MAX_SIZE, show

DEFAULT_INTERNAL_SIZE = 512
#: --band-contrast's default, chosen on pairs that do not judge
#: (benchmarks/band_contrast_choice.py, docs/instant.md).
DEFAULT_BAND_CONTRAST = 0.75
#: The shortest side the encoder takes: twice its stride to relu3_1 (two 2x2 poolings),
#: so every image keeps at least 2 feature pixels across (3 px and less gave NaN).
MIN_ENCODED_SIDE = 8
MAX_REFINE = 10_000
PRECISIONS = ("auto", "fp32", "bf16")
#: The settings shared with stylize, validated by :class:`stylelab.config.StylizeConfig`.
SHARED = ("size", "style_scale", "style_blend", "preserve_color", "mask", "region_style")


def shared_settings(config: Any) -> dict[str, Any]:
    """The fields of ``config`` (a :class:`StylizeConfig`) that instant reads
    (:data:`SHARED`): what its record shows, not the Gatys settings it does not run."""
    settings = config.to_dict()
    return {name: settings[name] for name in SHARED}


def working_edges(size: int, internal_size: int, style_scale: float) -> tuple[int, int]:
    """The network's working edge, min(size, internal_size), and the paintings' edge,
    round(working * style_scale) but 32 px at least and MAX_SIZE at most (else one line):
    one rule for both runtimes and video."""
    working = min(size, internal_size)
    style = max(32, round(working * style_scale))
    if style > MAX_SIZE:
        raise StylelabError(
            f"--style-scale {style_scale:g} at a working size of {working} px makes the "
            f"painting {style} px; the largest is {MAX_SIZE} (lower --style-scale or "
            "--internal-size)"
        )
    return working, style


def check_sides(
    shapes: Sequence[Sequence[int]], edges: tuple[int, int], names: Sequence[str]
) -> None:
    """One line if the photo (``shapes[0]``, at the working edge) or a painting (the rest,
    at the paintings' edge; ``edges`` from :func:`working_edges`) would be under
    MIN_ENCODED_SIDE px on its short side: the encoder's pooling would leave it (almost) no
    features (a NaN result from 3 px down, which would be blamed on the model).
    ``shapes``: (H, W) of the photo, then of each painting."""
    from stylelab.pixels import long_edge_shape

    for index, shape in enumerate(shapes):
        edge = edges[0] if index == 0 else edges[1]
        height, width = (int(v) for v in shape)
        short = min(long_edge_shape((height, width), edge))
        if short < MIN_ENCODED_SIDE:
            where, remedy = ("working", "--size") if index == 0 else ("paintings'", "--style-scale")
            raise StylelabError(
                f"{names[index]}: this {width}x{height} image is {short} px on its short side "
                f"at the {where} size ({edge} px); it must be at least {MIN_ENCODED_SIDE} px "
                f"(a less narrow image, or a larger {remedy})"
            )


def check_sources_fit(
    content: object, styles: Sequence[object], images: Sequence[Any], edges: tuple[int, int]
) -> None:
    """:func:`check_sides` for a run's photo and paintings (``images``: the loaded photo,
    then the paintings, arrays or tensors), named by their sources as messages name them."""
    from stylelab.pixels import label

    names = [label(content, "content")] + [label(s, "style") for s in styles]
    check_sides([tuple(image.shape[-2:]) for image in images], edges, names)


def blend_stats(stats: Sequence[Any], weights: Sequence[float]) -> Any:
    """AdaIN's style interpolation: the convex combination sum_i w_i (mu_i, sigma_i) / sum_i w_i
    of (1, 2, C) statistics, torch tensors or numpy arrays (both runtimes use this; the band
    contrast blends its paintings' band deviations with it too)."""
    total = sum(float(w) for w in weights)
    return sum(float(w) / total * s for w, s in zip(weights, stats, strict=True))


@dataclass(frozen=True)
class InstantOptions:
    """instant's own settings as a field table (:func:`stylelab.config.field_specs` reads
    it, as StylizeConfig's): what :func:`stylelab.instant` checks and the web form shows."""

    strength: float = option(
        1.0,
        "AdaIN's alpha: 0 = the photo's features, 1 = the style's statistics",
        low=0.0,
        high=1.0,
    )
    refine: int = option(
        0,
        "then N steps of stylize's Gatys objective from the instant image",
        low=0,
        high=MAX_REFINE,
    )
    internal_size: int = option(
        DEFAULT_INTERNAL_SIZE,
        "the network's working size (long edge, px): larger outputs are the network's "
        "result upsampled plus the photo's own fine detail",
        low=64,
        high=4096,
    )
    palette: float = option(
        1.0,
        "move the result's colours to the painting's: mean and covariance (WCT's colouring "
        "transform on RGB) and the whole distribution (histogram matching along the "
        "painting's colour axes), scaled by strength: 0 = the network's colours, 1 = fully; "
        "off where the photo's colours are kept (preserve color)",
        low=0.0,
        high=1.0,
    )
    band_contrast: float = option(
        DEFAULT_BAND_CONTRAST,
        "move the result's contrast at each scale (the standard deviation of 4 band-pass "
        "layers of its luminance) to the painting's, scaled by strength: 0 = the network's, "
        "1 = fully; off with --mask (regions)",
        low=0.0,
        high=1.0,
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


def check_settings(
    options: dict[str, Any],
    strength: object,
    refine: object,
    internal_size: object,
    palette: object = 1.0,
    band_contrast: object = DEFAULT_BAND_CONTRAST,
    keywords: Sequence[str] = (),
) -> Any:
    """The :class:`StylizeConfig` of ``options`` after every check of instant's own
    arguments; one line for the first bad one (a misspelt option is matched against
    :data:`SHARED` and the caller's ``keywords``)."""
    from stylelab.config import StylizeConfig

    unknown = sorted(set(options) - set(SHARED))
    if unknown:
        raise unknown_option("instant()", unknown[0], [*SHARED, *keywords])
    config = StylizeConfig(**options)
    InstantOptions(
        strength=strength,  # type: ignore[arg-type]
        refine=refine,  # type: ignore[arg-type]
        internal_size=internal_size,  # type: ignore[arg-type]
        palette=palette,  # type: ignore[arg-type]
        band_contrast=band_contrast,  # type: ignore[arg-type]
    )
    return config


def torch_only(config: Any, regions: object, refine: int, precision: str) -> str | None:
    """The first option only the PyTorch runtime serves, as the user wrote it, or None."""
    if config.mask or config.region_style or regions is not None:
        return "--mask/--region-style (regions)"
    if refine:
        return "--refine (Gatys steps run on PyTorch)"
    if precision == "bf16":
        return "--precision bf16"
    return None


def run_record(
    model: dict[str, Any],
    settings: tuple[float, int, int, str, Any],
    runtime: str,
    seconds: float,
    amounts: dict[str, float],
) -> dict[str, Any]:
    """The ``info`` of a run (OUT.json): the model, the instant settings
    (strength, internal size, style size, precision, blend, the palette and band-contrast
    amounts applied: :func:`stylelab.adain.bands.finish`), which runtime ran, seconds."""
    strength, working_edge, style_edge, precision, blend = settings
    return {
        "status": "done",
        "method": "instant (AdaIN, Huang & Belongie 2017)",
        "model": model,
        "instant": {
            "strength": strength,
            "internal_size": working_edge,
            "style_size": style_edge,
            "precision": precision,
            "style_blend": blend,
            **amounts,
        },
        "runtime": runtime,
        "seconds": round(seconds, 4),
        "wall_time_s": round(seconds, 4),
    }

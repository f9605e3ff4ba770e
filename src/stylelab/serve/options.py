"""The web page's view of StylizeConfig: its form (:func:`option_schema`) and its checks
(:func:`check_options`), both read from :func:`stylelab.config.field_specs`; the same for
an instant job (:func:`check_job`), whose own fields are
:class:`stylelab.adain.options.InstantOptions`' table.

No Starlette here: the form and the rule are plain data and functions.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from typing import Any

from stylelab.config import FieldSpec, StylizeConfig, field_names, field_spec, field_specs
from stylelab.errors import StylelabError
from stylelab.limits import show
from stylelab.safety import one_line

#: What a job runs: stylize's optimization, or instant (one AdaIN pass, then ``refine``).
METHODS = ("gatys", "instant")

#: The options the page shows first; every other StylizeConfig field is under "More".
MAIN_OPTIONS = (
    "size",
    "steps",
    "style_weight",
    "content_weight",
    "tv_weight",
    "backbone",
    "weights",
    "smoothing",
    "preserve_color",
    "optimizer",
    "seed",
)


def path_fields() -> dict[str, tuple[str, ...]]:
    """The fields that may name a file on the server (``path`` in their FieldSpec), and
    the values the web app takes for them: their names (``choices``), else the default."""
    return {spec.name: spec.choices or (spec.default,) for spec in field_specs() if spec.path}


def check_options(options: dict[str, Any]) -> StylizeConfig:
    """A StylizeConfig from the page's options, as the CLI validates them, and the web
    app's own rule: no option names a file on the server (see :func:`path_fields`)."""
    config = StylizeConfig.from_dict(options)
    for name, allowed in path_fields().items():
        value = getattr(config, name, None)
        if value is not None and value not in allowed:
            shown = ", ".join(v or repr(v) for v in allowed)
            raise StylelabError(
                f"--{name.replace('_', '-')} {one_line(value)[:80]}: the web app takes "
                f"{shown} (no file paths)"
            )
    from stylelab.backbones.registry import check_pooling

    check_pooling(config.backbone, config.pooling)  # an unknown backbone: refused now
    from stylelab.precision import check_device

    check_device(config.device, config.precision)  # --device cuda without CUDA: refused now
    return config


_NETWORK_LOCK = threading.Lock()


def check_network(config: StylizeConfig) -> None:
    """What :func:`stylelab.objective.build_objective` refuses about a job's network (the
    backbone and its weights, the layer names, the count of style layer weights), checked
    before the job is queued: the backbone is loaded once per (name, weights, pooling),
    one request at a time, and only its layer table kept (:func:`_layer_table`)."""
    from stylelab.objective import plan_layers

    with _NETWORK_LOCK:
        table = _layer_table(config.backbone, config.weights, config.pooling)
    plan_layers(table, config)


@functools.lru_cache(maxsize=16)
def _layer_table(name: str, weights: str, pooling: str) -> Any:
    """The backbone's names, layers and defaults without its network (a failure is not
    cached: weights copied in later are found)."""
    from stylelab.backbones import load_backbone

    return dataclasses.replace(load_backbone(name, weights, pooling), make_extractor=_unbuilt)


def _unbuilt(*_: object) -> Any:
    raise StylelabError("a layer table for checks: it has no network")


def check_job(
    method: object, options: dict[str, Any], instant: object
) -> tuple[StylizeConfig, Any]:
    """A job's StylizeConfig and, for ``method`` "instant", its
    :class:`~stylelab.adain.options.InstantOptions` (None for "gatys"). An instant job
    takes only the options instant shares with stylize (size, style blend, colour...),
    checked by :func:`check_options`; its ``instant`` fields by their own table."""
    if method == "gatys":
        if instant is not None:
            raise StylelabError('instant options need "method": "instant"')
        config = check_options(options)
        check_network(config)  # layers and weights refused now, not by a failed job
        return config, None
    if method != "instant":
        raise StylelabError(f"method must be {' or '.join(METHODS)}, got {show(method)}")
    from stylelab.adain.options import SHARED, InstantOptions

    other = [name for name in options if name not in SHARED]
    if other:
        taken = ", ".join(field_spec(name).flag for name in SHARED)
        own = ", ".join(field_names(InstantOptions))
        raise StylelabError(
            f"instant: {show(other[0])} is not an instant option; it takes {taken} (and {own})"
        )
    given: Any = {} if instant is None else instant  # from_dict refuses what is no dict
    return check_options(options), InstantOptions.from_dict(given)


def option_schema() -> dict[str, Any]:
    """StylizeConfig's fields for the page: name, kind, default, help, choices; and the
    instant job's: its own fields and the names of those it shares with stylize."""
    from stylelab.adain.options import SHARED, InstantOptions
    from stylelab.backbones.registry import list_backbones

    fields = [_form_field(spec) for spec in field_specs()]
    order = {name: i for i, name in enumerate(MAIN_OPTIONS)}
    fields.sort(key=lambda f: order.get(f["name"], len(order)))
    for entry in fields:
        if entry["name"] == "backbone":
            entry["suggestions"] = list_backbones()
    instant = [_form_field(spec) for spec in field_specs(InstantOptions)]
    return {"fields": fields, "instant": {"fields": instant, "shared": list(SHARED)}}


def _form_field(spec: FieldSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "kind": "list" if spec.many else spec.kind.__name__,
        "default": list(spec.default) if isinstance(spec.default, tuple) else spec.default,
        "optional": spec.optional,
        "help": spec.help,
        "choices": list(spec.choices) or None,
        "main": spec.name in MAIN_OPTIONS,
    }

"""stylelab: neural style transfer toolkit (Gatys optimization, backbone zoo, SWAG, sweeps).

The public names are imported on first use (PEP 562), so that ``import stylelab.cli`` and
``stylelab --help`` do not pay for torch and torchvision.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stylelab.adain.transfer import instant
    from stylelab.backbones import Backbone, list_backbones, load_backbone
    from stylelab.config import StylizeConfig
    from stylelab.errors import StylelabError
    from stylelab.gatys import StylizeResult, stylize
    from stylelab.images import load_image, save_image
    from stylelab.masks import Regions

# public name -> the submodule that defines it
_LAZY = {
    "Backbone": "stylelab.backbones",
    "Regions": "stylelab.masks",
    "StylelabError": "stylelab.errors",
    "StylizeConfig": "stylelab.config",
    "StylizeResult": "stylelab.gatys",
    "instant": "stylelab.adain.transfer",
    "list_backbones": "stylelab.backbones",
    "load_backbone": "stylelab.backbones",
    "load_image": "stylelab.images",
    "save_image": "stylelab.images",
    "stylize": "stylelab.gatys",
}

__all__ = [
    "Backbone",
    "Regions",
    "StylelabError",
    "StylizeConfig",
    "StylizeResult",
    "instant",
    "list_backbones",
    "load_backbone",
    "load_image",
    "save_image",
    "stylize",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        # AttributeError also lets ``from stylelab import losses`` fall back to the submodule
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

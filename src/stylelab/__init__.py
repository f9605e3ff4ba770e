"""stylelab: neural style transfer toolkit (Gatys optimization, backbone zoo, SWAG, sweeps)."""

from stylelab.backbones import Backbone, list_backbones, load_backbone
from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError
from stylelab.images import load_image, save_image
from stylelab.stylize import StylizeResult, stylize

__all__ = [
    "Backbone",
    "StylelabError",
    "StylizeConfig",
    "StylizeResult",
    "list_backbones",
    "load_backbone",
    "load_image",
    "save_image",
    "stylize",
]
__version__ = "0.1.0"

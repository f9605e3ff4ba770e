"""Video frames through the instant network, for ``stylelab video`` with an instant model.

:class:`InstantFrames` is a frame stylizer of :func:`stylelab.video.stylize_video`
((B, H, W, 3) uint8 RGB -> the same): each frame is turned as :func:`stylelab.instant`
turns a photo (:func:`stylelab.adain.transfer.stylize_photo`: AdaIN at the network's
layer, the decoder, the palette, the band contrast), with the paintings read once and
sized, encoded and measured once per frame size, instead of once per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from stylelab import color
from stylelab.adain.bands import painting_targets
from stylelab.adain.modelfile import InstantModel, load_decoder
from stylelab.adain.options import (
    DEFAULT_BAND_CONTRAST,
    DEFAULT_INTERNAL_SIZE,
    check_settings,
    check_sides,
    working_edges,
)
from stylelab.adain.transfer import Look, painting_statistics, stylize_photo
from stylelab.config import StylizeConfig, blend_weights
from stylelab.errors import StylelabError
from stylelab.images import ImageSource, check_finite, load_image, resize_long_edge
from stylelab.pixels import label
from stylelab.precision import resolve_precision


@dataclass
class InstantFrames:
    """Frames -> stylized frames with one instant model and its paintings (see the module)."""

    net: InstantModel
    paintings: list[torch.Tensor]  # (1, 3, h, w) in [0, 1], as read
    config: StylizeConfig  # style_scale, style_blend, preserve_color
    strength: float
    palette: float
    band_contrast: float
    internal_size: int
    use_bf16: bool
    painting_names: tuple[str, ...] = ()  # for messages: "style PATH"
    _prepared: tuple[int, list[torch.Tensor], tuple[list[Any], list[Any]], Look] | None = field(
        default=None, repr=False
    )  # for one frame edge: the paintings sized, their statistics and bands, the look

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 frames, turned one at a time."""
        out = np.empty_like(frames)
        for index, frame in enumerate(frames):
            photo = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None]
            photo = photo.float().div_(255.0)
            paintings, statistics, look = self._for_edge(frame.shape[:2])
            image, _ = stylize_photo(self.net, photo, paintings, look, None, *statistics)
            pixels = (image[0].permute(1, 2, 0).numpy() * 255.0).round()
            out[index] = np.clip(pixels, 0, 255).astype(np.uint8)
        return out

    def _for_edge(
        self, frame: tuple[int, ...]
    ) -> tuple[list[torch.Tensor], tuple[list[Any], list[Any]], Look]:
        """The paintings at the style size of frames of this (H, W), their statistics and
        band deviations, and the look (made again only when frames of another size come;
        checked then too)."""
        frame_edge = max(frame)
        if self._prepared is None or self._prepared[0] != frame_edge:
            working, style = working_edges(frame_edge, self.internal_size, self.config.style_scale)
            shapes = [tuple(frame), *(tuple(p.shape[-2:]) for p in self.paintings)]
            names = ["a frame", *(self.painting_names or ["style"] * len(self.paintings))]
            check_sides(shapes, (working, style), names)
            sized = [resize_long_edge(p, style) for p in self.paintings]
            blend = blend_weights(self.config.style_blend, len(sized))
            colour = self.config.preserve_color
            amounts = (self.palette, self.band_contrast)
            look = Look(blend, self.strength, working, colour, *amounts, self.use_bf16)
            statistics = painting_statistics(self.net, sized, self.use_bf16)
            targets = painting_targets([p.numpy() for p in sized], self.band_contrast)
            self._prepared = (frame_edge, sized, (statistics, targets), look)
        return self._prepared[1], self._prepared[2], self._prepared[3]

    def record(self) -> dict[str, Any]:
        """What OUT.json says of the model and its settings, as ``instant`` records a
        photo's: the working edge used (once a frame has come; before, the one asked for)
        and the palette and band-contrast amounts applied (times strength; no palette when
        the colours are kept)."""
        working = self.internal_size if self._prepared is None else self._prepared[3].working_edge
        asked = self.palette * self.strength
        return {
            "method": "instant (AdaIN, Huang & Belongie 2017)",
            "design": self.net.design,
            "strength": self.strength,
            "palette": color.applied_palette(self.config.preserve_color, asked),
            "band_contrast": self.band_contrast * self.strength,
            "internal_size": working,
            "style_scale": self.config.style_scale,
            "style_blend": list(blend_weights(self.config.style_blend, len(self.paintings))),
            "precision": "bf16" if self.use_bf16 else "fp32",
        }


def instant_frames(
    model: InstantModel | str | None,
    styles: Sequence[ImageSource],
    *,
    strength: float = 1.0,
    palette: float = 1.0,
    band_contrast: float = DEFAULT_BAND_CONTRAST,
    internal_size: int = DEFAULT_INTERNAL_SIZE,
    precision: str = "fp32",
    **options: Any,
) -> InstantFrames:
    """An :class:`InstantFrames` for ``model`` (an :class:`InstantModel`, a file, or None:
    the shipped one) and the paintings ``styles``; ``options`` are the settings instant
    shares with stylize (``style_scale``, ``style_blend``, ``preserve_color``). Every
    argument is checked, and the paintings read, before a frame is decoded."""
    config = check_settings(options, strength, 0, internal_size, palette, band_contrast)
    if not styles:
        raise StylelabError("an instant model needs a painting: --style PAINTING")
    paintings = [check_finite(load_image(s), label(s, "style")) for s in styles]
    blend_weights(config.style_blend, len(paintings))  # the count checked now
    net = model if isinstance(model, InstantModel) else load_decoder(model)
    use_bf16 = resolve_precision(precision, torch.device("cpu")) == "bf16"
    names = tuple(label(s, "style") for s in styles)
    amounts = (float(strength), float(palette), float(band_contrast))
    return InstantFrames(net, paintings, config, *amounts, int(internal_size), use_bf16, names)

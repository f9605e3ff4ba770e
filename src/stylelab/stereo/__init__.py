"""Stereo pairs stylized consistently (Chen et al., "Stereoscopic Neural Style Transfer",
CVPR 2018).

Modules: ``pair`` (two files, side by side, MPO), ``disparity`` (files, StereoSGBM, the
left-right check), ``warp`` (one view into the other, the consistency figure and loss),
``views`` (side by side, Dubois anaglyph, wiggle), ``joint`` (both views optimized
together with the Gatys objective), ``network`` (a fast model's views warped and blended),
``run`` (one run and its files).
"""

from __future__ import annotations

from stylelab.stereo.disparity import (
    PairDisparity,
    estimate_disparity,
    from_left,
    read_disparity,
    read_pfm,
    write_pfm,
    write_png16,
)
from stylelab.stereo.pair import StereoPair, load_mpo, load_pair, load_side_by_side
from stylelab.stereo.run import StereoResult, output_paths, stereo_stylize
from stylelab.stereo.views import anaglyph, side_by_side, write_wiggle
from stylelab.stereo.warp import consistency_error, consistency_loss, shift_rows

__all__ = [
    "PairDisparity",
    "StereoPair",
    "StereoResult",
    "anaglyph",
    "consistency_error",
    "consistency_loss",
    "estimate_disparity",
    "from_left",
    "load_mpo",
    "load_pair",
    "load_side_by_side",
    "output_paths",
    "read_disparity",
    "read_pfm",
    "shift_rows",
    "side_by_side",
    "stereo_stylize",
    "write_pfm",
    "write_png16",
    "write_wiggle",
]

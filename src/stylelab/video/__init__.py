"""Stylize videos frame by frame with any frame stylizer (PyAV and NumPy; no torch).

Modules: ``io`` (PyAV in and out: probing, decoding at the output size, encoding with the
input's timestamps, audio copied or re-encoded), ``temporal`` (the flicker figures and the
deflicker filter) and ``run`` (the job: checks, the batch loop, the JSON record, all
written together or not at all).

    from stylelab.fast import open_model
    from stylelab.video import stylize_video

    model = open_model("m.onnx")
    weights = model.style_weights(0)
    stylize_video("in.mp4", "out.mp4", lambda frames: model.stylize_frames(frames, weights))
"""

from __future__ import annotations

from stylelab.video.io import (
    VIDEO_SUFFIXES,
    VideoInfo,
    check_video_output,
    output_size,
    probe_video,
)
from stylelab.video.run import FrameStylizer, check_batch, stylize_video
from stylelab.video.temporal import check_deflicker, flicker, flicker_ratio

__all__ = [
    "VIDEO_SUFFIXES",
    "FrameStylizer",
    "VideoInfo",
    "check_batch",
    "check_deflicker",
    "check_video_output",
    "flicker",
    "flicker_ratio",
    "output_size",
    "probe_video",
    "stylize_video",
]

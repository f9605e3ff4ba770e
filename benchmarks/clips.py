"""Synthetic test clips for the video benchmarks and tests: a coloured square moving over a
gradient, optional pixel noise, a 440 Hz tone. Written with stylelab's own PyAV output
(:mod:`stylelab.video.io`), atomically.

    from clips import synthetic_clip            # in a benchmark script (benchmarks/ on the path)
    from benchmarks.clips import synthetic_clip  # in the tests (the repository root on the path)
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer

from stylelab.errors import StylelabError
from stylelab.safety import PathLike, one_line, write_together
from stylelab.video.io import (
    AUDIO_ENCODERS,
    VIDEO_ENCODERS,
    add_audio_stream,
    add_video_stream,
    check_video_output,
    encoder_path,
    even_edge,
    open_output,
)


def synthetic_clip(
    path: PathLike,
    *,
    seconds: float = 3.0,
    fps: int = 24,
    width: int = 96,
    height: int = 64,
    audio: bool | str = True,
    noise: float = 0.0,
    seed: int = 0,
    motion: bool = True,
) -> Path:
    """Write a test clip: a coloured square over a gradient, moving left to right (or
    still with ``motion=False``), with Gaussian pixel noise of std ``noise`` (0..1 units)
    drawn anew each frame, and a 440 Hz tone (``audio=True``: AAC in .mp4/.mov, Opus in
    .mkv/.webm; or an encoder name such as ``"pcm_s16le"``). H.264, or VP9 in .webm."""
    out = check_video_output(path)
    check_clip_settings(seconds, fps, noise, audio)
    suffix = out.suffix.lower()
    count = max(1, round(seconds * fps))
    rng = np.random.default_rng(seed)
    size = (even_edge(width), even_edge(height))
    codec, options = VIDEO_ENCODERS[suffix]
    with (
        write_together([out]) as (staged,),
        encoder_path(staged, out) as target,
        open_output(target, suffix, out) as container,
    ):
        video = add_video_stream(container, codec, fps, {**options, "crf": "10"}, size)
        tone = _tone_stream(container, suffix, audio)
        for index in range(count):
            image = synthetic_frame(index, count, video.width, video.height, motion)
            if noise > 0:
                image = image + rng.normal(0.0, noise * 255.0, image.shape)
            pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
            if tone is not None:
                _mux_tone(container, tone, index, fps)
        container.mux(video.encode(None))
        if tone is not None:
            container.mux(tone.encode(None))
    return out


def check_clip_settings(seconds: float, fps: int, noise: float, audio: bool | str) -> None:
    """One-line errors for :func:`synthetic_clip` settings that cannot make a clip."""
    if not 0 < seconds <= 3600 or not 1 <= fps <= 240 or not 0 <= noise <= 1:
        raise StylelabError(
            f"a synthetic clip needs 0 < seconds <= 3600, 1 <= fps <= 240 and 0 <= noise <= 1, "
            f"not seconds={seconds!r}, fps={fps!r}, noise={noise!r}"
        )
    if isinstance(audio, str) and audio not in av.codecs_available:
        raise StylelabError(one_line(f"{audio!r}: no such audio encoder in this ffmpeg"))


def synthetic_frame(index: int, count: int, width: int, height: int, motion: bool) -> np.ndarray:
    """Frame ``index`` of ``count`` of :func:`synthetic_clip`, float (H, W, 3) in 0..255."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack(
        [48 + 160 * x / max(1, width - 1), 48 + 160 * y / max(1, height - 1), 0 * x + 128],
        axis=2,
    )
    side = max(4, min(width, height) // 3)
    travel = (index / max(1, count - 1)) if motion else 0.5
    left = round((width - side) * travel)
    top = (height - side) // 2
    image[top : top + side, left : left + side] = (230.0, 40.0, 40.0)
    return image


def _tone_stream(container: OutputContainer, suffix: str, audio: bool | str) -> AudioStream | None:
    if audio is False:
        return None
    name = AUDIO_ENCODERS[suffix] if audio is True else str(audio)
    stream = add_audio_stream(container, name, 48_000)
    stream.codec_context.layout = "mono"
    return stream


def _mux_tone(container: OutputContainer, stream: AudioStream, index: int, fps: int) -> None:
    """The 440 Hz tone for video frame ``index``'s span of time."""
    rate = stream.codec_context.sample_rate
    start, stop = index * rate // fps, (index + 1) * rate // fps
    samples = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(start, stop) / rate)
    frame = av.AudioFrame.from_ndarray(
        samples.astype(np.float32)[None, :], format="fltp", layout="mono"
    )
    frame.sample_rate = rate
    frame.pts = start
    frame.time_base = Fraction(1, rate)
    container.mux(stream.encode(frame))

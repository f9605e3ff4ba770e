"""Stylize a video frame by frame with a feed-forward style network (no torch here).

:func:`stylize_video` decodes the first video stream (:mod:`stylelab.video.io`), scales
each frame to the output size (:func:`stylelab.video.io.output_size`), hands the frames to
a :data:`FrameStylizer` in batches (any callable ``(B, H, W, 3) uint8 RGB -> same``, e.g.
``StyleModel.stylize_frames``), deflickers and measures them
(:mod:`stylelab.video.temporal`: flicker and the flow-warping error) and encodes them.
The video and its JSON record (``out.json``) are written together and atomically
(:func:`stylelab.safety.write_together`): any error leaves nothing behind; Ctrl-C keeps the
frames done so far.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream
from tqdm import tqdm

from stylelab.errors import StylelabError
from stylelab.safety import PathLike, check_output_file, check_outputs, one_line, write_together
from stylelab.video.io import (
    AudioTrack,
    DecodedFrame,
    VideoInfo,
    VideoOutput,
    check_video_output,
    check_video_size,
    codec_name,
    decoded_frames,
    encoder_path,
    first_audio_stream,
    first_video_stream,
    open_input,
    open_output,
    output_size,
    probe_video,
)
from stylelab.video.temporal import (
    Deflicker,
    FrameChange,
    WarpingError,
    check_deflicker,
    flicker_ratio,
)

#: (B, H, W, 3) uint8 RGB frames -> stylized frames of the same shape, uint8.
FrameStylizer = Callable[[np.ndarray], np.ndarray]
MAX_BATCH = 64


def check_batch(batch: object) -> int:
    """``batch`` if it is a whole number from 1 to :data:`MAX_BATCH`."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise StylelabError(
            f"--batch must be a whole number from 1 to {MAX_BATCH}, not {one_line(repr(batch))}"
        )
    return batch


@dataclass
class StyledFrames:
    """The frames on their way out: stylized a batch at a time, deflickered, measured
    (:class:`stylelab.video.temporal.FrameChange`), encoded."""

    video: VideoOutput
    deflicker: Deflicker | None
    input_change: FrameChange = field(default_factory=FrameChange)
    output_change: FrameChange = field(default_factory=FrameChange)
    warping: WarpingError = field(default_factory=WarpingError)

    def write_batch(self, frames: Sequence[DecodedFrame], stylize: FrameStylizer) -> None:
        """Stylize ``frames`` in one call and encode the results in order."""
        batch = np.stack([frame.pixels for frame in frames])
        styled = checked_stylized(stylize(batch), batch.shape)
        for frame, image in zip(frames, styled, strict=True):
            if self.deflicker is not None:
                image = self.deflicker.apply(frame.pixels, image)
            self.input_change.add(frame.pixels)
            self.output_change.add(image)
            self.warping.add(frame.pixels, image)
            self.video.encode(image, frame)


def checked_stylized(styled: object, shape: tuple[int, ...]) -> np.ndarray:
    """The stylizer's result if it is a uint8 array of the batch's shape, else an error."""
    array = np.asarray(styled)
    if array.shape != shape or array.dtype != np.uint8:
        raise StylelabError(
            f"the style model returned {array.dtype} frames of shape {array.shape} for a "
            f"batch of shape {shape}; it must return uint8 frames of the same shape"
        )
    return array


@dataclass(frozen=True)
class VideoJob:
    """One :func:`stylize_video` call, checked."""

    source: Path
    output: Path
    size: tuple[int, int]
    batch: int
    deflicker: float
    audio: bool
    progress: bool
    info: VideoInfo

    @property
    def suffix(self) -> str:
        return self.output.suffix.lower()


@dataclass
class RunResult:
    """What the run did, for the record."""

    status: str
    frames: StyledFrames
    audio: AudioTrack | None


def stylize_video(
    source: PathLike,
    output: PathLike,
    stylize_frames: FrameStylizer,
    *,
    size: int | None = None,
    batch: int = 4,
    deflicker: float = 0.0,
    audio: bool = True,
    progress: bool = True,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Stylize every frame of ``source`` with ``stylize_frames`` and write ``output`` (a
    video) and its record ``output.json`` together; return the record.

    ``size``: the output's longer edge (None: the input's); ``batch``: frames per call to
    ``stylize_frames``; ``deflicker``: blend strength, 0 (off) to 1; ``audio``: keep the
    first audio stream. Every problem is one :class:`StylelabError` and nothing is
    written; Ctrl-C keeps the frames done so far (``"status": "interrupted"``).
    """
    job = checked_job(source, output, size, batch, deflicker, audio, progress)
    if not callable(stylize_frames):
        raise StylelabError("stylize_frames must be a callable taking a batch of frames")
    record_path = job.output.with_suffix(".json")
    check_output_file(record_path, {".json"})
    started = time.perf_counter()
    with write_together([job.output, record_path]) as (video_tmp, record_tmp):
        with encoder_path(video_tmp, job.output) as target:
            result = run_video(job, target, stylize_frames)
        record = video_record(job, result, time.perf_counter() - started, settings)
        text = json.dumps(record, indent=2, default=str) + "\n"
        record_tmp.write_text(text, encoding="utf-8")
    return record


def checked_job(
    source: PathLike,
    output: PathLike,
    size: object,
    batch: object,
    deflicker: object,
    audio: bool,
    progress: bool,
) -> VideoJob:
    """Every argument checked, the input probed: errors before anything is written."""
    checked_size = check_video_size(size)
    checked_batch = check_batch(batch)
    strength = check_deflicker(deflicker)
    target = check_video_output(output)
    info = probe_video(source)
    check_outputs([target, target.with_suffix(".json")], [source])
    return VideoJob(
        source=Path(source),
        output=target,
        size=output_size(*info.display_size, checked_size),
        batch=checked_batch,
        deflicker=strength,
        audio=bool(audio),
        progress=bool(progress),
        info=info,
    )


def run_video(job: VideoJob, target: Path, stylize: FrameStylizer) -> RunResult:
    """Decode, stylize and encode ``job`` into ``target``."""
    with open_input(job.source) as container:
        video_in = first_video_stream(container, job.source)
        video_in.thread_type = "AUTO"
        audio_in = first_audio_stream(container) if job.audio else None
        with open_output(target, job.suffix, job.output) as output:
            name = str(job.output)
            video = VideoOutput.create(output, video_in, job.suffix, job.size, name)
            frames = StyledFrames(video, Deflicker(job.deflicker) if job.deflicker > 0 else None)
            audio = AudioTrack(output, audio_in, job.suffix, name) if audio_in else None
            status = stylize_all(container, video_in, frames, audio, job, stylize)
            if status == "done" and video.frames == 0:
                raise StylelabError(
                    one_line(
                        f"{job.source}: no video frame could be decoded (damaged or cut short?)"
                    )
                )
            video.finish()
            if audio is not None:
                audio.finish(None if status == "done" else video.end_s)
    return RunResult(status=status, frames=frames, audio=audio)


def stylize_all(
    container: InputContainer,
    video_in: VideoStream,
    frames: StyledFrames,
    audio: AudioTrack | None,
    job: VideoJob,
    stylize: FrameStylizer,
) -> str:
    """The frame loop, batch by batch: ``"done"``, or ``"interrupted"`` on Ctrl-C (the
    frames written so far stay)."""
    bar = tqdm(
        total=job.info.frames or None,
        unit="frame",
        desc=one_line(job.source.name),
        file=sys.stderr,
        leave=False,
        disable=not job.progress,
        dynamic_ncols=True,
    )
    waiting: list[DecodedFrame] = []
    try:
        frames_in = decoded_frames(container, video_in, audio, job.size, job.source, job.info.turns)
        for frame in frames_in:
            waiting.append(frame)
            if len(waiting) == job.batch:
                frames.write_batch(waiting, stylize)
                bar.update(len(waiting))
                waiting = []
                if audio is not None:
                    audio.release(frames.video.end_s)
        if waiting:
            frames.write_batch(waiting, stylize)
            bar.update(len(waiting))
    except KeyboardInterrupt:
        return "interrupted"
    finally:
        bar.close()
    return "done"


def video_record(
    job: VideoJob, result: RunResult, seconds: float, settings: dict[str, Any] | None
) -> dict[str, Any]:
    """The JSON record of a run."""
    video = result.frames.video
    flicker_in = result.frames.input_change.mean
    flicker_out = result.frames.output_change.mean
    ratio = flicker_ratio(flicker_in, flicker_out)
    warping = result.frames.warping
    width, height = job.size
    done = result.status == "done"  # then the frames were counted, not estimated
    return {
        "status": result.status,
        "input": str(job.source),
        "output": str(job.output),
        "frames": video.frames,
        "width": width,
        "height": height,
        "input_width": job.info.width,
        "input_height": job.info.height,
        "input_frames": video.frames if done else job.info.frames,
        "input_rotation_deg": 90 * job.info.turns,  # counter-clockwise, to show it upright
        "input_pixel_aspect": str(job.info.pixel_aspect),
        "fps": round(job.info.fps, 3),
        "duration_s": round(video.duration_s, 3),
        "input_duration_s": round(job.info.duration_s or (video.duration_s if done else 0), 3),
        "video_codec": codec_name(video.stream),
        "audio": result.audio.description if result.audio is not None else None,
        "seconds": round(seconds, 3),
        "frames_per_s": round(video.frames / seconds, 2) if seconds > 0 else None,
        "batch": job.batch,
        "deflicker": job.deflicker,
        "flicker_input": _rounded(flicker_in, 6),
        "flicker_output": _rounded(flicker_out, 6),
        "flicker_ratio": _rounded(ratio, 4),
        "warping_error_output": _rounded(warping.output, 6),
        "warping_error_input": _rounded(warping.input, 6),
        "warping_error_ratio": _rounded(flicker_ratio(warping.input, warping.output), 4),
        "settings": settings,
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)

"""Stylize a video frame by frame with a feed-forward style network (no torch here).

:func:`stylize_video` decodes the first video stream with PyAV, scales each frame to the
output size (:func:`output_size`), hands the frames to a :data:`FrameStylizer` in batches
(any callable ``(B, H, W, 3) uint8 RGB -> same``: a torch model or an onnxruntime session)
and encodes the results: H.264 (libx264, yuv420p, CRF 18) in .mp4/.mkv/.mov, VP9 in .webm.
Every output frame keeps its input frame's timestamp in the input's time base, so frame
rate, duration and variable frame rates survive. The first audio stream is copied packet by
packet, or re-encoded (AAC in .mp4/.mov, Opus in .mkv/.webm) when the output container
cannot take its codec. The video and its JSON record (``out.json``) are written together
and atomically (:func:`stylelab.safety.write_together`); Ctrl-C keeps the frames done so far.

Flicker (temporal consistency), measured on the frames at the output size in [0, 1] units
over all pixels and channels, with running sums (no frame kept beyond the previous one)::

    flicker_input  = mean_t mean |x_t - x_{t-1}|     (input frames x)
    flicker_output = mean_t mean |y_t - y_{t-1}|     (written frames y)
    flicker_ratio  = flicker_output / flicker_input  (None: one frame, or a still input)

A ratio near 1 means the style changes no more than the video does; a stylizer that
amplifies sensor noise gives a ratio well above 1.

Deflicker (strength ``a`` in [0, 1], 0 = off) is a change-aware blend with the previous
output frame::

    d_t = B3(max_c |x_t - x_{t-1}|)           per pixel; B3 = 3x3 box blur
    m_t = a * exp(-d_t / sigma)               sigma = DEFLICKER_SIGMA = 0.05
    y_t = (1 - m_t) * T(x_t) + m_t * y_{t-1}  T = the stylizer

Where the input is still (d_t ~ 0, or just noise), the output is a running temporal average
(less flicker); where it moves (d_t >> sigma, a tenth of the range gives m_t < 0.14 a),
the output follows the new frame (no ghosting). The blur spreads a moving edge's change one
pixel outward and evens out single-pixel noise. ``y_{t-1}`` is kept in floating point
before its rounding to 8 bits, so slow fades do not stall.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.video.stream import VideoStream
from tqdm import tqdm

from stylelab.errors import StylelabError
from stylelab.safety import (
    PathLike,
    check_input_file,
    check_output_file,
    check_outputs,
    one_line,
    write_together,
)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm")
#: (B, H, W, 3) uint8 RGB frames -> stylized frames of the same shape, uint8.
FrameStylizer = Callable[[np.ndarray], np.ndarray]

DEFLICKER_SIGMA = 0.05  # change (in [0, 1] units) at which the blend weight falls to 1/e
MAX_BATCH = 64
MIN_EDGE, MAX_EDGE = 16, 8192
STILL_INPUT = 1e-5  # mean change below this (a few pixels off by one level): a still input

MUXERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
VIDEO_ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    ".mp4": ("libx264", {"crf": "18", "preset": "medium"}),
    ".mov": ("libx264", {"crf": "18", "preset": "medium"}),
    ".mkv": ("libx264", {"crf": "18", "preset": "medium"}),
    ".webm": ("libvpx-vp9", {"crf": "30", "deadline": "good", "cpu-used": "4", "row-mt": "1"}),
}
CONTAINER_OPTIONS = {".mp4": {"movflags": "+faststart"}, ".mov": {"movflags": "+faststart"}}
AUDIO_ENCODERS = {".mp4": "aac", ".mov": "aac", ".mkv": "libopus", ".webm": "libopus"}
AUDIO_BIT_RATES = {"aac": 160_000, "libopus": 128_000}
_PCM = frozenset({"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_f32le"})
#: Audio codecs copied as they are (when the muxer accepts them too); None: any it accepts.
#: MP4 keeps to what common players decode; Opus or PCM from elsewhere become AAC.
COPYABLE_AUDIO: dict[str, frozenset[str] | None] = {
    ".mp4": frozenset({"aac", "mp3", "ac3", "eac3", "alac"}),
    ".mov": frozenset({"aac", "mp3", "ac3", "eac3", "alac"}) | _PCM,
    ".mkv": None,
    ".webm": frozenset({"opus", "vorbis"}),
}


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` finds in a video file."""

    width: int
    height: int
    fps: float
    frames: int  # from the container's index when it has one, else duration * fps
    duration_s: float
    video_codec: str
    audio_codec: str | None


# ----------------------------------------------------------------------------- checks


def check_video_output(path: PathLike) -> Path:
    """``path`` if a video can be written there: a known suffix (:data:`VIDEO_SUFFIXES`),
    not a folder, in an existing writable folder."""
    return check_output_file(path, VIDEO_SUFFIXES)


def check_batch(batch: object) -> int:
    """``batch`` if it is a whole number from 1 to :data:`MAX_BATCH`."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise StylelabError(
            f"--batch must be a whole number from 1 to {MAX_BATCH}, not {one_line(repr(batch))}"
        )
    return batch


def check_deflicker(strength: object) -> float:
    """``strength`` as a float if it is a number from 0 (off) to 1."""
    if (
        isinstance(strength, bool)
        or not isinstance(strength, (int, float))
        or not 0.0 <= float(strength) <= 1.0
    ):
        raise StylelabError(
            f"--deflicker must be a number from 0 (off) to 1, not {one_line(repr(strength))}"
        )
    return float(strength)


def check_video_size(size: object) -> int | None:
    """``size`` (the output's longer edge) if it is None or a whole number of pixels from
    :data:`MIN_EDGE` to :data:`MAX_EDGE`."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_EDGE <= size <= MAX_EDGE:
        raise StylelabError(
            f"--size must be a whole number of pixels from {MIN_EDGE} to {MAX_EDGE}, "
            f"not {one_line(repr(size))}"
        )
    return size


def output_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) of the output: the longer edge ``size`` (None: the input's), aspect
    kept, both rounded to even numbers (yuv420p halves the colour planes), at least 16."""
    if width < 1 or height < 1:
        raise StylelabError(f"a video frame of {width}x{height} pixels has no picture")
    longer = check_video_size(size)
    scale = 1.0 if longer is None else longer / max(width, height)
    return _even(width * scale), _even(height * scale)


def _even(length: float) -> int:
    return max(MIN_EDGE, 2 * math.floor(length / 2 + 0.5))


# ----------------------------------------------------------------------------- probing


def probe_video(path: PathLike) -> VideoInfo:
    """Size, frame rate, length and codecs of a video file; one-line errors for a missing
    file, a FIFO, a file ffmpeg cannot read, or one with no video stream."""
    source = check_input_file(path, "video")
    with open_input(source) as container:
        video = first_video_stream(container, source)
        return describe_streams(container, video, first_audio_stream(container))


@contextmanager
def open_input(source: Path) -> Iterator[InputContainer]:
    """The file opened with PyAV, or a one-line error if ffmpeg cannot read it."""
    try:
        container = av.open(str(source), "r", metadata_errors="replace")
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise StylelabError(
            one_line(f"{source}: not a video file ffmpeg can read ({ffmpeg_reason(exc)})")
        ) from None
    try:
        yield container
    finally:
        container.close()


def is_still_image(demuxer: str) -> bool:
    """ffmpeg's demuxers of single pictures: image2 and the ``*_pipe`` ones (png_pipe,
    jpeg_pipe, ...). Animated GIF and APNG have their own demuxers and count as videos."""
    return demuxer == "image2" or demuxer.endswith("_pipe")


def first_video_stream(container: InputContainer, source: Path) -> VideoStream:
    """The first video stream that is a moving picture (not a cover image), or an error
    (also for a still image, which ffmpeg would read as a one-frame video)."""
    if is_still_image(container.format.name):
        raise StylelabError(
            one_line(f"{source}: a still image, not a video; 'stylelab apply' stylizes images")
        )
    for stream in container.streams.video:
        if stream.disposition & av.stream.Disposition.attached_pic:
            continue
        if stream.codec_context is None:
            raise StylelabError(one_line(f"{source}: no decoder for its video codec"))
        if not stream.codec_context.width or not stream.codec_context.height:
            raise StylelabError(one_line(f"{source}: its video stream has no picture size"))
        return stream
    only = " (only audio)" if container.streams.audio else ""
    raise StylelabError(one_line(f"{source}: has no video stream{only}"))


def describe_streams(
    container: InputContainer, video: VideoStream, audio: AudioStream | None
) -> VideoInfo:
    """A :class:`VideoInfo` from the opened streams."""
    fps = float(frame_rate(video))
    duration = 0.0
    if video.duration and video.time_base:
        duration = float(video.duration * video.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    frames = video.frames or round(duration * fps)
    return VideoInfo(
        width=video.codec_context.width,
        height=video.codec_context.height,
        fps=fps,
        frames=int(frames),
        duration_s=duration,
        video_codec=video.codec_context.name,
        audio_codec=audio.codec_context.name if audio and audio.codec_context else None,
    )


def first_audio_stream(container: InputContainer) -> AudioStream | None:
    """The first audio stream, if there is one that ffmpeg can decode."""
    if not container.streams.audio:
        return None
    stream = container.streams.audio[0]
    return stream if stream.codec_context is not None else None


def frame_rate(stream: VideoStream) -> Fraction:
    """The stream's average frame rate (its guessed or base rate if unknown; else 25)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate > 0:
            return Fraction(rate)
    return Fraction(25)


def ffmpeg_reason(exc: BaseException) -> str:
    """What PyAV or ffmpeg said, in a few words, without the file name."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    reason = str(reason).strip()
    return one_line(reason[:1].lower() + reason[1:])


@contextmanager
def ffmpeg_errors(message: str) -> Iterator[None]:
    """Turn PyAV's exceptions in the block into one :class:`StylelabError`: ``message``
    and ffmpeg's reason in brackets."""
    try:
        yield
    except av.error.FFmpegError as exc:
        raise StylelabError(one_line(f"{message} ({ffmpeg_reason(exc)})")) from None


# ----------------------------------------------------------------------------- flicker


def flicker(frames_before: np.ndarray, frames_after: np.ndarray) -> float:
    """Mean |after - before| over all pixels and channels, in [0, 1] units: uint8 frames
    are divided by 255, float frames are taken as [0, 1] already. Pass two frames, or a
    clip's ``frames[:-1]`` and ``frames[1:]`` for its mean frame-to-frame change."""
    before, after = np.asarray(frames_before), np.asarray(frames_after)
    if before.shape != after.shape:
        raise StylelabError(f"flicker: frames of shapes {before.shape} and {after.shape}")
    if before.size == 0:
        return 0.0
    if before.dtype == np.uint8 and after.dtype == np.uint8:
        change = np.abs(after.astype(np.int16) - before.astype(np.int16))
        return float(change.mean(dtype=np.float64)) / 255.0
    change = np.abs(after.astype(np.float32) - before.astype(np.float32))
    return float(change.mean(dtype=np.float64))


@dataclass
class FrameChange:
    """Running mean of :func:`flicker` between consecutive frames; keeps one frame."""

    previous: np.ndarray | None = None
    total: float = 0.0
    pairs: int = 0

    def add(self, frame: np.ndarray) -> None:
        if self.previous is not None:
            self.total += flicker(self.previous, frame)
            self.pairs += 1
        self.previous = frame

    @property
    def mean(self) -> float | None:
        return self.total / self.pairs if self.pairs else None


def flicker_ratio(flicker_input: float | None, flicker_output: float | None) -> float | None:
    """flicker_output / flicker_input; None for one frame or an input that does not move."""
    if flicker_input is None or flicker_output is None or flicker_input < STILL_INPUT:
        return None
    return flicker_output / flicker_input


# ----------------------------------------------------------------------------- deflicker


def box_blur3(plane: np.ndarray) -> np.ndarray:
    """3x3 box blur of a 2-D array (edges repeated)."""
    padded = np.pad(plane, 1, mode="edge")
    height, width = plane.shape
    total = np.zeros_like(plane)
    for dy in range(3):
        for dx in range(3):
            total += padded[dy : dy + height, dx : dx + width]
    return total / 9.0


def blend_weights(
    previous_input: np.ndarray, current_input: np.ndarray, strength: float
) -> np.ndarray:
    """m_t = strength * exp(-d_t / sigma), d_t = box_blur3(max_c |x_t - x_{t-1}|), per
    pixel, for float frames in [0, 1]; shape (H, W)."""
    change = np.abs(current_input - previous_input).max(axis=2)
    return strength * np.exp(-box_blur3(change) / DEFLICKER_SIGMA)


@dataclass
class Deflicker:
    """Change-aware blend of each stylized frame with the previous output frame."""

    strength: float
    previous_input: np.ndarray | None = None
    previous_output: np.ndarray | None = None

    def apply(self, source: np.ndarray, styled: np.ndarray) -> np.ndarray:
        """y_t from the input frame x_t and the stylizer's T(x_t), both uint8 (H, W, 3)."""
        current_input = source.astype(np.float32) / 255.0
        output = styled.astype(np.float32)
        if self.previous_input is not None and self.previous_output is not None:
            weights = blend_weights(self.previous_input, current_input, self.strength)
            weights = weights[..., None].astype(np.float32)
            output = (1.0 - weights) * output + weights * self.previous_output
        self.previous_input, self.previous_output = current_input, output
        return np.clip(np.rint(output), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- writing


@dataclass
class DecodedFrame:
    """One input frame at the output size, with its timing in the input's time base."""

    pixels: np.ndarray
    pts: int | None
    duration: int


@dataclass
class VideoWriter:
    """The output video stream: stylizes batches, deflickers, measures, encodes."""

    output: OutputContainer
    stream: VideoStream
    time_base: Fraction
    step: int  # one frame at the nominal rate, in time_base units
    deflicker: Deflicker | None
    target_name: str
    input_change: FrameChange = field(default_factory=FrameChange)
    output_change: FrameChange = field(default_factory=FrameChange)
    frames: int = 0
    first_pts: int | None = None
    last_pts: int | None = None
    last_duration: int = 0

    @classmethod
    def create(
        cls,
        output: OutputContainer,
        source: VideoStream,
        suffix: str,
        size: tuple[int, int],
        deflicker: float,
        target_name: str,
    ) -> VideoWriter:
        codec, options = VIDEO_ENCODERS[suffix]
        rate = frame_rate(source)
        time_base = Fraction(source.time_base) if source.time_base else 1 / rate
        stream = add_video_stream(output, codec, rate, options, size)
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        return cls(
            output=output,
            stream=stream,
            time_base=time_base,
            step=max(1, round(1 / (rate * time_base))),
            deflicker=Deflicker(deflicker) if deflicker > 0 else None,
            target_name=target_name,
        )

    def write_batch(self, frames: Sequence[DecodedFrame], stylize: FrameStylizer) -> None:
        """Stylize ``frames`` in one call and encode the results in order."""
        batch = np.stack([frame.pixels for frame in frames])
        styled = checked_stylized(stylize(batch), batch.shape)
        for frame, image in zip(frames, styled, strict=True):
            if self.deflicker is not None:
                image = self.deflicker.apply(frame.pixels, image)
            self.input_change.add(frame.pixels)
            self.output_change.add(image)
            self.encode(image, frame)

    def encode(self, image: np.ndarray, source: DecodedFrame) -> None:
        """Encode one frame at its input frame's timestamp (kept strictly increasing)."""
        pts = source.pts
        if pts is None or (self.last_pts is not None and pts <= self.last_pts):
            pts = 0 if self.last_pts is None else self.last_pts + self.step
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = pts
        frame.time_base = self.time_base
        if source.duration > 0:
            frame.duration = source.duration
        with ffmpeg_errors(f"{self.target_name}: could not encode frame {self.frames + 1}"):
            self.output.mux(self.stream.encode(frame))
        self.first_pts = pts if self.first_pts is None else self.first_pts
        self.last_pts = pts
        self.last_duration = source.duration if source.duration > 0 else self.step
        self.frames += 1

    def finish(self) -> None:
        """Flush the encoder's delayed frames into the file."""
        with ffmpeg_errors(f"{self.target_name}: could not finish the video"):
            self.output.mux(self.stream.encode(None))

    @property
    def end_s(self) -> float | None:
        """Where the written video ends, in seconds (None before the first frame)."""
        if self.last_pts is None:
            return None
        return float((self.last_pts + self.last_duration) * self.time_base)

    @property
    def duration_s(self) -> float:
        if self.first_pts is None or self.last_pts is None:
            return 0.0
        return float((self.last_pts + self.last_duration - self.first_pts) * self.time_base)


def add_video_stream(
    output: OutputContainer,
    codec: str,
    rate: Fraction | int,
    options: dict[str, str],
    size: tuple[int, int],
) -> VideoStream:
    """A new yuv420p video stream of ``size`` encoded by ``codec``."""
    stream = output.add_stream(codec, rate=rate, options=dict(options))
    if not isinstance(stream, VideoStream):
        raise StylelabError(f"{codec} is not a video encoder")
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    return stream


def add_audio_stream(output: OutputContainer, codec: str, rate: int) -> AudioStream:
    """A new audio stream encoded by ``codec`` at ``rate`` samples per second."""
    stream = output.add_stream(codec, rate=rate)
    if not isinstance(stream, AudioStream):
        raise StylelabError(f"{codec} is not an audio encoder")
    return stream


def checked_stylized(styled: object, shape: tuple[int, ...]) -> np.ndarray:
    """The stylizer's result if it is a uint8 array of the batch's shape, else an error."""
    array = np.asarray(styled)
    if array.shape != shape or array.dtype != np.uint8:
        raise StylelabError(
            f"the style model returned {array.dtype} frames of shape {array.shape} for a "
            f"batch of shape {shape}; it must return uint8 frames of the same shape"
        )
    return array


class AudioTrack:
    """The input's first audio stream on its way out: packets copied as they are, or decoded
    and re-encoded when the output container does not take the codec. Packets wait until
    the video is written past their time, so an interrupted file ends where its video does."""

    def __init__(
        self, output: OutputContainer, source: AudioStream, suffix: str, target_name: str
    ) -> None:
        self.output = output
        self.source = source
        self.target_name = target_name
        self.pending: deque[Packet] = deque()
        self.source_codec = source.codec_context.name
        copied = self.copy_stream(suffix)
        self.copied = copied is not None
        self.stream: AudioStream = copied if copied is not None else self.encoder(suffix)
        self.codec = self.source_codec if self.copied else codec_name(self.stream)

    def copy_stream(self, suffix: str) -> AudioStream | None:
        """A stream for copied packets, or None if the container should not take them."""
        allowed = COPYABLE_AUDIO[suffix]
        if allowed is not None and self.source_codec not in allowed:
            return None
        try:
            return self.output.add_stream_from_template(self.source)
        except (ValueError, av.error.FFmpegError):
            return None

    def encoder(self, suffix: str) -> AudioStream:
        """A new AAC or Opus stream at the input's sample rate if the encoder takes it."""
        name = AUDIO_ENCODERS[suffix]
        rate = self.source.codec_context.sample_rate or 48_000
        rates = av.Codec(name, "w").audio_rates
        if rates and rate not in rates:
            rate = 48_000
        stream = add_audio_stream(self.output, name, rate)
        channels = self.source.codec_context.channels or 2
        stream.codec_context.layout = "mono" if channels == 1 else "stereo"
        stream.codec_context.bit_rate = AUDIO_BIT_RATES[name]
        stream.time_base = Fraction(1, rate)
        return stream

    @property
    def description(self) -> dict[str, str]:
        return {
            "codec": self.codec,
            "source_codec": self.source_codec,
            "mode": "copied" if self.copied else "re-encoded",
        }

    def add(self, packet: Packet) -> None:
        if packet.size and (packet.dts is not None or packet.pts is not None):
            self.pending.append(packet)

    def release(self, until_s: float | None) -> None:
        """Write the waiting packets that start before ``until_s`` (None: all)."""
        while self.pending and (until_s is None or packet_start(self.pending[0]) < until_s):
            self.write(self.pending.popleft())

    def write(self, packet: Packet) -> None:
        with ffmpeg_errors(f"{self.target_name}: could not write the audio"):
            if self.copied:
                packet.stream = self.stream
                self.output.mux(packet)
                return
            for frame in self.source.decode(packet):
                self.output.mux(self.stream.encode(frame))

    def finish(self, until_s: float | None) -> None:
        """Write what is due, drop the rest, flush the encoder."""
        self.release(until_s)
        self.pending.clear()
        if not self.copied:
            with ffmpeg_errors(f"{self.target_name}: could not finish the audio"):
                for frame in self.source.decode(None):
                    self.output.mux(self.stream.encode(frame))
                self.output.mux(self.stream.encode(None))


def codec_name(stream: VideoStream | AudioStream) -> str:
    """The format's name of a stream's codec (``h264``, ``opus``), not the encoder's."""
    return stream.codec_context.codec.canonical_name


def packet_start(packet: Packet) -> float:
    """When a packet starts, in seconds."""
    stamp = packet.pts if packet.pts is not None else packet.dts
    if stamp is None or packet.time_base is None:
        return 0.0
    return float(stamp * packet.time_base)


def decoded_frames(
    container: InputContainer,
    video: VideoStream,
    audio: AudioTrack | None,
    size: tuple[int, int],
    source: Path,
) -> Iterator[DecodedFrame]:
    """The video's frames at ``size`` as RGB arrays, in order; audio packets on the way
    go to ``audio``. A decoder error is one :class:`StylelabError`."""
    width, height = size
    scaling = (
        "AREA" if width * height < video.codec_context.width * video.codec_context.height else None
    )
    streams = [video] if audio is None else [video, audio.source]
    packets = container.demux(*streams)
    done = 0
    while True:
        with ffmpeg_errors(f"{source}: could not decode video frame {done + 1}"):
            packet = next(packets, None)
            if packet is None:
                return
            if audio is not None and packet.stream.index == audio.source.index:
                audio.add(packet)
                continue
            frames = video.decode(packet)
            arrays = [
                frame.to_ndarray(format="rgb24", width=width, height=height, interpolation=scaling)
                for frame in frames
            ]
        for frame, pixels in zip(frames, arrays, strict=True):
            done += 1
            yield DecodedFrame(pixels, frame.pts, int(frame.duration or 0))


@contextmanager
def encoder_path(staged: Path, final: Path) -> Iterator[Path]:
    """A path ffmpeg can write the video to: the staged temporary itself if ffmpeg can
    open it and seek in it (mp4 writes its index last), else a hidden temporary file in
    the output folder whose bytes are copied into the staged one at the end."""
    if can_reopen(staged):
        yield staged
        return
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(handle)
    hidden = Path(name)
    try:
        yield hidden
        copy_into(hidden, staged)
    finally:
        hidden.unlink(missing_ok=True)


def can_reopen(path: Path) -> bool:
    """Whether ``path`` opens for writing (as ffmpeg opens it) and seeks."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    except OSError:
        return False
    try:
        os.lseek(handle, 0, os.SEEK_END)
        os.lseek(handle, 0, os.SEEK_SET)
        return True
    except OSError:
        return False
    finally:
        os.close(handle)


def copy_into(source: Path, staged: Path) -> None:
    """Copy ``source`` into the staged temporary: by its name, or by its open descriptor
    when it is an anonymous file (``/proc/self/fd/N``) that cannot be opened again."""
    descriptor = staged_descriptor(staged)
    if descriptor is None:
        with open(source, "rb") as reader, open(staged, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
        return
    os.ftruncate(descriptor, 0)
    os.lseek(descriptor, 0, os.SEEK_SET)
    with open(source, "rb") as reader:
        while chunk := reader.read(1 << 20):
            view = memoryview(chunk)
            while view:
                view = view[os.write(descriptor, view) :]


def staged_descriptor(staged: Path) -> int | None:
    """N for a ``/proc/self/fd/N`` path, else None."""
    if staged.parent == Path("/proc/self/fd") and staged.name.isdigit():
        return int(staged.name)
    return None


@contextmanager
def open_output(path: Path, suffix: str, final: Path) -> Iterator[OutputContainer]:
    """The output container; closed (trailer written) when the block ends normally, closed
    quietly on an error (the caller discards the file)."""
    with ffmpeg_errors(f"{final}: could not create the video"):
        container = av.open(
            str(path),
            "w",
            format=MUXERS[suffix],
            container_options=dict(CONTAINER_OPTIONS.get(suffix, {})),
        )
    try:
        yield container
    except BaseException:
        with suppress(Exception):
            container.close()
        raise
    with ffmpeg_errors(f"{final}: could not finish the video file"):
        container.close()


# ----------------------------------------------------------------------------- the run


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
    video: VideoWriter
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
        size=output_size(info.width, info.height, checked_size),
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
            video = VideoWriter.create(output, video_in, job.suffix, job.size, job.deflicker, name)
            audio = AudioTrack(output, audio_in, job.suffix, name) if audio_in else None
            status = stylize_all(container, video_in, video, audio, job, stylize)
            if status == "done" and video.frames == 0:
                raise StylelabError(
                    one_line(
                        f"{job.source}: no video frame could be decoded (damaged or cut short?)"
                    )
                )
            video.finish()
            if audio is not None:
                audio.finish(None if status == "done" else video.end_s)
    return RunResult(status=status, video=video, audio=audio)


def stylize_all(
    container: InputContainer,
    video_in: VideoStream,
    video: VideoWriter,
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
        for frame in decoded_frames(container, video_in, audio, job.size, job.source):
            waiting.append(frame)
            if len(waiting) == job.batch:
                video.write_batch(waiting, stylize)
                bar.update(len(waiting))
                waiting = []
                if audio is not None:
                    audio.release(video.end_s)
        if waiting:
            video.write_batch(waiting, stylize)
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
    video = result.video
    flicker_in, flicker_out = video.input_change.mean, video.output_change.mean
    ratio = flicker_ratio(flicker_in, flicker_out)
    width, height = job.size
    return {
        "status": result.status,
        "input": str(job.source),
        "output": str(job.output),
        "frames": video.frames,
        "width": width,
        "height": height,
        "input_width": job.info.width,
        "input_height": job.info.height,
        "input_frames": job.info.frames,
        "fps": round(job.info.fps, 3),
        "duration_s": round(video.duration_s, 3),
        "input_duration_s": round(job.info.duration_s, 3),
        "video_codec": codec_name(video.stream),
        "audio": result.audio.description if result.audio is not None else None,
        "seconds": round(seconds, 3),
        "frames_per_s": round(video.frames / seconds, 2) if seconds > 0 else None,
        "batch": job.batch,
        "deflicker": job.deflicker,
        "flicker_input": _rounded(flicker_in, 6),
        "flicker_output": _rounded(flicker_out, 6),
        "flicker_ratio": _rounded(ratio, 4),
        "settings": settings,
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# ----------------------------------------------------------------------------- test clips


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
    size = (_even(width), _even(height))
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

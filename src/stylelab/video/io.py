"""Video in and out with PyAV: probing, decoding at the output size, encoding with the
input's timestamps, the first audio stream copied or re-encoded, and the staging that lets
ffmpeg write into :func:`stylelab.safety.write_together`'s temporary files.

Video: H.264 (libx264, yuv420p, CRF 18) in .mp4/.mkv/.mov, VP9 in .webm. Every output
frame keeps its input frame's timestamp in the input's time base, so frame rate, duration
and variable frame rates survive. Audio: the first stream is copied packet by packet, or
re-encoded (AAC in .mp4/.mov, Opus in .mkv/.webm) when the output container cannot take
its codec. Every ffmpeg failure is one :class:`StylelabError` line.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.audio.codeccontext import AudioCodecContext
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc
from av.video.stream import VideoStream

from stylelab.errors import StylelabError
from stylelab.safety import (
    PathLike,
    check_input_file,
    check_output_file,
    hidden_temporary,
    one_line,
)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm")
MIN_EDGE, MAX_EDGE = 16, 8192

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

    width: int  # as stored
    height: int
    fps: float
    frames: int  # from the container's index when it has one, else duration * fps
    duration_s: float
    video_codec: str
    audio_codec: str | None
    turns: int = 0  # quarter turns counter-clockwise that show it upright (display matrix)
    pixel_aspect: Fraction = Fraction(1)  # a stored pixel's width / height (anamorphic)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as a player shows it: square pixels, turned upright."""
        width = max(1, round(self.width * self.pixel_aspect))
        return (self.height, width) if self.turns % 2 else (width, self.height)


def check_video_output(path: PathLike) -> Path:
    """``path`` if a video can be written there: a known suffix (:data:`VIDEO_SUFFIXES`),
    not a folder, in an existing writable folder."""
    return check_output_file(path, VIDEO_SUFFIXES)


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
    return even_edge(width * scale), even_edge(height * scale)


def even_edge(length: float) -> int:
    return max(MIN_EDGE, 2 * math.floor(length / 2 + 0.5))


# ----------------------------------------------------------------------------- probing


def probe_video(path: PathLike) -> VideoInfo:
    """Size, frame rate, length and codecs of a video file; one-line errors for a missing
    file, a FIFO, a file ffmpeg cannot read, or one with no video stream."""
    source = check_input_file(path, "video")
    with open_input(source) as container:
        video = first_video_stream(container, source)
        info = describe_streams(container, video, first_audio_stream(container))
        return dataclasses.replace(info, turns=first_frame_turns(container, video))


def first_frame_turns(container: InputContainer, video: VideoStream) -> int:
    """Quarter turns counter-clockwise (0-3) that the first frame's display matrix asks
    for: a phone's portrait video is stored on its side. 0 when no frame decodes here (the
    run says why)."""
    with suppress(av.error.FFmpegError, StopIteration):
        frame = next(container.decode(video))
        return round((frame.rotation or 0) / 90) % 4
    return 0


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
        what = (
            "a WebP image (ffmpeg reads no animated WebP)"
            if container.format.name == "webp_pipe"
            else "a still image"
        )
        raise StylelabError(
            one_line(
                f"{source}: {what}, not a video; 'stylelab apply' (a fast model) or "
                "'stylelab instant' (any painting) stylizes images"
            )
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
    aspect = video.codec_context.sample_aspect_ratio
    return VideoInfo(
        width=video.codec_context.width,
        height=video.codec_context.height,
        fps=fps,
        frames=int(frames),
        duration_s=duration,
        video_codec=video.codec_context.name,
        audio_codec=audio.codec_context.name if audio and audio.codec_context else None,
        pixel_aspect=Fraction(aspect) if aspect and aspect > 0 else Fraction(1),
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


@dataclass
class DecodedFrame:
    """One input frame at the output size, with its timing in the input's time base."""

    pixels: np.ndarray
    pts: int | None
    duration: int


@dataclass
class VideoOutput:
    """The output video stream: frames encoded at their input frames' timestamps."""

    output: OutputContainer
    stream: VideoStream
    time_base: Fraction
    step: int  # one frame at the nominal rate, in time_base units
    target_name: str
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
        target_name: str,
    ) -> VideoOutput:
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
            target_name=target_name,
        )

    def encode(self, image: np.ndarray, source: DecodedFrame) -> None:
        """Encode one frame at its input frame's timestamp (kept strictly increasing)."""
        pts = source.pts
        if pts is None or (self.last_pts is not None and pts <= self.last_pts):
            pts = 0 if self.last_pts is None else self.last_pts + self.step
        frame = tagged_frame(image)
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
    """A new yuv420p video stream of ``size`` encoded by ``codec``, tagged BT.709 (matrix,
    primaries, transfer) and limited range: the frames of :func:`tagged_frame`. Untagged,
    players read HD video as BT.709 and SD as BT.601, and swscale's default is BT.601:
    an HD output's colours shifted (green lost about 33 levels)."""
    stream = output.add_stream(codec, rate=rate, options=dict(options))
    if not isinstance(stream, VideoStream):
        raise StylelabError(f"{codec} is not a video encoder")
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    context = stream.codec_context
    context.colorspace, context.color_range = Colorspace.ITU709, ColorRange.MPEG
    context.color_primaries, context.color_trc = ColorPrimaries.BT709, ColorTrc.BT709
    return stream


def tagged_frame(image: np.ndarray) -> av.VideoFrame:
    """An (H, W, 3) uint8 sRGB image as a yuv420p frame in BT.709, limited range (what
    :func:`add_video_stream` tags)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    return frame.reformat(
        format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG
    )


def add_audio_stream(output: OutputContainer, codec: str, rate: int) -> AudioStream:
    """A new audio stream encoded by ``codec`` at ``rate`` samples per second."""
    stream = output.add_stream(codec, rate=rate)
    if not isinstance(stream, AudioStream):
        raise StylelabError(f"{codec} is not an audio encoder")
    return stream


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
        layout = encodable_layout(name, rate, self.source.codec_context)
        stream.codec_context.layout = layout
        channels = len(av.AudioLayout(layout).channels)  # the stereo rate per pair of them
        stream.codec_context.bit_rate = AUDIO_BIT_RATES[name] * max(2, channels) // 2
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


#: The layout written for 5, 6 or 8 channels (FFmpeg's names): AC-3, DTS and PCM 5.1 come as
#: "5.1(side)", which Opus refuses and AAC writes only with a program config element that
#: many players misread; swresample maps side to back channels.
STANDARD_LAYOUTS = {5: "5.0", 6: "5.1", 8: "7.1"}


def encodable_layout(name: str, rate: int, source: object) -> str:
    """The layout encoder ``name`` is given: the standard one of the source's channel
    count (:data:`STANDARD_LAYOUTS`), or for other counts the source's own, when the
    encoder opens with it; else stereo (mono stays mono). Surround sound is kept rather
    than mixed down."""
    layout = getattr(source, "layout", None)
    channels = getattr(source, "channels", 0) or 2
    fallback = "mono" if channels == 1 else "stereo"
    if layout is None or channels <= 2:
        return fallback
    wanted = STANDARD_LAYOUTS.get(channels, str(layout.name))
    trial = av.CodecContext.create(name, "w")
    formats = av.Codec(name, "w").audio_formats
    if not isinstance(trial, AudioCodecContext) or not formats:
        return fallback
    try:
        trial.sample_rate, trial.layout, trial.format = rate, wanted, formats[0]
        trial.open()
    except (ValueError, av.error.FFmpegError):
        return fallback
    return wanted


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
    turns: int = 0,
) -> Iterator[DecodedFrame]:
    """The video's frames at ``size`` (upright: turned by ``turns`` quarter turns, the
    first frame's display matrix, :attr:`VideoInfo.turns`; stored pixels scaled to square
    ones) as RGB arrays, in order; audio packets on the way go to ``audio``. A decoder
    error is one :class:`StylelabError`."""
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
            arrays = [upright(frame, width, height, scaling, turns) for frame in frames]
        for frame, pixels in zip(frames, arrays, strict=True):
            done += 1
            yield DecodedFrame(pixels, frame.pts, int(frame.duration or 0))


def upright(
    frame: av.VideoFrame, width: int, height: int, scaling: str | None, turns: int
) -> np.ndarray:
    """``frame`` as an (height, width, 3) RGB array, turned by ``turns`` quarter turns
    counter-clockwise (decoded at the turned size, then rotated: no resampling twice), its
    colours read as :func:`source_colorspace` says."""
    stored = (height, width) if turns % 2 else (width, height)
    array = frame.to_ndarray(
        format="rgb24",
        width=stored[0],
        height=stored[1],
        interpolation=scaling,
        src_colorspace=source_colorspace(frame),
    )
    return np.ascontiguousarray(np.rot90(array, turns)) if turns else array


UNSPECIFIED_COLORSPACE = 2  # AVCOL_SPC_UNSPECIFIED


def source_colorspace(frame: av.VideoFrame) -> Colorspace | None:
    """None (the frame's own tag) for a tagged frame; for an untagged one the matrix
    players assume: BT.709 at HD sizes (1280 wide or more, or over 576 lines), BT.601
    below. swscale alone would read every untagged frame as BT.601 (an HD green came out
    brighter than a player shows it)."""
    if int(frame.colorspace) != UNSPECIFIED_COLORSPACE:
        return None
    hd = frame.width >= 1280 or frame.height > 576
    return Colorspace.ITU709 if hd else Colorspace.ITU601


@contextmanager
def encoder_path(staged: Path, final: Path) -> Iterator[Path]:
    """A path ffmpeg can write the video to: the staged temporary itself if ffmpeg can
    open it and seek in it (mp4 writes its index last), else a hidden temporary file in
    the output folder whose bytes are copied into the staged one at the end."""
    if can_reopen(staged):
        yield staged
        return
    hidden = hidden_temporary(final.parent if str(final.parent) else Path("."))
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

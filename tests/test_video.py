"""stylelab.video: stylize a video frame by frame (PyAV, no torch).

Tiny clips (64x48, 1-3 s) and pure-numpy stand-ins for the style network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from benchmarks.clips import synthetic_clip, synthetic_frame
from stylelab.errors import StylelabError
from stylelab.video import (
    VIDEO_SUFFIXES,
    VideoInfo,
    flicker,
    output_size,
    probe_video,
    stylize_video,
)
from stylelab.video import io as video_io

RECORD_KEYS = {
    "status",
    "input",
    "output",
    "frames",
    "width",
    "height",
    "input_width",
    "input_height",
    "fps",
    "duration_s",
    "audio",
    "seconds",
    "frames_per_s",
    "batch",
    "deflicker",
    "flicker_input",
    "flicker_output",
    "flicker_ratio",
    "warping_error_output",
    "warping_error_input",
    "warping_error_ratio",
    "settings",
}


# ----------------------------------------------------------------------------- stand-ins


def identity(frames: np.ndarray) -> np.ndarray:
    return frames


def invert(frames: np.ndarray) -> np.ndarray:
    return 255 - frames


def stretch(frames: np.ndarray) -> np.ndarray:
    """Contrast x4 around mid-grey: amplifies noise, the way a style network can."""
    return np.clip(4.0 * (frames.astype(np.float32) - 128.0) + 128.0, 0, 255).astype(np.uint8)


def failing_on_call(number: int, error: BaseException) -> Callable[[np.ndarray], np.ndarray]:
    """A stylizer that inverts, and raises ``error`` on its ``number``-th call."""
    calls = []

    def stylize(frames: np.ndarray) -> np.ndarray:
        calls.append(len(frames))
        if len(calls) == number:
            raise error
        return invert(frames)

    return stylize


# ----------------------------------------------------------------------------- helpers


def decode(path: Path) -> tuple[np.ndarray, list[float]]:
    """All video frames of ``path`` as RGB arrays, and their times in seconds."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        pixels = np.stack([frame.to_ndarray(format="rgb24") for frame in frames])
        return pixels, [float(frame.time) for frame in frames]


def audio_seconds(path: Path) -> float:
    """Seconds of sound in the first audio stream, decoded to the end."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


def stream_summary(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        return {
            "rate": video.average_rate,
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "video_codec": video.codec_context.name,
            "audio_codec": audio.codec_context.name if audio else None,
        }


def write_lossless(
    path: Path,
    frames: np.ndarray,
    pts: list[int] | None = None,
    time_base: Fraction = Fraction(1, 1000),
    rate: int = 24,
) -> Path:
    """An FFV1 .mkv (lossless, any size) of ``frames`` at the given timestamps."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "bgr0"
        stream.codec_context.time_base = time_base
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = pts[index] if pts else round(index / (rate * time_base))
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def random_frames(count: int, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3), np.uint8)


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s at 24 fps, 64x48, a moving square, AAC sound: shared, never written to."""
    folder = tmp_path_factory.mktemp("clip")
    return synthetic_clip(folder / "clip.mp4", seconds=3.0, fps=24, width=64, height=48)


# ----------------------------------------------------------------------------- the video


def test_probe_reads_size_rate_length_and_codecs(clip: Path) -> None:
    info = probe_video(clip)
    assert info == VideoInfo(
        width=64,
        height=48,
        fps=24.0,
        frames=72,
        duration_s=pytest.approx(3.0, abs=0.05),
        video_codec="h264",
        audio_codec="aac",
    )


def test_output_keeps_frames_rate_duration_and_sound(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    record = stylize_video(clip, out, invert, progress=False)
    before, times_before = decode(clip)
    after, times_after = decode(out)
    assert len(after) == len(before) == record["frames"] == 72
    assert stream_summary(out)["rate"] == stream_summary(clip)["rate"] == 24
    assert times_after == pytest.approx(times_before, abs=1e-3)
    assert record["duration_s"] == pytest.approx(3.0, abs=1 / 24)
    assert stream_summary(out)["audio_codec"] == "aac"
    assert audio_seconds(out) == pytest.approx(audio_seconds(clip), abs=0.03)
    assert audio_seconds(out) == pytest.approx(3.0, abs=0.1)
    for index in (0, 37, 71):  # the stylizer's frames, within the codec's error
        expected = 255 - before[index].astype(np.int16)
        assert np.abs(after[index] - expected).mean() < 3.0


def test_frames_reach_the_stylizer_in_batches(clip: Path, tmp_path: Path) -> None:
    shapes = []

    def recording(frames: np.ndarray) -> np.ndarray:
        shapes.append(frames.shape)
        assert frames.dtype == np.uint8
        return frames

    stylize_video(clip, tmp_path / "out.mp4", recording, batch=5, progress=False)
    assert shapes == [(5, 48, 64, 3)] * 14 + [(2, 48, 64, 3)]


@pytest.mark.parametrize(
    ("suffix", "codec"), [(".mp4", "h264"), (".mkv", "h264"), (".mov", "h264"), (".webm", "vp9")]
)
def test_every_output_container(clip: Path, tmp_path: Path, suffix: str, codec: str) -> None:
    out = tmp_path / f"out{suffix}"
    record = stylize_video(clip, out, invert, progress=False)
    assert suffix in VIDEO_SUFFIXES
    assert record["video_codec"] == stream_summary(out)["video_codec"] == codec
    assert len(decode(out)[0]) == 72
    assert stream_summary(out)["audio_codec"] is not None


def test_output_size_sets_the_longer_edge_keeps_aspect_and_even_sizes() -> None:
    assert output_size(64, 48, None) == (64, 48)
    assert output_size(1920, 1080, 640) == (640, 360)
    assert output_size(1080, 1920, 640) == (360, 640)
    assert output_size(51, 37, None) == (52, 38)
    assert output_size(51, 37, 100) == (100, 72)
    assert output_size(1000, 10, 100) == (100, 16)  # never under 16
    assert output_size(640, 480, 101) == (102, 76)
    with pytest.raises(StylelabError, match="size"):
        output_size(640, 480, 15)


@pytest.mark.parametrize(("size", "expected"), [(None, (52, 38)), (100, (100, 72)), (32, (32, 24))])
def test_size_and_odd_input_sizes(
    tmp_path: Path, size: int | None, expected: tuple[int, int]
) -> None:
    source = write_lossless(tmp_path / "odd.mkv", random_frames(6, height=37, width=51))
    out = tmp_path / "out.mp4"
    record = stylize_video(source, out, invert, size=size, progress=False)
    summary = stream_summary(out)
    assert (summary["width"], summary["height"]) == expected
    assert (record["width"], record["height"]) == expected
    assert (record["input_width"], record["input_height"]) == (51, 37)
    assert len(decode(out)[0]) == 6


def halves_clip(
    path: Path, width: int, height: int, rotation: int | None = None, aspect: Fraction | None = None
) -> Path:
    """Six H.264 frames, the top half red and the bottom half blue, with a display
    rotation (counter-clockwise degrees; a phone's portrait clip has -90, that is 270) or
    a pixel aspect ratio."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[: height // 2], pixels[height // 2 :] = (220, 30, 30), (30, 30, 220)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if aspect is not None:
            stream.codec_context.sample_aspect_ratio = aspect
        for index in range(6):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(("rotation", "left"), [(90, "red"), (270, "blue")])
def test_a_rotated_phone_video_comes_out_upright(tmp_path: Path, rotation: int, left: str) -> None:
    """Stored 96x64 with a display rotation: shown 64x96. Turned 90 degrees counter-
    clockwise, the red top half is on the left; turned 270, on the right."""
    source = halves_clip(tmp_path / "phone.mp4", 96, 64, rotation=rotation)
    record = stylize_video(source, tmp_path / "out.mp4", identity, progress=False)
    frames, _ = decode(tmp_path / "out.mp4")
    assert frames.shape[1:3] == (96, 64) and (record["width"], record["height"]) == (64, 96)
    assert record["input_rotation_deg"] == rotation
    red = frames[0, 48, 16, 0] > 150 and frames[0, 48, 16, 2] < 100  # the left half
    assert red == (left == "red")
    assert (frames[0, 48, 48, 0] > 150) == (left == "blue")  # the right half


def test_anamorphic_pixels_come_out_square(tmp_path: Path) -> None:
    """72x64 stored at a pixel aspect of 4/3 is shown 96x64: written 96x64, square."""
    source = halves_clip(tmp_path / "dv.mp4", 72, 64, aspect=Fraction(4, 3))
    record = stylize_video(source, tmp_path / "out.mp4", identity, progress=False)
    assert decode(tmp_path / "out.mp4")[0].shape[1:3] == (64, 96)
    assert record["input_pixel_aspect"] == "4/3"


def test_the_output_is_tagged_bt709_and_its_colours_read_back_as_written(
    tmp_path: Path,
) -> None:
    """Players read an untagged HD video as BT.709; swscale's default matrix is BT.601.
    The output is converted and tagged BT.709, so a player reading the tags (or assuming
    BT.709) sees the colours given, within the encoder's loss."""
    from av.video.reformatter import ColorRange, Colorspace

    colours = ((16, (230, 20, 20)), (48, (20, 230, 20)), (80, (20, 20, 230)))
    bars = np.zeros((6, 64, 96, 3), np.uint8)
    for column, colour in colours:  # three bars, 32 px wide, centred on these columns
        bars[:, :, column - 16 : column + 16] = colour
    source = write_lossless(tmp_path / "bars.mkv", bars)
    stylize_video(source, tmp_path / "out.mp4", identity, progress=False)
    with av.open(str(tmp_path / "out.mp4")) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_range) == (Colorspace.ITU709, ColorRange.MPEG)
        frame = next(container.decode(video=0))
        as_709 = frame.reformat(
            format="rgb24", src_colorspace=Colorspace.ITU709, src_color_range=ColorRange.MPEG
        ).to_ndarray()
    for column, colour in colours:
        got = as_709[32, column]
        assert np.abs(got.astype(int) - colour).max() <= 6, (column, got)


def test_an_untagged_hd_clip_is_read_as_players_read_it(tmp_path: Path) -> None:
    """An untagged 1280x720 clip written with the BT.709 matrix: players read it as BT.709
    (HD), and so does stylelab; swscale alone would read BT.601 (green 180 became 203)."""
    from av.video.reformatter import ColorRange, Colorspace

    colour = (40, 180, 60)
    pixels = np.full((720, 1280, 3), colour, np.uint8)
    source = tmp_path / "hd.mp4"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for index in range(2):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG
            )
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    stylize_video(source, tmp_path / "out.mp4", identity, size=160, progress=False)
    with av.open(str(tmp_path / "out.mp4")) as container:
        shown = next(container.decode(video=0)).to_ndarray(format="rgb24")  # by its tags
    assert np.abs(shown[45, 80].astype(int) - colour).max() <= 6, shown[45, 80]


def test_variable_frame_rate_survives(tmp_path: Path) -> None:
    pts = [0, 40, 80, 200, 240, 500, 520, 540, 900, 1000]
    source = write_lossless(tmp_path / "vfr.mkv", random_frames(len(pts)), pts=pts)
    for suffix in (".mp4", ".webm"):
        out = tmp_path / f"out{suffix}"
        record = stylize_video(source, out, invert, progress=False)
        assert decode(out)[1] == pytest.approx([p / 1000 for p in pts], abs=1e-3)
        assert record["input_frames"] == len(pts)  # counted (duration x fps guessed 24)


# ----------------------------------------------------------------------------- the record


def test_record_is_written_beside_the_video(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "styled.mkv"
    settings = {"model": "m.safetensors", "style": 2}
    record = stylize_video(clip, out, invert, batch=8, settings=settings, progress=False)
    assert set(record) >= RECORD_KEYS
    assert json.loads((tmp_path / "styled.json").read_text()) == record
    assert record["status"] == "done"
    assert record["input"] == str(clip) and record["output"] == str(out)
    assert record["fps"] == 24.0 and record["batch"] == 8 and record["deflicker"] == 0.0
    assert record["settings"] == settings
    assert record["audio"] == {"codec": "aac", "source_codec": "aac", "mode": "copied"}
    assert record["seconds"] > 0 and record["frames_per_s"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["styled.json", "styled.mkv"]


@pytest.mark.parametrize("stylizer", [identity, invert, stretch])
def test_flicker_figures_match_the_frames(
    tmp_path: Path, stylizer: Callable[[np.ndarray], np.ndarray]
) -> None:
    frames = random_frames(9, seed=3) // 4 + 96  # mid-grey noise: stretch does not clip
    source = write_lossless(tmp_path / "noise.mkv", frames)
    record = stylize_video(source, tmp_path / "out.mp4", stylizer, progress=False)
    styled = stylizer(frames)
    expected_in = flicker(frames[:-1], frames[1:])
    expected_out = flicker(styled[:-1], styled[1:])
    assert record["flicker_input"] == pytest.approx(expected_in, abs=1e-6)
    assert record["flicker_output"] == pytest.approx(expected_out, abs=1e-6)
    assert record["flicker_ratio"] == pytest.approx(expected_out / expected_in, abs=1e-3)
    if stylizer is not stretch:
        assert record["flicker_ratio"] == 1.0
    else:
        assert record["flicker_ratio"] == pytest.approx(4.0, abs=0.05)


def test_flicker_is_the_mean_change_in_unit_range() -> None:
    black, white = np.zeros((2, 4, 4, 3), np.uint8), np.full((2, 4, 4, 3), 255, np.uint8)
    assert flicker(black, white) == 1.0
    assert flicker(black, black) == 0.0
    assert flicker(np.zeros((4, 4, 3)), np.full((4, 4, 3), 0.25)) == pytest.approx(0.25)
    with pytest.raises(StylelabError):
        flicker(black, white[:1])


def test_a_still_or_single_frame_clip_has_no_flicker_ratio(tmp_path: Path) -> None:
    still = synthetic_clip(
        tmp_path / "still.mp4", seconds=1, fps=12, width=64, height=48, audio=False, motion=False
    )
    record = stylize_video(still, tmp_path / "a.mp4", stretch, progress=False)
    assert record["flicker_input"] < 1e-5 and record["flicker_ratio"] is None
    single = write_lossless(tmp_path / "one.mkv", random_frames(1))
    record = stylize_video(single, tmp_path / "b.mp4", invert, progress=False)
    assert record["frames"] == 1
    assert record["flicker_input"] is None and record["flicker_ratio"] is None


# ----------------------------------------------------------------------------- deflicker


@pytest.mark.parametrize("stylizer", [identity, stretch])
def test_deflicker_lowers_flicker_on_a_noisy_still_clip(
    tmp_path: Path, stylizer: Callable[[np.ndarray], np.ndarray]
) -> None:
    noisy = synthetic_clip(
        tmp_path / "noisy.mp4",
        seconds=2,
        fps=12,
        width=64,
        height=48,
        audio=False,
        motion=False,
        noise=0.03,
    )
    plain = stylize_video(noisy, tmp_path / "plain.mp4", stylizer, progress=False)
    steady = stylize_video(noisy, tmp_path / "steady.mp4", stylizer, deflicker=0.8, progress=False)
    assert plain["flicker_ratio"] > 0.9
    assert steady["flicker_ratio"] <= 0.7 * plain["flicker_ratio"]
    assert steady["deflicker"] == 0.8


def test_deflicker_does_not_smear_a_moving_square(tmp_path: Path) -> None:
    count = 36
    moving = synthetic_clip(
        tmp_path / "moving.mp4", seconds=3, fps=12, width=64, height=48, audio=False, noise=0.03
    )
    stylize_video(moving, tmp_path / "plain.mp4", invert, progress=False)
    stylize_video(moving, tmp_path / "steady.mp4", invert, deflicker=1.0, progress=False)
    plain = decode(tmp_path / "plain.mp4")[0].astype(np.float64)
    steady = decode(tmp_path / "steady.mp4")[0].astype(np.float64)
    late = 30

    def square(index: int) -> np.ndarray:
        frame = synthetic_frame(index, count, 64, 48, motion=True)
        return np.all(frame == (230.0, 40.0, 40.0), axis=2)

    now, earlier = square(late), square(late - 5)
    trail = earlier & ~now  # where the square was: a ghost would stay there
    assert now.sum() > 100 and trail.sum() > 50
    square_colour = steady[late][now].mean(axis=0) - plain[late][now].mean(axis=0)
    assert np.abs(square_colour).max() < 4.0
    assert np.abs(steady[late][trail] - plain[late][trail]).mean() < 8.0


# ----------------------------------------------------------------------------- sound


@pytest.mark.parametrize(
    ("made_as", "audio", "written_as", "codec", "mode"),
    [
        (".mkv", "pcm_s16le", ".mp4", "aac", "re-encoded"),
        (".webm", True, ".mp4", "aac", "re-encoded"),
        (".mkv", "pcm_s16le", ".webm", "opus", "re-encoded"),
        (".mkv", "pcm_s16le", ".mkv", "pcm_s16le", "copied"),
        (".mp4", True, ".mkv", "aac", "copied"),
    ],
)
def test_sound_is_copied_or_re_encoded_to_fit_the_container(
    tmp_path: Path, made_as: str, audio: bool | str, written_as: str, codec: str, mode: str
) -> None:
    source = synthetic_clip(
        tmp_path / f"in{made_as}", seconds=1, fps=12, width=64, height=48, audio=audio
    )
    out = tmp_path / f"out{written_as}"
    record = stylize_video(source, out, invert, progress=False)
    assert record["audio"]["mode"] == mode
    assert record["audio"]["codec"] == codec
    assert stream_summary(out)["audio_codec"] == codec
    assert audio_seconds(out) == pytest.approx(1.0, abs=0.05)
    assert len(decode(out)[0]) == 12


@pytest.mark.parametrize(("written_as", "codec"), [(".mp4", "aac"), (".webm", "opus")])
def test_surround_sound_keeps_its_channels_when_re_encoded(
    tmp_path: Path, written_as: str, codec: str
) -> None:
    """5.1 FLAC, which neither MP4 nor WebM takes, becomes 5.1 AAC or Opus (it was mixed
    down to stereo); each channel keeps its own tone."""
    source = write_lossless(tmp_path / "in.mkv", random_frames(6))
    with av.open(str(source)) as video, av.open(str(tmp_path / "51.mkv"), "w") as out:
        frames = out.add_stream("ffv1", rate=24)
        frames.width, frames.height, frames.pix_fmt = 64, 48, "bgr0"
        sound = out.add_stream("flac", rate=48000)
        sound.codec_context.layout = "5.1"
        for frame in video.decode(video=0):
            out.mux(frames.encode(frame))
        out.mux(frames.encode(None))
        seconds = np.arange(12000) / 48000
        tones = np.stack([np.sin(2 * np.pi * 220 * (k + 1) * seconds) * 0.2 for k in range(6)])
        block = av.AudioFrame.from_ndarray(tones.astype(np.float32), format="fltp", layout="5.1")
        block.sample_rate, block.pts = 48000, 0
        out.mux(sound.encode(block))
        out.mux(sound.encode(None))
    out_path = tmp_path / f"out{written_as}"
    record = stylize_video(tmp_path / "51.mkv", out_path, invert, progress=False)
    assert record["audio"]["mode"] != "copied" and record["audio"]["codec"] == codec
    with av.open(str(out_path)) as written:
        assert written.streams.audio[0].codec_context.channels == 6


def test_side_surround_becomes_the_standard_layout(tmp_path: Path) -> None:
    """AC-3, DTS and PCM 5.1 come as "5.1(side)": written as "5.1" (AAC would need a
    program config element, which players misread; Opus refuses it)."""
    from stylelab.video.io import encodable_layout

    for encoder in ("aac", "libopus"):
        context = av.CodecContext.create("flac", "w")
        context.layout = "5.1(side)"  # type: ignore[attr-defined]
        assert encodable_layout(encoder, 48000, context) == "5.1"
    stereo = av.CodecContext.create("flac", "w")
    stereo.layout = "stereo"  # type: ignore[attr-defined]
    assert encodable_layout("libopus", 48000, stereo) == "stereo"


def test_audio_false_writes_no_sound(clip: Path, tmp_path: Path) -> None:
    record = stylize_video(clip, tmp_path / "out.mp4", invert, audio=False, progress=False)
    assert record["audio"] is None
    assert stream_summary(tmp_path / "out.mp4")["audio_codec"] is None


def test_a_clip_without_sound_gives_a_video_without_sound(tmp_path: Path) -> None:
    silent = synthetic_clip(
        tmp_path / "silent.webm", seconds=1, fps=12, width=64, height=48, audio=False
    )
    record = stylize_video(silent, tmp_path / "out.mp4", invert, progress=False)
    assert record["audio"] is None and record["frames"] == 12


# ----------------------------------------------------------------------------- errors


def text_file(folder: Path) -> Path:
    path = folder / "notes.mp4"
    path.write_text("not a video\n")
    return path


def empty_file(folder: Path) -> Path:
    path = folder / "empty.mp4"
    path.write_bytes(b"")
    return path


def sound_only(folder: Path) -> Path:
    path = folder / "tone.wav"
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(np.zeros(8000, np.int16).tobytes())
    return path


def damaged_frames(folder: Path) -> Path:
    """A valid MP4 whose frame data is noise from about frame 8 on: decoding fails mid-file."""
    path = synthetic_clip(
        folder / "damaged.mp4", seconds=2, fps=12, width=64, height=48, audio=False
    )
    data = bytearray(path.read_bytes())
    frames_at = data.index(b"mdat") + 200
    start = frames_at + (len(data) - frames_at) * 6 // 10
    noise = np.random.default_rng(0).integers(0, 256, len(data) - start, np.uint8)
    data[start:] = noise.tobytes()
    path.write_bytes(bytes(data))
    return path


def missing(folder: Path) -> Path:
    return folder / "missing.mp4"


def fifo(folder: Path) -> Path:
    path = folder / "pipe.mp4"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (text_file, "not a video file ffmpeg can read"),
        (empty_file, "not a video file ffmpeg can read"),
        (sound_only, "has no video stream (only audio)"),
        (damaged_frames, "could not decode"),
        (missing, "no such file"),
        (fifo, "not a regular file"),
    ],
)
def test_a_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, make: Callable[[Path], Path], words: str
) -> None:
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    source = make(inputs)
    with pytest.raises(StylelabError) as caught:
        stylize_video(source, outputs / "out.mp4", invert, progress=False)
    message = str(caught.value)
    assert "\n" not in message and words in message and source.name in message
    assert list(outputs.iterdir()) == []


@pytest.mark.parametrize(
    ("output", "options", "words"),
    [
        ("out.avi", {}, ".mkv, .mov, .mp4, .webm"),
        ("folder.mp4", {}, "is a folder"),
        ("out.mp4", {"batch": 0}, "batch"),
        ("out.mp4", {"batch": 65}, "batch"),
        ("out.mp4", {"batch": 2.0}, "batch"),
        ("out.mp4", {"deflicker": 1.5}, "deflicker"),
        ("out.mp4", {"deflicker": float("nan")}, "deflicker"),
        ("out.mp4", {"size": 8}, "size"),
        ("out.mp4", {"size": "64\n"}, "size"),
    ],
)
def test_a_bad_output_or_option_is_one_line_and_writes_nothing(
    clip: Path, tmp_path: Path, output: str, options: dict[str, object], words: str
) -> None:
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(StylelabError) as caught:
        stylize_video(clip, tmp_path / output, invert, progress=False, **options)
    assert "\n" not in str(caught.value) and words in str(caught.value)
    assert [p.name for p in tmp_path.iterdir()] == ["folder.mp4"]


def test_a_damaged_file_fails_after_some_frames_were_stylized(tmp_path: Path) -> None:
    source = damaged_frames(tmp_path)
    calls: list[int] = []

    def counting(frames: np.ndarray) -> np.ndarray:
        calls.append(len(frames))
        return frames

    with pytest.raises(StylelabError, match=r"could not decode video frame \d+ \(invalid data"):
        stylize_video(source, tmp_path / "out.mp4", counting, batch=2, progress=False)
    assert calls  # the error came mid-file, after the first batches
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.mp4"]


def test_a_name_with_a_line_break_stays_one_line(tmp_path: Path) -> None:
    source = tmp_path / "two\nlines.mp4"
    source.write_text("not a video\n")
    with pytest.raises(StylelabError) as caught:
        stylize_video(source, tmp_path / "out.mp4", invert, progress=False)
    assert "\n" not in str(caught.value) and "two\\nlines.mp4" in str(caught.value)


def test_a_stylizer_returning_the_wrong_shape_is_one_error(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(StylelabError, match="same shape"):
        stylize_video(clip, tmp_path / "out.mp4", lambda f: f[:, :10], progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_run_leaves_the_existing_output_untouched(clip: Path, tmp_path: Path) -> None:
    (tmp_path / "out.mp4").write_bytes(b"the old video")
    (tmp_path / "out.json").write_text('{"old": true}\n')
    before = listing(tmp_path)
    failing = failing_on_call(2, StylelabError("the model ran out of memory"))
    with pytest.raises(StylelabError, match="out of memory"):
        stylize_video(clip, tmp_path / "out.mp4", failing, progress=False)
    assert listing(tmp_path) == before


def test_ctrl_c_keeps_the_frames_done_so_far(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    stopping = failing_on_call(3, KeyboardInterrupt())
    record = stylize_video(clip, out, stopping, batch=4, progress=False)
    assert record["status"] == "interrupted" and record["frames"] == 8
    assert json.loads((tmp_path / "out.json").read_text())["status"] == "interrupted"
    frames, times = decode(out)  # playable to the end
    assert len(frames) == 8 and times[-1] == pytest.approx(7 / 24, abs=1e-3)
    assert audio_seconds(out) == pytest.approx(8 / 24, abs=0.05)  # the sound ends there too
    before = decode(clip)[0][:8].astype(np.int16)
    assert np.abs(frames - (255 - before)).mean() < 3.0


def test_the_video_is_written_by_name_where_the_staged_file_cannot_be_reopened(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(video_io, "can_reopen", lambda path: False)
    record = stylize_video(clip, tmp_path / "out.mp4", invert, progress=False)
    assert len(decode(tmp_path / "out.mp4")[0]) == record["frames"] == 72
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.mp4"]


def test_progress_is_a_frame_counter_on_stderr(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stylize_video(clip, tmp_path / "quiet.mp4", invert, progress=False)
    assert capsys.readouterr().err == ""
    stylize_video(clip, tmp_path / "loud.mp4", invert, progress=True)
    captured = capsys.readouterr()
    assert "frame" in captured.err and "/72" in captured.err and captured.out == ""


def test_the_video_core_does_not_import_torch(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from benchmarks.clips import synthetic_clip\n"
        "from stylelab.video import stylize_video\n"
        f"clip = synthetic_clip({str(tmp_path / 'c.mp4')!r}, seconds=0.5, fps=12, width=32, "
        "height=32)\n"
        f"record = stylize_video(clip, {str(tmp_path / 'o.mp4')!r}, lambda f: 255 - f, "
        "progress=False)\n"
        "print(record['frames'], 'torch' in sys.modules)\n"
    )
    source_root = str(Path(video_io.__file__).resolve().parents[2])
    repository = str(Path(__file__).resolve().parents[1])  # benchmarks/clips.py
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source_root, repository])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["6", "False"]

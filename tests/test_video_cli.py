"""``stylelab video`` end to end: frames, rate, audio and the flicker figure, through the
command line with a trained model and with its ONNX export in a process without torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.clips import synthetic_clip
from stylelab.adain.options import DEFAULT_BAND_CONTRAST
from stylelab.cli import main
from stylelab.video import probe_video
from tests.test_fast_export import run_blocked


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s at 24 frames/s with AAC sound: a moving square over a still, noisy background."""
    return synthetic_clip(
        tmp_path_factory.mktemp("clip") / "clip.mp4",
        seconds=3.0,
        fps=24,
        width=64,
        height=48,
        audio=True,
        noise=0.03,
    )


def test_video_keeps_frames_rate_and_sound_and_deflicker_lowers_flicker(
    tiny_model: Path, noisy_clip: Path, tmp_path: Path
) -> None:
    source = probe_video(noisy_clip)
    records = {}
    for deflicker in ("0", "0.8"):
        out = tmp_path / f"out_{deflicker}.mp4"
        args = ["video", str(tiny_model), str(noisy_clip), "-o", str(out), "--quiet"]
        assert (
            main([*args, "--deflicker", deflicker, "--device", "cpu", "--precision", "fp32"]) == 0
        )
        written = probe_video(out)
        assert written.frames == source.frames == 72
        assert written.fps == pytest.approx(source.fps) == pytest.approx(24.0)
        assert written.duration_s == pytest.approx(source.duration_s, abs=1 / 24)
        assert written.audio_codec is not None
        records[deflicker] = json.loads(out.with_suffix(".json").read_text())
    plain, smoothed = records["0"], records["0.8"]
    assert plain["status"] == "done" and plain["frames"] == 72
    assert plain["flicker_ratio"] == pytest.approx(
        plain["flicker_output"] / plain["flicker_input"], rel=1e-3
    )
    assert plain["settings"]["style"] == {"strokes": 1.0, "mosaic": 0.0}
    assert smoothed["flicker_ratio"] < 0.8 * plain["flicker_ratio"]


def test_video_through_pytorch_in_every_cpu_precision(
    tiny_model: Path, noisy_clip: Path, tmp_path: Path
) -> None:
    """fp32 on a CPU hands back the inference tensor itself (no copy): nothing may write
    into it; auto picks fp32 for video on a CPU (bf16 flickers more)."""
    for precision in ("fp32", "bf16", "auto"):
        out = tmp_path / f"{precision}.mp4"
        args = ["video", str(tiny_model), str(noisy_clip), "-o", str(out), "--size", "32"]
        assert main([*args, "--precision", precision, "--device", "cpu", "--quiet"]) == 0
        record = json.loads(out.with_suffix(".json").read_text())
        expected = "bf16" if precision == "bf16" else "fp32"
        assert record["settings"]["precision"] == expected
        assert record["frames"] == 72


def test_video_with_an_onnx_export_runs_without_torch(
    onnx_model: Path, noisy_clip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.webm"
    args = ["video", str(onnx_model), str(noisy_clip), "-o", str(out), "--style-mix", "1,1"]
    result = run_blocked({"torch", "torchvision"}, [*args, "--quiet", "--size", "32"])
    assert result.returncode == 0, result.stderr
    assert "TORCH-MODULES []" in result.stdout
    written = probe_video(out)
    assert (written.width, written.height) == (32, 24)
    assert written.frames == 72
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["settings"]["style"] == {"strokes": 0.5, "mosaic": 0.5}


@pytest.mark.parametrize("colour", ["none", "luminance", "histogram"])
def test_instant_frames_turn_each_frame_as_instant_turns_a_photo(colour: str) -> None:
    """The video path of an instant model (paintings encoded once) gives each frame what
    stylelab.instant gives that frame as a photo, to the 8-bit level: in every colour mode,
    and with a working size below the frame's (the detail layer)."""
    import numpy as np
    import torch

    from stylelab.adain.frames import instant_frames
    from stylelab.adain.modelfile import load_decoder
    from stylelab.adain.transfer import instant

    net = load_decoder(None)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(2, 72, 96, 3), dtype=np.uint8)
    frames[1] = np.roll(frames[0], 3, axis=1)
    options = {"strength": 0.8, "style_scale": 1.5, "preserve_color": colour}
    turn = instant_frames(net, ["example:strokes"], internal_size=64, **options)
    styled = turn(frames)
    assert styled.shape == frames.shape and styled.dtype == np.uint8
    smaller = np.ascontiguousarray(frames[:1, :36, :48])  # the paintings sized again
    batches = [*zip(frames, styled, strict=True), (smaller[0], turn(smaller)[0])]
    for frame, got in batches:
        photo = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
        expected = instant(
            photo,
            "example:strokes",
            model=net,
            size=max(frame.shape),
            internal_size=64,
            precision="fp32",
            runtime="torch",
            **options,
        ).tensor
        want = (expected[0].permute(1, 2, 0).numpy() * 255).round().clip(0, 255)
        assert np.abs(got.astype(np.int16) - want.astype(np.int16)).max() <= 1
    assert turn.record()["style_blend"] == [1.0]


def test_video_with_the_shipped_instant_model(noisy_clip: Path, tmp_path: Path) -> None:
    import torch

    out = tmp_path / "instant.mp4"
    args = ["video", "instant", str(noisy_clip), "-o", str(out), "--style", "example:mosaic"]
    assert main([*args, "--quiet", "--batch", "8"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["frames"] == probe_video(out).frames == 72
    settings = record["settings"]
    assert settings["model"] == "shipped instant model"
    assert settings["method"].startswith("instant") and settings["style"] == "example:mosaic"
    from stylelab.precision import resolve_precision

    # auto: instant's own rule (bf16 where native), not the fast models' fp32 for video
    assert settings["precision"] == resolve_precision("auto", torch.device("cpu"))
    assert record["warping_error_output"] > 0
    # as instant records a photo: the working edge used (the frames' own), the palette
    edge = max(probe_video(out).width, probe_video(out).height)
    assert (settings["palette"], settings["internal_size"], settings["style_scale"]) == (1, edge, 1)
    assert settings["band_contrast"] == DEFAULT_BAND_CONTRAST
    look = ["--palette", "0.5", "--internal-size", "64", "--style-scale", "2", "--size", "96"]
    look += ["--band-contrast", "0.5"]
    assert main([*args, "--quiet", "--batch", "8", "--strength", "0.8", *look]) == 0
    settings = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert (settings["internal_size"], settings["style_scale"]) == (64, 2)
    assert settings["palette"] == pytest.approx(0.4)  # times --strength, as instant's
    assert settings["band_contrast"] == pytest.approx(0.4)
    assert main([*args, "--quiet", "--preserve-color", "luminance", *look]) == 0
    settings = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert settings["palette"] == 0  # off where the photo's colours are kept

"""Instant style on onnxruntime: the export (self-checked, within 1/255 of PyTorch fp32),
the same image on both runtimes for every option the ONNX path serves, the cached export
(made once, never beside the model, a damaged entry rebuilt), the fallbacks and refusals,
and a CLI run that never imports torch. One tiny random decoder, exported once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stylelab.adain import modelfile
from stylelab.adain.detail import bicubic
from stylelab.adain.transfer import instant
from stylelab.errors import StylelabError
from stylelab.fast import cache
from tests.conftest import gradient_image, stripes_image
from tests.test_instant import tiny_decoder

LEVEL = 1.0 / 255.0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tiny.safetensors, tiny.onnx): its export, made (and self-checked) once through the
    cache of ``--runtime onnx`` and copied out of it."""
    folder = tmp_path_factory.mktemp("instant-model")
    model = folder / "tiny.safetensors"
    modelfile.save_decoder(tiny_decoder(), model, training={}, card={"note": "random"})
    session = cache.open_cached(model, "cpu", "auto", "onnx", quiet=True, kind="instant")
    graph, manifest = cache.entry_paths(cache.file_sha256(model), cache.cache_folder())
    assert session is not None and session.path == graph
    assert json.loads(manifest.read_text())["max_abs_difference"] <= LEVEL  # the self-check
    onnx_file = folder / "tiny.onnx"
    onnx_file.write_bytes(graph.read_bytes())
    return model, onnx_file


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("instant-images")
    paths = {"photo": folder / "photo.png", "a": folder / "a.png", "b": folder / "b.png"}
    gradient_image(72, 56, seed=3).save(paths["photo"])
    stripes_image(48).save(paths["a"])
    gradient_image(40, 52, seed=8).save(paths["b"])
    return {k: str(v) for k, v in paths.items()}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stylelab.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_bicubic_matches_torch_interpolate() -> None:
    """The NumPy detail layer's upsampling is torch's bicubic (a = -0.75, half pixels)."""
    x = torch.rand(1, 3, 9, 13)
    for shape in ((20, 31), (9, 40), (17, 13)):
        expected = torch.nn.functional.interpolate(
            x, size=shape, mode="bicubic", align_corners=False
        )
        np.testing.assert_allclose(bicubic(x.numpy(), shape), expected.numpy(), atol=2e-6)


@pytest.mark.parametrize(
    "options",
    [
        {"size": 72},  # plain: the working size is the photo's
        {"size": 72, "internal_size": 64},  # the detail layer
        {"size": 72, "internal_size": 64, "preserve_color": "luminance"},
        {"size": 64, "preserve_color": "histogram", "strength": 0.6},
        {"size": 72, "internal_size": 64, "style_blend": (0.3, 0.7), "strength": 0.4},
    ],
    ids=["plain", "detail", "luminance", "histogram-strength", "blend-strength"],
)
def test_onnx_gives_the_torch_image(tiny, images, options) -> None:
    model, onnx_file = tiny
    styles = [images["a"], images["b"]] if "style_blend" in options else [images["a"]]
    on_torch = instant(
        images["photo"], styles, model=str(model), runtime="torch", precision="fp32", **options
    )
    on_onnx = instant(images["photo"], styles, model=str(onnx_file), runtime="onnx", **options)
    assert on_torch.info["runtime"] == "torch" and on_onnx.info["runtime"] == "onnx"
    assert on_onnx.tensor.shape == on_torch.tensor.shape
    difference = float((on_onnx.tensor - on_torch.tensor).abs().max())
    assert difference <= LEVEL, difference
    photo = instant(images["photo"], styles, model=str(onnx_file), **{**options, "strength": 0.0})
    assert float((photo.tensor - on_onnx.tensor).abs().max()) > 1e-3  # the style did something


def test_a_painting_seen_again_is_not_encoded_again(tiny) -> None:
    """A folder of photos with one painting: the session encodes the painting once (the
    same pixels give the same statistics, a changed pixel or shape a new encoding)."""
    from stylelab.adain.runtime import PAINTINGS_REMEMBERED, instant_session

    _, onnx_file = tiny
    session = instant_session(str(onnx_file), "tiny.onnx", onnx_file)
    runs: list[bool] = []
    run = session._run

    def counted(image, stats, strength, want):  # type: ignore[no-untyped-def]
        runs.append(want)
        return run(image, stats, strength, want)

    session._run = counted  # type: ignore[method-assign]
    painting = np.asarray(stripes_image(48), dtype=np.float32).transpose(2, 0, 1)[None] / 255
    first = session.statistics(painting)
    first[...] = 0  # a copy: the remembered statistics stay as they are
    again = session.statistics(painting.copy())
    assert runs == [True] and float(np.abs(again).max()) > 0
    changed = painting.copy()
    changed[0, 0, 0, 0] += 0.5
    assert not np.array_equal(session.statistics(changed), again) and len(runs) == 2
    session.statistics(painting[..., :40])
    assert len(runs) == 3
    for shift in range(PAINTINGS_REMEMBERED):
        session.statistics(painting + 0.001 * (shift + 1))
    session.statistics(painting)  # forgotten by now: encoded again
    assert len(runs) == 4 + PAINTINGS_REMEMBERED


def test_auto_uses_the_cached_export_and_rebuilds_a_damaged_entry(tiny, images) -> None:
    """In fp32 (torch's bf16 is the one reason auto prefers PyTorch once it is loaded)."""
    model, _ = tiny
    first = instant(images["photo"], images["a"], model=str(model), size=64, precision="fp32")
    assert first.info["runtime"] == "onnx" and first.info["model"]["path"] == str(model)
    digest = cache.file_sha256(model)
    graph, manifest = cache.entry_paths(digest, cache.cache_folder())
    assert first.info["model"]["onnx_file"] == str(graph)
    assert json.loads(manifest.read_text())["kind"] == "instant"
    assert sorted(p.name for p in model.parent.iterdir()) == ["tiny.onnx", "tiny.safetensors"]
    damaged = bytearray(graph.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # a flipped byte: the digest no longer matches
    graph.write_bytes(bytes(damaged))
    assert cache.read_entry(graph, manifest, digest) is None
    again = instant(images["photo"], images["a"], model=str(model), size=64, precision="fp32")
    assert again.info["runtime"] == "onnx"
    assert cache.read_entry(graph, manifest, digest) is not None  # rebuilt, whole again
    torch.testing.assert_close(again.tensor, first.tensor, atol=1e-6, rtol=0)


@pytest.mark.parametrize("native_bf16", [True, False])
def test_auto_prefers_loaded_torch_only_where_bf16_is_native(
    tiny, images, monkeypatch, native_bf16: bool
) -> None:
    """In a process that has imported torch, auto runs PyTorch where --precision auto
    resolves to bf16 (faster than onnxruntime's fp32), onnxruntime elsewhere."""
    monkeypatch.setattr("stylelab.precision.cpu_bf16_is_faster", lambda: native_bf16)
    model, _ = tiny
    ran = instant(images["photo"], images["a"], model=str(model), size=48)
    assert ran.info["runtime"] == ("torch" if native_bf16 else "onnx")
    if native_bf16:
        assert "bf16 natively" in ran.info["runtime_fallback"]
        assert ran.info["instant"]["precision"] == "bf16"
    insisted = instant(images["photo"], images["a"], model=str(model), size=48, runtime="onnx")
    assert insisted.info["runtime"] == "onnx"


def test_options_only_torch_serves_fall_back_under_auto_and_fail_under_onnx(tiny, images) -> None:
    model, onnx_file = tiny
    ran = instant(images["photo"], images["a"], model=str(model), size=48, precision="bf16")
    assert ran.info["runtime"] == "torch"
    assert "--precision bf16" in ran.info["runtime_fallback"]
    for extra in ({"refine": 2}, {"precision": "bf16"}):
        with pytest.raises(StylelabError, match="--runtime onnx cannot serve"):
            instant(images["photo"], images["a"], model=str(model), runtime="onnx", **extra)
    with pytest.raises(StylelabError, match="cannot serve.*--refine"):
        instant(images["photo"], images["a"], model=str(onnx_file), refine=1)  # no torch model
    with pytest.raises(StylelabError, match="--runtime torch takes the .safetensors"):
        instant(images["photo"], images["a"], model=str(onnx_file), runtime="torch")
    with pytest.raises(StylelabError, match="--runtime 'gpu'"):
        instant(images["photo"], images["a"], model=str(model), runtime="gpu")


def test_cli_onnx_path_never_imports_torch(tiny, images, tmp_path: Path) -> None:
    """A cache hit (the entry the fixture made) and the export itself, from the CLI:
    torch is never imported."""
    model, onnx_file = tiny
    out = tmp_path / "out.png"
    for given in (model, onnx_file):
        code = (
            "import sys; from stylelab.cli import main; "
            f"rc = main(['instant', {images['photo']!r}, {images['a']!r}, {images['b']!r}, "
            f"'-o', {str(out)!r}, '--model', {str(given)!r}, '--quiet', '--size', '64', "
            "'--style-blend', '1,3']); print('torch' in sys.modules, rc)"
        )
        env = dict(os.environ)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.stdout.strip().splitlines()[-1] == "False 0", done.stderr
        record = json.loads(out.with_suffix(".json").read_text())
        assert record["runtime"] == "onnx" and record["instant"]["style_blend"] == [0.25, 0.75]
    refused = _cli(
        "instant", images["photo"], images["a"], "-o", str(out), "--runtime", "onnx",
        "--model", str(model), "--refine", "1",
    )  # fmt: skip
    assert refused.returncode == 2 and "cannot serve" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    fell_back = _cli(
        "instant", images["photo"], images["a"], "-o", str(out), "--model", str(model),
        "--precision", "bf16", "--size", "48", "--quiet",
    )  # fmt: skip
    assert fell_back.returncode == 0, fell_back.stderr
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["runtime"] == "torch" and "bf16" in record["runtime_fallback"]


def test_the_depths_an_export_may_name_are_the_encoders() -> None:
    """adain.runtime.DEPTHS (torch-free) is the set of encoder depths nets knows."""
    from stylelab.adain.nets import ENCODER_CHANNELS
    from stylelab.adain.runtime import DEPTHS

    assert set(DEPTHS) == set(ENCODER_CHANNELS)


def test_export_report_names_the_bound_the_instant_export_passed(tiny, tmp_path: Path) -> None:
    """The report (`stylelab export --json`) gives the instant self-check's own bound
    (1/255), not the fast models' 1e-3."""
    from stylelab.adain.export import TOLERANCE, export_instant

    model, _ = tiny
    report = export_instant(model, tmp_path / "again.onnx").as_dict()
    assert report["tolerance"] == TOLERANCE and TOLERANCE > 1e-3
    assert report["max_abs_difference"] <= report["tolerance"]

"""Training fast networks: the batched objective, exact resume, time limits, data, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stylelab.backbones import load_backbone
from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError
from stylelab.fast import data as fastdata
from stylelab.fast.config import TrainConfig
from stylelab.fast.modelfile import load_model
from stylelab.fast.training import train, workdir_for
from stylelab.images import load_image
from stylelab.objective import GatysObjective, plan_layers
from tests.conftest import gradient_image, stripes_image

FP32 = StylizeConfig(precision="fp32")


def _config(folder: Path, **changes) -> TrainConfig:
    options = {
        "styles": ("example:strokes", "example:mosaic"),
        "data": str(folder),
        "train_size": 32,
        "batch_size": 2,
        "steps": 4,
        "lr": 1e-2,
        "loss": FP32,
    }
    options.update(changes)
    return TrainConfig(**options)


@pytest.mark.parametrize("smoothing", ["none", "softmax"])
def test_batched_objective_is_the_sum_of_single_objectives(smoothing: str) -> None:
    """Item b of a batch scores against content b and its own style blend, exactly as a
    one-image objective with that content and blend would."""
    config = StylizeConfig(weights="random", smoothing=smoothing, tv_weight=0.5)
    backbone = load_backbone("vgg19", weights="random")
    plan = plan_layers(backbone, config)
    extractor = backbone.extractor(plan.content + plan.style)
    contents = torch.cat([load_image(gradient_image(32, 32, seed=s)) for s in (1, 2)])
    styles = [load_image(stripes_image(32)), load_image(gradient_image(32, 32, seed=9))]
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    weights = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    batched = GatysObjective(extractor, plan, contents[:1], styles, [0.5, 0.5], config)
    batched.set_content(contents)
    total, terms = batched(images, weights)
    expected = {k: 0.0 for k in terms}
    for b in range(2):
        single = GatysObjective(extractor, plan, contents[:1], styles, weights[b].tolist(), config)
        single.set_content(contents[b : b + 1])
        for key, value in single(images[b : b + 1])[1].items():
            expected[key] += float(value)
    for key, value in terms.items():
        assert float(value) == pytest.approx(expected[key], rel=1e-4), key
    assert float(total) == pytest.approx(expected["total"], rel=1e-4)


def test_batches_are_a_function_of_seed_step_and_rank(photo_folder: Path) -> None:
    photos = fastdata.find_photos(photo_folder)
    a = fastdata.Sampler(photos, 32, 3, 2, seed=5).batch(7)
    b = fastdata.Sampler(photos, 32, 3, 2, seed=5).batch(7)
    assert torch.equal(a.images, b.images) and torch.equal(a.styles, b.styles)
    other_step = fastdata.Sampler(photos, 32, 3, 2, seed=5).batch(8)
    other_rank = fastdata.Sampler(photos, 32, 3, 2, seed=5, rank=1).batch(7)
    assert not torch.equal(a.images, other_step.images)
    assert not torch.equal(a.images, other_rank.images)
    assert a.images.shape == (3, 3, 32, 32)
    assert float(a.images.min()) >= 0 and float(a.images.max()) <= 1


def test_resume_gives_the_same_model_as_an_uninterrupted_run(
    tmp_path: Path, photo_folder: Path
) -> None:
    straight = tmp_path / "straight.safetensors"
    train(_config(photo_folder, steps=6), straight)
    split = tmp_path / "split.safetensors"
    first = train(_config(photo_folder, steps=3), split)
    assert first.step == 3
    resumed = train(_config(photo_folder, steps=6), split, resume=True)
    assert resumed.step == 6
    checkpoint = workdir_for(split) / "checkpoint.safetensors"
    kept = checkpoint.read_bytes()  # a sound checkpoint past --steps: said so, and kept
    with pytest.raises(StylelabError, match="at step 6, past --steps 3: give --steps 7 or more"):
        train(_config(photo_folder, steps=3), split, resume=True)
    assert checkpoint.read_bytes() == kept
    a, b = load_model(straight).net.state_dict(), load_model(split).net.state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    rows = (workdir_for(split) / "train.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 6  # header + one row per step, none twice


def test_time_limit_stops_with_a_finished_model(tmp_path: Path, photo_folder: Path) -> None:
    output = tmp_path / "m.safetensors"
    result = train(_config(photo_folder, steps=1000, max_minutes=1e-6), output)
    assert result.status == "time limit"
    assert result.step == 1
    assert load_model(output).styles == ["strokes", "mosaic"]
    summary = json.loads((workdir_for(output) / "train.json").read_text())
    assert summary["status"] == "time limit" and summary["steps"] == 1


def test_unreadable_photos_are_skipped_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    gradient_image(48, 40).save(folder / "a.png")
    gradient_image(40, 48, seed=2).save(folder / "sub" / "b.jpg")
    (folder / "notes.txt").write_text("not a photo")
    broken = folder / "broken.png"
    gradient_image(64, 64).save(broken)
    broken.write_bytes(broken.read_bytes()[:200])
    photos = fastdata.find_photos(folder)
    assert photos.names == ["a.png", "sub/b.jpg"]
    assert set(photos.skipped) == {"notes.txt", "broken.png"}


def test_a_photo_that_fails_late_is_skipped_not_fatal(tmp_path: Path) -> None:
    """A file whose header reads but whose pixels do not (truncated after the header)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    gradient_image(48, 40).save(folder / "good.png")
    photos = fastdata.find_photos(folder)
    late = tmp_path / "late.png"
    gradient_image(64, 64).save(late)
    late.write_bytes(late.read_bytes()[:120])
    photos.sources.append(late)
    photos.names.append("late.png")
    batch = fastdata.Sampler(photos, 32, 4, 1, seed=0).batch(0)
    assert batch.names == ["good.png"] * 4
    assert "late.png" in photos.skipped


def test_photos_of_infinities_and_decompression_bombs_are_skipped_and_counted(
    tmp_path: Path,
) -> None:
    """Issue 27: a 10000 x 10000 PNG (Pillow's bomb-warning range) among the photos was
    "internal error: DecompressionBombWarning"; a float TIFF of +inf was trained on as
    white. Both are skipped and counted as unreadable files are."""
    import numpy as np
    from PIL import Image

    from tests.hostile.cases import bomb

    folder = tmp_path / "photos"
    folder.mkdir()
    gradient_image(48, 40).save(folder / "good.png")
    Image.fromarray(np.full((40, 48), np.inf, np.float32), mode="F").save(folder / "inf.tif")
    bomb(folder, "warning.png", 10000, 10000)
    photos = fastdata.find_photos(folder)
    batch = fastdata.Sampler(photos, 32, 6, 1, seed=0).batch(0)
    assert set(batch.names) == {"good.png"}
    assert {"inf.tif", "warning.png"} <= set(photos.skipped)
    assert bool(torch.isfinite(batch.images).all())


def test_a_large_photo_is_shrunk_before_its_float_copy(tmp_path: Path) -> None:
    """decode() reduces a large PNG in its own 8-bit pixels first (issue 27: a 9000 x 9000
    PNG cost 3.9 GB): the result is the usual 2 x train-size on the short edge, and its
    colours are the photo's."""
    import numpy as np
    from PIL import Image

    photo = gradient_image(700, 600, seed=4)
    photo.save(tmp_path / "big.png")
    tensor = fastdata.decode(tmp_path / "big.png", 32)
    assert min(tensor.shape[-2:]) == 64 and max(tensor.shape[-2:]) == 75
    expected = np.asarray(photo, np.float32).mean(axis=(0, 1)) / 255
    assert np.abs(tensor[0].mean(dim=(1, 2)).numpy() - expected).max() < 0.01
    Image.new("L", (4200, 4200), 7).save(tmp_path / "flat.png", optimize=True)
    assert "decompression bomb (4200x4200 pixels" in fastdata._unreadable(tmp_path / "flat.png")


@pytest.mark.parametrize("content", ["empty", "text-only"])
def test_a_folder_without_photos_is_one_line(tmp_path: Path, content: str) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    if content == "text-only":
        (folder / "readme.txt").write_text("hello")
    with pytest.raises(StylelabError, match="no readable images"):
        fastdata.find_photos(folder)


def test_builtin_photos_hold_astronaut_out() -> None:
    photos = fastdata.find_photos("example:photos")
    assert "astronaut" not in photos.names and len(photos) >= 10
    assert photos.validation_name == "astronaut"


@pytest.mark.slow
def test_distributed_training_shards_the_data_and_saves_rank0s_model(
    tmp_path: Path, photo_folder: Path
) -> None:
    """torchrun, 2 CPU processes (gloo): the ranks draw from different photos, hold equal
    parameters, and the file is what rank 0 holds."""
    output = tmp_path / "ddp.safetensors"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(29500 + os.getpid() % 1000),
        "-m",
        "stylelab.cli",
        "train",
        "example:strokes",
        "--data",
        str(photo_folder),
        "-o",
        str(output),
        "--train-size",
        "32",
        "--batch-size",
        "2",
        "--steps",
        "3",
        "--precision",
        "fp32",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((workdir_for(output) / "train.json").read_text())
    seen = summary["distributed"]["photos_seen_by_rank"]
    assert len(seen) == 2 and seen[0] and seen[1]
    assert not set(seen[0]) & set(seen[1])  # each rank trained on its own shard
    checksums = summary["distributed"]["parameter_checksum_by_rank"]
    assert checksums[0] == pytest.approx(checksums[1], rel=1e-12)
    saved = sum(p.double().sum() for p in load_model(output).net.parameters())
    assert float(saved) == pytest.approx(checksums[0], rel=1e-6)


def test_fast_demo_writes_a_model_and_a_sheet(tmp_path: Path) -> None:
    from PIL import Image

    from stylelab.cli import main

    sheet = tmp_path / "demo.png"
    assert main(["demo", "--fast", "--minutes", "0.005", "-o", str(sheet), "--quiet"]) == 0
    model = load_model(tmp_path / "demo.safetensors")
    assert model.styles == ["strokes", "mosaic"] and model.architecture == "compact"
    with Image.open(sheet) as image:
        assert image.width == 3 * 256  # astronaut, then the two styles, at 256 px

"""The command-line promise of ``stylelab train`` and ``stylelab apply``.

Every user error is exit 2 with exactly one ``stylelab: error:`` line and no file touched
(the table of bad inputs is in tests/hostile/cases.py, with every other command's);
outputs have their inputs' exact sizes; training keeps its records and checkpoint.
The API underneath is tested in test_fast_apply.py and test_fast_train.py.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import stylelab.fast
from stylelab import cli
from stylelab.fast import data as fastdata
from stylelab.fast.modelfile import CHECKPOINT_FORMAT, read_safetensors
from tests.conftest import (
    APPLY_FAST,
    TRAIN_FAST,
    gradient_image,
    late_failing_png,
    stripes_image,
)

RECORD_KEYS = {
    "input",
    "output",
    "size",
    "style",
    "strength",
    "preserve_color",
    "seconds",
    "device",
    "precision",
    "runtime",
}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` (hidden ones too) with its content's hash."""
    out = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            out[name] = "-> " + os.readlink(path)
        elif path.is_dir():
            out[name] = "<dir>"
        else:
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def assert_one_error_line(err: str, message: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("stylelab: error: "), err
    assert "Traceback" not in err
    assert re.search(message, lines[0]), lines[0]


def image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def truncated_png(path: Path, width: int = 64, height: int = 48) -> Path:
    gradient_image(width, height, seed=7).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    gradient_image(37, 29, seed=1).save(path)
    return path


# ---------------------------------------------------------------------- apply: happy paths


@pytest.mark.parametrize(("width", "height", "suffix"), [(37, 29, ".png"), (50, 17, ".jpg")])
def test_apply_one_image_has_exactly_the_input_size(
    tmp_path: Path,
    tiny_model: Path,
    capsys: pytest.CaptureFixture[str],
    width: int,
    height: int,
    suffix: str,
) -> None:
    source = tmp_path / f"in{suffix}"
    gradient_image(width, height, seed=2).save(source)
    out = tmp_path / f"out{suffix}"
    code, stdout, err = run(["apply", str(tiny_model), str(source), "-o", str(out)], capsys)
    assert code == 0, err
    assert image_size(out) == (width, height)
    assert stdout == ""
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, out.name])


def test_apply_folder_mirrors_relative_names(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    (photos / "sub" / "deeper").mkdir(parents=True)
    sizes = {"a.png": (37, 29), "sub/b.jpg": (50, 33), "sub/deeper/c.png": (24, 41)}
    for seed, (name, (w, h)) in enumerate(sizes.items()):
        gradient_image(w, h, seed=seed).save(photos / name)
    (photos / "notes.txt").write_text("not a photo")
    out = tmp_path / "styled"
    code, _, err = run(["apply", str(tiny_model), str(photos), "-o", str(out), *APPLY_FAST], capsys)
    assert code == 0, err
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(sizes)
    for name, size in sizes.items():
        assert image_size(out / name) == size, name
    assert not (out / "notes.txt").exists()


def test_a_full_disk_ends_a_folder_run_instead_of_skipping_every_photo(
    tmp_path: Path,
    tiny_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A photo that cannot be read is skipped; a disk that cannot take results is no
    photo's fault: the run stops at the first such write, in one line."""
    import errno

    from stylelab import pixels
    from stylelab.safety import WriteFailed

    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in range(4):
        gradient_image(30, 24, seed=seed).save(photos / f"{seed}.png")
    tries = []

    def full(result, target):
        tries.append(target)
        raise WriteFailed(f"{target}: no space left on device; nothing was written", errno.ENOSPC)

    monkeypatch.setattr(pixels, "save_array", full)
    out = tmp_path / "styled"
    code, _, err = run(["apply", str(tiny_model), str(photos), "-o", str(out), *APPLY_FAST], capsys)
    assert code == 2, err
    assert_one_error_line(err, "no space left on device")
    assert "skipped" not in err and len(tries) < 4
    assert not out.exists()  # the folder it made for the results, empty, is gone again


def test_apply_several_files_to_a_folder(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "one.png", tmp_path / "two.png"
    gradient_image(37, 29, seed=1).save(first)
    gradient_image(20, 45, seed=2).save(second)
    out = tmp_path / "out"
    code, _, err = run(
        ["apply", str(tiny_model), str(first), str(second), "-o", str(out), *APPLY_FAST], capsys
    )
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["one.png", "two.png"]
    assert image_size(out / "one.png") == (37, 29)
    assert image_size(out / "two.png") == (20, 45)


def test_apply_json_prints_one_record_per_image(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    gradient_image(37, 29, seed=1).save(photos / "a.png")
    gradient_image(40, 24, seed=2).save(photos / "b.png")
    out = tmp_path / "out"
    code, stdout, err = run(
        ["apply", str(tiny_model), str(photos), "-o", str(out), "--json", *APPLY_FAST], capsys
    )
    assert code == 0, err
    records = [json.loads(line) for line in stdout.strip().splitlines()]
    assert len(records) == 2
    for record, name, size in zip(records, ["a.png", "b.png"], [[37, 29], [40, 24]], strict=True):
        assert set(record) == RECORD_KEYS
        assert record["input"] == str(photos / name)
        assert record["output"] == str(out / name)
        assert record["size"] == size
        assert record["style"] == "strokes"
        assert record["seconds"] >= 0
        assert record["device"] == "cpu" and record["precision"] == "fp32"


def test_apply_stdin_to_stdout_in_a_real_process(tmp_path: Path, tiny_model: Path) -> None:
    buffer = io.BytesIO()
    gradient_image(37, 29, seed=3).save(buffer, format="PNG")
    proc = subprocess.run(
        [sys.executable, "-m", "stylelab.cli", "apply", str(tiny_model), "-", "-o", "-", "--json"],
        input=buffer.getvalue(),
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert proc.stdout.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(proc.stdout)) as image:
        assert image.format == "PNG" and image.size == (37, 29)
    assert "Traceback" not in err
    # The JSON record goes to stderr, so that stdout holds the image alone.
    record = json.loads(err.strip().splitlines()[-1])
    assert set(record) == RECORD_KEYS and record["output"] == "-" and record["size"] == [37, 29]
    assert list(tmp_path.iterdir()) == []


def test_apply_sheet_is_the_photo_and_every_style(
    tmp_path: Path, tiny_model: Path, photo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sheet.png"
    code, _, err = run(
        ["apply", str(tiny_model), str(photo), "-o", str(out), "--sheet", *APPLY_FAST], capsys
    )
    assert code == 0, err
    width, height = image_size(out)
    assert width == 3 * 37  # the photo and 2 styles, each at the photo's size
    assert 29 < height < 2 * 29  # one row with its caption strip
    rows = tmp_path / "rows.png"
    code, _, err = run(
        [
            "apply",
            str(tiny_model),
            str(photo),
            "-o",
            str(rows),
            "--sheet",
            "--stroke-scale",
            "0.5,1,2",
            *APPLY_FAST,
        ],
        capsys,
    )
    assert code == 0, err
    assert image_size(rows) == (width, 3 * height)


def test_apply_styles_by_name_index_and_mix(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.png"
    gradient_image(48, 40, seed=4).save(source)
    options = {
        "default": [],
        "name": ["--style", "mosaic"],
        "index": ["--style", "1"],
        "first": ["--style", "0"],
        "mix": ["--style-mix", "0.5,0.5"],
        "named-mix": ["--style-mix", "strokes:1,mosaic:3"],
        "same-mix": ["--style-mix", "0.25,0.75"],
    }
    images = {}
    for key, flags in options.items():
        out = tmp_path / f"{key}.png"
        code, stdout, err = run(
            ["apply", str(tiny_model), str(source), "-o", str(out), "--json", *flags, *APPLY_FAST],
            capsys,
        )
        assert code == 0, (key, err)
        images[key] = pixels(out)
        assert images[key].shape == (40, 48, 3)
        record = json.loads(stdout)
        if key in ("name", "index"):
            assert record["style"] == "mosaic"
        if key == "mix":
            assert record["style"] == {"strokes": 0.5, "mosaic": 0.5}
    assert np.array_equal(images["name"], images["index"])
    assert np.array_equal(images["default"], images["first"])
    assert np.array_equal(images["named-mix"], images["same-mix"])
    assert not np.array_equal(images["first"], images["name"])  # the two styles differ
    assert not np.array_equal(images["mix"], images["first"])
    assert not np.array_equal(images["mix"], images["name"])


def test_apply_info_describes_the_model_without_input(
    tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = run(["apply", str(tiny_model), "--info"], capsys)
    assert code == 0, err
    fields = dict(line.split(None, 1) for line in stdout.strip().splitlines())
    assert fields["architecture"] == "compact"
    assert fields["styles"] == "0=strokes, 1=mosaic"
    parameters = sum(p.numel() for p in stylelab.fast.load(tiny_model, "cpu").net.parameters())
    assert int(fields["parameters"].replace(",", "")) == parameters
    assert re.fullmatch(r"[\d.]+ at 512x512, [\d.]+ at 1024x1024", fields["GFLOPs"])
    code, stdout, err = run(["apply", str(tiny_model), "--info", "--json"], capsys)
    assert code == 0, err
    info = json.loads(stdout)
    assert info["styles"] == ["strokes", "mosaic"] and info["parameters"] == parameters


# ------------------------------------------------------------------- apply: bad input
# The one-line errors of bad input: tests/hostile/cases.py; here, the cases around them.


def test_apply_skips_a_corrupt_image_and_writes_the_others(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    gradient_image(37, 29, seed=1).save(photos / "a.png")
    truncated_png(photos / "b_broken.png")
    gradient_image(30, 41, seed=2).save(photos / "c.png")
    out = tmp_path / "out"
    code, _, err = run(["apply", str(tiny_model), str(photos), "-o", str(out), *APPLY_FAST], capsys)
    assert code == 1, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]
    assert image_size(out / "a.png") == (37, 29) and image_size(out / "c.png") == (30, 41)
    skipped = [line for line in err.splitlines() if "b_broken.png" in line]
    assert len(skipped) == 1 and skipped[0].startswith("stylelab: skipped"), err
    assert "Traceback" not in err
    # a FIFO and a dangling link with image names are said too, never read or passed over
    os.mkfifo(photos / "d_fifo.png")
    (photos / "e_link.png").symlink_to(tmp_path / "nowhere.png")
    code, _, err = run(
        ["apply", str(tiny_model), str(photos), "-o", str(tmp_path / "o2"), *APPLY_FAST], capsys
    )
    assert code == 1 and "3 of 5 input(s) skipped" in err, err
    assert "d_fifo.png: not a regular file" in err and "e_link.png: no such file" in err


def test_apply_folder_to_a_parent_folder(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    gradient_image(37, 29, seed=1).save(photos / "a.png")
    code, _, err = run(
        ["apply", str(tiny_model), str(photos), "-o", str(tmp_path), *APPLY_FAST], capsys
    )
    assert code == 0, err
    assert image_size(tmp_path / "a.png") == (37, 29)


def test_apply_never_writes_over_another_input(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    gradient_image(37, 29, seed=1).save(photos / "sub" / "x.png")
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    other = out / "sub" / "x.png"  # an input, and the target of photos/sub/x.png
    gradient_image(30, 20, seed=2).save(other)
    before = snapshot(tmp_path)
    code, _, err = run(
        ["apply", str(tiny_model), str(photos), str(other), "-o", str(out), *APPLY_FAST], capsys
    )
    assert code == 2, err
    assert_one_error_line(err, "is an input")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------- train: happy path


def _train_args(data: Path, output: Path, *styles: str) -> list[str]:
    return [
        "train",
        *(styles or ("example:strokes", "example:mosaic")),
        "--data",
        str(data),
        "-o",
        str(output),
        *TRAIN_FAST,
    ]


def test_train_writes_model_records_samples_and_checkpoint(
    tmp_path: Path, photo_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    style = tmp_path / "stripes.png"
    stripes_image().save(style)
    model = tmp_path / "m.safetensors"
    code, _, err = run(_train_args(photo_folder, model, "example:strokes", str(style)), capsys)
    assert code == 0, err
    assert "Traceback" not in err
    workdir = tmp_path / "m_train"
    assert model.is_file()
    with open(workdir / "train.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames or []
    assert {"step", "elapsed_s", "content", "style", "tv", "total"} <= set(columns)
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert all(np.isfinite(float(r["total"])) for r in rows)
    summary = json.loads((workdir / "train.json").read_text())
    assert summary["status"] == "done" and summary["steps"] == 2
    assert summary["skipped_files"] == {}
    samples = sorted((workdir / "samples").glob("*.png"))
    assert samples and image_size(samples[-1])[0] > image_size(samples[-1])[1]
    _, metadata = read_safetensors(workdir / "checkpoint.safetensors", "checkpoint")
    assert metadata["format"] == CHECKPOINT_FORMAT and metadata["step"] == "2"
    code, stdout, err = run(["apply", str(model), "--info"], capsys)
    assert code == 0, err
    assert re.search(r"^styles +0=strokes, 1=stripes$", stdout, re.M), stdout
    assert re.search(r"^trained +2 steps at 32 px, batch 2", stdout, re.M), stdout


def test_train_skips_a_corrupt_photo_and_says_so(
    tmp_path: Path, photo_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    shutil.copytree(photo_folder, photos)
    truncated_png(photos / "a_broken.png")  # sorts first: would be the validation photo
    model = tmp_path / "m.safetensors"
    code, _, err = run(_train_args(photos, model), capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "m_train" / "train.json").read_text())
    assert summary["status"] == "done"
    assert list(summary["skipped_files"]) == ["a_broken.png"]
    assert "skipped 1 unreadable file(s)" in err and "Traceback" not in err
    assert stylelab.fast.load(model, "cpu").styles == ["strokes", "mosaic"]


def test_train_skips_a_first_photo_that_fails_to_decode(
    tmp_path: Path, photo_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    shutil.copytree(photo_folder, photos)
    late = late_failing_png(photos / "a_late.png")
    with Image.open(late) as image:
        image.verify()  # the header check that find_photos does passes
    model = tmp_path / "m.safetensors"
    code, _, err = run(_train_args(photos, model), capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "m_train" / "train.json").read_text())
    assert "a_late.png" in summary["skipped_files"]


def test_interrupted_training_keeps_its_checkpoint_and_resumes(
    tmp_path: Path,
    photo_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = 0
    original = fastdata.Sampler.batch

    def interrupt_on_third(self, step):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return original(self, step)

    monkeypatch.setattr(fastdata.Sampler, "batch", interrupt_on_third)
    model = tmp_path / "m.safetensors"
    args = [*_train_args(photo_folder, model), "--steps", "5", "--checkpoint-every", "1"]
    code, _, err = run(args, capsys)
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err
    workdir = tmp_path / "m_train"
    summary = json.loads((workdir / "train.json").read_text())
    assert summary["status"] == "interrupted"
    done = summary["steps"]
    assert 1 <= done < 5
    loaded = stylelab.fast.load(model, "cpu")
    assert loaded.styles == ["strokes", "mosaic"]
    assert loaded.record.training["steps_done"] == done
    _, metadata = read_safetensors(workdir / "checkpoint.safetensors", "checkpoint")
    assert metadata["step"] == str(done)

    monkeypatch.undo()
    code, _, err = run([*args, "--resume"], capsys)
    assert code == 0, err
    summary = json.loads((workdir / "train.json").read_text())
    assert summary["status"] == "done" and summary["steps"] == 5
    with open(workdir / "train.csv", newline="") as handle:
        assert [int(r["step"]) for r in csv.DictReader(handle)] == [1, 2, 3, 4, 5]
    assert stylelab.fast.load(model, "cpu").record.training["steps_done"] == 5


# ----------------------------------------------------------------------- train: bad input
# The one-line errors of bad input: tests/hostile/cases.py; here, the cases around them.


@pytest.fixture
def earlier_run(tmp_path: Path, tiny_model: Path) -> Path:
    """A copy of the tiny model and its records (checkpoint included) in tmp_path."""
    shutil.copy2(tiny_model, tmp_path / tiny_model.name)
    records = tiny_model.with_name(f"{tiny_model.stem}_train")
    shutil.copytree(records, tmp_path / records.name)
    return tmp_path / tiny_model.name


@pytest.mark.parametrize(
    ("case", "styles", "flags", "message"),
    [
        ("again without --resume", ["example:strokes", "example:mosaic"], [], "holds a checkpoint"),
        (
            "--resume with other styles",
            ["example:strokes"],
            ["--resume"],
            r"other settings \(styles",
        ),
        (
            "--resume with another --temporal-weight",
            ["example:strokes", "example:mosaic"],
            ["--resume", "--temporal-weight", "0"],
            r"other settings \(.*temporal_weight\)",  # (the tiny model's loss differs too)
        ),
    ],
)
def test_train_refuses_to_clobber_or_mix_an_earlier_run(
    case: str,
    styles: list[str],
    flags: list[str],
    message: str,
    tmp_path: Path,
    earlier_run: Path,
    photo_folder: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The tiny model's settings, so that only the styles differ.
    args = [*_train_args(photo_folder, earlier_run, *styles), "--lr", "0.01", "--steps", "9"]
    before = snapshot(tmp_path)
    code, _, err = run([*args, *flags], capsys)
    assert code == 2, err
    assert_one_error_line(err, message)
    assert snapshot(tmp_path) == before


def test_a_second_run_on_the_same_model_is_refused_while_the_first_runs(
    tmp_path: Path, earlier_run: Path, photo_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two `train -o m.safetensors` (or --resume) at once: the second would overwrite the
    first's model and checkpoint; it is refused while the first holds MODEL_train/.lock."""
    from stylelab.cli.fast import TRAINING_LOCK
    from stylelab.safety import lock_or_refuse, open_lock

    records = earlier_run.with_name(f"{earlier_run.stem}_train")
    args = [*_train_args(photo_folder, earlier_run, "example:strokes", "example:mosaic")]
    before = snapshot(tmp_path)
    held = open_lock(records / TRAINING_LOCK, "the test's run")  # the first run
    try:
        lock_or_refuse(held, "held")
        code, _, err = run([*args, "--lr", "0.01", "--steps", "9", "--resume"], capsys)
    finally:
        os.close(held)
    assert code == 2, err
    assert_one_error_line(err, "another training run is writing this model")
    (records / TRAINING_LOCK).unlink()  # the first run's, left as it would leave it
    assert snapshot(tmp_path) == before


def test_a_disk_that_fills_mid_run_names_the_checkpoint_to_resume_from(tmp_path: Path) -> None:
    import errno

    from stylelab.cli.fast import training_records
    from stylelab.safety import WriteFailed

    workdir = tmp_path / "m_train"
    full = WriteFailed("m.safetensors: no space left on device; nothing was written", errno.ENOSPC)
    said = "no space left.*checkpoint in .*--resume when there"
    with pytest.raises(WriteFailed, match=said), training_records(workdir, resume=False):
        (workdir / "checkpoint.safetensors").write_bytes(b"saved at step 100")
        raise full
    assert (workdir / "checkpoint.safetensors").is_file()  # kept: it is the way on
    with (
        pytest.raises(WriteFailed, match="nothing was written$"),
        training_records(tmp_path / "n_train", resume=False),
    ):
        raise full  # before any checkpoint: no advice to resume
    assert not (tmp_path / "n_train").exists()  # and nothing left behind


def _damage_checkpoint(path: Path, damage: str) -> None:
    """Rewrite a training checkpoint with one optimizer moment reshaped, or NaN."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    key = next(k for k in tensors if k.startswith("opt.") and k.endswith("exp_avg"))
    if damage == "reshaped":
        tensors[key] = tensors[key].flatten()[:7].clone()
    else:
        tensors[key] = tensors[key] * float("nan")
    save_file(tensors, str(path), metadata=metadata)


@pytest.mark.parametrize("damage", ["reshaped", "nan"])
def test_resume_from_a_damaged_optimizer_state_is_one_line(
    damage: str,
    tmp_path: Path,
    earlier_run: Path,
    photo_folder: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 27: a moment of the wrong shape failed at the first step ('The size of tensor
    a (7) must match ...', exit 70); now refused before training, the run left as it was."""
    _damage_checkpoint(tmp_path / "tiny_train" / "checkpoint.safetensors", damage)
    styles = ["example:strokes", "example:mosaic"]
    args = [*_train_args(photo_folder, earlier_run, *styles), "--lr", "0.01", "--steps", "9"]
    args += ["--style-weight", "30"]  # the tiny model's loss: everything else is the same
    before = snapshot(tmp_path)
    code, _, err = run([*args, "--resume"], capsys)
    assert code == 2, err
    assert_one_error_line(err, "checkpoint.safetensors: damaged checkpoint")
    assert snapshot(tmp_path) == before

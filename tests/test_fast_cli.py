"""The command-line promise of ``stylelab train`` and ``stylelab apply``.

Every user error is exit 2 with exactly one ``stylelab: error:`` line and no file touched;
outputs have their inputs' exact sizes; training keeps its records and checkpoint.
The API underneath is tested in test_fast_apply.py and test_fast_train.py.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import stylelab.fast
from stylelab import cli
from stylelab.fast import data as fastdata
from stylelab.fast.modelfile import CHECKPOINT_FORMAT, read_safetensors
from tests.conftest import gradient_image, stripes_image

TRAIN_FAST = [
    "--train-size",
    "32",
    "--batch-size",
    "2",
    "--steps",
    "2",
    "--precision",
    "fp32",
    "--quiet",
]
APPLY_FAST = ["--device", "cpu", "--precision", "fp32", "--quiet"]
RECORD_KEYS = {"input", "output", "size", "style", "seconds", "device", "precision"}


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


def late_failing_png(path: Path, width: int = 48, height: int = 40) -> Path:
    """A PNG whose header and checksums are fine (Image.verify passes) but whose pixel
    data does not inflate: it fails only when decoded."""
    gradient_image(width, height, seed=5).save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT")
    length = struct.unpack(">I", data[start - 4 : start])[0]
    for k in range(start + 14, start + length):
        data[k] ^= 0x5A
    crc = zlib.crc32(bytes(data[start : start + 4 + length]))
    data[start + 4 + length : start + 8 + length] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


class _Boom:
    """Unpickling this creates ``marker``: a stand-in for code run by a malicious model."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_the_pickle_payload_would_run_code(tmp_path: Path) -> None:
    """The bad-model cases below mean something: loading the payload does create the marker."""
    marker = tmp_path / "code-ran"
    pickle.loads(pickle.dumps({"weights": _Boom(marker)}))  # noqa: S301
    assert marker.exists()


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


def _bad_model(tmp: Path, kind: str, good: str) -> str:
    path = tmp / "model.safetensors"
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"weights": _Boom(tmp / "code-ran")}))
    elif kind == "torch-save":
        torch.save({"weights": _Boom(tmp / "code-ran")}, path)
    elif kind == "truncated":
        data = Path(good).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("not a model at all\n")
    elif kind == "foreign":
        save_file({"weight": torch.zeros(3)}, str(path))
    return str(path)


def _link(tmp: Path, target: str) -> str:
    link = tmp / "link.png"
    link.symlink_to(target)
    return str(link)


def _folder(tmp: Path) -> str:
    folder = tmp / "photos"
    folder.mkdir()
    gradient_image(30, 20).save(folder / "a.png")
    return str(folder)


def _same_name(tmp: Path) -> list[str]:
    for name in ("x", "y"):
        (tmp / name).mkdir()
        gradient_image(30, 20).save(tmp / name / "p.png")
    return [str(tmp / "x" / "p.png"), str(tmp / "y" / "p.png")]


# Each case: (tmp_path, model, photo, out) -> the arguments after "apply"; a message regex.
BAD_APPLY = {
    "pickle model": (lambda t, m, p, o: [_bad_model(t, "pickle", m), p, "-o", o], "not a readable"),
    "torch.save model": (
        lambda t, m, p, o: [_bad_model(t, "torch-save", m), p, "-o", o],
        "not a readable",
    ),
    "truncated model": (
        lambda t, m, p, o: [_bad_model(t, "truncated", m), p, "-o", o],
        "not a readable",
    ),
    "text file as model": (lambda t, m, p, o: [_bad_model(t, "text", m), p, "-o", o], "not a"),
    "foreign safetensors": (
        lambda t, m, p, o: [_bad_model(t, "foreign", m), p, "-o", o],
        "not a stylelab fast model",
    ),
    "missing model": (lambda t, m, p, o: [str(t / "nope.safetensors"), p, "-o", o], "no such"),
    "model is a folder": (lambda t, m, p, o: [str(t), p, "-o", o], "not a regular file"),
    "unknown style name": (
        lambda t, m, p, o: [m, p, "-o", o, "--style", "starry"],
        "'starry': unknown; this model's styles: 0=strokes, 1=mosaic",
    ),
    "style index 2": (lambda t, m, p, o: [m, p, "-o", o, "--style", "2"], "indices 0 to 1"),
    "style index -1": (lambda t, m, p, o: [m, p, "-o", o, "--style", "-1"], "indices 0 to 1"),
    "style-mix of 1 weight": (
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "1"],
        "has 1 weights; this model has 2 styles",
    ),
    "style-mix of 3 weights": (
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "1,2,3"],
        "has 3 weights",
    ),
    "style-mix not numbers": (
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "a,b"],
        "--style-mix: expected numbers",
    ),
    "style-mix unknown name": (
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "strokes:1,starry:1"],
        "unknown style 'starry'",
    ),
    "style-mix zero sum": (
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "0,0"],
        "positive sum",
    ),
    "style and style-mix": (
        lambda t, m, p, o: [m, p, "-o", o, "--style", "0", "--style-mix", "0.5,0.5"],
        "--style or --style-mix, not both",
    ),
    "-o a directory for one input": (
        lambda t, m, p, o: [m, p, "-o", str(t)],
        "is a directory; give an image file name",
    ),
    "-o the input": (lambda t, m, p, o: [m, p, "-o", p], "is an input"),
    "-o a link to the input": (lambda t, m, p, o: [m, p, "-o", _link(t, p)], "is an input"),
    "-o the input folder": (
        lambda t, m, p, o: [m, (f := _folder(t)), "-o", f],
        "is an input folder",
    ),
    "unknown output extension": (
        lambda t, m, p, o: [m, p, "-o", str(t / "out.bmpx")],
        r"unknown output extension '\.bmpx'",
    ),
    "no output extension": (
        lambda t, m, p, o: [m, p, "-o", str(t / "out")],
        "unknown output extension ''",
    ),
    "missing output folder": (
        lambda t, m, p, o: [m, p, "-o", str(t / "no" / "out.png")],
        "output folder does not exist",
    ),
    "two inputs to one image": (
        lambda t, m, p, o: [m, p, *_same_name(t)[:1], "-o", str(t / "new.png")],
        "several inputs need -o FOLDER",
    ),
    "two inputs of the same name": (
        lambda t, m, p, o: [m, *_same_name(t), "-o", str(t / "outdir")],
        "would both write",
    ),
    "strength 2": (lambda t, m, p, o: [m, p, "-o", o, "--strength", "2"], "--strength must be"),
    "stroke scale 0": (
        lambda t, m, p, o: [m, p, "-o", o, "--stroke-scale", "0"],
        "--stroke-scale must be from 0.25 to 8",
    ),
    "stroke scale nan": (
        lambda t, m, p, o: [m, p, "-o", o, "--stroke-scale", "nan"],
        "--stroke-scale must be from",
    ),
    "stroke scale text": (
        lambda t, m, p, o: [m, p, "-o", o, "--stroke-scale", "big"],
        "--stroke-scale: not a number",
    ),
    "size 5": (lambda t, m, p, o: [m, p, "-o", o, "--size", "5"], "--size must be an integer"),
    "stroke scales without --sheet": (
        lambda t, m, p, o: [m, p, "-o", o, "--stroke-scale", "1,2"],
        "several --stroke-scale values need --sheet",
    ),
    "missing INPUT": (lambda t, m, p, o: [m, "-o", o], "needs at least one INPUT"),
    "missing -o": (lambda t, m, p, o: [m, p], "needs -o OUT"),
    "missing input file": (
        lambda t, m, p, o: [m, str(t / "nope.png"), "-o", o],
        "nope.png: no such file",
    ),
    "input not an image": (
        lambda t, m, p, o: [m, str(t / "notes.txt"), "-o", o],
        "not an image file Pillow can read",
    ),
    "stdin among several inputs": (
        lambda t, m, p, o: [m, "-", p, "-o", str(t / "outdir")],
        "can only be the only input",
    ),
    "folder to stdout": (lambda t, m, p, o: [m, _folder(t), "-o", "-"], "takes one input image"),
    "sheet of a folder": (
        lambda t, m, p, o: [m, _folder(t), "-o", str(t / "outdir"), "--sheet"],
        "--sheet takes one input image",
    ),
    "several inputs to an existing file": (
        lambda t, m, p, o: [m, p, *_same_name(t)[:1], "-o", o],
        "not a folder; several inputs need -o FOLDER",
    ),
    "folder without images": (
        lambda t, m, p, o: [m, str(_mkdir(t / "empty")), "-o", str(t / "outdir")],
        "no images found",
    ),
    "info on a pickle model": (
        lambda t, m, p, o: [_bad_model(t, "pickle", m), "--info"],
        "not a readable",
    ),
    "style a superscript digit": (
        lambda t, m, p, o: [m, p, "-o", o, "--style", "\u00b2"],
        "--style",
    ),
    "empty stdin": (lambda t, m, p, o: [m, "-", "-o", o], "stdin: no data"),
    "stdin not an image": (lambda t, m, p, o: [m, "-", "-o", o], "stdin: not an image"),
}
STDIN = {"empty stdin": b"", "stdin not an image": b"hello"}


def _cases(table: dict[str, tuple]) -> list:
    """(name, make, message) parameters; a third item of a case is its mark (xfail)."""
    return [pytest.param(name, *case[:2], id=name, marks=case[2:]) for name, case in table.items()]


@pytest.mark.parametrize(("case", "make", "message"), _cases(BAD_APPLY))
def test_apply_bad_input_is_one_line_exit_2_and_no_file(
    case: str,
    make,
    message: str,
    tmp_path: Path,
    tiny_model: Path,
    photo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out.png"
    gradient_image(20, 20, seed=9).save(out)  # an earlier output: must stay as it is
    (tmp_path / "notes.txt").write_text("not an image")
    args = make(tmp_path, str(tiny_model), str(photo), str(out))
    if case in STDIN:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(STDIN[case])))
    before = snapshot(tmp_path)
    code, stdout, err = run(["apply", *args, *APPLY_FAST], capsys)
    assert code == 2, err
    assert_one_error_line(err, message)
    assert stdout == ""
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "code-ran").exists()


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


def _photos(tmp: Path, name: str = "photos") -> Path:
    folder = tmp / name
    folder.mkdir()
    for seed in range(2):
        gradient_image(40, 36, seed=seed).save(folder / f"p{seed}.png")
    return folder


def _args(tmp: Path, *extra: str, styles=None, data=None, output=None) -> list[str]:
    return [
        *(styles if styles is not None else [str(tmp / "style.png")]),
        "--data",
        str(data if data is not None else tmp / "photos"),
        "-o",
        str(output if output is not None else tmp / "model.safetensors"),
        *TRAIN_FAST,
        *extra,
    ]


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _png_named(path: Path) -> Path:
    stripes_image().save(path, format="PNG")
    return path


# Each case: tmp_path -> the arguments after "train" (style.png and photos/ exist); a regex.
BAD_TRAIN = {
    "empty data folder": (
        lambda t: _args(t, data=_mkdir(t / "empty")),
        "no readable images in this folder",
    ),
    "image-less data folder": (
        lambda t: _args(t, data=_write(_mkdir(t / "texts") / "a.txt", "hi").parent),
        r"no readable images in this folder \(1 files skipped\)",
    ),
    "data is a file": (lambda t: _args(t, data=t / "style.png"), "--data needs a folder"),
    "missing data folder": (lambda t: _args(t, data=t / "nope"), "nope: no such folder"),
    "missing style image": (
        lambda t: _args(t, styles=[str(t / "nope.png")]),
        "nope.png: no such file",
    ),
    "style not an image": (
        lambda t: _args(t, styles=[str(_write(t / "s.png", "hi"))]),
        "not an image file Pillow can read",
    ),
    "unknown example style": (
        lambda t: _args(t, styles=["example:nope"]),
        "nope",
    ),
    "-o a directory": (
        lambda t: _args(t, output=_mkdir(t / "models")),
        "is a directory; give a file name ending in .safetensors",
    ),
    "-o x.pt": (lambda t: _args(t, output=t / "x.pt"), r"a model file ends in \.safetensors"),
    "-o the style image": (
        lambda t: _args(t, output=t / "style.png"),
        r"ends in \.safetensors",
    ),
    "-o the style image, named .safetensors": (
        lambda t: _args(
            t,
            styles=[str(_png_named(t / "s.safetensors"))],
            output=t / "s.safetensors",
        ),
        "is an input",
    ),
    "-o inside --data": (
        lambda t: _args(t, output=t / "photos" / "m.safetensors"),
        "inside the --data folder",
    ),
    "-o in a subfolder of --data": (
        lambda t: _args(t, output=_mkdir(t / "photos" / "sub") / "m.safetensors"),
        "inside the --data folder",
    ),
    "missing output folder": (
        lambda t: _args(t, output=t / "no" / "m.safetensors"),
        "output folder does not exist",
    ),
    "records folder is a file": (
        lambda t: _args(t, output=_write(t / "m_train", "x").with_name("m.safetensors")),
        "exists and is not a folder",
    ),
    "records folder is the --data folder": (
        lambda t: _args(t, data=_photos(t, "m_train"), output=t / "m.safetensors"),
        "--data folder",
    ),
    "missing -o": (
        lambda t: [str(t / "style.png"), "--data", str(t / "photos"), *TRAIN_FAST],
        "required: -o/--output",
    ),
    "train-size 8": (lambda t: _args(t, "--train-size", "8"), "--train-size must be an integer"),
    "batch-size 0": (lambda t: _args(t, "--batch-size", "0"), "--batch-size must be an integer"),
    "steps 0": (lambda t: _args(t, "--steps", "0"), "--steps must be"),
    "checkpoint-every 0": (
        lambda t: _args(t, "--checkpoint-every", "0"),
        "--checkpoint-every must be",
    ),
    "lr -1": (lambda t: _args(t, "--lr", "-1"), "--lr must be a finite number > 0"),
    "lr nan": (lambda t: _args(t, "--lr", "nan"), "--lr must be a finite number > 0"),
    "max-minutes 0": (lambda t: _args(t, "--max-minutes", "0"), "--max-minutes must be"),
    "arch nope": (lambda t: _args(t, "--arch", "nope"), "invalid choice: 'nope'"),
    "backbone nope": (lambda t: _args(t, "--backbone", "nope"), "unknown backbone 'nope'"),
    "smoothing nope": (lambda t: _args(t, "--smoothing", "nope"), "unknown smoothing 'nope'"),
    "resume without a checkpoint": (
        lambda t: _args(t, "--resume"),
        "--resume: no checkpoint at",
    ),
}


@pytest.mark.parametrize(("case", "make", "message"), _cases(BAD_TRAIN))
def test_train_bad_input_is_one_line_exit_2_and_no_file(
    case: str, make, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stripes_image().save(tmp_path / "style.png")
    _photos(tmp_path)
    args = make(tmp_path)
    before = snapshot(tmp_path)
    code, stdout, err = run(["train", *args], capsys)
    assert code == 2, err
    assert_one_error_line(err, message)
    assert stdout == ""
    assert snapshot(tmp_path) == before  # no MODEL, no MODEL_train/, inputs untouched


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

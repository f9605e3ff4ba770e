"""Bad weights files: each one is refused in one line naming it, no warning, no code run.

The table covers ``--weights PATH``, the Caffe VGG19 file named by ``$STYLELAB_CAFFE_VGG19``
and torchvision's file in the local torch cache. Pickles that would create a marker file
when unpickled (plain, and inside ``torch.save``) must leave no marker behind.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import save_file

from stylelab.backbones import load_backbone
from stylelab.backbones import weights as W
from stylelab.errors import StylelabError

torch.set_num_threads(1)

MARKER = "code_ran.txt"


class Payload:
    """Unpickling this object creates ``path``: code run from a file."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def _vgg19_features_state(seed: int = 0) -> dict[str, torch.Tensor]:
    body = load_backbone("vgg19", weights="random", seed=seed).extractor(["pool5"]).body
    return {f"features.{k}": v for k, v in body.state_dict().items()}


def _write(data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / "w.pt"
        path.write_bytes(data)
        return path

    return make


def _saved(obj_of: Callable[[Path], object], **kwargs: object) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / "w.pt"
        torch.save(obj_of(tmp), path, **kwargs)  # type: ignore[arg-type]
        return path

    return make


def _missing(tmp: Path) -> Path:
    return tmp / "absent.pt"


def _folder(tmp: Path) -> Path:
    (tmp / "w.pt").mkdir()
    return tmp / "w.pt"


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "w.pt")
    return tmp / "w.pt"


def _dev_zero(tmp: Path) -> Path:
    return Path("/dev/zero")


def _symlink_loop(tmp: Path) -> Path:
    (tmp / "w.pt").symlink_to(tmp / "w.pt")
    return tmp / "w.pt"


def _newline_name(tmp: Path) -> Path:
    return tmp / "two\nlines.pt"


def _not_torch_zip(tmp: Path) -> Path:
    path = tmp / "w.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return path


def _zip_bomb_pickle(tmp: Path) -> Path:
    """A 10 kB file whose compressed data.pkl unpacks to 10 MB of pickle opcodes (a list
    of 5 million ints): unpickling it takes seconds and 650 MB; 200 MB, minutes."""
    path = tmp / "w.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02](" + b"K\x01" * 5_000_000 + b"e.")
        archive.writestr("archive/version", b"3\n")
    return path


def _zip_bomb_storage(tmp: Path) -> Path:
    """A real torch.save file rewritten with one storage compressed: 40 MB of zeros."""
    saved = tmp / "plain.pt"
    torch.save({"features.0.weight": torch.zeros(10_000_000)}, saved)
    path = tmp / "w.pt"
    with (
        zipfile.ZipFile(saved) as source,
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for entry in source.infolist():
            archive.writestr(entry.filename, source.read(entry))
    saved.unlink()
    return path


def _truncated(tmp: Path) -> Path:
    path = tmp / "w.pt"
    torch.save(_vgg19_features_state(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _plain_pickle(tmp: Path) -> Path:
    path = tmp / "w.pkl"
    path.write_bytes(pickle.dumps(Payload(tmp / MARKER)))
    return path


def _torchscript(tmp: Path) -> Path:
    path = tmp / "w.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript is deprecated: making one warns
        torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 4, 3)), str(path))
    return path


def _resnet18(tmp: Path) -> dict[str, torch.Tensor]:
    return torchvision.models.resnet18(weights=None).state_dict()


def _vgg16(tmp: Path) -> dict[str, torch.Tensor]:
    body = load_backbone("vgg16", weights="random").extractor(["pool5"]).body
    return body.state_dict()


def _safetensors(state_of: Callable[[Path], dict[str, torch.Tensor]], name: str):
    def make(tmp: Path) -> Path:
        path = tmp / name
        save_file(state_of(tmp), str(path))
        return path

    return make


RANDOM_BYTES = bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))
assert RANDOM_BYTES[:1] != b"\x80" and not RANDOM_BYTES.startswith(b"PK")

# name: (make the file in a folder, words the message must hold)
CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (_missing, "no such file"),
    "folder": (_folder, "is a folder, not a weights file"),
    "fifo": (_fifo, "is a FIFO (named pipe)"),
    "/dev/zero": (_dev_zero, "is a device"),
    "symlink loop": (_symlink_loop, "cannot read it"),
    "newline in the name": (_newline_name, "no such file"),
    "empty": (_write(b""), "empty file (0 bytes)"),
    "text": (_write(b"these are not weights\n" * 8), "not a weights file (a text file)"),
    "random bytes": (_write(RANDOM_BYTES), "unrecognized binary data"),
    "zip, not torch": (_not_torch_zip, "a zip archive of 1 file without torch.save's data.pkl"),
    "truncated torch file": (_truncated, "truncated or damaged PyTorch file"),
    "zip bomb in data.pkl": (_zip_bomb_pickle, "refused as a possible zip bomb (its entries"),
    "zip bomb in a storage": (_zip_bomb_storage, "unpack to 40 MB from a file of"),
    "plain pickle running code": (_plain_pickle, "a plain Python pickle, not written by"),
    "torch.save of code": (
        _saved(lambda t: Payload(t / MARKER)),
        "pickled Python objects that are not tensors, e.g. io.open",
    ),
    "torch.save of code in a dict": (
        _saved(lambda t: {"features.0.weight": Payload(t / MARKER)}),
        "pickled Python objects that are not tensors",
    ),
    "legacy torch.save of code": (
        _saved(lambda t: Payload(t / MARKER), _use_new_zipfile_serialization=False),
        "pickled Python objects that are not tensors",
    ),
    "a whole model": (
        _saved(lambda t: torch.nn.Conv2d(3, 4, 3)),
        "pickled Python objects that are not tensors, e.g. torch.nn.modules.conv.Conv2d",
    ),
    "TorchScript archive": (_torchscript, "a TorchScript archive written by torch.jit.save"),
    "legacy header, then garbage": (
        _write(W.LEGACY_MAGIC + RANDOM_BYTES),
        "pickled data that is not a plain state dict",
    ),
    "legacy header alone": (_write(W.LEGACY_MAGIC), "truncated weights file"),
    "a list": (_saved(lambda t: [torch.zeros(2)]), "not a state dict (it holds a list)"),
    "a tensor": (_saved(lambda t: torch.zeros(3, 4)), "holds one tensor of shape 3x4"),
    "not tensors": (_saved(lambda t: {"epoch": 3}), "'epoch' holds an int, not a tensor"),
    "empty dict": (_saved(lambda t: {}), "an empty state dict"),
    "another network": (
        _saved(_resnet18),
        "weights for another network (they do not fit vgg19): 32 of 32 vgg19 tensors "
        "missing (e.g. features.0.weight), 122 unexpected keys (e.g. conv1.weight)",
    ),
    "vgg16 for vgg19": (_saved(_vgg16), "do not fit vgg19"),
    "safetensors of another network": (
        _safetensors(_resnet18, "w.safetensors"),
        "weights for another network",
    ),
    "safetensors with a huge header": (
        _write((2**62).to_bytes(8, "little") + b'{"a": 1}'),
        "damaged safetensors file (its header claims",
    ),
    "safetensors with a broken header": (
        _write((12).to_bytes(8, "little") + b'{"a": [1, 2}' + b"\0" * 8),
        "damaged or unreadable safetensors weights file",
    ),
}


def _assert_one_line(message: str, path: Path) -> None:
    assert "\n" not in message and "\r" not in message
    shown = W.shown(path)
    assert shown in message, message
    assert "weights_only=False" not in message and "Traceback" not in message
    assert len(message) < 400, message


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_weights_file_is_one_line(case: str, tmp_path: Path) -> None:
    make, words = CASES[case]
    path = make(tmp_path)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(StylelabError) as info:
        warnings.simplefilter("always")
        load_backbone("vgg19", weights=str(path))
    assert caught == []
    message = str(info.value)
    _assert_one_line(message, path)
    assert words in message
    assert not (tmp_path / MARKER).exists()


def test_a_torch_file_rezipped_with_compression_still_loads(tmp_path: Path) -> None:
    """The zip-bomb guard judges declared sizes: compressed random weights unpack to about
    the file's size and load, equal to the uncompressed file's tensors."""
    state = {"a": torch.randn(1_000_000), "b": torch.arange(10)}
    torch.save(state, tmp_path / "plain.pt")
    path = tmp_path / "zipped.pt"
    with (
        zipfile.ZipFile(tmp_path / "plain.pt") as source,
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for entry in source.infolist():
            archive.writestr(entry.filename, source.read(entry))
    assert path.stat().st_size < (tmp_path / "plain.pt").stat().st_size
    loaded = W.read_state_dict(path)
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_the_payload_really_runs_code(tmp_path: Path) -> None:
    """Without weights_only, the payload above would have created its marker."""
    pickle.loads(pickle.dumps(Payload(tmp_path / MARKER))).close()  # noqa: S301 (our own)
    assert (tmp_path / MARKER).exists()


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_another_network_for_a_resnet_and_a_zoo_backbone(name: str, tmp_path: Path) -> None:
    path = tmp_path / "vgg19.pt"
    torch.save(_vgg19_features_state(), path)
    with pytest.raises(StylelabError) as info:
        load_backbone(name, weights=str(path))
    message = str(info.value)
    _assert_one_line(message, path)
    assert f"weights for another network (they do not fit {name})" in message
    assert "unexpected keys (e.g. features.0.weight)" in message


def test_a_keyword_typo_is_suggested() -> None:
    with pytest.raises(StylelabError, match=r"^pretraind: no such file \(did you mean --weights"):
        load_backbone("vgg19", weights="pretraind")


@pytest.mark.parametrize("name", ["w.safetensors", "w.pt"])
def test_safetensors_files_load_whatever_their_name(name: str, tmp_path: Path) -> None:
    state = _vgg19_features_state(seed=3)
    save_file(state, str(tmp_path / name))
    backbone = load_backbone("vgg19", weights=str(tmp_path / name))
    conv = backbone.extractor(["conv1_1"]).body[0]
    assert torch.equal(conv.weight, state["features.0.weight"])


def test_a_torch_file_named_safetensors_loads(tmp_path: Path) -> None:
    state = _vgg19_features_state(seed=4)
    torch.save(state, tmp_path / "w.safetensors")
    backbone = load_backbone("vgg19", weights=str(tmp_path / "w.safetensors"))
    assert torch.equal(backbone.extractor(["conv1_1"]).body[0].weight, state["features.0.weight"])


def test_a_checkpoint_with_a_state_dict_entry_loads(tmp_path: Path) -> None:
    state = _vgg19_features_state(seed=5)
    torch.save({"epoch": 7, "state_dict": state}, tmp_path / "ckpt.pt")
    backbone = load_backbone("vgg19", weights=str(tmp_path / "ckpt.pt"))
    assert torch.equal(backbone.extractor(["conv1_1"]).body[0].weight, state["features.0.weight"])


# --- $STYLELAB_CAFFE_VGG19 ----------------------------------------------------------------

CAFFE_CASES = {
    "missing": (_missing, "no such file"),
    "folder": (_folder, "is a folder"),
    "fifo": (_fifo, "is a FIFO"),
    "text": (_write(b"not weights\n"), "a text file"),
    "torch.save of code": (_saved(lambda t: Payload(t / MARKER)), "not tensors"),
    "a resnet18 state dict": (_saved(_resnet18), "not the Caffe VGG19 weights file"),
    "the indices of the first layer only": (  # names what is missing, not what is there
        _saved(lambda t: {"block1_conv1_W_q": torch.zeros(64, 3, 3, 3, dtype=torch.uint8)}),
        "no block1_conv1_W_table among its 1 tensors",
    ),
    "wrong shapes": (
        _saved(
            lambda t: {
                "block1_conv1_W_q": torch.zeros(3, 3, dtype=torch.uint8),
                "block1_conv1_W_table": torch.zeros(256),
                "block1_conv1_b": torch.zeros(64),
            }
        ),
        "damaged Caffe VGG19 weights (block1_conv1: expected 64x3x3x3 uint8 indices",
    ),
}


@pytest.mark.parametrize("case", sorted(CAFFE_CASES))
def test_bad_caffe_file_names_the_variable_and_the_file(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, words = CAFFE_CASES[case]
    path = make(tmp_path)
    monkeypatch.setenv(W.CAFFE_VGG19_ENV, str(path))
    with warnings.catch_warnings(record=True) as caught, pytest.raises(StylelabError) as info:
        warnings.simplefilter("always")
        load_backbone("vgg19", weights="pretrained")
    assert caught == []
    message = str(info.value)
    _assert_one_line(message, path)
    assert message.startswith(f"${W.CAFFE_VGG19_ENV}={path}: ")
    assert words in message
    assert not (tmp_path / MARKER).exists()


# --- torchvision's file in the local torch cache ------------------------------------------

TORCH_CACHE_CASES = {
    "folder": (_folder, "is a folder"),
    "fifo": (_fifo, "is a FIFO"),
    "empty": (_write(b""), "empty file"),
    "torch.save of code": (_saved(lambda t: Payload(t / MARKER)), "not tensors"),
    "a vgg16 state dict": (_saved(_vgg16), "weights for another network"),
}


@pytest.mark.parametrize("case", sorted(TORCH_CACHE_CASES))
def test_bad_torch_cache_file_is_one_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, words = TORCH_CACHE_CASES[case]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = W.torch_cache_file(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url)
    cache.parent.mkdir(parents=True)
    made = make(tmp_path)
    made.rename(cache)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(StylelabError) as info:
        warnings.simplefilter("always")
        load_backbone("resnet18", weights="pretrained")
    assert caught == []
    message = str(info.value)
    _assert_one_line(message, cache)
    assert message.startswith(f"{cache} (torch cache): ")
    assert words in message
    assert not (tmp_path / MARKER).exists()


def test_missing_torch_cache_file_names_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for weights in ("pretrained", "torchvision"):
        with pytest.raises(StylelabError) as info:
            load_backbone("resnet18", weights=weights)
        message = str(info.value)
        assert "\n" not in message
        assert str(tmp_path / "hub" / "checkpoints") in message and "--weights PATH" in message


# --- through the command line -------------------------------------------------------------


def test_cli_refuses_code_inside_torch_save_in_one_line(
    tmp_path: Path, content_path: Path, style_path: Path
) -> None:
    weights = tmp_path / "w.pt"
    torch.save(Payload(tmp_path / MARKER), weights)
    output = tmp_path / "out.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "stylelab.cli",
            "stylize",
            str(content_path),
            str(style_path),
            "-o",
            str(output),
            "--weights",
            str(weights),
            "--size",
            "32",
            "--steps",
            "1",
            "--precision",
            "fp32",
            "--device",
            "cpu",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"stylelab: error: {weights}: not a PyTorch weights file")
    assert "never runs code from a file" in lines[0]
    assert not output.exists()
    assert not (tmp_path / MARKER).exists()

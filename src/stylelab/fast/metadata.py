"""Model metadata is untrusted input: its size and counts are bounded before it is parsed.

One reader for every model format stylelab opens, shared by ``apply``, ``video``,
``export``, ``stereo --model``, ``instant --model``, ``train``/``train-instant --resume``, the
cached ONNX export and the web app (every path goes through
:func:`stylelab.fast.modelfile.read_safetensors` or :func:`stylelab.fast.runtime.session_model`):

- **safetensors**: the file starts with an 8-byte little-endian header length N and N bytes
  of JSON (tensor entries, then ``__metadata__``). N is checked against
  :data:`MAX_HEADER_BYTES` and the file's size before a byte of JSON is read, so a header
  that claims (or holds) gigabytes of style names is one line, not a parse.
- **ONNX**: the top-level fields of the ``ModelProto`` are walked by their protobuf tags
  (nothing decoded): ``metadata_props`` (field 14) and ``doc_string`` (field 6) together
  must stay under :data:`MAX_HEADER_BYTES`, and the entries under :data:`MAX_FIELDS`,
  before onnxruntime parses the model.
- **TorchScript** exports are never read back: ``open_model`` refuses ``.pt`` by name and a
  weights file that is a TorchScript archive is refused from its zip directory
  (:mod:`stylelab.backbones.weights`), so their extra files are never opened.

Then the style names: a JSON list of at most :data:`MAX_STYLES` strings (``train`` takes at
most that many style images, so no stylelab model has more), each at most
:data:`MAX_STYLE_NAME` characters. Torch-free: the onnxruntime path imports it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from stylelab.errors import StylelabError
from stylelab.limits import MAX_LIST_LENGTH
from stylelab.safety import one_line

#: A stylelab model's header: ~100 bytes per tensor (a checkpoint has a few hundred), the
#: style names (64 x 200 characters) and the training settings (paths of at most 4096
#: characters each, one per style): well under 1 MiB. Four times that is damage or a bomb.
MAX_HEADER_BYTES = 4 * 2**20
#: ``train`` takes at most MAX_LIST_LENGTH style images (stylelab.fast.config).
MAX_STYLES = MAX_LIST_LENGTH
MAX_STYLE_NAME = 200
#: Top-level fields of an ONNX model: a stylelab export has about 20.
MAX_FIELDS = 10_000
ONNX_TEXT_FIELDS = (6, 14)  # ModelProto.doc_string, ModelProto.metadata_props


def safetensors_metadata(file: Path, what: str) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file, its header bounded before it is parsed;
    one line naming ``what`` was expected for anything else."""
    try:
        with open(file, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            if length < 0 or length + 8 > size:
                raise StylelabError(f"{one_line(file)}: not a readable {what} (no header)")
            if length > MAX_HEADER_BYTES:
                raise StylelabError(
                    f"{one_line(file)}: damaged metadata (a header of {length:,} bytes; a "
                    f"stylelab file's is under {MAX_HEADER_BYTES:,})"
                )
            raw = handle.read(length)
    except OSError as exc:
        raise StylelabError(f"{one_line(file)}: cannot read it ({exc.strerror})") from None
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise StylelabError(f"{one_line(file)}: not a readable {what} (header not JSON)") from None
    metadata = header.get("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise StylelabError(f"{one_line(file)}: not a readable {what} (damaged header)")
    return metadata


def check_onnx_metadata_size(file: Path, graph: bytes | None = None) -> None:
    """Refuse an ONNX file whose metadata (``metadata_props`` and ``doc_string``) exceeds
    :data:`MAX_HEADER_BYTES`, by walking its top-level protobuf fields; a file that is no
    protobuf is left to onnxruntime's own message. ``graph``: the file's bytes when they are
    already in memory (the cached export), walked instead of reading ``file`` again."""
    try:
        if graph is not None:
            fields, text = _walk_fields(io.BytesIO(graph), len(graph))
        else:
            with open(file, "rb") as handle:
                fields, text = _walk_fields(handle, os.fstat(handle.fileno()).st_size)
    except OSError as exc:
        raise StylelabError(f"{one_line(file)}: cannot read it ({exc.strerror})") from None
    if fields > MAX_FIELDS or text > MAX_HEADER_BYTES:
        raise StylelabError(
            f"{one_line(file)}: damaged metadata (more than {MAX_HEADER_BYTES:,} bytes or "
            f"{MAX_FIELDS:,} entries; a stylelab export's are far fewer)"
        )


def _walk_fields(handle: Any, size: int) -> tuple[int, int]:
    """(top-level fields, bytes of the text fields) of a protobuf message, stopping early
    past the bounds; (0, 0) for what is no protobuf."""
    text = fields = 0
    while handle.tell() < size:
        key = _varint(handle)
        fields += 1
        if key is None or fields > MAX_FIELDS:
            break
        number, wire = key >> 3, key & 7
        if wire == 2:
            length = _varint(handle)
            if length is None:
                return 0, 0
            if number in ONNX_TEXT_FIELDS:
                text += length
            handle.seek(length, os.SEEK_CUR)
        elif wire == 0:
            _varint(handle)
        elif wire in (1, 5):
            handle.seek(8 if wire == 1 else 4, os.SEEK_CUR)
        else:
            return 0, 0  # not a protobuf: onnxruntime says so in its words
        if text > MAX_HEADER_BYTES:
            break
    return fields, text


def _varint(handle: Any) -> int | None:
    """A protobuf base-128 varint from ``handle``, or None at the end or past 10 bytes."""
    value = shift = 0
    for _ in range(10):
        byte = handle.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
    return None


def style_names(text: object, file: object) -> list[str]:
    """The style names of a model's metadata: a JSON list of 1 to :data:`MAX_STYLES`
    strings of at most :data:`MAX_STYLE_NAME` characters; else one line."""
    where = one_line(file)
    if not isinstance(text, str) or len(text) > MAX_HEADER_BYTES:
        raise StylelabError(f"{where}: damaged metadata (style names)")
    try:
        styles = json.loads(text)
    except (ValueError, RecursionError):
        raise StylelabError(f"{where}: damaged metadata (style names not JSON)") from None
    if not isinstance(styles, list) or not styles or not all(isinstance(s, str) for s in styles):
        raise StylelabError(f"{where}: damaged metadata (style names)")
    if len(styles) > MAX_STYLES:
        raise StylelabError(
            f"{where}: damaged metadata ({len(styles):,} style names; a stylelab model has "
            f"at most {MAX_STYLES})"
        )
    if any(len(name) > MAX_STYLE_NAME for name in styles):
        raise StylelabError(
            f"{where}: damaged metadata (a style name over {MAX_STYLE_NAME} characters)"
        )
    return styles

"""The ONNX export formats stylelab writes, named once.

Each export carries ``format`` and ``format_version`` in its metadata; a runtime reads
only its own format and names the right command for a file of another
(:func:`stylelab.fast.runtime.check_export_metadata`). No torch, no onnxruntime here.
"""

from __future__ import annotations

FAST_FORMAT = "stylelab-fast-onnx"
FAST_FORMAT_VERSION = "1"
INSTANT_FORMAT = "stylelab-instant-onnx"
INSTANT_FORMAT_VERSION = "1"
#: export format -> the version of it this stylelab writes and reads.
VERSIONS = {FAST_FORMAT: FAST_FORMAT_VERSION, INSTANT_FORMAT: INSTANT_FORMAT_VERSION}

#: export format -> (what it holds, what runs it), for the one line on a file of the other kind.
EXPORT_KINDS = {
    FAST_FORMAT: ("a fast (one-network-per-style) model", "'stylelab apply FILE PHOTO'"),
    INSTANT_FORMAT: (
        "an instant-style model",
        "'stylelab instant PHOTO STYLE --model FILE' (a video takes the .safetensors it was "
        "exported from, or 'instant')",
    ),
}

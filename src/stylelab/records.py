"""Tables and records on disk: CSV and JSON, each written to a temp file and renamed."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from stylelab import pixels
from stylelab.safety import atomic_path, write_together


def write_csv(
    rows: Sequence[dict[str, Any]],
    path: str | os.PathLike,
    columns: Sequence[str] | None = None,
) -> None:
    """Write ``rows`` with a header; ``columns`` defaults to every key, in first-seen order.

    Keys outside ``columns`` are ignored and missing ones left empty.
    """
    text = csv_text(rows, columns)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        handle.write(text)


def read_json(path: str | os.PathLike) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None if it is missing, unreadable or not an object."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(data: dict[str, Any], path: str | os.PathLike) -> None:
    """Indented JSON; values JSON does not know (paths, devices) are written as strings."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """The CSV :func:`write_csv` would write, as text."""
    import io

    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_result(
    image: Any,
    path: str | os.PathLike,
    history: Sequence[dict[str, Any]],
    record: dict[str, Any],
) -> None:
    """An image with ``<stem>.csv`` (``history``) and ``<stem>.json`` (``record``), as one
    transaction: all three appear together, or none does and the old set stays whole."""
    from pathlib import Path

    out = Path(path)
    table = csv_text(history, None if history else ["iteration"])
    text = json.dumps(record, indent=2, default=str) + "\n"
    targets = [out, out.with_suffix(".csv"), out.with_suffix(".json")]
    with write_together(targets) as (image_tmp, csv_tmp, json_tmp):
        if isinstance(image, np.ndarray):  # no torch import for arrays (onnxruntime runs)
            pixels.encode_pil(pixels.array_to_pil(image), image_tmp, out.suffix)
        else:
            from stylelab.images import encode_image

            encode_image(image, image_tmp, out.suffix)
        with open(csv_tmp, "w", newline="") as handle:
            handle.write(table)
        json_tmp.write_text(text)

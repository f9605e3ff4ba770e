"""Tables and records on disk: CSV and JSON, each written to a temp file and renamed."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from typing import Any

from stylelab.images import atomic_path


def write_csv(
    rows: Sequence[dict[str, Any]],
    path: str | os.PathLike,
    columns: Sequence[str] | None = None,
) -> None:
    """Write ``rows`` with a header; ``columns`` defaults to every key, in first-seen order.

    Keys outside ``columns`` are ignored and missing ones left empty.
    """
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


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

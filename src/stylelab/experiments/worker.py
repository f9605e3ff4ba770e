"""One sweep run in its own process: ``python -m stylelab.experiments.worker RUN.json``.

Reads the run's spec, stylizes, saves ``output.png`` (+ ``output.csv``, ``output.json``)
beside RUN.json, scores the image with :func:`stylelab.evaluate.evaluate` and writes
``result.json`` last, through a temp file and a rename. Whatever happens in here (an
exception, a crash, running out of memory) ends this process only, never the sweep.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

OUTPUT = "output.png"
#: summary.csv columns of each yardstick: style_distance / content_distance (vgg, as
#: before the texture yardstick came) and texture_style / texture_content.
COLUMNS = {
    "vgg": ("style_distance", "content_distance"),
    "texture": ("texture_style", "texture_content"),
}
RESULT = "result.json"


def _die_with_parent(parent: int | None) -> None:
    """On Linux, get SIGKILLed when the sweep process dies, so no orphan writes on."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if parent is not None and os.getppid() != parent:
        os._exit(3)  # the parent died before prctl took effect


def run(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Stylize and score one run into ``folder``; return its result record."""
    import torch

    from stylelab.experiments.config import build_config
    from stylelab.gatys import stylize
    from stylelab.records import write_json

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    record: dict[str, Any] = {"run_id": spec["run_id"], "status": "failed", "error": ""}
    try:
        config = build_config(spec["params"])
        result = stylize(spec["content"], spec["style"], config)
        result.save(folder / OUTPUT)
        info = result.info
        record.update(
            status=info.get("status", "done"),
            error=info.get("message", "") if info.get("status") != "done" else "",
            final_losses=info.get("final_losses", {}),
            wall_time_s=info.get("wall_time_s"),
            iterations=info.get("iterations"),
            seconds_per_iteration=info.get("seconds_per_iteration"),
            lr_used=info.get("resolved", {}).get("lr"),
        )
        if spec.get("evaluate", True):
            from stylelab.evaluate import evaluate

            started = time.perf_counter()
            for yardstick in spec.get("yardsticks", ["vgg"]):
                scores = evaluate(
                    folder / OUTPUT,
                    spec["content"],
                    spec["style"],
                    size=int(spec.get("evaluate_size", 512)),
                    style_blend=config.style_blend,
                    yardstick=yardstick,
                )
                style_column, content_column = COLUMNS[yardstick]
                record[style_column] = scores["style_distance"]
                record[content_column] = scores["content_distance"]
            record["evaluate_time_s"] = round(time.perf_counter() - started, 3)
    except Exception as exc:  # recorded, and the sweep goes on
        from stylelab.errors import StylelabError

        if not isinstance(exc, StylelabError):
            traceback.print_exc()
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
    write_json(record, folder / RESULT)
    return record


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m stylelab.experiments.worker RUN.json", file=sys.stderr)
        return 2
    path = Path(args[0])
    spec = json.loads(path.read_text())
    _die_with_parent(spec.get("parent_pid"))
    from stylelab.allocator import configure_allocator

    configure_allocator()  # as the command line does: large tensors' memory kept
    record = run(spec, path.parent)
    return 0 if record["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())

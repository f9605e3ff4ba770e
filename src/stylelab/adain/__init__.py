"""Instant style: any painting in one forward pass (AdaIN, Huang & Belongie 2017).

- :mod:`.nets`: AdaIN and its variants (blend, regions), the decoder designs
- :mod:`.modelfile`: the model file (safetensors + card), checkpoints
- :mod:`.training`: ``stylelab train-instant`` (cached features, CPU-feasible)
- :mod:`.transfer`: :func:`instant`, the run (PyTorch)
- :mod:`.export`, :mod:`.runtime`: the ONNX export and the run on onnxruntime (no torch)
- :mod:`.options`, :mod:`.detail`: the checks and the detail layer both runs share
"""

from pathlib import Path

#: The model shipped inside the package (trained by scripts/train_instant_model.py).
SHIPPED = Path(__file__).with_name("adain_default.safetensors")

"""Instant style: any painting in one forward pass (AdaIN, Huang & Belongie 2017).

- :mod:`.nets`: AdaIN and its variants (blend, regions), the decoder designs
- :mod:`.modelfile`: the model file (safetensors + card), checkpoints
- :mod:`.training`: ``stylelab train-instant`` (cached features, CPU-feasible)
- :mod:`.transfer`: :func:`instant`, the run
"""

"""``stylelab export`` for instant models: one ONNX file, run by onnxruntime without torch.

The file holds both halves of AdaIN (Huang & Belongie 2017) behind one ``If`` node, so
the painting is an input and several paintings blend in feature statistics:

    inputs  image        (1, 3, H, W) float32 RGB in [0, 1] (H, W >= 16)
            style_stats  (1, 2, C) float32: (mu_s, sigma_s) per channel at relu{depth}_1
            strength     (1,) float32 alpha in [0, 1]
            want_stats   () bool
    output  want_stats:  (1, 2, C, 1) = (mu, sigma) of E(image) (the painting's statistics)
            otherwise:   (1, 3, H, W) = clamp(D(alpha AdaIN(E(image), stats) + (1 - alpha)
                         E(image)), 0, 1), H and W multiples of the encoder's stride

onnxruntime runs only the branch asked for, so a painting costs one encoder pass and the
photo one encoder and one decoder pass, as on PyTorch. Sizes, padding, blending of the
statistics, colour and the detail layer stay outside the graph, in NumPy
(:mod:`stylelab.adain.runtime`), shared with nothing torch-only.

Self-check before anything is written: the exported file and PyTorch fp32
(:func:`stylelab.adain.transfer.run`) stylize the astronaut at 203 x 157 (padding) with two
paintings blended and alpha 0.7; above 1/255 on [0, 1] the export fails.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stylelab.adain.modelfile import InstantModel, load_decoder
from stylelab.adain.nets import ENCODER_CHANNELS, CaffeEncoder, adain, mean_std
from stylelab.errors import StylelabError
from stylelab.exportformats import INSTANT_FORMAT as ONNX_FORMAT
from stylelab.exportformats import INSTANT_FORMAT_VERSION as ONNX_FORMAT_VERSION
from stylelab.fast.export import (
    OPSET,
    ExportReport,
    _require_onnx,
    check_export_output,
    exporter_failure,
    write_checked,
)

TOLERANCE = 1.0 / 255.0
CHECK_SIZE = (157, 203)


class StatsGraph(nn.Module):
    """image -> (mu, sigma) of its relu{depth}_1 features, (1, 2, C, 1) (rank 4 like the
    other branch's image, so the ``If`` output has one rank)."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.layer = f"relu{depth}_1"
        self.encoder = CaffeEncoder([self.layer])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return mean_std(self.encoder(image)[self.layer])[..., None]


class StylizeGraph(nn.Module):
    """(image, style statistics, alpha) -> clamp(D(alpha t + (1 - alpha) f_c), 0, 1)."""

    def __init__(self, model: InstantModel) -> None:
        super().__init__()
        self.layer = model.decoder.design.layer
        self.encoder = CaffeEncoder([self.layer])
        self.decoder = model.decoder.float().to(memory_format=torch.contiguous_format)

    def forward(
        self, image: torch.Tensor, style_stats: torch.Tensor, strength: torch.Tensor
    ) -> torch.Tensor:
        features = self.encoder(image)[self.layer]
        target = strength * adain(features, style_stats) + (1.0 - strength) * features
        return self.decoder(target).clamp(0.0, 1.0)


def export_instant(
    model: str | os.PathLike | InstantModel,
    output: str | os.PathLike,
    *,
    opset: int = OPSET,
    tolerance: float = TOLERANCE,
) -> ExportReport:
    """Export an instant model (a .safetensors file or a loaded one) to ``output`` (.onnx),
    checked against PyTorch fp32 first; nothing is written if the check fails."""
    out = check_export_output(output)
    if out.suffix.lower() != ".onnx":
        raise StylelabError(f"{out}: an instant model exports to ONNX only (OUT.onnx)")
    _require_onnx()
    net = model if isinstance(model, InstantModel) else load_decoder(model)
    started = time.perf_counter()
    data = onnx_bytes(net, opset)
    difference = self_check(net, data)
    write_checked(out, data, difference, tolerance)
    seconds = time.perf_counter() - started
    return ExportReport(out, "onnx", difference, seconds, opset, [], tolerance)


def metadata(net: InstantModel) -> dict[str, str]:
    import json

    from stylelab import __version__

    design = net.decoder.design
    return {
        "format": ONNX_FORMAT,
        "format_version": ONNX_FORMAT_VERSION,
        "design": design.name,
        "depth": str(design.depth),
        "channels": str(ENCODER_CHANNELS[design.depth]),
        "card": json.dumps(net.card, default=str),
        "training": json.dumps(net.training, default=str),
        "stylelab_version": __version__,
        "inputs": "image (1,3,H,W) [0,1]; style_stats (1,2,C); strength (1,); want_stats ()",
        "outputs": "output: stats (1,2,C) if want_stats else the decoded image (1,3,H,W)",
    }


def onnx_bytes(net: InstantModel, opset: int = OPSET) -> bytes:
    """The two halves exported by torch.onnx (dynamo) and joined under one ``If`` node."""
    import onnx
    from onnx import TensorProto, helper

    depth = net.decoder.design.depth
    channels = ENCODER_CHANNELS[depth]
    stride = net.decoder.design.stride
    height = torch.export.Dim("height", min=16, max=65536)
    width = torch.export.Dim("width", min=16, max=65536)
    stats = _export(StatsGraph(depth), (torch.rand(1, 3, 66, 75),), ["image"], opset, height, width)
    example = (
        torch.rand(1, 3, 16 * stride, 18 * stride),
        torch.rand(1, 2, channels) + 0.5,
        torch.tensor([0.5]),
    )
    high = torch.export.Dim("h", min=16 // stride, max=65536 // stride)
    wide = torch.export.Dim("w", min=16 // stride, max=65536 // stride)
    stylize = _export(
        StylizeGraph(net).eval(),
        example,
        ["image", "style_stats", "strength"],
        opset,
        stride * high,
        stride * wide,
    )
    branches = [_branch(stats, "stats/"), _branch(stylize, "stylize/")]
    node = helper.make_node(
        "If", ["want_stats"], ["output"], then_branch=branches[0], else_branch=branches[1]
    )
    float_input = TensorProto.FLOAT
    graph = helper.make_graph(
        [node],
        "stylelab_instant",
        [
            helper.make_tensor_value_info("image", float_input, [1, 3, "height", "width"]),
            helper.make_tensor_value_info("style_stats", float_input, [1, 2, channels]),
            helper.make_tensor_value_info("strength", float_input, [1]),
            helper.make_tensor_value_info("want_stats", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("output", float_input, [1, "rows", "height", "width"])],
    )
    proto = helper.make_model(graph, opset_imports=list(stylize.opset_import))
    proto.ir_version = stylize.ir_version
    proto.producer_name = "stylelab"
    proto.doc_string = f"stylelab instant style transfer (AdaIN, {net.design})"
    helper.set_model_props(proto, metadata(net))
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _export(
    module: nn.Module, example: tuple[torch.Tensor, ...], names: list[str], opset: int, *dims: Any
) -> Any:
    """torch.onnx.export (dynamo) with dynamic height and width of ``image``, functions
    inlined; any exporter failure is one line."""
    import onnx.inliner

    shapes: dict[str, Any] = {name: None for name in names}
    shapes["image"] = {2: dims[0], 3: dims[1]}
    try:
        with warnings.catch_warnings(), torch.inference_mode(False):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module.eval(),
                example,
                dynamo=True,
                verbose=False,
                opset_version=opset,
                input_names=names,
                output_names=["result"],
                dynamic_shapes=shapes,
            )
    except Exception as exc:  # noqa: BLE001 - an exporter failure is one line
        raise exporter_failure(exc) from None
    assert program is not None
    return onnx.inliner.inline_local_functions(program.model_proto)


def _branch(proto: Any, prefix: str) -> Any:
    """``proto``'s graph as an ``If`` branch: names prefixed (the inputs keep theirs and
    come from the outer graph), no inputs of its own."""
    from onnx.compose import add_prefix_graph

    graph = add_prefix_graph(proto.graph, prefix, rename_inputs=False)
    del graph.input[:]
    return graph


def self_check(net: InstantModel, data: bytes) -> float:
    """Largest |ONNX - PyTorch fp32| on [0, 1] for the astronaut at 203 x 157 with two
    paintings blended 0.3 / 0.7 and alpha 0.7 (the working size 128, so the detail layer
    runs too)."""
    from stylelab.adain.runtime import instant_session, stylize_arrays
    from stylelab.adain.transfer import painting_statistics, run
    from stylelab.images import load_image, resize_to

    photo = resize_to(load_image("example:astronaut"), CHECK_SIZE)
    paintings = [
        resize_to(load_image(f"example:{name}"), (96, 80 + 17 * k))
        for k, name in enumerate(("strokes", "mosaic"))
    ]
    blend, strength, working = (0.3, 0.7), 0.7, 128
    with torch.inference_mode():
        statistics = painting_statistics(net, paintings, False)
        expected = run(net, photo, statistics, blend, strength, working, None, False).numpy()
    session = instant_session(data, "export", Path("export.onnx"))
    produced = stylize_arrays(
        session, photo.numpy(), [p.numpy() for p in paintings], blend, strength, working
    )
    return float(np.abs(expected - produced).max())

"""The Python API's promise: every bad argument is a StylelabError with a one-line message.

A table of bad calls (stylize, evaluate, StylizeConfig, the fast API, TrainConfig), each
refused before any work; and the memory check, which refuses a run that cannot fit and
says which --size would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab import StylizeConfig, instant, load_backbone, load_image, save_image, stylize
from stylelab.errors import StylelabError
from stylelab.evaluate import evaluate
from stylelab.fast.apply import FastModel, load
from stylelab.fast.config import TrainConfig
from stylelab.fast.modelfile import ModelRecord
from stylelab.fast.nets import TransformerNet
from stylelab.masks import Regions

C = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
S = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
NAN = torch.full((1, 3, 32, 32), float("nan"))
TINY = {"size": 32, "steps": 2, "weights": "random", "device": "cpu", "precision": "fp32"}


def _run(**options: Any) -> Callable[[], object]:
    return lambda: stylize(C, S, **{**TINY, **options})


def _model() -> FastModel:
    net = TransformerNet("compact", 2)
    return FastModel(ModelRecord(net, ["strokes", "mosaic"]), torch.device("cpu"), "fp32")


MODEL = _model()

BAD_CALLS: dict[str, tuple[Callable[[], object], str]] = {
    # stylize: the images
    "content None": (lambda: stylize(None, S, **TINY), "content must be a path"),
    "content int": (lambda: stylize(3, S, **TINY), "content must be a path"),
    "content empty path": (lambda: stylize("", S, **TINY), "is not a path"),
    "content NUL path": (lambda: stylize("a\0b.png", S, **TINY), "is not a path"),
    "content NaN": (lambda: stylize(NAN, S, **TINY), "content: the image has NaN"),
    "style NaN": (lambda: stylize(C, [S, NAN], **TINY), "style: the image has NaN"),
    "style empty list": (lambda: stylize(C, [], **TINY), "at least one image"),
    "content int64 array": (
        lambda: stylize(np.zeros((32, 32, 3), np.int64), S, **TINY),
        "an image array of dtype int64: give uint8 (0-255), uint16 (0-65535), bool, or floats",
    ),
    "content object array": (
        lambda: stylize(np.full((32, 32, 3), "x", object), S, **TINY),
        "image array of dtype object",
    ),
    "content complex tensor": (
        lambda: stylize(C.to(torch.complex64), S, **TINY),
        "an image tensor of dtype complex64",
    ),
    "content meta tensor": (
        lambda: stylize(torch.zeros(3, 32, 32, device="meta"), S, **TINY),
        "a tensor on the meta device holds no pixels",
    ),
    "content sparse tensor": (
        lambda: stylize(C[0].to_sparse(), S, **TINY),
        "tensor is no image: give a dense one",
    ),
    "content 60000² view": (
        lambda: stylize(np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (60000, 60000, 3)), S),
        "an image array of 60000x60000 pixels is over the limit of",
    ),
    "style 60000² tensor view": (
        lambda: stylize(C, C[0, :, :1, :1].expand(3, 60000, 60000), **TINY),
        "an image tensor of 60000x60000 pixels is over the limit",
    ),
    "evaluate int32 output": (
        lambda: evaluate(torch.zeros(3, 32, 32, dtype=torch.int32), C, S),
        "image tensor of dtype int32",
    ),
    "fast photo int16": (
        lambda: MODEL.stylize(np.zeros((32, 32), np.int16)),
        "image array of dtype int16",
    ),
    "style list of None": (lambda: stylize(C, [None], **TINY), "style must be a path"),
    "style dict": (lambda: stylize(C, {"a": S}, **TINY), "style must be a path"),
    "65 styles": (lambda: stylize(C, [S] * 65, **TINY), "at most 64"),
    # stylize: config and options
    "config int": (lambda: stylize(C, S, 256), "config must be a StylizeConfig or a dict"),
    "config list": (lambda: stylize(C, S, [("size", 32)]), "config must be a StylizeConfig"),
    "config dict unknown": (lambda: stylize(C, S, {"sise": 3}), "unknown option 'sise'"),
    "config dict bad value": (lambda: stylize(C, S, {"size": "big"}), "--size must be"),
    "config dict int key": (lambda: stylize(C, S, {1: 2}), "named by strings"),
    "unknown option": (_run(sise=3), "unknown option 'sise'; did you mean 'size'?"),
    "unknown option far": (_run(colour=3), "unknown option 'colour'; options: size,"),
    "unknown option case": (_run(Steps=3), "unknown option 'Steps'; did you mean 'steps'?"),
    "init_image a number": (_run(init_image=3), "init_image must be"),
    "init_image NaN": (_run(init_image=C * float("nan")), "init_image"),
    "seed 2**70": (_run(seed=2**70), "--seed must be an integer from 0 to"),
    "seed -1": (_run(seed=-1), "--seed must be an integer"),
    "seed float": (_run(seed=1.0), "--seed must be an integer"),
    "size 24 digits": (_run(size=10**24), "--size must be an integer from 16 to 8192"),
    "size str": (_run(size="512"), "--size must be an integer"),
    "size bool": (_run(size=True), "--size must be an integer"),
    "size numpy float": (_run(size=np.float64(32)), "--size must be an integer"),
    "steps float": (_run(steps=1.5), "--steps must be a positive integer"),
    "steps huge": (_run(steps=10**6), "at most 100000"),
    "style weight str": (_run(style_weight="30"), "--style-weight must be a finite number"),
    "style weight huge": (_run(style_weight=1e300), "--style-weight must be at most 1e+12"),
    "style weight huge int": (_run(style_weight=10**400), "--style-weight must be at most"),
    "tv weight nan": (_run(tv_weight=float("nan")), "--tv-weight must be a finite"),
    "style scale 0": (_run(style_scale=0), "--style-scale must be a finite number > 0"),
    "style scale 1e6": (_run(style_scale=1e6), "--style-scale must be a finite"),
    "style edge": (_run(size=8192, style_scale=2.0), "the largest is 8192"),
    "lr negative": (_run(lr=-1.0), "--lr must be a finite number > 0"),
    "lr str": (_run(lr="0.1"), "--lr must be"),
    "temperature inf": (_run(temperature=float("inf")), "--temperature must be a finite"),
    "temperature tiny": (_run(temperature=1e-300), "--temperature must be from 1e-06"),
    "smoothing scale 0": (_run(smoothing_scale=0.0), "--smoothing-scale must be"),
    "multiscale str": (_run(multiscale="yes"), "--multiscale must be True or False"),
    "normalize 1": (_run(normalize_losses=1), "--normalize-losses must be True or False"),
    "backbone None": (_run(backbone=None), "--backbone must be a string"),
    "backbone unknown": (_run(backbone="vgg99"), "unknown backbone 'vgg99'"),
    "backbone newline": (_run(backbone="vgg\n19"), "not a backbone name"),
    "weights int": (_run(weights=3), "--weights must be a string"),
    "weights empty": (_run(weights=""), "empty --weights"),
    "pooling unknown": (_run(pooling="min"), "unknown pooling 'min'; choose from: max, avg"),
    "pooling avg resnet": (_run(backbone="resnet50", pooling="avg"), "--pooling avg applies"),
    "optimizer unknown": (_run(optimizer="newton"), "unknown optimizer 'newton'; choose"),
    "smoothing unknown": (_run(smoothing="fuzzy"), "unknown smoothing 'fuzzy'; choose"),
    "device unknown": (_run(device="tpu"), "unknown device 'tpu'; choose"),
    "precision unknown": (_run(precision="fp64"), "unknown precision 'fp64'; choose"),
    "init missing file": (_run(init="no/such.png"), "unknown init 'no/such.png'"),
    "init NUL": (_run(init="a\0b"), "--init contains a NUL character"),
    "layers str": (_run(style_layers="relu1_1"), "must be a tuple (or list) of layer names"),
    "layers ints": (_run(style_layers=(1, 2)), "needs layer names"),
    "layers empty": (_run(content_layers=()), "--content-layers is empty"),
    "layers 65": (_run(style_layers=("relu1_1",) * 65), "has 65 values; at most 64"),
    "layer unknown": (_run(style_layers=("relu9_9",)), "unknown layer 'relu9_9'"),
    "layer weights nan": (_run(style_layer_weights=(float("nan"),)), "--style-layer-weights"),
    "layer weights count": (
        _run(style_layers=("relu1_1",), style_layer_weights=(1.0, 2.0)),
        "2 values for 1 style layers",
    ),
    "blend count": (_run(style_blend=(0.5, 0.5)), "2 weights for 1 style images"),
    "blend zero": (_run(style_blend=(0.0,)), "positive sum"),
    "scales str": (_run(scales=(0.5, "1")), "--scales needs numbers"),
    "scales order": (_run(scales=(1.0, 0.5)), "--scales must increase"),
    "scales 11": (_run(scales=tuple(i / 11 for i in range(1, 12))), "at most 10"),
    "progress str": (lambda: stylize(C, S, progress="yes", **TINY), "progress must be True"),
    "callback int": (lambda: stylize(C, S, callback=3, **TINY), "callback must be callable"),
    # StylizeConfig itself
    "config unknown keyword": (lambda: StylizeConfig(sise=3), "did you mean 'size'?"),
    "config too many values": (
        lambda: StylizeConfig(*range(40)),
        f"at most {len(dataclasses.fields(StylizeConfig))} positional",
    ),
    "config doubled": (lambda: StylizeConfig(512, size=3), "two values for 'size'"),
    "replace unknown": (lambda: StylizeConfig().replace(stpes=3), "did you mean 'steps'?"),
    "from_dict list": (lambda: StylizeConfig.from_dict([1]), "expected a dict"),  # type: ignore[arg-type]
    # evaluate
    "evaluate size 0": (lambda: evaluate(C, C, S, size=0), "--size must be an integer from 16"),
    "evaluate size bool": (lambda: evaluate(C, C, S, size=True), "--size must be an integer"),
    "evaluate size huge": (lambda: evaluate(C, C, S, size=10**24), "--size must be"),
    "evaluate output None": (lambda: evaluate(None, C, S), "output must be a path"),
    "evaluate content int": (lambda: evaluate(C, 3, S), "content must be a path"),
    "evaluate style empty": (lambda: evaluate(C, C, []), "at least one image"),
    "evaluate blend count": (lambda: evaluate(C, C, S, style_blend=[1, 2]), "one per style"),
    "evaluate blend str": (lambda: evaluate(C, C, S, style_blend="1"), "--style-blend needs"),
    "evaluate blend nan": (lambda: evaluate(C, C, S, style_blend=[float("nan")]), "finite"),
    "evaluate output NaN": (lambda: evaluate(NAN, C, S), "output: the image has NaN"),
    # the fast API
    "fast style index": (lambda: MODEL.stylize(C, 5), "indices 0 to 1"),
    "fast style negative": (lambda: MODEL.stylize(C, -1), "indices 0 to 1"),
    "fast style numpy index": (lambda: MODEL.stylize(C, np.int64(7)), "indices 0 to 1"),
    "fast style float": (lambda: MODEL.stylize(C, 1.5), "expected an index, a name"),
    "fast style bool": (lambda: MODEL.stylize(C, True), "expected an index or a name"),
    "fast style name": (lambda: MODEL.stylize(C, "cubism"), "unknown; this model's styles"),
    "fast mix str": (lambda: MODEL.stylize(C, [1.0, "a"]), "--style-mix needs finite"),
    "fast mix nested": (lambda: MODEL.stylize(C, [[1.0], 1.0]), "--style-mix needs finite"),
    "fast mix huge": (lambda: MODEL.stylize(C, [10**400, 1]), "--style-mix needs finite"),
    "fast mix nan": (lambda: MODEL.stylize(C, {"strokes": float("nan")}), "--style-mix"),
    "fast strength 2": (lambda: MODEL.stylize(C, strength=2), "--strength must be between"),
    "fast strength bool": (lambda: MODEL.stylize(C, strength=True), "--strength must be"),
    "fast strength nan": (lambda: MODEL.stylize(C, strength=float("nan")), "--strength"),
    "fast strength str": (lambda: MODEL.stylize(C, strength="1"), "--strength must be"),
    "fast size 0": (lambda: MODEL.stylize(C, size=0), "--size must be an integer from 16"),
    "fast size huge": (lambda: MODEL.stylize(C, size=10**24), "--size must be an integer"),
    "fast stroke huge": (lambda: MODEL.stylize(C, stroke_scale=10**400), "--stroke-scale"),
    "fast stroke bool": (lambda: MODEL.stylize(C, stroke_scale=True), "--stroke-scale"),
    "fast photo None": (lambda: MODEL.stylize(None), "photo must be a path"),
    "fast photo NaN": (lambda: MODEL.stylize(NAN), "photo: the image has NaN"),
    "fast load None": (lambda: load(None), "model path must be a path"),  # type: ignore[arg-type]
    "fast load device": (lambda: load("m.safetensors", device=3), "unknown device 3"),  # type: ignore[arg-type]
    "fast load precision": (lambda: load("m.safetensors", precision="fp64"), "unknown precision"),
    # TrainConfig
    "train styles None": (lambda: TrainConfig(styles=None), "styles must be a tuple"),  # type: ignore[arg-type]
    "train styles ints": (lambda: TrainConfig(styles=(1,)), "must be a path or example"),  # type: ignore[arg-type]
    "train lr huge": (lambda: TrainConfig(styles=("a",), lr=10**400), "--lr must be a finite"),
    "train minutes inf": (
        lambda: TrainConfig(styles=("a",), max_minutes=float("inf")),
        "--max-minutes must be",
    ),
    "train loss dict": (
        lambda: TrainConfig(styles=("a",), loss={}),
        "loss must be a StylizeConfig",
    ),  # type: ignore[arg-type]
    "train size str": (lambda: TrainConfig(styles=("a",), train_size="256"), "--train-size"),  # type: ignore[arg-type]
    # the fourth held-out probe (2026-12-07, night): Python's own errors, and silent clipping
    "load NUL path": (lambda: load_image("a\0b"), "a file name cannot hold a NUL character"),
    "load bytes PathLike": (lambda: load_image(BytesPath()), "the image path must be a str"),
    "load closed PIL": (lambda: load_image(_closed()), "cannot read the PIL image (Operation on"),
    "load mode I 0x0": (lambda: load_image(Image.new("I", (0, 0))), "image is 0x0 px"),
    "load mode I": (
        lambda: load_image(Image.new("I", (20, 20))),
        "an integer image of Pillow mode I (32-bit or signed): its white level is unknown",
    ),
    "load nested tensor": (
        lambda: load_image(torch.nested.nested_tensor([C[0], S[0, :, :20]], layout=torch.jagged)),
        "a nested tensor is no image",
    ),
    "load 0-255 floats": (
        lambda: load_image(np.full((20, 20, 3), 128.0, np.float32)),
        "float pixel values in [128, 128]: give values in [0, 1]; these look like 0-255 values",
    ),
    "load 0-255 float tensor": (lambda: load_image(C * 255), "give values in [0, 1]"),
    "load negative floats": (lambda: load_image(C - 1), "give values in [0, 1]"),
    "load misspelt keyword": (lambda: load_image(sourc=C), "did you mean 'source'?"),  # type: ignore[call-arg]
    "save closed PIL": (lambda: save_image(_closed(), "x.png"), "cannot write the image as PNG"),
    "save PIL 0x0": (lambda: save_image(Image.new("RGB", (0, 0)), "x.png"), "is 0x0 px"),
    "save meta": (lambda: save_image(C.to("meta"), "x.png"), "on the meta device"),
    "save empty": (lambda: save_image(torch.rand(3, 0, 5), "x.png"), "has no pixels"),
    "save bytes PathLike": (lambda: save_image(C, BytesPath()), "the file path must be a str"),
    "save too wide for WebP": (
        lambda: save_image(Image.new("RGB", (20000, 16)), "x.webp"),
        "cannot write the image as WEBP (encoding error 5: Image size exceeds WebP limit",
    ),
    "evaluate misspelt keyword": (
        lambda: evaluate(C, C, S, sise=32),  # type: ignore[call-arg]
        "evaluate() got an unknown option 'sise'; did you mean 'size'?",
    ),
    "load_backbone misspelt keyword": (
        lambda: load_backbone("vgg19", wieghts="random"),  # type: ignore[call-arg]
        "did you mean 'weights'?",
    ),
    "stylize positional extra": (
        lambda: stylize(C, S, None, None, None),  # type: ignore[misc]
        "stylize(): too many positional arguments",
    ),
    "stylize no style": (lambda: stylize(C), "missing a required argument: 'style'"),  # type: ignore[call-arg]
    "stylize misspelt own keyword": (_run(progres=True), "did you mean 'progress'?"),
    "instant misspelt own keyword": (
        lambda: instant(C, S, modle="m.safetensors"),
        "instant() got an unknown option 'modle'; did you mean 'model'?",
    ),
    "instant model int": (lambda: instant(C, S, model=3), "the model path must be a str"),  # type: ignore[arg-type]
    "instant misspelt keyword": (
        lambda: instant(C, S, strenght=0.5),
        "instant() got an unknown option 'strenght'; did you mean 'strength'?",
    ),
    "regions list styles int": (lambda: Regions(np.ones((1, 4, 4)), 0), "region styles must be"),  # type: ignore[arg-type]
    "regions style str": (lambda: Regions(np.ones((1, 4, 4)), ("a",)), "a region style is"),  # type: ignore[arg-type]
    "regions none": (lambda: Regions(np.zeros((0, 4, 4)), ()), "0 regions; give 1 to 16"),
    "regions masks of str": (
        lambda: Regions(np.full((1, 4, 4), "x", object), (0,)),
        "region masks must be numbers",
    ),
    "regions masks 2-D": (lambda: Regions(np.ones((4, 4)), (0,)), "give (regions, H, W)"),
}


class BytesPath:
    """A path-like object whose path is bytes (``os.fspath`` returns them)."""

    def __fspath__(self) -> bytes:
        return b"/tmp/x.png"


def _closed() -> Image.Image:
    image = Image.new("RGB", (20, 20))
    image.close()
    return image


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_every_bad_argument_is_one_stylelab_error_line(case: str) -> None:
    call, expected = BAD_CALLS[case]
    with pytest.raises(StylelabError) as caught:
        call()
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and "\n" not in message, message
    assert expected in message, message
    assert len(message) < 600, message


def test_there_are_many_cases() -> None:
    assert len(BAD_CALLS) >= 100


def test_a_config_dict_is_accepted_like_the_options() -> None:
    result = stylize(C, S, {"size": 32, "steps": 2}, weights="random", device="cpu")
    assert result.config.size == 32 and result.config.weights == "random"
    assert result.config.steps == 2 and result.tensor.shape == (1, 3, 32, 32)


def test_friendly_values_are_normalized() -> None:
    config = StylizeConfig(
        style_layers=["relu1_1", "relu2_1"],
        style_layer_weights=[np.float32(1.0), 2],
        seed=np.int64(3),
        style_weight=np.float32(5.0),
        init=Path("start.png"),
        mask=Path("m.png"),
        region_style="#ff0000=0",
    )
    assert config.init == "start.png" and config.mask == "m.png"
    assert config.style_layers == ("relu1_1", "relu2_1")
    assert config.style_layer_weights == (1.0, 2)
    assert type(config.seed) is int and type(config.style_weight) is float
    assert StylizeConfig.from_dict(config.to_dict()) == config
    hash(config)


def test_validation_needs_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from stylelab.config import StylizeConfig; "
        "StylizeConfig(size=1024, optimizer='adam', smoothing='softmax', scales=[0.5, 1]); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the memory check ---------------------------------------------------------------


def test_a_run_too_big_for_the_memory_is_refused_before_any_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib

    import stylelab.limits

    module = importlib.import_module("stylelab.objective")  # where the backbone is loaded

    def no_backbone(*args: object, **kwargs: object) -> None:
        raise AssertionError("the backbone was loaded before the memory check")

    monkeypatch.setattr(stylelab.limits, "available_memory_bytes", lambda device=None: 2 * 10**9)
    monkeypatch.setattr(module, "load_backbone", no_backbone)
    with pytest.raises(StylelabError) as caught:
        stylize(C, S, size=4096, steps=2, weights="random", device="cpu", precision="fp32")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("--size 4096 needs about ")
    assert "this machine has 2.0 GB available: --size " in message
    assert message.endswith(
        "or less would fit; or keep --size 4096 with --tile auto (the large "
        "scales optimized tile by tile)"
    )
    fit = int(message.split("--size ")[2].split()[0])
    assert 256 <= fit < 4096 and fit % 16 == 0


def test_the_adam_hint_and_the_no_fit_case(monkeypatch: pytest.MonkeyPatch) -> None:
    from stylelab import limits

    config = StylizeConfig(size=2048)
    need_lbfgs = limits.estimate_stylize_bytes(config, (2048, 2048), [(2048, 2048)])
    need_adam = limits.estimate_stylize_bytes(
        config.replace(optimizer="adam"), (2048, 2048), [(2048, 2048)]
    )
    assert need_adam < need_lbfgs
    between = (need_adam + need_lbfgs) // 2
    monkeypatch.setattr(limits, "available_memory_bytes", lambda device=None: between)
    with pytest.raises(StylelabError, match="or --optimizer adam"):
        limits.check_memory(config, (2048, 2048), [(2048, 2048)])
    monkeypatch.setattr(limits, "available_memory_bytes", lambda device=None: 10**6)
    with pytest.raises(StylelabError, match="even --size 16 would not fit"):
        limits.check_memory(config, (2048, 2048), [(2048, 2048)])
    monkeypatch.setenv("STYLELAB_NO_MEMORY_CHECK", "1")
    limits.check_memory(config, (2048, 2048), [(2048, 2048)])


def test_evaluate_refuses_a_size_that_cannot_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    from stylelab import limits

    def no_network() -> None:
        raise AssertionError("the reference network was loaded before the memory check")

    monkeypatch.setattr(limits, "available_memory_bytes", lambda device=None: 4 * 10**9)
    monkeypatch.setattr("stylelab.evaluate.reference_extractor", no_network)
    with pytest.raises(StylelabError) as caught:
        evaluate(C, C, S, size=8192)
    message = str(caught.value)
    assert message.startswith("--size 8192 needs about 168 GB; this machine has 4.0 GB")
    assert message.endswith("or less would fit") and "\n" not in message


def test_the_estimate_grows_with_every_input_and_fits_the_readme_sizes() -> None:
    from stylelab import limits

    base = StylizeConfig(size=512)
    one = limits.estimate_stylize_bytes(base, (512, 512), [(512, 512)])
    assert limits.estimate_stylize_bytes(base.replace(size=1024), (512, 512), [(512, 512)]) > one
    assert limits.estimate_stylize_bytes(base, (512, 512), [(512, 512)] * 2) > one
    assert limits.estimate_stylize_bytes(base.replace(style_scale=2.0), (9, 9), [(9, 9)]) > one
    assert limits.estimate_stylize_bytes(base.replace(optimizer="adam"), (9, 9), [(9, 9)]) < one
    assert limits.estimate_stylize_bytes(base, (256, 512), [(512, 512)]) < one  # 2:1 aspect
    # The documentation's largest runs (1024 px, L-BFGS, any measured backbone) stay under 8 GB,
    # so a 24 GB machine never refuses them.
    for backbone in ("vgg19", "resnet50"):
        config = base.replace(size=1024, backbone=backbone)
        assert limits.estimate_stylize_bytes(config, (1024, 1024), [(1024, 1024)]) < 8e9
    # The estimate is above every measurement it was fitted to (MB = 2**20, Adam).
    for (family, content, style), measured in limits.MEASURED.items():
        backbone = {"vgg": "vgg19", "resnet": "resnet50"}[family]
        config = StylizeConfig(size=content, backbone=backbone, optimizer="adam")
        estimate = limits.estimate_stylize_bytes(config, (content, content), [(style, style)])
        assert estimate > measured * 2**20


def test_available_memory_is_known_here() -> None:
    from stylelab import limits

    available = limits.available_memory_bytes("cpu")
    assert available is None or 0 < available < 2**50
    assert limits.format_bytes(95e9) == "95 GB" and limits.format_bytes(2.04e9) == "2.0 GB"
    assert limits.format_bytes(0.1e9) == "0.1 GB" and limits.format_bytes(48.4e6) == "48 MB"
    assert limits.format_bytes(9_985) == "10 kB" and limits.format_bytes(12) == "1 kB"


def test_model_path_of_wrong_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StylelabError):
        load(tmp_path)  # a folder, not a model file


def test_evaluate_takes_a_numpy_size_as_stylize_does() -> None:
    scores = evaluate(C, C, S, size=np.int64(32), yardstick="texture")  # type: ignore[arg-type]
    assert scores["size"] == 32 and type(scores["size"]) is int


def test_evaluate_says_when_the_content_is_stretched_to_the_output() -> None:
    wide = torch.rand(1, 3, 32, 64, generator=torch.Generator().manual_seed(2))
    with pytest.warns(UserWarning, match=r"content is 32x32 and the output 64x32"):
        evaluate(wide, C, S, size=64, yardstick="texture")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same aspect: no word
        evaluate(C, C, S, size=32, yardstick="texture")


def test_the_did_you_mean_rule_ignores_case_and_keeps_the_known_spelling() -> None:
    from stylelab.errors import closest

    assert closest("STPES", ["size", "steps", "seed"]) == ["steps"]
    assert closest("vgg-19", ["VGG19", "resnet50"]) == ["VGG19"]
    assert closest("colour", ["size", "steps"]) == []  # nothing near enough: no guess
    assert closest("ste", ["step", "steps", "stem"], n=2) == ["step", "stem"]

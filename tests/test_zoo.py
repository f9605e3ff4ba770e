"""Backbone zoo: every registered backbone stylizes, ResNet names and aliases, weights."""

from __future__ import annotations

import math
import string

import pytest
import torch
import torchvision
from torch import nn

from stylelab import StylelabError, list_backbones, load_backbone, stylize
from stylelab.backbones import resnet

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def r50():
    return load_backbone("resnet50", weights="random", seed=0)


@pytest.mark.parametrize("name", list_backbones())
def test_every_backbone_stylizes_a_tiny_image(name: str) -> None:
    backbone = load_backbone(name, weights="random", seed=0)
    size = max(64, backbone.min_size)
    content = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    style = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(2))
    # Forward and backward through the default layers, finite gradient.
    extractor = backbone.extractor(backbone.default_content_layers + backbone.default_style_layers)
    image = content.clone().requires_grad_(True)
    features = extractor(image)
    assert set(features) == {
        backbone.resolve(n) for n in backbone.default_content_layers + backbone.default_style_layers
    }
    for layer in features:
        assert features[layer].shape[1] == backbone.channels(layer)
    sum(f.float().pow(2).mean() for f in features.values()).backward()
    assert image.grad is not None and torch.isfinite(image.grad).all()
    assert image.grad.abs().sum() > 0
    result = stylize(
        content,
        style,
        backbone=name,
        weights="random",
        size=size,
        steps=3,
        optimizer="adam",
        device="cpu",
    )
    assert result.status == "done"
    assert math.isfinite(result.info["final_losses"]["total"])
    assert result.info["final_losses"]["style"] > 0


def test_resnet50_layer_names_and_defaults(r50) -> None:
    names = r50.layer_names()
    for name in (
        "conv1",
        "bn1",
        "stem",
        "maxpool",
        "layer1.2",
        "layer3.5",
        "layer4.2",
        "layer1.0.downsample.0",
        "layer2.3.bn3",
        "layer3.5.relu2",
    ):
        assert name in names
    assert r50.default_style_layers == ("stem", "layer1.2", "layer2.3", "layer3.5", "layer4.2")
    assert r50.default_content_layers == ("layer3.5",)
    assert r50.channels("layer4.2") == 2048 and r50.channels("stem") == 64
    assert list(names) == sorted(names, key=r50.depth)


def test_resnet_extractor_matches_torchvision_forward(r50) -> None:
    """Our block class computes exactly torchvision's Bottleneck."""
    reference = torchvision.models.resnet50(weights=None).eval()
    with resnet.W.seeded(0):
        ours = resnet.make_resnet(resnet.Bottleneck, 50).eval()
    reference.load_state_dict(ours.state_dict(), strict=True)
    image = torch.rand(1, 3, 64, 64)
    extractor = resnet.fx_extractor_factory(ours, nn.Identity(), {"stem": "relu"})(
        ["stem", "layer3.5", "layer4.2"]
    )
    with torch.no_grad():
        out = extractor(image)
        x = reference.relu(reference.bn1(reference.conv1(image)))
        torch.testing.assert_close(out["stem"], x)
        x = reference.layer3(reference.layer2(reference.layer1(reference.maxpool(x))))
        torch.testing.assert_close(out["layer3.5"], x, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(out["layer4.2"], reference.layer4(x), rtol=1e-4, atol=1e-5)


def _keras_names(depths: list[int]) -> list[tuple[str, str]]:
    """Every Keras/Caffe ResNet-50 name with the torchvision module it must reach."""
    table = [("conv1", "conv1"), ("bn_conv1", "bn1")]
    for stage, blocks in enumerate(depths, start=2):
        for block in range(blocks):
            letter = string.ascii_lowercase[block]
            module = f"layer{stage - 1}.{block}"
            for branch, index in (("2a", 1), ("2b", 2), ("2c", 3)):
                table.append((f"res{stage}{letter}_branch{branch}", f"{module}.conv{index}"))
                table.append((f"bn{stage}{letter}_branch{branch}", f"{module}.bn{index}"))
            if block == 0:
                table.append((f"res{stage}{letter}_branch1", f"{module}.downsample.0"))
                table.append((f"bn{stage}{letter}_branch1", f"{module}.downsample.1"))
    return table


def test_keras_aliases_reach_the_right_modules(r50) -> None:
    table = _keras_names([3, 4, 6, 3])
    assert len(table) == 2 + 16 * 6 + 4 * 2  # 16 blocks x 6 names + 4 branch1 pairs
    model = torchvision.models.resnet50(weights=None)
    modules = dict(model.named_modules())
    for keras, module in table:
        assert r50.resolve(keras) == module, keras
        expected = nn.Conv2d if keras.startswith(("res", "conv")) else nn.BatchNorm2d
        assert isinstance(modules[module], expected), keras
    assert set(r50.aliases) == {k for k, _ in table} - {"conv1"}
    assert r50.resolve("bn4e_branch2b") == "layer3.4.bn2"
    assert r50.resolve("res3a_branch1") == "layer2.0.downsample.0"


def test_unknown_layer_and_backbone_are_one_line_errors(r50) -> None:
    with pytest.raises(StylelabError, match="valid layers: conv1, bn1, stem"):
        r50.resolve("res9z_branch2a")
    with pytest.raises(StylelabError, match="choose from: densenet121, googlenet"):
        load_backbone("resnet51", weights="random")


def _resnet50_state(tmp_path):
    with resnet.W.seeded(3):
        state = torchvision.models.resnet50(weights=None).state_dict()
    path = tmp_path / "r50.pth"
    torch.save(state, path)
    return state, path


@pytest.mark.parametrize("name", ["resnet50", "noresnet50", "resnet50_preact_skip"])
def test_resnet50_state_dict_loads_strictly(tmp_path, name: str) -> None:
    state, path = _resnet50_state(tmp_path)
    backbone = load_backbone(name, weights=str(path))
    assert backbone.weights == f"file {path}"
    extractor = backbone.extractor(["conv1", "layer1.0.conv1"])
    conv = dict(extractor.named_parameters())
    loaded = [v for k, v in conv.items() if k.endswith("conv1.weight")]
    assert any(torch.equal(v, state["conv1.weight"]) for v in loaded)


def test_variants_differ_from_resnet50_only_in_the_skip() -> None:
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    outputs = {}
    for name in ("resnet50", "noresnet50", "resnet50_preact_skip"):
        backbone = load_backbone(name, weights="random", seed=5)
        with torch.no_grad():
            outputs[name] = backbone.extractor(["stem", "layer1.0.conv1", "layer1.2"])(image)
    for name in ("noresnet50", "resnet50_preact_skip"):
        # Same seeded parameters: identical up to the first residual addition.
        torch.testing.assert_close(outputs[name]["stem"], outputs["resnet50"]["stem"])
        torch.testing.assert_close(
            outputs[name]["layer1.0.conv1"], outputs["resnet50"]["layer1.0.conv1"]
        )
        assert not torch.allclose(outputs[name]["layer1.2"], outputs["resnet50"]["layer1.2"])
    assert (outputs["resnet50_preact_skip"]["layer1.2"] < 0).any()  # pre-activation sum
    assert (outputs["noresnet50"]["layer1.2"] >= 0).all()


def test_pseudo_vgg_shapes_and_resnet34_names(tmp_path) -> None:
    vgg = load_backbone("pseudo_vgg", weights="random")
    resvgg = load_backbone("pseudo_resvgg", weights="random")
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out = vgg.extractor(["stem", "layer2.0.pool", "layer4.2"])(image)
    assert out["stem"].shape[-1] == 64  # 3x3 stride-1 stem
    assert out["layer2.0.pool"].shape[-1] == 16  # maxpool (32) then the stage pool
    assert out["layer4.2"].shape[-2:] == (4, 4)  # overall stride 16
    assert "layer2.0.downsample.0" not in vgg.layer_names()
    assert "layer2.0.downsample.0" in resvgg.layer_names()
    # A ResNet-34 state dict fits pseudo_resvgg wherever shapes allow: all but the stem.
    state = torchvision.models.resnet34(weights=None).state_dict()
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    path = tmp_path / "r34.pth"
    torch.save(state, path)
    assert load_backbone("pseudo_resvgg", weights=str(path)).weights == f"file {path}"


def test_pretrained_weights_missing_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(StylelabError, match="not in the local torch cache"):
        load_backbone("resnet18", weights="pretrained")
    with pytest.raises(StylelabError, match="no published pretrained weights"):
        load_backbone("noresnet50", weights="pretrained")
    with pytest.raises(StylelabError, match="missing.pth: no such file"):
        load_backbone("resnet18", weights=str(tmp_path / "missing.pth"))


def test_pretrained_from_the_torch_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    with resnet.W.seeded(9):
        state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, cache / url.rsplit("/", 1)[-1])
    backbone = load_backbone("resnet18", weights="pretrained")
    assert backbone.weights.startswith("torchvision")


def test_wrong_state_dict_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(StylelabError, match="r18.pth: .*do not fit resnet50"):
        load_backbone("resnet50", weights=str(path))


def test_random_weights_are_seeded() -> None:
    a = load_backbone("resnet18", weights="random", seed=1).extractor(["conv1"])
    b = load_backbone("resnet18", weights="random", seed=1).extractor(["conv1"])
    c = load_backbone("resnet18", weights="random", seed=2).extractor(["conv1"])
    wa, wb, wc = (dict(m.named_parameters())["body.conv1.weight"] for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_any_torchvision_classifier_by_name() -> None:
    backbone = load_backbone("mobilenet_v3_small", weights="random")
    assert "mobilenet_v3_small" not in list_backbones()
    assert backbone.default_style_layers and backbone.default_content_layers
    layer = backbone.default_style_layers[-1]
    with torch.no_grad():
        out = backbone.extractor([layer])(torch.rand(1, 3, 64, 64))
    assert out[layer].shape[1] == backbone.channels(layer)


def test_inception_refuses_images_below_its_minimum() -> None:
    with pytest.raises(StylelabError, match="at least 75 px"):
        stylize(
            torch.rand(1, 3, 48, 48),
            torch.rand(1, 3, 48, 48),
            backbone="inception_v3",
            weights="random",
            size=48,
            steps=1,
            device="cpu",
        )


# One network per convolutional torchvision family that is not registered by name.
FAMILIES = [
    "alexnet",
    "convnext_tiny",
    "efficientnet_b0",
    "mnasnet0_5",
    "mobilenet_v3_small",
    "regnet_x_400mf",
    "shufflenet_v2_x0_5",
    "squeezenet1_1",
]


@pytest.mark.parametrize("name", FAMILIES)
def test_every_listed_layer_of_a_zoo_family_is_a_feature_map(name: str) -> None:
    """Every layer `stylelab layers` lists is (B, C, H, W) with its channels at 64 px, and a
    64 px stylize step runs on the defaults."""
    backbone = load_backbone(name, weights="random", seed=0)
    assert backbone.min_size <= 64
    with torch.no_grad():
        out = backbone.extractor(backbone.layer_names())(torch.rand(1, 3, 64, 72))
    for info in backbone.layers:
        assert out[info.name].dim() == 4, info.name
        assert out[info.name].shape[1] == info.channels, info.name
    result = stylize(
        torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)),
        torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2)),
        backbone=name,
        weights="random",
        size=64,
        steps=1,
        optimizer="adam",
        device="cpu",
        precision="fp32",
    )
    assert result.status == "done" and math.isfinite(result.info["final_losses"]["total"])


def test_channels_last_and_fixed_size_nodes_are_not_layers() -> None:
    convnext = load_backbone("convnext_tiny", weights="random")
    names = convnext.layer_names()
    # Inside a ConvNeXt block the tensor is (B, H, W, C) between its two permutes.
    assert "features.1.0.block.0" in names and "features.1.0.block.2" not in names
    assert "features.1.0.add" in names
    # AlexNet's adaptive pooling is 6x6 whatever the input: not a layer.
    alexnet = load_backbone("alexnet", weights="random")
    assert "avgpool" not in alexnet.layer_names()
    assert alexnet.min_size == 64  # it cannot run on 48 px


def test_a_zoo_network_refuses_images_below_the_size_it_runs_at() -> None:
    with pytest.raises(StylelabError, match="alexnet needs images of at least 64 px"):
        stylize(
            torch.rand(1, 3, 48, 48),
            torch.rand(1, 3, 48, 48),
            backbone="alexnet",
            weights="random",
            size=48,
            steps=1,
            device="cpu",
            precision="fp32",
        )


REFUSED = {
    "vit_b_16": "is a vision transformer: its layers are sequences of patch tokens, not "
    "convolutional feature maps",
    "vit_h_14": "vision transformer",
    "swin_t": "is a Swin transformer",
    "swin_v2_b": "is a Swin transformer",
    "maxvit_t": "is a MaxViT transformer",
    "quantized_resnet18": "quantized model (int8, inference only: no gradient reaches the "
    "image), not an image classifier; stylelab takes features from classifiers: use its "
    "classifier backbone, resnet18",
    "fasterrcnn_resnet50_fpn": "detection model, not an image classifier; stylelab takes "
    "features from classifiers: use its classifier backbone, resnet50",
    "deeplabv3_mobilenet_v3_large": "segmentation model",
    "r3d_18": "video model",
    "raft_small": "optical-flow model",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_models_that_cannot_be_backbones_are_refused_up_front(name: str) -> None:
    from stylelab.backbones.registry import check_backbone

    assert name not in list_backbones()
    for attempt in (
        lambda: load_backbone(name, weights="random"),
        lambda: check_backbone(name),  # by name: nothing built
    ):
        with pytest.raises(StylelabError) as info:
            attempt()
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"backbone {name} ") and REFUSED[name] in message


def test_layers_command_refuses_a_transformer_in_one_line(capsys) -> None:
    from stylelab.cli import main

    assert main(["layers", "--backbone", "vit_b_16"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stylelab: error: backbone vit_b_16 is a")
    assert "Gram matrices" in lines[0]


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("convnxt_tiny", "did you mean convnext_tiny"),
        ("alexnot", "did you mean alexnet?"),
        ("Resnet50", "did you mean resnet50"),
    ],
)
def test_unknown_backbone_suggests_the_closest(name: str, suggestion: str) -> None:
    with pytest.raises(StylelabError) as info:
        load_backbone(name, weights="random")
    message = str(info.value)
    assert message.startswith(f"unknown backbone {name!r}; choose from: densenet121, ")
    assert "any convolutional torchvision classifier (alexnet, convnext*" in message
    assert suggestion in message and "\n" not in message

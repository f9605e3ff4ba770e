"""Loading every Pillow mode and format, EXIF orientation, errors, atomic saving."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab import images
from stylelab.errors import StylelabError
from tests.conftest import gradient_image


def _check_rgb(tensor: torch.Tensor, height: int, width: int) -> None:
    assert tensor.shape == (1, 3, height, width)
    assert tensor.dtype == torch.float32
    assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0
    assert tensor.is_contiguous()


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "RGB", "1"])
def test_every_mode_becomes_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / f"img_{mode}.{'tif' if mode == 'CMYK' else 'png'}"
    gradient_image(32, 24).convert(mode).save(path)
    _check_rgb(images.load_image(path), 24, 32)


def test_gray_is_replicated_over_channels(tmp_path: Path) -> None:
    path = tmp_path / "gray.png"
    Image.fromarray(np.full((20, 20), 128, np.uint8), mode="L").save(path)
    tensor = images.load_image(path)
    assert torch.allclose(tensor, torch.full_like(tensor, 128 / 255))


def test_16_bit_gray_keeps_its_precision(tmp_path: Path) -> None:
    array = np.linspace(0, 65535, 32 * 20).reshape(20, 32).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(array).save(path)  # I;16
    tensor = images.load_image(path)
    _check_rgb(tensor, 20, 32)
    expected = torch.from_numpy(array.astype(np.float32) / 65535)
    assert torch.allclose(tensor[0, 0], expected, atol=1e-6)
    assert float(tensor.max()) == pytest.approx(1.0)  # not clipped at 255/65535


@pytest.mark.parametrize("maxval", [65535, 1000, 255 * 2])
def test_16_bit_pgm_is_read_on_its_own_scale(tmp_path: Path, maxval: int) -> None:
    """Pillow reads a PGM of maxval > 255 as mode I, rescaled to 0-65535: a dark value
    stays dark (it was read as 8-bit when all values were at most 255: 255x too bright)."""
    path = tmp_path / "dark.pgm"
    header = f"P5 32 20 {maxval}\n".encode()
    path.write_bytes(header + np.full(32 * 20, 200, ">u2").tobytes())
    tensor = images.load_image(path)
    assert float(tensor.mean()) == pytest.approx(200 / maxval, abs=1 / 65535)


def test_16_bit_gray_png_opened_as_mode_i_is_on_its_16_bit_scale() -> None:
    """Pillow before 10.3 opened a 16-bit gray PNG as mode I: read on 0-65535 (a PNG
    holds at most 16 bits), not refused as a 32-bit image."""
    image = Image.new("I", (20, 20), 300)
    image.format = "PNG"  # type: ignore[misc]  # as Image.open gave it
    assert float(images.load_image(image).mean()) == pytest.approx(300 / 65535, abs=1e-7)


def test_a_signed_16_bit_tiff_is_refused_not_misread(tmp_path: Path) -> None:
    """Pillow opens a signed int16 TIFF as mode I: negative values would be black, the
    rest too dark; its white level is unknown, so it is refused."""
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "signed.tif"
    tifffile.imwrite(path, np.linspace(-20000, 30000, 400).astype(np.int16).reshape(20, 20))
    with pytest.raises(StylelabError, match="32-bit or signed"):
        images.load_image(path)


def test_a_colour_key_carried_by_the_callers_convert_is_not_applied() -> None:
    """A palette image whose index 0 (black) is transparent and index 1 (black) opaque,
    converted to RGB by the caller: Pillow keeps info["transparency"] as the RGB black,
    and the opaque black outline must stay black (it is no PNG file's tRNS)."""
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0, 0, 0, 0] + [255] * 762)
    image.paste(1, (10, 0, 20, 20))
    image.info["transparency"] = 0
    rgb = image.convert("RGB")
    assert "transparency" in rgb.info  # the premise
    tensor = images.load_image(rgb)
    assert torch.allclose(tensor[0, :, 5, 15], torch.zeros(3))


def test_float_images_slightly_out_of_range_are_clipped() -> None:
    """Resampling overshoot (within FLOAT_SLACK of [0, 1]) is clipped; farther is refused."""
    array = np.full((20, 20, 3), 1.2, np.float32)
    array[:10] = -0.3
    tensor = images.load_image(array)
    assert float(tensor.max()) == 1.0 and float(tensor.min()) == 0.0
    with pytest.raises(StylelabError, match="give values in"):
        images.load_image(array * 2)


def test_premultiplied_la_is_composited_over_white() -> None:
    """L = 100 at alpha 128/255 over white: 100 a + 255 (1 - a)."""
    image = Image.new("LA", (20, 20), (100, 128)).convert("La")
    alpha = 128 / 255
    expected = (100 / 255) * alpha + (1 - alpha)
    assert float(images.load_image(image).mean()) == pytest.approx(expected, abs=2 / 255)


def test_alpha_is_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent on the left half
    rgba[:, 10:, 3] = 255
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    tensor = images.load_image(path)
    assert torch.allclose(tensor[0, :, 0, 0], torch.ones(3))  # transparent -> white
    assert torch.allclose(tensor[0, :, 0, 15], torch.tensor([1.0, 0.0, 0.0]))


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (10, 0, 20, 20))
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    tensor = images.load_image(path)
    assert torch.allclose(tensor[0, :, 5, 5], torch.ones(3))
    assert torch.allclose(tensor[0, :, 5, 15], torch.tensor([0.0, 1.0, 0.0]))


@pytest.mark.parametrize(
    ("mode", "key", "kept"),
    [("RGB", (10, 20, 30), (200, 0, 0)), ("L", 7, (100, 100, 100))],
)
def test_a_transparent_colour_key_is_composited_over_white(
    tmp_path: Path, mode: str, key: object, kept: tuple[int, int, int]
) -> None:
    """A PNG tRNS colour key on an RGB or gray image: pixels of that colour are
    transparent (they kept their colour before: only palettes were composited)."""
    image = Image.new(mode, (20, 20), key)  # type: ignore[arg-type]
    image.paste(kept if mode == "RGB" else kept[0], (10, 0, 20, 20))  # type: ignore[arg-type]
    path = tmp_path / "keyed.png"
    image.save(path, transparency=key)
    tensor = images.load_image(path)
    assert torch.allclose(tensor[0, :, 5, 5], torch.ones(3))
    assert torch.allclose(tensor[0, :, 5, 15], torch.tensor(kept) / 255)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif", ".bmp", ".gif"])
def test_every_format_loads(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"img{suffix}"
    gradient_image(40, 30).save(path)
    _check_rgb(images.load_image(path), 30, 40)


@pytest.mark.parametrize(
    ("suffix", "says"),
    [(".gif", "an animation of 2 frames"), (".png", "an animation \\(APNG\\) of 2 frames")],
)
def test_first_frame_of_an_animation_with_a_word(tmp_path: Path, suffix: str, says: str) -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / f"anim{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    with pytest.warns(UserWarning, match=f"anim{suffix}: {says}; its first is used"):
        tensor = images.load_image(path)
    assert float(tensor[0, 0].mean()) > 0.9 and float(tensor[0, 2].mean()) < 0.1


def test_a_still_gif_and_an_mpo_say_nothing(tmp_path: Path) -> None:
    import warnings

    Image.new("RGB", (20, 20), (255, 0, 0)).save(tmp_path / "still.gif")
    views = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    views[0].save(tmp_path / "v.mpo", format="MPO", save_all=True, append_images=views[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images.load_image(tmp_path / "still.gif")
        images.load_image(tmp_path / "v.mpo")  # its second frame is a view, not a moment


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rotated.jpg"
    gradient_image(40, 20).save(path, exif=exif)
    _check_rgb(images.load_image(path), 40, 20)


def test_pil_array_and_tensor_inputs() -> None:
    pil = gradient_image(30, 20)
    from_pil = images.load_image(pil)
    from_array = images.load_image(np.asarray(pil))
    from_tensor = images.load_image(from_pil[0])
    assert torch.allclose(from_pil, from_array) and torch.allclose(from_pil, from_tensor)
    with pytest.raises(StylelabError, match="not a"):
        images.load_image(torch.zeros(2, 5, 20, 20))


def test_integer_and_bool_inputs_are_scaled_to_one() -> None:
    """uint8 (``torchvision.io.decode_image``'s dtype) / 255 and uint16 / 65535, whether
    array or tensor, HxWxC or 1x3xHxW; bool is 0 or 1. (uint8 tensors were clamped to
    [0, 1] unscaled, so every pixel above 0 became white.)"""
    from stylelab import pixels

    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    expected = torch.from_numpy(u8.astype(np.float32) / 255).permute(2, 0, 1)[None]
    chw = torch.from_numpy(u8).permute(2, 0, 1)
    for source in (u8, chw, chw[None], chw[None].numpy()):
        loaded = images.load_image(source)
        _check_rgb(loaded, 20, 30)
        assert torch.allclose(loaded, expected, atol=1e-6), type(source)
    assert np.allclose(pixels.load_array(chw[None].numpy()), expected.numpy(), atol=1e-6)
    u16 = (u8.astype(np.uint16) * 257)[..., 0]
    assert torch.allclose(images.load_image(u16), expected[:, :1].expand(1, 3, 20, 30), atol=1e-6)
    # any byte order (FITS files are big-endian) and extended floats load alike
    for dtype in (">u2", ">f4", ">f8", np.longdouble):
        scaled = u16 if dtype == ">u2" else u16 / 65535
        loaded = images.load_image(np.asarray(scaled, dtype=dtype))
        assert torch.allclose(loaded, expected[:, :1].expand(1, 3, 20, 30), atol=1e-6), dtype
    mask = u8 > 127
    assert torch.equal(
        images.load_image(torch.from_numpy(mask).permute(2, 0, 1)),
        torch.from_numpy(mask.astype(np.float32)).permute(2, 0, 1)[None],
    )


def test_example_images_load() -> None:
    _check_rgb(images.load_image("example:strokes"), 512, 512)
    assert images.load_image("example:chelsea").shape[1] == 3
    with pytest.raises(StylelabError, match="unknown example"):
        images.load_image("example:mona_lisa")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.png", "no such file"),
        (lambda p: p, "is a directory"),
        (lambda p: _write(p / "notes.png", b"this is text, not pixels"), "not an image"),
        (lambda p: _truncated(p / "cut.jpg"), "cannot decode"),
        (lambda p: _save(gradient_image(15, 40), p / "thin.png"), "at least 16 px"),
    ],
    ids=["missing", "directory", "not-an-image", "truncated", "too-small"],
)
def test_bad_images_give_clear_errors(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(StylelabError, match=message):
        images.load_image(make(tmp_path))


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(gradient_image(64, 64), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(StylelabError, match="decompression bomb"):
        images.load_image(path)


def test_resize_long_edge_keeps_aspect() -> None:
    image = images.load_image(gradient_image(60, 30))
    resized = images.resize_long_edge(image, 40)
    assert resized.shape[-2:] == (20, 40)
    assert images.resize_long_edge(image, 60) is image
    assert float(resized.min()) >= 0 and float(resized.max()) <= 1


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".tif", ".webp"])
def test_save_by_extension_round_trip(tmp_path: Path, suffix: str) -> None:
    tensor = images.load_image(gradient_image(32, 24))
    out = images.save_image(tensor, tmp_path / f"out{suffix}")
    back = images.load_image(out)
    error = (back - tensor).abs()
    assert back.shape == tensor.shape
    if suffix in (".png", ".tif"):  # lossless: only the 8-bit rounding
        assert float(error.max()) <= 1 / 255 + 1e-6
    else:
        assert float(error.mean()) < 0.05  # noise under chroma subsampling: ~0.03
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp file left


def test_saved_files_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        out = images.save_image(torch.rand(1, 3, 16, 16), tmp_path / "out.png")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_save_refuses_unknown_extension_and_missing_folder(tmp_path: Path) -> None:
    tensor = torch.rand(1, 3, 16, 16)
    with pytest.raises(StylelabError, match="unknown output extension"):
        images.save_image(tensor, tmp_path / "out.xyz")
    with pytest.raises(StylelabError, match="does not exist"):
        images.save_image(tensor, tmp_path / "nope" / "out.png")


def test_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keep.png"
    target.write_bytes(b"old contents")

    def broken_save(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(StylelabError, match=r"keep\.png: disk full; nothing was written"):
        images.save_image(torch.rand(1, 3, 16, 16), target)
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _save(image: Image.Image, path: Path) -> Path:
    image.save(path)
    return path


def _truncated(path: Path) -> Path:
    gradient_image(64, 64).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("hello", "tensor or a PIL image"),
        (torch.rand(5, 32, 32), "is not a"),
        (torch.rand(2, 3, 8, 8), "is not a"),
        (torch.ones(3, 16, 16, dtype=torch.uint8), "float image"),
        (torch.full((3, 16, 16), float("nan")), "NaN"),
    ],
)
def test_save_image_refuses_what_is_not_an_image(
    image: object, message: str, tmp_path: Path
) -> None:
    with pytest.raises(StylelabError, match=message) as caught:
        images.save_image(image, tmp_path / "x.png")  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []

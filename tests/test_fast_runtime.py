"""The runtime choice (issue 29): a .safetensors model runs through its cached ONNX export
by default; the cache is keyed, checked, rebuilt when damaged, and never trusted blindly;
PyTorch's threads come from the usable cores."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stylelab.errors import StylelabError
from stylelab.fast import cache, open_model
from tests.conftest import gradient_image

REPO = Path(__file__).resolve().parent.parent

ONE_LEVEL = 1 / 255


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> tuple[Path, str]:
    """A cache folder holding the tiny model's export (made once, on a miss), and the
    notes that the miss printed."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("warm") / "cache"
    before = os.environ.get(cache.CACHE_ENV)
    os.environ[cache.CACHE_ENV] = str(folder)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            assert open_model(tiny_model, "cpu").runtime == "onnx"
    finally:
        os.environ[cache.CACHE_ENV] = before or ""
    return folder, err.getvalue()


@pytest.fixture
def cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm_cache: tuple[Path, str]
) -> Path:
    """A copy of the warm cache, for this test alone."""
    import shutil

    folder = tmp_path / "cache"
    shutil.copytree(warm_cache[0], folder)
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def photo() -> np.ndarray:
    from stylelab.pixels import load_array

    return load_array(gradient_image(45, 37, seed=3))  # odd sizes: padding exercised


def torch_reference(model_path: Path, photo: np.ndarray, style: object) -> np.ndarray:
    reference = open_model(model_path, "cpu", "fp32", runtime="torch")
    assert reference.runtime == "torch"
    return reference.stylize_array(photo, style)


def entry_files(folder: Path) -> list[Path]:
    return sorted((folder / "onnx").glob("*")) if (folder / "onnx").exists() else []


def test_auto_runs_the_cached_export_and_matches_torch(
    tiny_model: Path,
    warm_cache: tuple[Path, str],
    cache_dir: Path,
    photo: np.ndarray,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "exporting to ONNX once" in warm_cache[1]  # the miss said what it did
    assert not any(p.suffix in (".onnx", ".json") for p in tiny_model.parent.iterdir())
    graph, manifest = cache.entry_paths(cache.file_sha256(tiny_model), cache_dir)
    assert entry_files(cache_dir) == sorted([graph, manifest])
    model = open_model(tiny_model, "cpu")  # a hit: no note, same entry
    assert model.runtime == "onnx"
    assert capsys.readouterr().err == ""
    assert entry_files(cache_dir) == sorted([graph, manifest])
    for style in (0, 1, [0.3, 0.7]):
        got = model.stylize_array(photo, style)
        assert np.abs(got - torch_reference(tiny_model, photo, style)).max() <= ONE_LEVEL


def test_a_hit_never_imports_torch(tiny_model: Path, cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    gradient_image(40, 32).save(tmp_path / "in.png")
    code = (
        "import sys; from stylelab.cli import main; "
        f"rc = main(['apply', {str(tiny_model)!r}, {str(tmp_path / 'in.png')!r}, '-o', "
        f"{str(out)!r}, '--quiet', '--json']); "
        "print('torch' in sys.modules, rc)"
    )
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[0])["runtime"] == "onnx"
    assert lines[-1] == "False 0", done.stderr
    assert out.is_file()


def damaged(graph: Path, manifest: Path, good: bytes, damage: str, onnx_model: Path) -> None:
    if damage == "flipped byte":
        data = bytearray(good)
        data[len(data) // 2] ^= 0xFF
        graph.write_bytes(bytes(data))
    elif damage == "truncated":
        graph.write_bytes(good[: len(good) // 3])
    elif damage == "another valid export":  # loads and runs, but is not what was checked
        import onnx

        proto = onnx.load(str(onnx_model))
        proto.doc_string = "swapped"
        graph.write_bytes(proto.SerializeToString())
    elif damage == "graph missing":
        graph.unlink()
    elif damage == "manifest not JSON":
        manifest.write_text("{not json")
    elif damage.endswith("is a FIFO"):  # opening one for reading would block for ever
        victim = manifest if damage.startswith("manifest") else graph
        victim.unlink()
        os.mkfifo(victim)
    else:
        manifest.write_text(json.dumps({"model_sha256": "x" * 64, "onnx_sha256": "y" * 64}))


DAMAGES = [
    "flipped byte",
    "truncated",
    "another valid export",
    "graph missing",
    "manifest not JSON",
    "manifest of another model",
    "manifest is a FIFO",
    "graph is a FIFO",
]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_entry_is_never_read(
    tiny_model: Path, onnx_model: Path, cache_dir: Path, damage: str
) -> None:
    digest = cache.file_sha256(tiny_model)
    graph, manifest = cache.entry_paths(digest, cache_dir)
    assert cache.read_entry(graph, manifest, digest) is not None
    damaged(graph, manifest, graph.read_bytes(), damage, onnx_model)
    assert cache.read_entry(graph, manifest, digest) is None


def test_a_damaged_entry_is_rebuilt_and_the_image_is_right(
    tiny_model: Path, onnx_model: Path, cache_dir: Path, photo: np.ndarray
) -> None:
    digest = cache.file_sha256(tiny_model)
    graph, manifest = cache.entry_paths(digest, cache_dir)
    damaged(graph, manifest, graph.read_bytes(), "another valid export", onnx_model)
    model = open_model(tiny_model, "cpu", quiet=True)
    assert model.runtime == "onnx"
    assert cache.read_entry(graph, manifest, digest) is not None  # whole again
    got = model.stylize_array(photo, 1)
    assert np.abs(got - torch_reference(tiny_model, photo, 1)).max() <= ONE_LEVEL


def test_a_hand_made_manifest_for_other_bytes_is_refused(tiny_model: Path, cache_dir: Path) -> None:
    """The manifest must name this model's bytes and the graph's own digest."""
    digest = cache.file_sha256(tiny_model)
    graph, manifest = cache.entry_paths(digest, cache_dir)
    assert cache.read_entry(graph, manifest, digest) is not None
    assert cache.read_entry(graph, manifest, "0" * 64) is None
    record = json.loads(manifest.read_text())
    record["onnx_sha256"] = "0" * 64
    manifest.write_text(json.dumps(record))
    assert cache.read_entry(graph, manifest, digest) is None


def test_the_key_follows_model_bytes_version_and_opset() -> None:
    from stylelab.fast.export import OPSET

    assert cache.OPSET == OPSET
    base = cache.entry_key("a" * 64, "0.1.0", 18)
    assert base == cache.entry_key("a" * 64, "0.1.0", 18)
    others = {
        cache.entry_key("b" * 64, "0.1.0", 18),
        cache.entry_key("a" * 64, "0.1.1", 18),
        cache.entry_key("a" * 64, "0.1.0", 19),
    }
    assert base not in others and len(others) == 3


def test_the_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, "/somewhere/cache")
    assert cache.cache_folder() == Path("/somewhere/cache")
    monkeypatch.delenv(cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert cache.cache_folder() == Path("/xdg/stylelab")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/someone")
    assert cache.cache_folder() == Path("/home/someone/.cache/stylelab")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/xdg")  # the XDG spec: ignored
    assert cache.cache_folder() == Path("/home/someone/.cache/stylelab")
    monkeypatch.setenv("HOME", "")  # unknown home: no cache, never a folder "~" or ".cache"
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)  # no passwd entry either
    assert cache.cache_folder() is None


def test_without_a_home_folder_auto_runs_on_torch_with_a_note(
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cache, "cache_folder", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert cache.open_cached(tiny_model, "cpu", "auto", "auto") is None
    said = capsys.readouterr().err
    assert "no cache folder ($HOME is unknown): running on PyTorch" in said
    onnx = cache.open_cached(tiny_model, "cpu", "auto", "onnx", quiet=True)  # in memory
    assert onnx is not None and list(tmp_path.iterdir()) == []
    assert str(onnx.path).endswith("(exported in memory)")


def test_an_unwritable_cache_falls_back_to_torch_with_a_note(
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv(cache.CACHE_ENV, str(blocker / "cache"))  # even root cannot mkdir
    model = open_model(tiny_model, "cpu")
    assert model.runtime == "torch"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not writable: running on PyTorch" in err[0]
    explicit = open_model(tiny_model, "cpu", runtime="onnx")  # made in memory, not kept
    assert explicit.runtime == "onnx"
    assert "not kept" in capsys.readouterr().err
    assert blocker.read_text().startswith("a file")


def test_runtime_choices_are_checked(tiny_model: Path, onnx_model: Path) -> None:
    with pytest.raises(StylelabError, match="--runtime 'tpu': choose from auto, onnx, torch"):
        open_model(tiny_model, runtime="tpu")
    with pytest.raises(StylelabError, match="--runtime torch takes the .safetensors"):
        open_model(onnx_model, runtime="torch")
    with pytest.raises(StylelabError, match="--runtime onnx: --precision bf16"):
        open_model(tiny_model, "cpu", "bf16", runtime="onnx")
    assert open_model(tiny_model, "cpu", "bf16").runtime == "torch"  # auto: torch has bf16


def test_apply_json_says_which_runtime_ran(
    tiny_model: Path, cache_dir: Path, tmp_path: Path
) -> None:
    gradient_image(40, 32).save(tmp_path / "in.png")
    ran = {}
    for runtime in ("auto", "torch", "onnx"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "stylelab.cli",
                "apply",
                str(tiny_model),
                str(tmp_path / "in.png"),
                "-o",
                str(tmp_path / f"{runtime}.png"),
                "--runtime",
                runtime,
                "--quiet",
                "--json",
                "--precision",
                "fp32",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        ran[runtime] = json.loads(done.stdout)["runtime"]
    assert ran == {"auto": "onnx", "torch": "torch", "onnx": "onnx"}
    from stylelab.pixels import load_array

    a, b = (load_array(tmp_path / f"{r}.png") for r in ("auto", "torch"))
    assert np.abs(a - b).max() <= ONE_LEVEL + 1e-6  # 8-bit files: one level at most


def test_torch_threads_come_from_the_usable_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from stylelab import threads

    assert threads.usable_cores() == len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 1)
    before = torch.get_num_threads()
    try:
        assert threads.configure_torch_threads() == 1
        assert torch.get_num_threads() == 1
        monkeypatch.setattr(threads, "usable_cores", lambda: 2)
        assert threads.configure_torch_threads() == 1  # a host's lower choice is kept
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice is kept
        assert threads.configure_torch_threads() == 3
        monkeypatch.setenv("OMP_NUM_THREADS", "4, 2")  # one count per nesting level
        assert threads.configure_torch_threads() == 4
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_torch_threads_are_set_before_torch_starts() -> None:
    code = (
        "import os, sys; os.sched_setaffinity(0, {0}); "
        "from stylelab.threads import configure_torch_threads; configure_torch_threads(); "
        "import torch; print(torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    from stylelab.threads import WAIT_POLICY

    assert done.stdout.split() == ["1", WAIT_POLICY], done.stderr


@pytest.mark.parametrize(
    ("name", "value", "ours"),
    [
        ("OMP_NUM_THREADS", "0", "1"),
        ("OMP_NUM_THREADS", "abc", "1"),
        ("OMP_NUM_THREADS", "\u0661", "1"),  # a digit to Python, not to OpenMP
        ("OMP_WAIT_POLICY", "sometimes", "PASSIVE"),
    ],
)
def test_a_value_openmp_refuses_is_replaced_with_one_note(name: str, value: str, ours: str) -> None:
    """libgomp printed its own lines (and a blank one) for these; now one note, and torch
    runs with ours."""
    code = (
        "import os; os.sched_setaffinity(0, {0}); "
        "from stylelab.threads import configure_torch_threads; configure_torch_threads(); "
        f"import torch; torch.ones(2) + 1; print(os.environ[{name!r}])"
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OMP_")}, name: value}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == ours
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"stylelab: note: {name}="), done.stderr


@pytest.mark.parametrize("value", ["2", " 2", "2,1"])
def test_thread_counts_openmp_takes_are_kept(value: str) -> None:
    from stylelab.threads import OMP_COUNTS

    assert OMP_COUNTS.fullmatch(value)


def test_every_cached_kind_names_functions_that_exist() -> None:
    """The "module:function" strings of cache.KINDS resolve (a rename breaks this, not a user)."""
    for kind, steps in cache.KINDS.items():
        for step in steps._fields:
            assert callable(cache.kind_function(kind, step)), (kind, step)
    with pytest.raises(AttributeError):
        cache.kind_function("fast", "save")


def test_each_export_format_is_read_in_its_own_version() -> None:
    from stylelab.exportformats import EXPORT_KINDS, VERSIONS
    from stylelab.fast.runtime import check_export_metadata

    assert set(VERSIONS) == set(EXPORT_KINDS)
    for kind, version in VERSIONS.items():
        check_export_metadata({"format": kind, "format_version": version}, "m.onnx", kind, "it")
        with pytest.raises(StylelabError, match="m.onnx: export format version .*9"):
            check_export_metadata({"format": kind, "format_version": "9"}, "m.onnx", kind, "it")
        other = next(k for k in VERSIONS if k != kind)
        with pytest.raises(StylelabError, match=re.escape(EXPORT_KINDS[other][0])):
            check_export_metadata({"format": other, "format_version": "1"}, "m.onnx", kind, "it")


@pytest.mark.parametrize("user_setting", [None, "0"])
def test_onnxruntime_is_imported_without_telemetry_or_warning_lines(
    user_setting: str | None,
) -> None:
    """Under an unwritable $HOME, onnxruntime 1.29+ printed a coloured warning at import
    (no telemetry device ID); stylelab turns its telemetry off unless the user chose."""
    env = {**os.environ, "HOME": "/dev/null", "PYTHONPATH": str(REPO / "src")}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    if user_setting is not None:
        env["ORT_DISABLE_TELEMETRY"] = user_setting
    code = (
        "import os; from stylelab.fast.runtime import quiet_onnxruntime; quiet_onnxruntime(); "
        "print(os.environ['ORT_DISABLE_TELEMETRY'])"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (user_setting or "1")
    if user_setting is None:
        assert run.stderr == ""

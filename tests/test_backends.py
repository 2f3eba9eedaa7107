"""Inference backends: selection and refusal, ONNX export caching, parity with torch, the detector
keeping a second face that enters, and the batcher on the default backend."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.backends import BackendError
from models.backends import export as onnx_export
from models.backends.select import resolve
from models.batcher import Batcher
from models.engine import Engine, VerifyRequest
from models.evaluate import evaluate
from models.frames import photo_to_frame
from models.images import RGBImage
from server.config import ConfigError, Settings

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def torch_engine() -> Engine:
    return Engine(device="cpu", backend="torch")


# --- selection and refusal -----------------------------------------------------------------------


def test_auto_is_onnxruntime_on_cpu_and_named_backends_are_kept() -> None:
    assert resolve(None, CPU) == resolve("auto", CPU) == "onnxruntime"
    assert resolve("torch", CPU) == "torch" and resolve(" ONNXRuntime ", CPU) == "onnxruntime"


def test_engine_fixture_runs_the_default_backend(engine: Engine) -> None:
    assert engine.backend.name == "onnxruntime" and "CPU" in engine.backend.detail


def test_unknown_backend_is_refused_everywhere() -> None:
    with pytest.raises(BackendError, match="unknown backend 'tensorflow'"):
        resolve("tensorflow", CPU)
    with pytest.raises(ConfigError, match="backend 'tpu'"):
        Settings(backend="tpu").validate()


@pytest.mark.parametrize("command", [("faces", "detect", "{img}"), ("eval", "{dir}"), ("bench", "inference"),
                                     ("serve",), ("worker",)])
def test_unknown_backend_on_the_command_line_is_one_line_and_exit_2(command: tuple[str, ...], tmp_path: Path,
                                                                     dataset_root: Path) -> None:
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    args = [str(img) if a == "{img}" else str(dataset_root / "val") if a == "{dir}" else a for a in command]
    env = {k: v for k, v in os.environ.items() if k not in ("PROCTOR_DEBUG", "PROCTOR_BACKEND")}
    proc = subprocess.run([sys.executable, "-m", "server.cli", *args, "--backend", "nope"], capture_output=True,
                          text=True, timeout=240, env=env, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "nope" in lines[0] and "Traceback" not in proc.stderr, proc.stderr


# --- export caching and invalidation -------------------------------------------------------------


def test_export_is_cached_and_redone_when_the_source_or_the_file_changes(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCTOR_HOME", str(tmp_path))
    graphs = [g for g in onnx_export._mtcnn_graphs() if g.name == "rnet"]  # the smallest: fast to export
    exported: list[str] = []
    first = onnx_export.ensure("g", {"rnet": "a" * 64}, graphs, exported.append)
    assert exported == ["g/rnet"] and first["rnet"].is_file()
    assert first["rnet"].parent == tmp_path / "models" / "onnx" / "g"
    manifest = json.loads((first["rnet"].parent / "manifest.json").read_text())
    assert manifest["sources"] == {"rnet": "a" * 64} and manifest["opset"] == onnx_export.OPSET

    assert onnx_export.ensure("g", {"rnet": "a" * 64}, graphs, exported.append) == first
    assert exported == ["g/rnet"]  # cached: nothing exported again

    onnx_export.ensure("g", {"rnet": "b" * 64}, graphs, exported.append)  # new weights
    assert exported == ["g/rnet"] * 2
    first["rnet"].write_bytes(first["rnet"].read_bytes()[:-10])  # a damaged graph never runs
    onnx_export.ensure("g", {"rnet": "b" * 64}, graphs, exported.append)
    assert exported == ["g/rnet"] * 3
    (first["rnet"].parent / "manifest.json").unlink()  # an interrupted export
    onnx_export.ensure("g", {"rnet": "b" * 64}, graphs, exported.append)
    assert exported == ["g/rnet"] * 4


def test_exported_networks_match_torch(engine: Engine, torch_engine: Engine) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 3, 160, 160)).astype(np.float32)
    np.testing.assert_allclose(engine.backend.embed(x), torch_engine.backend.embed(x), atol=1e-4)
    p = rng.uniform(-1, 1, (2, 3, 57, 75)).astype(np.float32)  # P-Net takes any level size
    for a, b in zip(engine.backend.pnet(p), torch_engine.backend.pnet(p), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    o = rng.uniform(-1, 1, (5, 3, 48, 48)).astype(np.float32)
    for a, b in zip(engine.backend.onet(o), torch_engine.backend.onet(o), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


# --- parity on the bundled labelled photos -------------------------------------------------------


@pytest.mark.timeout(1800)  # two full evaluations (about a minute on a quiet 2-core box)
def test_eval_agrees_between_torch_and_the_default_backend(engine: Engine, torch_engine: Engine,
                                                           dataset_root: Path) -> None:
    ours = evaluate(engine, dataset_root / "val", dataset_root / "train")
    ref = evaluate(torch_engine, dataset_root / "val", dataset_root / "train")
    assert ours.skipped == ref.skipped and (ours.genuine, ours.impostor) == (ref.genuine, ref.impostor)
    assert abs(ours.genuine_mean - ref.genuine_mean) <= 0.01
    assert abs(ours.impostor_mean - ref.impostor_mean) <= 0.01
    assert abs(ours.balanced_accuracy_at_stored - ref.balanced_accuracy_at_stored) <= 0.01


# --- a second person entering the view -----------------------------------------------------------


def _with_onlooker(student: RGBImage, onlooker: RGBImage, engine: Engine, face_px: int,
                   size: tuple[int, int]) -> RGBImage:
    """The student's frame with a second face of `face_px` width pasted near the top-left corner."""
    frame = photo_to_frame(student, size).copy()
    onlooker = photo_to_frame(onlooker)
    (face,) = engine.detect([onlooker])[0][:1]
    x1, y1, x2, y2 = face.box
    w = x2 - x1
    pad = w * 0.4  # head and shoulders around the face, as a person in the room shows
    crop = Image.fromarray(onlooker).crop((int(max(0, x1 - pad)), int(max(0, y1 - pad)),
                                           int(x2 + pad), int(y2 + pad)))
    factor = face_px / w
    small = crop.resize((max(1, round(crop.width * factor)), max(1, round(crop.height * factor))),
                        Image.Resampling.BOX)
    frame[4:4 + small.height, 4:4 + small.width] = np.asarray(small)[: frame.shape[0] - 4, : frame.shape[1] - 4]
    return frame


@pytest.mark.parametrize(("size", "face_px"), [((640, 480), 44), ((320, 240), 22)])
def test_a_second_face_entering_is_seen_on_the_next_sample(engine: Engine, photos, references,  # type: ignore[no-untyped-def]
                                                           size: tuple[int, int], face_px: int) -> None:
    # A second person at 1.5–2 m is 40–50 px wide at 640×480 (half that in a 320×240 stream).
    student = photos["madonna"][0]
    alone = photo_to_frame(student, size)
    joined = _with_onlooker(student, photos["elton_john"][0], engine, face_px, size)
    before, after = engine.verify_batch([VerifyRequest(alone, references["madonna"]),
                                         VerifyRequest(joined, references["madonna"])])
    assert not isinstance(before, Exception) and before.reason == "ok"
    assert not isinstance(after, Exception) and after.reason == "multiple_faces" and after.faces == 2


# --- the batcher on the default backend ----------------------------------------------------------


async def test_batcher_runs_whole_batches_on_onnxruntime(engine: Engine, photos, references) -> None:  # type: ignore[no-untyped-def]
    assert engine.backend.name == "onnxruntime"
    people = ["madonna", "elton_john", "jerry_seinfeld", "mindy_kaling"]
    frames = [photo_to_frame(photos[p][0], (320, 240)) for p in people]
    direct = engine.verify_batch([VerifyRequest(f, references[p]) for f, p in zip(frames, people, strict=True)])
    batcher = Batcher(engine, max_batch_size=4, max_wait_ms=500)
    await batcher.start()
    try:
        got = await asyncio.gather(*(batcher.verify(f, references[p]) for f, p in zip(frames, people, strict=True)))
    finally:
        await batcher.aclose()
    assert batcher.stats.batch_sizes == {4: 1}  # one backend pass for all four
    assert [v.reason for v in got] == ["ok"] * 4
    assert [v.score for v in got] == [v.score for v in direct if not isinstance(v, Exception)]

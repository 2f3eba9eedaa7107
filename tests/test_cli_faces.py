"""The CLI contract, run as a subprocess: JSON on stdout, exit 2 with one stderr line on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.dataset import people
from models.frames import blank_frame, side_by_side

PROCTOR = [sys.executable, "-m", "server.cli"]


def proctor(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PROCTOR_DEBUG"}
    return subprocess.run([*PROCTOR, *map(str, args)], capture_output=True, text=True, timeout=240, env=env,
                          check=False)


def assert_bad_input(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.fixture(scope="module")
def val(dataset_root: Path) -> dict[str, list[Path]]:
    return people(dataset_root / "val")


def save(arr: np.ndarray, path: Path) -> Path:
    Image.fromarray(arr).save(path)
    return path


def test_detect_json(val: dict[str, list[Path]], tmp_path: Path) -> None:
    empty = save(blank_frame(), tmp_path / "empty.png")
    proc = proctor("faces", "detect", val["madonna"][0], empty, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    first, second = out["images"]
    assert first["path"] == str(val["madonna"][0]) and len(first["faces"]) == 1
    x1, y1, x2, y2 = first["faces"][0]["box"]
    assert x2 > x1 and y2 > y1 and first["faces"][0]["prob"] >= 0.95
    assert second["faces"] == []


def test_compare_same_person_other_person_and_no_face(val: dict[str, list[Path]], tmp_path: Path) -> None:
    ref = val["elton_john"][1]
    same = json.loads(proctor("faces", "compare", ref, val["elton_john"][2], "--json").stdout)
    assert same["match"] is True and same["reason"] == "ok" and same["score"] >= same["threshold"]
    assert same["model"] == "facenet-msceleb-128" and same["reference_faces"] == 1 and same["probe_faces"] == 1
    other = json.loads(proctor("faces", "compare", ref, val["mindy_kaling"][0], "--json").stdout)
    assert other["match"] is False and other["reason"] == "mismatch" and other["score"] < other["threshold"]
    proc = proctor("faces", "compare", ref, save(blank_frame(), tmp_path / "empty.png"), "--json")
    assert proc.returncode == 0
    nothing = json.loads(proc.stdout)
    assert nothing["match"] is False and nothing["reason"] == "no_face" and nothing["probe_faces"] == 0


def test_reference_without_exactly_one_face_is_bad_input(val: dict[str, list[Path]], tmp_path: Path) -> None:
    from models.images import read_image_file

    two = save(side_by_side(read_image_file(val["madonna"][0]), read_image_file(val["ben_afflek"][0])),
               tmp_path / "two.png")
    assert_bad_input(proctor("faces", "compare", two, val["madonna"][1], "--json"), "exactly one face, found 2")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("faces", "detect", "{missing}", "--json"), "no such file"),
        (("faces", "detect", "{text}", "--json"), "not a recognised image"),
        (("faces", "detect", "{empty}", "--json"), "empty"),
        (("faces", "compare", "--json"), "required"),
        (("faces", "detect", "{text}", "--device", "tpu9", "--json"), "not a recognised image"),
        (("models", "fetch", "no-such-model", "--json"), "unknown model"),
        (("eval", "{tmp}", "--json"), "one folder of photos per person"),
        (("bench", "inference", "--size", "big", "--json"), "--size"),
        (("frobnicate",), "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], needle: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "zero.jpg").write_bytes(b"")
    subst = {"{missing}": str(tmp_path / "nope.jpg"), "{text}": str(tmp_path / "notes.txt"),
             "{empty}": str(tmp_path / "zero.jpg"), "{tmp}": str(tmp_path)}
    assert_bad_input(proctor(*(subst.get(a, a) for a in args)), needle)


def test_models_list_json() -> None:
    out = json.loads(proctor("models", "list", "--json").stdout)
    names = {m["name"]: m for m in out["models"]}
    assert set(names) == {"facenet-msceleb-128", "facenet-vggface2", "facenet-casia"}
    assert names["facenet-msceleb-128"]["default"] and names["facenet-msceleb-128"]["fetched"]
    assert names["facenet-msceleb-128"]["dim"] == 128 and names["facenet-vggface2"]["dim"] == 512


def test_eval_json_on_a_small_tree(val: dict[str, list[Path]], tmp_path: Path) -> None:
    for person in ("madonna", "jerry_seinfeld", "mindy_kaling"):
        (tmp_path / person).mkdir()
        for p in val[person][:3]:
            (tmp_path / person / p.name).write_bytes(p.read_bytes())
    proc = proctor("eval", tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("eer", "tar_at_far_1e2", "tar_at_far_1e3", "suggested_threshold", "eer_threshold"):
        assert isinstance(out[key], float)
    assert out["genuine"] == 9 and out["impostor"] == 27 and out["eer"] <= 0.2
    assert out["genuine_mean"] > out["impostor_mean"]


def test_bench_inference_json_quick() -> None:
    proc = proctor("bench", "inference", "--frames", "4", "--clients", "2", "--max-batch-size", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["device"] == "cpu" and out["naive"]["frames"] == 4 and out["batched"]["frames"] == 4
    assert sum(int(k) * v for k, v in out["batch_size_histogram"].items()) == 4
    assert out["naive"]["frames_per_s"] > 0 and out["batched"]["p99_ms"] >= out["batched"]["p50_ms"]
    assert proc.stderr == ""  # no progress bars without a terminal

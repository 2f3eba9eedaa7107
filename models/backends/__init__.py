"""Inference backends: the networks behind the detector and the embedder, behind one small Protocol.

- `torch`: the reference; facenet-pytorch's P/R/O-Net and InceptionResnetV1 as loaded from the
  verified weights (on CUDA: fp16 autocast, channels_last).
- `onnxruntime`: the same networks exported to ONNX at `proctor models fetch` (models/backends/
  export.py) and run by ONNX Runtime: the CPU provider, or on a GPU the TensorRT and CUDA providers
  with fp16.
- `auto`: the fastest correct one for the device: ONNX Runtime where it is installed and has a
  provider for the device, else torch.

Both take and return float32 NumPy arrays, standardised NCHW in, raw network outputs out, so the
pipeline around them (models/mtcnn.py, models/embedder.py) is one code path.
"""

from __future__ import annotations

import importlib.util
from typing import Protocol

import numpy as np
import torch
from numpy.typing import NDArray

from ..weights import ModelSpec

F32 = NDArray[np.float32]

BACKENDS = ("torch", "onnxruntime")
CHOICES = ("auto", *BACKENDS)


class BackendError(ValueError):
    """An unknown backend, or one that cannot run on this machine or device."""


class Backend(Protocol):
    """The four networks, on whole batches."""

    name: str  # "torch" or "onnxruntime"
    detail: str  # providers / precision, for logs and benchmarks

    def pnet(self, x: F32) -> tuple[F32, F32]: ...
    def rnet(self, x: F32) -> tuple[F32, F32]: ...
    def onet(self, x: F32) -> tuple[F32, F32, F32]: ...
    def embed(self, x: F32) -> F32: ...  # (N, 3, 160, 160) standardised → (N, dim), not normalised


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def ort_providers() -> list[str]:
    if not onnxruntime_installed():
        return []
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def available(device: torch.device) -> list[str]:
    """Backends that can run on this device here, the reference first."""
    names = ["torch"]
    providers = ort_providers()
    if (device.type == "cpu" and "CPUExecutionProvider" in providers) or (
            device.type == "cuda" and "CUDAExecutionProvider" in providers):
        names.append("onnxruntime")
    return names


def resolve(name: str | None, device: torch.device) -> str:
    """`auto` (or nothing) → the fastest available; a named one is checked, never silently swapped."""
    choice = (name or "auto").strip().lower()
    if choice not in CHOICES:
        raise BackendError(f"unknown backend {name!r} (use {', '.join(CHOICES)})")
    here = available(device)
    if choice == "auto":
        return "onnxruntime" if "onnxruntime" in here else "torch"
    if choice not in here:
        why = "onnxruntime is not installed" if not onnxruntime_installed() else \
            f"onnxruntime has no provider for {device.type} here (providers: {', '.join(ort_providers())})"
        raise BackendError(f"backend {choice!r} cannot run on {device}: {why}")
    return choice


def create(name: str | None, spec: ModelSpec, device: torch.device, network: torch.nn.Module | None = None
           ) -> Backend:
    """Build the resolved backend for `spec` on `device`. `network` overrides the torch weights (tests)."""
    chosen = resolve(name, device)
    if chosen == "torch" or network is not None:
        from .torch_backend import TorchBackend

        return TorchBackend(spec, device, network)
    from .ort_backend import OrtBackend

    return OrtBackend(spec, device)

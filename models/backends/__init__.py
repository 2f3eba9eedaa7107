"""Inference backends: the networks behind the detector and the embedder, behind one small Protocol.

- `torch`: the reference; facenet-pytorch's P/R/O-Net and InceptionResnetV1 as loaded from the
  verified weights (on CUDA: fp16 autocast, channels_last).
- `onnxruntime`: the same networks exported to ONNX at `proctor models fetch` (models/backends/
  export.py) and run by ONNX Runtime: the CPU provider, or on a GPU the TensorRT and CUDA providers
  with fp16.
- `auto`: the fastest correct one for the device: ONNX Runtime where it is installed and has a
  provider for the device, else torch.

Both take and return float32 NumPy arrays, standardised NCHW in, raw network outputs out, so the
pipeline around them (models/mtcnn.py, models/embedder.py) is one code path. This module stays
light (no torch import) so settings can name the choices; models/backends/select.py builds one.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

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

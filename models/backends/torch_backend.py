"""The reference backend: facenet-pytorch's networks in torch, fp16 autocast + channels_last on CUDA."""

from __future__ import annotations

import numpy as np
import torch
from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

from .. import weights
from ..weights import ModelSpec
from . import F32


def _np(t: torch.Tensor) -> F32:
    out: F32 = t.float().cpu().numpy().astype(np.float32, copy=False)
    return out


class TorchBackend:
    """P/R/O-Net and FaceNet as torch modules on one device."""

    name = "torch"

    def __init__(self, spec: ModelSpec, device: torch.device, network: torch.nn.Module | None = None) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self.detail = f"torch {torch.__version__} on {device}" + (" fp16 channels_last" if self.cuda else " fp32")
        # MTCNN's weights ship inside the facenet-pytorch wheel: nothing is downloaded.
        self._pnet, self._rnet, self._onet = (m().eval().to(device) for m in (PNet, RNet, ONet))
        net = network if network is not None else weights.load(spec.name, device)
        self._facenet = net.to(device).eval()
        if self.cuda:
            self._facenet = self._facenet.to(memory_format=torch.channels_last)

    def _in(self, x: F32) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x))
        return t.pin_memory().to(self.device, non_blocking=True) if self.cuda else t

    def pnet(self, x: F32) -> tuple[F32, F32]:
        with torch.inference_mode():
            reg, prob = self._pnet(self._in(x))
        return _np(reg), _np(prob)

    def rnet(self, x: F32) -> tuple[F32, F32]:
        with torch.inference_mode():
            reg, prob = self._rnet(self._in(x))
        return _np(reg), _np(prob)

    def onet(self, x: F32) -> tuple[F32, F32, F32]:
        with torch.inference_mode():
            reg, marks, prob = self._onet(self._in(x))
        return _np(reg), _np(marks), _np(prob)

    def embed(self, x: F32) -> F32:
        t = self._in(x)
        if self.cuda:
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(device_type=self.device.type, dtype=torch.float16,
                                                    enabled=self.cuda):
            out = self._facenet(t)
        return _np(out)

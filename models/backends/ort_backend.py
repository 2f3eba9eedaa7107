"""The ONNX Runtime backend: the exported graphs on the CPU provider, or TensorRT/CUDA with fp16 on a GPU.

On CPU one session per graph runs with `intra_op_num_threads` = the cores this process may use and
all graph optimisations on (batch norms fold into convolutions). On CUDA the embedding runs an fp16
graph (float32 at its edges) on TensorRT where that provider is present, else on the CUDA provider;
the small MTCNN networks stay fp32.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import torch

from ..weights import ModelSpec
from . import F32, BackendError
from .export import facenet_graph, mtcnn_graphs


def cpu_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _providers(device: torch.device, fp16: bool) -> list[str | tuple[str, dict[str, object]]]:
    if device.type == "cpu":
        return ["CPUExecutionProvider"]
    index = device.index or 0
    have = ort.get_available_providers()
    chosen: list[str | tuple[str, dict[str, object]]] = []
    if "TensorrtExecutionProvider" in have:
        chosen.append(("TensorrtExecutionProvider", {"device_id": index, "trt_fp16_enable": fp16,
                                                     "trt_engine_cache_enable": True}))
    chosen.append(("CUDAExecutionProvider", {"device_id": index}))
    return chosen


class OrtBackend:
    """One InferenceSession per network."""

    name = "onnxruntime"

    def __init__(self, spec: ModelSpec, device: torch.device, threads: int | None = None) -> None:
        gpu = device.type == "cuda"
        mtcnn = mtcnn_graphs()
        face = facenet_graph(spec, half=gpu)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads or cpu_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers are noise
        # Spinning worker threads win a few percent on an idle machine and lose badly on a shared one
        # (a server's cores also run aiortc's decoders and the event loop).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            small = _providers(device, False)
            self._p, self._r, self._o = (ort.InferenceSession(str(mtcnn[n]), options, providers=small)
                                         for n in ("pnet", "rnet", "onet"))
            self._f = ort.InferenceSession(str(face), options, providers=_providers(device, gpu))
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/… types
            raise BackendError(f"onnxruntime could not load the exported graphs: {exc}") from exc
        used = self._f.get_providers()[0].replace("ExecutionProvider", "")
        self.detail = (f"onnxruntime {ort.__version__} {used} " + ("fp16" if gpu else "fp32")
                       + ("" if gpu else f", {options.intra_op_num_threads} threads"))

    def pnet(self, x: F32) -> tuple[F32, F32]:
        reg, prob = self._p.run(None, {"x": x})
        return np.asarray(reg, np.float32), np.asarray(prob, np.float32)

    def rnet(self, x: F32) -> tuple[F32, F32]:
        reg, prob = self._r.run(None, {"x": x})
        return np.asarray(reg, np.float32), np.asarray(prob, np.float32)

    def onet(self, x: F32) -> tuple[F32, F32, F32]:
        reg, marks, prob = self._o.run(None, {"x": x})
        return np.asarray(reg, np.float32), np.asarray(marks, np.float32), np.asarray(prob, np.float32)

    def embed(self, x: F32) -> F32:
        (out,) = self._f.run(None, {"x": x})
        return np.asarray(out, np.float32)

"""GPU throughput benchmark, ready to run on a GPU machine (e.g. an H200) in one short go.

    python scripts/gpu_bench.py --json > gpu_bench.json

- Embedding: InceptionResnetV1 faces/s at batch 1…512 for each channel: torch fp32, torch fp16
  (autocast, channels_last), and where onnxruntime is installed ONNX Runtime on the CUDA provider
  (fp16 graph) and on the TensorRT provider (fp16) when present. Throughput does not depend on
  weight values, so randomly initialised weights are used (exported to ONNX in a temp dir) and no
  weights need to travel to the machine.
- Detect+embed: frames/s through the real pipeline (models/mtcnn.py around a backend, MTCNN weights
  inside the facenet-pytorch wheel) at 640×480 and 320×240, batch 64, synthetic frames.
Needs torch, torchvision, numpy, pillow and facenet-pytorch 2.5.3 (pure Python: carry the wheel);
onnx and onnxruntime-gpu for the ONNX Runtime channels (skipped, with the reason, when missing).
Targets (issue 12): ≥ 50,000 faces/s embedding and ≥ 2,000 frames/s detect+embed at 640×480 on an H200.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import mtcnn
from models.facenet import build_facenet


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(run: object, bs: int, seconds: float, device: torch.device) -> float:
    fn = run  # a zero-argument callable running one batch
    for _ in range(3):
        fn()  # type: ignore[operator]
    _sync(device)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()  # type: ignore[operator]
        n += bs
    _sync(device)
    return n / (time.perf_counter() - t0)


def _torch_channel(device: torch.device, fp16: bool):  # type: ignore[no-untyped-def]
    net = build_facenet(128).eval().to(device)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)

    def make(bs: int):  # type: ignore[no-untyped-def]
        x = torch.randn(bs, 3, 160, 160, device=device)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)

        def run() -> None:
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16,
                                                        enabled=fp16 and device.type == "cuda"):
                net(x)
        return run
    return make


def _ort_channel(device: torch.device, provider: str, tmp: Path):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    from models.backends.export import Graph, _export, _Half

    if provider not in ort.get_available_providers():
        raise RuntimeError(f"{provider} is not available ({', '.join(ort.get_available_providers())})")
    path = tmp / "facenet-fp16.onnx"
    if not path.exists():
        _export(Graph("facenet-fp16", lambda: _Half(build_facenet(128).eval()), (2, 3, 160, 160),
                      ("embedding",), half=True), path)
    opts: dict[str, object] = {"device_id": device.index or 0}
    if provider == "TensorrtExecutionProvider":
        opts.update(trt_fp16_enable=True, trt_engine_cache_enable=True, trt_engine_cache_path=str(tmp))
    sess = ort.InferenceSession(str(path), providers=[(provider, opts), "CPUExecutionProvider"])

    def make(bs: int):  # type: ignore[no-untyped-def]
        x = np.random.default_rng(0).standard_normal((bs, 3, 160, 160)).astype(np.float32)
        binding = sess.io_binding()  # keep input and output on the device between runs
        binding.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(x, "cuda", device.index or 0))
        binding.bind_output("embedding", "cuda", device.index or 0)

        def run() -> None:
            sess.run_with_iobinding(binding)
        return run
    return make


def bench_embedding(device: torch.device, batches: list[int], seconds: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        channels = [("torch fp32", lambda: _torch_channel(device, False)),
                    ("torch fp16 channels_last", lambda: _torch_channel(device, True))]
        if device.type == "cuda":
            channels += [("onnxruntime CUDA fp16", lambda: _ort_channel(device, "CUDAExecutionProvider", Path(tmp))),
                         ("onnxruntime TensorRT fp16",
                          lambda: _ort_channel(device, "TensorrtExecutionProvider", Path(tmp)))]
        for name, build in channels:
            try:
                make = build()
            except Exception as exc:  # a missing provider or package skips the channel, with why
                rows.append({"channel": name, "skipped": f"{exc.__class__.__name__}: {exc}"[:300]})
                print(f"embed {name}: skipped ({exc})", file=sys.stderr)
                continue
            for bs in batches:
                rate = _timed(make(bs), bs, seconds, device)
                rows.append({"channel": name, "batch": bs, "faces_per_s": round(rate, 1)})
                print(f"embed {name} batch {bs}: {rate:,.0f} faces/s", file=sys.stderr)
    return rows


def bench_detect_embed(device: torch.device, sizes: list[tuple[int, int]], batch: int, seconds: float
                       ) -> list[dict[str, object]]:
    from models.backends.torch_backend import TorchBackend
    from models.weights import spec_for

    rows: list[dict[str, object]] = []
    backend = TorchBackend(spec_for("facenet-msceleb-128"), device, build_facenet(128))
    rng = np.random.default_rng(0)
    crops = np.zeros((batch, 3, 160, 160), np.float32)  # one face per frame, embedded in the same pass
    for w, h in sizes:
        frames = rng.integers(0, 255, (batch, h, w, 3), dtype=np.uint8)

        def run(frames: np.ndarray = frames, min_face: float = 32.0 * min(h, w) / 480) -> None:
            mtcnn.detect(backend, frames, min_face)
            backend.embed(crops)

        rate = _timed(run, batch, seconds, device)
        rows.append({"frame": f"{w}x{h}", "batch": batch, "backend": "torch", "frames_per_s": round(rate, 1)})
        print(f"detect+embed {w}x{h} batch {batch}: {rate:,.0f} frames/s", file=sys.stderr)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per point")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check the script on a CPU")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    batches = [1, 2, 4] if args.quick else [1, 8, 32, 64, 128, 256, 512]
    frame_batch = 2 if args.quick else 64
    report = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "embedding": bench_embedding(device, batches, args.seconds),
        "detect_embed": bench_detect_embed(device, [(640, 480), (320, 240)], frame_batch, args.seconds),
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

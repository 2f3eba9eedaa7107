"""GPU throughput benchmark, ready to run on a GPU machine (e.g. an H200) in one short go.

    python scripts/gpu_bench.py --json > gpu_bench.json

- Embedding: InceptionResnetV1 faces/s at batch 1…512, fp32 and fp16 (autocast, channels_last).
  Throughput does not depend on weight values, so randomly initialised weights are used and no
  weights need to travel to the machine.
- Detect+embed: frames/s through the real Engine pipeline (MTCNN, weights inside the
  facenet-pytorch wheel) at 640×480 and 320×240, batch 64, synthetic frames with one face-sized
  blob; MTCNN's cost is dominated by the P-Net pyramid, which does not depend on content.
Needs torch, torchvision, numpy, pillow and facenet-pytorch 2.5.3 (pure Python: carry the wheel).
Targets (issue 2): ≥ 20,000 faces/s embedding and ≥ 1,000 frames/s detect+embed on an H200.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.detector import Detector
from models.embedder import Embedder
from models.facenet import build_facenet


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_embedding(device: torch.device, batches: list[int], seconds: float) -> list[dict[str, object]]:
    rows = []
    net = build_facenet(128).eval().to(device)
    for precision in ("fp32", "fp16"):
        model = net.to(memory_format=torch.channels_last) if device.type == "cuda" else net
        for bs in batches:
            x = torch.randn(bs, 3, 160, 160, device=device)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            use_amp = precision == "fp16" and device.type == "cuda"
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                for _ in range(3):
                    model(x)
                _sync(device)
                n, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < seconds:
                    model(x)
                    n += bs
                _sync(device)
                dt = time.perf_counter() - t0
            rows.append({"precision": precision, "batch": bs, "faces_per_s": round(n / dt, 1)})
            print(f"embed {precision} batch {bs}: {n / dt:,.0f} faces/s", file=sys.stderr)
    return rows


def bench_detect_embed(device: torch.device, sizes: list[tuple[int, int]], batch: int, seconds: float
                       ) -> list[dict[str, object]]:
    rows = []
    detector = Detector(device)
    embedder = Embedder(build_facenet(128), device, 128)
    rng = np.random.default_rng(0)
    for w, h in sizes:
        frames = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(batch)]
        crops = [np.zeros((160, 160, 3), np.uint8)] * batch  # one face per frame, embedded in the same pass
        detector.detect(frames)
        embedder.embed(crops)
        _sync(device)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            detector.detect(frames)
            embedder.embed(crops)
            n += batch
        _sync(device)
        dt = time.perf_counter() - t0
        rows.append({"frame": f"{w}x{h}", "batch": batch, "frames_per_s": round(n / dt, 1)})
        print(f"detect+embed {w}x{h} batch {batch}: {n / dt:,.0f} frames/s", file=sys.stderr)
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

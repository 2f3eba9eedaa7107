"""CLI commands for the verification engine: models, faces, eval, bench inference."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .cli_base import CliError, emit_json, show_progress


def register(sub: Any) -> None:
    models = sub.add_parser("models", help="list and fetch face-recognition weights")
    msub = models.add_subparsers(dest="models_command", required=True, parser_class=type(models))
    p = msub.add_parser("list", help="show the registry and what is fetched")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_models_list)
    p = msub.add_parser("fetch", help="fetch (once) and verify weights, and the evaluation photos")
    p.add_argument("name", nargs="?", default=None, help="model name (default: the default model)")
    p.add_argument("--file", type=Path, help="install this local weights file instead of downloading")
    p.add_argument("--sha256", help="expected sha256 of --file")
    p.add_argument("--no-dataset", action="store_true", help="skip the labelled evaluation photos")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_models_fetch)

    faces = sub.add_parser("faces", help="detect and compare faces in image files")
    fsub = faces.add_subparsers(dest="faces_command", required=True, parser_class=type(faces))
    p = fsub.add_parser("detect", help="find faces in images")
    p.add_argument("images", nargs="+", type=Path)
    _engine_args(p)
    p.set_defaults(handler=cmd_faces_detect)
    p = fsub.add_parser("compare", help="does PROBE show the person in REF?")
    p.add_argument("reference", type=Path)
    p.add_argument("probe", type=Path)
    _engine_args(p)
    p.set_defaults(handler=cmd_faces_compare)

    p = sub.add_parser("eval", help="ROC figures on a labelled tree (one folder per person)")
    p.add_argument("dir", type=Path)
    p.add_argument("--references", type=Path, help="score DIR as probes against this tree, best-of-k")
    _engine_args(p)
    p.set_defaults(handler=cmd_eval)

    bench = sub.add_parser("bench", help="benchmarks (results belong in docs/benchmarks.md)")
    bsub = bench.add_subparsers(dest="bench_command", required=True, parser_class=type(bench))
    p = bsub.add_parser("inference", help="naive per-frame loop vs the dynamic batcher")
    p.add_argument("--frames", type=int, default=96)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=50.0)
    p.add_argument("--size", default="640x480", help="frame size WxH")
    _engine_args(p)
    p.set_defaults(handler=cmd_bench_inference)
    from . import bench_streams

    bench_streams.register(bsub)


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="registry name (default: facenet-msceleb-128)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: automatic; PROCTOR_DEVICE)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _engine(args: argparse.Namespace) -> Any:
    from models import weights
    from models.engine import Engine

    name = args.model or weights.DEFAULT_MODEL
    spec = weights.spec_for(name)
    if not weights.is_fetched(spec):
        weights.fetch(name, quiet=not show_progress(args))
    return Engine(name, device=args.device)


def cmd_models_list(args: argparse.Namespace) -> int:
    from models import weights

    rows = [{"name": s.name, "dim": s.dim, "threshold": s.threshold, "default": s.name == weights.DEFAULT_MODEL,
             "fetched": weights.is_fetched(s), "path": str(s.path), "description": s.description}
            for s in weights.REGISTRY.values()]
    if args.json:
        emit_json({"home": weights.home_for_display(), "models": rows})
        return 0
    for r in rows:
        mark = "*" if r["default"] else " "
        state = "fetched" if r["fetched"] else "not fetched"
        print(f"{mark} {r['name']:<22} {r['dim']:>4}-d  threshold {r['threshold']:.2f}  {state:<11}  "
              f"{r['description']}")
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from models import dataset, weights

    name = args.name or weights.DEFAULT_MODEL
    spec = weights.spec_for(name)
    progress = None
    bar = None
    if show_progress(args):
        from tqdm import tqdm

        bar = tqdm(unit="B", unit_scale=True, unit_divisor=1024, desc=name, file=sys.stderr)

        def progress(done: int, total: int | None) -> None:
            assert bar is not None
            bar.total = total
            bar.update(done - bar.n)

    try:
        if args.file:
            weights.install_from_file(spec, args.file, args.sha256)
        else:
            weights.fetch(name, quiet=not show_progress(args), progress=progress)
    finally:
        if bar is not None:
            bar.close()
    data = None if args.no_dataset else dataset.fetch_dataset(quiet=not show_progress(args))
    if args.json:
        emit_json({"model": name, "path": str(spec.path), "sha256": weights.sha256_file(spec.path),
                   "dataset": str(data) if data else None})
    else:
        print(f"{name}: ready at {spec.path}")
        if data:
            print(f"evaluation photos: {data}")
    return 0


def cmd_faces_detect(args: argparse.Namespace) -> int:
    from models.images import read_image_file

    frames = [read_image_file(p) for p in args.images]  # any bad file fails before the model loads
    engine = _engine(args)
    out: list[dict[str, Any]] = []
    for path, faces in zip(args.images, engine.detect(frames), strict=True):
        out.append({"path": str(path),
                    "faces": [{"box": [round(v, 1) for v in f.box], "prob": round(f.prob, 4)} for f in faces]})
    if args.json:
        emit_json({"images": out})
    else:
        for row in out:
            print(f"{row['path']}: {len(row['faces'])} face(s)")
            for f in row["faces"]:
                print(f"  box {f['box']} prob {f['prob']}")
    return 0


def cmd_faces_compare(args: argparse.Namespace) -> int:
    from models.engine import VerifyRequest
    from models.images import read_image_file

    ref_frame = read_image_file(args.reference)
    probe_frame = read_image_file(args.probe)
    engine = _engine(args)
    ref_faces = engine.detect([ref_frame])[0]
    if len(ref_faces) != 1:
        raise CliError(f"{args.reference}: a reference must show exactly one face, found {len(ref_faces)}")
    refs = engine.embed_faces([ref_frame], ref_faces)
    result = engine.verify_batch([VerifyRequest(probe_frame, refs)])[0]
    if isinstance(result, Exception):
        raise CliError(f"{args.probe}: {result}")
    out = {"model": engine.model_name, "reference_faces": len(ref_faces), "probe_faces": result.faces,
           "score": result.score, "threshold": engine.threshold, "match": result.match, "reason": result.reason}
    if args.json:
        emit_json(out)
    else:
        score = "n/a" if result.score is None else f"{result.score:.3f}"
        verdict = "MATCH" if result.match else "NO MATCH"
        print(f"{verdict}: {result.reason} (score {score}, threshold {engine.threshold:.2f})")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from models.dataset import people
    from models.evaluate import evaluate

    for tree in (args.dir, args.references):
        if tree is not None and (not tree.is_dir() or not people(tree)):
            raise CliError(f"{tree}: expected a directory with one folder of photos per person")
    engine = _engine(args)
    tick = None
    if show_progress(args):
        from tqdm import tqdm

        total = sum(len(v) for v in people(args.dir).values())
        if args.references:
            total += sum(len(v) for v in people(args.references).values())
        bar = tqdm(total=total, unit="img", desc="embedding", file=sys.stderr)
        tick = lambda: bar.update(1)  # noqa: E731
    try:
        report = evaluate(engine, args.dir, args.references, tick)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        emit_json(report.to_dict())
    else:
        r = report
        print(f"{r.model} ({r.protocol}): {r.images} images, {r.genuine} genuine / {r.impostor} impostor scores")
        print(f"  EER {r.eer:.3f} at {r.eer_threshold:.3f}; TAR@FAR1e-2 {r.tar_at_far_1e2:.3f}; "
              f"TAR@FAR1e-3 {r.tar_at_far_1e3:.3f}")
        print(f"  suggested threshold {r.suggested_threshold:.3f}; stored {r.stored_threshold:.3f} "
              f"(balanced accuracy {r.balanced_accuracy_at_stored:.3f})")
    return 0


def cmd_bench_inference(args: argparse.Namespace) -> int:
    from models.bench import run_inference_bench
    from models.dataset import fetch_dataset

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise CliError(f"--size must look like 640x480, not {args.size!r}") from None
    if args.frames < 1 or args.clients < 1 or args.max_batch_size < 1:
        raise CliError("--frames, --clients and --max-batch-size must be positive")
    engine = _engine(args)
    data = fetch_dataset() / "val"
    tick = None
    if show_progress(args):
        from tqdm import tqdm

        bar = tqdm(total=args.frames * 2, unit="frame", desc="bench", file=sys.stderr)
        tick = lambda: bar.update(1)  # noqa: E731
    report = run_inference_bench(engine, data, args.frames, args.clients, args.max_batch_size,
                                 args.max_wait_ms, (w, h), tick)
    if args.json:
        emit_json(report)
    else:
        for k, v in report.items():
            print(f"{k}: {v}")
    return 0

"""`proctor models|faces|eval`: the verification engine from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from models import dataset, weights
from models.backends import BackendError
from models.backends.select import onnxruntime_installed, resolve
from models.dataset import people
from models.device import DeviceError, pick_device
from models.engine import Engine, VerifyRequest
from models.enroll import EnrollmentError
from models.evaluate import evaluate
from models.images import ImageError, read_image_file
from models.weights import WeightsError

from .base import CliError, emit_json, show_progress
from .liveness_eval import cmd_eval_liveness

USER_ERRORS = (ImageError, WeightsError, DeviceError, EnrollmentError, BackendError)


def backend_choice(args: argparse.Namespace) -> str | None:
    return getattr(args, "backend", None) or os.environ.get("PROCTOR_BACKEND") or None


def load_engine(args: argparse.Namespace, backend: str | None = None) -> Engine:
    device = pick_device(args.device)
    chosen = resolve(backend or backend_choice(args), device)  # an unknown name fails before any loading
    name = args.model or weights.DEFAULT_MODEL
    spec = weights.spec_for(name)
    if not weights.is_fetched(spec):
        weights.fetch(name, quiet=not show_progress(args))
    return Engine(name, device=device, backend=chosen)


def cmd_models_list(args: argparse.Namespace) -> int:
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
    name = args.name or weights.DEFAULT_MODEL
    spec = weights.spec_for(name)
    progress = None
    bar = None
    if show_progress(args):

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
    graphs = export_graphs(spec, show_progress(args))
    data = None if args.no_dataset else dataset.fetch_dataset(quiet=not show_progress(args))
    if args.json:
        emit_json({"model": name, "path": str(spec.path), "sha256": weights.sha256_file(spec.path),
                   "onnx": [str(p) for p in graphs], "dataset": str(data) if data else None})
    else:
        print(f"{name}: ready at {spec.path}")
        if graphs:
            print(f"ONNX graphs: {graphs[0].parent.parent}")
        if data:
            print(f"evaluation photos: {data}")
    return 0


def export_graphs(spec: weights.ModelSpec, verbose: bool) -> list[Path]:
    """Export the ONNX graphs once (re-exported when the weights change); none without onnxruntime."""
    if not onnxruntime_installed():
        return []
    from models.backends.export import export_all

    def say(what: str) -> None:
        if verbose:
            print(f"exporting {what} to ONNX", file=sys.stderr)

    return export_all(spec, on_export=say)


def cmd_faces_detect(args: argparse.Namespace) -> int:
    frames = [read_image_file(p) for p in args.images]  # any bad file fails before the model loads
    engine = load_engine(args)
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
    ref_frame = read_image_file(args.reference)
    probe_frame = read_image_file(args.probe)
    engine = load_engine(args)
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
    if str(args.dir) == "liveness" and not args.dir.is_dir():  # `proctor eval liveness [DIR]`
        return cmd_eval_liveness(args, lambda: load_engine(args))
    if args.liveness_dir is not None:
        raise CliError(f"unexpected argument {args.liveness_dir} (did you mean `proctor eval liveness DIR`?)")
    for tree in (args.dir, args.references):
        if tree is not None and (not tree.is_dir() or not people(tree)):
            raise CliError(f"{tree}: expected a directory with one folder of photos per person")
    engine = load_engine(args)
    tick = None
    if show_progress(args):

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

"""ONNX graphs exported once from the verified torch weights, cached under PROCTOR_HOME.

`proctor models fetch` exports them; an engine that finds them missing or stale exports them again
before it starts (a local step: nothing is downloaded). Each group of graphs has a manifest that
records the sha256 of the source weights, the exporter settings and the sha256 of every graph file;
a graph is re-exported when any of those no longer match, so new weights, a new exporter or a
damaged file never run silently.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

from .. import weights
from ..paths import models_dir
from ..weights import ModelSpec, sha256_file

OPSET = 17
FORMAT = 2  # bump when the graphs' inputs, outputs or export settings change


@dataclass(frozen=True)
class Graph:
    """One network to export: how to build it and the shape of a sample input."""

    name: str
    build: Callable[[], torch.nn.Module]
    sample: tuple[int, ...]
    outputs: tuple[str, ...]
    dynamic_hw: bool = False  # P-Net takes any pyramid level
    half: bool = False  # fp16 inside, float32 at the edges (for the GPU providers)


class _Half(torch.nn.Module):
    """fp16 weights and activations, float32 in and out, so callers need not know."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x.half()).float()
        return out


def _mtcnn_sources() -> dict[str, Path]:
    import facenet_pytorch

    data = Path(facenet_pytorch.__file__).parent / "data"
    return {name: data / f"{name}.pt" for name in ("pnet", "rnet", "onet")}


def _mtcnn_graphs() -> list[Graph]:
    return [Graph("pnet", lambda: PNet().eval(), (1, 3, 48, 64), ("reg", "prob"), dynamic_hw=True),
            Graph("rnet", lambda: RNet().eval(), (1, 3, 24, 24), ("reg", "prob")),
            Graph("onet", lambda: ONet().eval(), (1, 3, 48, 48), ("reg", "landmarks", "prob"))]


def _facenet_graph(spec: ModelSpec, half: bool) -> Graph:
    def build() -> torch.nn.Module:
        net = weights.load(spec.name, torch.device("cpu"))
        return _Half(net).eval() if half else net

    return Graph("facenet-fp16" if half else "facenet", build, (2, 3, 160, 160), ("embedding",), half=half)


def group_dir(group: str) -> Path:
    return models_dir() / "onnx" / group


def _wanted(sources: dict[str, str], graphs: list[Graph]) -> dict[str, object]:
    return {"format": FORMAT, "opset": OPSET, "torch": torch.__version__.split("+")[0],
            "sources": sources, "graphs": sorted(g.name for g in graphs)}


def _current(directory: Path, want: dict[str, object]) -> dict[str, Path] | None:
    """The group's graph paths if its manifest matches and every file is intact, else None."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or {k: manifest.get(k) for k in want} != want:
        return None
    files = manifest.get("files", {})
    paths = {name: directory / f"{name}.onnx" for name in files}
    for name, path in paths.items():
        if not path.is_file() or sha256_file(path) != files[name]:
            return None
    return paths


def _export(graph: Graph, dest: Path) -> None:
    axes = {0: "n", 2: "h", 3: "w"} if graph.dynamic_hw else {0: "n"}
    dynamic: dict[str, dict[int, str]] = {"x": axes, **{o: {0: "n"} for o in graph.outputs}}
    net = graph.build()
    sample = torch.zeros(graph.sample)
    tmp = dest.with_suffix(".onnx.part")
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The TorchScript exporter is the one whose output was checked against torch to 1e-7 here;
        # it announces its own deprecation, which is not ours to act on yet.
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (sample,), str(tmp), opset_version=OPSET, dynamo=False, input_names=["x"],
                          output_names=list(graph.outputs), dynamic_axes=dynamic)
    tmp.replace(dest)


def ensure(group: str, sources: dict[str, str], graphs: list[Graph],
           on_export: Callable[[str], None] | None = None) -> dict[str, Path]:
    """The group's graphs, exported now if missing or stale. `sources`: name → sha256 of the inputs."""
    directory = group_dir(group)
    want = _wanted(sources, graphs)
    current = _current(directory, want)
    if current is not None:
        return current
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").unlink(missing_ok=True)  # never a manifest for half-written graphs
    files: dict[str, str] = {}
    for graph in graphs:
        if on_export:
            on_export(f"{group}/{graph.name}")
        dest = directory / f"{graph.name}.onnx"
        _export(graph, dest)
        files[graph.name] = sha256_file(dest)
    tmp = directory / "manifest.json.part"
    tmp.write_text(json.dumps({**want, "files": files}, indent=1) + "\n")
    tmp.replace(directory / "manifest.json")
    return {name: directory / f"{name}.onnx" for name in files}


def mtcnn_graphs(on_export: Callable[[str], None] | None = None) -> dict[str, Path]:
    sources = {name: sha256_file(path) for name, path in _mtcnn_sources().items()}
    return ensure("mtcnn", sources, _mtcnn_graphs(), on_export)


def facenet_graph(spec: ModelSpec, half: bool = False, on_export: Callable[[str], None] | None = None) -> Path:
    """The embedding graph for verified weights (weights.verify raises if they are not)."""
    weights.verify(spec)
    pin = weights.recorded_sha(spec)
    graph = _facenet_graph(spec, half)
    return ensure(spec.name + ("-fp16" if half else ""), {"weights": pin}, [graph], on_export)[graph.name]


def export_all(spec: ModelSpec, on_export: Callable[[str], None] | None = None) -> list[Path]:
    """What `proctor models fetch` runs: every graph the CPU backend needs."""
    return [*mtcnn_graphs(on_export).values(), facenet_graph(spec, on_export=on_export)]

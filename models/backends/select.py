"""Which backend runs here: `auto` resolved for the device, a named one checked, then built."""

from __future__ import annotations

import importlib.util

import torch

from ..weights import ModelSpec
from . import CHOICES, Backend, BackendError


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


def check_name(name: str | None) -> str:
    """The normalised choice, or BackendError naming it: no device or weights needed."""
    choice = (name or "auto").strip().lower()
    if choice not in CHOICES:
        raise BackendError(f"unknown backend {name!r} (use {', '.join(CHOICES)})")
    return choice


def resolve(name: str | None, device: torch.device) -> str:
    """`auto` (or nothing) → the fastest available; a named one is checked, never silently swapped."""
    choice = check_name(name)
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

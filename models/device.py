"""Device choice: CUDA when present, else CPU; `PROCTOR_DEVICE` overrides."""

from __future__ import annotations

import os

import torch


class DeviceError(ValueError):
    """The requested device cannot be used on this machine."""


def pick_device(override: str | None = None) -> torch.device:
    name = override or os.environ.get("PROCTOR_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {name!r} (use cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {name!r} requested but CUDA is not available here")
    if device.type not in ("cpu", "cuda"):
        raise DeviceError(f"device {name!r} is not supported (use cpu, cuda or cuda:N)")
    return device

"""Where proctor keeps fetched assets (weights, datasets): outside the repo, per user."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def proctor_home() -> Path:
    """`PROCTOR_HOME` if set, else the per-user data directory (e.g. ~/.local/share/proctor)."""
    env = os.environ.get("PROCTOR_HOME")
    root = Path(env).expanduser() if env else Path(platformdirs.user_data_dir("proctor"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path:
    path = proctor_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def datasets_dir() -> Path:
    path = proctor_home() / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path

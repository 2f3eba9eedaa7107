"""CLI commands for the server side (serve, students): filled in by the live-session work."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    del sub

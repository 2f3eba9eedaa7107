"""`proctor bench streams`: loopback aiortc clients against a live server."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    del sub

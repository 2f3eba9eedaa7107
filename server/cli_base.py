"""Shared pieces of the CLI: the one-line error contract, JSON output, progress policy."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import NoReturn


class CliError(Exception):
    """Bad input or a refused operation: one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints usage plus the error; our contract is one line.
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


Handler = Callable[[argparse.Namespace], int]


def emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only for a person at a terminal, never with --json."""
    return not getattr(args, "json", False) and sys.stderr.isatty()



"""The `proctor` command: parse (server/cli/parser.py), then load and run the one handler asked for.

Error contract: bad input prints one line on stderr and exits 2; an unexpected failure prints one
line and exits 1. No traceback reaches the user (set PROCTOR_DEBUG=1 to see one). Which errors
are the user's is each handler module's `USER_ERRORS`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from .base import CliError, Handler
from .parser import build_parser

ALWAYS_USER_ERRORS: tuple[type[BaseException], ...] = (CliError, FileNotFoundError, PermissionError,
                                                       IsADirectoryError)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, _, function = str(args.handler).partition(":")
    user_errors = ALWAYS_USER_ERRORS
    try:
        module = importlib.import_module(module_name)  # only the command that runs pays for its imports
        handler: Handler = getattr(module, function)
        user_errors += tuple(getattr(module, "USER_ERRORS", ()))
        return handler(args)
    except KeyboardInterrupt:
        print("proctor: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("PROCTOR_DEBUG"):
            raise
        message = str(exc).replace("\n", " ").strip() or exc.__class__.__name__
        if isinstance(exc, user_errors):
            print(f"proctor: error: {message}", file=sys.stderr)
            return 2
        print(f"proctor: internal error: {exc.__class__.__name__}: {message}", file=sys.stderr)
        return 1

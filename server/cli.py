"""The `proctor` command: one entry point, subcommands registered by the modules that own them.

Error contract: bad input prints one line on stderr and exits 2; an unexpected failure prints one
line and exits 1. No traceback reaches the user (set PROCTOR_DEBUG=1 to see one).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from .cli_base import CliError, Handler, Parser


def build_parser() -> Parser:
    from . import cli_admin, cli_faces, cli_serve, cli_worker

    parser = Parser(prog="proctor", description="Real-time proctoring: verified learning time.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    cli_faces.register(sub)
    cli_serve.register(sub)
    cli_admin.register(sub)
    cli_worker.register(sub)
    return parser


def _known_errors() -> tuple[type[BaseException], ...]:
    from models.device import DeviceError
    from models.enroll import EnrollmentError
    from models.images import ImageError
    from models.weights import WeightsError

    return (CliError, ImageError, WeightsError, DeviceError, EnrollmentError, FileNotFoundError,
            PermissionError, IsADirectoryError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("proctor: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("PROCTOR_DEBUG"):
            raise
        message = str(exc).replace("\n", " ").strip() or exc.__class__.__name__
        if isinstance(exc, _known_errors()):
            print(f"proctor: error: {message}", file=sys.stderr)
            return 2
        print(f"proctor: internal error: {exc.__class__.__name__}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

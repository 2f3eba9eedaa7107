"""`python -m server.cli …` runs the `proctor` command (tests and benchmarks start workers this way)."""

from .main import main

raise SystemExit(main())

"""The ``cdnpanel`` command: one module per command group.

``run`` is the console script: Ctrl-C at any moment, start-up included, ends the command with
status 130 and no traceback. ``main`` is the click group (imported on first use).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["main", "run"]


def run() -> None:
    try:
        from cdnpanel.cli._root import main

        main()
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)


def __getattr__(name: str) -> Any:
    if name == "main":
        from cdnpanel.cli._root import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

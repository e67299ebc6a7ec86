"""The ``cdnpanel`` command: one module per command group."""

from __future__ import annotations

from cdnpanel.cli._root import main

__all__ = ["main"]

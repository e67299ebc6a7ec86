"""Command namespaces, written once for both clients: ``client.video.getapps()``.

Each method returns whatever the client's ``call`` returns: the answer dict for ``Client``,
an awaitable of it for ``AsyncClient``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Namespaces", "VideoCommands"]

R = TypeVar("R")
Call = Callable[[str, dict[str, Any]], R]


class _Commands(Generic[R]):
    def __init__(self, call: Call[R]) -> None:
        self._call = call


class VideoCommands(_Commands[R]):
    def getapps(self) -> R:
        """The account's applications: ``data`` is a list of ``{id, name}``."""
        return self._call("video.getapps", {})


class Namespaces(Generic[R]):
    """Mixin giving a client one attribute per command family."""

    video: VideoCommands[R]

    def _bind_namespaces(self, call: Call[R]) -> None:
        self.video = VideoCommands(call)

"""Parameter shapes shared by several commands."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictInt, StrictStr

__all__ = ["AppRefs"]


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


AppRef = (
    Annotated[StrictInt, Field(gt=0)] | Annotated[StrictStr, Field(min_length=1, max_length=100)]
)

AppRefs = Annotated[
    list[AppRef],
    BeforeValidator(_as_list),
    Field(min_length=1, max_length=500),
]
"""``app`` as an id, a list of ids, a name or a list of names (seed 000)."""

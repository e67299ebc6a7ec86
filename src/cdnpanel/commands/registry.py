"""The command registry: each command declared once, with its parameter model and handler.

Commands live in one module per family (``video.py``, ...), each exporting ``COMMANDS``;
``wiring.build_registry`` gathers them. The docs, the SDK and the CLI are checked against the
registry by tests, so a command cannot ship undocumented or unreachable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from cdnpanel.errors import InvalidParameter, MissingFields, UnknownCommand

if TYPE_CHECKING:
    from cdnpanel.services.authentication import Caller
    from cdnpanel.store.database import PendingWrite
    from cdnpanel.wiring import Services

__all__ = ["Answer", "Command", "CommandContext", "Params", "Registry", "command"]


class Params(BaseModel):
    """Base of every parameter model: unknown parameters are refused, by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=Params)


class Answer(NamedTuple):
    """A command's result: the success ``message`` and the members the seed page shows."""

    message: str
    members: Mapping[str, Any] = MappingProxyType({})
    write: PendingWrite | None = None
    """A store write the answer stands on: the endpoint commits it, grouped with other
    requests' writes in one transaction, and answers only once it has committed."""


class CommandContext(NamedTuple):
    caller: Caller
    services: Services


Handler = Callable[[CommandContext, P], Answer]


@dataclass(frozen=True, slots=True)
class Command(Generic[P]):
    name: str
    params: type[P]
    handler: Handler[P]
    summary: str
    # True when the handler waits on the network (a media server): it then runs in a worker
    # thread, never on the event loop, whatever the store.
    blocking_io: bool = False
    # True when the handler only reads: anything it changes it returns as Answer.write, which
    # the endpoint commits once the request is admitted. Such a command runs in the same step as
    # the signature check, before its request's replay claim commits (a replay's answer is
    # thrown away); any other command runs only after the claim.
    pure: bool = False
    # The parameters of a call that sends none, validated once (frozen, so shareable); None
    # when the command requires some.
    _no_params: P | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pure and self.blocking_io:
            raise ValueError(f"{self.name}: a command that waits on the network is not pure")
        with suppress(ValidationError):
            object.__setattr__(self, "_no_params", self.params.model_validate({}))

    def run(self, context: CommandContext, raw_params: Mapping[str, Any]) -> Answer:
        return self.handler(context, self.validate(raw_params))

    @property
    def parameter_names(self) -> list[str]:
        """The names clients send (``pass``, where Python calls the field ``password``)."""
        return [field.alias or name for name, field in self.params.model_fields.items()]

    def validate(self, raw_params: Mapping[str, Any]) -> P:
        if not raw_params and self._no_params is not None:
            return self._no_params
        try:
            return self.params.model_validate(raw_params)
        except ValidationError as exc:
            raise _parameter_error(self, exc) from None


def command(
    name: str, *, params: type[P], summary: str, blocking_io: bool = False, pure: bool = False
) -> Callable[[Handler[P]], Command[P]]:
    """Declare a handler as the command ``name``."""

    def declare(handler: Handler[P]) -> Command[P]:
        return Command(
            name=name,
            params=params,
            handler=handler,
            summary=summary,
            blocking_io=blocking_io,
            pure=pure,
        )

    return declare


class Registry:
    def __init__(self, commands: Iterable[Command[Any]]) -> None:
        self._commands: dict[str, Command[Any]] = {}
        for cmd in commands:
            if cmd.name in self._commands:
                raise ValueError(f"command {cmd.name} declared twice")
            self._commands[cmd.name] = cmd

    def __iter__(self) -> Any:
        return iter(sorted(self._commands.values(), key=lambda c: c.name))

    def names(self) -> list[str]:
        return sorted(self._commands)

    def get(self, name: str) -> Command[Any]:
        try:
            return self._commands[name]
        except KeyError:
            raise UnknownCommand(name, self.names()) from None


def _parameter_error(cmd: Command[Any], exc: ValidationError) -> Exception:
    errors = exc.errors(include_url=False, include_input=False)
    missing = [_param_name(e["loc"]) for e in errors if e["type"] == "missing"]
    if missing:
        return MissingFields(missing)
    first = errors[0]
    param = _param_name(first["loc"])
    if first["type"] == "extra_forbidden":
        accepted = ", ".join(cmd.parameter_names) or "no parameters"
        return InvalidParameter(param, f"{cmd.name} does not take it (it takes: {accepted})")
    return InvalidParameter(param, first["msg"])


def _param_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) if loc else "(parameters)"

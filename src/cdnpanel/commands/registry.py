"""The command registry: each command declared once, with its parameter model and handler.

Commands live in one module per family (``video.py``, ...), each exporting ``COMMANDS``;
``wiring.build_registry`` gathers them. The docs, the SDK and the CLI are checked against the
registry by tests, so a command cannot ship undocumented or unreachable.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from types import MappingProxyType, UnionType
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Generic,
    NamedTuple,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
)

import anyio
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from cdnpanel.errors import InvalidParameter, MissingFields, UnknownCommand

if TYPE_CHECKING:
    from cdnpanel.services.applications import ApplicationService
    from cdnpanel.services.authentication import Caller
    from cdnpanel.services.charges import ChargeService
    from cdnpanel.services.history import HistoryService
    from cdnpanel.services.stream_users import StreamUserService
    from cdnpanel.services.streams import StreamRegistry
    from cdnpanel.services.tickets import TicketService
    from cdnpanel.services.usage import UsageService
    from cdnpanel.services.viewers import ViewerService
    from cdnpanel.store.database import StoreRun

__all__ = [
    "Answer",
    "Command",
    "CommandContext",
    "CommandServices",
    "Params",
    "Registry",
    "command",
]


class Params(BaseModel):
    """Base of every parameter model: unknown parameters are refused, by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=Params)


class Answer(NamedTuple):
    """A command's result: the success ``message`` and the members the seed page shows."""

    message: str
    members: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CommandServices:
    """The domain services behind the seed's commands: never the store, the settings, the HTTP
    client or the adapters underneath (``wiring`` builds it). Each command is given only the
    ones it declares (``uses``): see ``only``."""

    applications: ApplicationService
    charges: ChargeService
    history: HistoryService
    streams: StreamRegistry
    stream_users: StreamUserService
    tickets: TicketService
    usage: UsageService
    viewers: ViewerService

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(cls))

    def only(self, command: Command[Any]) -> CommandServices:
        """These services as ``command`` is given them: the ones it declared, and in place of
        each other one a stand-in that refuses every use, naming the command."""
        return dataclasses.replace(
            self,
            **{
                name: cast(Any, _Undeclared(command.name, name))
                for name in self.names() - command.uses
            },
        )


class _Undeclared:
    """A service a command did not declare: using it is a bug in the command, found by its
    first test (``tests/commands/test_registry.py`` also reads every handler for uses)."""

    __slots__ = ("_command", "_service")

    def __init__(self, command: str, service: str) -> None:
        self._command = command
        self._service = service

    def __getattr__(self, attribute: str) -> Any:
        raise RuntimeError(
            f"{self._command} uses the {self._service} service without declaring it "
            f"(add it to uses= in its @command)"
        )


class CommandContext(NamedTuple):
    caller: Caller
    services: CommandServices


Handler = Callable[[CommandContext, P], Answer | Awaitable[Answer]]
"""A command's handler: a function, or a coroutine function for a command that awaits its
services (which make their writes with the other requests' of the moment)."""


@dataclass(frozen=True, slots=True)
class Command(Generic[P]):
    name: str
    params: type[P]
    handler: Handler[P]
    summary: str
    # The services the handler uses (names of ``CommandServices`` fields): it is given those
    # and no others.
    uses: frozenset[str]
    # True when the handler waits on the network (a media server): it then runs in a worker
    # thread, never on the event loop, whatever the store.
    blocking_io: bool = False
    # True when the command only reads (changes nothing): it runs in the same step as the
    # signature check, and every copy of its request is answered afresh (no replay claim,
    # unless replays are strict). Any other command changes something: it runs only after its
    # request's claim, once, and copies of the request get its first answer.
    reads: bool = False
    # The parameters of a call that sends none, validated once (frozen, so shareable); None
    # when the command requires some.
    _no_params: P | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.reads and (self.blocking_io or self.awaits):
            raise ValueError(f"{self.name}: a read runs in place, without waiting")
        unknown = self.uses - CommandServices.names()
        if unknown:
            known = ", ".join(sorted(CommandServices.names()))
            raise ValueError(f"{self.name}: no service {', '.join(sorted(unknown))} ({known})")
        with suppress(ValidationError):
            object.__setattr__(self, "_no_params", self.params.model_validate({}))

    @property
    def awaits(self) -> bool:
        """True for a coroutine handler."""
        return inspect.iscoroutinefunction(self.handler)

    def read(self, context: CommandContext, raw_params: Mapping[str, Any]) -> Answer:
        """A read's answer, in place (the caller runs it where store work runs)."""
        assert self.reads
        return cast(Answer, self.handler(context, self.validate(raw_params)))

    async def carry_out(
        self, context: CommandContext, raw_params: Mapping[str, Any], *, run: StoreRun
    ) -> Answer:
        """Any command's answer: a coroutine handler awaited, one that waits on the network in
        a worker thread, any other through ``run`` (``Database.run``)."""
        params = self.validate(raw_params)
        if self.awaits:
            return await cast(Awaitable[Answer], self.handler(context, params))
        if self.blocking_io:
            return cast(Answer, await anyio.to_thread.run_sync(self.handler, context, params))
        answer: Answer = await run(lambda: self.handler(context, params))
        return answer

    @property
    def parameter_names(self) -> list[str]:
        """The names clients send (``pass``, where Python calls the field ``password``)."""
        return [field.alias or name for name, field in self.params.model_fields.items()]

    def validate(self, raw_params: Mapping[str, Any]) -> P:
        if not raw_params and self._no_params is not None:
            return self._no_params
        _refuse_nul(raw_params)
        try:
            return self.params.model_validate(raw_params)
        except ValidationError as exc:
            raise _parameter_error(self, exc) from None


def _refuse_nul(raw_params: Mapping[str, Any]) -> None:
    """No text a client sends may hold a NUL character: PostgreSQL's text cannot, and no name,
    key, pattern or password of cdnpanel's has one."""
    for name, value in raw_params.items():
        values = value if isinstance(value, list) else (value,)
        for index, one in enumerate(values):
            if isinstance(one, str) and "\x00" in one:
                where = f"{name}[{index}]" if isinstance(value, list) else str(name)
                raise InvalidParameter(where, "must not contain control characters such as NUL")


def command(
    name: str,
    *,
    params: type[P],
    summary: str,
    uses: Iterable[str],
    blocking_io: bool = False,
    reads: bool = False,
) -> Callable[[Handler[P]], Command[P]]:
    """Declare a handler as the command ``name``, given the services ``uses`` names."""

    def declare(handler: Handler[P]) -> Command[P]:
        return Command(
            name=name,
            params=params,
            handler=handler,
            summary=summary,
            uses=frozenset(uses),
            blocking_io=blocking_io,
            reads=reads,
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

    def given(self, services: CommandServices) -> Mapping[str, CommandServices]:
        """What each command is given, by name: built once, when a server starts."""
        return MappingProxyType({cmd.name: services.only(cmd) for cmd in self._commands.values()})


def _parameter_error(cmd: Command[Any], exc: ValidationError) -> Exception:
    """The first failing parameter, in the client's own names (``app``, ``app[2]``) and with
    what the parameter accepts: never pydantic's internal names for the branches of a type."""
    errors = exc.errors(include_url=False, include_input=False)
    missing = [_param_name(e["loc"]) for e in errors if e["type"] == "missing"]
    if missing:
        return MissingFields(missing)
    first = errors[0]
    param = _param_name(first["loc"])
    if first["type"] == "extra_forbidden":
        known = ", ".join(cmd.parameter_names) or "no parameters"
        return InvalidParameter(param, f"{cmd.name} does not take it (it takes: {known})")
    # A parameter of several shapes (an id or a name; one name or a list) fails once per shape:
    # a shape whose type matched says what is wrong with the value; if none matched, the
    # parameter's description says what it takes.
    about_value = [
        e
        for e in errors
        if e["loc"][:1] == first["loc"][:1] and not e["type"].endswith(("_type", "_parsing"))
    ]
    accepted = _accepted(cmd, first["loc"])
    takes = f"{cmd.name} takes {accepted}" if accepted else None
    if about_value:
        problem = _sentence(about_value[0]["msg"])
        return InvalidParameter(
            _param_name(about_value[0]["loc"]), f"{problem} ({takes})" if takes else problem
        )
    return InvalidParameter(param, takes or _sentence(first["msg"]))


def _accepted(cmd: Command[Any], loc: tuple[int | str, ...]) -> str | None:
    """What the parameter at ``loc`` takes, from the descriptions its type declares."""
    by_alias = {(f.alias or name): f for name, f in cmd.params.model_fields.items()}
    field_info = by_alias.get(str(loc[0])) if loc else None
    if field_info is None:
        return None
    return field_info.description or _describe(field_info.annotation)


def _describe(annotation: Any) -> str | None:
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        for meta in metadata:
            if isinstance(meta, FieldInfo) and meta.description:
                return meta.description
        return _describe(inner)
    if origin in (Union, UnionType):
        parts = [_describe(arg) for arg in get_args(annotation) if arg is not type(None)]
        return " or ".join(p for p in parts if p) if all(parts) else None
    return None


def _param_name(loc: tuple[int | str, ...]) -> str:
    """``('app', 2, 'constrained-int')`` as the client wrote it: ``app[2]``. What follows the
    parameter's name is list indexes and pydantic's names for the branches of a type (no
    parameter is an object)."""
    if not loc:
        return "(parameters)"
    return str(loc[0]) + "".join(f"[{part}]" for part in loc[1:] if isinstance(part, int))


def _sentence(message: str) -> str:
    """pydantic's "Value error, must not ..." as "must not ...": the client needs no prefix."""
    return message.removeprefix("Value error, ")

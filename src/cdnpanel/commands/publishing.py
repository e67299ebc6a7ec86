"""The stream user commands (``sevu.addstreamuser`` ...): who may publish which streams.

ScaleEngine files them under ``sevu``; their parameters are those of its documentation pages
(research: scaleengine-protocol.md section 2.2). The answers are cdnpanel's own (the pages show
none): each stream user as ``streamuser_id``, ``app``, ``stream``, ``user`` and the stream's
settings, never its password (docs/commands/sevu.addstreamuser.md).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictInt, StrictStr

from cdnpanel.commands.params import MAX_ID, AppRef, Flag, WholeNumber, printable
from cdnpanel.commands.registry import Answer, CommandContext, Params, command
from cdnpanel.errors import MissingFields
from cdnpanel.records import Application, StreamSettings, StreamUser
from cdnpanel.services.applications import ApplicationService
from cdnpanel.services.stream_users import ANY_STREAM, StreamUserService

__all__ = ["COMMANDS"]


def _stream_name(value: str) -> str:
    if value == ANY_STREAM:
        return value
    if not value.isprintable() or any(c in value for c in "/?&# "):
        raise ValueError("a stream name has no '/', '?', '&', '#', spaces or control characters")
    return value


def _folder(value: str) -> str:
    parts = value.replace("\\", "/").split("/")
    if value.startswith("/") or ".." in parts or not value.isprintable():
        raise ValueError("a folder inside the recordings folder, e.g. shows/2026 (no '..')")
    return value


StreamName = Annotated[
    StrictStr,
    Field(min_length=1, max_length=100, description="a stream name, or * for every stream"),
    AfterValidator(_stream_name),
]
UserName = Annotated[
    StrictStr,
    Field(min_length=1, max_length=100, description="a user name of 1 to 100 characters"),
    AfterValidator(printable),
]
Password = Annotated[
    StrictStr,
    Field(min_length=1, max_length=256, description="a password of 8 to 256 characters"),
]
Short = Annotated[StrictStr, Field(max_length=32), AfterValidator(printable)]
Record = Annotated[Flag, AfterValidator(bool)]
"""``record``: the switch of ``Flag`` (1/0, "1"/"0", true/false), kept as a bool."""
SegmentValue = Annotated[
    Annotated[StrictInt, Field(ge=0, le=MAX_ID)]
    | Annotated[StrictStr, Field(max_length=100), AfterValidator(printable)],
    Field(description="MB (size), minutes (duration) or a cron schedule (schedule)"),
]
Folder = Annotated[StrictStr, Field(max_length=255), AfterValidator(_folder)]
GaKey = Annotated[StrictStr, Field(max_length=64), AfterValidator(printable)]


class SettingsParams(Params):
    record: Record = False
    record_type: Short | None = None
    segment_type: Literal["size", "schedule", "duration"] | None = None
    segment_value: SegmentValue | None = None
    save_folder: Folder | None = None
    ga_key: GaKey | None = None

    def settings(self) -> StreamSettings:
        value = self.segment_value
        return StreamSettings(
            record=bool(self.record),
            record_type=self.record_type,
            segment_type=self.segment_type,
            segment_value=None if value is None else str(value),
            save_folder=self.save_folder,
            ga_key=self.ga_key,
        )


class AddParams(SettingsParams):
    app: AppRef
    stream: StreamName
    # Both required, both may be null: no credentials asked for the stream (its settings kept).
    user: UserName | None
    password: Annotated[Password | None, Field(alias="pass")]


@command(
    "sevu.addstreamuser",
    params=AddParams,
    summary="Let an encoder publish a stream (or every stream, *) with a user and password.",
    uses=("applications", "stream_users"),
)
def addstreamuser(context: CommandContext, params: AddParams) -> Answer:
    services = context.services
    (app,) = services.applications.resolve(context.caller.account_id, [params.app])
    added = services.stream_users.add(
        app,
        stream=params.stream,
        user=params.user,
        password=params.password,
        settings=params.settings(),
    )
    return Answer("Stream user added", {"streamuser": _fields(added, app.name)})


class PickParams(Params):
    """One stream user: by ``streamuser_id``, or by ``app`` + ``stream`` + ``user``."""

    streamuser_id: WholeNumber | None = None
    app: AppRef | None = None
    stream: StreamName | None = None
    user: UserName | None = None


def _pick(
    applications: ApplicationService,
    stream_users: StreamUserService,
    account_id: int,
    params: PickParams,
) -> tuple[StreamUser, Application]:
    if params.streamuser_id is not None:
        found = stream_users.get(account_id, params.streamuser_id)
        (app,) = applications.resolve(account_id, [found.application_id])
        return found, app
    if params.app is None or params.stream is None:
        missing = [n for n in ("app", "stream") if getattr(params, n) is None]
        raise MissingFields([*missing, "(or streamuser_id)"])
    (app,) = applications.resolve(account_id, [params.app])
    return stream_users.find(app, params.stream, params.user), app


@command(
    "sevu.removestreamuser",
    params=PickParams,
    summary="Remove a stream user: its live publishers are dropped and refused from then on.",
    uses=("applications", "stream_users", "streams"),
    blocking_io=True,  # it drops the publishers it admitted on their origins
)
def removestreamuser(context: CommandContext, params: PickParams) -> Answer:
    services = context.services
    user, app = _pick(
        services.applications, services.stream_users, context.caller.account_id, params
    )
    services.stream_users.remove(user)  # first: a reconnect after the drop is refused
    dropped = services.streams.drop_admitted_by(user.id)
    return Answer(
        "Stream user removed",
        {"streamuser": _fields(user, app.name), "publishers_dropped": dropped},
    )


@command(
    "sevu.retrievestreamuser",
    params=PickParams,
    summary="A stream user's stream settings and the URL its encoder publishes to.",
    uses=("applications", "stream_users"),
    reads=True,
)
def retrievestreamuser(context: CommandContext, params: PickParams) -> Answer:
    services = context.services
    user, app = _pick(
        services.applications, services.stream_users, context.caller.account_id, params
    )
    fields = _fields(user, app.name)
    fields.update(services.stream_users.publish_urls(user, app))
    return Answer("Stream user found", fields)


class ListParams(Params):
    app: AppRef | None = None
    stream: StreamName | None = None


@command(
    "sevu.liststreamusers",
    params=ListParams,
    summary="The account's stream users, optionally of one application and stream.",
    uses=("applications", "stream_users"),
    reads=True,
)
def liststreamusers(context: CommandContext, params: ListParams) -> Answer:
    services = context.services
    account_id = context.caller.account_id
    apps = services.applications.list_for_account(account_id)
    if params.app is not None:
        apps = services.applications.resolve(account_id, [params.app])
    names = {a.id: a.name for a in apps}
    users = services.stream_users.list_for_account(
        account_id, apps=None if params.app is None else apps, stream=params.stream
    )
    data = [_fields(u, names.get(u.application_id, "")) for u in users]
    return Answer("Found Stream Users" if data else "No Stream Users Found", {"data": data})


class UpdateStreamParams(Params):
    stream_id: WholeNumber
    record: Record | None = None
    record_type: Short | None = None
    segment_type: Literal["size", "schedule", "duration"] | None = None
    segment_value: SegmentValue | None = None
    save_folder: Folder | None = None
    ga_key: GaKey | None = None
    locked: Flag | None = None  # cdnpanel's: 0 lifts a stream.close lock, 1 sets one


_SETTINGS = tuple(f.name for f in dataclasses.fields(StreamSettings))


@command(
    "sevu.updatestream",
    params=UpdateStreamParams,
    summary="Change a stream's settings (those given), or lift the lock of a locked stream.",
    uses=("applications", "stream_users", "streams"),
)
def updatestream(context: CommandContext, params: UpdateStreamParams) -> Answer:
    services = context.services
    account_id = context.caller.account_id
    stream = services.streams.get_for_account(account_id, params.stream_id)
    (app,) = services.applications.resolve(account_id, [stream.application_id])
    changes = {
        name: str(value) if name == "segment_value" and value is not None else value
        for name in _SETTINGS
        if name in params.model_fields_set
        for value in [getattr(params, name)]
    }
    if changes.get("record") is None:
        changes.pop("record", None)  # a switch: null leaves it as it is
    users = services.stream_users.update_stream(app, stream.name, changes)
    if params.locked == 1:
        services.stream_users.lock(app, stream.name)
    elif params.locked == 0:
        services.stream_users.unlock(app, stream.name)
    locked_at = services.stream_users.locked_at(app, stream.name)
    return Answer(
        "Stream updated",
        {
            "stream_id": stream.id,
            "app": app.name,
            "stream": stream.name,
            "locked": locked_at is not None,
            "streamusers": [_fields(u, app.name) for u in users],
        },
    )


def _fields(user: StreamUser, app_name: str) -> dict[str, Any]:
    return {
        "streamuser_id": user.id,
        "app": app_name,
        "stream": user.stream,
        "user": user.user,
        "authentication": user.user is not None,
        **dataclasses.asdict(user.settings),  # record, record_type, segment_type, ...
        "created_date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(user.created_at)),
    }


COMMANDS = (addstreamuser, removestreamuser, retrievestreamuser, liststreamusers, updatestream)

"""The one table that maps cdnpanel's errors to wire codes, and the HTTP statuses that differ
from their code's (``Code.http_status``)."""

from __future__ import annotations

from cdnpanel import errors
from cdnpanel.protocol import codes
from cdnpanel.protocol.codes import Code

__all__ = ["code_for", "http_status_for"]

_CODE_FOR_ERROR: dict[type[BaseException], Code] = {
    errors.MalformedRequest: codes.MALFORMED_REQUEST,
    errors.BodyTooLarge: codes.BODY_TOO_LARGE,
    errors.MethodNotAllowed: codes.METHOD_NOT_ALLOWED,
    errors.TimestampOutOfRange: codes.TIMESTAMP_OUT_OF_RANGE,
    errors.MalformedSignature: codes.MALFORMED_SIGNATURE,
    errors.AuthenticationFailed: codes.AUTHORIZATION_FAILED,
    errors.ReplayedRequest: codes.REPLAYED_REQUEST,
    errors.UnknownCommand: codes.UNRECOGNIZED_COMMAND,
    errors.MissingFields: codes.REQUIRED_FIELDS_MISSING,
    errors.InvalidParameter: codes.INVALID_PARAMETER,
    errors.NotFound: codes.NOT_FOUND,
    errors.Conflict: codes.CONFLICT,
    errors.PermissionDenied: codes.UNAUTHORIZED_ACCESS,
    errors.StoreUnavailable: codes.SERVICE_UNAVAILABLE,
    errors.OriginUnavailable: codes.ORIGIN_UNAVAILABLE,
}


# The same code, another HTTP status: a path with no API is malformed (0007) and not found.
_STATUS_FOR_ERROR: dict[type[BaseException], int] = {errors.NoApiHere: 404}


def http_status_for(error: BaseException, code: Code) -> int:
    """The HTTP status of an error's answer: its code's, unless the error's class differs."""
    return _STATUS_FOR_ERROR.get(type(error), code.http_status)


def code_for(error: BaseException) -> Code:
    """The wire code for an error: its nearest mapped class, else ``0004`` unexpected."""
    for cls in type(error).__mro__:
        code = _CODE_FOR_ERROR.get(cls)
        if code is not None:
            return code
    return codes.UNEXPECTED_ERROR

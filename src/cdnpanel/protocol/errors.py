"""The one table that maps cdnpanel's errors to wire codes."""

from __future__ import annotations

from cdnpanel import errors
from cdnpanel.protocol import codes
from cdnpanel.protocol.codes import Code

__all__ = ["code_for"]

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


def code_for(error: BaseException) -> Code:
    """The wire code for an error: its nearest mapped class, else ``0004`` unexpected."""
    for cls in type(error).__mro__:
        code = _CODE_FOR_ERROR.get(cls)
        if code is not None:
            return code
    return codes.UNEXPECTED_ERROR

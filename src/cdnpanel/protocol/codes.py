"""The table of response codes: the one place a wire ``code`` is defined.

Codes ``0000`` to ``0006`` come from ScaleEngine's published response-code page; ``2050``/``2051``
from the ``sevu.errorcount`` page. The rest are cdnpanel's own. ``docs/codes.md`` is checked
against this table by a test, so a new code cannot land undocumented.

``http_status`` is 200 for everything a client should read as a command answer (real
ScaleEngine clients treat any non-2xx status as a dead network); only transport-level refusals
use another status.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CODES", "Code"]


@dataclass(frozen=True, slots=True)
class Code:
    """One row of the table; ``title`` is the short text the docs show, errors carry detail."""

    code: str
    name: str
    title: str
    http_status: int = 200


UNRECOGNIZED_COMMAND = Code("0000", "unrecognized_command", "Unrecognized API Command")
AUTHORIZATION_FAILED = Code(
    "0001", "authorization_failed", "CDN Authorization failed: invalid API key, CDN id or signature"
)
TIMESTAMP_OUT_OF_RANGE = Code(
    "0002",
    "timestamp_out_of_range",
    "Timestamp outside valid range. Make sure your timestamp is in UTC not local time",
)
MALFORMED_SIGNATURE = Code(
    "0003", "malformed_signature", "Failed HMAC-SHA256 Signature: not a base64 HMAC-SHA256"
)
UNEXPECTED_ERROR = Code("0004", "unexpected_error", "cdnpanel encountered an unexpected error", 500)
UNAUTHORIZED_ACCESS = Code("0005", "unauthorized_access", "Unauthorized Access to API")
REQUIRED_FIELDS_MISSING = Code(
    "0006", "required_fields_missing", "One or more required fields are missing"
)
MALFORMED_REQUEST = Code("0007", "malformed_request", "Malformed request")
INVALID_PARAMETER = Code("0008", "invalid_parameter", "Invalid parameter")
REPLAYED_REQUEST = Code("0009", "replayed_request", "Request already processed (replay)")
NOT_FOUND = Code("0010", "not_found", "Not found in this account")
METHOD_NOT_ALLOWED = Code("0011", "method_not_allowed", "The API takes POST requests only", 405)
BODY_TOO_LARGE = Code("0012", "body_too_large", "Request body too large", 413)
SERVICE_UNAVAILABLE = Code(
    "0013", "service_unavailable", "Store busy or unreachable; nothing changed", 503
)
CONFLICT = Code("0014", "conflict", "Conflicts with existing data")
ORIGIN_UNAVAILABLE = Code(
    "0015", "origin_unavailable", "The origin (media server) did not answer; nothing changed"
)
SEVU_NO_FAILED_ATTEMPTS = Code(
    "2050",
    "sevu_no_failed_attempts",
    "ScaleEngine Virtual Usher no unsuccessful tickets attempts found",
)
SEVU_FAILED_ATTEMPTS = Code(
    "2051", "sevu_failed_attempts", "ScaleEngine Virtual Usher unsuccessful tickets attempts found"
)

CODES: tuple[Code, ...] = (
    UNRECOGNIZED_COMMAND,
    AUTHORIZATION_FAILED,
    TIMESTAMP_OUT_OF_RANGE,
    MALFORMED_SIGNATURE,
    UNEXPECTED_ERROR,
    UNAUTHORIZED_ACCESS,
    REQUIRED_FIELDS_MISSING,
    MALFORMED_REQUEST,
    INVALID_PARAMETER,
    REPLAYED_REQUEST,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    BODY_TOO_LARGE,
    SERVICE_UNAVAILABLE,
    CONFLICT,
    ORIGIN_UNAVAILABLE,
    SEVU_NO_FAILED_ATTEMPTS,
    SEVU_FAILED_ATTEMPTS,
)

"""Sans-I/O core shared by Client and AsyncClient: sign a command, read an answer."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Generator, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from cdnpanel.client._errors import TransportError, api_error
from cdnpanel.protocol.signing import attach_signature, encode_php_json, sign

__all__ = ["RetryPolicy", "Send", "SignedCommand", "Sleep", "exchange", "read_answer"]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class SignedCommand:
    """Builds request bodies exactly as ScaleEngine's PHP client does."""

    def __init__(self, *, cdn: int, api_key: str, secret: str, clock: Callable[[], float]) -> None:
        self.cdn = cdn
        self.api_key = api_key
        self._secret = secret
        self._clock = clock

    def __repr__(self) -> str:
        return f"SignedCommand(cdn={self.cdn}, api_key={self.api_key!r})"

    def body(self, command: str, params: Mapping[str, Any]) -> bytes:
        """The form body: json=<PHP-style JSON with the signature member last>."""
        members: dict[str, Any] = {
            "command": command,
            "api_key": self.api_key,
            "timestamp": int(self._clock()),
            "cdn": self.cdn,
            # Two identical commands in one second would otherwise sign alike, and the server
            # would refuse the second as a replay of the first.
            "nonce": secrets.token_hex(8),
        }
        members.update(params)
        signed_text = encode_php_json(members)
        wire = attach_signature(signed_text, sign(signed_text, self._secret))
        return urlencode({"json": wire}).encode("ascii")


def read_answer(status_code: int, content: bytes) -> dict[str, Any]:
    """The answer of a success envelope; raises the typed error of a failure."""
    try:
        answer = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise TransportError(
            f"HTTP {status_code}: the server did not answer JSON ({content[:80]!r})"
        ) from None
    if not isinstance(answer, dict) or "status" not in answer:
        raise TransportError(f"HTTP {status_code}: the answer is not a cdnpanel envelope")
    if answer["status"] != "success":
        raise api_error(answer)
    return answer


class RetryPolicy:
    """Bounded, jittered retries, only where a retry cannot repeat a side effect.

    A retry re-sends the same signed body, so the server would refuse it as a replay had the
    first attempt gone through; we still only retry when the request surely did not run:
    connection failures before sending, and 503 "store busy, nothing changed".
    """

    def __init__(
        self, max_retries: int = 2, *, base_delay: float = 0.25, max_delay: float = 2.0
    ) -> None:
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    @staticmethod
    def should_retry_status(status_code: int) -> bool:
        return status_code == 503


class Send:
    """Instruction from the exchange: post this body, send back the response or the error."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body


class Sleep:
    """Instruction from the exchange: wait this long, then send back None."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


Outcome = httpx.Response | httpx.HTTPError | None
Exchange = Generator[Send | Sleep, Outcome, dict[str, Any]]
# Errors raised before the request reached the server: retrying cannot repeat a command.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


def exchange(url: str, body: bytes, retry: RetryPolicy) -> Exchange:
    """The whole request policy as a generator; Client and AsyncClient only do the I/O."""
    for attempt in range(retry.max_retries + 1):
        last = attempt == retry.max_retries
        outcome = yield Send(body)
        if isinstance(outcome, httpx.Response):
            if last or not retry.should_retry_status(outcome.status_code):
                return read_answer(outcome.status_code, outcome.content)
        elif isinstance(outcome, _NOT_SENT):
            if last:
                raise TransportError(f"cannot reach {url}: {outcome}") from outcome
        else:
            raise TransportError(f"request to {url} failed: {outcome}") from outcome
        yield Sleep(retry.delay(attempt))
    raise AssertionError("unreachable: the last attempt always returns or raises")

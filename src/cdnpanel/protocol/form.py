"""Find the request's JSON text in a POST body, whichever way the client encoded it.

Real clients send one form field named ``json``: PHP curl and Ruby as multipart/form-data,
Perl LWP and Guzzle urlencoded. We also take a raw JSON body (``application/json``, or a JSON
object sent with curl's default urlencoded type, as ScaleEngine's own v2 samples do).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from python_multipart.multipart import MultipartParser, parse_options_header

from cdnpanel.errors import MalformedRequest

__all__ = ["MAX_FORM_FIELDS", "read_json_text", "read_urlencoded_form"]

MAX_FORM_FIELDS = 64
_FIELD = "json"
_LONE_FIELD_PREFIX = b"json="
_URLENCODED = "application/x-www-form-urlencoded"
_ACCEPTED = (
    "send the request JSON as a form field named 'json' (multipart/form-data or "
    "application/x-www-form-urlencoded), or as an application/json body"
)


def read_json_text(content_type: str | None, body: bytes) -> str:
    """The JSON text of the request, decoded as UTF-8; MalformedRequest says what is wrong."""
    if content_type == _URLENCODED and body.startswith(_LONE_FIELD_PREFIX):
        # What Perl, Guzzle and most scripts send, taken before the general header parsing.
        return _urlencoded_json_field(body)
    if not body.strip():
        raise MalformedRequest(f"Empty request body: {_ACCEPTED}")
    mime, params = parse_options_header(content_type or "")
    mime_type = mime.decode("latin-1").lower()
    if mime_type == "multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise MalformedRequest("multipart/form-data body without a boundary parameter")
        return _decode_utf8(_multipart_json_field(boundary, body), "the 'json' field")
    if _looks_like_json_object(body):
        return _decode_utf8(body, "the JSON body")
    if mime_type in (_URLENCODED, ""):
        return _urlencoded_json_field(body)
    raise MalformedRequest(f"Unsupported Content-Type {mime_type!r}: {_ACCEPTED}")


def _looks_like_json_object(body: bytes) -> bool:
    return body.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] == b"{"


def _decode_utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest(f"{what} is not valid UTF-8 (byte {exc.start})") from None


def read_urlencoded_form(body: bytes) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each name), strictly decoded."""
    form: dict[str, str] = {}
    for name, value in _urlencoded_pairs(body):
        form.setdefault(name, value)
    return form


def _urlencoded_json_field(body: bytes) -> str:
    single = _lone_json_field(body)
    if single is not None:
        return single
    values = [value for name, value in _urlencoded_pairs(body) if name == _FIELD]
    return _exactly_one(values)


def _lone_json_field(body: bytes) -> str | None:
    """The value of a body that is exactly one well-formed ``json=`` field, or None.

    The body every urlencoded client sends. ``parse_qsl`` decodes it in about 25 µs, its
    percent-decoding a Python loop over the escapes (a signed request has 30 to 100 of them);
    turned into ``\\xXX`` escapes it is decoded by a codec in C in about 4 µs. Anything else (other
    fields, raw non-ASCII bytes, a malformed escape, bytes that are not UTF-8) returns None and
    takes the general path, which decides exactly as before.
    """
    if not body.startswith(_LONE_FIELD_PREFIX) or b"&" in body or not body.isascii():
        return None
    escaped = body[len(_LONE_FIELD_PREFIX) :].replace(b"\\", b"\\\\")
    escaped = escaped.replace(b"%", b"\\x").replace(b"+", b" ")
    try:
        return escaped.decode("unicode_escape").encode("latin-1").decode("utf-8")
    except UnicodeError:  # '%' without two hex digits after it, or not UTF-8 once decoded
        return None


def _urlencoded_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedRequest(
            "urlencoded body holds raw non-ASCII bytes: percent-encode the form field"
        ) from None
    if not text:
        return []
    try:
        return parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
            separator="&",
        )
    except UnicodeDecodeError:
        raise MalformedRequest("the 'json' form field is not valid UTF-8 once decoded") from None
    except ValueError as exc:
        # parse_qsl quotes the whole field it could not read: a prefix is enough to act on.
        quoted = str(exc)[:80]
        raise MalformedRequest(f"unreadable urlencoded body ({quoted}): {_ACCEPTED}") from None


def _exactly_one(values: list[str]) -> str:
    if not values:
        raise MalformedRequest(f"No 'json' form field in the body: {_ACCEPTED}")
    if len(values) > 1:
        raise MalformedRequest("The body holds more than one 'json' form field: send exactly one")
    return values[0]


class _PartCollector:
    """Callbacks for MultipartParser that keep the value of each part named ``json``."""

    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.parts = 0
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._disposition: bytes | None = None
        self._data = bytearray()

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_FORM_FIELDS:
            raise MalformedRequest(f"multipart body with more than {MAX_FORM_FIELDS} parts")
        self._disposition = None
        self._data.clear()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self._header_field).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._data += data[start:end]

    def on_part_end(self) -> None:
        if self._disposition is None:
            raise MalformedRequest("multipart part without a Content-Disposition header")
        _, params = parse_options_header(self._disposition)
        if params.get(b"name") != _FIELD.encode():
            return
        if b"filename" in params:
            raise MalformedRequest("the 'json' part is a file upload: send it as a plain field")
        self.values.append(bytes(self._data))


def _multipart_json_field(boundary: bytes, body: bytes) -> bytes:
    collector = _PartCollector()
    callbacks = {
        "on_part_begin": collector.on_part_begin,
        "on_header_field": collector.on_header_field,
        "on_header_value": collector.on_header_value,
        "on_header_end": collector.on_header_end,
        "on_part_data": collector.on_part_data,
        "on_part_end": collector.on_part_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except MalformedRequest:
        raise
    except Exception as exc:  # the parser raises its own error types, and ValueError
        raise MalformedRequest(f"unreadable multipart body: {exc}") from None
    if not _ends_with_closing_boundary(body, boundary):
        raise MalformedRequest("multipart body is truncated: the closing boundary is missing")
    values = [v.decode("latin-1") for v in collector.values]
    return _exactly_one(values).encode("latin-1")


def _ends_with_closing_boundary(body: bytes, boundary: bytes) -> bool:
    return b"--" + boundary + b"--" in body[-(len(boundary) + 64) :]

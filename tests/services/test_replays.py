"""Sealed first answers: only the request's own text opens them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cdnpanel.services.replays import FirstAnswer, seal, unseal

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(
    text=st.text(),
    other=st.text(),
    status=st.integers(100, 599),
    body=st.dictionaries(st.text(), _json, max_size=6),
)
def test_an_answer_opens_with_its_requests_text_alone(
    text: str, other: str, status: int, body: dict[str, object]
) -> None:
    sealed = seal(text, FirstAnswer(status, body))
    assert unseal(text, sealed) == FirstAnswer(status, body)
    if other != text:
        assert unseal(other, sealed) is None


def test_what_is_kept_shows_nothing_of_the_answer() -> None:
    sealed = seal('{"pass":"s3cret-1234"}', FirstAnswer(200, {"ticket": {"pass": "s3cret-1234"}}))
    assert b"s3cret" not in sealed and b"ticket" not in sealed
    assert sealed != seal('{"pass":"s3cret-1234"}', FirstAnswer(200, {"ticket": {}}))

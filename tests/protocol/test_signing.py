from __future__ import annotations

import base64
import hashlib

import pytest

from cdnpanel.errors import MalformedSignature
from cdnpanel.protocol import signing
from cdnpanel.protocol.request import parse_request
from tests.client_styles import csharp_wire, envelope, perl_wire, php_wire, ruby_wire

SECRET = "8fc8c48da81e6a2a06a9556379bf798af508dc0792497c678b4c3532ba8b637f"
MEMBERS = envelope(
    "video.getapps",
    "APX4GKLM0RKQLSP2FBO1ROPKSSW47DZE",
    158,
    1_795_000_000,
    url="sestore3/user/path/é film.mp4",
    app=["demo-origin", 7],
)


def verifies(wire: str, secret: str = SECRET) -> bool:
    request = parse_request(wire)
    return signing.verify(request.signed_text_candidates(), secret, request.signature)


@pytest.mark.parametrize(
    "wire",
    [
        php_wire(MEMBERS, SECRET),
        perl_wire(MEMBERS, SECRET, seed=1),
        perl_wire(MEMBERS, SECRET, seed=2),
        ruby_wire(MEMBERS, SECRET),
        csharp_wire(MEMBERS, SECRET),
    ],
    ids=["php", "perl-order-1", "perl-order-2", "ruby", "csharp-sample"],
)
def test_every_known_client_style_verifies(wire: str) -> None:
    assert verifies(wire)


def test_php_wire_has_escaped_slashes_inside_the_signature() -> None:
    # Pick a secret whose signature contains '/', the case PHP escapes as '\/'.
    secret = next(
        f"s{i}"
        for i in range(1000)
        if "/" in signing.sign(signing.encode_php_json(MEMBERS), f"s{i}")
    )
    wire = php_wire(MEMBERS, secret)
    assert "\\/" in wire.split('"signature":')[1]
    assert verifies(wire, secret)


def test_signature_member_that_is_not_last_still_verifies() -> None:
    signed = signing.encode_php_json(MEMBERS)
    sig = signing.sign(signed, SECRET)
    first = '{"signature":"' + sig + '",' + signed[1:]
    assert verifies(first)


def test_wrong_secret_and_any_one_bit_change_fail() -> None:
    wire = php_wire(MEMBERS, SECRET)
    assert not verifies(wire, SECRET[:-1] + "0")
    tampered = wire.replace('"cdn":158', '"cdn":159')
    assert not verifies(tampered)
    flipped = wire.replace("video.getapps", "video.getappt")
    assert not verifies(flipped)


def test_sdk_attach_signature_matches_php() -> None:
    signed = signing.encode_php_json(MEMBERS)
    assert signing.attach_signature(signed, signing.sign(signed, SECRET)) == php_wire(
        MEMBERS, SECRET
    )
    assert signing.attach_signature("{}", "abc") == '{"signature":"abc"}'


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "non-empty"),
        (123, "non-empty"),
        ("ab" * 32, "looks like hex"),
        ("!!!!", "not standard base64"),
        ("-_-_" * 11, "not standard base64"),
        (base64.b64encode(b"x" * 20).decode(), "decodes to 20 bytes"),
    ],
)
def test_malformed_signatures_say_why(value: object, reason: str) -> None:
    with pytest.raises(MalformedSignature, match=reason):
        signing.decode_signature(value)


def test_signature_padding_and_mangled_plus_are_tolerated() -> None:
    digest = bytes(range(32))
    encoded = base64.b64encode(digest).decode()
    assert signing.decode_signature(encoded) == digest
    assert signing.decode_signature(encoded.rstrip("=")) == digest
    assert signing.decode_signature(encoded.replace("+", " ")) == digest


@pytest.mark.parametrize(
    "wire",
    [
        php_wire(MEMBERS, SECRET),
        perl_wire(MEMBERS, SECRET, seed=1),
        ruby_wire(MEMBERS, SECRET),
        csharp_wire(MEMBERS, SECRET),
        php_wire(MEMBERS, SECRET) + "\n",
        php_wire(MEMBERS, SECRET).replace(',"signature":', ', "signature" : '),
        '{"signature":"' + "A" * 43 + '=","command":"x"}',
        '{"command":"x","signature":"' + "A" * 43 + '=","note":"b"}',
        '{"command":"x","note":"\\",\\"signature\\":\\"y"}',
    ],
)
def test_the_compact_cut_agrees_with_the_general_one(wire: str) -> None:
    # The string-search shortcut for ',"signature":"..."}' must cut exactly where the regular
    # expression does, or leave the text to it.
    compact = signing._cut_compact_trailing_member(wire)
    assert compact is None or compact == signing._cut_trailing_member(wire)
    if wire.endswith('"}') and ',"signature":"' in wire[-100:] and "note" not in wire:
        assert compact is not None


def test_padded_base64_of_any_digest_decodes_on_the_fast_path() -> None:
    for seed in range(200):
        digest = hashlib.sha256(str(seed).encode()).digest()
        assert signing.decode_signature(base64.b64encode(digest).decode()) == digest

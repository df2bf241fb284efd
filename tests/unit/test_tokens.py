"""Signed unsubscribe/opt-in tokens: round trip, URL safety, and refusal of any tampering."""

from __future__ import annotations

import base64
import uuid

import pytest

from campaignd.errors import InvalidInput, InvalidToken
from campaignd.rendering.tokens import Signer, sign, sign_lists, verify

SECRET = "0123456789abcdef-secret"
SUB = uuid.UUID("11111111-2222-3333-4444-555555555555")
CAMP = uuid.UUID("66666666-7777-8888-9999-aaaaaaaaaaaa")


def test_round_trip_with_and_without_campaign() -> None:
    token = sign(SECRET, "unsub", SUB, CAMP)
    data = verify(SECRET, "unsub", token)
    assert (data.purpose, data.subscriber_uuid, data.campaign_uuid) == ("unsub", SUB, CAMP)
    bare = verify(SECRET, "optin", sign(SECRET, "optin", SUB))
    assert bare.subscriber_uuid == SUB
    assert bare.campaign_uuid is None


def test_tokens_are_url_safe_unpadded_and_compact() -> None:
    token = sign(SECRET, "unsub", SUB, CAMP)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(token) <= 70
    assert sign(SECRET, "unsub", SUB, CAMP) == token  # deterministic: retries keep the link


def test_purpose_and_secret_are_bound() -> None:
    token = sign(SECRET, "unsub", SUB, CAMP)
    with pytest.raises(InvalidToken):
        verify(SECRET, "optin", token)
    with pytest.raises(InvalidToken):
        verify("another-secret-of-16+", "unsub", token)


@pytest.mark.parametrize("position", range(0, 66, 5))
def test_any_changed_character_is_refused(position: int) -> None:
    token = sign(SECRET, "unsub", SUB, CAMP)
    position = min(position, len(token) - 1)
    swapped = "A" if token[position] != "A" else "B"
    tampered = token[:position] + swapped + token[position + 1 :]
    with pytest.raises(InvalidToken):
        verify(SECRET, "unsub", tampered)


@pytest.mark.parametrize(
    "token",
    ["", "abc", "x" * 500, "not a token at all!!", "====", None, "é" * 60],
)
def test_garbage_is_refused(token: object) -> None:
    with pytest.raises(InvalidInput):
        verify(SECRET, "unsub", token)  # type: ignore[arg-type]


def test_padding_and_truncation_are_refused() -> None:
    token = sign(SECRET, "unsub", SUB, CAMP)
    for bad in (token + "=", token + "==", token[:-1], token + "A", token[:-2]):
        with pytest.raises(InvalidToken):
            verify(SECRET, "unsub", bad)


def test_a_campaign_token_cannot_be_shortened_into_a_subscriber_token() -> None:
    token = sign(SECRET, "unsub", SUB, CAMP)
    with pytest.raises(InvalidToken):
        verify(SECRET, "unsub", token[:44])


def test_signer_requires_a_secret_and_a_known_purpose() -> None:
    with pytest.raises(InvalidInput):
        Signer("", "unsub")
    with pytest.raises(ValueError, match="purpose"):
        Signer(SECRET, "reset-password")


def test_links_already_sent_keep_working() -> None:
    """Tokens issued by earlier versions (these two were made with the hmac module) verify
    and are what sign gives today: a change of HMAC implementation must not move them."""
    old_unsub = "AhEREREiIjMzRERVVVVVVVVmZmZmd3eIiJmZqqqqqqqqTm17Aazs9NFPnPCvMBJ6Xg"
    old_optin = "AREREREiIjMzRERVVVVVVVW8kuNQSAy9cFdXEWf7wQ43"
    assert sign(SECRET, "unsub", SUB, CAMP) == old_unsub
    assert sign(SECRET, "optin", SUB) == old_optin
    assert verify(SECRET, "unsub", old_unsub).campaign_uuid == CAMP
    assert verify(SECRET, "optin", old_optin).subscriber_uuid == SUB


@pytest.mark.parametrize("secret", ["k", "x" * 200, "ünïcode secret"])
def test_tokens_are_hmac_sha256_tagged(secret: str) -> None:
    import base64
    import hashlib
    import hmac

    key = hmac.new(secret.encode(), b"campaignd token v1 unsub", hashlib.sha256).digest()
    payload = b"\x02" + SUB.bytes + CAMP.bytes
    raw = payload + hmac.new(key, payload, hashlib.sha256).digest()[:16]
    expected = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert sign(secret, "unsub", SUB, CAMP) == expected


# -- opt-in tokens name their lists; secrets rotate ------------------------------------------


@pytest.mark.parametrize("lists", [[], [1], [3, 1, 2, 3], [127, 128, 16383, 16384, 2**40]])
def test_a_list_token_names_exactly_its_lists(lists: list[int]) -> None:
    token = sign_lists(SECRET, "optin", SUB, lists)
    data = verify(SECRET, "optin", token)
    assert data.subscriber_uuid == SUB
    assert data.list_ids == tuple(sorted(set(lists)))
    assert verify(SECRET, "optin", sign(SECRET, "optin", SUB)).list_ids is None
    with pytest.raises(InvalidToken):
        verify(SECRET, "unsub", token)


def test_a_list_token_names_at_most_255_lists_and_stays_a_url() -> None:
    token = sign_lists(SECRET, "optin", SUB, range(1, 256))
    assert verify(SECRET, "optin", token).list_ids == tuple(range(1, 256))
    assert len(token) < 800
    with pytest.raises(InvalidInput):
        sign_lists(SECRET, "optin", SUB, range(256))


def _forged(payload: bytes) -> str:
    """`payload` with a valid tag: only the layout checks can refuse it."""
    signer = Signer(SECRET, "optin")
    raw = payload + signer._tag(payload)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "lists_part",
    [
        b"\x02\x02\x01",  # not ascending
        b"\x02\x01\x01",  # repeated
        b"\x01\x81\x00",  # a padded varint (1 spelt in two bytes)
        b"\x01",  # fewer ids than counted
        b"\x01\x01\x02",  # a trailing byte
        b"\x01\x80",  # a varint that never ends
        b"\x01" + b"\xff" * 12 + b"\x01",  # a varint over 63 bits
        b"\x01" + b"\xff" * 9 + b"\x01",  # an id of 2**64 or more
    ],
)
def test_non_canonical_list_tokens_are_refused(lists_part: bytes) -> None:
    assert verify(SECRET, "optin", _forged(b"\x03" + SUB.bytes + b"\x01\x05")).list_ids == (5,)
    with pytest.raises(InvalidToken):
        verify(SECRET, "optin", _forged(b"\x03" + SUB.bytes + lists_part))


def test_a_tampered_list_is_refused() -> None:
    token = sign_lists(SECRET, "optin", SUB, [5])
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[18] = 6  # list 5 -> 6, tag unchanged
    with pytest.raises(InvalidToken):
        verify(SECRET, "optin", base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode())


def test_previous_secrets_verify_but_never_sign() -> None:
    old, new = "old-secret-0123456789", "new-secret-0123456789"
    token = sign(old, "unsub", SUB, CAMP)
    with pytest.raises(InvalidToken):
        verify(new, "unsub", token)
    assert verify(new, "unsub", token, [old]).campaign_uuid == CAMP
    assert verify(new, "unsub", token, ["third-secret-0123456789", old]).subscriber_uuid == SUB
    with pytest.raises(InvalidToken):
        verify(new, "unsub", token, ["third-secret-0123456789"])
    with pytest.raises(InvalidToken):  # the purpose still binds under a previous secret
        verify(new, "optin", token, [old])
    assert sign(new, "unsub", SUB, CAMP) != token

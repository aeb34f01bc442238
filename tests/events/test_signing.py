"""Standard Webhooks signatures: the published test vector, and every way verification must refuse."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinn.events.signing import (
    SECRET_PREFIX,
    WebhookVerificationError,
    generate_secret,
    sign,
    signature_headers,
    verify_signature,
)

# The example in the Standard Webhooks specification's reference libraries.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_published_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    headers = {
        "Webhook-Id": VECTOR_ID,
        "Webhook-Timestamp": str(VECTOR_TIMESTAMP),
        "Webhook-Signature": VECTOR_SIGNATURE,
    }
    assert verify_signature(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP + 10) == VECTOR_ID


def test_secrets_are_random_and_well_formed() -> None:
    first, second = generate_secret(), generate_secret()
    assert first != second
    assert first.startswith(SECRET_PREFIX)
    assert len(base64.b64decode(first[len(SECRET_PREFIX) :])) == 32


def _headers(secret: str, body: bytes, timestamp: int = 1_700_000_000) -> dict[str, str]:
    return signature_headers(secret, "evt-1", body, timestamp=timestamp)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h: {**h, "webhook-signature": "v1,AAAA"}, "no matching signature"),
        (
            lambda h: {**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")},
            "no matching signature",
        ),
        (lambda h: {**h, "webhook-id": "evt-2"}, "no matching signature"),
        (lambda h: {**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, "no matching signature"),
        (lambda h: {**h, "webhook-timestamp": "soon"}, "not an integer"),
        (lambda h: {k: v for k, v in h.items() if k != "webhook-signature"}, "missing"),
        (lambda h: {k: v for k, v in h.items() if k != "webhook-id"}, "missing"),
    ],
)
def test_refusals(change: object, reason: str) -> None:
    secret = generate_secret()
    body = b'{"id":"evt-1"}'
    headers = change(_headers(secret, body))  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError, match=reason):
        verify_signature(secret, headers, body, now=1_700_000_000)


def test_timestamp_tolerance_both_ways() -> None:
    secret = generate_secret()
    headers = _headers(secret, b"{}")
    assert verify_signature(secret, headers, b"{}", tolerance=60, now=1_700_000_060) == "evt-1"
    for now in (1_700_000_061, 1_699_999_939):
        with pytest.raises(WebhookVerificationError, match="tolerance"):
            verify_signature(secret, headers, b"{}", tolerance=60, now=now)


def test_any_of_several_signatures_may_match() -> None:
    old, new = generate_secret(), generate_secret()
    headers = _headers(new, b"{}")
    rotated = {
        **headers,
        "webhook-signature": f"{sign(old, 'evt-1', 1_700_000_000, b'{}')} {headers['webhook-signature']}",
    }
    assert verify_signature(new, rotated, b"{}", now=1_700_000_000) == "evt-1"
    assert verify_signature(old, rotated, b"{}", now=1_700_000_000) == "evt-1"


def test_malformed_secret_is_a_verification_error() -> None:
    with pytest.raises(WebhookVerificationError):
        verify_signature("whsec_???", _headers(generate_secret(), b"{}"), b"{}", now=1_700_000_000)


@given(
    body=st.binary(max_size=512),
    message_id=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and s),
)
def test_round_trip(body: bytes, message_id: str) -> None:
    secret = generate_secret()
    headers = signature_headers(secret, message_id, body, timestamp=1_700_000_000)
    assert verify_signature(secret, headers, body, now=1_700_000_000) == message_id
    if body:
        with pytest.raises(WebhookVerificationError):
            verify_signature(secret, headers, body[:-1], now=1_700_000_000)

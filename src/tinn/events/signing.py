"""Webhook signatures in the Standard Webhooks convention (https://www.standardwebhooks.com).

Every webhook Tinn sends carries three headers:

* ``webhook-id``: the CloudEvent ``id`` (the same on every retry, so receivers can dedupe on it);
* ``webhook-timestamp``: seconds since the Unix epoch when the attempt was signed;
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, keyed with the
  subscription's secret (``whsec_<base64 key>``, shown once when the subscription is created).

:func:`verify_signature` is what a receiver runs; it needs nothing from Tinn but this module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
_KEY_BYTES = 32

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class WebhookVerificationError(ValueError):
    """A webhook whose signature headers are missing, stale or do not match the body."""


def generate_secret() -> str:
    """A new random signing secret, ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    encoded = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from exc


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_headers(
    secret: str, message_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed now (or at ``timestamp``)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        HEADER_ID: message_id,
        HEADER_TIMESTAMP: str(stamp),
        HEADER_SIGNATURE: sign(secret, message_id, stamp, body),
    }


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> str:
    """Check a received webhook; return its ``webhook-id`` or raise :class:`WebhookVerificationError`.

    ``headers`` may use any letter case. The timestamp must be within ``tolerance`` seconds of
    ``now`` (default: the current time) either way, which bounds replays; the body must be the
    exact bytes received. Any one of the space-separated ``v1`` signatures may match.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get(HEADER_ID)
    stamp_text = lowered.get(HEADER_TIMESTAMP)
    signatures = lowered.get(HEADER_SIGNATURE)
    if not message_id or not stamp_text or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        stamp = int(stamp_text)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    try:
        expected = sign(secret, message_id, stamp, body).partition(",")[2]
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from None
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(value.encode(), expected.encode()):
            return message_id
    raise WebhookVerificationError("no matching signature")

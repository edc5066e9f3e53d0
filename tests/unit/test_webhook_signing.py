"""Standard Webhooks signatures: the reference vector, round trips, tampering, replay, rotation."""

from __future__ import annotations

import base64
import time

import pytest

from service.webhooks import signing
from service.webhooks.signing import InvalidSignature

# The reference library's own vector (standard-webhooks/standard-webhooks,
# libraries/python/tests/test_webhooks.py, test_sign_function).
REFERENCE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REFERENCE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
REFERENCE_TIMESTAMP = 1614265330
REFERENCE_BODY = b'{"test": 2432232314}'
REFERENCE_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.sign(secret, message_id, timestamp, body),
    }


def test_the_reference_vector():
    assert (
        signing.sign(REFERENCE_SECRET, REFERENCE_ID, REFERENCE_TIMESTAMP, REFERENCE_BODY)
        == REFERENCE_SIGNATURE
    )
    headers = {
        "Webhook-Id": REFERENCE_ID,
        "Webhook-Timestamp": str(REFERENCE_TIMESTAMP),
        "Webhook-Signature": REFERENCE_SIGNATURE,
    }
    signing.verify(REFERENCE_SECRET, headers, REFERENCE_BODY, now=REFERENCE_TIMESTAMP + 10)


def test_secrets_are_whsec_and_32_random_bytes():
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32


def test_round_trip_and_every_kind_of_tampering_is_refused():
    secret, now = signing.new_secret(), int(time.time())
    body = b'{"id":"e1","type":"score.finalized","data":{"scaled":71.5}}'
    headers = _headers(secret, "e1", now, body)
    signing.verify(secret, headers, body, now=now)
    tampered = [
        (secret, headers, body.replace(b"71.5", b"99.5")),  # body
        (secret, {**headers, "webhook-id": "e2"}, body),  # id
        (secret, {**headers, "webhook-timestamp": str(now - 1)}, body),  # timestamp
        (signing.new_secret(), headers, body),  # another secret
        (secret, {**headers, "webhook-signature": headers["webhook-signature"].replace("v1,", "v2,")}, body),
        (secret, {k: v for k, v in headers.items() if k != "webhook-signature"}, body),
        (secret, {**headers, "webhook-timestamp": "soon"}, body),
    ]
    for key, sent, received in tampered:
        with pytest.raises(InvalidSignature):
            signing.verify(key, sent, received, now=now)


def test_old_or_future_timestamps_are_refused_as_replays():
    secret, now = signing.new_secret(), int(time.time())
    for skew in (-signing.TOLERANCE_SECONDS - 1, signing.TOLERANCE_SECONDS + 1):
        with pytest.raises(InvalidSignature):
            signing.verify(secret, _headers(secret, "e1", now + skew, b"{}"), b"{}", now=now)
    signing.verify(secret, _headers(secret, "e1", now - 60, b"{}"), b"{}", now=now)


def test_any_matching_signature_of_several_is_enough():
    old, new, now = signing.new_secret(), signing.new_secret(), int(time.time())
    header = signing.signature_header([new, old], "e1", now, b"{}")
    assert len(header.split(" ")) == 2
    for secret in (old, new):
        signing.verify(
            secret,
            {"webhook-id": "e1", "webhook-timestamp": str(now), "webhook-signature": header},
            b"{}",
            now=now,
        )

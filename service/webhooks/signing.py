"""Standard Webhooks signatures (https://www.standardwebhooks.com): pure, no I/O.

A secret is `whsec_` + base64 of 32 random bytes. A message is signed as
`v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">` with the decoded secret; the
`webhook-signature` header may carry several space-separated signatures (a receiver accepts
the message when any `v1` one matches).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping

PREFIX = "whsec_"
TOLERANCE_SECONDS = 300  # how far a receiver lets webhook-timestamp stray from its clock (replay window)


class InvalidSignature(Exception):
    pass


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature("the secret is not base64 after its whsec_ prefix") from None
    if not key:
        raise InvalidSignature("the secret is empty")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value of one message under one secret."""
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def signature_header(secrets_in_force: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """Signatures under every secret in force (during a rotation, the new one and the old one)."""
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets_in_force)


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance: int = TOLERANCE_SECONDS
) -> None:
    """What a receiver does: raise InvalidSignature unless the headers sign `body` under `secret`, recently."""
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id, stamp, signatures = (
        lowered.get(n) for n in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    if not (message_id and stamp and signatures):
        raise InvalidSignature("webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not an integer") from None
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature("webhook-timestamp is too far from now")
    expected = sign(secret, message_id, timestamp, body).encode()
    for candidate in signatures.split(" "):
        version, _, _ = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(candidate.encode(), expected):
            return
    raise InvalidSignature("no signature matches")

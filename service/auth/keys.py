"""The service's own signing keys: a small JSON file every worker and host reads.

Keys are Ed25519 (JWS `EdDSA`). The newest key signs; older keys stay published in the
JWKS until retired, so tokens signed before a rotation verify until they expire.
Keys come from this file, never from process memory: a worker that made its own key
would reject tokens signed by its siblings.

`assess keys rotate` rewrites the file (atomically) while workers run, on this host or on any host
sharing the file. A worker re-reads it when a token names a key id it does not hold, and when it
serves the JWKS or signs, but at most once per RELOAD_SECONDS and only if the file changed (one
`stat`): a flood of made-up key ids costs a `stat` every few seconds, not a file read per request.
So within RELOAD_SECONDS of a rotation every worker verifies the new key, publishes it and signs
with it, without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

SIGNING_ALGORITHM = "EdDSA"
RELOAD_SECONDS = 5.0

log = logging.getLogger("assess.auth")


class SigningKey:
    def __init__(self, kid: str, private_pem: str, created_at: str) -> None:
        self.kid = kid
        self.created_at = created_at
        private_key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise ValueError(f"signing key {kid} is not an Ed25519 key")
        self.private_key = private_key
        self.public_key = private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(OKPAlgorithm.to_jwk(self.public_key))
        return {**jwk, "kid": self.kid, "alg": SIGNING_ALGORITHM, "use": "sig"}


def _file_version(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _read(path: Path) -> list[SigningKey]:
    document = json.loads(path.read_text())
    return [SigningKey(k["kid"], k["private_pem"], k["created_at"]) for k in document["keys"]]


class ServiceKeys:
    """Loaded key set. `keys[-1]` signs; all verify. Loaded from a file, it follows the file (`refresh`)."""

    def __init__(
        self, keys: list[SigningKey], path: Path | None = None, reload_seconds: float = RELOAD_SECONDS
    ) -> None:
        if not keys:
            raise ValueError("the signing key file holds no key")
        self._set(keys)
        self.path, self.reload_seconds = path, reload_seconds
        self._version = _file_version(path) if path is not None else None
        self._checked = time.monotonic()

    def _set(self, keys: list[SigningKey]) -> None:
        self.keys = keys
        self.by_kid = {k.kid: k for k in keys}

    @classmethod
    def load(cls, path: Path, reload_seconds: float = RELOAD_SECONDS) -> ServiceKeys:
        try:
            return cls(_read(path), path, reload_seconds)
        except FileNotFoundError:
            raise SystemExit(f"no signing keys at {path}: run `assess keys ensure`") from None

    def refresh(self, now: float | None = None) -> bool:
        """Re-read the file if it changed, at most once per `reload_seconds`. True if the keys changed.

        A file that cannot be read or holds no key leaves the loaded keys in place (logged)."""
        now = time.monotonic() if now is None else now
        if self.path is None or now - self._checked < self.reload_seconds:
            return False
        self._checked = now
        try:
            version = _file_version(self.path)
            if version == self._version:
                return False
            keys = _read(self.path)
            if not keys:
                raise ValueError("no key in the file")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("signing keys at %s not reloaded, keeping the loaded ones: %s", self.path, exc)
            return False
        self._version = version
        self._set(keys)
        log.info("signing keys reloaded from %s: %s", self.path, ", ".join(k.kid for k in keys))
        return True

    def find(self, kid: str) -> SigningKey | None:
        """The key `kid` names, looking at the file again (see `refresh`) when it is not loaded."""
        key = self.by_kid.get(kid)
        if key is None and self.refresh():
            key = self.by_kid.get(kid)
        return key

    def jwks(self) -> dict[str, Any]:
        self.refresh()
        return {"keys": [k.public_jwk() for k in self.keys]}

    def sign(self, claims: dict[str, Any]) -> str:
        self.refresh()
        key = self.keys[-1]
        return jwt.encode(
            claims, key.private_key, algorithm=SIGNING_ALGORITHM, headers={"kid": key.kid, "typ": "at+jwt"}
        )


def _new_key_entry() -> dict[str, str]:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    now = datetime.now(UTC)
    return {
        "kid": now.strftime("%Y%m%d%H%M%S") + f"-{os.urandom(3).hex()}",
        "private_pem": pem,
        "created_at": now.isoformat(),
    }


def _write(path: Path, document: dict[str, Any], *, exclusive: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(document, f, indent=2)
    if exclusive:
        try:  # link fails if another process created the file first: theirs wins, nobody overwrites
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    else:
        os.replace(tmp, path)


def ensure_keys_file(path: Path) -> bool:
    """Create the key file with one key if it does not exist. True if created."""
    if path.exists():
        return False
    _write(path, {"keys": [_new_key_entry()]}, exclusive=True)
    return True


def rotate_keys(path: Path, keep: int = 3) -> str:
    """Add a new signing key; keep the `keep` newest keys for verification. Returns the new kid."""
    document = json.loads(path.read_text()) if path.exists() else {"keys": []}
    entry = _new_key_entry()
    document["keys"] = [*document["keys"], entry][-keep:]
    _write(path, document, exclusive=False)
    return entry["kid"]

"""The service's own signing keys: a small JSON file every worker and host reads.

Keys are Ed25519 (JWS `EdDSA`). The newest key signs; older keys stay published in the
JWKS until retired, so tokens signed before a rotation verify until they expire.
Keys come from this file, never from process memory: a worker that made its own key
would reject tokens signed by its siblings.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

SIGNING_ALGORITHM = "EdDSA"


class SigningKey:
    def __init__(self, kid: str, private_pem: str, created_at: str) -> None:
        self.kid = kid
        self.created_at = created_at
        self.private_key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise ValueError(f"signing key {kid} is not an Ed25519 key")
        self.public_key = self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(OKPAlgorithm.to_jwk(self.public_key))
        return {**jwk, "kid": self.kid, "alg": SIGNING_ALGORITHM, "use": "sig"}


class ServiceKeys:
    """Loaded key set. `keys[-1]` signs; all verify."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("the signing key file holds no key")
        self.keys = keys
        self.by_kid = {k.kid: k for k in keys}

    @classmethod
    def load(cls, path: Path) -> ServiceKeys:
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise SystemExit(f"no signing keys at {path}: run `assess keys ensure`") from None
        return cls([SigningKey(k["kid"], k["private_pem"], k["created_at"]) for k in document["keys"]])

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.keys]}

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.keys[-1]
        return jwt.encode(claims, key.private_key, algorithm=SIGNING_ALGORITHM, headers={"kid": key.kid, "typ": "at+jwt"})


def _new_key_entry() -> dict[str, str]:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    now = datetime.now(timezone.utc)
    return {"kid": now.strftime("%Y%m%d%H%M%S") + f"-{os.urandom(3).hex()}", "private_pem": pem,
            "created_at": now.isoformat()}


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

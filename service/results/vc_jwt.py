"""VC-JWT with RS256 (the Open Badges 3.0 interoperability minimum) or EdDSA (Ed25519, chosen per issuer
when it is made): a tenant's issuer key, signing, and the verification the public route runs. No I/O.

Each tenant's issuer has its own key (made when the tenant sets up its issuer profile, kept in
`credential_issuers` like webhook secrets, under row-level security), published in the tenant's
DID document and JWKS. The key's type is its algorithm: an RSA key signs RS256, an Ed25519 key EdDSA. Separate from the service's Ed25519 token keys (service/auth/keys.py): those
sign short-lived access tokens; a credential must verify for years, under its issuer's identity.

Verification refuses, with a typed error naming the field, what is not a credential of ours at all:
not a compact JWS, an algorithm other than RS256 or EdDSA, or not the one the issuer's key signs with
(so `none`, HMAC with the public key as secret and key-type confusion never reach a signature check), an issuer that is not a tenant's did:web, or a key
the issuer never published. A well-formed token of ours whose signature fails is `tampered`.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey, generate_private_key
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from service.errors import FieldError, Unprocessable
from service.i18n import msg

Algorithm = Literal["RS256", "EdDSA"]
ALGORITHM: Algorithm = "RS256"  # the default, and what every OB 3.0 verifier accepts
ALGORITHMS: tuple[Algorithm, ...] = ("RS256", "EdDSA")
KEY_BITS = 2048
JWK_MEMBERS = ("kty", "crv", "x", "n", "e", "alg", "use", "kid")  # public members only


class CredentialRejected(Unprocessable):
    """A token that is not one of this service's credentials (the route's typed 422)."""

    slug = "credential-rejected"


class WrongAlgorithm(CredentialRejected):
    slug = "credential-wrong-algorithm"


class UnknownKey(CredentialRejected):
    slug = "credential-unknown-key"


def _reject(kind: type[CredentialRejected], detail: str) -> CredentialRejected:
    return kind(detail, [FieldError(detail, "/credential")])


class IssuerKey:
    """A tenant's signing key: `kid` is the verification method's fragment in its DID document, and
    `algorithm` follows from the key's type (RSA: RS256, Ed25519: EdDSA)."""

    algorithm: Algorithm

    def __init__(self, kid: str, private_pem: str) -> None:
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        if isinstance(key, RSAPrivateKey):
            self.algorithm = "RS256"
        elif isinstance(key, Ed25519PrivateKey):
            self.algorithm = "EdDSA"
        else:
            raise ValueError("a credential issuer key is an RSA or an Ed25519 key")
        self.kid, self.private_pem, self.private_key = kid, private_pem, key

    @classmethod
    def generate(cls, algorithm: Algorithm = ALGORITHM) -> IssuerKey:
        key: RSAPrivateKey | Ed25519PrivateKey = (
            Ed25519PrivateKey.generate()
            if algorithm == "EdDSA"
            else generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        kid = "key-" + datetime.now(UTC).strftime("%Y%m%d") + "-" + os.urandom(4).hex()
        return cls(kid, pem)

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        exported = (
            RSAAlgorithm.to_jwk(public) if isinstance(public, RSAPublicKey) else OKPAlgorithm.to_jwk(public)
        )
        jwk: dict[str, Any] = json.loads(exported)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def sign(self, did: str, body: dict[str, Any]) -> str:
        """The VC-JWT (OB 3.0 §8.2.6): the payload is the credential plus the registered claims."""
        claims = {**body, "iss": did, "jti": body["id"]}
        valid_from = datetime.fromisoformat(body["validFrom"])
        claims["nbf"] = claims["iat"] = int(valid_from.timestamp())
        if "validUntil" in body:
            claims["exp"] = int(datetime.fromisoformat(body["validUntil"]).timestamp())
        subject = body["credentialSubject"]
        if isinstance(subject, dict) and "id" in subject:
            claims["sub"] = subject["id"]
        return jwt.encode(
            claims, self.private_key, algorithm=self.algorithm, headers={"kid": f"{did}#{self.kid}"}
        )


def did_document(did: str, jwks: list[dict[str, Any]]) -> dict[str, Any]:
    """did:web document publishing the issuer's keys as JsonWebKey2020 verification methods."""
    methods = [
        {
            "id": f"{did}#{jwk['kid']}",
            "type": "JsonWebKey2020",
            "controller": did,
            "publicKeyJwk": {k: v for k, v in jwk.items() if k in JWK_MEMBERS},
        }
        for jwk in jwks
    ]
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods],
    }


class Presented:
    """A token read without trusting it: which tenant's issuer it names, and which of its keys."""

    def __init__(self, token: str) -> None:
        try:
            header = jwt.get_unverified_header(token)
            payload = jwt.decode(token, options={"verify_signature": False})
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError, RecursionError) as exc:
            raise _reject(CredentialRejected, msg("not a compact JWS (header.payload.signature)")) from exc
        if header.get("alg") not in ALGORITHMS:
            raise _reject(
                WrongAlgorithm,
                msg(
                    "algorithm {alg} is not accepted: credentials are signed with RS256 or EdDSA",
                    alg=str(header.get("alg")),
                ),
            )
        self.algorithm: str = header["alg"]
        issuer = payload.get("iss")
        if not isinstance(issuer, str) or not issuer.startswith("did:web:") or ":credentials:" not in issuer:
            raise _reject(UnknownKey, msg("the issuer is not one of this service's credential issuers"))
        try:
            self.tenant_id = UUID(issuer.rsplit(":", 1)[1])
        except ValueError:
            raise _reject(
                UnknownKey, msg("the issuer is not one of this service's credential issuers")
            ) from None
        kid = header.get("kid")
        self.kid = kid.split("#", 1)[1] if isinstance(kid, str) and kid.startswith(issuer + "#") else None
        self.token, self.issuer, self.payload = token, issuer, payload

    def check(self, did: str | None, key: IssuerKey | None) -> bool:
        """True if the signature verifies under the issuer's key; a key the issuer did not publish is
        refused (UnknownKey), a signature that does not verify is False (tampered)."""
        if did is None or key is None or did != self.issuer:
            raise _reject(UnknownKey, msg("the issuer is not one of this service's credential issuers"))
        if self.kid != key.kid:
            raise _reject(UnknownKey, msg("the credential names a key its issuer has not published"))
        if self.algorithm != key.algorithm:  # the issuer's key signs with one algorithm only
            raise _reject(
                WrongAlgorithm,
                msg(
                    "algorithm {alg} is not accepted: this issuer signs with {expected}",
                    alg=self.algorithm,
                    expected=key.algorithm,
                ),
            )
        try:
            jwt.decode(
                self.token,
                key.private_key.public_key(),
                algorithms=[key.algorithm],
                options={"verify_exp": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.InvalidTokenError:
            return False
        return True

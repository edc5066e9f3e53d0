"""Bearer token verification.

Two kinds of issuer: the service itself (operator, demo and service-client tokens, signed
with the keys in `keys.py`) and the identity providers each tenant registered. The
algorithm comes from our key, never from the token; `kid` only selects among keys we
already hold; `exp`, `iss`, `aud` and `sub` are required.

A service client's token (kind "client") also names its grant in `scope`, and is refused as soon
as the verifier learns the client was revoked: the client's status is looked up (and cached for
AUTH_CACHE_SECONDS, like a tenant's) on every request, and `forget_client` drops it on the worker
that revoked it. Other workers notice within AUTH_CACHE_SECONDS; the token itself lives
CLIENT_TOKEN_SECONDS at most.

A token's signature and claims are verified once per worker (`TokenVerifier.verify`: cached until the
token's `exp`, under the SHA-256 of the token); what else it relied on is checked on every request.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any
from uuid import UUID

import jwt
import msgspec

from service.auth.directory import IssuerDirectory, IssuerRegistration
from service.auth.keys import SIGNING_ALGORITHM, ServiceKeys, SigningKey
from service.auth.principal import ALL_ROLES, CLIENT_SCOPES, HR_CLIENT, OPERATOR, TENANT_ROLES, Principal
from service.i18n import msg
from service.tenancy.issuers import ASYMMETRIC_ALGORITHMS

_DEFAULT_ALG: dict[tuple[str | None, str | None], str] = {
    ("OKP", "Ed25519"): "EdDSA",
    ("EC", "P-256"): "ES256",
    ("EC", "P-384"): "ES384",
    ("EC", "P-521"): "ES512",
}
_MAX_TOKEN_BYTES = 8192


class InvalidToken(Exception):
    """401: the token proves nothing."""


class TenantSuspended(Exception):
    """403: a valid token for a tenant that the operator has suspended."""


def _key_algorithm(key: jwt.PyJWK) -> str:
    declared = key._jwk_data.get("alg")
    if declared:
        return str(declared)
    return _DEFAULT_ALG.get((key.key_type, key._jwk_data.get("crv")), "RS256")


class _Verified(msgspec.Struct, frozen=True, gc=False):
    """A token whose signature and claims were verified, and what that relied on besides the token."""

    principal: Principal
    signed_by: object  # the key object that verified it (a SigningKey, or the issuer's PyJWK)
    kid: str | None
    registration: IssuerRegistration | None  # the trusted issuer of a tenant IdP's token
    audiences: tuple[str, ...] = ()  # a tenant IdP's token's `aud`, which picked its registration


class TokenVerifier:
    def __init__(
        self,
        keys: ServiceKeys,
        directory: IssuerDirectory,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int,
        cache_seconds: int,
        cache_size: int = 50_000,
    ) -> None:
        self.keys, self.directory = keys, directory
        self.issuer, self.audience = issuer, audience
        self.leeway, self.cache_seconds, self.cache_size = leeway_seconds, cache_seconds, cache_size
        # A client sends the same token for every answer of an attempt: its signature is verified once
        # per worker. Keyed by the SHA-256 of the token (not the token: 32 bytes an entry), least
        # recently used first, kept until the token's `exp` (never later: no leeway here).
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        """The token's principal. Once a token has verified, this worker checks its signature no more,
        but on every request still everything else it relied on, from the directory's caches: the key
        that verified it is still held (a key retired from the file, or dropped by the issuer or from
        its registration, is refused as soon as this worker stops holding it, as before), the issuer's
        registration is unchanged (so are the roles it grants), the tenant is active and a client is
        not revoked. So a suspension or revocation is acted on within AUTH_CACHE_SECONDS of its commit
        on every worker and at once on the worker that made it, exactly as without this cache, and
        the cache never outlives the token. A deactivated person is not a token matter: the database
        refuses them on each request (`person_for_sign_in`, `save_answer`)."""
        key = hashlib.sha256(token.encode()).digest()
        hit = self._verified.get(key)
        if hit is not None:
            if hit.principal.expires_at > time.time() and await self._still_holds(hit):
                self._verified.move_to_end(key)
                return hit.principal
            del self._verified[key]
        verified = await self._verify(token)
        if len(self._verified) >= self.cache_size:
            self._verified.popitem(last=False)
        self._verified[key] = verified
        return verified.principal

    async def _still_holds(self, hit: _Verified) -> bool:
        """What a verified token relied on, besides its signature and claims, still holds (False: verify
        it again, which refuses it with the right error, or verifies it anew)."""
        principal = hit.principal
        registration = hit.registration
        if registration is None:  # the service's own token
            if hit.kid is None or self.keys.by_kid.get(hit.kid) is not hit.signed_by:
                return False
        else:
            registrations = await self.directory.registrations(principal.issuer)
            if [r for r in registrations if r.registered.audience in hit.audiences] != [registration]:
                return False
            # registered keys are part of the registration; fetched ones must still be published
            if registration.registered.jwks is None:
                jwk = getattr(hit.signed_by, "_jwk_data", None)
                if not any(k._jwk_data == jwk for k in await self.directory.keys_for(registration)):
                    return False
        if principal.tenant_id is None:
            return True  # the operator
        if await self.directory.tenant_status(principal.tenant_id) != "active":
            return False
        if principal.kind == "client":
            return await self.directory.client_tenant(UUID(principal.subject)) == principal.tenant_id
        return True

    def forget_client(self, client_id: UUID) -> None:
        """A client was revoked here: its tokens are refused from this worker's next request on."""
        self.directory.forget_client(client_id)
        subject = str(client_id)
        for token in [
            t
            for t, v in self._verified.items()
            if v.principal.kind == "client" and v.principal.subject == subject
        ]:
            del self._verified[token]

    async def _verify(self, token: str) -> _Verified:
        if len(token) > _MAX_TOKEN_BYTES:
            raise InvalidToken(msg("token too large"))
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise InvalidToken(msg("malformed token")) from None
        algorithm = header.get("alg")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise InvalidToken(msg("token algorithm not accepted"))
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or len(kid) > 200):
            raise InvalidToken(msg("malformed key id"))
        issuer = unverified.get("iss")
        if not isinstance(issuer, str):
            raise InvalidToken(msg("token has no issuer"))
        if issuer == self.issuer:
            return await self._verify_service_token(token, header, kid)
        return await self._verify_tenant_token(token, issuer, unverified.get("aud"), algorithm, kid)

    def _decode(self, token: str, key: Any, algorithm: str, *, issuer: str, audience: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"], "verify_iat": True},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken(msg("token expired")) from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken(msg("token not yet valid")) from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(msg("token audience not accepted")) from None
        except jwt.PyJWTError:
            raise InvalidToken(msg("token signature or claims invalid")) from None

    async def _check_tenant(self, tenant_id: UUID) -> None:
        status = await self.directory.tenant_status(tenant_id)
        if status is None:
            raise InvalidToken(msg("unknown tenant"))
        if status != "active":
            raise TenantSuspended(str(tenant_id))

    async def _verify_service_token(self, token: str, header: dict[str, Any], kid: str | None) -> _Verified:
        key = self.keys.find(kid) if kid else None
        if key is None:
            raise InvalidToken(msg("unknown key id"))
        return _Verified(await self._service_principal(token, header, key), key, kid, None)

    async def _service_principal(self, token: str, header: dict[str, Any], key: SigningKey) -> Principal:
        if header.get("typ") != "at+jwt":
            raise InvalidToken(msg("not an access token"))
        claims = self._decode(
            token, key.public_key, SIGNING_ALGORITHM, issuer=self.issuer, audience=self.audience
        )
        roles = claims.get("roles")
        if not isinstance(roles, list) or not roles or not set(roles) <= ALL_ROLES:
            raise InvalidToken(msg("token roles invalid"))
        kind = claims.get("kind")
        if roles == [OPERATOR] and kind == "operator" and "tenant" not in claims:
            return Principal(
                "operator", str(claims["sub"]), frozenset(roles), None, self.issuer, float(claims["exp"])
            )
        if kind not in ("user", "client") or OPERATOR in roles:
            raise InvalidToken(msg("token kind invalid"))
        try:
            tenant_id = UUID(str(claims.get("tenant")))
        except ValueError:
            raise InvalidToken(msg("token tenant invalid")) from None
        await self._check_tenant(tenant_id)
        if kind == "client":
            return await self._client_principal(claims, roles, tenant_id)
        return Principal(
            kind, str(claims["sub"]), frozenset(roles), tenant_id, self.issuer, float(claims["exp"])
        )

    async def _client_principal(self, claims: dict[str, Any], roles: list[str], tenant_id: UUID) -> Principal:
        if roles != [HR_CLIENT]:
            raise InvalidToken(msg("token roles invalid"))
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else None
        if not scopes or not scopes <= frozenset(CLIENT_SCOPES):
            raise InvalidToken(msg("token scope invalid"))
        try:
            client_id = UUID(str(claims["sub"]))
        except ValueError:
            raise InvalidToken(msg("token subject is not a client id")) from None
        if await self.directory.client_tenant(client_id) != tenant_id:
            raise InvalidToken(msg("the client is revoked or unknown"))
        return Principal(
            "client", str(client_id), frozenset(roles), tenant_id, self.issuer, float(claims["exp"]), scopes
        )

    async def _verify_tenant_token(
        self, token: str, issuer: str, aud: Any, algorithm: str, kid: str | None
    ) -> _Verified:
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        matches = [
            r for r in await self.directory.registrations(issuer) if r.registered.audience in audiences
        ]
        if len(matches) != 1:
            raise InvalidToken(msg("issuer not trusted for this audience"))
        registration = matches[0]
        key = await self._select_key(registration, kid)
        key_algorithm = _key_algorithm(key)
        if key_algorithm != algorithm or key_algorithm not in ASYMMETRIC_ALGORITHMS:
            raise InvalidToken(msg("token algorithm does not match the key"))
        claims = self._decode(
            token, key.key, key_algorithm, issuer=issuer, audience=registration.registered.audience
        )
        tenant_claim = claims.get("tenant")
        if tenant_claim is not None and tenant_claim not in (
            str(registration.tenant_id),
            registration.tenant_slug,
        ):
            raise InvalidToken(msg("token names another tenant"))
        subject = claims.get(registration.registered.subject_claim)
        if not isinstance(subject, str) or not 0 < len(subject) <= 128:
            raise InvalidToken(
                msg(
                    "token has no usable '{subject_claim}' claim",
                    subject_claim=registration.registered.subject_claim,
                )
            )
        await self._check_tenant(registration.tenant_id)
        principal = Principal(
            "user",
            subject,
            self._roles(registration, claims),
            registration.tenant_id,
            issuer,
            float(claims["exp"]),
        )
        return _Verified(principal, key, kid, registration, tuple(audiences))

    async def _select_key(self, registration: IssuerRegistration, kid: str | None) -> jwt.PyJWK:
        keys = await self.directory.keys_for(registration)
        if kid is None:
            if len(keys) == 1:
                return keys[0]
            raise InvalidToken(msg("token has no key id and the issuer has several keys"))
        for key in keys:
            if key.key_id == kid:
                return key
        if registration.registered.jwks_url:  # the identity provider may have rotated: look once more
            for key in await self.directory.keys_for(registration, refresh=True):
                if key.key_id == kid:
                    return key
        raise InvalidToken(msg("unknown key id"))

    @staticmethod
    def _roles(registration: IssuerRegistration, claims: dict[str, Any]) -> frozenset[str]:
        allowed = frozenset(registration.registered.allowed_roles) & TENANT_ROLES
        claimed: frozenset[str] = frozenset()
        if registration.registered.roles_claim:
            raw = claims.get(registration.registered.roles_claim)
            if isinstance(raw, str):
                claimed = frozenset(raw.split())
            elif isinstance(raw, list):
                claimed = frozenset(r for r in raw if isinstance(r, str))
        granted = claimed & allowed
        return granted or frozenset(registration.registered.default_roles) & allowed

"""Per-client rate limits on the API: a token bucket per service client, per worker, answered with 429.

Only machine clients (HR systems) are limited: people are limited by what a person can do,
and the operator is trusted. The bucket refills at `rate` requests per second up to `burst`;
a request that finds it empty gets 429 with `Retry-After` (whole seconds, at least 1) saying
when one token will be back. Every answer to a client carries `RateLimit-Policy` and `RateLimit`
(IETF draft) for its bucket.

Deliberately per worker, in memory: a client's every request passes here, and a shared bucket
would add a database round trip to each (saves included). So with H hosts of W workers a client
can get up to H x W x CLIENT_RATE_PER_SECOND (and H x W x CLIENT_RATE_BURST at once), e.g. 2 hosts
x 2 workers x 50/s = 200/s: the limit protects each worker, it is not a billing meter. The
headers describe the bucket of the worker that answered.

`POST /oauth/token` has its own limits, shared by all workers and hosts (service/auth/limits.py).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import TooManyRequestsException
from litestar.handlers import BaseRouteHandler
from litestar.types import Message, Scope

from service.auth.limits import Decision, Limit
from service.auth.principal import Principal
from service.i18n import msg

HEADERS_STATE = "ratelimit_headers"
_LIMITER = "rate_limiter"  # in app.state, from create_app on (the runtime comes only with the lifespan)
_PUBLIC_LIMITER = "public_rate_limiter"


class TokenBucket:
    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.updated = rate, burst, burst, now

    def take(self, now: float) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """Buckets by client, the least recently seen dropped beyond `capacity` (a dropped client
    starts again with a full bucket, which only ever errs towards letting requests through)."""

    def __init__(self, rate: float, burst: float, capacity: int = 10_000) -> None:
        self.rate, self.burst, self.capacity = rate, burst, capacity
        self.buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def wait(self, client: str, now: float | None = None) -> float:
        return self.take(client, now)[0]

    def take(self, client: str, now: float | None = None) -> tuple[float, float]:
        """(seconds to wait, 0.0 when allowed; tokens left in the client's bucket)."""
        now = time.monotonic() if now is None else now
        bucket = self.buckets.get(client)
        if bucket is None:
            bucket = self.buckets[client] = TokenBucket(self.rate, self.burst, now)
            if len(self.buckets) > self.capacity:
                self.buckets.popitem(last=False)
        else:
            self.buckets.move_to_end(client)
        wait = bucket.take(now)
        return wait, bucket.tokens


def install_limiter(app: Litestar, limiter: RateLimiter, *, public: RateLimiter | None = None) -> None:
    """`public`: the per-source-address buckets of the public credential verification route (the same
    rate and burst as a client's: a verifier checking a batch is a machine too)."""
    app.state[_LIMITER] = limiter
    if public is not None:
        app.state[_PUBLIC_LIMITER] = public


def public_limiter_of(app: Litestar) -> RateLimiter | None:
    limiter = app.state.get(_PUBLIC_LIMITER)
    return limiter if isinstance(limiter, RateLimiter) else None


def limiter_of(app: Litestar) -> RateLimiter | None:
    """The app's per-client limiter; None in an app built without one."""
    limiter = app.state.get(_LIMITER)
    return limiter if isinstance(limiter, RateLimiter) else None


def throttle(limiter: RateLimiter | None, key: str, what: str) -> dict[str, str]:
    """429 with Retry-After when `key` has used up its bucket; else the RateLimit headers to send."""
    if limiter is None or limiter.rate <= 0:
        return {}
    wait, tokens = limiter.take(key)
    headers = Decision(wait == 0, Limit("client", limiter.rate, limiter.burst), tokens).headers()
    if wait > 0:
        raise TooManyRequestsException(
            detail=msg(
                "{what} is limited to {rate:g} requests per second (bursts of {burst:g})",
                what=what,
                rate=limiter.rate,
                burst=limiter.burst,
            ),
            headers={"Retry-After": str(max(1, math.ceil(wait))), **headers},
        )
    return headers


async def rate_limit(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """App-wide guard after `authenticate`."""
    principal: Principal | None = connection.scope.get("user")
    if principal is not None and principal.kind == "client":
        headers = throttle(
            limiter_of(connection.app),
            f"{principal.tenant_id}/{principal.subject}",
            msg("this client"),
        )
        if headers:
            connection.scope.setdefault("state", {})[HEADERS_STATE] = headers


async def add_ratelimit_headers(message: Message, scope: Scope) -> None:
    """before_send: the RateLimit headers `rate_limit` left for this request."""
    if message["type"] == "http.response.start":
        headers = scope.get("state", {}).get(HEADERS_STATE)
        if headers:
            MutableScopeHeaders.from_message(message).update(headers)

"""Per-client rate limits: a token bucket per service client, per worker, answered with 429.

Only machine clients (HR systems) are limited: people are limited by what a person can do,
and the operator is trusted. The bucket refills at `rate` requests per second up to `burst`;
a request that finds it empty gets 429 with `Retry-After` (whole seconds, at least 1) saying
when one token will be back. Buckets live in the worker's memory, so with W workers a client
can get up to W times the rate: the limit protects the service, it is not a billing meter.

`POST /oauth/token` has its own, much lower limit per presented client id (a client needs one
token per CLIENT_TOKEN_SECONDS), checked before the database is asked about the client.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException
from litestar.handlers import BaseRouteHandler

from service.auth.principal import Principal
from service.i18n import msg


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
        now = time.monotonic() if now is None else now
        bucket = self.buckets.get(client)
        if bucket is None:
            bucket = self.buckets[client] = TokenBucket(self.rate, self.burst, now)
            if len(self.buckets) > self.capacity:
                self.buckets.popitem(last=False)
        else:
            self.buckets.move_to_end(client)
        return bucket.take(now)


def throttle(limiter: RateLimiter | None, key: str, what: str) -> None:
    """429 with Retry-After when `key` has used up its bucket."""
    if limiter is None or limiter.rate <= 0:
        return
    wait = limiter.wait(key)
    if wait > 0:
        raise TooManyRequestsException(
            detail=msg("{what} is limited to {rate:g} requests per second (bursts of {burst:g})", what=what,
                       rate=limiter.rate, burst=limiter.burst),
            headers={"Retry-After": str(max(1, math.ceil(wait)))})


async def rate_limit(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """App-wide guard after `authenticate`."""
    principal: Principal | None = connection.scope.get("user")
    if principal is not None and principal.kind == "client":
        throttle(getattr(connection.app.state, "rate_limiter", None), f"{principal.tenant_id}/{principal.subject}",
                 msg("this client"))

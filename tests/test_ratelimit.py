"""The token bucket behind per-client rate limits (pure: time is passed in)."""

from __future__ import annotations

from service.api.ratelimit import RateLimiter, TokenBucket


def test_a_bucket_allows_its_burst_then_refills_at_its_rate():
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == 0.5  # one token comes back in 1/2 s
    assert bucket.take(0.5) == 0.0
    assert bucket.take(10.0) == 0.0 and bucket.tokens == 2  # refilled to the burst, minus this one


def test_clients_have_their_own_buckets_and_the_least_recent_is_dropped_beyond_capacity():
    limiter = RateLimiter(rate=1, burst=1, capacity=2)
    assert limiter.wait("a", 0.0) == 0.0 and limiter.wait("a", 0.0) == 1.0
    assert limiter.wait("b", 0.0) == 0.0
    assert limiter.wait("c", 0.0) == 0.0  # a is dropped (least recently seen)
    assert list(limiter.buckets) == ["b", "c"]
    assert limiter.wait("a", 0.0) == 0.0  # starts again full: errs towards letting requests through

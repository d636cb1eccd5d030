"""The per-address handshake bookkeeping (server/handshakes.py), driven by its own clock."""

from __future__ import annotations

from gotty_py.server import handshakes
from gotty_py.server.handshakes import Handshake, HandshakeLimiter, HandshakeRefused, address_key
from gotty_py.server.refusals import ConnectionRefusal


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8::1")
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("[::1]") == "::/64"
    assert address_key("not-an-address") == "not-an-address"


def test_the_rate_is_a_burst_then_even() -> None:
    clock = Clock()
    limiter = HandshakeLimiter(concurrency=0, rate=6, clock=clock)
    for _ in range(6):
        admitted = limiter.admit("192.0.2.1")
        assert isinstance(admitted, Handshake)
        admitted.release()
    refused = limiter.admit("192.0.2.1")
    assert isinstance(refused, HandshakeRefused)
    assert refused.reason is ConnectionRefusal.HANDSHAKE_RATE and refused.retry_after == 10
    assert isinstance(limiter.admit("192.0.2.2"), Handshake)  # another address
    clock.now += 10
    assert isinstance(limiter.admit("192.0.2.1"), Handshake)


def test_only_unreleased_handshakes_count_and_release_is_idempotent() -> None:
    limiter = HandshakeLimiter(concurrency=2, rate=0, clock=Clock())
    first, second = limiter.admit("h"), limiter.admit("h")
    assert isinstance(first, Handshake) and isinstance(second, Handshake)
    refused = limiter.admit("h")
    assert isinstance(refused, HandshakeRefused)
    assert refused.reason is ConnectionRefusal.HANDSHAKE_CONCURRENCY
    first.release()
    first.release()
    assert isinstance(limiter.admit("h"), Handshake)
    assert isinstance(limiter.admit("h"), HandshakeRefused)


def test_the_table_is_bounded_and_keeps_pending_addresses() -> None:
    limiter = HandshakeLimiter(concurrency=1, rate=100, clock=Clock())
    held = limiter.admit("held")
    assert isinstance(held, Handshake)
    for n in range(handshakes.MAX_TRACKED * 2):
        admitted = limiter.admit(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
        assert isinstance(admitted, Handshake)
        admitted.release()
    assert len(limiter) <= handshakes.MAX_TRACKED
    assert isinstance(limiter.admit("held"), HandshakeRefused)  # still counted


def test_no_limits_track_nothing() -> None:
    limiter = HandshakeLimiter(concurrency=0, rate=0)
    for _ in range(100):
        assert isinstance(limiter.admit("h"), Handshake)
    assert len(limiter) == 0

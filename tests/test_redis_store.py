"""The Redis replay and ticket stores against a real redis-server, the `store` option's
grammar, and the Launch codec the ticket store is given.

Every store test talks to Debian's redis-server (tests/redis_server.py) through the store's
own client, and checks what landed in Redis with redis-cli, an independent client.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gotty_py.auth.redis_store import (
    JTI_PREFIX,
    RUNNING_TICKET_TTL,
    TICKET_PREFIX,
    RedisReplayStore,
    RedisStore,
    RedisTicketStore,
)
from gotty_py.auth.replay import MemoryReplayStore
from gotty_py.auth.store import (
    DEFAULT_CONNECT_TIMEOUT,
    MEMORY,
    RedisAddress,
    StoreConfigError,
    StoreKind,
    StoreUnavailable,
    parse_store,
)
from gotty_py.auth.tickets import MemoryTicketStore
from gotty_py.facts import Target
from gotty_py.options import Options
from gotty_py.server.app import GottyServer
from gotty_py.server.launch_codec import LAUNCH_CODEC
from gotty_py.server.stores import SharedStorePlugin, StoreHealth
from gotty_py.webtty.session import Launch
from tests.certs import make_pki
from tests.fakes import InMemoryBackend
from tests.gotty import run_async, run_gotty, wait_for
from tests.jwt_keys import write_secret
from tests.redis_server import MISSING, REDIS_SERVER, RedisServer, free_port


def store_at(url: str) -> RedisStore:
    choice = parse_store(url)
    assert choice.redis is not None
    return RedisStore(choice.redis)


class TextCodec:
    """A trivial GrantCodec[str] for the store's own tests."""

    def encode(self, grant: str) -> bytes:
        return grant.encode()

    def decode(self, data: bytes) -> str:
        if not data.startswith(b"grant:"):
            raise ValueError("not a grant")
        return data.decode()


FULL_LAUNCH = Launch(
    argv=("/usr/local/bin/kube-exec.sh", "prod", "web-0", "app", "bash -l", "ünï"),
    permit_write=True,
    user="alice@example.com",
    claims={"sub": "alice@example.com", "jti": "j-1", "exp": 1_900_000_000, "iat": 1.5,
            "args": ["prod", "web-0"], "nested": {"a": [1, None, True, "x"]}},
    target=Target(namespace="prod", pod="web-0", container="app"),
    env={"HTTP_X_FORWARDED_USER": "alice", "HTTP_ACCEPT_LANGUAGE": "de"},
    info={"reconnect_ticket": "old", "note": ["x", 1]},
)


class TestLaunchCodec:
    def test_every_field_round_trips(self) -> None:
        assert LAUNCH_CODEC.decode(LAUNCH_CODEC.encode(FULL_LAUNCH)) == FULL_LAUNCH
        bare = Launch(argv=("sh",))
        assert LAUNCH_CODEC.decode(LAUNCH_CODEC.encode(bare)) == bare
        no_container = Launch(argv=("sh",), target=Target("ns", "pod"))
        decoded = LAUNCH_CODEC.decode(LAUNCH_CODEC.encode(no_container))
        assert decoded.target == Target("ns", "pod", None)

    def test_the_codec_covers_every_launch_field(self) -> None:
        """A field added to Launch must be added to the codec (and to FULL_LAUNCH)."""
        import dataclasses

        names = {f.name for f in dataclasses.fields(Launch)}
        for name in names:
            assert getattr(FULL_LAUNCH, name) != getattr(Launch(argv=("x",)), name), name

    @pytest.mark.parametrize("data", [
        b"", b"\xff", b"[]", b'{"v": 1}', b"null",
        LAUNCH_CODEC.encode(FULL_LAUNCH).replace(b'"v":1', b'"v":2'),
        LAUNCH_CODEC.encode(FULL_LAUNCH).replace(b'"permit_write":true', b'"permit_write":1'),
        LAUNCH_CODEC.encode(Launch(argv=("sh",))).replace(b'"argv":["sh"]', b'"argv":[]'),
        LAUNCH_CODEC.encode(Launch(argv=("sh",))).replace(b'"argv":["sh"]', b'"argv":"sh"'),
        LAUNCH_CODEC.encode(Launch(argv=("sh",), env={"A": "b"})).replace(b'"b"', b"2"),
        LAUNCH_CODEC.encode(Launch(argv=("sh",), target=Target("n", "p"))).replace(
            b'"pod":"p"', b'"pod":7'),
        LAUNCH_CODEC.encode(Launch(argv=("sh",))).replace(b'"user":null', b'"user":[]'),
        LAUNCH_CODEC.encode(Launch(argv=("sh",))).replace(b"}", b',"extra":1}', 1),
    ], ids=lambda d: repr(d[-40:]))
    def test_refuses_what_it_did_not_write(self, data: bytes) -> None:
        with pytest.raises(ValueError):
            LAUNCH_CODEC.decode(data)


class TestOption:
    def test_memory_and_urls(self, tmp_path: Path) -> None:
        assert parse_store("memory") == MEMORY
        choice = parse_store("redis://redis.gotty-py.svc:6380/3")
        assert choice.kind is StoreKind.REDIS
        assert choice.redis == RedisAddress(host="redis.gotty-py.svc", port=6380, db=3)
        assert parse_store("redis://h").redis == RedisAddress(host="h")
        secret = parse_store("redis://:p%40ss@h/").redis
        assert secret is not None and (secret.username, secret.password) == (None, "p@ss")
        assert "p@ss" not in secret.describe() and secret.describe() == "redis://h:6379/0"
        user = parse_store("redis://console:pw@[::1]:7000/1").redis
        assert user is not None and (user.username, user.password, user.host) == (
            "console", "pw", "::1")
        assert user.describe() == "redis://[::1]:7000/1"
        ca = tmp_path / "ca.pem"
        ca.write_text("x")
        tls = parse_store(f"rediss://h?ssl_ca_certs={ca}&socket_timeout=0.25"
                          "&socket_connect_timeout=2").redis
        assert tls is not None and tls.tls and tls.ca_certs == str(ca)
        assert (tls.socket_timeout, tls.connect_timeout, tls.deadline) == (0.25, 2.0, 2.25)
        assert tls.describe() == "rediss://h:6379/0"

    @pytest.mark.parametrize(("value", "expected"), [
        ("memroy", 'expected "memory" or a redis:// or rediss:// URL'),
        ("http://h", 'expected "memory" or a redis:// or rediss:// URL'),
        ("unix:///run/redis.sock", 'expected "memory" or a redis:// or rediss:// URL'),
        ("redis://", "the URL names no host"),
        ("redis://h:99999", "not a valid URL"),
        ("redis://h:port", "not a valid URL"),
        ("redis://h/zero", "the path must be a database number, not /zero"),
        ("redis://h/0?bogus=1", "unknown query key 'bogus'"),
        ("redis://h?ssl_ca_certs=/etc/ca.pem", "ssl_ca_certs needs a rediss:// (TLS) URL"),
        ("rediss://h?ssl_ca_certs=/nonexistent/ca.pem",
         "ssl_ca_certs /nonexistent/ca.pem: no such readable file"),
        ("redis://h?socket_timeout=0", "socket_timeout must be a number of seconds"),
        ("redis://h?socket_timeout=soon", "socket_timeout must be a number of seconds"),
        ("redis://h?socket_timeout=1&socket_timeout=2", "socket_timeout is given more than"),
        ("redis://h#x", "must not have a #fragment"),
    ])
    def test_refused_naming_the_option(self, value: str, expected: str) -> None:
        with pytest.raises(StoreConfigError) as caught:
            parse_store(value)
        message = str(caught.value)
        assert message.startswith(f"invalid store {value!r} (--store, config key store, "
                                  "GOTTY_STORE): ")
        assert expected in message

    def test_a_refusal_never_shows_the_password(self) -> None:
        with pytest.raises(StoreConfigError) as caught:
            parse_store("redis://user:hunter2@h/bad")
        assert "hunter2" not in str(caught.value)
        assert "redis://user:***@h/bad" in str(caught.value)

    @pytest.mark.parametrize("where", ["flag", "env", "config"])
    def test_the_server_exits_2(self, tmp_path: Path, where: str) -> None:
        value = "redis://h/x"
        args: list[str] = []
        env: dict[str, str] = {}
        if where == "flag":
            args = ["--store", value]
        elif where == "env":
            env = {"GOTTY_STORE": value}
        else:
            (tmp_path / "gotty.hcl").write_text(f'store = "{value}"\n')
            args = ["--config", str(tmp_path / "gotty.hcl")]
        result = run_gotty(*args, "true", env=env)
        assert result.returncode == 2, result.stderr
        assert ("invalid store 'redis://h/x' (--store, config key store, GOTTY_STORE): the "
                "path must be a database number, not /x") in result.stderr


# --- against a real redis-server -------------------------------------------------------

class TestReplay:
    def test_many_concurrent_claims_of_one_jti_one_wins(self,
                                                        redis_server: RedisServer) -> None:
        async def scenario() -> list[bool]:
            # Two clients, as two replicas would have.
            replicas = [store_at(redis_server.url), store_at(redis_server.url)]
            expires = time.time() + 60
            try:
                return await asyncio.gather(*(
                    replicas[i % 2].replay().claim("the-jti", expires) for i in range(100)))
            finally:
                for replica in replicas:
                    await replica.aclose()

        results = run_async(scenario())
        assert results.count(True) == 1 and len(results) == 100
        assert redis_server.stored_keys() == [JTI_PREFIX + "the-jti"]

    def test_the_jti_expires_with_its_token(self, redis_server: RedisServer) -> None:
        expires_at = time.time() + 1.2

        async def claim(jti: str, at: float) -> bool:
            store = store_at(redis_server.url)
            try:
                return await store.replay().claim(jti, at)
            finally:
                await store.aclose()

        assert run_async(claim("soon", expires_at))
        assert run_async(claim("later", time.time() + 600))
        assert redis_server.command("EXPIRETIME", JTI_PREFIX + "soon") == \
            f"(integer) {int(expires_at) + 1}"
        assert not run_async(claim("soon", expires_at))
        wait_for(lambda: JTI_PREFIX + "soon" not in redis_server.stored_keys(), 5,
                 message="the expired jti to be forgotten")
        assert redis_server.stored_keys() == [JTI_PREFIX + "later"]
        assert not run_async(claim("later", time.time() + 600))


class TestTickets:
    def test_single_use_across_replicas_and_never_the_ticket_itself(
            self, redis_server: RedisServer) -> None:
        async def scenario() -> None:
            one, two = store_at(redis_server.url), store_at(redis_server.url)
            try:
                issuing, other = one.tickets(TextCodec()), two.tickets(TextCodec())
                ticket = await issuing.issue("grant:a")
                assert len(ticket) >= 40
                key = TICKET_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()
                assert redis_server.stored_keys() == [key]
                assert ticket not in redis_server.command("KEYS", "*")
                ttl = int(redis_server.command("TTL", key).split()[1])
                assert RUNNING_TICKET_TTL - 5 <= ttl <= RUNNING_TICKET_TTL
                assert await other.redeem(ticket) == "grant:a"
                assert await other.redeem(ticket) is None
                assert await issuing.redeem(ticket) is None
                assert await issuing.redeem("made-up") is None
                assert redis_server.stored_keys() == []
            finally:
                await one.aclose()
                await two.aclose()

        run_async(scenario())

    def test_concurrent_redemptions_of_one_ticket_one_wins(self,
                                                           redis_server: RedisServer) -> None:
        async def scenario() -> list[str | None]:
            replicas = [store_at(redis_server.url), store_at(redis_server.url)]
            try:
                stores = [r.tickets(TextCodec()) for r in replicas]
                ticket = await stores[0].issue("grant:once")
                return await asyncio.gather(*(stores[i % 2].redeem(ticket)
                                              for i in range(50)))
            finally:
                for replica in replicas:
                    await replica.aclose()

        results = run_async(scenario())
        assert results.count("grant:once") == 1 and results.count(None) == 49

    def test_redeemable_for_the_window_after_the_end(self, redis_server: RedisServer) -> None:
        async def scenario() -> None:
            store = store_at(redis_server.url)
            try:
                tickets = store.tickets(TextCodec())
                early = await tickets.issue("grant:early")
                await tickets.expire_after_end(early, 31)
                key = TICKET_PREFIX + hashlib.sha256(early.encode()).hexdigest()
                pttl = int(redis_server.command("PTTL", key).split()[1])
                assert 30_000 < pttl <= 31_000
                assert await tickets.redeem(early) == "grant:early"
                await tickets.expire_after_end(early, 31)  # already redeemed: nothing
                assert key not in redis_server.stored_keys()
            finally:
                await store.aclose()

        run_async(scenario())

    def test_a_ticket_whose_window_passed_is_gone(self, redis_server: RedisServer) -> None:
        async def scenario() -> None:
            store = store_at(redis_server.url)
            try:
                tickets = store.tickets(TextCodec())
                ticket = await tickets.issue("grant:short")
                await tickets.expire_after_end(ticket, 0.2)
                key = TICKET_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()
                await asyncio.to_thread(wait_for, lambda: key not in redis_server.stored_keys(), 5,
                                        0.02, "the ticket's window to pass")
                assert await tickets.redeem(ticket) is None
            finally:
                await store.aclose()

        run_async(scenario())

    def test_a_launch_round_trips_through_redis(self, redis_server: RedisServer) -> None:
        async def scenario() -> Launch | None:
            one, two = store_at(redis_server.url), store_at(redis_server.url)
            try:
                ticket = await one.tickets(LAUNCH_CODEC).issue(FULL_LAUNCH)
                return await two.tickets(LAUNCH_CODEC).redeem(ticket)
            finally:
                await one.aclose()
                await two.aclose()

        assert run_async(scenario()) == FULL_LAUNCH

    def test_an_unreadable_stored_grant_is_refused_and_logged(
            self, redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
        async def scenario() -> str | None:
            store = store_at(redis_server.url)
            try:
                tickets = store.tickets(TextCodec())
                ticket = await tickets.issue("grant:x")
                key = TICKET_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()
                redis_server.command("SET", key, "written by someone else")
                return await tickets.redeem(ticket)
            finally:
                await store.aclose()

        with caplog.at_level(logging.WARNING, "gotty_py.auth"):
            assert run_async(scenario()) is None
        assert "Reconnect ticket refused: its stored grant cannot be read (not a grant)" in \
            caplog.text


async def every_operation(store: RedisStore) -> list[tuple[str, str, float]]:
    """Each store operation in turn, which must raise StoreUnavailable: (name, message,
    seconds it took)."""
    tickets = store.tickets(TextCodec())
    operations: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("claim", lambda: store.replay().claim("j", time.time() + 60)),
        ("issue", lambda: tickets.issue("grant:x")),
        ("arm", lambda: tickets.expire_after_end("t", 30)),
        ("redeem", lambda: tickets.redeem("t")),
        ("ping", lambda: store.ping(0.5)),
    ]
    failures = []
    try:
        for name, operation in operations:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                await operation()
            failures.append((name, str(caught.value), time.monotonic() - started))
    finally:
        await store.aclose()
    return failures


class TestUnavailable:
    @pytest.mark.serial
    def test_nothing_listening_fails_fast(self, tmp_path: Path) -> None:
        port = free_port()  # nobody listens on it

        failures = run_async(every_operation(store_at(f"redis://127.0.0.1:{port}/0")))
        assert [name for name, _, _ in failures] == ["claim", "issue", "arm", "redeem", "ping"]
        for name, message, seconds in failures:
            assert message.startswith(f"redis://127.0.0.1:{port}/0: "), (name, message)
            assert "failed" in message and "onnect" in message, (name, message)
            assert seconds < 0.5, (name, seconds)

    def test_a_black_hole_is_given_up_on_within_the_deadline(
            self, redis_server: RedisServer) -> None:
        redis_server.pause()  # the kernel still accepts connections; nothing answers
        url = redis_server.url + "?socket_connect_timeout=0.3&socket_timeout=0.3"
        try:
            failures = run_async(every_operation(store_at(url)))
        finally:
            redis_server.resume()
        assert len(failures) == 5
        for name, message, seconds in failures:
            assert message.startswith(f"redis://127.0.0.1:{redis_server.port}/0: "), message
            limit = 0.5 if name == "ping" else 0.6  # ping's own timeout, else the deadline
            assert limit - 0.05 < seconds < limit + 0.25, (name, seconds)
        assert "no answer to PING within 0.5 s" in failures[-1][1]
        assert "no answer to SET NX EXAT within 0.6 s" in failures[0][1]

    def test_health_check_says_why(self, redis_server: RedisServer) -> None:
        async def problem() -> str | None:
            store = store_at(redis_server.url)
            try:
                health = StoreHealth(store)
                assert health.name == "store"
                return await health.problem()
            finally:
                await store.aclose()

        assert run_async(problem()) is None
        redis_server.stop()
        text = run_async(problem())
        assert text is not None and text.startswith(
            f"the shared token store is unreachable: redis://127.0.0.1:{redis_server.port}/0: ")
        redis_server.start()
        assert run_async(problem()) is None

    def test_a_restarted_redis_is_used_again_by_the_same_client(
            self, redis_server: RedisServer) -> None:
        """Pooled connections die with the Redis; the next call must not fail for it."""
        async def scenario() -> None:
            store = store_at(redis_server.url)
            try:
                assert await store.replay().claim("before", time.time() + 60)
                await asyncio.to_thread(redis_server.stop)
                with pytest.raises(StoreUnavailable):
                    await store.replay().claim("during", time.time() + 60)
                await asyncio.to_thread(redis_server.start)
                assert await store.replay().claim("after", time.time() + 60)
            finally:
                await store.aclose()

        run_async(scenario())

    def test_the_default_deadline_is_short(self) -> None:
        assert RedisAddress(host="h").deadline == 2 * DEFAULT_CONNECT_TIMEOUT <= 2.0


def test_a_least_privilege_acl_user_is_enough(redis_server: RedisServer) -> None:
    """The ACL docs/jwt.md recommends: the console's keys and the five commands it sends."""
    assert redis_server.command(
        "ACL", "SETUSER", "gotty-py", "on", ">s3cret", "resetkeys", "~gotty-py:*",
        "resetchannels", "-@all", "+set", "+getdel", "+pexpire", "+ping", "+select",
        "+client|setname") == "OK"

    async def scenario(password: str) -> None:
        store = store_at(f"redis://gotty-py:{password}@127.0.0.1:{redis_server.port}/1")
        try:
            assert await store.replay().claim("j", time.time() + 60)
            tickets = store.tickets(TextCodec())
            ticket = await tickets.issue("grant:acl")
            await tickets.expire_after_end(ticket, 30)
            assert await tickets.redeem(ticket) == "grant:acl"
            await store.ping(0.5)
        finally:
            await store.aclose()

    run_async(scenario("s3cret"))
    with pytest.raises(StoreUnavailable) as caught:
        run_async(scenario("wrong"))
    assert str(caught.value) == (f"redis://127.0.0.1:{redis_server.port}/1: SET NX EXAT "
                                 "failed: invalid username-password pair or user is disabled")


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Debian's redis-server speaking TLS only, requiring a client certificate."""
    if not REDIS_SERVER.is_file():
        pytest.skip(MISSING)
    server = RedisServer(tmp_path / "redis-tls", make_pki(tmp_path / "pki"))
    server.start()
    yield server
    server.stop()


class TestTls:
    def test_rediss_with_a_private_ca_and_a_client_certificate(
            self, tls_redis: RedisServer) -> None:
        async def scenario() -> None:
            store = store_at(tls_redis.url)
            try:
                assert store.address.tls
                assert await store.replay().claim("over-tls", time.time() + 60)
                assert not await store.replay().claim("over-tls", time.time() + 60)
                await store.ping(0.5)
            finally:
                await store.aclose()

        run_async(scenario())
        assert tls_redis.stored_keys() == [JTI_PREFIX + "over-tls"]

    def test_an_unknown_server_certificate_is_refused(self, tls_redis: RedisServer) -> None:
        assert tls_redis.pki is not None
        pki = tls_redis.pki
        # The system CAs do not know the test CA: the connection must not be made.
        url = (f"rediss://127.0.0.1:{tls_redis.port}/0?ssl_certfile={pki.client_crt}"
               f"&ssl_keyfile={pki.client_key}")

        async def scenario() -> None:
            store = store_at(url)
            try:
                await store.replay().claim("j", time.time() + 60)
            finally:
                await store.aclose()

        with pytest.raises(StoreUnavailable) as caught:
            run_async(scenario())
        assert "certificate verify failed" in str(caught.value)
        assert tls_redis.stored_keys() == []

    @pytest.mark.serial
    def test_plain_redis_to_a_tls_port_is_unavailable_not_a_hang(
            self, tls_redis: RedisServer) -> None:
        async def scenario() -> float:
            store = store_at(f"redis://127.0.0.1:{tls_redis.port}/0")
            started = time.monotonic()
            try:
                with pytest.raises(StoreUnavailable):
                    await store.ping(0.5)
            finally:
                await store.aclose()
            return time.monotonic() - started

        assert run_async(scenario()) < 0.8


class TestChosenByTheServer:
    """What plugins_from_options builds from --store, in a real GottyServer (in-process)."""

    def server(self, tmp_path: Path, **options: Any) -> GottyServer:
        write_secret(tmp_path / "secret")
        return GottyServer(Options(jwt_secret_file=str(tmp_path / "secret"),
                                   enable_reconnect=True, **options), ["sh"],
                           InMemoryBackend())

    def test_memory_has_no_health_check_and_no_client(self, tmp_path: Path) -> None:
        server = self.server(tmp_path)
        assert server.plugins.health == ()
        assert isinstance(server.plugins.grant.tickets, MemoryTicketStore)
        assert server.verifier is not None
        assert isinstance(server.verifier.replay, MemoryReplayStore)
        assert not any(isinstance(f, SharedStorePlugin) for f in server.plugins.features)

    def test_redis_is_given_to_the_verifier_and_the_grant(self, tmp_path: Path,
                                                          redis_server: RedisServer) -> None:
        async def scenario() -> None:
            server = self.server(tmp_path, store=redis_server.url)
            plugins = server.plugins
            assert [check.name for check in plugins.health] == ["store"]
            assert isinstance(plugins.features[0], SharedStorePlugin)  # closed last
            assert isinstance(plugins.grant.tickets, RedisTicketStore)
            assert server.verifier is not None
            assert isinstance(server.verifier.replay, RedisReplayStore)
            assert await plugins.health[0].problem() is None
            for feature in reversed(plugins.features):
                await feature.aclose()

        run_async(scenario())

"""Several replicas: two real gotty-py processes share one real redis-server (--store).

A launch token used on one is refused on the other, a reconnect ticket issued by one
redeems on the other (once), and while Redis is down both refuse every launch with the
same clear reason (fail closed) until it is back on the same port. Tokens are made with
PyJWT in the test (tests/jwt_keys.py); Redis is Debian's (tests/redis_server.py).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from gotty_py.auth.redis_store import TICKET_PREFIX
from tests.certs import make_pki
from tests.gotty import Client, Gotty, GottyProcess, open_session, wait_for
from tests.jwt_keys import claims, hs256, write_secret
from tests.ops_client import readyz
from tests.redis_server import MISSING, REDIS_SERVER, RedisServer
from tests.test_reconnect_tickets import session_info

SHOW = 'touch "$0"; printf "[%s]" "$@"; echo " user=$GOTTY_USER"'
POLICY = ("--jwt-audience", "console", "--jwt-issuer", "portal")
UNREACHABLE = "launch refused: the shared token store is unreachable"


class Replicas:
    """Two servers with one JWT secret and one Redis, as a Deployment of two would be."""

    def __init__(self, gotty: Gotty, tmp_path: Path, redis: RedisServer) -> None:
        self.secret = write_secret(tmp_path / "secret")
        self.marker = tmp_path / "ran"
        self.redis = redis
        self.servers = [gotty("--jwt-secret-file", str(tmp_path / "secret"), *POLICY,
                              "--store", redis.url, "--reconnect", "--reconnect-time", "1",
                              "--ops-port", "0",
                              "sh", "-c", SHOW, str(self.marker)) for _ in range(2)]

    def token(self, **overrides: object) -> str:
        return hs256(self.secret, claims(**overrides))


def launch(server: GottyProcess, arguments: str) -> Client:
    return open_session(server, arguments, GottyPy=1)


def ran(client: Client) -> tuple[str, str]:
    """(the reconnect ticket, the output) of a session that must run to its end."""
    ticket = session_info(client)["reconnect_ticket"]
    assert isinstance(ticket, str)
    client.frames_until_close()
    return ticket, client.output.decode()


def refusal(client: Client) -> tuple[int | None, str]:
    client.frames_until_close()
    assert client.closed is not None
    assert b"user=" not in client.output
    return client.closed.code, client.closed.reason


def test_a_token_used_on_one_replica_is_refused_on_the_other(
        gotty: Gotty, tmp_path: Path, redis_server: RedisServer) -> None:
    replicas = Replicas(gotty, tmp_path, redis_server)
    one, two = replicas.servers
    token = replicas.token(args=["x"])
    _, output = ran(launch(one, f"?jwt={token}"))
    assert "[x] user=alice" in output
    assert refusal(launch(two, f"?jwt={token}")) == (1008, "token already used")
    two.wait_for_line(r"Refused session from 127\.0\.0\.1:\d+: token already used")
    assert refusal(launch(one, f"?jwt={token}")) == (1008, "token already used")

    # The same fresh token at both at once: exactly one of them runs it.
    racing = replicas.token(args=["race"])
    clients = [Client(server.ws_url, subprotocols=["webtty"]) for server in (one, two)]
    barrier = threading.Barrier(2)

    def send(client: Client) -> None:
        barrier.wait()
        client.init(f"?jwt={racing}", GottyPy=1)

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.frames_until_close()
    outcomes = sorted(b"[race] user=alice" in c.output for c in clients)
    assert outcomes == [False, True]
    loser = next(c for c in clients if b"user=" not in c.output)
    assert loser.closed is not None and loser.closed.reason == "token already used"


def test_a_ticket_from_one_replica_redeems_on_the_other_once(
        gotty: Gotty, tmp_path: Path, redis_server: RedisServer) -> None:
    replicas = Replicas(gotty, tmp_path, redis_server)
    one, two = replicas.servers
    ticket, output = ran(launch(one, "?jwt=" + replicas.token(args=["one", "two words"])))
    assert "[one][two words] user=alice" in output

    next_ticket, again = ran(launch(two, f"?ticket={ticket}"))
    assert "[one][two words] user=alice" in again
    two.wait_for_line(r"Reconnect ticket accepted for user 'alice'")
    assert refusal(launch(one, f"?ticket={ticket}")) == (
        1008, "reconnect ticket expired or already used")
    assert refusal(launch(two, f"?ticket={ticket}")) == (
        1008, "reconnect ticket expired or already used")

    _, third = ran(launch(one, f"?ticket={next_ticket}"))  # and back
    assert "[one][two words] user=alice" in third


def test_a_grant_written_into_redis_by_someone_else_is_not_believed(
        gotty: Gotty, tmp_path: Path, redis_server: RedisServer) -> None:
    """Whoever can write to Redis could plant a ticket; it may only ever give what a token
    could give this server (its command, write only where permitted)."""
    replicas = Replicas(gotty, tmp_path, redis_server)
    one, _ = replicas.servers
    forged = {"v": 1, "argv": ["/bin/sh", "-c", "touch /tmp/owned"], "permit_write": False,
              "user": "mallory", "claims": {}, "target": None, "env": {}, "info": {}}
    readonly_shell = {**forged, "argv": ["sh", "-c", SHOW, str(replicas.marker)],
                      "permit_write": True}
    for planted in (forged, readonly_shell):
        ticket = f"planted-{planted['permit_write']}"
        key = TICKET_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()
        redis_server.command("SET", key, json.dumps(planted))
        assert refusal(launch(one, f"?ticket={ticket}")) == (
            1008, "reconnect ticket expired or already used")
        one.wait_for_line(r"Reconnect ticket refused: its grant \(command '"
                          + ("/bin/sh" if planted is forged else "sh") + r"', write "
                          + str(planted["permit_write"]) + r"\) is not one this server makes")
    assert not replicas.marker.exists()


def test_redis_down_refuses_launches_on_both_until_it_is_back(
        gotty: Gotty, tmp_path: Path, redis_server: RedisServer) -> None:
    replicas = Replicas(gotty, tmp_path, redis_server)
    one, two = replicas.servers
    ticket, _ = ran(launch(one, "?jwt=" + replicas.token()))
    replicas.marker.unlink()
    assert readyz(one) == readyz(two) == (200, "ready\n")

    redis_server.stop()
    for server in (one, two):  # not ready: the Service sends no new sessions to either
        status, reasons = readyz(server)
        assert status == 503
        assert reasons.startswith("store: the shared token store is unreachable: "), reasons
    for server in (one, two):
        assert refusal(launch(server, "?jwt=" + replicas.token())) == (1008, UNREACHABLE)
        server.wait_for_line(r"Launch refused for 127\.0\.0\.1:\d+: the shared token store is "
                             rf"unreachable: redis://127\.0\.0\.1:{redis_server.port}/0: ")
    # Nor is a ticket ever accepted unchecked.
    assert refusal(launch(two, f"?ticket={ticket}")) == (1008, UNREACHABLE)
    assert not replicas.marker.exists()

    redis_server.start()  # same port, empty
    for server in (one, two):
        assert wait_for(lambda s=server: readyz(s)[0] == 200, 10, message="ready again")
    for server in (one, two):
        _, output = ran(launch(server, "?jwt=" + replicas.token(args=[server.host])))
        assert f"[{server.host}] user=alice" in output
    # Redis kept nothing (no persistence here): the ticket is gone with it.
    assert refusal(launch(two, f"?ticket={ticket}")) == (
        1008, "reconnect ticket expired or already used")


def test_redis_down_at_start_up_is_a_warning_not_a_crash(
        gotty: Gotty, tmp_path: Path, redis_server: RedisServer) -> None:
    redis_server.stop()
    secret = write_secret(tmp_path / "secret")
    server = gotty("--jwt-secret-file", str(tmp_path / "secret"), *POLICY,
                   "--store", redis_server.url, "sh", "-c", SHOW, str(tmp_path / "ran"))
    server.wait_for_line(r"Warning: the shared token store is unreachable: "
                         rf"redis://127\.0\.0\.1:{redis_server.port}/0: .*; launches are "
                         r"refused until it answers")
    assert refusal(open_session(server, "?jwt=" + hs256(secret, claims()))) == (1008,
                                                                               UNREACHABLE)
    redis_server.start()
    client = open_session(server, "?jwt=" + hs256(secret, claims(args=["back"])))
    client.frames_until_close()
    assert "[back] user=alice" in client.output.decode()


def test_a_store_without_jwt_is_a_warning(gotty: Gotty, redis_server: RedisServer) -> None:
    server = gotty("--store", redis_server.url, "sh", "-c", "echo ok")
    server.wait_for_line(rf"Warning: --store redis://127\.0\.0\.1:{redis_server.port}/0 is "
                         r"ignored: it keeps launch-token ids and reconnect tickets, and JWT "
                         r"launch tokens are not enabled")
    client = open_session(server)
    client.frames_until_close()
    assert b"ok" in client.output
    assert "name=gotty-py" not in redis_server.command("CLIENT", "LIST")  # never connected


def test_replicas_share_a_tls_redis(gotty: Gotty, tmp_path: Path) -> None:
    """rediss:// with the test CA and a client certificate, as a managed Redis would be."""
    if not REDIS_SERVER.is_file():
        pytest.skip(MISSING)
    redis = RedisServer(tmp_path / "redis-tls", make_pki(tmp_path / "pki"))
    redis.start()
    try:
        replicas = Replicas(gotty, tmp_path, redis)
        one, two = replicas.servers
        token = replicas.token(args=["tls"])
        ticket, output = ran(launch(one, f"?jwt={token}"))
        assert "[tls] user=alice" in output
        assert refusal(launch(two, f"?jwt={token}")) == (1008, "token already used")
        _, again = ran(launch(two, f"?ticket={ticket}"))
        assert "[tls] user=alice" in again
        one.wait_for_line(r"Shared token store reachable: rediss://127\.0\.0\.1:\d+/0$")
    finally:
        redis.stop()


def test_a_session_ending_while_redis_is_down_is_logged_not_a_failure(
        gotty: Gotty, tmp_path: Path, redis_server: RedisServer) -> None:
    secret = write_secret(tmp_path / "secret")
    server = gotty("--jwt-secret-file", str(tmp_path / "secret"), *POLICY,
                   "--store", redis_server.url, "--reconnect", "--reconnect-time", "1",
                   "sh", "-c", "echo started; read x")
    client = launch(server, "?jwt=" + hs256(secret, claims()))
    assert isinstance(session_info(client)["reconnect_ticket"], str)
    client.read_until(b"started")
    redis_server.stop()
    client.close()
    server.wait_for_line(r"Session [0-9a-f]{16}: its reconnect ticket could not be given its "
                         r"31 s window \(the shared token store is unreachable: "
                         rf"redis://127\.0\.0\.1:{redis_server.port}/0: PEXPIRE failed: .*\); "
                         r"it stays redeemable until its running-session expiry")
    server.wait_for_line(r"Connection closed by client")
    assert "observer" not in server.output() and "Traceback" not in server.output()

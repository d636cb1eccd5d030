"""Reconnecting in JWT mode: the single-use launch token is replaced by reconnect tickets."""

from __future__ import annotations

from pathlib import Path

from gotty_py.auth.tickets import MemoryTicketStore
from tests.gotty import Gotty, open_session, run_async, session_info
from tests.jwt_keys import claims, hs256, write_secret

SHOW = 'printf "[%s]" "$@"; echo " user=$GOTTY_USER"'
POLICY = ("--jwt-audience", "console", "--jwt-issuer", "portal")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestStore:
    def test_single_use(self) -> None:
        async def scenario() -> None:
            tickets: MemoryTicketStore[str] = MemoryTicketStore()
            ticket = await tickets.issue("grant")
            assert len(ticket) >= 40
            assert await tickets.redeem(ticket) == "grant"
            assert await tickets.redeem(ticket) is None
            assert await tickets.redeem("made-up") is None

        run_async(scenario())

    def test_redeemable_while_running_then_for_a_window_after_the_end(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            tickets: MemoryTicketStore[str] = MemoryTicketStore(clock)
            running, ended = await tickets.issue("a"), await tickets.issue("b")
            clock.now += 10_000  # a long session: its ticket does not age while it runs
            await tickets.expire_after_end(ended, 31)
            clock.now += 30
            assert await tickets.redeem(ended) == "b"
            late = await tickets.issue("c")
            await tickets.expire_after_end(late, 31)
            clock.now += 31
            assert await tickets.redeem(late) is None
            assert len(tickets) == 1 and await tickets.redeem(running) == "a"

        run_async(scenario())


def test_reconnect_with_the_ticket_gets_the_same_grant(gotty: Gotty, tmp_path: Path) -> None:
    secret = write_secret(tmp_path / "secret")
    server = gotty("--jwt-secret-file", str(tmp_path / "secret"), *POLICY, "--reconnect",
                   "--reconnect-time", "1", "sh", "-c", SHOW, "a0")
    first = open_session(server, "?jwt=" + hs256(secret, claims(args=["one", "two words"])),
                         GottyPy=1)
    ticket = session_info(first)["reconnect_ticket"]
    assert isinstance(ticket, str)
    first.frames_until_close()
    assert "[one][two words] user=alice" in first.output.decode()

    again = open_session(server, f"?ticket={ticket}", GottyPy=1)
    next_ticket = session_info(again)["reconnect_ticket"]
    again.frames_until_close()
    assert "[one][two words] user=alice" in again.output.decode()
    assert next_ticket != ticket
    server.wait_for_line(r"Reconnect ticket accepted for user 'alice'")

    replay = open_session(server, f"?ticket={ticket}", GottyPy=1)
    replay.frames_until_close()
    assert replay.closed is not None
    assert (replay.closed.code, replay.closed.reason) == (
        1008, "reconnect ticket expired or already used")
    assert b"user=" not in replay.output


def test_no_tickets_without_reconnect(gotty: Gotty, tmp_path: Path) -> None:
    secret = write_secret(tmp_path / "secret")
    server = gotty("--jwt-secret-file", str(tmp_path / "secret"), *POLICY, "sh", "-c", SHOW,
                   "a0")
    client = open_session(server, "?jwt=" + hs256(secret, claims()), GottyPy=1)
    assert "reconnect_ticket" not in session_info(client)
    forged = open_session(server, "?ticket=anything", GottyPy=1)
    forged.frames_until_close()
    assert forged.closed is not None and forged.closed.reason == "token missing"

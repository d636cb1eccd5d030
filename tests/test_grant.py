"""The grant rules, through the server's own session factory built in-process.

A real `GottyServer` is constructed (options, plugins, admission, session factory) with an
in-memory backend instead of PTYs and a recording master instead of a WebSocket, so each
rule runs in milliseconds. The same rules are tested end to end, with real servers,
WebSockets and processes, in test_jwt_sessions.py, test_session.py and
test_reconnect_tickets.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado.httputil import HTTPHeaders

from gotty_py.options import Options
from gotty_py.server.admission import Slot
from gotty_py.server.app import GottyServer
from gotty_py.server.grant import RECONNECT_TICKET, ClientInfo
from gotty_py.webtty.session import Session
from gotty_py.webtty.state import State
from tests.fakes import InMemoryBackend, RecordingMaster
from tests.gotty import run_async
from tests.jwt_keys import claims, hs256, write_secret

PEER = "127.0.0.1:5000"
DEADLINE = 5.0  # seconds an in-memory session may take to start or end


@dataclass
class Opened:
    session: Session
    master: RecordingMaster
    backend: InMemoryBackend

    @property
    def argv(self) -> tuple[str, ...]:
        assert self.session.facts is not None
        return self.session.facts.argv


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0)


class InProcess:
    """A gotty-py server's session factory and admission, driven without a network."""

    def __init__(self, *command: str, **options: Any) -> None:
        self.backend = InMemoryBackend()
        self.server = GottyServer(Options(**options), command or ("sh",), self.backend,
                                  environ={"PATH": "/bin", "GOTTY_CREDENTIAL": "secret"})
        self._slots: list[Slot] = []

    async def open(self, arguments: str = "", token: str = "",
                   headers: dict[str, str] | None = None) -> Opened:
        """A session given this init; returns once it runs or has ended."""
        slot = self.server.admission.admit(PEER, hang_up=lambda: None)
        self._slots.append(slot)
        master = RecordingMaster()
        client = ClientInfo(PEER, HTTPHeaders(headers or {}))
        session = self.server.site.open_session(master, client, slot)
        init = {"Arguments": arguments, "AuthToken": token}
        session.receive(json.dumps(init).encode(), binary=False)
        await until(lambda: session.state in (State.RUNNING, State.ENDED), "the start")
        return Opened(session, master, self.backend)

    async def close(self) -> None:
        """End every session still running, and wait until each gave its slot back."""
        for slot in self.server.admission.slots():
            if slot.session is not None:
                slot.session.shutdown()
        await asyncio.gather(*(slot.released for slot in self._slots if slot.released))
        assert len(self.server.admission) == 0


def scenario(test: Callable[[], Awaitable[None]]) -> None:
    run_async(test(), timeout=30)


def refusal(opened: Opened) -> tuple[int, str] | None:
    return opened.master.closed


def test_the_init_token_must_equal_the_credential() -> None:
    async def run() -> None:
        gotty = InProcess("sh", "-c", "x", credential="user:pw")
        wrong = await gotty.open(token="user:nope")
        assert refusal(wrong) == (1008, "unauthorized") and gotty.backend.slaves == []
        right = await gotty.open(token="user:pw")
        assert right.session.state is State.RUNNING and right.argv == ("sh", "-c", "x")
        await gotty.close()

    scenario(run)


def test_arguments_are_appended_only_with_permit_arguments() -> None:
    async def run() -> None:
        closed = InProcess("echo")
        assert (await closed.open("?arg=a&arg=b")).argv == ("echo",)
        opened = InProcess("echo", permit_arguments=True)
        assert (await opened.open("/?arg=a&arg=b%20c")).argv == ("echo", "a", "b c")
        await closed.close()
        await opened.close()

    scenario(run)


def jwt_server(tmp_path: Path, **options: Any) -> tuple[InProcess, bytes]:
    secret = write_secret(tmp_path / "secret")
    return InProcess("sh", jwt_secret_file=str(tmp_path / "secret"), jwt_audience="console",
                     jwt_issuer="portal", **options), secret


def test_in_jwt_mode_the_token_alone_decides_the_arguments(tmp_path: Path) -> None:
    async def run() -> None:
        gotty, secret = jwt_server(tmp_path, permit_arguments=True, permit_write=True)
        token = hs256(secret, claims(args=["one"], ns="prod"))
        opened = await gotty.open(f"?arg=evil&jwt={token}")
        facts = opened.session.facts
        assert facts is not None
        assert (facts.argv, facts.user, facts.claims["ns"], facts.writable) == (
            ("sh", "one"), "alice", "prod", True)
        assert opened.backend.slaves[0].request.facts is facts  # computed once, handed on
        await gotty.close()

    scenario(run)


def test_token_refusals(tmp_path: Path) -> None:
    async def run() -> None:
        gotty, secret = jwt_server(tmp_path)
        token = hs256(secret, claims())
        cases = {"?arg=x": "token missing", f"?jwt={token}&jwt={token}": "invalid token",
                 "?jwt=" + hs256(b"another secret of thirty-two bytes!", claims()):
                 "invalid token"}
        for arguments, reason in cases.items():
            assert refusal(await gotty.open(arguments)) == (1008, reason), arguments
        first = await gotty.open(f"?jwt={token}")
        assert first.session.state is State.RUNNING
        assert refusal(await gotty.open(f"?jwt={token}")) == (1008, "token already used")
        assert len(gotty.backend.slaves) == 1
        await gotty.close()

    scenario(run)


def test_the_write_claim_only_takes_write_away(tmp_path: Path) -> None:
    async def run() -> None:
        for server_write, claim, writable in ((True, False, False), (False, True, False),
                                              (True, None, True)):
            gotty, secret = jwt_server(tmp_path, permit_write=server_write)
            opened = await gotty.open("?jwt=" + hs256(secret, claims(write=claim)))
            assert opened.session.facts is not None
            assert opened.session.facts.writable is writable
            await gotty.close()

    scenario(run)


def test_credential_and_token_must_both_pass(tmp_path: Path) -> None:
    async def run() -> None:
        gotty, secret = jwt_server(tmp_path, credential="u:p")
        no_credential = await gotty.open("?jwt=" + hs256(secret, claims()))
        assert refusal(no_credential) == (1008, "unauthorized")
        both = await gotty.open("?jwt=" + hs256(secret, claims()), token="u:p")
        assert both.session.state is State.RUNNING
        await gotty.close()

    scenario(run)


def test_a_reconnect_ticket_stands_for_the_same_grant_once(tmp_path: Path) -> None:
    async def run() -> None:
        gotty, secret = jwt_server(tmp_path, enable_reconnect=True)
        first = await gotty.open("?jwt=" + hs256(secret, claims(args=["a"])))
        assert first.session.launch is not None
        ticket = first.session.launch.info[RECONNECT_TICKET]
        await gotty.close()
        again = await gotty.open(f"?ticket={ticket}")
        assert again.session.facts is not None
        assert (again.argv, again.session.facts.user) == (("sh", "a"), "alice")
        assert refusal(await gotty.open(f"?ticket={ticket}")) == (
            1008, "reconnect ticket expired or already used")
        await gotty.close()

    scenario(run)


def test_pass_headers_gives_the_command_the_headers_but_no_secrets() -> None:
    async def run() -> None:
        gotty = InProcess("sh", pass_headers=True)
        opened = await gotty.open(headers={"X-Team": "blue", "Authorization": "Basic x",
                                           "Cookie": "c=1", "Proxy": "http://evil"})
        env = opened.backend.slaves[0].request.env
        assert env["HTTP_X_TEAM"] == "blue"
        assert not {"HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_PROXY"} & set(env)
        await gotty.close()

    scenario(run)


def test_once_is_used_up_only_by_a_session_that_starts() -> None:
    async def run() -> None:
        gotty = InProcess("sh", once=True, credential="u:p")
        await gotty.open(token="wrong")
        assert gotty.server.admission.refusal() is None
        opened = await gotty.open(token="u:p")
        assert opened.session.state is State.RUNNING
        assert gotty.server.admission.refusal() == "Server is shutting down"
        await gotty.close()

    scenario(run)

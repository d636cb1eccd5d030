"""The live-session registry and the admin routes' access decisions, without a network.

Sessions are driven through their two interfaces with the in-memory `Master` and `Slave`
of tests/fakes.py (as in test_session_unit.py); the admin routes are tested end to end, on
a real server, in test_admin.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gotty_py.server.admin import render_page
from gotty_py.server.admin_access import AdminAccess, cross_site_post
from gotty_py.server.registry import ENDED_BY_ADMIN, SessionRegistry
from gotty_py.webtty.protocol import CloseCode
from gotty_py.webtty.session import Launch, Session, SessionPlugins, SessionSettings
from gotty_py.webtty.state import EndCause
from tests.fakes import InMemoryBackend, InMemorySlave, RecordingMaster
from tests.gotty import run_async


@dataclass
class Sharing:
    """What a session hub would say of a session (registry.SharingFacts)."""

    observer_count: int
    detached: bool


def make_session(registry: SessionRegistry, user: str,
                 ) -> tuple[Session, RecordingMaster, list[InMemorySlave]]:
    master = RecordingMaster()
    backend = InMemoryBackend()

    async def grant(_: object) -> Launch:
        return Launch(argv=("bash", "-c", "echo 'hi'\n"), permit_write=True, user=user)

    plugins = SessionPlugins(grant=grant, observers=(registry.observe(),))
    session = Session(master, SessionSettings(render_title=lambda facts, v: "t"), backend,
                      plugins, remote_addr="192.0.2.7:5555")
    return session, master, backend.slaves


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_registry_lists_running_sessions_from_their_facts_and_counters() -> None:
    async def scenario() -> None:
        sharing: dict[str, Sharing] = {}
        registry = SessionRegistry(sharing=lambda s: sharing.get(s.id, Sharing(0, False)))
        session, _, slaves = make_session(registry, "alice")
        assert registry.sessions() == []  # not before its command runs
        session.receive(b"{}", binary=False)
        await settle()
        [view] = registry.sessions()
        assert (view.id, view.user, view.client) == (session.id, "alice", "192.0.2.7:5555")
        assert view.argv == ("bash", "-c", "echo 'hi'\n")
        assert view.command == "bash -c $'echo \\'hi\\'\\n'"  # as the log shows it
        assert (view.bytes_in, view.bytes_out, view.observers, view.detached) == (0, 0, 0, False)
        session.receive(b"1abc", binary=False)
        slaves[0]._output.put_nowait(b"12345")
        sharing[session.id] = Sharing(3, True)
        await settle()
        view = registry.get(session.id)  # type: ignore[assignment]
        assert (view.bytes_in, view.bytes_out, view.observers, view.detached) == (3, 5, 3, True)
        session.shutdown()
        await session.wait()
        assert registry.sessions() == [] and registry.get(session.id) is None

    run_async(scenario())


def test_ending_from_the_registry_is_the_sessions_own_end_with_who() -> None:
    async def scenario() -> None:
        registry = SessionRegistry()
        session, master, slaves = make_session(registry, "bob")
        other, _, _ = make_session(registry, "carol")
        for s in (session, other):
            s.receive(b"{}", binary=False)
        await settle()
        assert registry.end("0" * 16, "admin") is None
        assert registry.end(session.id, "admin", client="127.0.0.1:1") is session
        end = await session.wait()
        assert (end.cause, end.detail, end.ended_by) == (EndCause.ADMIN_ENDED, ENDED_BY_ADMIN,
                                                         "admin")
        assert master.closed == (CloseCode.POLICY_VIOLATION, ENDED_BY_ADMIN)
        assert slaves[0].closed  # the slave was closed: its process tree ends with it
        assert [view.user for view in registry.sessions()] == ["carol"]
        other.shutdown()
        await other.wait()

    run_async(scenario())


def test_cross_site_posts_are_told_apart() -> None:
    host = "console.example:8080"
    assert cross_site_post(None, host, None) is None  # gotty-py-admin, curl
    assert cross_site_post("https://console.example:8080", host, "same-origin") is None
    assert cross_site_post("http://CONSOLE.example:8080", host, None) is None
    for origin, fetch_site in (("https://evil.example", None), ("null", None),
                               ("https://console.example", None),  # another port
                               (None, "cross-site"), (None, "same-site"),
                               ("https://console.example:8080", "cross-site"),
                               ("http://[", None)):
        assert cross_site_post(origin, host, fetch_site) is not None, (origin, fetch_site)


def test_admin_access_checks_the_credential_and_the_form_token() -> None:
    access = AdminAccess("admin:pa:ss")
    assert access.user == "admin"
    assert access.check("Basic YWRtaW46cGE6c3M=").name == "OK"  # admin:pa:ss
    assert access.check("Basic YWRtaW46cGE=").name == "WRONG"  # admin:pa
    assert access.check(None).name == "MISSING"
    assert access.form_token_matches(access.form_token)
    assert not access.form_token_matches(None)
    assert not access.form_token_matches(AdminAccess("admin:pa:ss").form_token)  # per server


def test_the_page_escapes_what_sessions_carry() -> None:
    async def scenario() -> str:
        registry = SessionRegistry()
        session, _, _ = make_session(registry, "<b>mallory</b>")
        session.receive(b"{}", binary=False)
        await settle()
        page = render_page(registry.sessions(), "TOKEN", 0.0)
        session.shutdown()
        await session.wait()
        return page

    page = run_async(scenario())
    assert "&lt;b&gt;mallory&lt;/b&gt;" in page and "<b>mallory" not in page
    assert 'action="sessions/' in page and "/end?token=TOKEN" in page

"""The kubernetes backend's pure parts (target, policy, identity) and its Slave driven by an
in-memory exec connection: flow control both ways, ordering, the close, without a network.
End to end with the simulated API server: tests/test_k8s_native.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gotty_py.backend.hooks import HookResult
from gotty_py.kubernetes import backend as k8s_backend
from gotty_py.kubernetes.backend import KubernetesExec
from gotty_py.kubernetes.channels import Subprotocol
from gotty_py.kubernetes.target import (
    ExecTarget,
    Identity,
    Policy,
    TargetRefused,
    identity_from,
    parse_selector,
    target_from_claims,
)
from tests.gotty import run_async

# --- target and policy --------------------------------------------------------------------


def test_the_target_comes_from_the_k8s_claim() -> None:
    claims = {"k8s": {"namespace": "team-a", "pod": "web-0", "container": "app",
                      "command": ["bash", "-l"]}}
    assert target_from_claims(claims, ["sh"]) == ExecTarget("team-a", "web-0", "app",
                                                            ("bash", "-l"))
    # Without container and command: the pod's only container, the server's command.
    assert target_from_claims({"k8s": {"namespace": "a", "pod": "p"}}, ["sh", "-i"]) == \
        ExecTarget("a", "p", None, ("sh", "-i"))


@pytest.mark.parametrize("claim", [
    None, "team-a/web-0", {"pod": "web-0"}, {"namespace": "team-a"},
    {"namespace": "Team-A", "pod": "web-0"}, {"namespace": "a", "pod": "../x"},
    {"namespace": "a", "pod": "p", "container": 7}, {"namespace": "a", "pod": "p", "command": []},
    {"namespace": "a", "pod": "p", "command": "bash"},
    {"namespace": "a", "pod": "p", "command": ["ba\0sh"]},
    {"namespace": "a", "pod": "p", "command": ["x"] * 65},
])
def test_a_missing_or_malformed_target_is_refused(claim: Any) -> None:
    with pytest.raises(TargetRefused):
        target_from_claims({} if claim is None else {"k8s": claim}, ["sh"])


def test_the_policy_checks_namespace_command_and_labels() -> None:
    selector = parse_selector("app=web,tier!=db,console,!legacy")
    policy = Policy(frozenset({"team-a"}), selector, "app=web,...", frozenset({("sh",)}))
    ok = ExecTarget("team-a", "web-0", None, ("sh",))
    policy.check(ok)
    with pytest.raises(TargetRefused, match="namespace 'team-b' is not allowed"):
        policy.check(ExecTarget("team-b", "web-0", None, ("sh",)))
    with pytest.raises(TargetRefused, match="is not allowed on this console"):
        policy.check(ExecTarget("team-a", "web-0", None, ("sh", "-c", "id")))
    policy.check_labels(ok, {"app": "web", "console": ""})
    for labels in ({"app": "db", "console": ""}, {"app": "web"},
                   {"app": "web", "console": "", "legacy": "1"},
                   {"app": "web", "console": "", "tier": "db"}):
        with pytest.raises(TargetRefused, match="does not match"):
            policy.check_labels(ok, labels)


@pytest.mark.parametrize("text", ["app in (web)", "app notin (db)", "a,,b", "Bad Key=1",
                                  "app=no spaces", ""])
def test_selectors_we_cannot_read_exactly_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_selector(text)


def test_impersonation_headers() -> None:
    identity = identity_from("alice@example.com", {"groups": ["dev", "ops", "dev"]}, "groups",
                             "0123456789abcdef")
    assert identity.headers() == [
        ("Impersonate-User", "alice@example.com"), ("Impersonate-Group", "dev"),
        ("Impersonate-Group", "ops"), ("Impersonate-Extra-gotty-session-id",
                                       "0123456789abcdef")]
    assert identity.review_groups() == ["dev", "ops", "system:authenticated"]
    assert identity_from("bob", {"teams": "qa"}, "teams", "s").groups == ("qa",)
    assert identity_from("bob", {}, "groups", "s").groups == ()


@pytest.mark.parametrize(("user", "claims"), [
    (None, {}), ("", {}), ("system:admin", {}), ("bob", {"groups": ["system:masters"]}),
    ("bob", {"groups": [1]}), ("bob", {"groups": {"a": 1}}), ("bo\nb", {}),
])
def test_identities_that_must_not_be_impersonated(user: str | None,
                                                  claims: dict[str, Any]) -> None:
    with pytest.raises(TargetRefused):
        identity_from(user, claims, "groups", "s")


# --- the Slave on an in-memory exec connection ----------------------------------------------


class FakeConnection:
    """The exec WebSocket: what the server sends is queued by the test; writes complete only
    when the test lets them (a slow API server), like Tornado's flushed-write futures."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.reads = 0
        self.sent: list[bytes] = []
        self.write_gate = asyncio.Event()
        self.write_gate.set()
        self.closed_with: int | None = None

    async def read_message(self) -> bytes | None:
        self.reads += 1
        return await self.incoming.get()

    async def write_message(self, message: bytes, binary: bool = False) -> None:
        assert binary
        await self.write_gate.wait()
        self.sent.append(message)

    def close(self, code: int | None = None) -> None:
        self.closed_with = code
        self.incoming.put_nowait(None)


class FakeBackend:
    def __init__(self) -> None:
        self.cleanups: list[str] = []

    async def run_cleanup(self, target: ExecTarget, identity: Identity | None,
                          session_id: str) -> HookResult:
        self.cleanups.append(session_id)
        return HookResult(["pods/exec", target.where, "gotty-cleanup", session_id], 0, False,
                          0.1, "gotty-cleanup: session ended")


TARGET = ExecTarget("team-a", "web-0", "app", ("sh",))


def make_exec(protocol: Subprotocol = Subprotocol.V5
              ) -> tuple[KubernetesExec, FakeConnection, FakeBackend]:
    connection, backend = FakeConnection(), FakeBackend()
    slave = KubernetesExec(backend, connection, protocol, TARGET, None, "s1")  # type: ignore[arg-type]
    return slave, connection, backend


def test_output_is_read_from_the_stream_only_when_asked_for() -> None:
    async def scenario() -> None:
        slave, connection, _ = make_exec()
        for i in range(5):
            connection.incoming.put_nowait(b"\x01chunk%d" % i)
        await asyncio.sleep(0)
        assert connection.reads == 0  # a session that does not read pulls nothing
        assert await slave.read() == b"chunk0"
        assert connection.reads == 1 and connection.incoming.qsize() == 4
        connection.incoming.put_nowait(b"\x03" + json.dumps({
            "status": "Failure", "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": "42"}]}}).encode())
        connection.incoming.put_nowait(None)
        assert [await slave.read() for _ in range(4)] == [b"chunk%d" % i for i in range(1, 5)]
        assert await slave.read() == b""
        assert slave.exit_status == 42
        await slave.close()

    run_async(scenario())


def test_input_is_bounded_by_water_marks_and_ordered_with_resizes() -> None:
    async def scenario() -> None:
        slave, connection, _ = make_exec()
        connection.write_gate.clear()  # the API server takes nothing for now
        slave.write(b"a" * (k8s_backend.INPUT_HIGH_WATER_MARK + 1))
        slave.resize(100, 30)
        slave.write(b"b")
        assert slave.input_backlogged
        drained = asyncio.ensure_future(slave.drain_input())
        await asyncio.sleep(0.01)
        assert not drained.done()
        connection.write_gate.set()
        await asyncio.wait_for(drained, 5)
        while len(connection.sent) < 34:  # 33 pieces of input, the resize, the last byte
            await asyncio.sleep(0.001)
        assert not slave.input_backlogged
        stdin = [m for m in connection.sent if m[0] == 0]
        assert b"".join(m[1:] for m in stdin) == b"a" * (k8s_backend.INPUT_HIGH_WATER_MARK + 1) \
            + b"b"
        resize_at = next(i for i, m in enumerate(connection.sent) if m[0] == 4)
        assert json.loads(connection.sent[resize_at][1:]) == {"Width": 100, "Height": 30}
        assert connection.sent[resize_at + 1] == b"\x00b"  # after the resize, as written
        await slave.close()

    run_async(scenario())


@pytest.mark.parametrize(("protocol", "close"), [(Subprotocol.V5, [b"\xff\x00"]),
                                                 (Subprotocol.V4, [])])
def test_close_half_closes_stdin_on_v5_then_cleans_up(protocol: Subprotocol,
                                                      close: list[bytes]) -> None:
    async def scenario() -> None:
        slave, connection, backend = make_exec(protocol)
        await slave.close()
        assert connection.sent == close and connection.closed_with == 1000
        assert backend.cleanups == ["s1"]
        assert slave.cleanup_result is not None and slave.cleanup_result.ok
        slave.write(b"late")  # after the close: dropped, never sent
        await slave.close()  # idempotent
        assert backend.cleanups == ["s1"] and connection.sent == close

    run_async(scenario())


def test_a_stream_that_ended_gets_no_close_frame_but_still_the_cleanup() -> None:
    async def scenario() -> None:
        slave, connection, backend = make_exec()
        connection.incoming.put_nowait(b'\x03{"status":"Success"}')
        connection.incoming.put_nowait(None)
        assert await slave.read() == b""
        assert slave.exit_status == 0
        await slave.close()
        assert connection.sent == [] and backend.cleanups == ["s1"]

    run_async(scenario())

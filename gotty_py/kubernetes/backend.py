"""The kubernetes backend: each session is a `pods/exec` through the API server, as the user.

Rules of this module: `start` checks, in this order and before anything runs, the token's
target (`target`), this server's policy (namespace, command), the pod (read as the console:
its labels against the selector), and with impersonation a SubjectAccessReview of `create
pods/exec` for the token's user and groups; a refusal is a `StartRefused` (close 1008, the
end line says why) and no exec is made. The exec impersonates the user (its session id as
a user extra) and runs the command under the record of `pod_scripts`. The `Slave` reads
only when the session asks for output, so a slow browser stops the reads from the API
stream (Tornado's client queue holds one message); input is queued with the same water
marks as the local command's. `close` ends the stream (v5: CLOSE of stdin first) and then,
whatever ended the session, runs the cleanup as a second exec through the same API as the
same user, with a deadline; its outcome is the slave's `cleanup_result`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tornado.websocket import WebSocketClientConnection, WebSocketClosedError

from ..backend.base import SlaveInfo, StartFailed, StartRefused, StartRequest
from ..backend.hooks import OUTPUT_KEPT, HookResult
from . import channels, pod_scripts
from .api import ApiError, KubernetesApi
from .channels import Channel, ExecError, ExitStatus, Subprotocol
from .config import ClusterAccess
from .target import (
    ExecTarget,
    Identity,
    Policy,
    TargetRefused,
    identity_from,
    target_from_claims,
)

log = logging.getLogger("gotty_py.backend")

# Input queued for the pod beyond which the client is read no further, and the level it
# must fall to again (as the local command's PTY input).
INPUT_HIGH_WATER_MARK = 1024 * 1024
INPUT_LOW_WATER_MARK = 64 * 1024
# How long the end of the exec stream may take once stdin is closed (the close handshake).
STREAM_CLOSE_WAIT = 5.0


@dataclass(frozen=True)
class KubernetesOptions:
    """The backend's own options (read from `Options` only in backends.py)."""

    policy: Policy
    impersonate: bool = True
    groups_claim: str = "groups"
    request_timeout: float = 10.0
    cleanup_timeout: float = 15.0


class KubernetesBackend:
    """Starts every session's command in a container through the API server."""

    def __init__(self, access: ClusterAccess, options: KubernetesOptions) -> None:
        self.access = access
        self.options = options
        self.api = KubernetesApi(access, options.request_timeout)

    @property
    def name(self) -> str:
        return f"kubernetes ({self.access.source}, " + (
            "impersonating each token's user)" if self.options.impersonate
            else "as the console's own account)")

    @property
    def close_time(self) -> float:
        return STREAM_CLOSE_WAIT + self.options.cleanup_timeout  # the cleanup's deadline
        # covers its own requests

    def check_command(self, command: Sequence[str]) -> None:
        """The command runs in a container: nothing on this machine to check."""

    async def start(self, request: StartRequest) -> KubernetesExec:
        facts = request.facts
        try:
            target = target_from_claims(facts.claims, facts.argv)
            self.options.policy.check(target)
            identity = (identity_from(facts.user, facts.claims, self.options.groups_claim,
                                      facts.id) if self.options.impersonate else None)
        except TargetRefused as exc:
            raise StartRefused(str(exc)) from None
        await self._check_pod(target)
        if identity is not None:
            await self._review(identity, target)
        try:
            connection, protocol = await self.api.exec(
                target, pod_scripts.recorded(facts.id, target.command), tty=True,
                identity=identity)
        except ApiError as exc:
            raise _start_error(exc, target) from None
        slave = KubernetesExec(self, connection, protocol, target, identity, facts.id)
        slave.resize(*facts.size)
        return slave

    async def _check_pod(self, target: ExecTarget) -> None:
        try:
            pod = await self.api.get_pod(target.namespace, target.pod)
        except ApiError as exc:
            raise _start_error(exc, target) from None
        metadata = pod.get("metadata")
        labels = metadata.get("labels") if isinstance(metadata, dict) else None
        labels = labels if isinstance(labels, dict) else {}
        try:
            self.options.policy.check_labels(
                target, {str(k): str(v) for k, v in labels.items()})
        except TargetRefused as exc:
            raise StartRefused(str(exc)) from None

    async def _review(self, identity: Identity, target: ExecTarget) -> None:
        try:
            review = await self.api.review(identity, target)
        except ApiError as exc:
            raise StartFailed(f"access review failed: {exc.message}") from None
        if not review.allowed:
            because = f": {review.reason}" if review.reason else ""
            raise StartRefused(f"{identity.user} may not exec into pod {target.namespace}/"
                               f"{target.pod} (access review denied{because})")

    async def run_cleanup(self, target: ExecTarget, identity: Identity | None,
                          session_id: str) -> HookResult:
        """The second exec: end what the session left in the container."""
        argv = ["pods/exec", target.where, "gotty-cleanup", session_id]
        started = time.monotonic()
        output = bytearray()
        try:
            async with asyncio.timeout(self.options.cleanup_timeout):
                connection, _ = await self.api.exec(
                    target, pod_scripts.cleanup(session_id), tty=False, identity=identity)
                status: ExitStatus | ExecError | None = None
                try:
                    while (message := await connection.read_message()) is not None:
                        if isinstance(message, str):
                            continue
                        with contextlib.suppress(channels.ChannelError):
                            frame = channels.decode(message)
                            if frame.channel is Channel.STATUS:
                                status = channels.parse_status(frame.data)
                            elif len(output) < OUTPUT_KEPT:
                                output += frame.data[:OUTPUT_KEPT - len(output)]
                finally:
                    connection.close()
        except TimeoutError:
            return HookResult(argv, None, True, time.monotonic() - started,
                              output.decode("utf-8", "replace"))
        except ApiError as exc:
            if exc.code == 404:  # the pod is gone, and with it every process of the session
                return HookResult(argv, 0, False, time.monotonic() - started,
                                  f"pod {target.namespace}/{target.pod} is gone: nothing of "
                                  "the session is left in it")
            return HookResult(argv, None, False, time.monotonic() - started, "",
                              error=exc.message)
        text = output.decode("utf-8", "replace")
        if isinstance(status, ExitStatus):
            return HookResult(argv, status.code, False, time.monotonic() - started, text)
        problem = status.message if isinstance(status, ExecError) else "the stream ended " \
            "without an exit status"
        return HookResult(argv, None, False, time.monotonic() - started,
                          f"{text}{problem}".strip(), error=problem)


def _start_error(exc: ApiError, target: ExecTarget) -> StartFailed:
    """What the user is told when the API server said no (or nothing)."""
    if exc.code == 404:
        return StartFailed(f"pod {target.namespace}/{target.pod} not found")
    if exc.code == 401:
        return StartFailed("the API server refused the console's credentials "
                           "(401 Unauthorized)")
    if exc.code == 403:
        return StartRefused(f"forbidden: {exc.message}")
    if exc.code is not None:
        return StartFailed(f"the API server answered {exc.code}: {exc.message}")
    return StartFailed(exc.message)


class KubernetesExec:
    """One exec stream into a container; a `Slave`."""

    def __init__(self, backend: KubernetesBackend, connection: WebSocketClientConnection,
                 protocol: Subprotocol, target: ExecTarget, identity: Identity | None,
                 session_id: str) -> None:
        self._backend = backend
        self._connection = connection
        self.protocol = protocol
        self.target = target
        self._identity = identity
        self._session_id = session_id
        self._status: ExitStatus | ExecError | None = None
        self._stream_ended = False
        self._frames: deque[bytes] = deque()  # stdin and resize messages, in order
        self._queued = 0  # stdin bytes among them
        self._drained = asyncio.Event()
        self._drained.set()
        self._wake_writer = asyncio.Event()
        self._writer = asyncio.ensure_future(self._write_frames())
        self._closing = False
        self.cleanup_result: HookResult | None = None

    # --- Slave interface -----------------------------------------------------------------

    def input_hidden(self) -> None:
        """Unknown: the terminal's modes are the container's, behind the API server (a
        recording under --audit-input keeps such input; docs/audit.md says so)."""
        return None

    def describe(self) -> SlaveInfo:
        target = self.target
        variables: Mapping[str, Any] = {
            "command": target.command[0], "argv": list(target.command[1:]),
            "namespace": target.namespace, "pod": target.pod,
            "container": target.container or ""}
        return SlaveInfo(summary=f"pod {target.where} ({self.protocol.value})",
                         variables=variables)

    @property
    def exit_status(self) -> int | None:
        return self._status.code if isinstance(self._status, ExitStatus) else None

    async def read(self) -> bytes:
        """The next output; b"" once the API server has ended the stream."""
        while not self._stream_ended:
            message = await self._connection.read_message()
            if message is None:
                self._stream_ended = True
                break
            if isinstance(message, str):
                continue  # the remote-command protocol is binary only
            try:
                frame = channels.decode(message)
            except channels.ChannelError as exc:
                log.warning("Exec into %s: %s", self.target.where, exc)
                continue
            if frame.channel is Channel.STATUS:
                self._status = channels.parse_status(frame.data)
                if isinstance(self._status, ExecError):
                    log.warning("Exec into %s failed: %s", self.target.where,
                                self._status.message)
            elif frame.data:
                return frame.data
        return b""

    def write(self, data: bytes) -> None:
        if self._closing or self._stream_ended or not data:
            return
        for message in channels.encode_stdin(data):
            self._frames.append(message)
        self._queued += len(data)
        if self._queued > INPUT_HIGH_WATER_MARK:
            self._drained.clear()
        self._wake_writer.set()

    @property
    def input_backlogged(self) -> bool:
        return self._queued > INPUT_HIGH_WATER_MARK

    async def drain_input(self) -> None:
        await self._drained.wait()

    def resize(self, columns: int, rows: int) -> None:
        if self._closing or self._stream_ended:
            return
        try:
            self._frames.append(channels.encode_resize(columns, rows))
        except channels.ChannelError:
            return
        self._wake_writer.set()

    async def close(self) -> None:
        """End the stream, then end in the container whatever the session left there."""
        if self._closing:
            return
        self._closing = True
        self._frames.clear()
        self._queued = 0
        self._drained.set()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        if not self._stream_ended:
            # The client is gone: say stdin is finished (v5), then leave. The shell keeps
            # running in the container (the runtime holds its terminal open): the cleanup
            # below is what ends it.
            close = channels.encode_close(self.protocol)
            if close is not None:
                with contextlib.suppress(WebSocketClosedError):
                    await asyncio.wait_for(
                        self._connection.write_message(close, binary=True), STREAM_CLOSE_WAIT)
            self._connection.close(1000)
        self.cleanup_result = result = await self._backend.run_cleanup(
            self.target, self._identity, self._session_id)
        level = logging.INFO if result.ok else logging.WARNING
        output = " | ".join(line for line in result.output.splitlines() if line.strip())
        log.log(level, "Cleanup for session %s in pod %s: %s%s", self._session_id,
                self.target.where, result.describe(), f" ({output})" if output else "")

    # --- internals -----------------------------------------------------------------------

    async def _write_frames(self) -> None:
        """Send queued messages in order, one at a time (each waits for the socket)."""
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            while self._frames:
                message = self._frames.popleft()
                try:
                    await self._connection.write_message(message, binary=True)
                except WebSocketClosedError:
                    self._frames.clear()
                    self._queued = 0
                    self._drained.set()
                    return
                if message[0] == Channel.STDIN:
                    self._queued -= len(message) - 1
                    if self._queued <= INPUT_LOW_WATER_MARK:
                        self._drained.set()

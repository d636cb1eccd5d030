"""Audit glue: each session's hooks become a recording and two event-log lines.

Rules of this module: the only place that knows both the session (webtty) and the audit
package, which stays free of them. One `AuditService` per server owns the writer thread,
the file-name template and the event log, and gives each session an `AuditObserver`,
whose `before_spawn` opens the recording before the process exists (so a required
recording fails closed, and nothing runs unrecorded).
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import time
from collections.abc import Awaitable, Mapping
from enum import StrEnum
from typing import Any, assert_never

from .. import __version__
from ..audit.asciicast import RecordingSummary, SessionRecorder
from ..audit.castformat import CastFormat, build_header
from ..audit.events import EventLog, event_log_location, utc_iso
from ..audit.hidden_input import HIDDEN_MARKER, HiddenInput, Verdict
from ..audit.naming import NameTemplate, TemplateError, make_directory
from ..audit.retention import RetentionError, RetentionPolicy
from ..audit.writer import BackgroundWriter
from ..backend.base import target_cleanup
from ..backend.hooks import HookResult
from ..config import expand_home
from ..facts import TERMINAL_TYPE, SessionFacts
from ..options import Options
from ..webtty.protocol import CloseCode
from ..webtty.session import Refused, Session, SessionObserver
from ..webtty.state import AttachNote, Disconnect, EndCause, SessionEnd, State
from .audit_checkpoints import CheckpointConfigError, Checkpointing
from .audit_retention import RetentionService

log = logging.getLogger("gotty_py.audit")

METADATA_KEY = "x-gotty-py"


class AuditConfigError(ValueError):
    """The audit options cannot work; the message names the option."""


def _reason(exc: BaseException) -> str:
    """An OS error as the client may see it: the cause, never a server path."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__ if isinstance(exc, OSError) else str(exc)


class Outcome(StrEnum):
    """One word for how a session ended, for listing and searching the event log."""

    EXITED = "exited"
    CLIENT_CLOSED = "client-closed"
    NETWORK_LOST = "network-lost"
    CLIENT_STALLED = "client-stalled"  # dropped for not reading, with output still owed
    SHUTDOWN = "shutdown"
    REFUSED = "refused"
    AUDIT_FAILED = "audit-failed"
    TIMED_OUT = "timed-out"  # --idle-timeout or --max-session-time ended it
    ADMIN_ENDED = "admin-ended"  # an administrator ended it (the admin page or gotty-py-admin)
    DETACH_EXPIRED = "detach-expired"  # the owner's page did not resume in --detach-grace
    ENDED_BY_MODERATOR = "ended-by-moderator"
    HANDED_OVER = "handed-over"  # the connection attached to another session (never logged)
    ERROR = "error"


def outcome(end: SessionEnd) -> Outcome:
    """The end's outcome; every cause is named, so a new one is a type error here."""
    match end.cause:
        case EndCause.PROCESS_EXITED:
            return Outcome.EXITED
        case EndCause.CLIENT_CLOSED:
            return (Outcome.NETWORK_LOST if end.disconnect is Disconnect.LOST
                    else Outcome.CLIENT_CLOSED)
        case EndCause.CLIENT_STALLED:
            return Outcome.CLIENT_STALLED
        case EndCause.SHUTDOWN:
            return Outcome.SHUTDOWN
        case EndCause.REFUSED:
            return Outcome.REFUSED
        case EndCause.AUDIT_FAILED:
            return Outcome.AUDIT_FAILED
        case EndCause.IDLE_TIMEOUT | EndCause.TIME_LIMIT:
            return Outcome.TIMED_OUT
        case EndCause.ADMIN_ENDED:
            return Outcome.ADMIN_ENDED
        case EndCause.DETACH_EXPIRED:
            return Outcome.DETACH_EXPIRED
        case EndCause.ENDED_BY_MODERATOR:
            return Outcome.ENDED_BY_MODERATOR
        case EndCause.HANDED_OVER:
            return Outcome.HANDED_OVER
        case (EndCause.PROTOCOL_ERROR | EndCause.INIT_TIMEOUT | EndCause.START_FAILED
              | EndCause.INTERNAL_ERROR):
            # A client that broke the protocol (a malformed init, or none in time), a
            # command that could not start, a bug: nothing for the user to have done.
            return Outcome.ERROR
        case _:
            assert_never(end.cause)


class AuditService:
    """Everything audit for one server (a plugin): recordings, event log, the writer
    thread."""

    def __init__(self, options: Options, command: list[str], hostname: str,
                 environ: Mapping[str, str] | None = None) -> None:
        self.options = options
        self.command = list(command)
        self.hostname = hostname
        self.directory = expand_home(options.audit_dir) if options.audit_dir else None
        try:
            self.template = NameTemplate(options.audit_file_name)
        except TemplateError as exc:
            raise AuditConfigError(f"invalid audit_file_name (--audit-file-name) "
                                   f"{options.audit_file_name!r}: {exc}") from None
        event_log_path = event_log_location(options.audit_event_log, options.audit_dir)
        self.required = options.audit_required
        self.record_input = options.audit_input
        self.format = CastFormat(options.audit_format)  # checked with the options
        self.cleanup_expected = bool(options.cleanup_command)
        self.writer = BackgroundWriter()
        try:
            self.checkpointing = Checkpointing.from_options(options, event_log_path,
                                                            environ or {}, self.writer)
        except CheckpointConfigError as exc:
            raise AuditConfigError(str(exc)) from None
        self.event_log = (EventLog(event_log_path, self.writer,
                                   self.checkpointing.checkpointer if self.checkpointing
                                   else None)
                          if event_log_path else None)
        # Recordings of sessions not yet ended (their end line not yet written): retention
        # never removes them. Loop thread only.
        self.live_recordings: set[str] = set()
        self.retention = self._retention(options)

    def _retention(self, options: Options) -> RetentionService | None:
        if not options.audit_retention:
            return None
        try:
            policy = RetentionPolicy.parse(options.audit_retention)
        except RetentionError as exc:
            raise AuditConfigError(f"invalid audit_retention (--audit-retention): {exc}"
                                   ) from None
        if self.event_log is None:
            raise AuditConfigError("audit_retention (--audit-retention) needs audit_dir or "
                                   "audit_event_log")
        copy = self.checkpointing.copy if self.checkpointing is not None else None
        keep = {self.event_log.path, *([copy.path] if copy is not None else [])}
        return RetentionService(policy, options.audit_retention, self.directory,
                                self.event_log, self.writer,
                                lambda: self.live_recordings | keep)

    @staticmethod
    def wanted(options: Options) -> bool:
        """Any audit option set (one that needs another is refused in `__init__`)."""
        return bool(options.audit_dir or options.audit_event_log
                    or options.audit_checkpoint_key or options.audit_checkpoint_copy
                    or options.audit_checkpoint_command or options.audit_retention)

    def start(self) -> None:
        """Start the writer thread and say where the audit trail goes (at server start)."""
        self.writer.start()
        if self.event_log is not None:
            self.writer.submit(self.event_log.open)
        if self.checkpointing is not None and self.event_log is not None:
            self.checkpointing.start(self.event_log)
        if self.retention is not None:
            self.retention.start()
        if self.directory is not None:
            try:
                make_directory(self.directory)
            except OSError as exc:
                # Not fatal: the directory may appear later; each session checks for itself.
                log.error("Audit directory %s is not usable (%s): sessions will be %s",
                          self.directory, exc.strerror or exc,
                          "refused" if self.required else "unrecorded")
            log.info("Recording sessions to %s as %s in asciicast %s (input %s, recording %s)",
                     self.directory, self.template.text, self.format,
                     "recorded, but not at prompts that do not echo" if self.record_input
                     else "not recorded",
                     "required" if self.required else "optional")
        if self.event_log is not None:
            log.info("Audit event log: %s%s", self.event_log.path,
                     f" ({self.checkpointing.describe()})" if self.checkpointing else "")

    async def aclose(self) -> None:
        """Write everything queued, the final checkpoint last, close the event log and
        stop the thread (at shutdown); then ship the final checkpoint."""
        if self.retention is not None:
            await self.retention.aclose()
        if self.event_log is not None:
            if self.checkpointing is not None:
                self.checkpointing.stop(self.event_log)
            self.writer.submit(self.event_log.close)
        await self.writer.aclose()
        if self.checkpointing is not None:
            await self.checkpointing.shipped()

    def interrupt(self) -> None:
        """Nothing to cut short: every line queued is written, however late."""

    def observe(self) -> SessionObserver:
        return AuditObserver(self)

    def record_cleanup(self, facts: SessionFacts, result: HookResult) -> None:
        """One event-log line per cleanup hook run, after the session's end line."""
        if self.event_log is None:
            return
        self.event_log.submit(cleanup_record(facts, result), sync=True)


def cleanup_record(facts: SessionFacts, result: HookResult) -> dict[str, Any]:
    """The event-log line of one cleanup: the hook's, or a backend's own in its target."""
    return {
        "event": "cleanup",
        "time": utc_iso(time.time()),
        "session": facts.id,
        "user": facts.user,
        "argv": result.argv,
        "ok": result.ok,
        "exit_status": result.exit_code,
        "timed_out": result.timed_out,
        "duration": round(result.duration, 3),
        "outcome": result.describe(),
        "output": result.output,
    }


class AuditObserver(SessionObserver):
    """One session's recording and event-log lines."""

    def __init__(self, service: AuditService) -> None:
        self.service = service
        self._connected_mono = time.monotonic()
        # Known from before_spawn on: the session a failing recording ends (fail closed).
        self._session: Session | None = None
        self.recorder: SessionRecorder | None = None
        self.recording_error: str | None = None
        self._size_recorded: tuple[int, int] | None = None
        self._hidden = HiddenInput()

    # --- what the session is ---------------------------------------------------------------

    def _who(self, session: Session) -> dict[str, Any]:
        facts = session.facts
        info = session.slave_info
        return {
            "session": session.id,
            "user": facts.user if facts else None,
            "remote_addr": session.remote_addr,
            "user_agent": session.user_agent,
            # Before the grant decided, the server's own command line.
            "argv": list(facts.argv if facts else self.service.command),
            "claims": dict(facts.claims) if facts else {},
            "pid": info.variables.get("pid") if info is not None else None,
            "host": self.service.hostname,
        }

    def _header(self, session: Session, facts: SessionFacts) -> dict[str, Any]:
        columns, rows = facts.size
        metadata = {
            **self._who(session),
            "started_at": utc_iso(facts.started_at),
            "permit_write": facts.writable,
            "input_recorded": self.service.record_input,
            "server": f"gotty-py {__version__}",
        }
        return build_header(width=columns, height=rows, timestamp=time.time(),
                            command=shlex.join(facts.argv), title=session.title or "",
                            env={"TERM": TERMINAL_TYPE}, metadata=metadata,
                            metadata_key=METADATA_KEY, fmt=self.service.format)

    # --- before the process is started -------------------------------------------------------

    async def before_spawn(self, session: Session) -> None:
        """Open the recording; with recording required, refuse the session if it cannot be."""
        assert session.facts is not None
        self._session = session
        service = self.service
        if service.directory is not None:
            try:
                components = service.template.render(session.facts)
                self.recorder = await SessionRecorder.create(
                    service.writer, service.directory, components, session.id,
                    on_error=self._recording_failed, fmt=service.format)
                service.live_recordings.add(self.recorder.path)
            except (OSError, ValueError) as exc:
                self.recording_error = f"recording unavailable: {_reason(exc)}"
                log.error("Audit: cannot open a recording in %s for session %s from %s: %s%s",
                          service.directory, session.id, session.remote_addr, exc,
                          "; session refused" if service.required else
                          "; SESSION RUNS UNRECORDED", extra=session.log_fields)
                if service.required:
                    raise Refused(self.recording_error) from None
        event_log = service.event_log
        # Deleted or replaced since its last line? Then this session's lines would go
        # nowhere: find out before anything runs (a stat, off the loop), and let the writer
        # thread, which owns the file, record the loss.
        if (service.required and event_log is not None and event_log.healthy
                and await asyncio.to_thread(event_log.moved) is not None):
            await service.writer.call(event_log.check)
        if service.required and event_log is not None and not event_log.healthy:
            self.recording_error = "audit event log unavailable"
            log.error("Audit: event log %s unusable (%s); session %s refused", event_log.path,
                      event_log.last_error, session.id, extra=session.log_fields)
            raise Refused(self.recording_error)

    def _recording_failed(self, message: str) -> None:
        recorder = self.recorder
        session = self._session
        log.error("Audit: recording %s of session %s failed: %s%s",
                  recorder.path if recorder else "?", session.id if session else "?", message,
                  "; ending the session" if self.service.required else
                  "; THE SESSION CONTINUES UNRECORDED",
                  extra=session.log_fields if session else None)
        self.recording_error = f"recording failed: {message}"
        if (self.service.required and session is not None
                and session.state in (State.STARTING, State.RUNNING)):
            session.abort(EndCause.AUDIT_FAILED, self.recording_error, CloseCode.INTERNAL_ERROR)

    # --- session hooks ---------------------------------------------------------------------

    def on_start(self, session: Session) -> None:
        facts = session.facts
        assert facts is not None
        recorder = self.recorder
        columns, rows = facts.size
        if recorder is not None:
            recorder.start(self._header(session, facts))
            self._size_recorded = (columns, rows)
            recorder.marker(f"connect {session.remote_addr}"
                            + (f" as {facts.user}" if facts.user else ""))
        if self.service.event_log is not None:
            self.service.event_log.submit({
                "event": "start",
                "time": utc_iso(time.time()),
                **self._who(session),
                "start": utc_iso(session.started_at),
                "size": f"{columns}x{rows}",
                "permit_write": facts.writable,
                "recording": recorder.path if recorder else None,
                "recording_error": self.recording_error,
                "input_recorded": self.service.record_input and recorder is not None,
            })

    def on_output(self, data: bytes) -> None:
        if self.recorder is not None:
            self.recorder.output(data)

    def output_backlog(self) -> Awaitable[None] | None:
        return self.recorder.backlog() if self.recorder is not None else None

    def session_info(self) -> Mapping[str, Any]:
        """`recorded` for the page's banner, only once the file is open and its header
        queued (on_start ran): the page never says so falsely."""
        recorder = self.recorder
        return {"recorded": True} if recorder is not None and recorder.started \
            and recorder.active else {}

    def on_input(self, data: bytes) -> None:
        recorder = self.recorder
        if recorder is None or not self.service.record_input:
            return
        slave = self._session.slave if self._session is not None else None
        # Asked now, as the input goes to the process: is the terminal at a prompt that
        # does not echo? Then the typed bytes (a password) stay out of the recording.
        hidden = slave.input_hidden() if slave is not None else None
        match self._hidden.verdict(hidden):
            case Verdict.RECORD:
                recorder.input(data)
            case Verdict.MARK:
                recorder.marker(HIDDEN_MARKER)
            case Verdict.DROP:
                pass

    def on_resize(self, columns: int, rows: int) -> None:
        if self.recorder is not None and (columns, rows) != self._size_recorded:
            self._size_recorded = (columns, rows)
            self.recorder.resize(columns, rows)

    def on_attach(self, session: Session, note: AttachNote) -> None:
        """Detach, reattach, join, leave: a marker in the recording and an event-log line
        with who it was."""
        if self.recorder is not None:
            self.recorder.marker(note.describe())
        if self.service.event_log is not None:
            self.service.event_log.submit({
                "event": note.event.value,
                "time": utc_iso(time.time()),
                "session": session.id,
                "user": session.facts.user if session.facts else None,
                "role": note.role,
                "who": note.who,
                "remote_addr": note.remote_addr,
                "detail": note.detail,
            })

    async def on_end(self, session: Session, end: SessionEnd) -> None:
        now = time.time()
        # A backend that cleaned up in its target (the kubernetes backend) did so in its
        # close, before this: its outcome follows the end line as a hook's would.
        cleanup = target_cleanup(session.slave)
        cleanup_line = (cleanup_record(session.facts, cleanup)
                        if cleanup is not None and session.facts is not None else None)
        record: dict[str, Any] = {
            "event": "end",
            "time": utc_iso(now),
            **self._who(session),
            "start": utc_iso(session.started_at),
            "end": utc_iso(now),
            "duration": round(time.monotonic() - self._connected_mono, 3),
            "outcome": outcome(end),
            "cause": end.cause,
            "detail": end.detail,
            "exit_status": end.exit_status,
            "close_code": end.close_code,
            "bytes_in": session.bytes_in,
            "bytes_out": session.bytes_out,
            # Of which the client never got this many (it stopped reading; else null).
            "undelivered": end.undelivered,
            # Who ended it from the admin endpoint (outcome admin-ended); else null.
            "ended_by": end.ended_by,
            "input_recorded": self.service.record_input and self.recorder is not None,
            # Input runs typed at prompts that do not echo, left out of the recording.
            "input_hidden_runs": self._hidden.runs,
            # A cleanup line must follow: `gotty-py-audit` reports a session whose hook
            # never ran (the server was killed first) as well as one whose hook failed.
            "cleanup_expected": (self.service.cleanup_expected and session.slave is not None)
            or cleanup_line is not None,
        }
        event_log = self.service.event_log
        recorder = self.recorder
        if recorder is None:
            if event_log is not None:
                event_log.submit({**record, "recording": None,
                                  "recording_error": self.recording_error}, sync=True)
                if cleanup_line is not None:
                    event_log.submit(cleanup_line, sync=True)
            return
        if not recorder.started:  # refused or failed after the file was opened
            assert session.facts is not None  # a recording is opened only once they are known
            recorder.start(self._header(session, session.facts))
        known_error = self.recording_error

        def write_end_line(summary: RecordingSummary) -> None:  # in the writer thread
            if event_log is not None:
                fields = summary.fields()
                fields["recording_error"] = known_error or (
                    f"recording failed: {summary.error}" if summary.error else None)
                event_log.append({**record, **fields}, sync=True)
                if cleanup_line is not None:
                    event_log.append(cleanup_line, sync=True)
            # Complete and logged: from now on retention may remove it.
            self.service.writer.to_loop(self.service.live_recordings.discard, recorder.path)

        recorder.close(f"disconnect: {end.cause}: {end.detail}", then=write_end_line,
                       exit_status=end.exit_status)

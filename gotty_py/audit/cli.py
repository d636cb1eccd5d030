"""`gotty-py-audit`: list the recorded sessions, show, dump or replay one, verify them;
convert a recording to asciicast v3, search the recordings' output.

Rules of this module: it only reads (the event log and recordings, through `reader`). The
event log is found as gotty-py would write it: `--event-log`, else the server's own options
(config file, `GOTTY_AUDIT_EVENT_LOG`, `GOTTY_AUDIT_DIR`). Replaying writes the recorded
bytes, escape sequences included, to the terminal, as `asciinema cat` does: replay only
recordings you trust as much as the sessions they come from.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import typer

from ..config import ConfigError, load_options
from .castformat import convert_to_v3
from .checkpoints import split_notes
from .events import event_log_location
from .naming import FILE_MODE
from .reader import (
    Cast,
    CastError,
    CleanupStatus,
    SessionRecord,
    file_digest,
    read_cast,
    read_event_log,
    sessions,
    verify_chain,
)
from .retention import RetentionError, parse_duration
from .rolled import ROLLED_EVENT, chain_files
from .sealcheck import Finding, number_lines
from .sealcheck import check as check_seals
from .search import search_events
from .signing import KeyFileError, Signer, Verifier, load_verifier

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Look at gotty-py's audit trail: the event log and the session recordings.",
)

_state: dict[str, Any] = {}


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


@app.callback()
def _options(
    event_log: str | None = typer.Option(
        None, "--event-log", "-l", metavar="FILE",
        help="The event log (default: from gotty-py's config and GOTTY_* environment)."),
    config: str | None = typer.Option(
        None, "--config", metavar="FILE", help="gotty-py config file to read the paths from."),
) -> None:
    _state["event_log"] = event_log
    _state["config"] = config


def event_log_path() -> Path:
    explicit = _state.get("event_log")
    if explicit:
        return Path(explicit)
    flags = {"config": _state["config"]} if _state.get("config") else {}
    try:
        options = load_options(flags, os.environ).options
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    location = event_log_location(options.audit_event_log, options.audit_dir)
    if location is not None:
        return Path(location)
    raise _fail("no event log: give --event-log FILE (or set audit_dir / audit_event_log)")


def _records() -> list[SessionRecord]:
    path = event_log_path()
    try:  # the rolled files first (rolled.py), oldest first
        return list(sessions([line for file in chain_files(path) or [path]
                              for line in read_event_log(file)]))
    except FileNotFoundError:
        raise _fail(f"{path}: no such file") from None
    except (OSError, CastError) as exc:
        raise _fail(f"cannot read {path}: {exc}") from None


def find_session(session_id: str) -> SessionRecord:
    """The session with this id, or the only one whose id starts with it."""
    records = _records()
    exact = [r for r in records if r.session == session_id]
    matches = exact or [r for r in records if r.session.startswith(session_id)]
    if not matches:
        raise _fail(f"no session {session_id!r} in the event log")
    if len(matches) > 1:
        raise _fail(f"{session_id!r} matches {len(matches)} sessions; give more of the id")
    return matches[0]


def _load_cast(target: str) -> Cast:
    """A recording by file name or by session id."""
    path = Path(target)
    if not path.is_file():
        recording = find_session(target).get("recording")
        if not recording:
            raise _fail(f"session {target} has no recording")
        path = Path(recording)
    try:
        cast = read_cast(path)
    except FileNotFoundError:
        raise _fail(f"{path}: no such file") from None
    except (OSError, CastError) as exc:
        raise _fail(str(exc)) from None
    if cast.truncated:
        typer.echo(f"Warning: {path} ends with an incomplete line (the server stopped while "
                   "writing); showing what precedes it", err=True)
    return cast


def _short_time(text: Any) -> str:
    if not isinstance(text, str):
        return "-"
    return text.replace("T", " ")[:19]


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("list")
def list_sessions() -> None:
    """A table of the sessions in the event log, oldest first."""
    rows = [("START (UTC)", "DURATION", "USER", "REMOTE", "COMMAND", "ENDED", "CLEANUP",
             "SESSION", "RECORDING")]
    for record in _records():
        argv = record.get("argv")
        if record.end is not None:
            ended = str(record.end.get("outcome") or record.end.get("cause"))
            if record.end.get("exit_status") is not None and ended == "exited":
                ended += f" {record.end['exit_status']}"
        else:
            ended = "no end line"
        rows.append((
            _short_time(record.get("start")),
            _duration(record.end.get("duration")) if record.end else "-",
            str(record.get("user") or "-"),
            str(record.get("remote_addr") or "-"),
            _cut(shlex.join(argv) if isinstance(argv, list) else "-", 40),
            ended,
            _cleanup_cell(record.cleanup_status),
            record.session,
            str(record.get("recording") or "-"),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                   + "  " + row[-1])


def _cleanup_cell(status: CleanupStatus) -> str:
    """Problems in capitals, so that they stand out in a long table."""
    return status.upper() if status in (CleanupStatus.FAILED, CleanupStatus.NEVER_RAN) \
        else str(status)


@app.command()
def show(session_id: str = typer.Argument(..., help="A session id (or its unique prefix).")
         ) -> None:
    """The event-log lines of one session."""
    record = find_session(session_id)
    for line in (record.start, record.end, record.cleanup):
        if line is not None:
            typer.echo(json.dumps(line, indent=2, ensure_ascii=False))


@app.command()
def dump(target: str = typer.Argument(..., metavar="SESSION_ID|FILE"),
         events: str = typer.Option("o", "--events", help="Event codes to print: o, i or oi.")
         ) -> None:
    """Print a recording's output at once (like `asciinema cat`)."""
    cast = _load_cast(target)
    out = sys.stdout.buffer
    for _, code, data in cast.events:
        if code in events:
            out.write(data.encode("utf-8"))
    out.flush()


@app.command()
def replay(target: str = typer.Argument(..., metavar="SESSION_ID|FILE"),
           speed: float = typer.Option(1.0, "--speed", "-s", help="Playback speed factor."),
           max_wait: float = typer.Option(2.0, "--max-wait", "-w",
                                          help="Longest pause between two events, seconds "
                                               "(0: no limit)."),
           start: float = typer.Option(0.0, "--from", "-f", metavar="SECONDS",
                                       help="Start at this offset (as `search` prints it): "
                                            "the output before it is written at once, to "
                                            "build the screen, then playback goes on with "
                                            "its timing.")) -> None:
    """Play a recording's output to the terminal with its timing."""
    if speed <= 0:
        raise _fail("--speed must be positive")
    if start < 0:
        raise _fail("--from must not be negative")
    cast = _load_cast(target)
    out = sys.stdout.buffer
    previous = start
    try:
        for t, code, data in cast.events:
            if code != "o":
                continue
            if t < start:  # before the offset: the screen as it was, at once
                out.write(data.encode("utf-8"))
                continue
            pause = max(0.0, t - previous) / speed
            if max_wait > 0:
                pause = min(pause, max_wait)
            time.sleep(pause)
            previous = t
            out.write(data.encode("utf-8"))
            out.flush()
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command()
def convert(source: str = typer.Argument(..., metavar="SESSION_ID|FILE"),
            output: str | None = typer.Option(None, "--output", "-o", metavar="FILE",
                                              help="Write here (a new file; default: the "
                                                   "standard output).")) -> None:
    """Convert an asciicast v2 recording to v3 (for asciinema 3 and its player).

    The events and the session metadata stay as they were; times become intervals. The
    original is left as it is: its size and SHA-256 are what the event log holds.
    """
    cast = _load_cast(source)
    if cast.version != 2:
        raise _fail(f"{source} is already asciicast v{cast.version}")
    text = "".join(line + "\n" for line in convert_to_v3(cast.header, cast.events))
    if output is None or output == "-":
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()
        return
    try:
        with open(output, "x", encoding="utf-8") as handle:  # never over another file
            handle.write(text)
    except FileExistsError:
        raise _fail(f"{output} exists; not overwritten") from None
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None


def _search_targets(directory: str | None) -> list[tuple[str, Path]]:
    """(session id, recording) pairs: every .cast file under `directory`, else every
    recording the event log names."""
    if directory is not None:
        root = Path(directory)
        if not root.is_dir():
            raise _fail(f"{directory}: not a directory")
        return [("", path) for path in sorted(root.rglob("*.cast")) if path.is_file()]
    return [(record.session, Path(str(record.get("recording"))))
            for record in _records() if record.get("recording")]


@app.command()
def search(text: str = typer.Argument(..., help="The text to find in the output."),
           directory: str | None = typer.Option(
               None, "--dir", "-d", metavar="DIR",
               help="Search every .cast file under DIR (default: the recordings the event "
                    "log names)."),
           ignore_case: bool = typer.Option(False, "--ignore-case", "-i",
                                            help="Match without regard to case.")) -> None:
    """Find the sessions whose output shows TEXT; one line per match: session, recording,
    offset in seconds (for `replay --from`).

    The text is matched as the terminal showed it: escape sequences (colours, cursor
    moves, titles) and the other control characters but tab and newline are skipped, and
    a match may span output events. Exits 1 when nothing matches (like grep).
    """
    if not text:
        raise _fail("the text to search for is empty")
    matches = 0
    for session_id, path in _search_targets(directory):
        try:
            cast = read_cast(path)
        except FileNotFoundError:
            typer.echo(f"Warning: {path}: no such file", err=True)
            continue
        except (OSError, CastError) as exc:
            typer.echo(f"Warning: {exc}", err=True)
            continue
        session = session_id or str(cast.metadata.get("session") or "-")
        for offset in search_events(text, cast.events, ignore_case=ignore_case):
            matches += 1
            typer.echo(f"{session}  {path}  {offset:.3f}")
    if not matches:
        raise typer.Exit(1)


def _verify_one(record: SessionRecord) -> tuple[str, str]:
    """(status, explanation); status OK, MODIFIED, MISSING, NO-END or NO-RECORDING."""
    end = record.end
    if end is None:
        return "NO-END", "no end line (still running, or the server stopped abruptly)"
    path = end.get("recording")
    if not path:
        return "NO-RECORDING", str(end.get("recording_error") or "recording off")
    try:
        size, digest = file_digest(path)
    except FileNotFoundError:
        return "MISSING", f"{path}: file is gone"
    except OSError as exc:
        return "MISSING", f"{path}: {exc.strerror or exc}"
    want_size, want_digest = end.get("recording_size"), end.get("recording_sha256")
    if size != want_size or digest != want_digest:
        return "MODIFIED", (f"{path}: size {size} (logged {want_size}), sha256 {digest[:16]}… "
                            f"(logged {str(want_digest)[:16]}…)")
    return "OK", str(path)


# Options that may repeat (module-level: a list default must not be built per call).
_PUBLIC_KEYS = typer.Option(
    None, "--public-key", "-k", metavar="FILE",
    help="Check the signed checkpoints with this public key (gotty-py-audit keygen); may be "
         "given more than once (key rotation).")
_COPIES = typer.Option(
    None, "--checkpoints", metavar="FILE",
    help="A copy of the checkpoints (--audit-checkpoint-copy): the log must cover each.")


@app.command()
def verify(session_id: str | None = typer.Argument(
        None, help="Check only this session (default: every session)."),
           public_key: list[str] | None = _PUBLIC_KEYS,
           copies: list[str] | None = _COPIES,
           max_age: str | None = typer.Option(
        None, "--max-age", metavar="AGE",
        help="The newest checkpoint must be younger than this (e.g. 10m): for a server that "
             "should be running.")) -> None:
    """Check the event log's hash chain (across its rolled files), its signed checkpoints
    (with --public-key), and each recording's size and SHA-256 against its end line.

    Exits 1 if the chain is broken, a checkpoint check fails, any recording was modified
    or is missing, or any cleanup failed or never ran.
    """
    records = [find_session(session_id)] if session_id else _records()
    path = event_log_path()
    files = chain_files(path) or [path]
    bad = _verify_chains(files)
    if public_key:
        bad += _verify_seals(files, public_key, copies or [], max_age)
    elif copies or max_age:
        raise _fail("--checkpoints and --max-age need --public-key")
    for record in records:
        status, explanation = _verify_one(record)
        if status in ("MODIFIED", "MISSING"):
            bad += 1
        typer.echo(f"{status:<12} {record.session}  {explanation}")
        cleanup = _cleanup_problem(record)
        if cleanup is not None:
            bad += 1
            typer.echo(f"{cleanup[0]:<12} {record.session}  {cleanup[1]}")
    if bad:
        typer.echo(f"{bad} problem(s): recordings modified or missing, cleanups failed or "
                   "never run, or the event log's chain broken", err=True)
        raise typer.Exit(1)


def _verify_chains(files: list[Path]) -> int:
    """The hash chain of each file, each going on from the file before; the problems."""
    bad = 0
    previous: bytes | None = None
    try:
        logs = [read_event_log(path) for path in files]
    except OSError as exc:
        raise _fail(f"cannot read the event log: {exc.strerror or exc}") from None
    # The rolled files retention removed, as its own lines say.
    removed = {os.path.basename(str(entry.get("path"))) for records in logs for r in records
               if r.get("event") == "retention" for entry in r.get("removed") or []
               if isinstance(entry, dict) and entry.get("kind") == "event-log"}
    for index, path in enumerate(files):
        first = logs[index][0] if logs[index] else {}
        # The oldest file left may go on from one retention removed: its first line names
        # it, and a retention line must say it was removed.
        continues = index == 0 and first.get("event") == ROLLED_EVENT
        retained = continues and first.get("previous") in removed
        if continues and not retained:
            bad += 1
            typer.echo(f"{'ROLL-MISSING':<12} {path}:1  goes on from {first.get('previous')}, "
                       "which is gone and which no retention line says was removed")
        chain = verify_chain(path, previous, trust_first=continues)
        previous = chain.last
        for number in chain.damaged:
            typer.echo(f"{'DAMAGED':<12} {path}:{number}  not JSON (a line cut short by a "
                       "crash)")
        for number in chain.broken:
            typer.echo(f"{'CHAIN-BROKEN':<12} {path}:{number}  prev_sha256 does not match the "
                       "line before it: a line was changed, inserted or deleted"
                       + (" (or a rolled file is missing)" if number == 1 and index else ""))
        bad += len(chain.broken)
        if chain.intact:
            typer.echo(f"{'CHAIN-OK':<12} {path}  {chain.lines} line(s)"
                       + ("; goes on from a file removed by retention" if retained else ""))
    return bad


def _verify_seals(files: list[Path], key_files: list[str], copy_files: list[str],
                  max_age: str | None) -> int:
    """The signed checkpoints (sealcheck.py), one line per finding; the problems."""
    try:
        verifiers = tuple(load_verifier(name) for name in key_files)
        age = parse_duration(max_age) if max_age is not None else None
    except (KeyFileError, RetentionError) as exc:
        raise _fail(str(exc)) from None
    lines = number_lines([(str(path), path.read_bytes().split(b"\n")[:-1]) for path in files])
    notes: list[tuple[str, str]] = []
    for name in copy_files:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(f"cannot read {name}: {exc}") from None
        notes += [(f"{name}#{n}", note) for n, note in enumerate(split_notes(text), start=1)]
    findings: list[Finding] = check_seals(lines, verifiers, time.time(), copies=notes,
                                          max_age=age)
    for finding in findings:
        typer.echo(f"{finding.seal:<12} {finding.where}  {finding.message}")
    return sum(1 for finding in findings if finding.seal.bad)


@app.command()
def keygen(out: str = typer.Option(..., "--out", "-o", metavar="FILE",
                                   help="The signing key file to write (0600; never "
                                        "overwritten)."),
           public: str | None = typer.Option(None, "--public", metavar="FILE",
                                             help="The public key file (default: OUT.pub)."),
           name: str = typer.Option("gotty-py-audit", "--name",
                                    help="The key's name, in every signature line.")) -> None:
    """Make an Ed25519 key pair for signed checkpoints (--audit-checkpoint-key)."""
    try:
        signer = Signer.generate(name)
    except KeyFileError as exc:
        raise _fail(str(exc)) from None
    public_path = public or out + ".pub"
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except OSError as exc:
        raise _fail(f"{out}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(signer.text() + "\n")
    verifier: Verifier = signer.verifier
    Path(public_path).write_text(verifier.text() + "\n")
    typer.echo(f"Signing key {out} (keep it secret), public key {public_path}: "
               f"{verifier.text()}")


def _cleanup_problem(record: SessionRecord) -> tuple[str, str] | None:
    """(status, explanation) when the session's cleanup failed or never ran: what it
    started may still be running where the session ran (inside a pod, say)."""
    match record.cleanup_status:
        case CleanupStatus.FAILED:
            assert record.cleanup is not None
            return "CLEANUP-FAIL", str(record.cleanup.get("outcome") or "failed")
        case CleanupStatus.NEVER_RAN:
            return "NO-CLEANUP", ("the end line expects a cleanup and none was logged (still "
                                  "running, or the server stopped before it ran)")
        case _:
            return None


def main() -> None:
    typer.main.get_command(app).main(prog_name="gotty-py-audit", standalone_mode=True)


if __name__ == "__main__":
    main()

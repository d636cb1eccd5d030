"""How log lines look: GoTTY's text lines, or one JSON object per line (`--log-format`).

Rules of this module: it formats records and installs the one handler the program logs
through; it decides nothing about what is logged. The text format is GoTTY's
(`2006/01/02 15:04:05 message`), byte for byte what gotty-py always printed. The JSON
format writes `time`, `level`, `logger`, `message` and, where the line concerns a session,
the context fields `session`, `user` and `client`, which callers pass with `extra=` (see
`Session.log_fields`); a field that is not known is left out rather than written as null.
This module imports nothing of gotty-py.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from enum import StrEnum
from typing import Any, TextIO

# The record attributes a session's log lines carry (`extra=`), in the order written.
CONTEXT_FIELDS = ("session", "user", "client")

_TEXT_FORMAT = "%(asctime)s %(message)s"
_TEXT_DATE = "%Y/%m/%d %H:%M:%S"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line: dict[str, Any] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # ASCII only: a command line may hold undecodable bytes (surrogates), and a log
        # pipeline must always receive valid JSON.
        return json.dumps(line, ensure_ascii=True, default=str)


class _Installed:
    handler: logging.Handler | None = None
    logger: logging.Logger | None = None


def install(log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Send the program's log lines to `stream` (stderr) in `log_format`, replacing what an
    earlier call installed.

    Text: a handler on the `gotty_py` logger only, as always (other libraries' warnings
    keep Python's last-resort output). JSON: the handler sits on the root logger, so that
    Tornado's and asyncio's warnings are JSON lines too, and `gotty_py` propagates to it.
    """
    previous = _Installed.handler
    if previous is not None and _Installed.logger is not None:
        _Installed.logger.removeHandler(previous)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    own = logging.getLogger("gotty_py")
    if log_format is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
        target = logging.getLogger()
        if target.level == logging.NOTSET or target.level > logging.WARNING:
            target.setLevel(logging.WARNING)
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT, _TEXT_DATE))
        target = own
    target.addHandler(handler)
    if own.level == logging.NOTSET:
        own.setLevel(logging.INFO)
    _Installed.handler = handler
    _Installed.logger = target

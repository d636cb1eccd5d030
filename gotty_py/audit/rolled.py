"""Where the rolled files of an event log are, and what the first line of a new one says.

Rules of this module: a rolled file keeps the log's name with the UTC time of the roll
appended (`sessions.jsonl.20261202T182500123456Z`), in the log's own directory, so the
names sort in the order the files were written. The file that follows a roll starts with
a `log-rolled` line naming the file before it and how many lines the chain had before it,
so a reader can number the chain's lines across files even after retention removed the
oldest. Pure, apart from listing a directory.
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path
from typing import Any

ROLLED_EVENT = "log-rolled"
_STAMP = re.compile(r"\.\d{8}T\d{12}Z")


def rolled_name(active: str, timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return f"{active}.{moment.strftime('%Y%m%dT%H%M%S%fZ')}"


def is_rolled(active: str, candidate: str) -> bool:
    """Whether `candidate` (a path) is a rolled file of the log at `active`."""
    name, base = os.path.basename(candidate), os.path.basename(active)
    return (os.path.dirname(os.path.abspath(candidate)) == os.path.dirname(os.path.abspath(active))
            and name.startswith(base) and _STAMP.fullmatch(name[len(base):]) is not None)


def rolled_files(active: str | Path) -> list[Path]:
    """The rolled files of the log, oldest first."""
    active = Path(active)
    try:
        names = os.listdir(active.parent)
    except OSError:
        return []
    return sorted(active.parent / name for name in names
                  if is_rolled(str(active), str(active.parent / name)))


def chain_files(active: str | Path) -> list[Path]:
    """Every file of the chain, oldest first: the rolled ones, then the active one."""
    active = Path(active)
    return [*rolled_files(active), *([active] if active.exists() else [])]


def rolled_record(previous: str, lines_before: int, time_text: str) -> dict[str, Any]:
    """The first line of the file after a roll (the log adds `prev_sha256`: the hash of
    the rolled file's last line, so the chain goes on across the two)."""
    return {"event": ROLLED_EVENT, "time": time_text, "previous": os.path.basename(previous),
            "lines_before": lines_before}

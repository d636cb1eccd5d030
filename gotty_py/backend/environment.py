"""The environment a session's processes get: the server's own, less its secrets, plus
who the session is.

Rules of this module: one function makes it, for the command and for the cleanup hook
alike. `GOTTY_*` variables of the server (which may hold the credential or a JWT secret)
never reach a session's processes; `GOTTY_SESSION_ID` and `GOTTY_USER` are set from the
session's facts, and the session id marks every process the command starts.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..facts import SessionFacts
from ..options import ENV_PREFIX

SESSION_ID_VARIABLE = "GOTTY_SESSION_ID"
USER_VARIABLE = "GOTTY_USER"
# Which server instance started the session (`backend/instance.py`): what the watchdog and
# the start-up sweep look for once the server that could end the session is gone.
INSTANCE_VARIABLE = "GOTTY_INSTANCE"


def session_marker(facts: SessionFacts) -> str:
    """`GOTTY_SESSION_ID=<id>`: found in the environment of every process of the session."""
    return f"{SESSION_ID_VARIABLE}={facts.id}"


def session_environment(base: Mapping[str, str], facts: SessionFacts,
                        extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` less the server's `GOTTY_*` variables, then `extra`, then the session's id
    and (when it has one) its user."""
    env = {key: value for key, value in base.items() if not key.startswith(ENV_PREFIX)}
    env.update(extra or {})
    if facts.user:
        env[USER_VARIABLE] = facts.user
    env[SESSION_ID_VARIABLE] = facts.id
    return env

"""Session states, end causes and outcomes as data: the transition table and the mapping
from every cause to the event log's outcome."""

from __future__ import annotations

import json

import pytest

from gotty_py.server.audit_observer import Outcome, outcome
from gotty_py.webtty.state import (
    TRANSITIONS,
    Disconnect,
    EndCause,
    InvalidTransition,
    SessionEnd,
    State,
    advance,
)


def test_the_table_allows_only_forward_moves() -> None:
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {
        (State.INIT, State.STARTING), (State.INIT, State.ENDED),
        (State.STARTING, State.RUNNING), (State.STARTING, State.ENDED),
        (State.RUNNING, State.ENDED),
    }
    assert set(TRANSITIONS) == set(State)
    for current in State:
        for to in State:
            if (current, to) in allowed:
                assert advance(current, to) is to
            else:
                with pytest.raises(InvalidTransition, match=f"{current} cannot become {to}"):
                    advance(current, to)


def test_every_cause_has_an_outcome() -> None:
    expected = {
        EndCause.PROCESS_EXITED: Outcome.EXITED,
        EndCause.CLIENT_CLOSED: Outcome.CLIENT_CLOSED,
        EndCause.CLIENT_STALLED: Outcome.CLIENT_STALLED,
        EndCause.SHUTDOWN: Outcome.SHUTDOWN,
        EndCause.REFUSED: Outcome.REFUSED,
        EndCause.AUDIT_FAILED: Outcome.AUDIT_FAILED,
        EndCause.PROTOCOL_ERROR: Outcome.ERROR,
        EndCause.INIT_TIMEOUT: Outcome.ERROR,
        EndCause.START_FAILED: Outcome.ERROR,
        EndCause.INTERNAL_ERROR: Outcome.ERROR,
        EndCause.IDLE_TIMEOUT: Outcome.TIMED_OUT,
        EndCause.TIME_LIMIT: Outcome.TIMED_OUT,
        EndCause.ADMIN_ENDED: Outcome.ADMIN_ENDED,
        EndCause.DETACH_EXPIRED: Outcome.DETACH_EXPIRED,
        EndCause.ENDED_BY_MODERATOR: Outcome.ENDED_BY_MODERATOR,
        EndCause.HANDED_OVER: Outcome.HANDED_OVER,
    }
    assert set(expected) == set(EndCause)
    for cause, want in expected.items():
        assert outcome(SessionEnd(cause=cause, detail="x")) is want


def test_a_lost_connection_is_told_apart_by_its_type_not_its_words() -> None:
    lost = SessionEnd(EndCause.CLIENT_CLOSED, Disconnect.LOST.value, disconnect=Disconnect.LOST)
    closed = SessionEnd(EndCause.CLIENT_CLOSED, "connection lost", disconnect=Disconnect.CLOSED)
    assert outcome(lost) is Outcome.NETWORK_LOST
    assert outcome(closed) is Outcome.CLIENT_CLOSED


def test_enums_serialize_as_the_words_the_event_log_always_had() -> None:
    line = json.dumps({"cause": EndCause.CLIENT_CLOSED, "outcome": Outcome.NETWORK_LOST,
                       "state": State.RUNNING})
    assert line == '{"cause": "client-closed", "outcome": "network-lost", "state": "running"}'
    assert f"{EndCause.INIT_TIMEOUT}: x" == "init-timeout: x"
    assert Disconnect.LOST.value == "connection lost"

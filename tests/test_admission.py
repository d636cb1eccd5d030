"""Admission on its own: --max-connection, --once, shutting down, and every slot given back
exactly once, with the server told when the count changes."""

from __future__ import annotations

import pytest

from gotty_py.server.admission import Admission, Slot
from gotty_py.webtty.session import Refused
from gotty_py.webtty.state import EndCause, SessionEnd


class Listener:
    def __init__(self) -> None:
        self.events: list[str] = []

    def busy(self) -> None:
        self.events.append("busy")

    def idle(self) -> None:
        self.events.append("idle")

    def once_done(self) -> None:
        self.events.append("once_done")


def admit(admission: Admission, name: str = "c") -> Slot:
    assert admission.refusal() is None
    return admission.admit(name, hang_up=lambda: None)


def test_the_limit_counts_open_slots_and_each_is_given_back_once() -> None:
    listener = Listener()
    admission = Admission(once=False, max_connection=2, listener=listener)
    a, b = admit(admission, "a"), admit(admission, "b")
    assert admission.refusal() == "Too many connections (at most 2)"
    end = SessionEnd(EndCause.PROCESS_EXITED, "process exited with status 0")
    admission.release(a, end)
    admission.release(a, end)  # a second release must not free another slot
    assert len(admission) == 1 and admission.refusal() is None
    admission.release(b, None)
    assert listener.events == ["busy", "idle"]


def test_once_is_claimed_by_the_first_session_that_gets_past_its_checks() -> None:
    listener = Listener()
    admission = Admission(once=True, max_connection=0, listener=listener)
    refused, holder = admit(admission), admit(admission)
    admission.release(refused, None)  # refused before the claim: --once is still free
    assert admission.refusal() is None
    admission.claim_once(holder)
    assert admission.refusal() == "Server is shutting down"
    late = admission.admit("late", hang_up=lambda: None)
    with pytest.raises(Refused, match="only one session"):
        admission.claim_once(late)
    admission.release(late, None)
    admission.release(holder, SessionEnd(EndCause.CLIENT_CLOSED, "x"))
    assert listener.events == ["busy", "once_done"]  # never idle: a slot stayed open


def test_closed_admission_refuses_and_lists_what_is_open() -> None:
    admission = Admission(once=False, max_connection=0, listener=Listener())
    slot = admit(admission)
    admission.close()
    assert admission.refusal() == "Server is shutting down"
    assert admission.slots() == [slot]

"""asciicast v3, v2 to v3, the search of output and the hidden-input rule, on their own.

The recorder runs with the real writer thread, real files and a fake clock (so the times
are known); its files are held against `tests/asciicast_v3_spec.py`, written from the
format's documentation. The end-to-end tests with a server are in test_audit_recordings.py.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from gotty_py.audit.asciicast import SessionRecorder, build_header
from gotty_py.audit.castformat import (
    CastFormat,
    EventClock,
    convert_to_v3,
    exit_code_text,
    header_to_v3,
)
from gotty_py.audit.hidden_input import HiddenInput, Verdict
from gotty_py.audit.reader import CastError, read_cast
from gotty_py.audit.search import ControlStripper, OutputSearch, search_events
from gotty_py.audit.writer import BackgroundWriter
from gotty_py.options import AUDIT_FORMATS
from tests.asciicast_v3_spec import check_v3
from tests.gotty import run_async


def header(fmt: CastFormat) -> dict[str, object]:
    return build_header(width=100, height=30, timestamp=1_700_000_000.7, command="sh -c x",
                        title="t", env={"TERM": "xterm-256color"},
                        metadata={"session": "s1"}, fmt=fmt)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def record(path: Path, fmt: CastFormat, exit_status: int | None) -> None:
    """A session at known times: 0.25 s output, resize, input, 3 s later more output."""
    writer = BackgroundWriter()
    writer.start()
    clock = FakeClock()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
    recorder = SessionRecorder(writer, fd, str(path), clock=clock, fmt=fmt)
    recorder.start(header(fmt))
    clock.now += 0.25
    recorder.output(b"hello ")
    recorder.resize(90, 20)
    recorder.input(b"ls\r")
    clock.now += 3.0000004
    recorder.output("wörld".encode())
    clock.now += 0.5
    await recorder.close("disconnect: process-exited: exit status 3", exit_status=exit_status)
    await writer.aclose()


class TestV3Recording:
    def test_the_file_keeps_the_documented_rules(self, tmp_path: Path) -> None:
        path = tmp_path / "v3.cast"
        run_async(record(path, CastFormat.V3, 3))
        v3 = check_v3(path)
        assert v3.header["term"] == {"cols": 100, "rows": 30, "type": "xterm-256color"}
        assert v3.header["timestamp"] == 1_700_000_000 and "TERM" not in v3.header["env"]
        assert v3.header["x-gotty-py"] == {"session": "s1"}
        assert [(t, c) for t, c, _ in v3.events] == [
            (0.25, "o"), (0.0, "r"), (0.0, "i"), (3.0, "o"), (0.5, "m"), (0.0, "x")]
        assert v3.events[-1][2] == "3"

    def test_our_reader_gives_the_times_since_the_start(self, tmp_path: Path) -> None:
        v2, v3 = tmp_path / "v2.cast", tmp_path / "v3.cast"
        run_async(record(v2, CastFormat.V2, 3))
        run_async(record(v3, CastFormat.V3, 3))
        old, new = read_cast(v2), read_cast(v3)
        assert (old.version, new.version) == (2, 3)
        # The same events at the same times, v3 ending with its exit event.
        assert new.events[:-1] == old.events and new.events[-1] == (3.75, "x", "3")
        assert new.text() == "hello wörld"

    def test_no_exit_event_without_a_status_and_none_in_v2(self, tmp_path: Path) -> None:
        run_async(record(tmp_path / "a.cast", CastFormat.V3, None))
        assert [c for _, c, _ in check_v3(tmp_path / "a.cast").events][-1] == "m"
        run_async(record(tmp_path / "b.cast", CastFormat.V2, 0))
        assert all(c != "x" for _, c, _ in read_cast(tmp_path / "b.cast").events)

    def test_intervals_do_not_drift(self) -> None:
        clock = EventClock(CastFormat.V3)
        total = 0
        for step in range(1, 20_001):
            total += round(float(clock.stamp(step * 0.1000003)) * 1_000_000)
        assert total == round(20_000 * 0.1000003 * 1_000_000)

    def test_time_going_backwards_is_a_zero_interval(self) -> None:
        clock = EventClock(CastFormat.V3)
        assert [clock.stamp(t) for t in (1.0, 0.5, 1.5)] == ["1.000000", "0.000000",
                                                             "0.500000"]

    @pytest.mark.parametrize(("status", "text"), [(0, "0"), (3, "3"), (-1, "129"),
                                                   (-9, "137")])
    def test_exit_status_as_a_shell_reports_it(self, status: int, text: str) -> None:
        assert exit_code_text(status) == text

    def test_the_option_knows_every_format(self) -> None:
        assert tuple(CastFormat) == AUDIT_FORMATS


class TestReader:
    def write(self, tmp_path: Path, *lines: str) -> Path:
        path = tmp_path / "x.cast"
        path.write_text("".join(line + "\n" for line in lines))
        return path

    def test_comments_and_intervals(self, tmp_path: Path) -> None:
        path = self.write(tmp_path, '{"version": 3, "term": {"cols": 80, "rows": 24}}',
                          "# a comment", '[0.5, "o", "a"]', "# another", '[0.25, "o", "b"]',
                          '[0.1, "x", "0"]')
        cast = read_cast(path)
        assert cast.events == [(0.5, "o", "a"), (0.75, "o", "b"), (0.85, "x", "0")]

    @pytest.mark.parametrize(("lines", "message"), [
        (['{"version": 3, "width": 80, "height": 24}'], "no terminal size"),
        (['{"version": 3, "term": {"cols": 0, "rows": 24}}'], "no terminal size"),
        (['{"version": 4, "term": {"cols": 80, "rows": 24}}'], "not an asciicast"),
        (['{"version": 3, "term": {"cols": 80, "rows": 24}}', '[-1, "o", "a"]'],
         "negative time"),
        (['{"version": 2, "width": 80, "height": 24}', "# not a comment in v2"], "not JSON"),
    ])
    def test_bad_files_name_the_line(self, tmp_path: Path, lines: list[str],
                                     message: str) -> None:
        with pytest.raises(CastError, match=message):
            read_cast(self.write(tmp_path, *lines))


class TestConvert:
    def test_v2_to_v3(self, tmp_path: Path) -> None:
        v2 = tmp_path / "v2.cast"
        run_async(record(v2, CastFormat.V2, 3))
        old = read_cast(v2)
        out = tmp_path / "v3.cast"
        out.write_text("".join(line + "\n" for line in convert_to_v3(old.header, old.events)))
        v3 = check_v3(out)
        assert v3.header["term"] == {"cols": 100, "rows": 30, "type": "xterm-256color"}
        assert v3.header["x-gotty-py"] == old.metadata and v3.header["title"] == "t"
        assert read_cast(out).events == old.events  # times kept to the microsecond

    def test_header_theme_and_env(self) -> None:
        converted = header_to_v3({"version": 2, "width": 80, "height": 24, "idle_time_limit": 2,
                                  "env": {"TERM": "xterm", "SHELL": "/bin/sh"},
                                  "theme": {"fg": "#fff", "bg": "#000"}})
        assert converted == {"version": 3, "idle_time_limit": 2, "env": {"SHELL": "/bin/sh"},
                             "term": {"cols": 80, "rows": 24, "type": "xterm",
                                      "theme": {"fg": "#fff", "bg": "#000"}}}
        assert json.dumps(header_to_v3({"version": 2, "width": 1, "height": 2})) == \
            '{"version": 3, "term": {"cols": 1, "rows": 2}}'


class TestSearch:
    @pytest.mark.parametrize(("data", "shown"), [
        ("\x1b[1;31merror\x1b[0m", "error"),
        ("a\x1b]0;title\x07b\x1b]8;;http://x\x1b\\c", "abc"),  # OSC ended by BEL and ST
        ("x\x1bPq#0;1\x1b\\y", "xy"),  # DCS (sixel)
        ("\x1b7saved\x1b8\x1b(B!", "saved!"),  # two-byte and charset sequences
        ("tab\there\r\nnext\x08\x07", "tab\there\nnext"),
        ("\x1b[?2004h$ ", "$ "),
    ])
    def test_controls_are_skipped(self, data: str, shown: str) -> None:
        assert ControlStripper().feed(data) == shown

    def test_a_sequence_split_across_events(self) -> None:
        stripper = ControlStripper()
        assert [stripper.feed(p) for p in ("a\x1b", "[3", "1m", "b\x1b]0;t", "\x07c")] == \
            ["a", "", "", "b", "c"]

    def test_match_across_events_and_escapes_at_the_first_events_time(self) -> None:
        events = [(1.0, "o", "no\r\nsecret"), (2.0, "i", "word"), (3.0, "o", "\x1b[31mwo"),
                  (4.0, "o", "rd\x1b[0m and secretword"), (5.0, "o", "secretwor"),
                  (6.0, "o", "d")]
        assert search_events("secretword", events) == [1.0, 4.0, 5.0]

    def test_each_match_once_overlaps_included(self) -> None:
        search = OutputSearch("aa")
        assert search.feed(1.0, "aaa") == [1.0, 1.0]
        assert search.feed(2.0, "a") == [1.0]  # the last "a" of the event before starts it

    def test_same_matches_as_str_find_on_the_whole_text(self) -> None:
        """Differential: every match of the joined text, at the time of the event holding
        its first character, whatever the cuts between events."""
        rng = random.Random(7)
        for _ in range(2000):
            needle = "".join(rng.choice("ab") for _ in range(rng.randint(1, 4)))
            text = "".join(rng.choice("ab") for _ in range(rng.randint(0, 30)))
            cuts = sorted(rng.sample(range(len(text) + 1), rng.randint(0, min(6, len(text)))))
            pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
            owner = [float(i) for i, piece in enumerate(pieces) for _ in piece]
            expected = [owner[i] for i in range(len(text)) if text.startswith(needle, i)]
            events = [(float(i), "o", piece) for i, piece in enumerate(pieces)]
            assert search_events(needle, events) == expected, (needle, pieces)

    def test_ignore_case(self) -> None:
        assert search_events("ERROR", [(0.5, "o", "Error")], ignore_case=True) == [0.5]
        assert search_events("ERROR", [(0.5, "o", "Error")]) == []

    def test_empty_needle_is_refused(self) -> None:
        with pytest.raises(ValueError):
            OutputSearch("")


class TestHiddenInput:
    def test_one_marker_per_hidden_run(self) -> None:
        hidden = HiddenInput()
        answers = [False, True, True, None, True, False]
        assert [hidden.verdict(a) for a in answers] == [
            Verdict.RECORD, Verdict.MARK, Verdict.DROP, Verdict.RECORD, Verdict.MARK,
            Verdict.RECORD]
        assert hidden.runs == 2

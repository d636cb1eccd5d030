"""Recording file names: the template, value sanitization, and files that stay inside."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from gotty_py.audit.naming import (
    DEFAULT_TEMPLATE,
    MAX_COMPONENT_BYTES,
    MAX_VALUE_CHARS,
    NameTemplate,
    TemplateError,
    create_recording_file,
    safe_component,
)
from gotty_py.facts import SessionFacts

HOSTILE = [
    "../../etc", "..", ".", "a/b", "/etc/passwd", "x\0y", "\0", "..\\..\\win", ".hidden",
    "a\nb\rc\x1b[31m", "é/ü", "\udcff", "%2e%2e%2f", " ", "", "~root", "x" * 10_000,
    "../" * 3000, "€" * 5000,
]


def variables(**changes: object) -> SessionFacts:
    values: dict[str, object] = {
        "started_at": 1_700_000_000.5, "id": "0123456789abcdef", "user": "alice",
        "remote_addr": "127.0.0.1:4000", "argv": ("/usr/bin/kubectl", "exec", "pod-1"),
        "claims": {"pod": "web-0", "groups": ["a", "b"], "n": 3}, "hostname": "console-1",
        "size": (80, 24),
    }
    values.update(changes)
    return SessionFacts(**values)  # type: ignore[arg-type]


class TestSafeComponent:
    @pytest.mark.parametrize("value", HOSTILE)
    def test_hostile_values_become_one_harmless_component(self, value: str) -> None:
        name = safe_component(value)
        assert name and name not in (".", "..")
        assert "/" not in name and "\\" not in name and "\0" not in name
        assert not name.startswith(".")
        assert name.isascii() and name.isprintable() and " " not in name
        assert len(name) <= MAX_VALUE_CHARS

    def test_plain_values_are_kept(self) -> None:
        assert safe_component("alice@example.com") == "alice@example.com"
        assert safe_component("web-0_1.2") == "web-0_1.2"

    def test_distinct_values_stay_distinct(self) -> None:
        values = ["a/b", "a_b", "a%2Fb", "a b", "x" * 1000, "x" * 1001, "..", "%2E.", ""]
        names = [safe_component(v) for v in values[:-1]]
        assert len(set(names)) == len(names)

    def test_long_values_are_cut_with_a_hash(self) -> None:
        name = safe_component("é" * 5000)
        assert len(name) <= MAX_VALUE_CHARS and "~" in name
        head = name.rsplit("~", 1)[0]
        assert re.fullmatch(r"([^%]|%[0-9A-F]{2})*", head)  # no half escape at the cut


class TestTemplate:
    def test_default_template(self) -> None:
        parts = NameTemplate(DEFAULT_TEMPLATE).render(variables())
        assert parts == ["2023-11-14", "alice", "221320-0123456789abcdef.cast"]

    def test_every_field(self) -> None:
        template = NameTemplate("{hostname}/{command}-{arg0}-{arg1}-{arg7}/"
                                "{claim.pod}-{claim.groups}-{claim.n}-{claim.none}/"
                                "{remote_addr}-{user}.cast")
        assert template.render(variables()) == [
            "console-1", "kubectl-exec-pod-1-_", "web-0-%5B%22a%22,%22b%22%5D-3-_",
            "127.0.0.1%3A4000-alice.cast"]

    def test_anonymous_user(self) -> None:
        assert NameTemplate("{user}").render(variables(user=None)) == ["anonymous"]

    @pytest.mark.parametrize("text", ["", "/abs/{session}", "{nope}", "{user!r}", "{user:>9}",
                                      "a//{session}", "../{session}", "./x", "{", "}", "{}",
                                      "{arg}", "{claim.}", "{session}/", "a\0b"])
    def test_bad_templates_are_refused(self, text: str) -> None:
        with pytest.raises(TemplateError):
            NameTemplate(text)

    def test_unknown_field_names_the_known_ones(self) -> None:
        with pytest.raises(TemplateError, match=r"unknown field \{usr\}.*\{claim\.NAME\}"):
            NameTemplate("{usr}.cast")

    @pytest.mark.parametrize("value", HOSTILE)
    def test_rendered_components_are_safe(self, value: str) -> None:
        template = NameTemplate("{user}/{arg0}{arg1}/{claim.pod}.{session}.cast")
        parts = template.render(variables(user=value, argv=["sh", value, value],
                                          claims={"pod": value}))
        assert len(parts) == 3
        for part in parts:
            assert part not in ("", ".", "..") and "/" not in part and "\0" not in part
            assert len(part.encode()) <= MAX_COMPONENT_BYTES


class TestCreate:
    @pytest.mark.parametrize("value", HOSTILE)
    def test_files_stay_inside_the_directory(self, tmp_path: Path, value: str) -> None:
        audit = tmp_path / "audit"
        template = NameTemplate("{user}/{arg0}/{session}.cast")
        parts = template.render(variables(user=value, argv=["sh", value]))
        fd, path = create_recording_file(str(audit), parts, "s1")
        os.close(fd)
        assert Path(path).resolve().is_relative_to(audit.resolve())
        assert Path(path).is_file()
        assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == [Path(path)]

    def test_modes(self, tmp_path: Path) -> None:
        fd, path = create_recording_file(str(tmp_path / "a"), ["d1", "d2", "f.cast"], "s")
        os.close(fd)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(tmp_path / "a" / "d1").st_mode) == 0o700
        assert stat.S_IMODE(os.stat(tmp_path / "a" / "d1" / "d2").st_mode) == 0o700

    def test_an_existing_file_is_never_reused(self, tmp_path: Path) -> None:
        paths = []
        for _ in range(3):
            fd, path = create_recording_file(str(tmp_path), ["same.cast"], "sess")
            os.write(fd, path.encode())
            os.close(fd)
            paths.append(path)
        assert [Path(p).name for p in paths] == ["same.cast", "same-sess.cast",
                                                 "same-sess-2.cast"]
        assert [Path(p).read_text() for p in paths] == paths

    def test_a_symlink_planted_inside_is_not_followed(self, tmp_path: Path) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        audit = tmp_path / "audit"
        audit.mkdir()
        (audit / "alice").symlink_to(outside)
        (audit / "x.cast").symlink_to(outside / "target")
        with pytest.raises(OSError):
            create_recording_file(str(audit), ["alice", "f.cast"], "s")
        fd, path = create_recording_file(str(audit), ["x.cast"], "s")
        os.close(fd)
        assert Path(path).name == "x-s.cast"
        assert list(outside.iterdir()) == []

    @pytest.mark.parametrize("parts", [[".."], ["a", "..", "b"], ["a/b"], [""], ["x\0"], []])
    def test_unsafe_components_are_refused(self, tmp_path: Path, parts: list[str]) -> None:
        with pytest.raises(ValueError):
            create_recording_file(str(tmp_path), parts, "s")

    def test_directory_that_is_a_file_fails(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(OSError):
            create_recording_file(str(blocker), ["x.cast"], "s")


def test_undecodable_argument_bytes_are_named_as_the_bytes_they_were() -> None:
    assert safe_component("a\udcffb") == "a%FFb"  # ?arg=a%FFb arrives as a surrogate escape
    assert safe_component("\ud800") == "%ED%A0%80"  # a lone surrogate from JSON

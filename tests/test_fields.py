"""One `{field}` grammar for recording file names and the cleanup command, and the places
where the two uses differ on purpose (`fields.Dialect`)."""

from __future__ import annotations

import pytest

from gotty_py.audit.naming import NameTemplate, TemplateError
from gotty_py.facts import SessionFacts
from gotty_py.fields import COMMAND_WORDS, FILE_NAMES, Dialect, FieldError, FieldText
from gotty_py.server.cleanup import CommandTemplate, CommandTemplateError

FACTS = SessionFacts(
    id="0123456789abcdef", started_at=1_700_000_000.5, remote_addr="127.0.0.1:4000",
    user="alice", argv=("/usr/bin/kubectl", "exec", "pod 1"), size=(80, 24),
    claims={"ns": "prod", "groups": ["a", "b"], "n": 3, "ok": True, "nothing": None},
    hostname="console-1")
NOBODY = SessionFacts(id="s", started_at=0, remote_addr="", user=None, argv=("sh",),
                      size=(80, 24))


def render(text: str, dialect: Dialect, facts: SessionFacts = FACTS) -> str:
    return FieldText(text, dialect).render(facts)


@pytest.mark.parametrize("dialect", [FILE_NAMES, COMMAND_WORDS])
def test_the_same_fields_mean_the_same_in_both(dialect: Dialect) -> None:
    assert render("{date} {time} {session} {user} {remote_addr} {hostname}", dialect) == (
        "2023-11-14 221320 0123456789abcdef alice 127.0.0.1:4000 console-1")
    assert render("{arg0}|{arg1}", dialect) == "exec|pod 1"
    assert render("{claim.ns} {claim.groups} {claim.n} {claim.ok} {claim.nothing}",
                  dialect) == 'prod ["a","b"] 3 true null'
    assert render("{{literal}}", dialect) == "{literal}"


def test_command_is_the_base_name_in_file_names_and_as_given_in_commands() -> None:
    assert render("{command}", FILE_NAMES) == "kubectl"
    assert render("{command}", COMMAND_WORDS) == "/usr/bin/kubectl"


def test_what_a_missing_value_becomes() -> None:
    # A file name needs a non-empty component; a command word is what the session had.
    assert render("{user}", FILE_NAMES, NOBODY) == "anonymous"
    assert render("{user}", COMMAND_WORDS, NOBODY) == ""
    assert render("{arg0}-{claim.pod}", FILE_NAMES, NOBODY) == "_-_"
    assert render("{arg0}-{claim.pod}", COMMAND_WORDS, NOBODY) == "-"


def test_args_is_a_word_of_its_own_and_only_in_commands() -> None:
    assert FieldText("{args}", COMMAND_WORDS).is_list
    with pytest.raises(FieldError, match=r"\{args\} must be a word of its own"):
        FieldText("x{args}", COMMAND_WORDS)
    with pytest.raises(FieldError, match=r"unknown field \{args\}"):
        FieldText("{args}", FILE_NAMES)
    assert CommandTemplate("end {args} --id={session}").render(FACTS) == [
        "end", "exec", "pod 1", "--id=0123456789abcdef"]


@pytest.mark.parametrize("text", ["{nope}", "{user!r}", "{user:>9}", "{", "}", "{}", "{arg}",
                                  "{claim.}", "{arg1234}", "{claim." + "x" * 65 + "}"])
def test_both_refuse_the_same_bad_fields(text: str) -> None:
    for dialect in (FILE_NAMES, COMMAND_WORDS):
        with pytest.raises(FieldError):
            FieldText(text, dialect)
    with pytest.raises(TemplateError):
        NameTemplate(text)
    with pytest.raises(CommandTemplateError, match="cleanup_command"):
        CommandTemplate(f"end {text}")


def test_an_unknown_field_names_the_known_ones() -> None:
    with pytest.raises(FieldError) as caught:
        FieldText("{usr}", COMMAND_WORDS)
    assert str(caught.value) == (
        "unknown field {usr} (known: {date} {time} {session} {user} {remote_addr} {hostname} "
        "{command} {arg0} {arg1} ... {claim.NAME} {args})")


def test_file_name_values_are_encoded_and_command_words_are_not() -> None:
    hostile = SessionFacts(id="s", started_at=0, remote_addr="", user="../x y",
                           argv=("sh",), size=(80, 24))
    assert NameTemplate("{user}.cast").render(hostile) == ["%2E.%2Fx%20y.cast"]
    assert CommandTemplate("echo {user}").render(hostile) == ["echo", "../x y"]

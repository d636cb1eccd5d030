"""Signed notes and key files (gotty_py/audit/signing.py), checkpoint texts
(audit/checkpoints.py): against Go's reference vector, and every way a note or key is bad."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gotty_py.audit.checkpoints import Checkpoint, CheckpointError, CheckpointKind, split_notes
from gotty_py.audit.signing import (
    KeyFileError,
    NoteError,
    Signer,
    UnknownKey,
    load_signer,
    load_verifier,
    open_note,
    parse_signer,
    parse_verifier,
)

# golang.org/x/mod/sumdb/note's own test vector (note_test.go): an independent
# implementation of the format, so ours signs and verifies exactly as C2SP's reference does.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_SIGNATURE = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
                "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


def test_signs_and_verifies_as_gos_note_package_does() -> None:
    signer = parse_signer(GO_SKEY)
    verifier = parse_verifier(GO_VKEY)
    assert signer.verifier == verifier and verifier.text() == GO_VKEY
    assert signer.text() == GO_SKEY
    note = signer.sign(GO_TEXT)
    assert note == GO_TEXT + "\n" + GO_SIGNATURE
    assert open_note(note, (verifier,)).text == GO_TEXT


def test_a_changed_note_or_another_key_is_refused() -> None:
    verifier = parse_verifier(GO_VKEY)
    note = GO_TEXT + "\n" + GO_SIGNATURE
    with pytest.raises(NoteError, match="does not verify: the note was changed"):
        open_note(note.replace("answer", "Answer"), (verifier,))
    other = Signer.generate("PeterNeumann")  # the same name, another key: another key id
    with pytest.raises(UnknownKey, match=r"signed by PeterNeumann\+c74f20a3, not by the key"):
        open_note(note, (other.verifier,))
    # A signature line of an unknown key is skipped; the known one still verifies.
    both = other.sign(GO_TEXT) + GO_SIGNATURE
    assert open_note(both, (verifier,)).signed_by == "PeterNeumann"
    for bad in ("no blank line\n", GO_TEXT + "\n", GO_TEXT + "\n\u2014 PeterNeumann !!\n"):
        with pytest.raises(NoteError):
            open_note(bad, (verifier,))


@pytest.mark.parametrize("text", [
    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key id
    "PeterNeumann+c74f20a3+AhRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # not Ed25519
    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # a space
    "PeterNeumann+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
])
def test_bad_public_keys_are_refused(text: str) -> None:
    with pytest.raises(KeyFileError):
        parse_verifier(text)


def test_signing_key_file_permissions_and_contents(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text(GO_SKEY + "\n")
    for mode in (0o600, 0o400, 0o440, 0o640):  # a Secret volume with fsGroup is 0440
        key.chmod(mode)
        assert load_signer(str(key)).name == "PeterNeumann"
    for mode in (0o644, 0o604, 0o660, 0o602):
        key.chmod(mode)
        with pytest.raises(KeyFileError, match=f"permissions {mode:04o} let other users"):
            load_signer(str(key))
    key.chmod(0o600)
    key.write_text(GO_VKEY + "\n")  # the public key given as the signing key
    with pytest.raises(KeyFileError, match="not a signing key"):
        load_signer(str(key))
    with pytest.raises(KeyFileError, match="No such file"):
        load_signer(str(tmp_path / "missing"))
    public = tmp_path / "key.pub"
    public.write_text(GO_VKEY + "\n")
    assert load_verifier(str(public)) == parse_verifier(GO_VKEY)
    if os.geteuid() != 0:  # root reads anything
        key.chmod(0)
        with pytest.raises(KeyFileError, match="Permission denied"):
            load_signer(str(key))


def checkpoint(**changes: object) -> Checkpoint:
    values: dict[str, object] = dict(
        log_id="0123456789abcdef0123456789abcdef", size=42, last_hash=bytes(range(32)),
        time=1_767_225_600.25, epoch=3, sequence=7, kind=CheckpointKind.PERIODIC,
        interval_lines=100, interval_seconds=60)
    values.update(changes)
    return Checkpoint(**values)  # type: ignore[arg-type]


def test_checkpoint_text_round_trips_and_bad_texts_are_refused() -> None:
    value = checkpoint()
    text = value.text()
    assert text == ("gotty-py event log 0123456789abcdef0123456789abcdef\n42\n"
                    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
                    "time 2026-01-01T00:00:00.250000Z\nepoch 3 7 periodic\ninterval 100 60\n")
    assert Checkpoint.parse(text) == value
    for bad in (text.replace("42", "-1"), text.replace("periodic", "weekly"),
                text.replace("gotty-py event log", "other log"), text + "extra\n",
                text.replace("time 2026", "time x")):
        with pytest.raises(CheckpointError):
            Checkpoint.parse(bad)


def test_split_notes_reads_a_copy_file_and_leaves_out_a_cut_last_note() -> None:
    signer = Signer.generate("k")
    notes = [signer.sign(checkpoint(sequence=n).text()) for n in range(3)]
    copy = "".join(note + "\n" for note in notes)
    assert split_notes(copy) == notes
    assert split_notes(copy + notes[0][:30]) == notes

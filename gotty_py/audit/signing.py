"""Ed25519 signed notes (C2SP signed-note), and the key files that make and check them.

Rules of this module: pure values and codecs plus two small file readers; nothing here
knows the event log. The formats are C2SP's (and Go's golang.org/x/mod/sumdb/note), so a
note can be checked by other tools too:

- a note is its text (non-empty, every line ended by a newline, no blank line), a blank
  line, then one or more signature lines `— <key name> <base64(key id || signature)>`;
- the key id of an Ed25519 key is the first 4 bytes of SHA-256(name || 0x0A || 0x01 ||
  public key); the signature is over the text alone;
- a verifier key (the public key file) is one line `<name>+<hex key id>+<base64(0x01 ||
  public key)>`; a signer key (the private key file) is `PRIVATE+KEY+<name>+<hex key
  id>+<base64(0x01 || 32-byte seed)>`.

A verifier ignores signature lines of keys it does not know and rejects a note that no
key it knows has signed (`NoteError` says which of the two went wrong).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from functools import cached_property

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space, as C2SP spells it
PRIVATE_PREFIX = "PRIVATE+KEY+"
MAX_NOTE_BYTES = 16 * 1024  # a checkpoint is a few hundred bytes; anything bigger is not one


class KeyFileError(ValueError):
    """A key file or key text that cannot be used; the message says why (not the key)."""


class NoteError(ValueError):
    """A note that is malformed, or that no known key verifies."""


class UnknownKey(NoteError):
    """Well-formed and signed, but by none of the keys the verifier was given."""


def key_id(name: str, public: bytes) -> bytes:
    """C2SP's 4-byte key id of an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise KeyFileError(f"key name {name!r}: must be non-empty, printable, without "
                           "spaces or '+'")


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A public key with its name: checks the signature lines that carry its key id."""

    name: str
    public: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.public)

    def text(self) -> str:
        """The verifier key line."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public).decode()
        return f"{self.name}+{self.id.hex()}+{encoded}"

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key with its name: signs notes."""

    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> Signer:
        _check_name(name)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, seed)

    @cached_property
    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @cached_property
    def verifier(self) -> Verifier:
        return Verifier(self.name, _public_bytes(self._private.public_key()))

    @cached_property
    def _key_id(self) -> bytes:
        return self.verifier.id

    def text(self) -> str:
        """The signer key line (secret)."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"{PRIVATE_PREFIX}{self.name}+{self.verifier.id.hex()}+{encoded}"

    def sign(self, text: str) -> str:
        """The signed note: `text`, a blank line, this key's signature line."""
        body = _check_text(text)
        stamp = base64.b64encode(self._key_id + self._private.sign(body)).decode()
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {stamp}\n"


def _split_key(text: str, what: str) -> tuple[str, bytes, bytes]:
    """(name, key id, key bytes) of a key line; KeyFileError naming `what` otherwise."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise KeyFileError(f"{what}: not a key line (NAME+KEYID+BASE64)")
    name, hex_id, encoded = parts
    _check_name(name)
    try:
        wanted_id = bytes.fromhex(hex_id)
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise KeyFileError(f"{what}: the key id or the key is not valid hex / base64") from None
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise KeyFileError(f"{what}: not an Ed25519 key (algorithm byte 0x01 and 32 bytes)")
    return name, wanted_id, raw[1:]


def parse_verifier(text: str, what: str = "public key") -> Verifier:
    name, wanted_id, public = _split_key(text, what)
    verifier = Verifier(name, public)
    if verifier.id != wanted_id:
        raise KeyFileError(f"{what}: the key id does not match the key")
    return verifier


def parse_signer(text: str, what: str = "signing key") -> Signer:
    text = text.strip()
    if not text.startswith(PRIVATE_PREFIX):
        raise KeyFileError(f"{what}: not a signing key (it must start with {PRIVATE_PREFIX})")
    name, wanted_id, seed = _split_key(text[len(PRIVATE_PREFIX):], what)
    signer = Signer(name, seed)
    if signer.verifier.id != wanted_id:
        raise KeyFileError(f"{what}: the key id does not match the key")
    return signer


# The signing key may be group-readable (a Kubernetes Secret mounted with fsGroup is 0440),
# never readable or writable by others, never group-writable.
FORBIDDEN_KEY_MODE = stat.S_IRWXO | stat.S_IWGRP


def load_signer(path: str) -> Signer:
    """The signing key in `path`; KeyFileError when it is unreadable, invalid, or open to
    others (permissions in FORBIDDEN_KEY_MODE)."""
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = handle.read(4096)
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror or exc}") from None
    if mode & FORBIDDEN_KEY_MODE:
        raise KeyFileError(f"{path}: permissions {stat.S_IMODE(mode):04o} let other users read "
                        "or change the signing key (chmod 600, or 0440 for a group)")
    try:
        return parse_signer(data.decode("ascii"), path)
    except UnicodeDecodeError:
        raise KeyFileError(f"{path}: not a signing key (not ASCII text)") from None


def load_verifier(path: str) -> Verifier:
    try:
        with open(path, "rb") as handle:
            data = handle.read(4096)
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror or exc}") from None
    try:
        return parse_verifier(data.decode("ascii"), path)
    except UnicodeDecodeError:
        raise KeyFileError(f"{path}: not a public key (not ASCII text)") from None


def _check_text(text: str) -> bytes:
    if not text or not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise NoteError("note text must be non-empty, end with a newline, and have no "
                        "blank line")
    return text.encode()


@dataclass(frozen=True)
class Note:
    """A verified note: its text and the name of the key that signed it."""

    text: str
    signed_by: str


def open_note(note: str, verifiers: tuple[Verifier, ...]) -> Note:
    """The note's text, if a known key signed it; NoteError (UnknownKey) otherwise."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError("note too long")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("not a signed note (no blank line before the signatures)")
    text, signatures = note[: split + 1], note[split + 2:]
    body = _check_text(text)
    seen: list[str] = []
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"malformed signature line {line[:40]!r}")
        try:
            name, stamp = line[len(SIGNATURE_PREFIX):].split(" ")
            raw = base64.b64decode(stamp, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError(f"malformed signature line {line[:40]!r}") from None
        if len(raw) < 5:
            raise NoteError(f"malformed signature line {line[:40]!r}")
        seen.append(f"{name}+{raw[:4].hex()}")
        for verifier in verifiers:
            if verifier.name == name and verifier.id == raw[:4]:
                if not verifier.verifies(body, raw[4:]):
                    raise NoteError(f"the signature of {name} does not verify: the note "
                                    "was changed")
                return Note(text, name)
    if not seen:
        raise NoteError("the note has no signature")
    raise UnknownKey(f"signed by {', '.join(seen)}, not by the key given")

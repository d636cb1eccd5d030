"""Recording file names: a template over session facts, each value a safe path component.

Rules of this module: no value, however hostile, can place a file outside the audit
directory or onto another session's file. Values are percent-encoded into one path
component each (so `/`, NUL and `..` cannot survive; distinct values stay distinct up to a
hash-suffixed length cap); only the operator's template makes directories; files are
created with O_EXCL and O_NOFOLLOW relative to directory descriptors, so neither a `..` nor
a symlink planted inside the directory can redirect them. `create_recording_file` does
blocking I/O: call it off the event loop.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Sequence
from urllib.parse import quote

from ..facts import SessionFacts
from ..fields import FILE_NAMES, FieldError, FieldText

DEFAULT_TEMPLATE = "{date}/{user}/{time}-{session}.cast"

MAX_VALUE_CHARS = 64  # one substituted value, after encoding
MAX_COMPONENT_BYTES = 200  # one rendered path component; NAME_MAX is 255, keep room for suffixes
MISSING = FILE_NAMES.no_value  # a field the session does not have; an empty value
FILE_MODE = 0o600
DIR_MODE = 0o700


class TemplateError(ValueError):
    """The file-name template cannot be used; the message says why."""


def make_directory(path: str) -> None:
    """`os.makedirs(path, 0700, exist_ok=True)`, but a file (or anything not a directory)
    in the directory's place is `Not a directory` with the path, as the docs promise:
    makedirs says `File exists`, which hides what is wrong. Blocking."""
    try:
        os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    except FileExistsError:
        if os.path.isdir(path):  # made by someone else meanwhile: what was asked for
            return
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path) from None


def _hash_suffix(raw: bytes) -> str:
    return "~" + hashlib.sha256(raw).hexdigest()[:12]


def _cut(text: str, limit: int, raw: bytes) -> str:
    """Cut `text` to `limit` UTF-8 bytes, keeping it distinct by a hash of the original."""
    head = text.encode("utf-8", "surrogatepass")[: limit - 13].decode("utf-8", "ignore")
    # Never leave half of a %XX escape at the cut.
    percent = head.rfind("%", max(0, len(head) - 2))
    if percent != -1:
        head = head[:percent]
    return head + _hash_suffix(raw)


def safe_component(value: str, limit: int = MAX_VALUE_CHARS) -> str:
    """One value as one harmless file-name component.

    Percent-encodes everything but ASCII letters, digits and `_.-~@+=,` (so `/`, `\\`, NUL,
    control characters, spaces and non-ASCII are `%XX`), encodes a leading dot (no `.`,
    `..` or hidden files), and caps the length with a hash of the whole value. Lone
    surrogates (which JSON can carry) are encoded too, never an error.
    """
    try:  # undecodable bytes of an ?arg= value (surrogate escapes) as the bytes they were
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # other lone surrogates, from JSON
        raw = value.encode("utf-8", "surrogatepass")
    text = quote(raw, safe="@+=,")
    if text.startswith("."):
        text = "%2E" + text[1:]
    if not text:
        return MISSING
    if len(text) > limit:
        text = _cut(text, limit, raw)
    return text


class NameTemplate:
    """A parsed template such as `{date}/{user}/{time}-{session}.cast` (`fields` grammar).

    Each `/` of the template is a directory level; braces hold field names (`{{` and `}}`
    are literal braces). Checked once at start-up, so that a typo is an error then, not a
    refused session later.
    """

    def __init__(self, template: str) -> None:
        self.text = template
        if not template:
            raise TemplateError("the template is empty")
        if "\0" in template:
            raise TemplateError("the template contains a NUL character")
        if template.startswith("/"):
            raise TemplateError("the template must be relative to the audit directory")
        self.segments: list[FieldText] = []
        for segment in template.split("/"):
            if not segment:
                raise TemplateError(f"empty path segment in {template!r}")
            try:
                parsed = FieldText(segment, FILE_NAMES)
            except FieldError as exc:
                raise TemplateError(str(exc)) from None
            if not parsed.has_fields and segment in (".", ".."):
                raise TemplateError(f"path segment {segment!r} is not allowed")
            self.segments.append(parsed)

    def render(self, facts: SessionFacts) -> list[str]:
        """The path components (directories, then the file name), each a safe name."""
        components: list[str] = []
        for segment in self.segments:
            text = segment.render(facts, encode=safe_component)
            raw = text.encode("utf-8", "surrogatepass")
            if len(raw) > MAX_COMPONENT_BYTES:
                text = _cut(text, MAX_COMPONENT_BYTES, raw)
            if text in (".", "..") or "/" in text or "\0" in text:  # literal text only
                text = safe_component(text)
            components.append(text)
        return components


def _candidates(name: str, unique: str) -> list[str]:
    """The file name, then variants with the session id and a counter, for collisions."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    else:
        ext = "." + ext
    unique = safe_component(unique)
    names = [name]
    if unique not in stem:
        names.append(f"{stem}-{unique}{ext}")
    names.extend(f"{stem}-{unique}-{n}{ext}" for n in range(2, 100))
    return names


def create_recording_file(directory: str, components: Sequence[str], unique: str
                          ) -> tuple[int, str]:
    """Create the file (mode 0600, directories 0700) and return (fd open for append, path).

    Walks the components with directory file descriptors and O_NOFOLLOW, so the file lands
    inside `directory` whatever the components say or the directory holds; never opens an
    existing file (O_EXCL), trying the variants of `_candidates` instead. Blocking.
    """
    if not components:
        raise ValueError("no file name")
    for component in components:
        if component in ("", ".", "..") or "/" in component or "\0" in component:
            raise ValueError(f"unsafe path component {component!r}")
    make_directory(directory)
    base = os.path.realpath(directory)
    dir_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in components[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, DIR_MODE, dir_fd=dir_fd)
            next_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = next_fd
        flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW
                 | os.O_CLOEXEC)
        for candidate in _candidates(components[-1], unique):
            try:
                fd = os.open(candidate, flags, FILE_MODE, dir_fd=dir_fd)
            except FileExistsError:
                continue
            os.fsync(dir_fd)  # the new directory entry survives a crash of the host too
            path = os.path.join(base, *components[:-1], candidate)
            if os.path.commonpath([base, path]) != base:  # cannot happen; belt and braces
                os.close(fd)
                raise ValueError(f"{path} is outside {base}")
            return fd, path
        raise FileExistsError(f"every variant of {components[-1]!r} exists")
    finally:
        os.close(dir_fd)

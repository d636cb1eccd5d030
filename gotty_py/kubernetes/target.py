"""What a session execs into and as whom, from the signed launch token; the server's policy.

Rules of this module: pure values and checks, no I/O. The target comes only from the
verified token's claims (never from the browser), under one claim:

    "k8s": {"namespace": "team-a", "pod": "web-0", "container": "app", "command": ["bash"]}

`container` may be left out for a pod of one container, `command` for the server's own
command line. The identity is the token's `sub` and its groups claim (`--k8s-groups-claim`).
Every check refuses with a `TargetRefused` whose text the user sees (close 1008); the
policy is checked before any request reaches the API server, the pod's labels once the pod
has been read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

CLAIM = "k8s"
# The extra attribute of the impersonated user that names the gotty-py session, so that the
# API server's audit event of the exec points at the recording (`userextras/<key>`).
SESSION_EXTRA = "gotty-session-id"
# The API server adds this to every impersonated user; an access review must ask the same.
AUTHENTICATED = "system:authenticated"

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # DNS-1123 label
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")  # DNS-1123 subdomain
_LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]"
                        r"{0,61}[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
MAX_COMMAND_WORDS = 64
MAX_WORD = 4096
MAX_GROUPS = 64
MAX_NAME = 256


class TargetRefused(ValueError):
    """The token's target or identity is missing, malformed or outside the policy."""


@dataclass(frozen=True)
class ExecTarget:
    namespace: str
    pod: str
    container: str | None
    command: tuple[str, ...]

    @property
    def where(self) -> str:
        return "/".join(p for p in (self.namespace, self.pod, self.container) if p)


def target_from_claims(claims: Mapping[str, Any], default_command: Sequence[str]) -> ExecTarget:
    """The `k8s` claim as a target; a token without it cannot start a session."""
    value = claims.get(CLAIM)
    if value is None:
        raise TargetRefused(f"launch token has no {CLAIM!r} claim naming the pod")
    if not isinstance(value, Mapping):
        raise TargetRefused(f"launch token claim {CLAIM!r} must be an object")
    namespace = _name(value, "namespace", _LABEL, required=True)
    pod = _name(value, "pod", _SUBDOMAIN, required=True)
    container = _name(value, "container", _LABEL, required=False)
    command = value.get("command")
    if command is None:
        words = tuple(default_command)
    elif (not isinstance(command, list) or not command
          or not all(isinstance(w, str) for w in command)):
        raise TargetRefused(f"{CLAIM}.command must be a non-empty list of strings")
    else:
        words = tuple(command)
    if not words or len(words) > MAX_COMMAND_WORDS or not words[0]:
        raise TargetRefused(f"{CLAIM}.command must have 1 to {MAX_COMMAND_WORDS} words")
    if any(len(w) > MAX_WORD or "\0" in w for w in words):
        raise TargetRefused(f"{CLAIM}.command has a word too long or with a NUL")
    assert namespace is not None and pod is not None
    return ExecTarget(namespace, pod, container, words)


def _name(claim: Mapping[str, Any], key: str, grammar: re.Pattern[str], *,
          required: bool) -> str | None:
    value = claim.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not grammar.fullmatch(value):
        raise TargetRefused(f"launch token claim {CLAIM}.{key} must be a Kubernetes name"
                            f"{'' if required else ' (or absent)'}, got {value!r}"[:200])
    return value


@dataclass(frozen=True)
class Identity:
    """Whom the exec impersonates (and the access review asks about)."""

    user: str
    groups: tuple[str, ...]
    session_id: str

    def headers(self) -> list[tuple[str, str]]:
        """The impersonation headers: one `Impersonate-Group` per group; the extra's key
        lower-case and percent-encoded where a header name cannot hold it."""
        return [("Impersonate-User", self.user),
                *(("Impersonate-Group", group) for group in self.groups),
                (f"Impersonate-Extra-{quote(SESSION_EXTRA.lower(), safe='-')}",
                 self.session_id)]

    def review_groups(self) -> list[str]:
        return [*self.groups, *(() if AUTHENTICATED in self.groups else (AUTHENTICATED,))]


def identity_from(user: str | None, claims: Mapping[str, Any], groups_claim: str,
                  session_id: str) -> Identity:
    """The token's `sub` and groups; `system:` names are never impersonated from a token
    (they are the cluster's own: system:masters is cluster-admin)."""
    if not user:
        raise TargetRefused("launch token has no sub: there is nobody to exec as")
    _check_subject("sub", user)
    raw = claims.get(groups_claim, []) if groups_claim else []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(g, str) for g in raw):
        raise TargetRefused(f"launch token claim {groups_claim!r} must be a list of strings")
    if len(raw) > MAX_GROUPS:
        raise TargetRefused(f"launch token claim {groups_claim!r} has more than "
                            f"{MAX_GROUPS} groups")
    for group in raw:
        _check_subject(groups_claim, group)
    return Identity(user, tuple(dict.fromkeys(raw)), session_id)


def _check_subject(what: str, name: str) -> None:
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise TargetRefused(f"launch token {what} {name[:40]!r} is not a usable name")
    if name.startswith("system:"):
        raise TargetRefused(f"launch token {what} {name[:60]!r}: system: names are not "
                            "impersonated")


class Operator(StrEnum):
    EQUALS = "="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    NOT_EXISTS = "!exists"


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    value: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        match self.operator:
            case Operator.EQUALS:
                return labels.get(self.key) == self.value
            case Operator.NOT_EQUALS:
                return labels.get(self.key) != self.value
            case Operator.EXISTS:
                return self.key in labels
            case Operator.NOT_EXISTS:
                return self.key not in labels


def parse_selector(text: str) -> tuple[Requirement, ...]:
    """An equality-based label selector (`app=web,tier!=db,console,!legacy`), as kubectl
    writes one; set-based forms (`in`, `notin`) are refused rather than misread."""
    requirements: list[Requirement] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise ValueError(f"empty requirement in label selector {text!r}")
        if " in " in f" {part} " or " notin " in f" {part} " or "(" in part:
            raise ValueError(f"set-based label selectors are not supported: {part!r}")
        if "!=" in part:
            key, _, value = part.partition("!=")
            requirement = Requirement(key.strip(), Operator.NOT_EQUALS, value.strip())
        elif "=" in part:
            key, _, value = part.partition("==") if "==" in part else part.partition("=")
            requirement = Requirement(key.strip(), Operator.EQUALS, value.strip())
        elif part.startswith("!"):
            requirement = Requirement(part[1:].strip(), Operator.NOT_EXISTS)
        else:
            requirement = Requirement(part, Operator.EXISTS)
        if not _LABEL_KEY.fullmatch(requirement.key):
            raise ValueError(f"invalid label key {requirement.key!r} in {text!r}")
        if not _LABEL_VALUE.fullmatch(requirement.value):
            raise ValueError(f"invalid label value {requirement.value!r} in {text!r}")
        requirements.append(requirement)
    return tuple(requirements)


@dataclass(frozen=True)
class Policy:
    """What this server lets any token reach: namespaces, pods (by label), commands."""

    namespaces: frozenset[str]
    selector: tuple[Requirement, ...] = ()
    selector_text: str = ""
    commands: frozenset[tuple[str, ...]] = frozenset()

    def check(self, target: ExecTarget) -> None:
        """Before any request: the namespace and the command."""
        if target.namespace not in self.namespaces:
            raise TargetRefused(f"namespace {target.namespace!r} is not allowed on this "
                                "console")
        if target.command not in self.commands:
            raise TargetRefused(f"command {list(target.command)!r}"[:200]
                                + " is not allowed on this console")

    def check_labels(self, target: ExecTarget, labels: Mapping[str, str]) -> None:
        """Once the pod is read: its labels must match the selector."""
        if not all(requirement.matches(labels) for requirement in self.selector):
            raise TargetRefused(f"pod {target.namespace}/{target.pod} does not match this "
                                f"console's pod selector {self.selector_text!r}")

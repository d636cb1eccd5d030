"""A session's `Launch` as bytes, for a ticket store shared by several replicas.

Rules of this module: `LaunchCodec` writes every field of a `Launch` as one versioned JSON
object and reads back only what it wrote: every field is type-checked on the way in, and
anything else is a `ValueError` (the store then refuses the ticket like an unknown one).
`claims` and `info` must be JSON values, as they are when they come from a verified token.
It knows `Launch` and `Target` and nothing else of the server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..facts import Target
from ..webtty.session import Launch

VERSION = 1
_FIELDS = {"v", "argv", "permit_write", "user", "claims", "target", "env", "info"}


class LaunchCodec:
    """The `GrantCodec[Launch]` (auth/tickets.py) of the Redis ticket store."""

    def encode(self, grant: Launch) -> bytes:
        target = grant.target
        document = {
            "v": VERSION,
            "argv": list(grant.argv),
            "permit_write": grant.permit_write,
            "user": grant.user,
            "claims": dict(grant.claims),
            "target": None if target is None else {
                "namespace": target.namespace, "pod": target.pod,
                "container": target.container},
            "env": dict(grant.env),
            "info": dict(grant.info),
        }
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")

    def decode(self, data: bytes) -> Launch:
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a stored launch: {exc}") from None
        if not isinstance(document, dict) or set(document) != _FIELDS:
            raise ValueError("not a stored launch: unexpected fields")
        if document["v"] != VERSION:
            raise ValueError(f"stored launch version {document['v']!r}, expected {VERSION}")
        argv = document["argv"]
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("argv must be a non-empty list of strings")
        permit_write = document["permit_write"]
        if not isinstance(permit_write, bool):
            raise ValueError("permit_write must be true or false")
        user = document["user"]
        if user is not None and not isinstance(user, str):
            raise ValueError("user must be a string or null")
        env = _object(document, "env")
        if not all(isinstance(v, str) for v in env.values()):
            raise ValueError("env values must be strings")
        return Launch(argv=tuple(argv), permit_write=permit_write, user=user,
                      claims=_object(document, "claims"), target=_target(document["target"]),
                      env=env, info=_object(document, "info"))


def _object(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = document[name]
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    return value


def _target(value: Any) -> Target | None:
    if value is None:
        return None
    if (not isinstance(value, dict) or set(value) != {"namespace", "pod", "container"}
            or not isinstance(value["namespace"], str) or not isinstance(value["pod"], str)
            or not (value["container"] is None or isinstance(value["container"], str))):
        raise ValueError("target must be an object of namespace, pod and container")
    return Target(namespace=value["namespace"], pod=value["pod"], container=value["container"])


LAUNCH_CODEC = LaunchCodec()

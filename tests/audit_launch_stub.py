"""gotty-py with a stand-in for JWT launch tokens, for the audit tests only.

The init message's AuthToken is read as JSON `{"user": ..., "claims": {...}}` and becomes
`Launch.user` and `Launch.claims`, as a verified token's `sub` and other claims do. It
lets the tests hand the server user names that real tokens refuse (NUL, 10 KiB), to show
that naming copes with anything. Run as
`python -m tests.audit_launch_stub [gotty-py options] COMMAND`.
"""

from __future__ import annotations

import json

from gotty_py import cli
from gotty_py.server.sessions import SessionFactory
from gotty_py.webtty.protocol import InitMessage, parse_arguments
from gotty_py.webtty.session import Launch


def _grant(self: SessionFactory, init: InitMessage) -> Launch:
    data = json.loads(init.auth_token or "{}")
    args = parse_arguments(init.arguments) if self.options.permit_arguments else []
    return Launch(argv=(*self.command, *args), permit_write=self.options.permit_write,
                  user=data.get("user"), claims=data.get("claims", {}))


SessionFactory.grant = _grant  # type: ignore[method-assign]

if __name__ == "__main__":
    cli.main()

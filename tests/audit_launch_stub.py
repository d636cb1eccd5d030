"""gotty-py with a stand-in for JWT launch tokens, for the audit tests only.

The init message's AuthToken is read as JSON `{"user": ..., "claims": {...}}` and becomes
`Launch.user` and `Launch.claims`, as a verified token's `sub` and other claims do. It
lets the tests hand the server user names that real tokens refuse (NUL, 10 KiB), to show
that naming copes with anything. Run as
`python -m tests.audit_launch_stub [gotty-py options] COMMAND`. It replaces the grant's
rules (`LaunchGrant._decide`), nothing else of the server.
"""

from __future__ import annotations

import json

from gotty_py import cli
from gotty_py.server.grant import ClientInfo, LaunchGrant
from gotty_py.webtty.protocol import InitMessage, parse_arguments
from gotty_py.webtty.session import Launch


async def _decide(self: LaunchGrant, init: InitMessage, client: ClientInfo) -> Launch:
    data = json.loads(init.auth_token or "{}")
    args = parse_arguments(init.arguments) if self.permit_arguments else []
    return Launch(argv=(*self.command, *args), permit_write=self.permit_write,
                  user=data.get("user"), claims=data.get("claims", {}))


LaunchGrant._decide = _decide  # type: ignore[method-assign]

if __name__ == "__main__":
    cli.main()

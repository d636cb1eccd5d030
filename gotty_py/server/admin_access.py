"""Who may use the admin routes, and which requests that change something are refused.

The admin routes (server/admin.py) can end any user's session, so they have their own
credential (`--admin-credential user:pass`, HTTP Basic in its own realm, compared in
constant time by auth/basic.py), never the site's `--credential`, and a request that ends a
session must come from this server's own admin page or from a client that is no browser:

- `Sec-Fetch-Site` must be `same-origin` or absent (a browser says `cross-site` or
  `same-site` for another page's request; `none` is a URL typed in, never a POST);
- an `Origin`, when sent (browsers send it with every POST), must name this server's
  host (the `Host` header, as the `/ws` same-origin check does); `null` is refused;
- and the request must carry what no other site's page can send: the JSON API the
  `X-GoTTY-Admin` header (a form cannot set a header, and a cross-origin `fetch` may only
  after a CORS preflight, which this server never answers), the page's form the token
  the page was rendered with.

Rules of this module: pure decisions on header values and a per-server random token; the
handlers refuse, count (`ConnectionRefusal.ADMIN_AUTH`, `ADMIN_CROSS_SITE`) and log.
"""

from __future__ import annotations

import hmac
import secrets
import urllib.parse

from ..auth.basic import BasicAuthResult, check_basic_auth
from ..options import check_admin_credential
from .fetch_metadata import FetchSite, fetch_site

ADMIN_REALM = "gotty-py admin"
# The header gotty-py-admin sends with every request that changes something.
API_HEADER = "X-GoTTY-Admin"


class AdminAccess:
    """The admin credential and the page's form token of one server."""

    def __init__(self, credential: str) -> None:
        if not credential:
            raise ValueError("no admin credential")
        check_admin_credential(credential)  # OptionValueError: not user:password
        self._credential = credential
        self.user = credential.partition(":")[0]  # who ended a session, in the event log
        # A page rendered before a restart carries an old token: its End is refused (403)
        # and a reload gives the new one.
        self.form_token = secrets.token_urlsafe(24)

    def check(self, authorization: str | None) -> BasicAuthResult:
        return check_basic_auth(authorization, self._credential)

    def form_token_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode("utf-8", "replace"),
                                                         self.form_token.encode("ascii"))


def cross_site_post(origin: str | None, host: str | None,
                    sec_fetch_site: str | None) -> str | None:
    """Why a POST looks sent by another site's page (the log line's words), or None."""
    site = fetch_site(sec_fetch_site)
    if site not in (None, FetchSite.SAME_ORIGIN):
        return f"Sec-Fetch-Site: {site}"
    if origin is None:
        return None
    try:
        netloc = urllib.parse.urlsplit(origin).netloc.lower()
    except ValueError:
        netloc = ""
    if not netloc or netloc != (host or "").lower():
        return f"Origin {origin[:100]!a} is not this server's"
    return None

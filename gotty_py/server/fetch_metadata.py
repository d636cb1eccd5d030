"""Fetch metadata (`Sec-Fetch-Site`): refusing another site's page the console's scripts.

`/auth_token.js` serves the credential as JavaScript: any page that includes it as a
`<script>` could read it through the global it defines. `config.js` and the bundle are
less secret but no other site needs them either, and `/ws` is the shell itself. Browsers
say in `Sec-Fetch-Site` which site made a request; what is not `same-origin` (or `none`,
a URL the user typed) is refused for these routes:

- the page's scripts (`auth_token.js`, `config.js`, `js/*`): `cross-site` always,
  `same-site` unless `--ws-origin` is set (the operator lets other origins use the
  console);
- `/ws`: `cross-site` and `same-site` unless `--ws-origin` is set and the request's
  `Origin` matched it (checked before this: the pattern is the operator's decision, and a
  page cannot forge the Origin of a WebSocket).

A request without the header (older browsers, gotty-client, curl, kubectl) is allowed:
it is no browser page of another site. An unknown value is refused like `cross-site`.
`Cross-Origin-Resource-Policy: same-origin` on every site route (handlers.py) covers the
browsers that send no fetch metadata but honour CORP.

Rules of this module: pure decisions on one header value; the handlers refuse, count
(`ConnectionRefusal.FETCH_SITE`) and log.
"""

from __future__ import annotations

from enum import StrEnum


class FetchSite(StrEnum):
    SAME_ORIGIN = "same-origin"
    SAME_SITE = "same-site"
    CROSS_SITE = "cross-site"
    NONE = "none"  # the user typed the URL or opened a bookmark


def fetch_site(header: str | None) -> FetchSite | None:
    """The header's value; None when there is none; CROSS_SITE for anything unknown."""
    if header is None:
        return None
    try:
        return FetchSite(header.strip().lower())
    except ValueError:
        return FetchSite.CROSS_SITE


def script_refused(header: str | None, *, other_origins_allowed: bool) -> FetchSite | None:
    """The refused value for one of the page's scripts, or None when it may be served."""
    site = fetch_site(header)
    if site is FetchSite.CROSS_SITE or (site is FetchSite.SAME_SITE
                                        and not other_origins_allowed):
        return site
    return None


def websocket_refused(header: str | None, *, origin_pattern_matched: bool) -> FetchSite | None:
    """The refused value for a `/ws` upgrade, or None when it may go on."""
    site = fetch_site(header)
    if site in (FetchSite.CROSS_SITE, FetchSite.SAME_SITE) and not origin_pattern_matched:
        return site
    return None

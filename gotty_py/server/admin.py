"""The admin routes: live sessions listed, and ended, under `{base}admin/`.

| route | answer |
|---|---|
| `GET admin/` | a page listing the running sessions, an End button on each |
| `GET admin/api/sessions` | `{"sessions": [...]}` (registry.py's `LiveSession.as_json`) |
| `POST admin/api/sessions/<id>/end` | ends it; `{"id", "ended", "outcome"}` (JSON API) |
| `POST admin/sessions/<id>/end?token=` | the page's End button; 303 back to the page |

Rules of this module: served only with `--admin-credential`. Every route runs the site's
checks that need no credential (request body, Host, the authenticating proxy's header),
then the admin credential (admin_access.py) instead of the site's Basic auth, and every
POST is refused when another site's page could have sent it. What a route shows comes from
the `SessionRegistry` it was given; ending goes through `SessionRegistry.end`, the
session's own end path. The page needs no script: plain HTML, forms that POST to itself,
its own strict CSP (no script at all, no framing: an End button cannot be clickjacked).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import tornado.web

from ..audit.events import utc_iso
from ..auth.basic import BasicAuthResult
from .admin_access import ADMIN_REALM, API_HEADER, AdminAccess, cross_site_post
from .audit_observer import outcome
from .auth_proxy import AuthProxyRefused
from .fetch_metadata import script_refused
from .handlers import (
    NoRequestBody,
    TokenSafeLogging,
    apply_security_headers,
    refuse,
    refuse_request_body,
    require_served_host,
)
from .refusals import ConnectionRefusal
from .registry import LiveSession, SessionRegistry
from .site import Site

log = logging.getLogger("gotty_py.server")

# The page loads nothing and runs nothing; its forms post to itself.
ADMIN_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
             "frame-ancestors 'none'; base-uri 'none'")
# How long an End waits for the session's end (process tree ended, cleanup and audit
# told) before it answers that the session is still ending.
END_WAIT = 10.0
SESSION_ID = r"([0-9a-f]{16})"
CROSS_SITE_REFUSED = "Forbidden: admin actions are not accepted from another site's page"


@dataclass(frozen=True)
class Admin:
    """What the admin routes are given: who may use them, and the sessions."""

    access: AdminAccess
    registry: SessionRegistry


def admin_routes(base: str, site: Site, admin: Admin) -> list[Any]:
    """The admin routes under the escaped base path `base`, before the site's catch-all."""
    args = {"site": site, "admin": admin}
    return [
        (rf"{base}admin/", AdminPageHandler, args),
        (rf"{base}admin/api/sessions", SessionsHandler, args),
        (rf"{base}admin/api/sessions/{SESSION_ID}/end", ApiEndHandler, args),
        (rf"{base}admin/sessions/{SESSION_ID}/end", FormEndHandler, args),
        (rf"{base}admin", AdminRedirectHandler, args),
        (rf"{base}admin/.*", AdminNotFoundHandler, args),
    ]


@tornado.web.stream_request_body
class AdminHandler(NoRequestBody, TokenSafeLogging, tornado.web.RequestHandler):
    """The checks of every admin route (see the module's rules)."""

    def initialize(self, site: Site, admin: Admin) -> None:
        self.site = site
        self.admin = admin

    def set_default_headers(self) -> None:
        apply_security_headers(self)
        self.set_header("Content-Security-Policy", ADMIN_CSP)
        # Not the site's `no-referrer`: under it a browser sends `Origin: null` with the
        # page's own form POSTs, which the same-origin check must refuse. Nothing leaves
        # this origin: the page links nowhere else.
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")

    def compute_etag(self) -> str | None:
        return None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code} {self._reason}\n")

    def prepare(self) -> None:
        if refuse_request_body(self) or not require_served_host(self, self.site):
            return
        proxied = self.site.proxy_user(self.request)
        if isinstance(proxied, AuthProxyRefused):
            refuse(self, self.site, proxied.reason, proxied.text, proxied.detail)
            return
        result = self.admin.access.check(self.request.headers.get("Authorization"))
        if result is not BasicAuthResult.OK:
            client = self.site.client_address(self.request)
            log.info("Admin authentication failed (%s): %s %s from %s", result.value,
                     self.request.method, self.request.path, client, extra={"client": client})
            self.site.refusals.refused(ConnectionRefusal.ADMIN_AUTH)
            self.set_status(401)
            self.set_header("WWW-Authenticate", f'Basic realm="{ADMIN_REALM}"')
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("admin authorization failed\n")
            return
        headers = self.request.headers
        if self.request.method == "POST":
            detail = (cross_site_post(headers.get("Origin"), headers.get("Host"),
                                      headers.get("Sec-Fetch-Site")) or self.missing_proof())
        else:
            fetched_by = script_refused(headers.get("Sec-Fetch-Site"),
                                        other_origins_allowed=False)
            detail = None if fetched_by is None else f"Sec-Fetch-Site: {fetched_by}"
        if detail is not None:
            refuse(self, self.site, ConnectionRefusal.ADMIN_CROSS_SITE, CROSS_SITE_REFUSED,
                   f"admin route: {detail}")

    def missing_proof(self) -> str | None:
        """Why this POST lacks what only our page or a non-browser client sends; None
        when it has it (or the route takes no POST: Tornado answers 405)."""
        return None

    async def end(self, session_id: str) -> tuple[int, dict[str, Any]]:
        """End a session as the admin; the status and the JSON answer."""
        client = self.site.client_address(self.request)
        session = self.admin.registry.end(session_id, self.admin.access.user, client=client)
        if session is None:
            return 404, {"id": session_id, "ended": False,
                         "error": f"no running session {session_id}"}
        try:
            end = await asyncio.wait_for(session.wait(), END_WAIT)
        except TimeoutError:
            return 202, {"id": session_id, "ended": False, "state": "ending"}
        return 200, {"id": session_id, "ended": True, "outcome": outcome(end)}


class AdminPageHandler(AdminHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        ended = self.get_query_argument("ended", None)
        missing = self.get_query_argument("missing", None)
        self.finish(render_page(self.admin.registry.sessions(), self.admin.access.form_token,
                                time.time(), ended=ended, missing=missing))

    def head(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish()


class SessionsHandler(AdminHandler):
    def get(self) -> None:
        sessions = [view.as_json() for view in self.admin.registry.sessions()]
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"sessions": sessions}))


class ApiEndHandler(AdminHandler):
    def missing_proof(self) -> str | None:
        if self.request.headers.get(API_HEADER) is None:
            return f"POST without the {API_HEADER} header"
        return None

    async def post(self, session_id: str) -> None:
        status, answer = await self.end(session_id)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(answer))


class FormEndHandler(AdminHandler):
    def missing_proof(self) -> str | None:
        if not self.admin.access.form_token_matches(self.get_query_argument("token", None)):
            return "form POST without this page's token (reload the page)"
        return None

    async def post(self, session_id: str) -> None:
        status, _ = await self.end(session_id)
        # Back to the page (303: a GET), which says what happened.
        self.redirect(f"{self.site.base_path}admin/?"
                      f"{'missing' if status == 404 else 'ended'}={session_id}", status=303)


class AdminRedirectHandler(AdminHandler):
    """`admin` -> `admin/`, where the page's relative links work."""

    def get(self) -> None:
        self.redirect(f"{self.site.base_path}admin/", permanent=True)


class AdminNotFoundHandler(AdminHandler):
    def _serve(self, *_: Any) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("404 page not found\n")

    get = head = post = _serve


# --- the page -------------------------------------------------------------------------------

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #ddd; padding: .35em .6em; text-align: left;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 13px; }
.note { padding: .4em .6em; background: #eef; display: inline-block; }
"""


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _row(view: LiveSession, token: str, now: float) -> str:
    e = html.escape
    target = view.target
    where = "" if target is None else e(
        f"{target.namespace}/{target.pod}" + (f" ({target.container})" if target.container
                                              else ""))
    return (
        f'<tr data-session="{e(view.id)}"><td><code>{e(view.id)}</code></td>'
        f"<td>{e(view.user or '')}</td><td><code>{e(view.command)}</code></td>"
        f"<td>{where}</td><td>{e(view.client)}</td>"
        f'<td>{e(utc_iso(view.started_at)[:19])}Z<br>{_duration(now - view.started_at)}</td>'
        f'<td class="num">{view.bytes_in}</td><td class="num">{view.bytes_out}</td>'
        f'<td class="num">{view.observers}</td><td>{"yes" if view.detached else "no"}</td>'
        f'<td><form method="post" action="sessions/{e(view.id)}/end?token={e(token)}">'
        f'<button type="submit" name="end">End</button></form></td></tr>'
    )


def render_page(sessions: list[LiveSession], token: str, now: float, *,
                ended: str | None = None, missing: str | None = None) -> str:
    """The admin page: every running session, an End button on each."""
    e = html.escape
    note = ""
    if ended:
        note = f'<p class="note">Session <code>{e(ended[:16])}</code> ended.</p>'
    elif missing:
        note = (f'<p class="note">Session <code>{e(missing[:16])}</code> was not running '
                "any more.</p>")
    rows = "".join(_row(view, token, now) for view in sessions)
    body = (
        "<table><thead><tr><th>id</th><th>user</th><th>command</th><th>target</th>"
        "<th>client</th><th>started (UTC), running</th><th>bytes in</th><th>bytes out</th>"
        "<th>observers</th><th>detached</th><th></th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if sessions else "<p>No session is running.</p>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>gotty-py: live sessions</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Live sessions ({len(sessions)})</h1>{note}{body}"
        '<p><a href="./">Refresh</a></p></body></html>'
    )

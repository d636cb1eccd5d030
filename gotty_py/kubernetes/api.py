"""The few API server calls the backend makes: read a pod, review access, open an exec.

Rules of this module: every request carries the console's own credentials (asked for
afresh each time, `config.ClusterAccess`) and has a deadline; answers are read within
bounds (`boundedjson`, a size limit). Every failure is one `ApiError` with the HTTP
status (None when the API server could not be reached) and a text for the user, taken
from the `v1.Status` the API server sent where there is one. Impersonation headers are
given per call: the pod is read as the console (it needs `get pods` for the policy), the
exec is made as the user.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import HTTPHeaders
from tornado.websocket import WebSocketClientConnection, WebSocketError, websocket_connect

from .. import boundedjson
from . import channels
from .config import ClusterAccess
from .target import SESSION_EXTRA, ExecTarget, Identity

MAX_BODY = 4 * 1024 * 1024  # a pod object or a review is far smaller
# The largest exec message accepted: the API server sends output in pieces of 32 KiB or so.
MAX_MESSAGE = 1024 * 1024
PING_INTERVAL = 20  # seconds; the API server answers pings (kubectl sends one every 5 s)


class ApiError(Exception):
    """A request failed; `code` is the HTTP status, None when nothing answered."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Review:
    allowed: bool
    reason: str


class KubernetesApi:
    """The API server of one cluster, as this console reaches it."""

    def __init__(self, access: ClusterAccess, timeout: float) -> None:
        self.access = access
        self.timeout = timeout
        self._client: AsyncHTTPClient | None = None

    @property
    def client(self) -> AsyncHTTPClient:
        if self._client is None:  # made on the server's loop, at the first request
            self._client = AsyncHTTPClient(force_instance=True, max_clients=64,
                                           max_body_size=MAX_BODY)
        return self._client

    async def get_pod(self, namespace: str, pod: str) -> dict[str, Any]:
        """The `v1.Pod` (as the console: `get pods`)."""
        path = f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}"
        return await self._json("GET", path)

    async def review(self, identity: Identity, target: ExecTarget) -> Review:
        """May this user and these groups `create pods/exec` on the target pod?"""
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": identity.user,
                "groups": identity.review_groups(),
                "extra": {SESSION_EXTRA: [identity.session_id]},
                "resourceAttributes": {"namespace": target.namespace, "verb": "create",
                                       "group": "", "resource": "pods",
                                       "subresource": "exec", "name": target.pod},
            },
        }
        answer = await self._json("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                                  body)
        status = answer.get("status")
        if not isinstance(status, dict):
            raise ApiError(None, "the access review came back without a status")
        reason = status.get("reason") or status.get("evaluationError") or ""
        return Review(status.get("allowed") is True and status.get("denied") is not True,
                      str(reason)[:300])

    async def exec(self, target: ExecTarget, command: Sequence[str], *, tty: bool,
                   identity: Identity | None) -> tuple[WebSocketClientConnection,
                                                       channels.Subprotocol]:
        """Open `pods/exec` (stdin, stdout, and stderr unless `tty`) over WebSocket,
        offering v5 then v4; the connection and the subprotocol the server chose."""
        query: list[tuple[str, str]] = [("command", word) for word in command]
        if target.container:
            query.append(("container", target.container))
        query += [("stdin", "true"), ("stdout", "true"), ("tty", "true" if tty else "false")]
        if not tty:
            query.append(("stderr", "true"))
        path = (f"/api/v1/namespaces/{quote(target.namespace)}/pods/{quote(target.pod)}/exec?"
                + urlencode(query))
        request = await self._request("GET", path, identity=identity,
                                      base=self.access.websocket_base)
        try:
            connection = await websocket_connect(
                request, subprotocols=[p.value for p in channels.OFFERED],
                max_message_size=MAX_MESSAGE, ping_interval=PING_INTERVAL,
                ping_timeout=3 * PING_INTERVAL)
        except HTTPClientError as exc:
            raise _api_error(exc) from None
        except WebSocketError as exc:
            raise ApiError(None, f"exec upgrade failed: {exc}") from None
        except (OSError, ssl.SSLError) as exc:
            raise self._unreachable(exc) from None
        try:
            protocol = channels.negotiated(connection.selected_subprotocol)
        except channels.ChannelError as exc:
            connection.close()
            raise ApiError(None, str(exc)) from None
        return connection, protocol

    async def _json(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        request = await self._request(method, path, body=body)
        try:
            response = await self.client.fetch(request)
        except HTTPClientError as exc:
            raise _api_error(exc) from None
        except (OSError, ssl.SSLError) as exc:
            raise self._unreachable(exc) from None
        try:
            value = boundedjson.loads(response.body)
        except boundedjson.JsonRejected as exc:
            raise ApiError(response.code, f"the API server's answer is not JSON: {exc}") \
                from None
        if not isinstance(value, dict):
            raise ApiError(response.code, "the API server's answer is not a JSON object")
        return value

    async def _request(self, method: str, path: str, *, body: Any = None,
                       identity: Identity | None = None, base: str | None = None
                       ) -> HTTPRequest:
        headers = HTTPHeaders({"Accept": "application/json",
                               "User-Agent": "gotty-py (kubernetes backend)"})
        authorization = await self.access.authorization()
        if authorization:
            headers["Authorization"] = authorization
        if identity is not None:
            for name, value in identity.headers():
                headers.add(name, value)
        if body is not None:
            headers["Content-Type"] = "application/json"
        return HTTPRequest((base or self.access.host) + path, method=method, headers=headers,
                           body=None if body is None else json.dumps(body),
                           connect_timeout=self.timeout, request_timeout=self.timeout,
                           ssl_options=self.access.ssl_context)

    def _unreachable(self, exc: BaseException) -> ApiError:
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return ApiError(None, f"the API server at {self.access.host} is unreachable: {detail}")


def _api_error(exc: HTTPClientError) -> ApiError:
    """The API server's own words (its `v1.Status` message) where it sent them."""
    code = exc.code
    if code == 599:  # Tornado's "no answer": timeout or connection closed
        return ApiError(None, f"the API server did not answer: {exc.message or exc}")
    message = exc.message or f"HTTP {code}"
    body = exc.response.body if exc.response is not None else b""
    if body:
        try:
            status = boundedjson.loads(body[:MAX_BODY])
        except boundedjson.JsonRejected:
            status = None
        if isinstance(status, dict) and isinstance(status.get("message"), str):
            message = status["message"][:300]
    return ApiError(code, message)

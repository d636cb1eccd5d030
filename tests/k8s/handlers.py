"""Tornado handlers of the simulated Kubernetes API server.

Enough of the API for the real ``kubectl exec`` and for gotty-py's kubernetes backend:
discovery, pods, the exec subresource over WebSockets (``v5.channel.k8s.io``, also ``v4``;
which ones is a setting), and SubjectAccessReviews. Every request is recorded, so tests
(and humans) can see exactly what was asked; unknown requests get a 404 ``Status`` and a
warning in the log.

Authorization, like the API server's: the bearer token is the console's account
(``CONSOLE_USER``); ``Impersonate-User``/``-Group``/``-Extra-*`` switch to another user
only if the test's rule lets the console ``impersonate`` each of them (users, groups,
``userextras/KEY``), and the request is then authorized as that user (with
``system:authenticated`` added). The rule (``Authorizer``, allow-all by default) decides
``get pods``, ``create pods/exec``, ``create subjectaccessreviews`` and the reviews'
answers alike, so a review and the exec it precedes can never disagree.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tornado.web import Application, RequestHandler
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from . import objects, processes
from .objects import JsonDict, SimPod
from .processes import ExecSpec, SimProcess

log = logging.getLogger("k8s_sim")

SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
SPDY_UNSUPPORTED = (
    "k8s-sim: exec over SPDY is not simulated; use kubectl >= 1.30 (WebSockets, "
    "v5.channel.k8s.io)"
)
_TRUE = ("true", "1")
#: Whom the bearer token authenticates: the console's service account.
CONSOLE_USER = "system:serviceaccount:gotty:gotty-py"
CONSOLE_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:gotty",
                  "system:authenticated")
_EXTRA_PREFIX = "impersonate-extra-"


@dataclass(frozen=True)
class Attributes:
    """One authorization question, as RBAC sees it."""

    user: str
    groups: tuple[str, ...]
    verb: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


Authorizer = Callable[[Attributes], bool]


def allow_all(_: Attributes) -> bool:
    return True


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it (tests assert on these)."""

    method: str
    path: str
    query: str
    upgrade: str
    subprotocols: str
    authorization: str  # "none", "bearer-ok" or "bearer-wrong"
    accept: str
    user_agent: str
    impersonate_user: str = ""
    impersonate_groups: tuple[str, ...] = ()
    impersonate_extra: tuple[tuple[str, str], ...] = ()  # (key as decoded, value)


@dataclass
class SimState:
    """Everything the handlers share; only touched on the IOLoop thread."""

    pods: dict[tuple[str, str], SimPod]
    token: str | None
    git_version: str
    server_address: str
    spawn_spec: Callable[[SimPod, str, tuple[str, ...], dict[str, bool]], ExecSpec]
    requests: list[RequestRecord] = field(default_factory=list)
    processes: list[SimProcess] = field(default_factory=list)
    sockets: set[ExecHandler] = field(default_factory=set)
    subprotocols: tuple[str, ...] = SUBPROTOCOLS  # what exec accepts, in preference order
    authorize: Authorizer = allow_all
    reviews: list[JsonDict] = field(default_factory=list)  # every SubjectAccessReview spec
    stdin_closes: list[tuple[str, ...]] = field(default_factory=list)  # v5 CLOSE, by command


class SimMixin:
    """Request recording, bearer-token check and ``v1.Status`` errors for all handlers."""

    state: SimState
    request: Any

    def initialize(self, state: SimState) -> None:
        self.state = state

    user: str = CONSOLE_USER
    groups: tuple[str, ...] = CONSOLE_GROUPS

    def prepare(self) -> None:
        auth = self._authorization()
        self.state.requests.append(self._record(auth))
        is_sim_api = self.request.path.startswith("/_sim/")
        if self.state.token is not None and auth != "bearer-ok" and not is_sim_api:
            self.write_json(objects.status(401, "Unauthorized", "Unauthorized"), 401)
            return
        if not is_sim_api:
            self._impersonate()

    def _impersonate(self) -> None:
        """Switch to the impersonated user, if the console may impersonate every part."""
        user, groups, extras = _impersonation(self.request.headers)
        if not user:
            if groups or extras:
                self.write_json(objects.status(
                    500, "InternalError", "requested impersonation of groups or extras "
                    "without impersonating a user"), 500)
            return
        asks = [("users", "", user), *(("groups", "", g) for g in groups),
                *(("userextras", key, value) for key, value in extras)]
        for resource, subresource, name in asks:
            question = Attributes(CONSOLE_USER, CONSOLE_GROUPS, "impersonate", resource,
                                  subresource, name=name)
            if not self.state.authorize(question):
                shown = f"{resource}/{subresource}" if subresource else resource
                self.write_json(objects.forbidden(resource, name, CONSOLE_USER, "impersonate",
                                                  shown, None), 403)
                return
        self.user = user
        self.groups = (*groups, *(() if "system:authenticated" in groups
                                  else ("system:authenticated",)))

    def allowed(self, verb: str, resource: str, subresource: str = "", namespace: str = "",
                name: str = "") -> bool:
        """Ask the rule as the request's user; False once answered with a 403."""
        if self.state.authorize(Attributes(self.user, self.groups, verb, resource,
                                           subresource, namespace, name)):
            return True
        shown = f"{resource}/{subresource}" if subresource else resource
        self.write_json(objects.forbidden(resource, name, self.user, verb, shown,
                                          namespace or None), 403)
        return False

    def _authorization(self) -> str:
        header = self.request.headers.get("Authorization", "")
        if not header:
            return "none"
        expected = f"Bearer {self.state.token}"
        ok = self.state.token is not None and hmac.compare_digest(header, expected)
        return "bearer-ok" if ok else "bearer-wrong"

    def _record(self, auth: str) -> RequestRecord:
        h = self.request.headers
        return RequestRecord(
            method=self.request.method,
            path=self.request.path,
            query=self.request.query,
            upgrade=h.get("Upgrade", ""),
            subprotocols=h.get("Sec-WebSocket-Protocol", ""),
            authorization=auth,
            accept=h.get("Accept", ""),
            user_agent=h.get("User-Agent", ""),
            impersonate_user=h.get("Impersonate-User", ""),
            impersonate_groups=tuple(h.get_list("Impersonate-Group")),
            impersonate_extra=_impersonation(h)[2],
        )

    def write_json(self, body: JsonDict | list[Any], code: int = 200) -> None:
        handler: RequestHandler = self  # type: ignore[assignment]
        handler.set_status(code)
        handler.set_header("Content-Type", "application/json")
        handler.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = "InternalError" if status_code >= 500 else "BadRequest"
        self.write_json(objects.status(status_code, reason, f"k8s-sim: {reason}"), status_code)

    def lookup_pod(self, namespace: str, name: str) -> SimPod | None:
        """The pod, or None after answering 404 as a real API server does."""
        pod = self.state.pods.get((namespace, name))
        if pod is None:
            self.write_json(objects.not_found("pods", name), 404)
        return pod


class JsonHandler(SimMixin, RequestHandler):
    """Base for plain JSON GET endpoints."""


class VersionHandler(JsonHandler):
    def get(self) -> None:
        self.write_json(objects.version_info(self.state.git_version))


class ApiHandler(JsonHandler):
    def get(self) -> None:
        self.write_json(objects.api_versions(self.state.server_address))


class ApisHandler(JsonHandler):
    def get(self) -> None:
        self.write_json(objects.api_group_list())


class CoreV1Handler(JsonHandler):
    def get(self) -> None:
        self.write_json(objects.core_v1_resources())


class NamespaceHandler(JsonHandler):
    def get(self, namespace: str) -> None:
        if any(ns == namespace for ns, _ in self.state.pods):
            self.write_json(objects.namespace_object(namespace))
        else:
            self.write_json(objects.not_found("namespaces", namespace), 404)


class PodListHandler(JsonHandler):
    def get(self, namespace: str | None = None) -> None:
        pods = [p for (ns, _), p in self.state.pods.items() if namespace in (None, ns)]
        self.write_json(objects.pod_list(pods))


class PodHandler(JsonHandler):
    def get(self, namespace: str, name: str) -> None:
        if not self.allowed("get", "pods", namespace=namespace, name=name):
            return
        pod = self.lookup_pod(namespace, name)
        if pod is not None:
            self.write_json(objects.pod_object(pod))


class AccessReviewHandler(JsonHandler):
    """``POST /apis/authorization.k8s.io/v1/subjectaccessreviews``: the rule's answer."""

    def post(self) -> None:
        if not self.allowed("create", "subjectaccessreviews"):
            return
        try:
            review = json.loads(self.request.body)
            spec = review["spec"]
            attributes = spec.get("resourceAttributes")
            if (attributes is None) == (spec.get("nonResourceAttributes") is None):
                raise ValueError("exactly one of resourceAttributes, nonResourceAttributes")
            if not spec.get("user") and not spec.get("groups"):
                raise ValueError("at least one of user or group must be specified")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self.write_json(objects.status(400, "BadRequest", f"invalid review: {exc}"), 400)
            return
        self.state.reviews.append(spec)
        attributes = attributes or {}
        question = Attributes(
            str(spec.get("user", "")), tuple(spec.get("groups") or ()),
            str(attributes.get("verb", "")), str(attributes.get("resource", "")),
            str(attributes.get("subresource", "")), str(attributes.get("namespace", "")),
            str(attributes.get("name", "")))
        allowed = self.state.authorize(question)
        reason = "k8s-sim: allowed by the test's rule" if allowed else \
            "k8s-sim: denied by the test's rule"
        self.write_json(objects.access_review(spec, allowed, reason), 201)


class SimProcessesHandler(JsonHandler):
    """``GET /_sim/processes``: every process the simulator started, alive or not."""

    def get(self) -> None:
        self.write_json({"items": [p.info().to_json() for p in self.state.processes]})


class SimRequestsHandler(JsonHandler):
    """``GET /_sim/requests``: every request received, in order."""

    def get(self) -> None:
        self.write_json({"items": [dataclasses.asdict(r) for r in self.state.requests]})


class UnknownHandler(JsonHandler):
    """Anything else: logged (to learn what kubectl asks for) and answered 404."""

    def prepare(self) -> None:
        super().prepare()
        if not self._finished:
            log.warning("unknown request: %s %s", self.request.method, self.request.uri)
            self.write_json(objects.status(404, "NotFound", "the server could not find "
                                           "the requested resource"), 404)


class ExecHandler(SimMixin, WebSocketHandler):
    """``pods/POD/exec``: the remote-command protocol over a WebSocket.

    Each binary message is a channel byte plus data: 0 stdin, 1 stdout, 2 stderr,
    3 status (JSON), 4 resize (JSON), 255 close (v5).  A dropped connection detaches the
    process and leaves it running, as a real kubelet/runtime does.
    """

    process: SimProcess | None = None
    spec: ExecSpec | None = None

    def check_origin(self, origin: str) -> bool:
        return True  # kubectl is not a browser; the bearer token is the check

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return next((p for p in self.state.subprotocols if p in subprotocols), None)

    async def get(self, namespace: str, name: str) -> None:
        if not self.allowed("create", "pods", "exec", namespace, name):
            return
        self.spec = self._validated_spec(namespace, name)
        if self.spec is None:
            return
        offered = [p.strip() for p in
                   self.request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if not any(p in offered for p in self.state.subprotocols):
            msg = (f"k8s-sim: none of {list(self.state.subprotocols)} offered "
                   f"(got {offered!r})")
            self.write_json(objects.status(400, "BadRequest", msg), 400)
            return
        await super().get(namespace, name)

    def post(self, namespace: str, name: str) -> None:
        """kubectl's SPDY fallback (after a failed WebSocket upgrade): same errors, else 400."""
        if self._validated_spec(namespace, name) is not None:
            log.warning("SPDY exec attempted; answering 400")
            self.write_json(objects.status(400, "BadRequest", SPDY_UNSUPPORTED), 400)

    def _validated_spec(self, namespace: str, name: str) -> ExecSpec | None:
        """Check pod, container and command like the API server; None once answered."""
        pod = self.lookup_pod(namespace, name)
        if pod is None:
            return None
        command = tuple(self.get_query_arguments("command"))
        container = self.get_query_argument("container", "")
        problem = _container_problem(pod, container) or (
            "" if command else "you must specify at least 1 command"
        )
        if problem:
            self.write_json(objects.status(400, "BadRequest", problem), 400)
            return None
        flags = {k: self.get_query_argument(k, "") in _TRUE
                 for k in ("stdin", "stdout", "stderr", "tty")}
        return self.state.spawn_spec(pod, container or pod.containers[0], command, flags)

    def open(self, *args: str, **kwargs: str) -> None:
        assert self.spec is not None
        self.state.sockets.add(self)
        try:
            self.process = processes.spawn(self.spec)
        except OSError as exc:
            self._fail_start(exc)
            return
        self.state.processes.append(self.process)
        self.process.attach(self)

    def _fail_start(self, exc: OSError) -> None:
        assert self.spec is not None
        message = (
            f"k8s-sim: failed to exec in container: {self.spec.command[0]!r}: "
            f"{exc.strerror or exc}"
        )
        log.warning("%s", message)
        self._send(processes.ERROR, json.dumps(objects.exec_start_failure(message)).encode())
        self.close(1000)

    def on_message(self, message: str | bytes) -> None:
        data = message.encode() if isinstance(message, str) else message
        if not data or self.process is None:
            return
        channel, payload = data[0], data[1:]
        if channel == processes.STDIN:
            self.process.write_stdin(payload)
        elif channel == processes.RESIZE:
            for size in _json_objects(payload):
                self.process.resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
        elif channel == processes.CLOSE and payload[:1] == bytes([processes.STDIN]):
            self.state.stdin_closes.append(self.process.spec.command)
            self.process.close_stdin()
        else:
            log.warning("exec: ignoring message on channel %d", channel)

    def on_close(self) -> None:
        self.state.sockets.discard(self)
        if self.process is not None:
            self.process.detach()

    # ExecSink
    def on_output(self, channel: int, data: bytes) -> None:
        self._send(channel, data)

    def on_exit(self, exit_code: int) -> None:
        assert self.spec is not None
        status = objects.exec_exit_status(exit_code, list(self.spec.command))
        self._send(processes.ERROR, json.dumps(status).encode())
        self.close(1000)

    def _send(self, channel: int, data: bytes) -> None:
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(bytes([channel]) + data, binary=True)


def _container_problem(pod: SimPod, container: str) -> str:
    """The API server's error text for a missing or unknown container, else ''."""
    if not container:
        if len(pod.containers) == 1:
            return ""
        choices = " ".join(pod.containers)
        return f"a container name must be specified for pod {pod.name}, choose one of: [{choices}]"
    if container not in pod.containers:
        return f"container {container} is not valid for pod {pod.name}"
    return ""


def _impersonation(headers: Any) -> tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The impersonated user, groups and extras (keys lower-cased and percent-decoded, as
    the API server reads them)."""
    extras = tuple((unquote(name[len(_EXTRA_PREFIX):].lower()), value)
                   for name, value in headers.get_all()
                   if name.lower().startswith(_EXTRA_PREFIX))
    return (headers.get("Impersonate-User", ""), tuple(headers.get_list("Impersonate-Group")),
            extras)


def _json_objects(payload: bytes) -> list[JsonDict]:
    """Decode one or more concatenated JSON objects (resize messages)."""
    decoder = json.JSONDecoder()
    text, pos, found = payload.decode("utf-8", "replace"), 0, []
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            log.warning("exec: bad resize payload %r", text)
            break
        if isinstance(obj, dict):
            found.append(obj)
    return found


def make_app(state: SimState) -> Application:
    """The Tornado application; ``default_handler_class`` catches unknown paths."""
    ns, name = r"([^/]+)", r"([^/]+)"
    args = {"state": state}
    routes: list[Any] = [
        (r"/version/?", VersionHandler, args),
        (r"/api/?", ApiHandler, args),
        (r"/apis/?", ApisHandler, args),
        (r"/api/v1/?", CoreV1Handler, args),
        (r"/api/v1/pods/?", PodListHandler, args),
        (rf"/api/v1/namespaces/{ns}/?", NamespaceHandler, args),
        (rf"/api/v1/namespaces/{ns}/pods/?", PodListHandler, args),
        (rf"/api/v1/namespaces/{ns}/pods/{name}/?", PodHandler, args),
        (rf"/api/v1/namespaces/{ns}/pods/{name}/exec/?", ExecHandler, args),
        (r"/apis/authorization.k8s.io/v1/subjectaccessreviews/?", AccessReviewHandler, args),
        (r"/_sim/processes/?", SimProcessesHandler, args),
        (r"/_sim/requests/?", SimRequestsHandler, args),
    ]
    return Application(
        routes,
        default_handler_class=UnknownHandler,
        default_handler_args=args,
        websocket_ping_interval=0,
        log_function=_log_request,
    )


def _log_request(handler: RequestHandler) -> None:
    req = handler.request
    log.info("%d %s %s", handler.get_status(), req.method, req.uri)

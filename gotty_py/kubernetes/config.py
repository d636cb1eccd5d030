"""How the console reaches the API server and proves who it is.

Rules of this module: the official client's `kubernetes.config` loaders read the
configuration (kubeconfig contexts, client certificates, tokens, exec credential plugins,
in-cluster service host and CA), so that every form a kubeconfig may take works as with
kubectl; nothing else of that library is used. Loading happens once, at start-up, and
every problem is a `ClusterConfigError` (the server exits 2). Credentials that change while
the server runs are asked for before every request: the projected service-account token is
re-read as soon as its file changes (the kubelet rewrites it at 80 % of its life), and an
exec plugin's token is renewed by the library's refresh hook when it expires. The library
is imported only when this backend is chosen.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ClusterConfigError(Exception):
    """The cluster configuration cannot be used; the text says which and why."""


class TokenFile:
    """A bearer token kept in a file that may be replaced at any time (the projected
    service-account token): read again whenever the file's identity or content changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int, int] | None = None
        self._token = ""
        self.reads = 0
        self.current()  # at start-up: a missing or empty token refuses the start

    def current(self) -> str:
        try:
            stat = self.path.stat()  # follows the kubelet's ..data symlink swap
            seen = (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if seen != self._seen:
                token = self.path.read_text(encoding="utf-8").strip()
                if not token:
                    raise ClusterConfigError(f"service-account token file {self.path} is empty")
                self._token, self._seen = token, seen
                self.reads += 1
        except OSError as exc:
            if not self._token:
                raise ClusterConfigError(f"service-account token file {self.path}: "
                                         f"{exc.strerror or exc}") from None
            # Mid-swap or briefly unreadable: the token read last is still the best guess.
        return self._token


@dataclass(frozen=True)
class ClusterAccess:
    """Where the API server is and how to authenticate to it."""

    host: str  # https://10.0.0.1:443 (no trailing slash)
    ssl_context: ssl.SSLContext | None  # None for http://
    source: str  # for the start-up log: "in-cluster" or "kubeconfig F, context C"
    _authorization: Callable[[], str | None]

    async def authorization(self) -> str | None:
        """The `Authorization` header value for the next request (may refresh a token,
        which for an exec plugin runs a program: in a thread, one at a time)."""
        return await asyncio.to_thread(self._authorization)

    @property
    def websocket_base(self) -> str:
        return "wss" + self.host[5:] if self.host.startswith("https") else "ws" + self.host[4:]


def in_cluster(environ: Mapping[str, str], account_dir: str = SERVICE_ACCOUNT_DIR
               ) -> ClusterAccess:
    """The pod's own service account: KUBERNETES_SERVICE_HOST/PORT, its CA and its
    projected token (re-read on rotation)."""
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    directory = Path(account_dir)
    configuration = Configuration()
    loader = InClusterConfigLoader(token_filename=str(directory / "token"),  # type: ignore[no-untyped-call]
                                   cert_filename=str(directory / "ca.crt"),
                                   try_refresh_token=False, environ=dict(environ))
    try:
        loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise ClusterConfigError(f"in-cluster configuration ({directory}): {exc}") from None
    token = TokenFile(directory / "token")
    context = _ssl_context(configuration)
    return ClusterAccess(str(configuration.host), context, f"in-cluster ({directory})",
                         lambda: f"Bearer {token.current()}")


def from_kubeconfig(path: str, context: str, environ: Mapping[str, str]) -> ClusterAccess:
    """A kubeconfig (the given file, else $KUBECONFIG, else ~/.kube/config) and its
    context (the given one, else its current-context)."""
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import load_kube_config

    config_file = path or environ.get("KUBECONFIG", "") or str(Path("~/.kube/config")
                                                                 .expanduser())
    for one in config_file.split(os.pathsep):
        if one and not os.access(one, os.R_OK):
            raise ClusterConfigError(f"kubeconfig {one} is not readable")
    configuration = Configuration()
    try:
        load_kube_config(config_file=config_file, context=context or None,  # type: ignore[no-untyped-call]
                         client_configuration=configuration, persist_config=False)
    except (ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterConfigError(f"kubeconfig {config_file}: {exc}") from None
    for unsupported in ("proxy", "tls_server_name"):
        if getattr(configuration, unsupported, None):
            raise ClusterConfigError(f"kubeconfig {config_file}: {unsupported.replace('_', '-')}"
                                     " is not supported by the kubernetes backend")
    if not str(configuration.host).startswith(("https://", "http://")):
        raise ClusterConfigError(f"kubeconfig {config_file}: server {configuration.host!r} "
                                 "is not an http(s) URL")
    lock = threading.Lock()

    def authorization() -> str | None:
        with lock:  # the refresh hook may run an exec plugin; never two at once
            value: Any = configuration.get_api_key_with_prefix("BearerToken",
                                                               alias="authorization")
        return str(value) if value else None

    authorization()  # at start-up: an exec plugin that cannot run refuses the start
    name = f"kubeconfig {config_file}" + (f", context {context}" if context else "")
    return ClusterAccess(str(configuration.host).rstrip("/"), _ssl_context(configuration),
                         name, authorization)


def _ssl_context(configuration: Any) -> ssl.SSLContext | None:
    if not str(configuration.host).startswith("https://"):
        return None
    try:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ClusterConfigError(f"TLS files of the cluster configuration: {exc}") from None
    if configuration.verify_ssl is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

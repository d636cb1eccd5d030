"""Which backend the options choose, made from its own options: the part of GoTTY's
`main.go` that builds the factory it hands to the server.

Rules of this module: the only place that turns `Options` into a `Backend`. The server
receives the backend ready-made and never reads a backend's options itself. A backend
that cannot work as configured is refused here, at start-up (`BackendConfigError`, exit 2,
naming each option where its value came from).
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping

from .backend.base import Backend, BackendConfigError
from .backend.instance import Instance
from .backend.localcommand import LocalCommandBackend, LocalCommandOptions
from .backend.sweep import sweep_dead_instances
from .backend.watchdog import Watchdog
from .options import NO_ORIGINS, Options, Origins

log = logging.getLogger("gotty_py.backend")

BACKENDS = ("local", "kubernetes")


def backend_from_options(options: Options, environ: Mapping[str, str],
                         instance: Instance | None = None, *,
                         command: tuple[str, ...] = (),
                         origins: Origins = NO_ORIGINS) -> Backend:
    """The backend `--backend` names: the local command (its close signal and timeout; its
    session processes are marked with `instance`, this server by default), or kubernetes
    (`command` is the server's command line, always allowed in the pod)."""
    if options.backend not in BACKENDS:
        raise BackendConfigError(f"{origins.label('backend')}: expected one of "
                                 f"{', '.join(BACKENDS)}, got {options.backend!r}")
    if options.backend == "kubernetes":
        return kubernetes_backend(options, environ, command, origins)
    local = LocalCommandOptions.from_gotty(options.close_signal, options.close_timeout,
                                           options.cwd)
    return LocalCommandBackend(local, environ, instance)


def kubernetes_backend(options: Options, environ: Mapping[str, str],
                       command: tuple[str, ...], origins: Origins) -> Backend:
    """The kubernetes backend, or why it cannot work: it needs launch tokens (the target
    and the user come only from them), a policy, and a usable cluster configuration."""
    from .kubernetes.backend import KubernetesBackend, KubernetesOptions
    from .kubernetes.config import ClusterConfigError, from_kubeconfig, in_cluster
    from .kubernetes.target import Policy, parse_selector

    def label(name: str) -> str:
        return origins.label(name)

    if not (options.jwt_secret or options.jwt_secret_file or options.jwt_public_key_file
            or options.jwt_jwks_file):
        raise BackendConfigError(f"{label('backend')}: the kubernetes backend needs JWT "
                                 "launch tokens (--jwt-public-key-file, --jwt-jwks-file or "
                                 "--jwt-secret-file): the pod and the user come from them")
    namespaces = frozenset(n.strip() for n in options.k8s_namespaces.split(",") if n.strip())
    if not namespaces:
        raise BackendConfigError(f"{label('k8s_namespaces')}: the kubernetes backend needs "
                                 "the namespaces a launch token may name")
    try:
        selector = parse_selector(options.k8s_pod_selector) if options.k8s_pod_selector \
            else ()
    except ValueError as exc:
        raise BackendConfigError(f"{label('k8s_pod_selector')}: {exc}") from None
    try:
        commands = parse_command_lines(options.k8s_commands)
    except ValueError as exc:
        raise BackendConfigError(f"{label('k8s_commands')}: {exc}") from None
    if options.k8s_impersonate and not options.k8s_groups_claim.strip():
        log.warning("Warning: --k8s-groups-claim is empty: users are impersonated without "
                    "groups")
    policy = Policy(namespaces, selector, options.k8s_pod_selector,
                    frozenset({*commands, *((command,) if command else ())}))
    try:
        if options.k8s_in_cluster:
            access = in_cluster(environ, options.k8s_service_account_dir)
        else:
            access = from_kubeconfig(options.k8s_kubeconfig, options.k8s_context, environ)
    except ClusterConfigError as exc:
        which = "k8s_in_cluster" if options.k8s_in_cluster else "k8s_kubeconfig"
        raise BackendConfigError(f"{label(which)}: {exc}") from None
    backend = KubernetesBackend(access, KubernetesOptions(
        policy=policy, impersonate=options.k8s_impersonate,
        groups_claim=options.k8s_groups_claim.strip(),
        request_timeout=float(options.k8s_request_timeout),
        cleanup_timeout=float(options.k8s_cleanup_timeout)))
    log.info("Backend: %s; namespaces %s%s", backend.name, ", ".join(sorted(namespaces)),
             f", pods matching {options.k8s_pod_selector}" if selector else "")
    if not options.k8s_impersonate:
        log.warning("Warning: --k8s-impersonate is off: every exec runs as the console's "
                    "own account, and the API server's audit log cannot tell the users apart")
    return backend


def parse_command_lines(text: str) -> list[tuple[str, ...]]:
    """`bash, sh, python3 -i`: command lines separated by commas (quoted commas stay in
    their word), each split into words as a shell would, without running one."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=",")
    lexer.whitespace_split = True
    lines: list[tuple[str, ...]] = []
    words: list[str] = []
    try:
        for token in lexer:
            if token == ",":
                if not words:
                    raise ValueError(f"empty command line in {text!r}")
                lines.append(tuple(words))
                words = []
            else:
                words.append(token)
    except ValueError as exc:
        raise ValueError(f"{exc} in {text!r}") from None
    if words:
        lines.append(tuple(words))
    elif lines:
        raise ValueError(f"empty command line at the end of {text!r}")
    return lines


def crash_guard_from_options(options: Options, instance: Instance,
                             environ: Mapping[str, str]) -> Watchdog | None:
    """Under `--watchdog` (the default): end what dead instances left, then start this
    instance's watchdog. Called once the configuration is known good, before listening."""
    if not options.watchdog:
        return None
    local = LocalCommandOptions.from_gotty(options.close_signal, options.close_timeout)
    swept, result = sweep_dead_instances(instance, local.close_signal, local.close_timeout)
    if result.ended:
        log.warning("Ended %d process(es) left by gotty-py instance(s) whose server is dead "
                    "(%s; %d needed SIGKILL)", len(result.ended),
                    ", ".join(f"pid {seen.pid}" for seen in sorted(swept, key=str)),
                    result.killed)
    watchdog = Watchdog.start(instance, local.close_signal, local.close_timeout, environ)
    log.info("Watchdog started (pid %d): the sessions' processes end even if the server is "
             "killed", watchdog.pid)
    return watchdog

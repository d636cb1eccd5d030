"""Every gotty-py option, declared once: the counterpart of GoTTY's struct tags.

Rules of this module: each field of `Options` carries its whole description (long and short
flag, HCL key, ``GOTTY_*`` environment name, type, default, help). The CLI, the config
loader, the environment lookup, ``--help`` and the generated docs all read `OPTION_SPECS`;
no other module lists option names. This module does no I/O.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, cast

ValueKind = Literal["str", "int", "bool", "float", "block"]
# What a relative path in a config file is relative to: a `file` option's value, or a
# `command` option's first word, resolves against the config file's own directory.
PathKind = Literal["", "file", "command"]

ENV_PREFIX = "GOTTY_"


class Section(Enum):
    """Where an option is listed in `--help` and docs/options.md (the value is the title)."""

    SERVER = "Server"
    SECURITY = "Security"
    JWT = "JWT launch tokens"
    AUDIT = "Audit"
    CLEANUP = "Session end and cleanup"
    OPERATIONS = "Operations"
    TERMINAL = "Terminal"
    KUBERNETES = "Kubernetes"


@dataclass(frozen=True)
class OptionSpec:
    """How one option is spelled in each place it can be set."""

    name: str
    kind: ValueKind
    default: Any
    help: str
    flag: str | None
    short: str | None
    hcl: str | None
    origin: str
    path: PathKind = ""
    section: Section = Section.SERVER
    minimum: int | None = None
    maximum: int | None = None

    @property
    def env(self) -> str | None:
        """The environment name GoTTY derives from the long flag."""
        if self.flag is None:
            return None
        return ENV_PREFIX + self.flag.upper().replace("-", "_")

    @property
    def cli_names(self) -> list[str]:
        names = [f"--{self.flag}"] if self.flag else []
        if self.short:
            names.append(f"-{self.short}")
        return names


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    short: str | None = None,
    hcl: str | None = "",
    kind: ValueKind | None = None,
    origin: str = "GoTTY",
    path: PathKind = "",
    section: Section = Section.SERVER,
    minimum: int | None = None,
    maximum: int | None = None,
) -> Any:
    """Declare an option field; `hcl=""` means the HCL key is the field name, None means none.

    `minimum`/`maximum` bound an int option's value, or a port-like str option's number;
    `coerce` checks them for every source, so a value out of range never reaches the server.
    """
    meta = {"help": help, "flag": flag, "short": short, "hcl": hcl, "kind": kind,
            "origin": origin, "path": path, "section": section, "minimum": minimum,
            "maximum": maximum}
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Options:
    """The merged configuration of one gotty-py server (default < file < env < flag)."""

    address: str = option("0.0.0.0", "IP address to listen on, or unix:/path for a Unix socket "
                          "(see --unix-socket-mode); systemd socket activation (LISTEN_FDS) "
                          "takes the place of both address and port", flag="address", short="a",
                          section=Section.SERVER)
    port: str = option("8080", "Port number to listen on (0 picks a free port)",
                       flag="port", short="p", minimum=0, maximum=65535)
    path: str = option("/", "Base path of every URL, e.g. /console/", flag="path", short="m",
                       origin="sorenisanerd")
    permit_write: bool = option(False, "Permit clients to write to the TTY (be careful)",
                                flag="permit-write", short="w", section=Section.SECURITY)
    credential: str = option("", "Credential for Basic Authentication (user:pass); turns Basic "
                             "auth on", flag="credential", short="c", section=Section.SECURITY)
    enable_basic_auth: bool = option(False, "Require Basic Authentication (implied by a "
                                     "credential)", flag="enable-basic-auth",
                                     section=Section.SECURITY)
    enable_random_url: bool = option(False, "Add a random string to the URL",
                                     flag="random-url", short="r", section=Section.SECURITY)
    random_url_length: int = option(8, "Random URL length", flag="random-url-length",
                                    section=Section.SECURITY, minimum=1, maximum=128)
    enable_tls: bool = option(False, "Enable TLS/SSL", flag="tls", short="t",
                              section=Section.SECURITY)
    tls_crt_file: str = option("~/.gotty.crt", "TLS/SSL certificate file path", flag="tls-crt",
                               path="file", section=Section.SECURITY)
    tls_key_file: str = option("~/.gotty.key", "TLS/SSL key file path", flag="tls-key",
                               path="file", section=Section.SECURITY)
    tls_ca_crt_file: str = option("~/.gotty.ca.crt", "TLS/SSL CA certificate file for client "
                                  "certifications; giving it turns client-certificate auth on",
                                  flag="tls-ca-crt", path="file", section=Section.SECURITY)
    enable_tls_client_auth: bool = option(False, "Require client certificates signed by the "
                                          "CA in --tls-ca-crt", flag="enable-tls-client-auth",
                                          section=Section.SECURITY)
    index_file: str = option("", "Custom index.html file (Go template with {{ .title }})",
                             flag="index", path="file", section=Section.TERMINAL)
    title_format: str = option("{{ .command }}@{{ .hostname }}", "Title format of the browser "
                               "window (GoTTY template variables: command, argv, hostname, "
                               "remote_addr, pid; with launch tokens also user and claims)",
                               flag="title-format", section=Section.TERMINAL)
    enable_reconnect: bool = option(False, "Enable reconnection", flag="reconnect")
    reconnect_time: int = option(10, "Time to reconnect, in seconds", flag="reconnect-time",
                                 minimum=0)
    detach_grace: int = option(60, "Seconds a session of gotty-py's page lives on, detached, "
                               "after its connection is lost (not closed), for the page to "
                               "resume it with the same process (0 = end at once, as GoTTY)",
                               flag="detach-grace", origin="gotty-py", section=Section.SERVER,
                               minimum=0, maximum=86400)
    session_buffer: int = option(262144, "Bytes of a session's recent output kept for a "
                                 "resuming page or a joining observer; while detached, the "
                                 "process is not read beyond this (nothing is lost)",
                                 flag="session-buffer", origin="gotty-py",
                                 section=Section.SERVER, minimum=16384, maximum=67108864)
    max_observers: int = option(0, "Observers and moderators one session may have, joining "
                                "with the owner's join link or a portal's join token "
                                "(0 = sessions are not shared)", flag="max-observers",
                                origin="gotty-py", section=Section.SERVER, minimum=0,
                                maximum=1000)
    max_connection: int = option(0, "Maximum number of concurrent sessions (0 = unlimited)",
                                 flag="max-connection", minimum=0)
    init_message_limit: int = option(65536, "Largest message, in bytes, a client may send "
                                     "before its session has started (the init: a launch "
                                     "token and the query); a bigger one is closed with 1009 "
                                     "before it is read. Input after the start may be up to "
                                     "64 MiB", flag="init-message-limit", origin="gotty-py",
                                     section=Section.SECURITY)
    handshake_concurrency: int = option(64, "WebSocket connections one client address may "
                                        "hold open before their sessions have started; more "
                                        "get 429 (0 = no limit)",
                                        flag="handshake-concurrency", origin="gotty-py",
                                        section=Section.SECURITY, minimum=0)
    handshake_rate: int = option(1200, "WebSocket handshakes one client address may make per "
                                 "minute (all at once, then evenly); more get 429 with "
                                 "Retry-After (0 = no limit)", flag="handshake-rate",
                                 origin="gotty-py", section=Section.SECURITY, minimum=0)
    once: bool = option(False, "Accept only one client and exit when it disconnects",
                        flag="once")
    timeout: int = option(0, "Exit after this many seconds without clients (0 = never)",
                          flag="timeout", minimum=0)
    permit_arguments: bool = option(False, "Permit clients to append command-line arguments "
                                    "with ?arg=... (unsafe; prefer JWT launch tokens)",
                                    flag="permit-arguments", section=Section.SECURITY)
    cwd: str = option("", "Working directory of the command (must be a directory at "
                      "start-up; default: the server's own)", flag="cwd", origin="gotty-py",
                      path="file", section=Section.TERMINAL)
    exit_no_conn: bool = option(False, "Exit (status 0) when the last client has left, once "
                                "at least one session had started", flag="exit-no-conn",
                                origin="gotty-py", section=Section.SERVER)
    idle_timeout: int = option(0, "End a session after this many seconds without input "
                               "from its client (close 1008 \"idle for N s\"; 0 = never)",
                               flag="idle-timeout", origin="gotty-py", minimum=0,
                               section=Section.CLEANUP)
    max_session_time: int = option(0, "End a session this many seconds after it started, "
                                   "whatever it does (close 1008; 0 = no limit)",
                                   flag="max-session-time", origin="gotty-py", minimum=0,
                                   section=Section.CLEANUP)
    # JWT launch tokens (docs/jwt.md): any key option turns JWT mode on.
    jwt_secret: str = option("", "HMAC secret (at least 32 bytes) that verifies launch tokens "
                             "given as ?jwt=...; turns JWT mode on. Visible in the process "
                             "list: prefer --jwt-secret-file", flag="jwt-secret",
                             origin="gotty-py", section=Section.JWT)
    jwt_secret_file: str = option("", "File holding the HMAC secret for launch tokens "
                                  "(trailing newlines ignored)", flag="jwt-secret-file",
                                  origin="gotty-py", path="file", section=Section.JWT)
    jwt_public_key_file: str = option("", "PEM public key (RSA, EC or Ed25519) or certificate "
                                      "that verifies launch tokens", flag="jwt-public-key-file",
                                      origin="gotty-py", path="file", section=Section.JWT)
    jwt_jwks_file: str = option("", "JWKS file of public keys that verify launch tokens, "
                                "chosen by the token's kid (key rotation)",
                                flag="jwt-jwks-file", origin="gotty-py", path="file",
                                section=Section.JWT)
    jwt_algorithms: str = option("", "Accepted launch-token algorithms, comma-separated, one "
                                 "family (default: HS256 for a secret, the key's own for "
                                 "public keys)", flag="jwt-algorithms", origin="gotty-py",
                                 section=Section.JWT)
    jwt_audience: str = option("", "Required aud claim of launch tokens (empty: tokens must "
                               "have none)", flag="jwt-audience", origin="gotty-py",
                               section=Section.JWT)
    jwt_issuer: str = option("", "Required iss claim of launch tokens (empty: not checked)",
                             flag="jwt-issuer", origin="gotty-py", section=Section.JWT)
    jwt_leeway: int = option(30, "Clock skew allowed for exp, nbf and iat, in seconds",
                             flag="jwt-leeway", origin="gotty-py", section=Section.JWT, minimum=0)
    jwt_max_lifetime: int = option(300, "Longest launch-token lifetime (exp - iat) accepted, "
                                   "in seconds; 0 = no limit and iat optional",
                                   flag="jwt-max-lifetime", origin="gotty-py",
                                   section=Section.JWT, minimum=0)
    jwt_type: str = option("", "Required `typ` header of launch tokens (explicit typing, RFC "
                           "8725), e.g. gotty-launch+jwt, so that another JWT of the portal "
                           "cannot be used here; empty: not checked", flag="jwt-type",
                           origin="gotty-py", section=Section.JWT)
    jwt_required: bool = option(False, "Refuse to start without a launch-token key: for a "
                                "command that takes its arguments from the token (the "
                                "Kubernetes recipe), which no session could run without one",
                                flag="jwt-required", origin="gotty-py", section=Section.JWT)
    pass_headers: bool = option(False, "Pass the WebSocket request's headers to the command "
                                "as HTTP_* environment variables (credentials, cookies and "
                                "Proxy excepted)", flag="pass-headers", origin="sorenisanerd",
                                section=Section.SECURITY)
    width: int = option(0, "Static width of the screen (0 = follow the browser)",
                        flag="width", section=Section.TERMINAL, minimum=0, maximum=65535)
    height: int = option(0, "Static height of the screen (0 = follow the browser)",
                         flag="height", section=Section.TERMINAL, minimum=0, maximum=65535)
    ws_origin: str = option("", "Regular expression that matches the origins allowed to open "
                            "the WebSocket (default: same origin only)", flag="ws-origin",
                            section=Section.SECURITY)
    allowed_hosts: str = option("", "Comma-separated host names (or patterns like "
                                "*.example.com, optionally with :port) that the Host header "
                                "may name besides the listener's own: loopback names on a "
                                "loopback listener, this host's name and any IP address "
                                "otherwise (DNS rebinding protection; '*' turns it off). "
                                "Behind a proxy or Ingress, list the public name",
                                flag="allowed-hosts", origin="gotty-py", section=Section.SECURITY)
    ws_query_args: str = option("", "Query string the page appends to the WebSocket URL "
                                "(for an authenticating proxy)", flag="ws-query-args",
                                origin="sorenisanerd", section=Section.TERMINAL)
    term: str = option("xterm", "Terminal name the page is told (config.js gotty_term)",
                       flag="term", section=Section.TERMINAL)
    enable_webgl: bool = option(True, "Let the page use the WebGL renderer",
                                flag="enable-webgl", origin="sorenisanerd",
                                section=Section.TERMINAL)
    quiet: bool = option(False, "Do not log", flag="quiet", short="q",
                         origin="sorenisanerd", section=Section.OPERATIONS)
    close_signal: int = option(int(signal.SIGHUP), "Signal sent to the command when the "
                               "session ends (number or name)", flag="close-signal",
                               section=Section.CLEANUP)
    close_timeout: int = option(-1, "Seconds to wait after the close signal before SIGKILL "
                                "(negative: 10)", flag="close-timeout", section=Section.CLEANUP)
    watchdog: bool = option(True, "Start a watchdog process that ends the sessions' processes "
                            "when the server dies, even by SIGKILL, and end at start-up the "
                            "processes a dead gotty-py instance left (see docs/cleanup.md)",
                            flag="watchdog", origin="gotty-py", section=Section.CLEANUP)
    init_timeout: int = option(10, "Seconds a client may take to send its init message before "
                               "it is dropped (0 = wait forever, as GoTTY)",
                               flag="init-timeout", origin="gotty-py", minimum=0)
    ws_ping_interval: int = option(20, "Seconds between WebSocket pings to each client; a "
                                   "client that stops answering is disconnected and its "
                                   "session ended (0 = no pings)", flag="ws-ping-interval",
                                   origin="gotty-py", minimum=0)
    ws_ping_timeout: int = option(20, "Seconds to wait for the answer to a ping (at most the "
                                  "ping interval)", flag="ws-ping-timeout", origin="gotty-py",
                                  minimum=0)
    cleanup_command: str = option("", "Command run after each session's process is gone, e.g. "
                                  "to end what it left inside a container; words may hold "
                                  "{session} {user} {remote_addr} {hostname} {date} {time} "
                                  "{command} {args} {arg0}.. {claim.NAME} (no shell is "
                                  "involved)",
                                  flag="cleanup-command", origin="gotty-py", path="command",
                                  section=Section.CLEANUP)
    cleanup_timeout: int = option(30, "Seconds the cleanup command may run before it is killed",
                                  flag="cleanup-timeout", origin="gotty-py",
                                  section=Section.CLEANUP, minimum=0)
    # The kubernetes backend (docs/kubernetes.md); read only in backends.py.
    backend: str = option("local", "What runs each session's command: local (a PTY on this "
                          "machine) or kubernetes (pods/exec through the API server into "
                          "the pod the launch token names)", flag="backend", origin="gotty-py",
                          section=Section.KUBERNETES)
    k8s_kubeconfig: str = option("", "kubeconfig of the cluster for --backend kubernetes "
                                 "(default: $KUBECONFIG, then ~/.kube/config); exec plugins, "
                                 "client certificates and tokens work as with kubectl",
                                 flag="k8s-kubeconfig", origin="gotty-py", path="file",
                                 section=Section.KUBERNETES)
    k8s_context: str = option("", "kubeconfig context (default: its current-context)",
                              flag="k8s-context", origin="gotty-py", section=Section.KUBERNETES)
    k8s_in_cluster: bool = option(False, "Use the pod's own service account "
                                  "(KUBERNETES_SERVICE_HOST/PORT, its CA, its projected token, "
                                  "re-read when it rotates) instead of a kubeconfig",
                                  flag="k8s-in-cluster", origin="gotty-py",
                                  section=Section.KUBERNETES)
    k8s_service_account_dir: str = option("/var/run/secrets/kubernetes.io/serviceaccount",
                                          "Where --k8s-in-cluster finds token and ca.crt",
                                          flag="k8s-service-account-dir", origin="gotty-py",
                                          path="file", section=Section.KUBERNETES)
    k8s_namespaces: str = option("", "Comma-separated namespaces a launch token may name "
                                 "(required with --backend kubernetes)", flag="k8s-namespaces",
                                 origin="gotty-py", section=Section.KUBERNETES)
    k8s_pod_selector: str = option("", "Label selector the target pod must match, e.g. "
                                   "app=web,console (equality-based; empty: any pod of the "
                                   "namespaces)", flag="k8s-pod-selector", origin="gotty-py",
                                   section=Section.KUBERNETES)
    k8s_commands: str = option("", "Comma-separated command lines a token's k8s.command may "
                               "ask for besides the server's command, e.g. \"bash, sh, "
                               "python3 -i\" (words split as by a shell, no shell runs)",
                               flag="k8s-commands", origin="gotty-py",
                               section=Section.KUBERNETES)
    k8s_impersonate: bool = option(True, "Exec as the token's user (Impersonate-User from "
                                   "sub, Impersonate-Group from the groups claim, the session "
                                   "id as a user extra) after a SubjectAccessReview; false: "
                                   "as the console's own account", flag="k8s-impersonate",
                                   origin="gotty-py", section=Section.KUBERNETES)
    k8s_groups_claim: str = option("groups", "Launch-token claim holding the user's groups "
                                   "(a list of strings) for impersonation",
                                   flag="k8s-groups-claim", origin="gotty-py",
                                   section=Section.KUBERNETES)
    k8s_request_timeout: int = option(10, "Seconds an API server request (pod, access review, "
                                      "opening the exec) may take", flag="k8s-request-timeout",
                                      origin="gotty-py", section=Section.KUBERNETES, minimum=1,
                                      maximum=300)
    k8s_cleanup_timeout: int = option(15, "Seconds the cleanup in the pod (a second exec that "
                                      "ends what the session left there) may take; part of "
                                      "ending a session, so less than --drain-timeout",
                                      flag="k8s-cleanup-timeout", origin="gotty-py",
                                      section=Section.KUBERNETES, minimum=1, maximum=300)
    audit_dir: str = option("", "Directory for session recordings (asciicast, one file per "
                            "session; see --audit-format); empty: no recordings. See "
                            "docs/audit.md",
                            flag="audit-dir", origin="gotty-py", path="file", section=Section.AUDIT)
    audit_file_name: str = option(
        "{date}/{user}/{time}-{session}.cast", "Recording file name under --audit-dir, from "
        "{date} {time} {session} {user} {remote_addr} {command} {hostname} {arg0} {arg1}... "
        "{claim.NAME}; each value is sanitized, '/' in the template makes directories",
        flag="audit-file-name", origin="gotty-py", section=Section.AUDIT)
    audit_input: bool = option(False, "Record the client's input too (input typed while the "
                               "terminal does not echo, at a password prompt, is left out and "
                               "marked)", flag="audit-input", origin="gotty-py",
                               section=Section.AUDIT)
    audit_format: str = option("v2", "asciicast version of new recordings: v2, or v3 (interval "
                               "times, the terminal object, the exit status as the last "
                               "event; for asciinema 3 and its player)", flag="audit-format",
                               origin="gotty-py", section=Section.AUDIT)
    audit_required: bool = option(False, "Fail closed: refuse a session whose recording cannot "
                                  "be opened, end one whose recording cannot be written",
                                  flag="audit-required", origin="gotty-py", section=Section.AUDIT)
    audit_event_log: str = option("", "JSON-lines log with one line per session start and end "
                                  "(empty: sessions.jsonl in --audit-dir)",
                                  flag="audit-event-log", origin="gotty-py", path="file",
                                  section=Section.AUDIT)
    # Signed checkpoints and retention (docs/audit.md "Checkpoints", "Retention").
    audit_checkpoint_key: str = option(
        "", "Ed25519 signing key file (from gotty-py-audit keygen; not readable by others) "
        "that signs checkpoints of the event log; empty: no checkpoints",
        flag="audit-checkpoint-key", origin="gotty-py", path="file", section=Section.AUDIT)
    audit_checkpoint_lines: int = option(
        100, "A signed checkpoint after this many event-log lines",
        flag="audit-checkpoint-lines", origin="gotty-py", section=Section.AUDIT,
        minimum=1, maximum=1_000_000)
    audit_checkpoint_seconds: int = option(
        60, "A signed checkpoint at least this often, even while idle",
        flag="audit-checkpoint-seconds", origin="gotty-py", section=Section.AUDIT,
        minimum=1, maximum=86_400)
    audit_checkpoint_copy: str = option(
        "", "Also append every checkpoint to this file (on another volume); empty: none",
        flag="audit-checkpoint-copy", origin="gotty-py", path="file", section=Section.AUDIT)
    audit_checkpoint_command: str = option(
        "", "Also run this command with each checkpoint on its stdin (to ship it off the "
        "host; 10 s deadline; while one runs only the newest waiting checkpoint is kept)",
        flag="audit-checkpoint-command", origin="gotty-py", path="command",
        section=Section.AUDIT)
    audit_retention: str = option(
        "", "Remove recordings and rolled event logs older than an age and/or beyond a total "
        "size, oldest first, e.g. 30d,10GiB (units s m h d w; B KiB MiB GiB TiB); the event "
        "log is rolled daily or at 64 MiB; empty: keep everything",
        flag="audit-retention", origin="gotty-py", section=Section.AUDIT)
    ws_send_timeout: int = option(20, "Seconds a client may take none of the output queued for "
                                  "it before it is dropped as having stopped reading (the "
                                  "session ends as client-stalled); a client still reading, "
                                  "however slowly, gets all of it, the last output included",
                                  flag="ws-send-timeout", origin="gotty-py", minimum=1)
    # Operations (docs/operations.md): a listener of its own, so that Basic auth, the base
    # path and the public Ingress never touch the probes and the metrics.
    ops_address: str = option("127.0.0.1", "IP address of the operations listener (/healthz, "
                              "/readyz, /metrics)", flag="ops-address", origin="gotty-py",
                              section=Section.OPERATIONS)
    ops_port: str = option("", "Port of the operations listener (0 picks a free port; empty: "
                           "no operations listener)", flag="ops-port", origin="gotty-py",
                           section=Section.OPERATIONS, minimum=0, maximum=65535)
    admin_credential: str = option("", "Credential (user:pass) of the admin view of live "
                                   "sessions under the base path: admin/ (a page) and "
                                   "admin/api/sessions (JSON, for gotty-py-admin), which can "
                                   "end a session; empty: no admin routes. Must differ from "
                                   "--credential", flag="admin-credential", origin="gotty-py",
                                   section=Section.OPERATIONS)
    log_format: str = option("text", "Log line format: text, or json (one object per line, "
                             "with the session id, user and client address where known)",
                             flag="log-format", origin="gotty-py", section=Section.OPERATIONS)
    trusted_proxies: str = option("", "Comma-separated addresses or CIDRs of reverse proxies "
                                  "whose X-Forwarded-For header names the real client (in "
                                  "logs, audit and titles); ignored from any other peer",
                                  flag="trusted-proxies", origin="gotty-py",
                                  section=Section.SECURITY)
    auth_proxy_header: str = option("", "Request header (e.g. X-Forwarded-User) in which an "
                                    "authenticating reverse proxy names the user: believed "
                                    "only from --trusted-proxies peers, which must send it; it "
                                    "becomes the session's user (GOTTY_USER, titles, audit). "
                                    "Every request from another peer is refused (403). With "
                                    "launch tokens, the token's sub must equal it",
                                    flag="auth-proxy-header", origin="gotty-py",
                                    section=Section.SECURITY)
    unix_socket_mode: str = option("0600", "Permissions (octal) of the Unix socket that "
                                   "--address unix:/path creates", flag="unix-socket-mode",
                                   origin="gotty-py", section=Section.SERVER)
    unix_socket_group: str = option("", "Group (name or number) given the Unix socket that "
                                    "--address unix:/path creates (empty: the server's own)",
                                    flag="unix-socket-group", origin="gotty-py",
                                    section=Section.SERVER)
    drain_timeout: int = option(25, "Seconds SIGTERM gives the open sessions to end, with their "
                                "cleanup and audit, before cleanup hooks still running are "
                                "killed and the server exits 0 (0 = no limit); must exceed "
                                "the close timeout plus 5 s", flag="drain-timeout",
                                origin="gotty-py", section=Section.CLEANUP, minimum=0)
    store: str = option("memory", "Where single-use launch-token ids and reconnect tickets are "
                        "kept: memory (this process only) or a redis:// or rediss:// URL "
                        "shared by every replica", flag="store", origin="gotty-py",
                        section=Section.JWT)
    preferences: dict[str, Any] = option(  # noqa: RUF009
        {}, "Terminal preferences block (hterm-style keys, mapped onto xterm.js by the page)",
        kind="block", section=Section.TERMINAL)
    config: str = option("~/.gotty", "Config file path (HCL)", flag="config", hcl=None)
    config_unknown_keys: str = option(
        "error", "What an unknown key in the config file does: error (refuse to start, with "
        "a did-you-mean) or warn (log it and go on, for a GoTTY config with keys gotty-py "
        "does not know)", flag="config-unknown-keys", origin="gotty-py")


_KIND_OF_TYPE: dict[str, ValueKind] = {"str": "str", "int": "int", "bool": "bool",
                                       "float": "float"}


def _spec_from_field(f: dataclasses.Field[Any]) -> OptionSpec:
    meta = f.metadata
    kind = meta["kind"] or _KIND_OF_TYPE[str(f.type)]
    factory = cast(Callable[[], Any], f.default_factory)
    default = f.default if f.default is not dataclasses.MISSING else factory()
    hcl = f.name if meta["hcl"] == "" else meta["hcl"]
    return OptionSpec(name=f.name, kind=kind, default=default, help=meta["help"],
                      flag=meta["flag"], short=meta["short"], hcl=hcl, origin=meta["origin"],
                      path=meta["path"], section=meta["section"], minimum=meta["minimum"],
                      maximum=meta["maximum"])


OPTION_SPECS: tuple[OptionSpec, ...] = tuple(
    _spec_from_field(f) for f in dataclasses.fields(Options)
)
SPECS_BY_NAME: Mapping[str, OptionSpec] = {s.name: s for s in OPTION_SPECS}
SPECS_BY_HCL_KEY: Mapping[str, OptionSpec] = {
    s.hcl.lower(): s for s in OPTION_SPECS if s.hcl is not None
}


class Source(Enum):
    """Which layer gave an option its value."""

    DEFAULT = "default"
    FILE = "config file"
    ENV = "environment variable"
    FLAG = "flag"


@dataclass(frozen=True)
class Origin:
    """Where one option's value came from: the layer, and for a config file the file, the
    line and the key as written, so that an error found later names what the operator
    wrote rather than a flag they never gave."""

    source: Source
    file: str = ""
    line: int | None = None
    key: str = ""


FROM_DEFAULT = Origin(Source.DEFAULT)


@dataclass(frozen=True)
class Origins:
    """Each option's `Origin` (an option not listed has its default or came from a flag)."""

    by_name: Mapping[str, Origin] = field(default_factory=dict)

    def label(self, name: str) -> str:
        """How a message names the option: `--jwt-jwks-file`, `environment variable
        GOTTY_JWT_JWKS_FILE`, or `config file F line N: key 'jwt_jwks_file'`."""
        spec = SPECS_BY_NAME[name]
        origin = self.by_name.get(name, FROM_DEFAULT)
        if origin.source is Source.FILE:
            line = f" line {origin.line}" if origin.line is not None else ""
            return f"config file {origin.file}{line}: key {origin.key or spec.hcl!r}"
        if origin.source is Source.ENV and spec.env:
            return f"environment variable {spec.env}"
        return spec.cli_names[0] if spec.cli_names else repr(spec.hcl)


NO_ORIGINS = Origins()


class OptionValueError(ValueError):
    """A value that does not fit its option; the message says what was expected."""


_TRUE = {"1", "t", "true"}
_FALSE = {"0", "f", "false"}


def parse_bool_text(text: str) -> bool:
    """Go's strconv.ParseBool, which GoTTY applies to env values."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise OptionValueError(f"expected a boolean (true/false/1/0), got {text!r}")


def parse_signal(value: object) -> int:
    """A signal given as a number or as a name (SIGTERM, TERM)."""
    if isinstance(value, bool):
        raise OptionValueError(f"expected a signal number or name, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip().upper()
        if text.lstrip("-").isdigit():
            number = int(text)
        else:
            name = text if text.startswith("SIG") else "SIG" + text
            try:
                number = int(signal.Signals[name])
            except KeyError:
                raise OptionValueError(f"expected a signal number or name, got {value!r}") from None
    else:
        raise OptionValueError(f"expected a signal number or name, got {value!r}")
    if number not in {int(s) for s in signal.Signals}:
        raise OptionValueError(f"{number} is not a signal number on this system")
    return number


LOG_FORMATS = ("text", "json")
AUDIT_FORMATS = ("v2", "v3")  # gotty_py.audit.castformat.CastFormat
UNKNOWN_KEY_MODES = ("error", "warn")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 192.168.1.7, fd00::/8`: addresses (as /32 or /128) and CIDRs, comma-
    separated; an entry that is neither is an error naming it."""
    networks: list[Network] = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise OptionValueError(f"{entry!r} is not an IP address or CIDR "
                                   "(e.g. 10.0.0.0/8)") from None
    return tuple(networks)


HostPattern = tuple[str, int | None]  # (a name, "*.suffix" or an IP literal; the port or None)
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def parse_host_patterns(text: str) -> tuple[HostPattern, ...]:
    """`console.example.com, *.example.com:8443, 10.0.0.7, [fd00::1]:80`: host names,
    `*.`-wildcards and IP literals, each with an optional port, lower-cased; `*` alone
    allows any host. An entry that is none of these is an error naming it."""
    patterns: list[HostPattern] = []
    for entry in text.split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            patterns.append(("*", None))
            continue
        host, port = split_host_port(entry)
        if port == -1 or not host:
            raise OptionValueError(f"{entry!r} has no valid port (expected name:1-65535)")
        name = host[2:] if host.startswith("*.") else host
        try:
            ipaddress.ip_address(name.strip("[]"))
            is_ip = True
        except ValueError:
            is_ip = False
        if is_ip and host.startswith("*."):
            raise OptionValueError(f"{entry!r}: a wildcard needs a domain name, not an address")
        if not is_ip and not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
            raise OptionValueError(f"{entry!r} is not a host name, *.domain pattern or IP "
                                   "address (e.g. console.example.com, *.example.com:8443)")
        patterns.append((host if not is_ip else str(ipaddress.ip_address(name.strip("[]"))),
                         port))
    return tuple(patterns)


def split_host_port(text: str) -> tuple[str, int | None]:
    """`name`, `name:port`, `1.2.3.4:port`, `[v6]`, `[v6]:port`, bare `v6`: the host (IPv6
    without brackets, a trailing dot removed) and the port (None: none given; -1: a port
    that is not 1-65535, or a malformed bracket)."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            return host, -1
        if not rest:
            return host, None
        if not rest.startswith(":"):
            return host, -1
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:  # no port, or a bare IPv6 address
        return text.rstrip("."), None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536 or len(port_text) > 5:
        return host, -1
    return host.rstrip("."), int(port_text)


def parse_port_or_empty(text: str) -> str:
    """A port number 0-65535 (0: any free port), or empty for none."""
    stripped = text.strip()
    if not stripped:
        return ""
    if not stripped.isdigit() or int(stripped) > 65535:
        raise OptionValueError(f"expected a port number (0-65535) or empty, got {text!r}")
    return str(int(stripped))


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")  # an RFC 9110 token


def parse_socket_mode(text: str) -> int:
    """`0660`, `660` or `0o660`: the permission bits of a Unix socket (no set-id or sticky
    bits: they mean nothing on a socket)."""
    stripped = text.strip().lower().removeprefix("0o")
    if not stripped or not all(c in "01234567" for c in stripped) or int(stripped, 8) > 0o777:
        raise OptionValueError(f"expected octal permissions 0000-0777 (e.g. 0660), got {text!r}")
    return int(stripped, 8)


def check_admin_credential(text: str) -> None:
    """`user:pass`, both non-empty (or empty: no admin routes). The message never repeats
    the value: it is a password."""
    user, colon, password = text.partition(":")
    if text and not (colon and user and password):
        raise OptionValueError("expected user:password with both parts non-empty (the value "
                               "is not repeated here: it is a secret)")


def format_socket_mode(mode: int) -> str:
    return f"{mode:04o}"


def _range_text(spec: OptionSpec) -> str:
    if spec.maximum is None:
        return f"at least {spec.minimum}"
    if spec.minimum is None:
        return f"at most {spec.maximum}"
    return f"{spec.minimum}-{spec.maximum}"


def check_range(spec: OptionSpec, number: int) -> int:
    """The declared bounds: a value outside them never reaches the server (a port of 99999
    would otherwise wrap around to 34463 in the socket call)."""
    if (spec.minimum is not None and number < spec.minimum) or (
            spec.maximum is not None and number > spec.maximum):
        raise OptionValueError(f"expected {_range_text(spec)}, got {number}")
    return number


def _port_text(spec: OptionSpec, text: str) -> str:
    """A str option with bounds holds a number (a port): digits only, within them."""
    stripped = text.strip()
    if not stripped.isascii() or not stripped.isdigit():
        raise OptionValueError(f"expected a number {_range_text(spec)} (digits only), "
                               f"got {text!r}")
    return str(check_range(spec, int(stripped)))


def _checked_text(spec: OptionSpec, text: str) -> str:
    """String options whose value has a grammar, checked where every source is named."""
    if spec.name == "ops_port":
        return parse_port_or_empty(text)  # empty: no operations listener
    if spec.minimum is not None or spec.maximum is not None:
        return _port_text(spec, text)
    if spec.name == "log_format":
        if text not in LOG_FORMATS:
            raise OptionValueError(f"expected one of {', '.join(LOG_FORMATS)}, got {text!r}")
    elif spec.name == "audit_format":
        if text not in AUDIT_FORMATS:
            raise OptionValueError(f"expected one of {', '.join(AUDIT_FORMATS)}, got {text!r}")
    elif spec.name == "config_unknown_keys":
        if text not in UNKNOWN_KEY_MODES:
            raise OptionValueError(f"expected one of {', '.join(UNKNOWN_KEY_MODES)}, "
                                   f"got {text!r}")
    elif spec.name == "trusted_proxies":
        parse_networks(text)
    elif spec.name == "allowed_hosts":
        parse_host_patterns(text)
    elif spec.name == "auth_proxy_header":
        if text and not _HEADER_NAME.fullmatch(text):
            raise OptionValueError(f"expected an HTTP header name (e.g. X-Forwarded-User), "
                                   f"got {text!r}")
    elif spec.name == "admin_credential":
        check_admin_credential(text)
    elif spec.name == "unix_socket_mode":
        return format_socket_mode(parse_socket_mode(text))
    return text


def _integer(value: object, *, from_text: bool) -> int:
    if isinstance(value, bool):
        raise OptionValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if from_text and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise OptionValueError(f"expected an integer, got {value!r}")


def coerce(spec: OptionSpec, value: object, *, from_text: bool) -> Any:
    """Turn a config, env or flag value into the option's type, or say what was expected.

    `from_text` is true for env values, which arrive as strings whatever the type.
    """
    if spec.name == "close_signal":
        return parse_signal(value)
    kind = spec.kind
    if kind == "block":
        if not isinstance(value, dict):
            raise OptionValueError("expected a block { key = value ... }")
        for key, item in value.items():
            if isinstance(item, dict | list):
                raise OptionValueError(f"expected a plain value for {key!r}")
        return dict(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            return parse_bool_text(value)
        raise OptionValueError(f"expected a boolean (true or false), got {value!r}")
    if kind == "int":
        return check_range(spec, _integer(value, from_text=from_text))
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if from_text and isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise OptionValueError(f"expected a number, got {value!r}")
    # Strings: GoTTY's HCL decoder accepts a number for a string field (port = 8080).
    if isinstance(value, str):
        return _checked_text(spec, value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _checked_text(spec, str(value))
    raise OptionValueError(f"expected a string, got {value!r}")


def format_default(spec: OptionSpec) -> str:
    """The default as a reader would type it, for help texts and the docs table."""
    if spec.kind == "bool":
        return "true" if spec.default else "false"
    if spec.kind == "block":
        return "(none)"
    if spec.name == "close_signal":
        return signal.Signals(spec.default).name
    if spec.kind == "str":
        return f'"{spec.default}"'
    return str(spec.default)

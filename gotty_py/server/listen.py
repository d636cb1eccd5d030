"""Where the server listens: a TCP address, a Unix socket, or the sockets systemd passed.

Rules of this module: `listener_from_options` decides once, at start-up, which of the three
it is, and refuses a configuration that cannot work (`StartupError`, exit 2; 8 when the
system says no); `Listener.bind` makes the listening sockets; `Listener.close` removes what
it created, and nothing else.

- `--address unix:/path`: the socket file gets `--unix-socket-mode` (default 0600) and
  `--unix-socket-group`, and is never, even for an instant, wider than owner-only before
  that: Linux gives the file the mode of the socket's inode at `bind`, which is set to 0600
  before it, then the group and the final mode are applied. An existing socket file is
  replaced only when nothing accepts on it (a connect is refused: the server that made it
  is gone); a live one is "already in use" (8), any other file is refused (2). At the end
  the file is removed if it is still the one this server made.
- systemd socket activation: when `LISTEN_PID` is this process and `LISTEN_FDS` is N, the
  descriptors 3..3+N-1 are the listening sockets (TCP or Unix, each must be a listening
  stream socket), `--address` and `--port` are not used, and nothing is bound or removed.
  The variables are taken out of the environment and the descriptors are not inherited, so
  that no session's process sees them (sd_listen_fds with unset_environment).
- A Unix-socket peer is named by its credentials (`SO_PEERCRED`, read once at accept):
  `unix:uid=1000,pid=4242` in logs, sessions, audit and titles (`UnixPeer`).
"""

from __future__ import annotations

import contextlib
import errno
import grp
import logging
import os
import socket
import stat
import struct
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..options import Options, OptionValueError, parse_socket_mode
from .startup import ExitCode, StartupError

log = logging.getLogger("gotty_py.server")

UNIX_PREFIX = "unix:"
LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START
ACTIVATION_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
MAX_ACTIVATED = 64  # more than any unit passes; a corrupt LISTEN_FDS is refused
BACKLOG = 128
STALE_PROBE_TIMEOUT = 1.0  # seconds a connect to an existing socket file may take
# sockaddr_un.sun_path is 108 bytes on Linux, with its terminating NUL.
MAX_UNIX_PATH = 107


class ListenKind(StrEnum):
    TCP = "tcp"
    UNIX = "unix"
    ACTIVATED = "activated"  # systemd socket activation


@dataclass(frozen=True)
class UnixPeer:
    """The process at the other end of a Unix-socket connection (None: not known)."""

    uid: int | None = None
    pid: int | None = None

    def __str__(self) -> str:
        if self.uid is None:
            return UNIX_PREFIX + "unknown"
        return f"{UNIX_PREFIX}uid={self.uid},pid={self.pid}"

    @property
    def host(self) -> str:
        """What one client is counted as (the handshake limits): its user, not its pid."""
        return UNIX_PREFIX + ("unknown" if self.uid is None else f"uid={self.uid}")


def unix_peer(sock: socket.socket) -> UnixPeer:
    """The peer's credentials as the kernel recorded them at connect (`SO_PEERCRED`)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return UnixPeer()
    pid, uid, _gid = struct.unpack("3i", raw)
    return UnixPeer(uid=uid, pid=pid)


def unix_socket_path(address: str) -> str | None:
    """The path of `unix:/path` (None for an IP address or a host name)."""
    return address[len(UNIX_PREFIX):] if address.startswith(UNIX_PREFIX) else None


def socket_url(sock: socket.socket, scheme: str, base_path: str) -> str:
    """How the start-up line names one listening socket: `unix:/path (curl ...)` for a
    Unix socket (no URL scheme for one is understood everywhere), else the URL."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        path = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        if not path or path.startswith("\0"):
            return f"{UNIX_PREFIX}(abstract or unnamed socket)"
        return (f"{UNIX_PREFIX}{path} (e.g. curl --unix-socket {path} "
                f"{scheme}://localhost{base_path})")
    host = str(name[0])
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{name[1]}{base_path}"


@dataclass(frozen=True)
class UnixSocketPlan:
    path: str
    mode: int
    gid: int | None


@dataclass
class Listener:
    """The listening sockets of one server (see the module's rules)."""

    kind: ListenKind
    unix: UnixSocketPlan | None = None
    activated: Sequence[socket.socket] = ()
    _made: tuple[int, int] | None = None  # (st_dev, st_ino) of the socket file we bound

    @property
    def host_address(self) -> str | None:
        """The address the Host header rules are made for (hosts.py); None: `--address`."""
        if self.kind is ListenKind.UNIX:
            return UNIX_PREFIX
        if self.kind is ListenKind.ACTIVATED:
            first = self.activated[0]
            return UNIX_PREFIX if first.family == socket.AF_UNIX else str(first.getsockname()[0])
        return None

    def bind(self) -> list[socket.socket]:
        """The listening sockets of a Unix or activated listener (TCP: app.py binds)."""
        if self.kind is ListenKind.ACTIVATED:
            for sock in self.activated:
                if sock.family != socket.AF_UNIX:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return list(self.activated)
        assert self.unix is not None
        sock = _bind_unix(self.unix)
        info = os.stat(self.unix.path)
        self._made = (info.st_dev, info.st_ino)
        return [sock]

    def close(self) -> None:
        """Remove the socket file this server made, if it is still that file."""
        if self._made is None or self.unix is None:
            return
        made, self._made = self._made, None
        with contextlib.suppress(OSError):
            info = os.lstat(self.unix.path)
            if (info.st_dev, info.st_ino) == made:
                os.unlink(self.unix.path)


def listener_from_options(options: Options, environ: MutableMapping[str, str],
                          pid: int | None = None) -> Listener:
    """TCP, a Unix socket or socket activation, as the options and environment say."""
    activated = activated_sockets(environ, os.getpid() if pid is None else pid)
    if activated:
        log.info("Using %d listening socket(s) from systemd socket activation (LISTEN_FDS); "
                 "--address and --port are not used", len(activated))
        return Listener(ListenKind.ACTIVATED, activated=activated)
    path = unix_socket_path(options.address)
    if path is None:
        return Listener(ListenKind.TCP)
    return Listener(ListenKind.UNIX, unix=_unix_plan(options, path))


def _unix_plan(options: Options, path: str) -> UnixSocketPlan:
    if not path:
        raise StartupError(ExitCode.CONFIG, "address (--address) unix: needs a path, e.g. "
                           "unix:/run/gotty-py/gotty.sock")
    if len(os.fsencode(path)) > MAX_UNIX_PATH:
        raise StartupError(ExitCode.CONFIG, (
            f"address (--address) {options.address!r}: a Unix socket path may be at most "
            f"{MAX_UNIX_PATH} bytes long"))
    try:
        mode = parse_socket_mode(options.unix_socket_mode)
    except OptionValueError as exc:
        raise StartupError(ExitCode.CONFIG,
                           f"unix_socket_mode (--unix-socket-mode): {exc}") from None
    return UnixSocketPlan(path=path, mode=mode, gid=_group_id(options.unix_socket_group))


def _group_id(group: str) -> int | None:
    text = group.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        return grp.getgrnam(text).gr_gid
    except KeyError:
        raise StartupError(ExitCode.CONFIG, (
            f"unix_socket_group (--unix-socket-group): no group named {text!r} on this "
            "system")) from None


def _bind_unix(plan: UnixSocketPlan) -> socket.socket:
    where = f"{UNIX_PREFIX}{plan.path}"
    _remove_stale(plan.path, where)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # The file is created with the socket inode's mode less the umask: owner-only until
        # the group and mode below are applied, never wider in between.
        with contextlib.suppress(OSError):
            os.fchmod(sock.fileno(), 0o600)
        try:
            sock.bind(plan.path)
        except OSError as exc:
            raise StartupError(ExitCode.RUNTIME,
                               f"failed to listen at {where}: {exc.strerror}") from None
        try:
            if plan.gid is not None:
                os.chown(plan.path, -1, plan.gid)
            os.chmod(plan.path, plan.mode)
        except OSError as exc:
            os.unlink(plan.path)
            what = ("group (--unix-socket-group)" if plan.gid is not None
                    and exc.errno == errno.EPERM else "mode (--unix-socket-mode)")
            raise StartupError(ExitCode.CONFIG,
                               f"cannot set the {what} of {plan.path}: {exc.strerror}") from None
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _remove_stale(path: str, where: str) -> None:
    """Remove a socket file nobody accepts on; refuse a live one or any other file."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StartupError(ExitCode.RUNTIME, f"failed to listen at {where}: {exc.strerror}") \
            from None
    if not stat.S_ISSOCK(info.st_mode):
        raise StartupError(ExitCode.CONFIG, (
            f"failed to listen at {where}: the path exists and is not a socket; remove it "
            "or choose another path (address, --address)"))
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(STALE_PROBE_TIMEOUT)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        log.info("Removing the stale socket %s (nothing listens on it)", path)
        os.unlink(path)
        return
    except OSError as exc:
        raise StartupError(ExitCode.RUNTIME, f"failed to listen at {where}: {exc.strerror}") \
            from None
    finally:
        probe.close()
    raise StartupError(ExitCode.RUNTIME,
                       f"failed to listen at {where}: address already in use (another server "
                       "accepts on it)")


def activated_sockets(environ: MutableMapping[str, str], pid: int) -> list[socket.socket]:
    """The sockets systemd passed to this process (none: not socket-activated)."""
    count_text = environ.get("LISTEN_FDS")
    if count_text is None or environ.get("LISTEN_PID", "").strip() != str(pid):
        return []  # not activated, or the variables were meant for another process
    for name in ACTIVATION_VARIABLES:
        environ.pop(name, None)
        os.environ.pop(name, None)
    if not count_text.strip().isdigit() or not 0 < int(count_text) <= MAX_ACTIVATED:
        raise StartupError(ExitCode.CONFIG, (
            f"socket activation: LISTEN_FDS={count_text!r} is not a number of descriptors "
            f"(1-{MAX_ACTIVATED})"))
    sockets: list[socket.socket] = []
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + int(count_text)):
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise StartupError(ExitCode.CONFIG, (
                f"socket activation: descriptor {fd} is not a socket ({exc.strerror})")) \
                from None
        if (sock.type != socket.SOCK_STREAM
                or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                or sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX)):
            raise StartupError(ExitCode.CONFIG, (
                f"socket activation: descriptor {fd} is not a listening TCP or Unix stream "
                "socket (ListenStream= in the .socket unit)"))
        sock.set_inheritable(False)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets

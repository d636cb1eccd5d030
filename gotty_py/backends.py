"""Which backend the options choose, made from its own options: the part of GoTTY's
`main.go` that builds the factory it hands to the server.

Rules of this module: the only place that turns `Options` into a `Backend`. The server
receives the backend ready-made and never reads a backend's options itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from .backend.base import Backend
from .backend.localcommand import LocalCommandBackend, LocalCommandOptions
from .options import Options


def backend_from_options(options: Options, environ: Mapping[str, str]) -> Backend:
    """The local command backend (the only one so far), with its close signal and timeout."""
    local = LocalCommandOptions.from_gotty(options.close_signal, options.close_timeout)
    return LocalCommandBackend(local, environ)

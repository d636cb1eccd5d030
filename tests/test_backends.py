"""The backend is chosen and configured from the options in one place (`gotty_py.backends`),
and the local command backend owns its close signal and timeout."""

from __future__ import annotations

import signal

from gotty_py.backend.localcommand import LocalCommandBackend, LocalCommandOptions
from gotty_py.backends import backend_from_options
from gotty_py.options import Options


def test_a_negative_close_timeout_means_ten_seconds() -> None:
    assert LocalCommandOptions.from_gotty(int(signal.SIGTERM), -1) == LocalCommandOptions(
        close_signal=int(signal.SIGTERM), close_timeout=10.0)
    assert LocalCommandOptions.from_gotty(int(signal.SIGHUP), 0).close_timeout == 0.0
    assert LocalCommandOptions.from_gotty(int(signal.SIGHUP), 3).close_timeout == 3.0


def test_the_options_make_a_local_backend_with_its_own_options() -> None:
    options = Options(close_signal=int(signal.SIGINT), close_timeout=4)
    backend = backend_from_options(options, {"PATH": "/bin", "GOTTY_CREDENTIAL": "a:b"})
    assert isinstance(backend, LocalCommandBackend)
    assert backend.name == "local command"
    assert backend.options == LocalCommandOptions(close_signal=int(signal.SIGINT),
                                                  close_timeout=4.0)

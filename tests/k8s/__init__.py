"""A simulated Kubernetes API server for testing ``kubectl exec`` through gotty-py.

See :mod:`tests.k8s.apiserver` and ``README.md`` next to this file.  The names below are
imported lazily, so ``python -m tests.k8s.apiserver`` does not import its own module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # real types for type checkers; at runtime the lazy __getattr__ below
    from .apiserver import K8sSimulator
    from .kubeconfig import write_kubeconfig
    from .launcher import SimulatorSubprocess
    from .objects import SimPod
    from .processes import ProcessInfo

_EXPORTS = {
    "K8sSimulator": "apiserver",
    "SimulatorSubprocess": "launcher",
    "ProcessInfo": "processes",
    "SimPod": "objects",
    "write_kubeconfig": "kubeconfig",
}

__all__ = ["K8sSimulator", "ProcessInfo", "SimPod", "SimulatorSubprocess", "write_kubeconfig"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)

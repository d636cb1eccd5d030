"""Kubernetes API objects served by the simulated API server, as plain JSON-able dicts.

Only the fields that the real ``kubectl`` reads are filled in.  Keeping the builders here,
away from the Tornado handlers, makes the wire format easy to compare with a real cluster.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JsonDict = dict[str, Any]

#: ``/version`` answer.  The kubectl on these machines is a version dispatcher: it runs the
#: bundled kubectl whose minor version matches this, and 1.30+ execs over WebSockets.
DEFAULT_GIT_VERSION = "v1.32.4"

#: When the simulator "started" its pods; fixed per process so repeated GETs agree.
_STARTED_AT = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SimPod:
    """A pod the simulator pretends to run; execs into it run on this machine.

    ``env`` is added to the environment of every process exec'd into the pod, so tests can
    make pods distinguishable beyond the ``K8S_SIM_POD`` variable the simulator always sets.
    """

    namespace: str
    name: str
    containers: tuple[str, ...] = ("main",)
    env: tuple[tuple[str, str], ...] = field(default=())
    labels: tuple[tuple[str, str], ...] = field(default=())

    @property
    def uid(self) -> str:
        """A stable uid, so the same pod looks the same across simulator restarts."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"k8s-sim:{self.namespace}/{self.name}"))

    @classmethod
    def parse(cls, spec: str) -> SimPod:
        """Parse the CLI form ``NS/POD`` or ``NS/POD:C1,C2`` (containers default to main)."""
        pod_part, _, containers = spec.partition(":")
        namespace, sep, name = pod_part.partition("/")
        if not sep or not namespace or not name:
            raise ValueError(f"pod spec must look like NS/POD[:C1,C2], got {spec!r}")
        names = tuple(c for c in containers.split(",") if c) or ("main",)
        return cls(namespace=namespace, name=name, containers=names)


def version_info(git_version: str = DEFAULT_GIT_VERSION) -> JsonDict:
    """The ``/version`` document; kubectl's dispatcher picks its binary from ``minor``."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> JsonDict:
    """Legacy ``/api`` discovery (plain JSON: kubectl accepts it instead of aggregated)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_list() -> JsonDict:
    """``/apis``: no API groups besides the core group are simulated."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}


def _resource(name: str, kind: str, namespaced: bool, verbs: list[str]) -> JsonDict:
    singular = "" if "/" in name else kind.lower()
    return {
        "name": name,
        "singularName": singular,
        "namespaced": namespaced,
        "kind": kind,
        "verbs": verbs,
    }


def core_v1_resources() -> JsonDict:
    """``/api/v1``: the resources kubectl must find to exec (pods, pods/exec)."""
    return {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            _resource("namespaces", "Namespace", False, ["get", "list"]),
            _resource("pods", "Pod", True, ["get", "list"]),
            _resource("pods/exec", "PodExecOptions", True, ["create", "get"]),
        ],
    }


def _container_status(container: str) -> JsonDict:
    return {
        "name": container,
        "ready": True,
        "started": True,
        "restartCount": 0,
        "image": "k8s-sim/local:latest",
        "imageID": "",
        "containerID": f"k8s-sim://{container}",
        "state": {"running": {"startedAt": _STARTED_AT}},
    }


def pod_object(pod: SimPod) -> JsonDict:
    """A ``v1.Pod`` in phase Running (kubectl refuses to exec into completed pods)."""
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": pod.name,
            "namespace": pod.namespace,
            "uid": pod.uid,
            "resourceVersion": "1",
            "creationTimestamp": _STARTED_AT,
            **({"labels": dict(pod.labels)} if pod.labels else {}),
        },
        "spec": {
            "nodeName": "k8s-sim-node",
            "containers": [
                {"name": c, "image": "k8s-sim/local:latest"} for c in pod.containers
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "startTime": _STARTED_AT,
            "containerStatuses": [_container_status(c) for c in pod.containers],
        },
    }


def pod_list(pods: list[SimPod]) -> JsonDict:
    """A ``v1.PodList`` (``kubectl get pods`` works too, handy when debugging)."""
    return {
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "1"},
        "items": [pod_object(p) for p in pods],
    }


def namespace_object(name: str) -> JsonDict:
    """A ``v1.Namespace`` in phase Active."""
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, name))},
        "status": {"phase": "Active"},
    }


def status(
    code: int, reason: str, message: str, details: JsonDict | None = None
) -> JsonDict:
    """A failure ``v1.Status``; kubectl prints ``Error from server (REASON): MESSAGE``."""
    body: JsonDict = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def not_found(kind_plural: str, name: str) -> JsonDict:
    """The 404 a real API server returns for a missing object."""
    return status(
        404, "NotFound", f'{kind_plural} "{name}" not found', {"name": name, "kind": kind_plural}
    )


def exec_exit_status(exit_code: int, command: list[str]) -> JsonDict:
    """The channel-3 ``v1.Status`` that ends an exec; kubectl exits with ``exit_code``.

    A real kubelet sends ``{"status":"Success"}`` for 0 and a ``NonZeroExitCode`` failure
    whose ``ExitCode`` cause carries the number otherwise; kubectl parses that cause.
    """
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command "
            f"{command}, exit code {exit_code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def exec_start_failure(message: str) -> JsonDict:
    """The channel-3 status when the command cannot be started (like an OCI exec error)."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "code": 500,
    }


def forbidden(kind_plural: str, name: str, user: str, verb: str, resource: str,
              namespace: str | None) -> JsonDict:
    """The API server's 403 `Status` when RBAC says no (kubernetes apiserver's wording)."""
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (f'{kind_plural} "{name}" is forbidden: User "{user}" cannot {verb} resource '
               f'"{resource}" in API group "" {where}')
    return {**status(403, "Forbidden", message),
            "details": {"name": name, "kind": kind_plural}}


def access_review(spec: JsonDict, allowed: bool, reason: str) -> JsonDict:
    """A `SubjectAccessReview` answered: the request's spec with its status."""
    answer: JsonDict = {"allowed": allowed}
    if reason:
        answer["reason"] = reason
    if not allowed:
        answer["denied"] = True
    return {"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": answer}

"""Write kubeconfig files that point the real kubectl at the simulator."""

from __future__ import annotations

import base64
import json
from pathlib import Path


def kubeconfig_text(
    server: str,
    *,
    token: str | None = None,
    ca_pem: bytes | None = None,
    namespace: str = "default",
    name: str = "k8s-sim",
) -> str:
    """Return a one-context kubeconfig (JSON, which is valid YAML, so no YAML library).

    The token is only sent by kubectl over https, so pass ``ca_pem`` when using one.
    """
    cluster: dict[str, str] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode("ascii")
    user: dict[str, str] = {"token": token} if token else {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
        ],
        "current-context": name,
        "preferences": {},
    }
    return json.dumps(config, indent=2) + "\n"


def write_kubeconfig(
    path: Path,
    server: str,
    *,
    token: str | None = None,
    ca_pem: bytes | None = None,
    namespace: str = "default",
) -> Path:
    """Write the kubeconfig to ``path`` with mode 0600 (it may hold a token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(kubeconfig_text(server, token=token, ca_pem=ca_pem, namespace=namespace))
    path.chmod(0o600)
    return path

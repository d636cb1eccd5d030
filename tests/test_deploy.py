"""deploy/: the kustomization renders, every object is valid Kubernetes, and what it ships works.

Every kustomization (the root, each overlay) is rendered with the real `kubectl kustomize`
(offline) from a copy of deploy/ whose keys are made the way deploy/keys/README.md says,
and each object is validated against the Kubernetes 1.35 schema (kubernetes-validate,
strict: unknown fields fail). Then the facts that matter are asserted on the rendered
objects, and finally the shipped configuration is run unmodified: the rendered ConfigMap's
HCL and the rendered Deployment's args, env and mounts, with each mount path (and the
image's install prefix) mapped to a local directory, against the simulated API server and
the real kubectl, with a token the example portal mints. gotty-py itself runs from the
project's venv there; tests/test_deploy_image.py checks the image's own venv.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from gotty_py.audit.retention import RetentionPolicy
from gotty_py.audit.signing import parse_signer
from gotty_py.config import load_options
from gotty_py.options import Options
from tests.dockerfile import DOCKERFILE, install_steps, replay, stages
from tests.gotty import BIN, ROOT, GottyProcess, open_session, start_gotty, wait_for
from tests.k8s import K8sSimulator, SimPod
from tests.k8s.handlers import CONSOLE_USER, Attributes
from tests.ops_client import readyz, scrape, value
from tests.test_kubernetes import all_gone, start_job
from tests.test_portal_example import PORTAL, launch

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is missing")

DEPLOY = ROOT / "deploy"
# The kubectl backend's installs (the recipe of examples/kubernetes/), then the native one.
KUSTOMIZATIONS = [".", "overlays/replicated"]
NATIVE = "overlays/native"
ALL = [*KUSTOMIZATIONS, NATIVE]
CONSOLE_NS = "gotty-console"
KID = "console-1"
AUDIT_KEY = "audit-checkpoint.key"
IMAGE_PREFIX = "/opt/gotty-py"
# The newest Kubernetes whose schema kubernetes-validate ships, 1.35 when it has it.
K8S_VERSION = "1.35.0" if "1.35.0" in all_versions() else all_versions()[-1]
POD_WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


@dataclass
class Rendered:
    """The objects one kustomization renders, and the deploy/ copy it came from."""

    directory: Path
    objects: list[dict[str, Any]]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.all(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, (kind, name, [o["metadata"]["name"] for o in self.all(kind)])
        return found[0]

    def generated(self, kind: str, prefix: str) -> dict[str, Any]:
        """A generated object (its name has a content hash appended)."""
        found = [o for o in self.all(kind) if o["metadata"]["name"].startswith(prefix)]
        assert len(found) == 1, (kind, prefix)
        return found[0]

    @property
    def console(self) -> dict[str, Any]:
        return self.one("Deployment", "gotty-console")

    @property
    def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.console["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> dict[str, Any]:
        containers = self.pod_spec["containers"]
        assert [c["name"] for c in containers] == ["console"]
        container: dict[str, Any] = containers[0]
        return container

    @property
    def hcl(self) -> str:
        text: str = self.generated("ConfigMap", "gotty-console-config-")["data"]["gotty.hcl"]
        return text

    def mount(self, volume: str) -> dict[str, Any]:
        mounts = [m for m in self.container["volumeMounts"] if m["name"] == volume]
        assert len(mounts) == 1, volume
        return mounts[0]

    def volume(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = next(v for v in self.pod_spec["volumes"] if v["name"] == name)
        return found


def portal(*args: str) -> str:
    return subprocess.run([sys.executable, str(PORTAL), *args], capture_output=True, text=True,
                          timeout=30, check=True).stdout


def readme_key_commands() -> list[list[str]]:
    """The portal commands of the README's "Run it in your cluster" that make the keys."""
    text = (ROOT / "README.md").read_text().split("## Run it in your cluster", 1)[1]
    text = text.split("\n## ", 1)[0].replace("\\\n", " ")
    commands = [shlex.split(line.split("#", 1)[0]) for line in text.splitlines()
                if "examples/portal/portal.py" in line and (" keygen " in line or " jwks " in line)]
    assert [c[2] for c in commands] == ["keygen", "jwks"], commands
    return commands


def readme_audit_keygen() -> list[str]:
    """The README's `gotty-py-audit keygen` for the audit checkpoints' signing key."""
    text = (ROOT / "README.md").read_text().split("## Run it in your cluster", 1)[1]
    text = text.split("\n## ", 1)[0]
    commands = [shlex.split(line) for line in text.splitlines()
                if line.startswith(".venv/bin/gotty-py-audit keygen ")]
    assert len(commands) == 1, commands
    return commands[0]


def make_keys(keys: Path) -> None:
    """The README's key commands (deploy/keys/README.md has the same), run for a copy of
    deploy/: only the interpreter and the keys directory differ."""
    audit_keygen = readme_audit_keygen()
    assert " ".join(audit_keygen) in (ROOT / "deploy/keys/README.md").read_text()
    subprocess.run([str(BIN / "gotty-py-audit"), *[w.replace("deploy/keys/", f"{keys}/")
                                                   for w in audit_keygen[1:]]],
                   check=True, capture_output=True, timeout=30)
    assert (keys / AUDIT_KEY).stat().st_mode & 0o077 == 0
    for words in readme_key_commands():
        assert words[:2] == [".venv/bin/python", "examples/portal/portal.py"], words
        words = [w.replace("deploy/keys/", f"{keys}/") for w in words[2:]]
        if ">" in words:
            at = words.index(">")
            Path(words[at + 1]).write_text(portal(*words[:at]))
        else:
            portal(*words)
    assert (keys / "portal-es256.pem").stat().st_mode & 0o077 == 0
    assert KID in (keys / "console-jwks.json").read_text()
    keys_readme = (ROOT / "deploy/keys/README.md").read_text()
    for words in readme_key_commands():
        assert " ".join(words[2:5]) in keys_readme


def kustomize(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def deploy_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("portal-es256.pem",
                                                                 "console-jwks.json",
                                                                 AUDIT_KEY + "*"))
    make_keys(copy / "keys")
    return copy


@pytest.fixture(scope="module")
def rendered(deploy_copy: Path) -> dict[str, Rendered]:
    result: dict[str, Rendered] = {}
    for name in ALL:
        output = kustomize(deploy_copy / name)
        assert output.returncode == 0, output.stderr
        result[name] = Rendered(deploy_copy, [o for o in yaml.safe_load_all(output.stdout) if o])
    return result


def hcl_options(text: str, tmp_path: Path) -> Options:
    path = tmp_path / "gotty.hcl"
    path.write_text(text)
    loaded = load_options({"config": str(path)}, {}, home="/nonexistent")
    assert loaded.warnings == []
    return loaded.options


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


# --- rendering and schema -----------------------------------------------------------------


def test_without_the_operators_key_nothing_renders(tmp_path: Path) -> None:
    """No key is shipped: a checkout without deploy/keys/console-jwks.json cannot be
    installed (so no install trusts a key someone else holds), and the error names it."""
    for missing in ("console-jwks.json", AUDIT_KEY):
        copy = tmp_path / missing / "deploy"
        shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns(missing))
        for other in {"console-jwks.json", AUDIT_KEY} - {missing}:
            (copy / "keys" / other).write_text("{}")
        result = kustomize(copy)
        assert result.returncode != 0 and missing in result.stderr, result.stderr
    tracked = subprocess.run(["git", "ls-files", "deploy/keys"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert sorted(tracked) == ["deploy/keys/.gitignore", "deploy/keys/README.md",
                               "deploy/keys/kustomization.yaml"]


@pytest.mark.parametrize("name", ALL)
def test_every_rendered_object_is_valid_kubernetes(rendered: dict[str, Rendered],
                                                   name: str) -> None:
    objects = rendered[name].objects
    assert len(objects) >= 11
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        namespaced = obj["kind"] not in {"Namespace", "ClusterRole", "ClusterRoleBinding"}
        assert namespaced == ("namespace" in obj["metadata"]), obj["metadata"]
    # The validation is strict: a misspelt field fails (so the loop above can fail).
    broken = json.loads(json.dumps(rendered[name].console))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"path": "/"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_root_installs_the_objects_the_issue_lists(rendered: dict[str, Rendered]) -> None:
    root = rendered["."]
    kinds = {(o["kind"], o["metadata"]["name"]) for o in root.objects}
    for kind, name in [("Namespace", CONSOLE_NS), ("ServiceAccount", "gotty-console"),
                       ("Role", "gotty-console-exec"), ("RoleBinding", "gotty-console-exec"),
                       ("Deployment", "gotty-console"), ("Service", "gotty-console"),
                       ("NetworkPolicy", "gotty-console"), ("PersistentVolumeClaim",
                       "gotty-console-audit"), ("PodDisruptionBudget", "gotty-console"),
                       ("Secret", "gotty-console-jwks")]:
        assert (kind, name) in kinds, (kind, name)
    assert root.generated("ConfigMap", "gotty-console-config-")
    # Its name carries a hash: a new signing key rolls the pods (it is read at start-up).
    assert root.generated("Secret", "gotty-console-audit-key-")
    assert root.console["spec"]["replicas"] == 1
    assert not root.all("ClusterRole") and not root.all("ClusterRoleBinding")


# --- the facts that matter ----------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_every_pod_meets_pod_security_restricted(rendered: dict[str, Rendered],
                                                 name: str) -> None:
    objects = rendered[name]
    namespace = objects.one("Namespace", CONSOLE_NS)["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"
    workloads = [o for o in objects.objects if o["kind"] in POD_WORKLOADS]
    assert workloads
    dockerfile_user = next(i.text for i in stages(DOCKERFILE.read_text())[-1]
                           if i.keyword == "USER")
    for workload in workloads:
        assert workload["metadata"]["namespace"] == CONSOLE_NS
        pod = workload["spec"]["template"]["spec"]
        for forbidden in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(forbidden), forbidden
        assert not [v for v in pod.get("volumes", []) if "hostPath" in v]
        pod_context = pod.get("securityContext", {})
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            where = (workload["metadata"]["name"], container["name"])
            assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, where
            user = context.get("runAsUser", pod_context.get("runAsUser"))
            assert isinstance(user, int) and user > 0, where
            seccomp = context.get("seccompProfile", pod_context.get("seccompProfile"))
            assert seccomp == {"type": "RuntimeDefault"}, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert not context.get("privileged"), where
            limits = container["resources"]["limits"]
            requests = container["resources"]["requests"]
            assert {"cpu", "memory"} <= set(limits) and {"cpu", "memory"} <= set(requests)
    # The console runs as the image's own user.
    context = objects.container["securityContext"]
    assert f"{context['runAsUser']}:{context['runAsGroup']}" == dockerfile_user


@pytest.mark.parametrize("name", ALL)
def test_probes_ask_the_ops_listener_the_hcl_configures(rendered: dict[str, Rendered], name: str,
                                                        tmp_path: Path) -> None:
    objects = rendered[name]
    options = hcl_options(objects.hcl, tmp_path)
    container = objects.container
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": int(options.port), "ops": int(options.ops_port)}
    assert options.ops_address == "0.0.0.0" and options.address == "0.0.0.0"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
    # The Service and any Ingress behind it reach the web port only, never the ops port.
    service = objects.one("Service", "gotty-console")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    annotations = objects.console["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == options.ops_port
    policy = objects.one("NetworkPolicy", "gotty-console")["spec"]
    assert {p["port"] for rule in policy["ingress"] for p in rule["ports"]} == {"http", "ops"}
    ops_rule = next(r for r in policy["ingress"] if r["ports"][0]["port"] == "ops")
    assert ops_rule["from"], "the metrics port is open to the monitoring namespace only"


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_rbac_grants_exactly_exec_in_the_target_namespaces(rendered: dict[str, Rendered],
                                                          name: str) -> None:
    objects = rendered[name]
    roles = objects.all("Role")
    bindings = objects.all("RoleBinding")
    assert roles and len(roles) == len(bindings)
    assert not objects.all("ClusterRole") and not objects.all("ClusterRoleBinding")
    for role in roles:
        assert role["metadata"]["namespace"] != CONSOLE_NS
        assert role["rules"] == [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
        ]
    for binding in bindings:
        role = next(r for r in roles if r["metadata"]["namespace"]
                    == binding["metadata"]["namespace"])
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": role["metadata"]["name"]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gotty-console",
                                        "namespace": CONSOLE_NS}]
    assert objects.pod_spec["serviceAccountName"] == "gotty-console"
    redis = [o for o in objects.all("Deployment") if o["metadata"]["name"] != "gotty-console"]
    for other in redis:  # Redis needs no API access at all
        assert other["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_grace_period_outlasts_the_drain(rendered: dict[str, Rendered], name: str,
                                             tmp_path: Path) -> None:
    objects = rendered[name]
    options = hcl_options(objects.hcl, tmp_path)
    grace = objects.pod_spec["terminationGracePeriodSeconds"]
    assert options.drain_timeout >= 1
    assert grace >= options.drain_timeout + 10, (grace, options.drain_timeout)
    # A session's local end and its remote cleanup both fit within the drain.
    assert options.close_timeout + options.cleanup_timeout <= options.drain_timeout


@pytest.mark.parametrize("name", ALL)
def test_no_two_replicas_share_an_event_log(rendered: dict[str, Rendered], name: str,
                                            tmp_path: Path) -> None:
    objects = rendered[name]
    options = hcl_options(objects.hcl, tmp_path)
    mount = objects.mount("audit")
    # Each pod mounts its own subdirectory of the audit volume, named after the pod.
    assert mount["subPathExpr"] == "$(POD_NAME)" and "subPath" not in mount
    pod_name = env_of(objects.container)["POD_NAME"]
    assert pod_name["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert options.audit_required and options.audit_dir
    event_log = options.audit_event_log or options.audit_dir + "/sessions.jsonl"
    for path in (options.audit_dir, event_log):
        assert Path(path).is_relative_to(mount["mountPath"]), path
    # No other mount of the same volume (which could expose another pod's directory).
    assert [m for m in objects.container["volumeMounts"] if m["name"] == "audit"] == [mount]
    claim = objects.one("PersistentVolumeClaim", objects.volume("audit")
                        ["persistentVolumeClaim"]["claimName"])
    replicas = objects.console["spec"]["replicas"]
    if replicas > 1:  # pods on several nodes share the claim
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        store = env_of(objects.container)["GOTTY_STORE"]["value"]
        assert store.startswith("redis://")
    else:
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert objects.console["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_mounts_hold_the_files_the_hcl_names(rendered: dict[str, Rendered], name: str,
                                                 tmp_path: Path) -> None:
    objects = rendered[name]
    options = hcl_options(objects.hcl, tmp_path)
    args = objects.container["args"]
    assert "command" not in objects.container  # the image's ENTRYPOINT, gotty-py
    assert args[0] == "--config" and len(args) == 3
    config_mount = objects.mount("config")
    config_map = objects.volume("config")["configMap"]["name"]
    assert config_map == objects.generated("ConfigMap", "gotty-console-config-")["metadata"]["name"]
    assert Path(args[1]).parent == Path(config_mount["mountPath"])
    assert Path(args[1]).name in objects.one("ConfigMap", config_map)["data"]
    jwks_mount = objects.mount("jwks")
    secret = objects.one("Secret", objects.volume("jwks")["secret"]["secretName"])
    assert Path(options.jwt_jwks_file).parent == Path(jwks_mount["mountPath"])
    jwks = json.loads(base64.b64decode(secret["data"][Path(options.jwt_jwks_file).name]))
    assert [k["kid"] for k in jwks["keys"]] == [KID] and all("d" not in k for k in jwks["keys"])
    assert config_mount["readOnly"] and jwks_mount["readOnly"]
    # The audit checkpoints' signing key: from its Secret, read-only, not readable by
    # others (gotty-py refuses such a key); the public half is the one the README made.
    key_mount = objects.mount("audit-key")
    key_volume = objects.volume("audit-key")["secret"]
    assert Path(options.audit_checkpoint_key).parent == Path(key_mount["mountPath"])
    assert key_mount["readOnly"] and key_volume["defaultMode"] & 0o077 == 0o040
    key_secret = objects.one("Secret", key_volume["secretName"])
    signer = parse_signer(base64.b64decode(key_secret["data"][AUDIT_KEY]).decode())
    public = (objects.directory / "keys" / f"{AUDIT_KEY}.pub").read_text()
    assert signer.verifier.text() == public.strip()
    assert RetentionPolicy.parse(options.audit_retention).max_bytes
    # The command and the cleanup are the image's copies of the recipe (absolute paths).
    copies = [shlex.split(i.text)[-1] for i in install_steps() if i.keyword == "COPY"]
    recipe_dir = f"{IMAGE_PREFIX}/kubernetes/"
    assert recipe_dir in copies
    assert args[2] == recipe_dir + "kube-exec.sh"
    cleanup = shlex.split(options.cleanup_command)
    assert cleanup == [recipe_dir + "kube-cleanup.sh", "{arg0}", "{arg1}", "{arg2}", "{session}"]
    # JWT as the portal mints it.
    assert (options.jwt_algorithms, options.jwt_audience, options.jwt_issuer) == (
        "ES256", "console", "portal")
    assert 0 < options.jwt_max_lifetime <= 300
    assert options.log_format == "json" and options.permit_write
    # The writable places of a read-only root: /tmp (HOME) and the audit volume.
    assert objects.mount("tmp")["mountPath"] == "/tmp"
    assert env_of(objects.container)["HOME"]["value"] == "/tmp"


def test_redis_is_reachable_from_console_pods_only(rendered: dict[str, Rendered]) -> None:
    objects = rendered["overlays/replicated"]
    console_labels = objects.console["spec"]["template"]["metadata"]["labels"]
    redis = objects.one("Deployment", "gotty-console-redis")
    redis_labels = redis["spec"]["template"]["metadata"]["labels"]
    assert console_labels != redis_labels
    service = objects.one("Service", "gotty-console-redis")
    assert service["spec"]["selector"] == redis_labels
    store = urllib.parse.urlsplit(env_of(objects.container)["GOTTY_STORE"]["value"])
    assert (store.hostname, store.port) == ("gotty-console-redis",
                                            service["spec"]["ports"][0]["port"])
    policy = objects.one("NetworkPolicy", "gotty-console-redis")["spec"]
    assert policy["podSelector"]["matchLabels"] == redis_labels
    assert policy["ingress"] == [{"from": [{"podSelector": {"matchLabels": console_labels}}],
                                  "ports": [{"port": "redis", "protocol": "TCP"}]}]
    assert policy["policyTypes"] == ["Ingress", "Egress"] and policy.get("egress", []) == []
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    egress = objects.one("NetworkPolicy", "gotty-console-to-redis")["spec"]
    assert egress["podSelector"]["matchLabels"] == console_labels
    assert objects.console["spec"]["replicas"] == 2
    # The root install stays one replica with the in-memory store.
    assert "GOTTY_STORE" not in env_of(rendered["."].container)


# --- the shipped configuration, unmodified --------------------------------------------------


POD_NAME = "gotty-console-5d8c7b9f4-x2k7q"


@dataclass
class LocalPod:
    """The console pod's file system, mapped onto local directories."""

    mapping: dict[str, Path]  # absolute path in the pod -> local directory

    def local(self, text: str) -> str:
        """`text` with every mapped path prefix (whole path components) replaced, in one
        pass, so that a replacement is never itself rewritten (/tmp is a mount too)."""
        prefixes = "|".join(re.escape(p) for p in sorted(self.mapping, key=len, reverse=True))
        pattern = re.compile(rf"(?<![\w/.-])({prefixes})(?=/|[\s\"']|$)")
        return pattern.sub(lambda m: str(self.mapping[m.group(1)]), text)


def build_local_pod(objects: Rendered, tmp_path: Path) -> LocalPod:
    """A directory per volume (ConfigMap and Secret data as files, claims and emptyDirs
    empty), each mountPath mapped to its directory, the image prefix to a replay of the
    Dockerfile's COPYs."""
    mapping: dict[str, Path] = {}
    pod_env = {"POD_NAME": POD_NAME}
    for volume in objects.pod_spec["volumes"]:
        directory = tmp_path / "volumes" / volume["name"]
        directory.mkdir(parents=True)
        if "configMap" in volume:
            for key, value in objects.one("ConfigMap", volume["configMap"]["name"])["data"].items():
                (directory / key).write_text(value)
        elif "secret" in volume:
            for key, value in objects.one("Secret", volume["secret"]["secretName"])["data"].items():
                (directory / key).write_bytes(base64.b64decode(value))
                (directory / key).chmod(volume["secret"].get("defaultMode", 0o644))
        else:
            assert {"persistentVolumeClaim", "emptyDir"} & set(volume), volume
        for mount in (m for m in objects.container["volumeMounts"]
                      if m["name"] == volume["name"]):
            sub = mount.get("subPath") or re.sub(r"\$\((\w+)\)", lambda m: pod_env[m.group(1)],
                                                 mount.get("subPathExpr", ""))
            target = directory / sub if sub else directory
            target.mkdir(parents=True, exist_ok=True)
            mapping[mount["mountPath"]] = target
    image = replay(tmp_path / "image", run=False)
    mapping[IMAGE_PREFIX] = image.path(IMAGE_PREFIX)
    return LocalPod(mapping)


@pytest.fixture
def simulated_cluster(tmp_path: Path) -> Iterator[tuple[K8sSimulator, Path, Path]]:
    state = tmp_path / "pod-state"
    pod = SimPod("team-a", "web-0", ("app",), env=(("GOTTY_STATE_DIR", str(state)),))
    with K8sSimulator([pod], workdir=tmp_path / "sim") as sim:
        yield sim, sim.write_kubeconfig(tmp_path / "kubeconfig"), state


def start_portal(keys: Path, console_url: str, style: str = "kube-exec"
                 ) -> tuple[subprocess.Popen[str], str]:
    """The example portal as the README's "Run it in your cluster" runs it."""
    process = subprocess.Popen(
        [sys.executable, str(PORTAL), "serve", "--private-key", str(keys / "portal-es256.pem"),
         "--kid", KID, "--args", style, "--target", "team-a/web-0/app/sh",
         "--console-url", console_url, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"Portal listening at (\S+)", line)
    assert match, line
    return process, match.group(1)


def cleanup_event(events: Path) -> dict[str, Any] | None:
    """The first cleanup line of the event log, once there is one."""
    lines = [json.loads(ln) for ln in events.read_text().splitlines()] \
        if events.exists() else []
    return next((ln for ln in lines if ln.get("event") == "cleanup"), None)


def assert_audit_verifies(events: Path, public_key: Path | None = None,
                          ) -> subprocess.CompletedProcess[str]:
    """`gotty-py-audit verify`: every recording intact, every cleanup logged and ok (and,
    with `public_key`, the signed checkpoints checked)."""
    keys = ["--public-key", str(public_key)] if public_key is not None else []
    verify = subprocess.run([str(BIN / "gotty-py-audit"), "--event-log", str(events),
                             "verify", *keys], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return verify


def console_url(server: GottyProcess) -> str:
    """The web URL from the start-up log, in the text or the JSON log format."""
    pattern = re.compile(r"HTTP server is listening at: (http[^\s\"]+)")

    def find() -> str | None:
        if server.process.poll() is not None:
            raise AssertionError(f"gotty-py exited:\n{server.output()}")
        return next((m.group(1) for ln in list(server.lines) if (m := pattern.search(ln))), None)

    url: str = wait_for(find, 20, message="the console's URL line")
    return url


def test_the_shipped_configuration_works_unmodified(
        rendered: dict[str, Rendered], tmp_path: Path,
        simulated_cluster: tuple[K8sSimulator, Path, Path]) -> None:
    sim, kubeconfig, state = simulated_cluster
    objects = rendered["."]
    # The simulated pod lives in a namespace the shipped RBAC opens.
    assert "team-a" in {r["metadata"]["namespace"] for r in objects.all("Role")}
    pod = build_local_pod(objects, tmp_path)

    config_local = Path(pod.local(objects.container["args"][1]))
    shipped = config_local.read_text()
    assert shipped == objects.hcl
    config_local.write_text(pod.local(shipped))
    # Nothing but the mapped paths changed: option by option, the same values.
    (tmp_path / "original").mkdir()
    original = hcl_options(shipped, tmp_path / "original")
    mapped = load_options({"config": str(config_local)}, {}, home="/nonexistent").options
    changed = {f.name for f in fields(Options)
               if getattr(original, f.name) != getattr(mapped, f.name)} - {"config"}
    assert changed == {"jwt_jwks_file", "cleanup_command", "audit_dir",
                       "audit_checkpoint_key"}, changed
    for name in changed:
        assert getattr(mapped, name) == pod.local(getattr(original, name))
        assert getattr(mapped, name) != getattr(original, name)

    # The Deployment's env (fieldRefs resolved as the kubelet would) and its args.
    env: dict[str, str] = {}
    for name, entry in env_of(objects.container).items():
        env[name] = POD_NAME if name == "POD_NAME" else pod.local(entry["value"])
    # Stand-ins for what the pod has and this machine does not: the ServiceAccount's
    # in-cluster credentials (a kubeconfig for the simulated API server) and a network
    # namespace of its own (listen on loopback, free ports; the HCL keeps 0.0.0.0:8080).
    env.update({"KUBECONFIG": str(kubeconfig), "GOTTY_ADDRESS": "127.0.0.1", "GOTTY_PORT": "0",
                "GOTTY_OPS_ADDRESS": "127.0.0.1", "GOTTY_OPS_PORT": "0"})
    args = [pod.local(a) for a in objects.container["args"]]
    assert Path(args[2]).is_file() and args[2].endswith("/kubernetes/kube-exec.sh")
    server = start_gotty(*args, env=env, expect_url=False, home=env["HOME"])
    portal_process: subprocess.Popen[str] | None = None
    try:
        url = server.url = console_url(server)
        # Ready as shipped: the audit trail it requires is usable (the probe the
        # Deployment's readinessProbe asks).
        assert readyz(server) == (200, "ready\n")
        portal_process, portal_url = start_portal(objects.directory / "keys", url)
        status, location = launch(portal_url, "alice", "alice-demo", "team-a/web-0")
        assert status == 303 and location.startswith(url + "?jwt="), location
        client = open_session(server, "?" + urllib.parse.urlsplit(location).query)
        assert client.recv() == "3alice: team-a/web-0"
        processes = start_job(client)
        records = list(state.iterdir())
        assert len(records) == 1  # kube-exec.sh's preamble recorded the pod's shell
        client.abort()  # the browser vanishes: no close frame

        wait_for(lambda: all_gone(processes), 40, message="the pod's shell and its job to end")
        audit = pod.mapping["/var/lib/gotty/audit"]
        assert audit.name == POD_NAME  # this pod's own subdirectory of the volume
        events = audit / "sessions.jsonl"

        cleanup = wait_for(lambda: cleanup_event(events), 20,
                           message="the cleanup outcome in the event log")
        assert cleanup["ok"] is True, cleanup
        assert not records[0].exists()  # the cleanup removed it after its last check
        assert cleanup["argv"][0] == str(pod.mapping[IMAGE_PREFIX] / "kubernetes/kube-cleanup.sh")
        assert cleanup["argv"][1:] == ["team-a", "web-0", "app", records[0].name]
        recordings = list(audit.rglob("*.cast"))
        assert len(recordings) == 1 and recordings[0].parent.name == "alice", recordings
        assert recordings[0].name.startswith("team-a-web-0-")
        assert b"JOB=" in recordings[0].read_bytes()
        # Signed checkpoints, the server still running: the log is OPEN, not sealed.
        verify = assert_audit_verifies(events, objects.directory / "keys" / f"{AUDIT_KEY}.pub")
        assert "OPEN" in verify.stdout
        assert not [p for p in sim.processes() if p.alive and "gotty-session" in p.command]
        # What Prometheus scrapes from the ops port says the same.
        samples = scrape(server)
        assert value(samples, "gotty_py_sessions_total", outcome="network-lost") == 1
        assert value(samples, "gotty_py_cleanups_total", result="ok") == 1
    finally:
        if portal_process is not None:
            portal_process.terminate()
            portal_process.wait(timeout=10)
        server.stop()



def test_the_workstation_config_agrees_with_the_shipped_one(rendered: dict[str, Rendered],
                                                            tmp_path: Path) -> None:
    """config/kubernetes.hcl (the console outside a cluster) differs from the ConfigMap's
    HCL only where a workstation must: listen addresses, log format, and the three paths,
    which are relative to config/ there and name the repository's files."""
    shipped = hcl_options(rendered["."].hcl, tmp_path)
    local = load_options({"config": str(ROOT / "config/kubernetes.hcl")}, {},
                         home="/nonexistent").options
    differing = {f.name for f in fields(Options)
                 if getattr(shipped, f.name) != getattr(local, f.name)} - {"config"}
    assert differing == {"address", "ops_address", "log_format", "jwt_jwks_file",
                         "cleanup_command", "audit_dir", "audit_checkpoint_key"}, differing
    assert shlex.split(local.cleanup_command)[1:] == shlex.split(shipped.cleanup_command)[1:]
    config_dir = ROOT / "config"
    cleanup = (config_dir / shlex.split(local.cleanup_command)[0]).resolve()
    assert cleanup == ROOT / "examples/kubernetes/kube-cleanup.sh"
    assert (config_dir / local.jwt_jwks_file).resolve() == ROOT / "deploy/keys/console-jwks.json"
    assert (config_dir / local.audit_checkpoint_key).resolve() == ROOT / "deploy/keys" / AUDIT_KEY
    assert Path(shlex.split(shipped.cleanup_command)[0]).name == cleanup.name


# --- the native kubernetes backend (overlays/native) ----------------------------------------

IMPERSONATION_RULES = [
    {"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]},
    {"apiGroups": ["authentication.k8s.io"], "resources": ["userextras/gotty-session-id"],
     "verbs": ["impersonate"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"],
     "verbs": ["create"]},
]
CONSOLE_SUBJECTS = [{"kind": "ServiceAccount", "name": "gotty-console", "namespace": CONSOLE_NS}]


def test_native_rbac_impersonates_and_never_execs(rendered: dict[str, Rendered]) -> None:
    objects = rendered[NATIVE]
    roles = objects.all("Role")
    assert roles and len(roles) == len(objects.all("RoleBinding"))
    for role in roles:  # in each target namespace: read the pod (the policy's selector)
        assert role["metadata"]["namespace"] != CONSOLE_NS
        assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    for binding in objects.all("RoleBinding"):
        assert binding["subjects"] == CONSOLE_SUBJECTS
    [cluster_role] = objects.all("ClusterRole")
    assert cluster_role["rules"] == IMPERSONATION_RULES
    [cluster_binding] = objects.all("ClusterRoleBinding")
    assert cluster_binding["subjects"] == CONSOLE_SUBJECTS
    assert cluster_binding["roleRef"]["name"] == cluster_role["metadata"]["name"]
    every_resource = {r for o in (*roles, cluster_role) for rule in o["rules"]
                      for r in rule["resources"]}
    assert "pods/exec" not in every_resource  # exec only ever as the user


def test_native_configuration_fits_the_deployment(rendered: dict[str, Rendered],
                                                  tmp_path: Path) -> None:
    objects = rendered[NATIVE]
    options = hcl_options(objects.hcl, tmp_path)
    assert (options.backend, options.k8s_in_cluster, options.k8s_impersonate) == (
        "kubernetes", True, True)
    assert not options.cleanup_command  # built in: the backend's second exec
    namespaces = {r["metadata"]["namespace"] for r in objects.all("Role")}
    assert set(options.k8s_namespaces.split(",")) == namespaces
    assert objects.container["args"] == ["--config", "/etc/gotty/config/gotty.hcl", "bash"]
    grace = objects.pod_spec["terminationGracePeriodSeconds"]
    # A session's end (closing the stream, then the cleanup exec) fits within the drain.
    assert options.k8s_cleanup_timeout + 5 < options.drain_timeout <= grace - 10
    assert objects.pod_spec["automountServiceAccountToken"] is True
    assert objects.pod_spec["enableServiceLinks"] is False


def rbac_rule(objects: Rendered) -> Callable[[Attributes], bool]:
    """The simulator's RBAC from the rendered Roles and ClusterRoles bound to the console's
    ServiceAccount, plus the user alice's own right to exec in team-a."""
    groups = {"userextras": "authentication.k8s.io",
              "subjectaccessreviews": "authorization.k8s.io"}
    cluster = [rule for role in objects.all("ClusterRole") for rule in role["rules"]]
    by_namespace = {role["metadata"]["namespace"]: role["rules"] for role in objects.all("Role")}

    def allowed(a: Attributes) -> bool:
        if a.user != CONSOLE_USER:
            return (a.user, a.namespace, a.resource, a.subresource) == (
                "alice", "team-a", "pods", "exec") and a.verb in ("create", "get")
        resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        rules = [*cluster, *by_namespace.get(a.namespace, [])]
        return any(groups.get(a.resource, "") in rule["apiGroups"]
                   and resource in rule["resources"] and a.verb in rule["verbs"]
                   for rule in rules)
    return allowed


def test_the_native_configuration_works_unmodified(rendered: dict[str, Rendered],
                                                   tmp_path: Path) -> None:
    objects = rendered[NATIVE]
    state = tmp_path / "pod-state"
    target = SimPod("team-a", "web-0", ("app",), env=(("GOTTY_STATE_DIR", str(state)),))
    with K8sSimulator([target], workdir=tmp_path / "sim", authorize=rbac_rule(objects)) as sim:
        assert sim.tls is not None and sim.token is not None
        pod = build_local_pod(objects, tmp_path)
        config_local = Path(pod.local(objects.container["args"][1]))
        config_local.write_text(pod.local(config_local.read_text()))
        # Stand-ins for the pod's service account (its automounted token and CA, and the
        # service's address) and for a network namespace of its own.
        account = tmp_path / "serviceaccount"
        account.mkdir()
        (account / "token").write_text(sim.token)
        (account / "ca.crt").write_bytes(sim.tls.ca_pem)
        host, port = sim.url.removeprefix("https://").split(":")
        env = {name: POD_NAME if name == "POD_NAME" else pod.local(entry["value"])
               for name, entry in env_of(objects.container).items()}
        env.update({"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port,
                    "GOTTY_K8S_SERVICE_ACCOUNT_DIR": str(account),
                    "GOTTY_ADDRESS": "127.0.0.1", "GOTTY_PORT": "0",
                    "GOTTY_OPS_ADDRESS": "127.0.0.1", "GOTTY_OPS_PORT": "0"})
        args = [pod.local(a) for a in objects.container["args"]]
        server = start_gotty(*args, env=env, expect_url=False, home=env["HOME"])
        portal_process: subprocess.Popen[str] | None = None
        try:
            url = server.url = console_url(server)
            assert readyz(server) == (200, "ready\n")
            portal_process, portal_url = start_portal(objects.directory / "keys", url,
                                                      "native")
            status, location = launch(portal_url, "alice", "alice-demo", "team-a/web-0")
            assert status == 303, location
            client = open_session(server, "?" + urllib.parse.urlsplit(location).query)
            assert client.recv() == "3alice: team-a/web-0"
            processes = start_job(client)
            client.abort()
            wait_for(lambda: all_gone(processes), 40, message="the pod's shell and its job")
            events = pod.mapping["/var/lib/gotty/audit"] / "sessions.jsonl"
            cleanup = wait_for(lambda: cleanup_event(events), 20,
                               message="the cleanup in the event log")
            assert cleanup["ok"] is True, cleanup
            assert_audit_verifies(events)
            samples = scrape(server)
            assert value(samples, "gotty_py_sessions_total", outcome="network-lost") == 1
            assert value(samples, "gotty_py_cleanups_total", result="ok") == 1
        finally:
            if portal_process is not None:
                portal_process.terminate()
                portal_process.wait(timeout=10)
            server.stop()
        execs = [r for r in sim.requests() if r.path.endswith("/exec")]
        assert len(execs) == 2 and all(r.impersonate_user == "alice" for r in execs)
        assert all(r.authorization == "bearer-ok" for r in sim.requests())
        assert [r["user"] for r in sim.reviews()] == ["alice"]

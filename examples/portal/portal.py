"""A small example portal that issues gotty-py launch links (docs/jwt.md, README.md here).

The portal is the only place that knows who the user is and what they may open. It holds
the ES256 *private* key; the console (gotty-py) holds only the public key, as a JWKS. The
user picks a pod from their allow-list; the portal signs exactly those kubectl arguments
into a token valid for 60 seconds and redirects the browser to `CONSOLE/?jwt=TOKEN`.

    python portal.py keygen --out portal-es256.pem
    python portal.py jwks --private-key portal-es256.pem --kid 2025-01 > console-jwks.json
    gotty-py --jwt-jwks-file console-jwks.json --jwt-audience console \\
        --jwt-issuer portal -w kubectl
    python portal.py serve --private-key portal-es256.pem --kid 2025-01 \\
        --console-url http://127.0.0.1:8080/

For the Kubernetes console of deploy/ (command kube-exec.sh, not kubectl), `serve
--args kube-exec` signs the recipe's NAMESPACE POD CONTAINER SHELL instead, and `--target
NAMESPACE/POD/CONTAINER[/SHELL]` replaces the demo allow-lists with pods of your cluster.
For the native kubernetes backend (`--backend kubernetes`, deploy/overlays/native), `serve
--args native` signs the target as the `k8s` claim (namespace, pod, container, command).

Needs only Tornado, PyJWT and cryptography (not gotty-py). DEMO: users, passwords and
allow-lists are hard-coded below, and login is HTTP Basic; a real portal takes the user
from its single sign-on session and the allow-list from its own authorization rules.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import html
import json
import os
import secrets
import sys
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import jwt
import tornado.netutil
import tornado.web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tornado.httpserver import HTTPServer


@dataclass(frozen=True)
class Target:
    """A pod a user may open: the portal's allow-list entry, never typed by the user."""

    namespace: str
    pod: str
    container: str = ""
    shell: str = "sh"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.pod}"

    def kubectl_args(self) -> list[str]:
        """Appended by gotty-py to its command (`kubectl`): argv, never a shell string."""
        args = ["exec", "-it", self.pod, "-n", self.namespace]
        if self.container:
            args += ["-c", self.container]
        return [*args, "--", self.shell]

    def recipe_args(self) -> list[str]:
        """Appended to examples/kubernetes/kube-exec.sh: NAMESPACE POD CONTAINER SHELL.

        The recipe's cleanup names the container too, so a target without one cannot be
        opened this way (`serve --args kube-exec` refuses such a target at start-up)."""
        if not self.container:
            raise ValueError(f"{self.key}: kube-exec needs a container name")
        return [self.namespace, self.pod, self.container, self.shell]

    def args(self, style: str) -> list[str]:
        if style == "native":
            return []  # the kubernetes backend takes its target from the k8s claim
        return self.recipe_args() if style == "kube-exec" else self.kubectl_args()

    def k8s_claim(self) -> dict[str, Any]:
        """The kubernetes backend's target (docs/kubernetes.md, "The claims")."""
        claim: dict[str, Any] = {"namespace": self.namespace, "pod": self.pod,
                                 "command": [self.shell]}
        if self.container:
            claim["container"] = self.container
        return claim


def parse_target(text: str) -> Target:
    """`NAMESPACE/POD/CONTAINER[/SHELL]`, as given to `serve --target`."""
    parts = text.split("/")
    if len(parts) not in (3, 4) or not all(parts):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAMESPACE/POD/CONTAINER or NAMESPACE/POD/CONTAINER/SHELL")
    return Target(*parts)


# DEMO ONLY: who exists, their passwords, and what each may open.
DEMO_USERS: dict[str, tuple[str, list[Target]]] = {
    "alice": ("alice-demo", [Target("prod", "web-1"), Target("prod", "web-2", "nginx")]),
    "bob": ("bob-demo", [Target("staging", "api-0", shell="bash")]),
}

TOKEN_TTL = 60  # seconds: the link is for opening the console now, not for bookmarking

# What the console runs, and so what the token's `args` claim holds (see Target.args).
# "native": the kubernetes backend (--backend kubernetes), which reads the `k8s` claim.
ARG_STYLES = ("kubectl", "kube-exec", "native")


@dataclass(frozen=True)
class PortalConfig:
    private_key: ec.EllipticCurvePrivateKey
    kid: str
    console_url: str
    audience: str
    issuer: str
    arg_style: str = "kubectl"
    # DEMO: when given, every demo user may open exactly these instead of their own list.
    targets: tuple[Target, ...] = ()


def mint(config: PortalConfig, user: str, target: Target) -> str:
    """The launch token: exactly these args, for this user, once, for a minute."""
    now = int(time.time())
    claims = {
        "sub": user,
        "aud": config.audience,
        "iss": config.issuer,
        "iat": now,
        "exp": now + TOKEN_TTL,
        "jti": secrets.token_urlsafe(16),
        "args": target.args(config.arg_style),
        "ns": target.namespace,  # extra claims: for the console's title and audit log
        "pod": target.pod,
    }
    if config.arg_style == "native":
        claims["k8s"] = target.k8s_claim()
    return jwt.encode(claims, config.private_key, algorithm="ES256",
                      headers={"kid": config.kid})


class PortalHandler(tornado.web.RequestHandler):
    @property
    def config(self) -> PortalConfig:
        config: PortalConfig = self.settings["portal_config"]
        return config

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Content-Security-Policy", "default-src 'none'; form-action 'self' "
                        + urllib.parse.urljoin(self.config.console_url, "/"))

    def get_current_user(self) -> str | None:
        """DEMO login (HTTP Basic against DEMO_USERS); a real portal uses its SSO session."""
        header = self.request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None
        known = DEMO_USERS.get(user)
        if known is None or not secrets.compare_digest(known[0], password):
            return None
        return user

    def prepare(self) -> None:
        if self.current_user is None:
            self.set_status(401)
            self.set_header("WWW-Authenticate", 'Basic realm="demo portal"')
            self.finish("log in as alice/alice-demo or bob/bob-demo\n")

    def targets(self) -> dict[str, Target]:
        allowed = self.config.targets or DEMO_USERS[self.current_user][1]
        return {target.key: target for target in allowed}


class IndexHandler(PortalHandler):
    def get(self) -> None:
        forms = "".join(
            f'<form method="post" action="launch">{self.xsrf_form_html()}'
            f'<input type="hidden" name="target" value="{html.escape(key)}">'
            f'<button>Open a shell in {html.escape(key)}</button></form>'
            for key in self.targets()
        )
        self.finish(f"<!doctype html><title>Demo portal</title>"
                    f"<p>Hello {html.escape(self.current_user)}.</p>{forms}")


class LaunchHandler(PortalHandler):
    def post(self) -> None:
        target = self.targets().get(self.get_body_argument("target", ""))
        if target is None:  # not on this user's allow-list: nothing is signed
            raise tornado.web.HTTPError(403)
        token = mint(self.config, self.current_user, target)
        separator = "&" if "?" in self.config.console_url else "?"
        self.redirect(f"{self.config.console_url}{separator}jwt={token}", status=303)


def load_private_key(path: str) -> ec.EllipticCurvePrivateKey:
    with open(path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise SystemExit(f"{path}: expected an EC P-256 private key (ES256)")
    return key


def public_jwks(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, object]:
    """What the console needs: the public half, with its kid (add the next key here
    before the portal starts signing with it, remove the old one after its tokens expired)."""
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
    return {"keys": [jwk]}


async def serve(config: PortalConfig, address: str, port: int) -> None:
    app = tornado.web.Application(
        [(r"/", IndexHandler), (r"/launch", LaunchHandler)],
        xsrf_cookies=True,
        portal_config=config,
    )
    sockets = tornado.netutil.bind_sockets(port, address)
    server = HTTPServer(app)
    server.add_sockets(sockets)
    bound = sockets[0].getsockname()[1]
    print(f"Portal listening at http://{address}:{bound}/", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="write a new ES256 private key (PEM)")
    keygen.add_argument("--out", required=True)
    jwks = commands.add_parser("jwks", help="print the console's JWKS for a private key")
    run = commands.add_parser("serve", help="run the portal")
    for sub in (jwks, run):
        sub.add_argument("--private-key", required=True)
        sub.add_argument("--kid", required=True)
    run.add_argument("--console-url", required=True)
    run.add_argument("--audience", default="console")
    run.add_argument("--issuer", default="portal")
    run.add_argument("--address", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--args", dest="arg_style", choices=ARG_STYLES, default="kubectl",
                     help="what the console runs: kubectl (args: exec -it POD -n NS ...), "
                          "kube-exec (the recipe of deploy/: NAMESPACE POD CONTAINER SHELL) or "
                          "native (--backend kubernetes: the k8s claim, no args)")
    run.add_argument("--target", action="append", type=parse_target, default=[],
                     metavar="NAMESPACE/POD/CONTAINER[/SHELL]",
                     help="DEMO: a pod every demo user may open, instead of the built-in "
                          "allow-lists (repeatable)")
    args = parser.parse_args(argv)

    if args.command == "keygen":
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # Readable by its owner only, and never overwriting a key that may be in use.
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return
    key = load_private_key(args.private_key)
    if args.command == "jwks":
        json.dump(public_jwks(key, args.kid), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    config = PortalConfig(key, args.kid, args.console_url, args.audience, args.issuer,
                          args.arg_style, tuple(args.target))
    if config.arg_style == "kube-exec":
        offered = config.targets or [t for _, targets in DEMO_USERS.values() for t in targets]
        missing = [t.key for t in offered if not t.container]
        if missing:
            parser.error(f"--args kube-exec needs a container for every target; "
                         f"{', '.join(missing)} has none (give --target NS/POD/CONTAINER)")
    asyncio.run(serve(config, args.address, args.port))


if __name__ == "__main__":
    main()

"""TLS material for the simulated API server, made with the suite's shared `tests.certs`.

kubectl sends a bearer token only over TLS, so checking tokens needs https. The CA goes into
the kubeconfig as ``certificate-authority-data``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from tests.certs import make_pki


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of the generated PEM files plus the CA bytes for kubeconfigs."""

    ca_pem: bytes
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """The context Tornado's HTTPServer serves with."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A context that trusts only this CA, for tests talking to the simulator."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def generate_tls(
    directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> TlsMaterial:
    """Write a CA and a server certificate for `hosts` into `directory`."""
    pki = make_pki(directory, hosts)
    return TlsMaterial(ca_pem=pki.ca_pem, ca_file=pki.ca_crt, cert_file=pki.server_crt,
                       key_file=pki.server_key)

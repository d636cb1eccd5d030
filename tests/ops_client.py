"""Reading a test server's operations listener: its metrics (with prometheus_client's own
parser) and its readiness."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.gotty import GottyProcess, http_request

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: GottyProcess) -> Samples:
    response = http_request(server.ops_url + "metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def metric(server: GottyProcess, name: str, **labels: str) -> float:
    return value(scrape(server), name, **labels)


def readyz(server: GottyProcess) -> tuple[int, str]:
    response = http_request(server.ops_url + "readyz")
    return response.status, response.text

"""Health checks: what the server's readiness (`/readyz`) asks of its parts.

Rules of this module: a part that can make the server unable to serve (a shared store that
is unreachable, an audit trail that cannot be written under `--audit-required`) offers a
`HealthCheck`; the checks are given to the readiness probe at construction. A check answers
quickly (it bounds its own I/O) and says why it is unhealthy in words an operator can act
on, or None.
"""

from __future__ import annotations

from typing import Protocol


class HealthCheck(Protocol):
    """One part's answer to "can you serve now?"."""

    @property
    def name(self) -> str:
        """Short and stable, e.g. `store` or `audit`: the label of the readiness reason."""

    async def problem(self) -> str | None:
        """Why this part cannot serve now, or None when it can."""

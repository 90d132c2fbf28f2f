"""The contract of a vendor poller: usage and cost APIs polled on an interval (central mode)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client.core import Metric


class VendorPoller(Protocol):
    """Polls one vendor API. Built as `factory(config)`; `restore` loads its checkpointed state.

    The service calls `poll(now)` from the ingestion thread whenever `due(now)` is true, then
    checkpoints `export_state()` together with everything else, and only after that calls
    `publish()`; `collect()` must render what was last published, so a scrape never sees
    numbers that a crash could take back.
    """

    name: str
    up: bool
    last_success: float | None
    errors: dict[str, float]

    def due(self, now: float) -> bool: ...

    def poll(self, now: float) -> None: ...

    def export_state(self) -> dict: ...

    def restore(self, state: dict) -> None: ...

    def publish(self) -> None: ...

    def collect(self) -> Iterable[Metric]: ...

    def close(self) -> None: ...

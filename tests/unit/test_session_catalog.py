"""The session plan cache: read again after a minute, or kept while the session index names it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from stockpulse.domain.session import SessionConfig, SessionPlan, SkuConfig
from stockpulse.session_catalog import SessionCatalog

START = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


def plan(forecast: int) -> SessionPlan:
    return SessionPlan(
        session=SessionConfig(session_id="s", starts_at=START, ends_at=START + timedelta(hours=2)),
        skus=[SkuConfig(sku_id="a", on_hand=100, forecast=forecast)],
    )


class Store:
    """The session item as `DynamoLedgerStore.load_session` writes it; counts the reads."""

    def __init__(self, stored: SessionPlan, *, digest: bool = True) -> None:
        self.reads = 0
        self.load(stored, digest=digest)

    def load(self, stored: SessionPlan, *, digest: bool = True) -> None:
        self.item: dict[str, Any] = {"plan": stored.model_dump_json()}
        if digest:
            self.item["plan_digest"] = stored.digest

    def session(self, session_id: str) -> dict[str, Any] | None:
        self.reads += 1
        return self.item


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_evaluator_keeps_its_plan_while_the_index_names_that_plan() -> None:
    store, clock = Store(plan(60)), Clock()
    catalog = SessionCatalog(store, monotonic=clock)  # type: ignore[arg-type]
    for minute in range(5):  # one run a minute: each older than max_age
        clock.now = 61.0 * minute
        found = catalog.plan("s", digest=plan(60).digest)
        assert found is not None and found.skus[0].forecast == 60
        clock.now += 30.0
        assert catalog.plan("s") is found  # the run's other lookups (a SKU's alert settings)
    assert store.reads == 1


def test_a_reloaded_plan_is_read_at_once_when_the_index_names_a_new_digest() -> None:
    store, clock = Store(plan(60)), Clock()
    catalog = SessionCatalog(store, monotonic=clock)  # type: ignore[arg-type]
    catalog.plan("s", digest=plan(60).digest)
    store.load(plan(90))
    clock.now = 1.0  # well within max_age
    found = catalog.plan("s", digest=plan(90).digest)
    assert found is not None and found.skus[0].forecast == 90 and store.reads == 2


def test_without_digests_the_plan_is_read_again_after_max_age() -> None:
    """Callers that know no digest (the hot path), and sessions loaded before digests were kept."""
    store, clock = Store(plan(60), digest=False), Clock()
    catalog = SessionCatalog(store, monotonic=clock)  # type: ignore[arg-type]
    catalog.plan("s", digest=plan(60).digest)
    clock.now = 30.0
    catalog.plan("s", digest=plan(60).digest)
    catalog.plan("s")
    assert store.reads == 1
    clock.now = 61.0
    catalog.plan("s")
    assert store.reads == 2

"""Session plans as the service reads them, cached per container."""

from __future__ import annotations

import time
from collections.abc import Callable

from stockpulse.domain.events import InvalidEvent, OrderEvent
from stockpulse.domain.session import SessionPlan, SkuConfig, event_time_problem
from stockpulse.ports import LedgerStore


class SessionCatalog:
    """Session plans, cached per container: they do not change while a session is live (a
    reload writes a new one, with a new digest)."""

    def __init__(
        self,
        store: LedgerStore,
        *,
        max_age_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        # session -> (read at, the plan or None, its digest as stored)
        self._plans: dict[str, tuple[float, SessionPlan | None, str | None]] = {}

    def plan(self, session_id: str, *, fresh: bool = False, digest: str | None = None) -> SessionPlan | None:
        """The session's plan, read again after `max_age_s`; `digest`: the plan's digest as the
        session index names it this minute (the evaluator's), which says whether the copy held
        is current whatever its age: a plan of 200 SKUs is about 20 read units a read."""
        cached = self._plans.get(session_id)
        if cached is not None and not fresh:
            read_at, plan, stored = cached
            if digest is not None and stored is not None:
                if stored == digest:  # as good as read now, for the callers that know no digest too
                    self._plans[session_id] = (self._monotonic(), plan, stored)
                    return plan
            elif self._monotonic() - read_at < self._max_age_s:
                return plan
        raw = self._store.session(session_id)
        plan = SessionPlan.model_validate_json(raw["plan"]) if raw else None
        self._plans[session_id] = (
            self._monotonic(),
            plan,
            str(raw["plan_digest"]) if raw and "plan_digest" in raw else None,
        )
        return plan

    def time_problem(self, event: OrderEvent) -> InvalidEvent | None:
        """The event's `occurred_at` outside the sane window around its session (or the absolute
        bounds, for an unknown session): malformed, rejected `invalid` before any write."""
        plan = self.plan(event.session_id) or self.plan(event.session_id, fresh=True)
        problem = event_time_problem(event.occurred_ms, plan.session if plan else None)
        return InvalidEvent("occurred_at", problem, event.event_id) if problem else None

    def sku(self, session_id: str, sku_id: str) -> SkuConfig | None:
        plan = self.plan(session_id)
        found = plan.sku(sku_id) if plan else None
        if found is None:  # a session loaded after this container cached its absence
            plan = self.plan(session_id, fresh=True)
            found = plan.sku(sku_id) if plan else None
        return found

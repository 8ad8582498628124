"""The pre-show check (the article's step 1): before the show, a SKU whose sellable stock is
under its warning line gets one message with the units to add.

Run when a session is loaded (`stockpulse session load`, and at the start of every replay). A
SKU whose pre-show message is recorded gets none again; the record is written after the publish,
so a failed publish is retried by loading again (at least once: a crash between the two sends it
twice). Without a publisher (a bare table, no alerts topic) the messages are only returned.
"""

from __future__ import annotations

from typing import Any

from stockpulse.domain import forecast
from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.session import SessionPlan
from stockpulse.domain.tiers import Tier
from stockpulse.ports import AlertPublisher, LedgerStore
from stockpulse.tier_settling import notice_for


def announce_pre_show(
    store: LedgerStore, publisher: AlertPublisher | None, plan: SessionPlan, at_ms: int
) -> list[AlertNotice]:
    """One PRE_SHOW notice per short SKU, dated `at_ms` (no later than the show's start)."""
    session_id = plan.session.session_id
    at_ms = min(at_ms, plan.session.starts_ms)
    sent: list[AlertNotice] = []
    for sku in plan.skus:
        line, add = forecast.pre_show_shortfall(
            forecast=sku.forecast,
            lead_time_days=sku.lead_time_days,
            has_history=sku.has_history,
            sellable=sku.on_hand - sku.held,
            pack_size=sku.pack_size,
        )
        if add <= 0:
            continue
        item = store.stock(session_id, sku.sku_id)
        if item is None:
            continue
        alert: dict[str, Any] = {
            "alert_id": f"{session_id}#{sku.sku_id}#pre_show",
            "kind": NoticeKind.PRE_SHOW.value,
            "tier": Tier.NONE.value,
            "previous_tier": Tier.NONE.value,
            "at_ms": at_ms,
            "restock_units": add,
            "warning_line": line,
        }
        if any(a.get("kind") == NoticeKind.PRE_SHOW.value for a in store.alerts(session_id, sku.sku_id)):
            continue  # sent when this session was loaded before
        notice = notice_for(item, item.levels, alert, sku)
        if publisher is not None:
            publisher.publish(notice)
            # Keyed at the show's start, whenever it is loaded: one record per SKU and show.
            store.record_alert(session_id, sku.sku_id, alert, plan.session.starts_ms)
        sent.append(notice)
    return sent

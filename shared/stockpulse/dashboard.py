"""The big screen's read model: JSON views of a live session, built from the ledger store.

Read-only. Everything comes from the items the other functions write (docs/architecture.md):
the SESSION item (the plan), each SKU's STOCK item (ledger, tier, thresholds), its FORECAST item
(written by the threshold evaluator when it changed: per-minute samples as change points, which
the session index item's run minutes expand, velocity, hot start) and its ALERT items. A FORECAST
item may be missing (the evaluator has not run yet): the series is then empty and the velocity is
the one stored on the stock item (0 at the opening).

Numbers shown to people are recomputed from the freshest values: the sell-out ETA and the restock
quantity use the stock item's `available` (changed by every order) with the evaluator's velocity,
so the big screen does not lag a minute behind the ledger. The expected band is computed per
sample minute with `forecast.expected_band` from the effective forecast F (the one the tiers use
now, with the dynamic forecast and restocks), so the curve and its band share the same x values
and the band ends on the tier lines: [yellow x F, red x F], the top on the stop line.

"Now" (`as_of_ms`) is the injected clock when there is one (the local runner passes its virtual
clock); otherwise the evaluator's last run (`evaluated_ms` on the session index item: the data's
own clock, which is the virtual clock in a replay and at most a minute old in AWS); otherwise
the system clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stockpulse.adapters.clock import SystemClock
from stockpulse.domain import forecast, messages, sample_log
from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.events import MINUTE_MS, from_epoch_ms, rfc3339
from stockpulse.domain.session import SessionPlan, SkuConfig
from stockpulse.domain.tiers import TIER_ACTIONS_EN, TIER_ACTIONS_ZH, Tier, TierInputs, exact
from stockpulse.ports import Clock, DashboardStore
from stockpulse.records import StockItem
from stockpulse.settings import Settings

ALERTS_DEFAULT_LIMIT = 50
ALERTS_MAX_LIMIT = 200

TierName = Literal["none", "yellow", "orange", "red"]
SessionStatus = Literal["upcoming", "live", "ended"]


class NotFound(LookupError):
    """The session or the SKU does not exist (the API answers 404)."""


# -- response models ------------------------------------------------------------------------------
class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LedgerView(_View):
    on_hand: int
    held: int
    reserved: int
    sold: int
    available: int


class PlatformView(_View):
    platform: str
    used: int = Field(description="units of this platform's orders currently reserved or sold")
    cap: int | None = Field(description="the platform's quota; null when uncapped")
    headroom: int | None = Field(description="quota left; null when uncapped")


class TierLines(_View):
    """Consumption (units) at which each tier starts: ratio x effective forecast."""

    yellow: float
    orange: float
    red: float


class ForecastView(_View):
    configured: int = Field(description="the plan's forecast (units for the session)")
    effective: float = Field(description="F the tiers use now: dynamic forecast + restocked / red ratio")
    ratios: TierLines
    lines: TierLines
    dynamic: bool
    hot_start: bool
    has_history: bool
    lead_time_days: float


class SeriesView(_View):
    """One point per evaluator minute (oldest first): the consumption curve and its expected band."""

    minute_ms: list[int] = Field(default_factory=list)
    taken: list[int] = Field(
        default_factory=list, description="cumulative units taken for orders by that minute (`taken`)"
    )
    consumption: list[int] = Field(default_factory=list, description="reserved + sold at that minute")
    band_low: list[float] = Field(default_factory=list)
    band_high: list[float] = Field(default_factory=list)


class BandPoint(_View):
    minute_ms: int
    low: float
    high: float


class SkuView(_View):
    sku_id: str
    name: str
    importance: str
    tier: TierName
    paused: bool
    ledger: LedgerView
    consumption: int = Field(description="reserved + sold")
    velocity: float = Field(description="smoothed units per minute")
    sell_out_eta_minutes: float | None = Field(description="at the current velocity; null when not selling")
    restock_quantity: int = Field(description="units to add to last to the end of the session")
    forecast: ForecastView
    platforms: list[PlatformView]
    series: SeriesView
    band_end: BandPoint = Field(
        description="the expected band at the end of the session, from the effective forecast"
    )
    forecast_updated_ms: int | None = Field(description="when the evaluator last wrote; null: never")
    action_en: str = Field(description="what to do at this tier (empty at none)")
    action_zh: str


class SkuSummary(_View):
    sku_id: str
    name: str
    tier: TierName
    available: int
    paused: bool


class SessionView(_View):
    session_id: str
    starts_ms: int
    ends_ms: int
    starts_at: str
    ends_at: str
    utc_offset_minutes: int = Field(
        description="the show's UTC offset (from its starts_at): the screen tells time as the studio does"
    )
    as_of_ms: int
    as_of: str
    status: SessionStatus
    minutes_elapsed: float
    minutes_left: float
    tiers: dict[TierName, int] = Field(description="how many SKUs stand in each tier")
    skus: list[SkuSummary]


class SkusView(_View):
    session_id: str
    as_of_ms: int
    starts_ms: int
    ends_ms: int
    skus: list[SkuView]


class SkuResponse(_View):
    session_id: str
    as_of_ms: int
    starts_ms: int
    ends_ms: int
    sku: SkuView


class AlertView(_View):
    alert_id: str
    kind: str = Field(description="pre_show / alert / repeat / resolved / sold_out / slow")
    sku_id: str
    sku_name: str
    tier: TierName
    previous_tier: TierName
    at_ms: int
    at: str
    action_en: str
    action_zh: str


class AlertsView(_View):
    session_id: str
    limit: int
    alerts: list[AlertView] = Field(description="newest first")


def session_index(store: DashboardStore, session_id: str) -> dict[str, Any]:
    """The session's index item: the minutes the evaluator ran, `evaluated_ms` its last run."""
    return dict(store.session_index(session_id) or {})


def read_forecast(
    store: DashboardStore, session_id: str, sku_id: str, index: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The evaluator's FORECAST item (one GetItem) as it reads with the session's `index` item,
    or None when it has not been written yet."""
    found = store.forecast_item(session_id, sku_id)
    return sample_log.shown(found, index) if found is not None else None


# -- the read model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Session:
    session_id: str
    plan: SessionPlan
    starts_ms: int
    ends_ms: int


class DashboardReader:
    """Builds the views. Every call reads the table afresh (the big screen polls every few seconds)."""

    def __init__(self, store: DashboardStore, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock

    # -- endpoints
    def session_view(self, session_id: str) -> SessionView:
        s = self._session(session_id)
        rows = [(sku, self._stock(s, sku)) for sku in s.plan.skus]
        as_of = self._as_of({} if self.clock else session_index(self.store, session_id))
        tiers: dict[TierName, int] = {"none": 0, "yellow": 0, "orange": 0, "red": 0}
        summaries = []
        for sku, item in rows:
            tier = _tier_name(item.tier.tier)
            tiers[tier] += 1
            summaries.append(
                SkuSummary(
                    sku_id=sku.sku_id,
                    name=sku.name or sku.sku_id,
                    tier=tier,
                    available=item.levels.available,
                    paused=item.levels.paused,
                )
            )
        return SessionView(
            session_id=session_id,
            starts_ms=s.starts_ms,
            ends_ms=s.ends_ms,
            starts_at=rfc3339(s.starts_ms),
            ends_at=rfc3339(s.ends_ms),
            utc_offset_minutes=_utc_offset_minutes(s.plan),
            as_of_ms=as_of,
            as_of=rfc3339(as_of),
            status="upcoming" if as_of < s.starts_ms else "ended" if as_of >= s.ends_ms else "live",
            minutes_elapsed=_minutes(as_of - s.starts_ms, s),
            minutes_left=_minutes(s.ends_ms - as_of, s),
            tiers=tiers,
            skus=summaries,
        )

    def skus_view(self, session_id: str) -> SkusView:
        s = self._session(session_id)
        index = session_index(self.store, session_id)
        stocks = [
            (sku, self._stock(s, sku), read_forecast(self.store, session_id, sku.sku_id, index))
            for sku in s.plan.skus
        ]
        as_of = self._as_of(index)
        return SkusView(
            session_id=session_id,
            as_of_ms=as_of,
            starts_ms=s.starts_ms,
            ends_ms=s.ends_ms,
            skus=[_sku_view(s, sku, item, fc, as_of) for sku, item, fc in stocks],
        )

    def sku_view(self, session_id: str, sku_id: str) -> SkuResponse:
        s = self._session(session_id)
        sku = s.plan.sku(sku_id)
        if sku is None:
            raise NotFound(f"sku {sku_id!r} is not in session {session_id!r}")
        item = self._stock(s, sku)
        index = session_index(self.store, session_id)
        fc = read_forecast(self.store, session_id, sku_id, index)
        as_of = self._as_of(index)
        return SkuResponse(
            session_id=session_id,
            as_of_ms=as_of,
            starts_ms=s.starts_ms,
            ends_ms=s.ends_ms,
            sku=_sku_view(s, sku, item, fc, as_of),
        )

    def alerts_view(self, session_id: str, limit: int = ALERTS_DEFAULT_LIMIT) -> AlertsView:
        if not 1 <= limit <= ALERTS_MAX_LIMIT:
            raise ValueError(f"limit must be 1..{ALERTS_MAX_LIMIT}")
        s = self._session(session_id)
        alerts: list[AlertView] = []
        for sku in s.plan.skus:
            for raw in self.store.alerts(session_id, sku.sku_id):
                alerts.append(_alert_view(sku, raw))
        alerts.sort(key=lambda a: (a.at_ms, Tier(a.tier).rank, a.alert_id), reverse=True)
        return AlertsView(session_id=session_id, limit=limit, alerts=alerts[:limit])

    # -- reads
    def _session(self, session_id: str) -> _Session:
        raw = self.store.session(session_id)
        if raw is None or "plan" not in raw:
            raise NotFound(f"session {session_id!r} not found")
        plan = SessionPlan.model_validate_json(str(raw["plan"]))
        return _Session(
            session_id=session_id,
            plan=plan,
            starts_ms=int(raw.get("starts_ms", plan.session.starts_ms)),
            ends_ms=int(raw.get("ends_ms", plan.session.ends_ms)),
        )

    def _stock(self, s: _Session, sku: SkuConfig) -> StockItem:
        item = self.store.stock(s.session_id, sku.sku_id)
        if item is None:
            raise NotFound(f"sku {sku.sku_id!r} of session {s.session_id!r} has no stock item")
        return item

    def _as_of(self, index: Mapping[str, Any]) -> int:
        if self.clock is not None:
            return self.clock.now_ms()
        if "evaluated_ms" in index:
            return int(index["evaluated_ms"])
        return SystemClock().now_ms()


# -- building one SKU's view ----------------------------------------------------------------------------
def _sku_view(
    s: _Session, sku: SkuConfig, item: StockItem, fc: Mapping[str, Any] | None, as_of: int
) -> SkuView:
    lv, th = item.levels, item.thresholds
    fc = fc or {}
    velocity = max(0.0, _float(fc.get("velocity", item.pace.velocity)))
    ratios = sku.ratios if th.ratios is None else th.ratios.exact()
    f_eff = TierInputs(
        reserved=lv.reserved,
        sold=lv.sold,
        available=lv.available,
        restocked=lv.restocked,
        forecast=exact(sku.forecast if th.forecast_eff is None else th.forecast_eff),
        ratios=ratios,
    ).effective_forecast
    plan = forecast.SkuPlan(
        forecast=sku.forecast,
        starts_ms=s.starts_ms,
        ends_ms=s.ends_ms,
        lead_time_days=sku.lead_time_days,
        has_history=sku.has_history,
        dynamic=sku.dynamic,
        ratios=ratios,
    )
    caps = dict(item.plan.caps or sku.platform_quotas)
    platforms = sorted(set(lv.used) | set(caps))
    eta = forecast.sell_out_eta_minutes(lv.available, velocity)
    tier = _tier_name(item.tier.tier)
    end_low, end_high = forecast.expected_band(plan, plan.session_minutes, plan.session_minutes, float(f_eff))
    return SkuView(
        sku_id=sku.sku_id,
        name=item.plan.name or sku.name or sku.sku_id,
        importance=item.plan.importance or sku.importance,
        tier=tier,
        paused=lv.paused,
        ledger=LedgerView(
            on_hand=lv.on_hand, held=lv.held, reserved=lv.reserved, sold=lv.sold, available=lv.available
        ),
        consumption=lv.reserved + lv.sold,
        velocity=round(velocity, 3),
        sell_out_eta_minutes=None if eta is None else round(eta, 1),
        # The evaluator's number, as the messages give it (steadier pace, frozen while sold out).
        restock_quantity=int(fc.get("restock_quantity", item.pace.restock_units or 0)),
        forecast=ForecastView(
            configured=sku.forecast,
            effective=round(float(f_eff), 2),
            ratios=TierLines(yellow=float(ratios.yellow), orange=float(ratios.orange), red=float(ratios.red)),
            lines=TierLines(
                yellow=round(float(ratios.yellow * f_eff), 2),
                orange=round(float(ratios.orange * f_eff), 2),
                red=round(float(ratios.red * f_eff), 2),
            ),
            dynamic=sku.dynamic if th.dynamic is None else th.dynamic,
            hot_start=bool(fc.get("hot_start", False)),
            has_history=sku.has_history,
            lead_time_days=sku.lead_time_days,
        ),
        platforms=[
            PlatformView(
                platform=p,
                used=lv.used.get(p, 0),
                cap=caps.get(p),
                headroom=lv.headroom.get(p) if p in caps else None,
            )
            for p in platforms
        ],
        series=_series(plan, float(f_eff), fc.get("samples") or []),
        band_end=BandPoint(minute_ms=s.ends_ms, low=round(end_low, 2), high=round(end_high, 2)),
        forecast_updated_ms=int(fc["updated_ms"]) if "updated_ms" in fc else None,
        action_en=TIER_ACTIONS_EN.get(Tier(tier), ""),
        action_zh=TIER_ACTIONS_ZH.get(Tier(tier), ""),
    )


def _series(plan: forecast.SkuPlan, f_eff: float, samples: Sequence[Any]) -> SeriesView:
    minute_ms: list[int] = []
    taken: list[int] = []
    consumption: list[int] = []
    low: list[float] = []
    high: list[float] = []
    rows = sorted(
        (
            (int(row[0]), int(row[1]), int(row[2]))
            for row in samples
            if isinstance(row, Sequence) and not isinstance(row, str) and len(row) >= 3
        ),
        key=lambda r: r[0],
    )
    for at_ms, units, total in rows:
        band_low, band_high = forecast.expected_band(
            plan, (at_ms - plan.starts_ms) / MINUTE_MS, plan.session_minutes, f_eff
        )
        minute_ms.append(at_ms)
        taken.append(units)
        consumption.append(total)
        low.append(round(band_low, 2))
        high.append(round(band_high, 2))
    return SeriesView(minute_ms=minute_ms, taken=taken, consumption=consumption, band_low=low, band_high=high)


def _alert_view(sku: SkuConfig, raw: Mapping[str, Any]) -> AlertView:
    """One message of the feed, with what to do about it."""
    tier = _tier_name(raw.get("tier"))
    at_ms = int(raw["at_ms"])
    said = AlertNotice(
        alert_id=str(raw.get("alert_id", f"{sku.sku_id}#{at_ms}#{tier}")),
        kind=NoticeKind(str(raw.get("kind", "alert"))),
        session_id="", sku_id=sku.sku_id, sku_name=sku.name or sku.sku_id, tier=Tier(tier),
        previous_tier=Tier(_tier_name(raw.get("previous_tier"))), at=from_epoch_ms(at_ms),
        on_hand=0, held=0, reserved=0, sold=0, available=1,
        restock_quantity=int(raw.get("restock_units", 0)), paused=bool(raw.get("paused", False)),
    )  # fmt: skip
    return AlertView(
        alert_id=said.alert_id,
        kind=said.kind.value,
        sku_id=sku.sku_id,
        sku_name=said.sku_name,
        tier=tier,
        previous_tier=_tier_name(raw.get("previous_tier")),
        at_ms=at_ms,
        at=rfc3339(at_ms),
        action_en=_action(said, "en", bool(raw.get("stock_lasts", False))),
        action_zh=_action(said, "zh", bool(raw.get("stock_lasts", False))),
    )


def _action(said: AlertNotice, lang: messages.Lang, stock_lasts: bool) -> str:
    """The tier's action for a tier that stands (an alert, a repeat, a resolution to a lower
    tier): the feed has no restock number or ETA to tailor it with, and "no restock needed" from
    a missing number would contradict the IM card's "prepare a restock of 15". The message's own
    words for the other kinds, while selling is paused ("stop selling" was done already; below
    red, "resume selling" is the step left), and for an orange or a red whose stock lasts the
    show, as its item records (`stock_lasts`: "no need to slow the pitch", "... to stop selling")."""
    calm = messages.STOCK_LASTS.get(said.tier)
    if stock_lasts and calm is not None:
        en, zh, _ = calm
        return zh if lang == "zh" else en
    standing = (NoticeKind.ALERT, NoticeKind.REPEAT, NoticeKind.RESOLVED)
    if said.kind in standing and said.tier in TIER_ACTIONS_EN and not said.paused:
        return (TIER_ACTIONS_ZH if lang == "zh" else TIER_ACTIONS_EN)[said.tier]
    return messages.action_text(said, lang)


def _tier_name(value: Any) -> TierName:
    text = str(value or "none")
    if text == "yellow":
        return "yellow"
    if text == "orange":
        return "orange"
    if text == "red":
        return "red"
    return "none"


def _float(value: Any) -> float:
    if isinstance(value, Decimal | Fraction | int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def _utc_offset_minutes(plan: SessionPlan) -> int:
    offset = plan.session.starts_at.utcoffset()
    return 0 if offset is None else int(offset.total_seconds() // 60)


def _minutes(span_ms: int, s: _Session) -> float:
    session_minutes = max(0.0, (s.ends_ms - s.starts_ms) / MINUTE_MS)
    return round(min(session_minutes, max(0.0, span_ms / MINUTE_MS)), 2)


# -- one reader per container (Lambda) or per local server ---------------------------------------------
_installed: DashboardReader | None = None


def reader() -> DashboardReader:
    """The reader the handler uses: the installed one, or one built from the Lambda environment."""
    global _installed
    if _installed is None:
        from stockpulse.wiring import ledger_store  # boto3 only here, and only in AWS

        _installed = DashboardReader(ledger_store(Settings.from_environment()))
    return _installed


def install(value: DashboardReader | None) -> None:
    """Use `value` for every dashboard request in this process (the local server, tests); None resets."""
    global _installed
    _installed = value

"""The post-show review: per SKU, what sold, what buyers were refused, how long it was sold out or
paused, the tiers, who was told, the restock, and one line on what to change next show.

Built from the report and the scenario; a replay adds its `OutcomeLog` (why orders were refused)
and its `Timeline` (the curves, one row per minute). From a saved report alone the refused units
come from the report's orders (their reasons are not in it) and the curves from a `curves.csv`
a replay wrote beside it. A live or finished session read from the ledger table (`stockpulse
session status --review`, `replay.table_report`) has the reasons but no curves and no restock
units: its `Source` (`FROM_TABLE`) names what is unknown, and the review says so. Files:
`review.md` (Chinese and English), `review.csv` (one row per SKU), `curves.csv` (one row per
minute per SKU); docs/formats.md, "Post-show review".
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from stockpulse.domain.events import MINUTE_MS, EventType, epoch_ms, from_epoch_ms, parse_instant
from stockpulse.domain.ledger import Reason
from stockpulse.domain.messages import TIER_ZH
from stockpulse.domain.tiers import Tier
from stockpulse_local.channels import ORDER as CHANNELS
from stockpulse_local.progress import CHANNEL_NAMES, clock_text, utc_offset
from stockpulse_local.report import Message, Report, ShowReport
from stockpulse_local.scenario import Scenario
from stockpulse_local.timeline import OutcomeLog, Timeline

REVIEW_MD, REVIEW_CSV, CURVES_CSV = "review.md", "review.csv", "curves.csv"
# Why a buyer of one of the show's SKUs was turned away: the demand a shop could have sold.
DEMAND_REASONS = (Reason.INSUFFICIENT_STOCK.value, Reason.SKU_PAUSED.value, Reason.QUOTA_EXCEEDED.value)
REASON_ZH = {"insufficient_stock": "库存不足", "sku_paused": "暂停销售", "quota_exceeded": "超出平台配额"}
REFUSED_STATUSES = ("rejected", "refund_required")  # in the report: orders that never got their units
CHANNEL_ZH = {"feed": "大屏", "im": "IM", "sms": "短信", "email": "邮件", "supply_chain": "供应链"}
MINUTE_FORMAT = "%Y-%m-%d %H:%M"
REVIEW_COLUMNS = (
    "sku_id", "name", "forecast", "sold", "reserved", "refused_units",
    *(f"refused_{reason}" for reason in DEMAND_REASONS),
    "demand", "minutes_sold_out", "minutes_paused", "sold_out_at", "tiers",
    *(f"messages_{channel}" for channel in CHANNELS),
    "restock_suggested", "restocked", "next_show", "next_show_zh",
)  # fmt: skip
CURVE_COLUMNS = ("sku_id", "time", "on_hand", "held", "reserved", "sold", "available", "tier", "paused")


# -- the curves: the ledger at every minute -----------------------------------------------------
@dataclass(frozen=True)
class Minute:
    """One SKU's ledger at one minute mark (a row of curves.csv)."""

    t_ms: int
    on_hand: int
    held: int
    reserved: int
    sold: int
    available: int
    tier: str
    paused: bool

    @property
    def sold_out(self) -> bool:
        return self.available == 0 and self.reserved + self.sold > 0


Curves = dict[str, list[Minute]]


def curves_of(timeline: Timeline) -> Curves:
    """The Timeline at each minute mark from the show's start to its end (both included)."""
    start, end = timeline.span
    marks = [*range(start, end, MINUTE_MS), end]
    curves: Curves = {}
    for sku_id, series in timeline.samples.items():
        rows, i = [], 0
        for t in marks:
            while i + 1 < len(series) and series[i + 1].t_ms <= t:
                i += 1
            s = series[i]
            rows.append(Minute(t, s.on_hand, s.held, s.reserved, s.sold, s.available, s.tier, s.paused))
        curves[sku_id] = rows
    return curves


def read_curves(path: Path, tz: tzinfo | None) -> Curves:
    """curves.csv as a replay wrote it."""
    curves: Curves = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            at = datetime.strptime(row["time"], MINUTE_FORMAT).replace(tzinfo=tz)
            curves.setdefault(row["sku_id"], []).append(
                Minute(
                    t_ms=epoch_ms(at),
                    on_hand=int(row["on_hand"]),
                    held=int(row["held"]),
                    reserved=int(row["reserved"]),
                    sold=int(row["sold"]),
                    available=int(row["available"]),
                    tier=row["tier"],
                    paused=row["paused"] == "1",
                )
            )
    return curves


# -- one SKU's review -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Advice:
    en: str
    zh: str


@dataclass(frozen=True)
class SkuReview:
    sku_id: str
    name: str
    forecast: int
    yellow_ratio: Decimal
    red_ratio: Decimal
    sold: int
    reserved: int
    refused_units: int  # units of the orders that never got their units
    refused_by_reason: dict[str, int] | None  # units by reason; None: a saved report has no reasons
    sold_out_at: int | None  # the first sold_out message
    minutes_sold_out: int | None  # None: no curves
    minutes_paused: int | None
    alerts: list[tuple[str, int]]  # the report's upward tiers and their instants
    messages: dict[str, int]  # per channel, in CHANNELS order
    restock_suggested: int | None  # the restock its messages asked for in all (`_restock_asked`)
    restocked: int  # on_hand at the end - on_hand at the start

    @property
    def demand(self) -> int:
        """What buyers asked for: sold, still reserved, and refused."""
        return self.sold + self.reserved + self.refused_units

    def next_show(self, tz: tzinfo | None) -> list[Advice]:
        """What to change next show: the forecast, the stock, quotas, pauses; else a flop or on plan."""
        advice: list[Advice] = []
        if self.demand > self.red_ratio * self.forecast:
            advice.append(
                Advice(
                    f"forecast was {self.forecast}, demand {self.demand}: raise it",
                    f"预测{self.forecast}件，实际需求{self.demand}件：下场调高预测",
                )
            )
        stock_refused = (
            self.refused_units
            if self.refused_by_reason is None
            else self.refused_by_reason.get(Reason.INSUFFICIENT_STOCK.value, 0)
        )
        if self.sold_out_at is not None and stock_refused:
            at = clock_text(self.sold_out_at, tz, seconds=False)
            advice.append(
                Advice(
                    f"sold out at {at} with demand left ({stock_refused} units refused): stock more",
                    f"{at}售罄后仍有{stock_refused}件需求被拒：下场多备货",
                )
            )
        reasons = self.refused_by_reason or {}
        if quota := reasons.get(Reason.QUOTA_EXCEEDED.value, 0):
            advice.append(
                Advice(
                    f"platform quotas refused {quota} units: raise or rebalance them",
                    f"平台配额拒绝了{quota}件：下场调高配额或开启配额再平衡",
                )
            )
        if paused := reasons.get(Reason.SKU_PAUSED.value, 0):
            advice.append(
                Advice(
                    f"{paused} units refused while paused: resume sooner",
                    f"暂停期间拒绝了{paused}件：下场尽早恢复销售",
                )
            )
        if advice:
            return advice
        share = round(100 * self.sold / self.forecast)
        # Under its yellow line (the share of the forecast that says "selling as planned"), with
        # nothing refused: the plan was too high for this pitch.
        if self.sold < self.yellow_ratio * self.forecast and self.sold_out_at is None:
            return [
                Advice(
                    f"sold {share}% of its forecast of {self.forecast}: lower it or pitch it more",
                    f"只卖出预测{self.forecast}件的{share}%：下场调低预测或加强讲解",
                )
            ]
        return [
            Advice(
                f"sold {self.sold} of a forecast of {self.forecast}: keep the plan",
                f"售出{self.sold}件，预测{self.forecast}件：保持原计划",
            )
        ]


def build_review(
    report: Report | ShowReport,
    scenario: Scenario,
    *,
    outcomes: OutcomeLog | None = None,
    curves: Curves | None = None,
    source: Source | None = None,
) -> Review:
    """The review of `report`; `outcomes` and `curves` from the replay when there was one.
    `source`: what the report was read from when it was not a replay's (`FROM_TABLE`)."""
    refused = _refused_units(report, scenario)
    skus = []
    for sku in scenario.plan.skus:
        final = report.skus[sku.sku_id]
        messages = [m for m in report.messages if m.sku_id == sku.sku_id]
        per_channel = Counter(c for m in messages for c in m.channels)
        sold_out = [epoch_ms(parse_instant(m.at)) for m in messages if m.kind == "sold_out"]
        asked = _restock_asked(messages, _restock_times(scenario, sku.sku_id))
        rows = curves.get(sku.sku_id) if curves is not None else None
        by_reason = None
        if outcomes is not None:
            logged = outcomes.units_for_sku(sku.sku_id, lambda o: report.orders.get(o) in REFUSED_STATUSES)
            by_reason = {reason: logged.get(reason, 0) for reason in DEMAND_REASONS}
        skus.append(
            SkuReview(
                sku_id=sku.sku_id,
                name=sku.name,
                forecast=sku.forecast,
                yellow_ratio=sku.tier_ratios.yellow,
                red_ratio=sku.tier_ratios.red,
                sold=final.sold,
                reserved=final.reserved,
                refused_units=refused[sku.sku_id] if by_reason is None else sum(by_reason.values()),
                refused_by_reason=by_reason,
                sold_out_at=sold_out[0] if sold_out else None,
                minutes_sold_out=None if rows is None else sum(m.sold_out for m in rows),
                minutes_paused=None if rows is None else sum(m.paused for m in rows),
                alerts=final.alert_times(),
                messages={c: per_channel[c] for c in CHANNELS},
                restock_suggested=None if source and "restock_suggested" in source.unknown else asked,
                restocked=final.on_hand - sku.on_hand,
            )
        )
    return Review(scenario, skus, curves, source)


def _restock_times(scenario: Scenario, sku_id: str) -> list[int]:
    """When stock was restocked for `sku_id`, in order."""
    session_id = scenario.plan.session.session_id
    return sorted(
        epoch_ms(p.occurred_at)
        for e in scenario.events
        if (p := e.parsed) and p.type is EventType.STOCK_RESTOCKED and p.session_id == session_id
        and p.sku_id == sku_id
    )  # fmt: skip


def _restock_asked(messages: Sequence[Message], restocked_at: Sequence[int]) -> int | None:
    """The units a SKU's messages asked for in all: each message restates what the SKU needs beyond
    its stock then, so between two restocks the largest number counts, and a restock begins a new
    stretch whose asks come on top (49 before a restock of 52 and 42 after it asked for 91, not 49).
    None: no message named a number."""
    largest: dict[int, int] = {}
    for m in messages:
        if m.restock_units:
            stretch = sum(t <= epoch_ms(parse_instant(m.at)) for t in restocked_at)
            largest[stretch] = max(largest.get(stretch, 0), m.restock_units)
    return sum(largest.values()) if largest else None


def _refused_units(report: Report | ShowReport, scenario: Scenario) -> Counter[str]:
    """Per SKU, the units of the orders the report ends rejected or refund_required."""
    wanted = {order_id for order_id, status in report.orders.items() if status in REFUSED_STATUSES}
    known = {s.sku_id for s in scenario.plan.skus}
    session_id = scenario.plan.session.session_id
    units: Counter[str] = Counter()
    for e in scenario.events:
        p = e.parsed
        if (
            p and p.type is EventType.ORDER_CREATED and p.order_id in wanted and p.quantity
            and p.session_id == session_id and p.sku_id in known
        ):  # fmt: skip
            wanted.discard(p.order_id)  # its first creation, as in `Scenario.order_ids`
            units[p.sku_id] += p.quantity
    return units


# -- where the numbers come from, when not from a replay -------------------------------------------
@dataclass(frozen=True)
class Source:
    """A report read from somewhere that cannot tell everything: `unknown` names the review's
    fields it cannot give (shown as unknown, blank in the CSV, never guessed); `note` says why,
    in Chinese and English, at the end of review.md."""

    unknown: frozenset[str]
    note_zh: str
    note_en: str


UNKNOWN_ZH_EN = "未知 · unknown"
# `stockpulse session status --review`: the ledger table keeps each SKU's ledger as it stands,
# every message's alert item and every order with its events' outcomes, but not the ledger's
# history (so no curves), and a message's restock units only for a pre-show message.
FROM_TABLE = Source(
    unknown=frozenset({"minutes_sold_out", "minutes_paused", "restock_suggested"}),
    note_zh=(
        "本复盘读自账本表：售出、预留、被拒需求（按原因）、预警级别和消息来自表中的库存、预警和订单记录；"
        "表中不保存账本的逐分钟历史，因此售罄分钟、暂停分钟和 curves.csv 未知；消息记录不含建议补货量"
        "（开播前检查除外），因此建议补货未知；消息渠道按该堆栈的参数（预警级别、是否订阅了邮件和短信）和订阅过滤策略推算，并非送达回执。"
    ),
    note_en=(
        "Read from the ledger table: sold, reserved, refused demand by reason, tiers and messages come"
        " from its stock, alert and order items. The table keeps no minute-by-minute history of the"
        " ledger, so minutes sold out and paused (and curves.csv) are unknown; a message's record"
        " keeps no restock units (pre-show ones aside), so the restock suggested is unknown; channels"
        " are those the stack's subscriptions route each message to with its parameters (its tiers,"
        " and e-mail and SMS only if subscribed), not delivery receipts."
    ),
)


# -- the whole show: Markdown and CSV -------------------------------------------------------------
@dataclass(frozen=True)
class Review:
    scenario: Scenario
    skus: list[SkuReview]
    curves: Curves | None
    source: Source | None = None  # None: a replay's report (or a saved one)

    @property
    def tz(self) -> tzinfo | None:
        return self.scenario.plan.session.starts_at.tzinfo

    def next_show(self) -> dict[str, list[Advice]]:
        """Per SKU, what to change next show."""
        return {s.sku_id: s.next_show(self.tz) for s in self.skus}

    def markdown(self) -> str:
        session, tz = self.scenario.plan.session, self.tz
        period = (
            f"{from_epoch_ms(session.starts_ms).astimezone(tz).strftime('%Y-%m-%d %H:%M')}"
            f"-{clock_text(session.ends_ms, tz, seconds=False)} ({utc_offset(tz)})"
        )
        sold = sum(s.sold for s in self.skus)
        next_show = self.next_show()
        lines = [
            f"# 直播复盘 · Post-show review: {session.session_id}",
            "",
            f"{period} · 共售出 {sold} 件 · {sold} units sold",
        ]
        for s in self.skus:
            advice = next_show[s.sku_id]
            lines += [
                "",
                f"## {s.sku_id} · {' '.join(s.name.split())}",
                "",
                f"- **下场怎么改**：{'；'.join(a.zh for a in advice)}",
                f"- **Next show**: {'; '.join(a.en for a in advice)}",
                "",
                "| 项目 | item | 数值 · value |",
                "|---|---|---|",
                *(f"| {zh} | {en} | {value} |" for zh, en, value in self._table(s)),
            ]
        if self.source is not None:
            lines += ["", self.source.note_zh, "", self.source.note_en]
        elif self.curves is None:
            lines += ["", "售罄和暂停分钟数需要回放写出的 curves.csv · "
                      "Minutes sold out and paused need the curves.csv a replay writes."]  # fmt: skip
        return "\n".join(lines) + "\n"

    def _table(self, s: SkuReview) -> list[tuple[str, str, str]]:
        tz, no_curves = self.tz, "— (curves.csv)"
        unknown = self.source.unknown if self.source is not None else frozenset()

        def known(field: str, value: int | None, missing: str) -> str:
            return UNKNOWN_ZH_EN if field in unknown else _shown(value, missing)

        if s.refused_by_reason is None:
            refused = f"{s.refused_units}" + (
                "（报告中无拒绝原因 · the report has no reasons）" if s.refused_units else ""
            )
        else:
            parts = [f"{REASON_ZH[r]} {r} {n}" for r, n in s.refused_by_reason.items() if n]
            refused = f"{s.refused_units}" + (f": {' · '.join(parts)}" if parts else "")
        tiers = " · ".join(f"{TIER_ZH[Tier(t)]} {t} {clock_text(at, tz)}" for t, at in s.alerts)
        messages = " · ".join(
            f"{' '.join(dict.fromkeys((CHANNEL_ZH[c], CHANNEL_NAMES[c])))} {s.messages[c]}" for c in CHANNELS
        )
        return [
            ("售出（件）", "sold (units)", str(s.sold)),
            ("已预留未付款", "reserved, not paid yet", str(s.reserved)),
            ("被拒需求（件）", "refused demand (units)", refused),
            ("需求 = 售出 + 预留 + 被拒", "demand = sold + reserved + refused", f"{s.demand}"),
            ("预测", "forecast", str(s.forecast)),
            ("售罄分钟", "minutes sold out", known("minutes_sold_out", s.minutes_sold_out, no_curves)),
            ("暂停分钟", "minutes paused", known("minutes_paused", s.minutes_paused, no_curves)),
            ("售罄时间", "sold out at", "—" if s.sold_out_at is None else clock_text(s.sold_out_at, tz)),
            ("预警级别", "tiers", tiers or "—"),
            ("消息（按渠道）", "messages per channel", messages),
            ("建议补货", "restock suggested", known("restock_suggested", s.restock_suggested, "—")),
            ("实际补货", "restocked", str(s.restocked)),
        ]

    def rows(self) -> list[dict[str, Any]]:
        """review.csv: one row per SKU."""
        tz, rows, next_show = self.tz, [], self.next_show()
        for s in self.skus:
            advice = next_show[s.sku_id]
            reasons = s.refused_by_reason
            rows.append(
                {
                    "sku_id": _text(s.sku_id),
                    "name": _text(s.name),
                    "forecast": s.forecast,
                    "sold": s.sold,
                    "reserved": s.reserved,
                    "refused_units": s.refused_units,
                    **{f"refused_{r}": "" if reasons is None else reasons[r] for r in DEMAND_REASONS},
                    "demand": s.demand,
                    "minutes_sold_out": _blank(s.minutes_sold_out),
                    "minutes_paused": _blank(s.minutes_paused),
                    "sold_out_at": "" if s.sold_out_at is None else clock_text(s.sold_out_at, tz),
                    "tiers": "; ".join(f"{t} {clock_text(at, tz)}" for t, at in s.alerts),
                    **{f"messages_{c}": s.messages[c] for c in CHANNELS},
                    "restock_suggested": _blank(s.restock_suggested),
                    "restocked": s.restocked,
                    "next_show": "; ".join(a.en for a in advice),
                    "next_show_zh": "；".join(a.zh for a in advice),
                }
            )
        return rows

    def curve_rows(self) -> list[dict[str, Any]]:
        """curves.csv: one row per minute per SKU."""
        return [
            {
                "sku_id": _text(sku_id),
                "time": from_epoch_ms(m.t_ms).astimezone(self.tz).strftime(MINUTE_FORMAT),
                "on_hand": m.on_hand,
                "held": m.held,
                "reserved": m.reserved,
                "sold": m.sold,
                "available": m.available,
                "tier": m.tier,
                "paused": int(m.paused),
            }
            for sku_id, minutes in (self.curves or {}).items()
            for m in minutes
        ]

    def write(self, out_dir: Path) -> list[Path]:
        """review.md, review.csv and, when the curves are known, curves.csv."""
        out_dir.mkdir(parents=True, exist_ok=True)
        md = out_dir / REVIEW_MD
        md.write_text(self.markdown(), encoding="utf-8")
        written = [md, _write_csv(out_dir / REVIEW_CSV, REVIEW_COLUMNS, self.rows())]
        if self.curves is not None:
            written.append(_write_csv(out_dir / CURVES_CSV, CURVE_COLUMNS, self.curve_rows()))
        return written


def _shown(value: int | None, missing: str) -> str:
    return missing if value is None else str(value)


def _blank(value: int | None) -> int | str:
    return "" if value is None else value


def _text(value: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Path:
    # UTF-8 with a byte-order mark: spreadsheets then read the Chinese columns right.
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path

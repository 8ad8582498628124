"""What a replay leaves behind for people in the terminal: the per-SKU summary."""

from __future__ import annotations

from collections import Counter

from stockpulse_local.progress import clock_text, paint, utc_offset
from stockpulse_local.report import Report
from stockpulse_local.scenario import Scenario
from stockpulse_local.timeline import OutcomeLog


def render_summary(
    report: Report,
    scenario: Scenario,
    *,
    outcomes: OutcomeLog | None = None,
    colour: bool = False,
    max_invalid: int = 5,
) -> str:
    tz = scenario.plan.session.starts_at.tzinfo
    session = scenario.plan.session
    names = {s.sku_id: s.name for s in scenario.plan.skus}
    lines: list[str] = []
    events = report.events
    rejected = events.rejected
    total = events.processed + events.duplicate + sum(rejected.values())
    lines.append(
        f"session {session.session_id}  {clock_text(session.starts_ms, tz, seconds=False)}"
        f"-{clock_text(session.ends_ms, tz, seconds=False)} ({utc_offset(tz)})"
    )
    for sku_id, s in report.skus.items():
        tier = s.tier
        badge = paint(f"{tier.upper():6}", tier, colour) + ("  PAUSED" if s.paused else "")
        lines.append("")
        lines.append(f"{sku_id}  {names.get(sku_id, '')}".rstrip() + f"   tier {badge}")
        lines.append(
            f"  ledger    on_hand {s.on_hand}  held {s.held}  reserved {s.reserved}"
            f"  sold {s.sold}  available {s.available}"
        )
        alerts = "  ".join(paint(f"{t} {clock_text(at, tz)}", t, colour) for t, at in s.alert_times())
        lines.append(f"  alerts    {alerts or 'none'}")
        if outcomes is not None:
            by_reason = outcomes.for_sku(sku_id)
            text = ", ".join(f"{reason} {n}" for reason, n in by_reason.items())
            lines.append(f"  rejected  {text or 'none'}")
    if outcomes is not None:
        known = set(report.skus)
        strangers = sorted(
            {sku for sku, _ in outcomes.rejected if sku not in known and sku != "(unreadable)"}
        )
        if strangers:
            lines.append("")
            lines.append(f"unknown SKUs: {', '.join(strangers)}")
    statuses = Counter(report.orders.values())
    lines.append("")
    lines.append(
        f"orders    {len(report.orders)}: "
        + (", ".join(f"{k} {v}" for k, v in sorted(statuses.items(), key=lambda kv: -kv[1])) or "none")
    )
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(rejected.items()))
    lines.append(
        f"events    {total} = processed {events.processed} + duplicate {events.duplicate}"
        f" + rejected {sum(rejected.values())}" + (f" ({reasons})" if reasons else "")
    )
    invalid = [e for e in scenario.events if e.parsed is None]
    for e in sorted(invalid, key=lambda e: e.index)[:max_invalid]:
        lines.append(f"  invalid event #{e.index}: {e.problem}")
    if len(invalid) > max_invalid:
        lines.append(f"  ... and {len(invalid) - max_invalid} more invalid events")
    violations = report.invariant_violations
    mark = "ok" if violations == 0 else "BROKEN"
    lines.append(
        f"invariant (on_hand = held + reserved + sold + available >= 0): {violations} violations, {mark}"
    )
    return "\n".join(lines)

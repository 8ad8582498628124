"""The post-show review: the same numbers as the report, files a spreadsheet reads, both languages,
and the line on what to change next show."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from stockpulse.domain.events import rfc3339
from stockpulse_local import cli
from stockpulse_local.replay import Replay, replay
from stockpulse_local.report import Report, ShowReport
from stockpulse_local.review import (
    CURVE_COLUMNS,
    REVIEW_COLUMNS,
    Review,
    build_review,
    curves_of,
    read_curves,
)
from stockpulse_local.scenario import Scenario, load_scenario, parse_scenario
from stockpulse_local.timeline import OutcomeLog

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "contract" / "examples"
SESSION = {"session_id": "s", "starts_at": "2026-11-25T20:00:00Z", "ends_at": "2026-11-25T22:00:00Z"}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


# -- the contract example: one replay (under xdist a shared fixture would run once per worker) ------
def test_the_contract_examples_review_says_what_the_report_says(tmp_path: Path) -> None:
    scenario = load_scenario(CONTRACT / "demo-cakes.json")
    runs: list[Replay] = []
    outcomes = OutcomeLog()
    report = replay(scenario, on_finish=runs.append, on_outcome=outcomes.record)
    review = build_review(report, scenario, outcomes=outcomes, curves=curves_of(runs[0].timeline))
    written = review.write(tmp_path)
    assert [p.name for p in written] == ["review.md", "review.csv", "curves.csv"]

    check_numbers(review, report, scenario)
    check_csv(tmp_path, review, report)
    check_markdown((tmp_path / "review.md").read_text(encoding="utf-8"))

    # From the saved report and the curves.csv beside it: the same review, less the reasons.
    saved = build_review(report, scenario, curves=read_curves(tmp_path / "curves.csv", review.tz))
    assert saved.curves == review.curves
    for with_log, from_report in zip(review.skus, saved.skus, strict=True):
        assert from_report.refused_by_reason is None
        assert from_report.refused_units == with_log.refused_units
        assert from_report.minutes_sold_out == with_log.minutes_sold_out
        assert saved.next_show() == review.next_show()


def check_numbers(review: Review, report: Report, scenario: Scenario) -> None:
    cake, tea = review.skus
    for s in review.skus:
        final = report.skus[s.sku_id]
        assert (s.sold, s.reserved) == (final.sold, final.reserved)
        sent = [m for m in report.messages if m.sku_id == s.sku_id]
        assert s.messages == {c: sum(c in m.channels for m in sent) for c in s.messages}
        assert [(t, rfc3339(at)) for t, at in s.alerts] == [(a.tier, a.at) for a in final.alerts]
        opening = next(k.on_hand for k in scenario.plan.skus if k.sku_id == s.sku_id)
        assert s.restocked == final.on_hand - opening
    assert cake.sold == 74 and cake.messages == {"feed": 5, "im": 4, "sms": 1, "email": 4, "supply_chain": 2}
    assert cake.alerts and [t for t, _ in cake.alerts] == ["yellow", "orange", "red"]
    # Six refused creations (x64, x66-x70), ten units. The cake sold out within the minute its
    # rush began, before the evaluator measured a pace: its messages suggest no number (never a
    # minute's rush projected over the show), and 30 were restocked.
    assert cake.refused_by_reason == {"insufficient_stock": 10, "sku_paused": 0, "quota_exceeded": 0}
    assert cake.demand == 84
    assert (cake.restock_suggested, cake.restocked) == (None, 30)
    assert cake.sold_out_at is not None and rfc3339(cake.sold_out_at) == "2026-11-25T20:40:54Z"
    # Sold out at 20:40:54 until the sweep released the first unpaid hold at 20:55:00: the marks
    # 20:41 to 20:54.
    assert (cake.minutes_sold_out, cake.minutes_paused) == (14, 0)
    assert (tea.sold, tea.restock_suggested, tea.restocked, tea.minutes_sold_out) == (0, 11, 0, 0)
    assert [a.en for a in review.next_show()["cake-osmanthus"]] == [
        "forecast was 60, demand 84: raise it",
        "sold out at 20:40 with demand left (10 units refused): stock more",
    ]
    assert [a.en for a in review.next_show()["tea-longjing"]] == [
        "sold 0% of its forecast of 30: lower it or pitch it more"
    ]


def check_csv(out: Path, review: Review, report: Report) -> None:
    rows = read_csv(out / "review.csv")
    assert [r["sku_id"] for r in rows] == list(report.skus)  # one row per SKU
    assert tuple(rows[0]) == REVIEW_COLUMNS
    cake = rows[0]
    assert (cake["sold"], cake["refused_insufficient_stock"], cake["demand"]) == ("74", "10", "84")
    assert (cake["messages_feed"], cake["messages_sms"], cake["messages_supply_chain"]) == ("5", "1", "2")
    assert cake["tiers"] == "yellow 20:40:25; orange 20:40:33; red 20:40:41"
    assert (cake["restock_suggested"], cake["restocked"]) == ("", "30")
    assert cake["next_show_zh"].startswith("预测60件，实际需求84件：下场调高预测")
    curves = read_csv(out / "curves.csv")
    assert tuple(curves[0]) == CURVE_COLUMNS
    per_sku = Counter(r["sku_id"] for r in curves)
    assert per_sku == {"cake-osmanthus": 181, "tea-longjing": 181}  # 20:00 to 23:00, each minute
    for sku_id, final in report.skus.items():
        last = [r for r in curves if r["sku_id"] == sku_id][-1]
        assert last["time"] == "2026-11-25 23:00"
        assert {k: int(last[k]) for k in ("on_hand", "held", "reserved", "sold", "available")} == {
            k: getattr(final, k) for k in ("on_hand", "held", "reserved", "sold", "available")
        }
        assert last["tier"] == final.tier
    sold_out = sum(
        r["available"] == "0" and int(r["reserved"]) + int(r["sold"]) > 0
        for r in curves
        if r["sku_id"] == "cake-osmanthus"
    )
    assert sold_out == review.skus[0].minutes_sold_out


def check_markdown(text: str) -> None:
    assert "直播复盘" in text and "Post-show review" in text
    for sku_id in ("cake-osmanthus", "tea-longjing"):
        section = text.split(f"## {sku_id}")[1].split("\n## ")[0]
        for words in ("下场怎么改", "Next show", "售出", "sold", "被拒需求", "refused demand",
                      "售罄分钟", "minutes sold out", "建议补货", "restock suggested"):  # fmt: skip
            assert words in section, (sku_id, words)
    assert "下场调高预测" in text and "raise it" in text
    assert "黄色 yellow 20:40:25 · 橙色 orange 20:40:33 · 红色 red 20:40:41" in text
    assert "大屏 big screen 5 · IM 4 · 短信 SMS 1 · 邮件 e-mail 4 · 供应链 supply chain 2" in text


# -- what to change next show, on crafted reports -----------------------------------------------
def crafted(
    forecast: int,
    sold: int,
    *,
    on_hand: int = 500,
    refused: int = 0,
    sold_out_at: str | None = None,
) -> tuple[ShowReport, Scenario]:
    """One SKU's report and scenario: `refused` units in one rejected order."""
    events = []
    if refused:
        events.append(
            {"event_id": "e1", "type": "order.created", "occurred_at": "2026-11-25T20:42:00Z",
             "session_id": "s", "sku_id": "k", "platform": "douyin", "order_id": "o1", "quantity": refused}
        )  # fmt: skip
    scenario = parse_scenario(
        {"session": SESSION, "skus": [{"sku_id": "k", "name": "Mooncake", "on_hand": on_hand,
                                       "forecast": forecast}], "events": events}
    )  # fmt: skip
    messages = []
    if sold_out_at:
        messages.append(
            {"at": sold_out_at, "sku_id": "k", "kind": "sold_out", "tier": "red",
             "channels": ["feed", "im"], "restock_units": 60, "sellout_eta_minutes": None, "text": "售罄"}
        )  # fmt: skip
    final = {"on_hand": on_hand, "held": 0, "reserved": 0, "sold": sold, "available": on_hand - sold,
             "tier": "none", "paused": False, "alerts": []}  # fmt: skip
    report = ShowReport.model_validate(
        {"skus": {"k": final}, "orders": {"o1": "rejected"} if refused else {}, "messages": messages}
    )
    return report, scenario


def next_show(report: ShowReport, scenario: Scenario) -> tuple[str, str]:
    (advice,) = build_review(report, scenario).next_show().values()
    return "; ".join(a.en for a in advice), "；".join(a.zh for a in advice)


def test_a_forecast_far_below_demand_says_raise_it() -> None:
    en, zh = next_show(*crafted(forecast=148, sold=420))
    assert en == "forecast was 148, demand 420: raise it"
    assert zh == "预测148件，实际需求420件：下场调高预测"


def test_a_sell_out_with_buyers_turned_away_says_stock_more() -> None:
    en, zh = next_show(
        *crafted(forecast=100, sold=100, on_hand=100, refused=12, sold_out_at="2026-11-25T20:41:10Z")
    )
    assert en == "sold out at 20:41 with demand left (12 units refused): stock more"
    assert zh == "20:41售罄后仍有12件需求被拒：下场多备货"


def test_a_flop_says_lower_the_forecast_or_pitch_it_more() -> None:
    en, zh = next_show(*crafted(forecast=100, sold=40))
    assert en == "sold 40% of its forecast of 100: lower it or pitch it more"
    assert zh == "只卖出预测100件的40%：下场调低预测或加强讲解"  # the plan's, not the live effective one


def test_a_sale_under_its_yellow_line_says_lower_it() -> None:
    """Sold 59% with nothing refused: a plan 40% too high is no plan to keep."""
    en, _ = next_show(*crafted(forecast=225, sold=132))
    assert en == "sold 59% of its forecast of 225: lower it or pitch it more"


def test_a_sale_on_plan_keeps_the_plan() -> None:
    en, _ = next_show(*crafted(forecast=100, sold=95))
    assert en == "sold 95 of a forecast of 100: keep the plan"


def test_quotas_and_pauses_that_turned_buyers_away_are_named() -> None:
    report, scenario = crafted(forecast=100, sold=90)
    report.orders.update({"q1": "rejected", "p1": "rejected"})
    log = OutcomeLog()
    log.refuse("q1", "k", "quota_exceeded", 7)
    log.refuse("p1", "k", "sku_paused", 3)
    (advice,) = build_review(report, scenario, outcomes=log).next_show().values()
    assert [a.en for a in advice] == [
        "platform quotas refused 7 units: raise or rebalance them",
        "3 units refused while paused: resume sooner",
    ]


def test_an_order_refused_then_taken_by_a_resend_is_not_refused_demand() -> None:
    """A platform resends a refused creation; the resend reserves, the order is paid. Its units
    are sold, not also refused; one refused twice is one order's units, with its latest reason."""
    report, scenario = crafted(forecast=100, sold=90)
    report.orders.update({"taken": "sold", "twice": "rejected"})
    log = OutcomeLog()
    log.refuse("taken", "k", "quota_exceeded", 5)
    log.refuse("twice", "k", "quota_exceeded", 4)
    log.refuse("twice", "k", "insufficient_stock", 4)
    (sku,) = build_review(report, scenario, outcomes=log).skus
    assert sku.refused_by_reason == {"insufficient_stock": 4, "quota_exceeded": 0, "sku_paused": 0}
    assert (sku.refused_units, sku.demand) == (4, 94)


# -- the command line --------------------------------------------------------------------------------
TINY = {
    "session": {"session_id": "tiny", "starts_at": "2026-12-01T20:00:00+08:00",
                "ends_at": "2026-12-01T20:05:00+08:00"},
    "skus": [{"sku_id": "s1", "name": "Tiny cake", "on_hand": 3, "forecast": 3, "dynamic": False}],
    "events": [
        {"event_id": f"e{i}", "type": "order.created", "occurred_at": f"2026-12-01T20:01:0{i}+08:00",
         "session_id": "tiny", "sku_id": "s1", "platform": "douyin", "order_id": f"o{i}", "quantity": 2}
        for i in range(3)
    ],
}  # fmt: skip


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        mp.setattr("sys.stderr", err)
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_replay_writes_the_review_beside_its_report_and_review_rewrites_it(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(TINY), encoding="utf-8")
    report = tmp_path / "run" / "report.json"
    code, out, _ = run_cli(
        "replay", str(scenario), "--backend", "moto", "--json", str(report), "--no-picture"
    )
    assert code == 0
    assert {p.name for p in report.parent.iterdir()} == {
        "report.json",
        "review.md",
        "review.csv",
        "curves.csv",
    }
    # Three orders of 2 from 3 units: the first reserved, the other two (4 units) refused.
    assert f"review   {report.parent / 'review.md'}  (review.csv, curves.csv beside it)" in out
    assert "  s1  next show: forecast was 3, demand 6: raise it" in out
    rows = read_csv(report.parent / "review.csv")
    assert len(rows) == 1 and rows[0]["refused_insufficient_stock"] == "4"

    code, out, _ = run_cli(
        "review", str(report), "--scenario", str(scenario), "--out", str(tmp_path / "again")
    )
    assert code == 0 and f"review   {tmp_path / 'again' / 'review.md'}" in out
    again = read_csv(tmp_path / "again" / "review.csv")
    assert again[0]["refused_units"] == rows[0]["refused_units"] == "4"
    assert again[0]["refused_insufficient_stock"] == ""  # a saved report has no reasons
    assert again[0]["minutes_sold_out"] == rows[0]["minutes_sold_out"]  # from the curves.csv beside it
    assert (tmp_path / "again" / "curves.csv").read_text(encoding="utf-8-sig") == (
        report.parent / "curves.csv"
    ).read_text(encoding="utf-8-sig")


def test_review_refuses_a_report_of_another_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(TINY), encoding="utf-8")
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"skus": {"other": {}}, "orders": {}, "messages": []}), encoding="utf-8")
    code, _, err = run_cli("review", str(report), "--scenario", str(scenario))
    assert code == 1 and "has no SKU s1" in err
    assert not (tmp_path / "review.md").exists()


def test_the_restock_asked_counts_each_stretch_between_restocks_once() -> None:
    """Each message restates what the SKU lacks beyond its stock then: before a restock the
    largest ask counts once (49, not 20 + 49); after it, the asks are for more (late-surge, seed
    14: 49 suggested and 52 restocked read as covered, but the bot then asked for 20 and 42)."""
    raw = {
        "session": SESSION,
        "skus": [{"sku_id": "k", "name": "Mooncake", "on_hand": 500, "forecast": 100}],
        "events": [
            {"event_id": "r1", "type": "stock.restocked", "occurred_at": "2026-11-25T20:50:00Z",
             "session_id": "s", "sku_id": "k", "quantity": 52}
        ],
    }  # fmt: skip
    scenario = parse_scenario(raw)

    def said(minute: int, units: int | None) -> dict[str, object]:
        return {"at": f"2026-11-25T{20 + minute // 60}:{minute % 60:02d}:00Z", "sku_id": "k", "kind": "alert",
                "tier": "red", "channels": ["feed", "im"], "restock_units": units,
                "sellout_eta_minutes": None, "text": "红色预警"}  # fmt: skip

    final = {"on_hand": 552, "held": 0, "reserved": 0, "sold": 552, "available": 0, "tier": "red",
             "paused": False, "alerts": []}  # fmt: skip
    asks = [said(30, 20), said(40, 49), said(45, None), said(60, 20), said(70, 42)]  # restocked at 50
    report = ShowReport.model_validate({"skus": {"k": final}, "orders": {}, "messages": asks})
    (sku,) = build_review(report, scenario).skus
    assert (sku.restock_suggested, sku.restocked) == (49 + 42, 52)
    none_named = ShowReport.model_validate({"skus": {"k": final}, "orders": {}, "messages": [asks[2]]})
    assert build_review(none_named, scenario).skus[0].restock_suggested is None

"""The big screen's layout and chart in a real browser, on a session frozen at one instant.

No replay: the session is loaded and its items written as the guard and the evaluator write them
(stock counters, the FORECAST item, alert items), and the page is served on a fixed virtual clock,
so every tile shows known numbers. The hard cases from the live room: a long Chinese product
name, a forecast raised from 148 to 424 with a stop line at 1,060 far above the curve, seven
platform chips, and pre-show and slow tips in the feed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_ledger import to_item
from stockpulse.domain import sample_log
from stockpulse.domain.events import epoch_ms, parse_instant
from stockpulse.domain.session import SessionPlan
from stockpulse.pre_show import announce_pre_show
from stockpulse_local.replay import Stack, open_backend
from stockpulse_local.serve import LocalServer, start_server

SESSION = "layout-1"
T0 = epoch_ms(parse_instant("2026-11-25T20:00:00+08:00"))
MINUTE = 60_000
NOW = T0 + 60 * MINUTE  # an hour into a three-hour show
LONG_NAME = "杭州老字号桂花糕礼盒装十二枚入手工现做 Osmanthus cake gift box"
PLATFORMS = ["douyin", "kuaishou", "taobao", "jd", "pdd", "wechat", "xiaohongshu"]
VIEWPORTS = {"big screen": (1920, 1080), "laptop": (1280, 720), "phone": (390, 844)}

# Pixels of the consumption curve's colour (#4fc3ff): the highest one, as a share of the canvas
# height from the bottom (1: the top edge).
CURVE_TOP_JS = """
(tile) => {
  const canvas = tile.querySelector('.chart canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - 79) < 30 && Math.abs(data[i + 1] - 195) < 30 && data[i + 2] > 220) {
      return 1 - Math.floor(i / 4 / canvas.width) / canvas.height;
    }
  }
  return 0;
}
"""


def _plan() -> SessionPlan:
    caps = {p: 400 for p in PLATFORMS}
    skus: list[dict[str, Any]] = [
        {
            "sku_id": "cake-gift-box-12",
            "name": LONG_NAME,
            "on_hand": 1200,
            "held": 30,
            "forecast": 148,
            "importance": "core",
            "tier_ratios": {"yellow": 0.8, "orange": 1.5, "red": 2.5},  # stop line 2.5 x 424 = 1,060
            "platform_quotas": caps,
        },
        {"sku_id": "tea-longjing", "name": "明前龙井 Longjing tea", "on_hand": 90, "forecast": 60},
        {"sku_id": "lipstick-r01", "name": "丝绒口红 #01", "on_hand": 40, "forecast": 500},  # pre-show tip
    ]
    return SessionPlan.model_validate(
        {
            "session": {
                "session_id": SESSION,
                "starts_at": "2026-11-25T20:00:00+08:00",
                "ends_at": "2026-11-25T23:00:00+08:00",
            },
            "skus": skus,
        }
    )


def _sold(stack: Stack, sku_id: str, on_hand: int, held: int, sold: int, reserved: int, **more: Any) -> None:
    stack.store.update_stock_fields(
        SESSION,
        sku_id,
        {"sold": sold, "reserved": reserved, "available": on_hand - held - sold - reserved,
         "taken": sold + reserved, **more},
    )  # fmt: skip


def _forecast_item(stack: Stack, sku_id: str, consumption: list[int], values: dict[str, Any]) -> None:
    """The evaluator's FORECAST item (a sample every ten minutes) and its runs on the index item."""
    samples = [[T0 + (i + 1) * 10 * MINUTE, c, c] for i, c in enumerate(consumption)]
    db, table = stack.backend.dynamodb, stack.store.table_name
    item = {"hot_start": False, "restock_quantity": 0, "tier": "none", **values}
    item["samples"] = sample_log.pack_samples(sample_log.change_points(samples))
    db.put_item(TableName=table, Item={"pk": {"S": f"SKU#{SESSION}#{sku_id}"}, "sk": {"S": "FORECAST"},
                                       **to_item(item)})  # fmt: skip
    runs: sample_log.Runs = []
    for minute, *_ in samples:
        runs = sample_log.with_run(runs, minute, keep_after_ms=0)
    db.update_item(
        TableName=table,
        Key={"pk": {"S": "SESSIONS"}, "sk": {"S": f"SESSION#{SESSION}"}},
        UpdateExpression="SET evaluated = :runs, evaluated_ms = :at",
        ExpressionAttributeValues=to_item({":runs": sample_log.runs_item(runs), ":at": samples[-1][0]}),
    )


class _Told:
    """The publisher: the pre-show tips are recorded for the feed once told."""

    def publish(self, notice: Any, skip: frozenset[str] = frozenset()) -> None:
        pass


@pytest.fixture(scope="module")
def frozen_show() -> Iterator[LocalServer]:
    plan = _plan()
    with open_backend() as backend:
        stack = Stack.create(backend)
        stack.store.load_session(plan)
        announce_pre_show(stack.store, _Told(), plan, T0 - 30 * MINUTE)
        # The cake sells far above its plan: the evaluator raised F from 148 to 424.
        used = dict(zip(PLATFORMS, (160, 40, 35, 20, 18, 12, 3), strict=True))
        _sold(stack, "cake-gift-box-12", 1200, 30, 260, 28, forecast_eff=424, velocity=4.8, tier="orange",
              used=used, headroom={p: 400 - used[p] for p in PLATFORMS})  # fmt: skip
        _forecast_item(stack, "cake-gift-box-12", [40, 95, 150, 200, 250, 288], {"velocity": 4.8})
        _sold(stack, "tea-longjing", 90, 0, 4, 1)
        # In the feed: a slow tip for the tea, then the cake's red stepped down to orange.
        for sku_id, kind, tier, was, minute in (
            ("tea-longjing", "slow", "none", "none", 40),
            ("cake-gift-box-12", "resolved", "orange", "red", 45),
        ):
            at_ms = T0 + minute * MINUTE
            said = {
                "alert_id": f"{SESSION}#{sku_id}#{kind}",
                "kind": kind,
                "tier": tier,
                "previous_tier": was,
            }
            stack.store.record_alert(SESSION, sku_id, {**said, "at_ms": at_ms}, at_ms)
        with start_server(stack.store, session_id=SESSION, clock=VirtualClock(NOW)) as server:
            yield server


@pytest.fixture
def page(browser: Any, frozen_show: LocalServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda err: errors.append(str(err)))
    opened.goto(f"{frozen_show.url}&refresh=1&lang=zh")
    opened.wait_for_function("() => Number(document.body.dataset.updates) >= 1", timeout=15_000)
    try:
        yield opened
    finally:
        context.close()
    assert not errors, errors


def _settle(page: Any, width: int, height: int) -> None:
    """A new size, then two refreshes (the charts follow their boxes)."""
    page.set_viewport_size({"width": width, "height": height})
    updates = int(page.evaluate("document.body.dataset.updates"))
    page.wait_for_function(f"() => Number(document.body.dataset.updates) >= {updates + 2}", timeout=10_000)


# Every piece of text on the tiles, measured from its box: text wider or taller than its box (cut
# or overflowing), a box outside its tile, a one-line label that wrapped. Inline boxes have no
# scroll size: only their position is checked.
LAYOUT_PROBLEMS_JS = """
() => {
  const problems = [];
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth + 1) problems.push(`page scrolls sideways: ${page.scrollWidth}px`);
  const oneLine = new Set(['label', 'key', 'platform', 'badge', 'stop-far']);
  for (const tile of document.querySelectorAll('.tile[data-sku]')) {
    const t = tile.getBoundingClientRect();
    const parts = tile.querySelectorAll(
      '.name, .sku, .badge, .big .label, .big .value, .stats dt, .stats dd, .action, .key, .platform,'
      + ' .stop-far'
    );
    for (const el of parts) {
      if (!el.getClientRects().length) continue;  // not shown
      const b = el.getBoundingClientRect();
      const what = `${tile.dataset.sku} ${el.dataset.field || el.tagName.toLowerCase() + '.' + el.className}`;
      const text = el.textContent.trim().slice(0, 24);
      if (el.clientWidth && el.scrollWidth > el.clientWidth + 1)
        problems.push(`${what} "${text}" overflows: text ${el.scrollWidth}px, box ${el.clientWidth}px`);
      if (el.clientHeight && el.scrollHeight > el.clientHeight + 1)
        problems.push(`${what} "${text}" cut: text ${el.scrollHeight}px high, box ${el.clientHeight}px`);
      const r = (a, z) => `${Math.round(a)}..${Math.round(z)}`;
      if (b.left < t.left - 1 || b.right > t.right + 1 || b.top < t.top - 1 || b.bottom > t.bottom + 1)
        problems.push(`${what} "${text}" outside its tile: ${r(b.left, b.right)} x ${r(b.top, b.bottom)},`
          + ` tile ${r(t.left, t.right)} x ${r(t.top, t.bottom)}`);
      const size = parseFloat(getComputedStyle(el).fontSize);
      const single = el.tagName === 'DT' || [...el.classList].some(c => oneLine.has(c));
      if (single && b.height > size * 1.9)
        problems.push(`${what} "${text}" wraps: ${Math.round(b.height)}px high`);
    }
  }
  return problems;
}
"""


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_nothing_overflows_or_is_cut(page: Any, artifacts: Path, viewport: str) -> None:
    """At 1920x1080, 1280x720 and on a phone: every number, label, name and platform chip fits
    in its box and its tile, in Chinese and in English."""
    width, height = VIEWPORTS[viewport]
    _settle(page, width, height)
    shot = artifacts / f"dashboard-layout-{width}x{height}.png"
    page.screenshot(path=str(shot), full_page=True)
    problems = page.evaluate(LAYOUT_PROBLEMS_JS)
    assert not problems, f"{shot}:\n" + "\n".join(problems)
    name = page.locator('.tile[data-sku="cake-gift-box-12"] .name')
    assert name.inner_text() == LONG_NAME  # all of it, nothing cut
    page.click("#lang-toggle")
    _settle(page, width, height)
    page.screenshot(path=str(shot.with_name(shot.stem + "-en.png")), full_page=True)
    problems = page.evaluate(LAYOUT_PROBLEMS_JS)
    assert not problems, "English:\n" + "\n".join(problems)


def test_pre_show_and_slow_tips_and_a_step_down_in_the_feed(page: Any) -> None:
    alerts = page.locator("#alerts .alert")
    kinds = [alerts.nth(i).get_attribute("data-kind") for i in range(alerts.count())]
    assert kinds == ["resolved", "slow", "pre_show"]  # newest first
    # Red to orange still asks the host to slow the pitch: stepped down, not "resolved".
    assert alerts.nth(0).locator(".move").inner_text() == "红色预警 → 橙色预警（已降级）"
    assert "互动提示" in alerts.nth(1).inner_text() and "明前龙井" in alerts.nth(1).inner_text()
    assert "开播前检查" in alerts.nth(2).inner_text() and "丝绒口红" in alerts.nth(2).inner_text()
    page.click("#lang-toggle")
    page.wait_for_function(
        "() => document.querySelector('#alerts .alert .move').textContent.includes('stepped')"
    )
    assert alerts.nth(0).locator(".move").inner_text().endswith("(stepped down)")


def test_the_curve_stays_readable_under_a_far_stop_line(page: Any, artifacts: Path) -> None:
    """Forecast 148→424 with its stop line at 1,060, 288 taken: the axis fits the curve and the band
    up to now, and the stop line is a label at the top rather than the axis's end."""
    cake = page.locator('.tile[data-sku="cake-gift-box-12"]')
    assert cake.locator("[data-field=forecast]").inner_text() == "148→424"
    assert cake.locator(".stop-far").is_visible()
    assert cake.locator(".stop-far").inner_text() == "停售线 1060 ↑"
    assert cake.evaluate(CURVE_TOP_JS) > 0.5  # with the axis up to 1,060 it would reach 0.27
    # Nothing sold yet: nothing to squash, the whole plan up to its stop line, no label.
    assert page.locator('.tile[data-sku="lipstick-r01"] .stop-far').is_hidden()
    page.screenshot(path=str(artifacts / "dashboard-far-stop-line.png"))


# Each tile's plot area (uPlot's `.u-over`: the chart less its axes), measured from its box.
PLOT_AREAS_JS = """
() => [...document.querySelectorAll('.tile[data-sku]')].map(tile => {
  const over = tile.querySelector('.chart .u-over');
  const b = over ? over.getBoundingClientRect() : {width: 0, height: 0};
  return [tile.dataset.sku, Math.round(b.width), Math.round(b.height)];
})
"""
MIN_PLOT_HEIGHT = 150  # px: a curve, its band and its tier lines can be told apart


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_each_chart_has_a_readable_plot_area(page: Any, viewport: str) -> None:
    """At 1920x1080, 1280x720 and on a phone, every tile's plot area is at least 150 px high."""
    width, height = VIEWPORTS[viewport]
    _settle(page, width, height)
    areas = page.evaluate(PLOT_AREAS_JS)
    assert [sku for sku, *_ in areas] == ["cake-gift-box-12", "tea-longjing", "lipstick-r01"]
    small = [(sku, w, h) for sku, w, h in areas if h < MIN_PLOT_HEIGHT or w < MIN_PLOT_HEIGHT]
    assert not small, f"{viewport} {width}x{height}: plot areas (sku, width, height) too small: {small}"

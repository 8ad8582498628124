"""The big screen in a real browser, during a rehearsal on the virtual clock.

A short sale replays in a background thread (through the same Lambda handlers as always, on the
embedded backend) while `stockpulse_local.serve` serves the page and the dashboard API. Headless
Chromium opens the printed URL and checks what a person in the live room would: a tile per SKU,
numbers that change between refreshes, held stock, the consumption curve drawn against its band,
alerts arriving, the language toggle, and a phone-sized layout. Screenshots land in out/test-artifacts/.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from stockpulse_local.replay import Replay, Stack, open_backend
from stockpulse_local.scenario import Scenario
from stockpulse_local.serve import start_server

BATCH_PAUSE_S = 0.25  # per replay batch: the page (refreshing every second) sees the sale unfold
REPLAY_BUDGET_S = 40.0  # the replay is cut short after this (normally it ends in about 20 s)
TILE_TIMEOUT_MS = 15_000

# Pixels of the consumption curve's colour (#4fc3ff) on a tile's canvas: the curve is drawn.
CURVE_PIXELS_JS = """
(tile) => {
  const canvas = tile.querySelector('.chart canvas');
  if (!canvas || !canvas.width || !canvas.height) return -1;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - 79) < 30 && Math.abs(data[i + 1] - 195) < 30 && data[i + 2] > 220) n++;
  }
  return n;
}
"""

NUMBERS_JS = """
() => Array.from(document.querySelectorAll('.tile[data-sku]')).map(t => [
  t.dataset.sku,
  t.querySelector('[data-field=available]').textContent,
  t.querySelector('[data-field=sold]').textContent,
  t.querySelector('[data-field=eta]').textContent,
].join('|')).join(';')
"""


class _Stop(Exception):
    """Raised from the batch hook to end the replay early."""


def test_big_screen_follows_a_live_rehearsal(browser: Any, artifacts: Path, live_sale: Scenario) -> None:
    scenario = live_sale
    session_id = scenario.plan.session.session_id
    stop = threading.Event()
    finished = threading.Event()
    failures: list[BaseException] = []

    def on_batch(_: Replay) -> None:
        if stop.is_set():
            raise _Stop
        time.sleep(BATCH_PAUSE_S)

    with open_backend() as backend:
        stack = Stack.create(backend)
        replay = Replay(scenario, stack, on_batch=on_batch)

        def run() -> None:
            try:
                replay.run()
            except _Stop:
                pass
            except BaseException as err:  # reported by the test below
                failures.append(err)
            finally:
                finished.set()

        server = start_server(stack.store, session_id=session_id, clock=replay.clock)
        worker = threading.Thread(target=run, name="replay", daemon=True)
        context = browser.new_context(
            viewport={"width": 1920, "height": 1080}, locale="zh-CN", timezone_id="America/New_York"
        )
        try:
            page = context.new_page()
            page_errors: list[str] = []
            page.on("pageerror", lambda err: page_errors.append(str(err)))
            worker.start()
            started = time.monotonic()
            page.goto(f"{server.url}&refresh=1&lang=zh")

            # Tiles appear, one per SKU, and the token left the address bar.
            page.wait_for_function(
                f"() => document.querySelectorAll('.tile[data-sku]').length === {len(scenario.plan.skus)}",
                timeout=TILE_TIMEOUT_MS,
            )
            assert "token=" not in page.url
            sku_ids = page.eval_on_selector_all(".tile[data-sku]", "ts => ts.map(t => t.dataset.sku)")
            assert sku_ids == [s.sku_id for s in scenario.plan.skus]

            # Numbers change between two refreshes while the sale goes on.
            before = page.evaluate(NUMBERS_JS)
            updates = int(page.evaluate("document.body.dataset.updates"))
            page.wait_for_function(
                f"([before, updates]) => Number(document.body.dataset.updates) >= updates + 2"
                f" && ({NUMBERS_JS})() !== before",
                arg=[before, updates],
                timeout=20_000,
            )
            assert page.evaluate(NUMBERS_JS) != before
            page.screenshot(path=str(artifacts / "dashboard-live.png"))  # mid-sale

            # Let the sale run (or cut it at the budget), then one more refresh.
            finished.wait(timeout=max(1.0, REPLAY_BUDGET_S - (time.monotonic() - started)))
            stop.set()
            assert finished.wait(timeout=15), "the replay did not stop"
            assert not failures, f"the replay failed: {failures[0]!r}"
            updates = int(page.evaluate("document.body.dataset.updates"))
            page.wait_for_function(
                f"() => Number(document.body.dataset.updates) >= {updates + 2}", timeout=10_000
            )

            # The curve is drawn on every tile's canvas, against its band.
            for tile in page.query_selector_all(".tile[data-sku]"):
                assert tile.evaluate(CURVE_PIXELS_JS) > 50, tile.get_attribute("data-sku")

            # The hit sold out: red tile, big numbers, alerts in the feed (newest first).
            hit = page.locator('.tile[data-sku="lipstick-r01"]')
            assert hit.get_attribute("data-tier") == "red"
            assert hit.locator("[data-field=available]").inner_text() == "0"
            assert hit.locator("[data-field=eta]").inner_text() == "已售罄"
            # Held stock on every tile: the hit keeps 5 back (on hand, never for sale).
            held = page.eval_on_selector_all(
                ".tile[data-sku]", "ts => ts.map(t => t.querySelector('[data-field=held]').textContent)"
            )
            assert held == ["5", "0", "0"]
            alerts = page.locator("#alerts .alert")
            assert alerts.count() >= 2
            tiers = {alerts.nth(i).get_attribute("data-tier") for i in range(alerts.count())}
            kinds = {alerts.nth(i).get_attribute("data-kind") for i in range(alerts.count())}
            # It sold out within minutes of its evidence: red (sell-out imminent), then one sold-out.
            assert "red" in tiers and "sold_out" in kinds
            # The sell-out after the red reads "红色预警（已售罄）": one tier said again is not "red → red".
            moves = page.eval_on_selector_all("#alerts .alert .move", "ms => ms.map(m => m.textContent)")
            assert "红色预警（已售罄）" in moves, moves
            sides = [m.split(" → ") for m in moves if "→" in m]
            assert not any(was == now.split("（")[0] for was, now in sides), moves
            # Times are the studio's (20:00-20:20 at +08:00), wherever the browser is (New York here).
            whens = page.eval_on_selector_all("#alerts .alert .when", "ws => ws.map(w => w.textContent)")
            assert whens and all(w.startswith("20:") for w in whens), whens
            assert page.locator("#session-clock").inner_text().startswith("20:")
            # Big enough to read across a room.
            size = page.eval_on_selector(
                '.tile[data-sku="tea-longjing"] [data-field=available]',
                "el => parseFloat(getComputedStyle(el).fontSize)",
            )
            assert size >= 60

            screenshot = artifacts / "dashboard.png"
            page.screenshot(path=str(screenshot), full_page=False)
            assert screenshot.stat().st_size > 20_000

            # English labels with the toggle.
            page.click("#lang-toggle")
            assert page.locator(".tile .big .label").first.inner_text() == "Available"
            assert hit.locator("[data-field=eta]").inner_text() == "Sold out"
            page.screenshot(path=str(artifacts / "dashboard-en.png"))

            # A phone: one column, nothing wider than the screen.
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(400)
            widths = page.evaluate(
                "() => [document.documentElement.scrollWidth, ...Array.from("
                "document.querySelectorAll('.tile')).map(t => t.getBoundingClientRect().right)]"
            )
            assert max(widths) <= 390 + 1, widths
            page.screenshot(path=str(artifacts / "dashboard-phone.png"), full_page=True)

            assert not page_errors, page_errors
        finally:
            stop.set()
            context.close()
            server.stop()
            worker.join(timeout=30)

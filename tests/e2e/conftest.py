"""Browser tests: Debian's headless Chromium driven by Playwright's Python client.

No browser is downloaded (`playwright install` is never run): the tests launch /usr/bin/chromium,
which `make browser` (part of `make bootstrap`) installs. A missing browser or page dependency is
a FAILURE with the fix in the message, never a skip: a suite that silently skips its only real
browser test would pass without testing the page.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from stockpulse_local.scenario import Scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("STOCKPULSE_CHROMIUM", "/usr/bin/chromium"))
UPLOT = ROOT / "dashboard" / "node_modules" / "uplot" / "dist" / "uPlot.iife.min.js"
ARTIFACTS = ROOT / "out" / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} not found: the browser test needs Debian's chromium. "
            "Run `make browser` (or `apt-get install -y chromium`).",
            pytrace=False,
        )
    if not UPLOT.exists():
        pytest.fail(
            f"{UPLOT.relative_to(ROOT)} missing: run `npm ci --prefix dashboard` (`make browser`).",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: run `make bootstrap` (pyproject dev extra)", pytrace=False)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# ---------------------------------------------------------------------------------- a live sale
@pytest.fixture
def live_sale() -> Scenario:
    return live_sale_scenario()


def live_sale_scenario(seed: int = 7, minutes: int = 20) -> Scenario:
    """A short, busy sale: a hit that sells out (yellow, red, sold out), a steady seller that reaches
    yellow, and a slow one. Orders come in pulses, most are paid within two minutes, some are
    cancelled, so every tile moves between two refreshes."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 25, 20, 0, tzinfo=timezone(timedelta(hours=8)))  # the studio's clock
    skus: list[dict[str, Any]] = [
        {
            "sku_id": "lipstick-r01",
            "name": "丝绒口红 #01 Velvet lipstick",
            "on_hand": 45,
            "held": 5,
            "forecast": 40,
            "importance": "core",
            "platform_quotas": {"kuaishou": 12},
        },
        {"sku_id": "tea-longjing", "name": "明前龙井 Longjing tea", "on_hand": 80, "forecast": 36},
        {"sku_id": "cake-osmanthus", "name": "桂花糕 Osmanthus cake", "on_hand": 60, "forecast": 40},
    ]
    rates = {"lipstick-r01": 2.6, "tea-longjing": 1.3, "cake-osmanthus": 0.4}  # orders per minute
    platforms = ["douyin", "douyin", "kuaishou", "taobao"]
    events: list[dict[str, Any]] = []

    def add(kind: str, at: datetime, **fields: Any) -> None:
        events.append(
            {
                "event_id": f"ev{len(events) + 1:05d}",
                "type": kind,
                "occurred_at": at.isoformat().replace("+00:00", "Z"),
                "session_id": "live-demo",
                **fields,
            }
        )

    for minute in range(minutes - 1):
        for sku_id, rate in rates.items():
            for _ in range(_poisson(rng, rate)):
                at = start + timedelta(minutes=minute, seconds=rng.randrange(60))
                order_id = f"o{len(events):05d}"
                common = {"sku_id": sku_id, "platform": rng.choice(platforms), "order_id": order_id}
                add("order.created", at, quantity=rng.choice([1, 1, 2, 2, 3]), **common)
                if rng.random() < 0.85:
                    add("order.paid", at + timedelta(seconds=rng.randrange(20, 110)), **common)
                else:
                    add("order.cancelled", at + timedelta(seconds=rng.randrange(20, 110)), **common)
    return parse_scenario(
        {
            "session": {
                "session_id": "live-demo",
                "starts_at": start.isoformat().replace("+00:00", "Z"),
                "ends_at": (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
            },
            "skus": skus,
            "events": events,
        }
    )


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth: small rates only.
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1

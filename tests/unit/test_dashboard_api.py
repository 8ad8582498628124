"""DashboardApiFunction on moto data: every endpoint, 400s naming the field, 404s, the AWS wiring.

The session is loaded with DynamoLedgerStore.load_session and changed through the real guard
(so tiers and alert items are the ones production writes); the evaluator's FORECAST item is
written directly in its documented shape. Events start from events/http_get_skus.json (the
API Gateway HTTP API v2 shape the JWT-authorized API sends).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from stockpulse import dashboard
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_ledger import to_item
from stockpulse.domain import forecast, sample_log
from stockpulse.domain.alerts import AlertNotice
from stockpulse.domain.events import OrderEvent, epoch_ms, parse_event, parse_instant, rfc3339
from stockpulse.domain.ledger import Outcome
from stockpulse.domain.session import SessionPlan
from stockpulse.guard import InventoryGuard
from stockpulse_local.replay import LambdaContext, Stack, load_handler, open_backend
from stockpulse_local.template_tables import load_template

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_EVENT = json.loads((ROOT / "events" / "http_get_skus.json").read_text(encoding="utf-8"))
SESSION = "live-1"
T0 = epoch_ms(parse_instant("2026-11-25T20:00:00Z"))
MINUTE = 60_000
ROUTES = {
    1: "GET /sessions/{session_id}",
    2: "GET /sessions/{session_id}/{collection}",
    3: "GET /sessions/{session_id}/skus/{sku_id}",
}

NOW = T0 + 5 * MINUTE + 20_000  # the virtual "now" of most tests
QUIET = "quiet-1"  # the same products in a session that has not sold anything


def plan(session_id: str) -> SessionPlan:
    return SessionPlan.model_validate(
        {
            "session": {
                "session_id": session_id,
                "starts_at": "2026-11-25T20:00:00Z",
                "ends_at": "2026-11-25T23:00:00Z",
            },
            "skus": [
                {
                    "sku_id": "lipstick",
                    "name": "丝绒口红 Velvet lipstick",
                    "on_hand": 50,
                    "held": 5,
                    "forecast": 30,
                    "importance": "core",
                    "dynamic": False,
                    "platform_quotas": {"kuaishou": 10},
                },
                {"sku_id": "龙井", "name": "明前龙井", "on_hand": 20, "forecast": 10, "dynamic": False},
            ],
        }
    )


@dataclass
class _Recorder:
    notices: list[AlertNotice] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        self.notices.append(notice)

    def record(self, event: OrderEvent | None, outcome: Outcome) -> None:
        self.outcomes.append(outcome)


@dataclass
class Api:
    stack: Stack
    clock: VirtualClock
    guard: InventoryGuard
    handler: Any

    def get(self, path: str, query: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        event = copy.deepcopy(SAMPLE_EVENT)
        parts = path.strip("/").split("/")
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path
        event["routeKey"] = event["requestContext"]["routeKey"] = ROUTES.get(len(parts) - 1, "$default")
        event["rawQueryString"] = "&".join(f"{k}={quote(v)}" for k, v in (query or {}).items())
        if query:
            event["queryStringParameters"] = dict(query)
        else:
            event.pop("queryStringParameters", None)
        response = self.handler(event, LambdaContext("dashboard_api"))
        return response["statusCode"], json.loads(response["body"]), response.get("headers", {})

    def order(self, order_id: str, sku: str, platform: str, quantity: int, minute: float, paid: bool) -> None:
        at = T0 + int(minute * MINUTE)
        self._event("order.created", at, sku, order_id=order_id, platform=platform, quantity=quantity)
        if paid:
            self._event("order.paid", at + 20_000, sku, order_id=order_id, platform=platform)

    def _event(self, kind: str, at_ms: int, sku: str, **fields: Any) -> None:
        self.clock.set(at_ms)
        event = parse_event(
            {
                "event_id": f"{kind}-{fields.get('order_id')}-{at_ms}",
                "type": kind,
                "occurred_at": rfc3339(at_ms),
                "session_id": SESSION,
                "sku_id": sku,
                **fields,
            }
        )
        self.guard.ledger.handle(event)

    def put_forecast(
        self, sku: str, samples: list[list[int]], values: dict[str, Any], session: str = SESSION
    ) -> None:
        """The evaluator's FORECAST item, in its documented shape (samples as change points), and
        its runs (every sample minute) on the session's index item."""
        item = {
            "forecast_eff": 30,
            "hot_start": False,
            "restock_quantity": 0,
            "tier": "none",
            "samples": sample_log.pack_samples(sample_log.change_points(samples)),
            **values,
        }
        db, table = self.stack.backend.dynamodb, self.stack.store.table_name
        db.put_item(
            TableName=table,
            Item={"pk": {"S": f"SKU#{session}#{sku}"}, "sk": {"S": "FORECAST"}, **to_item(item)},
        )
        runs: sample_log.Runs = []
        for minute, *_ in samples:
            runs = sample_log.with_run(runs, minute, keep_after_ms=0)
        db.update_item(
            TableName=table,
            Key={"pk": {"S": "SESSIONS"}, "sk": {"S": f"SESSION#{session}"}},
            UpdateExpression="SET evaluated = :runs, evaluated_ms = :at",
            ExpressionAttributeValues=to_item({":runs": sample_log.runs_item(runs), ":at": samples[-1][0]}),
        )


@pytest.fixture(scope="module")
def world() -> Iterator[Api]:
    """One embedded backend for the module (tests only read it).

    SESSION: lipstick 3 paid on douyin, 2 reserved on kuaishou (capped at 10), then 20 more paid
    (25 of F=30: yellow); tea 10 of 20 taken, crossing yellow (8) and orange (10) at once: one
    alert each. The evaluator wrote lipstick's FORECAST item at minute 5 (four samples); tea has
    none yet. QUIET: the same products, nothing sold.
    """
    with open_backend() as backend:
        stack = Stack.create(backend)
        stack.store.load_session(plan(SESSION))
        stack.store.load_session(plan(QUIET))
        clock = VirtualClock(T0)
        recorder = _Recorder()
        guard = InventoryGuard(store=stack.store, clock=clock, publisher=recorder, sink=recorder)
        api = Api(stack, clock, guard, load_handler("dashboard_api").handler)
        api.order("o1", "lipstick", "douyin", 3, 1, paid=True)
        api.order("o2", "lipstick", "kuaishou", 2, 2, paid=False)
        api.order("o3", "龙井", "douyin", 4, 3, paid=True)
        api.order("o4", "龙井", "taobao", 6, 4, paid=True)
        api.order("o5", "lipstick", "douyin", 20, 4.5, paid=True)
        # [minute_ms, taken (the stock item's cumulative counter), consumption], as the evaluator writes
        samples = [[T0 + m * MINUTE, n, c] for m, n, c in ((2, 3, 3), (3, 5, 5), (4, 5, 5), (5, 25, 25))]
        api.put_forecast("lipstick", samples, {"velocity": 0.5, "restock_quantity": 12})
        yield api
    dashboard.install(None)


@pytest.fixture
def api(world: Api) -> Iterator[Api]:
    world.clock.set(NOW)
    dashboard.install(dashboard.DashboardReader(world.stack.store, world.clock))
    try:
        yield world
    finally:
        dashboard.install(None)


# ---------------------------------------------------------------------------------- endpoints
def test_session_summary(api: Api) -> None:
    status, body, headers = api.get(f"/sessions/{SESSION}")
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert body["session_id"] == SESSION
    assert body["status"] == "live"
    assert body["as_of_ms"] == NOW  # the injected (virtual) clock
    assert body["utc_offset_minutes"] == 0  # the session starts at ...Z
    assert body["minutes_elapsed"] == pytest.approx(5.33, abs=0.01)
    assert body["minutes_left"] == pytest.approx(174.67, abs=0.01)
    assert body["tiers"] == {"none": 0, "yellow": 1, "orange": 1, "red": 0}
    assert [(s["sku_id"], s["tier"], s["available"]) for s in body["skus"]] == [
        ("lipstick", "yellow", 20),
        ("龙井", "orange", 10),
    ]


def test_skus_with_ledger_forecast_platforms_series_and_band(api: Api) -> None:
    status, body, _ = api.get(f"/sessions/{SESSION}/skus")
    assert status == 200
    assert (body["session_id"], body["as_of_ms"], body["starts_ms"]) == (SESSION, NOW, T0)
    lipstick, tea = body["skus"]
    assert lipstick["ledger"] == {"on_hand": 50, "held": 5, "reserved": 2, "sold": 23, "available": 20}
    assert lipstick["consumption"] == 25
    assert lipstick["tier"] == "yellow" and lipstick["paused"] is False
    assert lipstick["velocity"] == 0.5
    assert lipstick["sell_out_eta_minutes"] == 40.0  # 20 available / 0.5 a minute
    # The evaluator's restock, as the messages give it (docs/product.md): the screen never works
    # out a number of its own that could contradict the message people received.
    assert lipstick["restock_quantity"] == 12
    assert lipstick["forecast"]["configured"] == 30 and lipstick["forecast"]["effective"] == 30
    assert lipstick["forecast"]["lines"] == {"yellow": 24.0, "orange": 30.0, "red": 36.0}
    assert {p["platform"]: (p["used"], p["cap"], p["headroom"]) for p in lipstick["platforms"]} == {
        "douyin": (23, None, None),
        "kuaishou": (2, 10, 8),
    }
    series = lipstick["series"]
    assert series["minute_ms"] == [T0 + m * MINUTE for m in (2, 3, 4, 5)]
    assert series["consumption"] == [3, 5, 5, 25]
    assert series["taken"] == [3, 5, 5, 25]
    sku_plan = forecast.SkuPlan(forecast=30, starts_ms=T0, ends_ms=T0 + 180 * MINUTE)
    for i, minute in enumerate((2, 3, 4, 5)):
        low, high = forecast.expected_band(sku_plan, minute, 180)
        assert series["band_low"][i] == pytest.approx(low, abs=0.01)
        assert series["band_high"][i] == pytest.approx(high, abs=0.01)
    assert lipstick["band_end"] == {"minute_ms": T0 + 180 * MINUTE, "low": 24.0, "high": 36.0}
    assert lipstick["action_en"] == "Watch closely and prepare a restock."
    assert lipstick["forecast_updated_ms"] == T0 + 5 * MINUTE

    # No FORECAST item yet: an empty series and velocity 0, so no ETA and nothing to restock.
    assert tea["ledger"]["available"] == 10 and tea["tier"] == "orange"
    assert tea["series"] == {"minute_ms": [], "taken": [], "consumption": [], "band_low": [], "band_high": []}
    assert tea["velocity"] == 0 and tea["sell_out_eta_minutes"] is None and tea["restock_quantity"] == 0
    assert tea["action_zh"] == "主播放缓节奏，运营确认补货。"
    assert tea["forecast_updated_ms"] is None


def test_the_band_follows_the_effective_forecast() -> None:
    """Forecast 148, selling far above it: the evaluator raised F to 424. The band (every sample
    minute and its end) stands on 424 like the tier lines, so it ends on the stop line."""
    session = "hot-1"
    hot = plan(session).model_copy(
        update={"skus": [plan(session).skus[0].model_copy(update={"forecast": 148, "dynamic": True})]}
    )
    with open_backend() as backend:
        stack = Stack.create(backend)
        stack.store.load_session(hot)
        db, table = backend.dynamodb, stack.store.table_name
        db.update_item(
            TableName=table,
            Key={"pk": {"S": f"SKU#{session}#lipstick"}, "sk": {"S": "STOCK"}},
            UpdateExpression="SET forecast_eff = :f",
            ExpressionAttributeValues=to_item({":f": 424}),
        )
        clock = VirtualClock(T0 + 90 * MINUTE)
        api = Api(stack, clock, None, load_handler("dashboard_api").handler)  # type: ignore[arg-type]
        samples = [[T0 + m * MINUTE, 4 * m, 4 * m] for m in (30, 60, 90)]
        api.put_forecast("lipstick", samples, {"forecast_eff": 424}, session=session)
        dashboard.install(dashboard.DashboardReader(stack.store, clock))
        try:
            status, body, _ = api.get(f"/sessions/{session}/skus")
        finally:
            dashboard.install(None)
    assert status == 200
    (sku,) = body["skus"]
    assert sku["forecast"]["configured"] == 148 and sku["forecast"]["effective"] == 424
    # Default ratios 0.8 / 1.2 of F = 424, a sixth, a third and half way through the show.
    assert sku["series"]["band_low"] == pytest.approx([56.53, 113.07, 169.6], abs=0.01)
    assert sku["series"]["band_high"] == pytest.approx([84.8, 169.6, 254.4], abs=0.01)
    assert sku["band_end"]["low"] == sku["forecast"]["lines"]["yellow"] == pytest.approx(339.2)
    assert sku["band_end"]["high"] == sku["forecast"]["lines"]["red"] == pytest.approx(508.8)


def test_restock_on_the_big_screen_is_the_evaluators(api: Api) -> None:
    """The screen shows the restock the notices give (issue 10), not a number of its own."""
    session = dashboard._Session(SESSION, plan(SESSION), T0, T0 + 180 * MINUTE)
    sku = plan(SESSION).skus[0]
    item = api.stack.store.stock(SESSION, "lipstick")
    assert item is not None
    assert (
        dashboard._sku_view(session, sku, item, {"velocity": 9, "restock_quantity": 24}, NOW).restock_quantity
        == 24
    )
    assert dashboard._sku_view(session, sku, item, {"velocity": 9}, NOW).restock_quantity == 0  # none yet


def test_one_sku_by_its_percent_encoded_id(api: Api) -> None:
    status, body, _ = api.get(f"/sessions/{SESSION}/skus/{quote('龙井')}")
    assert status == 200
    assert body["sku"]["sku_id"] == "龙井" and body["sku"]["name"] == "明前龙井"
    assert (body["starts_ms"], body["ends_ms"], body["as_of_ms"]) == (T0, T0 + 180 * MINUTE, NOW)
    status, body, _ = api.get(f"/sessions/{SESSION}/skus/lipstick")
    assert status == 200 and body["sku"]["ledger"]["available"] == 20


def test_alerts_newest_first_with_limit(api: Api) -> None:
    status, body, _ = api.get(f"/sessions/{SESSION}/alerts")
    assert status == 200
    assert body["limit"] == 50
    alerts = body["alerts"]
    assert [(a["sku_id"], a["previous_tier"], a["tier"], a["at"]) for a in alerts] == [
        ("lipstick", "none", "yellow", "2026-11-25T20:04:30Z"),  # consumption counts reservations
        ("龙井", "none", "orange", "2026-11-25T20:04:00Z"),
    ]
    assert alerts[0]["kind"] == "alert" and alerts[0]["sku_name"] == "丝绒口红 Velvet lipstick"
    assert alerts[0]["action_zh"] == "密切关注，准备补货。"
    assert alerts[0]["alert_id"] != alerts[1]["alert_id"]

    status, body, _ = api.get(f"/sessions/{SESSION}/alerts", {"limit": "1"})
    assert status == 200 and [a["sku_id"] for a in body["alerts"]] == ["lipstick"]
    status, body, _ = api.get(f"/sessions/{SESSION}/alerts", {"limit": "200"})
    assert status == 200 and len(body["alerts"]) == 2


def test_a_session_with_no_sales_yet(api: Api) -> None:
    status, body, _ = api.get(f"/sessions/{QUIET}/skus")
    assert status == 200
    assert [s["ledger"]["available"] for s in body["skus"]] == [45, 20]
    assert [s["tier"] for s in body["skus"]] == ["none", "none"]
    status, body, _ = api.get(f"/sessions/{QUIET}/alerts")
    assert status == 200 and body["alerts"] == []
    api.clock.set(T0 - MINUTE)
    assert api.get(f"/sessions/{QUIET}")[1]["status"] == "upcoming"
    api.clock.set(T0 + 181 * MINUTE)
    assert api.get(f"/sessions/{QUIET}")[1]["status"] == "ended"


# ---------------------------------------------------------------------------------- errors
def test_bad_parameters_are_400_naming_the_field(api: Api) -> None:
    for limit in ["0", "201", "-1", "abc", "2.5", ""]:
        status, body, _ = api.get(f"/sessions/{SESSION}/alerts", {"limit": limit})
        assert status == 400, limit
        assert body["field"] == "limit" and "limit" in body["message"]
        assert body["detail"][0]["in"] == "query"
        assert "Traceback" not in json.dumps(body) and "pydantic" not in json.dumps(body)
    # Ids longer than the contract's 128 characters (counted decoded).
    for path, field_name in [
        (f"/sessions/{'s' * 129}", "session_id"),
        (f"/sessions/{'s' * 129}/skus", "session_id"),
        (f"/sessions/{SESSION}/skus/{'k' * 129}", "sku_id"),
        (f"/sessions/{quote('龙' * 129)}/alerts", "session_id"),
    ]:
        status, body, _ = api.get(path)
        assert (status, body["field"]) == (400, field_name), path


def test_unknown_session_or_sku_is_404(api: Api) -> None:
    for path in [
        "/sessions/nope",
        "/sessions/nope/skus",
        "/sessions/nope/alerts",
        "/sessions/nope/skus/lipstick",
        f"/sessions/{SESSION}/skus/nope",
    ]:
        status, body, _ = api.get(path)
        assert status == 404, path
        assert "not" in body["message"]


def test_unknown_route_is_404_and_no_cors_headers_locally(api: Api) -> None:
    assert api.get("/sessions")[0] == 404
    assert api.get(f"/sessions/{SESSION}/orders")[0] == 404
    _, _, headers = api.get(f"/sessions/{SESSION}")
    assert not any(h.lower().startswith("access-control-") for h in headers)  # same origin locally


# ---------------------------------------------------------------------------------- in AWS
def test_lambda_builds_its_reader_from_the_environment(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    dashboard.install(None)
    monkeypatch.setenv("LEDGER_TABLE", api.stack.store.table_name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    try:
        status, body, _ = api.get(f"/sessions/{SESSION}/skus/lipstick")
        assert status == 200
        assert body["sku"]["ledger"]["available"] == 20
        # No injected clock: "now" is the evaluator's latest write.
        assert body["as_of_ms"] == T0 + 5 * MINUTE
    finally:
        dashboard.install(None)


def test_template_guards_the_api_with_jwt_and_one_cors_origin() -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    api = resources["DashboardHttpApi"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "DashboardJwt"
    assert "JwtConfiguration" in api["Auth"]["Authorizers"]["DashboardJwt"]
    assert api["CorsConfiguration"]["AllowOrigins"] == [{"Ref": "DashboardAllowedOrigin"}]
    routes = {
        e["Properties"]["Path"]
        for e in resources["DashboardApiFunction"]["Properties"]["Events"].values()
        if e["Type"] == "HttpApi"
    }
    assert routes == {
        "/sessions/{session_id}",
        "/sessions/{session_id}/skus",
        "/sessions/{session_id}/skus/{sku_id}",
        "/sessions/{session_id}/alerts",
    }
    # Read-only: the function may not write the ledger.
    actions = resources["DashboardApiFunction"]["Properties"]["Policies"][0]["Statement"][0]["Action"]
    reads = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
    assert set(actions) <= set(reads)


@pytest.mark.parametrize(
    ("kind", "tier", "previous", "action_zh", "stock_lasts"),
    [
        ("alert", "yellow", "none", "密切关注，准备补货。", False),
        ("repeat", "red", "red", "停止售卖，立即联系供应链。", False),
        # The IM card said "红色→黄色。密切关注，准备补货15件": the feed has no number, so it
        # says the tier's action, never "暂不需补货" from the number it lacks.
        ("resolved", "yellow", "red", "密切关注，准备补货。", False),
        ("resolved", "orange", "red", "主播放缓节奏，运营确认补货。", False),
        ("resolved", "none", "orange", "恢复正常，无需操作。", False),
        # The item records that the stock lasts the show (the IM card said so from its pace).
        (
            "alert",
            "red",
            "orange",
            "已超预测，但按当前速度库存够卖到本场结束：不必停售，联系供应链补货备用。",
            True,
        ),
        ("alert", "orange", "yellow", "按当前速度库存够卖到本场结束：主播无需放缓节奏，运营关注库存。", True),
        ("resolved", "orange", "red", "按当前速度库存够卖到本场结束：主播无需放缓节奏，运营关注库存。", True),
    ],
)
def test_the_feed_says_the_action_of_the_tier_that_stands(
    kind: str, tier: str, previous: str, action_zh: str, stock_lasts: bool
) -> None:
    sku = plan(SESSION).skus[0]
    raw = {"alert_id": "a-1", "kind": kind, "tier": tier, "previous_tier": previous, "at_ms": T0}
    view = dashboard._alert_view(sku, raw | {"stock_lasts": stock_lasts})
    assert view.action_zh == action_zh and "no restock needed" not in view.action_en


@pytest.mark.parametrize(
    ("kind", "tier", "previous", "action_zh"),
    [
        ("alert", "red", "orange", "已暂停售卖：立即联系供应链。"),  # auto-pause stopped it already
        ("resolved", "yellow", "red", "仍在暂停售卖：确认库存后恢复售卖。"),  # restocked, not resumed
        ("resolved", "none", "red", "仍在暂停售卖：确认库存后恢复售卖。"),
    ],
)
def test_the_feed_says_what_is_left_to_do_while_selling_is_paused(
    kind: str, tier: str, previous: str, action_zh: str
) -> None:
    sku = plan(SESSION).skus[0]
    raw = {
        "alert_id": "a-1",
        "kind": kind,
        "tier": tier,
        "previous_tier": previous,
        "at_ms": T0,
        "paused": True,
    }
    view = dashboard._alert_view(sku, raw)
    assert view.action_zh == action_zh and "停止售卖" not in view.action_zh

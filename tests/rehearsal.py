"""A small rehearsal through the real handlers on moto: the scenario, the replay stack, the
robots' SecureStrings, the IM router, a TTL removal and the dashboard API. Shared by the log
test (unit/test_no_secrets_in_logs.py) and the IAM test (infrastructure/test_template_security.py)."""

from __future__ import annotations

import copy
import json
import urllib.parse
import uuid
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from robots import FakeRobots
from support import sns_lambda_event

from stockpulse import wiring
from stockpulse.adapters.sns import alert_message, message_attributes
from stockpulse.domain.alerts import AlertNotice
from stockpulse.domain.messages import email_subject
from stockpulse_local.channels import Routing
from stockpulse_local.replay import LambdaContext, Replay, Stack, load_handler, open_backend
from stockpulse_local.report import Report
from stockpulse_local.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[1]
PARAMETER_PATH = "/stockpulse/webhooks"  # template.yaml: WEBHOOK_PARAMETER_PATH

# ------------------------------------------------------------------------------- the scenario


def small_scenario(session_id: str) -> dict[str, Any]:
    """Six minutes, two SKUs: every event type, a hot SKU going yellow -> orange -> red (alerts),
    a platform quota, holds expiring, a duplicate, an unknown SKU, a malformed and an oversized record."""

    def at(minute: int, second: int = 0) -> str:
        return f"2026-11-25T20:{minute:02d}:{second:02d}Z"

    n = 0

    def event(kind: str, when: str, sku: str = "cake", **fields: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        return {
            "event_id": f"{session_id}-e{n:03d}",
            "type": kind,
            "occurred_at": when,
            "session_id": session_id,
            "sku_id": sku,
            **fields,
        }

    def order(kind: str, when: str, order_id: str, sku: str = "cake", **fields: Any) -> dict[str, Any]:
        return event(kind, when, sku, platform=fields.pop("platform", "douyin"), order_id=order_id, **fields)

    events = [
        order("order.created", at(0, 30), "o1", quantity=3),
        order("order.created", at(1, 0), "o2", quantity=2, platform="kuaishou"),
        order("order.paid", at(1, 10), "o1"),
        order("order.created", at(1, 20), "o3", quantity=3),
        order("order.cancelled", at(1, 30), "o2", platform="kuaishou"),
        order("order.created", at(1, 40), "o4", quantity=2),
        order("order.created", at(2, 0), "o5", quantity=3),
        order("order.paid", at(2, 10), "o3"),
        event("stock.restocked", at(2, 20), quantity=5),
        event("stock.held", at(2, 30), quantity=1),
        event("stock.unheld", at(2, 40), quantity=1),
        order("order.created", at(3, 0), "o6", sku="nope", quantity=1),
        order("order.created", at(3, 10), "o7", quantity="2"),  # malformed: a string quantity
        order("order.created", at(3, 20), "o8", quantity=1, note="x" * (20 * 1024)),  # oversized
        event("sku.paused", at(3, 30)),
        event("sku.resumed", at(3, 40)),
        order("order.created", at(4, 0), "o9", quantity=2, platform="kuaishou"),
        order("order.created", at(4, 30), "t1", sku="tea", quantity=4, platform="taobao"),
        order("order.created", at(5, 0), "o10", quantity=1),  # still reserved when the session ends
    ]
    events.append(copy.deepcopy(events[0]))  # a redelivery: duplicate
    events[-1]["occurred_at"] = at(4, 50)
    return {
        "session": {"session_id": session_id, "starts_at": at(0), "ends_at": at(6)},
        "skus": [
            {
                "sku_id": "cake",
                "name": "Osmanthus cake",
                "on_hand": 16,
                "held": 2,
                "forecast": 10,
                "hold_minutes": 2,
                "importance": "core",
                "dynamic": False,
                "platform_quotas": {"kuaishou": 4},
            },
            {"sku_id": "tea", "name": "Longjing tea", "on_hand": 5, "forecast": 4, "hold_minutes": 2},
        ],
        "events": events,
    }


# ------------------------------------------------------------------------------- the rehearsal


def _sns_lambda_event(notice: AlertNotice, topic_arn: str) -> dict[str, Any]:
    """The event Lambda gets from the alerts topic for `notice`: the `default` body of the
    JSON-structured publish, the publisher's subject and its message attributes, typed as SNS
    types them (`channels` is a String.Array)."""
    event = sns_lambda_event(json.loads(alert_message(notice))["default"], topic_arn=topic_arn,
                             subject=email_subject(notice))  # fmt: skip
    event["Records"][0]["Sns"]["MessageAttributes"] = {
        name: {"Type": value["DataType"], "Value": value["StringValue"]}
        for name, value in message_attributes(notice).items()
    }
    return event


def api_event(
    path: str, route: str, params: dict[str, str], query: dict[str, str] | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "http_get_skus.json").read_text(encoding="utf-8"))
    event["routeKey"] = event["requestContext"]["routeKey"] = f"GET {route}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = params
    event["rawQueryString"] = urllib.parse.urlencode(query or {})
    if query:
        event["queryStringParameters"] = query
    return event


class Rehearsal:
    """A moto backend, the replay stack, the robots' SecureStrings: call run(), route_alerts(),
    ttl_removal(), dashboard() in turn (each through the real handler)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, robots: FakeRobots) -> None:
        self.monkeypatch = monkeypatch
        self.robots = robots
        self.session_id = f"rehearsal-{uuid.uuid4().hex[:8]}"
        self.scenario = parse_scenario(small_scenario(self.session_id))
        self._backend = open_backend("moto")
        self.router: ModuleType = load_handler("alert_router")
        self.routed: list[dict[str, Any]] = []

    def __enter__(self) -> Rehearsal:
        backend = self._backend.__enter__()
        self.monkeypatch.setenv("WEBHOOK_PARAMETER_PATH", PARAMETER_PATH)
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        ssm = boto3.client("ssm", region_name="us-east-1")
        for name, value in self.robots.parameters().items():
            ssm.put_parameter(Name=f"{PARAMETER_PATH}/{name}", Value=json.dumps(value), Type="SecureString")
        self.stack = Stack.create(backend)
        # The template's delivery records table (created with the ledger): the router keeps them.
        tables = backend.dynamodb.list_tables()["TableNames"]
        [self.delivery_table] = [name for name in tables if name.endswith("RobotDeliveryTable")]
        self.monkeypatch.setenv("ROBOT_DELIVERY_TABLE", self.delivery_table)
        self.replay = Replay(self.scenario, self.stack)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        wiring.install(None)
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        try:
            from stockpulse import dashboard

            dashboard.install(None)
        except ImportError:
            pass
        self._backend.__exit__(kind, exc, tb)

    def run(self) -> Report:
        return self.replay.run()

    def route_alerts(self) -> int:
        """Every notice published to the alerts topic that the IM router's subscription filter
        policy (template.yaml, default parameters) admits goes through AlertRouterFunction.

        The replay drains the feed queue itself after every batch and minute, so the notices are
        read from `Replay.notices` (every message the feed received, by alert id), and which of
        them SNS would hand the router is decided by the template's own filter policy
        (`stockpulse_local.channels.Routing`), not restated here."""
        routing = Routing.from_template()
        for notice in self.replay.notices.values():
            if "im" in routing.channels(notice):
                event = _sns_lambda_event(notice, self.stack.alerts_topic_arn)
                self.routed.append(self.router.handler(event, LambdaContext("alert_router")))
        return len(self.routed)

    def ttl_removal(self) -> dict[str, Any]:
        """DynamoDB's TTL deletes a reservation the sweep has not released: the stream record goes
        through ReservationExpiryFunction, which must release it."""
        db, table = self.stack.backend.dynamodb, self.stack.store.table_name
        items = db.scan(
            TableName=table,
            FilterExpression="begins_with(pk, :p) AND #s = :r",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":p": {"S": f"ORDER#{self.session_id}#"}, ":r": {"S": "reserved"}},
        )["Items"]
        assert items, "the rehearsal should end with a reservation outstanding"
        old = items[0]
        keys = {"pk": old["pk"], "sk": old["sk"]}
        db.delete_item(TableName=table, Key=keys)  # what TTL does
        record = {
            "eventID": uuid.uuid4().hex,
            "eventName": "REMOVE",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1795641060,
                "Keys": keys,
                "OldImage": old,
                "SequenceNumber": "111100000000000000000001",
                "SizeBytes": 200,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
            "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-11-25",
        }
        expiry = load_handler("reservation_expiry")
        response: dict[str, Any] = expiry.handler({"Records": [record]}, LambdaContext("reservation_expiry"))
        return response

    def dashboard(self) -> list[dict[str, Any]]:
        """Every route of the dashboard API, through DashboardApiFunction (when it exists)."""
        if not (ROOT / "functions" / "dashboard_api" / "app.py").exists():
            return []
        from stockpulse import dashboard

        dashboard.install(dashboard.DashboardReader(self.stack.store))
        api = load_handler("dashboard_api")
        sid = self.session_id
        calls = [
            (f"/sessions/{sid}", "/sessions/{session_id}", {"session_id": sid}, None),
            (f"/sessions/{sid}/skus", "/sessions/{session_id}/skus", {"session_id": sid}, None),
            (
                f"/sessions/{sid}/skus/cake",
                "/sessions/{session_id}/skus/{sku_id}",
                {"session_id": sid, "sku_id": "cake"},
                None,
            ),
            (f"/sessions/{sid}/alerts", "/sessions/{session_id}/alerts", {"session_id": sid}, {"limit": "5"}),
        ]
        return [
            api.handler(api_event(path, route, params, query), LambdaContext("dashboard_api"))
            for path, route, params, query in calls
        ]

"""Alert routing on moto: each channel subscribed with template.yaml's own filter policy receives
exactly the tiers that policy admits (the SMS policy's `$or` included: moto 5.2.5 evaluates it)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stockpulse.adapters.sns import SnsAlertPublisher
from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.tiers import Tier
from stockpulse_local.template_tables import load_template

REGION = "us-east-1"
TIERS = (Tier.YELLOW, Tier.ORANGE, Tier.RED)
IMPORTANCE = ("core", "normal")


def resolve(node: Any, parameters: dict[str, Any]) -> Any:
    """Replace every `Ref` to a template parameter by its default (CommaDelimitedList -> list)."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in parameters:
            param = parameters[node["Ref"]]
            default = param["Default"]
            if param["Type"] == "CommaDelimitedList":
                return [v.strip() for v in str(default).split(",")]
            return default
        return {k: resolve(v, parameters) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, parameters) for v in node]
    return node


@pytest.fixture(scope="module")
def policies() -> dict[str, dict[str, Any] | None]:
    """Channel -> filter policy as deployed with the parameters' defaults (None: no filter)."""
    template = load_template()
    resources, parameters = template["Resources"], template["Parameters"]

    def subscription(logical_id: str) -> dict[str, Any] | None:
        props = resources[logical_id]["Properties"]
        assert props["TopicArn"] == {"Ref": "AlertsTopic"}
        if "FilterPolicy" in props:
            assert props["FilterPolicyScope"] == "MessageAttributes"
        return resolve(props.get("FilterPolicy"), parameters)

    router = resources["AlertRouterFunction"]["Properties"]["Events"]["ImRobotAlerts"]["Properties"]
    assert router["Topic"] == {"Ref": "AlertsTopic"}
    assert router.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"
    return {
        "feed": subscription("AlertFeedSubscription"),
        "email": subscription("AlertEmailSubscription"),
        "sms": subscription("AlertSmsSubscription"),
        "im_robots": resolve(router["FilterPolicy"], parameters),
    }


def expected(channel: str, tier: str, importance: str) -> bool:
    """docs/architecture.md "SNS": the routing the defaults must give."""
    if channel == "feed":
        return True
    if channel in ("im_robots", "email"):
        return tier in ("orange", "red")
    assert channel == "sms"
    return tier == "red" or (tier == "orange" and importance == "core")


def test_template_defaults_are_the_documented_routing(policies: dict[str, Any]) -> None:
    assert policies["feed"] is None
    assert policies["email"] == {"tier": ["orange", "red"]}
    assert policies["im_robots"] == {"tier": ["orange", "red"]}
    assert policies["sms"] == {
        "$or": [{"tier": ["red"]}, {"tier": ["orange", "red"], "importance": ["core"]}]
    }


_ids = itertools.count()


def notice(kind: NoticeKind, tier: Tier, importance: str) -> AlertNotice:
    return AlertNotice(
        alert_id=f"a{next(_ids)}",
        kind=kind,
        session_id="s1",
        sku_id=f"sku-{importance}",
        sku_name="测试商品",
        importance=importance,
        tier=tier,
        previous_tier=Tier.RED if kind is NoticeKind.RESOLVED else Tier.NONE,
        at=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
        on_hand=100,
        held=0,
        reserved=90,
        sold=0,
        available=10,
        velocity_per_minute=2.0,
        sell_out_eta_minutes=5.0,
        restock_quantity=50,
    )


def drain(sqs: Any, url: str) -> list[tuple[str, str, str]]:
    """(tier, importance, kind) attributes of every message on the queue."""
    seen: list[tuple[str, str, str]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return seen
        for message in batch:
            attrs = json.loads(message["Body"])["MessageAttributes"]
            seen.append((attrs["tier"]["Value"], attrs["importance"]["Value"], attrs["kind"]["Value"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        yield boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)


def queue_on(sns: Any, sqs: Any, topic: str, name: str, policy: dict[str, Any] | None) -> str:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {}
    if policy is not None:
        attributes = {"FilterPolicy": json.dumps(policy), "FilterPolicyScope": "MessageAttributes"}
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return str(url)


def test_each_channel_receives_exactly_its_tiers(aws: tuple[Any, Any], policies: dict[str, Any]) -> None:
    sns, sqs = aws
    alerts = sns.create_topic(Name="alerts")["TopicArn"]
    supply = sns.create_topic(Name="supply-chain")["TopicArn"]
    queues = {channel: queue_on(sns, sqs, alerts, channel, policy) for channel, policy in policies.items()}
    supply_queue = queue_on(sns, sqs, supply, "supply", None)

    publisher = SnsAlertPublisher(sns, alerts, supply)
    sent: list[tuple[str, str, str]] = []
    for importance in IMPORTANCE:
        for tier in TIERS:
            for kind in (NoticeKind.ALERT, NoticeKind.REPEAT):
                publisher.publish(notice(kind, tier, importance))
                sent.append((tier.value, importance, kind.value))
        for tier in (Tier.NONE, Tier.YELLOW):  # resolutions back to none or to a lower tier
            publisher.publish(notice(NoticeKind.RESOLVED, tier, importance))
            sent.append(("resolved", importance, "resolved"))

    for channel, url in queues.items():
        got = sorted(drain(sqs, url))
        want = sorted(m for m in sent if expected(channel, m[0], m[1]))
        assert got == want, channel
    # Restock requests: red announcements only (not their repeats), whatever the importance.
    supply_got = sorted(drain(sqs, supply_queue))
    assert supply_got == [("red", "core", "alert"), ("red", "normal", "alert")]


def test_message_is_the_notice(aws: tuple[Any, Any]) -> None:
    sns, sqs = aws
    alerts = sns.create_topic(Name="alerts")["TopicArn"]
    url = queue_on(sns, sqs, alerts, "feed", None)
    sent = notice(NoticeKind.ALERT, Tier.ORANGE, "core")
    SnsAlertPublisher(sns, alerts).publish(sent)
    body = json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])
    assert AlertNotice.model_validate_json(body["Message"]) == sent
    assert {k: v["Value"] for k, v in body["MessageAttributes"].items()} == {
        "tier": "orange",
        "importance": "core",
        "sku_id": "sku-core",
        "session_id": "s1",
        "kind": "alert",
    }

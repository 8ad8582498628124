"""Alert routing on moto: each channel subscribed with template.yaml's own filter policy receives
exactly what `stockpulse_local.channels.Routing` (the report's `channels`) says it does, for every
kind, tier, importance, first announcement and per-SKU channel list (moto 5.2.5 evaluates `$or`
and String.Array attributes as SNS does)."""

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
from stockpulse.ports import ALERTS_TOPIC, PublishFailed
from stockpulse_local.channels import PolicyError, Routing

REGION = "us-east-1"
IMPORTANCE = ("core", "normal")
CHANNEL_LISTS = (["im", "sms", "email", "supply_chain"], ["im"], ["sms", "email"], [])  # []: the feed only


@pytest.fixture(scope="module")
def routing() -> Routing:
    return Routing.from_template()


def test_template_defaults_are_the_documented_routing(routing: Routing) -> None:
    """docs/product.md "Who gets what": the policies the defaults give."""
    policies = routing.policies
    assert set(policies) == {"feed", "im", "email", "sms"}
    assert policies["feed"] is None
    assert policies["email"] == {
        "$or": [
            {"kind": ["pre_show"], "channels": ["email"]},
            {"kind": ["alert", "sold_out", "resolved"], "tier": ["orange", "red"], "channels": ["email"]},
        ]
    }
    assert policies["im"] == {
        "$or": [
            {"kind": ["pre_show"], "channels": ["im"]},
            {
                "kind": ["alert", "sold_out", "resolved", "repeat"],
                "tier": ["orange", "red"],
                "channels": ["im"],
            },
        ]
    }
    assert policies["sms"] == {
        "kind": ["alert", "sold_out"], "tier": ["red"], "importance": ["core"], "first": ["true"],
        "channels": ["sms"],
    }  # fmt: skip


def test_a_deployed_stack_is_routed_with_its_own_parameter_values(tmp_path: Any) -> None:
    """`session status --stack --review`: the stack's tiers, and only the subscriptions its
    conditions created; a condition in a grammar not read raises rather than guess."""
    bare = Routing.from_template(values={})  # no e-mail address, no phone: no such subscriptions
    assert set(bare.policies) == {"feed", "im"}
    chosen = Routing.from_template(values={"AlertEmail": "ops@example.com", "EmailTiers": "red"})
    assert set(chosen.policies) == {"feed", "im", "email"}
    assert chosen.policies["email"] == {
        "$or": [
            {"kind": ["pre_show"], "channels": ["email"]},
            {"kind": ["alert", "sold_out", "resolved"], "tier": ["red"], "channels": ["email"]},
        ]
    }
    assert chosen.policies["im"] == Routing.from_template().policies["im"]  # the default tiers

    template = tmp_path / "t.yaml"
    template.write_text(
        "Parameters: {AlertEmail: {Type: String, Default: ''}}\n"
        "Conditions: {HasAlertEmail: {'Fn::Or': [{'Fn::Equals': [{Ref: AlertEmail}, 'x']}]}}\n"
        "Resources:\n"
        "  AlertsTopic: {Type: 'AWS::SNS::Topic'}\n"
        "  Mail: {Type: 'AWS::SNS::Subscription', Condition: HasAlertEmail,"
        " Properties: {TopicArn: {Ref: AlertsTopic}, Protocol: email, Endpoint: {Ref: AlertEmail}}}\n",
        encoding="utf-8",
    )
    assert set(Routing.from_template(template).policies) == {"email"}  # a replay's: every endpoint
    with pytest.raises(PolicyError, match="Fn::Or"):
        Routing.from_template(template, values={})


_ids = itertools.count()


def notice(
    kind: NoticeKind, tier: Tier, importance: str, first: bool = True, channels: list[str] | None = None
) -> AlertNotice:
    return AlertNotice(
        alert_id=f"a{next(_ids)}",
        kind=kind,
        session_id="s1",
        sku_id=f"sku-{importance}",
        sku_name="测试商品",
        importance=importance,
        tier=Tier.NONE if kind is NoticeKind.RESOLVED else tier,
        previous_tier=tier if kind is NoticeKind.RESOLVED else Tier.NONE,
        first_of_tier=first,
        channels=channels if channels is not None else ["im", "sms", "email", "supply_chain"],  # type: ignore[arg-type]
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


def drain(sqs: Any, url: str) -> list[str]:
    """The alert ids of every message on the queue."""
    seen: list[str] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return seen
        for message in batch:
            body = json.loads(message["Body"])
            seen.append(json.loads(body["Message"])["alert_id"])  # the notice, or a restock request
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


def test_each_channel_receives_exactly_what_the_report_says(aws: tuple[Any, Any], routing: Routing) -> None:
    sns, sqs = aws
    alerts = sns.create_topic(Name="alerts")["TopicArn"]
    supply = sns.create_topic(Name="supply-chain")["TopicArn"]
    # moto over-counts the complexity of an `$or` policy (AWS sums its branches: 9 for the IM
    # robots'), so each branch gets its own queue here and the channel receives their union.
    queues: dict[str, list[str]] = {}
    for channel, policy in routing.policies.items():
        branches = policy["$or"] if policy is not None and set(policy) == {"$or"} else [policy]
        queues[channel] = [queue_on(sns, sqs, alerts, f"{channel}-{i}", b) for i, b in enumerate(branches)]
    queues["supply_chain"] = [queue_on(sns, sqs, supply, "supply", None)]
    publisher = SnsAlertPublisher(sns, alerts, supply)
    want: dict[str, list[str]] = {channel: [] for channel in queues}
    for kind, tier, importance, first, channels in itertools.product(
        NoticeKind, (Tier.NONE, Tier.YELLOW, Tier.ORANGE, Tier.RED), IMPORTANCE, (True, False), CHANNEL_LISTS
    ):
        sent = notice(kind, tier, importance, first, channels)
        publisher.publish(sent)
        for channel in routing.channels(sent):
            want[channel].append(sent.alert_id)
    for channel, urls in queues.items():
        got = {alert_id for url in urls for alert_id in drain(sqs, url)}
        assert sorted(got) == sorted(want[channel]), channel
    # The budget in the policies: SMS only for the first red of a core product; repeats to IM only.
    assert routing.channels(notice(NoticeKind.REPEAT, Tier.RED, "core")) == ["feed", "im"]
    assert "sms" not in routing.channels(notice(NoticeKind.ALERT, Tier.RED, "normal"))
    assert "sms" not in routing.channels(notice(NoticeKind.ALERT, Tier.RED, "core", first=False))
    assert routing.channels(notice(NoticeKind.SLOW, Tier.NONE, "core")) == ["feed"]


def test_a_refused_restock_request_is_sent_again_alone(aws: tuple[Any, Any]) -> None:
    """The alerts topic took a red, the supply-chain topic refused its restock request: the
    failure says the alerts topic has it, and the retry that skips it reaches the supply chain
    only, so nobody subscribed to the alerts is paged twice."""
    sns, sqs = aws
    alerts = sns.create_topic(Name="alerts")["TopicArn"]
    people = queue_on(sns, sqs, alerts, "people", None)
    supply_arn = alerts.replace(":alerts", ":supply-chain")  # not created yet: the publish is refused
    publisher = SnsAlertPublisher(sns, alerts, supply_arn)
    red = notice(NoticeKind.ALERT, Tier.RED, "core")
    with pytest.raises(PublishFailed) as refused:
        publisher.publish(red)
    assert refused.value.taken == {ALERTS_TOPIC}
    assert drain(sqs, people) == [red.alert_id]
    assert sns.create_topic(Name="supply-chain")["TopicArn"] == supply_arn
    requests = queue_on(sns, sqs, supply_arn, "requests", None)
    publisher.publish(red, refused.value.taken)
    assert drain(sqs, people) == []
    assert drain(sqs, requests) == [red.alert_id]


def test_message_is_the_notice_with_a_body_per_protocol(aws: tuple[Any, Any]) -> None:
    sns, sqs = aws
    alerts = sns.create_topic(Name="alerts")["TopicArn"]
    url = queue_on(sns, sqs, alerts, "feed", None)
    sent = notice(NoticeKind.ALERT, Tier.ORANGE, "core")
    SnsAlertPublisher(sns, alerts).publish(sent)
    body = json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])
    assert AlertNotice.model_validate_json(body["Message"]) == sent
    attributes = {k: v["Value"] for k, v in body["MessageAttributes"].items()}
    assert attributes == {
        "tier": "orange", "importance": "core", "sku_id": "sku-core", "session_id": "s1", "kind": "alert",
        "first": "true", "channels": json.dumps(["im", "sms", "email", "supply_chain"]),
    }  # fmt: skip

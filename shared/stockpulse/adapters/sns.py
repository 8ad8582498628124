"""Alert delivery over SNS: one publish per notice, a body made for each protocol.

The alerts topic gets `MessageStructure="json"`: SNS hands each subscription the key named after
its protocol, or `default`:
- `default`: the notice as JSON (`AlertNotice.model_dump_json()`), for the Lambda (IM router) and
  SQS (big-screen feed) subscribers, which parse it back into an AlertNotice;
- `sms`: the one-segment Chinese SMS (at most 70 UCS-2 units);
- `email`: the readable plain-text e-mail (Chinese, then English).
`Subject` is the sanitised e-mail subject: SNS refuses control characters and subjects of 100
characters or more, and a refused publish would lose the alert. Message attributes come from
`routing_attributes` (the subscription filter policies read them); `channels` is a String.Array.

At red (`to_supply_chain`), the supply-chain topic gets a restock request: JSON by default, the
same readable e-mail and SMS for people subscribed to it. When the alerts topic took the notice
and the restock request failed, `PublishFailed.taken` says so: the retry sends the request alone.

The platforms' stock sync feed (`stockpulse.stock_sync`) goes to its own topic, ten updates per
PublishBatch (`SnsStockSyncPublisher`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from stockpulse.adapters.aws_errors import as_port_error
from stockpulse.domain.alerts import AlertNotice, routing_attributes, to_supply_chain
from stockpulse.domain.messages import email_body, email_subject, render, restock_request, restock_subject
from stockpulse.ports import ALERTS_TOPIC, SUPPLY_CHAIN, PublishFailed
from stockpulse.stock_sync import StockSyncFailed, StockSyncUpdate

SNS_BATCH = 10  # PublishBatch takes at most 10 entries


def message_attributes(notice: AlertNotice) -> dict[str, dict[str, str]]:
    """`routing_attributes` as SNS MessageAttributes (lists as String.Array). SNS refuses empty
    values, so an empty one is left out: no `channels` (the feed only) matches no policy."""
    attributes: dict[str, dict[str, str]] = {}
    for name, value in routing_attributes(notice).items():
        if isinstance(value, list):
            if value:
                attributes[name] = {"DataType": "String.Array", "StringValue": json.dumps(value)}
        elif value:
            attributes[name] = {"DataType": "String", "StringValue": value}
    return attributes


def alert_message(notice: AlertNotice) -> str:
    """The JSON-structured Message: `default` (notice JSON), `sms`, `email`."""
    bodies = {
        "default": notice.model_dump_json(),
        "sms": render(notice).sms_zh,
        "email": email_body(notice),
    }
    return json.dumps(bodies, ensure_ascii=False)


def restock_message(notice: AlertNotice) -> str:
    """The supply-chain Message: the restock request JSON by default, readable for people."""
    bodies = {
        "default": restock_request(notice),
        "sms": render(notice).sms_zh,
        "email": email_body(notice),
    }
    return json.dumps(bodies, ensure_ascii=False)


class SnsAlertPublisher:
    """Alerts to the alerts topic; at red, a restock request to the supply-chain topic too."""

    def __init__(self, client: Any, alerts_topic_arn: str, supply_topic_arn: str | None = None) -> None:
        self._sns = client
        self._alerts = alerts_topic_arn
        self._supply = supply_topic_arn

    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        attributes = message_attributes(notice)
        if ALERTS_TOPIC not in skip:
            self._publish(self._alerts, email_subject(notice), alert_message(notice), attributes)
        if self._supply and to_supply_chain(notice) and SUPPLY_CHAIN not in skip:
            try:
                self._publish(self._supply, restock_subject(notice), restock_message(notice), attributes)
            except PublishFailed as err:  # people have the alert: a retry must not page them again
                raise PublishFailed(str(err), taken=skip | {ALERTS_TOPIC}) from err

    def _publish(self, topic: str, subject: str, message: str, attributes: dict[str, Any]) -> None:
        with as_port_error(PublishFailed):
            self._sns.publish(
                TopicArn=topic,
                Subject=subject,
                Message=message,
                MessageStructure="json",
                MessageAttributes=attributes,
            )


class SnsStockSyncPublisher:
    """Updates to STOCK_SYNC_TOPIC_ARN, ten per PublishBatch request; attributes let a platform's
    subscription filter on its session or SKU."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._sns = client
        self._topic = topic_arn

    def publish(self, updates: Sequence[StockSyncUpdate]) -> None:
        for start in range(0, len(updates), SNS_BATCH):
            chunk = updates[start : start + SNS_BATCH]
            entries = [
                {
                    "Id": str(i),
                    "Message": json.dumps(u.message(), ensure_ascii=False, sort_keys=True),
                    "MessageAttributes": {
                        "session_id": {"DataType": "String", "StringValue": u.session_id},
                        "sku_id": {"DataType": "String", "StringValue": u.sku_id},
                        "kind": {"DataType": "String", "StringValue": "stock_sync"},
                    },
                }
                for i, u in enumerate(chunk)
            ]
            with as_port_error(PublishFailed):
                response = self._sns.publish_batch(TopicArn=self._topic, PublishBatchRequestEntries=entries)
            failed = response.get("Failed") or []
            if failed:
                raise StockSyncFailed(f"{len(failed)} stock sync updates not published: {failed[:3]}")

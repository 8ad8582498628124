"""Alert delivery over SNS: message attributes drive the per-channel subscription filter policies."""

from __future__ import annotations

import json
from typing import Any

from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.tiers import Tier


def _attributes(notice: AlertNotice) -> dict[str, dict[str, str]]:
    tier = "resolved" if notice.kind is NoticeKind.RESOLVED else notice.tier.value
    values = {
        "tier": tier,
        "importance": notice.importance,
        "sku_id": notice.sku_id,
        "session_id": notice.session_id,
        "kind": notice.kind.value,
    }
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}


class SnsAlertPublisher:
    """Alerts to the alerts topic; at red, a restock request to the supply-chain topic too."""

    def __init__(self, client: Any, alerts_topic_arn: str, supply_topic_arn: str | None = None) -> None:
        self._sns = client
        self._alerts = alerts_topic_arn
        self._supply = supply_topic_arn

    def publish(self, notice: AlertNotice) -> None:
        self._sns.publish(
            TopicArn=self._alerts,
            Subject=f"[{notice.tier.value.upper()}] {notice.sku_name}"[:100],
            Message=notice.model_dump_json(),
            MessageAttributes=_attributes(notice),
        )
        if self._supply and notice.kind is NoticeKind.ALERT and notice.tier is Tier.RED:
            self._sns.publish(
                TopicArn=self._supply,
                Subject=f"Restock request: {notice.sku_name}"[:100],
                Message=json.dumps(
                    {
                        "alert_id": notice.alert_id,
                        "session_id": notice.session_id,
                        "sku_id": notice.sku_id,
                        "sku_name": notice.sku_name,
                        "restock_quantity": notice.restock_quantity,
                        "available": notice.available,
                        "sell_out_eta_minutes": notice.sell_out_eta_minutes,
                    }
                ),
                MessageAttributes=_attributes(notice),
            )

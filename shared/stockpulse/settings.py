"""The stack's configuration: every environment variable a function reads, parsed once, typed.

template.yaml sets them (Globals for the ledger's, each function its own); the runner and the
tests set the same names. A missing value is refused where it is needed, with its name, not as a
KeyError deep in a handler.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _blank_is_unset(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


Optional = Annotated[str | None, BeforeValidator(_blank_is_unset)]


class MissingSetting(RuntimeError):
    """A function needs an environment variable the stack did not set."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    ledger_table: Optional = Field(None, alias="LEDGER_TABLE")
    expiry_shards: int = Field(16, alias="EXPIRY_SHARDS", ge=1, le=256)
    alerts_topic_arn: Optional = Field(None, alias="ALERTS_TOPIC_ARN")
    supply_topic_arn: Optional = Field(None, alias="SUPPLY_TOPIC_ARN")
    stock_sync_topic_arn: Optional = Field(None, alias="STOCK_SYNC_TOPIC_ARN")
    rejected_events_queue_url: Optional = Field(None, alias="REJECTED_EVENTS_QUEUE_URL")
    # The evaluator's repeat cooldown for every SKU without its own (`alerts.cooldown_minutes`).
    alert_cooldown_minutes: Annotated[float | None, BeforeValidator(_blank_is_unset)] = Field(
        None, alias="ALERT_COOLDOWN_MINUTES", ge=0
    )
    # The alert router's robots: one SSM parameter each below this path.
    webhook_parameter_path: str = Field("/stockpulse/webhooks", alias="WEBHOOK_PARAMETER_PATH", min_length=1)
    robot_max_attempts: int = Field(4, alias="ROBOT_MAX_ATTEMPTS", ge=1, le=10)
    # Which robot took which alert (adapters/robot_deliveries.py); unset: no record (local runs).
    robot_delivery_table: Optional = Field(None, alias="ROBOT_DELIVERY_TABLE")
    # The dashboard API's CORS origin; empty: same origin only.
    dashboard_allowed_origin: str = Field("", alias="DASHBOARD_ALLOWED_ORIGIN")

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Settings:
        return cls.model_validate(dict(os.environ if env is None else env))

    def require(self, field: str) -> str:
        """The setting `field`, refused with its variable's name when unset."""
        value = getattr(self, field)
        if value is None:
            raise MissingSetting(f"{type(self).model_fields[field].alias} is not set")
        return str(value)

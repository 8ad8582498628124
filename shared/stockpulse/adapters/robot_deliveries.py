"""Which IM robot took which alert, across invocations and containers (`webhooks.Once`).

SNS invokes the alert router asynchronously: when one robot fails, Lambda retries the whole event,
often in another container, and an alert the evaluator publishes again (a publish that failed
half-way) comes back as a new event. Without a record, every robot that already took the alert
would post it again, and a group reads the same red twice or three times. Powertools Idempotency
keeps that record in a DynamoDB table, keyed by (alert id, robot name):
- a delivery that succeeded is remembered for DELIVERY_MEMORY_S; the same pair later is skipped;
- a delivery that failed leaves no record (Powertools deletes it), so the retry posts again;
- a delivery in flight in another invocation is a failure here: the event is retried later and
  finds it done (or failed);
- if the table cannot be read or written, the robot is posted anyway: a duplicate is cheaper than
  a missed alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from stockpulse.adapters.webhooks import DeliveryFailed, RobotConfig

logger = logging.getLogger(__name__)

DELIVERY_MEMORY_S = 24 * 3600  # Lambda retries within 6 hours; a republished alert within minutes


def _posted(delivery: dict[str, str], post: Callable[[], int]) -> dict[str, int]:
    """The delivery itself (`delivery` is the record's key: alert id and robot name)."""
    return {"attempts": int(post())}


def _replayed(response: Any, idempotent_data: DataRecord) -> Any:
    """A pair already delivered: Powertools hands back its saved result, marked as skipped."""
    return {**response, "skipped": True}


class RobotDeliveries:
    """`once(alert_id, robot, post)` -> (attempts, skipped): `post` runs unless that robot already
    took that alert (`webhooks.Once`; see the module docstring)."""

    def __init__(
        self, persistence: BasePersistenceLayer, *, expires_after_s: int = DELIVERY_MEMORY_S
    ) -> None:
        self.config = IdempotencyConfig(expires_after_seconds=expires_after_s, response_hook=_replayed)
        self._once = idempotent_function(
            _posted, data_keyword_argument="delivery", persistence_store=persistence, config=self.config
        )

    @classmethod
    def on_table(cls, table_name: str, client: Any = None) -> RobotDeliveries:
        return cls(DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client))

    def register(self, context: LambdaContext) -> None:
        """A delivery in flight when the invocation times out is free to retry from its deadline."""
        self.config.register_lambda_context(context)

    def once(self, alert_id: str, robot: RobotConfig, post: Callable[[], int]) -> tuple[int, bool]:
        posted: list[int] = []

        def post_and_keep() -> int:
            posted.append(post())
            return posted[-1]

        try:
            result = self._once(delivery={"alert_id": alert_id, "robot": robot.name}, post=post_and_keep)
        except IdempotencyAlreadyInProgressError:
            raise DeliveryFailed(
                robot.platform, None, "being delivered by another invocation", robot=robot.name, attempts=0
            ) from None
        except IdempotencyPersistenceLayerError:
            logger.warning("delivery record unavailable: posting without it", extra={"robot": robot.name})
            if posted:  # delivered; only its record could not be saved
                return posted[-1], False
            return post(), False
        return int(result["attempts"]), bool(result.get("skipped", False))

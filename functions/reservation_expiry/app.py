"""Expiry of unpaid holds: a sweep every minute, and the TTL-removal stream as the backstop.

DynamoDB TTL deletes late, so the sweep (through the sharded `by_expiry` index, no scans) does
the work; a TTL removal of a still-reserved order means the sweep missed it, and it is released
here. Either way a reservation is released at most once (the write is conditional on `reserved`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from stockpulse import wiring
from stockpulse.expiry import is_order_image

logger = Logger()
metrics = Metrics()
tracer = Tracer()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def release_removed(record: DynamoDBRecord) -> None:
    old_image = record.dynamodb.old_image if record.dynamodb else None
    if not old_image or not is_order_image(old_image):
        return
    if wiring.dependencies().guard.expiry.release_ttl_removed(dict(old_image)):
        metrics.add_metric(name="released_by_ttl", unit=MetricUnit.Count, value=1)
        logger.warning(
            "reservation released from its TTL removal: the sweep missed it",
            extra={"pk": old_image.get("pk")},
        )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse | dict[str, int]:
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=release_removed, processor=processor, context=context
        )
    released = wiring.dependencies().guard.expiry.sweep()
    metrics.add_metric(name="released_by_sweep", unit=MetricUnit.Count, value=released)
    return {"released": released}

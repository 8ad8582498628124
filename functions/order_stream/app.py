"""Kinesis `orders` stream -> reservations, payments, releases (partial batch failures, per-SKU order)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from stockpulse import wiring
from stockpulse.stream import KinesisRecord, SkuOrderedBatch, sync_platform_stock

logger = Logger()
metrics = Metrics()
tracer = Tracer()
processor = BatchProcessor(event_type=EventType.KinesisDataStreams, model=KinesisRecord)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    batch = SkuOrderedBatch(wiring.dependencies(), event)
    response = process_partial_response(
        event=event, record_handler=batch.handle_record, processor=processor, context=context
    )
    feed = wiring.stock_sync_feed()
    if feed is not None:
        sync_platform_stock(batch, feed, metrics)  # advisory: logs and counts, never raises
    return response

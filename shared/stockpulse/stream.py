"""One Kinesis batch, processed so that each SKU's events keep their order.

Powertools' BatchProcessor goes on after a failed record. A later `order.paid` must not run
before its failed `order.created`, so once a SKU's record fails, the rest of that SKU's records
in the batch are reported failed too and come back, in order, on the retry.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser.models import KinesisDataStreamRecord

from stockpulse.domain.events import InvalidEvent, parse_event
from stockpulse.domain.ledger import Outcome, Reason
from stockpulse.wiring import Dependencies

logger = Logger(child=True)


class HeldBackAfterFailure(Exception):
    """An earlier record of the same SKU failed in this batch: retried after it, never before."""


class SkuOrderedBatch:
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps
        self._failed_partitions: set[str] = set()

    def handle_record(self, record: KinesisDataStreamRecord) -> None:
        partition = record.kinesis.partitionKey
        if partition in self._failed_partitions:
            raise HeldBackAfterFailure(partition)
        try:
            self._handle(record)
        except Exception:
            self._failed_partitions.add(partition)
            raise

    def _handle(self, record: KinesisDataStreamRecord) -> None:
        raw = record.kinesis.data
        assert isinstance(raw, bytes)
        try:
            event = parse_event(raw)
        except InvalidEvent as invalid:
            self._reject_invalid(record, raw, invalid)
            return
        outcome = self._deps.guard.handle(event)
        logger.debug("event handled", extra={"event_id": event.event_id, "result": outcome.result.value})

    def _reject_invalid(self, record: KinesisDataStreamRecord, raw: bytes, invalid: InvalidEvent) -> None:
        source = {
            "sequence_number": record.kinesis.sequenceNumber,
            "partition_key": record.kinesis.partitionKey,
            "event_source_arn": record.eventSourceARN,
        }
        logger.warning(
            "invalid event rejected", extra={"field": invalid.field, "reason": invalid.message, **source}
        )
        self._deps.dead_letters.send(
            reason=Reason.INVALID.value, field=invalid.field, message=invalid.message, raw=raw, source=source
        )
        self._deps.guard.sink.record(None, Outcome.rejected(Reason.INVALID))

"""One Kinesis batch, processed so that each SKU's events keep their order.

Powertools' BatchProcessor goes on after a failed record. A later `order.paid` must not run
before its failed `order.created`, so once a SKU's record fails, the rest of that SKU's records
in the batch are reported failed too and come back, in order, on the retry; and so are the
later records naming a failed record's order under another partition key (a payment may name
another SKU), with the rest of their own SKU's records.

Runs of one hot SKU's order events are applied together (`OrderLedger.apply_run`) when
their first record comes up; the others in the run are then already done. A run the guard
declines goes record by record, each in its place.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import (
    KinesisDataStreamRecord,
    KinesisDataStreamRecordPayload,
)
from pydantic import ValidationError, model_validator

from stockpulse.domain.events import InvalidEvent, OrderEvent, parse_event
from stockpulse.domain.hot_sku import runs
from stockpulse.domain.ledger import Outcome, Reason
from stockpulse.guard import InventoryGuard
from stockpulse.stock_sync import StockSyncFeed
from stockpulse.wiring import Dependencies

logger = Logger(child=True)


class KinesisPayload(KinesisDataStreamRecordPayload):
    """A record's `kinesis` part. Data that is not base64 does not fail the envelope (Powertools
    would fail the record on every retry and hold its shard back): it is kept as delivered in
    `not_base64`, with empty `data`, and the record is rejected `invalid` like any malformed event."""

    not_base64: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _keep_undecodable(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(values.get("data"), str):
            try:
                b64decode(values["data"], validate=True)
            except (binascii.Error, ValueError):
                return {**values, "data": "", "not_base64": values["data"]}
        return values


class KinesisRecord(KinesisDataStreamRecord):
    kinesis: KinesisPayload


class HeldBackAfterFailure(Exception):
    """An earlier record of the same SKU failed in this batch: retried after it, never before."""


class SkuOrderedBatch:
    def __init__(self, deps: Dependencies, event: dict[str, object] | None = None) -> None:
        self._deps = deps
        self._failed_partitions: set[str] = set()
        # first record's sequence number -> the run's events, and the orders other SKUs' records
        # between them name
        self._runs: dict[str, tuple[list[OrderEvent], list[str]]] = {}
        self._in_a_run: dict[str, str] = {}  # later records of a run -> its first record
        # The order each order event names, by sequence number; orders whose record failed here.
        self._order_of: dict[str, tuple[str, str]] = {}
        self._failed_orders: set[tuple[str, str]] = set()
        self.touched: set[tuple[str, str]] = set()  # (session, SKU) of every event handled
        if event is not None:
            self._plan_runs(event)

    def _plan_runs(self, event: dict[str, object]) -> None:
        raw_records = event.get("Records")
        if not isinstance(raw_records, list):
            return  # the processor reports the bad envelope
        records: list[KinesisRecord | None] = []
        parsed: list[OrderEvent | None] = []
        for raw_record in raw_records:
            try:
                record = KinesisRecord.model_validate(raw_record)
            except ValidationError:  # the processor reports this record
                records.append(None)
                parsed.append(None)
                continue
            records.append(record)
            data = record.kinesis.data
            try:
                decoded = isinstance(data, bytes) and record.kinesis.not_base64 is None
                found = parse_event(data) if decoded and isinstance(data, bytes) else None
            except InvalidEvent:
                found = None
            # An event dated outside its session's window is rejected in its place, not in a run.
            if found is not None and self.guard.catalog.time_problem(found) is not None:
                found = None  # an event dated outside its session is rejected in its place, not in a run
            if found is not None and found.order_id is not None:
                self._order_of[record.kinesis.sequenceNumber] = (found.session_id, found.order_id)
            parsed.append(found)
        for run in runs(parsed):
            sequences = [r.kinesis.sequenceNumber for i in run.indexes if (r := records[i]) is not None]
            events = [e for e in (parsed[i] for i in run.indexes) if e is not None]
            self._runs[sequences[0]] = (events, run.crossed_orders)
            self._in_a_run.update(dict.fromkeys(sequences[1:], sequences[0]))

    @property
    def guard(self) -> InventoryGuard:
        return self._deps.guard

    def handle_record(self, record: KinesisRecord) -> None:
        partition = record.kinesis.partitionKey
        sequence = record.kinesis.sequenceNumber
        if partition in self._failed_partitions:
            self._fail_orders(sequence)
            raise HeldBackAfterFailure(partition)
        named = self._order_of.get(sequence)
        if named in self._failed_orders:
            # A payment or cancel under another SKU's partition key, for an order whose record
            # failed in this batch: applied now it would be `unknown_order` (and remembered, so a
            # duplicate on redelivery). It waits for the order, and so does the rest of its SKU.
            self._failed_partitions.add(partition)
            raise HeldBackAfterFailure(f"{partition}: its order failed earlier in this batch")
        if sequence in self._in_a_run:
            return  # applied with the first record of its run
        try:
            run = self._runs.get(sequence)
            if run is not None:
                events, crossed = run
                self.touched.add((events[0].session_id, events[0].sku_id))
                held = any((e.session_id, str(e.order_id)) in self._failed_orders for e in events)
                if held or self._deps.guard.ledger.apply_run(events, crossed) is None:  # each in its place
                    self._in_a_run = {s: f for s, f in self._in_a_run.items() if f != sequence}
                    run = None
            if run is None:
                self._handle(record)
        except Exception:
            self._failed_partitions.add(partition)
            self._fail_orders(sequence)
            raise

    def _fail_orders(self, sequence: str) -> None:
        """The record `sequence` failed: every later record naming its order (or, for a run's
        first record, any order of the run) waits for the retry, whatever its partition key."""
        if (named := self._order_of.get(sequence)) is not None:
            self._failed_orders.add(named)
        events, _ = self._runs.get(sequence, ([], []))
        self._failed_orders.update((e.session_id, str(e.order_id)) for e in events)

    def _handle(self, record: KinesisRecord) -> None:
        if record.kinesis.not_base64 is not None:
            raw_text = record.kinesis.not_base64.encode("utf-8", "backslashreplace")
            self._reject_invalid(record, raw_text, InvalidEvent("data", "Kinesis data is not base64"))
            return
        raw = record.kinesis.data
        assert isinstance(raw, bytes)
        try:
            event = parse_event(raw)
        except InvalidEvent as invalid:
            self._reject_invalid(record, raw, invalid)
            return
        out_of_window = self._deps.guard.catalog.time_problem(event)
        if out_of_window is not None:
            self._reject_invalid(record, raw, out_of_window)
            return
        self.touched.add((event.session_id, event.sku_id))
        outcome = self._deps.guard.ledger.handle(event)
        logger.debug("event handled", extra={"event_id": event.event_id, "result": outcome.result.value})

    def _reject_invalid(self, record: KinesisRecord, raw: bytes, invalid: InvalidEvent) -> None:
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
        self._deps.guard.ledger.sink.record(None, Outcome.rejected(Reason.INVALID))


def sync_platform_stock(batch: SkuOrderedBatch, feed: StockSyncFeed, metrics: Metrics | None = None) -> None:
    """One coalesced sellable-quantity update per SKU the batch touched (advisory: never fails it).

    It runs after every record applied: raising here would fail the whole batch, whose retry
    finds every record a duplicate, and the shard would stall on a sync that cannot get through.
    Any failure (`StoreUnavailable`, `PublishFailed`, `StockSyncFailed` for refused PublishBatch
    entries, or any other) is logged and counted (`stock_sync_failed`); the feed did not mark
    those updates published, so the next batch that touches the SKU sends them again.
    """
    store = batch.guard.store
    try:
        items = store.stocks(sorted(batch.touched))
        feed.after_batch(items)
    except Exception as err:
        logger.warning("platform stock sync skipped", extra={"error": repr(err)})
        try:
            (metrics or Metrics()).add_metric(name="stock_sync_failed", unit=MetricUnit.Count, value=1)
        except Exception:  # counting is advisory too
            logger.exception("stock sync failure not counted")

"""Hostile input at every handler, through the real handler on a moto-backed stack (hypothesis).

Rules, for every function:
- no crash: an exception escaping a handler is a failure, except the documented "raise so Lambda
  retries" paths, which must raise typed exceptions (listed per handler below);
- order_stream: every record is accounted for - it either succeeded (its outcome was recorded:
  accepted, duplicate or rejected; an `invalid` one is also on RejectedEventsQueue, naming its
  record) or it is in batchItemFailures, and a failure is only ever a typed retry exception.
  Moto serves one request at a time, so here no record should need a retry at all;
- size limits: an oversized record is rejected as `invalid` naming `record`, a string field over
  128 characters as `invalid` naming the field, and a batch larger than the template's BatchSize
  is still handled record by record.
"""

from __future__ import annotations

import base64
import json
import string
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from support import sns_lambda_event

from stockpulse import wiring
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_forecast import DynamoForecastStore
from stockpulse.adapters.sns import SnsAlertPublisher
from stockpulse.adapters.sqs import SqsDeadLetters
from stockpulse.domain.events import MAX_EVENT_BYTES, EventType
from stockpulse.domain.ledger import Outcome, Result
from stockpulse.domain.session import SessionPlan
from stockpulse.guard import InventoryGuard
from stockpulse.ports import PublishFailed, StoreUnavailable, TransactionContention
from stockpulse.stream import HeldBackAfterFailure
from stockpulse_local.replay import LambdaContext, Stack, load_handler, open_backend
from stockpulse_local.template_tables import load_template

ROOT = Path(__file__).resolve().parents[2]
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/ledger"
SESSION = "fuzz"
START = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
SKUS = ("cake", "tea")
PLATFORMS = ("douyin", "kuaishou", "taobao")
ORDER_IDS = tuple(f"o{i}" for i in range(6))
STRING_FIELDS = ("event_id", "session_id", "sku_id", "order_id", "platform", "type", "occurred_at")
# The documented "raise so that Lambda retries" exceptions: typed, and nothing else may escape
# (the adapters turn botocore's errors into the port errors: the ledger's, the rejected-events queue's).
ORDER_STREAM_RETRY = (HeldBackAfterFailure, TransactionContention, StoreUnavailable, PublishFailed)

FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

PLAN = SessionPlan.model_validate(
    {
        "session": {
            "session_id": SESSION,
            "starts_at": START.isoformat(),
            "ends_at": (START + timedelta(hours=1)).isoformat(),
        },
        "skus": [
            {
                "sku_id": "cake",
                "name": "桂花糕",
                "on_hand": 30,
                "held": 2,
                "forecast": 20,
                "hold_minutes": 1,
                "importance": "core",
                "auto_pause_on_red": True,
                "platform_quotas": {"kuaishou": 5},
            },
            {"sku_id": "tea", "on_hand": 3, "forecast": 5, "dynamic": False},
        ],
    }
)


def _template_batch_size() -> int:
    orders = load_template(ROOT / "template.yaml")["Resources"]["OrderStreamFunction"]["Properties"]
    return int(orders["Events"]["Orders"]["Properties"]["BatchSize"])


# ---------------------------------------------------------------------------- the stack


@dataclass
class Outcomes:
    """The guard's outcome sink: one entry per event whose processing finished."""

    seen: list[tuple[Any, Outcome]] = field(default_factory=list)

    def record(self, event: Any, outcome: Outcome) -> None:
        self.seen.append((event, outcome))


@dataclass
class Fuzzed:
    stack: Stack
    outcomes: Outcomes
    clock: VirtualClock
    order_stream: ModuleType
    sequence: int = 0

    def next_sequence(self) -> str:
        self.sequence += 1
        return f"{self.sequence:056d}"

    def drain_rejected(self) -> list[dict[str, Any]]:
        sqs, url = self.stack.backend.sqs, self.stack.rejected_queue_url
        bodies = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return bodies
            for message in got:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@contextmanager
def fuzz_stack() -> Iterator[Fuzzed]:
    with open_backend("moto") as backend:
        stack = Stack.create(backend)
        stack.store.load_session(PLAN)
        outcomes = Outcomes()
        clock = VirtualClock(int(START.timestamp() * 1000))
        guard = InventoryGuard(
            store=stack.store,
            clock=clock,
            publisher=SnsAlertPublisher(backend.sns, stack.alerts_topic_arn, stack.supply_topic_arn),
            sink=outcomes,
        )
        wiring.install(
            wiring.Dependencies(
                guard=guard,
                dead_letters=SqsDeadLetters(backend.sqs, stack.rejected_queue_url),
                forecasts=DynamoForecastStore.beside(stack.store),
            )
        )
        try:
            yield Fuzzed(stack, outcomes, clock, load_handler("order_stream"))
        finally:
            wiring.install(None)


def kinesis_record(fz: Fuzzed, data: bytes, partition_key: str) -> dict[str, Any]:
    sequence = fz.next_sequence()
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1795640000.123,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/order-stream",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/orders",
    }


def send(fz: Fuzzed, payloads: list[tuple[bytes, str]]) -> dict[str, Any]:
    """One batch through order_stream; checks that every record is accounted for. Returns
    {"failed": sequences, "rejected": rejected-queue bodies, "outcomes": new outcomes}."""
    records = [kinesis_record(fz, data, key) for data, key in payloads]
    sequences = [r["kinesis"]["sequenceNumber"] for r in records]
    before = len(fz.outcomes.seen)
    handler = fz.order_stream
    try:
        response = handler.handler({"Records": records}, LambdaContext("order_stream"))
        failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    except BatchProcessingError:  # every record failed: Lambda retries the batch (Powertools' rule)
        failed = list(sequences)
    errors = [info[1] for info in getattr(getattr(handler, "processor", None), "exceptions", [])]
    outcomes = fz.outcomes.seen[before:]
    rejected = fz.drain_rejected()

    assert set(failed) <= set(sequences) and len(set(failed)) == len(failed)
    untyped = [e for e in errors if not isinstance(e, ORDER_STREAM_RETRY)]
    assert not untyped, f"records failed with untyped exceptions (poison records): {untyped!r}"
    assert len(errors) == len(failed) or not errors
    succeeded = [s for s in sequences if s not in failed]
    # Every record that succeeded recorded exactly one outcome; a failed one recorded none.
    assert len(outcomes) == len(succeeded), (len(outcomes), len(succeeded), failed)
    invalid = [
        o for _, o in outcomes if o.result is Result.REJECTED and o.reason and o.reason.value == "invalid"
    ]
    assert len(rejected) == len(invalid)
    assert {r["source"]["sequence_number"] for r in rejected} <= set(succeeded)
    for body in rejected:
        assert body["reason"] == "invalid" and body["field"] and body["message"]
    return {"failed": failed, "rejected": rejected, "outcomes": outcomes}


# ---------------------------------------------------------------------------- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
ids = st.text(alphabet=string.ascii_letters + string.digits + "#-_ 桂花/", min_size=0, max_size=140)
instants = st.integers(min_value=-90, max_value=3 * 3600).map(
    lambda s: (START + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")
)
odd_instants = st.sampled_from(
    [
        "2026-11-25T20:00:00",  # no offset
        "2026-11-25T20:00:00+99:99",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59.999999999-23:59",
        "2026-02-30T20:00:00Z",
        "2026-11-25t20:00:00.123456789z",
        "",
    ]
)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, valid, valid, json_values)


near_valid_events = st.fixed_dictionaries(
    {},
    optional={
        "event_id": maybe(st.uuids().map(str) | ids),
        "type": maybe(st.sampled_from([t.value for t in EventType])),
        "occurred_at": maybe(instants | odd_instants),
        "session_id": maybe(st.sampled_from([SESSION, SESSION, "other"])),
        "sku_id": maybe(st.sampled_from([*SKUS, "nope"]) | ids),
        "platform": maybe(st.sampled_from([*PLATFORMS, "DOUYIN", "x" * 33])),
        "order_id": maybe(st.sampled_from(ORDER_IDS) | ids),
        "quantity": maybe(st.integers(min_value=-2, max_value=10_001)),
        "note": json_values,
    },
)
valid_events = st.builds(
    lambda kind, at, sku, platform, order_id, quantity: {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "occurred_at": at,
        "session_id": SESSION,
        "sku_id": sku,
        "platform": platform,
        "order_id": order_id,
        "quantity": quantity,
    },
    st.sampled_from([t.value for t in EventType]),
    instants,
    st.sampled_from(SKUS),
    st.sampled_from(PLATFORMS),
    st.sampled_from(ORDER_IDS),
    st.integers(min_value=1, max_value=12),
)


def _key_for(body: Any) -> str:
    sku = body.get("sku_id") if isinstance(body, dict) else None
    return sku if isinstance(sku, str) and 0 < len(sku) <= 256 else "_malformed"


def encoded(values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[bytes, str]]:
    return st.tuples(values, st.booleans(), st.text(min_size=1, max_size=256)).map(
        lambda v: (
            json.dumps(v[0], ensure_ascii=v[1]).encode("utf-8", "surrogatepass"),
            _key_for(v[0]),
        )
    )


raw_records = st.tuples(st.binary(max_size=300), st.text(min_size=1, max_size=256))


# ---------------------------------------------------------------------------- order_stream


def test_order_stream_accounts_for_arbitrary_json_and_bytes() -> None:
    with fuzz_stack() as fz:

        @FUZZ
        @given(
            batch=st.lists(
                st.one_of(
                    encoded(json_values), raw_records, encoded(near_valid_events), encoded(valid_events)
                ),
                min_size=1,
                max_size=6,
            )
        )
        def run(batch: list[tuple[bytes, str]]) -> None:
            result = send(fz, batch)
            assert not result["failed"], "moto is sequential: no record should need a retry"

        run()


def test_order_stream_keeps_the_ledger_consistent_under_valid_traffic() -> None:
    """Valid events for the loaded session in any order: every one succeeds, stock balances."""
    with fuzz_stack() as fz:

        @settings(FUZZ, max_examples=25)
        @given(batch=st.lists(encoded(valid_events), min_size=1, max_size=6))
        def run(batch: list[tuple[bytes, str]]) -> None:
            result = send(fz, batch)
            assert not result["failed"] and not result["rejected"]
            for sku in SKUS:
                item = fz.stack.store.stock(SESSION, sku)
                assert item is not None and item.levels.balanced, item

        run()


def _rejection(fz: Fuzzed, body: bytes, key: str = "cake") -> dict[str, Any]:
    result = send(fz, [(body, key)])
    assert not result["failed"]
    [rejected] = result["rejected"]
    return rejected


def _valid(**overrides: Any) -> dict[str, Any]:
    event = {
        "event_id": str(uuid.uuid4()),
        "type": "order.created",
        "occurred_at": "2026-11-25T20:01:00Z",
        "session_id": SESSION,
        "sku_id": "cake",
        "platform": "douyin",
        "order_id": "limits",
        "quantity": 1,
    }
    event.update(overrides)
    return event


def test_size_limits_are_enforced_with_clear_rejections() -> None:
    with fuzz_stack() as fz:
        # A record over MAX_EVENT_BYTES is refused before parsing, naming `record`.
        oversized = json.dumps(_valid(note="x" * MAX_EVENT_BYTES)).encode()
        assert len(oversized) > MAX_EVENT_BYTES
        rejected = _rejection(fz, oversized)
        assert rejected["field"] == "record" and str(MAX_EVENT_BYTES) in rejected["message"]
        assert (
            base64.b64decode(rejected["raw_base64"])
            == oversized[: len(base64.b64decode(rejected["raw_base64"]))]
        )
        # Exactly at the limit the record is parsed (and judged on its fields).
        at_limit = json.dumps(_valid(note="")).encode()
        at_limit = at_limit[:-1] + b', "pad": "' + b"p" * (MAX_EVENT_BYTES - len(at_limit) - 11) + b'"}'
        assert len(at_limit) == MAX_EVENT_BYTES
        assert not send(fz, [(at_limit, "cake")])["rejected"]
        # A huge record (Kinesis allows 1 MiB) is refused the same way, and its raw copy truncated.
        huge = b"[" * (1024 * 1024 - 1) + b"]"
        rejected = _rejection(fz, huge, "_malformed")
        assert rejected["field"] == "record" and rejected["raw_truncated"] is True

        # Every string field over 128 characters is invalid, naming the field.
        for name in STRING_FIELDS:
            rejected = _rejection(fz, json.dumps(_valid(**{name: "a" * 129})).encode())
            assert rejected["field"] == name, (name, rejected)
        # ... and 128 is still fine for the identifiers.
        assert not send(fz, [(json.dumps(_valid(order_id="o" * 128)).encode(), "cake")])["rejected"]


def test_deeply_nested_json_is_rejected_not_retried() -> None:
    """4 KB of `[[[[...]]]]` is within the size limit but deeper than Python's recursion limit:
    it must be an `invalid` rejection naming `record`, not a RecursionError - which would fail
    the record (or the whole batch) on every retry and hold its shard back until it expires."""
    with fuzz_stack() as fz:
        for depth in (2_000, MAX_EVENT_BYTES // 2 - 1):
            nested = b"[" * depth + b"]" * depth
            assert _rejection(fz, nested, "_malformed")["field"] == "record"
        # ... also when the nesting hides in an ignored field of an otherwise valid event.
        deep = json.dumps(_valid()).encode()[:-1] + b', "note": ' + b"[" * 2_000 + b"]" * 2_000 + b"}"
        assert len(deep) <= MAX_EVENT_BYTES
        assert _rejection(fz, deep)["field"] == "record"


# ---------------------------------------------------------------------------- reservation_expiry

attribute_values = st.recursive(
    st.one_of(
        st.text(max_size=20).map(lambda s: {"S": s}),
        st.one_of(
            st.integers(-(10**20), 10**20).map(str),
            st.sampled_from(["1e3", "-0", "0.5", "12345678901234567890123456789012345678"]),
        ).map(lambda n: {"N": n}),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.just({"NULL": True}),
        st.binary(max_size=8).map(lambda b: {"B": base64.b64encode(b).decode()}),
        st.lists(st.text(max_size=5), min_size=1, max_size=3, unique=True).map(lambda ss: {"SS": ss}),
    ),
    lambda children: (
        st.lists(children, max_size=3).map(lambda vs: {"L": vs})
        | st.dictionaries(st.text(max_size=6), children, max_size=3).map(lambda m: {"M": m})
    ),
    max_leaves=6,
)


def _order_image(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


well_formed_images = st.builds(
    lambda order_id, status, sku, platform, qty, created, hold: _order_image(
        {
            "pk": {"S": f"ORDER#{SESSION}#{order_id}"},
            "sk": {"S": "ORDER"},
            "session_id": {"S": SESSION},
            "order_id": {"S": order_id},
            "status": {"S": status},
            "sku_id": {"S": sku},
            "platform": {"S": platform},
            "quantity": {"N": str(qty)},
            "created_ms": {"N": str(created)},
            "hold_until_ms": {"N": str(created + 60_000)},
            "expires_at": {"N": str((created + 60_000) // 1000)},
            "expiry_shard": {"S": "0"} if status == "reserved" else None,
        }
    ),
    st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=12),
    st.sampled_from(["reserved", "sold", "released", "expired", "rejected", "refund_required"]),
    st.sampled_from([*SKUS, "nope"]),
    st.sampled_from(PLATFORMS),
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=int(START.timestamp() * 1000), max_value=int(START.timestamp() * 1000) + 3_600_000),
    st.none(),
)
arbitrary_images = st.dictionaries(
    st.sampled_from(
        [
            "pk",
            "sk",
            "session_id",
            "order_id",
            "status",
            "sku_id",
            "platform",
            "quantity",
            "created_ms",
            "hold_until_ms",
        ]
    )
    | st.text(max_size=8),
    attribute_values,
    max_size=8,
).map(lambda image: {**image, "pk": image.get("pk", {"S": f"ORDER#{SESSION}#x"})})


def ddb_record(image: dict[str, Any], event_name: str, n: int) -> dict[str, Any]:
    keys = {k: image[k] for k in ("pk", "sk") if k in image}
    return {
        "eventID": f"{n:032x}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795641060,
            "Keys": keys,
            "OldImage": image,
            "SequenceNumber": f"{n:024d}",
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "eventSourceARN": f"{TABLE_ARN}/stream/2026-11-25T20:00:00.000",
    }


def expire_batch(expiry: ModuleType, records: list[dict[str, Any]]) -> list[str]:
    """The failed sequence numbers; the handler must not raise (but for Powertools' all-failed)."""
    try:
        response = expiry.handler({"Records": records}, LambdaContext("reservation_expiry"))
    except BatchProcessingError:
        return [r["dynamodb"]["SequenceNumber"] for r in records]
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert set(failed) <= {r["dynamodb"]["SequenceNumber"] for r in records}
    return failed


def test_reservation_expiry_handles_arbitrary_stream_records() -> None:
    with fuzz_stack() as fz:
        expiry = load_handler("reservation_expiry")
        counter = iter(range(1, 10**9))

        @FUZZ
        @given(
            images=st.lists(well_formed_images, min_size=1, max_size=5),
            name=st.sampled_from(["REMOVE", "MODIFY"]),
        )
        def well_formed(images: list[dict[str, Any]], name: str) -> None:
            # What the ledger itself writes: always processed, never a retry.
            assert expire_batch(expiry, [ddb_record(i, name, next(counter)) for i in images]) == []
            for sku in SKUS:
                item = fz.stack.store.stock(SESSION, sku)
                assert item is not None and item.levels.balanced

        @FUZZ
        @given(images=st.lists(arbitrary_images, min_size=1, max_size=5))
        def arbitrary(images: list[dict[str, Any]]) -> None:
            # Not what the ledger writes: each record succeeds or is reported, the handler stands.
            expire_batch(expiry, [ddb_record(i, "REMOVE", next(counter)) for i in images])

        well_formed()
        arbitrary()
        # A schedule event of any shape is a sweep.
        assert expiry.handler({"detail": {"x": 1}}, LambdaContext("reservation_expiry")) == {"released": 0}


def test_the_sample_ttl_event_is_released() -> None:
    """events/dynamodb_ttl_removal.json (`sam local invoke -e`) through the real handler."""
    event = json.loads((ROOT / "events" / "dynamodb_ttl_removal.json").read_text(encoding="utf-8"))
    with fuzz_stack():
        expiry = load_handler("reservation_expiry")
        assert expiry.handler(event, LambdaContext("reservation_expiry")) == {"batchItemFailures": []}


# ---------------------------------------------------------------------------- alert_router


def _notice() -> dict[str, Any]:
    return {
        "alert_id": "fuzz#cake#7#red",
        "kind": "alert",
        "session_id": SESSION,
        "sku_id": "cake",
        "sku_name": "桂花糕",
        "importance": "core",
        "tier": "red",
        "previous_tier": "orange",
        "at": "2026-11-25T20:40:41Z",
        "on_hand": 30,
        "held": 2,
        "reserved": 4,
        "sold": 20,
        "available": 4,
        "velocity_per_minute": 2.5,
        "sell_out_eta_minutes": 1.6,
        "restock_quantity": 40,
        "platform_split": {"douyin": 20, "kuaishou": 4},
    }


notice_overrides = st.dictionaries(
    st.sampled_from(sorted(_notice())),
    st.one_of(
        json_values,
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(2**63), max_value=2**63),
        st.text(max_size=3000),
        st.sampled_from(["yellow", "orange", "red", "none", "resolved", "repeat"]),
    ),
    max_size=4,
)
sns_messages = st.one_of(
    notice_overrides.map(lambda o: json.dumps({**_notice(), **o})),
    json_values.map(json.dumps),
    st.text(max_size=200),
)


def sns_event(message: str, tier: str) -> dict[str, Any]:
    return sns_lambda_event(message, attributes={"tier": tier})


def test_alert_router_handles_arbitrary_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """A notice it can read is delivered (robots on 127.0.0.1, every platform's renderer); anything
    else raises pydantic's ValidationError - SNS's async retries then the DLQ keep it. Nothing else."""
    from rehearsal import PARAMETER_PATH
    from robots import robots_for_router

    router = load_handler("alert_router")
    with robots_for_router() as robots, fuzz_stack():
        monkeypatch.setenv("WEBHOOK_PARAMETER_PATH", PARAMETER_PATH)
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        ssm = boto3.client("ssm", region_name="us-east-1")
        for name, value in robots.parameters().items():
            ssm.put_parameter(Name=f"{PARAMETER_PATH}/{name}", Value=json.dumps(value), Type="SecureString")
        try:

            @FUZZ
            @given(message=sns_messages, tier=st.sampled_from(["orange", "red", "resolved", "", "x"]))
            def run(message: str, tier: str) -> None:
                try:
                    summary = router.handler(sns_event(message, tier), LambdaContext("alert_router"))
                except ValidationError:
                    return  # not an AlertNotice: raised on purpose (retried, then dead-lettered)
                assert summary["failed"] == 0 and summary["invalid_parameters"] == 0, summary

            run()
            # Not vacuous: the untouched notice reaches every robot (all four admit red).
            fresh = json.dumps({**_notice(), "alert_id": f"fuzz#{uuid.uuid4()}"})  # not yet delivered
            summary = router.handler(sns_event(fresh, "red"), LambdaContext("alert_router"))
            assert summary["delivered"] == 4 and summary["failed"] == 0, summary
        finally:
            parameters.clear_caches()  # type: ignore[no-untyped-call]


# ---------------------------------------------------------------------------- dashboard_api

ROUTES = (
    "/sessions/{session_id}",
    "/sessions/{session_id}/skus",
    "/sessions/{session_id}/skus/{sku_id}",
    "/sessions/{session_id}/alerts",
)
path_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=300
) | st.sampled_from([SESSION, "cake", "%2F", "..", "%00", "%E6%A1%82", "a" * 129, "%" * 5])


@st.composite
def api_requests(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "http_get_skus.json").read_text(encoding="utf-8"))
    route = draw(st.sampled_from(ROUTES) | st.text(max_size=40))
    session_id, sku_id = draw(path_text), draw(path_text)
    path = route.replace("{session_id}", session_id).replace("{sku_id}", sku_id)
    if draw(st.booleans()):
        path = draw(st.text(max_size=200))
    params = (
        {"session_id": session_id, "sku_id": sku_id}
        if draw(st.booleans())
        else draw(st.dictionaries(st.text(max_size=10), st.text(max_size=50), max_size=3))
    )
    query = draw(
        st.dictionaries(
            st.sampled_from(["limit", "x", ""]) | st.text(max_size=5),
            st.sampled_from(["1", "200", "201", "0", "-1", "abc", "1e3", ""]) | st.text(max_size=20),
            max_size=3,
        )
    )
    event["routeKey"] = event["requestContext"]["routeKey"] = f"GET {route}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = draw(
        st.sampled_from(["GET", "GET", "POST", "OPTIONS", "DELETE"])
    )
    event["pathParameters"] = params
    event["queryStringParameters"] = query or None
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    return event


def test_dashboard_api_answers_arbitrary_requests() -> None:
    if not (ROOT / "functions" / "dashboard_api" / "app.py").exists():
        pytest.fail("functions/dashboard_api/app.py is missing: template.yaml deploys DashboardApiFunction")
    from stockpulse import dashboard

    with fuzz_stack() as fz:
        api = load_handler("dashboard_api")
        dashboard.install(dashboard.DashboardReader(fz.stack.store))
        statuses: list[int] = []
        try:

            @FUZZ
            @given(event=api_requests())
            def run(event: dict[str, Any]) -> None:
                response = api.handler(event, LambdaContext("dashboard_api"))
                status = response["statusCode"]
                statuses.append(status)
                assert status in (200, 400, 404, 405), (status, response.get("body"))
                body = response.get("body") or ""
                assert "Traceback" not in body and "pydantic" not in body.lower()
                if body:
                    json.loads(body)

            run()
            assert {400, 404} & set(statuses), statuses  # the fuzz reached the error paths
            ok = api.handler(_api_get(f"/sessions/{SESSION}/skus/cake"), LambdaContext("dashboard_api"))
            assert ok["statusCode"] == 200, ok
        finally:
            dashboard.install(None)


def _api_get(path: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "http_get_skus.json").read_text(encoding="utf-8"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    return event

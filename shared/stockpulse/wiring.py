"""Builds the guard and its adapters from the Lambda environment, once per container.

The runner and the tests install their own `Dependencies` (virtual clock, embedded backend) and
then call the very same handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from stockpulse.adapters.clock import SystemClock
from stockpulse.adapters.dynamodb_forecast import DynamoForecastStore
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
from stockpulse.adapters.robot_deliveries import RobotDeliveries
from stockpulse.adapters.sns import SnsAlertPublisher, SnsStockSyncPublisher
from stockpulse.adapters.sqs import SqsDeadLetters
from stockpulse.domain.alert_policy import AlertPolicy
from stockpulse.domain.events import OrderEvent
from stockpulse.domain.ledger import Outcome, Result
from stockpulse.evaluator import ThresholdEvaluator
from stockpulse.guard import InventoryGuard
from stockpulse.ports import DashboardStore, ForecastStore, LedgerStore
from stockpulse.settings import Settings
from stockpulse.stock_sync import StockSyncFeed

# Throttling and timeouts are retried by the SDK with backoff before a record is reported failed.
RETRY_CONFIG = Config(retries={"max_attempts": 10, "mode": "standard"}, connect_timeout=2, read_timeout=5)
# The ledger's client skips botocore's client-side parameter validation: it walks every
# attribute of every request, 29% of the order stream's CPU per 100-record batch (grouped runs,
# median of 3: 39.1 -> 27.7 ms, bench/hot_sku.py). DynamoDB validates every request anyway; the
# tests' clients (moto, DynamoDB Local) keep botocore's validation, so a malformed request from
# the code still fails in the tests.
HOT_PATH_CONFIG = RETRY_CONFIG.merge(Config(parameter_validation=False))


class DeadLetters(Protocol):
    def send(self, *, reason: str, field: str, message: str, raw: bytes, source: dict[str, str]) -> None: ...


@dataclass
class Dependencies:
    guard: InventoryGuard
    dead_letters: DeadLetters
    forecasts: ForecastStore  # the threshold evaluator's, beside the guard's ledger store


class MetricsOutcomes:
    """Counts every event's outcome as a CloudWatch metric (EMF through Powertools)."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._metrics = metrics or Metrics()

    def record(self, event: OrderEvent | None, outcome: Outcome) -> None:
        name = outcome.result.value
        if outcome.result is Result.REJECTED and outcome.reason is not None:
            name = f"rejected_{outcome.reason.value}"
        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def aws_client(service: str, config: Config = RETRY_CONFIG, **kwargs: Any) -> Any:
    return boto3.client(service, config=config, **kwargs)


def ledger_store(settings: Settings, config: Config = RETRY_CONFIG) -> DynamoLedgerStore:
    """The stack's ledger table; the order stream's client is built with HOT_PATH_CONFIG."""
    return DynamoLedgerStore(
        aws_client("dynamodb", config), settings.require("ledger_table"), expiry_shards=settings.expiry_shards
    )


def _satisfies_the_ports(ledger: DynamoLedgerStore, forecasts: DynamoForecastStore) -> None:
    """Never called: mypy checks here that the DynamoDB adapters implement the store ports
    (a missing method or a changed signature fails the lint, not a Lambda at run time)."""
    _ledger: LedgerStore = ledger
    _dashboard: DashboardStore = ledger
    _forecasts: ForecastStore = forecasts


def from_environment() -> Dependencies:
    settings = Settings.from_environment()
    store = ledger_store(settings, HOT_PATH_CONFIG)
    publisher = SnsAlertPublisher(
        aws_client("sns"), settings.require("alerts_topic_arn"), settings.supply_topic_arn
    )
    guard = InventoryGuard(store=store, clock=SystemClock(), publisher=publisher, sink=MetricsOutcomes())
    queue = settings.require("rejected_events_queue_url")
    return Dependencies(
        guard=guard,
        dead_letters=SqsDeadLetters(aws_client("sqs"), queue),
        forecasts=DynamoForecastStore.beside(store),
    )


_installed: Dependencies | None = None
_stock_sync_feeds: dict[str, StockSyncFeed] = {}  # per container: remembers what it published


def threshold_evaluator(
    guard: InventoryGuard,
    forecasts: ForecastStore,
    *,
    policy: AlertPolicy | None = None,
    stock_sync: StockSyncFeed | None = None,
) -> ThresholdEvaluator:
    """The evaluator on the guard's store, clock, session plans and tier settler (the Lambda, the
    runner, the tests and the benchmark build it here)."""
    return ThresholdEvaluator(
        store=guard.store,
        forecasts=forecasts,
        catalog=guard.catalog,
        tiers=guard.tiers,
        clock=guard.clock,
        policy=policy,
        stock_sync=stock_sync,
    )


def stock_sync_feed() -> StockSyncFeed | None:
    """The platform stock sync feed, when the stack has its topic (STOCK_SYNC_TOPIC_ARN)."""
    topic = Settings.from_environment().stock_sync_topic_arn
    if not topic:
        return None
    if topic not in _stock_sync_feeds:
        _stock_sync_feeds[topic] = StockSyncFeed(SnsStockSyncPublisher(aws_client("sns"), topic))
    return _stock_sync_feeds[topic]


_robot_deliveries: dict[str, RobotDeliveries] = {}  # per container


def robot_deliveries() -> RobotDeliveries | None:
    """Which IM robot took which alert (the alert router), when the stack has its table
    (ROBOT_DELIVERY_TABLE); None without one (local runs post without a record)."""
    table = Settings.from_environment().robot_delivery_table
    if not table:
        return None
    if table not in _robot_deliveries:
        _robot_deliveries[table] = RobotDeliveries.on_table(table, aws_client("dynamodb"))
    return _robot_deliveries[table]


def dependencies() -> Dependencies:
    global _installed
    if _installed is None:
        _installed = from_environment()
    return _installed


def install(deps: Dependencies | None) -> None:
    """Use `deps` for every handler in this process (the runner and tests); None resets."""
    global _installed
    _installed = deps

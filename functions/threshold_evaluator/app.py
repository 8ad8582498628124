"""Every minute: dynamic forecasts, thresholds, repeats / resolutions, quota rebalancing.

Thin: build the evaluator around the installed guard (its store, clock and publisher) and
forecast store, run it,
turn the summary into metrics. The work is `stockpulse.evaluator.ThresholdEvaluator`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from stockpulse import wiring
from stockpulse.domain.alert_policy import AlertPolicy
from stockpulse.settings import Settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()


def _policy(base: AlertPolicy) -> AlertPolicy:
    cooldown = Settings.from_environment().alert_cooldown_minutes
    return base if cooldown is None else replace(base, cooldown_minutes=cooldown)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    deps = wiring.dependencies()
    guard = deps.guard
    evaluator = wiring.threshold_evaluator(
        guard, deps.forecasts, policy=_policy(guard.tiers.policy), stock_sync=wiring.stock_sync_feed()
    )
    counts = evaluator.run().counts()
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if counts["sku_failures"]:
        logger.warning("some SKUs were not evaluated this minute", extra=counts)
    return counts

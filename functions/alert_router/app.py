"""AlertRouterFunction: SNS AlertsTopic (IM robot tiers) -> DingTalk / WeCom / Feishu / Slack group robots.

Thin on purpose: parse the SNS event into AlertNotice, load the robots from SSM Parameter Store, hand
both to `stockpulse.adapters.webhooks`, turn the outcome into metrics, and fail loudly.

The alerts topic is published with MessageStructure="json" (`stockpulse.adapters.sns`): SNS delivers
to a Lambda subscription the `lambda` key or, as here, the `default` one, the notice JSON, so the
record's Message parses as an AlertNotice (the `sms` and `email` bodies never reach this function).
Robots route on `AlertNotice.routing_tier`: a resolution reaches the robots that got the alert.

Robots: one SSM parameter per robot below WEBHOOK_PARAMETER_PATH (`stockpulse.settings`), a SecureString JSON
{"platform": "dingtalk|wecom|feishu|slack", "url": ..., "secret": ..., "tiers": [...], "lang": "zh|en"}.
Cached for 5 minutes per warm container. A robot URL must be https to a public host
(`webhooks.url_problem`, and again at connect time); anything else makes the parameter unusable.

Delivery semantics (at-least-once): if any robot still fails after the adapter's own retries (or a
robot parameter is unusable), the handler raises. SNS invokes this function asynchronously, so
Lambda retries the whole event (twice) and then puts it in AlertRouterDeadLetterQueue: nothing is
lost silently. Deliveries are keyed by (alert_id, robot) in ROBOT_DELIVERY_TABLE (Powertools
Idempotency, `stockpulse.adapters.robot_deliveries`): a retried invocation, in any container, and
an alert published again skip the robots that already took it. Should that table fail, the robot
is posted anyway: a duplicate alert is cheaper than a missed one (the robot platforms offer no
idempotency key of their own).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parser import envelopes, event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from stockpulse import wiring
from stockpulse.adapters import webhooks
from stockpulse.domain.alerts import AlertNotice
from stockpulse.settings import Settings

logger = Logger()  # service from POWERTOOLS_SERVICE_NAME ("stockpulse": webhooks' logger is its child)
metrics = Metrics()  # namespace from POWERTOOLS_METRICS_NAMESPACE
tracer = Tracer()
# botocore logs response bodies at DEBUG, i.e. the decrypted robot parameters (URLs with tokens,
# secrets) should anyone turn the root logger to DEBUG (AWS_LAMBDA_LOG_LEVEL): never below INFO.
logging.getLogger("botocore").setLevel(logging.INFO)

PARAMETER_MAX_AGE_S = 300
# Attempts per robot and invocation (5xx, 429, timeouts and throttling codes are retried with backoff).
RETRY_POLICY = webhooks.RetryPolicy(max_attempts=Settings.from_environment().robot_max_attempts)

# Plain http to the loopback (local fake robots): tests set this attribute on the loaded module.
# Deliberately not an environment variable or a parameter: nothing in a deployment can turn it on.
ALLOW_LOOPBACK_HTTP = False


class RobotDeliveryError(RuntimeError):
    """At least one robot did not take an alert: raised so Lambda retries, then dead-letters the event."""


def _parameter_path() -> str:
    return Settings.from_environment().webhook_parameter_path.rstrip("/") or "/"


@tracer.capture_method(capture_response=False)  # the robots carry credentials: never in a trace
def load_robots() -> tuple[list[webhooks.RobotConfig], list[str]]:
    """(usable robots, names of unusable parameters). SSM errors propagate: the invocation is retried."""
    raw = parameters.get_parameters(_parameter_path(), decrypt=True, max_age=PARAMETER_MAX_AGE_S)
    robots: list[webhooks.RobotConfig] = []
    invalid: list[str] = []
    for name, value in sorted(raw.items()):
        try:
            robots.append(webhooks.parse_robot_config(name, value, allow_loopback_http=ALLOW_LOOPBACK_HTTP))
        except webhooks.RobotConfigError as exc:  # its text never quotes the value
            logger.error("unusable robot parameter", extra={"parameter": name, "reason": exc.reason})
            invalid.append(name)
    return robots, invalid


def _count(name: str, platform: str, value: int) -> None:
    if value:
        with single_metric(
            name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="platform", value=platform)


@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
@event_parser(model=AlertNotice, envelope=envelopes.SnsEnvelope)
def handler(event: list[AlertNotice], context: LambdaContext) -> dict[str, Any]:
    robots, invalid = load_robots()
    if not robots and not invalid:
        logger.warning("no IM robot configured", extra={"parameter_path": _parameter_path()})
    metrics.add_metric(name="AlertNoticesRouted", unit=MetricUnit.Count, value=len(event))

    post = (
        webhooks.make_urllib_post(allow_loopback_http=True) if ALLOW_LOOPBACK_HTTP else webhooks.urllib_post
    )
    record = wiring.robot_deliveries()
    if record is not None:
        record.register(context)
    failures: list[str] = [f"parameter {name!r} unusable" for name in invalid]
    delivered: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    skipped = 0
    for notice in event:
        logger.append_keys(
            alert_id=notice.alert_id,
            sku_id=notice.sku_id,
            kind=notice.kind.value,
            tier=webhooks.routing_tier(notice),
        )
        results = webhooks.deliver_all(
            robots,
            notice,
            once=None if record is None else record.once,
            post=post,
            policy=RETRY_POLICY,
            time_left_ms=context.get_remaining_time_in_millis,
        )
        for result in results:
            platform = result.robot.platform
            if result.skipped:
                skipped += 1
            elif result.error is None:
                delivered[platform] += 1
            else:
                failed[platform] += 1
                failures.append(str(result.error))  # platform, robot name, status, redacted reason
                logger.error(
                    "robot delivery failed",
                    extra={
                        "robot": result.robot.name,
                        "platform": platform,
                        "host": result.robot.host,
                        "status": result.error.status,
                        "attempts": result.error.attempts,
                        "reason": result.error.reason,
                    },
                )
    for platform in webhooks.PLATFORMS:
        _count("RobotDelivered", platform, delivered[platform])
        _count("RobotDeliveryFailed", platform, failed[platform])

    summary = {
        "alert_ids": [n.alert_id for n in event],
        "delivered": sum(delivered.values()),
        "failed": sum(failed.values()),
        "skipped": skipped,
        "invalid_parameters": len(invalid),
    }
    if failures:
        # Lambda's async retries, then the DLQ, keep the alert (see the module docstring).
        raise RobotDeliveryError(f"{len(failures)} robot delivery failure(s): " + "; ".join(failures))
    logger.info("alert routed to IM robots", extra=summary)
    return summary

"""AlertRouterFunction end to end: a real SNS event, robots in SSM (moto), a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError
from moto import mock_aws
from pydantic import ValidationError
from robots import OK_BODY, Credentials, FakeRobots, Reply
from support import make_notice, sns_lambda_event

from stockpulse.adapters import webhooks
from stockpulse.adapters.sns import SnsAlertPublisher, alert_message, message_attributes
from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.messages import email_subject
from stockpulse.domain.tiers import Tier
from stockpulse_local.template_tables import create_tables

APP_PATH = Path(__file__).resolve().parents[2] / "functions" / "alert_router" / "app.py"
PARAMETER_PATH = "/stockpulse/webhooks"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:stockpulse-AlertsTopic-Z1X2C3V4B5N6"

DING_TOKEN, DING_SECRET = "ding-token-router-01", "SECding-secret-router-01"
WECOM_KEY = "wecom-key-router-01"
FEISHU_HOOK, FEISHU_SECRET = "feishu-hook-router-01", "feishu-secret-router-01"
SLACK_TOKEN = "slack-token-router-01"
ROBOT_CREDENTIALS = Credentials(DING_TOKEN, DING_SECRET, WECOM_KEY, FEISHU_HOOK, FEISHU_SECRET, SLACK_TOKEN)
CREDENTIALS = ROBOT_CREDENTIALS.all()


# --------------------------------------------------------------------- fake robot platforms
def robot_parameters(robots: FakeRobots) -> dict[str, dict[str, Any]]:
    """The router's robots in SSM: per-robot tiers and language."""
    return {
        "shop-a/dingtalk": {
            "platform": "dingtalk",
            "url": robots.url("dingtalk"),
            "secret": DING_SECRET,
            "tiers": ["orange", "red"],
        },
        "shop-a/wecom": {
            "platform": "wecom",
            "url": robots.url("wecom"),
            "tiers": ["red"],
        },
        "shop-a/feishu": {
            "platform": "feishu",
            "url": robots.url("feishu"),
            "secret": FEISHU_SECRET,
        },
        "ops/slack": {
            "platform": "slack",
            "url": robots.url("slack"),
            "secret": None,
            "tiers": ["orange", "resolved"],
            "lang": "en",
        },
    }


# ---------------------------------------------------------------------------------- fixtures
@dataclass
class FakeContext:
    function_name: str = "stockpulse-AlertRouterFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:stockpulse-AlertRouterFunction"
    )
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/stockpulse-AlertRouterFunction"
    log_stream_name: str = "2025/11/25/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def robots() -> Iterator[FakeRobots]:
    with FakeRobots(ROBOT_CREDENTIALS) as fake:
        yield fake


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch, robots: FakeRobots) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        # Powertools keeps providers (and their boto3 clients and caches) module-wide
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        client = boto3.client("ssm", region_name="us-east-1")
        for name, value in robot_parameters(robots).items():
            client.put_parameter(
                Name=f"{PARAMETER_PATH}/{name}", Value=json.dumps(value), Type="SecureString"
            )
        yield client
        parameters.clear_caches()  # type: ignore[no-untyped-call]


def load_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """functions/alert_router/app.py under a unique module name (every function folder has an app.py)."""
    monkeypatch.setenv("WEBHOOK_PARAMETER_PATH", PARAMETER_PATH)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "stockpulse")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "stockpulse")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("ROBOT_MAX_ATTEMPTS", "3")
    name = f"alert_router_app_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, APP_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def production_app(monkeypatch: pytest.MonkeyPatch, ssm: Any) -> ModuleType:
    """The router exactly as deployed: plain http to 127.0.0.1 is refused."""
    module = load_app(monkeypatch)
    assert module.ALLOW_LOOPBACK_HTTP is False
    monkeypatch.setattr(module, "RETRY_POLICY", webhooks.RetryPolicy(max_attempts=3, base_delay_s=0.001))
    return module


@pytest.fixture
def delivery_table(monkeypatch: pytest.MonkeyPatch, ssm: Any) -> str:
    """The template's RobotDeliveryTable on moto, named in ROBOT_DELIVERY_TABLE as deployed."""
    tables = create_tables(boto3.client("dynamodb", region_name="us-east-1"), "router-")
    monkeypatch.setenv("ROBOT_DELIVERY_TABLE", tables["RobotDeliveryTable"])
    return tables["RobotDeliveryTable"]


def loopback_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh container of the router that may reach the fake robots on 127.0.0.1."""
    module = load_app(monkeypatch)
    monkeypatch.setattr(module, "ALLOW_LOOPBACK_HTTP", True)
    monkeypatch.setattr(module, "RETRY_POLICY", webhooks.RetryPolicy(max_attempts=3, base_delay_s=0.001))
    return module


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, ssm: Any, delivery_table: str) -> ModuleType:
    module = load_app(monkeypatch)
    assert module.ALLOW_LOOPBACK_HTTP is False  # the deployed default
    # The fake robots are http://127.0.0.1: the test-only switch (a module attribute, which no
    # environment variable or SSM parameter can set) lets the router reach them.
    monkeypatch.setattr(module, "ALLOW_LOOPBACK_HTTP", True)
    assert module.RETRY_POLICY.max_attempts == 3  # from ROBOT_MAX_ATTEMPTS
    # keep the attempts, shrink the waits: tests must not sleep for real
    monkeypatch.setattr(module, "RETRY_POLICY", webhooks.RetryPolicy(max_attempts=3, base_delay_s=0.001))
    return module


@pytest.fixture
def log_capture(app: ModuleType) -> Iterator[io.StringIO]:
    """Every record reaching the stockpulse loggers, at DEBUG, with all its attributes."""
    stream = io.StringIO()

    class Everything(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            stream.write(json.dumps(record.__dict__, default=str) + " " + record.getMessage() + "\n")

    handler = Everything(level=logging.DEBUG)
    targets = [logging.getLogger("stockpulse"), logging.getLogger(webhooks.__name__)]
    levels = [t.level for t in targets]
    for target in targets:
        target.addHandler(handler)
        target.setLevel(logging.DEBUG)
    yield stream
    for target, level in zip(targets, levels, strict=True):
        target.removeHandler(handler)
        target.setLevel(level)


def sns_event(notice: AlertNotice | None = None, *, message: str | None = None) -> dict[str, Any]:
    """The event Lambda receives from an SNS subscription: the publisher's attributes and the
    `default` body of its JSON-structured message (what SNS hands a Lambda subscriber)."""
    notice = notice or make_notice()
    event = sns_lambda_event(
        message if message is not None else json.loads(alert_message(notice))["default"],
        topic_arn=TOPIC_ARN,
    )
    event["Records"][0]["Sns"]["MessageAttributes"] = {
        name: {"Type": value["DataType"], "Value": value["StringValue"]}
        for name, value in message_attributes(notice).items()
    }
    return event


def emf_counts(stdout: str) -> dict[tuple[str, str], float]:
    """(metric name, platform) -> value, from the EMF lines Powertools printed."""
    counts: dict[tuple[str, str], float] = {}
    for line in stdout.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                key = (metric["Name"], str(blob.get("platform", "")))
                value = blob[metric["Name"]]
                counts[key] = counts.get(key, 0) + sum(value if isinstance(value, list) else [value])
    return counts


# ------------------------------------------------------------------------------------- tests
def test_delivers_to_every_robot_whose_tiers_admit_the_notice(
    app: ModuleType, robots: FakeRobots, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = app.handler(sns_event(), FakeContext())
    assert summary["delivered"] == 3 and summary["failed"] == 0
    assert summary["alert_ids"] == [make_notice().alert_id]
    # orange: DingTalk (orange, red), Feishu (every tier), Slack (orange); not WeCom (red only)
    assert sorted(r.platform for r in robots.requests) == ["dingtalk", "feishu", "slack"]
    ding = robots.to("dingtalk")[0]
    assert ding.query["access_token"] == [DING_TOKEN] and "sign" in ding.query
    assert ding.json()["msgtype"] == "markdown" and "桂花糕" in ding.json()["markdown"]["text"]
    assert robots.to("feishu")[0].json()["msg_type"] == "text"
    assert "ORANGE" in robots.to("slack")[0].json()["blocks"][0]["text"]["text"]  # lang en
    counts = emf_counts(capsys.readouterr().out)
    assert counts[("RobotDelivered", "dingtalk")] == 1 and counts[("RobotDelivered", "slack")] == 1
    assert ("RobotDeliveryFailed", "dingtalk") not in counts


def test_500_then_200_is_retried_and_delivered_once(app: ModuleType, robots: FakeRobots) -> None:
    robots.script("dingtalk", Reply(500, b"busy"), Reply(200, OK_BODY["dingtalk"]))
    summary = app.handler(sns_event(), FakeContext())
    assert summary["delivered"] == 3
    assert [r.platform for r in robots.requests].count("dingtalk") == 2  # one retry, one delivery


def test_permanent_failure_raises_and_the_retry_reposts_only_the_failed_robot(
    app: ModuleType, robots: FakeRobots, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    event = sns_event(make_notice(tier=Tier.RED, alert_id="demo-cakes/cake-osmanthus/red/1"))
    robots.script("wecom", Reply(500, b"down"))
    with pytest.raises(app.RobotDeliveryError, match="wecom"):
        app.handler(event, FakeContext())  # raised: Lambda retries the async invoke, then the DLQ
    assert len(robots.to("wecom")) == 3  # ROBOT_MAX_ATTEMPTS
    assert len(robots.to("dingtalk")) == 1 and len(robots.to("feishu")) == 1  # red: not Slack
    counts = emf_counts(capsys.readouterr().out)
    assert counts[("RobotDeliveryFailed", "wecom")] == 1 and counts[("RobotDelivered", "dingtalk")] == 1

    robots.script("wecom", Reply(200, OK_BODY["wecom"]))  # the platform recovers; Lambda retries
    retry = loopback_app(monkeypatch)  # in another container: the record is in the table
    summary = retry.handler(event, FakeContext())
    assert summary == summary | {"delivered": 1, "skipped": 2, "failed": 0}
    assert len(robots.to("wecom")) == 4
    assert len(robots.to("dingtalk")) == 1 and len(robots.to("feishu")) == 1  # not re-posted
    # The same alert published again (a publish that failed half-way): no robot hears it twice.
    assert loopback_app(monkeypatch).handler(event, FakeContext())["skipped"] == 3
    assert len(robots.requests) == 6


def test_4xx_fails_at_once_and_raises(app: ModuleType, robots: FakeRobots) -> None:
    robots.script("slack", Reply(404, b"no_service"))
    with pytest.raises(app.RobotDeliveryError, match="status=404"):
        app.handler(sns_event(), FakeContext())
    assert len(robots.to("slack")) == 1


@pytest.mark.parametrize(
    ("platform", "answer"),
    [
        ("dingtalk", b'{"errcode":310000,"errmsg":"sign not match"}'),
        ("feishu", b'{"code":19021,"msg":"bad"}'),
    ],
)
def test_200_with_error_code_raises(
    app: ModuleType, robots: FakeRobots, platform: str, answer: bytes
) -> None:
    robots.script(platform, Reply(200, answer))
    with pytest.raises(app.RobotDeliveryError, match=platform):
        app.handler(sns_event(), FakeContext())
    assert len(robots.to(platform)) == 1


def test_resolution_goes_to_the_robots_that_got_the_alert(app: ModuleType, robots: FakeRobots) -> None:
    notice = make_notice(
        kind=NoticeKind.RESOLVED, tier=Tier.NONE, previous_tier=Tier.ORANGE, alert_id="res-1"
    )
    app.handler(sns_event(notice), FakeContext())
    # The orange alert went to DingTalk (orange, red), Feishu (all) and Slack (orange); its
    # resolution routes on the tier it resolves and goes to the same three, not WeCom (red only).
    assert sorted(r.platform for r in robots.requests) == ["dingtalk", "feishu", "slack"]
    assert "Resolved" in robots.to("slack")[0].json()["text"]
    assert "【预警解除】" in robots.to("dingtalk")[0].json()["markdown"]["title"]
    assert "橙色→正常" in robots.to("dingtalk")[0].json()["markdown"]["text"]


def test_production_router_refuses_loopback_and_private_robots(
    production_app: ModuleType, ssm: Any, robots: FakeRobots, log_capture: io.StringIO
) -> None:
    """Issue 11, item 9: robots only at https public hosts. As deployed, the fake robots on
    http://127.0.0.1 are unusable parameters: nothing is posted, the invocation fails loudly."""
    for name, url in {
        "evil/metadata": "https://169.254.169.254/latest/meta-data/?k=LEAKED-KEY-42",
        "evil/private": "https://10.0.0.8/robot/send?access_token=LEAKED-KEY-42",
        "evil/localhost": "https://localhost:9001/hook/LEAKED-KEY-42",
        "evil/internal": "https://robots.corp.internal/hook/LEAKED-KEY-42",
    }.items():
        value = json.dumps({"platform": "dingtalk", "url": url})
        ssm.put_parameter(Name=f"{PARAMETER_PATH}/{name}", Value=value, Type="SecureString")
    with pytest.raises(production_app.RobotDeliveryError) as caught:
        production_app.handler(sns_event(), FakeContext())
    assert robots.requests == []
    for name in ("shop-a/dingtalk", "shop-a/feishu", "ops/slack", "evil/metadata", "evil/internal"):
        assert name in str(caught.value)
    logged = log_capture.getvalue()
    assert "LEAKED-KEY-42" not in logged and "LEAKED-KEY-42" not in str(caught.value)
    assert (
        "url must be https" in logged and "not a public address" in logged and "not a public name" in logged
    )


def test_a_notice_published_with_message_structure_json_reaches_the_robots(
    app: ModuleType, robots: FakeRobots
) -> None:
    """The real path on moto: SnsAlertPublisher publishes with MessageStructure=json; a
    subscriber without a key of its own (SQS here, Lambda in AWS) gets `default`, the notice
    JSON; the router parses that envelope and delivers."""
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="stockpulse-AlertsTopic")["TopicArn"]
    queue = sqs.create_queue(QueueName="router-envelopes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)  # raw delivery off: the SNS envelope
    notice = make_notice(stock_risk=True, first_of_tier=True, forecast=60.0, alert_id="moto-1")
    SnsAlertPublisher(sns, topic).publish(notice)
    [message] = sqs.receive_message(QueueUrl=queue)["Messages"]
    envelope = json.loads(message["Body"])
    assert AlertNotice.model_validate_json(envelope["Message"]) == notice
    event = sns_lambda_event(
        envelope["Message"],
        topic_arn=envelope["TopicArn"],
        message_id=envelope["MessageId"],
        subject=envelope["Subject"],
        timestamp=envelope["Timestamp"],
    )
    event["Records"][0]["Sns"]["MessageAttributes"] = envelope["MessageAttributes"]
    assert envelope["MessageAttributes"]["channels"]["Type"] == "String.Array"
    summary = app.handler(event, FakeContext())
    assert summary["delivered"] == 3 and summary["alert_ids"] == ["moto-1"]
    ding = robots.to("dingtalk")[0].json()["markdown"]["text"]
    assert "按当前速度" in ding and "约4分钟售罄" in ding and "确认补货95件" in ding


def test_unusable_parameter_is_reported_without_its_value(
    app: ModuleType, ssm: Any, robots: FakeRobots, log_capture: io.StringIO
) -> None:
    bad = {"platform": "wecom", "url": "http://qyapi.weixin.qq.com/send?key=LEAKED-KEY-42"}  # not https
    ssm.put_parameter(Name=f"{PARAMETER_PATH}/shop-b/wecom", Value=json.dumps(bad), Type="SecureString")
    with pytest.raises(app.RobotDeliveryError, match="shop-b/wecom"):
        app.handler(sns_event(), FakeContext())
    assert len(robots.requests) == 3  # the good robots still got the alert
    logged = log_capture.getvalue()
    assert "unusable robot parameter" in logged and "shop-b/wecom" in logged
    assert "LEAKED-KEY-42" not in logged


def test_secrets_never_logged(
    app: ModuleType,
    robots: FakeRobots,
    log_capture: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    for platform in ("dingtalk", "feishu"):
        robots.script(platform, Reply(502, echo=True))  # echo the signed request back
    with pytest.raises(app.RobotDeliveryError) as caught:
        app.handler(sns_event(), FakeContext())
    signs = [r.query["sign"][0] for r in robots.to("dingtalk")] + [
        r.json()["sign"] for r in robots.to("feishu")
    ]
    out, err = capsys.readouterr()
    logged = log_capture.getvalue()
    assert "robot delivery failed" in logged and '"host": "127.0.0.1:' in logged
    assert '"platform": "dingtalk"' in logged
    for haystack in (logged, caplog.text, out, err, str(caught.value)):
        for secret in (*CREDENTIALS, *signs, *(urllib.parse.quote_plus(s) for s in signs)):
            assert secret not in haystack


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_message_that_is_not_an_alert_notice_raises(app: ModuleType, robots: FakeRobots) -> None:
    with pytest.raises(ValidationError):
        app.handler(sns_event(message='{"tier": "orange"}'), FakeContext())
    assert robots.requests == []


def test_parameters_are_cached_between_invocations(app: ModuleType, ssm: Any, robots: FakeRobots) -> None:
    app.handler(sns_event(make_notice(alert_id="a-1")), FakeContext())
    ssm.delete_parameter(Name=f"{PARAMETER_PATH}/shop-a/feishu")
    app.handler(sns_event(make_notice(alert_id="a-2")), FakeContext())
    assert len(robots.to("feishu")) == 2  # max_age=300: still the cached robot list


def test_import_does_no_aws_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("AWS client created at import")

    monkeypatch.setattr(boto3, "client", refuse)
    monkeypatch.setattr(boto3.session.Session, "client", refuse)
    module = load_app(monkeypatch)
    assert callable(module.handler)


def test_the_sample_event_is_what_sns_delivers(app: ModuleType, robots: FakeRobots) -> None:
    """events/sns_alert.json (`sam local invoke -e`): the `default` body of a JSON-structured
    publish, with the subject and attributes SnsAlertPublisher sets, goes through the handler."""
    event = json.loads((APP_PATH.parents[2] / "events" / "sns_alert.json").read_text(encoding="utf-8"))
    sns = event["Records"][0]["Sns"]
    notice = AlertNotice.model_validate_json(sns["Message"])
    assert notice.stock_risk and notice.first_of_tier and notice.forecast == 60.0
    assert sns["Subject"] == email_subject(notice)
    assert sns["MessageAttributes"] == {
        name: {"Type": value["DataType"], "Value": value["StringValue"]}
        for name, value in message_attributes(notice).items()
    }
    summary = app.handler(event, FakeContext())
    assert summary["delivered"] == 3 and summary["alert_ids"] == [notice.alert_id]


def test_an_ssm_error_reaches_the_handler_as_powertools_error_and_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The robots' SSM read goes through Powertools, which wraps every SDK error in its
    GetParameterError: no botocore error reaches the handler's code, and the error propagates so
    Lambda retries the invocation."""
    refused = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "x"}}, "GetParametersByPath")

    class RefusingSsm:
        def get_paginator(self, name: str) -> Any:
            raise refused

    app = load_app(monkeypatch)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    provider = parameters.SSMProvider(boto3_client=RefusingSsm())  # type: ignore[arg-type]
    monkeypatch.setitem(DEFAULT_PROVIDERS, "ssm", provider)
    try:
        with pytest.raises(GetParameterError) as caught:
            app.load_robots()
    finally:
        parameters.clear_caches()  # type: ignore[no-untyped-call]
    assert not isinstance(caught.value, ClientError) and "AccessDeniedException" in str(caught.value)

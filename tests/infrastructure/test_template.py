"""template.yaml is deployable and says what docs/architecture.md says.

The template is linted with cfn-lint, transformed offline with aws-sam-translator (no AWS call:
the managed-policy loader refuses to be used), and the assertions run on the transformed
CloudFormation - what would really be deployed. The sample events under events/ are checked
against AWS's shapes (Powertools' parser models) and against the template's own filters.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventV2Model,
    DynamoDBStreamModel,
    EventBridgeModel,
    KinesisDataStreamModel,
    SnsModel,
)
from cfnlint.api import lint_file
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from stockpulse_local.channels import matches, resolve_defaults
from stockpulse_local.template_tables import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"

FUNCTIONS = {
    "OrderStreamFunction": "order_stream",
    "ReservationExpiryFunction": "reservation_expiry",
    "ThresholdEvaluatorFunction": "threshold_evaluator",
    "AlertRouterFunction": "alert_router",
    "DashboardApiFunction": "dashboard_api",
}
COMMON_ENV = {
    "LEDGER_TABLE",
    "ALERTS_TOPIC_ARN",
    "SUPPLY_TOPIC_ARN",
    "STOCK_SYNC_TOPIC_ARN",
    "REJECTED_EVENTS_QUEUE_URL",
    "EXPIRY_SHARDS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
TTL_FILTER = {
    "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
    "eventName": ["REMOVE"],
}
DEPLOY_PARAMETERS = {
    "DashboardJwtIssuer": "https://auth.example.com/",
    "DashboardJwtAudience": "stockpulse-dashboard",
}


class _NoManagedPolicyLookups:
    """ManagedPolicyLoader stand-in: the translator's bundled map must suffice (no IAM call)."""

    def load(self) -> dict[str, str]:
        raise AssertionError("the SAM translator tried to look managed policies up in IAM")


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The SAM template as written (short-form tags as long-form dicts)."""
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    """The template after the SAM transform (what CloudFormation would deploy)."""
    sam = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    # `sam package` replaces local code paths with S3 URIs; the translator only accepts those.
    for logical_id, resource in sam["Resources"].items():
        props = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = f"s3://stockpulse-artifacts/{logical_id}.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://stockpulse-artifacts/{logical_id}.zip"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(sam, dict(DEPLOY_PARAMETERS), _NoManagedPolicyLookups())


def _of_type(template: Mapping[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def _props(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return props


def _refs(value: Any, logical_id: str) -> bool:
    """True if `value` is a Ref / GetAtt / Sub pointing at `logical_id`."""
    text = json.dumps(value)
    return (
        f'{{"Ref": "{logical_id}"}}' in text
        or f'"Fn::GetAtt": ["{logical_id}"' in text
        or f"${{{logical_id}." in text
        or f"${{{logical_id}}}" in text
    )


def _event_source_mapping(cfn: Mapping[str, Any], function: str) -> dict[str, Any]:
    found = [
        r["Properties"]
        for r in _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["FunctionName"] == {"Ref": function}
    ]
    assert len(found) == 1, f"{function}: expected one event source mapping, got {found}"
    return found[0]


# ---------------------------------------------------------------------------- lint + transform


def test_cfn_lint_reports_no_errors_or_warnings() -> None:
    matches = lint_file(TEMPLATE)
    problems = [m for m in matches if m.rule.id[0] in "EW"]
    assert not problems, "\n".join(str(m) for m in problems)


def test_sam_transform_produces_every_resource(cfn: dict[str, Any]) -> None:
    types = {r["Type"] for r in cfn["Resources"].values()}
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    for function in FUNCTIONS:
        assert cfn["Resources"][function]["Type"] == "AWS::Lambda::Function"
    assert cfn["Resources"]["LedgerTable"]["Type"] == "AWS::DynamoDB::Table"
    assert cfn["Resources"]["OrdersStream"]["Type"] == "AWS::Kinesis::Stream"
    assert cfn["Resources"]["DashboardHttpApi"]["Type"] == "AWS::ApiGatewayV2::Api"


def test_outputs(cfn: dict[str, Any]) -> None:
    assert set(cfn["Outputs"]) >= {
        "LedgerTableName",
        "OrdersStreamName",
        "AlertsTopicArn",
        "SupplyChainTopicArn",
        "StockSyncTopicArn",
        "DashboardApiUrl",
        "RejectedEventsQueueUrl",
        "AlertFeedQueueUrl",  # subscribed to every alert: a consumer outside the stack must find it
    }
    assert cfn["Outputs"]["LedgerTableName"]["Value"] == {"Ref": "LedgerTable"}
    assert cfn["Outputs"]["AlertFeedQueueUrl"]["Value"] == {"Ref": "AlertFeedQueue"}
    assert cfn["Outputs"]["RejectedEventsQueueUrl"]["Value"] == {"Ref": "RejectedEventsQueue"}


def test_parameter_defaults(raw: dict[str, Any]) -> None:
    params = raw["Parameters"]
    assert params["ExpiryShards"]["Default"] == 16
    assert params["AlertCooldownMinutes"]["Default"] == 30
    assert params["AlertEmail"]["Default"] == ""
    assert params["OnCallPhoneNumber"]["Default"] == ""
    for name, default in {
        "ImRobotTiers": "orange,red",
        "EmailTiers": "orange,red",
        "SmsCoreTiers": "red",
    }.items():
        assert params[name]["Type"] == "CommaDelimitedList"
        assert params[name]["Default"] == default
    assert {"DashboardAllowedOrigin", "DashboardJwtIssuer", "DashboardJwtAudience"} <= set(params)


# ---------------------------------------------------------------------------- functions


def test_functions_share_runtime_layer_tracing_and_environment(
    raw: dict[str, Any], cfn: dict[str, Any]
) -> None:
    layer_ids = list(_of_type(cfn, "AWS::Lambda::LayerVersion"))
    assert len(layer_ids) == 1 and layer_ids[0].startswith("SharedLayer")
    for function, folder in FUNCTIONS.items():
        assert _props(raw, function)["CodeUri"] == f"functions/{folder}/"
        props = _props(cfn, function)
        assert props["Runtime"] == "python3.11"
        assert props["Architectures"] == ["x86_64"]
        assert props["Handler"] == "app.handler"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Layers"] == [{"Ref": layer_ids[0]}]
        env = props["Environment"]["Variables"]
        assert set(env) >= COMMON_ENV, f"{function} lacks {COMMON_ENV - set(env)}"
        assert env["LEDGER_TABLE"] == {"Ref": "LedgerTable"}
        assert env["ALERTS_TOPIC_ARN"] == {"Ref": "AlertsTopic"}
        assert env["SUPPLY_TOPIC_ARN"] == {"Ref": "SupplyChainTopic"}
        assert env["STOCK_SYNC_TOPIC_ARN"] == {"Ref": "StockSyncTopic"}
        assert env["REJECTED_EVENTS_QUEUE_URL"] == {"Ref": "RejectedEventsQueue"}
        assert env["EXPIRY_SHARDS"] == {"Ref": "ExpiryShards"}
        assert env["POWERTOOLS_SERVICE_NAME"] == "stockpulse"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "stockpulse"


def test_shared_layer_is_built_from_shared_with_python311(raw: dict[str, Any]) -> None:
    layer = raw["Resources"]["SharedLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "shared/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    assert layer["Metadata"]["BuildMethod"] == "python3.11"
    assert (ROOT / "shared" / "requirements.txt").is_file()


def _requirement_key(line: str) -> tuple[str, str, str]:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[([^\]]*)\])?\s*(==\s*[^\s;#]+)\s*", line)
    assert m, f"not an exact pin: {line!r}"
    name = re.sub(r"[-_.]+", "-", m.group(1)).lower()
    extras = ",".join(sorted(e.strip().lower() for e in (m.group(2) or "").split(",") if e.strip()))
    return name, extras, m.group(3).replace(" ", "")


def test_layer_requirements_pins_equal_pyproject() -> None:
    lines = [
        line.split("#", 1)[0].strip()
        for line in (ROOT / "shared" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    ]
    layer = {_requirement_key(line) for line in lines if line}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_requirement_key(dep) for dep in project["dependencies"]}
    # boto3 comes with the Lambda runtime; everything else the functions import is in the layer.
    assert layer == {dep for dep in runtime if dep[0] not in {"boto3", "botocore"}}
    assert {name for name, _, _ in layer} >= {"aws-lambda-powertools", "pydantic"}


def test_order_stream_mapping(cfn: dict[str, Any]) -> None:
    esm = _event_source_mapping(cfn, "OrderStreamFunction")
    assert esm["EventSourceArn"] == {"Fn::GetAtt": ["OrdersStream", "Arn"]}
    assert esm["BatchSize"] == 100
    assert esm["MaximumBatchingWindowInSeconds"] == 1
    # Events written before the mapping existed are applied (idempotently), never skipped.
    assert esm["StartingPosition"] == "TRIM_HORIZON"
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["BisectBatchOnFunctionError"] is True
    assert esm["MaximumRetryAttempts"] == 10
    assert esm["MaximumRecordAgeInSeconds"] == 3600
    assert esm["ParallelizationFactor"] == 1  # one SKU's events stay in order
    assert esm["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["OrderStreamFailureQueue", "Arn"]
    }


def test_orders_stream_is_encrypted_on_demand(cfn: dict[str, Any]) -> None:
    props = _props(cfn, "OrdersStream")
    assert props["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    assert props["RetentionPeriodHours"] == 24
    assert props["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}


def test_expiry_stream_mapping_only_sees_ttl_removals(cfn: dict[str, Any]) -> None:
    esm = _event_source_mapping(cfn, "ReservationExpiryFunction")
    assert esm["EventSourceArn"] == {"Fn::GetAtt": ["LedgerTable", "StreamArn"]}
    patterns = [json.loads(f["Pattern"]) for f in esm["FilterCriteria"]["Filters"]]
    assert patterns == [TTL_FILTER]
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["BisectBatchOnFunctionError"] is True
    assert 0 <= esm["MaximumRetryAttempts"] <= 10
    assert esm["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["ExpiryStreamFailureQueue", "Arn"]
    }


@pytest.mark.parametrize("function", ["ReservationExpiryFunction", "ThresholdEvaluatorFunction"])
def test_every_minute_schedule(cfn: dict[str, Any], function: str) -> None:
    rules = [
        r["Properties"]
        for r in _of_type(cfn, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    assert [r["ScheduleExpression"] for r in rules] == ["rate(1 minute)"]


def test_alert_router_has_dlq_and_webhook_prefix(cfn: dict[str, Any]) -> None:
    props = _props(cfn, "AlertRouterFunction")
    assert props["DeadLetterConfig"]["TargetArn"] == {"Fn::GetAtt": ["AlertRouterDeadLetterQueue", "Arn"]}
    assert "/stockpulse/webhooks/" in props["Environment"]["Variables"].values()


def test_dashboard_http_api_routes_jwt_and_cors(cfn: dict[str, Any]) -> None:
    body = _props(cfn, "DashboardHttpApi")["Body"]
    routes = {(path, method) for path, ops in body["paths"].items() for method in ops}
    assert routes == {
        ("/sessions/{session_id}", "get"),
        ("/sessions/{session_id}/skus", "get"),
        ("/sessions/{session_id}/skus/{sku_id}", "get"),
        ("/sessions/{session_id}/alerts", "get"),
    }
    for ops in body["paths"].values():
        for op in ops.values():
            assert op["security"] == [{"DashboardJwt": []}]
            assert _refs(op["x-amazon-apigateway-integration"]["uri"], "DashboardApiFunction")
    scheme = body["components"]["securitySchemes"]["DashboardJwt"]["x-amazon-apigateway-authorizer"]
    assert scheme["type"] == "jwt"
    assert scheme["identitySource"] == "$request.header.Authorization"
    assert scheme["jwtConfiguration"]["issuer"] == {"Ref": "DashboardJwtIssuer"}
    assert scheme["jwtConfiguration"]["audience"] == [{"Ref": "DashboardJwtAudience"}]
    cors = body["x-amazon-apigateway-cors"]
    assert cors["allowOrigins"] in (
        [{"Ref": "DashboardAllowedOrigin"}],
        ["http://localhost:8080"],  # the translator resolves the parameter's default
    )


# ---------------------------------------------------------------------------- ledger table


def test_ledger_table(cfn: dict[str, Any]) -> None:
    props = _props(cfn, "LedgerTable")
    assert cfn["Resources"]["LedgerTable"]["DeletionPolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    attrs = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert attrs == {"pk": "S", "sk": "S", "expiry_shard": "S", "hold_until_ms": "N"}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    [gsi] = props["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by_expiry"
    assert gsi["KeySchema"] == [
        {"AttributeName": "expiry_shard", "KeyType": "HASH"},
        {"AttributeName": "hold_until_ms", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}


# ---------------------------------------------------------------------------- queues, topics


def test_queues_are_encrypted_and_keep_messages_14_days(cfn: dict[str, Any]) -> None:
    queues = _of_type(cfn, "AWS::SQS::Queue")
    assert set(queues) == {
        "OrderStreamFailureQueue",
        "ExpiryStreamFailureQueue",
        "RejectedEventsQueue",
        "AlertFeedQueue",
        "AlertRouterDeadLetterQueue",
    }
    for queue in queues.values():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_alert_feed_queue_policy_only_admits_alerts_topic(cfn: dict[str, Any]) -> None:
    [policy] = _of_type(cfn, "AWS::SQS::QueuePolicy").values()
    assert policy["Properties"]["Queues"] == [{"Ref": "AlertFeedQueue"}]
    [stmt] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert stmt["Principal"] == {"Service": "sns.amazonaws.com"}
    assert stmt["Action"] == "sqs:SendMessage"
    assert stmt["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": "AlertsTopic"}


def test_topics_are_encrypted(cfn: dict[str, Any]) -> None:
    topics = _of_type(cfn, "AWS::SNS::Topic")
    assert set(topics) == {"AlertsTopic", "SupplyChainTopic", "StockSyncTopic", "OperationsTopic"}
    for name, topic in topics.items():
        # OperationsTopic: a key of its own that CloudWatch alarms may use (test_template_alarms.py)
        expected = {"Ref": "OperationsTopicKey"} if name == "OperationsTopic" else "alias/aws/sns"
        assert topic["Properties"]["KmsMasterKeyId"] == expected


def _alerts_subscriptions(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: v
        for k, v in _of_type(cfn, "AWS::SNS::Subscription").items()
        if v["Properties"]["TopicArn"] == {"Ref": "AlertsTopic"}
    }


def test_alert_subscriptions_and_filter_policies(cfn: dict[str, Any]) -> None:
    subs = _alerts_subscriptions(cfn)
    by_protocol = {v["Properties"]["Protocol"]: v for v in subs.values()}
    assert set(by_protocol) == {"sqs", "lambda", "email", "sms"}

    feed = by_protocol["sqs"]["Properties"]
    assert feed["Endpoint"] == {"Fn::GetAtt": ["AlertFeedQueue", "Arn"]}
    assert "FilterPolicy" not in feed

    router = by_protocol["lambda"]["Properties"]
    assert router["Endpoint"] == {"Fn::GetAtt": ["AlertRouterFunction", "Arn"]}
    assert router["FilterPolicy"] == {
        "$or": [
            {"kind": ["pre_show"], "channels": ["im"]},
            {"kind": ["alert", "sold_out", "resolved", "repeat"], "tier": {"Ref": "ImRobotTiers"},
             "channels": ["im"]},
        ]
    }  # fmt: skip

    email = by_protocol["email"]
    assert email["Condition"] == "HasAlertEmail"
    assert email["Properties"]["FilterPolicy"] == {
        "$or": [
            {"kind": ["pre_show"], "channels": ["email"]},
            {"kind": ["alert", "sold_out", "resolved"], "tier": {"Ref": "EmailTiers"}, "channels": ["email"]},
        ]
    }

    sms = by_protocol["sms"]
    assert sms["Condition"] == "HasOnCallPhone"
    assert sms["Properties"]["FilterPolicy"] == {
        "kind": ["alert", "sold_out"],
        "tier": {"Ref": "SmsCoreTiers"},
        "importance": ["core"],
        "first": ["true"],
        "channels": ["sms"],
    }
    for sub in subs.values():
        assert sub["Properties"].get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"


def test_subscription_conditions_need_a_non_empty_parameter(cfn: dict[str, Any]) -> None:
    conditions = cfn["Conditions"]
    assert conditions["HasAlertEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}
    assert conditions["HasOnCallPhone"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OnCallPhoneNumber"}, ""]}]}


@pytest.mark.parametrize(
    ("kind", "tier", "importance", "first", "expected"),
    [
        ("alert", "yellow", "core", "true", {"sqs"}),  # yellow: the big screen only
        ("alert", "orange", "normal", "true", {"sqs", "lambda", "email"}),
        ("alert", "orange", "core", "true", {"sqs", "lambda", "email"}),  # SMS pages on red only
        ("alert", "red", "normal", "true", {"sqs", "lambda", "email"}),
        ("alert", "red", "core", "true", {"sqs", "lambda", "email", "sms"}),
        ("alert", "red", "core", "false", {"sqs", "lambda", "email"}),  # one page per tier and show
        ("sold_out", "red", "core", "true", {"sqs", "lambda", "email", "sms"}),
        ("sold_out", "red", "core", "false", {"sqs", "lambda", "email"}),
        ("repeat", "red", "core", "false", {"sqs", "lambda"}),  # repeats: the IM group only
        ("resolved", "orange", "core", "false", {"sqs", "lambda", "email"}),  # where the alert went
        ("resolved", "yellow", "core", "false", {"sqs"}),
        ("pre_show", "none", "normal", "false", {"sqs", "lambda", "email"}),
        ("slow", "none", "core", "false", {"sqs"}),  # a tip for the big screen
    ],
)
def test_default_routing(
    cfn: dict[str, Any],
    raw: dict[str, Any],
    kind: str,
    tier: str,
    importance: str,
    first: str,
    expected: set[str],
) -> None:
    attributes = {
        "kind": kind, "tier": tier, "importance": importance, "first": first,
        "channels": ["im", "sms", "email", "supply_chain"], "sku_id": "cake", "session_id": "demo",
    }  # fmt: skip
    delivered = {
        sub["Properties"]["Protocol"]
        for sub in _alerts_subscriptions(cfn).values()
        if matches(resolve_defaults(sub["Properties"].get("FilterPolicy"), raw["Parameters"]), attributes)
    }
    assert delivered == expected
    # A product whose session file allows only the feed and IM never reaches e-mail or SMS.
    only_im = {**attributes, "channels": ["im"]}
    assert {
        sub["Properties"]["Protocol"]
        for sub in _alerts_subscriptions(cfn).values()
        if matches(resolve_defaults(sub["Properties"].get("FilterPolicy"), raw["Parameters"]), only_im)
    } == expected & {"sqs", "lambda"}


# ---------------------------------------------------------------------------- alarms


def _alarms(cfn: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["Properties"] for a in _of_type(cfn, "AWS::CloudWatch::Alarm").values()]


@pytest.mark.parametrize(
    "queue",
    [
        "OrderStreamFailureQueue",
        "ExpiryStreamFailureQueue",
        "RejectedEventsQueue",
        "AlertRouterDeadLetterQueue",
    ],
)
def test_queue_depth_alarm(cfn: dict[str, Any], queue: str) -> None:
    found = [
        a
        for a in _alarms(cfn)
        if a["Namespace"] == "AWS/SQS"
        and a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    ]
    assert len(found) == 1, queue
    [alarm] = found
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 0


@pytest.mark.parametrize("function", ["OrderStreamFunction", "ReservationExpiryFunction"])
def test_iterator_age_alarm(cfn: dict[str, Any], function: str) -> None:
    found = [
        a
        for a in _alarms(cfn)
        if a["Namespace"] == "AWS/Lambda"
        and a["MetricName"] == "IteratorAge"
        and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    ]
    assert len(found) == 1, function
    [alarm] = found
    assert alarm["Statistic"] == "Maximum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 60000


# ---------------------------------------------------------------------------- IAM

# Actions that touch data: never on Resource "*".
_DATA_ACTION = re.compile(
    r"^(dynamodb:(Get|Put|Update|Delete|BatchGet|BatchWrite|Query|Scan|ConditionCheck|Transact|PartiQL).*"
    r"|dynamodb:(GetRecords|GetShardIterator)"
    r"|sns:Publish.*|sqs:(SendMessage|ReceiveMessage|DeleteMessage|PurgeQueue).*"
    r"|ssm:GetParameter.*|kinesis:(Get|Put).*|kms:(Decrypt|Encrypt|GenerateDataKey).*)$",
    re.IGNORECASE,
)
_WILDCARD_ACTION = re.compile(r"^(\*|[a-z0-9-]+:\*)$", re.IGNORECASE)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_statements(cfn: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, role in _of_type(cfn, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for stmt in _as_list(policy["PolicyDocument"]["Statement"]):
                yield logical_id, stmt
    for logical_id, policy in _of_type(cfn, "AWS::IAM::Policy").items():
        for stmt in _as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
            yield logical_id, stmt


def test_no_wildcard_data_permissions(cfn: dict[str, Any]) -> None:
    statements = list(_role_statements(cfn))
    assert statements
    for role, stmt in statements:
        assert stmt["Effect"] == "Allow"
        assert "NotAction" not in stmt and "NotResource" not in stmt, role
        actions = [str(a) for a in _as_list(stmt["Action"])]
        resources = _as_list(stmt["Resource"])
        for action in actions:
            assert not _WILDCARD_ACTION.match(action), f"{role}: wildcard action {action}"
            if "*" in resources:
                assert not _DATA_ACTION.match(action), f"{role}: {action} on Resource *"


def test_every_function_has_its_own_role(cfn: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        assert _props(cfn, function)["Role"] == {"Fn::GetAtt": [f"{function}Role", "Arn"]}


def _allowed(cfn: dict[str, Any], function: str) -> dict[str, list[Any]]:
    """action -> resources granted by the function's inline policies."""
    granted: dict[str, list[Any]] = {}
    for role, stmt in _role_statements(cfn):
        if role == f"{function}Role":
            for action in _as_list(stmt["Action"]):
                granted.setdefault(action, []).extend(_as_list(stmt["Resource"]))
    return granted


_TOPICS = ("AlertsTopic", "SupplyChainTopic", "StockSyncTopic")
_PUBLISHES = {
    "OrderStreamFunction": set(_TOPICS),
    "ThresholdEvaluatorFunction": set(_TOPICS),
    # A release can be the first stock change to settle a red (its earlier settle failed): the
    # restock request goes out with it.
    "ReservationExpiryFunction": set(_TOPICS),
}


def test_least_privilege_per_function(cfn: dict[str, Any]) -> None:
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"}
    reads = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"}
    for function in FUNCTIONS:
        granted = _allowed(cfn, function)
        ddb = {a for a in granted if a.startswith("dynamodb:")}
        # The router keeps its delivery records (Powertools Idempotency) apart from the ledger.
        table = "RobotDeliveryTable" if function == "AlertRouterFunction" else "LedgerTable"
        for action in ddb:
            assert all(_refs(r, table) for r in granted[action]), (function, action)
        if function == "DashboardApiFunction":
            assert ddb == reads
            assert not any(a.startswith(("sns:", "sqs:", "ssm:")) for a in granted)
        elif function == "AlertRouterFunction":
            assert ddb == reads - {"dynamodb:Query", "dynamodb:BatchGetItem"} | {
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            }
            assert set(granted) >= {"ssm:GetParameter", "ssm:GetParametersByPath"}
            assert all("parameter/stockpulse/webhooks" in json.dumps(r) for r in granted["ssm:GetParameter"])
        elif function == "ThresholdEvaluatorFunction":  # its FORECAST items: one BatchWriteItem per 25
            assert ddb == reads | writes | {"dynamodb:BatchWriteItem"}, function
        else:
            assert ddb == reads | writes, function
            topics = {t for t in _TOPICS if any(_refs(r, t) for r in granted["sns:Publish"])}
            assert topics == _PUBLISHES[function], function
            assert len(granted["sns:Publish"]) == len(topics)
    # The sweep queries the sparse index; nobody else needs it.
    expiry = _allowed(cfn, "ReservationExpiryFunction")
    assert any("/index/by_expiry" in json.dumps(r) for r in expiry["dynamodb:Query"])
    assert any(
        "RejectedEventsQueue" in json.dumps(r)
        for r in _allowed(cfn, "OrderStreamFunction")["sqs:SendMessage*"]
    )
    # Nothing deletes from the ledger (only its TTL does).
    ledger_users = [f for f in FUNCTIONS if f != "AlertRouterFunction"]
    assert not any("DeleteItem" in a for f in ledger_users for a in _allowed(cfn, f))


# ---------------------------------------------------------------------------- sample events


def _event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def test_every_event_file_is_known_json() -> None:
    assert {p.name for p in EVENTS.glob("*.json")} >= {
        "kinesis_orders.json",
        "dynamodb_ttl_removal.json",
        "schedule.json",
        "sns_alert.json",
        "http_get_skus.json",
    }
    for path in EVENTS.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


def test_kinesis_orders_event() -> None:
    event = _event("kinesis_orders.json")
    KinesisDataStreamModel.model_validate(copy.deepcopy(event))
    records = event["Records"]
    assert len(records) >= 3
    bodies: list[Any] = []
    for record in records:
        assert record["eventSource"] == "aws:kinesis"
        assert record["eventName"] == "aws:kinesis:record"
        assert record["eventSourceARN"].startswith("arn:aws:kinesis:")
        assert record["eventID"].endswith(record["kinesis"]["sequenceNumber"])
        raw = base64.b64decode(record["kinesis"]["data"], validate=True)
        body = json.loads(raw.decode("utf-8"))
        assert record["kinesis"]["partitionKey"] == body["sku_id"]
        bodies.append(body)
    assert all(b["session_id"] == "demo-cakes" and b["sku_id"] == "cake-osmanthus" for b in bodies)
    created = [b for b in bodies if b["type"] == "order.created" and isinstance(b["quantity"], int)]
    paid = [b for b in bodies if b["type"] == "order.paid"]
    assert created and paid and paid[0]["order_id"] == created[0]["order_id"]
    assert paid[0]["event_id"] != created[0]["event_id"]
    # One record breaks the contract (string quantity, timestamp without offset).
    malformed = [
        b
        for b in bodies
        if not isinstance(b.get("quantity", 1), int) or not re.search(r"(Z|[+-]\d\d:\d\d)$", b["occurred_at"])
    ]
    assert len(malformed) == 1


def _pattern_matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Lambda event-filter semantics for the subset used here: nested objects, exact-value lists."""
    for key, want in pattern.items():
        if key not in record:
            return False
        if isinstance(want, dict):
            if not isinstance(record[key], dict) or not _pattern_matches(want, record[key]):
                return False
        elif record[key] not in want:
            return False
    return True


def test_ttl_removal_event_passes_the_templates_filter(cfn: dict[str, Any]) -> None:
    event = _event("dynamodb_ttl_removal.json")
    DynamoDBStreamModel.model_validate(copy.deepcopy(event))
    [record] = event["Records"]
    assert record["eventSource"] == "aws:dynamodb"
    assert re.fullmatch(r"arn:aws:dynamodb:[a-z0-9-]+:\d{12}:table/[^/]+/stream/.+", record["eventSourceARN"])
    old = record["dynamodb"]["OldImage"]
    assert old["pk"] == {"S": "ORDER#demo-cakes#dy9"} and old["sk"] == {"S": "ORDER"}
    assert old["status"] == {"S": "reserved"}
    for attribute, kind in {
        "sku_id": "S",
        "platform": "S",
        "quantity": "N",
        "created_ms": "N",
        "hold_until_ms": "N",
        "expiry_shard": "S",
        "expires_at": "N",
    }.items():
        assert set(old[attribute]) == {kind}, attribute
    assert int(old["expires_at"]["N"]) == int(old["hold_until_ms"]["N"]) // 1000
    assert record["dynamodb"]["Keys"] == {"pk": old["pk"], "sk": old["sk"]}
    assert "NewImage" not in record["dynamodb"]

    [filt] = _event_source_mapping(cfn, "ReservationExpiryFunction")["FilterCriteria"]["Filters"]
    pattern = json.loads(filt["Pattern"])
    assert _pattern_matches(pattern, record)
    user_delete = {k: v for k, v in record.items() if k != "userIdentity"}
    assert not _pattern_matches(pattern, user_delete)
    assert not _pattern_matches(pattern, {**record, "eventName": "MODIFY"})


def test_schedule_event() -> None:
    event = _event("schedule.json")
    EventBridgeModel.model_validate(copy.deepcopy(event))
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["detail"] == {}


def test_sns_alert_event_routes_like_the_template(cfn: dict[str, Any], raw: dict[str, Any]) -> None:
    event = _event("sns_alert.json")
    SnsModel.model_validate(copy.deepcopy(event))
    [record] = event["Records"]
    assert record["EventSource"] == "aws:sns"
    sns = record["Sns"]
    attributes = {k: v["Value"] for k, v in sns["MessageAttributes"].items()}
    assert set(attributes) == {"tier", "importance", "sku_id", "session_id", "kind", "first", "channels"}
    for name, value in sns["MessageAttributes"].items():  # as SnsAlertPublisher sets them
        assert value["Type"] == ("String.Array" if name == "channels" else "String"), name
    message = json.loads(sns["Message"])
    for key in ("tier", "sku_id", "session_id", "kind"):
        assert message[key] == attributes[key]
    router = _props(cfn, "AlertRouterFunctionImRobotAlerts")
    policy = resolve_defaults(router["FilterPolicy"], raw["Parameters"])
    attributes["channels"] = json.loads(attributes["channels"])  # String.Array: any element matches
    assert matches(policy, attributes)


def test_http_get_skus_event_matches_a_route(cfn: dict[str, Any]) -> None:
    event = _event("http_get_skus.json")
    APIGatewayProxyEventV2Model.model_validate(copy.deepcopy(event))
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /sessions/{session_id}/skus"
    assert event["rawPath"] == "/sessions/demo-cakes/skus"
    assert event["pathParameters"] == {"session_id": "demo-cakes"}
    ctx = event["requestContext"]
    assert ctx["http"]["method"] == "GET"
    assert ctx["authorizer"]["jwt"]["claims"]["sub"]
    method, path = event["routeKey"].split(" ", 1)
    assert method.lower() in _props(cfn, "DashboardHttpApi")["Body"]["paths"][path]


def test_every_function_logs_to_its_own_log_group_with_a_retention(cfn: dict[str, Any]) -> None:
    functions = _of_type(cfn, "AWS::Lambda::Function")
    groups = _of_type(cfn, "AWS::Logs::LogGroup")
    used = set()
    for name, function in functions.items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert group == {"Ref": f"{name.removesuffix('Function')}Logs"}, name
        assert groups[group["Ref"]]["Properties"]["RetentionInDays"] == {"Ref": "FunctionLogRetentionDays"}
        used.add(group["Ref"])
    assert len(used) == len(functions)
    assert cfn["Parameters"]["FunctionLogRetentionDays"]["Default"] == 30

"""template.yaml, proven: the TRANSFORMED template deploys into moto's CloudFormation.

The template is transformed offline by the same fixture test_template.py uses (aws-sam-translator,
code locations as S3 URIs); the functions' code and the layer are zipped from the work tree and
uploaded to (moto) S3 first; then the stack is created and checked: every resource created, every
output resolved to a real resource, the functions' environment pointing at the stack's own
resources - and the real handlers work against the deployed table, queue and topics.

What moto's CloudFormation cannot do, and where it is proven instead:
- event source mappings: moto invokes the mapped function in Docker for every stream record, so
  they are removed from the deployed copy (asserted here to be exactly the two stream mappings)
  and checked on the transformed template (test_template.py: batch size, bisect, retries, on-failure
  destinations, the TTL filter);
- SNS subscriptions, CloudWatch alarms, the SQS queue policy and the HTTP API (ApiGatewayV2) are
  accepted but not modelled (no physical resource): test_template.py / test_template_security.py
  check them on the transformed template; so the API id in DashboardApiUrl stays unresolved here;
- TTL specifications are ignored: test_template.py checks TimeToLiveSpecification.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import test_template as base  # the transformed template and its helpers: one source of truth
from moto import mock_aws

# test_template.py's module-scoped fixture (the transformed template), registered here.
cfn = base.cfn
DEPLOY_PARAMETERS, FUNCTIONS, ROOT = base.DEPLOY_PARAMETERS, base.FUNCTIONS, base.ROOT
_of_type = base._of_type

# moto says so for every resource of NOT_MODELLED; the test checks what it did create instead.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

REGION = "us-east-1"
STACK = "stockpulse-deploy-test"
# Invoked through Docker by moto as soon as a record arrives: removed from the deployed copy.
NEEDS_DOCKER = {"OrderStreamFunctionOrders", "ReservationExpiryFunctionTtlRemovals"}
# Accepted by moto's CloudFormation without a physical resource (checked on the template instead).
NOT_MODELLED = {
    "AWS::SNS::Subscription",
    "AWS::CloudWatch::Alarm",
    "AWS::SQS::QueuePolicy",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
}


def deployable(cfn: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(cfn)
    for logical_id in NEEDS_DOCKER:
        del template["Resources"][logical_id]
    return template


def _zip_dir(path: Path, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, prefix + file.relative_to(path).as_posix())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stack(cfn: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The deployed stack: {"outputs", "resources" (logical id -> physical id), "template"}."""
    template = deployable(cfn)
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        s3 = boto3.client("s3", region_name=REGION)
        buckets: set[str] = set()
        for resource in template["Resources"].values():
            props = resource["Properties"]
            if resource["Type"] == "AWS::Lambda::Function":
                function = str(props["Code"]["S3Key"]).removesuffix(".zip")  # the fixture's naming
                location, source, prefix = props["Code"], ROOT / "functions" / FUNCTIONS[function], ""
            elif resource["Type"] == "AWS::Lambda::LayerVersion":
                location, source, prefix = props["Content"], ROOT / "shared", "python/"
            else:
                continue
            if location["S3Bucket"] not in buckets:
                s3.create_bucket(Bucket=location["S3Bucket"])
                buckets.add(location["S3Bucket"])
            s3.put_object(Bucket=location["S3Bucket"], Key=location["S3Key"], Body=_zip_dir(source, prefix))
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in DEPLOY_PARAMETERS.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        [described] = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
        summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        yield {
            "status": described["StackStatus"],
            "outputs": {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
            "summaries": summaries,
            "resources": {s["LogicalResourceId"]: s.get("PhysicalResourceId") for s in summaries},
            "template": template,
        }


# ---------------------------------------------------------------------------- the deployed copy


def test_only_the_stream_mappings_are_left_out(cfn: dict[str, Any]) -> None:
    mappings = _of_type(cfn, "AWS::Lambda::EventSourceMapping")
    assert set(mappings) == NEEDS_DOCKER
    sources = {json.dumps(m["Properties"]["EventSourceArn"]) for m in mappings.values()}
    assert sources == {
        json.dumps({"Fn::GetAtt": ["OrdersStream", "Arn"]}),
        json.dumps({"Fn::GetAtt": ["LedgerTable", "StreamArn"]}),
    }
    kept = deployable(cfn)["Resources"]
    assert set(cfn["Resources"]) - set(kept) == NEEDS_DOCKER
    # Nothing else in the deployed copy refers to what was removed.
    assert not any(name in json.dumps(kept) for name in NEEDS_DOCKER)


# ---------------------------------------------------------------------------- the stack


def test_the_stack_creates_every_resource(stack: dict[str, Any]) -> None:
    assert stack["status"] == "CREATE_COMPLETE"
    modelled = {
        logical_id: resource["Type"]
        for logical_id, resource in stack["template"]["Resources"].items()
        if resource["Type"] not in NOT_MODELLED
    }
    created = {s["LogicalResourceId"]: s for s in stack["summaries"] if s["LogicalResourceId"]}
    missing = sorted(set(modelled) - set(created))
    assert not missing, f"not created: {missing}"
    for logical_id, summary in created.items():
        assert summary["ResourceStatus"] == "CREATE_COMPLETE", (logical_id, summary)
        assert summary["ResourceType"] == modelled[logical_id]
    for logical_id, type_ in modelled.items():
        if type_ not in ("AWS::Lambda::Permission", "AWS::Lambda::LayerVersion"):
            assert created[logical_id].get("PhysicalResourceId"), logical_id


def test_every_output_resolves(stack: dict[str, Any]) -> None:
    outputs = stack["outputs"]
    assert set(outputs) == set(stack["template"]["Outputs"])
    for key, value in outputs.items():
        if key == "DashboardApiUrl":  # moto does not model the HTTP API: only its id stays a placeholder
            assert re.fullmatch(
                r"https://(\$\{DashboardHttpApi\}|[a-z0-9]{10})\.execute-api\.us-east-1\.amazonaws\.com/",
                value,
            )
            continue
        assert "${" not in value and "Fn::" not in value and value.strip(), (key, value)

    db = boto3.client("dynamodb", region_name=REGION)
    table = db.describe_table(TableName=outputs["LedgerTableName"])["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by_expiry"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    kinesis = boto3.client("kinesis", region_name=REGION)
    summary = kinesis.describe_stream_summary(StreamName=outputs["OrdersStreamName"])[
        "StreamDescriptionSummary"
    ]
    assert summary["StreamStatus"] == "ACTIVE"

    sns = boto3.client("sns", region_name=REGION)
    for key in ("AlertsTopicArn", "SupplyChainTopicArn", "StockSyncTopicArn"):
        attributes = sns.get_topic_attributes(TopicArn=outputs[key])["Attributes"]
        assert attributes["KmsMasterKeyId"] == "alias/aws/sns", key

    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.get_queue_attributes(QueueUrl=outputs["RejectedEventsQueueUrl"], AttributeNames=["All"])
    assert queue["Attributes"]["MessageRetentionPeriod"] == str(14 * 24 * 3600)


def test_functions_point_at_the_stacks_own_resources(stack: dict[str, Any]) -> None:
    outputs, resources = stack["outputs"], stack["resources"]
    lam = boto3.client("lambda", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    for function in FUNCTIONS:
        config = lam.get_function_configuration(FunctionName=resources[function])
        assert config["Runtime"] == "python3.11" and config["Handler"] == "app.handler", function
        env = {k: str(v) for k, v in config["Environment"]["Variables"].items()}
        assert env["LEDGER_TABLE"] == outputs["LedgerTableName"], function
        assert env["ALERTS_TOPIC_ARN"] == outputs["AlertsTopicArn"], function
        assert env["SUPPLY_TOPIC_ARN"] == outputs["SupplyChainTopicArn"], function
        assert env["STOCK_SYNC_TOPIC_ARN"] == outputs["StockSyncTopicArn"], function
        assert env["REJECTED_EVENTS_QUEUE_URL"] == outputs["RejectedEventsQueueUrl"], function
        assert env["EXPIRY_SHARDS"] == "16", function
        assert not any("${" in v or "Fn::" in v for v in env.values()), (function, env)
        role = iam.get_role(RoleName=resources[f"{function}Role"])["Role"]
        assert config["Role"] == role["Arn"], function
    # moto drops Layers from the function (test_template.py checks them): the layer itself exists.
    assert len(lam.list_layers()["Layers"]) == 1

    # The router's webhook path (moto drops DeadLetterConfig: test_template.py checks it).
    router = lam.get_function_configuration(FunctionName=resources["AlertRouterFunction"])
    assert router["Environment"]["Variables"]["WEBHOOK_PARAMETER_PATH"] == "/stockpulse/webhooks/"


def test_roles_grant_the_deployed_arns(stack: dict[str, Any]) -> None:
    """The scoped policies resolve to this stack's ARNs (no placeholder, no `*`)."""
    iam = boto3.client("iam", region_name=REGION)
    db = boto3.client("dynamodb", region_name=REGION)
    table = db.describe_table(TableName=stack["outputs"]["LedgerTableName"])["Table"]
    for function in FUNCTIONS:
        role_name = stack["resources"][f"{function}Role"]
        documents = [
            iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        ]
        assert documents, function
        text = json.dumps(documents)
        assert '"*"' not in text and "${" not in text and "Fn::" not in text, (function, text)
        if function != "AlertRouterFunction":
            assert table["TableArn"] in text, function
    order_stream = json.dumps(
        [
            iam.get_role_policy(RoleName=stack["resources"]["OrderStreamFunctionRole"], PolicyName=name)
            for name in iam.list_role_policies(RoleName=stack["resources"]["OrderStreamFunctionRole"])[
                "PolicyNames"
            ]
        ]
    )
    kinesis = boto3.client("kinesis", region_name=REGION)
    stream_arn = kinesis.describe_stream_summary(StreamName=stack["outputs"]["OrdersStreamName"])[
        "StreamDescriptionSummary"
    ]["StreamARN"]
    assert stream_arn in order_stream
    expiry_role = stack["resources"]["ReservationExpiryFunctionRole"]
    expiry = json.dumps(
        [
            iam.get_role_policy(RoleName=expiry_role, PolicyName=n)
            for n in iam.list_role_policies(RoleName=expiry_role)["PolicyNames"]
        ]
    )
    assert table["LatestStreamArn"] in expiry and f"{table['TableArn']}/index/by_expiry" in expiry


def test_schedules_target_their_functions(stack: dict[str, Any]) -> None:
    events = boto3.client("events", region_name=REGION)
    lam = boto3.client("lambda", region_name=REGION)
    for rule_id, function in (
        ("ReservationExpiryFunctionSweep", "ReservationExpiryFunction"),
        ("ThresholdEvaluatorFunctionEveryMinute", "ThresholdEvaluatorFunction"),
    ):
        name = stack["resources"][rule_id]
        assert events.describe_rule(Name=name)["ScheduleExpression"] == "rate(1 minute)"
        [target] = events.list_targets_by_rule(Rule=name)["Targets"]
        arn = lam.get_function_configuration(FunctionName=stack["resources"][function])["FunctionArn"]
        assert target["Arn"] == arn


# ---------------------------------------------------------------------------- the handlers on it


def _kinesis_record(seq: int, body: bytes, partition_key: str) -> dict[str, Any]:
    sequence = f"{seq:056d}"
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence,
            "data": base64.b64encode(body).decode(),
            "approximateArrivalTimestamp": 1795640000.0,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/x",
        "awsRegion": REGION,
        "eventSourceARN": f"arn:aws:kinesis:{REGION}:123456789012:stream/orders",
    }


def test_the_handlers_run_on_the_deployed_resources(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each function's environment, as deployed, is enough for the real handler: orders land in the
    deployed table, a malformed record in the deployed rejected queue, the sweep reads the deployed
    index, the dashboard reads the deployed table."""
    from stockpulse import wiring
    from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
    from stockpulse.domain.session import SessionPlan
    from stockpulse_local.replay import LambdaContext, load_handler

    lam = boto3.client("lambda", region_name=REGION)

    def use_environment_of(function: str) -> None:
        env = lam.get_function_configuration(FunctionName=stack["resources"][function])["Environment"][
            "Variables"
        ]
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
        wiring.install(None)  # built from the environment, as in Lambda

    now = datetime.now(UTC).replace(microsecond=0)
    start_ms = int(now.timestamp() * 1000)
    plan = SessionPlan.model_validate(
        {
            "session": {
                "session_id": "deployed",
                "starts_at": now.isoformat(),
                "ends_at": datetime.fromtimestamp(now.timestamp() + 3 * 3600, UTC).isoformat(),
            },
            "skus": [{"sku_id": "cake", "on_hand": 10, "forecast": 10, "hold_minutes": 15}],
        }
    )
    db = boto3.client("dynamodb", region_name=REGION)
    table = stack["outputs"]["LedgerTableName"]
    DynamoLedgerStore(db, table, expiry_shards=16).load_session(plan)
    order = {
        "event_id": "deployed-e1",
        "type": "order.created",
        "occurred_at": now.isoformat(),
        "session_id": "deployed",
        "sku_id": "cake",
        "platform": "douyin",
        "order_id": "d1",
        "quantity": 2,
    }
    try:
        use_environment_of("OrderStreamFunction")
        response = load_handler("order_stream").handler(
            {
                "Records": [
                    _kinesis_record(1, json.dumps(order).encode(), "cake"),
                    _kinesis_record(2, b'{"type": "order.created"', "cake"),
                ]
            },
            LambdaContext("order_stream"),
        )
        assert response == {"batchItemFailures": []}
        item = db.get_item(TableName=table, Key={"pk": {"S": "ORDER#deployed#d1"}, "sk": {"S": "ORDER"}})[
            "Item"
        ]
        assert item["status"] == {"S": "reserved"}
        assert int(item["hold_until_ms"]["N"]) == start_ms + 15 * 60_000
        sqs = boto3.client("sqs", region_name=REGION)
        [rejected] = sqs.receive_message(QueueUrl=stack["outputs"]["RejectedEventsQueueUrl"])["Messages"]
        assert json.loads(rejected["Body"])["reason"] == "invalid"

        use_environment_of("ReservationExpiryFunction")
        swept = load_handler("reservation_expiry").handler(
            {
                "version": "0",
                "id": "x",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "detail": {},
            },
            LambdaContext("reservation_expiry"),
        )
        assert swept == {"released": 0}  # the hold runs 15 more minutes

        if (ROOT / "functions" / "dashboard_api" / "app.py").exists():
            from stockpulse import dashboard

            use_environment_of("DashboardApiFunction")
            dashboard.install(None)  # built from the environment, as in Lambda
            event = json.loads((ROOT / "events" / "http_get_skus.json").read_text(encoding="utf-8"))
            event["rawPath"] = event["requestContext"]["http"]["path"] = "/sessions/deployed/skus"
            event["pathParameters"] = {"session_id": "deployed"}
            answer = load_handler("dashboard_api").handler(event, LambdaContext("dashboard_api"))
            assert answer["statusCode"] == 200, answer
            assert "cake" in answer["body"]
    finally:
        wiring.install(None)
        try:
            from stockpulse import dashboard

            dashboard.install(None)
        except ImportError:
            pass

"""`stockpulse session load|status --stack NAME`: names from the stack's CloudFormation outputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from stockpulse_local import cli

TEMPLATE = {
    "Resources": {
        "LedgerTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
            },
        },
        "AlertsTopic": {"Type": "AWS::SNS::Topic"},
    },
    "Outputs": {
        "LedgerTableName": {"Value": {"Ref": "LedgerTable"}},
        "AlertsTopicArn": {"Value": {"Ref": "AlertsTopic"}},
    },
}
SCENARIO = {
    "session": {
        "session_id": "tonight",
        "starts_at": "2026-12-24T20:00:00+08:00",
        "ends_at": "2026-12-24T23:00:00+08:00",
    },
    "skus": [
        {"sku_id": "cake", "name": "Cake", "on_hand": 100, "held": 10, "forecast": 60},
        {"sku_id": "tea", "name": "Tea", "on_hand": 40, "forecast": 30, "platform_quotas": {"taobao": 10}},
    ],
    "events": [],
}


@pytest.fixture
def stack() -> Iterator[str]:
    with mock_aws():
        boto3.client("cloudformation", region_name="us-east-1").create_stack(
            StackName="stockpulse-prod", TemplateBody=json.dumps(TEMPLATE)
        )
        yield "stockpulse-prod"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_load_status_and_idempotence_through_the_stack_outputs(
    stack: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tonight.json"
    path.write_text(json.dumps(SCENARIO), encoding="utf-8")
    where = ("--stack", stack, "--region", "us-east-1")

    code, out, err = run(capsys, "session", "load", str(path), *where)
    assert code == 0, err
    assert "session tonight loaded on stack stockpulse-prod (us-east-1) table " in out and "2 SKUs" in out

    code, out, _ = run(capsys, "session", "load", str(path), *where)
    assert code == 0 and "already loaded" in out and "nothing written" in out

    code, out, err = run(capsys, "session", "status", "tonight", *where, "--json")
    assert code == 0, err
    status = json.loads(out)["skus"]
    assert status["cake"] == {
        "on_hand": 100,
        "held": 10,
        "reserved": 0,
        "sold": 0,
        "available": 90,
        "tier": "none",
        "paused": False,
        "forecast": 60,
        "velocity_per_minute": 0.0,
        "sell_out_eta_minutes": None,
        "restock_quantity": 0,
    }
    assert status["tea"]["available"] == 40

    code, out, _ = run(capsys, "session", "status", "tonight", *where)
    assert code == 0
    header = [
        "sku",
        "on_hand",
        "held",
        "resv",
        "sold",
        "avail",
        "tier",
        "F",
        "v/min",
        "ETA",
        "min",
        "restock",
    ]
    assert out.splitlines()[2].split() == header
    assert out.splitlines()[3].split()[:7] == ["cake", "100", "10", "0", "0", "90", "none"]

    # Another plan for a session whose stock is loaded: refused whole, nothing written.
    changed = tmp_path / "changed.json"
    changed.write_text(
        json.dumps({**SCENARIO, "skus": [{**SCENARIO["skus"][0], "on_hand": 500}]}), encoding="utf-8"
    )
    code, _, err = run(capsys, "session", "load", str(changed), *where)
    assert code == 1 and "already has a different plan for cake" in err and "--overwrite" in err
    code, out, _ = run(capsys, "session", "status", "tonight", *where, "--json")
    assert json.loads(out)["skus"]["cake"]["on_hand"] == 100


def test_a_stack_that_is_not_there_or_not_stockpulse(
    stack: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tonight.json"
    path.write_text(json.dumps(SCENARIO), encoding="utf-8")
    code, _, err = run(capsys, "session", "load", str(path), "--stack", "nope", "--region", "us-east-1")
    assert code == 1 and "stack nope" in err
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="other", TemplateBody=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
    )
    code, _, err = run(capsys, "session", "status", "tonight", "--stack", "other", "--region", "us-east-1")
    assert code == 1 and "no LedgerTableName output" in err


def test_endpoint_url_needs_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tonight.json"
    path.write_text(json.dumps(SCENARIO), encoding="utf-8")
    code, _, err = run(capsys, "session", "load", str(path), "--endpoint-url", "http://127.0.0.1:9")
    assert code == 1 and "--table" in err


def test_load_sends_the_pre_show_check_once_to_the_stack_alerts_topic(
    stack: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tea: 40 sellable for a forecast of 30 with no history and a week's lead time (line 51)."""
    sqs, sns = boto3.client("sqs", region_name="us-east-1"), boto3.client("sns", region_name="us-east-1")
    outputs = boto3.client("cloudformation", region_name="us-east-1").describe_stacks(StackName=stack)
    topic = next(
        o["OutputValue"] for o in outputs["Stacks"][0]["Outputs"] if o["OutputKey"] == "AlertsTopicArn"
    )
    url = sqs.create_queue(QueueName="feed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    short = {**SCENARIO["skus"][1], "lead_time_days": 7, "has_history": False, "pack_size": 6}
    path = tmp_path / "tonight.json"
    path.write_text(json.dumps({**SCENARIO, "skus": [SCENARIO["skus"][0], short]}), encoding="utf-8")

    code, out, err = run(capsys, "session", "load", str(path), "--stack", stack, "--region", "us-east-1")
    assert code == 0, err
    assert "pre-show tea:" in out and "(sent)" in out and "pre-show cake" not in out
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    [notice] = [json.loads(json.loads(m["Body"])["Message"]) for m in messages]
    assert (notice["kind"], notice["sku_id"], notice["restock_quantity"]) == (
        "pre_show",
        "tea",
        12,
    )  # 11 -> 2 packs
    assert "51" in notice["text_zh"] and "12" in notice["text_zh"]

    # Loading it again (the plan is identical) sends nothing more.
    run(capsys, "session", "load", str(path), "--stack", stack, "--region", "us-east-1", "--overwrite")
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []

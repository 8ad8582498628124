"""Issue 11, item 4: `stockpulse session load` validates everything before its first write.

`on_hand: 10**40` used to write the first SKUs' stock and then crash (an uncaught decimal.Rounded
from DynamoDB's 38-digit numbers); the fixed file was then refused as "a live session?". Now a
refused load writes nothing, and a load that fails mid-way is finished by running it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from test_runner_session import SCENARIO, TEMPLATE

from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
from stockpulse.domain.session import SessionPlan, SkuConfig
from stockpulse_local import cli

REGION = "us-east-1"
THREE_SKUS = {
    **SCENARIO,
    "skus": [*SCENARIO["skus"], {"sku_id": "jam", "name": "Jam", "on_hand": 20, "forecast": 10}],
}


@pytest.fixture
def stack() -> Iterator[tuple[str, ...]]:
    with mock_aws():
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="prod", TemplateBody=json.dumps(TEMPLATE)
        )
        yield ("--stack", "prod", "--region", REGION)


def table_items(stack_name: str = "prod") -> list[dict[str, Any]]:
    cfn = boto3.client("cloudformation", region_name=REGION)
    outputs = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["Outputs"]
    name = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "LedgerTableName")
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=name)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def write(tmp_path: Path, data: Any, name: str = "tonight.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_huge_number_is_refused_before_any_write(
    stack: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 4: `on_hand: 10**40` in the second SKU wrote the first SKU's stock, then crashed."""
    bad = {**SCENARIO, "skus": [SCENARIO["skus"][0], {**SCENARIO["skus"][1], "on_hand": 10**40}]}
    code, out, err = run(capsys, "session", "load", str(write(tmp_path, bad)), *stack)
    assert code == 2 and "skus.1.on_hand" in err and "Traceback" not in err
    assert table_items() == []

    # The fixed file then loads: it is not taken for a live session.
    code, out, err = run(capsys, "session", "load", str(write(tmp_path, SCENARIO)), *stack)
    assert code == 0 and "loaded" in out, err


def test_the_store_builds_every_item_before_the_first_write(stack: tuple[str, ...]) -> None:
    """Even a plan that skipped validation (model_construct) is refused whole by load_session."""
    plan = SessionPlan.model_validate({"session": SCENARIO["session"], "skus": SCENARIO["skus"]})
    huge = SkuConfig.model_construct(**{**dict(plan.skus[1]), "on_hand": 10**40})
    unchecked = SessionPlan.model_construct(session=plan.session, skus=[plan.skus[0], huge])
    db = boto3.client("dynamodb", region_name=REGION)
    (name,) = db.list_tables()["TableNames"]
    with pytest.raises(ValueError, match=r"skus\.tea: cannot be stored"):
        DynamoLedgerStore(db, name).load_session(unchecked)
    assert table_items() == []


class Flaky:
    """Fails the n-th PutItem of the load with a throttling error, as a network hiccup would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int) -> None:
        self.puts = 0
        original = botocore.client.BaseClient._make_api_call

        def call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if operation == "PutItem":
                self.puts += 1
                if self.puts == fail_at:
                    raise ClientError(
                        {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation
                    )
            return original(client, operation, params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)


# after 1 or 2 SKUs, after all 3 (before the session's index entry), before the session item itself
@pytest.mark.parametrize("fail_at", [2, 3, 4, 5])
def test_a_load_that_failed_mid_way_is_finished_by_running_it_again(
    stack: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str], fail_at: int
) -> None:
    path = write(tmp_path, THREE_SKUS)
    with pytest.MonkeyPatch.context() as mp:
        Flaky(mp, fail_at)
        code, _, err = run(capsys, "session", "load", str(path), *stack)
    assert code == 1 and "Run the same command again" in err and "Traceback" not in err
    assert 0 < len(table_items()) < len(THREE_SKUS["skus"]) + 2

    code, out, err = run(capsys, "session", "load", str(path), *stack)
    assert code == 0, err
    assert "finishing an interrupted load" in out and "warning" not in err
    finished = table_items()

    code, out, _ = run(capsys, "session", "load", str(path), *stack)
    assert code == 0 and "already loaded" in out

    # The same items as one clean load into another stack's table.
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="clean", TemplateBody=json.dumps(TEMPLATE)
    )
    code, out, err = run(capsys, "session", "load", str(path), "--stack", "clean", "--region", REGION)
    assert code == 0 and "finishing" not in out, err
    assert table_items("clean") == finished


def test_an_interrupted_load_is_not_finished_over_a_sale_or_another_plan(
    stack: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, THREE_SKUS)
    with pytest.MonkeyPatch.context() as mp:
        Flaky(mp, 3)
        assert run(capsys, "session", "load", str(path), *stack)[0] == 1

    other = {**THREE_SKUS, "skus": [{**THREE_SKUS["skus"][0], "on_hand": 99}, *THREE_SKUS["skus"][1:]]}
    code, _, err = run(capsys, "session", "load", str(write(tmp_path, other, "other.json")), *stack)
    assert code == 1 and "a live session?" in err

    db = boto3.client("dynamodb", region_name=REGION)
    (name,) = db.list_tables()["TableNames"]
    db.update_item(  # an order was taken meanwhile: the stock item has moved on
        TableName=name,
        Key={"pk": {"S": "SKU#tonight#cake"}, "sk": {"S": "STOCK"}},
        UpdateExpression="SET #v = :one",
        ExpressionAttributeNames={"#v": "version"},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    before = table_items()
    code, _, err = run(capsys, "session", "load", str(path), *stack)
    assert code == 1 and "a live session?" in err
    assert table_items() == before

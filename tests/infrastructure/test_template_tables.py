"""stockpulse_local.template_tables builds the ledger exactly as template.yaml declares it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stockpulse_local.template_tables import (
    TEMPLATE_ENV,
    TemplateError,
    create_tables,
    find_template,
    load_template,
    physical_table_name,
    table_specs,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def _template_table(logical_id: str = "LedgerTable") -> dict[str, Any]:
    props: dict[str, Any] = load_template(TEMPLATE)["Resources"][logical_id]["Properties"]
    return props


# ---------------------------------------------------------------------------- loading


def test_loader_turns_short_form_tags_into_long_form() -> None:
    resources = load_template(TEMPLATE)["Resources"]
    env = load_template(TEMPLATE)["Globals"]["Function"]["Environment"]["Variables"]
    assert env["LEDGER_TABLE"] == {"Ref": "LedgerTable"}
    esm = resources["OrderStreamFunction"]["Properties"]["Events"]["Orders"]["Properties"]
    assert esm["Stream"] == {"Fn::GetAtt": ["OrdersStream", "Arn"]}
    assert '{"Fn::Sub": "${LedgerTable.Arn}/index/by_expiry"}' in json.dumps(resources)
    cond = load_template(TEMPLATE)["Conditions"]["HasAlertEmail"]
    assert cond == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}


def test_find_template(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(TEMPLATE_ENV, raising=False)
    assert find_template(ROOT / "tests" / "unit").resolve() == TEMPLATE.resolve()
    other = tmp_path / "t.yaml"
    other.write_text("Resources: {}\n", encoding="utf-8")
    monkeypatch.setenv(TEMPLATE_ENV, str(other))
    assert find_template() == other
    monkeypatch.setenv(TEMPLATE_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(TemplateError):
        find_template()


def test_specs_mirror_the_template() -> None:
    specs = table_specs(TEMPLATE)
    assert list(specs) == ["LedgerTable", "RobotDeliveryTable"]
    # Powertools Idempotency's defaults: key `id`, TTL `expiration`.
    deliveries = specs["RobotDeliveryTable"]
    assert deliveries.create_kwargs["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert deliveries.ttl_attribute == "expiration"
    spec = specs["LedgerTable"]
    props = _template_table()
    kwargs = spec.create_kwargs
    assert "TableName" not in kwargs
    assert kwargs["KeySchema"] == props["KeySchema"]
    assert kwargs["AttributeDefinitions"] == props["AttributeDefinitions"]
    assert kwargs["BillingMode"] == props["BillingMode"] == "PAY_PER_REQUEST"
    assert kwargs["GlobalSecondaryIndexes"] == props["GlobalSecondaryIndexes"]
    assert kwargs["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": props["StreamSpecification"]["StreamViewType"],
    }
    assert spec.ttl_attribute == props["TimeToLiveSpecification"]["AttributeName"] == "expires_at"


def _table(**props: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    }
    base.update(props)
    return {"Resources": {"T": {"Type": "AWS::DynamoDB::Table", "Properties": base}}}


def test_intrinsics_in_the_schema_are_refused() -> None:
    bad = _table(BillingMode={"Ref": "Billing"})
    with pytest.raises(TemplateError, match="Ref"):
        table_specs(bad)


def test_attribute_definitions_must_match_keys() -> None:
    bad = _table(
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "x", "AttributeType": "N"},
        ]
    )
    with pytest.raises(TemplateError, match="AttributeDefinitions"):
        table_specs(bad)


def test_provisioned_tables_and_disabled_ttl() -> None:
    spec = table_specs(
        _table(
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 3},
            TimeToLiveSpecification={"AttributeName": "ttl", "Enabled": False},
        )
    )["T"]
    assert spec.create_kwargs["ProvisionedThroughput"] == {"ReadCapacityUnits": 2, "WriteCapacityUnits": 3}
    assert spec.ttl_attribute is None
    assert "StreamSpecification" not in spec.create_kwargs


def test_a_template_without_tables_is_an_error() -> None:
    with pytest.raises(TemplateError):
        table_specs({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})


@pytest.mark.parametrize("prefix", ["", "a b ", "x/"])
def test_table_names_are_validated(prefix: str) -> None:
    with pytest.raises(TemplateError):
        physical_table_name(prefix, "T" if prefix == "" else "LedgerTable")


# ---------------------------------------------------------------------------- creating (moto)


def test_create_tables_matches_the_template(dynamodb: Any) -> None:
    names = create_tables(dynamodb, "sp-test-")
    assert names == {"LedgerTable": "sp-test-LedgerTable", "RobotDeliveryTable": "sp-test-RobotDeliveryTable"}
    table = dynamodb.describe_table(TableName=names["LedgerTable"])["Table"]
    props = _template_table()
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == props["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        props["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["LatestStreamArn"]
    [gsi] = table["GlobalSecondaryIndexes"]
    [want] = props["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == want["IndexName"] == "by_expiry"
    assert gsi["KeySchema"] == want["KeySchema"]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}
    ttl = dynamodb.describe_time_to_live(TableName=names["LedgerTable"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_create_tables_without_ttl_for_dynamodb_local(dynamodb: Any) -> None:
    names = create_tables(dynamodb, "local-", enable_ttl=False)
    ttl = dynamodb.describe_time_to_live(TableName=names["LedgerTable"])["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_create_tables_is_idempotent(dynamodb: Any) -> None:
    first = create_tables(dynamodb, "again-")
    dynamodb.put_item(
        TableName=first["LedgerTable"], Item={"pk": {"S": "SESSIONS"}, "sk": {"S": "SESSION#x"}}
    )
    assert create_tables(dynamodb, "again-") == first
    assert dynamodb.scan(TableName=first["LedgerTable"])["Count"] == 1
    assert [n for n in dynamodb.list_tables()["TableNames"] if n.startswith("again-")] == [
        "again-LedgerTable",
        "again-RobotDeliveryTable",
    ]


def test_by_expiry_index_is_sparse(dynamodb: Any) -> None:
    """Only reserved orders carry expiry_shard, so only they are in the index."""
    name = create_tables(dynamodb, "sparse-")["LedgerTable"]

    def order(order_id: str, hold_until_ms: int, shard: str | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": f"ORDER#demo-cakes#{order_id}"},
            "sk": {"S": "ORDER"},
            "status": {"S": "reserved" if shard else "sold"},
            "hold_until_ms": {"N": str(hold_until_ms)},
        }
        if shard is not None:
            item["expiry_shard"] = {"S": shard}
        return item

    dynamodb.put_item(TableName=name, Item=order("dy1", 1_000, "3"))
    dynamodb.put_item(TableName=name, Item=order("dy2", 2_000, "3"))
    dynamodb.put_item(TableName=name, Item=order("dy3", 500, None))
    dynamodb.put_item(TableName=name, Item=order("dy4", 900, "4"))
    due = dynamodb.query(
        TableName=name,
        IndexName="by_expiry",
        KeyConditionExpression="expiry_shard = :s AND hold_until_ms <= :now",
        ExpressionAttributeValues={":s": {"S": "3"}, ":now": {"N": "1500"}},
    )["Items"]
    assert [i["pk"]["S"] for i in due] == ["ORDER#demo-cakes#dy1"]
    everything = dynamodb.scan(TableName=name, IndexName="by_expiry")["Items"]
    assert sorted(i["pk"]["S"] for i in everything) == [
        "ORDER#demo-cakes#dy1",
        "ORDER#demo-cakes#dy2",
        "ORDER#demo-cakes#dy4",
    ]

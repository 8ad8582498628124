"""Proof that the real DynamoDB engine runs: conditional writes are enforced."""

import uuid

import pytest
from botocore.exceptions import ClientError

from stockpulse_local.dynamodb_local import DynamoDBLocal


def test_conditional_writes_are_enforced(dynamodb_local: DynamoDBLocal) -> None:
    client = dynamodb_local.client()
    table = f"smoke-{uuid.uuid4().hex[:12]}"
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": {"S": "SKU#s1#sku-1"}, "sk": {"S": "STOCK"}}
    client.put_item(
        TableName=table,
        Item={**key, "available": {"N": "1"}},
        ConditionExpression="attribute_not_exists(pk)",
    )

    take_one = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": "SET available = available - :q",
        "ConditionExpression": "available >= :q",
        "ExpressionAttributeValues": {":q": {"N": "1"}},
    }
    client.update_item(**take_one)
    with pytest.raises(ClientError) as refused:
        client.update_item(**take_one)
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"

    with pytest.raises(ClientError) as duplicate:
        client.put_item(TableName=table, Item=key, ConditionExpression="attribute_not_exists(pk)")
    assert duplicate.value.response["Error"]["Code"] == "ConditionalCheckFailedException"

    item = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert item["available"] == {"N": "0"}

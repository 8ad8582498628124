"""Where a session command acts: a deployed stack (names from its CloudFormation outputs) or a
DynamoDB endpoint and table (DynamoDB Local). Used by `session load|status` and `serve`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stockpulse_local.errors import CommandError

OUTPUT_NAMES = {
    "table": "LedgerTableName",
    "alerts_topic_arn": "AlertsTopicArn",
    "supply_topic_arn": "SupplyChainTopicArn",
    "stock_sync_topic_arn": "StockSyncTopicArn",
    "orders_stream": "OrdersStreamName",
}
LOCAL_KEY = "stockpulselocal"  # DynamoDB Local takes any letters-and-digits key


@dataclass(frozen=True)
class Target:
    """Where the session lives: the ledger table, and what else the stack's outputs name."""

    table: str
    client: Any
    where: str
    outputs: dict[str, str]
    sns: Any = None  # the stack's SNS client (pre-show messages), None for a bare table
    # The stack's parameter values (the review routes messages with them); None for a bare table.
    parameters: dict[str, str] | None = None


def target_options(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--stack", metavar="NAME", help="a deployed stack (names from its CloudFormation outputs)"
    )
    where.add_argument("--endpoint-url", metavar="URL", help="a DynamoDB endpoint, e.g. DynamoDB Local")
    p.add_argument("--table", metavar="NAME", help="the ledger table (with --endpoint-url)")
    p.add_argument("--region", metavar="REGION", help="AWS region (default: your AWS configuration)")


def resolve_target(args: argparse.Namespace) -> Target:
    import boto3

    session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
    region = session.region_name or "us-east-1"
    if args.endpoint_url:
        if not args.table:
            raise CommandError("--endpoint-url needs --table NAME (the ledger table)")
        kwargs: dict[str, Any] = {"endpoint_url": args.endpoint_url, "region_name": region}
        if session.get_credentials() is None:
            kwargs.update(aws_access_key_id=LOCAL_KEY, aws_secret_access_key=LOCAL_KEY)
        client = session.client("dynamodb", **kwargs)
        return Target(args.table, client, f"{args.endpoint_url} table {args.table}", {"table": args.table})
    try:
        stacks = session.client("cloudformation", region_name=region).describe_stacks(StackName=args.stack)
    except (ClientError, BotoCoreError) as err:
        raise CommandError(f"stack {args.stack}: {err}") from None
    found = {o["OutputKey"]: o["OutputValue"] for o in stacks["Stacks"][0].get("Outputs", [])}
    outputs = {name: found[key] for name, key in OUTPUT_NAMES.items() if key in found}
    if "table" not in outputs:
        raise CommandError(
            f"stack {args.stack} has no {OUTPUT_NAMES['table']} output: is it a stockpulse stack?"
        )
    if args.table and args.table != outputs["table"]:
        raise CommandError(f"--table {args.table} differs from the stack's table {outputs['table']}")
    client = session.client("dynamodb", region_name=region)
    parameters = {
        str(p["ParameterKey"]): str(p.get("ResolvedValue", p.get("ParameterValue", "")))
        for p in stacks["Stacks"][0].get("Parameters", [])
    }
    return Target(
        outputs["table"], client, f"stack {args.stack} ({region}) table {outputs['table']}", outputs,
        session.client("sns", region_name=region), parameters,
    )  # fmt: skip

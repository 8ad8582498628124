"""Issue 12, item 4: `stockpulse session status SESSION_ID --stack NAME --review DIR` writes the
post-show review of a live session from what the ledger table holds, reading only.

A session is loaded with `session load --stack`, the platforms' events go through the real
order_stream / reservation_expiry / threshold_evaluator handlers (a `Replay` that does not load
the session), then the review read back from the table is compared with the table itself and with
the review the replay's own report and outcome log give.
"""

from __future__ import annotations

import copy
import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from moto import mock_aws
from test_runner_session import TEMPLATE

from stockpulse import wiring
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
from stockpulse_local import cli
from stockpulse_local.channels import ORDER as CHANNELS
from stockpulse_local.progress import clock_text
from stockpulse_local.replay import LOCAL_EXPIRY_SHARDS, Backend, Replay, Stack, announces_upward
from stockpulse_local.report import Report
from stockpulse_local.review import REVIEW_COLUMNS, build_review, curves_of
from stockpulse_local.scenario import parse_scenario
from stockpulse_local.timeline import OutcomeLog

REGION = "us-east-1"
T = "2026-12-24T20:{:02d}:{:02d}+08:00"


def event(n: int, kind: str, minute: int, sku: str, order: str | None = None, qty: int | None = None,
          platform: str = "douyin", second: int = 0) -> dict[str, Any]:  # fmt: skip
    e: dict[str, Any] = {"event_id": f"e{n}", "type": kind, "occurred_at": T.format(minute, second),
                         "session_id": "tonight", "sku_id": sku}  # fmt: skip
    if order is not None:
        e |= {"order_id": order, "platform": platform}
    if qty is not None:
        e["quantity"] = qty
    return e


SCENARIO: dict[str, Any] = {
    "session": {
        "session_id": "tonight",
        "starts_at": "2026-12-24T20:00:00+08:00",
        "ends_at": "2026-12-24T20:30:00+08:00",
    },
    "skus": [
        {"sku_id": "cake", "name": "Cake", "on_hand": 10, "forecast": 8},
        {"sku_id": "tea", "name": "Tea", "on_hand": 40, "forecast": 6, "platform_quotas": {"taobao": 5}},
        # under its pre-show warning line: one pre-show message with the units to add
        {
            "sku_id": "jam",
            "name": "Jam",
            "on_hand": 20,
            "forecast": 15,
            "lead_time_days": 7,
            "has_history": False,
        },
    ],
    "events": [
        # cake sells out at 20:03 and turns away 3 + 2 units for stock
        event(1, "order.created", 1, "cake", "c1", 4),
        event(2, "order.paid", 2, "cake", "c1"),
        event(3, "order.created", 3, "cake", "c2", 6),
        event(4, "order.paid", 4, "cake", "c2"),
        event(5, "order.created", 5, "cake", "c3", 3),
        event(6, "order.created", 7, "cake", "c4", 2, second=30),
        event(15, "stock.restocked", 20, "cake", qty=5),
        # tea: yellow then red; taobao's quota of 5 turns away 2; an unpaid hold expires at 20:17
        event(7, "order.created", 2, "tea", "t1", 5, platform="taobao"),
        event(8, "order.created", 6, "tea", "t2", 2, platform="taobao"),
        event(9, "order.created", 6, "tea", "t3", 3, second=20),
        event(10, "order.paid", 8, "tea", "t3"),
        # jam: sold 3, then paused: 2 units turned away while paused
        event(11, "order.created", 5, "jam", "j1", 3),
        event(12, "order.paid", 6, "jam", "j1"),
        event(13, "sku.paused", 10, "jam"),
        event(14, "order.created", 12, "jam", "j2", 2),
    ],
}
REFUSED = {  # units by reason, per SKU: what the scenario was written to do
    "cake": {"insufficient_stock": 5, "sku_paused": 0, "quota_exceeded": 0},
    "tea": {"insufficient_stock": 0, "sku_paused": 0, "quota_exceeded": 2},
    "jam": {"insufficient_stock": 0, "sku_paused": 2, "quota_exceeded": 0},
}
SOLD = {"cake": 10, "tea": 3, "jam": 3}


def stockpulse_like(template: dict[str, Any]) -> dict[str, Any]:
    """The test stack's table with the `by_expiry` index the sweep reads, and template.yaml's
    routing parameters (the review routes messages with the stack's values)."""
    template = copy.deepcopy(template)
    template["Parameters"] = {
        "AlertEmail": {"Type": "String", "Default": ""},
        "OnCallPhoneNumber": {"Type": "String", "Default": ""},
        "ImRobotTiers": {"Type": "CommaDelimitedList", "Default": "orange,red"},
        "EmailTiers": {"Type": "CommaDelimitedList", "Default": "orange,red"},
        "SmsCoreTiers": {"Type": "CommaDelimitedList", "Default": "red"},
    }
    table = template["Resources"]["LedgerTable"]["Properties"]
    table["AttributeDefinitions"] += [
        {"AttributeName": "expiry_shard", "AttributeType": "S"},
        {"AttributeName": "hold_until_ms", "AttributeType": "N"},
    ]
    table["GlobalSecondaryIndexes"] = [
        {
            "IndexName": "by_expiry",
            "KeySchema": [
                {"AttributeName": "expiry_shard", "KeyType": "HASH"},
                {"AttributeName": "hold_until_ms", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    return template


@pytest.fixture
def outputs() -> Iterator[dict[str, str]]:
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(  # every endpoint configured, the default tiers: routed as a replay's report
            StackName="prod",
            TemplateBody=json.dumps(stockpulse_like(TEMPLATE)),
            Parameters=[
                {"ParameterKey": "AlertEmail", "ParameterValue": "ops@example.com"},
                {"ParameterKey": "OnCallPhoneNumber", "ParameterValue": "+8613800000000"},
            ],
        )
        found = cfn.describe_stacks(StackName="prod")["Stacks"][0]["Outputs"]
        yield {o["OutputKey"]: o["OutputValue"] for o in found}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def table_items(name: str) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=name)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def live_show(
    outputs: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Replay, tuple[Report, OutcomeLog]]:
    """Load the session through the stack, then send the platforms' events through the handlers.
    The big screen's feed queue is subscribed before the load, so it sees the pre-show check too."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    feed = sqs.create_queue(QueueName="feed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=feed, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=outputs["AlertsTopicArn"], Protocol="sqs", Endpoint=arn)
    path = tmp_path / "tonight.json"
    path.write_text(json.dumps(SCENARIO), encoding="utf-8")
    code, _, err = run(capsys, "session", "load", str(path), "--stack", "prod", "--region", REGION)
    assert code == 0, err

    store = DynamoLedgerStore(ddb, outputs["LedgerTableName"], expiry_shards=LOCAL_EXPIRY_SHARDS)
    stack = Stack(
        backend=Backend(ddb, sns, sqs, "moto"),
        store=store,
        alerts_topic_arn=outputs["AlertsTopicArn"],
        supply_topic_arn=sns.create_topic(Name="supply")["TopicArn"],
        alert_feed_url=feed,
        rejected_queue_url=sqs.create_queue(QueueName="rejected")["QueueUrl"],
    )
    scenario = parse_scenario(SCENARIO)
    outcomes = OutcomeLog()
    try:
        run_ = Replay(scenario, stack, load_session=False, on_outcome=outcomes.record)
        report = run_.run()
    finally:
        wiring.install(None)
    return run_, (report, outcomes)


def test_session_status_review_says_what_the_table_holds(
    outputs: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show, (report, outcomes) = live_show(outputs, tmp_path, capsys)
    scenario = show.scenario
    table = outputs["LedgerTableName"]
    store = DynamoLedgerStore(boto3.client("dynamodb", region_name=REGION), table)
    before = table_items(table)

    out_dir = tmp_path / "review"
    where = ("--stack", "prod", "--region", REGION)
    code, out, err = run(capsys, "session", "status", "tonight", *where, "--review", str(out_dir))
    assert code == 0, err
    assert f"review   {out_dir / 'review.md'}  (review.csv beside it)" in out
    assert "next show cake: " in out
    assert table_items(table) == before  # reading only
    assert sorted(p.name for p in out_dir.iterdir()) == ["review.csv", "review.md"]  # no curves

    rows = {r["sku_id"]: r for r in read_csv(out_dir / "review.csv")}
    assert list(read_csv(out_dir / "review.csv")[0]) == list(REVIEW_COLUMNS)
    assert list(rows) == ["cake", "tea", "jam"]
    tz = scenario.plan.session.starts_at.tzinfo
    for sku in scenario.plan.skus:
        row, sku_id = rows[sku.sku_id], sku.sku_id
        # The table itself: the stock item, the alert items.
        item = store.stock("tonight", sku_id)
        assert item is not None
        assert int(row["sold"]) == item.levels.sold == SOLD[sku_id]
        assert int(row["reserved"]) == item.levels.reserved
        assert int(row["restocked"]) == item.levels.on_hand - sku.on_hand
        alerts = store.alerts("tonight", sku_id)
        upward = sorted((a for a in alerts if announces_upward(a)), key=lambda a: int(a["at_ms"]))
        assert row["tiers"] == "; ".join(f"{a['tier']} {clock_text(int(a['at_ms']), tz)}" for a in upward)
        sold_out = sorted(int(a["at_ms"]) for a in alerts if a["kind"] == "sold_out")
        assert row["sold_out_at"] == (clock_text(sold_out[0], tz) if sold_out else "")
        # One message per alert item, on the feed; the other channels as the filter policies route it.
        assert int(row["messages_feed"]) == len(alerts)
        # Refused demand by reason: the order items' remembered outcomes.
        for reason, units in REFUSED[sku_id].items():
            assert int(row[f"refused_{reason}"]) == units, (sku_id, reason)
        assert int(row["refused_units"]) == sum(REFUSED[sku_id].values())
        assert int(row["demand"]) == item.levels.sold + item.levels.reserved + sum(REFUSED[sku_id].values())
        # What the table cannot give is blank, not guessed.
        assert row["minutes_sold_out"] == row["minutes_paused"] == row["restock_suggested"] == ""

    # The scenario did what it was written to do: cake sold out and went red, tea was told too.
    assert rows["cake"]["sold_out_at"] == "20:03:00" and "red 20:03:00" in rows["cake"]["tiers"]
    assert int(rows["cake"]["messages_supply_chain"]) == 1 and rows["cake"]["restocked"] == "5"
    assert rows["tea"]["tiers"] == "yellow 20:02:00; red 20:06:20"
    assert [rows["jam"][f"messages_{c}"] for c in CHANNELS] == ["1", "1", "0", "1", "0"]  # pre-show

    # The replay's own review (its report, its outcome log) says the same numbers.
    replayed = build_review(report, scenario, outcomes=outcomes, curves=curves_of(show.timeline))
    same = ["sold", "reserved", "refused_units", "demand", "sold_out_at", "tiers", "restocked",
            *(f"refused_{r}" for r in REFUSED["cake"]), *(f"messages_{c}" for c in CHANNELS),
            "next_show", "next_show_zh"]  # fmt: skip
    for want in replayed.rows():
        got = rows[want["sku_id"]]
        assert {k: got[k] for k in same} == {k: str(want[k]) for k in same}, want["sku_id"]
    messages = Counter((m.sku_id, m.kind, m.at) for m in report.messages)
    assert sum(messages.values()) == sum(int(r["messages_feed"]) for r in rows.values())
    # The replay's curves know the minutes the table cannot: cake was sold out, jam paused.
    minutes = {s.sku_id: (s.minutes_sold_out, s.minutes_paused) for s in replayed.skus}
    assert minutes["cake"][0] and minutes["jam"][1]

    md = (out_dir / "review.md").read_text(encoding="utf-8")
    assert md.startswith("# 直播复盘 · Post-show review: tonight")
    assert md.count("| 售罄分钟 | minutes sold out | 未知 · unknown |") == 3
    assert md.count("| 建议补货 | restock suggested | 未知 · unknown |") == 3
    assert "| 被拒需求（件） | refused demand (units) | 5: 库存不足 insufficient_stock 5 |" in md
    assert "The table keeps no minute-by-minute history" in md and "不保存账本的逐分钟历史" in md
    assert "curves.csv a replay writes" not in md


def test_status_review_with_json_keeps_stdout_json(
    outputs: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A session just loaded on a stack with no e-mail subscription: nothing sold yet, the pre-show
    message reached IM only; `--json` still prints only JSON to stdout."""
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="lean", TemplateBody=json.dumps(stockpulse_like(TEMPLATE))
    )
    path = tmp_path / "tonight.json"
    path.write_text(json.dumps({**SCENARIO, "events": []}), encoding="utf-8")
    where = ("--stack", "lean", "--region", REGION)
    assert run(capsys, "session", "load", str(path), *where)[0] == 0
    code, out, err = run(capsys, "session", "status", "tonight", *where, "--json", "--review", str(tmp_path))
    assert code == 0, err
    assert json.loads(out)["session_id"] == "tonight"
    assert "review   " in err and "next show cake" in err
    rows = read_csv(tmp_path / "review.csv")
    assert [(r["sku_id"], r["sold"], r["refused_units"], r["tiers"]) for r in rows] == [
        ("cake", "0", "0", ""), ("tea", "0", "0", ""), ("jam", "0", "0", "")
    ]  # fmt: skip
    jam = rows[2]
    assert [jam[f"messages_{c}"] for c in CHANNELS] == ["1", "1", "0", "0", "0"]  # no e-mail here

    # A SKU of the plan with no stock item (a load cut short): left out of the review, and said.
    table = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName="lean")
    name = next(
        o["OutputValue"] for o in table["Stacks"][0]["Outputs"] if o["OutputKey"] == "LedgerTableName"
    )
    boto3.client("dynamodb", region_name=REGION).delete_item(
        TableName=name, Key={"pk": {"S": "SKU#tonight#tea"}, "sk": {"S": "STOCK"}}
    )
    code, out, err = run(capsys, "session", "status", "tonight", *where, "--review", str(tmp_path))
    assert code == 0, err
    assert "not in the review (no stock item: not loaded): tea" in out
    assert [r["sku_id"] for r in read_csv(tmp_path / "review.csv")] == ["cake", "jam"]


def test_status_review_counts_an_announcement_once_it_was_published(
    outputs: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tier write stores the alert item and the pending announcement together; the message is
    out only when its publish cleared the pending slot. One still pending (the writer crashed
    before publishing; the next run publishes it) is not yet a message people got."""
    live_show(outputs, tmp_path, capsys)
    table = outputs["LedgerTableName"]
    store = DynamoLedgerStore(boto3.client("dynamodb", region_name=REGION), table)
    where = ("--stack", "prod", "--region", REGION, "--review", str(tmp_path / "review"))
    assert run(capsys, "session", "status", "tonight", *where)[0] == 0
    sent = {r["sku_id"]: int(r["messages_feed"]) for r in read_csv(tmp_path / "review" / "review.csv")}

    last = max(store.alerts("tonight", "tea"), key=lambda a: int(a["at_ms"]))
    pending = {k: last[k] for k in ("alert_id", "kind", "tier", "previous_tier", "first", "at_ms")}
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=table,
        Key={"pk": {"S": "SKU#tonight#tea"}, "sk": {"S": "STOCK"}},
        UpdateExpression="SET pending_alert = :a",
        ExpressionAttributeValues={":a": TypeSerializer().serialize(pending)},
    )
    assert run(capsys, "session", "status", "tonight", *where)[0] == 0
    rows = {r["sku_id"]: int(r["messages_feed"]) for r in read_csv(tmp_path / "review" / "review.csv")}
    assert rows == {**sent, "tea": sent["tea"] - 1}

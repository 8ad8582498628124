"""Faults at the boto3 layer on every DynamoDB and SNS call of the hot path: retried, nothing lost,
nothing doubled.

Each fault either stops a call before it reaches the service (a throttle that outlived the
SDK's own retries) or lets it apply and loses the response (a timeout after the write). The
order stream reports the record failed and the runner redelivers it, as Lambda does.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from stockpulse import wiring
from stockpulse_local import replay
from stockpulse_local.replay import Replay, Stack, open_backend
from stockpulse_local.scenario import load_scenario

EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "contract" / "examples" / "demo-cakes.json"


invoke = replay._invoke


class Faulty:
    """A boto3 client: every `every`-th call of `operations` fails, before or after it applies, in turn."""

    def __init__(self, client: Any, operations: set[str], every: int, limit: int) -> None:
        self._client = client
        self._operations = operations
        self._every = every
        self._limit = limit
        self.calls = 0
        self.faults = {"before": 0, "after": 0}
        self.armed = False  # faults hit the functions' calls, not the runner's own reads

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in self._operations:
            return method

        def call(**kwargs: Any) -> Any:
            self.calls += 1
            injected = sum(self.faults.values())
            if not self.armed or injected >= self._limit or self.calls % self._every:
                return method(**kwargs)
            if injected % 2 == 0:
                self.faults["before"] += 1
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, name)
            result = method(**kwargs)
            self.faults["after"] += 1
            raise ReadTimeoutError(endpoint_url="https://injected")
            return result  # pragma: no cover

        return call


def run(
    faulty: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], set[str], set[str], dict[str, int]]:
    scenario = load_scenario(EXAMPLE)
    with open_backend("moto") as backend:
        injected: dict[str, int] = {}
        if faulty:
            dynamodb = Faulty(backend.dynamodb, {"transact_write_items", "get_item", "update_item"}, 7, 40)
            sns = Faulty(backend.sns, {"publish"}, 2, 4)
            backend = replace(backend, dynamodb=dynamodb, sns=sns)

            def invoke_armed(module: Any, event: dict[str, Any], name: str) -> Any:
                dynamodb.armed = sns.armed = True
                try:
                    return invoke(module, event, name)
                finally:
                    dynamodb.armed = sns.armed = False

            monkeypatch.setattr(replay, "_invoke", invoke_armed)
        stack = Stack.create(backend)
        try:
            report = Replay(scenario, stack).run()
        finally:
            wiring.install(None)
        if faulty:
            injected = {f"dynamodb_{k}": v for k, v in dynamodb.faults.items()}
            injected |= {f"sns_{k}": v for k, v in sns.faults.items()}
        session = scenario.plan.session.session_id
        stored = {
            str(a["alert_id"])
            for s in scenario.plan.skus
            for a in stack.store.alerts(session, s.sku_id)
            if a["kind"] == "alert"
        }
        delivered: set[str] = set()
        while messages := backend.sqs.receive_message(
            QueueUrl=stack.alert_feed_url, MaxNumberOfMessages=10
        ).get("Messages"):
            for m in messages:
                notice = json.loads(json.loads(m["Body"])["Message"])
                if notice["kind"] == "alert":
                    delivered.add(notice["alert_id"])
                backend.sqs.delete_message(QueueUrl=stack.alert_feed_url, ReceiptHandle=m["ReceiptHandle"])
        return report, stored, delivered, injected


@pytest.mark.skipif(not EXAMPLE.exists(), reason="the contract's example is beside the repo")
def test_faults_lose_nothing_and_double_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    send = Replay._send
    # Lambda retries a failing shard until the records age out; the runner gives up sooner.
    monkeypatch.setattr(
        Replay, "_send", lambda self, batch, attempts=80: send(self, batch, attempts=attempts)
    )
    clean, _, clean_delivered, _ = run(False, monkeypatch)
    report, stored, delivered, injected = run(True, monkeypatch)
    assert injected["dynamodb_before"] > 5 and injected["dynamodb_after"] > 5, injected
    assert injected["sns_before"] + injected["sns_after"] > 0, injected
    for sku_id, expected in clean["skus"].items():
        got = report["skus"][sku_id]
        ledger = ("on_hand", "held", "reserved", "sold", "available", "paused", "tier")
        assert {k: got[k] for k in ledger} == {k: expected[k] for k in ledger}, sku_id
        # Every tier the clean run announced is announced (a retry may announce it later, never not).
        assert {a["tier"] for a in got["alerts"]} == {a["tier"] for a in expected["alerts"]}
    assert report["orders"] == clean["orders"]
    assert report["invariant_violations"] == 0
    # Every event delivered until it succeeded. Lambda redelivers a Kinesis batch from its first
    # failed record on, so redelivered records are counted again (as duplicates): at least once.
    total = len(json.loads(EXAMPLE.read_text())["events"])
    events = report["events"]
    assert events["processed"] + events["duplicate"] + sum(events["rejected"].values()) >= total
    assert events["rejected"] == clean["events"]["rejected"]

    # Every stored alert reached the feed at least once, or a later alert of that SKU that
    # superseded it while it was pending (a higher tier inhibits the lower) did.
    def parts(alert_id: str) -> tuple[str, int]:
        _, sku, version, _ = alert_id.split("#")
        return sku, int(version)

    for missing in stored - delivered:
        sku, version = parts(missing)
        assert any(parts(d)[0] == sku and parts(d)[1] > version for d in delivered), missing
    assert {parts(max(stored, key=lambda a: parts(a)[1]))} <= {parts(d) for d in delivered}
    assert clean_delivered

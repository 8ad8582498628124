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
from stockpulse.domain.alerts import AlertNotice
from stockpulse.domain.events import epoch_ms
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
) -> tuple[dict[str, Any], dict[str, tuple[str, int]], dict[str, tuple[str, int]], dict[str, int]]:
    """The report, the stored alert items and the notices the feed received, each as
    alert_id -> (sku_id, at_ms), and the faults injected."""
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
            runner = Replay(scenario, stack)
            report = runner.run()
        finally:
            wiring.install(None)
        if faulty:
            injected = {f"dynamodb_{k}": v for k, v in dynamodb.faults.items()}
            injected |= {f"sns_{k}": v for k, v in sns.faults.items()}
        session = scenario.plan.session.session_id
        # Every message stored (the pre-show check is written and published by the runner
        # itself, outside the faulty functions).
        stored = {
            str(a["alert_id"]): (s.sku_id, int(a["at_ms"]))
            for s in scenario.plan.skus
            for a in stack.store.alerts(session, s.sku_id)
            if a["kind"] != "pre_show"
        }
        # The replay drains the feed queue itself after every batch and minute (Replay.notices);
        # anything still queued is read too, so no delivery escapes the check.
        notices = dict(runner.notices)
        while messages := backend.sqs.receive_message(
            QueueUrl=stack.alert_feed_url, MaxNumberOfMessages=10
        ).get("Messages"):
            for m in messages:
                notice = AlertNotice.model_validate_json(json.loads(m["Body"])["Message"])
                notices.setdefault(notice.alert_id, notice)
                backend.sqs.delete_message(QueueUrl=stack.alert_feed_url, ReceiptHandle=m["ReceiptHandle"])
        delivered = {
            alert_id: (n.sku_id, epoch_ms(n.at))
            for alert_id, n in notices.items()
            if n.kind.value != "pre_show"
        }
        return report, stored, delivered, injected


@pytest.mark.skipif(not EXAMPLE.exists(), reason="the contract's example is beside the repo")
def test_faults_lose_nothing_and_double_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    send = Replay._send
    # Lambda retries a failing shard until the records age out; the runner gives up sooner.
    monkeypatch.setattr(
        Replay, "_send", lambda self, batch, attempts=80: send(self, batch, attempts=attempts)
    )
    clean, clean_stored, clean_delivered, _ = run(False, monkeypatch)
    report, stored, delivered, injected = run(True, monkeypatch)
    assert injected["dynamodb_before"] > 5 and injected["dynamodb_after"] > 5, injected
    assert injected["sns_before"] + injected["sns_after"] > 0, injected
    for sku_id, expected in clean.skus.items():
        got = report.skus[sku_id]
        ledger = {"on_hand", "held", "reserved", "sold", "available", "paused", "tier"}
        assert got.model_dump(include=ledger) == expected.model_dump(include=ledger), sku_id
        # Every tier the clean run announced is announced (a retry may announce it later, never not).
        assert {a.tier for a in got.alerts} == {a.tier for a in expected.alerts}
    assert report.orders == clean.orders
    assert report.invariant_violations == 0
    # Every event delivered until it succeeded. Lambda redelivers a Kinesis batch from its first
    # failed record on, so redelivered records are counted again (as duplicates): at least once.
    total = len(json.loads(EXAMPLE.read_text())["events"])
    events = report.events
    assert events.processed + events.duplicate + sum(events.rejected.values()) >= total
    assert events.rejected == clean.events.rejected

    # Every stored message (alert, repeat, resolved, sold out, slow) reached the feed at least
    # once, or a later message of that SKU that superseded it while it was pending did (a newer
    # tier change overwrites the pending announcement). Alert ids are now
    # `session#sku#kind#instance#tier`, the instance being a stock version on the hot path and a
    # minute in the evaluator, so "later" is the message's instant, not a number in its id.
    assert delivered.keys() <= stored.keys(), "a notice without its alert item"
    for missing in stored.keys() - delivered.keys():
        sku, at_ms = stored[missing]
        assert any(d_sku == sku and d_at >= at_ms for d_sku, d_at in delivered.values()), missing
    # The last message of every SKU is never lost: nothing can supersede it.
    for sku in {sku for sku, _ in stored.values()}:
        last = max(at for s, at in stored.values() if s == sku)
        assert any(s == sku and at == last for s, at in delivered.values()), sku
    assert clean_delivered
    assert clean_delivered.keys() == clean_stored.keys()  # without faults: every message, once

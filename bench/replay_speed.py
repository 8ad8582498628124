"""Replay speed against the engine's raw rate (issue 14, goal 1: ratio >= 2.0).

    .venv/bin/python bench/replay_speed.py [--quick] [--seed 7] [--raw-calls 1500]

On one DynamoDB Local per workload, side by side in one run:
- the engine's raw rate: conditional `UpdateItem` calls a second from one thread, on a stock item
  of a ledger table made from template.yaml (the same key shape and condition style as the
  ledger's decrements), measured just before and just after the replay on the same engine;
- replay events/s through the runner's real replay path (`Replay.run`: the Lambda handlers, the
  per-minute sweep and evaluator, the contract's batch cuts, the report), and the DynamoDB
  requests per event, by who issued them (each handler, the runner between batches, the report).

Workloads: a 7,000-event, 12-SKU, 3-hour rehearsal (`slow-burn`) and a 10,000-event instant peak
(`--quick`: 1,400 events over 36 minutes and 2,000 events). The ratio is replay events/s ÷ the
mean of the two raw rates. Each report's sha256 is printed: a change to the runner must leave it
as it was. Not a test: nothing here is timed by the suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from stockpulse import wiring
from stockpulse.adapters.keys import stock_key
from stockpulse_local import replay as replay_module
from stockpulse_local.rehearse import RehearsalOptions, describe, generate
from stockpulse_local.scenario import parse_scenario
from stockpulse_local.template_tables import create_tables


@dataclass(frozen=True)
class Workload:
    label: str
    options: RehearsalOptions


def workloads(quick: bool, seed: int) -> list[Workload]:
    if quick:
        return [
            Workload("slow-burn 1,400 ev / 12 SKUs / 36 min",
                     RehearsalOptions(shape="slow-burn", skus=12, events=1_400, minutes=36, seed=seed)),
            Workload("instant peak 2,000 ev / 3 SKUs",
                     RehearsalOptions(shape="instant-peak", skus=3, events=2_000, seed=seed)),
        ]  # fmt: skip
    return [
        Workload("slow-burn 7,000 ev / 12 SKUs / 3 h",
                 RehearsalOptions(shape="slow-burn", skus=12, events=7_000, minutes=180, seed=seed)),
        Workload("instant peak 10,000 ev / 3 SKUs",
                 RehearsalOptions(shape="instant-peak", skus=3, events=10_000, seed=seed)),
    ]  # fmt: skip


def raw_rate(client: Any, calls: int, prefix: str) -> float:
    """Conditional UpdateItem calls a second, one thread, on a fresh ledger table's stock item."""
    table = create_tables(client, prefix, enable_ttl=False)["LedgerTable"]
    key = stock_key("raw", "sku")
    client.put_item(
        TableName=table,
        Item={
            **key,
            "on_hand": {"N": str(calls * 2)},
            "held": {"N": "0"},
            "available": {"N": str(calls * 2)},
            "reserved": {"N": "0"},
            "version": {"N": "0"},
            "paused": {"BOOL": False},
        },
    )

    def update() -> None:
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=(
                "SET available = available - :q, reserved = reserved + :q, version = version + :one"
            ),
            ConditionExpression="attribute_exists(pk) AND paused = :false AND available >= :q",
            ExpressionAttributeValues={":q": {"N": "1"}, ":one": {"N": "1"}, ":false": {"BOOL": False}},
        )

    for _ in range(min(200, calls // 2)):  # warm-up: the engine's JIT, the connection
        update()
    start = time.perf_counter()
    for _ in range(calls):
        update()
    return calls / (time.perf_counter() - start)


@dataclass
class Requests:
    """DynamoDB requests by who issued them (a botocore after-call hook: requests are unchanged)."""

    by: dict[str, Counter[str]] = field(default_factory=dict)
    current: str = "runner"

    def count(self, model: Any, **_: Any) -> None:
        self.by.setdefault(self.current, Counter())[model.name] += 1

    @contextmanager
    def as_(self, who: str) -> Iterator[None]:
        before, self.current = self.current, who
        try:
            yield
        finally:
            self.current = before

    def total(self, who: str | None = None) -> int:
        return sum(sum(c.values()) for w, c in self.by.items() if who is None or w == who)


@contextmanager
def attributed(requests: Requests) -> Iterator[None]:
    """Attribute every handler invocation's requests to that handler."""
    original: Callable[..., Any] = replay_module._invoke

    def invoke(module: Any, event: dict[str, Any], name: str) -> Any:
        with requests.as_(name):
            return original(module, event, name)

    replay_module._invoke = invoke  # type: ignore[assignment]
    try:
        yield
    finally:
        replay_module._invoke = original  # type: ignore[assignment]


@dataclass
class Result:
    events: int
    batches: int
    elapsed: float
    raw_before: float
    raw_after: float
    requests: Requests
    digest: str
    violations: int

    @property
    def rate(self) -> float:
        return self.events / self.elapsed

    @property
    def raw(self) -> float:
        return (self.raw_before + self.raw_after) / 2


def run(workload: Workload, raw_calls: int) -> Result:
    scenario = parse_scenario(generate(workload.options))
    requests = Requests()
    with replay_module.open_backend("dynamodb-local") as opened:
        client = opened.dynamodb
        raw_before = raw_rate(client, raw_calls, "raw1-")
        stack = replay_module.Stack.create(opened)
        client.meta.events.register("after-call.dynamodb", requests.count, unique_id="replay-speed-count")
        try:
            replay = replay_module.Replay(scenario, stack)
            original_report = replay.report

            def report() -> dict[str, Any]:
                with requests.as_("report"):
                    return original_report()

            replay.report = report  # type: ignore[method-assign]
            with attributed(requests):
                start = time.perf_counter()
                result = replay.run()
                elapsed = time.perf_counter() - start
        finally:
            wiring.install(None)
            client.meta.events.unregister("after-call.dynamodb", unique_id="replay-speed-count")
        raw_after = raw_rate(client, raw_calls, "raw2-")
    digest = hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()
    return Result(
        len(scenario.events), replay.batches, elapsed, raw_before, raw_after, requests, digest,
        result["invariant_violations"],
    )  # fmt: skip


WHO = ("order_stream", "reservation_expiry", "threshold_evaluator", "runner", "report")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (about a minute)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--raw-calls", type=int, default=1_500, help="timed UpdateItem calls per raw rate")
    args = parser.parse_args()
    raw_calls = min(args.raw_calls, 500) if args.quick else args.raw_calls
    for workload in workloads(args.quick, args.seed):
        data = generate(workload.options)
        print(f"\n{workload.label}: {describe(data)}", flush=True)
        r = run(workload, raw_calls)
        print(f"  engine raw rate (conditional UpdateItem, 1 thread) {r.raw_before:7.1f} before, "
              f"{r.raw_after:7.1f} after: {r.raw:7.1f} calls/s")  # fmt: skip
        print(f"  replay  {r.events:,} events in {r.elapsed:.1f} s, {r.batches:,} batches "
              f"({r.events / r.batches:.1f} events/batch): {r.rate:7.1f} events/s")  # fmt: skip
        print(f"  ratio replay / raw: {r.rate / r.raw:.2f}x   (goal >= 2.0)")
        total = r.requests.total()
        per = f"{total / r.events:.2f} per event, {total / r.batches:.1f} per batch"
        print(f"  DynamoDB requests {total:,}: {per}")
        for who in WHO:
            ops = r.requests.by.get(who, Counter())
            n = sum(ops.values())
            detail = ", ".join(f"{op} {c:,}" for op, c in ops.most_common())
            print(f"    {who:20} {n:7,}  {n / r.events:5.2f}/event  {n / r.batches:5.1f}/batch  {detail}")
        print(f"  report sha256 {r.digest[:16]}  invariant violations {r.violations}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

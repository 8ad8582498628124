"""Replay speed against the engine's raw rate (issue 14, goal 1: ratio >= 2.0).

    .venv/bin/python bench/replay_speed.py [--quick] [--seed 7] [--burst 100] [--every 25]

On one DynamoDB Local per workload, side by side in one run:
- the engine's raw rate: conditional `UpdateItem` calls a second from one thread, on a stock item
  of a ledger table made from template.yaml (the same key shape and condition style as the
  ledger's decrements), in bursts on the same engine before the replay, between its batches
  (every 25th; their time is not the replay's) and after it: the median of the bursts;
- replay events/s through the runner's real replay path (`Replay.run`: the Lambda handlers, the
  per-minute sweep and evaluator, the contract's batch cuts, the report), and the DynamoDB
  requests per event, by who issued them (each handler, the runner between batches, the report).

Workloads: a 7,000-event, 12-SKU, 3-hour rehearsal (`slow-burn`) and a 10,000-event instant peak
(`--quick`: 1,400 events over 36 minutes and 2,000 events). The ratio is replay events/s ÷ the
median raw rate. Each report's sha256 is printed: a change to the runner must leave it
as it was. Not a test: nothing here is timed by the suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
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
from stockpulse_local.report import Report
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


class RawRate:
    """Conditional UpdateItem calls a second, one thread, on a fresh ledger table's stock item."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.table = create_tables(client, prefix, enable_ttl=False)["LedgerTable"]
        self.key = stock_key("raw", "sku")
        client.put_item(
            TableName=self.table,
            Item={
                **self.key,
                "on_hand": {"N": "1000000000"},
                "held": {"N": "0"},
                "available": {"N": "1000000000"},
                "reserved": {"N": "0"},
                "version": {"N": "0"},
                "paused": {"BOOL": False},
            },
        )
        self.samples: list[float] = []
        self.seconds = 0.0  # spent in bursts

    def update(self) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self.key,
            UpdateExpression=(
                "SET available = available - :q, reserved = reserved + :q, version = version + :one"
            ),
            ConditionExpression="attribute_exists(pk) AND paused = :false AND available >= :q",
            ExpressionAttributeValues={":q": {"N": "1"}, ":one": {"N": "1"}, ":false": {"BOOL": False}},
        )

    def burst(self, calls: int) -> None:
        start = time.perf_counter()
        for _ in range(calls):
            self.update()
        spent = time.perf_counter() - start
        self.samples.append(calls / spent)
        self.seconds += spent

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


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
        return sum(sum(c.values()) for w, c in self.by.items() if w != "raw" and (who is None or w == who))


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
    raw: RawRate
    requests: Requests
    digest: str
    violations: int

    @property
    def rate(self) -> float:
        return self.events / self.elapsed


def run(workload: Workload, burst: int, every: int) -> Result:
    """The replay, with a burst of `burst` raw calls before it, after every `every` batches and
    after it: the engine's rate follows the machine's load through the run (shared machines
    vary), and the bursts' time is taken out of the replay's."""
    scenario = parse_scenario(generate(workload.options))
    requests = Requests()
    with replay_module.open_backend("dynamodb-local") as opened:
        client = opened.dynamodb
        client.meta.events.register("after-call.dynamodb", requests.count, unique_id="replay-speed-count")
        raw = RawRate(client, "raw-")
        with requests.as_("raw"):
            for _ in range(200):  # warm-up: the engine's JIT, the connection
                raw.update()
            raw.burst(burst)
        stack = replay_module.Stack.create(opened)
        requests.by.clear()

        def sample(run: Any) -> None:
            if run.batches % every == 0:
                with requests.as_("raw"):
                    raw.burst(burst)

        try:
            replay = replay_module.Replay(scenario, stack, on_batch=sample)
            original_report = replay.report

            def report() -> Report:
                with requests.as_("report"):
                    return original_report()

            replay.report = report  # type: ignore[method-assign]
            with attributed(requests):
                start, in_bursts = time.perf_counter(), raw.seconds
                result = replay.run()
                elapsed = time.perf_counter() - start - (raw.seconds - in_bursts)
        finally:
            wiring.install(None)
        with requests.as_("raw"):
            raw.burst(burst)
        client.meta.events.unregister("after-call.dynamodb", unique_id="replay-speed-count")
    digest = hashlib.sha256(json.dumps(result.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    return Result(
        len(scenario.events), replay.batches, elapsed, raw, requests, digest, result.invariant_violations
    )


WHO = ("order_stream", "reservation_expiry", "threshold_evaluator", "runner", "report")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (about a minute)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--burst", type=int, default=100, help="timed UpdateItem calls per raw-rate burst")
    parser.add_argument("--every", type=int, default=25, help="a raw-rate burst after every N batches")
    args = parser.parse_args()
    every = min(args.every, 10) if args.quick else args.every
    for workload in workloads(args.quick, args.seed):
        data = generate(workload.options)
        print(f"\n{workload.label}: {describe(data)}", flush=True)
        r = run(workload, args.burst, every)
        samples = r.raw.samples
        print(f"  engine raw rate (conditional UpdateItem, 1 thread): median {r.raw.median:.1f} calls/s of "
              f"{len(samples)} bursts of {args.burst} (min {min(samples):.1f}, max {max(samples):.1f}, "
              f"first {samples[0]:.1f}, last {samples[-1]:.1f})")  # fmt: skip
        print(f"  replay  {r.events:,} events in {r.elapsed:.1f} s, {r.batches:,} batches "
              f"({r.events / r.batches:.1f} events/batch): {r.rate:7.1f} events/s")  # fmt: skip
        print(f"  ratio replay / raw: {r.rate / r.raw.median:.2f}x   (goal >= 2.0)")
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

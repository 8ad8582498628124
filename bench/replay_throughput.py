"""Replay throughput: a 10,000-event rehearsal on the embedded backend and on DynamoDB Local.

    .venv/bin/python bench/replay_throughput.py [--events 10000] [--shape multi-platform]
                                                [--seed 7] [--backends moto,dynamodb-local]

Prints events per second on each backend, side by side, with the ratio, and where the time
went (the order stream handler, the per-minute evaluator and sweeps, the runner itself). Both
backends replay the very same generated file through the same handlers; the reports must be
identical, and the benchmark says so. Not a test: nothing here is timed by the suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stockpulse import wiring
from stockpulse_local import replay as replay_module
from stockpulse_local.rehearse import RehearsalOptions, describe, generate
from stockpulse_local.report import Report
from stockpulse_local.scenario import parse_scenario


@contextmanager
def timed_handlers(spent: defaultdict[str, float]) -> Iterator[None]:
    """Time every handler invocation of the replay by handler name."""
    original: Callable[..., Any] = replay_module._invoke

    def invoke(module: Any, event: dict[str, Any], name: str) -> Any:
        start = time.perf_counter()
        try:
            return original(module, event, name)
        finally:
            spent[name] += time.perf_counter() - start

    replay_module._invoke = invoke  # type: ignore[assignment]
    try:
        yield
    finally:
        replay_module._invoke = original  # type: ignore[assignment]


def run(scenario_data: dict[str, Any], backend: str) -> Result:
    """Set up the backend (not timed: DynamoDB Local's start is not replay work), then replay."""
    scenario = parse_scenario(scenario_data)
    spent: defaultdict[str, float] = defaultdict(float)

    def progress(run: Any) -> None:
        if run.batches % 100 == 0:
            print(
                f"  {backend}: {run.events_done}/{len(scenario.events)} events", file=sys.stderr, flush=True
            )

    setup_start = time.perf_counter()
    with replay_module.open_backend(backend) as opened:
        stack = replay_module.Stack.create(opened)
        setup = time.perf_counter() - setup_start
        try:
            replay = replay_module.Replay(scenario, stack, on_batch=progress)
            with timed_handlers(spent):
                start = time.perf_counter()
                report = replay.run()
                elapsed = time.perf_counter() - start
        finally:
            wiring.install(None)
    return Result(report, elapsed, setup, spent, replay.batches)


@dataclass
class Result:
    report: Report
    elapsed: float
    setup: float
    spent: dict[str, float]
    batches: int


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--shape", default="multi-platform")
    parser.add_argument("--skus", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backends", default="moto,dynamodb-local")
    args = parser.parse_args()

    data = generate(RehearsalOptions(shape=args.shape, skus=args.skus, events=args.events, seed=args.seed))
    n = len(data["events"])
    print(f"rehearsal {args.shape} seed {args.seed}: {describe(data)}")
    results: dict[str, Result] = {}
    for backend in args.backends.split(","):
        print(f"replaying on {backend} ...", file=sys.stderr, flush=True)
        results[backend] = run(data, backend)

    names = list(results)
    print()

    def row(label: str, values: list[str]) -> None:
        print(f"{label:28}" + "".join(f"{v:>18}" for v in values))

    row("", names)
    row("events", [f"{n:,}" for _ in names])
    row("batches", [f"{results[b].batches:,}" for b in names])
    row("backend set-up (s)", [f"{results[b].setup:,.1f}" for b in names])
    row("replay wall time (s)", [f"{results[b].elapsed:,.1f}" for b in names])
    row("events/s", [f"{n / results[b].elapsed:,.1f}" for b in names])
    for handler in ("order_stream", "threshold_evaluator", "reservation_expiry"):
        row(f"  in {handler} (s)", [f"{results[b].spent[handler]:,.1f}" for b in names])
    row("  in the runner (s)", [f"{results[b].elapsed - sum(results[b].spent.values()):,.1f}" for b in names])
    if len(names) == 2:
        a, b = names
        ratio = results[b].elapsed / results[a].elapsed
        print(f"\nevents/s {a} / {b}: {ratio:.2f}x")
        same = results[a].report == results[b].report
        print(f"reports identical: {'yes' if same else 'NO'}")
        if not same:
            for key in ("skus", "orders", "events", "invariant_violations"):
                if getattr(results[a].report, key) != getattr(results[b].report, key):
                    print(f"  differs in {key}")
    for backend, result in results.items():
        report = result.report
        events = report.events
        total = events.processed + events.duplicate + sum(events.rejected.values())
        print(
            f"{backend}: {json.dumps(events.model_dump())}; accounted {total}/{n}; "
            f"invariant violations {report.invariant_violations}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

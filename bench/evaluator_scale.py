"""The threshold evaluator at 10, 100 and 1,000 SKUs, on DynamoDB Local.

Each size runs on its own day (so one run sees only its SKUs); a session holds at most 200 SKUs
(`session.MAX_SKUS`), so 1,000 SKUs are five live sessions at once. The evaluator
runs once a minute for `--minutes` minutes while a tenth of the SKUs sell (one order each, every
minute), so each SKU has a FORECAST item with its samples; then two minutes are measured:
- sold: a tenth of the SKUs sold one unit each since the last run;
- paused: nothing sold for 15 minutes (every SKU's thresholds, forecast and tier unchanged).
Requests and write units per SKU-minute are counted from the engine's own answers (a botocore
hook adding ReturnConsumedCapacity, `stockpulse_local.metering`). Time is the minute's run in
seconds divided by the seconds the same engine takes to answer 10 BatchGetItems of 100 keys,
measured in the same run just before (best of 5), so the ratio does not depend on the machine.
reads/100: read requests per 100 SKUs, the live sessions' Query included (issue 14's goal: 1).
Run: .venv/bin/python bench/evaluator_scale.py [--sizes 10 100 1000 --minutes 45]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import START, BenchLedger, Quiet, _ms, bench_ledger, order_created

from stockpulse import wiring
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_forecast import DynamoForecastStore
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
from stockpulse.adapters.keys import stock_key
from stockpulse.domain.events import MINUTE_MS
from stockpulse.domain.session import MAX_SKUS, SessionConfig, SessionPlan, SkuConfig
from stockpulse.guard import InventoryGuard
from stockpulse_local.metering import READS, Meter

SELLING_SHARE = 10  # one SKU in ten sells every minute


def load(ledger: BenchLedger, session_id: str, day: int, skus: range) -> int:
    starts = START + timedelta(days=day)
    plan = SessionPlan(
        session=SessionConfig(session_id=session_id, starts_at=starts, ends_at=starts + timedelta(hours=3)),
        skus=[SkuConfig(sku_id=f"k{i:04d}", name=f"SKU {i}", on_hand=100_000, forecast=2_000) for i in skus],
    )
    DynamoLedgerStore(ledger.client(), ledger.table).load_session(plan)
    return _ms(starts)


def reference_seconds(client: Any, table: str, keys: list[dict[str, Any]]) -> float:
    """10 BatchGetItems of 100 distinct stock keys (consistent, as the evaluator reads): best of 5."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for chunk in range(10):
            batch = keys[chunk * 100 : (chunk + 1) * 100]
            client.batch_get_item(RequestItems={table: {"Keys": batch, "ConsistentRead": True}})
        best = min(best, time.perf_counter() - t0)
    return best


def run_size(
    ledger: BenchLedger, client: Any, meter: Meter, n: int, day: int, minutes: int, ref: list[dict[str, Any]]
) -> list[str]:
    sessions = {
        f"scale{n}-{first}": range(first, min(n, first + MAX_SKUS)) for first in range(0, n, MAX_SKUS)
    }
    t0 = min(load(ledger, session_id, day, skus) for session_id, skus in sessions.items())
    clock = VirtualClock(t0)
    quiet = Quiet()
    store = DynamoLedgerStore(client, ledger.table)
    guard = InventoryGuard(store=store, clock=clock, publisher=quiet, sink=quiet)
    evaluator = wiring.threshold_evaluator(guard, DynamoForecastStore.beside(store))
    sellers = [(sid, f"k{i:04d}") for sid, skus in sessions.items() for i in skus if i % SELLING_SHARE == 0]
    orders = 0

    def sell(minute: int) -> None:
        nonlocal orders
        clock.set(t0 + minute * MINUTE_MS + 30_000)
        for session_id, sku in sellers:
            orders += 1
            event = order_created(
                f"o{orders}", sku, seconds=day * 86_400 + minute * 60 + 30, session_id=session_id
            )
            guard.ledger.handle(event)

    for minute in range(minutes):
        clock.set(t0 + minute * MINUTE_MS)
        evaluator.run()
        sell(minute)
    clock.set(t0 + minutes * MINUTE_MS)
    evaluator.run()  # the last sales seen

    rows = []
    for label, minute in (("sold", minutes + 1), ("paused", minutes + 17)):
        if label == "sold":
            sell(minute - 1)
        else:  # nobody sells for 15 minutes: every pace has decayed to nothing
            for quiet_minute in range(minutes + 2, minute):
                clock.set(t0 + quiet_minute * MINUTE_MS)
                evaluator.run()
        ref_s = reference_seconds(client, ledger.table, ref)
        clock.set(t0 + minute * MINUTE_MS)
        meter.reset()
        started = time.perf_counter()
        summary = evaluator.run()
        took = time.perf_counter() - started
        assert summary.failed == 0 and len(summary.skus) == n, summary.counts()
        requests = ", ".join(f"{op} {count}" for op, count in sorted(meter.requests.items()))
        reads = sum(count for op, count in meter.requests.items() if op in READS)
        rows.append(
            f"{n:>6} {label:<6} {meter.total_requests / n:>8.3f} {meter.write_units / n:>8.3f} "
            f"{meter.read_units / n:>8.3f} {100 * reads / n:>9.2f} {took:>7.3f} {ref_s:>6.3f}"
            f" {took / ref_s:>6.2f}   {requests}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--minutes", type=int, default=45, help="minutes of selling before the measured ones")
    args = parser.parse_args()
    with bench_ledger() as ledger:
        client = ledger.client()
        meter = Meter(client)
        # The reference reads' keys: 1,000 stock items of sessions never live during the runs.
        for first in range(0, 1000, MAX_SKUS):
            load(ledger, f"ref-{first}", 400, range(first, first + MAX_SKUS))
        ref = [
            stock_key(f"ref-{first}", f"k{i:04d}")
            for first in range(0, 1000, MAX_SKUS)
            for i in range(first, first + MAX_SKUS)
        ]
        print(f"evaluator minute after {args.minutes} minutes of a sale; 1 SKU in {SELLING_SHARE} sells")
        print("  SKUs minute  req/SKU  WU/SKU   RU/SKU  reads/100  run_s  ref_s  ratio   requests")
        for day, n in enumerate(args.sizes):
            for row in run_size(ledger, client, meter, n, day, args.minutes, ref):
                print(row, flush=True)


if __name__ == "__main__":
    main()

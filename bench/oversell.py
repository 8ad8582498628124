"""Oversold units: stockpulse against a naive read-check-write reservation, on DynamoDB Local.

16 threads race for one hot SKU. The naive shop reads `available`, checks it, then writes the
new value: two buyers can both see the last unit. stockpulse decrements with one conditional
transaction. Run: .venv/bin/python bench/oversell.py [--units 500 --attempts 2000 --threads 16]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import BenchLedger, bench_ledger, order_created

from stockpulse.adapters.keys import stock_key
from stockpulse.domain.ledger import Result
from stockpulse.domain.session import SkuConfig


def naive_reserve(client: Any, table: str, sku_id: str, order_id: str) -> bool:
    """What many shops do: read, check, write back. No condition, so the check can be stale."""
    key = stock_key("bench", sku_id)
    item = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    available = int(item["available"]["N"])
    if available < 1:
        return False
    client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET available = :a, reserved = reserved + :one",
        ExpressionAttributeValues={":a": {"N": str(available - 1)}, ":one": {"N": "1"}},
    )
    return True


def run(ledger: BenchLedger, sku_id: str, attempts: int, threads: int, naive: bool) -> tuple[int, float]:
    def worker(worker_id: int) -> int:
        client = ledger.client()
        guard = ledger.guard(client)
        granted = 0
        for n in range(worker_id, attempts, threads):
            order_id = f"{sku_id}-{n}"
            if naive:
                granted += naive_reserve(client, ledger.table, sku_id, order_id)
            else:
                outcome = guard.ledger.handle(order_created(order_id, sku_id, seconds=n / 1000))
                granted += outcome.result is Result.PROCESSED
        return granted

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        granted = sum(pool.map(worker, range(threads)))
    return granted, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    with bench_ledger() as ledger:
        skus = [SkuConfig(sku_id=s, on_hand=args.units, forecast=args.units, dynamic=False)
                for s in ("naive", "stockpulse")]  # fmt: skip
        ledger.load(skus)
        rows = []
        for name in ("naive", "stockpulse"):
            granted, seconds = run(ledger, name, args.attempts, args.threads, naive=name == "naive")
            oversold = max(0, granted - args.units)
            rows.append((name, granted, oversold, args.attempts / seconds))
    print(f"{args.threads} threads, {args.attempts} one-unit orders for {args.units} units (DynamoDB Local)")
    print(f"{'policy':<12}{'granted':>10}{'oversold':>10}{'orders/s':>10}")
    for name, granted, oversold, rate in rows:
        print(f"{name:<12}{granted:>10}{oversold:>10}{rate:>10.0f}")
    naive, ours = rows
    print(f"oversold units: naive {naive[2]} vs stockpulse {ours[2]}")


if __name__ == "__main__":
    main()

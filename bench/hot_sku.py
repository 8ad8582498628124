"""Hot-SKU throughput, stock-item writes and write units per order: grouped runs vs one transaction per order.

Both sides run on the same DynamoDB Local in one run, through the same guard. Write units and
requests are counted from the requests actually issued, by AWS's documented rules (see
capacity.py): neither moto nor DynamoDB Local reports transactional capacity correctly.
Then a realistic sale: a rehearsed show (by default an instant peak: several SKUs, payments,
cancels, resends, expiries, restocks) through the Lambda handlers on DynamoDB Local in Kinesis
batches of 100 records as they arrive (the runner's contract replay cuts batches at every hold
end; a stream does not), with the sweep and the evaluator every minute, metered the same way:
write units per reservation decided (the requests that decided an `order.created`) and per order
for every write of the sale (payments, expiries, tiers, the evaluator's minutes).
Run: .venv/bin/python bench/hot_sku.py [--orders 2000 --batch 100 --sale-shape instant-peak
                                        --sale-events 4000 --sale-minutes 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import bench_ledger, order_created
from botocore.config import Config
from capacity import MeteredClient

from stockpulse import wiring
from stockpulse.domain.events import OrderEvent
from stockpulse.domain.hot_sku import MAX_GROUP
from stockpulse.domain.session import SkuConfig
from stockpulse.guard import InventoryGuard
from stockpulse.wiring import HOT_PATH_CONFIG
from stockpulse_local.dynamodb_local import DynamoDBLocal
from stockpulse_local.rehearse import RehearsalOptions, generate
from stockpulse_local.replay import Replay, Stack, open_backend
from stockpulse_local.scenario import parse_scenario
from stockpulse_local.template_tables import physical_table_name

# On-demand prices, us-east-1, as published by AWS (USD). Printed with every run.
PRICE_PER_MILLION_WRITE_UNITS = 0.625
PRICE_PER_MILLION_READ_UNITS = 0.125
LAMBDA_PRICE_PER_MILLION_REQUESTS = 0.20
LAMBDA_PRICE_PER_GB_SECOND = 0.0000166667
SNS_PRICE_PER_MILLION_PUBLISHES = 0.50
KINESIS_ON_DEMAND_PER_GB_INGESTED = 0.08
KINESIS_ON_DEMAND_PER_GB_RETRIEVED = 0.04


def feed(guard: InventoryGuard, events: list[OrderEvent], batch: int, grouped: bool) -> float:
    """Stream batches of `batch` records: each as runs of MAX_GROUP (grouped) or one by one.
    Returns the CPU seconds this process spent on them: process time, so the time spent waiting
    on the engine (its own JVM process) is left out."""
    cpu = 0.0
    for first in range(0, len(events), batch):
        chunk = events[first : first + batch]
        started = time.process_time()
        if not grouped:
            for event in chunk:
                guard.ledger.handle(event)
        else:
            for run_start in range(0, len(chunk), MAX_GROUP):
                run = chunk[run_start : run_start + MAX_GROUP]
                if guard.ledger.apply_run(run) is None:
                    for event in run:
                        guard.ledger.handle(event)
        cpu += time.process_time() - started
    return cpu


def timed(local: DynamoDBLocal, orders: int, batch: int, grouped: bool, config: Config) -> dict[str, float]:
    """Orders per second and CPU ms per batch on fresh tables, after a warm-up on another SKU
    (the engine's JIT would otherwise weigh on whichever side runs first)."""
    with bench_ledger(local, config) as ledger:
        ledger.load(skus(orders))
        guard = ledger.guard()
        warm_up = [order_created(f"w{n}", "warm", seconds=n / 100) for n in range(orders // 4)]
        feed(guard, warm_up, batch, grouped)
        events = [order_created(f"o{n}", "hot", seconds=n / 100) for n in range(orders)]
        started = time.perf_counter()
        cpu = feed(guard, events, batch, grouped)
        seconds = time.perf_counter() - started
        check(guard, orders)
    return {"orders_per_s": orders / seconds, "cpu_ms_per_batch": cpu * 1000 / -(-orders // batch)}


def metered(orders: int, batch: int, grouped: bool) -> dict[str, float]:
    """Units and requests per order (the meter reads each item around each write: not timed)."""
    with bench_ledger() as ledger:
        ledger.load(skus(orders))
        meter = MeteredClient(ledger.client(), ledger.table)
        guard = ledger.guard(meter)
        feed(guard, [order_created(f"o{n}", "hot", seconds=n / 100) for n in range(orders)], batch, grouped)
        check(guard, orders)
    return {
        "stock_writes_per_order": meter.stock_item_writes / orders,
        "write_units_per_order": meter.write_units / orders,
        "read_units_per_order": meter.read_units / orders,
        "requests_per_order": sum(meter.requests.values()) / orders,
    }


def skus(orders: int) -> list[SkuConfig]:
    return [
        SkuConfig(sku_id="hot", on_hand=orders * 2, forecast=orders * 2, dynamic=False),
        SkuConfig(sku_id="warm", on_hand=orders * 2, forecast=orders * 2, dynamic=False),
    ]


def check(guard: InventoryGuard, orders: int) -> None:
    stock = guard.store.stock("bench", "hot")
    assert stock is not None and stock.levels.reserved == orders and stock.levels.balanced


def paired(orders: int, batch: int, pairs: int) -> None:
    """Each one-per-order run back to back with a grouped run on one engine, so the noise of a
    shared machine weighs on both sides of a ratio; a fresh engine per pair, as one DynamoDB
    Local slows down run after run (the third one-per-order run at a quarter of the first's
    pace). Then the grouped path's CPU per batch with the hot path's client (no parameter
    validation) and with botocore's default, paired the same way."""
    print(f"{orders} one-unit reservations of one hot SKU, batches of {batch} (DynamoDB Local),"
          f" {pairs} pairs of runs")  # fmt: skip
    print(f"{'pair':<6}{'one per order':>15}{'grouped':>12}{'ratio':>8}"
          f"{'CPU ms/batch':>15}{'grouped':>10}")  # fmt: skip
    ratios = []
    for n in range(1, pairs + 1):
        with DynamoDBLocal() as local:
            single = timed(local, orders, batch, False, HOT_PATH_CONFIG)
            grouped = timed(local, orders, batch, True, HOT_PATH_CONFIG)
        ratios.append(grouped["orders_per_s"] / single["orders_per_s"])
        print(f"{n:<6}{single['orders_per_s']:>11.1f} o/s{grouped['orders_per_s']:>8.1f} o/s"
              f"{ratios[-1]:>7.2f}x{single['cpu_ms_per_batch']:>15.1f}"
              f"{grouped['cpu_ms_per_batch']:>10.1f}")  # fmt: skip
    print(f"throughput ratio: median {statistics.median(ratios):.2f}x, minimum {min(ratios):.2f}x")
    validating = HOT_PATH_CONFIG.merge(Config(parameter_validation=True))
    on, off = [], []
    for _ in range(pairs):
        with DynamoDBLocal() as local:
            on.append(timed(local, orders, batch, True, validating)["cpu_ms_per_batch"])
            off.append(timed(local, orders, batch, True, HOT_PATH_CONFIG)["cpu_ms_per_batch"])
    print(f"grouped, CPU ms per {batch}-record batch, median of {pairs}: parameter validation on"
          f" {statistics.median(on):.1f} ({', '.join(f'{x:.1f}' for x in on)}), off (the hot path's"
          f" client) {statistics.median(off):.1f} ({', '.join(f'{x:.1f}' for x in off)})")  # fmt: skip


def realistic_sale(shape: str, events: int, minutes: int, seed: int, batch: int) -> dict[str, float]:
    options = RehearsalOptions(shape=shape, events=events, minutes=minutes, seed=seed)
    scenario = parse_scenario(generate(options))
    with open_backend("dynamodb-local") as opened:
        meter = MeteredClient(opened.dynamodb, physical_table_name("stockpulse-", "LedgerTable"))
        try:
            sale = Replay(scenario, Stack.create(replace(opened, dynamodb=meter)))
            sale.stack.store.load_session(scenario.plan)
            for first in range(0, len(scenario.events), batch):
                records = scenario.events[first : first + batch]
                sale._advance_to(records[0].at_ms)  # the minutes' sweeps and evaluations so far
                sale._send(records)
            sale._advance_to(scenario.plan.session.ends_ms)
            report = sale.report()
        finally:
            wiring.install(None)
    assert report.invariant_violations == 0
    return {
        "events": len(scenario.events),
        "skus": len(scenario.plan.skus),
        "reservations": meter.reservations,
        "write_units_per_reservation": meter.reservation_write_units / meter.reservations,
        "stock_writes_per_reservation": meter.reservation_stock_writes / meter.reservations,
        "write_units_per_order_all_in": meter.write_units / meter.reservations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100, help="Kinesis batch size")
    parser.add_argument("--sale-shape", default="instant-peak", help="the realistic sale's shape")
    parser.add_argument("--sale-events", type=int, default=4000, help="events of the realistic sale")
    parser.add_argument("--sale-minutes", type=int, default=30, help="the realistic sale's length")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=3, help="paired timed runs")
    args = parser.parse_args()
    paired(args.orders, args.batch, args.pairs)
    single = metered(args.orders // 4, args.batch, grouped=False)
    grouped = metered(args.orders // 4, args.batch, grouped=True)
    print(f"\n{args.orders // 4} reservations, metered by AWS's rules")
    print(f"{'':<26}{'one per order':>15}{'grouped':>12}{'ratio':>10}")
    for key in single:
        ratio = grouped[key] / single[key] if single[key] else float("nan")
        print(f"{key:<26}{single[key]:>15.3f}{grouped[key]:>12.3f}{ratio:>10.2f}")
    wu, ru = grouped["write_units_per_order"], grouped["read_units_per_order"]
    dynamodb = wu * PRICE_PER_MILLION_WRITE_UNITS + ru * PRICE_PER_MILLION_READ_UNITS
    # Per order: created + paid (two events), 100 records per invocation at ~200 ms, 512 MB.
    lambda_cost = 2 / 100 * (LAMBDA_PRICE_PER_MILLION_REQUESTS + 0.2 * 0.5 * 1e6 * LAMBDA_PRICE_PER_GB_SECOND)
    kinesis = 2 * 1e6 * 400 / 1e9 * (KINESIS_ON_DEMAND_PER_GB_INGESTED + KINESIS_ON_DEMAND_PER_GB_RETRIEVED)
    sns = 0.001 * SNS_PRICE_PER_MILLION_PUBLISHES  # about one alert per thousand orders
    print("\ncost per million orders (USD), reservation path only, on-demand us-east-1 prices:")
    print(f"  DynamoDB  {dynamodb:8.2f}  ({wu:.2f} WRU x ${PRICE_PER_MILLION_WRITE_UNITS}/M + "
          f"{ru:.2f} RRU x ${PRICE_PER_MILLION_READ_UNITS}/M per order)")  # fmt: skip
    print(f"  Lambda    {lambda_cost:8.2f}  (2 events/order, 100 per invoke, 200 ms at 512 MB)")
    print(f"  Kinesis   {kinesis:8.2f}  (2 records of ~400 B per order, on-demand ingest + retrieval)")
    print(f"  SNS       {sns:8.2f}  (~1 alert per 1,000 orders)")
    print(f"  total     {dynamodb + lambda_cost + kinesis + sns:8.2f}")

    sale = realistic_sale(args.sale_shape, args.sale_events, args.sale_minutes, args.seed, args.batch)
    print(
        f"\na realistic sale: {args.sale_shape}, {args.sale_minutes} minutes, {sale['events']:.0f} events,"
        f" {sale['skus']:.0f} SKUs, in stream batches of {args.batch}"
        f" ({sale['reservations']:.0f} orders decided)"
    )
    print(f"  write units per reservation          {sale['write_units_per_reservation']:6.2f}")
    print(f"  stock-item writes per reservation    {sale['stock_writes_per_reservation']:6.3f}")
    print(f"  write units per order, every write   {sale['write_units_per_order_all_in']:6.2f}"
          "  (payments, cancels, expiries, tiers, evaluator)")  # fmt: skip


if __name__ == "__main__":
    main()

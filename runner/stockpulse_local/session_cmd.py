"""`stockpulse session load|status`: the scenario file that was rehearsed goes to production.

    stockpulse session load SCENARIO.json --stack NAME [--overwrite]
    stockpulse session load SCENARIO.json --endpoint-url URL --table NAME [--overwrite]
    stockpulse session status SESSION_ID --stack NAME [--json] [--review DIR]

`load` validates the file exactly as `replay` does (the same `parse_scenario`, every number
bounded), and builds every item before the first write: a refused load writes nothing. Then it
writes each SKU's opening stock and the session. It is idempotent: loading the identical file
again reports "already loaded" and writes nothing; a load that failed mid-way (network, throttling)
is finished by running the same command again. It refuses to overwrite a session whose SKUs
already have stock of another plan or have started selling (a live session) unless told
`--overwrite`. The events of the file are not loaded: in
production they come from the platforms through the orders stream.

With `--stack`, the table (and topic) names come from the stack's CloudFormation outputs.

`status --review DIR` also writes the post-show review (`review.md`, `review.csv`) of the session
as the table holds it, live or finished, with the same writer as a replay's (`review.py`): the
report is read from the table (`replay.table_report`), reading only. What the table does not keep
is shown as unknown (`review.FROM_TABLE`).
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from stockpulse.adapters.clock import SystemClock
from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
from stockpulse.adapters.sns import SnsAlertPublisher
from stockpulse.domain import forecast
from stockpulse.domain.events import rfc3339
from stockpulse.domain.session import SessionPlan
from stockpulse.ports import StockItemExists, StoreUnavailable
from stockpulse.pre_show import announce_pre_show
from stockpulse.records import StockItem
from stockpulse_local.errors import CommandError
from stockpulse_local.scenario import ScenarioError, load_scenario
from stockpulse_local.targets import Target, resolve_target, target_options


def add_commands(commands: Any) -> None:
    session = commands.add_parser(
        "session", help="load a scenario's session into a stack, or show its status"
    )
    sub = session.add_subparsers(dest="session_command", required=True, metavar="ACTION")

    p = sub.add_parser("load", help="write the session and its SKUs' opening stock")
    p.add_argument("scenario", metavar="SCENARIO.json")
    target_options(p)
    p.add_argument("--overwrite", action="store_true", help="replace the stock of a session already loaded")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("status", help="each SKU's ledger, tier, forecast and sell-out ETA")
    p.add_argument("session_id", metavar="SESSION_ID")
    target_options(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--review",
        metavar="DIR",
        help="also write the session's review (review.md, review.csv) into DIR, read from the table",
    )
    p.set_defaults(func=cmd_status)


# -- load --------------------------------------------------------------------------------------
def stored_plan(store: DynamoLedgerStore, session_id: str) -> SessionPlan | None:
    item = store.session(session_id)
    if not item or "plan" not in item:
        return None
    return SessionPlan.model_validate_json(str(item["plan"]))


def cmd_load(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)  # ScenarioError: exit 2, as `replay` does
    plan = scenario.plan
    target = resolve_target(args)
    store = DynamoLedgerStore(target.client, target.table)
    session_id = plan.session.session_id
    existing = stored_plan(store, session_id)
    items = {s.sku_id: store.stock(session_id, s.sku_id) for s in plan.skus}
    stocked = [sku_id for sku_id, item in items.items() if item is not None]
    if existing == plan and len(stocked) == len(plan.skus) and not args.overwrite:
        print(f"session {session_id} already loaded on {target.where} (identical plan): nothing written")
        return 0
    # What an interrupted load of this same file left: stock items of this plan, untouched since.
    resuming = (
        bool(stocked)
        and existing in (None, plan)
        and all(
            item is None or (item.version == 0 and item.plan.plan_digest == plan.digest)
            for item in items.values()
        )
    )
    if stocked and not args.overwrite and not resuming:
        what = "a different plan" if existing is not None and existing != plan else "stock"
        raise CommandError(
            f"session {session_id} on {target.where} already has {what} for {', '.join(stocked)}"
            " (a live session?); nothing written. Use --overwrite to replace its stock with the file's"
            " opening stock"
        )
    try:
        store.load_session(plan, overwrite=args.overwrite)
    except ValueError as err:  # what DynamoDB cannot hold, found before the first write
        raise ScenarioError(f"{err}; nothing written") from None
    except StockItemExists as err:  # loaded by someone else meanwhile
        raise CommandError(f"{err}; use --overwrite to replace it") from None
    except StoreUnavailable as err:
        raise CommandError(
            f"loading session {session_id} on {target.where} stopped: {err}. Run the same command again"
            " to finish it (the stock written so far is kept until the session is complete)"
        ) from None
    if resuming and not args.overwrite:
        done = len(plan.skus) - len(stocked)
        print(f"session {session_id}: finishing an interrupted load ({done} of {len(plan.skus)} SKUs left)")
        stocked = []
    verb = "reloaded (stock overwritten)" if stocked else "loaded"
    print(
        f"session {session_id} {verb} on {target.where}: {len(plan.skus)} SKUs, "
        f"{rfc3339(plan.session.starts_ms)} to {rfc3339(plan.session.ends_ms)}"
    )
    # The pre-show check: to the stack's alerts topic, or (a table alone) to this terminal.
    topic = target.outputs.get("alerts_topic_arn")
    publisher = None
    if topic is not None and target.sns is not None:
        publisher = SnsAlertPublisher(target.sns, topic, target.outputs.get("supply_topic_arn"))
    for notice in announce_pre_show(store, publisher, plan, SystemClock().now_ms()):
        sent = "sent" if topic is not None else "not sent: no alerts topic"
        print(f"pre-show {notice.sku_id}: {notice.text_zh} ({sent})")
    if stocked:
        print(
            "warning: the orders already recorded for this session are kept; a reservation of theirs"
            " that expires or is cancelled now is credited to the new opening stock. Overwrite only a"
            " session that has not started selling.",
            file=sys.stderr,
        )
    if scenario.events:
        print(
            f"({len(scenario.events)} events in the file were not loaded:"
            " production events come from the orders stream)"
        )
    return 0


# -- status ------------------------------------------------------------------------------------
def sku_status(item: StockItem) -> dict[str, Any]:
    lv, stored_forecast = item.levels, item.thresholds.forecast_eff
    velocity = float(item.pace.velocity)
    eta = forecast.sell_out_eta_minutes(lv.available, velocity)
    return {
        **lv.counts(),
        "tier": item.tier.tier.value,
        "paused": lv.paused,
        "forecast": _number(0 if stored_forecast is None else stored_forecast),
        "velocity_per_minute": round(velocity, 3),
        "sell_out_eta_minutes": None if eta is None else round(eta, 1),
        "restock_quantity": item.pace.restock_units or 0,  # as the evaluator last judged it
    }


def _number(value: Any) -> int | float:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return float(value)


def _row(values: tuple[Any, ...], widths: tuple[int, ...]) -> str:
    cells = [
        f"{v!s:{w}}" if i in (0, 6) else f"{v!s:>{w}}"
        for i, (v, w) in enumerate(zip(values, widths, strict=True))
    ]
    return " ".join(cells)


def cmd_status(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    store = DynamoLedgerStore(target.client, target.table)
    plan = stored_plan(store, args.session_id)
    if plan is None:
        raise CommandError(f"no session {args.session_id} on {target.where}")
    skus: dict[str, Any] = {}
    for sku in plan.skus:
        item = store.stock(args.session_id, sku.sku_id)
        skus[sku.sku_id] = sku_status(item) if item is not None else None
    if args.json:
        print(json.dumps({"session_id": args.session_id, "skus": skus}, indent=1))
        if args.review:
            write_review(store, plan, target, Path(args.review), sys.stderr)
        return 0
    print(f"session {args.session_id} on {target.where}")
    print(f"  {rfc3339(plan.session.starts_ms)} to {rfc3339(plan.session.ends_ms)}")
    columns = ("sku", "on_hand", "held", "resv", "sold", "avail", "tier", "F", "v/min", "ETA min", "restock")
    widths = (24, 7, 5, 5, 6, 6, 7, 7, 6, 7, 7)
    print(_row(columns, widths))
    for sku_id, s in skus.items():
        if s is None:
            print(f"{sku_id:24} (no stock item: not loaded)")
            continue
        eta = "-" if s["sell_out_eta_minutes"] is None else f"{s['sell_out_eta_minutes']:.0f}"
        tier = s["tier"] + ("*" if s["paused"] else "")
        values: tuple[Any, ...] = (sku_id[:24], s["on_hand"], s["held"], s["reserved"], s["sold"])
        values += (s["available"], tier, s["forecast"], s["velocity_per_minute"], eta, s["restock_quantity"])
        print(_row(values, widths))
    if any(s and s["paused"] for s in skus.values()):
        print("* paused: new reservations are refused")
    if args.review:
        write_review(store, plan, target, Path(args.review), sys.stdout)
    sys.stdout.flush()
    return 0


def write_review(
    store: DynamoLedgerStore, plan: SessionPlan, target: Target, out_dir: Path, out: TextIO
) -> list[Path]:
    """The session's review as the table holds it (reads only), written into `out_dir`. Messages
    are routed as the stack's parameters route them (a bare table: the template's defaults, every
    endpoint configured)."""
    from stockpulse_local.channels import Routing
    from stockpulse_local.replay import table_report
    from stockpulse_local.review import FROM_TABLE, build_review
    from stockpulse_local.scenario import Scenario

    read = table_report(store, plan, Routing.from_template(values=target.parameters))
    loaded = SessionPlan.model_construct(
        session=plan.session, skus=[s for s in plan.skus if s.sku_id not in read.missing]
    )
    review = build_review(read.report, Scenario(loaded, []), outcomes=read.outcomes, source=FROM_TABLE)
    written = review.write(out_dir)
    md, *beside = written
    out.write(f"review   {md}  ({', '.join(p.name for p in beside)} beside it)\n")
    if read.missing:
        out.write(f"  not in the review (no stock item: not loaded): {', '.join(read.missing)}\n")
    for sku_id, advice in review.next_show().items():
        out.write(f"  next show {sku_id}: {'; '.join(a.en for a in advice)}\n")
    return written

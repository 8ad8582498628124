"""The picture (sale.png / sale.html), the review, the big screen and the report say the same
numbers (issue 12): the picture is drawn from the ledger's own history, change by change."""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from stockpulse import dashboard, wiring
from stockpulse.adapters.clock import VirtualClock
from stockpulse.adapters.dynamodb_ledger import from_item
from stockpulse.dashboard import DashboardReader
from stockpulse.domain.events import epoch_ms, parse_instant
from stockpulse.records import levels_of
from stockpulse_local.picture import write_html, write_png
from stockpulse_local.rehearse import RehearsalOptions, generate
from stockpulse_local.replay import LambdaContext, Replay, Stack, load_handler, open_backend, replay
from stockpulse_local.review import build_review, curves_of
from stockpulse_local.scenario import Scenario, load_scenario, parse_scenario
from stockpulse_local.serve import http_api_event
from stockpulse_local.timeline import OutcomeLog, Sample

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "contract" / "examples" / "demo-cakes.json"
MINUTE = 60_000
LEDGER = ("on_hand", "held", "reserved", "sold", "available")
Ledger = tuple[int, int, int, int, int, bool]  # LEDGER and paused


def at(text: str) -> int:
    return epoch_ms(parse_instant(text))


class LedgerWitness:
    """A boto3 DynamoDB client that reads a SKU's stock item back after every write to it, with
    the replay's clock then: the ledger as the table held it, independently of the guard."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.clock: VirtualClock | None = None
        self.seen: dict[str, list[tuple[int, Ledger]]] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in ("transact_write_items", "update_item", "put_item"):
            return method

        def write(**kwargs: Any) -> Any:
            result = method(**kwargs)
            ops = (
                [next(iter(op.values())) for op in kwargs["TransactItems"]]
                if "TransactItems" in kwargs
                else [kwargs]
            )
            for op in ops:
                key = op.get("Key") or {k: op["Item"][k] for k in ("pk", "sk")}
                if key["sk"] == {"S": "STOCK"}:
                    self._read(op["TableName"], key)
            return result

        return write

    def _read(self, table: str, key: dict[str, Any]) -> None:
        raw = from_item(self._client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"])
        lv = levels_of(raw)
        now = self.clock.now_ms() if self.clock else 0
        self.seen.setdefault(str(raw["sku_id"]), []).append(
            (now, (lv.on_hand, lv.held, lv.reserved, lv.sold, lv.available, lv.paused))
        )


def ledger_of(s: Sample) -> Ledger:
    return (s.on_hand, s.held, s.reserved, s.sold, s.available, s.paused)


def changes(points: list[tuple[int, Ledger]]) -> list[tuple[int, Ledger]]:
    """Consecutive equal ledgers as one (a tier or threshold write leaves the ledger as it was)."""
    return [p for i, p in enumerate(points) if i == 0 or p[1] != points[i - 1][1]]


def picture_data(page: str) -> dict[str, Any]:
    match = re.search(r"const DATA = (.*);\n", page)
    assert match
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def picture_titles(page: str) -> dict[str, tuple[str, bool, dict[str, int]]]:
    """Per SKU, what the HTML's heading and ledger line say: tier, paused, the ledger."""
    found = {}
    for sku, tier, rest, ledger in re.findall(
        r'<h2>(.*?) <span class="tier t-\w+">(\w+)</span>(.*?)</h2><p class="ledger">(.*?) · alerts:', page
    ):
        numbers = dict(item.split(" ") for item in ledger.split(" · "))
        found[html.unescape(sku)] = (tier, "paused" in rest, {k: int(v) for k, v in numbers.items()})
    return found


# -- (1) the picture is the ledger at every change ---------------------------------------------------
def test_the_contract_examples_picture_is_the_ledger_at_every_change(tmp_path: Path) -> None:
    scenario = load_scenario(CONTRACT)
    with open_backend() as opened:
        witness = LedgerWitness(opened.dynamodb)
        stack = Stack.create(dataclasses.replace(opened, dynamodb=witness))
        try:
            run = Replay(scenario, stack)
            witness.clock = run.clock
            report = run.run()
        finally:
            wiring.install(None)
    timeline = run.timeline
    for sku_id, final in report.skus.items():
        drawn = changes([(s.t_ms, ledger_of(s)) for s in timeline.samples[sku_id]])
        held = changes(witness.seen[sku_id])
        assert drawn[0][1] == held[0][1]  # the opening stock
        assert drawn[-1][1] == held[-1][1] == (*(getattr(final, k) for k in LEDGER), final.paused)
        # Every state the table held is drawn, in order, dated within the minute before the write
        # (a batch never spans a minute; the sweep runs every minute and dates a release at its
        # hold's end). The drawing has more: a hot run's orders, one write, are one point each.
        i = 0
        for written_ms, ledger in held:
            found = next((j for j in range(i, len(drawn)) if drawn[j][1] == ledger), None)
            assert found is not None, f"{sku_id}: the picture never shows {ledger}"
            i = found
            assert written_ms - MINUTE < drawn[i][0] <= written_ms, (sku_id, ledger)
        assert all(on_hand == sum(rest) for _, (on_hand, *rest, _paused) in drawn)

    cake, tea = (timeline.samples[k] for k in ("cake-osmanthus", "tea-longjing"))

    def available(series: list[Sample], instant: str) -> int:
        return [s for s in series if s.t_ms <= at(instant)][-1].available

    # Sold out from 20:40:54; the sweep releases the unpaid holds from 20:55:00 on, 16 units by
    # 20:55:50; the restock at 21:10 brings 30 more.
    assert available(cake, "2026-11-25T20:40:53Z") > 0
    assert available(cake, "2026-11-25T20:40:54Z") == available(cake, "2026-11-25T20:54:59Z") == 0
    assert available(cake, "2026-11-25T20:55:00Z") == 1
    assert available(cake, "2026-11-25T20:55:50Z") == 16 == available(cake, "2026-11-25T21:09:59Z")
    assert available(cake, "2026-11-25T21:10:00Z") == 46
    # The tea's 3 units held at 21:15 come back when the hold ends at 21:30.
    assert available(tea, "2026-11-25T21:15:00Z") == available(tea, "2026-11-25T21:29:59Z") == 37
    assert available(tea, "2026-11-25T21:30:00Z") == 40

    # The HTML draws exactly these points, held to the show's end.
    data = picture_data(write_html(timeline, report, tmp_path / "sale.html").read_text(encoding="utf-8"))
    for sku_id, series in timeline.samples.items():
        points = [*series, series[-1]]
        assert data[sku_id]["a"] == [s.available for s in points]
        assert data[sku_id]["c"] == [s.consumption for s in points]
        assert data[sku_id]["tier"] == [s.tier for s in points]
        assert data[sku_id]["p"] == [s.paused for s in points]


# -- (2) the picture, the review, the big screen and the report agree ---------------------------------
def rehearsal() -> Scenario:
    # A quick sale whose best seller sells out and is paused at red: minutes of both to agree on.
    return parse_scenario(generate(RehearsalOptions(shape="instant-peak", skus=2, events=300, seed=7)))


def screen_of(run: Replay) -> dict[str, dict[str, Any]]:
    """What the big screen reads: the dashboard API's SKUs, through its handler."""
    session_id = run.scenario.plan.session.session_id
    dashboard.install(DashboardReader(run.stack.store, run.clock))
    try:
        response = load_handler("dashboard_api").handler(
            http_api_event(
                method="GET", path=f"/sessions/{session_id}/skus", query=[], headers={}, source_ip="127.0.0.1"
            ),
            LambdaContext("dashboard_api"),
        )
    finally:
        dashboard.install(None)
    assert response["statusCode"] == 200
    return {v["sku_id"]: v for v in json.loads(response["body"])["skus"]}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("make", [lambda: load_scenario(CONTRACT), rehearsal], ids=["contract", "rehearsal"])
def test_the_picture_the_review_the_screen_and_the_report_say_the_same(make: Any, tmp_path: Path) -> None:
    scenario: Scenario = make()
    runs: list[Replay] = []
    screens: list[dict[str, dict[str, Any]]] = []
    outcomes = OutcomeLog()

    def finish(run: Replay) -> None:
        runs.append(run)
        screens.append(screen_of(run))

    report = replay(scenario, on_finish=finish, on_outcome=outcomes.record)
    (timeline,), (screen,) = [r.timeline for r in runs], screens
    page = write_html(timeline, report, tmp_path / "sale.html").read_text(encoding="utf-8")
    write_png(timeline, report, tmp_path / "sale.png")
    titles, data = picture_titles(page), picture_data(page)
    review = build_review(report, scenario, outcomes=outcomes, curves=curves_of(timeline))
    review.write(tmp_path)
    rows = {r["sku_id"]: r for r in read_csv(tmp_path / "review.csv")}
    curves = read_csv(tmp_path / "curves.csv")
    start, end = timeline.span
    marks = [*range(start, end, MINUTE), end]
    opening = {s.sku_id: s.on_hand for s in scenario.plan.skus}
    event_instants = {(e.parsed.sku_id, e.at_ms) for e in scenario.events if e.parsed is not None}
    sold_out = paused = 0
    for sku_id, final in report.skus.items():
        ledger = {k: getattr(final, k) for k in LEDGER}
        last = timeline.samples[sku_id][-1]
        # The picture: its title, and where its curve and available line end.
        assert titles[sku_id] == (final.tier, final.paused, ledger)
        d = data[sku_id]
        assert (d["a"][-1], d["c"][-1], d["tier"][-1], d["p"][-1]) == (
            final.available, final.reserved + final.sold, final.tier, final.paused
        )  # fmt: skip
        # The review: its row, its last minute, and its minutes from the picture's own series.
        row = rows[sku_id]
        assert (int(row["sold"]), int(row["reserved"])) == (final.sold, final.reserved)
        assert int(row["restocked"]) == final.on_hand - opening[sku_id]
        end_row = [r for r in curves if r["sku_id"] == sku_id][-1]
        assert {k: int(end_row[k]) for k in LEDGER} == ledger
        assert (end_row["tier"], end_row["paused"]) == (final.tier, str(int(final.paused)))
        states = [timeline.at(sku_id, t) for t in marks]
        minutes_sold_out = sum(s is not None and s.available == 0 and s.consumption > 0 for s in states)
        minutes_paused = sum(s is not None and s.paused for s in states)
        assert (int(row["minutes_sold_out"]), int(row["minutes_paused"])) == (
            minutes_sold_out,
            minutes_paused,
        )
        sold_out, paused = sold_out + minutes_sold_out, paused + minutes_paused
        # The big screen: the ledger, tier and lines now, and its curve at every evaluator minute.
        seen = screen[sku_id]
        assert (seen["ledger"], seen["tier"], seen["paused"]) == (ledger, final.tier, final.paused)
        assert seen["forecast"]["effective"] == round(last.effective_forecast, 2) == d["f"][-1]
        series = seen["series"]
        assert series["minute_ms"], "the evaluator drew the screen's curve"
        for minute, consumption in zip(series["minute_ms"], series["consumption"], strict=True):
            # The evaluator's minute runs before the events dated exactly on it.
            state = timeline.at(sku_id, minute - 1 if (sku_id, minute) in event_instants else minute)
            assert state is not None and state.consumption == consumption, (sku_id, minute)
    assert sold_out > 0  # something to agree on
    if scenario.plan.session.session_id == "demo-cakes":
        assert review.skus[0].minutes_sold_out == 14
    else:
        assert paused > 0

"""`stockpulse rehearse`: every shape generates a valid, realistic, reproducible sale."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stockpulse.domain.events import EventType, epoch_ms, parse_instant
from stockpulse_local import cli
from stockpulse_local.rehearse import SHAPES, RehearsalOptions, default_out_dir, generate
from stockpulse_local.scenario import parse_scenario


@pytest.fixture(scope="module", params=SHAPES)
def shape_scenario(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, generate(RehearsalOptions(shape=request.param, seed=5, events=800))


def test_every_event_is_valid_and_in_time_order(shape_scenario: tuple[str, dict[str, Any]]) -> None:
    _, data = shape_scenario
    scenario = parse_scenario(json.loads(json.dumps(data)))  # as written to disk
    assert [e.problem for e in scenario.events if e.parsed is None] == []
    instants = [epoch_ms(parse_instant(e["occurred_at"])) for e in data["events"]]
    assert instants == sorted(instants)
    session = scenario.plan.session
    assert all(session.starts_ms <= t < session.ends_ms for t in instants)
    assert all(e["occurred_at"].endswith("+08:00") for e in data["events"])
    assert 700 <= len(data["events"]) <= 900  # about what was asked


def test_a_sale_looks_like_a_live_show(shape_scenario: tuple[str, dict[str, Any]]) -> None:
    shape, data = shape_scenario
    scenario = parse_scenario(data)
    kinds = Counter(e["type"] for e in data["events"])
    created = kinds[EventType.ORDER_CREATED.value]
    assert kinds[EventType.ORDER_PAID.value] > 0.7 * created  # most pay...
    assert kinds[EventType.ORDER_CANCELLED.value] > 0  # ...some cancel...
    assert kinds[EventType.STOCK_RESTOCKED.value] >= 1  # ...the best seller is restocked mid-show
    paid_after_hold = _late_payments(data)
    assert paid_after_hold > 0  # payments after the hold ran out
    never_paid = {e["order_id"] for e in data["events"] if e["type"] == "order.created"} - {
        e["order_id"] for e in data["events"] if e["type"] in ("order.paid", "order.cancelled")
    }
    assert never_paid  # holds that expire
    ids = Counter(e["event_id"] for e in data["events"])
    resent = [i for i, n in ids.items() if n > 1]
    assert resent
    for event_id in resent:  # a resend is the same event, content and all
        copies = [e for e in data["events"] if e["event_id"] == event_id]
        assert all(c == copies[0] for c in copies)
    show_minutes = (scenario.plan.session.ends_ms - scenario.plan.session.starts_ms) // 60_000
    for sku in scenario.plan.skus:  # each product's orders come in pulses after its pitches
        minutes = Counter(
            (epoch_ms(parse_instant(e["occurred_at"])) - scenario.plan.session.starts_ms) // 60_000
            for e in data["events"]
            if e["type"] == "order.created" and e["sku_id"] == sku.sku_id
        )
        assert max(minutes.values()) > 4 * sum(minutes.values()) / show_minutes, sku.sku_id
    platforms = {e["platform"] for e in data["events"] if "platform" in e}
    if shape == "multi-platform":
        assert platforms == {"douyin", "kuaishou", "taobao"}
        assert any(s.platform_quotas for s in scenario.plan.skus)
    else:
        assert len(platforms) == 1


def _late_payments(data: dict[str, Any]) -> int:
    created = {
        e["order_id"]: epoch_ms(parse_instant(e["occurred_at"]))
        for e in data["events"]
        if e["type"] == "order.created"
    }
    hold = {s["sku_id"]: s["hold_minutes"] * 60_000 for s in data["skus"]}
    return sum(
        1
        for e in data["events"]
        if e["type"] == "order.paid"
        and epoch_ms(parse_instant(e["occurred_at"])) >= created[e["order_id"]] + hold[e["sku_id"]]
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_the_same_seed_gives_the_same_sale(shape: str) -> None:
    options = RehearsalOptions(shape=shape, seed=42, events=300)
    assert json.dumps(generate(options)) == json.dumps(generate(options))
    assert generate(options) != generate(RehearsalOptions(shape=shape, seed=43, events=300))


def test_options_shape_the_plan() -> None:
    data = generate(
        RehearsalOptions(shape="slow-burn", skus=5, stock=77, forecast=60, events=200, minutes=40)
    )
    assert [s["on_hand"] for s in data["skus"]] == [77] * 5
    assert [s["forecast"] for s in data["skus"]] == [60] * 5
    assert len({s["sku_id"] for s in data["skus"]}) == 5
    scenario = parse_scenario(data)
    assert scenario.plan.session.ends_ms - scenario.plan.session.starts_ms == 40 * 60_000
    assert default_out_dir(RehearsalOptions(shape="late-surge", seed=9)) == "out/rehearsal-late-surge-9"
    with pytest.raises(ValueError, match="shape"):
        RehearsalOptions(shape="flat")


def test_a_rehearsal_writes_the_scenario_the_report_and_the_picture(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        mp.setattr("sys.stderr", err)
        code = cli.main(
            [
                *("rehearse", "--shape", "instant-peak", "--skus", "1", "--events", "40", "--minutes", "10"),
                *("--seed", "3", "--out", str(tmp_path / "r"), "--backend", "moto"),
            ]
        )
    assert code == 0
    files = {p.name for p in (tmp_path / "r").iterdir()}
    assert files == {
        *("scenario.json", "report.json", "sale.png", "sale.html"),
        *("review.md", "review.csv", "curves.csv"),
    }
    scenario = json.loads((tmp_path / "r" / "scenario.json").read_text(encoding="utf-8"))
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    events = report["events"]
    assert events["processed"] + events["duplicate"] + sum(events["rejected"].values()) == len(
        scenario["events"]
    )
    assert report["invariant_violations"] == 0
    text = out.getvalue()
    assert f"scenario {tmp_path / 'r' / 'scenario.json'}" in text
    # It ends telling where, and what to change next show for its one SKU.
    *_, picture, _html, review, next_show = text.rstrip().splitlines()
    assert picture == f"picture  {tmp_path / 'r' / 'sale.png'}"
    assert review.startswith(f"review   {tmp_path / 'r' / 'review.md'}")
    assert "next show: " in next_show
    assert "rehearsal: " in err.getvalue()

"""The runner's replay against reports worked out by hand, and against the contract's example.

One session holds every hand-made case, each on its own SKU so the cases cannot interfere;
it is replayed once (moto costs ~tens of ms per event) and every case reads its own SKU and
orders. All SKUs are `dynamic: false`, so the tiers are exactly the contract's formula.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support import T0 as SUPPORT_T0
from support import event as support_event
from support import make_notice

from stockpulse.domain.alerts import AlertNotice
from stockpulse.domain.events import OrderEvent, epoch_ms, parse_instant
from stockpulse.domain.ledger import OrderStatus, Outcome, Reason
from stockpulse.domain.tiers import Tier
from stockpulse.ports import ALERTS_TOPIC, PublishFailed
from stockpulse_local.replay import MessageJournal, OutcomeCounter, _JournaledPublisher, replay
from stockpulse_local.scenario import load_scenario, parse_scenario

# The contract lives beside the repository: ../shared/contract.
CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "contract" / "examples"

SHOW = timezone(timedelta(hours=8))
T0 = datetime(2026, 12, 1, 20, 0, tzinfo=SHOW)
SESSION = "hand"
RANK = {"none": 0, "yellow": 1, "orange": 2, "red": 3}


def at(mmss: str) -> str:
    minutes, seconds = mmss.split(":")
    return (T0 + timedelta(minutes=int(minutes), seconds=int(seconds))).isoformat()


def utc(mmss: str) -> str:
    instant = T0 + timedelta(minutes=int(mmss.split(":")[0]), seconds=int(mmss.split(":")[1]))
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ev(
    event_id: str,
    kind: str,
    when: str,
    sku: str,
    order: str | None = None,
    qty: Any = None,
    platform: str = "douyin",
) -> dict[str, Any]:
    event: dict[str, Any] = {"event_id": event_id, "type": kind, "occurred_at": at(when)}
    event.update(session_id=SESSION, sku_id=sku)
    if kind.startswith("order."):
        event.update(platform=platform, order_id=order)
    if qty is not None:
        event["quantity"] = qty
    return event


def sku(sku_id: str, on_hand: int, **extra: Any) -> dict[str, Any]:
    return {"sku_id": sku_id, "name": sku_id, "on_hand": on_hand, "forecast": 100, "dynamic": False, **extra}


# -- the cases: (sku config, events in file order, expected ledger, expected orders) -------------
CASES: dict[str, tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, str]]] = {
    # Payment after the hold ended finds the reservation expired (swept or not, and at exactly
    # the hold end too) and re-takes the units; an unpaid hold expires.
    "retake": (
        sku("A", 10, hold_minutes=2),
        [
            ev("a1", "order.created", "00:10", "A", "A1", 2),
            ev("a2", "order.paid", "02:10", "A", "A1"),  # exactly at the hold end: expired first
            ev("a3", "order.created", "03:00", "A", "A2", 1),
            ev("a4", "order.created", "06:00", "A", "A3", 3),
            ev("a5", "order.paid", "06:30", "A", "A2"),  # 90 s after its hold ended
        ],
        {"on_hand": 10, "held": 0, "reserved": 0, "sold": 3, "available": 7, "tier": "none", "paused": False},
        {"A1": "sold", "A2": "sold", "A3": "expired"},
    ),
    # While paused: a payment without a live reservation needs a refund, a new order is refused,
    # a live reservation still confirms; a payment for an order refused at creation re-takes.
    "paused": (
        sku("B", 5, hold_minutes=2),
        [
            ev("b1", "order.created", "00:20", "B", "B1", 2),
            ev("b2", "sku.paused", "01:00", "B"),
            ev("b3", "order.paid", "03:00", "B", "B1"),  # expired, paused -> refund_required
            ev("b4", "order.created", "03:30", "B", "B2", 1),  # sku_paused
            ev("b5", "sku.resumed", "04:00", "B"),
            ev("b6", "order.paid", "04:30", "B", "B2"),  # refused at creation -> re-take
            ev("b7", "order.created", "05:00", "B", "B3", 1),
            ev("b8", "sku.paused", "05:10", "B"),
            ev("b9", "order.paid", "05:30", "B", "B3"),  # live reservation: confirms while paused
        ],
        {"on_hand": 5, "held": 0, "reserved": 0, "sold": 2, "available": 3, "tier": "none", "paused": True},
        {"B1": "refund_required", "B2": "sold", "B3": "sold"},
    ),
    # Platform quotas: reserved + sold units of the platform's orders; releases give usage back;
    # a payment that would re-take beyond the cap needs a refund.
    "quota": (
        sku("C", 20, platform_quotas={"kuaishou": 3}),
        [
            ev("c1", "order.created", "00:30", "C", "C1", 2, "kuaishou"),
            ev("c2", "order.created", "00:40", "C", "C2", 2, "kuaishou"),  # 2 + 2 > 3
            ev("c3", "order.created", "00:50", "C", "C3", 5, "douyin"),  # uncapped
            ev("c4", "order.cancelled", "01:00", "C", "C1", platform="kuaishou"),
            ev("c5", "order.created", "01:10", "C", "C4", 3, "kuaishou"),  # 0 + 3 <= 3
            ev("c6", "order.paid", "01:20", "C", "C2", platform="kuaishou"),  # re-take 3 + 2 > 3
            ev("c7", "order.paid", "01:30", "C", "C4", platform="kuaishou"),
            ev("c8", "order.paid", "01:40", "C", "C3"),
        ],
        {
            "on_hand": 20,
            "held": 0,
            "reserved": 0,
            "sold": 8,
            "available": 12,
            "tier": "none",
            "paused": False,
        },
        {"C1": "released", "C2": "refund_required", "C3": "sold", "C4": "sold"},
    ),
    # Held stock: held moves need available units, unheld moves need held units; restock adds.
    "held": (
        sku("D", 10, held=2),
        [
            ev("d1", "stock.held", "01:00", "D", qty=5),
            ev("d2", "stock.held", "01:10", "D", qty=4),  # available 3 < 4
            ev("d3", "stock.unheld", "01:20", "D", qty=8),  # held 7 < 8
            ev("d4", "stock.unheld", "01:30", "D", qty=7),
            ev("d5", "stock.restocked", "01:40", "D", qty=5),
        ],
        {
            "on_hand": 15,
            "held": 0,
            "reserved": 0,
            "sold": 0,
            "available": 15,
            "tier": "none",
            "paused": False,
        },
        {},
    ),
    # Cancel after payment returns the sold units; a second cancel has no effect; a payment after
    # the cancel re-takes. Out of file order, with another offset: the instant decides.
    "cancel_paid": (
        sku("E", 10),
        [
            ev("e2", "order.paid", "02:30", "E", "E1"),
            {**ev("e1", "order.created", "02:00", "E", "E1", 4), "occurred_at": "2026-12-01T12:02:00Z"},
            ev("e3", "order.cancelled", "03:00", "E", "E1"),
            ev("e4", "order.cancelled", "03:10", "E", "E1"),  # released already: no effect
            ev("e5", "order.paid", "03:20", "E", "E1"),  # cancelled order paid: re-take
            ev("e6", "order.cancelled", "03:30", "E", "E9"),  # never seen: no effect, not remembered
        ],
        {"on_hand": 10, "held": 0, "reserved": 0, "sold": 4, "available": 6, "tier": "none", "paused": False},
        {"E1": "sold"},
    ),
    # Duplicates: a resent event id (refused ones too), a known order created again, a second
    # payment; unknown orders and SKUs; a malformed event's id is not remembered.
    "duplicates": (
        sku("F", 10, hold_minutes=30),
        [
            ev("f1", "order.created", "04:00", "F", "F1", 1),
            ev("f1", "order.created", "04:00", "F", "F1", 1),  # resent: duplicate
            ev("f2", "order.created", "04:10", "F", "F1", 1),  # order known: duplicate
            ev("f3", "order.paid", "04:20", "F", "F1"),
            ev("f3", "order.paid", "04:20", "F", "F1"),  # resent: duplicate
            ev("f4", "order.paid", "04:30", "F", "F1"),  # sold already: duplicate
            ev("f5", "order.paid", "04:40", "F", "F7"),  # unknown_order
            ev("f5", "order.paid", "04:40", "F", "F7"),  # a refused event's id is remembered
            ev("f6", "order.created", "04:50", "F", "F8", 50),  # insufficient_stock
            ev("f6", "order.created", "04:50", "F", "F8", 50),  # duplicate
            ev("f7", "order.created", "05:00", "F", "F8", 1),  # refused order is known: duplicate
            ev("f8", "order.created", "05:10", "ghost", "X1", 1),  # unknown_sku
            ev("f10", "order.created", "05:30", "F", "F9", "2"),  # malformed quantity: invalid
            ev("f10", "order.created", "05:40", "F", "F9", 2),  # same id, valid: processed
        ],
        {"on_hand": 10, "held": 0, "reserved": 2, "sold": 1, "available": 7, "tier": "none", "paused": False},
        {"F1": "sold", "F8": "rejected", "F9": "reserved"},
    ),
    # auto_pause_on_red: paused right after the event that entered red (accepted); a resume while
    # red stands; leaving red and entering it again pauses again. forecast 5: yellow 4, red 6.
    "auto_pause": (
        sku("G", 10, forecast=5, hold_minutes=30, auto_pause_on_red=True),
        [
            ev("g1", "order.created", "06:00", "G", "G1", 3),
            ev("g2", "order.created", "06:10", "G", "G2", 1),  # 4: yellow
            ev("g3", "order.created", "06:20", "G", "G3", 2),  # 6: red -> paused
            ev("g4", "order.created", "06:30", "G", "G4", 1),  # sku_paused
            ev("g5", "sku.resumed", "06:40", "G"),
            ev("g6", "order.created", "06:50", "G", "G5", 1),  # 7: still red, selling
            ev("g7", "order.cancelled", "07:00", "G", "G1"),  # 4: yellow
            ev("g8", "order.created", "07:10", "G", "G6", 2),  # 6: red again -> paused
            ev("g9", "order.paid", "07:20", "G", "G2"),  # live reservation confirms while paused
        ],
        {"on_hand": 10, "held": 0, "reserved": 5, "sold": 1, "available": 4, "tier": "red", "paused": True},
        {
            "G1": "released",
            "G2": "sold",
            "G3": "reserved",
            "G4": "rejected",
            "G5": "reserved",
            "G6": "reserved",
        },
    ),
}
G_TIER_CHANGES = [("yellow", "06:10"), ("red", "06:20"), ("yellow", "07:00"), ("red", "07:10")]
EXPECTED_EVENTS = {
    "processed": 40,
    "duplicate": 7,
    "rejected": {
        "insufficient_held": 1,
        "insufficient_stock": 2,
        "invalid": 1,
        "quota_exceeded": 1,
        "sku_paused": 2,
        "unknown_order": 1,
        "unknown_sku": 1,
    },
}


def hand_scenario() -> dict[str, Any]:
    return {
        "session": {"session_id": SESSION, "starts_at": at("00:00"), "ends_at": at("20:00")},
        "skus": [case[0] for case in CASES.values()],
        "events": [e for case in CASES.values() for e in case[1]],
    }


def test_hand_made_cases() -> None:
    """One replay for all cases (under xdist a shared fixture would run once per worker)."""
    data = hand_scenario()
    report = replay(parse_scenario(data)).model_dump(mode="json")
    problems: list[str] = []
    for case, (config, _, ledger, orders) in CASES.items():
        got = report["skus"][config["sku_id"]]
        if {k: got[k] for k in ledger} != ledger:
            problems.append(f"{case}: ledger {dict((k, got[k]) for k in ledger)} != {ledger}")
        got_orders = {k: v for k, v in report["orders"].items() if k.startswith(config["sku_id"])}
        if got_orders != orders:
            problems.append(f"{case}: orders {got_orders} != {orders}")
    assert problems == []

    # Every event counted once; X1 (unknown SKU) and E9 (a cancel only) are not orders.
    events = report["events"]
    assert events == EXPECTED_EVENTS
    assert events["processed"] + events["duplicate"] + sum(events["rejected"].values()) == len(data["events"])
    assert report["orders"] == {k: v for case in CASES.values() for k, v in case[3].items()}
    assert report["invariant_violations"] == 0

    changes = [{"tier": tier, "at": utc(when)} for tier, when in G_TIER_CHANGES]
    check_announcements(report["skus"]["G"]["alerts"], changes)
    for sku_id in "ABCDEF":  # never left `none`
        assert report["skus"][sku_id]["alerts"] == []
    check_report_shape(report)


def check_report_shape(report: dict[str, Any]) -> None:
    """Contract section 3: the keys and the value types."""
    assert set(report) == {"skus", "orders", "events", "invariant_violations", "messages"}
    for sku_report in report["skus"].values():
        assert set(sku_report) == {
            "on_hand",
            "held",
            "reserved",
            "sold",
            "available",
            "tier",
            "paused",
            "alerts",
        }
        for name in ("on_hand", "held", "reserved", "sold", "available"):
            assert type(sku_report[name]) is int
        assert sku_report["tier"] in RANK
        assert type(sku_report["paused"]) is bool
        for alert in sku_report["alerts"]:
            assert set(alert) == {"tier", "at"} and alert["tier"] in RANK
            parse_instant(alert["at"])
    statuses = {"reserved", "sold", "released", "expired", "rejected", "refund_required"}
    assert set(report["orders"].values()) <= statuses
    assert set(report["events"]) == {"processed", "duplicate", "rejected"}
    assert all(type(n) is int for n in [report["events"]["processed"], report["events"]["duplicate"]])
    assert all(type(n) is int for n in report["events"]["rejected"].values())
    assert type(report["invariant_violations"]) is int
    kinds = {"pre_show", "alert", "repeat", "resolved", "sold_out", "slow"}
    channels = ["feed", "im", "sms", "email", "supply_chain"]
    instants = [epoch_ms(parse_instant(m["at"])) for m in report["messages"]]
    assert instants == sorted(instants), "messages in time order"
    for message in report["messages"]:
        keys = {"at", "sku_id", "kind", "tier", "channels", "restock_units", "sellout_eta_minutes", "text"}
        assert set(message) == keys | ({"from_tier"} if message["kind"] == "resolved" else set())
        assert message["kind"] in kinds and message["tier"] in RANK and message["sku_id"] in report["skus"]
        assert message["channels"][0] == "feed" and message["channels"] == sorted(
            message["channels"], key=channels.index
        )
        assert message["restock_units"] is None or (
            type(message["restock_units"]) is int and message["restock_units"] > 0
        )
        assert message["sellout_eta_minutes"] is None or message["sellout_eta_minutes"] >= 0
        assert isinstance(message["text"], str) and message["text"]
    json.dumps(report)  # plain JSON types only


# -- the contract's example ----------------------------------------------------------------------
def check_announcements(
    alerts: Sequence[Mapping[str, str]], tier_changes: Sequence[Mapping[str, str]]
) -> None:
    """Every upward change is announced at that instant or earlier; no alert claims a tier not in force."""

    def ms(text: str) -> int:
        return epoch_ms(parse_instant(text))

    announced = [(a["tier"], ms(a["at"])) for a in alerts]
    assert [t for _, t in announced] == sorted(t for _, t in announced), "alerts in time order"
    previous = "none"
    for change in tier_changes:
        if RANK[change["tier"]] > RANK[previous]:
            assert any(tier == change["tier"] and t <= ms(change["at"]) for tier, t in announced), (
                f"upward change to {change['tier']} at {change['at']} never announced"
            )
        previous = change["tier"]
    for tier, t in announced:
        in_force = "none"
        for change in tier_changes:
            if ms(change["at"]) <= t:
                in_force = change["tier"]
        assert in_force == tier, f"alert {tier} at {t} while the tier in force was {in_force}"


def test_contract_example() -> None:
    """demo-cakes.json replays to demo-cakes.expected.json: ledger, final tier, paused, orders and
    counts exactly; each upward tier change announced at that instant or earlier, and no alert
    claiming a tier that is not in force."""
    report = replay(load_scenario(CONTRACT / "demo-cakes.json")).model_dump(mode="json")  # as written
    expected = json.loads((CONTRACT / "demo-cakes.expected.json").read_text(encoding="utf-8"))
    fields = ("on_hand", "held", "reserved", "sold", "available", "tier", "paused")
    for sku_id, want in expected["skus"].items():
        got = report["skus"][sku_id]
        assert {k: got[k] for k in fields} == {k: want[k] for k in fields}, sku_id
    assert report["orders"] == expected["orders"]
    assert report["events"] == expected["events"]
    assert report["invariant_violations"] == expected["invariant_violations"] == 0
    events = report["events"]
    total = events["processed"] + events["duplicate"] + sum(events["rejected"].values())
    assert total == len(json.loads((CONTRACT / "demo-cakes.json").read_text(encoding="utf-8"))["events"])
    check_report_shape(report)
    problems: list[str] = []
    for sku_id, want in expected["skus"].items():
        try:
            check_announcements(report["skus"][sku_id]["alerts"], want["tier_changes"])
        except AssertionError as err:
            problems.append(
                f"{sku_id}: {str(err).splitlines()[0]} (alerts {report['skus'][sku_id]['alerts']})"
            )
    assert problems == []
    check_contract_messages(report["messages"])


def check_contract_messages(messages: list[dict[str, Any]]) -> None:
    """What people get from the contract's example, read as they read it."""
    said = [(m["at"][11:19], m["sku_id"], m["kind"], m["tier"], m["channels"]) for m in messages]
    # Tea: 40 sellable for a forecast of 30, a week's lead time, no history: under its line of 51.
    pre = [m for m in messages if m["kind"] == "pre_show"]
    assert [(m["sku_id"], m["restock_units"], m["at"]) for m in pre] == [
        ("tea-longjing", 11, "2026-11-25T20:00:00Z")
    ]
    assert "51" in pre[0]["text"] and "11" in pre[0]["text"]
    cake = [s for s in said if s[1] == "cake-osmanthus"]
    assert cake == [
        ("20:40:25", "cake-osmanthus", "alert", "yellow", ["feed"]),
        ("20:40:33", "cake-osmanthus", "alert", "orange", ["feed", "im", "email"]),
        ("20:40:41", "cake-osmanthus", "alert", "red", ["feed", "im", "sms", "email", "supply_chain"]),
        ("20:40:54", "cake-osmanthus", "sold_out", "red", ["feed", "im", "email", "supply_chain"]),
        ("21:15:00", "cake-osmanthus", "resolved", "yellow", ["feed", "im", "email"]),
    ], said
    # One page for the core cake's first red; the restock is a number, never "0".
    assert sum("sms" in m["channels"] for m in messages) == 1
    assert all("补货0" not in m["text"] for m in messages)


def test_a_remembered_event_never_counted_is_counted_with_its_first_outcome() -> None:
    """A delivery that applied and then failed (or a runner stopped mid-batch) is redelivered as a
    duplicate carrying its first outcome: counted once, with that outcome. A real duplicate of a
    counted event stays a duplicate."""
    counter = OutcomeCounter()
    reserved = Outcome.processed(OrderStatus.RESERVED, changed_stock=True)

    def created(event_id: str, order_id: str, quantity: int) -> OrderEvent:
        return support_event(
            "order.created",
            event_id,
            SUPPORT_T0,
            "tea",
            platform="douyin",
            order_id=order_id,
            quantity=quantity,
        )

    first = created("e1", "o1", 1)
    counter.record(first, Outcome.duplicate(reserved))  # its first delivery was never counted
    counter.record(first, Outcome.duplicate(reserved))  # resent by the platform
    refused = created("e2", "o2", 9)
    counter.record(refused, Outcome.duplicate(Outcome.rejected(Reason.INSUFFICIENT_STOCK)))
    assert (counter.processed, counter.duplicate, dict(counter.rejected)) == (1, 1, {"insufficient_stock": 1})


class _RefusesTheRestockRequestOnce:
    """The alerts topic takes the red; the supply chain refuses its first restock request."""

    def __init__(self) -> None:
        self.refused = False

    def publish(self, notice: AlertNotice, skip: frozenset[str] = frozenset()) -> None:
        if not self.refused:
            self.refused = True
            raise PublishFailed("supply chain topic: throttled", taken=skip | {ALERTS_TOPIC})


def test_the_journal_keeps_a_notice_the_alerts_topic_took_once(tmp_path: Path) -> None:
    """A red the alerts topic took before its restock request failed reached people: journaled
    then, and not again when the retry sends the restock request alone."""
    journal = MessageJournal(tmp_path / "replay.messages.jsonl", "digest")
    assert journal.open() == []
    publisher = _JournaledPublisher(_RefusesTheRestockRequestOnce(), journal)
    red = make_notice(tier=Tier.RED, previous_tier=Tier.ORANGE)
    with pytest.raises(PublishFailed) as refused:
        publisher.publish(red)
    publisher.publish(red, refused.value.taken)
    assert journal.open() == [red]

"""Issue 11, item 5: bad scenario files end in exit 2 with one line naming the field, never a
traceback (exit 1) or a hang; a bad event inside a well-formed file is one `invalid` rejection.

Every file goes through the real command line (`stockpulse_local.cli.main`, and the installed
`stockpulse` script for the worst ones).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from stockpulse.domain.events import epoch_ms, parse_instant
from stockpulse_local import cli, replay
from stockpulse_local.scenario import ScenarioError, load_scenario, parse_scenario

SESSION = {
    "session_id": "bad-files",
    "starts_at": "2026-12-01T20:00:00+08:00",
    "ends_at": "2026-12-01T21:00:00+08:00",
}
SKU: dict[str, Any] = {"sku_id": "s1", "name": "Cake", "on_hand": 50, "forecast": 40, "dynamic": False}
HUGE = 10**40


def order(event_id: str, occurred_at: str, quantity: Any = 1) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "order.created",
        "occurred_at": occurred_at,
        "session_id": "bad-files",
        "sku_id": "s1",
        "platform": "douyin",
        "order_id": f"o-{event_id}",
        "quantity": quantity,
    }


def scenario(
    *,
    session: dict[str, Any] | None = None,
    sku: dict[str, Any] | None = None,
    events: list[Any] | None = None,
) -> dict[str, Any]:
    return {
        "session": {**SESSION, **(session or {})},
        "skus": [{**SKU, **(sku or {})}],
        "events": events if events is not None else [order("e1", "2026-12-01T20:05:00+08:00")],
    }


def text(data: dict[str, Any]) -> str:
    return json.dumps(data)


def nested(depth: int) -> str:
    """A file whose first event carries a value `depth` arrays deep (built as text: no recursion)."""
    deep = "[" * depth + "]" * depth
    return text(scenario()).replace('"quantity": 1}', f'"quantity": 1, "note": {deep}}}', 1)


def raw_number(field: str, literal: str, where: str = "sku") -> str:
    """A file with `literal` (e.g. Infinity, 1e308) written as the JSON text of one field."""
    marker = "__LITERAL__"
    if where == "ratio":
        data = scenario(sku={"tier_ratios": {"yellow": 0.8, "orange": 1.0, field: marker}})
    else:
        data = scenario(sku={field: marker})
    return text(data).replace(f'"{marker}"', literal)


def many_skus(n: int) -> str:
    data = scenario()
    data["skus"] = [{**SKU, "sku_id": f"s{i}"} for i in range(n)]
    return text(data)


# (file text, the field the one line must name)
BAD_FILES: dict[str, tuple[Callable[[], str], str]] = {
    "nesting 100,000 deep": (lambda: nested(100_000), "events.0.note.0.0.0"),
    "nesting 65 deep (parses, still refused)": (lambda: nested(65), "events.0.note.0.0.0"),
    "lead time Infinity": (lambda: raw_number("lead_time_days", "Infinity"), "skus.0.lead_time_days"),
    "lead time -Infinity": (lambda: raw_number("lead_time_days", "-Infinity"), "skus.0.lead_time_days"),
    "lead time NaN": (lambda: raw_number("lead_time_days", "NaN"), "skus.0.lead_time_days"),
    "lead time 1e308": (lambda: raw_number("lead_time_days", "1e308"), "skus.0.lead_time_days"),
    "lead time 1e999 (inf)": (lambda: raw_number("lead_time_days", "1e999"), "skus.0.lead_time_days"),
    "ratio 1e-200": (lambda: raw_number("red", "1e-200", "ratio"), "skus.0.tier_ratios.red"),
    "ratio 41-digit string": (
        lambda: raw_number("red", '"1.' + "0" * 39 + '1"', "ratio"),
        "skus.0.tier_ratios.red",
    ),
    "ratio 41-digit number": (
        lambda: raw_number("red", "1." + "0" * 39 + "1", "ratio"),
        "skus.0.tier_ratios.red",
    ),
    "ratio not a number": (lambda: raw_number("red", '"twelve"', "ratio"), "skus.0.tier_ratios.red"),
    "ratio NaN string": (lambda: raw_number("red", '"NaN"', "ratio"), "skus.0.tier_ratios.red"),
    "ratio Infinity": (lambda: raw_number("red", "Infinity", "ratio"), "skus.0.tier_ratios.red"),
    "ratio 1e300": (lambda: raw_number("red", "1e300", "ratio"), "skus.0.tier_ratios.red"),
    "on_hand 10**40": (lambda: text(scenario(sku={"on_hand": HUGE})), "skus.0.on_hand"),
    "on_hand 5000 digits": (lambda: raw_number("on_hand", "9" * 5000), "skus.0.on_hand"),
    "held 10**40": (lambda: text(scenario(sku={"on_hand": HUGE, "held": HUGE})), "skus.0.on_hand"),
    "forecast 10**40": (lambda: text(scenario(sku={"forecast": HUGE})), "skus.0.forecast"),
    "quota 10**40": (
        lambda: text(scenario(sku={"platform_quotas": {"douyin": HUGE}})),
        "skus.0.platform_quotas.douyin",
    ),
    "hold_minutes 10**40": (lambda: text(scenario(sku={"hold_minutes": HUGE})), "skus.0.hold_minutes"),
    "pack_size 10**40": (lambda: text(scenario(sku={"pack_size": HUGE})), "skus.0.pack_size"),
    "alert cooldown 10**40": (
        lambda: text(scenario(sku={"alerts": {"cooldown_minutes": HUGE}})),
        "skus.0.alerts.cooldown_minutes",
    ),
    "session in year 1": (
        lambda: text(scenario(session={"starts_at": "0001-01-01T00:00:00+08:00"})),
        "session.starts_at",
    ),
    "session in year 9999": (
        lambda: text(
            scenario(
                session={"starts_at": "9999-12-31T20:00:00-23:59", "ends_at": "9999-12-31T23:59:59-23:59"}
            )
        ),
        "session.starts_at",
    ),
    "a 100-year session": (
        lambda: text(scenario(session={"ends_at": "2126-12-01T21:00:00+08:00"})),
        "ends_at",
    ),
    "a 49-hour session": (
        lambda: text(scenario(session={"ends_at": "2026-12-03T21:00:00+08:00"})),
        "ends_at",
    ),
    "201 SKUs": (lambda: many_skus(201), "skus"),
}


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.json"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_exits_2_with_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    make, field = BAD_FILES[case]
    path = write(tmp_path, make())
    code = cli.main(["replay", str(path), "--json", str(tmp_path / "report.json"), "--no-picture", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert field in lines[0] and lines[0].startswith(f"stockpulse: {path}: ")
    assert "Traceback" not in captured.err and not captured.out
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize("case", ["nesting 100,000 deep", "a 100-year session", "on_hand 10**40"])
def test_the_installed_command_exits_2_without_a_traceback(tmp_path: Path, case: str) -> None:
    make, field = BAD_FILES[case]
    path = write(tmp_path, make())
    script = Path(sys.executable).with_name("stockpulse")
    done = subprocess.run(
        [str(script), "replay", str(path), "--no-picture", "--quiet"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and field in done.stderr
    assert "Traceback" not in done.stderr


def test_the_bounds_themselves_are_accepted() -> None:
    """The limits are inclusive: a 48-hour session, a billion units, ratios to six decimals."""
    sku = {"on_hand": 10**9, "held": 10**9, "forecast": 10**9, "lead_time_days": 365, "pack_size": 100_000,
           "platform_quotas": {"douyin": 10**9},
           "tier_ratios": {"yellow": "0.010000", "orange": 99.999999, "red": 100}}  # fmt: skip
    data = scenario(session={"ends_at": "2026-12-03T20:00:00+08:00"}, sku=sku)
    data["skus"] += [{**SKU, "sku_id": f"s{i}"} for i in range(2, 201)]
    plan = parse_scenario(json.loads(text(data))).plan
    assert len(plan.skus) == 200 and plan.skus[0].tier_ratios.orange == Decimal("99.999999")


def test_an_exact_ratio_is_read_as_written(tmp_path: Path) -> None:
    """1.1 means 11/10; a decimal a float would round (twenty digits) is refused, never rounded."""
    path = write(tmp_path, raw_number("red", "1.25", "ratio"))
    assert load_scenario(path).plan.skus[0].tier_ratios.red == Decimal("1.25")
    path = write(tmp_path, raw_number("red", "1.0000000000000000001", "ratio"))
    with pytest.raises(ScenarioError, match=r"skus\.0\.tier_ratios\.red"):
        load_scenario(path)


# -- bad events inside a well-formed file: one `invalid` each, exit 0, quickly ------------------------
BAD_EVENTS: dict[str, dict[str, Any]] = {
    "quantity 10**40": order("bad", "2026-12-01T20:10:00+08:00", quantity=HUGE),
    "quantity Infinity": order("bad", "2026-12-01T20:10:00+08:00", quantity=float("inf")),
    "quantity NaN": order("bad", "2026-12-01T20:10:00+08:00", quantity=float("nan")),
    "quantity 1e308": order("bad", "2026-12-01T20:10:00+08:00", quantity=1e308),
    "occurred_at not a time": order("bad", "2026-13-01T20:10:00+08:00"),
}
# Far outside its session: the runner never walks its clock there (no hang); the handler's bound
# on event times (issue 11 item 1, branch issue11-ledger) makes it `invalid`.
FAR_EVENTS: dict[str, dict[str, Any]] = {
    "an event in 2030 in a one-hour session": order("bad", "2030-06-01T20:10:00+08:00"),
    "an event in year 1": order("bad", "0001-01-01T00:00:00+08:00"),
    "an event in year 9999": order("bad", "9999-12-31T23:59:59-23:59"),
    "an event 25 hours after the session": order("bad", "2026-12-02T22:00:01+08:00"),
}


SESSION_WALK_MS = 2 * 3_600_000  # the one-hour session (61 runs) with room; a walk to the far event: years


def replay_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bad: dict[str, Any]
) -> dict[str, Any]:
    events = [order("e1", "2026-12-01T20:05:00+08:00"), bad]
    path = write(tmp_path, text(scenario(events=events)))
    report_path = tmp_path / "report.json"
    minutes: list[int] = []  # the scheduled runs' instants: the runner's clock walk
    invoke = replay._invoke

    def counting(module: ModuleType, event: dict[str, Any], name: str) -> Any:
        if name == "threshold_evaluator":
            minutes.append(epoch_ms(parse_instant(event["time"])))
        return invoke(module, event, name)

    monkeypatch.setattr(replay, "_invoke", counting)
    argv = ["replay", str(path), "--backend", "moto", "--json", str(report_path), "--no-picture", "--quiet"]
    code = cli.main(argv)
    assert code == 0, capsys.readouterr().err
    # A one-hour session: the clock walks its minutes (and the holds' ends after it), never to the
    # far event's time.
    assert minutes and max(minutes) - min(minutes) <= SESSION_WALK_MS, (len(minutes), max(minutes))
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    assert list(report["orders"]) == ["o-e1"]
    return report


@pytest.mark.parametrize("case", list(BAD_EVENTS))
def test_a_bad_event_in_a_good_file_is_one_invalid_rejection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    report = replay_with(tmp_path, capsys, monkeypatch, BAD_EVENTS[case])
    assert report["events"] == {"processed": 1, "duplicate": 0, "rejected": {"invalid": 1}}
    assert report["orders"]["o-e1"] in {"reserved", "sold", "expired"}


@pytest.mark.parametrize("case", list(FAR_EVENTS))
def test_an_event_far_outside_the_session_does_not_move_the_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    assert not parse_scenario(scenario(events=[FAR_EVENTS[case]])).events[0].parsed  # malformed to the runner
    report = replay_with(tmp_path, capsys, monkeypatch, FAR_EVENTS[case])
    counts = report["events"]
    assert counts["processed"] + counts["duplicate"] + sum(counts["rejected"].values()) == 2


@pytest.mark.parametrize("case", ["an event in 2030 in a one-hour session"])
def test_an_event_far_outside_the_session_is_one_invalid_rejection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    report = replay_with(tmp_path, capsys, monkeypatch, FAR_EVENTS[case])
    assert report["events"] == {"processed": 1, "duplicate": 0, "rejected": {"invalid": 1}}

"""`stockpulse replay`: exit codes and messages, the report file, the live output, the picture."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from stockpulse_local import cli
from stockpulse_local.progress import MessagePrinter, ProgressBar
from stockpulse_local.report import Report
from stockpulse_local.scenario import parse_scenario
from stockpulse_local.summary import render_summary
from stockpulse_local.timeline import OutcomeLog, Sample, Timeline

GOOD_SESSION = {
    "session_id": "tiny",
    "starts_at": "2026-12-01T20:00:00+08:00",
    "ends_at": "2026-12-01T20:05:00+08:00",
}
GOOD_SKU = {"sku_id": "s1", "name": "Tiny cake", "on_hand": 5, "forecast": 5, "dynamic": False}


def event(event_id: str, kind: str, second: int, **fields: Any) -> dict[str, Any]:
    base = {
        "event_id": event_id,
        "type": kind,
        "occurred_at": f"2026-12-01T20:00:{second:02d}+08:00",
        "session_id": "tiny",
        "sku_id": "s1",
        "platform": "douyin",
    }
    return {**base, **fields}


TINY_EVENTS = [
    event("e1", "order.created", 5, order_id="o1", quantity=2),
    event("e2", "order.created", 6, order_id="o2", quantity="2"),  # malformed: invalid, file still fine
    event("e3", "order.paid", 9, order_id="o1"),
    event("e3", "order.paid", 9, order_id="o1"),  # resent
    event("e4", "order.created", 12, order_id="o3", quantity=2),  # consumption 4 >= 0.8 x 5: yellow
]


def write(tmp_path: Path, data: Any, name: str = "scenario.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


# -- files refused whole: exit 2, the field named --------------------------------------------------
BAD_FILES: dict[str, tuple[Any, str]] = {
    "session id missing": (
        {
            "session": {k: v for k, v in GOOD_SESSION.items() if k != "session_id"},
            "skus": [GOOD_SKU],
            "events": [],
        },
        "session.session_id",
    ),
    "start without offset": (
        {"session": {**GOOD_SESSION, "starts_at": "2026-12-01T20:00:00"}, "skus": [GOOD_SKU], "events": []},
        "session.starts_at",
    ),
    "session ends before it starts": (
        {
            "session": {**GOOD_SESSION, "ends_at": "2026-12-01T19:00:00+08:00"},
            "skus": [GOOD_SKU],
            "events": [],
        },
        "ends_at",
    ),
    "forecast zero": (
        {"session": GOOD_SESSION, "skus": [{**GOOD_SKU, "forecast": 0}], "events": []},
        "skus.0.forecast",
    ),
    "on_hand as a string": (
        {
            "session": GOOD_SESSION,
            "skus": [GOOD_SKU, {**GOOD_SKU, "sku_id": "s2", "on_hand": "5"}],
            "events": [],
        },
        "skus.1.on_hand",
    ),
    "skus not a list": ({"session": GOOD_SESSION, "skus": {"s1": GOOD_SKU}, "events": []}, "skus"),
    "skus missing": ({"session": GOOD_SESSION, "events": []}, "skus: missing"),
    "events missing": ({"session": GOOD_SESSION, "skus": [GOOD_SKU]}, "events: missing"),
    "events not a list": (
        {"session": GOOD_SESSION, "skus": [GOOD_SKU], "events": {"e1": {}}},
        "events: must be a list",
    ),
    "not JSON": ('{"session": {', "not JSON"),
    "not an object": ("[1, 2, 3]", "JSON object"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_file_that_does_not_validate_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    data, field = BAD_FILES[case]
    path = write(tmp_path, data)
    report = tmp_path / "report.json"
    code = cli.main(["replay", str(path), "--json", str(report), "--no-picture"])
    err = capsys.readouterr().err
    assert code == 2
    assert field in err and str(path) in err
    assert not report.exists()


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["replay", str(tmp_path / "nope.json"), "--no-picture"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_session_load_validates_exactly_as_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, field = BAD_FILES["forecast zero"]
    path = write(tmp_path, data)
    code = cli.main(["session", "load", str(path), "--endpoint-url", "http://127.0.0.1:9", "--table", "t"])
    assert code == 2 and field in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["replay", "x.json", "--backend", "oracle"])
    assert exited.value.code == 2


def test_a_state_directory_needs_dynamodb_local(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {"session": GOOD_SESSION, "skus": [GOOD_SKU], "events": []})
    state = str(tmp_path / "state")
    code = cli.main(["replay", str(path), "--backend", "moto", "--state-dir", state, "--no-picture"])
    assert code == 1 and "--backend dynamodb-local" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()


# -- one tiny replay through the command line ------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("tiny")
    path = write(tmp, {"session": GOOD_SESSION, "skus": [GOOD_SKU], "events": TINY_EVENTS})
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        mp.setattr("sys.stderr", err)
        code = cli.main(
            [
                "replay",
                str(path),
                *("--backend", "moto"),
                "--json",
                str(tmp / "report.json"),
                "--picture",
                str(tmp / "pic" / "sale.png"),
            ]
        )
    return {"code": code, "out": out.getvalue(), "err": err.getvalue(), "dir": tmp}


def test_a_malformed_event_inside_a_valid_file_is_one_invalid_rejection(tiny_run: dict[str, Any]) -> None:
    assert tiny_run["code"] == 0
    report = json.loads((tiny_run["dir"] / "report.json").read_text(encoding="utf-8"))
    assert report["events"] == {"processed": 3, "duplicate": 1, "rejected": {"invalid": 1}}
    assert report["orders"] == {"o1": "sold", "o3": "reserved"}  # o2 never had a valid creation
    assert report["skus"]["s1"] == {
        "on_hand": 5,
        "held": 0,
        "reserved": 2,
        "sold": 2,
        "available": 1,
        "tier": "yellow",  # consumption 4 >= 0.8 x 5, < 1.0 x 5
        "paused": False,
        "alerts": [{"tier": "yellow", "at": "2026-12-01T12:00:12Z"}],
    }
    assert "invalid event #1: quantity" in tiny_run["out"]  # the summary names the index and field


def test_the_summary_and_the_paths_are_printed(tiny_run: dict[str, Any]) -> None:
    out = tiny_run["out"]
    assert "s1  Tiny cake" in out and "tier YELLOW" in out
    assert "on_hand 5  held 0  reserved 2  sold 2  available 1" in out
    assert "alerts    yellow 20:00:12" in out  # in the session's own offset
    assert "rejected  invalid 1" not in out  # an unreadable event belongs to no SKU
    assert "events    5 = processed 3 + duplicate 1 + rejected 1 (invalid 1)" in out
    assert f"report   {tiny_run['dir'] / 'report.json'}" in out
    assert f"picture  {tiny_run['dir'] / 'pic' / 'sale.png'}" in out


def test_stderr_that_is_not_a_terminal_gets_no_bar_but_the_final_line(tiny_run: dict[str, Any]) -> None:
    err = tiny_run["err"]
    assert "\r" not in err
    assert "replay: 5 events in" in err and "events/s) on moto" in err
    assert "YELLOW alert  s1  (available" in err  # the message as it went out, with its ledger
    assert "-> big screen" in err and "【黄色预警】" in err  # who got it, and what they read


def test_the_picture_is_a_png_and_an_offline_html(tiny_run: dict[str, Any]) -> None:
    png = tiny_run["dir"] / "pic" / "sale.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = png.with_suffix(".html").read_text(encoding="utf-8")
    assert "<svg" in page and "mousemove" in page and 'data-sku="s1"' in page
    assert "http://" not in page and "https://" not in page and "<script src" not in page


def test_quiet_prints_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {"session": GOOD_SESSION, "skus": [GOOD_SKU], "events": TINY_EVENTS[:1]})
    assert cli.main(["replay", str(path), "--backend", "moto", "--quiet", "--no-picture"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("replay: 1 events in")


def test_replay_serve_shows_any_scenario_on_the_big_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`replay FILE --serve` is rehearse's big screen for a user's own file: the page's API answers
    while the sale runs and after it, on the replay's virtual clock; --speed paces it."""
    from stockpulse_local import serve

    path = write(tmp_path, {"session": GOOD_SESSION, "skus": [GOOD_SKU], "events": TINY_EVENTS})
    servers: list[serve.LocalServer] = []
    seen: list[dict[str, Any]] = []
    slept: list[float] = []
    start_server = serve.start_server

    def start(*args: Any, **kwargs: Any) -> serve.LocalServer:
        servers.append(start_server(*args, **kwargs))
        return servers[-1]

    def look_then_leave() -> None:  # instead of waiting for Ctrl-C: read what the page reads
        request = urllib.request.Request(
            f"{servers[0].base_url}/api/sessions/tiny/skus",
            headers={"Authorization": f"Bearer {servers[0].token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            seen.append(json.load(answer))

    monkeypatch.setattr(serve, "start_server", start)
    monkeypatch.setattr(cli, "_wait_for_interrupt", look_then_leave)
    monkeypatch.setattr(cli.time, "sleep", slept.append)  # the pacing asks; no wall time passes

    code = cli.main(["replay", str(path), "--backend", "moto", "--serve", "--speed", "0.001", "--no-picture"])

    assert code == 0
    err = capsys.readouterr().err
    assert f"big screen: {servers[0].url}" in err and "(speed x0.001)" in err
    assert servers[0].session_id == "tiny"
    (view,) = seen
    assert view["as_of_ms"] == 1_796_126_700_000  # 20:05+08:00, the session's end: the virtual clock
    assert view["skus"][0]["ledger"] | {"on_hand": 5} == {
        "on_hand": 5, "held": 0, "reserved": 2, "sold": 2, "available": 1,
    }  # fmt: skip
    assert slept and set(slept) == {5.0}  # 0.001 virtual s per s: every batch waits its longest
    with pytest.raises(OSError):  # stopped once the command returns
        urllib.request.urlopen(servers[0].base_url + "/", timeout=2)


@pytest.mark.parametrize("speed", ["0", "-1", "nan"])
def test_a_speed_must_be_above_zero(speed: str, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["replay", "x.json"], ["rehearse"]):
        with pytest.raises(SystemExit) as exited:
            cli.main([*command, "--serve", "--speed", speed])
        assert exited.value.code == 2 and "above 0" in capsys.readouterr().err


# -- the pieces, without a replay ------------------------------------------------------------------
class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_redraws_in_place_on_a_terminal() -> None:
    now = [0.0]
    stream = FakeTTY()
    bar = ProgressBar(total=10, stream=stream, monotonic=lambda: now[0])
    now[0] = 1.0
    bar.update(4, 1_795_600_000_000)  # drawn
    now[0] = 1.05
    bar.update(5)  # 50 ms later: not redrawn
    bar.message("  ALERT")
    now[0] = 2.0
    bar.update(10)
    bar.finish()
    text = stream.getvalue()
    before_alert = text.split("  ALERT")[0]
    assert "4/10 " in before_alert and "5/10 " not in before_alert
    assert "\r" in before_alert and "  ALERT\n" in text
    assert "10/10 " in text
    assert text.endswith("replay: 10 events in 2.0 s (5.0 events/s)\n")


def test_a_quiet_bar_writes_only_the_final_line() -> None:
    stream = FakeTTY()
    bar = ProgressBar(total=3, stream=stream, quiet=True)
    bar.update(3)
    bar.message("hidden")
    bar.finish("done")
    assert stream.getvalue() == "done\n"


def test_the_console_prints_each_message_once_with_who_got_it_and_the_sms() -> None:
    from datetime import UTC, datetime

    from stockpulse.domain.alerts import AlertNotice, NoticeKind
    from stockpulse.domain.tiers import Tier
    from stockpulse_local.channels import Routing

    def notice(alert_id: str, sku_id: str, tier: Tier) -> AlertNotice:
        return AlertNotice(
            alert_id=alert_id, kind=NoticeKind.ALERT, session_id="tiny", sku_id=sku_id, sku_name="Cake",
            importance="core", tier=tier, previous_tier=Tier.NONE, at=datetime(2026, 12, 1, tzinfo=UTC),
            on_hand=5, held=0, reserved=4, sold=0, available=1, first_of_tier=True,
            text_zh="【红色预警】Cake", sms_zh="【红色预警】Cake 可售1",
        )  # fmt: skip

    printer = MessagePrinter(Routing.from_template())
    # Two SKUs in the same second are two messages (the old watcher keyed them by time and tier).
    sent = {"a": notice("a", "s1", Tier.RED), "b": notice("b", "s2", Tier.RED)}
    assert [n.alert_id for n in printer.fresh(sent)] == ["a", "b"]
    assert printer.fresh(sent) == []
    text = printer.describe(sent["a"])
    assert "RED alert  s1  (available 1, reserved 4, sold 0)" in text
    assert "-> big screen · IM · SMS · e-mail · supply chain" in text
    assert "【红色预警】Cake" in text and "SMS: 【红色预警】Cake 可售1" in text
    step = sent["a"].model_copy(
        update={"kind": NoticeKind.RESOLVED, "tier": Tier.ORANGE, "previous_tier": Tier.RED}
    )
    assert "stepped down red->orange  s1" in printer.describe(step)
    back = step.model_copy(update={"tier": Tier.NONE})
    assert "resolved red->none  s1" in printer.describe(back)


def test_the_lines_follow_the_effective_forecast() -> None:
    sample = Sample(0, 3, 2, 5, 10, 0, 10.0, 6, (0.8, 1.0, 1.2), "none", False)
    assert sample.consumption == 5
    assert sample.effective_forecast == pytest.approx(15.0)  # 10 + 6 / 1.2
    assert sample.line("yellow") == pytest.approx(12.0)
    assert sample.line("red") == pytest.approx(18.0)


def test_the_summary_lists_rejections_per_sku() -> None:
    scenario = parse_scenario({"session": GOOD_SESSION, "skus": [GOOD_SKU], "events": TINY_EVENTS})
    log = OutcomeLog()
    log.rejected[("s1", "insufficient_stock")] = 2
    log.rejected[("ghost", "unknown_sku")] = 1
    final = dict.fromkeys(("on_hand", "held", "reserved", "sold", "available"), 0)
    final |= {"tier": "red", "paused": True, "alerts": [{"tier": "red", "at": "2026-12-01T12:01:00Z"}]}
    events = {"processed": 2, "duplicate": 0, "rejected": {"insufficient_stock": 2, "unknown_sku": 1}}
    report = Report.model_validate(
        {
            "skus": {"s1": final},
            "orders": {"o1": "sold"},
            "events": events,
            "invariant_violations": 0,
            "messages": [],
        }
    )
    text = render_summary(report, scenario, outcomes=log)
    assert "tier RED     PAUSED" in text
    assert "alerts    red 20:01:00" in text
    assert "rejected  insufficient_stock 2" in text
    assert "unknown SKUs: ghost" in text
    assert "0 violations, ok" in text
    assert Timeline(scenario).samples["s1"][0].available == 5


def test_the_default_backend_falls_back_to_moto_where_dynamodb_local_cannot_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tiny_run: dict[str, Any],
) -> None:
    """No `--backend`: DynamoDB Local is not installed here, so the runner says so, replays on
    moto, and writes the report `--backend moto` wrote."""
    monkeypatch.setenv("STOCKPULSE_DYNAMODB_LOCAL_DIR", str(tmp_path / "nothing"))
    path = write(tmp_path, {"session": GOOD_SESSION, "skus": [GOOD_SKU], "events": TINY_EVENTS})
    assert cli.main(["replay", str(path), "--json", str(tmp_path / "report.json"), "--no-picture"]) == 0
    err = capsys.readouterr().err
    assert "stockpulse: backend embedded moto (DynamoDB Local is not installed" in err
    assert "events/s) on moto" in err
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report == json.loads((tiny_run["dir"] / "report.json").read_text(encoding="utf-8"))

"""The runner on DynamoDB Local (the real engine): the same reports as on moto, and the
production path `session load` -> events through the handlers -> `session status`."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stockpulse_local import cli
from stockpulse_local.dynamodb_local import DynamoDBLocal
from stockpulse_local.rehearse import RehearsalOptions, generate
from stockpulse_local.replay import REGION, Backend, Replay, Stack, replay
from stockpulse_local.review import REFUSED_STATUSES
from stockpulse_local.scenario import parse_scenario
from stockpulse_local.template_tables import create_tables
from stockpulse_local.timeline import OutcomeLog

# A short, busy show: holds expire, payments come late, a platform resends, the best seller
# pauses itself on red, ops restock and resume; dynamic thresholds on (the evaluator's minutes).
OPTIONS = RehearsalOptions(shape="instant-peak", skus=2, events=150, minutes=20, seed=11)
LEDGER_FIELDS = ("on_hand", "held", "reserved", "sold", "available", "tier", "paused")


def write_scenario(directory: Path) -> tuple[Path, dict[str, Any]]:
    data = generate(OPTIONS)
    path = directory / "scenario.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path, data


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        mp.setattr("sys.stderr", err)
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_dynamodb_local_agrees_with_moto(
    dynamodb_local: DynamoDBLocal, ledger_table: tuple[str, str], tmp_path: Path
) -> None:
    """One test, so the moto replay runs once (under xdist a shared fixture runs once per worker):
    1. `replay` with the default backend picks DynamoDB Local (Java and its jar are here, as
       integration tests require) and gives the report the embedded backend gives;
    2. `session load` -> the events through the handlers -> `session status` agree with it."""
    scenario_file, data = write_scenario(tmp_path)
    moto_report = replay(parse_scenario(data)).model_dump(mode="json")  # as written
    # The scenario is not trivial: these are the paths both engines have to agree on.
    assert {"expired", "sold"} <= set(moto_report["orders"].values())
    assert moto_report["events"]["duplicate"] > 0
    assert any(s["alerts"] for s in moto_report["skus"].values())

    report_path = tmp_path / "report.json"
    code, _, err = run_cli(
        "replay",
        str(scenario_file),
        "--json",
        str(report_path),
        "--no-picture",
    )
    assert code == 0, err
    assert "backend DynamoDB Local (Java and its jar are here)" in err and "on dynamodb-local" in err
    assert json.loads(report_path.read_text(encoding="utf-8")) == moto_report

    check_session_load(dynamodb_local, ledger_table, scenario_file, data, moto_report, tmp_path)


# -- production: session load, events through the handlers, session status --------------------
@pytest.fixture
def ledger_table(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[str, str]]:
    prefix = f"runner-{uuid.uuid4().hex[:8]}-"
    tables = create_tables(dynamodb_local.client(), prefix, enable_ttl=False)
    yield prefix, tables["LedgerTable"]


def check_session_load(
    dynamodb_local: DynamoDBLocal,
    ledger_table: tuple[str, str],
    scenario_file: Path,
    data: dict[str, Any],
    moto_report: dict[str, Any],
    tmp_path: Path,
) -> None:
    prefix, table = ledger_table
    where = ("--endpoint-url", dynamodb_local.endpoint_url, "--table", table)
    session_id = data["session"]["session_id"]

    code, out, err = run_cli("session", "load", str(scenario_file), *where)
    assert code == 0, err
    assert f"session {session_id} loaded" in out and "2 SKUs" in out

    code, out, _ = run_cli("session", "load", str(scenario_file), *where)  # the same file again
    assert code == 0 and "already loaded" in out

    changed = tmp_path / "changed.json"
    data_changed = {**data, "skus": [{**data["skus"][0], "forecast": 999}, *data["skus"][1:]]}
    changed.write_text(json.dumps(data_changed), encoding="utf-8")
    code, _, err = run_cli("session", "load", str(changed), *where)  # a live session: refused whole
    assert code == 1 and "already has a different plan" in err and "--overwrite" in err
    code, out, _ = run_cli("session", "status", session_id, *where, "--json")
    assert json.loads(out)["skus"][data["skus"][0]["sku_id"]]["forecast"] == data["skus"][0]["forecast"]

    # The platforms' events, through the same order_stream / expiry / evaluator handlers.
    with mock_aws():
        creds = {"region_name": REGION, "aws_access_key_id": "local", "aws_secret_access_key": "local"}
        backend = Backend(
            dynamodb_local.client(), boto3.client("sns", **creds), boto3.client("sqs", **creds), "x"
        )
        stack = Stack.create(backend, prefix=prefix)  # the same table: created already, reused
        assert stack.store.table_name == table
        outcomes = OutcomeLog()
        handled = Replay(parse_scenario(data), stack, load_session=False, on_outcome=outcomes.record).run()
    assert handled.events.model_dump() == moto_report["events"]

    code, out, err = run_cli("session", "status", session_id, *where, "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["session_id"] == session_id
    for sku_id, want in moto_report["skus"].items():
        got = status["skus"][sku_id]
        assert {k: got[k] for k in LEDGER_FIELDS} == {k: want[k] for k in LEDGER_FIELDS}, sku_id
        assert set(got) >= {"forecast", "velocity_per_minute", "sell_out_eta_minutes", "restock_quantity"}
        assert got["forecast"] > 0

    code, out, _ = run_cli("session", "status", session_id, *where)  # the table for people
    assert code == 0
    for sku_id, want in moto_report["skus"].items():
        line = next(x for x in out.splitlines() if x.startswith(sku_id))
        assert f" {want['sold']} " in line and want["tier"] in line

    # The review read back from the engine's table (the session's orders by a Scan): what the
    # replay on that table reported, SKU by SKU.
    code, out, err = run_cli("session", "status", session_id, *where, "--review", str(tmp_path / "live"))
    assert code == 0, err
    with (tmp_path / "live" / "review.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = {r["sku_id"]: r for r in csv.DictReader(f)}
    refused = 0
    for sku_id, want in handled.skus.items():
        row = rows[sku_id]
        assert int(row["sold"]) == want.sold and int(row["reserved"]) == want.reserved, sku_id
        assert len([t for t in row["tiers"].split("; ") if t]) == len(want.alerts), sku_id
        # The replay's own log of refused orders, of those that never got their units.
        by_reason = outcomes.units_for_sku(sku_id, lambda o: handled.orders.get(o) in REFUSED_STATUSES)
        for reason in ("insufficient_stock", "sku_paused", "quota_exceeded"):
            assert int(row[f"refused_{reason}"]) == by_reason.get(reason, 0), (sku_id, reason)
        refused += int(row["refused_units"])
        sent = [m for m in handled.messages if m.sku_id == sku_id]
        for channel in ("feed", "im", "sms", "email", "supply_chain"):
            assert int(row[f"messages_{channel}"]) == sum(channel in m.channels for m in sent), channel
    assert refused > 0  # the rehearsal turned buyers away: the Scan found them

    code, _, err = run_cli("session", "status", "no-such-session", *where)
    assert code == 1 and "no session no-such-session" in err

    code, out, err = run_cli("session", "load", str(changed), *where, "--overwrite")  # told to
    assert code == 0, err
    assert "reloaded (stock overwritten)" in out
    assert "orders already recorded for this session are kept" in err  # the hazard, said aloud
    code, out, _ = run_cli("session", "status", session_id, *where, "--json")
    reloaded = json.loads(out)["skus"][data["skus"][0]["sku_id"]]
    assert reloaded["forecast"] == 999 and reloaded["sold"] == 0

"""A replay on DynamoDB Local's files outlives its runner: killed mid-replay and started again, it
resumes from its last checkpoint and ends with the report of an uninterrupted replay.

Two ways to stop it: SIGKILL of the real `stockpulse` process (the file backend, the java child
and the checkpoint as they are on disk), and a deterministic stop right after a chosen
transaction applied, in the middle of a batch whose checkpoint was never written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stockpulse import wiring
from stockpulse_local.dynamodb_local import PID_FILE, DynamoDBLocal
from stockpulse_local.rehearse import RehearsalOptions, generate
from stockpulse_local.replay import REGION, Backend, Checkpoint, Replay, Stack, replay
from stockpulse_local.report import Report
from stockpulse_local.scenario import Scenario, parse_scenario

# Busy enough for many batches: holds expire, payments come late, a platform resends, restocks.
OPTIONS = RehearsalOptions(shape="multi-platform", skus=3, events=400, minutes=30, seed=5)
STOCKPULSE = Path(sys.executable).with_name("stockpulse")


@pytest.fixture(scope="module")
def sale(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Scenario, Report]:
    data = generate(OPTIONS)
    path = tmp_path_factory.mktemp("sale") / "sale.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    scenario = parse_scenario(data)
    return path, scenario, replay(scenario)  # uninterrupted, on moto


def events_done(state: Path) -> int:
    try:
        return int(json.loads((state / "checkpoint.json").read_text())["events_done"])
    except (OSError, ValueError, KeyError):
        return 0


def running(pid: int) -> bool:
    """A live process (a zombie awaiting its reaper has an empty command line)."""
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return False


def test_killed_twice_then_run_again_gives_the_uninterrupted_report(
    sale: tuple[Path, Scenario, dict[str, Any]], tmp_path: Path
) -> None:
    path, scenario, expected = sale
    total = len(scenario.events)
    state, report = tmp_path / "state", tmp_path / "report.json"
    command = [str(STOCKPULSE), "replay", str(path), "--backend", "dynamodb-local", "--state-dir", str(state)]
    command += ["--json", str(report), "--no-picture", "--quiet"]
    for stop_after in (total // 4, total // 2):
        runner = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while events_done(state) < stop_after and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runner.poll() is None, f"the runner ended before it was stopped: {runner.stderr!r}"
        java = int((state / "dynamodb" / PID_FILE).read_text())
        runner.kill()  # SIGKILL: no clean-up of any kind
        runner.wait(timeout=30)
        assert stop_after <= events_done(state) < total
        # Its DynamoDB Local goes with it (the next start would also reap it).
        deadline = time.monotonic() + 20
        while running(java) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(java)
        assert not report.exists()

    finished = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(report.read_text(encoding="utf-8")) == expected.model_dump(mode="json")
    assert events_done(state) == total

    again = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr  # a finished replay resumed: nothing left to do
    assert json.loads(report.read_text(encoding="utf-8")) == expected.model_dump(mode="json")


class Stopped(BaseException):
    """The runner's process ending (not an error any handler could catch and retry)."""


class StopsAfter:
    """A DynamoDB client whose process stops right after its n-th call of `operation` that
    `counts` has applied (default: the n-th transaction)."""

    def __init__(
        self,
        client: Any,
        n: int,
        operation: str = "transact_write_items",
        counts: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> None:
        self._client = client
        self._n = n
        self._operation = operation
        self._counts = counts
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != self._operation:
            return method

        def call(**kwargs: Any) -> Any:
            result = method(**kwargs)
            if self._counts(kwargs):
                self.calls += 1
                if self.calls == self._n:
                    raise Stopped
            return result

        return call


def stops_after_announcing(client: Any, n: int) -> StopsAfter:
    """Stops right after the n-th announcement was published and its pending slot cleared: the
    message is out, the table keeps it as told, and the batch's checkpoint (with the feed drained
    into it) was never written."""
    return StopsAfter(
        client, n, "update_item", lambda kw: "REMOVE pending_alert" in kw.get("UpdateExpression", "")
    )


CREDS = {"region_name": REGION, "aws_access_key_id": "local", "aws_secret_access_key": "local"}


@pytest.fixture
def prefix() -> Iterator[str]:
    """The tables of one stopped-and-resumed replay; the wiring it installed is cleared after."""
    try:
        yield f"resume-{uuid.uuid4().hex[:8]}-"
    finally:
        wiring.install(None)


def run_until_stopped(scenario: Scenario, client: StopsAfter, checkpoint: Path, prefix: str) -> Replay:
    """A first process: the replay on the stopping client, with its own SNS and SQS."""
    with mock_aws():
        sns, sqs = boto3.client("sns", **CREDS), boto3.client("sqs", **CREDS)
        first = Replay(
            scenario,
            Stack.create(Backend(client, sns, sqs, "dynamodb-local"), prefix=prefix),
            checkpoint_path=checkpoint,
        )
        with pytest.raises(Stopped):
            first.run()
    return first


def run_again(
    scenario: Scenario, dynamodb_local: DynamoDBLocal, checkpoint: Path, prefix: str
) -> tuple[Replay, dict[str, Any]]:
    """A new process: fresh SNS and SQS, the same tables and checkpoint."""
    with mock_aws():
        sns, sqs = boto3.client("sns", **CREDS), boto3.client("sqs", **CREDS)
        stack = Stack.create(Backend(dynamodb_local.client(), sns, sqs, "dynamodb-local"), prefix=prefix)
        second = Replay(scenario, stack, checkpoint_path=checkpoint)
        return second, second.run()


def test_stopped_right_after_an_announcement_keeps_its_message(
    sale: tuple[Path, Scenario, dict[str, Any]], dynamodb_local: DynamoDBLocal, tmp_path: Path, prefix: str
) -> None:
    """The report's messages outlive the runner's in-process feed queue (the message journal)."""
    _, scenario, expected = sale
    assert [m for m in expected.messages if m.kind != "pre_show"], "the sale announces something"
    checkpoint = tmp_path / "checkpoint.json"
    run_until_stopped(scenario, stops_after_announcing(dynamodb_local.client(), 1), checkpoint, prefix)
    assert run_again(scenario, dynamodb_local, checkpoint, prefix)[1] == expected


@pytest.mark.parametrize("stop_at", [30, 110])
def test_stopped_inside_a_batch_resumes_counting_each_event_once(
    sale: tuple[Path, Scenario, dict[str, Any]],
    dynamodb_local: DynamoDBLocal,
    tmp_path: Path,
    prefix: str,
    stop_at: int,
) -> None:
    _, scenario, expected = sale
    checkpoint = tmp_path / "checkpoint.json"
    first = run_until_stopped(scenario, StopsAfter(dynamodb_local.client(), stop_at), checkpoint, prefix)
    saved = Checkpoint.load(checkpoint, scenario)
    assert saved is not None and saved.events_done == first.events_done  # inside a batch
    # ... and events of that batch had applied: their ids are remembered on their orders.
    done = {e.parsed.event_id for e in scenario.events[: saved.events_done] if e.parsed}
    after = [e.parsed for e in scenario.events[saved.events_done :] if e.parsed and e.parsed.order_id]
    store = first.stack.store
    assert any(
        e.event_id not in done and e.event_id in store.order_memory(e.session_id, str(e.order_id)).events
        for e in after[:100]
    )
    second, report = run_again(scenario, dynamodb_local, checkpoint, prefix)
    assert second.resumed_at == saved.events_done
    assert report == expected


def test_a_state_directory_holds_one_scenario(
    sale: tuple[Path, Scenario, dict[str, Any]], tmp_path: Path
) -> None:
    _, scenario, _ = sale
    other = parse_scenario({**generate(OPTIONS), "events": []})
    path = tmp_path / "checkpoint.json"
    Checkpoint(scenario=Checkpoint.digest(scenario), events_done=5).save(path)
    assert Checkpoint.load(path, scenario) is not None
    with pytest.raises(Exception, match="another scenario"):
        Checkpoint.load(path, other)
    assert os.listdir(tmp_path) == ["checkpoint.json"]  # saved atomically: no partial file left

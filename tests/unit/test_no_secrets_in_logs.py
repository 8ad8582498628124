"""Secrets never reach the logs, even at DEBUG.

A small rehearsal runs through the real handlers on moto (orders with a malformed and an oversized
record, expiries, the per-minute evaluator, a TTL removal, the dashboard) and every alert it
publishes is routed by AlertRouterFunction to IM robots whose webhook URLs carry tokens and whose
parameters carry signing secrets, stored as SecureStrings in (moto) SSM - the way they are
deployed. Robots are a real HTTP server on 127.0.0.1. With POWERTOOLS_LOG_LEVEL=DEBUG (and the root
logger at DEBUG, as AWS_LAMBDA_LOG_LEVEL=DEBUG would set it) everything printed and every log
record is collected, and none may contain a token, a secret, a signature or a robot URL.

The rehearsal is tests/rehearsal.py's (the IAM-sufficiency test runs it too); the robots are
robots.py's `FakeRobots`, which `robots_for_router()` lets the replay's alert router reach.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from rehearsal import Rehearsal
from robots import robots_for_router

# ------------------------------------------------------------------------------- capturing logs


class _Everything(logging.Handler):
    """Every record with all its attributes (message, args, extra fields, exception text)."""

    def __init__(self, sink: io.StringIO) -> None:
        super().__init__(level=logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        text = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        self.sink.write(json.dumps(record.__dict__, default=str) + " " + record.getMessage() + text + "\n")


@contextmanager
def all_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """DEBUG everywhere our code logs; every StreamHandler's output and every record, collected."""
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    sink = io.StringIO()
    everything = _Everything(sink)
    loggers = [logging.getLogger()] + [
        logging.getLogger(name)
        for name in list(logging.Logger.manager.loggerDict)
        if isinstance(logging.Logger.manager.loggerDict[name], logging.Logger)
    ]
    saved_levels = {lg.name: lg.level for lg in loggers}
    saved_streams: list[tuple[logging.StreamHandler[Any], Any]] = []
    for lg in loggers:
        for h in lg.handlers:
            # Powertools binds sys.stdout when a Logger is created (possibly under another test's
            # capture): point every stream handler at what this test collects.
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                saved_streams.append((h, h.stream))
                h.stream = sink  # not setStream(): it flushes the old stream, maybe a closed capture
        if lg.name.startswith("stockpulse") or lg is logging.getLogger():
            lg.setLevel(logging.DEBUG)
        if not lg.propagate or lg is logging.getLogger():
            lg.addHandler(everything)
    # The fake AWS is not under test: moto's own DEBUG lines echo the requests the test makes.
    logging.getLogger("moto").setLevel(logging.WARNING)
    try:
        yield sink
    finally:
        for lg in loggers:
            if everything in lg.handlers:
                lg.removeHandler(everything)
            lg.setLevel(saved_levels[lg.name])
        logging.getLogger("moto").setLevel(saved_levels.get("moto", logging.NOTSET))
        for h, stream in saved_streams:
            h.stream = stream


# ------------------------------------------------------------------------------- the test


def test_a_rehearsal_with_robots_logs_no_secret(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    with robots_for_router() as robots, Rehearsal(monkeypatch, robots) as rehearsal:
        # The router keeps botocore (which logs response bodies, i.e. decrypted parameters, at
        # DEBUG) at INFO whatever the root level: part of what is under test.
        assert logging.getLogger("botocore").getEffectiveLevel() >= logging.INFO
        with all_logs(monkeypatch) as sink:
            report = rehearsal.run()
            routed = rehearsal.route_alerts()
            ttl = rehearsal.ttl_removal()
            views = rehearsal.dashboard()
    printed = capfd.readouterr()
    logs = sink.getvalue() + printed.out + printed.err

    # The rehearsal did what it should, so the logs are worth reading.
    assert report.invariant_violations == 0
    assert report.events.rejected.get("invalid", 0) == 2  # the malformed and the oversized record
    assert report.events.duplicate >= 1
    assert routed >= 1 and all(r["failed"] == 0 and r["delivered"] >= 1 for r in rehearsal.routed)
    assert {r.platform for r in robots.requests} == {
        "dingtalk",
        "wecom",
        "feishu",
        "slack",
    }
    assert ttl == {"batchItemFailures": []}
    assert all(v["statusCode"] == 200 for v in views), [v["statusCode"] for v in views]
    assert (
        '"level":"DEBUG"' in logs.replace(" ", "")
        or "'levelname': 'DEBUG'" in logs
        or '"levelname": "DEBUG"' in logs
    )
    assert "invalid event rejected" in logs and "alert routed to IM robots" in logs

    leaked = sorted(s for s in robots.secrets() if s and s in logs)
    assert not leaked, f"secrets in the logs: {leaked}"
    # Whatever the wording: no token-bearing query or path fragment at all.
    for fragment in ("access_token=", "sign=", "key=wkey", "/hook/fhook", "/services/T0/B0/"):
        assert fragment not in logs, fragment
    # Decoded the way a log reader might: base64 of a secret is as good as the secret.
    for secret in (robots.credentials.ding_secret, robots.credentials.feishu_secret):
        assert base64.b64encode(secret.encode()).decode() not in logs

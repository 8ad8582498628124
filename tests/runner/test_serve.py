"""stockpulse_local.serve: the page and the dashboard API on 127.0.0.1 behind a random token."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, quote, urlsplit
from urllib.request import Request, urlopen

import pytest

from stockpulse.adapters.clock import VirtualClock
from stockpulse.domain.events import epoch_ms, parse_instant
from stockpulse.domain.session import SessionPlan
from stockpulse_local.replay import Stack, open_backend
from stockpulse_local.serve import LocalServer, NotLoopback, http_api_event, start_server

SESSION = "live-1"
T0 = epoch_ms(parse_instant("2026-11-25T20:00:00Z"))
PLAN = SessionPlan.model_validate(
    {
        "session": {
            "session_id": SESSION,
            "starts_at": "2026-11-25T20:00:00Z",
            "ends_at": "2026-11-25T22:00:00Z",
        },
        "skus": [{"sku_id": "tea", "name": "龙井", "on_hand": 20, "forecast": 10}],
    }
)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with open_backend() as backend:
        stack = Stack.create(backend)
        stack.store.load_session(PLAN)
        running = start_server(stack.store, session_id=SESSION, clock=VirtualClock(T0 + 60_000))
        try:
            yield running
        finally:
            running.stop()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    try:
        with urlopen(Request(url, headers=headers or {}), timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as err:
        return err.code, dict(err.headers), err.read()


def body(data: bytes) -> Any:
    return json.loads(data.decode())


# ---------------------------------------------------------------------------------- the token
def test_api_without_or_with_a_wrong_token_is_401(server: LocalServer) -> None:
    url = f"{server.base_url}/api/sessions/{SESSION}"
    for headers, query in [
        ({}, ""),
        ({"Authorization": "Bearer wrong"}, ""),
        ({"Authorization": f"Basic {server.token}"}, ""),
        ({}, "?token=wrong"),
        ({}, "?token="),
        ({"Authorization": "Bearer "}, ""),
    ]:
        status, response_headers, data = get(url + query, headers)
        assert status == 401, (headers, query)
        assert response_headers["WWW-Authenticate"].startswith("Bearer")
        assert "token" in body(data)["message"]
    assert get(f"{server.base_url}/api/config")[0] == 401


def test_api_with_the_token_as_bearer_or_query(server: LocalServer) -> None:
    url = f"{server.base_url}/api/sessions/{SESSION}"
    status, headers, data = get(url, {"Authorization": f"Bearer {server.token}"})
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    view = body(data)
    assert view["session_id"] == SESSION and view["as_of_ms"] == T0 + 60_000  # the server's clock
    assert get(url, {"authorization": f"bearer {server.token}"})[0] == 200  # any case, as HTTP says
    status, _, data = get(f"{url}/skus?token={quote(server.token)}")
    assert status == 200 and body(data)["skus"][0]["ledger"]["available"] == 20
    status, _, data = get(f"{server.base_url}/api/config?token={quote(server.token)}")
    assert status == 200 and body(data) == {"session_id": SESSION}


def test_the_handlers_answers_pass_through(server: LocalServer) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}
    status, _, data = get(f"{server.base_url}/api/sessions/{SESSION}/alerts?limit=0", auth)
    assert status == 400 and body(data)["field"] == "limit"
    status, _, data = get(f"{server.base_url}/api/sessions/{SESSION}/alerts?limit=5", auth)
    assert status == 200 and body(data) == {"session_id": SESSION, "limit": 5, "alerts": []}
    assert get(f"{server.base_url}/api/sessions/nope/skus", auth)[0] == 404
    assert get(f"{server.base_url}/api/sessions/{SESSION}/skus/nope", auth)[0] == 404
    assert get(f"{server.base_url}/api/nothing/here", auth)[0] == 404


def test_concurrent_page_refreshes(server: LocalServer) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}
    results: list[int] = []

    def poll() -> None:
        for path in ("", "/skus", "/alerts"):
            results.append(get(f"{server.base_url}/api/sessions/{SESSION}{path}", auth)[0])

    threads = [threading.Thread(target=poll) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [200] * 12


# ---------------------------------------------------------------------------------- the page
def test_the_page_and_its_files_are_served_without_a_token(server: LocalServer) -> None:
    status, headers, data = get(f"{server.base_url}/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = data.decode()
    assert "app.js" in page and "node_modules/uplot/dist/uPlot.iife.min.js" in page
    assert "default-src 'self'" in headers["Content-Security-Policy"]  # no CDN, nothing external
    assert headers["Referrer-Policy"] == "no-referrer"
    for path, kind in [
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/node_modules/uplot/dist/uPlot.iife.min.js", "text/javascript"),
        ("/node_modules/uplot/dist/uPlot.min.css", "text/css"),
    ]:
        status, headers, data = get(server.base_url + path)
        assert status == 200, f"{path}: run `npm ci --prefix dashboard` (make browser)"
        assert headers["Content-Type"].startswith(kind) and data


def test_only_the_pages_files(server: LocalServer) -> None:
    for path in [
        "/package.json",
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/node_modules/",
        "/serve.py",
    ]:
        assert get(server.base_url + path)[0] == 404, path


def test_the_url_carries_the_token_and_the_session(server: LocalServer) -> None:
    split = urlsplit(server.url)
    assert split.hostname == "127.0.0.1" and split.port == server.port
    assert parse_qs(split.query) == {"token": [server.token], "session": [SESSION]}
    assert len(server.token) >= 32


# ---------------------------------------------------------------------------------- set-up
def test_binds_loopback_only_and_makes_a_new_token_each_time(server: LocalServer) -> None:
    with pytest.raises(NotLoopback):
        start_server(object(), host="0.0.0.0")  # type: ignore[arg-type]
    # /api/config never reads the store: a stand-in is enough for a second and third server.
    first = start_server(object(), host="localhost")  # type: ignore[arg-type]
    second = start_server(object(), token="chosen-token")  # type: ignore[arg-type]
    try:
        assert len({server.token, first.token, second.token}) == 3 and second.token == "chosen-token"
        assert first.host == "127.0.0.1" and len({server.port, first.port, second.port}) == 3
        assert "session=" not in first.url
        status, _, data = get(f"{first.base_url}/api/config?token={quote(first.token)}")
        assert status == 200 and body(data) == {"session_id": None}
        assert get(f"{second.base_url}/api/config?token={quote(server.token)}")[0] == 401
    finally:
        first.stop()
        second.stop()


def test_events_are_http_api_v2_without_the_local_token() -> None:
    event = http_api_event(
        method="GET",
        path="/sessions/%E9%BE%99/skus/tea",
        query=[("token", "secret"), ("limit", "3"), ("x", "1"), ("x", "2")],
        headers={"Authorization": "Bearer secret", "User-Agent": "test", "Host": "127.0.0.1:1"},
        source_ip="127.0.0.1",
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /sessions/{session_id}/skus/{sku_id}"
    assert event["pathParameters"] == {"session_id": "龙", "sku_id": "tea"}
    assert event["rawQueryString"] == "limit=3&x=1&x=2"
    assert event["queryStringParameters"] == {"limit": "3", "x": "1,2"}
    assert "authorization" not in event["headers"] and event["headers"]["user-agent"] == "test"
    assert "secret" not in json.dumps(event)
    assert event["requestContext"]["http"]["method"] == "GET"

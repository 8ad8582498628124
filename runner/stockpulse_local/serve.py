"""`stockpulse serve`: the big-screen page and the dashboard API on 127.0.0.1, like a notebook server.

One ThreadingHTTPServer in a background thread:
- `/` and the page's files (dashboard/index.html, app.js, style.css and the pinned uPlot build
  from dashboard/node_modules, installed by `npm ci --prefix dashboard`): no CDN, works offline;
- `/api/sessions/...`: turned into API Gateway HTTP API (payload v2) events and handed to the very
  same `functions/dashboard_api` handler Lambda runs; `/api/config` tells the page which session
  to show.

In AWS the JWT authorizer guards the API. Here a random access token does: every `/api/` call
needs `Authorization: Bearer <token>` or `?token=<token>`, else 401. The page itself holds no
data and is served without it; `LocalServer.url` carries the token for the page to use. The
server binds a loopback address only.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from stockpulse import dashboard
from stockpulse.dashboard import DashboardReader
from stockpulse.ports import Clock, DashboardStore
from stockpulse_local.replay import ACCOUNT, REPO_ROOT, LambdaContext, load_handler

log = logging.getLogger("stockpulse.serve")

DASHBOARD_DIR = REPO_ROOT / "dashboard"
API_PREFIX = "/api"

# The page's files: an allow-list, never a directory walk.
STATIC_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/node_modules/uplot/dist/uPlot.iife.min.js": (
        "node_modules/uplot/dist/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
    ),
    "/node_modules/uplot/dist/uPlot.min.css": (
        "node_modules/uplot/dist/uPlot.min.css",
        "text/css; charset=utf-8",
    ),
}

# template.yaml's routes (DashboardApiFunction events), for the events' routeKey / pathParameters.
ROUTES: list[tuple[str, re.Pattern[str]]] = [
    (template, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"))
    for template in (
        "/sessions/{session_id}",
        "/sessions/{session_id}/skus",
        "/sessions/{session_id}/skus/{sku_id}",
        "/sessions/{session_id}/alerts",
    )
]

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the page's address carries the token
    "Cache-Control": "no-cache",
}

# One request at a time through the handler: Powertools' resolver keeps the current event on the
# app object, and the reader is installed process-wide.
_invoke_lock = threading.Lock()


class NotLoopback(ValueError):
    """`stockpulse serve` only listens on this machine."""


@dataclass
class LocalServer:
    """A running server. `url` opens the page with the token; `stop()` shuts it down."""

    host: str
    port: int
    token: str
    session_id: str | None
    _httpd: ThreadingHTTPServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        query = {"token": self.token}
        if self.session_id:
            query["session"] = self.session_id
        return f"{self.base_url}/?{urlencode(query, quote_via=quote)}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    store: DashboardStore,
    *,
    session_id: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    clock: Clock | None = None,
    dashboard_dir: Path | None = None,
) -> LocalServer:
    """Serve the page and the dashboard API for `store` in a background thread.

    `clock`: the instant the views call "now" (a replay passes its virtual clock; without one the
    views use the evaluator's latest write). `port=0` picks a free port. `token=None` makes a
    random one (secrets.token_urlsafe).
    """
    _check_loopback(host)
    token = token or secrets.token_urlsafe(24)
    handler_module = load_handler("dashboard_api")
    app = _App(
        reader=DashboardReader(store, clock),
        invoke=handler_module.handler,
        token=token,
        session_id=session_id,
        static_dir=(dashboard_dir or DASHBOARD_DIR).resolve(),
    )
    httpd = _Server((host, port), _RequestHandler)
    httpd.app = app
    thread = threading.Thread(target=httpd.serve_forever, name="stockpulse-serve", daemon=True)
    thread.start()
    bound_host, bound_port = httpd.server_address[:2]
    return LocalServer(
        host=str(bound_host),
        port=int(bound_port),
        token=token,
        session_id=session_id,
        _httpd=httpd,
        _thread=thread,
    )


def _check_loopback(host: str) -> None:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None, socket.AF_INET)}
    except socket.gaierror as err:
        raise NotLoopback(f"cannot resolve {host!r}: {err}") from None
    for address in addresses:
        if not ipaddress.ip_address(address).is_loopback:
            raise NotLoopback(f"{host!r} is not a loopback address: the dashboard serves 127.0.0.1 only")


@dataclass
class _App:
    reader: DashboardReader
    invoke: Any
    token: str
    session_id: str | None
    static_dir: Path

    def authorized(self, headers: Mapping[str, str], query: list[tuple[str, str]]) -> bool:
        offered: list[str] = []
        for name, value in headers.items():
            if name.lower() == "authorization" and value[:7].lower() == "bearer ":
                offered.append(value[7:].strip())
        offered.extend(v for k, v in query if k == "token")
        expected = self.token.encode()
        return any(hmac.compare_digest(o.encode(), expected) for o in offered)

    def call_api(
        self,
        *,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        source_ip: str,
    ) -> dict[str, Any]:
        event = http_api_event(method=method, path=path, query=query, headers=headers, source_ip=source_ip)
        with _invoke_lock:
            dashboard.install(self.reader)
            try:
                result: dict[str, Any] = self.invoke(event, LambdaContext("dashboard_api"))
                return result
            finally:
                dashboard.install(None)


def http_api_event(
    *, method: str, path: str, query: list[tuple[str, str]], headers: Mapping[str, str], source_ip: str
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as the JWT-authorized API would send it.

    `path` is the raw (percent-encoded) path without the /api prefix. The local token is never
    passed on: neither the `token` query parameter nor the Authorization header.
    """
    query = [(k, v) for k, v in query if k != "token"]
    route_key, path_parameters = "$default", None
    for template, pattern in ROUTES:
        match = pattern.match(path)
        if match:
            route_key = f"{method} {template}"
            path_parameters = {k: unquote(v) for k, v in match.groupdict().items()}
            break
    now_ms = time.time_ns() // 1_000_000
    lowered = {k.lower(): v for k, v in headers.items() if k.lower() not in {"authorization", "cookie"}}
    multi: dict[str, list[str]] = {}
    for k, v in query:
        multi.setdefault(k, []).append(v)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode(query, quote_via=quote),
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "authorizer": {"jwt": {"claims": {"sub": "local-token"}, "scopes": None}},
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": False,
    }
    if multi:
        # As API Gateway does: repeated parameters are joined with commas.
        event["queryStringParameters"] = {k: ",".join(v) for k, v in multi.items()}
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: _App

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser closing a polling connection early is routine, not an error worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        log.exception("request from %s failed", client_address[0])


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "stockpulse"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        query = parse_qsl(split.query, keep_blank_values=True)
        path = split.path
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            self._api(path[len(API_PREFIX) :] or "/", query)
        elif path in STATIC_FILES:
            self._static(*STATIC_FILES[path])
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", {})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"statusCode": 404, "message": "Not found"})

    def _api(self, path: str, query: list[tuple[str, str]]) -> None:
        app = self.server.app
        if not app.authorized({k: v for k, v in self.headers.items()}, query):
            self._json(
                HTTPStatus.UNAUTHORIZED,
                {"statusCode": 401, "message": "Unauthorized: a valid access token is required"},
                {"WWW-Authenticate": 'Bearer realm="stockpulse"'},
            )
            return
        if path == "/config":
            self._json(HTTPStatus.OK, {"session_id": app.session_id})
            return
        try:
            result = app.call_api(
                method="GET",
                path=path,
                query=query,
                headers={k: v for k, v in self.headers.items()},
                source_ip=self.client_address[0],
            )
        except Exception:  # the page keeps its last numbers and polls again
            log.exception("dashboard handler failed for %s", path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"statusCode": 500, "message": "Internal error"})
            return
        body = result.get("body") or ""
        data = body.encode() if isinstance(body, str) else bytes(body)
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        self._send(int(result.get("statusCode", 200)), data, headers)

    def _static(self, relative: str, content_type: str) -> None:
        file = self.server.app.static_dir / relative
        try:
            data = file.read_bytes()
        except OSError:
            hint = "run `npm ci --prefix dashboard` (make bootstrap)" if "node_modules" in relative else ""
            self._json(
                HTTPStatus.NOT_FOUND, {"statusCode": 404, "message": f"{relative} missing {hint}".strip()}
            )
            return
        self._send(HTTPStatus.OK, data, {"Content-Type": content_type, **PAGE_HEADERS})

    def _json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self._send(
            status, data, {"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})}
        )

    def _send(self, status: int, data: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet by default (the page polls every few seconds); never log the query (the token).
        log.debug("%s %s", self.command, urlsplit(self.path).path)

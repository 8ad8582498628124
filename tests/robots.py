"""The one fake IM robot server: DingTalk, WeCom, Feishu and Slack on 127.0.0.1, routed by the
first path segment, recording every request and answering from a per-platform script.

Used by test_webhooks.py (the adapter), test_alert_router.py (the router handler) and
test_no_secrets_in_logs.py (the rehearsal, shared with test_template_security.py and
test_fuzz_handlers.py). Import it as `from robots import ...`, like `support`.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stockpulse.adapters.webhooks import RobotConfig

OK_BODY = {
    "dingtalk": b'{"errcode":0,"errmsg":"ok"}',
    "wecom": b'{"errcode":0,"errmsg":"ok"}',
    "feishu": b'{"code":0,"msg":"success","data":{}}',
    "slack": b"ok",
}


@dataclass(frozen=True)
class Credentials:
    """What the robots' URLs and signing secrets carry."""

    ding_token: str
    ding_secret: str
    wecom_key: str
    feishu_hook: str
    feishu_secret: str
    slack_token: str

    @classmethod
    def unique(cls) -> Credentials:
        """Credentials no other instance has (so a leak search cannot match by chance)."""
        tag = uuid.uuid4().hex[:12]
        return cls(f"dtok{tag}", f"SECdsec{tag}", f"wkey{tag}", f"fhook{tag}", f"fsec{tag}", f"stok{tag}")

    def all(self) -> tuple[str, ...]:
        return tuple(astuple(self))


@dataclass
class Captured:
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    body: bytes = field(repr=False)

    @property
    def platform(self) -> str:
        return self.path.strip("/").split("/")[0]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    echo: bool = False  # answer with the request's own path, query and body (a hostile echo)


class FakeRobots:
    """One server for all four platforms, routed by the first path segment; serving from creation
    until close() (or the end of a `with` block)."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        self.credentials = credentials or Credentials.unique()
        self.requests: list[Captured] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                captured = Captured(
                    parts.path,
                    urllib.parse.parse_qs(parts.query),
                    parts.query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                reply = fake._next(captured)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload = self.path.encode() + b" " + body if reply.echo else reply.body
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out first

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the request line carries tokens: keep it out of captured output

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def __enter__(self) -> FakeRobots:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self, captured: Captured) -> Reply:
        with self._lock:
            self.requests.append(captured)
            script = self._scripts.get(captured.platform)
            if script:
                return script.pop(0) if len(script) > 1 else script[0]
        return Reply(200, OK_BODY.get(captured.platform, b"ok"))

    def script(self, platform: str, *replies: Reply) -> None:
        """Replies in order; the last one repeats."""
        with self._lock:
            self._scripts[platform] = list(replies)

    def to(self, platform: str) -> list[Captured]:
        return [r for r in self.requests if r.platform == platform]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ robots at this server
    def url(self, platform: str) -> str:
        c = self.credentials
        return {
            "dingtalk": f"{self.base}/dingtalk/robot/send?access_token={c.ding_token}",
            "wecom": f"{self.base}/wecom/cgi-bin/webhook/send?key={c.wecom_key}",
            "feishu": f"{self.base}/feishu/open-apis/bot/v2/hook/{c.feishu_hook}",
            "slack": f"{self.base}/slack/services/T0/B0/{c.slack_token}",
        }[platform]

    def dingtalk(self, **kw: Any) -> RobotConfig:
        secret = kw.pop("secret", self.credentials.ding_secret)
        return RobotConfig("dingtalk", self.url("dingtalk"), secret, name="shop/ding", **kw)

    def wecom(self, **kw: Any) -> RobotConfig:
        return RobotConfig("wecom", self.url("wecom"), None, name="shop/wecom", **kw)

    def feishu(self, **kw: Any) -> RobotConfig:
        secret = kw.pop("secret", self.credentials.feishu_secret)
        return RobotConfig("feishu", self.url("feishu"), secret, name="shop/feishu", **kw)

    def slack(self, **kw: Any) -> RobotConfig:
        return RobotConfig("slack", self.url("slack"), None, name="shop/slack", **kw)

    def parameters(self) -> dict[str, dict[str, Any]]:
        """One robot per platform as the router reads them from SSM (name -> JSON value)."""
        c = self.credentials
        return {
            "shop/dingtalk": {"platform": "dingtalk", "url": self.url("dingtalk"), "secret": c.ding_secret},
            "shop/wecom": {"platform": "wecom", "url": self.url("wecom")},
            "shop/feishu": {"platform": "feishu", "url": self.url("feishu"), "secret": c.feishu_secret},
            "ops/slack": {"platform": "slack", "url": self.url("slack")},
        }

    def secrets(self) -> set[str]:
        """Every credential, every robot URL (of parameters()), and every signature the robots were sent."""
        found = set(self.credentials.all())
        for robot in self.parameters().values():
            url = robot["url"]
            found |= {url, json.dumps(robot)}
        for r in list(self.requests):
            path = r.path + (f"?{r.raw_query}" if r.raw_query else "")
            for sign in r.query.get("sign", []):  # DingTalk: the signed URL
                found |= {sign, urllib.parse.quote_plus(sign), urllib.parse.quote(sign), path}
            if r.platform == "feishu":
                sign = r.json().get("sign")
                if sign:
                    found |= {sign, json.dumps(sign)}
        return found


@contextmanager
def robots_for_router() -> Iterator[FakeRobots]:
    """Robots the replay's alert router may reach: they are plain http on 127.0.0.1, which the
    router refuses unless its test-only module switch is on (on while the block runs)."""
    from stockpulse_local.replay import load_handler

    with FakeRobots() as robots:
        router = load_handler("alert_router")
        router.ALLOW_LOOPBACK_HTTP = True
        try:
            yield robots
        finally:
            router.ALLOW_LOOPBACK_HTTP = False

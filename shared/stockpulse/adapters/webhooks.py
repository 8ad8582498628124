"""IM group robots: per-platform payload, signing, posting with retries (DingTalk, WeCom, Feishu, Slack).

Everything here is pure or takes its side effects as arguments (`post`, `clock_ms`, `sleep`), so the
formats and the retry rules are tested against a real local HTTP server without waiting.

Secrets: a robot's `url` carries a token (DingTalk access_token, WeCom key, Feishu hook id, Slack
path) and `secret` signs requests. Neither, nor a signed URL, is ever logged or put in an exception
message: logs name the robot, its platform and its host only, and every reason text that could
echo a URL (transport errors, response bodies) goes through `_redact`.

Platform formats (custom robots):
- DingTalk: {"msgtype": "markdown", "markdown": {"title", "text"}}; with a secret, the URL gets
  `&timestamp=<ms>&sign=<urlencode(base64(HMAC-SHA256(key=secret, msg=f"{ts}\\n{secret}")))>`.
  Answers HTTP 200 with {"errcode": 0, "errmsg": "ok"}; errcode != 0 is a failure.
- WeCom: {"msgtype": "markdown", "markdown": {"content"}} (content at most 4096 bytes); the key is in
  the URL, no signing. Answers {"errcode": 0, ...}.
- Feishu/Lark: {"timestamp": "<s>", "sign": base64(HMAC-SHA256(key=f"{ts}\\n{secret}", msg=b"")),
  "msg_type": "text", "content": {"text"}}. Answers {"code": 0, ...} (older: {"StatusCode": 0}).
- Slack incoming webhook: {"text", "blocks"}; answers 200 "ok", errors as 4xx.

Untrusted text: a product name (and the ids and platform names) is typed by a shop. Every body is
rendered from `messages.for_markup(notice)`, in which those fields carry no line break and no
markdown, HTML or mention character (each becomes its full-width twin): a name cannot add a link,
an image, a heading, emphasis, a <font>/<at> tag or an @mention (DingTalk `@138...`/`@all`, WeCom
`<@userid>`, Feishu `<at user_id="all">`, Slack `<!channel>`/`<@U...>`).

Destinations (issue 11, item 9): a robot URL must be https to a public host. `parse_robot_config`
refuses other schemes, IP literals outside the public unicast space (loopback, private, link-local
such as 169.254.169.254, shared 100.64/10, unique-local, reserved, multicast, unspecified, in any
spelling `inet_aton` accepts), `localhost`, single-label names and names under `.localhost`,
`.local`, `.localdomain`, `.internal` or `.home.arpa`. At post time `urllib_post` resolves the
host itself, refuses it unless every address is public, and connects to the address it checked
(a DNS answer cannot swap in a private address between the check and the connection). Plain http
to the loopback exists for local fake robots only, behind an explicit `allow_loopback_http=True`
argument that nothing reads from configuration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import random
import socket
import ssl
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, cast, get_args

from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.messages import ID_MAX, for_markup, markup_safe, render
from stockpulse.domain.tiers import Tier

logger = logging.getLogger(__name__)

Platform = Literal["dingtalk", "wecom", "feishu", "slack"]
Lang = Literal["zh", "en"]
PLATFORMS: tuple[Platform, ...] = get_args(Platform)
DEFAULT_LANG: dict[Platform, Lang] = {"dingtalk": "zh", "wecom": "zh", "feishu": "zh", "slack": "en"}
# What a robot's `tiers` may name: the tiers a notice concerns (`AlertNotice.routing_tier`: for a
# resolution, the tier it resolves, so it reaches the robots that got the alert). "resolved" is
# still accepted from older parameters and keeps its old meaning: every resolution, too.
ROUTING_TIERS = frozenset({"yellow", "orange", "red"})
LEGACY_RESOLVED = "resolved"

# (url, body, headers) -> (HTTP status, response body). Raises OSError / http.client.HTTPException
# on transport failures (connection refused, reset, timeout), which are retried.
Post = Callable[[str, bytes, Mapping[str, str]], tuple[int, bytes]]

POST_TIMEOUT_S = 5.0
# Names that never lead to a public host (RFC 6761 / 6762 / 8375, cloud-internal zones).
_PRIVATE_NAME_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa")
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # NAT64: the last 32 bits are an IPv4 address
# Business error codes that mean "throttled, try again shortly" (retried like a 5xx); any other
# errcode/code != 0 is a permanent failure (bad signature, keyword missing, robot removed, ...).
_THROTTLE_CODES: dict[Platform, frozenset[int]] = {
    "dingtalk": frozenset({130101}),  # send too fast (20 messages / minute / robot)
    "wecom": frozenset({45009}),  # api freq out of limit (20 messages / minute / robot)
    "feishu": frozenset({11232}),  # frequency limited (100 / minute, 5 / second)
    "slack": frozenset(),
}
_WECOM_MAX_BYTES = 4096
_DINGTALK_MAX_BYTES = 18_000  # documented limit ~20 000 bytes for the whole message
_FEISHU_MAX_BYTES = 18_000  # request body at most 20 KB
_SLACK_SECTION_MAX = 3000
_SLACK_HEADER_MAX = 150
_REASON_MAX = 300


# ------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class RobotConfig:
    """One group robot. `url` and `secret` are credentials: kept out of repr and logs."""

    platform: Platform
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    lang: Lang | None = None  # None: the platform default (Chinese for the Chinese IMs, English for Slack)
    name: str = "robot"  # stable id (the SSM parameter name below the path); safe to log
    tiers: frozenset[str] | None = None  # routing tiers admitted; None: all that reach the function

    @property
    def effective_lang(self) -> Lang:
        return self.lang or DEFAULT_LANG[self.platform]

    @property
    def host(self) -> str:
        """The URL's host (and port): the only part of the URL that may be logged."""
        parts = urllib.parse.urlsplit(self.url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host


class RobotConfigError(ValueError):
    """A robot parameter that cannot be used. The message never contains the parameter's value."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"robot parameter {name!r}: {reason}")
        self.name = name
        self.reason = reason


def parse_robot_config(name: str, raw: str, *, allow_loopback_http: bool = False) -> RobotConfig:
    """A robot from its SSM parameter: JSON {"platform", "url", "secret"?, "tiers"?, "lang"?}.

    Hand-written validation on purpose: a pydantic/json error would quote the input (URL, secret).
    `allow_loopback_http` admits http://127.0.0.1 (local fake robots in tests); production never sets it.
    """
    try:
        data = json.loads(raw)
    except ValueError:
        raise RobotConfigError(name, "value is not JSON") from None
    if not isinstance(data, dict):
        raise RobotConfigError(name, "value is not a JSON object")
    platform = data.get("platform")
    if platform not in PLATFORMS:
        raise RobotConfigError(name, f"platform must be one of {', '.join(PLATFORMS)}")
    url = data.get("url")
    if not isinstance(url, str):
        raise RobotConfigError(name, "url must be a string")
    problem = url_problem(url, allow_loopback_http=allow_loopback_http)
    if problem:
        raise RobotConfigError(name, problem)
    secret = data.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise RobotConfigError(name, "secret must be a string or null")
    lang = data.get("lang")
    if lang is not None and lang not in get_args(Lang):
        raise RobotConfigError(name, "lang must be 'zh' or 'en'")
    tiers = data.get("tiers")
    tier_set: frozenset[str] | None = None
    if tiers is not None:
        if not isinstance(tiers, list) or not all(isinstance(t, str) for t in tiers):
            raise RobotConfigError(name, "tiers must be a list of strings")
        tier_set = frozenset(t.lower() for t in tiers)
        if not tier_set <= ROUTING_TIERS | {LEGACY_RESOLVED}:
            raise RobotConfigError(name, f"tiers may only name {', '.join(sorted(ROUTING_TIERS))}")
    return RobotConfig(
        platform=cast(Platform, platform),
        url=url,
        secret=secret or None,
        lang=cast("Lang | None", lang),
        name=name,
        tiers=tier_set,
    )


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address an IP literal host names, in any spelling the resolver would accept
    (`127.1`, `0x7f000001`, `2130706433`, `017700000001`); None for a name."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text and all(c in "0123456789abcdefx." for c in text.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global unicast only: no loopback, private, link-local (169.254.169.254), shared
    (100.64/10), unique-local (fc00::/7), site-local, reserved, multicast or unspecified address,
    nor an IPv6 address that embeds one (IPv4-mapped, 6to4, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        if address.is_site_local:
            return False
    elif address in _SHARED_ADDRESS_SPACE:
        return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _is_loopback_host(host: str) -> bool:
    address = _ip(host)
    return host == "localhost" or (address is not None and address.is_loopback)


def url_problem(url: str, *, allow_loopback_http: bool = False) -> str | None:
    """Why a robot URL cannot be used (a reason that never quotes the URL), or None.

    https to a public host only. A host given as an IP literal must be a public address; a name
    must have a dot and must not be `localhost` or end in a private-use suffix. With
    `allow_loopback_http` (tests only), http to 127.0.0.0/8, ::1 or localhost is admitted too.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "url is not a valid URL"
    if not parts.hostname:
        return "url has no host"
    # What the resolver will see: IDNA maps full-width and other compatibility forms to ASCII,
    # and the ideographic full stops to dots.
    host = unicodedata.normalize("NFKC", parts.hostname).lower()
    host = host.replace("\u3002", ".").replace("\uff61", ".").rstrip(".")
    scheme = parts.scheme.lower()
    if allow_loopback_http and scheme == "http" and _is_loopback_host(host):
        return None
    if scheme != "https":
        return "url must be https"
    address = _ip(host.strip("[]"))
    if address is not None:
        return None if is_public_address(address) else "url host is not a public address"
    if (
        not host
        or host == "localhost"
        or "." not in host
        or any(host.endswith(suffix) for suffix in _PRIVATE_NAME_SUFFIXES)
    ):
        return "url host is not a public name"
    return None


def routing_tier(notice: AlertNotice) -> str:
    """The tier a notice concerns, as SNS routes it (`AlertNotice.routing_tier`): for a
    resolution, the tier that was resolved, so it reaches the robots that got the alert."""
    return notice.routing_tier.value


def admits(robot: RobotConfig, notice: AlertNotice) -> bool:
    """Whether this robot takes this notice (SNS's filter policy already chose what reaches the
    router). A robot's `tiers` filter tiered notices by `routing_tier`; a notice without a tier
    (pre-show) goes to every robot; a selling-too-slowly tip is for the big screen's feed only."""
    if notice.kind is NoticeKind.SLOW:
        return False
    if robot.tiers is None or notice.routing_tier is Tier.NONE:
        return True
    if LEGACY_RESOLVED in robot.tiers and notice.kind is NoticeKind.RESOLVED:
        return True
    return routing_tier(notice) in robot.tiers


# ---------------------------------------------------------------------------------- messages
def im_texts(notice: AlertNotice, lang: Lang) -> tuple[str, str, str]:
    """(title, action, facts) in one language, from the markup-safe copy of the notice: every
    untrusted field in them is inert in markdown, HTML and mention syntax."""
    rendered = render(for_markup(notice))
    if lang == "zh":
        return rendered.title_zh, rendered.action_zh, rendered.facts_zh
    return rendered.title_en, rendered.action_en, rendered.facts_en


# ------------------------------------------------------------------------------ wire formats
def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), not yet URL-encoded."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()).decode()


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    sign = urllib.parse.quote_plus(dingtalk_sign(secret, timestamp_ms))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp_ms}&sign={sign}"


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's variant: the string-to-sign is the HMAC *key* and the message is empty."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def _truncate_bytes(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


def _truncate_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markup_id(text: str) -> str:
    return markup_safe(text, ID_MAX)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_request(
    robot: RobotConfig, notice: AlertNotice, *, now_ms: int
) -> tuple[str, bytes, dict[str, str]]:
    """(url to post to, JSON body, headers) for one robot at one instant. Pure.

    Every format shows the title, then the action (what to do), then the facts.
    """
    title, action, facts = im_texts(notice, robot.effective_lang)
    url = robot.url
    payload: dict[str, object]
    if robot.platform == "dingtalk":
        markdown = _truncate_bytes(f"#### {title}\n\n**{action}**\n\n{facts}", _DINGTALK_MAX_BYTES)
        payload = {"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}
        if robot.secret:
            url = dingtalk_signed_url(url, robot.secret, now_ms)
    elif robot.platform == "wecom":
        content = _truncate_bytes(f"**{title}**\n> {action}\n\n{facts}", _WECOM_MAX_BYTES)
        payload = {"msgtype": "markdown", "markdown": {"content": content}}
    elif robot.platform == "feishu":
        payload = {}
        if robot.secret:
            timestamp_s = now_ms // 1000
            payload = {"timestamp": str(timestamp_s), "sign": feishu_sign(robot.secret, timestamp_s)}
        payload |= {
            "msg_type": "text",
            "content": {"text": _truncate_bytes(f"{title}\n{action}\n{facts}", _FEISHU_MAX_BYTES)},
        }
    else:  # slack
        payload = {
            "text": _truncate_chars(_slack_escape(f"{title}\n{action} {facts}"), _SLACK_SECTION_MAX),
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": _truncate_chars(title, _SLACK_HEADER_MAX)},
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": _truncate_chars(_slack_escape(f"*{action}*\n{facts}"), _SLACK_SECTION_MAX),
                    },
                },
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": _slack_escape(
                                f"alert {markup_id(notice.alert_id)} · session {markup_id(notice.session_id)}"
                            ),
                        }
                    ],
                },
            ],
        }
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return url, body, {"Content-Type": "application/json; charset=utf-8"}


# ---------------------------------------------------------------------------------- delivery
class DeliveryFailed(Exception):
    """A robot did not take the alert after every allowed attempt (or at once, for a permanent error)."""

    def __init__(
        self, platform: str, status: int | None, reason: str, *, robot: str = "robot", attempts: int = 1
    ) -> None:
        super().__init__(
            f"{platform} robot {robot!r} failed after {attempts} attempt(s) (status={status}): {reason}"
        )
        self.platform = platform
        self.status = status
        self.reason = reason
        self.robot = robot
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay_s: float = 0.5  # before attempt 2; doubles each time
    max_delay_s: float = 8.0
    attempt_budget_ms: int = int(POST_TIMEOUT_S * 1000) + 1000  # time one more attempt may take

    def delay_s(self, failed_attempts: int, rand: Callable[[], float]) -> float:
        """Exponential backoff with equal jitter: half the step fixed, half random."""
        step = min(self.max_delay_s, self.base_delay_s * 2.0 ** (failed_attempts - 1))
        return step / 2 + rand() * step / 2


@dataclass(frozen=True)
class _Attempt:
    ok: bool
    retryable: bool
    status: int | None
    reason: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A robot endpoint never redirects legitimately; following would re-send the alert as a GET."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class RefusedDestination(ValueError):
    """A robot URL whose scheme or resolved address is not allowed. Never retried; its text names
    neither the URL nor the host."""


def _public_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, if all are public; RefusedDestination otherwise."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)  # OSError: retried
    addresses = [str(sockaddr[0]) for _, _, _, _, sockaddr in found]
    if not addresses:
        raise RefusedDestination("the robot host resolves to no address")
    if not all(is_public_address(ipaddress.ip_address(address)) for address in addresses):
        raise RefusedDestination("the robot host resolves to a non-public address")
    return addresses


_tls_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    """The default verifying TLS context, built on first use (not at import: cold starts)."""
    global _tls_context
    if _tls_context is None:
        _tls_context = ssl.create_default_context()
    return _tls_context


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the addresses checked public, with TLS still verified against the host name."""

    def __init__(
        self,
        host: str,
        /,
        *,
        port: int | None = None,
        timeout: float = POST_TIMEOUT_S,
        source_address: tuple[str, int] | None = None,
        blocksize: int = 8192,
    ) -> None:
        super().__init__(
            host,
            port=port,
            timeout=timeout,
            source_address=source_address,
            blocksize=blocksize,
            context=_tls(),
        )
        self._connect_timeout = timeout
        self._source = source_address

    def connect(self) -> None:
        if getattr(self, "_tunnel_host", None):  # the opener has no proxies; never tunnel blindly
            raise RefusedDestination("a proxy tunnel is not allowed for robots")
        port = self.port or 443
        error: OSError | None = None
        for address in _public_addresses(self.host, port):
            try:
                sock = socket.create_connection((address, port), self._connect_timeout, self._source)
            except OSError as exc:
                error = exc
                continue
            self.sock = _tls().wrap_socket(sock, server_hostname=self.host)
            return
        raise error or OSError("no address could be reached")


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPSConnection, req)


class _LoopbackOnlyHTTPHandler(urllib.request.HTTPHandler):
    """Plain http, only to the loopback, only when explicitly allowed (local fake robots)."""

    def __init__(self, allowed: bool) -> None:
        super().__init__()
        self._allowed = allowed

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        host = urllib.parse.urlsplit(req.full_url).hostname or ""
        if not (self._allowed and _is_loopback_host(host)):
            raise RefusedDestination("plain http is not allowed for robots")
        return super().http_open(req)


def make_urllib_post(timeout_s: float = POST_TIMEOUT_S, *, allow_loopback_http: bool = False) -> Post:
    """POST with urllib: https to public addresses only (checked at connect time), no redirects,
    no proxies. `allow_loopback_http=True` admits http to the loopback: tests' fake robots only."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _NoRedirect,
        _PublicHTTPSHandler(),
        _LoopbackOnlyHTTPHandler(allow_loopback_http),
    )

    def post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        if urllib.parse.urlsplit(url).scheme.lower() not in ("https", "http"):
            raise RefusedDestination("only https is allowed for robots")
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
        try:
            with opener.open(request, timeout=timeout_s) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:  # 3xx/4xx/5xx: an answer, not a transport failure
            with exc:
                return int(exc.code), bytes(exc.read())

    return post


urllib_post: Post = make_urllib_post()


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _url_parts(url: str) -> list[str]:
    parts = urllib.parse.urlsplit(url)
    found = [url, parts.path, parts.query]
    for pair in parts.query.split("&"):
        raw = pair.partition("=")[2]
        found += [raw, urllib.parse.unquote_plus(raw)]
    return found


def _redact(text: str, robot: RobotConfig, sent_url: str, sent_body: bytes) -> str:
    """Remove every credential-bearing string from a reason text, then bound its length.

    Covers the configured and the signed URL (whole, path, query, each query value raw and decoded),
    the secret, and Feishu's body signature, in case an endpoint echoes the request back.
    """
    sensitive = [*_url_parts(robot.url), *_url_parts(sent_url), robot.secret or ""]
    if robot.platform == "feishu" and robot.secret:
        sensitive.append(str(json.loads(sent_body).get("sign", "")))
    for value in sorted({s for s in sensitive if len(s) > 1}, key=len, reverse=True):
        text = text.replace(value, "***")
    return _truncate_chars(text.replace("\n", " "), _REASON_MAX)


def _judge(robot: RobotConfig, status: int, body: bytes) -> _Attempt:
    text = body.decode(errors="replace")
    code: object = None
    if robot.platform != "slack":
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            code = (
                answer.get("code", answer.get("StatusCode"))
                if robot.platform == "feishu"
                else answer.get("errcode")
            )
    throttled = isinstance(code, int) and code in _THROTTLE_CODES[robot.platform]
    if status == 429 or status == 408 or status >= 500 or throttled:
        return _Attempt(False, True, status, f"HTTP {status}: {text}")
    if not 200 <= status < 300:  # 3xx (redirects refused) and 4xx: retrying cannot help
        return _Attempt(False, False, status, f"HTTP {status}: {text}")
    if robot.platform == "slack":
        return _Attempt(True, False, status, "ok")
    if code == 0:
        return _Attempt(True, False, status, "ok")
    key = "code" if robot.platform == "feishu" else "errcode"
    if code is None:
        return _Attempt(False, False, status, f"unexpected answer without {key}: {text}")
    return _Attempt(False, False, status, f"{key}={code}: {text}")


def deliver(
    robot: RobotConfig,
    notice: AlertNotice,
    *,
    post: Post = urllib_post,
    clock_ms: Callable[[], int] = wall_clock_ms,
    sleep: Callable[[float], None] = time.sleep,
    policy: RetryPolicy = RetryPolicy(),  # frozen: a safe shared default
    rand: Callable[[], float] = random.random,
    time_left_ms: Callable[[], int] | None = None,
) -> int:
    """Post one alert to one robot; return the number of attempts it took.

    Retries 5xx, 408, 429, throttling error codes and transport errors (timeouts, refused or reset
    connections) with exponential backoff and jitter, up to `policy.max_attempts`, and stops early
    when `time_left_ms` (the Lambda's remaining time) could not fit another attempt. Any other 4xx,
    or a 200 whose body reports an error code, fails at once. Raises DeliveryFailed.
    """
    log_keys = {
        "robot": robot.name,
        "platform": robot.platform,
        "host": robot.host,
        "alert_id": notice.alert_id,
    }
    attempt = 0
    while True:
        attempt += 1
        url, body, headers = build_request(robot, notice, now_ms=clock_ms())  # re-signed per attempt
        try:
            status, answer = post(url, body, headers)
            outcome = _judge(robot, status, answer)
        except RefusedDestination as exc:  # not a public https host: retrying cannot help
            outcome = _Attempt(False, False, None, f"refused: {exc}")
        except (OSError, http.client.HTTPException) as exc:  # timeouts, refused/reset connections
            outcome = _Attempt(False, True, None, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # anything else is a bug or a bad URL; its text may quote the URL
            outcome = _Attempt(False, False, None, f"{type(exc).__name__}")
        if outcome.ok:
            logger.info("robot delivered", extra={**log_keys, "attempts": attempt, "status": outcome.status})
            return attempt
        reason = _redact(outcome.reason, robot, url, body)
        logger.warning(
            "robot delivery attempt failed",
            extra={
                **log_keys,
                "attempt": attempt,
                "status": outcome.status,
                "retryable": outcome.retryable,
                "reason": reason,
            },
        )
        if not outcome.retryable or attempt >= policy.max_attempts:
            raise DeliveryFailed(robot.platform, outcome.status, reason, robot=robot.name, attempts=attempt)
        delay = policy.delay_s(attempt, rand)
        if time_left_ms is not None and time_left_ms() < delay * 1000 + policy.attempt_budget_ms:
            raise DeliveryFailed(
                robot.platform,
                outcome.status,
                f"{reason} (no time left to retry)",
                robot=robot.name,
                attempts=attempt,
            )
        sleep(delay)


@dataclass(frozen=True)
class DeliveryResult:
    robot: RobotConfig
    error: DeliveryFailed | None = None
    attempts: int = 0
    skipped: bool = False  # this robot took this alert in an earlier invocation

    @property
    def ok(self) -> bool:
        return self.error is None


# Posts `post` to a robot at most once per alert: (alert_id, robot, post) -> (attempts, skipped).
# `robot_deliveries.RobotDeliveries.once` keeps that record across invocations.
Once = Callable[[str, RobotConfig, Callable[[], int]], tuple[int, bool]]


def deliver_all(
    robots: Iterable[RobotConfig],
    notice: AlertNotice,
    *,
    once: Once | None = None,
    max_workers: int = 8,
    post: Post = urllib_post,
    clock_ms: Callable[[], int] = wall_clock_ms,
    sleep: Callable[[float], None] = time.sleep,
    policy: RetryPolicy = RetryPolicy(),  # frozen: a safe shared default
    rand: Callable[[], float] = random.random,
    time_left_ms: Callable[[], int] | None = None,
) -> list[DeliveryResult]:
    """Deliver to every robot that admits the notice, in parallel (one slow robot must not delay the
    rest); with `once`, a robot that already took this alert (an earlier invocation) is skipped."""
    targets: Sequence[RobotConfig] = [r for r in robots if admits(r, notice)]

    def one(robot: RobotConfig) -> DeliveryResult:
        def post_it() -> int:
            return deliver(
                robot,
                notice,
                post=post,
                clock_ms=clock_ms,
                sleep=sleep,
                policy=policy,
                rand=rand,
                time_left_ms=time_left_ms,
            )

        try:
            attempts, skipped = (post_it(), False) if once is None else once(notice.alert_id, robot, post_it)
        except DeliveryFailed as exc:
            return DeliveryResult(robot, error=exc, attempts=exc.attempts)
        if skipped:
            logger.info(
                "robot already delivered; skipped",
                extra={"robot": robot.name, "platform": robot.platform, "alert_id": notice.alert_id},
            )
        return DeliveryResult(robot, attempts=attempts, skipped=skipped)

    if len(targets) <= 1:
        return [one(r) for r in targets]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(targets)), thread_name_prefix="robot") as pool:
        return list(pool.map(one, targets))

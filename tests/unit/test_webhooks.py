"""IM robot adapter against a real HTTP server on 127.0.0.1 playing DingTalk, WeCom, Feishu and Slack.

Signatures are recomputed here from the documented recipes, independently of the adapter's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import ipaddress
import json
import logging
import socket
import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from robots import OK_BODY, Credentials, FakeRobots, Reply
from support import make_notice

from stockpulse.adapters import webhooks
from stockpulse.adapters.robot_deliveries import RobotDeliveries
from stockpulse.adapters.webhooks import DeliveryFailed, RetryPolicy, RobotConfig
from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.messages import for_markup, render
from stockpulse.domain.tiers import Tier
from stockpulse_local.template_tables import create_tables

NOW_MS = 1_764_103_233_123  # 2025-11-25T20:40:33.123Z
DING_TOKEN, DING_SECRET = "ding-access-token-0001", "SECding-secret-0001"
WECOM_KEY = "wecom-key-0001"
FEISHU_HOOK, FEISHU_SECRET = "feishu-hook-0001", "feishu-secret-0001"
SLACK_TOKEN = "slack-token-0001"
SLACK_PATH = f"/services/T0/B0/{SLACK_TOKEN}"
ROBOT_CREDENTIALS = Credentials(DING_TOKEN, DING_SECRET, WECOM_KEY, FEISHU_HOOK, FEISHU_SECRET, SLACK_TOKEN)
CREDENTIALS = ROBOT_CREDENTIALS.all()


# --------------------------------------------------------------------------- fake platforms
@pytest.fixture
def robots() -> Iterator[FakeRobots]:
    with FakeRobots(ROBOT_CREDENTIALS) as fake:
        yield fake


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def log_capture() -> Iterator[io.StringIO]:
    """Every record of the stockpulse loggers at DEBUG, with all its attributes (extra keys too)."""
    stream = io.StringIO()

    class Everything(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            stream.write(json.dumps(record.__dict__, default=str) + " " + record.getMessage() + "\n")

    handler = Everything(level=logging.DEBUG)
    targets = [logging.getLogger("stockpulse"), logging.getLogger(webhooks.__name__)]
    levels = [t.level for t in targets]
    for target in targets:
        target.addHandler(handler)
        target.setLevel(logging.DEBUG)
    yield stream
    for target, level in zip(targets, levels, strict=True):
        target.removeHandler(handler)
        target.setLevel(level)


# The fake robots are plain http on 127.0.0.1: only an explicit test-only switch reaches them.
LOCAL_POST = webhooks.make_urllib_post(timeout_s=2.0, allow_loopback_http=True)


def send(robot: RobotConfig, notice: AlertNotice | None = None, **kw: Any) -> int:
    kw.setdefault("post", LOCAL_POST)
    kw.setdefault("clock_ms", lambda: NOW_MS)
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("rand", lambda: 0.5)
    return webhooks.deliver(robot, notice or make_notice(), **kw)


# ---------------------------------------------------------------------------- formats + signing
def test_dingtalk_markdown_signed_url(robots: FakeRobots) -> None:
    assert send(robots.dingtalk()) == 1
    [req] = robots.to("dingtalk")
    # DingTalk's recipe: HMAC-SHA256(key=secret, msg=f"{ts}\n{secret}"), base64, then urlencode.
    expected = base64.b64encode(
        hmac.new(DING_SECRET.encode(), f"{NOW_MS}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    assert req.query == {"access_token": [DING_TOKEN], "timestamp": [str(NOW_MS)], "sign": [expected]}
    assert f"sign={urllib.parse.quote_plus(expected)}" in req.raw_query  # URL-encoded on the wire
    assert req.raw_query.startswith(f"access_token={DING_TOKEN}&timestamp=")
    assert req.headers["content-type"].startswith("application/json")
    rendered = render(for_markup(make_notice()))  # the name's <, > and & in full-width
    body = req.json()
    assert body["msgtype"] == "markdown"
    assert set(body["markdown"]) == {"title", "text"}
    assert body["markdown"]["title"] == rendered.title_zh
    assert rendered.title_zh in body["markdown"]["text"]
    assert "桂花糕" in body["markdown"]["text"] and "30" in body["markdown"]["text"]
    assert "补货" in body["markdown"]["text"]  # Chinese by default


def test_dingtalk_without_secret_is_not_signed(robots: FakeRobots) -> None:
    send(robots.dingtalk(secret=None))
    [req] = robots.to("dingtalk")
    assert req.query == {"access_token": [DING_TOKEN]}


def test_wecom_markdown_content_key_in_url(robots: FakeRobots) -> None:
    send(robots.wecom())
    [req] = robots.to("wecom")
    assert req.query == {"key": [WECOM_KEY]}
    body = req.json()
    assert set(body) == {"msgtype", "markdown"} and body["msgtype"] == "markdown"
    assert set(body["markdown"]) == {"content"}
    content = body["markdown"]["content"]
    assert render(for_markup(make_notice())).title_zh in content and "可售30件" in content
    assert len(content.encode()) <= 4096


def test_wecom_content_is_cut_to_4096_bytes(robots: FakeRobots) -> None:
    send(robots.wecom(), make_notice(sku_name="超长的商品名" * 400))
    content = robots.to("wecom")[0].json()["markdown"]["content"]
    assert len(content.encode()) <= 4096 and "超长的商品名超长的商品名" in content
    assert "…（cake-osmanthus）" in content and content.count("超长的商品名") < 20  # the name is bounded
    assert "确认补货95件" in content and "可售30件" in content  # the name gave way, not the action
    many = {f"平台{i:03d}" * 3: i for i in range(400)}  # an absurd platform split
    send(robots.wecom(), make_notice(platform_split=many))
    content = robots.to("wecom")[1].json()["markdown"]["content"]
    assert len(content.encode()) <= 4096 and content.endswith("…")


def test_feishu_text_with_its_inverted_hmac(robots: FakeRobots) -> None:
    send(robots.feishu())
    [req] = robots.to("feishu")
    body = req.json()
    timestamp = str(NOW_MS // 1000)
    # Feishu's recipe: the string-to-sign is the HMAC key, the message is empty.
    expected = base64.b64encode(
        hmac.new(f"{timestamp}\n{FEISHU_SECRET}".encode(), b"", hashlib.sha256).digest()
    ).decode()
    assert body["timestamp"] == timestamp and isinstance(body["timestamp"], str)
    assert body["sign"] == expected
    assert body["msg_type"] == "text"
    assert set(body["content"]) == {"text"}
    assert body["content"]["text"].startswith(render(for_markup(make_notice())).title_zh)
    assert req.query == {}


def test_feishu_without_secret_has_no_signature(robots: FakeRobots) -> None:
    send(robots.feishu(secret=None))
    body = robots.to("feishu")[0].json()
    assert "sign" not in body and "timestamp" not in body and body["msg_type"] == "text"


def test_slack_blocks_in_english_escaped(robots: FakeRobots) -> None:
    send(robots.slack())
    [req] = robots.to("slack")
    assert req.path == f"/slack{SLACK_PATH}"
    body = req.json()
    rendered = render(for_markup(make_notice()))
    assert set(body) == {"text", "blocks"}
    header, section, context = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": rendered.title_en}}
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "Available 30" in section["text"]["text"] and "restock of 95 units" in section["text"]["text"]
    assert (
        "Osmanthus cake \uff1c6 pcs\uff1e \uff06 tea" in body["text"]
    )  # mrkdwn control characters made inert
    assert "<6 pcs>" not in body["text"] and "& tea" not in body["text"]
    assert "alert-demo-cakes-cake-osmanthus-orange-1" in context["elements"][0]["text"]


def test_language_is_configurable_per_robot(robots: FakeRobots) -> None:
    send(robots.slack(lang="zh"))
    send(robots.dingtalk(lang="en"))
    assert "可售30件" in robots.to("slack")[0].json()["text"]
    ding = robots.to("dingtalk")[0].json()["markdown"]
    assert ding["title"] == render(for_markup(make_notice())).title_en and "Available 30" in ding["text"]


def test_resolved_notice_is_rendered_as_resolution(robots: FakeRobots) -> None:
    notice = make_notice(kind=NoticeKind.RESOLVED, tier=Tier.NONE, previous_tier=Tier.ORANGE)
    send(robots.wecom(), notice)
    assert "预警解除" in robots.to("wecom")[0].json()["markdown"]["content"]


# ----------------------------------------------------------------------------------- retries
def test_500_then_200_is_retried_and_delivered_once(robots: FakeRobots, sleeps: Sleeps) -> None:
    robots.script("dingtalk", Reply(500, b"busy"), Reply(200, OK_BODY["dingtalk"]))
    assert send(robots.dingtalk(), sleep=sleeps) == 2
    reqs = robots.to("dingtalk")
    assert len(reqs) == 2
    assert sleeps.calls == [pytest.approx(0.375)]  # step 0.5 s, half fixed + half * rand(0.5)
    # every attempt is signed afresh (DingTalk refuses timestamps older than an hour)
    assert all("sign" in r.query for r in reqs)


def test_backoff_grows_exponentially_with_jitter() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=3.0)
    assert [policy.delay_s(n, lambda: 0.0) for n in (1, 2, 3, 4, 5)] == [0.25, 0.5, 1.0, 1.5, 1.5]
    assert [policy.delay_s(n, lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_always_500_ends_in_delivery_failed(robots: FakeRobots, sleeps: Sleeps) -> None:
    robots.script("wecom", Reply(503, b"unavailable"))
    with pytest.raises(DeliveryFailed) as caught:
        send(robots.wecom(), sleep=sleeps, policy=RetryPolicy(max_attempts=4))
    assert (caught.value.platform, caught.value.status, caught.value.attempts) == ("wecom", 503, 4)
    assert len(robots.to("wecom")) == 4
    assert sleeps.calls == pytest.approx([0.375, 0.75, 1.5])


def test_400_is_not_retried(robots: FakeRobots, sleeps: Sleeps) -> None:
    robots.script("slack", Reply(400, b"invalid_payload"))
    with pytest.raises(DeliveryFailed) as caught:
        send(robots.slack(), sleep=sleeps)
    assert caught.value.status == 400 and "invalid_payload" in caught.value.reason
    assert len(robots.to("slack")) == 1 and sleeps.calls == []


def test_429_is_retried(robots: FakeRobots, sleeps: Sleeps) -> None:
    robots.script("slack", Reply(429, b"rate_limited", headers={"Retry-After": "1"}), Reply(200, b"ok"))
    assert send(robots.slack(), sleep=sleeps) == 2


@pytest.mark.parametrize(
    ("platform", "answer"),
    [
        ("dingtalk", b'{"errcode":310000,"errmsg":"sign not match"}'),
        ("wecom", b'{"errcode":93000,"errmsg":"invalid webhook url"}'),
        ("feishu", b'{"code":19021,"msg":"sign match fail or timestamp is not within one hour"}'),
        ("feishu", b'{"StatusCode":9499,"StatusMessage":"Bad Request"}'),
        ("dingtalk", b"<html>gateway</html>"),
    ],
)
def test_200_with_error_code_is_a_failure(
    robots: FakeRobots, sleeps: Sleeps, platform: str, answer: bytes
) -> None:
    robots.script(platform, Reply(200, answer))
    robot = getattr(robots, platform)()
    with pytest.raises(DeliveryFailed) as caught:
        send(robot, sleep=sleeps)
    assert caught.value.status == 200 and caught.value.attempts == 1
    assert len(robots.to(platform)) == 1 and sleeps.calls == []


def test_throttling_code_is_retried(robots: FakeRobots, sleeps: Sleeps) -> None:
    robots.script(
        "feishu", Reply(200, b'{"code":11232,"msg":"frequency limited"}'), Reply(200, OK_BODY["feishu"])
    )
    assert send(robots.feishu(), sleep=sleeps) == 2


def test_timeout_is_retried(robots: FakeRobots, sleeps: Sleeps) -> None:
    robots.script("wecom", Reply(200, OK_BODY["wecom"], delay_s=1.0), Reply(200, OK_BODY["wecom"]))
    post = webhooks.make_urllib_post(timeout_s=0.2, allow_loopback_http=True)
    attempts = send(robots.wecom(), sleep=sleeps, post=post)
    assert attempts == 2 and len(sleeps.calls) == 1


def test_connection_refused_is_retried_then_fails(sleeps: Sleeps) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    robot = RobotConfig("wecom", f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={WECOM_KEY}", None)
    with pytest.raises(DeliveryFailed) as caught:
        send(robot, sleep=sleeps, policy=RetryPolicy(max_attempts=3))
    assert caught.value.status is None and caught.value.attempts == 3 and len(sleeps.calls) == 2


def test_redirect_is_not_followed(robots: FakeRobots) -> None:
    robots.script("dingtalk", Reply(302, b"", headers={"Location": f"{robots.base}/slack/elsewhere"}))
    with pytest.raises(DeliveryFailed) as caught:
        send(robots.dingtalk())
    assert caught.value.status == 302
    assert robots.to("slack") == []


def test_no_retry_when_the_lambda_is_out_of_time(robots: FakeRobots, sleeps: Sleeps) -> None:
    robots.script("dingtalk", Reply(500))
    with pytest.raises(DeliveryFailed) as caught:
        send(robots.dingtalk(), sleep=sleeps, time_left_ms=lambda: 3_000)
    assert caught.value.attempts == 1 and "no time left" in caught.value.reason and sleeps.calls == []


# ------------------------------------------------------------------------------------ secrets
def test_secrets_never_logged_nor_in_errors(
    robots: FakeRobots,
    sleeps: Sleeps,
    log_capture: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    for platform in ("dingtalk", "wecom", "feishu", "slack"):
        # a hostile endpoint echoing the full signed URL back in its error body
        robots.script(platform, Reply(500, echo=True))
        with pytest.raises(DeliveryFailed) as caught:
            send(getattr(robots, platform)(), sleep=sleeps, policy=RetryPolicy(max_attempts=2))
        errors += [str(caught.value), repr(caught.value), caught.value.reason]
        errors.append(repr(getattr(robots, platform)()))
    signs = [r.query["sign"][0] for r in robots.to("dingtalk")] + [
        r.json()["sign"] for r in robots.to("feishu")
    ]
    out, err = capsys.readouterr()
    logged = log_capture.getvalue()
    assert "robot delivery attempt failed" in logged and "127.0.0.1" in logged  # platform + host logged
    for haystack in (logged, caplog.text, out, err, *errors):
        for secret in (*CREDENTIALS, *signs, urllib.parse.quote_plus(signs[0])):
            assert secret not in haystack


# ------------------------------------------------------------------------------------- config
def test_parse_robot_config() -> None:
    raw = json.dumps(
        {
            "platform": "dingtalk",
            "url": "https://oapi.dingtalk.com/robot/send?access_token=t",
            "secret": "SECx",
        }
        | {"tiers": ["Orange", "red"], "lang": "en"}
    )
    robot = webhooks.parse_robot_config("shop-a/ding", raw)
    assert (robot.platform, robot.secret, robot.lang, robot.name) == ("dingtalk", "SECx", "en", "shop-a/ding")
    assert robot.tiers == frozenset({"orange", "red"}) and robot.host == "oapi.dingtalk.com"
    assert "SECx" not in repr(robot) and "access_token" not in repr(robot)
    slack = webhooks.parse_robot_config(
        "s", '{"platform":"slack","url":"https://hooks.slack.com/services/x"}'
    )
    assert slack.secret is None and slack.tiers is None and slack.effective_lang == "en"


@pytest.mark.parametrize(
    "value",
    [
        "not json SECRET-VALUE",
        '["SECRET-VALUE"]',
        '{"platform":"teams","url":"https://x.example/SECRET-VALUE"}',
        '{"platform":"wecom","url":"http://qyapi.weixin.qq.com/send?key=SECRET-VALUE"}',
        '{"platform":"wecom","url":"file:///etc/SECRET-VALUE"}',
        '{"platform":"feishu","url":"https://open.feishu.cn/hook/x","secret":42}',
        '{"platform":"slack","url":"https://hooks.slack.com/x","tiers":["purple"]}',
        '{"platform":"slack","url":"https://hooks.slack.com/x","lang":"fr"}',
    ],
)
def test_bad_robot_config_is_refused_without_quoting_it(value: str) -> None:
    with pytest.raises(webhooks.RobotConfigError) as caught:
        webhooks.parse_robot_config("shop/bad", value)
    assert "SECRET-VALUE" not in str(caught.value) and "shop/bad" in str(caught.value)


def test_tiers_admit_notices() -> None:
    red_only = RobotConfig("wecom", "https://x", None, tiers=frozenset({"red"}))
    orange_only = RobotConfig("wecom", "https://x", None, tiers=frozenset({"orange"}))
    everything = RobotConfig("wecom", "https://x", None)
    resolutions = RobotConfig("wecom", "https://x", None, tiers=frozenset({"resolved"}))  # legacy
    orange = make_notice()
    resolved = make_notice(kind=NoticeKind.RESOLVED, tier=Tier.NONE, previous_tier=Tier.ORANGE)
    assert not webhooks.admits(red_only, orange) and webhooks.admits(red_only, make_notice(tier=Tier.RED))
    assert webhooks.admits(everything, orange) and webhooks.admits(everything, resolved)
    assert webhooks.admits(resolutions, resolved) and not webhooks.admits(resolutions, orange)
    # A resolution routes on the tier it resolves: it reaches the robots that got the alert.
    assert webhooks.routing_tier(resolved) == "orange"
    assert webhooks.admits(orange_only, resolved) and not webhooks.admits(red_only, resolved)
    down_from_red = make_notice(kind=NoticeKind.RESOLVED, tier=Tier.YELLOW, previous_tier=Tier.RED)
    assert webhooks.admits(red_only, down_from_red) and not webhooks.admits(orange_only, down_from_red)
    # A pre-show message has no tier: every robot the topic routes it to takes it.
    pre_show = make_notice(kind=NoticeKind.PRE_SHOW, tier=Tier.NONE, previous_tier=Tier.NONE)
    assert all(webhooks.admits(r, pre_show) for r in (red_only, orange_only, everything, resolutions))
    # Selling too slowly is a tip for the big screen's feed, not a message to people.
    slow = make_notice(kind=NoticeKind.SLOW, tier=Tier.NONE, previous_tier=Tier.NONE)
    assert not any(webhooks.admits(r, slow) for r in (red_only, orange_only, everything, resolutions))


# -------------------------------------------------------------------------------- deliver_all
@pytest.fixture
def delivery_table() -> Iterator[Any]:
    """A moto table shaped as the template's RobotDeliveryTable ("wh-RobotDeliveryTable")."""
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(db, "wh-")
        yield db


@pytest.fixture
def deliveries(delivery_table: Any) -> RobotDeliveries:
    return RobotDeliveries.on_table("wh-RobotDeliveryTable", client=delivery_table)


def test_deliver_all_in_parallel_and_skips_robots_that_took_the_alert(
    robots: FakeRobots, sleeps: Sleeps, deliveries: RobotDeliveries, delivery_table: Any
) -> None:
    """A retry (any container: the record is in the table) posts only to the robot that failed;
    a later, separate record of the same table knows the same."""
    robots.script("feishu", Reply(500))
    fleet = [robots.dingtalk(), robots.wecom(tiers=frozenset({"red"})), robots.feishu(), robots.slack()]
    kw: dict[str, Any] = {
        "clock_ms": lambda: NOW_MS,
        "sleep": sleeps,
        "rand": lambda: 0.5,
        "post": LOCAL_POST,
    }
    results = webhooks.deliver_all(fleet, make_notice(), once=deliveries.once, **kw)
    by_name = {r.robot.name: r for r in results}
    assert set(by_name) == {"shop/ding", "shop/feishu", "shop/slack"}  # wecom only takes red
    assert by_name["shop/ding"].ok and by_name["shop/slack"].ok
    assert by_name["shop/feishu"].error is not None and by_name["shop/feishu"].error.status == 500
    robots.script("feishu", Reply(200, OK_BODY["feishu"]))
    before = len(robots.requests)
    fresh = RobotDeliveries.on_table("wh-RobotDeliveryTable", client=delivery_table)  # another container
    again = webhooks.deliver_all(fleet, make_notice(), once=fresh.once, **kw)
    assert [r.robot.name for r in again if r.skipped] == ["shop/ding", "shop/slack"]
    assert all(r.ok for r in again)
    assert [r.path.split("/")[1] for r in robots.requests[before:]] == ["feishu"]
    other = make_notice(alert_id="another-alert")
    assert not any(r.skipped for r in webhooks.deliver_all(fleet, other, once=fresh.once, **kw))


def test_a_delivery_in_flight_elsewhere_fails_here_and_a_broken_record_store_still_posts(
    deliveries: RobotDeliveries,
) -> None:
    robot = RobotConfig(
        name="shop/ding", platform="dingtalk", url="https://oapi.dingtalk.com/robot/send?access_token=t"
    )
    posts: list[int] = []

    def post() -> int:
        posts.append(1)
        if len(posts) == 1:  # while the first delivery is in flight, a second invocation tries
            with pytest.raises(DeliveryFailed, match="another invocation"):
                deliveries.once("a1", robot, post)
        return 2

    assert deliveries.once("a1", robot, post) == (2, False) and len(posts) == 1
    assert deliveries.once("a1", robot, post) == (2, True) and len(posts) == 1
    with mock_aws():  # a table that does not exist: the record cannot be kept; the robot is posted
        broken = RobotDeliveries.on_table("missing", client=boto3.client("dynamodb", region_name="us-east-1"))
        assert broken.once("a1", robot, lambda: 3) == (3, False)


# ------------------------------------------------------------------ destinations (issue 11, item 9)
@pytest.mark.parametrize(
    "url",
    [
        "http://oapi.dingtalk.com/robot/send?access_token=SECRET-VALUE",  # plain http
        "http://127.0.0.1:9001/robot/send?access_token=SECRET-VALUE",  # loopback http, production
        "https://127.0.0.1/robot/send?access_token=SECRET-VALUE",
        "https://127.1/SECRET-VALUE",  # inet_aton spellings of the loopback
        "https://2130706433/SECRET-VALUE",
        "https://0x7f000001/SECRET-VALUE",
        "https://169.254.169.254/latest/meta-data/SECRET-VALUE",  # instance metadata
        "https://10.1.2.3/SECRET-VALUE",
        "https://172.16.0.1/SECRET-VALUE",
        "https://172.31.255.254/SECRET-VALUE",
        "https://192.168.1.1/SECRET-VALUE",
        "https://100.64.0.1/SECRET-VALUE",  # shared address space
        "https://0.0.0.0/SECRET-VALUE",
        "https://224.0.0.1/SECRET-VALUE",
        "https://[::1]/SECRET-VALUE",
        "https://[::]/SECRET-VALUE",
        "https://[fc00::1]/SECRET-VALUE",
        "https://[fd12:3456::1]/SECRET-VALUE",
        "https://[fe80::1]/SECRET-VALUE",
        "https://[::ffff:169.254.169.254]/SECRET-VALUE",  # IPv4-mapped
        "https://[64:ff9b::a9fe:a9fe]/SECRET-VALUE",  # NAT64 of 169.254.169.254
        "https://[2002:a9fe:a9fe::1]/SECRET-VALUE",  # 6to4 of 169.254.169.254
        "https://localhost/SECRET-VALUE",
        "https://LOCALHOST./SECRET-VALUE",
        # full-width "localhost": IDNA maps it to localhost
        "https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/SECRET-VALUE",
        "https://127\u30020\u30020\u30021/SECRET-VALUE",  # ideographic full stops
        "https://localhost\u3002/SECRET-VALUE",
        "https://robots.localhost/SECRET-VALUE",
        "https://printer.local/SECRET-VALUE",
        "https://metadata.google.internal/SECRET-VALUE",
        "https://ip-10-0-0-1.ec2.internal/SECRET-VALUE",
        "https://router.home.arpa/SECRET-VALUE",
        "https://instance-data/SECRET-VALUE",  # single label: resolved by search domains
        "https://oapi.dingtalk.com:99999/SECRET-VALUE",  # bad port
        "ftp://oapi.dingtalk.com/SECRET-VALUE",
    ],
)
def test_robot_url_must_be_https_to_a_public_host(url: str) -> None:
    raw = json.dumps({"platform": "dingtalk", "url": url})
    with pytest.raises(webhooks.RobotConfigError) as caught:
        webhooks.parse_robot_config("shop/evil", raw)
    assert "SECRET-VALUE" not in str(caught.value) and "shop/evil" in str(caught.value)
    assert webhooks.url_problem(url) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://oapi.dingtalk.com/robot/send?access_token=t",
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
        "https://open.feishu.cn/open-apis/bot/v2/hook/h",
        "https://hooks.slack.com/services/T0/B0/x",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://robots.example.com:8443/hook",
    ],
)
def test_public_https_robot_urls_are_accepted(url: str) -> None:
    assert webhooks.url_problem(url) is None
    assert webhooks.parse_robot_config("shop/ok", json.dumps({"platform": "wecom", "url": url})).url == url


def test_loopback_http_only_with_the_explicit_test_switch() -> None:
    local = "http://127.0.0.1:9001/robot/send?access_token=t"
    assert webhooks.url_problem(local) == "url must be https"
    assert webhooks.url_problem(local, allow_loopback_http=True) is None
    assert webhooks.url_problem("http://localhost:9001/x", allow_loopback_http=True) is None
    # the switch admits the loopback only: never private ranges, metadata or remote http
    for url in ("http://10.0.0.1/x", "http://169.254.169.254/x", "http://oapi.dingtalk.com/x"):
        assert webhooks.url_problem(url, allow_loopback_http=True) is not None
    raw = json.dumps({"platform": "wecom", "url": local, "allow_loopback_http": True})  # not a config key
    with pytest.raises(webhooks.RobotConfigError):
        webhooks.parse_robot_config("shop/local", raw)


def test_the_production_post_refuses_plain_http(robots: FakeRobots, sleeps: Sleeps) -> None:
    with pytest.raises(webhooks.RefusedDestination):
        webhooks.urllib_post(f"{robots.base}/wecom/x", b"{}", {})
    with pytest.raises(DeliveryFailed) as caught:
        send(robots.wecom(), post=webhooks.urllib_post, sleep=sleeps)
    assert caught.value.attempts == 1 and "refused" in caught.value.reason and sleeps.calls == []
    assert robots.requests == []  # nothing left the process


def test_a_name_resolving_to_a_private_address_is_refused_at_connect_time(
    monkeypatch: pytest.MonkeyPatch, sleeps: Sleeps
) -> None:
    """DNS can point a public-looking name at 169.254.169.254: the post checks what it resolves to."""
    connected: list[tuple[str, int]] = []

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        address = {"rebound.example.com": "169.254.169.254", "mixed.example.com": "10.0.0.7"}.get(
            host, "93.184.215.14"
        )
        answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        if host == "mixed.example.com":  # one public, one private answer: refused too
            answers.insert(0, (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)))
        return answers

    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        connected.append(address)
        raise ConnectionRefusedError("test: no network")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", connect)
    for host in ("rebound.example.com", "mixed.example.com"):
        robot = RobotConfig("wecom", f"https://{host}/cgi-bin/webhook/send?key={WECOM_KEY}", None)
        assert webhooks.url_problem(robot.url) is None  # the name itself looks public
        with pytest.raises(DeliveryFailed) as caught:
            send(robot, post=webhooks.urllib_post, sleep=sleeps)
        assert caught.value.attempts == 1 and "non-public address" in caught.value.reason
        assert WECOM_KEY not in str(caught.value)
    assert connected == []
    # A public answer is connected to by the address that was checked (no second lookup).
    robot = RobotConfig("wecom", f"https://robots.example.com/cgi-bin/webhook/send?key={WECOM_KEY}", None)
    with pytest.raises(DeliveryFailed) as caught:
        send(robot, post=webhooks.urllib_post, sleep=sleeps, policy=RetryPolicy(max_attempts=1))
    assert connected == [("93.184.215.14", 443)] and caught.value.status is None


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("169.254.169.254", False),
        ("127.0.0.53", False),
        ("100.127.255.254", False),
        ("198.18.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("fe80::1%eth0", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert webhooks.is_public_address(ipaddress.ip_address(address)) is public
